//! stage07 (HTTP/2 on the event loop, beside stage06's HTTP/1.1).
//!
//! Like stage06 the stage is `over_tls`, and the harness's TLS client offers only ALPN
//! `http/1.1`: every group stage06 claims runs here unchanged, so a client without h2 gets
//! stage06's HTTP/1.1 exactly. The `h2` group runs DESIGN section 5 again over HTTP/2 through
//! the h2 crate (TLS with ALPN `h2`, and cleartext with prior knowledge); `h2_frames` throws
//! crafted frames and the published attacks at a raw socket. The tests below add what only
//! stage07's wiring does: ALPN's choice, the cleartext port's two protocols, a graceful stop.

mod conformance;
mod support;

use std::process::Command;
use std::time::Duration;
use support::h2::{fetch, fetch_one, plain_port, Ask, Over, Raw, WITH_PLAIN};
use support::tls::{base64, client_config, connect_with};
use support::{Server, Stage, TYPED_FILES};

const STAGE: Stage = Stage::new("stage07").over_tls().skipping(support::NO_POOL);

http10_behaviours!(crate::STAGE);
traversal_behaviours!(crate::STAGE);
filesystem_behaviours!(crate::STAGE);
limits_behaviours!(crate::STAGE);
resilience_behaviours!(crate::STAGE);
hostile_behaviours!(crate::STAGE);
cli_behaviours!(crate::STAGE);
keepalive_behaviours!(crate::STAGE);
pipelining_behaviours!(crate::STAGE);
pool_behaviours!(crate::STAGE);
eventloop_behaviours!(crate::STAGE);
h2_behaviours!(crate::STAGE);
h2_frames_behaviours!(crate::STAGE);

