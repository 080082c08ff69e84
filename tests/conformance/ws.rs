//! WebSocket (RFC 6455) against an echo endpoint, `/ws/echo`, with frames made by hand: the
//! handshake and each of its refusals, messages of every length form, fragmentation with
//! pings in the middle, UTF-8 (split, overlong, surrogates), close codes valid and invalid,
//! every protocol violation with its close code, and a frame dripped one byte at a time.
//! What the Autobahn testsuite's cases 1-7 and 9 ask, as plain tests.

// Only stages that speak WebSocket (stage08 on) claim this group.
#![allow(dead_code)]

use crate::support::ws::{self, client_frame, close_payload, frame, Ws, BINARY, CLOSE};
use crate::support::ws::{CONTINUATION, PING, PONG, TEXT};
use crate::support::Stage;
use std::time::Duration;

#[macro_export]
macro_rules! ws_behaviours {
    ($stage:expr) => {
        $crate::behaviours!($stage, ws: [
            handshake_is_101_with_the_accept_key,
            handshake_failures_are_http_errors,
            requests_without_an_upgrade_are_plain_http,
            text_and_binary_are_echoed_with_their_opcode,
            every_length_form_is_echoed,
            sixteen_mebibytes_are_echoed,
            a_frame_dripped_one_byte_at_a_time,
            fragments_are_joined_and_pings_answered_between_them,
            utf8_valid_and_split_across_fragments,
            invalid_utf8_closes_with_1007,
            protocol_violations_close_with_1002,
            a_message_over_the_limit_closes_with_1009,
            valid_close_codes_are_echoed,
            invalid_close_codes_close_with_1002,
            ping_payloads_come_back_in_pongs,
            frames_after_the_handshake_in_one_write,
            an_upgrade_pipelined_behind_a_request,
        ]);
    };
}

const ECHO: &str = "/ws/echo";

/// Sends `bytes` on a fresh echo connection and returns the close code the server sends.
fn close_code_for(stage: &Stage, bytes: &[u8]) -> Option<u16> {
    let server = stage.start();
    let mut ws = Ws::open(&server, ECHO);
    let _ = ws.try_send(bytes);
    let (_, code) = ws.read_until_close();
    // We answer the server's close; then the server closes the connection.
    let _ = ws.try_send(&client_frame(
        true,
        CLOSE,
        &close_payload(code.unwrap_or(1000), ""),
    ));
    assert!(ws.client.is_closed(), "closed after a violation");
    // The server still serves everyone else.
    let mut other = Ws::open(&server, ECHO);
    other.send_text("still here");
    assert_eq!(other.read_frame().text(), "still here");
    code
}

pub fn handshake_is_101_with_the_accept_key(stage: &Stage) {
    let server = stage.start();
    // `Ws::open` checks the status, Upgrade, the accept key of RFC 6455's own example, and
    // that a 101 has no Content-Length.
    let mut ws = Ws::open(&server, ECHO);
    ws.send_text("hello");
    let frame = ws.read_frame();
    assert_eq!(
        (frame.fin, frame.opcode, frame.text()),
        (true, TEXT, "hello".into())
    );
    // Case does not matter in the tokens; the client may offer extensions we decline.
    let mut client = server.connect();
    let response = client.request(
        &ws::handshake(ECHO, "Sec-WebSocket-Extensions: permessage-deflate\r\n")
            .replace("Upgrade: websocket", "Upgrade: WebSocket")
            .replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE"),
    );
    assert_eq!(response.status, 101);
    assert!(response.header("Sec-WebSocket-Extensions").is_none());
}

pub fn handshake_failures_are_http_errors(stage: &Stage) {
    let server = stage.start();
    let good = ws::handshake(ECHO, "");
    let cases: Vec<(String, u16)> = vec![
        (good.replace(ws::KEY, "c2hvcnQ="), 400),
        (
            good.replace(&format!("Sec-WebSocket-Key: {}\r\n", ws::KEY), ""),
            400,
        ),
        (good.replace("Version: 13", "Version: 8"), 426),
        (good.replace("GET ", "POST "), 400),
        (ws::handshake("/ws/nothing-here", ""), 404),
    ];
    for (request, status) in cases {
        let mut client = server.connect();
        let response = client.request(&request);
        assert_eq!(response.status, status, "{request}");
        if status == 426 {
            assert_eq!(response.header("Sec-WebSocket-Version"), Some("13"));
        }
        assert!(client.is_closed(), "a refused handshake closes: {request}");
    }
    assert_eq!(server.get("/style.css").status, 200);
}

