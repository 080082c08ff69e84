//! The connection, byte for byte: a test peer writes frames, the connection answers, and each
//! test reads the answer. The cases follow h2spec's list for RFC 9113 (§3.5, §4, §5, §6, §8),
//! then the flow-control arithmetic, the graceful stop and the defences. Each error case says
//! whether it costs the connection (GOAWAY) or one stream (RST_STREAM), and with which code.

use super::frame::{self, flags, Frame, Head, Kind, HEADER_LEN};
use super::hpack::{Decoder, Encoder};
use super::*;

/// One frame the server wrote, owned.
#[derive(Clone, Debug)]
struct Out {
    head: Head,
    payload: Vec<u8>,
}

impl Out {
    fn frame(&self) -> Frame<'_> {
        Frame::parse(&self.head, &self.payload).expect("the server wrote a valid frame")
    }
}

/// A client: encodes its header blocks with a real HPACK encoder and reads what the server
/// writes with a real decoder.
struct Peer {
    conn: Connection,
    encoder: Encoder,
    decoder: Decoder,
    result: Result<(), ConnectionError>,
}

const GET: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "https"),
    (":authority", "localhost"),
    (":path", "/"),
];

fn raw(kind: u8, flag_bits: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.push(kind);
    out.push(flag_bits);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn setting(id: u16, value: u32) -> Vec<u8> {
    let mut payload = id.to_be_bytes().to_vec();
    payload.extend_from_slice(&value.to_be_bytes());
    raw(4, 0, 0, &payload)
}

impl Peer {
    /// A connection past the handshake: preface, our empty SETTINGS, the server's SETTINGS
    /// read and acknowledged.
    fn new() -> Peer {
        Peer::with(Settings::default())
    }

    fn with(settings: Settings) -> Peer {
        let mut peer = Peer {
            conn: Connection::server(settings),
            encoder: Encoder::new(),
            decoder: Decoder::new(4096),
            result: Ok(()),
        };
        let mut hello = PREFACE.to_vec();
        hello.extend(raw(4, 0, 0, b""));
        hello.extend(raw(4, flags::ACK, 0, b""));
        peer.send(&hello);
        let frames = peer.frames();
        assert!(
            matches!(frames[0].frame(), Frame::Settings(s) if !s.ack),
            "server SETTINGS first"
        );
        assert!(
            matches!(frames[1].frame(), Frame::Settings(s) if s.ack),
            "then the ACK of ours"
        );
        assert_eq!(frames.len(), 2);
        peer
    }

    fn send(&mut self, bytes: &[u8]) {
        self.result = self.conn.receive(bytes);
    }

    /// Takes everything the server wrote, as frames.
    fn frames(&mut self) -> Vec<Out> {
        let bytes = std::mem::take(self.conn.output());
        let mut frames = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let head = Head::parse(bytes[at..at + HEADER_LEN].try_into().unwrap());
            let end = at + HEADER_LEN + head.length as usize;
            frames.push(Out {
                head,
                payload: bytes[at + HEADER_LEN..end].to_vec(),
            });
            at = end;
        }
        frames
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }

    fn block(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
        let fields: Vec<Field> = fields
            .iter()
            .map(|(n, v)| Field::new(n.as_bytes(), v.as_bytes()))
            .collect();
        let mut block = Vec::new();
        self.encoder.encode(&fields, &mut block);
        block
    }

    fn headers_frame(&mut self, stream: u32, fields: &[(&str, &str)], end_stream: bool) -> Vec<u8> {
        let block = self.block(fields);
        let end = if end_stream { flags::END_STREAM } else { 0 };
        raw(1, flags::END_HEADERS | end, stream, &block)
    }

    fn get(&mut self, stream: u32, end_stream: bool) {
        let frame = self.headers_frame(stream, &GET, end_stream);
        self.send(&frame);
    }

    /// Asserts a connection error: receive failed, and the last frame out is GOAWAY(code).
    fn connection_error(&mut self, code: ErrorCode) {
        assert_eq!(
            self.result.map_err(|e| e.code),
            Err(code),
            "receive's result"
        );
        let frames = self.frames();
        let last = frames.last().expect("a GOAWAY");
        match last.frame() {
            Frame::GoAway(goaway) => assert_eq!(goaway.code, code),
            other => panic!("expected GOAWAY({code:?}), got {other:?}"),
        }
        assert!(
            self.conn.receive(&raw(6, 0, 0, b"12345678")).is_err(),
            "nothing read after"
        );
    }

    /// Asserts a stream error: the connection goes on, and RST_STREAM(code) is out on `stream`.
    fn stream_error(&mut self, stream: u32, code: ErrorCode) {
        assert_eq!(
            self.result,
            Ok(()),
            "a stream error is not the connection's"
        );
        let frames = self.frames();
        let found = frames.iter().any(|out| {
            matches!(out.frame(), Frame::RstStream(r) if r.stream == StreamId(stream) && r.code == code)
        });
        assert!(
            found,
            "expected RST_STREAM({code:?}) on {stream}, got {frames:?}"
        );
        self.still_alive();
    }

    /// The connection still answers a PING.
    fn still_alive(&mut self) {
        self.frames();
        self.send(&raw(6, 0, 0, b"alive?!!"));
        assert_eq!(self.result, Ok(()));
        let frames = self.frames();
        assert!(
            frames.iter().any(
                |out| matches!(out.frame(), Frame::Ping(p) if p.ack && &p.payload == b"alive?!!")
            ),
            "no PING ACK: {frames:?}"
        );
    }

    /// The response head the server wrote on `stream`, decoded.
    fn response(&mut self, frames: &[Out], stream: u32) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        for out in frames {
            if let Frame::Headers(h) = out.frame() {
                if h.stream == StreamId(stream) {
                    self.decoder
                        .decode(h.fragment, 1 << 20, &mut |n, v| {
                            fields.push((
                                String::from_utf8_lossy(n).into(),
                                String::from_utf8_lossy(v).into(),
                            ))
                        })
                        .unwrap();
                }
            }
        }
        fields
    }
}

