//! HTTP/2 frames no good client sends, over a raw socket on the cleartext port: the error
//! cases of RFC 9113 sections 5 to 8, each answered with the RFC's GOAWAY or RST_STREAM code
//! (read back from the socket), and the published attacks on HTTP/2, each stopped by a bound.
//! Under every attack a second client, on its own connection, is still served.
//!
//! The frames are built by hand (`support::h2`): HPACK literals without Huffman, so nothing
//! of the server's own codec is on the client side.

// Every stage's test binary compiles every group but calls only the groups it claims.
#![allow(dead_code)]

use crate::support::h2::*;
use crate::support::{Server, Stage, TYPED_FILES};
use std::time::{Duration, Instant};

#[macro_export]
macro_rules! h2_frames_behaviours {
    ($stage:expr) => {
        $crate::behaviours!($stage, h2_frames: [
            a_bad_preface_is_a_protocol_error,
            frames_that_need_a_stream_on_stream_zero,
            an_even_stream_id_from_the_client,
            data_on_an_idle_stream,
            a_frame_larger_than_max_frame_size,
            window_update_overflow_and_zero_increment,
            a_malformed_request_resets_only_its_stream,
            after_the_clients_goaway_a_ping_is_still_answered,
            rapid_reset_is_stopped,
            continuation_without_end_is_stopped,
            a_dripping_header_block_meets_the_header_timeout,
            an_hpack_bomb_is_stopped_while_decoding,
            a_ping_flood_from_a_client_that_never_reads,
            a_settings_flood_from_a_client_that_never_reads,
            a_window_that_never_opens_meets_the_send_timeout,
            a_client_gone_with_its_window_shut_is_closed_at_once,
        ]);
    };
}

fn start(stage: &Stage, extra: &[&str]) -> (Server, u16) {
    let mut args = WITH_PLAIN.to_vec();
    args.extend_from_slice(extra);
    let server = stage.start_with(&args);
    let port = plain_port(&server);
    (server, port)
}

/// Another client, on its own connection, gets its file: the attack cost only its own
/// connection. Over h2 (the h2 crate) and over HTTP/1.1.
fn others_are_still_served(server: &mut Server) {
    server.assert_alive();
    let response = fetch_one(server, Over::Cleartext, Ask::get("/notes.txt"));
    assert_eq!((response.status, &*response.body), (200, TYPED_FILES[4].1));
    let response = fetch_one(server, Over::Tls, Ask::get("/index.html"));
    assert_eq!((response.status, &*response.body), (200, TYPED_FILES[0].1));
}

/// The connection ends with a GOAWAY carrying `code`.
fn assert_goaway(raw: &mut Raw, code: u32, what: &str) {
    let got = raw.goaway_code();
    assert_eq!(got, Some(code), "{what}: GOAWAY code");
    assert!(
        raw.is_closed(),
        "{what}: the connection must close after GOAWAY"
    );
}

pub fn a_bad_preface_is_a_protocol_error(stage: &Stage) {
    let (mut server, port) = start(stage, &[]);
    // The first line is HTTP/2's (so the cleartext port hands it to HTTP/2), the rest is not.
    let mut raw = Raw::connect(port);
    raw.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n");
    raw.send(&settings(&[]));
    // RFC 9113 section 3.4: a connection error of type PROTOCOL_ERROR. The GOAWAY is
    // optional here ("MAY omit"), since the peer may not speak HTTP/2 at all; the close is not.
    if let Some(frame) = raw.until(GOAWAY, None) {
        assert_eq!(frame.code(), PROTOCOL_ERROR);
    }
    assert!(raw.is_closed());
    // SETTINGS first is part of the preface too: a PING instead is a protocol error.
    let mut raw = Raw::connect(port);
    raw.send(PREFACE);
    raw.send(&frame(PING, 0, 0, &[0; 8]));
    if let Some(frame) = raw.until(GOAWAY, None) {
        assert_eq!(frame.code(), PROTOCOL_ERROR);
    }
    assert!(raw.is_closed());
    others_are_still_served(&mut server);
}