pub fn requests_without_an_upgrade_are_plain_http(stage: &Stage) {
    let server = stage.start();
    // No `Connection: upgrade`, or HTTP/1.0: the Upgrade field means nothing (RFC 9110
    // section 7.8), and the request is answered as a file request: there is no such file.
    let no_token = ws::handshake(ECHO, "").replace("Connection: Upgrade\r\n", "");
    let http10 = ws::handshake(ECHO, "").replace("HTTP/1.1", "HTTP/1.0");
    for request in [no_token, http10] {
        let response = server.request(&request);
        assert_eq!(response.status, 404, "{request}");
    }
}

pub fn text_and_binary_are_echoed_with_their_opcode(stage: &Stage) {
    let server = stage.start();
    let mut ws = Ws::open(&server, ECHO);
    ws.send(&client_frame(true, BINARY, &[0, 1, 2, 255]));
    ws.send_text("naïve → text");
    let binary = ws.read_frame();
    assert_eq!(
        (binary.opcode, binary.payload),
        (BINARY, vec![0, 1, 2, 255])
    );
    assert_eq!(ws.read_frame().text(), "naïve → text");
    // A client's clean close gets the same code back, then the server closes.
    ws.send(&client_frame(true, CLOSE, &close_payload(1000, "bye")));
    let close = ws.read_frame();
    assert_eq!((close.opcode, close.close_code()), (CLOSE, Some(1000)));
    assert!(ws.client.is_closed());
}

pub fn every_length_form_is_echoed(stage: &Stage) {
    let server = stage.start();
    let mut ws = Ws::open(&server, ECHO);
    // 7-bit lengths up to 125, 16-bit from 126 to 65535, 64-bit from 65536.
    for len in [0usize, 1, 125, 126, 127, 65535, 65536] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        ws.send(&client_frame(true, BINARY, &payload));
        let echo = ws.read_frame();
        assert_eq!(echo.opcode, BINARY, "{len}");
        assert!(echo.payload == payload, "{len} bytes came back different");
        let text = "t".repeat(len);
        ws.send_text(&text);
        assert!(ws.read_frame().text() == text, "text of {len}");
    }
}

pub fn sixteen_mebibytes_are_echoed(stage: &Stage) {
    let server = stage.start();
    let mut ws = Ws::open(&server, ECHO);
    let payload: Vec<u8> = (0..16 * 1024 * 1024)
        .map(|i: usize| (i % 253) as u8)
        .collect();
    let bytes = client_frame(true, BINARY, &payload);
    // The server echoes while we still send: write from a thread, read here.
    let mut writer = ws.client.stream.tcp().try_clone().expect("clone");
    let sending = std::thread::spawn(move || std::io::Write::write_all(&mut writer, &bytes));
    let echo = ws.read_frame();
    sending.join().expect("writer").expect("send 16 MiB");
    assert_eq!(echo.opcode, BINARY);
    assert!(echo.payload == payload, "16 MiB came back different");
}

