//! libFuzzer target: arbitrary bytes into common::ws's server connection (and its handshake).
//!
//! The first byte picks the message size limit and the size of the pieces the rest is fed
//! in. Checked: no panic; the same events and the same outgoing bytes whether the input comes
//! at once or in pieces (a frame's meaning cannot depend on how the network cut it); no
//! message over the limit and no control payload over 125 bytes; outgoing bytes no more than
//! the input plus one close frame (so memory is bounded by what the peer sent), and every
//! one of them a well-formed unmasked server frame, nothing after a close; and once closed,
//! nothing more comes out whatever is fed.
#![no_main]

use common::ws::frame::{FrameHeader, OpCode};
use common::ws::handshake::{self, Handshake, Policy};
use common::ws::{Config, Connection, Event, Message, State};

/// Feeds `data` in pieces of `size`: every event and every outgoing byte.
fn run(config: Config, data: &[u8], size: usize) -> (Vec<Event>, Vec<u8>, State) {
    let mut connection = Connection::new(config);
    let (mut events, mut outgoing) = (Vec::new(), Vec::new());
    for piece in data.chunks(size) {
        connection.receive(piece);
        events.extend(std::iter::from_fn(|| connection.next_event()));
        outgoing.extend(connection.take_outgoing());
    }
    if connection.state() == State::Closed {
        connection.receive(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        assert!(connection.next_event().is_none(), "an event after closing");
        assert!(connection.take_outgoing().is_empty(), "bytes after closing");
    }
    (events, outgoing, connection.state())
}

/// Every outgoing byte is part of a whole unmasked server frame, and a close is the last.
fn check_outgoing(mut out: &[u8]) {
    while !out.is_empty() {
        let (header, used) = FrameHeader::parse(out)
            .expect("our own frame header")
            .expect("a whole frame header");
        assert!(header.mask.is_none() && header.rsv == 0 && header.fin);
        let end = used + header.len as usize;
        assert!(end <= out.len(), "a frame cut short");
        if header.opcode == OpCode::Close {
            assert_eq!(end, out.len(), "bytes after our close");
        }
        out = &out[end..];
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&first, frames)) = data.split_first() else {
        return;
    };
    // The handshake must never panic either, and never claim more bytes than it was given.
    if let Handshake::Offer(offer, used) = handshake::parse(frames) {
        assert!(used <= frames.len());
        let _ = offer.accept(&Policy {
            origins: Some(&["https://example.com"]),
            protocols: &["chat"],
        });
    }

    let config = Config {
        max_message: 1 << (first & 0x0F),
    };
    let size = usize::from(first >> 4) + 1;
    let (events, outgoing, state) = run(config, frames, frames.len().max(1));
    let (pieces, pieces_out, pieces_state) = run(config, frames, size);
    assert_eq!(events, pieces, "events depend on how the input was cut");
    assert_eq!(outgoing, pieces_out, "output depends on how the input was cut");
    assert_eq!(state, pieces_state);

    for event in &events {
        match event {
            Event::Message(Message::Text(text)) => assert!(text.len() <= config.max_message),
            Event::Message(Message::Binary(data)) => assert!(data.len() <= config.max_message),
            Event::Ping(payload) | Event::Pong(payload) => assert!(payload.len() <= 125),
            Event::Close { reason, .. } => assert!(reason.len() <= 123),
            Event::Error(_) => {}
        }
    }
    // Pongs echo at most what was sent (with a header no longer than the ping's masked one);
    // the only other frame is one close of at most 127 bytes.
    assert!(outgoing.len() <= frames.len() + 127);
    check_outgoing(&outgoing);
});