fn request_stream(events: &[Event]) -> Vec<StreamId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Request { stream, .. } => Some(*stream),
            _ => None,
        })
        .collect()
}

// --- §3.5 the preface -------------------------------------------------------------------

#[test]
fn a_wrong_preface_is_refused_at_its_first_wrong_byte() {
    let mut conn = Connection::server(Settings::default());
    conn.output().clear();
    let err = conn.receive(b"GET / HTTP/1.1\r\n").unwrap_err();
    assert_eq!(err.code, ErrorCode::PROTOCOL_ERROR);
    let out = std::mem::take(conn.output());
    let head = Head::parse(out[..HEADER_LEN].try_into().unwrap());
    let Ok(Frame::GoAway(goaway)) = Frame::parse(&head, &out[HEADER_LEN..]) else {
        panic!()
    };
    assert_eq!(
        (goaway.last_stream, goaway.code),
        (StreamId(0), ErrorCode::PROTOCOL_ERROR)
    );
    assert!(conn.is_done(), "written: time to close");
}

#[test]
fn after_a_connection_error_it_is_done_once_the_goaway_is_written() {
    let mut peer = Peer::new();
    peer.get(1, true);
    peer.send(&raw(0, 0, 3, b"x"));
    assert!(peer.result.is_err());
    assert!(!peer.conn.is_done(), "the GOAWAY is still to be written");
    assert!(!peer.conn.is_idle(), "stream 1 was never answered");
    peer.frames();
    assert!(peer.conn.is_done(), "stream 1 will never be answered now");
    assert_eq!(
        peer.conn.send_headers(StreamId(1), 200, &[], true),
        Err(SendError::Closed)
    );
    assert_eq!(peer.conn.capacity(StreamId(1)), 0);
}

#[test]
fn the_preface_may_arrive_byte_by_byte() {
    let mut conn = Connection::server(Settings::default());
    let mut hello = PREFACE.to_vec();
    hello.extend(raw(4, 0, 0, b""));
    for byte in hello {
        conn.receive(&[byte]).unwrap();
    }
    assert!(conn.output().ends_with(&raw(4, flags::ACK, 0, b"")));
}

#[test]
fn the_first_frame_must_be_settings() {
    let mut conn = Connection::server(Settings::default());
    let mut hello = PREFACE.to_vec();
    hello.extend(raw(6, 0, 0, b"12345678"));
    assert_eq!(
        conn.receive(&hello).unwrap_err().code,
        ErrorCode::PROTOCOL_ERROR
    );
}

#[test]
fn frames_cut_anywhere_give_the_same_events_and_output() {
    // A request in HEADERS + CONTINUATION, a padded body in two DATA frames, trailers,
    // a PING and a WINDOW_UPDATE: fed whole, byte by byte, and in 7-byte reads.
    let mut encoder = Encoder::new();
    let post = [
        (":method", "POST"),
        (":scheme", "https"),
        (":path", "/up"),
        ("content-length", "6"),
    ];
    let fields: Vec<Field> = post
        .iter()
        .map(|(n, v)| Field::new(n.as_bytes(), v.as_bytes()))
        .collect();
    let mut block = Vec::new();
    encoder.encode(&fields, &mut block);
    let mut trailer = Vec::new();
    encoder.encode(&[Field::new(b"x-sum", b"9")], &mut trailer);
    let mut bytes = PREFACE.to_vec();
    bytes.extend(raw(4, 0, 0, b""));
    bytes.extend(raw(1, 0, 1, &block[..3]));
    bytes.extend(raw(9, flags::END_HEADERS, 1, &block[3..]));
    bytes.extend(raw(0, flags::PADDED, 1, b"\x02abc\0\0"));
    bytes.extend(raw(0, 0, 1, b"def"));
    bytes.extend(raw(6, 0, 0, b"pingpong"));
    bytes.extend(raw(8, 0, 0, b"\0\0\x01\0"));
    bytes.extend(raw(1, flags::END_HEADERS | flags::END_STREAM, 1, &trailer));
    let run = |read: usize| {
        let mut conn = Connection::server(Settings::default());
        for chunk in bytes.chunks(read) {
            conn.receive(chunk).unwrap();
        }
        let events: Vec<Event> = std::iter::from_fn(|| conn.poll_event()).collect();
        (events, std::mem::take(conn.output()))
    };
    let whole = run(bytes.len());
    assert_eq!(whole.0.len(), 5, "{:?}", whole.0);
    assert_eq!(whole.0[3], Event::WindowOpened);
    assert_eq!(
        whole.0[4],
        Event::Data {
            stream: StreamId(1),
            len: 0,
            end_stream: true
        }
    );
    assert_eq!(run(1), whole);
    assert_eq!(run(7), whole);
}

// --- §4 frames --------------------------------------------------------------------------

#[test]
fn unknown_types_flags_and_the_reserved_bit_are_ignored() {
    let mut peer = Peer::new();
    peer.send(&raw(0x16, 0xff, 0, b"extension"));
    peer.still_alive();
    peer.send(&raw(6, 0x16, 0, b"flags!!!"));
    assert!(matches!(peer.frames()[0].frame(), Frame::Ping(p) if p.ack));
    let mut frame = peer.headers_frame(1, &GET, true);
    frame[5] |= 0x80; // the reserved bit of the stream id
    peer.send(&frame);
    assert_eq!(request_stream(&peer.events()), [StreamId(1)]);
}

#[test]
fn frame_sizes() {
    let mut peer = Peer::new();
    let post = [(":method", "POST"), (":scheme", "https"), (":path", "/")];
    let headers = peer.headers_frame(1, &post, false);
    peer.send(&headers);
    peer.send(&raw(0, 0, 1, &[0; 16_384]));
    assert_eq!(peer.result, Ok(()), "2^14 bytes of DATA fit the default");
    peer.send(&raw(0, 0, 1, &[0; 16_385]));
    peer.connection_error(ErrorCode::FRAME_SIZE_ERROR);

    let mut peer = Peer::new();
    let mut big = raw(1, flags::END_HEADERS, 1, &[0; 16_385]);
    // Refused on its header alone: the payload need not even arrive.
    big.truncate(HEADER_LEN);
    peer.send(&big);
    peer.connection_error(ErrorCode::FRAME_SIZE_ERROR);
}