pub fn frames_that_need_a_stream_on_stream_zero(stage: &Stage) {
    let (mut server, port) = start(stage, &[]);
    let cases: [(&str, Vec<u8>); 4] = [
        (
            "HEADERS on stream 0",
            frame(
                HEADERS,
                END_HEADERS | END_STREAM,
                0,
                &request_block("GET", "/", &[]),
            ),
        ),
        ("DATA on stream 0", frame(DATA, 0, 0, b"x")),
        ("RST_STREAM on stream 0", rst_stream(0, CANCEL)),
        (
            "CONTINUATION on stream 0",
            frame(CONTINUATION, END_HEADERS, 0, &[]),
        ),
    ];
    for (what, bytes) in cases {
        let mut raw = Raw::open(port);
        raw.send(&bytes);
        assert_goaway(&mut raw, PROTOCOL_ERROR, what);
    }
    // And the reverse: SETTINGS and PING belong to the connection, never to a stream.
    for (what, bytes) in [
        ("SETTINGS on stream 1", frame(SETTINGS, 0, 1, &[])),
        ("PING on stream 1", frame(PING, 0, 1, &[0; 8])),
    ] {
        let mut raw = Raw::open(port);
        raw.send(&bytes);
        assert_goaway(&mut raw, PROTOCOL_ERROR, what);
    }
    others_are_still_served(&mut server);
}

pub fn an_even_stream_id_from_the_client(stage: &Stage) {
    let (mut server, port) = start(stage, &[]);
    let mut raw = Raw::open(port);
    raw.send(&get(2, "/notes.txt"));
    assert_goaway(&mut raw, PROTOCOL_ERROR, "HEADERS on stream 2");
    // Stream ids only grow: 3 after 5 is a protocol error too (section 5.1.1).
    let mut raw = Raw::open(port);
    raw.send(&get(5, "/notes.txt"));
    assert!(
        raw.until(HEADERS, Some(5)).is_some(),
        "stream 5 is answered"
    );
    raw.send(&get(3, "/notes.txt"));
    assert_goaway(&mut raw, PROTOCOL_ERROR, "stream 3 after 5");
    others_are_still_served(&mut server);
}

pub fn data_on_an_idle_stream(stage: &Stage) {
    let (mut server, port) = start(stage, &[]);
    let mut raw = Raw::open(port);
    raw.send(&frame(DATA, END_STREAM, 1, b"hello"));
    assert_goaway(&mut raw, PROTOCOL_ERROR, "DATA on idle stream 1");
    others_are_still_served(&mut server);
}

pub fn a_frame_larger_than_max_frame_size(stage: &Stage) {
    let (mut server, port) = start(stage, &[]);
    // SETTINGS_MAX_FRAME_SIZE is 16,384 unless we said more; a header block one byte over
    // could change the connection's HPACK state, so it is a connection error.
    let mut block = request_block("GET", "/notes.txt", &[]);
    while block.len() < 16_385 {
        literal(&mut block, "x-pad", &"p".repeat(100));
    }
    block.truncate(16_385);
    let mut raw = Raw::open(port);
    raw.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block));
    assert_goaway(&mut raw, FRAME_SIZE_ERROR, "a 16,385-byte HEADERS");
    // A PING is 8 bytes, always.
    let mut raw = Raw::open(port);
    raw.send(&frame(PING, 0, 0, &[0; 9]));
    assert_goaway(&mut raw, FRAME_SIZE_ERROR, "a 9-byte PING");
    others_are_still_served(&mut server);
}

