//! From a request path to a file under ROOT, safely.
//!
//! Two steps, kept apart so each can be tested alone. [`decode`] is pure string work: split the
//! path into segments, percent-decode each exactly once, apply `.` and `..` so they can never
//! climb above the root, and refuse hidden names. [`resolve`] then opens the file *beneath* a
//! descriptor of ROOT, so that no symlink, `..` or rename can lead the open outside it, and
//! judges what it opened by the descriptor (`fstat`), never by a name checked earlier.

use crate::status::Status;
use rustix::fs::{self, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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

/// ROOT, held open. Every file is opened *beneath* this descriptor, so what is served is
/// decided when the file is opened, not by looking at a name that can change a moment later.
#[derive(Clone, Debug)]
pub struct Root {
    /// Absolute, symlinks resolved: how an absolute symlink inside ROOT spells ROOT.
    real: PathBuf,
    /// The directory itself (`O_PATH`: for lookups only). Shared: a `Site` is cloned per worker.
    dir: Arc<OwnedFd>,
    /// Its device and inode: how the walk knows it has arrived at ROOT by another name.
    id: (u64, u64),
}

impl Root {
    /// Opens the folder `root` for serving (it must exist and be a directory).
    pub fn open(root: &Path) -> io::Result<Root> {
        let real = root.canonicalize()?;
        let dir = fs::open(
            &real,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let id = dir_id(&dir)?;
        Ok(Root {
            real,
            dir: Arc::new(dir),
            id,
        })
    }

    /// The root's real path (absolute, symlinks resolved).
    pub fn path(&self) -> &Path {
        &self.real
    }
}

/// A directory's device and inode, from its descriptor.
fn dir_id(dir: &OwnedFd) -> io::Result<(u64, u64)> {
    let stat = fs::fstat(dir)?;
    Ok((stat.st_dev, stat.st_ino))
}

/// A file opened beneath ROOT, judged by its descriptor.
#[derive(Debug)]
pub struct OpenFile {
    pub file: File,
    /// From `fstat` on `file`: the size, date and type of exactly what will be sent.
    pub meta: Metadata,
    /// The name the request gave it (its last segment, or `index.html`): its extension
    /// chooses the `Content-Type`, as nginx's does.
    pub name: String,
}

/// Where a decoded path leads.
// The file's metadata makes `File` large; a `Resolved` lives for one request and moves once,
// and boxing it would cost an allocation per request to save a copy of 200 bytes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Resolved {
    /// A regular file inside ROOT, open and ready to send.
    File(OpenFile),
    /// A directory asked for without its trailing slash: send the client to the slash form,
    /// so the relative links in its index resolve against the right base.
    AddSlash,
    /// Nothing we will serve: missing, outside ROOT, not a regular file, or a directory
    /// without an index.
    NotFound,
    /// It exists, but we may not read it.
    Forbidden,
    /// The server could not open anything just now (out of descriptors or memory): the file
    /// may well exist, so "not found" would be a lie a cache could keep. A 503: try again.
    Unavailable,
}

// ANCHOR: resolve
/// Opens the file `path` names beneath `root`, and says what it is from the open descriptor.
pub fn resolve(root: &Root, path: &DecodedPath) -> Resolved {
    let mut relative: PathBuf = path.segments.iter().collect();
    let mut name = path.segments.last().cloned().unwrap_or_default();
    if path.trailing_slash {
        // `/docs/` names the directory's index; `/notes.txt/` then fails (ENOTDIR): a 404.
        relative.push("index.html");
        name = "index.html".to_string();
    } else if relative.as_os_str().is_empty() {
        relative.push(".");
    }
    let opened = open_beneath(root, &relative)
        .map(File::from)
        .and_then(|file| Ok((file.metadata()?, file)));
    match opened {
        Ok((meta, file)) if meta.is_file() => Resolved::File(OpenFile { file, meta, name }),
        Ok((meta, _)) if meta.is_dir() && !path.trailing_slash => Resolved::AddSlash,
        // A FIFO, socket or device (opened without blocking, thanks to O_NONBLOCK), or an
        // `index.html` that is a directory: never served, and no different from missing.
        Ok(_) => Resolved::NotFound,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Resolved::Forbidden,
        Err(e) if out_of_resources(&e) => Resolved::Unavailable,
        Err(_) => Resolved::NotFound,
    }
}

/// EMFILE, ENFILE, ENOMEM, ENOBUFS: a call failed because of the server's state (out of
/// descriptors or memory), not because of the file or the peer. Shared with the event loop,
/// whose `accept` backs off on the same errors.
pub fn out_of_resources(error: &io::Error) -> bool {
    let errno = error.raw_os_error().map(Errno::from_raw_os_error);
    matches!(
        errno,
        Some(Errno::MFILE | Errno::NFILE | Errno::NOMEM | Errno::NOBUFS)
    )
}

/// How every file is opened: read-only; `O_NONBLOCK` so that a FIFO swapped in cannot block
/// the open (waiting for a writer) and with it a worker or the whole event loop; `O_NOCTTY`
/// so a terminal device never becomes ours. Regular files ignore `O_NONBLOCK` when read.
const OPEN: OFlags = OFlags::RDONLY
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NOCTTY);
// ANCHOR_END: resolve

