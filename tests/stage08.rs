//! stage08 (WebSocket and a chat hub on eventloop) against the conformance suite, and its chat.
//!
//! On its plain port stage08 serves the site as stage05 does over TCP, so it claims the same
//! HTTP/1.1 groups, plus the WebSocket group (`/ws/echo`, frames made by hand). The tests
//! below are the chat's: the JSON protocol, names, the order every member sees, the stalled
//! member dropped while the others go on, the flood rule, pings, the TCP chat for `nc` in
//! the same lobby, the chat over wss://, and 10,000 idle WebSockets in little memory.

mod conformance;
mod support;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use support::ws::{
    client_frame, close_payload, Frame, Started, Ws, BINARY, CLOSE, PING, PONG, TEXT,
};
use support::{Client, Server, Stage};

const STAGE: Stage = Stage::new("stage08").skipping(&[
    (
        "three_hundred_clients_on_a_bounded_pool",
        "no pool and no --threads: one loop thread serves every client (eventloop proves 500)",
    ),
    (
        "a_full_queue_answers_503_with_retry_after",
        "no queue to fill: connections beyond --max-connections wait in the kernel's backlog",
    ),
    (
        "idle_keep_alive_clients_do_not_starve_a_waiting_one",
        "no --threads: an idle connection holds no worker (eventloop holds 10,000 of them)",
    ),
    (
        "one_thread_serves_five_hundred_connections",
        "two threads, not one: the chat hub has its own (every connection is on the loop's)",
    ),
]);

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
ws_behaviours!(crate::STAGE);

/// stage08 with extra options, on the fixture root.
fn start(extra: &[&str]) -> Started {
    support::ws::start(&STAGE, &support::fixture().root, extra)
}

/// A frame's text as JSON.
fn json_of(frame: &Frame) -> Value {
    assert_eq!(frame.opcode, TEXT, "{frame:?}");
    serde_json::from_slice(&frame.payload).unwrap_or_else(|e| panic!("{e}: {}", frame.text()))
}

/// Joins `room` as `name` on `client` and returns the member with its welcome.
fn join_on(client: Client, room: &str, name: &str) -> (Ws, Value) {
    let mut member = Ws::open_on(client, &format!("/ws/chat/{room}?name={name}"));
    let welcome = json_of(&member.read_frame());
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (member, welcome)
}

fn join(server: &Server, room: &str, name: &str) -> (Ws, Value) {
    join_on(server.connect(), room, name)
}

fn say(member: &mut Ws, text: &str) {
    member.send_text(&json!({ "text": text }).to_string());
}

/// The next JSON message a member receives.
fn next(member: &mut Ws) -> Value {
    json_of(&member.read_frame())
}

/// A message event without its timestamp (which is checked to be a number), for comparing.
fn without_ts(mut message: Value) -> Value {
    assert!(message["ts"].is_u64(), "{message}");
    message.as_object_mut().map(|m| m.remove("ts"));
    message
}

#[test]
fn welcome_join_message_and_leave() {
    let started = start(&[]);
    let server = &started.server;
    let (mut alice, welcome) = join(server, "kitchen", "alice");
    assert_eq!(
        welcome,
        json!({"type": "welcome", "room": "kitchen", "members": ["alice"], "history": []})
    );
    let (mut bob, welcome) = join(server, "kitchen", "bob");
    assert_eq!(welcome["members"], json!(["alice", "bob"]));
    assert_eq!(next(&mut alice), json!({"type": "join", "name": "bob"}));
    say(&mut alice, "hi \"bob\" 😀");
    let expect =
        json!({"type": "message", "room": "kitchen", "from": "alice", "text": "hi \"bob\" 😀"});
    let at_alice = next(&mut alice);
    let at_bob = next(&mut bob);
    assert_eq!(at_alice, at_bob, "one message, the same for everyone");
    assert_eq!(without_ts(at_bob), expect);
    // A clean close by alice: bob hears that she left.
    alice.send(&client_frame(true, CLOSE, &close_payload(1000, "bye")));
    assert_eq!(alice.read_frame().close_code(), Some(1000));
    assert!(alice.client.is_closed());
    assert_eq!(next(&mut bob), json!({"type": "leave", "name": "alice"}));
    // A newcomer gets the history; another room is another world.
    let (_carol, welcome) = join(server, "kitchen", "carol");
    assert_eq!(welcome["members"], json!(["bob", "carol"]));
    assert_eq!(without_ts(welcome["history"][0].clone()), expect);
    let (_dave, welcome) = join(server, "garden", "dave");
    assert_eq!(welcome["history"], json!([]));
    assert_eq!(welcome["members"], json!(["dave"]));
}