#[test]
fn a_bad_header_block_is_compression_error() {
    let mut peer = Peer::new();
    // Indexed field 0 does not exist (RFC 7541 §6.1).
    peer.send(&raw(1, flags::END_HEADERS | flags::END_STREAM, 1, b"\x80"));
    peer.connection_error(ErrorCode::COMPRESSION_ERROR);
}

// --- §5.1 stream states -----------------------------------------------------------------

#[test]
fn frames_on_idle_streams_are_connection_errors() {
    for frame in [
        raw(0, flags::END_STREAM, 1, b"test"),
        raw(3, 0, 1, b"\0\0\0\x08"),
        raw(8, 0, 1, b"\0\0\0\x64"),
        raw(9, flags::END_HEADERS, 1, b"\x82"),
        raw(8, 0, 1, b"\0\0\0\0"),
    ] {
        let mut peer = Peer::new();
        peer.send(&frame);
        peer.connection_error(ErrorCode::PROTOCOL_ERROR);
    }
    // PRIORITY on an idle stream is fine.
    let mut peer = Peer::new();
    peer.send(&raw(2, 0, 9, b"\0\0\0\x01\x10"));
    peer.still_alive();
}

#[test]
fn half_closed_remote() {
    let mut peer = Peer::new();
    peer.get(1, true);
    assert_eq!(request_stream(&peer.events()), [StreamId(1)]);
    peer.send(&raw(0, flags::END_STREAM, 1, b"test"));
    peer.stream_error(1, ErrorCode::STREAM_CLOSED);
    assert!(peer.events().contains(&Event::Reset {
        stream: StreamId(1),
        code: ErrorCode::STREAM_CLOSED
    }));

    let mut peer = Peer::new();
    peer.get(1, true);
    peer.get(1, true);
    peer.stream_error(1, ErrorCode::STREAM_CLOSED);

    // A CONTINUATION after a complete block has no block to continue.
    let mut peer = Peer::new();
    peer.get(1, true);
    peer.send(&raw(9, flags::END_HEADERS, 1, b"\x82"));
    peer.connection_error(ErrorCode::PROTOCOL_ERROR);

    // WINDOW_UPDATE, PRIORITY and RST_STREAM are allowed.
    let mut peer = Peer::new();
    peer.get(1, true);
    peer.send(&raw(8, 0, 1, b"\0\0\0\x01"));
    peer.send(&raw(2, 0, 1, b"\0\0\0\0\x10"));
    peer.send(&raw(3, 0, 1, b"\0\0\0\x08"));
    assert_eq!(peer.result, Ok(()));
}

#[test]
fn closed_after_the_peer_reset_it() {
    let mut peer = Peer::new();
    peer.get(1, false);
    assert_eq!(request_stream(&peer.events()), [StreamId(1)]);
    peer.send(&raw(3, 0, 1, b"\0\0\0\x08"));
    assert!(peer.events().contains(&Event::Reset {
        stream: StreamId(1),
        code: ErrorCode::CANCEL
    }));
    peer.send(&raw(0, flags::END_STREAM, 1, b"test"));
    peer.stream_error(1, ErrorCode::STREAM_CLOSED);
    peer.get(1, true);
    peer.stream_error(1, ErrorCode::STREAM_CLOSED);
    // PRIORITY is fine on any stream, WINDOW_UPDATE and RST_STREAM on closed ones are ignored.
    peer.send(&raw(2, 0, 1, b"\0\0\0\0\x10"));
    peer.send(&raw(8, 0, 1, b"\0\0\0\x01"));
    peer.send(&raw(3, 0, 1, b"\0\0\0\x08"));
    assert!(peer.frames().is_empty());
}

#[test]
fn closed_after_both_ends() {
    let mut peer = Peer::new();
    peer.get(1, true);
    peer.conn.send_headers(StreamId(1), 204, &[], true).unwrap();
    assert!(peer.conn.is_idle());
    // Late WINDOW_UPDATE and RST_STREAM may cross our END_STREAM: ignored.
    peer.send(&raw(8, 0, 1, b"\0\0\0\x01"));
    peer.send(&raw(3, 0, 1, b"\0\0\0\x08"));
    assert_eq!(peer.result, Ok(()));
    peer.send(&raw(0, flags::END_STREAM, 1, b"test"));
    peer.connection_error(ErrorCode::STREAM_CLOSED);

    let mut peer = Peer::new();
    peer.get(1, true);
    peer.conn.send_headers(StreamId(1), 204, &[], true).unwrap();
    peer.get(1, true);
    peer.connection_error(ErrorCode::STREAM_CLOSED);
}

#[test]
fn frames_after_our_reset_are_ignored_and_their_credit_returned() {
    let mut peer = Peer::new();
    let post = [(":method", "POST"), (":scheme", "https"), (":path", "/")];
    let headers = peer.headers_frame(1, &post, false);
    peer.send(&headers);
    peer.conn.reset(StreamId(1), ErrorCode::NO_ERROR);
    peer.frames();
    for _ in 0..3 {
        peer.send(&raw(0, 0, 1, &[7; 16_384]));
    }
    assert_eq!(peer.result, Ok(()));
    let frames = peer.frames();
    assert!(
        frames
            .iter()
            .any(|o| matches!(o.frame(), Frame::WindowUpdate(w) if w.stream.is_connection())),
        "the connection's credit comes back: {frames:?}"
    );
}

#[test]
fn stream_identifiers() {
    let mut peer = Peer::new();
    peer.get(2, true);
    peer.connection_error(ErrorCode::PROTOCOL_ERROR);

    let mut peer = Peer::new();
    peer.get(5, true);
    peer.get(3, true);
    peer.connection_error(ErrorCode::PROTOCOL_ERROR);
}

