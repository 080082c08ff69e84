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