#[test]
fn three_members_see_the_same_order() {
    let started = start(&[]);
    let server = &started.server;
    let mut members: Vec<Ws> = ["ann", "ben", "cat"]
        .iter()
        .map(|name| join(server, "order", name).0)
        .collect();
    // Everyone is in: read away the join events each saw.
    for _ in 0..2 {
        assert_eq!(next(&mut members[0])["type"], "join");
    }
    assert_eq!(next(&mut members[1])["type"], "join");
    // All three talk at once, 15 messages each (under the flood rule's burst of 20).
    const EACH: usize = 15;
    let threads: Vec<_> = members
        .into_iter()
        .enumerate()
        .map(|(i, mut member)| {
            std::thread::spawn(move || {
                for n in 0..EACH {
                    say(&mut member, &format!("{i}-{n}"));
                }
                let seen: Vec<(String, String)> = (0..3 * EACH)
                    .map(|_| {
                        let message = next(&mut member);
                        assert_eq!(message["type"], "message", "{message}");
                        let from = message["from"].as_str().unwrap_or("").to_string();
                        (from, message["text"].as_str().unwrap_or("").to_string())
                    })
                    .collect();
                seen
            })
        })
        .collect();
    let seen: Vec<Vec<(String, String)>> = threads
        .into_iter()
        .map(|t| t.join().expect("member thread"))
        .collect();
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
    // Each sender's messages in the order it sent them.
    for (i, name) in ["ann", "ben", "cat"].iter().enumerate() {
        let texts: Vec<&str> = seen[0]
            .iter()
            .filter(|(from, _)| from == name)
            .map(|(_, text)| text.as_str())
            .collect();
        let sent: Vec<String> = (0..EACH).map(|n| format!("{i}-{n}")).collect();
        assert_eq!(texts, sent);
    }
}

/// Opens a chat and expects the error message and the close 1008 a page can show.
fn refused(server: &Server, path: &str) -> String {
    let mut member = Ws::open(server, path);
    let error = next(&mut member);
    assert_eq!(error["type"], "error", "{error}");
    let frame = member.read_frame();
    assert_eq!(
        (frame.opcode, frame.close_code()),
        (CLOSE, Some(1008)),
        "{path}"
    );
    let _ = member.try_send(&client_frame(true, CLOSE, &close_payload(1000, "")));
    assert!(member.client.is_closed());
    error["error"].as_str().unwrap_or("").to_string()
}

#[test]
fn taken_and_invalid_names_get_an_error_then_1008() {
    let started = start(&[]);
    let server = &started.server;
    let (mut alice, _) = join(server, "r", "alice");
    // Taken, whatever the case: the page can say so and ask for another.
    for name in ["alice", "ALICE"] {
        let why = refused(server, &format!("/ws/chat/r?name={name}"));
        assert!(why.contains("name taken"), "{why}");
    }
    let long = "x".repeat(25);
    for path in [
        "/ws/chat/r",
        "/ws/chat/r?name=",
        "/ws/chat/r?name=a%20b",
        "/ws/chat/r?name=%C3%A9",
        &format!("/ws/chat/r?name={long}"),
    ] {
        assert!(refused(server, path).contains("a name is"), "{path}");
    }
    for path in [
        "/ws/chat/a.b?name=bob",
        "/ws/chat/?name=bob",
        "/ws/chat/a/b?name=bob",
    ] {
        assert!(refused(server, path).contains("a room name"), "{path}");
    }
    // The same name in another room is another member; alice saw none of it.
    let (_other, _) = join(server, "elsewhere", "alice");
    say(&mut alice, "still here");
    assert_eq!(next(&mut alice)["text"], "still here");
}

