//! Precompressed files: `x.br` / `x.gz` beside `x`, sent to the clients whose
//! `Accept-Encoding` takes them, with `Vary: Accept-Encoding` (nginx's `gzip_static on`).
//!
//! The stage is started with `--precompressed` on a root of its own: the committed fixture
//! `tests/precompressed/www` (real gzip and brotli files, made with `gzip -9 -n` and
//! `brotli -q 11`, so the bodies can be compared byte for byte), plus traps built here that
//! git cannot hold: a sibling that is a symlink out of the root, a directory, a FIFO.

// Only stage09 claims this group; every other stage's test binary compiles it unused.
#![allow(dead_code)]

use crate::support::{Server, Stage};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[macro_export]
macro_rules! precompressed_behaviours {
    ($stage:expr) => {
        $crate::behaviours!($stage, precompressed: [
            the_client_gets_the_best_coding_it_accepts,
            every_answer_for_a_path_with_a_sibling_varies,
            refusals_and_malformed_fields_get_the_original,
            conditional_requests_validate_each_coding,
            ranges_count_the_encoded_bytes,
            head_gets_the_headers_and_no_body,
            a_sibling_without_its_original_is_not_served,
            siblings_outside_the_root_or_not_files_are_ignored,
            traversal_with_accept_encoding_never_leaves_the_root,
            off_unless_asked,
        ]);
    };
}

/// The committed fixture, as the repository holds it.
fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/precompressed/www")
}

/// The bytes of a fixture file.
fn bytes(name: &str) -> Vec<u8> {
    fs::read(fixture_dir().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

const SECRET: &[u8] = b"TOP SECRET: a .gz outside the root\n";

/// The root served: the fixture copied, plus the traps. Made once per test process.
fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("workbook-tests")
            .join(format!("precompressed-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let (root, outside) = (base.join("root"), base.join("outside"));
        fs::create_dir_all(root.join("docs")).expect("mkdir");
        fs::create_dir_all(&outside).expect("mkdir");
        for name in [
            "style.css",
            "style.css.br",
            "style.css.gz",
            "app.js",
            "app.js.gz",
            "plain.txt",
            "orphan.js.gz",
            "docs/index.html",
            "docs/index.html.br",
        ] {
            fs::write(root.join(name), bytes(name)).expect("copy fixture");
        }
        // Traps: an original inside whose siblings are not what they seem.
        fs::write(outside.join("secret.txt"), SECRET).expect("write");
        fs::write(outside.join("secret.txt.gz"), SECRET).expect("write");
        fs::write(root.join("escape.css"), "inside\n").expect("write");
        std::os::unix::fs::symlink(outside.join("secret.txt.gz"), root.join("escape.css.gz"))
            .expect("symlink");
        std::os::unix::fs::symlink("../outside/secret.txt.gz", root.join("escape.css.br"))
            .expect("symlink");
        fs::write(root.join("dir.css"), "a dir sibling\n").expect("write");
        fs::create_dir_all(root.join("dir.css.gz")).expect("mkdir");
        fs::write(root.join("fifo.css"), "a fifo sibling\n").expect("write");
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("fifo.css.gz"))
            .status();
        assert!(fifo.is_ok_and(|s| s.success()), "mkfifo");
        // A symlink to a sibling inside the root is followed, like any file's.
        fs::write(root.join("linked.css"), bytes("style.css")).expect("write");
        std::os::unix::fs::symlink("style.css.gz", root.join("linked.css.gz")).expect("symlink");
        // The traversal corpus's target: the original and its .gz both outside.
        std::os::unix::fs::symlink(&outside, root.join("link-dir")).expect("symlink");
        root
    })
}

fn start(stage: &Stage) -> Server {
    Server::start(stage, root(), &["--precompressed"])
}

/// `GET path` over HTTP/1.1 with these extra header lines.
fn get(path: &str, fields: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{fields}\r\n")
}

fn accepting(path: &str, accept_encoding: &str) -> String {
    get(path, &format!("Accept-Encoding: {accept_encoding}\r\n"))
}

