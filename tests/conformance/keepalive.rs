//! Persistent connections (stage02 on, DESIGN section 5): many requests on one connection,
//! request bodies stepped over exactly, ambiguous framing refused, entity tags, and the idle
//! and header timeouts.
//!
//! Every request here is sent whole before its response is read, one at a time: a stage
//! that answers before or after reading a body passes alike. Pipelining has its own group.

// Every stage's test binary compiles every group but calls only the groups it claims
// (stage01 claims neither keep-alive nor pipelining).
#![allow(dead_code)]

use crate::support::{binary, fixture, Client, Stage, TYPED_FILES};
use std::io::{self, Read, Write};
use std::time::Duration;

#[macro_export]
macro_rules! keepalive_behaviours {
    ($stage:expr) => {
        $crate::behaviours!($stage, keepalive: [
            many_requests_on_one_connection_with_a_404_between,
            http10_keep_alive_is_opt_in_and_echoed,
            http10_without_keep_alive_closes,
            connection_close_is_honoured,
            etag_gives_304_and_a_different_tag_200,
            head_then_get_on_one_connection,
            post_with_content_length_body_then_get,
            post_with_chunked_body_then_get,
            bodies_split_across_writes_then_get,
            body_that_looks_like_a_request_is_not_answered,
            body_too_big_to_skip_closes,
            malformed_chunked_body_closes,
            content_length_with_transfer_encoding_is_400_and_close,
            conflicting_or_invalid_content_length_is_400_and_close,
            missing_host_is_400_and_close,
            silent_clients_do_not_block_others,
            idle_connection_is_closed,
            steady_requests_outlive_the_header_timeout,
            dripping_head_is_cut_off_by_the_header_timeout,
            timeout_flags_in_help_and_zero_refused,
        ]);
    };
}

const CSS: &[u8] = b"body { color: #222; }\n";
const GET_CSS: &str = "GET /style.css HTTP/1.1\r\nHost: test\r\n\r\n";

/// Short timeouts, so the timeout behaviours take a second or two, not ten.
const SHORT_TIMEOUTS: [&str; 4] = ["--idle-timeout", "1", "--header-timeout", "2"];

/// Sends `GET /style.css` on `client` and checks the answer: proof that the connection is
/// still open and that nothing before it was misread.
fn assert_css_follows(client: &mut Client, after: &str) {
    client.send(GET_CSS.as_bytes());
    let response = client
        .try_response(false)
        .unwrap_or_else(|e| panic!("no answer to a GET after {after}: {e}"));
    assert_eq!(response.status, 200, "after {after}");
    assert_eq!(response.body, CSS, "after {after}");
}

/// Reads a response that refuses the request, and checks that the connection then closes.
fn assert_refused_and_closed(client: &mut Client, status: u16, what: &str) {
    let response = client.response(false);
    assert_eq!(response.status, status, "{what}");
    assert_eq!(response.header("Connection"), Some("close"), "{what}");
    assert!(client.is_closed(), "{what}: the connection stays open");
}