#[test]
fn bad_messages_get_an_error_and_the_connection_stays() {
    let started = start(&[]);
    let (mut member, _) = join(&started.server, "r", "ed");
    let long = json!({ "text": "é".repeat(2001) }).to_string();
    for bad in [
        "hi",
        "{}",
        r#"{"text": 3}"#,
        r#"{"text": "  "}"#,
        "[1]",
        &long,
    ] {
        member.send_text(bad);
        let error = next(&mut member);
        assert_eq!(error["type"], "error", "{bad}: {error}");
        assert!(error["error"].is_string());
    }
    member.send(&client_frame(true, BINARY, b"\x00\x01"));
    assert_eq!(next(&mut member)["type"], "error");
    // Pings are answered on the chat too.
    member.send(&client_frame(true, PING, b"p"));
    assert_eq!(member.read_frame().opcode, PONG);
    say(&mut member, "fine now");
    assert_eq!(next(&mut member)["text"], "fine now");
}

#[test]
fn a_chat_frame_over_64_kib_closes_with_1009() {
    let started = start(&[]);
    let (mut member, _) = join(&started.server, "r", "big");
    let _ = member.try_send(&client_frame(true, TEXT, &vec![b' '; 65 * 1024]));
    assert_eq!(member.read_until_close().1, Some(1009));
}

// ANCHOR: stalled
#[test]
fn a_stalled_member_is_dropped_with_1008_while_the_others_get_everything() {
    // The flood rule lifted: this test is about the queue bound, not the rate.
    let started = start(&["--chat-rate", "100000"]);
    let server = &started.server;
    let (mut sender, _) = join(server, "busy", "sender");
    let (mut reader, _) = join(server, "busy", "reader");
    let (mut staller, _) = join_on(
        support::ws::connect_small_buffer(server.port),
        "busy",
        "staller",
    );
    assert_eq!(next(&mut sender)["name"], "reader");
    assert_eq!(next(&mut sender)["name"], "staller");
    assert_eq!(next(&mut reader)["name"], "staller");
    // Messages of 6,000 bytes, as many as the kernel's largest send buffer (it grows to
    // tcp_wmem's maximum even toward a small window) plus the staller's megabyte of queue,
    // and 2 MiB more. The staller reads none of it; the others read all of it.
    let wmem_max: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 << 20);
    let count = (wmem_max + (3 << 20)) / 6000;
    let text = "€".repeat(1990);
    let frames: Vec<u8> = (0..count)
        .flat_map(|i| {
            client_frame(
                true,
                TEXT,
                json!({ "text": format!("{i} {text}") })
                    .to_string()
                    .as_bytes(),
            )
        })
        .collect();
    let mut writer = sender.client.stream.tcp().try_clone().expect("clone");
    let sending = std::thread::spawn(move || writer.write_all(&frames));
    // Both readers get every message, in order, and hear that the staller left. The reader
    // says when it has heard it: the staller's cue to read again.
    let (dropped, cue) = std::sync::mpsc::channel();
    let everything = move |member: &mut Ws, dropped: Option<std::sync::mpsc::Sender<()>>| {
        let (mut n, mut left) = (0, false);
        while n < count {
            let event = next(member);
            match event["type"].as_str() {
                Some("message") => {
                    let text = event["text"].as_str().unwrap_or("");
                    assert!(text.starts_with(&format!("{n} ")), "message {n}");
                    n += 1;
                }
                Some("leave") => {
                    assert_eq!(event["name"], "staller");
                    left = true;
                    if let Some(dropped) = &dropped {
                        let _ = dropped.send(());
                    }
                }
                _ => panic!("unexpected {event}"),
            }
        }
        if !left {
            assert_eq!(next(member), json!({"type": "leave", "name": "staller"}));
            if let Some(dropped) = &dropped {
                let _ = dropped.send(());
            }
        }
    };
    // Once dropped, the staller reads: the messages already on their way, then its close.
    let stalled = std::thread::spawn(move || {
        cue.recv().expect("the reader saw the staller leave");
        staller.read_until_close()
    });
    let reading = std::thread::spawn(move || {
        everything(&mut reader, Some(dropped));
        reader
    });
    everything(&mut sender, None);
    let _reader = reading.join().expect("reader");
    sending.join().expect("sender thread").expect("send");
    let (frames, code) = stalled.join().expect("staller");
    assert_eq!(code, Some(1008));
    assert!(frames.len() < count, "it was dropped before the end");
}
// ANCHOR_END: stalled