pub fn the_client_gets_the_best_coding_it_accepts(stage: &Stage) {
    let server = start(stage);
    let mut client = server.connect();
    // One keep-alive connection, pipelined: the choice is per request, not per connection.
    let cases: [(&str, &str, Option<&str>, &str); 7] = [
        (
            "/style.css",
            "gzip, deflate, br",
            Some("br"),
            "style.css.br",
        ),
        ("/style.css", "gzip", Some("gzip"), "style.css.gz"),
        ("/style.css", "br;q=0.5, gzip", Some("gzip"), "style.css.gz"),
        ("/style.css", "BR, X-GZIP;q=0.9", Some("br"), "style.css.br"),
        ("/app.js", "br, gzip", Some("gzip"), "app.js.gz"),
        ("/docs/", "gzip, br", Some("br"), "docs/index.html.br"),
        ("/style.css", "identity", None, "style.css"),
    ];
    let requests: Vec<String> = cases
        .iter()
        .map(|(path, accept, _, _)| accepting(path, accept))
        .collect();
    let raw: Vec<&str> = requests.iter().map(String::as_str).collect();
    let responses = client.pipeline(&raw);
    for ((path, accept, coding, file), response) in cases.iter().zip(responses) {
        let expected = bytes(file);
        assert_eq!(response.status, 200, "{path} {accept}");
        assert_eq!(
            response.header("Content-Encoding"),
            *coding,
            "{path} {accept}"
        );
        assert_eq!(
            response.body, expected,
            "{path} {accept}: the sibling's exact bytes"
        );
        assert_eq!(
            response.header("Content-Length"),
            Some(expected.len().to_string().as_str())
        );
        let original_type = match path.rsplit('.').next() {
            Some("css") => "text/css; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            _ => "text/html; charset=utf-8",
        };
        assert_eq!(response.header("Content-Type"), Some(original_type));
        assert_eq!(response.header("Vary"), Some("Accept-Encoding"));
        assert!(response.header("Last-Modified").is_some());
        let etag = response.header("ETag").expect("etag");
        match coding {
            Some(name) => assert!(etag.ends_with(&format!("-{name}\"")), "{etag}"),
            None => assert!(!etag.contains("-br\"") && !etag.contains("-gzip\"")),
        }
    }
    // The connection is still good for another request after them all.
    let after = client.request(&get("/plain.txt", ""));
    assert_eq!(
        after.body,
        bytes("plain.txt"),
        "keep-alive survives the variants"
    );
    // A symlinked sibling inside the root is served like the file it names.
    let linked = server.request(&accepting("/linked.css", "gzip"));
    assert_eq!(linked.header("Content-Encoding"), Some("gzip"));
    assert_eq!(linked.body, bytes("style.css.gz"));
}