// ANCHOR: open_beneath
/// Opens `relative` so that nothing outside `root` can be reached at the moment of opening,
/// whatever symlinks or renames happen around it.
///
/// `openat2` with `RESOLVE_BENEATH` (Linux 5.6+) does it in one system call: the kernel
/// follows symlinks and `..` but fails with `EXDEV` the instant a step would leave ROOT.
/// Two legitimate cases also land there, and go to [`walk_beneath`]: an absolute symlink
/// that points back inside ROOT (the kernel refuses every absolute symlink under
/// `RESOLVE_BENEATH`), and a kernel without `openat2` (`ENOSYS`, remembered).
fn open_beneath(root: &Root, relative: &Path) -> io::Result<OwnedFd> {
    static NO_OPENAT2: AtomicBool = AtomicBool::new(false);
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        match fs::openat2(&*root.dir, relative, OPEN, Mode::empty(), how) {
            Ok(fd) => return Ok(fd),
            // EAGAIN: a rename raced with a `..` and the kernel could not be sure; the walk
            // handles `..` itself and does not race.
            Err(Errno::XDEV | Errno::AGAIN) => {}
            Err(Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
            Err(e) => return Err(e.into()),
        }
    }
    walk_beneath(root, relative)
}
// ANCHOR_END: open_beneath

// ANCHOR: walk
/// Linux's limit on symlinks followed in one lookup (`MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// The most names (and `..`s) one walk looks up, symlink targets included. The kernel needs
/// no such bound: its steps cost nanoseconds. Each of ours is a system call, on the thread
/// that serves everyone in stage05, and 40 links of 4 KiB targets (`d/../d/../..`) would be
/// 64,000 of them for one request. A real path is a few dozen names; this is plenty.
const MAX_STEPS: usize = 1024;

/// Opens `relative` beneath `root` one component at a time, never letting the kernel follow
/// a symlink (`O_NOFOLLOW`). A symlink is read (`readlinkat`) and its target walked in turn:
/// from the directory holding it when relative; from ROOT when absolute and spelled with
/// ROOT's real path; else from `/`, looking at directories only, until the walk arrives at
/// ROOT itself (same device and inode: ROOT by another name, such as `/var/www` linked to
/// `/srv/www`). A path that ends outside, or climbs above ROOT (`..` drops a directory the
/// walk opened itself), is an escape. One budget of links and steps covers the whole walk.
fn walk_beneath(root: &Root, relative: &Path) -> io::Result<OwnedFd> {
    let escape = || io::Error::from(Errno::XDEV);
    // The directories walked into below ROOT, innermost last.
    let mut dirs: Vec<OwnedFd> = Vec::new();
    // While following an absolute target that has not reached ROOT yet: the directories from
    // `/` down, innermost last. Nothing out there is ever opened but as a directory.
    let mut outside: Option<Vec<OwnedFd>> = None;
    // The components still to walk; a symlink's target goes in front of them.
    let mut todo: VecDeque<OsString> = components(relative);
    let (mut links, mut steps) = (0, 0);
    while let Some(name) = todo.pop_front() {
        steps += 1;
        if steps > MAX_STEPS {
            return Err(Errno::LOOP.into());
        }
        if let Some(path) = &mut outside {
            if name == ".." {
                // `/..` is `/`.
                if path.len() > 1 {
                    path.pop();
                }
            } else {
                let here = path.last().ok_or_else(escape)?;
                let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                match fs::openat(here, &name, flags, Mode::empty()) {
                    Ok(fd) => path.push(fd),
                    // Out here, anything but a directory or a symlink ends the walk outside.
                    Err(Errno::NOTDIR | Errno::LOOP) => {
                        let target =
                            fs::readlinkat(here, &name, Vec::new()).map_err(|_| escape())?;
                        links += 1;
                        if links > MAX_LINKS {
                            return Err(Errno::LOOP.into());
                        }
                        follow(root, target, &mut dirs, &mut outside, &mut todo)?;
                        continue;
                    }
                    Err(_) => return Err(escape()),
                }
            }
            // Arrived at ROOT (by whatever name): the rest is walked beneath it.
            if let Some(path) = &outside {
                let here = path.last().ok_or_else(escape)?;
                if dir_id(here)? == root.id {
                    outside = None;
                }
            }
            continue;
        }
        if name == ".." {
            dirs.pop().ok_or_else(escape)?;
            continue;
        }
        let here = dirs.last().map_or(root.dir.as_fd(), |dir| dir.as_fd());
        let last = todo.is_empty();
        let flags = if last {
            OPEN | OFlags::NOFOLLOW
        } else {
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
        };
        let error = match fs::openat(here, &name, flags, Mode::empty()) {
            Ok(fd) if last => return Ok(fd),
            Ok(fd) => {
                dirs.push(fd);
                continue;
            }
            Err(error) => error,
        };
        // ELOOP (last component) or ENOTDIR (on the way) is what O_NOFOLLOW says of a symlink.
        if !matches!(error, Errno::LOOP | Errno::NOTDIR) {
            return Err(error.into());
        }
        // Not a symlink after all (a file where a directory was needed): the error stands.
        let target = fs::readlinkat(here, &name, Vec::new()).map_err(|_| error)?;
        links += 1;
        if links > MAX_LINKS {
            return Err(Errno::LOOP.into());
        }
        follow(root, target, &mut dirs, &mut outside, &mut todo)?;
    }
    if outside.is_some() {
        return Err(escape());
    }
    // The path ended at a directory (ROOT itself, or a `..`): open it as a last component.
    let here = dirs.last().map_or(root.dir.as_fd(), |dir| dir.as_fd());
    Ok(fs::openat(
        here,
        ".",
        OPEN | OFlags::DIRECTORY,
        Mode::empty(),
    )?)
}