#[test]
fn the_flood_rule_closes_a_member_with_1008() {
    let started = start(&[]);
    let server = &started.server;
    let (mut watcher, _) = join(server, "r", "watcher");
    let (mut flooder, _) = join(server, "r", "flooder");
    assert_eq!(next(&mut watcher)["name"], "flooder");
    // 40 messages at once: the bucket holds 20 (twice the rate of 10 a second).
    let burst: Vec<u8> = (0..40)
        .flat_map(|i| {
            client_frame(
                true,
                TEXT,
                json!({ "text": i.to_string() }).to_string().as_bytes(),
            )
        })
        .collect();
    flooder.send(&burst);
    // Closed at the 21st: what it sent before passed (its own copies may not reach it:
    // once closing, it takes nothing more from the room).
    let (frames, code) = flooder.read_until_close();
    assert_eq!(code, Some(1008));
    assert!(
        frames.len() <= 21,
        "{} frames before the close",
        frames.len()
    );
    let mut passed = 0;
    loop {
        let event = next(&mut watcher);
        if event["type"] == "leave" {
            assert_eq!(event["name"], "flooder");
            break;
        }
        assert_eq!(event["text"], passed.to_string());
        passed += 1;
    }
    assert!((20..40).contains(&passed), "{passed} messages passed");
}

#[test]
fn idle_members_are_pinged_and_dropped_without_a_pong() {
    let started = start(&["--ping-interval", "1"]);
    let mut member = Ws::open(&started.server, "/ws/echo");
    // Silent for a second: a ping. Answered, the connection lives on.
    let ping = member.read_frame();
    assert_eq!(ping.opcode, PING);
    member.send(&client_frame(true, PONG, &ping.payload));
    member.send_text("alive");
    assert_eq!(member.read_frame().text(), "alive");
    // The next ping goes unanswered: dropped with 1008.
    assert_eq!(member.read_frame().opcode, PING);
    let close = member.read_frame();
    assert_eq!((close.opcode, close.close_code()), (CLOSE, Some(1008)));
    assert!(close.text().contains("no pong"), "{close:?}");
}

/// An `nc` user: lines in, lines out.
struct Nc {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Nc {
    fn connect(port: u16) -> Nc {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(support::READ_TIMEOUT))
            .expect("timeout");
        let writer = stream.try_clone().expect("clone");
        let mut nc = Nc {
            reader: BufReader::new(stream),
            writer,
        };
        assert_eq!(nc.line(), "* welcome to the lobby; your name?");
        nc
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send");
    }

