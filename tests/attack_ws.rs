//! Attacks on stage08 (WebSocket echo, the chat hub, the raw TCP chat) and on the codec it
//! runs, `common::ws`, over real sockets, written by someone who did not write either.
//!
//! The client here is this file's own: a few lines that mask and frame bytes by hand, so that
//! a test can send what no library would (a bad mask, a reserved opcode, half a frame) and
//! trusts nothing of the code under test. Each test is one finding or one attack that must
//! keep failing to do harm; the differential runs against Node's `ws` and Python's
//! `websockets` are scripts in tests/websocket/attack/.
//!
//! `cargo test -p workbook --test attack_ws`

mod support;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{Server, Stage};

const STAGE: Stage = Stage::new("stage08");
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One client frame, masked as every client frame must be.
fn frame(opcode: u8, payload: &[u8], fin: bool) -> Vec<u8> {
    let mut out = vec![u8::from(fin) << 7 | opcode];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

fn text(s: &str) -> Vec<u8> {
    frame(0x1, s.as_bytes(), true)
}

fn close_frame(code: u16) -> Vec<u8> {
    frame(0x8, &code.to_be_bytes(), true)
}

/// What the server sent: a frame, or the end of the connection.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Frame(u8, Vec<u8>),
    /// The TCP connection ended (FIN or reset) without a close frame.
    End,
}

/// A WebSocket client over a bare socket.
struct Ws {
    socket: TcpStream,
    buf: Vec<u8>,
}

