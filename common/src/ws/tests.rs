//! The server connection driven with byte strings: every violation with its close code,
//! fragmentation with pings in between, the size limit, the close handshake both ways, and
//! frames fed one byte at a time.

use super::frame::{encode, encode_masked, OpCode};
use super::*;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame.
fn client(opcode: OpCode, payload: &[u8], fin: bool) -> Vec<u8> {
    let mut out = Vec::new();
    encode_masked(opcode, payload, fin, KEY, &mut out);
    out
}

/// A server frame, what we expect to be sent.
fn server(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(opcode, payload, true, &mut out);
    out
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    payload
}

/// Feeds `bytes` in pieces of `size`; returns the events and everything outgoing.
fn run_with(config: Config, bytes: &[u8], size: usize) -> (Vec<Event>, Vec<u8>, State) {
    let mut connection = Connection::new(config);
    let mut events = Vec::new();
    let mut outgoing = Vec::new();
    for piece in bytes.chunks(size.max(1)) {
        connection.receive(piece);
        events.extend(std::iter::from_fn(|| connection.next_event()));
        outgoing.extend(connection.take_outgoing());
    }
    (events, outgoing, connection.state())
}

fn run(bytes: &[u8]) -> (Vec<Event>, Vec<u8>, State) {
    run_with(Config::default(), bytes, bytes.len())
}

/// The bytes fail the connection with `error`: the last event, and our close frame with its
/// code is the last thing outgoing; the same whether fed at once or one byte at a time.
fn assert_fails(bytes: &[u8], error: Error) {
    for size in [bytes.len(), 1] {
        let (events, outgoing, state) = run_with(Config::default(), bytes, size);
        assert_eq!(events.last(), Some(&Event::Error(error)), "fed by {size}");
        let mut close = Vec::new();
        frame::encode_close(Some(error.code()), &error.to_string(), &mut close);
        assert!(outgoing.ends_with(&close), "fed by {size}: {outgoing:02x?}");
        assert_eq!(state, State::Closed);
    }
}

fn text(s: &str) -> Event {
    Event::Message(Message::Text(s.to_string()))
}

#[test]
fn rfc_example_messages() {
    // Section 5.7's masked "Hello", byte for byte, and a fragmented one.
    let (events, outgoing, _) = run(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
    assert_eq!(events, [text("Hello")]);
    assert!(outgoing.is_empty());
    let mut bytes = client(OpCode::Text, b"Hel", false);
    bytes.extend(client(OpCode::Continuation, b"lo", true));
    assert_eq!(run(&bytes).0, [text("Hello")]);
}

#[test]
fn messages_of_every_boundary_length_in_any_pieces() {
    for len in [0, 1, 125, 126, 127, 65535, 65536] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let bytes = client(OpCode::Binary, &payload, true);
        for size in [bytes.len(), 1000, 7] {
            let (events, _, state) = run_with(Config::default(), &bytes, size);
            assert_eq!(events, [Event::Message(Message::Binary(payload.clone()))]);
            assert_eq!(state, State::Open);
        }
    }
    let (events, ..) = run(&client(OpCode::Text, b"", true));
    assert_eq!(events, [text("")]);
}

#[test]
fn one_byte_at_a_time_many_frames() {
    let mut bytes = client(OpCode::Text, "héllo 🎉".as_bytes(), true);
    bytes.extend(client(OpCode::Ping, b"are you there", true));
    bytes.extend(client(OpCode::Binary, &[0, 1, 2], true));
    let (events, outgoing, _) = run_with(Config::default(), &bytes, 1);
    assert_eq!(
        events,
        [
            text("héllo 🎉"),
            Event::Ping(b"are you there".to_vec()),
            Event::Message(Message::Binary(vec![0, 1, 2])),
        ]
    );
    assert_eq!(outgoing, server(OpCode::Pong, b"are you there"));
}