    /// The next line, or "" at the end.
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read a line");
        line.trim_end_matches('\n').to_string()
    }

    fn named(port: u16, name: &str) -> Nc {
        let mut nc = Nc::connect(port);
        nc.send(format!("{name}\n").as_bytes());
        assert!(nc
            .line()
            .starts_with(&format!("* welcome to lobby, {name}; here: ")));
        nc
    }
}

#[test]
fn nc_and_websocket_users_talk_in_the_lobby() {
    let started = start(&["--tcp-chat", "0"]);
    let port = started.tcp_port.expect("the TCP chat's port");
    let mut bob = Nc::named(port, "bob");
    let (mut alice, welcome) = join(&started.server, "lobby", "alice");
    assert_eq!(welcome["members"], json!(["bob", "alice"]));
    assert_eq!(bob.line(), "* alice joined");
    say(&mut alice, "hi bob\nhow are you?");
    // One line for nc, whatever the browser user typed.
    assert_eq!(bob.line(), "alice: hi bob how are you?");
    assert_eq!(next(&mut alice)["from"], "alice");
    // Control bytes are stripped (no repainting other people's terminals), \r too.
    bob.send(b"hi \x1b[2Jalice\x07\r\n");
    assert_eq!(bob.line(), "bob: hi [2Jalice");
    let message = next(&mut alice);
    assert_eq!(
        without_ts(message),
        json!({"type": "message", "room": "lobby", "from": "bob", "text": "hi [2Jalice"})
    );
    drop(bob);
    assert_eq!(next(&mut alice), json!({"type": "leave", "name": "bob"}));
}

#[test]
fn the_tcp_chat_asks_again_for_a_bad_name_and_bounds_lines_and_rate() {
    let started = start(&["--tcp-chat", "0"]);
    let port = started.tcp_port.expect("the TCP chat's port");
    let mut first = Nc::named(port, "carl");
    let mut nc = Nc::connect(port);
    nc.send(b"no spaces\n");
    assert!(nc.line().starts_with("* a name is 1 to 24"));
    nc.send(b"CARL\n");
    assert_eq!(nc.line(), "* name taken; your name?");
    nc.send(b"dora\nhello\n");
    assert_eq!(nc.line(), "* welcome to lobby, dora; here: carl, dora");
    assert_eq!(nc.line(), "dora: hello");
    assert_eq!(first.line(), "* dora joined");
    assert_eq!(first.line(), "dora: hello");
    // A line longer than 1000 bytes: an error, and the end.
    nc.send(&vec![b'x'; 1001]);
    assert_eq!(nc.line(), "* error: a line is at most 1000 bytes");
    assert_eq!(nc.line(), "");
    assert_eq!(first.line(), "* dora left");
    // 30 lines at once: 20 pass, then the flood rule. (The flooder leaves before its own
    // lines come back from the hub; carl hears them.)
    let mut flood = Nc::named(port, "eve");
    assert_eq!(flood.line(), "dora: hello", "the lobby's history");
    assert_eq!(first.line(), "* eve joined");
    let lines: String = (0..30).map(|i| format!("{i}\n")).collect();
    flood.send(lines.as_bytes());
    assert!(flood
        .line()
        .starts_with("* error: more than 10 lines a second"));
    assert_eq!(flood.line(), "");
    let mut passed = 0;
    loop {
        let line = first.line();
        if line == "* eve left" {
            break;
        }
        assert_eq!(line, format!("eve: {passed}"));
        passed += 1;
    }
    assert!((20..30).contains(&passed), "{passed}");
}

