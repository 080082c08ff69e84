//! DESIGN section 5 over HTTP/2, through an independent client (the `h2` crate): the same
//! files, statuses, validators, ranges, auth, fallback and traversal safety as over
//! HTTP/1.1, each checked over TLS (ALPN `h2`) and over cleartext with prior knowledge.
//! Plus what only HTTP/2 has: many streams on one connection, and a small file that does not
//! wait behind a big one.

// Every stage's test binary compiles every group but calls only the groups it claims.
#![allow(dead_code)]

use crate::support::h2::{fetch, fetch_one, try_fetch, Ask, Over, WITH_PLAIN};
use crate::support::tls::base64;
use crate::support::{big_content, Stage, BIG_LEN, DOCS_INDEX, SECRET, TYPED_FILES};

#[macro_export]
macro_rules! h2_behaviours {
    ($stage:expr) => {
        $crate::behaviours!($stage, h2: [
            files_arrive_whole_with_their_types,
            the_big_file_arrives_byte_for_byte,
            redirects_missing_and_other_methods,
            conditional_requests_get_304,
            ranges_get_206_and_416,
            head_has_the_fields_and_no_body,
            traversal_never_leaves_the_root,
            hidden_files_are_404_and_well_known_is_served,
            a_hundred_streams_on_one_connection,
            a_small_file_overtakes_a_big_one,
            basic_auth_over_h2,
            fallback_over_h2,
            the_access_log_says_http2,
        ]);
    };
}

const BOTH: [Over; 2] = [Over::Tls, Over::Cleartext];

pub fn files_arrive_whole_with_their_types(stage: &Stage) {
    let server = stage.start_with(WITH_PLAIN);
    for over in BOTH {
        let asks: Vec<Ask> = TYPED_FILES
            .iter()
            .map(|(name, _, _)| Ask::get(&format!("/{name}")))
            .collect();
        let responses = fetch(&server, over, &asks);
        for ((name, bytes, content_type), response) in TYPED_FILES.iter().zip(&responses) {
            assert_eq!(response.status, 200, "{name} over {over:?}");
            assert_eq!(response.body, *bytes, "{name} over {over:?}");
            assert_eq!(
                response.header("content-type"),
                Some(*content_type),
                "{name}"
            );
            let length = bytes.len().to_string();
            assert_eq!(response.header("content-length"), Some(length.as_str()));
            assert_eq!(response.header("server"), Some(stage.name));
            assert!(response.header("date").is_some_and(|d| d.ends_with(" GMT")));
            assert!(response.header("etag").is_some(), "{name}");
            assert!(response.header("last-modified").is_some(), "{name}");
            // HTTP/2 has no connection-specific fields (RFC 9113 section 8.2.2).
            for banned in ["connection", "keep-alive", "transfer-encoding"] {
                assert_eq!(response.header(banned), None, "{banned} on {name}");
            }
        }
        let docs = fetch_one(&server, over, Ask::get("/docs/"));
        assert_eq!(
            (docs.status, docs.body.as_slice()),
            (200, DOCS_INDEX.as_bytes())
        );
        let empty = fetch_one(&server, over, Ask::get("/empty.txt"));
        assert_eq!((empty.status, empty.body.len()), (200, 0));
        assert_eq!(empty.header("content-length"), Some("0"));
    }
}

pub fn the_big_file_arrives_byte_for_byte(stage: &Stage) {
    let server = stage.start_with(WITH_PLAIN);
    let big = big_content();
    for over in BOTH {
        let response = fetch_one(&server, over, Ask::get("/big.bin"));
        assert_eq!(response.status, 200);
        assert_eq!(response.body.len(), BIG_LEN, "over {over:?}");
        assert!(response.body == big, "the bytes differ over {over:?}");
    }
}