#[test]
fn fragments_with_pings_in_between() {
    let mut bytes = client(OpCode::Text, b"frag", false);
    bytes.extend(client(OpCode::Ping, b"1", true));
    bytes.extend(client(OpCode::Continuation, b"men", false));
    bytes.extend(client(OpCode::Pong, b"unsolicited", true));
    bytes.extend(client(OpCode::Ping, b"", true));
    bytes.extend(client(OpCode::Continuation, b"", false));
    bytes.extend(client(OpCode::Continuation, b"ts", true));
    for size in [bytes.len(), 3, 1] {
        let (events, outgoing, _) = run_with(Config::default(), &bytes, size);
        assert_eq!(
            events,
            [
                Event::Ping(b"1".to_vec()),
                Event::Pong(b"unsolicited".to_vec()),
                Event::Ping(Vec::new()),
                text("fragments"),
            ]
        );
        // Each ping answered as it came, with its payload; the pong needs no answer.
        let mut expected = server(OpCode::Pong, b"1");
        expected.extend(server(OpCode::Pong, b""));
        assert_eq!(outgoing, expected);
    }
}

#[test]
fn ping_payload_of_125_bytes_is_echoed() {
    let payload = [0xAB; 125];
    let (events, outgoing, _) = run(&client(OpCode::Ping, &payload, true));
    assert_eq!(events, [Event::Ping(payload.to_vec())]);
    assert_eq!(outgoing, server(OpCode::Pong, &payload));
}

#[test]
fn framing_violations_are_1002() {
    // Unmasked: the RFC's unmasked "Hello" is a server frame, never a client's.
    assert_fails(b"\x81\x05\x48\x65\x6c\x6c\x6f", Error::Unmasked);
    // RSV1 (what permessage-deflate would use), RSV2, RSV3.
    for bit in [0x40, 0x20, 0x10] {
        let mut bytes = client(OpCode::Text, b"x", true);
        bytes[0] |= bit;
        assert_fails(&bytes, Error::ReservedBits);
    }
    for opcode in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_fails(
            &client(OpCode::Reserved(opcode), b"", true),
            Error::ReservedOpcode(opcode),
        );
    }
    assert_fails(&client(OpCode::Ping, b"x", false), Error::FragmentedControl);
    assert_fails(&client(OpCode::Close, b"", false), Error::FragmentedControl);
    assert_fails(
        &client(OpCode::Ping, &[0; 126], true),
        Error::ControlTooLong,
    );
    assert_fails(
        &client(OpCode::Pong, &[0; 126], true),
        Error::ControlTooLong,
    );
    assert_fails(
        &client(OpCode::Continuation, b"x", true),
        Error::NothingToContinue,
    );
    let mut bytes = client(OpCode::Text, b"a", false);
    bytes.extend(client(OpCode::Binary, b"b", true));
    assert_fails(&bytes, Error::MessageInsideMessage);
    let mut bytes = client(OpCode::Binary, b"a", false);
    bytes.extend(client(OpCode::Text, b"b", false));
    assert_fails(&bytes, Error::MessageInsideMessage);
    // Lengths: 5 written in 16 bits; the 64-bit top bit.
    assert_fails(
        b"\x82\xFE\x00\x05\x00\x00\x00\x00hello",
        Error::NonMinimalLength,
    );
    assert_fails(
        b"\x82\xFF\x80\x00\x00\x00\x00\x00\x00\x00",
        Error::LengthTopBit,
    );
}

#[test]
fn messages_before_a_violation_are_delivered() {
    let mut bytes = client(OpCode::Text, b"first", true);
    bytes.extend(client(OpCode::Reserved(3), b"", true));
    bytes.extend(client(OpCode::Text, b"never read", true));
    let (events, ..) = run(&bytes);
    assert_eq!(
        events,
        [text("first"), Event::Error(Error::ReservedOpcode(3))]
    );
}

