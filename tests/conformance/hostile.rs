//! Hostile input: request smuggling vectors, malformed framing and bytes that have no place in
//! a head. Each case asserts the answer (or the close) and that the server still serves.
//!
//! Smuggling works when two parsers (a proxy and us) disagree on where a request ends. The
//! defence is to refuse every ambiguous framing outright, answer 400, and close, so no byte
//! of the ambiguous body can ever be read as a second request.

use crate::support::Stage;
use std::io::Write;

#[macro_export]
macro_rules! hostile_behaviours {
    ($stage:expr) => {
        $crate::behaviours!($stage, hostile: [
            smuggling_framings_are_400_and_close,
            smuggled_request_is_never_answered,
            forbidden_bytes_in_heads_are_400,
            bare_lf_heads_are_accepted,
            oversized_method_is_refused,
            bodies_on_get_do_not_become_requests,
            binary_garbage_floods_are_refused,
            bare_cr_in_chunked_bodies_ends_the_connection,
            unicode_whitespace_in_framing_fields_is_400,
            close_wins_over_keep_alive,
            refused_heads_get_no_body,
            host_must_be_a_valid_authority,
            directory_redirects_stay_on_this_host,
            several_if_modified_since_are_ignored,
            later_minor_versions_are_served_as_http11,
            oversized_chunk_sizes_end_the_connection,
            malformed_1x_versions_are_400,
        ]);
    };
}

/// Sends `raw`, expects `status` and a closed connection, then checks the server serves.
fn refused(stage: &Stage, raw: &str, status: u16) {
    let mut server = stage.start();
    let mut client = server.connect();
    let _ = client.stream.write_all(raw.as_bytes());
    let response = client.response(false);
    assert_eq!(response.status, status, "{raw:?}");
    assert!(
        client.is_closed(),
        "{raw:?}: connection left open after a {status}"
    );
    // Hang up as a browser would; stage01 lingers until we do before taking the next client.
    drop(client);
    server.assert_alive();
    assert_eq!(server.get("/style.css").status, 200);
}