#[test]
fn chat_and_echo_over_wss() {
    let started = start(&["--tls-port", "0"]);
    let port = started.tls_port.expect("the TLS port");
    let tls = || Client::connect(("127.0.0.1", port)).into_tls(support::tls::default_config());
    let (mut ann, _) = join_on(tls(), "secure", "ann");
    let (mut ben, _) = join_on(tls(), "secure", "ben");
    assert_eq!(next(&mut ann)["name"], "ben");
    say(&mut ben, "over TLS");
    assert_eq!(next(&mut ann)["text"], "over TLS");
    assert_eq!(next(&mut ben)["text"], "over TLS");
    // Plain and TLS members share the hub: one room across both listeners.
    let (_plain, welcome) = join(&started.server, "secure", "cleartext");
    assert_eq!(welcome["members"], json!(["ann", "ben", "cleartext"]));
    assert_eq!(next(&mut ann)["name"], "cleartext");
    let mut echo = Ws::open_on(tls(), "/ws/echo");
    let big: Vec<u8> = (0..200_000).map(|i| (i % 256) as u8).collect();
    echo.send(&client_frame(true, BINARY, &big));
    assert!(echo.read_frame().payload == big);
}

#[test]
fn ten_thousand_idle_websockets_in_little_memory() {
    const IDLE: usize = 10_000;
    if let Err(why) = support::raise_fd_limit(IDLE as u64 + 1000) {
        eprintln!("stage08: skipping ten_thousand_idle_websockets: {why}");
        return;
    }
    let started = start(&["--max-connections", "10100"]);
    let server = &started.server;
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        // Each one answered 101: the server holds it as a WebSocket, not a request.
        idle.push(Ws::open(server, "/ws/echo"));
    }
    let rss = server.rss_kib();
    eprintln!("stage08: {IDLE} idle WebSocket connections, resident {rss} KiB");
    assert!(
        rss < 60 * 1024,
        "resident {rss} KiB for {IDLE} idle WebSockets"
    );
    for i in [0, IDLE / 2, IDLE - 1] {
        idle[i].send_text("still there");
        assert_eq!(idle[i].read_frame().text(), "still there", "connection {i}");
    }
}

#[test]
fn the_chat_page_is_served_and_linked_from_the_site() {
    let www = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    let server = Server::start(&STAGE, &www, &[]);
    let page = server.get("/chat/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let html = page.text();
    for needed in ["aria-live", "<label", "chat.js", "chat.css"] {
        assert!(html.contains(needed), "the page has {needed}");
    }
    let script = server.get("/chat/chat.js");
    assert_eq!(script.status, 200);
    let js = script.text();
    assert!(js.contains("wss:") && js.contains("/ws/chat/"), "{js}");
    assert_eq!(server.get("/chat/chat.css").status, 200);
    assert!(server.get("/").text().contains(r#"href="/chat/""#));
}

#[test]
fn an_independent_client_tungstenite_gets_its_messages_back() {
    use tungstenite::{Error, Message};
    let started = start(&[]);
    let url = format!("ws://127.0.0.1:{}/ws/echo", started.server.port);
    let stream = TcpStream::connect(("127.0.0.1", started.server.port)).expect("connect");
    stream
        .set_read_timeout(Some(support::READ_TIMEOUT))
        .expect("timeout");
    let (mut socket, response) = tungstenite::client(url.as_str(), stream).expect("handshake");
    assert_eq!(response.status(), 101);
    let messages = [
        Message::text("hello from tungstenite"),
        Message::text("é😀".repeat(20_000)),
        Message::binary(vec![7u8; 70_000]),
        Message::binary(Vec::new()),
    ];
    for message in messages {
        socket.send(message.clone()).expect("send");
        assert_eq!(socket.read().expect("read"), message);
    }
    socket
        .send(Message::Ping(b"are you there".to_vec().into()))
        .expect("ping");
    assert_eq!(
        socket.read().expect("pong"),
        Message::Pong(b"are you there".to_vec().into())
    );
    // Its close handshake, as a library does it: our close, the echo, then the server's FIN.
    socket.close(None).expect("close");
    loop {
        match socket.read() {
            Ok(Message::Close(_)) => {}
            Ok(other) => panic!("after the close: {other:?}"),
            Err(Error::ConnectionClosed) => break,
            Err(e) => panic!("the close handshake failed: {e}"),
        }
    }
}