#[test]
fn text_must_be_utf8_and_fails_at_the_first_bad_byte() {
    // Valid: four-byte sequences, and code points split across fragments.
    let emoji = "🎉".as_bytes();
    let mut bytes = client(OpCode::Text, &emoji[..1], false);
    bytes.extend(client(OpCode::Continuation, &emoji[1..3], false));
    bytes.extend(client(OpCode::Continuation, &emoji[3..], true));
    assert_eq!(run(&bytes).0, [text("🎉")]);
    // Invalid bytes, overlong forms, surrogates, above U+10FFFF.
    for bad in [
        &b"\xFF"[..],
        b"\xC0\xAF",
        b"\xE0\x80\xAF",
        b"\xF0\x80\x80\xAF",
        b"\xED\xA0\x80",
        b"\xED\xBF\xBF",
        b"\xF4\x90\x80\x80",
        b"\xF8\x88\x80\x80\x80",
        b"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80\x65\x64\x69\x74\x65\x64",
    ] {
        assert_fails(&client(OpCode::Text, bad, true), Error::InvalidUtf8);
    }
    // Unfinished at the end of the message.
    assert_fails(
        &client(OpCode::Text, b"ok\xE2\x82", true),
        Error::InvalidUtf8,
    );
    // Fails fast: the first fragment is already impossible, and the connection fails on it,
    // without waiting for a FIN that may never come.
    let (events, _, state) = run(&client(OpCode::Text, b"\xCE\xBA\xF4\x90", false));
    assert_eq!(
        (events, state),
        (vec![Event::Error(Error::InvalidUtf8)], State::Closed)
    );
    // ...and inside a frame whose payload has not all arrived: a 1000-byte frame whose 3rd
    // byte is bad fails when 3 bytes of it came (after its 8-byte header).
    let mut payload = vec![b'a'; 1000];
    payload[2] = 0xFF;
    let bytes = client(OpCode::Text, &payload, true);
    let (events, ..) = run(&bytes[..8 + 3]);
    assert_eq!(events, [Event::Error(Error::InvalidUtf8)]);
    // Binary messages are not text: any bytes.
    let (events, ..) = run(&client(OpCode::Binary, b"\xFF\xC0", true));
    assert_eq!(events, [Event::Message(Message::Binary(vec![0xFF, 0xC0]))]);
}

#[test]
fn the_size_limit_counts_fragments_and_reads_no_payload() {
    let config = Config { max_message: 10 };
    let (events, ..) = run_with(config, &client(OpCode::Binary, &[1; 10], true), 100);
    assert_eq!(events, [Event::Message(Message::Binary(vec![1; 10]))]);
    // One byte over, in one frame: refused from the header alone (its payload never sent).
    let bytes = client(OpCode::Binary, &[1; 11], true);
    let (events, outgoing, _) = run_with(config, &bytes[..6], 100);
    assert_eq!(events, [Event::Error(Error::TooBig)]);
    assert_eq!(&outgoing[2..4], &1009u16.to_be_bytes());
    // Over across fragments: 6 + 5.
    let mut bytes = client(OpCode::Text, b"aaaaaa", false);
    bytes.extend(client(OpCode::Continuation, b"bbbbb", true));
    let (events, ..) = run_with(config, &bytes, 100);
    assert_eq!(events, [Event::Error(Error::TooBig)]);
    // The largest length a header can hold, against the default limit.
    assert_fails(
        b"\x82\xFF\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF\0\0\0\0",
        Error::TooBig,
    );
    // Control frames in between do not count.
    let mut bytes = client(OpCode::Text, b"aaaaa", false);
    bytes.extend(client(OpCode::Ping, &[0; 100], true));
    bytes.extend(client(OpCode::Continuation, b"bbbbb", true));
    let (events, ..) = run_with(config, &bytes, 100);
    assert_eq!(events.last(), Some(&text("aaaaabbbbb")));
}