pub fn redirects_missing_and_other_methods(stage: &Stage) {
    let server = stage.start_with(WITH_PLAIN);
    for over in BOTH {
        let asks = [
            Ask::get("/docs?x=1"),
            Ask::get("/no-such-file.txt"),
            Ask::method("POST", "/index.html"),
            Ask::method("DELETE", "/index.html"),
            Ask::method("BREW", "/index.html"),
            Ask::get("/%00"),
        ];
        let responses = fetch(&server, over, &asks);
        assert_eq!(responses[0].status, 301);
        assert_eq!(responses[0].header("location"), Some("/docs/?x=1"));
        assert_eq!(responses[1].status, 404);
        assert!(String::from_utf8_lossy(&responses[1].body).contains("404"));
        for response in &responses[2..4] {
            assert_eq!(response.status, 405);
            assert_eq!(response.header("allow"), Some("GET, HEAD"));
        }
        assert_eq!(responses[4].status, 501);
        assert_eq!(responses[5].status, 400);
    }
}

pub fn conditional_requests_get_304(stage: &Stage) {
    let server = stage.start_with(WITH_PLAIN);
    for over in BOTH {
        let first = fetch_one(&server, over, Ask::get("/notes.txt"));
        let etag = first.header("etag").expect("etag").to_string();
        let modified = first.header("last-modified").expect("date").to_string();
        let asks = [
            Ask::get("/notes.txt").with("if-none-match", &etag),
            Ask::get("/notes.txt").with("if-none-match", &format!("W/{etag}")),
            Ask::get("/notes.txt").with("if-modified-since", &modified),
            Ask::get("/notes.txt").with("if-none-match", "\"other\""),
            Ask::get("/notes.txt").with("if-modified-since", "not a date"),
        ];
        let responses = fetch(&server, over, &asks);
        for response in &responses[..3] {
            assert_eq!(response.status, 304, "over {over:?}");
            assert!(response.body.is_empty());
            assert_eq!(response.header("etag"), Some(etag.as_str()));
        }
        for response in &responses[3..] {
            assert_eq!(response.status, 200);
            assert_eq!(response.body, TYPED_FILES[4].1);
        }
    }
}

pub fn ranges_get_206_and_416(stage: &Stage) {
    let server = stage.start_with(WITH_PLAIN);
    let big = big_content();
    for over in BOTH {
        let first = fetch_one(&server, over, Ask::head("/big.bin"));
        let etag = first.header("etag").expect("etag").to_string();
        assert_eq!(first.header("accept-ranges"), Some("bytes"));
        let asks = [
            Ask::get("/big.bin").with("range", "bytes=0-99"),
            Ask::get("/big.bin").with("range", "bytes=-500"),
            Ask::get("/big.bin").with("range", &format!("bytes={BIG_LEN}-")),
            Ask::get("/big.bin").with("range", "bytes=5-1"),
            Ask::get("/big.bin")
                .with("range", "bytes=0-9")
                .with("if-range", "\"stale\""),
            Ask::get("/big.bin")
                .with("range", "bytes=10-19")
                .with("if-range", &etag),
        ];
        let responses = fetch(&server, over, &asks);
        assert_eq!(responses[0].status, 206);
        let range = format!("bytes 0-99/{BIG_LEN}");
        assert_eq!(responses[0].header("content-range"), Some(range.as_str()));
        assert_eq!(responses[0].body, &big[..100]);
        assert_eq!(responses[1].status, 206);
        assert_eq!(responses[1].body, &big[BIG_LEN - 500..]);
        assert_eq!(responses[2].status, 416);
        let unsatisfiable = format!("bytes */{BIG_LEN}");
        assert_eq!(
            responses[2].header("content-range"),
            Some(unsatisfiable.as_str())
        );
        // Malformed: ignored, the whole file.
        assert_eq!(responses[3].status, 200);
        assert_eq!(responses[3].body.len(), BIG_LEN);
        // A stale If-Range: the whole file; a current one: the range.
        assert_eq!(responses[4].status, 200);
        assert_eq!(responses[4].body.len(), BIG_LEN);
        assert_eq!(responses[5].status, 206);
        assert_eq!(responses[5].body, &big[10..20]);
    }
}