#[test]
fn alpn_prefers_h2_and_http11_clients_get_http11() {
    let server = STAGE.start();
    let both = client_config(rustls::DEFAULT_VERSIONS, &[b"h2", b"http/1.1"]);
    let client = connect_with(server.port, both).expect("handshake");
    assert_eq!(
        client.tls().and_then(|tls| tls.alpn_protocol()),
        Some(&b"h2"[..])
    );
    // Only http/1.1 offered (the harness's client), and no ALPN at all: HTTP/1.1.
    let mut old = server.connect();
    let response = old.request("GET /notes.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!((response.status, &*response.body), (200, TYPED_FILES[4].1));
    assert_eq!(
        old.tls().and_then(|tls| tls.alpn_protocol()),
        Some(&b"http/1.1"[..])
    );
    let none = client_config(rustls::DEFAULT_VERSIONS, &[]);
    let mut bare = connect_with(server.port, none).expect("handshake without ALPN");
    assert_eq!(bare.tls().and_then(|tls| tls.alpn_protocol()), None);
    let response = bare.request("GET /notes.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(response.status, 200);
    let response = fetch_one(&server, Over::Tls, Ask::get("/notes.txt"));
    assert_eq!((response.status, &*response.body), (200, TYPED_FILES[4].1));
}

#[test]
fn the_cleartext_port_speaks_http11_and_ignores_upgrade_h2c() {
    let server = STAGE.start_with(WITH_PLAIN);
    let port = plain_port(&server);
    let mut client = support::Client::connect(("127.0.0.1", port));
    let response = client.request("GET /notes.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!((response.status, &*response.body), (200, TYPED_FILES[4].1));
    // RFC 9113 section 3.1: the h2c upgrade is deprecated; the request is answered as the
    // HTTP/1.1 it is, and the connection stays HTTP/1.1.
    let upgrade =
        "GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n\
                   Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    let response = client.request(upgrade);
    assert_eq!((response.status, &*response.body), (200, TYPED_FILES[0].1));
    assert_eq!(response.header("Upgrade"), None);
    let response = client.request("GET /notes.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(response.status, 200);
    // And prior knowledge on the same port is HTTP/2.
    let response = fetch_one(&server, Over::Cleartext, Ask::get("/notes.txt"));
    assert_eq!((response.status, &*response.body), (200, TYPED_FILES[4].1));
}

/// The preface can arrive a byte at a time; the cleartext port waits for it to decide.
#[test]
fn a_dripped_preface_still_gets_http2() {
    let server = STAGE.start_with(WITH_PLAIN);
    let port = plain_port(&server);
    let mut raw = Raw::connect(port);
    for byte in support::h2::PREFACE {
        raw.send(&[*byte]);
    }
    raw.send(&support::h2::settings(&[]));
    raw.send(&support::h2::get(1, "/notes.txt"));
    let data = raw
        .until(support::h2::DATA, Some(1))
        .expect("the file over h2");
    assert_eq!(data.payload, TYPED_FILES[4].1);
}

fn sigterm(server: &Server) {
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn a_graceful_stop_sends_goaway_and_finishes_open_streams() {
    let mut server = STAGE.start_with(WITH_PLAIN);
    let port = plain_port(&server);
    // A stream whose body is still going when the stop comes: the client keeps its window
    // shut until after the signal, then opens it.
    let mut raw = Raw::connect(port);
    let mut hello = support::h2::PREFACE.to_vec();
    hello.extend_from_slice(&support::h2::settings(&[(0x4, 0)]));
    raw.send(&hello);
    raw.send(&support::h2::get(1, "/notes.txt"));
    raw.until(support::h2::HEADERS, Some(1)).expect("head");
    sigterm(&server);
    // First GOAWAY: last stream 2^31-1 (section 6.8's two steps), NO_ERROR.
    let goaway = raw.until(support::h2::GOAWAY, None).expect("GOAWAY");
    assert_eq!(goaway.code(), support::h2::NO_ERROR);
    raw.send(&support::h2::settings(&[(0x4, 65_535)]));
    let data = raw
        .until(support::h2::DATA, Some(1))
        .expect("the open stream finishes");
    assert_eq!(data.payload, TYPED_FILES[4].1);
    // Answer the server's PING so the final GOAWAY can go; then the server closes.
    while let Some(frame) = raw.next_frame() {
        if frame.kind == support::h2::PING && frame.flags & support::h2::ACK == 0 {
            raw.send(&support::h2::frame(
                support::h2::PING,
                support::h2::ACK,
                0,
                &frame.payload,
            ));
        }
        if frame.kind == support::h2::GOAWAY {
            assert_eq!(&frame.payload[..4], &1u32.to_be_bytes(), "last stream 1");
        }
    }
    let status = server.child.wait().expect("wait");
    assert!(status.success(), "{status}; {}", server.stderr());
}

#[test]
fn h2_and_http11_share_the_site_and_auth() {
    let server = STAGE.start_with(&["--plain-port", "0", "--auth", "bob:builder"]);
    let auth = format!("Basic {}", base64(b"bob:builder"));
    let h2 = fetch(
        &server,
        Over::Tls,
        &[
            Ask::get("/notes.txt").with("authorization", &auth),
            Ask::get("/notes.txt"),
        ],
    );
    assert_eq!((h2[0].status, h2[1].status), (200, 401));
    let mut client = server.connect();
    let ok = client.request(&format!(
        "GET /notes.txt HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\n\r\n"
    ));
    assert_eq!((ok.status, &*ok.body), (200, TYPED_FILES[4].1));
    let log = server.log();
    assert!(log.contains("bob ["), "the user is logged: {log}");
}

/// bcrypt checks run on verifier threads for HTTP/2 too, and a stream waiting for one does
/// not hold back the other streams of its connection.
#[test]
fn a_stream_waiting_for_bcrypt_does_not_block_the_others() {
    let output = Command::new("htpasswd")
        .args(["-nbB", "-C", "4", "carol", "secret"])
        .output();
    let Some(output) = output.ok().filter(|o| o.status.success()) else {
        eprintln!("skipping: htpasswd (apache2-utils) not found");
        return;
    };
    let file = support::fixture()
        .root
        .parent()
        .expect("base")
        .join("stage07-h2.htpasswd");
    std::fs::write(&file, &output.stdout).expect("write htpasswd");
    let file = file.to_string_lossy().into_owned();
    let server = STAGE.start_with(&["--plain-port", "0", "--htpasswd", &file]);
    let good = format!("Basic {}", base64(b"carol:secret"));
    let wrong = format!("Basic {}", base64(b"carol:wrong"));
    // The wrong password needs a bcrypt check on a verifier thread, whose verdict comes back
    // through the loop's mailbox, a turn later at the soonest: the other streams (no
    // credentials: 401 at once, in the same turn) finish first, however fast bcrypt is.
    let responses = fetch(
        &server,
        Over::Cleartext,
        &[
            Ask::get("/notes.txt").with("authorization", &wrong),
            Ask::get("/notes.txt"),
            Ask::get("/index.html"),
        ],
    );
    assert_eq!(responses[0].status, 401);
    assert_eq!((responses[1].status, responses[2].status), (401, 401));
    assert!(
        responses[1].finished < responses[0].finished,
        "{:?}",
        responses.iter().map(|r| r.finished).collect::<Vec<_>>()
    );
    // Two streams with the same good credentials: one check, both answered.
    let responses = fetch(
        &server,
        Over::Tls,
        &[
            Ask::get("/notes.txt").with("authorization", &good),
            Ask::get("/index.html").with("authorization", &good),
        ],
    );
    assert_eq!(
        (responses[0].status, &*responses[0].body),
        (200, TYPED_FILES[4].1)
    );
    assert_eq!(
        (responses[1].status, &*responses[1].body),
        (200, TYPED_FILES[0].1)
    );
}

/// A TLS client that says h2 and then sends HTTP/1.1 gets a protocol error, and only it.
#[test]
fn http11_bytes_after_alpn_h2_are_a_protocol_error() {
    let mut server = STAGE.start();
    let config = client_config(rustls::DEFAULT_VERSIONS, &[b"h2"]);
    let mut client = connect_with(server.port, config).expect("handshake");
    client.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let reply = client.read_to_end();
    assert!(support::find(&reply, b"HTTP/1.1").is_none(), "{reply:?}");
    server.assert_alive();
    let response = fetch_one(&server, Over::Tls, Ask::get("/notes.txt"));
    assert_eq!(response.status, 200);
}

/// An idle HTTP/2 connection meets the idle timeout, and is told so with a GOAWAY.
#[test]
fn an_idle_h2_connection_is_closed_with_goaway() {
    let server = STAGE.start_with(&["--plain-port", "0", "--idle-timeout", "1"]);
    let mut raw = Raw::open(plain_port(&server));
    raw.send(&support::h2::get(1, "/notes.txt"));
    let data = raw.until(support::h2::DATA, Some(1)).expect("answered");
    assert_eq!(data.payload, TYPED_FILES[4].1);
    let started = std::time::Instant::now();
    let goaway = raw.until(support::h2::GOAWAY, None).expect("GOAWAY");
    assert_eq!(goaway.code(), support::h2::NO_ERROR);
    assert!(raw.is_closed());
    // By the idle timeout (1 s), not by our read timeout.
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A reset stream stops its file: the access log says how many bytes went, fewer than the
/// file holds, and the connection serves the next stream.
#[test]
fn a_reset_stops_the_file_and_the_log_says_what_went() {
    let server = STAGE.start_with(WITH_PLAIN);
    let mut raw = Raw::connect(plain_port(&server));
    let mut hello = support::h2::PREFACE.to_vec();
    // Windows as large as they go: only the reset can stop the file.
    hello.extend_from_slice(&support::h2::settings(&[(0x4, 0x7fff_ffff)]));
    hello.extend_from_slice(&support::h2::window_update(0, 0x7fff_ffff - 65_535));
    raw.send(&hello);
    raw.send(&support::h2::get(1, "/big.bin"));
    raw.until(support::h2::DATA, Some(1))
        .expect("the first piece");
    raw.send(&support::h2::rst_stream(1, support::h2::CANCEL));
    raw.send(&support::h2::get(3, "/notes.txt"));
    let data = raw.until(support::h2::DATA, Some(3)).expect("stream 3");
    assert_eq!(data.payload, TYPED_FILES[4].1);
    let mut line = None;
    server.wait_for(Duration::from_secs(5), || {
        line = server
            .log()
            .lines()
            .find(|l| l.contains("\"GET /big.bin HTTP/2.0\" 200"))
            .map(String::from);
        line.is_some()
    });
    let line = line.expect("a log line for the reset stream");
    let sent: usize = line
        .split("\" 200 ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("bytes in the log line");
    assert!(sent > 0 && sent < support::BIG_LEN, "{line}");
}