#[test]
fn the_peer_closes_and_we_echo_its_code() {
    let (events, outgoing, state) = run(&client(OpCode::Close, &close_payload(1000, b"bye"), true));
    assert_eq!(
        events,
        [Event::Close {
            code: Some(CloseCode::NORMAL),
            reason: "bye".to_string()
        }]
    );
    assert_eq!(outgoing, server(OpCode::Close, &1000u16.to_be_bytes()));
    assert_eq!(state, State::Closed);
    // An empty close is answered with an empty close.
    let (events, outgoing, _) = run(&client(OpCode::Close, b"", true));
    assert_eq!(
        events,
        [Event::Close {
            code: None,
            reason: String::new()
        }]
    );
    assert_eq!(outgoing, b"\x88\x00");
    // Nothing after the close frame is read.
    let mut bytes = client(OpCode::Close, &close_payload(4000, b""), true);
    bytes.extend(client(OpCode::Text, b"late", true));
    let (events, outgoing, _) = run(&bytes);
    assert_eq!(events.len(), 1);
    assert_eq!(outgoing, server(OpCode::Close, &4000u16.to_be_bytes()));
}

#[test]
fn close_codes_and_reasons_are_checked() {
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let (events, outgoing, _) = run(&client(OpCode::Close, &close_payload(code, b""), true));
        assert!(matches!(events[..], [Event::Close { code: Some(c), .. }] if c.code() == code));
        assert_eq!(outgoing, server(OpCode::Close, &code.to_be_bytes()));
    }
    for code in [
        0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        assert_fails(
            &client(OpCode::Close, &close_payload(code, b""), true),
            Error::InvalidCloseCode(code),
        );
    }
    assert_fails(&client(OpCode::Close, b"\x03", true), Error::CloseOneByte);
    assert_fails(
        &client(
            OpCode::Close,
            &close_payload(1000, b"\xCE\xBA\xED\xA0\x80"),
            true,
        ),
        Error::InvalidCloseReason,
    );
    // A 125-byte close: code and 123 bytes of reason.
    let reason = "r".repeat(123);
    let (events, ..) = run(&client(
        OpCode::Close,
        &close_payload(1000, reason.as_bytes()),
        true,
    ));
    assert!(matches!(&events[..], [Event::Close { reason: r, .. }] if *r == reason));
}

#[test]
fn a_close_in_the_middle_of_a_fragmented_message() {
    let mut bytes = client(OpCode::Text, b"half", false);
    bytes.extend(client(OpCode::Close, &close_payload(1001, b""), true));
    let (events, outgoing, state) = run(&bytes);
    assert_eq!(
        events,
        [Event::Close {
            code: Some(CloseCode::GOING_AWAY),
            reason: String::new()
        }]
    );
    assert_eq!(outgoing, server(OpCode::Close, &1001u16.to_be_bytes()));
    assert_eq!(state, State::Closed);
}

#[test]
fn we_close_first_and_wait_for_their_close() {
    let mut connection = Connection::new(Config::default());
    connection.send_text("last words");
    connection.close(CloseCode::GOING_AWAY, "shutting down");
    assert_eq!(connection.state(), State::CloseSent);
    assert!(!connection.can_send());
    // Nothing may follow our close frame: not a message, not a pong.
    connection.send_text("too late");
    let mut expected = server(OpCode::Text, b"last words");
    expected.extend(server(OpCode::Close, b"\x03\xE9shutting down"));
    assert_eq!(connection.take_outgoing(), expected);
    // Their data and pings still arrive, and are dropped unanswered; their close ends it.
    connection.receive(&client(OpCode::Text, b"in flight", true));
    connection.receive(&client(OpCode::Ping, b"?", true));
    connection.receive(&client(OpCode::Close, &close_payload(1001, b""), true));
    let events: Vec<Event> = std::iter::from_fn(|| connection.next_event()).collect();
    assert_eq!(
        events,
        [
            Event::Ping(b"?".to_vec()),
            Event::Close {
                code: Some(CloseCode::GOING_AWAY),
                reason: String::new()
            }
        ]
    );
    assert!(connection.take_outgoing().is_empty());
    assert_eq!(connection.state(), State::Closed);
}