pub fn head_has_the_fields_and_no_body(stage: &Stage) {
    let server = stage.start_with(WITH_PLAIN);
    for over in BOTH {
        let asks = [
            Ask::head("/index.html"),
            Ask::head("/big.bin"),
            Ask::head("/missing"),
        ];
        let responses = fetch(&server, over, &asks);
        let index_len = TYPED_FILES[0].1.len().to_string();
        assert_eq!(responses[0].status, 200);
        assert_eq!(
            responses[0].header("content-length"),
            Some(index_len.as_str())
        );
        assert_eq!(
            responses[1].header("content-length"),
            Some(&*BIG_LEN.to_string())
        );
        assert_eq!(responses[2].status, 404);
        for response in &responses {
            assert!(response.body.is_empty(), "a HEAD got a body over {over:?}");
        }
    }
}

/// The traversal corpus (as in the traversal group), as `:path`s. The h2 crate refuses a
/// few of them as URIs before sending (a backslash); those are checked over HTTP/1.1.
const TRAVERSALS: &[&str] = &[
    "/../secret.txt",
    "/../../../../../../etc/passwd",
    "/docs/../../secret.txt",
    "/./../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/%2E%2E/etc/passwd",
    "/..%2fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/..%2F..%2F..%2Fetc%2Fpasswd",
    "/%252e%252e/secret.txt",
    "/..%5csecret.txt",
    "/%c0%ae%c0%ae/secret.txt",
    "/..%00/secret.txt",
    "/secret.txt%00.html",
    "//../secret.txt",
    "/link-dir/secret.txt",
    "/link-out.txt",
    "/.%2e/secret.txt",
    "/..;/secret.txt",
];

pub fn traversal_never_leaves_the_root(stage: &Stage) {
    let server = stage.start_with(WITH_PLAIN);
    for over in BOTH {
        let asks: Vec<Ask> = TRAVERSALS.iter().map(|path| Ask::get(path)).collect();
        let responses = fetch(&server, over, &asks);
        for (path, response) in TRAVERSALS.iter().zip(&responses) {
            let body = String::from_utf8_lossy(&response.body);
            assert!(!body.contains(SECRET.trim()), "{path} leaked the secret");
            assert!(!body.contains("root:x:0:0"), "{path} leaked /etc/passwd");
            assert!(
                [400, 404].contains(&response.status),
                "{path}: {} over {over:?}",
                response.status
            );
        }
    }
}

pub fn hidden_files_are_404_and_well_known_is_served(stage: &Stage) {
    let server = stage.start_with(WITH_PLAIN);
    for over in BOTH {
        let asks = [
            Ask::get("/.env"),
            Ask::get("/.git/config"),
            Ask::get("/.well-known/security.txt"),
            Ask::get("/link-in.txt"),
        ];
        let responses = fetch(&server, over, &asks);
        assert_eq!(responses[0].status, 404);
        assert_eq!(responses[1].status, 404);
        assert_eq!(responses[2].status, 200);
        assert_eq!(responses[2].body, b"Contact: mailto:a@example.com\n");
        assert_eq!(
            (responses[3].status, &*responses[3].body),
            (200, TYPED_FILES[4].1)
        );
    }
}

pub fn a_hundred_streams_on_one_connection(stage: &Stage) {
    let server = stage.start_with(WITH_PLAIN);
    for over in BOTH {
        // SETTINGS_MAX_CONCURRENT_STREAMS is 100: the client opens them all at once.
        let asks: Vec<Ask> = (0..100)
            .map(|i| {
                let (name, _, _) = TYPED_FILES[i % TYPED_FILES.len()];
                Ask::get(&format!("/{name}"))
            })
            .collect();
        let responses = fetch(&server, over, &asks);
        for (i, response) in responses.iter().enumerate() {
            let (name, bytes, _) = TYPED_FILES[i % TYPED_FILES.len()];
            assert_eq!(response.status, 200, "{name}");
            assert_eq!(response.body, bytes, "stream {i}: {name}");
        }
    }
}