#[test]
fn concurrency_beyond_the_limit_is_refused() {
    let mut peer = Peer::with(Settings {
        max_concurrent_streams: 2,
        ..Settings::default()
    });
    peer.get(1, true);
    peer.get(3, true);
    peer.get(5, true);
    peer.stream_error(5, ErrorCode::REFUSED_STREAM);
    assert_eq!(request_stream(&peer.events()), [StreamId(1), StreamId(3)]);
    // A finished stream frees its slot.
    peer.conn.send_headers(StreamId(1), 204, &[], true).unwrap();
    peer.get(7, true);
    assert_eq!(request_stream(&peer.events()), [StreamId(7)]);
}

#[test]
fn a_stream_may_not_depend_on_itself() {
    let mut peer = Peer::new();
    let block = peer.block(&GET);
    let mut payload = b"\0\0\0\x01\x10".to_vec();
    payload.extend(block);
    peer.send(&raw(
        1,
        flags::END_HEADERS | flags::END_STREAM | flags::PRIORITY,
        1,
        &payload,
    ));
    peer.stream_error(1, ErrorCode::PROTOCOL_ERROR);
    assert!(request_stream(&peer.events()).is_empty());
    // The block was decoded all the same: the next one, which may refer to its table
    // entries, still decodes.
    peer.get(3, true);
    assert_eq!(request_stream(&peer.events()), [StreamId(3)]);

    peer.send(&raw(2, 0, 5, b"\0\0\0\x05\x10"));
    peer.stream_error(5, ErrorCode::PROTOCOL_ERROR);
}

#[test]
fn a_connection_error_names_the_last_stream() {
    let mut peer = Peer::new();
    peer.get(1, true);
    peer.get(3, true);
    peer.send(&raw(6, 0, 0, b"short"));
    let frames = peer.frames();
    let Frame::GoAway(goaway) = frames.last().unwrap().frame() else {
        panic!()
    };
    assert_eq!(
        (goaway.last_stream, goaway.code),
        (StreamId(3), ErrorCode::FRAME_SIZE_ERROR)
    );
}

// --- §5.5 and §6.10: header blocks ------------------------------------------------------

#[test]
fn continuation_sequences() {
    let mut peer = Peer::new();
    let block = peer.block(&GET);
    let (first, rest) = block.split_at(2);
    peer.send(&raw(1, flags::END_STREAM, 1, first));
    peer.send(&raw(9, 0, 1, &rest[..1]));
    peer.send(&raw(9, flags::END_HEADERS, 1, &rest[1..]));
    assert_eq!(request_stream(&peer.events()), [StreamId(1)]);

    // Anything but a CONTINUATION of the same stream inside a block: PROTOCOL_ERROR.
    for intruder in [
        raw(2, 0, 1, b"\0\0\0\0\x10"),
        raw(0x16, 0, 1, b""),
        raw(6, 0, 0, b"12345678"),
        raw(9, flags::END_HEADERS, 3, b"\x82"),
        raw(1, flags::END_HEADERS, 3, b"\x82"),
        raw(0, 0, 1, b"x"),
    ] {
        let mut peer = Peer::new();
        let block = peer.block(&GET);
        peer.send(&raw(1, flags::END_STREAM, 1, &block));
        peer.send(&intruder);
        peer.connection_error(ErrorCode::PROTOCOL_ERROR);
    }

    for stray in [
        raw(9, flags::END_HEADERS, 0, b"\x82"),
        raw(9, flags::END_HEADERS, 1, b"\x82"),
    ] {
        let mut peer = Peer::new();
        peer.get(1, false);
        peer.send(&raw(0, 0, 1, b"data"));
        peer.send(&stray);
        peer.connection_error(ErrorCode::PROTOCOL_ERROR);
    }
}

#[test]
fn push_promise_from_a_client() {
    let mut peer = Peer::new();
    peer.get(1, false);
    peer.send(&raw(5, flags::END_HEADERS, 1, b"\0\0\0\x02\x82"));
    peer.connection_error(ErrorCode::PROTOCOL_ERROR);
}

// --- §6.5 SETTINGS, §6.7 PING, §6.8 GOAWAY ------------------------------------------------

#[test]
fn settings_errors_and_acks() {
    for (frame, code) in [
        (
            raw(4, flags::ACK, 0, b"\0\x01\0\0\0\0"),
            ErrorCode::FRAME_SIZE_ERROR,
        ),
        (raw(4, 0, 1, b""), ErrorCode::PROTOCOL_ERROR),
        (raw(4, 0, 0, b"\0\x01\0"), ErrorCode::FRAME_SIZE_ERROR),
        (setting(2, 2), ErrorCode::PROTOCOL_ERROR),
        (setting(4, 1 << 31), ErrorCode::FLOW_CONTROL_ERROR),
        (setting(5, 16_383), ErrorCode::PROTOCOL_ERROR),
        (setting(5, 1 << 24), ErrorCode::PROTOCOL_ERROR),
    ] {
        let mut peer = Peer::new();
        peer.send(&frame);
        peer.connection_error(code);
    }
    let mut peer = Peer::new();
    peer.send(&setting(0x99, 1));
    let frames = peer.frames();
    assert!(
        matches!(frames[0].frame(), Frame::Settings(s) if s.ack),
        "unknown ids: still an ACK"
    );
}

#[test]
fn ping_is_answered_with_its_payload() {
    let mut peer = Peer::new();
    peer.send(&raw(6, 0, 0, b"\x01\x02\x03\x04\x05\x06\x07\x08"));
    let frames = peer.frames();
    assert_eq!(frames.len(), 1);
    assert_eq!(
        frames[0].frame(),
        Frame::Ping(frame::Ping {
            ack: true,
            payload: [1, 2, 3, 4, 5, 6, 7, 8]
        })
    );
    peer.send(&raw(6, flags::ACK, 0, b"12345678"));
    assert!(peer.frames().is_empty(), "an ACK is not answered");
    peer.send(&raw(6, 0, 1, b"12345678"));
    peer.connection_error(ErrorCode::PROTOCOL_ERROR);
    let mut peer = Peer::new();
    peer.send(&raw(6, 0, 0, b"123456"));
    peer.connection_error(ErrorCode::FRAME_SIZE_ERROR);
}