pub fn window_update_overflow_and_zero_increment(stage: &Stage) {
    let (mut server, port) = start(stage, &[]);
    // The connection's window starts at 65,535: adding 2^31-1 passes the maximum.
    let mut raw = Raw::open(port);
    raw.send(&window_update(0, 0x7fff_ffff));
    assert_goaway(&mut raw, FLOW_CONTROL_ERROR, "connection window overflow");
    // A stream's window overflowing is that stream's error only: RST_STREAM, and the
    // connection goes on. The stream stays open while its big body waits for a window the
    // client keeps shut (SETTINGS_INITIAL_WINDOW_SIZE 0).
    let mut raw = Raw::connect(port);
    let mut hello = PREFACE.to_vec();
    hello.extend_from_slice(&settings(&[(0x4, 0)]));
    raw.send(&hello);
    raw.send(&get(1, "/big.bin"));
    assert!(
        raw.until(HEADERS, Some(1)).is_some(),
        "stream 1's response head"
    );
    raw.send(&window_update(1, 0x7fff_ffff));
    raw.send(&window_update(1, 0x7fff_ffff));
    let reset = raw
        .until(RST_STREAM, Some(1))
        .expect("RST_STREAM on stream 1");
    assert_eq!(reset.code(), FLOW_CONTROL_ERROR);
    // Stream 1's first update opened its window, and its DATA may have used up the
    // connection's 65,535 bytes before the reset: give the connection room again.
    raw.send(&window_update(0, 1 << 20));
    raw.send(&settings(&[(0x4, 65_535)]));
    raw.send(&get(3, "/notes.txt"));
    let data = raw
        .until(DATA, Some(3))
        .expect("stream 3 answered on the same connection");
    assert_eq!(data.payload, TYPED_FILES[4].1);
    // A zero increment on the connection is a protocol error (section 6.9).
    let mut raw = Raw::open(port);
    raw.send(&window_update(0, 0));
    assert_goaway(&mut raw, PROTOCOL_ERROR, "a zero increment");
    others_are_still_served(&mut server);
}

pub fn a_malformed_request_resets_only_its_stream(stage: &Stage) {
    let (mut server, port) = start(stage, &[]);
    let mut raw = Raw::open(port);
    // An uppercase field name, and a connection-specific field: malformed (section 8.2).
    let upper = request_block("GET", "/notes.txt", &[("User-Agent", "x")]);
    raw.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &upper));
    let reset = raw
        .until(RST_STREAM, Some(1))
        .expect("RST_STREAM on stream 1");
    assert_eq!(reset.code(), PROTOCOL_ERROR);
    let connection = request_block("GET", "/notes.txt", &[("connection", "keep-alive")]);
    raw.send(&frame(HEADERS, END_HEADERS | END_STREAM, 3, &connection));
    let reset = raw
        .until(RST_STREAM, Some(3))
        .expect("RST_STREAM on stream 3");
    assert_eq!(reset.code(), PROTOCOL_ERROR);
    raw.send(&get(5, "/notes.txt"));
    let data = raw.until(DATA, Some(5)).expect("stream 5 answered");
    assert_eq!(data.payload, TYPED_FILES[4].1);
    others_are_still_served(&mut server);
}

pub fn after_the_clients_goaway_a_ping_is_still_answered(stage: &Stage) {
    let (_server, port) = start(stage, &[]);
    let mut raw = Raw::open(port);
    raw.send(&get(1, "/notes.txt"));
    let data = raw.until(DATA, Some(1)).expect("stream 1 answered");
    assert_eq!(data.payload, TYPED_FILES[4].1);
    // GOAWAY (with an error code the RFC does not define: it must not matter), then a PING
    // in a later write: the client may still ask, and is answered (h2spec 6.8).
    let mut goaway = 1u32.to_be_bytes().to_vec();
    goaway.extend_from_slice(&0xff_u32.to_be_bytes());
    raw.send(&frame(GOAWAY, 0, 0, &goaway));
    raw.send(&frame(PING, 0, 0, b"after-go"));
    let ack = raw.until(PING, None).expect("the PING's ACK");
    assert_eq!(
        (ack.flags & ACK, ack.payload.as_slice()),
        (ACK, &b"after-go"[..])
    );
    // Then, with nothing left to do, the server closes (soon, not at the idle timeout).
    assert!(raw.is_closed());
}

pub fn rapid_reset_is_stopped(stage: &Stage) {
    let (mut server, port) = start(stage, &[]);
    let mut raw = Raw::open(port);
    // CVE-2023-44487: open a stream and cancel it at once, thousands of times a second. The
    // server's work per stream happens anyway; a bound on resets per second ends it.
    let mut burst = Vec::new();
    for i in 0..20_000u32 {
        let stream = 1 + 2 * i;
        burst.extend_from_slice(&get(stream, "/notes.txt"));
        burst.extend_from_slice(&rst_stream(stream, CANCEL));
    }
    let sent = raw.try_send(&burst);
    let code = raw.goaway_code();
    assert_eq!(
        code,
        Some(ENHANCE_YOUR_CALM),
        "rapid reset (sent: {sent:?})"
    );
    assert!(raw.is_closed());
    others_are_still_served(&mut server);
}