/// Puts a symlink's target in front of the components still to walk, and says where it
/// starts: the current directory when relative, ROOT when absolute and spelled with ROOT's
/// real path (no need to look outside), else `/`.
fn follow(
    root: &Root,
    target: std::ffi::CString,
    dirs: &mut Vec<OwnedFd>,
    outside: &mut Option<Vec<OwnedFd>>,
    todo: &mut VecDeque<OsString>,
) -> io::Result<()> {
    let target = PathBuf::from(OsString::from_vec(target.into_bytes()));
    let rest = if target.is_absolute() {
        dirs.clear();
        match target.strip_prefix(&root.real) {
            Ok(rest) => {
                *outside = None;
                rest
            }
            Err(_) => {
                let slash = fs::open(
                    "/",
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                *outside = Some(vec![slash]);
                &target
            }
        }
    } else {
        &target
    };
    for component in components(rest).into_iter().rev() {
        todo.push_front(component);
    }
    Ok(())
}

/// The names and `..`s of a relative path (`.` and empty names dropped).
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
        })
        .collect()
}
// ANCHOR_END: walk

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

    fn resolve_str(root: &Root, raw: &str) -> Resolved {
        resolve(root, &decode(raw).expect("decodes"))
    }

    /// The name a request's file was opened under, or what else it resolved to.
    fn outcome(root: &Root, raw: &str) -> String {
        match resolve_str(root, raw) {
            Resolved::File(file) => format!("file {} {}", file.name, file.meta.len()),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn files_directories_and_redirects() {
        let dir = scratch("files");
        let root = Root::open(&dir.join("root")).expect("root");
        assert_eq!(outcome(&root, "/a.txt"), "file a.txt 1");
        assert_eq!(outcome(&root, "/docs/"), "file index.html 4");
        assert_eq!(outcome(&root, "/docs"), "AddSlash");
        assert_eq!(outcome(&root, "/"), "NotFound");
        assert_eq!(outcome(&root, "/empty/"), "NotFound");
        assert_eq!(outcome(&root, "/a.txt/"), "NotFound");
        assert_eq!(outcome(&root, "/missing"), "NotFound");
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn symlinks_are_followed_only_inside_the_root() {
        let dir = scratch("links");
        let root = Root::open(&dir.join("root")).expect("root");
        let real = root.path().to_path_buf();
        std::os::unix::fs::symlink(dir.join("secret.txt"), real.join("out.txt")).expect("link");
        std::os::unix::fs::symlink(&dir, real.join("up")).expect("link");
        std::os::unix::fs::symlink("../secret.txt", real.join("rel-out.txt")).expect("link");
        std::os::unix::fs::symlink(real.join("a.txt"), real.join("in.txt")).expect("link");
        assert_eq!(outcome(&root, "/out.txt"), "NotFound");
        assert_eq!(outcome(&root, "/up/secret.txt"), "NotFound");
        assert_eq!(outcome(&root, "/rel-out.txt"), "NotFound");
        assert_eq!(outcome(&root, "/in.txt"), "file in.txt 1");
        fs::remove_dir_all(dir).expect("cleanup");
    }

    /// The walk is the whole defence on a kernel without openat2 (and for absolute symlinks
    /// everywhere): it must agree with openat2 on every case, escapes included.
    #[test]
    fn the_walk_and_openat2_agree() {
        use std::os::unix::fs::symlink;
        let dir = scratch("walk");
        let root = Root::open(&dir.join("root")).expect("root");
        let real = root.path().to_path_buf();
        fs::create_dir_all(real.join("docs/deep")).expect("mkdir");
        fs::write(real.join("docs/deep/d.txt"), "dd").expect("write");
        symlink("docs/deep", real.join("rel-dir")).expect("link");
        symlink("../a.txt", real.join("docs/up-in.txt")).expect("link");
        symlink("../../secret.txt", real.join("docs/up-out.txt")).expect("link");
        symlink(real.join("docs"), real.join("abs-dir")).expect("link");
        symlink(dir.join("secret.txt"), real.join("abs-out.txt")).expect("link");
        symlink(dir.join("root/../secret.txt"), real.join("abs-dots.txt")).expect("link");
        symlink("loop", real.join("loop")).expect("link");
        symlink("a.txt/x", real.join("through-file")).expect("link");
        symlink("..", real.join("docs/parent")).expect("link");
        // ROOT by another name: absolute links spelled through it still lead inside.
        symlink(&real, dir.join("alias")).expect("link");
        symlink(dir.join("alias/a.txt"), real.join("alias-in.txt")).expect("link");
        symlink(dir.join("alias/../secret.txt"), real.join("alias-out.txt")).expect("link");
        // ROOT spelled through a path outside that the walk must follow from `/`.
        let proc = |path: &Path| PathBuf::from(format!("/proc/self/root{}", path.display()));
        symlink(proc(&real.join("a.txt")), real.join("proc-in.txt")).expect("link");
        symlink(proc(&dir.join("secret.txt")), real.join("proc-out.txt")).expect("link");
        symlink(
            proc(&real.join("docs/../../secret.txt")),
            real.join("proc-dots.txt"),
        )
        .expect("link");
        symlink(format!("{}/alias", dir.display()), real.join("proc-root")).expect("link");
        // 40 links, each 480 `docs/..` long: within the kernel's limits, beyond the walk's steps.
        let pad = "docs/../".repeat(480);
        for i in 0..39 {
            symlink(
                format!("{}/{pad}long{}", real.display(), i + 1),
                real.join(format!("long{i}")),
            )
            .expect("link");
        }
        symlink("a.txt", real.join("long39")).expect("link");
        rustix::fs::mkfifoat(&*root.dir, "fifo", Mode::from_raw_mode(0o600)).expect("mkfifo");
        let cases = [
            ("a.txt", Ok(1)),
            ("rel-dir/d.txt", Ok(2)),
            ("docs/up-in.txt", Ok(1)),
            ("abs-dir/deep/d.txt", Ok(2)),
            ("abs-dir/parent/a.txt", Ok(1)),
            ("docs/parent", Err("dir")),
            ("alias-in.txt", Ok(1)),
            ("alias-out.txt", Err("escape")),
            ("docs/up-out.txt", Err("escape")),
            ("abs-out.txt", Err("escape")),
            ("abs-dots.txt", Err("escape")),
            ("docs/parent/../secret.txt", Err("escape")),
            ("loop", Err("loop")),
            ("through-file", Err("not a directory")),
            ("missing/x", Err("missing")),
            ("fifo", Err("fifo")),
            ("proc-in.txt", Ok(1)),
            ("proc-out.txt", Err("escape")),
            ("proc-dots.txt", Err("escape")),
            ("proc-root/docs/deep/d.txt", Ok(2)),
            ("proc-root", Err("dir")),
            ("long0", Err("loop")),
        ];
        for (relative, expected) in cases {
            for walk in [false, true] {
                let opened = if walk {
                    walk_beneath(&root, Path::new(relative))
                } else {
                    open_beneath(&root, Path::new(relative))
                };
                let got = match opened.map(File::from).and_then(|f| f.metadata()) {
                    Ok(meta) if meta.is_file() => Ok(meta.len()),
                    Ok(meta) if meta.is_dir() => Err("dir"),
                    Ok(_) => Err("fifo"),
                    Err(e) => Err(match e.raw_os_error().map(Errno::from_raw_os_error) {
                        Some(Errno::XDEV) => "escape",
                        Some(Errno::LOOP) => "loop",
                        Some(Errno::NOTDIR) => "not a directory",
                        Some(Errno::NOENT) => "missing",
                        _ => "other",
                    }),
                };
                assert_eq!(got, expected, "{relative} (walk: {walk})");
            }
        }
        fs::remove_dir_all(dir).expect("cleanup");
    }
}