pub fn a_small_file_overtakes_a_big_one(stage: &Stage) {
    let server = stage.start_with(WITH_PLAIN);
    for over in BOTH {
        // The big one is asked for first; the server shares the connection between them a
        // piece at a time, so the small one is done long before the big one.
        let asks = [
            Ask::get("/big.bin"),
            Ask::get("/notes.txt"),
            Ask::get("/index.html"),
        ];
        let responses = fetch(&server, over, &asks);
        assert_eq!(responses[0].body.len(), BIG_LEN);
        assert_eq!(responses[1].body, TYPED_FILES[4].1);
        assert!(
            responses[1].finished < responses[0].finished
                && responses[2].finished < responses[0].finished,
            "the small files waited for the big one over {over:?}: {:?}",
            responses.iter().map(|r| r.finished).collect::<Vec<_>>()
        );
    }
}

pub fn basic_auth_over_h2(stage: &Stage) {
    let server = stage.start_with(&["--plain-port", "0", "--auth", "alice:wonder land"]);
    let good = format!("Basic {}", base64(b"alice:wonder land"));
    let bad = format!("Basic {}", base64(b"alice:wrong"));
    // The realm is the stage's name, as its --realm defaults.
    let challenge = format!("Basic realm=\"{}\", charset=\"UTF-8\"", stage.name);
    for over in BOTH {
        let asks = [
            Ask::get("/notes.txt"),
            Ask::get("/notes.txt").with("authorization", &bad),
            Ask::get("/no-such-file").with("authorization", &bad),
            Ask::get("/notes.txt").with("authorization", &good),
            Ask::head("/notes.txt"),
        ];
        let responses = fetch(&server, over, &asks);
        for response in [&responses[0], &responses[1], &responses[2], &responses[4]] {
            assert_eq!(response.status, 401, "over {over:?}");
            assert_eq!(
                response.header("www-authenticate"),
                Some(challenge.as_str())
            );
            assert!(!String::from_utf8_lossy(&response.body).contains("plain text"));
        }
        assert!(responses[4].body.is_empty());
        assert_eq!(responses[3].status, 200);
        assert_eq!(responses[3].body, TYPED_FILES[4].1);
    }
}

pub fn fallback_over_h2(stage: &Stage) {
    let server = stage.start_with(&["--plain-port", "0", "--fallback", "/index.html"]);
    for over in BOTH {
        let asks = [
            Ask::get("/app/route").with("accept", "text/html,application/xhtml+xml"),
            Ask::get("/app/route").with("accept", "*/*"),
            Ask::get("/missing.css").with("accept", "*/*"),
            Ask::get("/app/route").with("accept", "application/json"),
        ];
        let responses = fetch(&server, over, &asks);
        for response in &responses[..2] {
            assert_eq!(response.status, 200);
            assert_eq!(response.body, TYPED_FILES[0].1);
        }
        assert_eq!(responses[2].status, 404);
        assert_eq!(responses[3].status, 404);
    }
}

pub fn the_access_log_says_http2(stage: &Stage) {
    let server = stage.start_with(WITH_PLAIN);
    for over in BOTH {
        let response = fetch_one(
            &server,
            over,
            Ask::get("/notes.txt").with("user-agent", "h2-test"),
        );
        assert_eq!(response.status, 200);
    }
    let big = try_fetch(&server, Over::Tls, &[Ask::get("/big.bin")]).expect("big");
    assert_eq!(big[0].body.len(), BIG_LEN);
    let line_for = |needle: &str| {
        let mut found = None;
        server.wait_for(std::time::Duration::from_secs(5), || {
            found = server
                .log()
                .lines()
                .find(|l| l.contains(needle))
                .map(String::from);
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("no log line with {needle}: {}", server.log()))
    };
    let notes = line_for("\"GET /notes.txt HTTP/2.0\" 200");
    assert!(notes.ends_with("\"h2-test\""), "{notes}");
    let big = line_for("\"GET /big.bin HTTP/2.0\" 200");
    assert!(big.contains(&format!(" 200 {BIG_LEN} ")), "{big}");
}