pub fn continuation_without_end_is_stopped(stage: &Stage) {
    let (mut server, port) = start(stage, &[]);
    let mut raw = Raw::open(port);
    // A HEADERS without END_HEADERS, then CONTINUATIONs that never end it: a server that
    // buffers the block until it ends runs out of memory (the 2024 CONTINUATION flood).
    raw.send(&frame(
        HEADERS,
        END_STREAM,
        1,
        &request_block("GET", "/", &[]),
    ));
    let mut piece = Vec::new();
    while piece.len() < 16_000 {
        literal(&mut piece, "x-flood", &"f".repeat(100));
    }
    let started = Instant::now();
    let mut refused = false;
    for _ in 0..4_000 {
        // 64 MB in all, unless the server stops us first.
        if raw.try_send(&frame(CONTINUATION, 0, 1, &piece)).is_err() {
            refused = true;
            break;
        }
    }
    let code = raw.goaway_code();
    assert!(
        matches!(
            code,
            Some(ENHANCE_YOUR_CALM | PROTOCOL_ERROR | COMPRESSION_ERROR)
        ),
        "CONTINUATION flood: GOAWAY {code:?} (refused early: {refused}, {:?})",
        started.elapsed()
    );
    assert!(raw.is_closed());
    assert!(
        server.rss_kib() < 200 * 1024,
        "rss {} KiB",
        server.rss_kib()
    );
    others_are_still_served(&mut server);
}

pub fn a_dripping_header_block_meets_the_header_timeout(stage: &Stage) {
    let (mut server, port) = start(stage, &["--header-timeout", "1"]);
    let mut raw = Raw::open(port);
    // Slowloris over h2: a header block a byte at a time, each CONTINUATION well inside the
    // idle timeout. Like an HTTP/1.1 head, the whole block gets --header-timeout.
    let mut block = request_block("GET", "/notes.txt", &[]);
    literal(&mut block, "x-drip", &"d".repeat(100));
    raw.send(&frame(HEADERS, END_STREAM, 1, &block[..10]));
    let started = Instant::now();
    for byte in &block[10..] {
        // The pause is the attack (a client dripping its head), not a wait for the server.
        std::thread::sleep(Duration::from_millis(100));
        if raw.try_send(&frame(CONTINUATION, 0, 1, &[*byte])).is_err() {
            break;
        }
        if started.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    let mut answered = false;
    while let Some(frame) = raw.next_frame() {
        answered |= frame.kind == HEADERS && frame.stream == 1;
    }
    let waited = started.elapsed();
    assert!(!answered, "the dripped block was answered");
    assert!(
        waited < Duration::from_secs(8),
        "still open after {waited:?}"
    );
    others_are_still_served(&mut server);
}

pub fn an_hpack_bomb_is_stopped_while_decoding(stage: &Stage) {
    let (mut server, port) = start(stage, &[]);
    let mut raw = Raw::open(port);
    // A 4,000-byte field stored in the dynamic table once (literal with incremental indexing,
    // new name: 0x40), then referenced by its index (62: 0xbe) 16,000 times: a 16 KB block
    // that decodes to 64 MB of header list. SETTINGS_MAX_HEADER_LIST_SIZE must stop it while
    // decoding, not after.
    let mut block = request_block("GET", "/notes.txt", &[]);
    block.push(0x40);
    block.push(5);
    block.extend_from_slice(b"x-big");
    block.push(0x7f); // a string of 4,000 bytes: 127 + 3873 (0xa1 0x1e)
    block.extend_from_slice(&[0xa1, 0x1e]);
    block.extend_from_slice(&[b'b'; 4_000]);
    while block.len() < 16_000 {
        block.push(0xbe);
    }
    raw.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block));
    // Refused: a RST_STREAM or a GOAWAY, or a 431 head; never the file.
    let mut answered_with_file = false;
    let mut refused = false;
    while let Some(frame) = raw.next_frame() {
        match frame.kind {
            RST_STREAM if frame.stream == 1 => refused = true,
            GOAWAY => refused = true,
            DATA if frame.stream == 1 && frame.payload == TYPED_FILES[4].1 => {
                answered_with_file = true
            }
            HEADERS if frame.stream == 1 => refused = true,
            _ => {}
        }
        if refused {
            break;
        }
    }
    assert!(
        refused && !answered_with_file,
        "the bomb was decoded and served"
    );
    assert!(
        server.rss_kib() < 200 * 1024,
        "rss {} KiB",
        server.rss_kib()
    );
    others_are_still_served(&mut server);
}