pub fn many_requests_on_one_connection_with_a_404_between(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    for i in 0..25 {
        let (name, bytes, status) = match i {
            12 => ("no-such-file.html", &b""[..], 404),
            _ => {
                let (name, bytes, _) = TYPED_FILES[i % TYPED_FILES.len()];
                (name, bytes, 200)
            }
        };
        client.send(format!("GET /{name} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        let response = client.response(false);
        assert!(
            response.status_line.starts_with("HTTP/1.1 "),
            "{}",
            response.status_line
        );
        assert_eq!(response.status, status, "request {i} for /{name}");
        if status == 200 {
            assert_eq!(response.body, bytes, "request {i} for /{name}");
        }
        // HTTP/1.1 is persistent by default: nothing to say, and certainly not `close`.
        assert_eq!(response.header("Connection"), None, "request {i}");
    }
}

pub fn http10_keep_alive_is_opt_in_and_echoed(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    for i in 0..3 {
        client.send(b"GET /style.css HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let response = client.response(false);
        assert_eq!(response.status, 200, "request {i}");
        assert_eq!(response.body, CSS, "request {i}");
        assert!(
            response
                .header("Connection")
                .is_some_and(|c| c.eq_ignore_ascii_case("keep-alive")),
            "request {i}: keep-alive not echoed: {:?}",
            response.headers
        );
    }
    // The same connection, a 1.0 request without the option: the last one.
    client.send(b"GET /style.css HTTP/1.0\r\n\r\n");
    let last = client.response(false);
    assert_eq!(last.body, CSS);
    assert_eq!(last.header("Connection"), Some("close"));
    assert!(client.is_closed());
}

pub fn http10_without_keep_alive_closes(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    client.send(b"GET /style.css HTTP/1.0\r\n\r\n");
    let response = client.response(false);
    assert_eq!(response.body, CSS);
    assert_eq!(response.header("Connection"), Some("close"));
    assert!(client.is_closed());
}

pub fn connection_close_is_honoured(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    client.send(GET_CSS.as_bytes());
    assert_eq!(client.response(false).body, CSS);
    client.send(b"GET /style.css HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    let response = client.response(false);
    assert_eq!(response.body, CSS);
    assert_eq!(response.header("Connection"), Some("close"));
    assert!(client.is_closed(), "the server kept the connection open");
}

pub fn etag_gives_304_and_a_different_tag_200(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    client.send(GET_CSS.as_bytes());
    let first = client.response(false);
    let etag = first.header("ETag").expect("an ETag").to_string();
    // Strong: quoted, without the `W/` of a weak tag.
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "{etag}"
    );
    let last_modified = first.header("Last-Modified").expect("Last-Modified");
    let conditional = |if_none_match: &str, extra: &str| {
        format!(
            "GET /style.css HTTP/1.1\r\nHost: test\r\nIf-None-Match: {if_none_match}\r\n{extra}\r\n"
        )
    };
    // A match (also weakly, also inside a list, also `*`): 304, no body, the same tag. The
    // next response on the connection proves no stray body followed.
    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".to_string(),
    ] {
        client.send(conditional(&tag, "").as_bytes());
        let response = client.response(false);
        assert_eq!(response.status, 304, "If-None-Match: {tag}");
        assert!(response.body.is_empty());
        assert_eq!(response.header("ETag"), Some(etag.as_str()));
    }
    // No match: the whole file, even though the date alone would have said "not modified".
    let since = format!("If-Modified-Since: {last_modified}\r\n");
    client.send(conditional("\"not-the-tag\"", &since).as_bytes());
    let changed = client.response(false);
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body, CSS);
    assert_css_follows(&mut client, "conditional requests");
}

pub fn head_then_get_on_one_connection(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    // HEAD of a 10 MiB file: a server that sent the body would wreck the next response.
    for path in ["/style.css", "/big.bin", "/missing"] {
        client.send(format!("HEAD {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        let head = client.response(true);
        assert!(
            head.header("Content-Length").is_some(),
            "HEAD {path}: {:?}",
            head.headers
        );
        assert_css_follows(&mut client, &format!("HEAD {path}"));
    }
}

pub fn post_with_content_length_body_then_get(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    client.send(b"POST /style.css HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello world");
    let response = client.response(false);
    assert_eq!(response.status, 405);
    assert_eq!(response.header("Allow"), Some("GET, HEAD"));
    assert_css_follows(&mut client, "a POST with a Content-Length body");
    // A body of zero bytes, and one a little over a read buffer.
    let big = "x".repeat(40_000);
    for body in ["", big.as_str()] {
        let post = format!(
            "PUT /a HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        client.send(post.as_bytes());
        assert_eq!(client.response(false).status, 405);
        assert_css_follows(&mut client, &format!("a {}-byte body", body.len()));
    }
}

pub fn post_with_chunked_body_then_get(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    client.send(
        b"POST /style.css HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n6;note=x\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n",
    );
    assert_eq!(client.response(false).status, 405);
    assert_css_follows(
        &mut client,
        "a chunked body with an extension and a trailer",
    );
    client.send(b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert_eq!(client.response(false).status, 405);
    assert_css_follows(&mut client, "an empty chunked body");
}

pub fn bodies_split_across_writes_then_get(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    let requests: [&[u8]; 2] = [
        b"POST /a HTTP/1.1\r\nHost: test\r\nContent-Length: 26\r\n\r\nabcdefghijklmnopqrstuvwxyz",
        b"POST /a HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
    ];
    for request in requests {
        // Three bytes a segment: every boundary (inside the head, the chunk sizes, the CRLFs)
        // falls somewhere.
        client.send_in_pieces(request, 3, Duration::from_millis(1));
        assert_eq!(client.response(false).status, 405);
        assert_css_follows(&mut client, "a body sent in 3-byte pieces");
    }
}

pub fn body_that_looks_like_a_request_is_not_answered(stage: &Stage) {
    // Request smuggling in miniature: a body that is itself a request. A server that lost
    // track of the body's end would answer it (with notes.txt) instead of the next GET.
    let server = stage.start();
    let mut client = server.connect();
    let inner = "GET /notes.txt HTTP/1.1\r\nHost: test\r\n\r\n";
    client.send(
        format!(
            "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n{inner}",
            inner.len()
        )
        .as_bytes(),
    );
    assert_eq!(client.response(false).status, 405);
    assert_css_follows(&mut client, "a Content-Length body holding a request");
    client.send(
        format!(
            "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{inner}\r\n0\r\n\r\n",
            inner.len()
        )
        .as_bytes(),
    );
    assert_eq!(client.response(false).status, 405);
    assert_css_follows(&mut client, "a chunked body holding a request");
}

pub fn body_too_big_to_skip_closes(stage: &Stage) {
    // 2 MB is more than a server should read just to throw away: it answers and closes.
    let server = stage.start();
    let mut client = server.connect();
    client.send(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 2000000\r\n\r\nsome of it");
    let response = client.response(false);
    assert!([405, 413].contains(&response.status), "{}", response.status);
    assert_eq!(response.header("Connection"), Some("close"));
    assert!(client.is_closed());
}

pub fn malformed_chunked_body_closes(stage: &Stage) {
    // The body's end cannot be found, so nothing after it can be trusted: a response
    // (before or after noticing), then the close; the GET behind it is never answered.
    let server = stage.start();
    let mut client = server.connect();
    client.send(
        format!("POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n{GET_CSS}")
            .as_bytes(),
    );
    let response = client.response(false);
    assert!([400, 405].contains(&response.status), "{}", response.status);
    assert!(client.is_closed(), "answered after a malformed body");
}

pub fn content_length_with_transfer_encoding_is_400_and_close(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    client.send(
        b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert_refused_and_closed(&mut client, 400, "Content-Length with Transfer-Encoding");
}

pub fn conflicting_or_invalid_content_length_is_400_and_close(stage: &Stage) {
    let server = stage.start();
    for fields in [
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: 5, 6\r\n",
        "Content-Length: abc\r\n",
        "Content-Length: -5\r\n",
        "Content-Length: 99999999999999999999999999\r\n",
    ] {
        let mut client = server.connect();
        client.send(format!("POST / HTTP/1.1\r\nHost: test\r\n{fields}\r\nhello").as_bytes());
        assert_refused_and_closed(&mut client, 400, fields);
    }
}

pub fn missing_host_is_400_and_close(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    client.send(b"GET /style.css HTTP/1.1\r\nUser-Agent: test\r\n\r\n");
    assert_refused_and_closed(&mut client, 400, "HTTP/1.1 without Host");
}

pub fn silent_clients_do_not_block_others(stage: &Stage) {
    let server = stage.start();
    // One client says nothing, one stops halfway through its head, one is between requests.
    let mut silent = server.connect();
    let mut halfway = server.connect();
    halfway.send(b"GET /style.css HTTP/1.1\r\nHo");
    let mut between = server.connect();
    assert_css_follows(&mut between, "connecting");
    for i in 0..5 {
        let mut other = server.connect();
        assert_css_follows(&mut other, &format!("three stalled clients (client {i})"));
    }
    // The stalled clients were still connected all along, not dropped to make room.
    assert_css_follows(&mut silent, "staying silent while others were served");
    halfway.send(b"st: test\r\n\r\n");
    assert_eq!(halfway.response(false).body, CSS);
    assert_css_follows(&mut between, "waiting while others were served");
}

pub fn idle_connection_is_closed(stage: &Stage) {
    let server = stage.start_with(&SHORT_TIMEOUTS);
    // Idle after a request...
    let mut client = server.connect();
    assert_css_follows(&mut client, "connecting");
    // ...and idle from the start. The reads below wait until the server hangs up (the
    // client's own read timeout is far longer than the server's idle timeout).
    let mut never_spoke = server.connect();
    assert!(client.is_closed(), "an idle connection stayed open");
    assert!(never_spoke.is_closed(), "a silent connection stayed open");
}

pub fn steady_requests_outlive_the_header_timeout(stage: &Stage) {
    // The header timeout bounds each head, not the connection's life: requests coming
    // steadily for longer than it are all answered. (The pauses are the behaviour under test.)
    let server = stage.start_with(&["--idle-timeout", "3", "--header-timeout", "1"]);
    let mut client = server.connect();
    for i in 0..5 {
        assert_css_follows(&mut client, &format!("{i} steady requests"));
        std::thread::sleep(Duration::from_millis(400));
    }
}

pub fn dripping_head_is_cut_off_by_the_header_timeout(stage: &Stage) {
    // A header line every 300 ms never leaves the connection idle for the 1 s idle timeout,
    // so only a deadline on the whole head (2 s) can end it: well before the 40 lines
    // (12 s) of the drip are out.
    const LINES: usize = 40;
    let server = stage.start_with(&SHORT_TIMEOUTS);
    let mut client = server.connect();
    client.send(b"GET /style.css HTTP/1.1\r\nHost: test\r\n");
    // The read timeout is the pause between lines: each turn waits 300 ms for the server to
    // say something, then drips the next line.
    client
        .stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut answer = Vec::new();
    let mut lines = 0;
    let mut buf = [0u8; 1024];
    while lines < LINES {
        match client.stream.read(&mut buf) {
            Ok(0) => break,
            // A server may say 408 before it closes; keep reading for the close.
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let line = format!("X-Drip-{lines}: still here\r\n");
                if client.stream.write_all(line.as_bytes()).is_err()
                    || client.stream.flush().is_err()
                {
                    break;
                }
                lines += 1;
            }
            Err(_) => break,
        }
    }
    assert!(
        lines < LINES,
        "the drip ran its course ({lines} lines): no head deadline"
    );
    // The server either said 408 and closed, or just closed.
    if !answer.is_empty() {
        assert!(
            answer.starts_with(b"HTTP/1.1 408 "),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
}

pub fn timeout_flags_in_help_and_zero_refused(stage: &Stage) {
    use predicates::prelude::*;
    assert_cmd::Command::new(binary(stage.name))
        .arg("--help")
        .assert()
        .success()
        .stdout(
            predicate::str::contains("--idle-timeout <SECS>")
                .and(predicate::str::contains("--header-timeout <SECS>")),
        );
    for flag in ["--idle-timeout", "--header-timeout"] {
        assert_cmd::Command::new(binary(stage.name))
            .args([flag, "0", "0"])
            .arg(&fixture().root)
            // No .timeout(): its SIGCHLD handler interrupts other tests' reads (see cli.rs).
            .assert()
            .code(2)
            .stderr(predicate::str::contains(flag).and(predicate::str::contains("panicked").not()));
    }
}