pub fn a_frame_dripped_one_byte_at_a_time(stage: &Stage) {
    let server = stage.start();
    let mut ws = Ws::open(&server, ECHO);
    let bytes = client_frame(true, TEXT, "dripped, one byte per write: é".as_bytes());
    for byte in &bytes {
        ws.send(std::slice::from_ref(byte));
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(ws.read_frame().text(), "dripped, one byte per write: é");
}

pub fn fragments_are_joined_and_pings_answered_between_them(stage: &Stage) {
    let server = stage.start();
    let mut ws = Ws::open(&server, ECHO);
    ws.send(&client_frame(false, TEXT, b"frag"));
    ws.send(&client_frame(true, PING, b"in the middle"));
    // The pong comes at once: it does not wait for the message to end.
    let pong = ws.read_frame();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (PONG, &b"in the middle"[..])
    );
    ws.send(&client_frame(false, CONTINUATION, b"men"));
    ws.send(&client_frame(true, PING, b""));
    ws.send(&client_frame(false, CONTINUATION, b""));
    ws.send(&client_frame(true, CONTINUATION, b"ted"));
    let pong = ws.read_frame();
    assert_eq!((pong.opcode, pong.payload.len()), (PONG, 0));
    let echo = ws.read_frame();
    assert_eq!(
        (echo.fin, echo.opcode, echo.text()),
        (true, TEXT, "fragmented".into())
    );
    // Binary fragments too, and an unsolicited pong is ignored.
    ws.send(&client_frame(false, BINARY, &[1, 2]));
    ws.send(&client_frame(true, PONG, b"unasked"));
    ws.send(&client_frame(true, CONTINUATION, &[3]));
    let echo = ws.read_frame();
    assert_eq!((echo.opcode, echo.payload), (BINARY, vec![1, 2, 3]));
}

pub fn utf8_valid_and_split_across_fragments(stage: &Stage) {
    let server = stage.start();
    let mut ws = Ws::open(&server, ECHO);
    // Four-byte sequences (U+1F600, U+10FFFF), the largest three-byte one, and U+0080.
    let text = "😀 \u{10FFFF} \u{FFFF} \u{80}";
    ws.send_text(text);
    assert_eq!(ws.read_frame().text(), text);
    // A code point split across two fragments (and across three).
    let emoji = "😀".as_bytes();
    ws.send(&client_frame(false, TEXT, &emoji[..1]));
    ws.send(&client_frame(false, CONTINUATION, &emoji[1..3]));
    ws.send(&client_frame(true, CONTINUATION, &emoji[3..]));
    assert_eq!(ws.read_frame().text(), "😀");
}

pub fn invalid_utf8_closes_with_1007(stage: &Stage) {
    let cases: [&[u8]; 6] = [
        b"\xff",                                                     // never valid
        b"ok \xc0\xaf",                                              // an overlong '/'
        b"\xe0\x80\xaf",                                             // an overlong three-byte form
        b"\xed\xa0\x80",                                             // a surrogate, U+D800
        b"\xf4\x90\x80\x80",                                         // past U+10FFFF
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", // valid, then a surrogate
    ];
    for bytes in cases {
        let code = close_code_for(stage, &client_frame(true, TEXT, bytes));
        assert_eq!(code, Some(1007), "{bytes:02x?}");
    }
    // Failing at the first bad byte: a first fragment already invalid closes before the
    // message ends (the FIN frame is never sent).
    assert_eq!(
        close_code_for(stage, &client_frame(false, TEXT, b"ab\xf8")),
        Some(1007)
    );
    // A text message that ends in the middle of a code point.
    let mut split = client_frame(false, TEXT, b"\xe2\x82");
    split.extend(client_frame(true, CONTINUATION, b""));
    assert_eq!(close_code_for(stage, &split), Some(1007));
    // A close reason that is not UTF-8.
    let mut reason = 1000u16.to_be_bytes().to_vec();
    reason.push(0xff);
    assert_eq!(
        close_code_for(stage, &client_frame(true, CLOSE, &reason)),
        Some(1007)
    );
}

pub fn protocol_violations_close_with_1002(stage: &Stage) {
    let mut inside = client_frame(false, TEXT, b"a");
    inside.extend(client_frame(true, TEXT, b"b"));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unmasked", frame(true, 0, TEXT, b"hi", None)),
        ("RSV1", frame(true, 4, TEXT, b"hi", Some([1, 2, 3, 4]))),
        ("RSV3", frame(true, 1, BINARY, b"hi", Some([1, 2, 3, 4]))),
        ("opcode 3", client_frame(true, 0x3, b"")),
        ("opcode 0xB", client_frame(true, 0xB, b"")),
        ("ping of 126", client_frame(true, PING, &[0; 126])),
        ("fragmented ping", client_frame(false, PING, b"x")),
        (
            "fragmented close",
            client_frame(false, CLOSE, &close_payload(1000, "")),
        ),
        ("continuation first", client_frame(true, CONTINUATION, b"x")),
        ("message inside a message", inside),
    ];
    for (what, bytes) in cases {
        assert_eq!(close_code_for(stage, &bytes), Some(1002), "{what}");
    }
}