impl Ws {
    /// Connects and upgrades; panics unless the answer is a 101.
    fn open(port: u16, path: &str) -> Ws {
        let socket = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut ws = Ws {
            socket,
            buf: Vec::new(),
        };
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        ws.send(head.as_bytes());
        let end = loop {
            if let Some(at) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            assert!(
                ws.fill().expect("handshake answer") > 0,
                "closed in handshake"
            );
        };
        let head = String::from_utf8_lossy(&ws.buf[..end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101 "), "no 101: {head}");
        ws.buf.drain(..end);
        ws
    }

    fn send(&mut self, bytes: &[u8]) {
        self.socket.write_all(bytes).expect("send");
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 65536];
        let n = self.socket.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// The next frame, or `End` when the server closed the TCP connection first.
    fn next(&mut self) -> Got {
        loop {
            if let Some((opcode, payload, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return Got::Frame(opcode, payload);
            }
            match self.fill() {
                Ok(0) => return Got::End,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Got::End,
                Err(e) => panic!("no frame from the server: {e}"),
            }
        }
    }

    /// The next text frame's payload, answering pings on the way; panics on anything else.
    fn next_text(&mut self) -> String {
        loop {
            match self.next() {
                Got::Frame(0x1, payload) => return String::from_utf8(payload).expect("utf-8"),
                Got::Frame(0x9, payload) => self.send(&frame(0xA, &payload, true)),
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Reads until the server's close frame: its code (None: an empty close payload), or
    /// panics if the connection ends without one.
    fn close_code(&mut self) -> Option<u16> {
        loop {
            match self.next() {
                Got::Frame(0x8, payload) => {
                    return (payload.len() >= 2)
                        .then(|| u16::from_be_bytes([payload[0], payload[1]]))
                }
                Got::Frame(..) => {}
                Got::End => panic!("the connection ended without a close frame"),
            }
        }
    }
}

/// A server frame at the start of `buf` (unmasked): opcode, payload, bytes used.
fn parse(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let [first, second, ..] = *buf else {
        return None;
    };
    assert_eq!(second & 0x80, 0, "a server frame must not be masked");
    let (len, at) = match second & 0x7F {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = buf.get(at..at + len)?.to_vec();
    Some((first & 0x0F, payload, at + len))
}

/// A port free right now (for `--tcp-chat`, whose port the startup line prints second).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn sigterm(server: &Server) {
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM failed");
}

// ---------------------------------------------------------------------------------------
// Finding: a graceful stop drops open WebSocket connections without a close frame.
// ---------------------------------------------------------------------------------------

/// SIGTERM must tell every open WebSocket "going away" (1001) before the socket closes: a
/// browser that sees a bare TCP close reports 1006 (abnormal) and the chat page cannot tell a
/// restart from a crash. Idle connections are the common case (a chat member between
/// messages), and they are the ones eventloop's `begin_shutdown` closes at once, because
/// `WebSocket::is_idle` says they are idle.
#[test]
fn a_graceful_stop_sends_1001_to_idle_websockets() {
    let mut server = STAGE.start();
    let mut echo = Ws::open(server.port, "/ws/echo");
    let mut member = Ws::open(server.port, "/ws/chat/lobby?name=ann");
    assert!(member.next_text().contains(r#""type":"welcome""#));
    // Both are open and answer (so the server has seen them as WebSocket sessions).
    echo.send(&text("still here"));
    assert_eq!(echo.next_text(), "still here");
    sigterm(&server);
    assert_eq!(echo.close_code(), Some(1001), "echo connection");
    assert_eq!(member.close_code(), Some(1001), "chat member");
    let _ = server.child.wait();
}

// ---------------------------------------------------------------------------------------
// Attacks that must keep failing: the codec's violations as the real server answers them.
// ---------------------------------------------------------------------------------------

/// Every violation, sent whole and then dripped one byte at a time, is answered with its
/// close code (RFC 6455 sections 5, 7.4, 8.1), and the connection then ends. The same table
/// was run against Node's ws and Python's websockets (tests/websocket/attack/differential.py):
/// stage08 is stricter on non-minimal lengths (1002; both others accept them) and fails a bad
/// UTF-8 byte in a fragment without FIN at once (both others wait for the whole message).
#[test]
fn violations_close_with_their_code_whole_and_dripped() {
    let server = STAGE.start();
    let mut non_minimal = vec![0x81, 0x80 | 126, 0, 5];
    non_minimal.extend_from_slice(&MASK);
    non_minimal.extend(b"hello".iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    let mut top_bit = vec![0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
    top_bit.extend_from_slice(&MASK);
    let mut unmasked = text("hi");
    unmasked[1] &= 0x7F;
    unmasked.drain(2..6);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked", unmasked, 1002),
        ("rsv1", vec![0xC1, 0x80, 0, 0, 0, 0], 1002),
        ("opcode 3", frame(0x3, b"", true), 1002),
        ("opcode 0xB", frame(0xB, b"", true), 1002),
        ("ping of 126", frame(0x9, &[0; 126], true), 1002),
        ("fragmented ping", frame(0x9, b"a", false), 1002),
        ("continuation alone", frame(0x0, b"a", true), 1002),
        (
            "text inside text",
            [frame(0x1, b"a", false), text("b")].concat(),
            1002,
        ),
        ("non-minimal length", non_minimal, 1002),
        ("length top bit", top_bit, 1002),
        ("overlong", frame(0x1, b"\xC0\x80", true), 1007),
        ("surrogate", frame(0x1, b"\xED\xA0\x80", true), 1007),
        (
            "above U+10FFFF",
            frame(0x1, b"\xF4\x90\x80\x80", true),
            1007,
        ),
        ("truncated at FIN", frame(0x1, b"ok\xE2\x82", true), 1007),
        ("bad byte, no FIN yet", frame(0x1, b"ok\xFF", false), 1007),
        ("close of 1 byte", frame(0x8, b"\x03", true), 1002),
        ("close 1005", close_frame(1005), 1002),
        ("close 1006", close_frame(1006), 1002),
        ("close 1015", close_frame(1015), 1002),
        ("close 999", close_frame(999), 1002),
        ("close 2999", close_frame(2999), 1002),
        ("close 5000", close_frame(5000), 1002),
        (
            "close reason not UTF-8",
            frame(0x8, b"\x03\xE8\xFF", true),
            1007,
        ),
        ("close 4999 is valid", close_frame(4999), 4999),
        (
            "16 MiB + 1 announced",
            {
                let mut f = vec![0x82, 0x80 | 127];
                f.extend_from_slice(&(16u64 * 1024 * 1024 + 1).to_be_bytes());
                f.extend_from_slice(&MASK);
                f
            },
            1009,
        ),
    ];
    for (name, bytes, code) in &cases {
        for drip in [false, true] {
            let mut ws = Ws::open(server.port, "/ws/echo");
            if drip {
                for byte in bytes {
                    ws.send(std::slice::from_ref(byte));
                }
            } else {
                ws.send(bytes);
            }
            assert_eq!(ws.close_code(), Some(*code), "{name} (dripped: {drip})");
            ws.socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            assert_eq!(ws.next(), Got::End, "{name}: still open after the close");
        }
    }
}

/// Control frames between fragments are answered at once, and the message arrives whole.
#[test]
fn pings_inside_a_fragmented_message_dripped() {
    let server = STAGE.start();
    let mut ws = Ws::open(server.port, "/ws/echo");
    let bytes = [
        frame(0x1, "a\u{1F389}".as_bytes().get(..3).expect("cut"), false),
        frame(0x9, b"one", true),
        frame(0x0, "a\u{1F389}".as_bytes().get(3..).expect("cut"), false),
        frame(0x9, b"two", true),
        frame(0x0, b"!", true),
    ]
    .concat();
    for byte in &bytes {
        ws.send(std::slice::from_ref(byte));
    }
    assert_eq!(ws.next(), Got::Frame(0xA, b"one".to_vec()));
    assert_eq!(ws.next(), Got::Frame(0xA, b"two".to_vec()));
    assert_eq!(
        ws.next(),
        Got::Frame(0x1, "a\u{1F389}!".as_bytes().to_vec())
    );
}

/// A client that sends pings and never reads makes the server stop reading it, not queue
/// pongs without end: its resident memory stays within a few MiB of where it started.
#[test]
fn pings_never_read_do_not_grow_the_server() {
    let server = STAGE.start();
    let before = server.rss_kib();
    let socket = {
        let ws = Ws::open(server.port, "/ws/echo");
        ws.socket
    };
    socket
        .set_write_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let pings: Vec<u8> = (0..1000)
        .flat_map(|_| frame(0x9, &[7; 125], true))
        .collect();
    let mut socket = socket;
    let mut sent = 0usize;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        match socket.write(&pings) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    let after = server.rss_kib();
    assert!(sent > 1 << 20, "only {sent} bytes of pings went");
    assert!(
        after < before + 8 * 1024,
        "RSS {before} -> {after} KiB after {sent} bytes of unread pings"
    );
}

// ---------------------------------------------------------------------------------------
// The chat hub and the TCP chat.
// ---------------------------------------------------------------------------------------

/// A member that answers no ping is closed with 1008 after two intervals (the client's read
/// timeout, 10 s, is what fails the test if the ping or the close never comes).
#[test]
fn a_member_that_never_answers_a_ping_is_closed_1008() {
    let server = STAGE.start_with(&["--ping-interval", "1"]);
    let mut ws = Ws::open(server.port, "/ws/chat/r?name=mute");
    assert!(ws.next_text().contains("welcome"));
    assert_eq!(ws.next(), Got::Frame(0x9, b"stage08".to_vec()));
    assert_eq!(ws.close_code(), Some(1008));
}

/// The flood rule: 20 at once are taken, the next is flooding (1008).
#[test]
fn a_flooding_member_is_closed_1008() {
    let server = STAGE.start();
    let mut ws = Ws::open(server.port, "/ws/chat/r?name=flood");
    assert!(ws.next_text().contains("welcome"));
    let burst: Vec<u8> = (0..30)
        .flat_map(|i| text(&format!(r#"{{"text":"m{i}"}}"#)))
        .collect();
    ws.send(&burst);
    assert_eq!(ws.close_code(), Some(1008));
}

/// Terminal escapes from one nc user never reach another: ESC, BEL, NUL, C1 controls (U+009B
/// is a one-character CSI) are stripped from lines, and a WebSocket member's text is
/// flattened (its controls made spaces) before it becomes a line.
#[test]
fn no_terminal_escape_reaches_an_nc_user() {
    let tcp = free_port();
    let server = STAGE.start_with(&["--tcp-chat", &tcp.to_string()]);
    let line_user = |name: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", tcp)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(format!("{name}\n").as_bytes()).expect("name");
        s
    };
    let read_until = |s: &mut TcpStream, needle: &str| -> Vec<u8> {
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains(needle) {
            let n = s.read(&mut chunk).expect("read");
            assert!(n > 0, "closed before {needle:?}: {got:?}");
            got.extend_from_slice(&chunk[..n]);
        }
        got
    };
    let mut alice = line_user("alice");
    read_until(&mut alice, "here: alice");
    let mut bob = line_user("bob");
    read_until(&mut bob, "here: alice, bob");
    read_until(&mut alice, "* bob joined");
    let mut web = Ws::open(server.port, "/ws/chat/lobby?name=web");
    assert!(web
        .next_text()
        .contains(r#""members":["alice","bob","web"]"#));
    bob.write_all(b"x\x1b[2J\x1b]0;owned\x07\x00\xC2\x9B31m end\r\n")
        .expect("send");
    web.send(&text(r#"{"text":"y\u001b[2J\u009b31m\r\n* root joined"}"#));
    let got = read_until(&mut alice, "root joined");
    for bad in [&b"\x1b"[..], b"\x07", b"\x00", b"\xC2\x9B", b"\r"] {
        assert!(
            !got.windows(bad.len()).any(|w| w == bad),
            "{bad:?} reached an nc user: {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    // The WebSocket text stays one line: its "* root joined" is not a line of its own.
    assert!(
        String::from_utf8_lossy(&got).contains("web: y [2J 31m  * root joined\n"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    let _ = alice.shutdown(Shutdown::Both);
}
