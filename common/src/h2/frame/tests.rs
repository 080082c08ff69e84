//! The frame layer, byte for byte: every type written then parsed back, and every malformed
//! frame mapped to its RFC 9113 error (connection or stream, and the code).

use super::*;

/// Parses one whole frame (header and payload) from `bytes`.
fn parse(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    let head = Head::parse(bytes[..HEADER_LEN].try_into().unwrap());
    assert_eq!(
        head.length as usize,
        bytes.len() - HEADER_LEN,
        "test frame's length"
    );
    Frame::parse(&head, &bytes[HEADER_LEN..])
}

/// A frame from its parts: the header written by hand, so tests can say anything.
fn raw(kind: u8, flag_bits: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.push(kind);
    out.push(flag_bits);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn round_trip(frame: Frame<'_>) {
    let mut out = Vec::new();
    frame.write(&mut out);
    assert_eq!(parse(&out), Ok(frame));
}

fn conn(code: ErrorCode, bytes: &[u8]) {
    match parse(bytes) {
        Err(FrameError::Connection(got, _)) => assert_eq!(got, code),
        other => panic!("expected a connection error {code:?}, got {other:?}"),
    }
}

fn stream(code: ErrorCode, bytes: &[u8]) {
    match parse(bytes) {
        Err(FrameError::Stream(_, got, _)) => assert_eq!(got, code),
        other => panic!("expected a stream error {code:?}, got {other:?}"),
    }
}

#[test]
fn head_is_nine_bytes_and_ignores_the_reserved_bit() {
    let head = Head::parse(&[0, 0x40, 0x01, 0x0, 0x9, 0x80, 0, 0, 3]);
    assert_eq!(head.length, 0x4001);
    assert_eq!(head.kind, Kind::Data);
    assert_eq!(head.flags, 0x9);
    assert_eq!(head.stream, StreamId(3));
    let mut out = Vec::new();
    head.write(&mut out);
    assert_eq!(out, [0, 0x40, 0x01, 0x0, 0x9, 0, 0, 0, 3]);
}

#[test]
fn every_type_round_trips() {
    round_trip(Frame::Data(Data {
        stream: StreamId(1),
        data: b"hello",
        end_stream: true,
        pad: None,
    }));
    round_trip(Frame::Data(Data {
        stream: StreamId(1),
        data: b"",
        end_stream: false,
        pad: Some(7),
    }));
    round_trip(Frame::Headers(Headers {
        stream: StreamId(3),
        fragment: b"\x82\x84",
        end_stream: false,
        end_headers: true,
        priority: Some(PrioritySpec {
            exclusive: true,
            depends_on: StreamId(1),
            weight: 15,
        }),
        pad: Some(3),
    }));
    round_trip(Frame::Headers(Headers {
        stream: StreamId(5),
        fragment: b"\x82",
        end_stream: true,
        end_headers: false,
        priority: None,
        pad: None,
    }));
    round_trip(Frame::Priority(Priority {
        stream: StreamId(7),
        spec: PrioritySpec {
            exclusive: false,
            depends_on: StreamId(0),
            weight: 255,
        },
    }));
    round_trip(Frame::RstStream(RstStream {
        stream: StreamId(1),
        code: ErrorCode::CANCEL,
    }));
    round_trip(Frame::Settings(SettingsFrame::ack()));
    round_trip(Frame::Settings(SettingsFrame {
        header_table_size: Some(4096),
        enable_push: Some(0),
        max_concurrent_streams: Some(100),
        initial_window_size: Some(MAX_WINDOW),
        max_frame_size: Some(MAX_MAX_FRAME_SIZE),
        max_header_list_size: Some(16_384),
        ack: false,
    }));
    round_trip(Frame::PushPromise(PushPromise {
        stream: StreamId(1),
        promised: StreamId(2),
        fragment: b"\x82",
        end_headers: true,
        pad: Some(2),
    }));
    round_trip(Frame::Ping(Ping {
        ack: true,
        payload: *b"12345678",
    }));
    round_trip(Frame::GoAway(GoAway {
        last_stream: StreamId(9),
        code: ErrorCode::ENHANCE_YOUR_CALM,
        debug: b"rapid reset",
    }));
    round_trip(Frame::WindowUpdate(WindowUpdate {
        stream: StreamId(0),
        increment: MAX_WINDOW,
    }));
    round_trip(Frame::Continuation(Continuation {
        stream: StreamId(3),
        fragment: b"\x84",
        end_headers: true,
    }));
    round_trip(Frame::Unknown {
        kind: 0xfa,
        stream: StreamId(1),
    });
}

#[test]
fn a_data_frame_is_written_as_the_rfc_draws_it() {
    let mut out = Vec::new();
    Data {
        stream: StreamId(1),
        data: b"hi",
        end_stream: true,
        pad: Some(1),
    }
    .write(&mut out);
    assert_eq!(out, b"\0\0\x04\x00\x09\0\0\0\x01\x01hi\0");
    let Ok(Frame::Data(data)) = parse(&out) else {
        panic!()
    };
    assert_eq!(data.flow_len(), 4, "padding counts against the window");
}

#[test]
fn unknown_flags_and_types_are_ignored() {
    // PING with every flag but ACK set: still a PING, not an ACK.
    let Ok(Frame::Ping(ping)) = parse(&raw(6, 0xfe, 0, b"abcdefgh")) else {
        panic!()
    };
    assert!(!ping.ack);
    assert_eq!(
        parse(&raw(0x20, 0xff, 1, b"anything")),
        Ok(Frame::Unknown {
            kind: 0x20,
            stream: StreamId(1)
        })
    );
}

#[test]
fn padding_that_leaves_no_room_is_protocol_error() {
    // Pad length 5 in a 5-byte payload (pad-length byte + 4): one byte too many.
    conn(
        ErrorCode::PROTOCOL_ERROR,
        &raw(0, flags::PADDED, 1, b"\x05abcd"),
    );
    // Exactly all of the rest is padding: allowed (an empty body).
    let all_padding = raw(0, flags::PADDED, 1, b"\x04abcd");
    let Ok(Frame::Data(data)) = parse(&all_padding) else {
        panic!()
    };
    assert_eq!(data.data, b"");
    conn(
        ErrorCode::PROTOCOL_ERROR,
        &raw(1, flags::PADDED | flags::END_HEADERS, 1, b"\x02\x82"),
    );
    // HEADERS' padding may not eat into its priority fields.
    conn(
        ErrorCode::PROTOCOL_ERROR,
        &raw(1, flags::PADDED | flags::PRIORITY, 1, b"\x01\0\0\0\0\x10"),
    );
    conn(
        ErrorCode::PROTOCOL_ERROR,
        &raw(5, flags::PADDED, 1, b"\x04\0\0\0\x02"),
    );
    conn(ErrorCode::FRAME_SIZE_ERROR, &raw(0, flags::PADDED, 1, b""));
}

#[test]
fn frames_on_the_wrong_stream() {
    for kind in [0u8, 1, 2, 3, 5, 9] {
        // DATA, HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE, CONTINUATION need a stream.
        let payload: &[u8] = match kind {
            2 => b"\0\0\0\x01\x10",
            3 | 5 => b"\0\0\0\x02",
            _ => b"",
        };
        conn(ErrorCode::PROTOCOL_ERROR, &raw(kind, 0, 0, payload));
    }
    // SETTINGS, PING, GOAWAY are about the connection only.
    conn(ErrorCode::PROTOCOL_ERROR, &raw(4, 0, 1, b""));
    conn(ErrorCode::PROTOCOL_ERROR, &raw(6, 0, 1, b"abcdefgh"));
    conn(
        ErrorCode::PROTOCOL_ERROR,
        &raw(7, 0, 1, b"\0\0\0\0\0\0\0\0"),
    );
}

#[test]
fn fixed_sizes() {
    conn(ErrorCode::FRAME_SIZE_ERROR, &raw(6, 0, 0, b"1234567"));
    conn(ErrorCode::FRAME_SIZE_ERROR, &raw(6, 0, 0, b"123456789"));
    conn(ErrorCode::FRAME_SIZE_ERROR, &raw(8, 0, 0, b"\0\0\x01"));
    conn(ErrorCode::FRAME_SIZE_ERROR, &raw(8, 0, 1, b"\0\0\0\0\x01"));
    conn(ErrorCode::FRAME_SIZE_ERROR, &raw(3, 0, 1, b"\0\0\0"));
    // PRIORITY's wrong size concerns one stream only (§6.3).
    stream(ErrorCode::FRAME_SIZE_ERROR, &raw(2, 0, 1, b"\0\0\0\0"));
    conn(ErrorCode::FRAME_SIZE_ERROR, &raw(4, 0, 0, b"\0\x01\0\0"));
    conn(
        ErrorCode::FRAME_SIZE_ERROR,
        &raw(4, flags::ACK, 0, b"\0\x01\0\0\0\0"),
    );
    conn(
        ErrorCode::FRAME_SIZE_ERROR,
        &raw(7, 0, 0, b"\0\0\0\0\0\0\0"),
    );
    conn(
        ErrorCode::FRAME_SIZE_ERROR,
        &raw(1, flags::PRIORITY, 1, b"\0\0\0"),
    );
    conn(ErrorCode::FRAME_SIZE_ERROR, &raw(5, 0, 1, b"\0\0\x02"));
}

#[test]
fn a_stream_that_depends_on_itself() {
    stream(ErrorCode::PROTOCOL_ERROR, &raw(2, 0, 3, b"\0\0\0\x03\x10"));
    // The exclusive bit does not change which stream it is.
    stream(
        ErrorCode::PROTOCOL_ERROR,
        &raw(2, 0, 3, b"\x80\0\0\x03\x10"),
    );
}

#[test]
fn window_update_of_zero() {
    conn(ErrorCode::PROTOCOL_ERROR, &raw(8, 0, 0, b"\0\0\0\0"));
    stream(ErrorCode::PROTOCOL_ERROR, &raw(8, 0, 1, b"\0\0\0\0"));
    // The reserved bit alone is still an increment of 0.
    stream(ErrorCode::PROTOCOL_ERROR, &raw(8, 0, 1, b"\x80\0\0\0"));
}

#[test]
fn settings_values_are_checked() {
    let setting = |id: u16, value: u32| {
        let mut payload = id.to_be_bytes().to_vec();
        payload.extend_from_slice(&value.to_be_bytes());
        raw(4, 0, 0, &payload)
    };
    conn(ErrorCode::PROTOCOL_ERROR, &setting(2, 2));
    conn(ErrorCode::FLOW_CONTROL_ERROR, &setting(4, 1 << 31));
    conn(ErrorCode::PROTOCOL_ERROR, &setting(5, 16_383));
    conn(ErrorCode::PROTOCOL_ERROR, &setting(5, 1 << 24));
    let Ok(Frame::Settings(ok)) = parse(&setting(4, MAX_WINDOW)) else {
        panic!()
    };
    assert_eq!(ok.initial_window_size, Some(MAX_WINDOW));
    // Unknown ids are ignored; a repeated id: the last value wins.
    let mut payload = setting(0xff, 7)[HEADER_LEN..].to_vec();
    payload.extend_from_slice(&setting(3, 1)[HEADER_LEN..]);
    payload.extend_from_slice(&setting(3, 2)[HEADER_LEN..]);
    let Ok(Frame::Settings(frame)) = parse(&raw(4, 0, 0, &payload)) else {
        panic!()
    };
    assert_eq!(
        frame,
        SettingsFrame {
            max_concurrent_streams: Some(2),
            ..SettingsFrame::default()
        }
    );
}

#[test]
fn error_codes_have_names_and_unknown_ones_are_kept() {
    assert_eq!(
        format!("{:?}", ErrorCode::ENHANCE_YOUR_CALM),
        "ENHANCE_YOUR_CALM"
    );
    assert_eq!(format!("{:?}", ErrorCode(0x42)), "ErrorCode(0x42)");
    let Ok(Frame::RstStream(rst)) = parse(&raw(3, 0, 1, b"\0\0\0\x42")) else {
        panic!()
    };
    assert_eq!(rst.code, ErrorCode(0x42));
}