#[test]
fn a_violation_after_our_close_sends_no_second_close() {
    let mut connection = Connection::new(Config::default());
    connection.close(CloseCode::POLICY, "queue full");
    connection.take_outgoing();
    connection.receive(b"\x81\x05Hello");
    assert_eq!(connection.next_event(), Some(Event::Error(Error::Unmasked)));
    assert!(connection.take_outgoing().is_empty());
    assert_eq!(connection.state(), State::Closed);
}

#[test]
fn sending_messages_and_pings() {
    let mut connection = Connection::new(Config::default());
    connection.send_message(&Message::Text("hi".to_string()));
    connection.send_message(&Message::Binary(vec![1, 2]));
    connection.ping(&[9; 200]);
    let mut expected = server(OpCode::Text, b"hi");
    expected.extend(server(OpCode::Binary, &[1, 2]));
    expected.extend(server(OpCode::Ping, &[9; 125]));
    assert_eq!(connection.outgoing_len(), expected.len());
    assert_eq!(connection.take_outgoing(), expected);
    assert_eq!(connection.outgoing_len(), 0);
}

#[test]
fn garbage_never_panics_and_always_ends_closed_or_waiting() {
    // A cheap deterministic sweep (the fuzz target does the thorough one): every prefix of
    // every frame kind, then random bytes from a fixed-seed generator.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as u8
    };
    for _ in 0..2000 {
        let bytes: Vec<u8> = (0..64).map(|_| next()).collect();
        let (_, outgoing, _) = run_with(Config { max_message: 32 }, &bytes, 5);
        assert!(outgoing.len() <= 64 * 2);
    }
}

/// An echo endpoint's loop: every event taken in turn, every message sent back.
fn echo(bytes: &[u8]) -> (Vec<u8>, State) {
    let mut connection = Connection::new(Config::default());
    connection.receive(bytes);
    while let Some(event) = connection.next_event() {
        if let Event::Message(message) = event {
            connection.send_message(&message);
        }
    }
    (connection.take_outgoing(), connection.state())
}

#[test]
fn replies_are_queued_in_event_order_so_an_echo_precedes_the_close() {
    // One read holding a message, a ping and a close (Autobahn 7.1.6): echo, pong, close.
    let mut bytes = client(OpCode::Text, b"Hello", true);
    bytes.extend(client(OpCode::Ping, b"ping", true));
    bytes.extend(client(OpCode::Close, &close_payload(1000, b""), true));
    let mut expected = server(OpCode::Text, b"Hello");
    expected.extend(server(OpCode::Pong, b"ping"));
    expected.extend(server(OpCode::Close, &1000u16.to_be_bytes()));
    assert_eq!(echo(&bytes), (expected, State::Closed));
    // A message, then a bad frame in the same read (Autobahn 3.1): echo, then 1002.
    let mut bytes = client(OpCode::Text, b"Hello", true);
    let mut bad = client(OpCode::Text, b"x", true);
    bad[0] |= 0x40;
    bytes.extend(bad);
    bytes.extend(client(OpCode::Ping, b"", true));
    let mut expected = server(OpCode::Text, b"Hello");
    frame::encode_close(
        Some(CloseCode::PROTOCOL_ERROR),
        "reserved bits set",
        &mut expected,
    );
    assert_eq!(echo(&bytes), (expected, State::Closed));
}

#[test]
fn nothing_is_read_after_a_close_even_before_it_is_taken() {
    let mut connection = Connection::new(Config::default());
    connection.receive(&client(OpCode::Close, &close_payload(1000, b""), true));
    assert_eq!(connection.state(), State::Open);
    connection.receive(&client(OpCode::Text, b"late", true));
    assert!(matches!(connection.next_event(), Some(Event::Close { .. })));
    assert_eq!(connection.next_event(), None);
    assert_eq!(connection.state(), State::Closed);
}