#[test]
fn goaway_from_the_peer() {
    let mut peer = Peer::new();
    peer.get(1, true);
    peer.send(&raw(7, 0, 0, b"\0\0\0\x01\0\0\0\0bye"));
    let events = peer.events();
    assert_eq!(
        events.last(),
        Some(&Event::GoAway {
            last_stream: StreamId(1),
            code: ErrorCode::NO_ERROR
        })
    );
    assert!(!peer.conn.is_done(), "stream 1 is still to be answered");
    peer.conn.send_headers(StreamId(1), 204, &[], true).unwrap();
    peer.frames();
    assert!(peer.conn.is_done());

    let mut peer = Peer::new();
    peer.send(&raw(7, 0, 1, b"\0\0\0\0\0\0\0\0"));
    peer.connection_error(ErrorCode::PROTOCOL_ERROR);
}

// --- §6.9 flow control ------------------------------------------------------------------

#[test]
fn window_update_errors() {
    let mut peer = Peer::new();
    peer.send(&raw(8, 0, 0, b"\0\0\0\0"));
    peer.connection_error(ErrorCode::PROTOCOL_ERROR);

    let mut peer = Peer::new();
    peer.get(1, true);
    peer.send(&raw(8, 0, 1, b"\0\0\0\0"));
    peer.stream_error(1, ErrorCode::PROTOCOL_ERROR);

    let mut peer = Peer::new();
    peer.send(&raw(8, 0, 0, b"\0\0\x01"));
    peer.connection_error(ErrorCode::FRAME_SIZE_ERROR);

    // 65,535 + 2^31-1 - 65,535 is the largest; one more overflows.
    let mut peer = Peer::new();
    peer.send(&raw(8, 0, 0, &(frame::MAX_WINDOW - 65_535).to_be_bytes()));
    assert_eq!(peer.result, Ok(()));
    peer.send(&raw(8, 0, 0, b"\0\0\0\x01"));
    peer.connection_error(ErrorCode::FLOW_CONTROL_ERROR);

    let mut peer = Peer::new();
    peer.get(1, true);
    peer.send(&raw(8, 0, 1, &frame::MAX_WINDOW.to_be_bytes()));
    peer.stream_error(1, ErrorCode::FLOW_CONTROL_ERROR);
}

#[test]
fn sending_within_the_windows() {
    let mut peer = Peer::new();
    peer.send(&setting(4, 1));
    peer.get(1, true);
    peer.frames();
    assert_eq!(
        peer.conn.capacity(StreamId(1)),
        0,
        "no DATA before the head"
    );
    assert_eq!(
        peer.conn.send_data(StreamId(1), b"x", false),
        Err(SendError::OverCapacity)
    );
    peer.conn
        .send_headers(
            StreamId(1),
            200,
            &[Field::new(b"content-type", b"text/plain")],
            false,
        )
        .unwrap();
    assert_eq!(
        peer.conn.capacity(StreamId(1)),
        1,
        "SETTINGS_INITIAL_WINDOW_SIZE of 1"
    );
    assert_eq!(
        peer.conn.send_data(StreamId(1), b"ab", false),
        Err(SendError::OverCapacity)
    );
    peer.conn.send_data(StreamId(1), b"a", false).unwrap();
    assert_eq!(peer.conn.capacity(StreamId(1)), 0);
    let frames = peer.frames();
    let expected = [(":status", "200"), ("content-type", "text/plain")];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(peer.response(&frames, 1), expected);
    assert_eq!(
        frames[1].frame(),
        Frame::Data(frame::Data {
            stream: StreamId(1),
            data: b"a",
            end_stream: false,
            pad: None
        })
    );

    // The peer raises the initial window: open streams gain the difference (§6.9.2).
    peer.send(&setting(4, 10));
    assert!(peer.events().contains(&Event::WindowOpened));
    assert_eq!(peer.conn.capacity(StreamId(1)), 9);
    // ... and lowers it: the window goes negative, and nothing may be sent until it recovers.
    peer.send(&setting(4, 0));
    assert_eq!(peer.conn.capacity(StreamId(1)), 0);
    peer.send(&raw(8, 0, 1, b"\0\0\0\x05"));
    assert_eq!(peer.conn.capacity(StreamId(1)), 4, "-1 + 5");
    // An empty DATA with END_STREAM needs no window.
    peer.send(&setting(4, 0));
    peer.conn.send_data(StreamId(1), b"", true).unwrap();
    assert!(peer.conn.is_idle());
    assert_eq!(
        peer.conn.send_data(StreamId(1), b"", true),
        Err(SendError::Closed)
    );

    // An initial window that would take an open stream past 2^31-1.
    let mut peer = Peer::new();
    peer.get(1, true);
    peer.send(&raw(8, 0, 1, &(frame::MAX_WINDOW - 65_535).to_be_bytes()));
    peer.send(&setting(4, 65_536));
    peer.connection_error(ErrorCode::FLOW_CONTROL_ERROR);
}

#[test]
fn data_is_split_by_the_peers_frame_size_and_the_connection_window() {
    let mut peer = Peer::new();
    peer.send(&raw(8, 0, 0, &100_000u32.to_be_bytes()));
    peer.send(&setting(4, 1_000_000));
    peer.get(1, true);
    peer.get(3, true);
    peer.conn
        .send_headers(StreamId(1), 200, &[], false)
        .unwrap();
    peer.conn
        .send_headers(StreamId(3), 200, &[], false)
        .unwrap();
    assert_eq!(peer.conn.capacity(StreamId(1)), 165_535);
    peer.conn
        .send_data(StreamId(1), &[1; 40_000], true)
        .unwrap();
    assert_eq!(
        peer.conn.capacity(StreamId(3)),
        125_535,
        "the connection's window is shared"
    );
    let frames = peer.frames();
    let sizes: Vec<u32> = frames
        .iter()
        .filter(|o| o.head.kind == Kind::Data)
        .map(|o| o.head.length)
        .collect();
    assert_eq!(sizes, [16_384, 16_384, 7_232]);
    let last = frames.iter().rfind(|o| o.head.kind == Kind::Data).unwrap();
    assert_eq!(last.head.flags & flags::END_STREAM, flags::END_STREAM);
}