pub fn smuggling_framings_are_400_and_close(stage: &Stage) {
    let cases = [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: -5\r\n",
        "Content-Length: +5\r\n",
        "Content-Length: 5 5\r\n",
        "Content-Length: 0x10\r\n",
        "Content-Length: 99999999999999999999999999\r\n",
        "Content-Length:\r\n",
        "Transfer-Encoding: chunked, identity\r\n",
        "Transfer-Encoding: identity\r\n",
        "Transfer-Encoding: xchunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
    ];
    for fields in cases {
        refused(
            stage,
            &format!("POST / HTTP/1.1\r\nHost: a\r\n{fields}\r\n0\r\n\r\n"),
            400,
        );
    }
    // A coding we do not decode, with chunked last, is well-formed but unsupported.
    refused(
        stage,
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
    );
    // HTTP/1.0 has no transfer codings: framing by one is faulty.
    refused(
        stage,
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

// ANCHOR: smuggled
pub fn smuggled_request_is_never_answered(stage: &Stage) {
    // The classic CL.TE attack: a front end that trusts Content-Length forwards all of this
    // as one request; a back end that trusts chunked would answer a second, smuggled GET.
    let server = stage.start();
    let mut client = server.connect();
    let attack = "POST /style.css HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /.env HTTP/1.1\r\nHost: a\r\n\r\n";
    client.send(attack.as_bytes());
    let response = client.response(false);
    assert_eq!(response.status, 400);
    let rest = client.read_to_end();
    assert!(
        rest.is_empty(),
        "a second response followed: {:?}",
        String::from_utf8_lossy(&rest)
    );
}
// ANCHOR_END: smuggled

pub fn forbidden_bytes_in_heads_are_400(stage: &Stage) {
    let cases = [
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX\x00Y: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tfolded\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",
        "GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
        "G\x00ET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
        "GET / http/1.1\r\nHost: a\r\n\r\n",
    ];
    for raw in cases {
        refused(stage, raw, 400);
    }
}

pub fn bare_lf_heads_are_accepted(stage: &Stage) {
    // RFC 9112 section 2.2 lets a server accept a lone LF as a line end; nginx does too.
    let server = stage.start();
    let response = server.request("GET /style.css HTTP/1.0\nUser-Agent: lf\n\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"body { color: #222; }\n");
}

pub fn oversized_method_is_refused(stage: &Stage) {
    refused(
        stage,
        &format!("{} / HTTP/1.0\r\n\r\n", "A".repeat(9000)),
        414,
    );
}

pub fn bodies_on_get_do_not_become_requests(stage: &Stage) {
    // A GET with a body that looks like a request: the body is skipped (or the connection
    // closed), never answered as a request of its own.
    let server = stage.start();
    let mut client = server.connect();
    let inner = "GET /.env HTTP/1.1\r\nHost: a\r\n\r\n";
    let raw = format!("GET /style.css HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{inner}", inner.len());
    client.send(raw.as_bytes());
    assert_eq!(client.response(false).body, b"body { color: #222; }\n");
    let rest = client.read_to_end();
    assert!(
        rest.is_empty(),
        "the body was answered as a request: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

pub fn binary_garbage_floods_are_refused(stage: &Stage) {
    let mut server = stage.start();
    // A TLS ClientHello, then random-looking bytes: not HTTP, refused without harm.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for length in [5usize, 100, 4096, 40_000] {
        let mut bytes: Vec<u8> = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01];
        bytes.extend((0..length).map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        }));
        let mut client = server.connect();
        let _ = client.stream.write_all(&bytes);
        client.half_close();
        let answer = client.read_to_end();
        assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1."),
            "{length}: not an HTTP answer"
        );
        if !answer.is_empty() {
            let status_ok = answer.starts_with(b"HTTP/1.0 4") || answer.starts_with(b"HTTP/1.1 4");
            assert!(
                status_ok,
                "{length}: {:?}",
                String::from_utf8_lossy(&answer[..40.min(answer.len())])
            );
        }
    }
    server.assert_alive();
    assert_eq!(server.get("/style.css").status, 200);
}

// The framing holes of issue 17, found by sending the same bytes to nginx and to us (see
// tests/differential/run). Each case is followed by a pipelined request for another file:
// had we found a request boundary where a front end would not, that request would be answered.

/// What every case below pipelines after its attack: a request no case may ever see answered.
const FOLLOW_UP: &str = "GET /notes.txt HTTP/1.1\r\nHost: a\r\n\r\n";

/// Sends `raw` then [`FOLLOW_UP`] in one write; expects exactly one response with `status`,
/// then the connection closed, and the server still serving.
fn one_answer_then_close(stage: &Stage, raw: &str, status: u16) -> crate::support::HttpResponse {
    let mut server = stage.start();
    let mut client = server.connect();
    let _ = client
        .stream
        .write_all(format!("{raw}{FOLLOW_UP}").as_bytes());
    let response = client.response(raw.starts_with("HEAD "));
    assert_eq!(response.status, status, "{raw:?}");
    let rest = client.read_to_end();
    assert!(
        rest.is_empty(),
        "{raw:?}: more followed the {status}: {:?}",
        String::from_utf8_lossy(&rest)
    );
    drop(client);
    server.assert_alive();
    assert_eq!(server.get("/style.css").status, 200);
    response
}

// ANCHOR: bare_cr_conformance
pub fn bare_cr_in_chunked_bodies_ends_the_connection(stage: &Stage) {
    // Each body once ended (or swallowed the next request) where a front end would not:
    // `5\r3` read as 0x53, `0\r2a` as 0x2a, `0\r\r\n` as the last chunk, `5 3` as 5.
    // The response to the GET has gone out before its body is read, so what is answered is
    // the GET (200) and then nothing: the connection closes (a documented choice, see the
    // Robustness chapter).
    let filler = "x".repeat(0x53 - 5);
    let bodies = [
        format!("5\r3\r\nhello{filler}\r\n0\r\n\r\n"),
        format!("0\r2a\r\n{}\r\n0\r\n\r\n", "y".repeat(0x2a)),
        "0\r\r\n\r\n".to_string(),
        "5 3\r\nhello\r\n0\r\n\r\n".to_string(),
        "0\r\n\r\r\n".to_string(),
        "0\r\nX-Trailer: a\r\r\n\r\n".to_string(),
        "5;ext\rx\r\nhello\r\n0\r\n\r\n".to_string(),
    ];
    for body in bodies {
        let raw = format!(
            "GET /style.css HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
        );
        let response = one_answer_then_close(stage, &raw, 200);
        assert_eq!(response.body, b"body { color: #222; }\n");
    }
}
// ANCHOR_END: bare_cr_conformance

pub fn unicode_whitespace_in_framing_fields_is_400(stage: &Stage) {
    // U+00A0, U+0085, U+2003, U+3000 are whitespace to `str::trim`, not to HTTP (SP and HTAB
    // only): `chunked<NBSP>` is not `chunked`, and `42<NBSP>` is not a length.
    for space in ["\u{a0}", "\u{85}", "\u{2003}", "\u{3000}", "\x0b", "\x0c"] {
        for field in [
            format!("Transfer-Encoding: chunked{space}"),
            format!("Transfer-Encoding: {space}chunked"),
            format!("Content-Length: 5{space}"),
            format!("Content-Length: {space}5"),
        ] {
            let raw = format!("POST /style.css HTTP/1.1\r\nHost: a\r\n{field}\r\n\r\n0\r\n\r\n");
            one_answer_then_close(stage, &raw, 400);
        }
    }
}

pub fn close_wins_over_keep_alive(stage: &Stage) {
    for raw in [
        "GET /style.css HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
        "GET /style.css HTTP/1.0\r\nConnection: close, keep-alive\r\n\r\n",
        "GET /style.css HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
        "GET /style.css HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: Close\r\n\r\n",
    ] {
        let response = one_answer_then_close(stage, raw, 200);
        assert_eq!(response.header("Connection"), Some("close"), "{raw:?}");
    }
}

pub fn refused_heads_get_no_body(stage: &Stage) {
    // `one_answer_then_close` reads a HEAD's response without a body: any body bytes are
    // left over, and fail it.
    for (raw, status) in [
        ("HEAD / HTTP/1.1\r\n\r\n", 400),
        (
            "HEAD / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400,
        ),
        (
            "HEAD / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
        ),
        ("HEAD / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        ("HEAD / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
    ] {
        let response = one_answer_then_close(stage, raw, status);
        assert!(response.body.is_empty());
        assert!(response.header("Content-Length").is_some(), "{raw:?}");
    }
}

pub fn host_must_be_a_valid_authority(stage: &Stage) {
    for host in [
        "a b",
        "a/b",
        "a\\b",
        "a@b",
        "user:pw@a",
        "a:b",
        "[::1",
        "a\u{a0}",
        "",
        ":80",
    ] {
        let raw = format!("GET /style.css HTTP/1.1\r\nHost: {host}\r\n\r\n");
        one_answer_then_close(stage, &raw, 400);
    }
    let server = stage.start();
    for host in ["localhost:8080", "127.0.0.1", "[::1]:80", "a.example"] {
        let raw = format!("GET /style.css HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        assert_eq!(server.request(&raw).status, 200, "{host}");
    }
}

// ANCHOR: redirect_conformance
pub fn directory_redirects_stay_on_this_host(stage: &Stage) {
    let server = stage.start();
    for target in [
        "//evil.example/../docs",
        "/\\evil.example/../docs",
        "//docs",
        "/%2e/docs",
    ] {
        let response = server.request(&format!("GET {target} HTTP/1.0\r\n\r\n"));
        assert_eq!(response.status, 301, "{target}");
        assert_eq!(response.header("Location"), Some("/docs/"), "{target}");
    }
    // What a URI cannot hold is percent-encoded, and what the page echoes is escaped: the
    // query cannot become markup, nor put raw bytes in a header.
    let response = server.request("GET /docs?<b>'x'</b>\u{e9} HTTP/1.0\r\n\r\n");
    assert_eq!(
        response.header("Location"),
        Some("/docs/?%3Cb%3E'x'%3C/b%3E%C3%A9")
    );
    assert!(!response.text().contains("<b>"), "{}", response.text());
    assert!(response
        .text()
        .contains("/docs/?%3Cb%3E&#39;x&#39;%3C/b%3E%C3%A9"));
}
// ANCHOR_END: redirect_conformance

pub fn several_if_modified_since_are_ignored(stage: &Stage) {
    let server = stage.start();
    let first = server.get("/style.css");
    let date = first.header("Last-Modified").expect("Last-Modified");
    let single = format!("GET /style.css HTTP/1.0\r\nIf-Modified-Since: {date}\r\n\r\n");
    assert_eq!(server.request(&single).status, 304);
    for fields in [
        format!("If-Modified-Since: {date}\r\nIf-Modified-Since: {date}\r\n"),
        format!("If-Modified-Since: {date}, {date}\r\n"),
    ] {
        let response = server.request(&format!("GET /style.css HTTP/1.0\r\n{fields}\r\n"));
        assert_eq!(response.status, 200, "{fields:?}");
        assert_eq!(response.body, b"body { color: #222; }\n");
    }
}

pub fn later_minor_versions_are_served_as_http11(stage: &Stage) {
    // RFC 9110 section 2.5: a higher minor version is read as the highest we speak.
    let server = stage.start();
    for minor in 2..=9 {
        let raw = format!("GET /style.css HTTP/1.{minor}\r\nHost: a\r\nConnection: close\r\n\r\n");
        let response = server.request(&raw);
        assert_eq!(response.status, 200, "1.{minor}");
        assert_eq!(response.body, b"body { color: #222; }\n");
    }
    // Read as 1.1, it needs a Host like any 1.1 request.
    assert_eq!(
        server.request("GET /style.css HTTP/1.2\r\n\r\n").status,
        400
    );
}

/// A chunk size larger than we would ever skip is refused at its size line. It was once read
/// as a size to wait for: `ffffffffffffffff` (or `8000000000000000`, negative to a front end
/// that reads an i64) took the pipelined request after it for chunk data, where nginx
/// refuses the size. The GET is answered before its body is read; then the connection
/// closes, with nothing answered after.
pub fn oversized_chunk_sizes_end_the_connection(stage: &Stage) {
    // A day of idle timeout: the close must come from the refusal, not from the timer.
    let mut server = stage.start_with(&["--idle-timeout", "86400"]);
    for size in [
        "ffffffffffffffff",
        "8000000000000000",
        "7fffffffffffffff",
        "100001",
    ] {
        let mut client = server.connect();
        let raw = format!(
            "GET /style.css HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\n{FOLLOW_UP}"
        );
        let _ = client.stream.write_all(raw.as_bytes());
        let response = client.response(false);
        assert_eq!(response.status, 200, "{size}");
        assert_eq!(response.body, b"body { color: #222; }\n");
        assert!(
            client.is_closed(),
            "{size}: the connection waits for chunk data"
        );
    }
    server.assert_alive();
    assert_eq!(server.get("/style.css").status, 200);
}

/// `HTTP/1` and `HTTP/01.1` are malformed spellings of the version we speak: 400, not the
/// 505 ("a version I do not speak") they once got. RFC 9112 section 2.3: one digit each side.
pub fn malformed_1x_versions_are_400(stage: &Stage) {
    for version in ["HTTP/1", "HTTP/01.1", "HTTP/1.x", "HTTP/1.", "HTTP/1.10"] {
        refused(
            stage,
            &format!("GET /style.css {version}\r\nHost: a\r\n\r\n"),
            400,
        );
    }
}