pub fn a_message_over_the_limit_closes_with_1009(stage: &Stage) {
    // The header alone announces 16 MiB + 1: the server refuses it before any payload.
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(16u64 * 1024 * 1024 + 1).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(close_code_for(stage, &header), Some(1009));
    // Fragments count together: two of 9 MiB.
    let server = stage.start();
    let mut ws = Ws::open(&server, ECHO);
    let nine = vec![b'x'; 9 * 1024 * 1024];
    let _ = ws.try_send(&client_frame(false, BINARY, &nine));
    let _ = ws.try_send(&client_frame(true, CONTINUATION, &nine));
    assert_eq!(ws.read_until_close().1, Some(1009));
}

pub fn valid_close_codes_are_echoed(stage: &Stage) {
    let server = stage.start();
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
        4000, 4999,
    ] {
        let mut ws = Ws::open(&server, ECHO);
        ws.send(&client_frame(true, CLOSE, &close_payload(code, "reason é")));
        let close = ws.read_frame();
        assert_eq!((close.opcode, close.close_code()), (CLOSE, Some(code)));
        assert!(ws.client.is_closed(), "{code}: closed after the handshake");
    }
    // An empty close is answered with an empty close (no code: 1005 is never sent).
    let mut ws = Ws::open(&server, ECHO);
    ws.send(&client_frame(true, CLOSE, b""));
    let close = ws.read_frame();
    assert_eq!((close.opcode, close.close_code()), (CLOSE, None));
    assert!(ws.client.is_closed());
}

pub fn invalid_close_codes_close_with_1002(stage: &Stage) {
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let bytes = client_frame(true, CLOSE, &close_payload(code, ""));
        assert_eq!(close_code_for(stage, &bytes), Some(1002), "{code}");
    }
    // Half a code.
    assert_eq!(
        close_code_for(stage, &client_frame(true, CLOSE, &[0x03])),
        Some(1002)
    );
}

pub fn ping_payloads_come_back_in_pongs(stage: &Stage) {
    let server = stage.start();
    let mut ws = Ws::open(&server, ECHO);
    for payload in [&b""[..], b"hello", &[0xffu8; 125], "é".as_bytes()] {
        ws.send(&client_frame(true, PING, payload));
        let pong = ws.read_frame();
        assert_eq!((pong.opcode, pong.payload.as_slice()), (PONG, payload));
    }
    // Ten pings in one write: ten pongs, in order.
    let pings: Vec<u8> = (0..10u8)
        .flat_map(|i| client_frame(true, PING, &[i]))
        .collect();
    ws.send(&pings);
    for i in 0..10u8 {
        assert_eq!(ws.read_frame().payload, vec![i]);
    }
}

pub fn frames_after_the_handshake_in_one_write(stage: &Stage) {
    let server = stage.start();
    // The head and three frames in one segment: the HTTP session hands the frames over with
    // the head, and none is lost.
    let mut bytes = ws::handshake(ECHO, "").into_bytes();
    for word in ["one", "two", "three"] {
        bytes.extend(client_frame(true, TEXT, word.as_bytes()));
    }
    let mut client = server.connect();
    client.send(&bytes);
    assert_eq!(client.response(false).status, 101);
    let mut ws = Ws { client };
    for word in ["one", "two", "three"] {
        assert_eq!(ws.read_frame().text(), word);
    }
}

pub fn an_upgrade_pipelined_behind_a_request(stage: &Stage) {
    let server = stage.start();
    // A file request, then the upgrade, in one write: the file is answered, then the 101,
    // and the connection is a WebSocket from there on.
    let mut client = server.connect();
    let mut bytes = b"GET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec();
    bytes.extend_from_slice(ws::handshake(ECHO, "").as_bytes());
    bytes.extend(client_frame(true, TEXT, b"after a file"));
    client.send(&bytes);
    assert_eq!(client.response(false).status, 200);
    assert_eq!(client.response(false).status, 101);
    let mut ws = Ws { client };
    assert_eq!(ws.read_frame().text(), "after a file");
}