#[test]
fn data_past_our_windows() {
    // The connection's window: 65,535 bytes, not more, before any credit comes back.
    let mut peer = Peer::with(Settings {
        initial_window_size: 1_000_000,
        ..Settings::default()
    });
    let post = [(":method", "POST"), (":scheme", "https"), (":path", "/")];
    let headers = peer.headers_frame(1, &post, false);
    peer.send(&headers);
    let mut flood = Vec::new();
    for _ in 0..4 {
        flood.extend(raw(0, 0, 1, &[0; 16_384]));
    }
    flood.extend(raw(0, 0, 1, &[0; 2_000]));
    // Credit comes back after each half window, so the peer may go on: no error.
    peer.send(&flood);
    assert_eq!(peer.result, Ok(()));
    let frames = peer.frames();
    let credit: u32 = frames
        .iter()
        .filter_map(|o| match o.frame() {
            Frame::WindowUpdate(w) if w.stream.is_connection() => Some(w.increment),
            _ => None,
        })
        .sum();
    assert_eq!(credit, 32_768 * 2, "given back in half windows");

    // A stream's window: 65,535 (our SETTINGS were acknowledged... with the default).
    let mut peer = Peer::new();
    let headers = peer.headers_frame(1, &post, false);
    peer.send(&headers);
    let mut flood = Vec::new();
    for _ in 0..3 {
        flood.extend(raw(0, 0, 1, &[0; 16_384]));
    }
    peer.send(&flood);
    let frames = peer.frames();
    assert!(frames
        .iter()
        .any(|o| matches!(o.frame(), Frame::WindowUpdate(w) if w.stream == StreamId(1))));
    let events = peer.events();
    let body: usize = events
        .iter()
        .map(|e| {
            if let Event::Data { len, .. } = e {
                *len
            } else {
                0
            }
        })
        .sum();
    assert_eq!(body, 3 * 16_384);

    // A peer that ignores the window: with the stream's credit withheld by a tiny window.
    let mut peer = Peer::with(Settings {
        initial_window_size: 16_384,
        ..Settings::default()
    });
    let headers = peer.headers_frame(1, &post, false);
    peer.send(&headers);
    peer.send(&raw(0, 0, 1, &[0; 16_384]));
    peer.send(&raw(0, 0, 1, &[0; 10]));
    assert_eq!(peer.result, Ok(()), "credit came back at half the window");
    let mut over = Vec::new();
    for _ in 0..2 {
        over.extend(raw(0, 0, 1, &[0; 16_384]));
    }
    peer.send(&over);
    peer.stream_error(1, ErrorCode::FLOW_CONTROL_ERROR);
}

// --- §8 HTTP semantics ------------------------------------------------------------------

#[test]
fn trailers() {
    let mut peer = Peer::new();
    let post = [(":method", "POST"), (":scheme", "https"), (":path", "/")];
    let headers = peer.headers_frame(1, &post, false);
    peer.send(&headers);
    peer.send(&raw(0, 0, 1, b"body"));
    let trailer = peer.headers_frame(1, &[("x-sum", "1")], true);
    peer.send(&trailer);
    let events = peer.events();
    assert_eq!(
        events[1..],
        [
            Event::Data {
                stream: StreamId(1),
                len: 4,
                end_stream: false
            },
            Event::Data {
                stream: StreamId(1),
                len: 0,
                end_stream: true
            },
        ]
    );

    // A second HEADERS without END_STREAM, or trailers with a pseudo-header.
    for (fields, end) in [
        (&[("x-sum", "1")][..], false),
        (&[(":path", "/")][..], true),
    ] {
        let mut peer = Peer::new();
        let headers = peer.headers_frame(1, &post, false);
        peer.send(&headers);
        let trailer = peer.headers_frame(1, fields, end);
        peer.send(&trailer);
        peer.stream_error(1, ErrorCode::PROTOCOL_ERROR);
    }
}

