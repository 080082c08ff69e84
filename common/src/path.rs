//! From a request path to a file under ROOT, safely.
//!
//! Two steps, kept apart so each can be tested alone. [`decode`] is pure string work: split the
//! path into segments, percent-decode each exactly once, apply `.` and `..` so they can never
//! climb above the root, and refuse hidden names. [`resolve`] then asks the file system, and
//! refuses anything whose real location (after symlinks) is outside ROOT.

use crate::status::Status;
use std::fs::Metadata;
use std::path::{Path, PathBuf};

/// A request path after decoding: safe segments, no `.` or `..` left among them.
#[derive(Debug, PartialEq, Eq)]
pub struct DecodedPath {
    pub segments: Vec<String>,
    /// The path ended with `/` (it names a directory, so its index may be served).
    pub trailing_slash: bool,
}

// ANCHOR: decode
/// Percent-decodes `raw` (the path part of a target) segment by segment, as UTF-8.
///
/// Errors: 400 for a broken `%` escape, `%00` or invalid UTF-8; 404 for names we never serve:
/// segments starting with a dot (outside `/.well-known/`) and segments holding an encoded `/`.
pub fn decode(raw: &str) -> Result<DecodedPath, Status> {
    let mut segments: Vec<String> = Vec::new();
    for raw_segment in raw.split('/') {
        let segment = percent_decode(raw_segment)?;
        match segment.as_str() {
            // Empty segments (`//`) and `.` name the same directory.
            "" | "." => {}
            // `..` goes up one level, but never above the root: popping nothing is a no-op.
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    for (i, segment) in segments.iter().enumerate() {
        // `%2F` decodes to a slash inside one segment: no file can have that name.
        if segment.contains('/') {
            return Err(Status::NOT_FOUND);
        }
        // `.git`, `.env`, `.htpasswd`: a folder's hidden files stay private, except the
        // registered `/.well-known/` prefix (RFC 8615), itself served only at the top.
        if segment.starts_with('.') && !(i == 0 && segment == ".well-known") {
            return Err(Status::NOT_FOUND);
        }
    }
    let trailing_slash = raw.ends_with('/') || raw.ends_with("/.") || raw.ends_with("/..");
    Ok(DecodedPath {
        segments,
        trailing_slash,
    })
}
// ANCHOR_END: decode

/// Decodes `%XX` escapes once. A `%` not followed by two hex digits is an error, not a literal.
pub fn percent_decode(raw: &str) -> Result<String, Status> {
    if !raw.contains('%') {
        return Ok(raw.to_string());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(Status::BAD_REQUEST)?;
            let value = std::str::from_utf8(hex)
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or(Status::BAD_REQUEST)?;
            out.push(value);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    // NUL ends a C string: a name with one inside is an attack on some layer below us.
    if out.contains(&0) {
        return Err(Status::BAD_REQUEST);
    }
    String::from_utf8(out).map_err(|_| Status::BAD_REQUEST)
}

/// Where a decoded path leads.
#[derive(Debug)]
pub enum Resolved {
    /// A regular file inside ROOT: its real path and metadata.
    File(PathBuf, Metadata),
    /// A directory asked for without its trailing slash: send the client to the slash form,
    /// so the relative links in its index resolve against the right base.
    AddSlash,
    /// Nothing we will serve: missing, outside ROOT, not a regular file, or a directory
    /// without an index.
    NotFound,
    /// It exists, but we may not read it.
    Forbidden,
}

// ANCHOR: resolve
/// Finds the file `path` names under `root` (which must be canonical: see [`canonical_root`]).
pub fn resolve(root: &Path, path: &DecodedPath) -> Resolved {
    let mut candidate = root.to_path_buf();
    candidate.extend(&path.segments);
    match inside_root(root, &candidate) {
        Found::Dir(_) if !path.trailing_slash => Resolved::AddSlash,
        Found::Dir(dir) => match inside_root(root, &dir.join("index.html")) {
            Found::File(file, meta) => Resolved::File(file, meta),
            Found::Forbidden => Resolved::Forbidden,
            Found::Dir(_) | Found::Nothing => Resolved::NotFound,
        },
        // `/notes.txt/` names a directory, and a file is not one.
        Found::File(..) if path.trailing_slash => Resolved::NotFound,
        Found::File(file, meta) => Resolved::File(file, meta),
        Found::Forbidden => Resolved::Forbidden,
        Found::Nothing => Resolved::NotFound,
    }
}

enum Found {
    File(PathBuf, Metadata),
    Dir(PathBuf),
    Forbidden,
    Nothing,
}

/// Follows every symlink in `candidate` and accepts the result only if it is still inside
/// `root`. Sockets, FIFOs and devices count as nothing: opening a FIFO would block a worker.
fn inside_root(root: &Path, candidate: &Path) -> Found {
    let real = match candidate.canonicalize() {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Found::Forbidden,
        Err(_) => return Found::Nothing,
    };
    if !real.starts_with(root) {
        return Found::Nothing;
    }
    match std::fs::metadata(&real) {
        Ok(meta) if meta.is_file() => Found::File(real, meta),
        Ok(meta) if meta.is_dir() => Found::Dir(real),
        Ok(_) => Found::Nothing,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Found::Forbidden,
        Err(_) => Found::Nothing,
    }
}
// ANCHOR_END: resolve

/// The root in the form [`resolve`] compares against: absolute, with symlinks resolved.
pub fn canonical_root(root: &Path) -> std::io::Result<PathBuf> {
    root.canonicalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn segments(raw: &str) -> Vec<String> {
        decode(raw).expect("decodes").segments
    }

    #[test]
    fn decodes_each_segment_once() {
        assert_eq!(segments("/a%20b/caf%C3%A9.txt"), ["a b", "café.txt"]);
        // %2541 is "%41" after one decoding, and stays that: never decoded twice.
        assert_eq!(segments("/%2541"), ["%41"]);
        assert_eq!(segments("/"), Vec::<String>::new());
    }

    #[test]
    fn dot_segments_never_climb_above_the_root() {
        assert_eq!(segments("/../../etc/passwd"), ["etc", "passwd"]);
        assert_eq!(segments("/a/b/../../../c"), ["c"]);
        assert_eq!(segments("/a/./b//c"), ["a", "b", "c"]);
        assert_eq!(segments("/%2e%2e/%2E%2E/etc"), ["etc"]);
        assert!(decode("/a/..").expect("decodes").trailing_slash);
    }

    #[test]
    fn bad_encodings_are_400() {
        for raw in ["/%", "/%4", "/%zz", "/a%00b", "/%c0%af", "/%ff", "/%C3"] {
            assert_eq!(decode(raw), Err(Status::BAD_REQUEST), "{raw}");
        }
    }

    #[test]
    fn hidden_names_and_encoded_slashes_are_404() {
        for raw in [
            "/.git/config",
            "/.env",
            "/docs/.htpasswd",
            "/a%2F..%2F..%2Fetc",
            "/%2e%2e%2fetc",
            "/..%5c..%5cetc",
            "/docs/.well-known/x",
        ] {
            assert_eq!(decode(raw), Err(Status::NOT_FOUND), "{raw}");
        }
        assert_eq!(
            segments("/.well-known/security.txt"),
            [".well-known", "security.txt"]
        );
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("common-path-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("root/docs")).expect("mkdir");
        fs::create_dir_all(dir.join("root/empty")).expect("mkdir");
        fs::write(dir.join("root/docs/index.html"), "docs").expect("write");
        fs::write(dir.join("root/a.txt"), "a").expect("write");
        fs::write(dir.join("secret.txt"), "secret").expect("write");
        dir
    }

    fn resolve_str(root: &Path, raw: &str) -> Resolved {
        resolve(root, &decode(raw).expect("decodes"))
    }

    #[test]
    fn files_directories_and_redirects() {
        let dir = scratch("files");
        let root = canonical_root(&dir.join("root")).expect("root");
        assert!(
            matches!(resolve_str(&root, "/a.txt"), Resolved::File(p, _) if p.ends_with("a.txt"))
        );
        assert!(
            matches!(resolve_str(&root, "/docs/"), Resolved::File(p, _) if p.ends_with("docs/index.html"))
        );
        assert!(matches!(resolve_str(&root, "/docs"), Resolved::AddSlash));
        assert!(matches!(resolve_str(&root, "/empty/"), Resolved::NotFound));
        assert!(matches!(resolve_str(&root, "/a.txt/"), Resolved::NotFound));
        assert!(matches!(resolve_str(&root, "/missing"), Resolved::NotFound));
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn symlinks_are_followed_only_inside_the_root() {
        let dir = scratch("links");
        let root = canonical_root(&dir.join("root")).expect("root");
        std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("out.txt")).expect("link");
        std::os::unix::fs::symlink(&dir, root.join("up")).expect("link");
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("in.txt")).expect("link");
        assert!(matches!(resolve_str(&root, "/out.txt"), Resolved::NotFound));
        assert!(matches!(
            resolve_str(&root, "/up/secret.txt"),
            Resolved::NotFound
        ));
        assert!(matches!(resolve_str(&root, "/in.txt"), Resolved::File(..)));
        fs::remove_dir_all(dir).expect("cleanup");
    }
}