/// Writes `unit` over and over without ever reading, until the server stops taking bytes
/// (our writes time out: it stopped reading) or closes; then checks it is bounded.
fn flood_without_reading(stage: &Stage, unit: &[u8], what: &str) {
    let (mut server, port) = start(stage, &[]);
    let rss_before = server.rss_kib();
    let mut raw = Raw::open(port);
    raw.stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let batch: Vec<u8> = unit
        .iter()
        .copied()
        .cycle()
        .take(unit.len() * 4096)
        .collect();
    let mut sent = 0usize;
    let started = Instant::now();
    // At most 200 MB or 20 s: the server must stop reading (or close) long before.
    while sent < 200 << 20 && started.elapsed() < Duration::from_secs(20) {
        if raw.try_send(&batch).is_err() {
            break;
        }
        sent += batch.len();
    }
    assert!(sent < 200 << 20, "{what}: the server took 200 MB of it");
    // While this client is stuck, another is served at once.
    others_are_still_served(&mut server);
    let grown = server.rss_kib().saturating_sub(rss_before);
    assert!(grown < 64 * 1024, "{what}: the server grew by {grown} KiB");
    drop(raw);
    others_are_still_served(&mut server);
}

pub fn a_ping_flood_from_a_client_that_never_reads(stage: &Stage) {
    flood_without_reading(stage, &frame(PING, 0, 0, b"12345678"), "PING flood");
}

pub fn a_settings_flood_from_a_client_that_never_reads(stage: &Stage) {
    flood_without_reading(stage, &settings(&[(0x3, 100)]), "SETTINGS flood");
}

pub fn a_window_that_never_opens_meets_the_send_timeout(stage: &Stage) {
    let (mut server, port) = start(stage, &["--send-timeout", "1"]);
    let mut raw = Raw::connect(port);
    // SETTINGS_INITIAL_WINDOW_SIZE 0: the server may send no DATA on any stream until a
    // WINDOW_UPDATE that never comes.
    let mut hello = PREFACE.to_vec();
    hello.extend_from_slice(&settings(&[(0x4, 0)]));
    raw.send(&hello);
    raw.send(&get(1, "/big.bin"));
    let started = Instant::now();
    let mut heads = 0;
    let mut data = 0;
    while let Some(frame) = raw.next_frame() {
        match frame.kind {
            HEADERS => heads += 1,
            DATA => data += frame.payload.len(),
            _ => {}
        }
    }
    let waited = started.elapsed();
    assert_eq!((heads, data), (1, 0), "the head, and not one byte of body");
    // Closed by the send timeout (1 s), long before our read timeout would have fired.
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );
    assert!(waited < Duration::from_secs(10), "closed after {waited:?}");
    others_are_still_served(&mut server);
}

/// The same shut window, but the client then ends its side (a FIN): no WINDOW_UPDATE can come
/// any more, so the body it is owed can never go, and the server closes at once instead of
/// holding the connection until the send timeout (30 s by default; and a graceful stop would
/// wait for it, then cut it off and exit 1).
pub fn a_client_gone_with_its_window_shut_is_closed_at_once(stage: &Stage) {
    let (mut server, port) = start(stage, &[]);
    let mut raw = Raw::connect(port);
    let mut hello = PREFACE.to_vec();
    hello.extend_from_slice(&settings(&[(0x4, 0)]));
    raw.send(&hello);
    raw.send(&get(1, "/big.bin"));
    assert!(raw.until(HEADERS, Some(1)).is_some(), "the response head");
    raw.stream
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    let started = Instant::now();
    while raw.next_frame().is_some() {}
    let waited = started.elapsed();
    assert!(raw.is_closed(), "the server closes the connection");
    assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
    others_are_still_served(&mut server);
}