#[test]
fn malformed_requests_are_reset_not_delivered() {
    let cases: &[&[(&str, &str)]] = &[
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/"),
            ("Upper", "x"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/"),
            (":unknown", "x"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/"),
            (":status", "200"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            ("x", "y"),
            (":path", "/"),
        ],
        &[
            (":method", "GET"),
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/"),
            ("connection", "close"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/"),
            ("te", "gzip"),
        ],
        &[(":method", "GET"), (":scheme", "https"), (":path", "")],
        &[(":scheme", "https"), (":path", "/")],
        &[(":method", "GET"), (":path", "/")],
        &[(":method", "GET"), (":scheme", "https")],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/"),
            ("content-length", "3"),
        ],
    ];
    for fields in cases {
        let mut peer = Peer::new();
        let frame = peer.headers_frame(1, fields, true);
        peer.send(&frame);
        peer.stream_error(1, ErrorCode::PROTOCOL_ERROR);
        assert!(request_stream(&peer.events()).is_empty(), "{fields:?}");
    }
}

#[test]
fn content_length_must_match_the_data() {
    let post = [
        (":method", "POST"),
        (":scheme", "https"),
        (":path", "/"),
        ("content-length", "1"),
    ];
    for body in [
        &[raw(0, flags::END_STREAM, 1, b"test")][..],
        &[raw(0, 0, 1, b"test"), raw(0, flags::END_STREAM, 1, b"test")],
    ] {
        let mut peer = Peer::new();
        let headers = peer.headers_frame(1, &post, false);
        peer.send(&headers);
        for frame in body {
            peer.send(frame);
        }
        peer.stream_error(1, ErrorCode::PROTOCOL_ERROR);
    }
    // Too little: found at END_STREAM.
    let mut peer = Peer::new();
    let post5 = [
        (":method", "POST"),
        (":scheme", "https"),
        (":path", "/"),
        ("content-length", "5"),
    ];
    let headers = peer.headers_frame(1, &post5, false);
    peer.send(&headers);
    peer.send(&raw(0, flags::END_STREAM, 1, b"four"));
    peer.stream_error(1, ErrorCode::PROTOCOL_ERROR);
    // Exactly right.
    let mut peer = Peer::new();
    let headers = peer.headers_frame(1, &post5, false);
    peer.send(&headers);
    peer.send(&raw(
        0,
        flags::PADDED | flags::END_STREAM,
        1,
        b"\x03fives\0\0\0",
    ));
    assert_eq!(
        peer.events()[1],
        Event::Data {
            stream: StreamId(1),
            len: 5,
            end_stream: true
        }
    );
}

#[test]
fn a_response_in_many_frames_when_the_peer_has_small_frames() {
    let mut peer = Peer::new();
    peer.get(1, true);
    let long = vec![b'v'; 40_000];
    peer.conn
        .send_headers(StreamId(1), 200, &[Field::new(b"x-long", &long)], true)
        .unwrap();
    let frames = peer.frames();
    let kinds: Vec<Kind> = frames.iter().map(|o| o.head.kind).collect();
    assert_eq!(
        kinds,
        [Kind::Headers, Kind::Continuation, Kind::Continuation]
    );
    assert_eq!(frames[0].head.flags & flags::END_HEADERS, 0);
    assert_eq!(
        frames[2].head.flags & flags::END_HEADERS,
        flags::END_HEADERS
    );
    assert!(peer.conn.send_headers(StreamId(1), 200, &[], true).is_err());
}

// --- the graceful stop ------------------------------------------------------------------

#[test]
fn two_step_goaway() {
    let mut peer = Peer::new();
    peer.get(1, true);
    peer.conn.shutdown();
    let frames = peer.frames();
    let Frame::GoAway(first) = frames[0].frame() else {
        panic!("{frames:?}")
    };
    assert_eq!(
        (first.last_stream, first.code),
        (StreamId::MAX, ErrorCode::NO_ERROR)
    );
    let Frame::Ping(ping) = frames[1].frame() else {
        panic!()
    };
    // A request that crossed the first GOAWAY is still served.
    peer.get(3, true);
    let mut ack = raw(6, flags::ACK, 0, &ping.payload);
    ack.extend(peer.headers_frame(5, &GET, true));
    peer.send(&ack);
    let frames = peer.frames();
    let Frame::GoAway(last) = frames[0].frame() else {
        panic!("{frames:?}")
    };
    assert_eq!(
        (last.last_stream, last.code),
        (StreamId(3), ErrorCode::NO_ERROR)
    );
    assert_eq!(
        request_stream(&peer.events()),
        [StreamId(1), StreamId(3)],
        "5 came after: ignored"
    );
    assert!(!peer.conn.is_done());
    peer.conn.send_headers(StreamId(1), 204, &[], true).unwrap();
    peer.conn.send_headers(StreamId(3), 204, &[], true).unwrap();
    assert!(!peer.conn.is_done(), "output not written yet");
    peer.frames();
    assert!(peer.conn.is_done());
}

// --- the defences -----------------------------------------------------------------------

#[test]
fn a_request_reset_before_it_is_polled_never_reaches_the_caller() {
    let mut peer = Peer::new();
    let mut bytes = peer.headers_frame(1, &GET, true);
    bytes.extend(raw(3, 0, 1, b"\0\0\0\x08"));
    bytes.extend(peer.headers_frame(3, &GET, false));
    bytes.extend(raw(0, 0, 3, b"body"));
    // A stream error of ours, before its request was polled, withdraws it the same way.
    bytes.extend(raw(8, 0, 3, b"\0\0\0\0"));
    bytes.extend(peer.headers_frame(5, &GET, true));
    peer.send(&bytes);
    assert_eq!(
        peer.events(),
        [Event::Request {
            stream: StreamId(5),
            head: RequestHead {
                method: "GET".into(),
                scheme: "https".into(),
                authority: Some("localhost".into()),
                path: "/".into(),
                fields: vec![],
            },
            end_stream: true,
        }]
    );
    peer.stream_error(3, ErrorCode::PROTOCOL_ERROR);
    // What was withdrawn is remembered as reset: later frames get their usual answers.
    peer.send(&raw(0, 0, 1, b"late"));
    peer.stream_error(1, ErrorCode::STREAM_CLOSED);
}

#[test]
fn rapid_reset_is_stopped() {
    // HEADERS then RST_STREAM, over and over, in one write.
    let mut peer = Peer::new();
    let mut id = 1;
    let mut attack = Vec::new();
    for _ in 0..=RESET_ALLOWANCE {
        attack.extend(peer.headers_frame(id, &GET, true));
        attack.extend(raw(3, 0, id, b"\0\0\0\x08"));
        id += 2;
    }
    peer.send(&attack);
    assert!(
        request_stream(&peer.events()).is_empty(),
        "no work started for any of them"
    );
    peer.connection_error(ErrorCode::ENHANCE_YOUR_CALM);

    // The same, each reset after the caller took the request, with a real request between
    // (half the streams reset): past the allowance, still more than a quarter.
    let mut peer = Peer::new();
    let mut id = 1;
    for round in 0.. {
        peer.get(id, true);
        peer.events();
        peer.conn
            .send_headers(StreamId(id), 204, &[], true)
            .unwrap();
        peer.get(id + 2, true);
        assert_eq!(request_stream(&peer.events()), [StreamId(id + 2)]);
        peer.send(&raw(3, 0, id + 2, b"\0\0\0\x08"));
        if peer.result.is_err() {
            assert_eq!(round, RESET_ALLOWANCE, "the first reset past the allowance");
            break;
        }
        id += 4;
    }
    peer.connection_error(ErrorCode::ENHANCE_YOUR_CALM);

    // A client that cancels one request in five is not an attacker.
    let mut peer = Peer::new();
    let mut id = 1;
    for round in 0..1000 {
        peer.get(id, true);
        peer.events();
        if round % 5 == 0 {
            peer.send(&raw(3, 0, id, b"\0\0\0\x08"));
        } else {
            peer.conn
                .send_headers(StreamId(id), 204, &[], true)
                .unwrap();
        }
        id += 2;
        assert_eq!(peer.result, Ok(()));
    }
}

#[test]
fn continuation_flood_is_bounded() {
    let mut peer = Peer::new();
    let block = peer.block(&GET);
    peer.send(&raw(1, 0, 1, &block));
    let filler = raw(9, 0, 1, &[0x40; 16_384]);
    let mut buffered = block.len();
    while buffered + 16_384 <= MAX_HEADER_BLOCK {
        peer.send(&filler);
        assert_eq!(peer.result, Ok(()));
        buffered += 16_384;
    }
    // The frame that would take the block past the bound.
    peer.send(&filler);
    peer.connection_error(ErrorCode::ENHANCE_YOUR_CALM);

    let mut peer = Peer::new();
    peer.send(&raw(1, 0, 1, &block));
    let mut empties = Vec::new();
    for _ in 0..=MAX_EMPTY_FRAMES {
        empties.extend(raw(9, 0, 1, b""));
    }
    peer.send(&empties);
    peer.connection_error(ErrorCode::ENHANCE_YOUR_CALM);
}

/// An HPACK integer with a `prefix`-bit prefix (RFC 7541 §5.1).
fn hpack_int(prefix: u32, mut value: usize, out: &mut Vec<u8>) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(value as u8);
        return;
    }
    out.push(max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

#[test]
fn an_hpack_bomb_gets_431_and_the_connection_goes_on() {
    let mut peer = Peer::with(Settings {
        max_header_list_size: 8_192,
        ..Settings::default()
    });
    // GET https / from the static table, then "x-bomb: b...b" (4,000 bytes) stored in the
    // dynamic table (a literal with incremental indexing, RFC 7541 §6.2.1).
    let mut first = b"\x82\x87\x84\x40".to_vec();
    hpack_int(7, 6, &mut first);
    first.extend_from_slice(b"x-bomb");
    hpack_int(7, 4_000, &mut first);
    first.extend_from_slice(&[b'b'; 4_000]);
    peer.send(&raw(1, flags::END_HEADERS | flags::END_STREAM, 1, &first));
    assert_eq!(request_stream(&peer.events()), [StreamId(1)]);
    // Then a block of 1,000 one-byte references to that entry (index 62): 1 KB on the wire,
    // 4 MB decoded.
    let mut bomb = b"\x82\x87\x84".to_vec();
    bomb.extend_from_slice(&[0xbe; 1_000]);
    peer.send(&raw(1, flags::END_HEADERS, 3, &bomb));
    assert_eq!(peer.result, Ok(()));
    let frames = peer.frames();
    assert_eq!(
        peer.response(&frames, 3),
        [(":status".to_string(), "431".to_string())]
    );
    let reset = |o: &Out| matches!(o.frame(), Frame::RstStream(r) if r.stream == StreamId(3) && r.code == ErrorCode::NO_ERROR);
    assert!(
        frames.iter().any(reset),
        "the body is not wanted: {frames:?}"
    );
    assert!(request_stream(&peer.events()).is_empty());
    // The table is still in sync: index 62 is still x-bomb.
    peer.send(&raw(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        5,
        b"\x82\x87\x84\xbe",
    ));
    let events = peer.events();
    let Some(Event::Request { head, .. }) = events.first() else {
        panic!("{events:?}")
    };
    assert_eq!(head.fields, [("x-bomb".to_string(), vec![b'b'; 4_000])]);
}

#[test]
fn ping_and_settings_floods_from_a_peer_that_does_not_read() {
    let mut peer = Peer::new();
    let mut flood = Vec::new();
    for _ in 0..MAX_PENDING_CONTROL / 2 {
        flood.extend(raw(6, 0, 0, b"12345678"));
        flood.extend(raw(4, 0, 0, b""));
    }
    peer.send(&flood);
    assert_eq!(
        peer.result,
        Ok(()),
        "{MAX_PENDING_CONTROL} replies are allowed"
    );
    // The socket takes half of the output: those replies are no longer ours to count.
    let half = peer.conn.output().len() / 2;
    peer.conn.output().drain(..half);
    peer.send(&flood[..flood.len() / 2]);
    assert_eq!(peer.result, Ok(()));
    peer.send(&raw(6, 0, 0, b"12345678"));
    peer.connection_error(ErrorCode::ENHANCE_YOUR_CALM);
}

#[test]
fn empty_data_flood() {
    let mut peer = Peer::new();
    peer.get(1, false);
    let mut flood = Vec::new();
    for _ in 0..MAX_EMPTY_FRAMES {
        flood.extend(raw(0, 0, 1, b""));
    }
    peer.send(&flood);
    assert_eq!(peer.result, Ok(()));
    peer.send(&raw(0, 0, 1, b""));
    peer.connection_error(ErrorCode::ENHANCE_YOUR_CALM);
}

#[test]
fn the_last_stream_id() {
    let mut peer = Peer::new();
    peer.get(StreamId::MAX.0, true);
    assert_eq!(request_stream(&peer.events()), [StreamId::MAX]);
    let frames = peer.frames();
    let Frame::GoAway(goaway) = frames[0].frame() else {
        panic!("{frames:?}")
    };
    assert_eq!(
        (goaway.last_stream, goaway.code),
        (StreamId::MAX, ErrorCode::NO_ERROR)
    );
    // Nothing can follow it: any new id is smaller.
    peer.get(1, true);
    peer.connection_error(ErrorCode::PROTOCOL_ERROR);
}