pub fn every_answer_for_a_path_with_a_sibling_varies(stage: &Stage) {
    let server = start(stage);
    // No Accept-Encoding: the original, and still Vary (a cache must not give it to all).
    let identity = server.request(&get("/style.css", ""));
    assert_eq!(
        (identity.status, identity.header("Content-Encoding")),
        (200, None)
    );
    assert_eq!(identity.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(identity.body, bytes("style.css"));
    // app.js has only a .gz: a br-only client gets the original, which still varies.
    let br_only = server.request(&accepting("/app.js", "br"));
    assert_eq!(br_only.header("Content-Encoding"), None);
    assert_eq!(br_only.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(br_only.body, bytes("app.js"));
    // A file with no sibling does not vary at all.
    let plain = server.request(&accepting("/plain.txt", "gzip, br"));
    assert_eq!(
        (plain.header("Content-Encoding"), plain.header("Vary")),
        (None, None)
    );
    assert_eq!(plain.body, bytes("plain.txt"));
}

pub fn refusals_and_malformed_fields_get_the_original(stage: &Stage) {
    let server = start(stage);
    for (accept, coding) in [
        ("br;q=0, gzip", Some("gzip")),
        ("gzip;q=0, br", Some("br")),
        ("br;q=0.2, gzip;q=0.8", Some("gzip")),
        ("*", Some("br")),
        ("br;q=0, *", Some("gzip")),
        ("br;q=0, gzip;q=0", None),
        ("*;q=0", None),
        ("*;q=0, identity", None),
        ("", None),
        ("deflate, zstd", None),
        ("gzip;q=5", None),
        ("gzip;level=9, br", None),
        ("br;q=", None),
        ("\"br\"", None),
    ] {
        let response = server.request(&accepting("/style.css", accept));
        assert_eq!(response.status, 200, "{accept:?}: never an error");
        assert_eq!(response.header("Content-Encoding"), coding, "{accept:?}");
        let file = match coding {
            Some("br") => "style.css.br",
            Some(_) => "style.css.gz",
            None => "style.css",
        };
        assert_eq!(response.body, bytes(file), "{accept:?}");
        assert_eq!(response.header("Vary"), Some("Accept-Encoding"));
    }
}

pub fn conditional_requests_validate_each_coding(stage: &Stage) {
    let server = start(stage);
    let gzip = server.request(&accepting("/style.css", "gzip"));
    let br = server.request(&accepting("/style.css", "br"));
    let identity = server.request(&get("/style.css", ""));
    let tags: Vec<&str> = [&gzip, &br, &identity]
        .iter()
        .map(|r| r.header("ETag").expect("etag"))
        .collect();
    assert!(
        tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2],
        "{tags:?}"
    );
    let ask = |accept: &str, field: String| {
        server.request(&get(
            "/style.css",
            &format!("Accept-Encoding: {accept}\r\n{field}\r\n"),
        ))
    };
    let fresh = ask("gzip", format!("If-None-Match: {}", tags[0]));
    assert_eq!((fresh.status, fresh.body.len()), (304, 0));
    assert_eq!(fresh.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(fresh.header("ETag"), Some(tags[0]));
    // The gzip bytes' tag does not validate the brotli bytes: they are sent.
    let other = ask("br", format!("If-None-Match: {}", tags[0]));
    assert_eq!(other.status, 200);
    assert_eq!(other.body, bytes("style.css.br"));
    let identity_fresh = ask("identity", format!("If-None-Match: {}", tags[2]));
    assert_eq!(identity_fresh.status, 304);
    assert_eq!(identity_fresh.header("Vary"), Some("Accept-Encoding"));
    let date = br.header("Last-Modified").expect("date");
    let by_date = ask("br", format!("If-Modified-Since: {date}"));
    assert_eq!((by_date.status, by_date.body.len()), (304, 0));
    assert_eq!(by_date.header("Vary"), Some("Accept-Encoding"));
}

pub fn ranges_count_the_encoded_bytes(stage: &Stage) {
    let server = start(stage);
    let gz = bytes("style.css.gz");
    let ask = |fields: &str| {
        server.request(&get(
            "/style.css",
            &format!("Accept-Encoding: gzip\r\n{fields}"),
        ))
    };
    let head = ask("Range: bytes=0-9\r\n");
    assert_eq!(head.status, 206);
    assert_eq!(head.header("Content-Encoding"), Some("gzip"));
    assert_eq!(
        head.header("Content-Range"),
        Some(format!("bytes 0-9/{}", gz.len()).as_str())
    );
    assert_eq!(
        head.body,
        gz[..10],
        "the first bytes of the .gz, not of the CSS"
    );
    assert_eq!(head.header("Vary"), Some("Accept-Encoding"));
    let tail = ask("Range: bytes=-8\r\n");
    assert_eq!(tail.body, gz[gz.len() - 8..]);
    // If-Range with the gzip tag keeps the range; with another coding's tag, the whole file.
    let tag = ask("").header("ETag").expect("etag").to_string();
    let fresh = ask(&format!("Range: bytes=0-0\r\nIf-Range: {tag}\r\n"));
    assert_eq!((fresh.status, fresh.body.len()), (206, 1));
    let identity_tag = server.request(&get("/style.css", ""));
    let identity_tag = identity_tag.header("ETag").expect("etag");
    let stale = ask(&format!("Range: bytes=0-0\r\nIf-Range: {identity_tag}\r\n"));
    assert_eq!((stale.status, stale.body.clone()), (200, gz.clone()));
    let refused = ask(&format!("Range: bytes={}-\r\n", gz.len()));
    assert_eq!(refused.status, 416);
    assert_eq!(
        refused.header("Content-Range"),
        Some(format!("bytes */{}", gz.len()).as_str())
    );
    assert_eq!(refused.header("Vary"), Some("Accept-Encoding"));
    // Several ranges of encoded bytes: the whole .gz (never a multipart body under a
    // Content-Encoding that would claim the multipart itself is compressed).
    let several = ask("Range: bytes=0-1,5-6\r\n");
    assert_eq!(several.status, 200);
    assert_eq!(several.header("Content-Encoding"), Some("gzip"));
    assert_eq!(several.body, gz);
}

pub fn head_gets_the_headers_and_no_body(stage: &Stage) {
    let server = start(stage);
    let mut client = server.connect();
    let head = "HEAD /style.css HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: br\r\n\r\n";
    let get = accepting("/style.css", "br");
    let responses = client.pipeline(&[head, &get]);
    let (head, get) = (&responses[0], &responses[1]);
    assert_eq!((head.status, head.body.len()), (200, 0));
    for name in [
        "Content-Encoding",
        "Content-Type",
        "Content-Length",
        "Vary",
        "ETag",
        "Last-Modified",
    ] {
        assert_eq!(head.header(name), get.header(name), "{name}");
    }
    assert_eq!(
        head.header("Content-Length"),
        Some(bytes("style.css.br").len().to_string().as_str())
    );
    // The GET after it on the same connection arrived whole: the HEAD sent no body.
    assert_eq!(get.body, bytes("style.css.br"));
}

pub fn a_sibling_without_its_original_is_not_served(stage: &Stage) {
    let server = start(stage);
    // nginx would serve orphan.js.gz as /orphan.js to gzip clients; here /orphan.js is the
    // same 404 for everyone.
    for accept in ["gzip", "br, gzip", "identity"] {
        let orphan = server.request(&accepting("/orphan.js", accept));
        assert_eq!(orphan.status, 404, "{accept}");
        assert_eq!(orphan.header("Content-Encoding"), None);
    }
    // A request for the .gz itself is an ordinary file: its own bytes, no Content-Encoding
    // (the client asked for a gzip file, not for a compressed transfer of something else).
    let itself = server.request(&accepting("/style.css.gz", "gzip"));
    assert_eq!(itself.status, 200);
    assert_eq!(
        (itself.header("Content-Encoding"), itself.header("Vary")),
        (None, None)
    );
    assert_eq!(itself.body, bytes("style.css.gz"));
    let orphan_itself = server.request(&accepting("/orphan.js.gz", "gzip"));
    assert_eq!(orphan_itself.status, 200);
    assert_eq!(orphan_itself.body, bytes("orphan.js.gz"));
}

pub fn siblings_outside_the_root_or_not_files_are_ignored(stage: &Stage) {
    let server = start(stage);
    // escape.css.gz (absolute) and escape.css.br (relative) are symlinks out of the root;
    // dir.css.gz is a directory; fifo.css.gz a FIFO (which must not block the server).
    for (path, original) in [
        ("/escape.css", &b"inside\n"[..]),
        ("/dir.css", b"a dir sibling\n"),
        ("/fifo.css", b"a fifo sibling\n"),
    ] {
        let response = server.request(&accepting(path, "br, gzip"));
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.body, original, "{path}");
        assert_eq!(
            (response.header("Content-Encoding"), response.header("Vary")),
            (None, None),
            "{path}: no usable sibling, so nothing varies"
        );
    }
    // And the escaping links themselves are refused, as any link out of the root.
    for path in ["/escape.css.gz", "/escape.css.br"] {
        let response = server.request(&accepting(path, "gzip"));
        assert_eq!(response.status, 404, "{path}");
        assert!(!response.text().contains("TOP SECRET"), "{path}");
    }
}

pub fn traversal_with_accept_encoding_never_leaves_the_root(stage: &Stage) {
    let server = start(stage);
    // Next to ROOT lies outside/secret.txt and its .gz: no spelling reaches either.
    for target in [
        "/../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/..%2foutside%2fsecret.txt",
        "/docs/../../outside/secret.txt",
        "/link-dir/secret.txt",
        "/link-dir/../outside/secret.txt",
        "/style.css/../../outside/secret.txt",
        "/style.css%2f..%2f..%2foutside%2fsecret.txt",
        "/..\\outside\\secret.txt",
        "/escape.css/",
        "/../outside/secret.txt.gz",
    ] {
        for accept in ["gzip, br", "*"] {
            let response = server.request(&accepting(target, accept));
            assert!(
                !response.body.windows(10).any(|w| w == b"TOP SECRET"),
                "{target} with {accept} leaked the secret"
            );
            assert!(
                matches!(response.status, 400 | 404),
                "{target} with {accept}: {}",
                response.status_line
            );
            assert_eq!(response.header("Content-Encoding"), None, "{target}");
        }
    }
}

pub fn off_unless_asked(stage: &Stage) {
    let server = Server::start(stage, root(), &[]);
    let response = server.request(&accepting("/style.css", "br, gzip"));
    assert_eq!(response.status, 200);
    assert_eq!(
        (response.header("Content-Encoding"), response.header("Vary")),
        (None, None)
    );
    assert_eq!(response.body, bytes("style.css"));
}
