//! The HTTP/2 framing layer (RFC 9113 §4 and §6): a 9-byte header, then a payload whose
//! meaning depends on the frame's type.
//!
//! This module only knows what one frame can say about itself: its size, its flags, whether it
//! may be on stream 0. What a frame means for a stream (is that stream open? is this window
//! large enough?) is the connection's business (`connection.rs`). Parsing borrows from the
//! input buffer, so a DATA frame's bytes are never copied to be read.

mod data;
mod goaway;
mod headers;
mod ping;
mod priority;
mod rst_stream;
mod settings;
mod window_update;

pub use data::Data;
pub use goaway::GoAway;
pub use headers::{Continuation, Headers, PushPromise};
pub use ping::Ping;
pub use priority::{Priority, PrioritySpec};
pub use rst_stream::RstStream;
pub use settings::{SettingsFrame, SETTINGS_IDS};
pub use window_update::WindowUpdate;

use std::fmt;

/// Every frame starts with this many bytes: length (24 bits), type, flags, stream id (31 bits).
pub const HEADER_LEN: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE's initial value and the smallest a peer may announce.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// The largest SETTINGS_MAX_FRAME_SIZE (2^24-1: the length field has 24 bits).
pub const MAX_MAX_FRAME_SIZE: u32 = 16_777_215;
/// The largest flow-control window, and the largest stream id: 2^31-1.
pub const MAX_WINDOW: u32 = (1 << 31) - 1;
/// The initial window of the connection and of every stream (RFC 9113 §6.9.2).
pub const DEFAULT_WINDOW: u32 = 65_535;

/// A stream identifier (31 bits; the reserved top bit of the wire field is dropped on reading).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u32);

impl StreamId {
    /// Stream 0: frames about the whole connection (SETTINGS, PING, GOAWAY, some WINDOW_UPDATEs).
    pub const CONNECTION: StreamId = StreamId(0);
    /// The last identifier a peer can ever use (2^31-1).
    pub const MAX: StreamId = StreamId(MAX_WINDOW);

    pub fn is_connection(self) -> bool {
        self.0 == 0
    }

    /// Clients open odd streams, servers even ones (RFC 9113 §5.1.1).
    pub fn is_client_initiated(self) -> bool {
        !self.0.is_multiple_of(2)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The ten frame types of RFC 9113 §6, and the rest, which are ignored (§4.1, §5.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Data,
    Headers,
    Priority,
    RstStream,
    Settings,
    PushPromise,
    Ping,
    GoAway,
    WindowUpdate,
    Continuation,
    Unknown(u8),
}

impl Kind {
    pub fn from_byte(byte: u8) -> Kind {
        match byte {
            0x0 => Kind::Data,
            0x1 => Kind::Headers,
            0x2 => Kind::Priority,
            0x3 => Kind::RstStream,
            0x4 => Kind::Settings,
            0x5 => Kind::PushPromise,
            0x6 => Kind::Ping,
            0x7 => Kind::GoAway,
            0x8 => Kind::WindowUpdate,
            0x9 => Kind::Continuation,
            other => Kind::Unknown(other),
        }
    }

    pub fn to_byte(self) -> u8 {
        match self {
            Kind::Data => 0x0,
            Kind::Headers => 0x1,
            Kind::Priority => 0x2,
            Kind::RstStream => 0x3,
            Kind::Settings => 0x4,
            Kind::PushPromise => 0x5,
            Kind::Ping => 0x6,
            Kind::GoAway => 0x7,
            Kind::WindowUpdate => 0x8,
            Kind::Continuation => 0x9,
            Kind::Unknown(byte) => byte,
        }
    }
}

/// The flag bits (RFC 9113 §6). One bit means different things on different types (0x1 is
/// END_STREAM on DATA and HEADERS, ACK on SETTINGS and PING); flags a type does not define are
/// ignored, as §4.1 requires.
pub mod flags {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

// ANCHOR: head
/// The 9-byte frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The payload's length (24 bits), not counting these 9 bytes.
    pub length: u32,
    pub kind: Kind,
    pub flags: u8,
    pub stream: StreamId,
}

impl Head {
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Head {
        let length = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
        // The top bit is reserved: "MUST be ignored when receiving" (§4.1).
        let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & MAX_WINDOW;
        Head {
            length,
            kind: Kind::from_byte(bytes[3]),
            flags: bytes[4],
            stream: StreamId(stream),
        }
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        debug_assert!(self.length <= MAX_MAX_FRAME_SIZE);
        out.extend_from_slice(&self.length.to_be_bytes()[1..]);
        out.push(self.kind.to_byte());
        out.push(self.flags);
        out.extend_from_slice(&(self.stream.0 & MAX_WINDOW).to_be_bytes());
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}
// ANCHOR_END: head

/// An error code of RFC 9113 §7, carried by RST_STREAM and GOAWAY. A struct and not an enum:
/// codes we do not know must be kept as they are, not treated as errors (§7).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0);
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x1);
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(0x2);
    pub const FLOW_CONTROL_ERROR: ErrorCode = ErrorCode(0x3);
    pub const SETTINGS_TIMEOUT: ErrorCode = ErrorCode(0x4);
    pub const STREAM_CLOSED: ErrorCode = ErrorCode(0x5);
    pub const FRAME_SIZE_ERROR: ErrorCode = ErrorCode(0x6);
    pub const REFUSED_STREAM: ErrorCode = ErrorCode(0x7);
    pub const CANCEL: ErrorCode = ErrorCode(0x8);
    pub const COMPRESSION_ERROR: ErrorCode = ErrorCode(0x9);
    pub const CONNECT_ERROR: ErrorCode = ErrorCode(0xa);
    pub const ENHANCE_YOUR_CALM: ErrorCode = ErrorCode(0xb);
    pub const INADEQUATE_SECURITY: ErrorCode = ErrorCode(0xc);
    pub const HTTP_1_1_REQUIRED: ErrorCode = ErrorCode(0xd);

    /// The RFC's name, for logs and test failures.
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        NAMES.get(self.0 as usize).copied()
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "ErrorCode({:#x})", self.0),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What a malformed frame costs (RFC 9113 §5.4): the whole connection, or one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// GOAWAY with this code, then close.
    Connection(ErrorCode, &'static str),
    /// RST_STREAM on this stream with this code; the connection goes on.
    Stream(StreamId, ErrorCode, &'static str),
}

/// A shorthand for the many connection errors of the parsers.
pub(crate) fn conn_err<T>(code: ErrorCode, why: &'static str) -> Result<T, FrameError> {
    Err(FrameError::Connection(code, why))
}

/// One parsed frame, borrowing its variable parts from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Data(Data<'a>),
    Headers(Headers<'a>),
    Priority(Priority),
    RstStream(RstStream),
    Settings(SettingsFrame),
    PushPromise(PushPromise<'a>),
    Ping(Ping),
    GoAway(GoAway<'a>),
    WindowUpdate(WindowUpdate),
    Continuation(Continuation<'a>),
    /// A type this implementation does not know: ignored (§5.5), except inside a header block.
    Unknown {
        kind: u8,
        stream: StreamId,
    },
}

impl<'a> Frame<'a> {
    /// Parses one frame's payload (`payload.len() == head.length`). The size check against
    /// SETTINGS_MAX_FRAME_SIZE comes before, on the head alone, so that an oversized frame is
    /// refused before its payload is buffered.
    pub fn parse(head: &Head, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
        debug_assert_eq!(payload.len(), head.length as usize);
        Ok(match head.kind {
            Kind::Data => Frame::Data(Data::parse(head, payload)?),
            Kind::Headers => Frame::Headers(Headers::parse(head, payload)?),
            Kind::Priority => Frame::Priority(Priority::parse(head, payload)?),
            Kind::RstStream => Frame::RstStream(RstStream::parse(head, payload)?),
            Kind::Settings => Frame::Settings(SettingsFrame::parse(head, payload)?),
            Kind::PushPromise => Frame::PushPromise(PushPromise::parse(head, payload)?),
            Kind::Ping => Frame::Ping(Ping::parse(head, payload)?),
            Kind::GoAway => Frame::GoAway(GoAway::parse(head, payload)?),
            Kind::WindowUpdate => Frame::WindowUpdate(WindowUpdate::parse(head, payload)?),
            Kind::Continuation => Frame::Continuation(Continuation::parse(head, payload)?),
            Kind::Unknown(kind) => Frame::Unknown {
                kind,
                stream: head.stream,
            },
        })
    }

    /// Appends the frame, header and payload, to `out` (the inverse of `parse`).
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Data(f) => f.write(out),
            Frame::Headers(f) => f.write(out),
            Frame::Priority(f) => f.write(out),
            Frame::RstStream(f) => f.write(out),
            Frame::Settings(f) => f.write(out),
            Frame::PushPromise(f) => f.write(out),
            Frame::Ping(f) => f.write(out),
            Frame::GoAway(f) => f.write(out),
            Frame::WindowUpdate(f) => f.write(out),
            Frame::Continuation(f) => f.write(out),
            Frame::Unknown { kind, stream } => Head {
                length: 0,
                kind: Kind::Unknown(*kind),
                flags: 0,
                stream: *stream,
            }
            .write(out),
        }
    }
}

// ANCHOR: padding
/// Strips the padding of a PADDED frame (DATA, HEADERS, PUSH_PROMISE: RFC 9113 §6.1): the first
/// byte is the pad length, the padding is at the end. `Ok((Some(pad_length), rest))` for a padded frame, where `rest`
/// is the payload without the pad-length byte and without the padding. A pad length that
/// leaves no room (>= the payload's length, counting `fixed`, the bytes of fixed fields that
/// follow it: 5 for HEADERS' priority, 4 for PUSH_PROMISE's id) is PROTOCOL_ERROR (§6.1, §6.2).
pub(crate) fn unpad<'a>(
    head: &Head,
    payload: &'a [u8],
    fixed: usize,
) -> Result<(Option<u8>, &'a [u8]), FrameError> {
    if !head.has(flags::PADDED) {
        return Ok((None, payload));
    }
    let Some((&pad, rest)) = payload.split_first() else {
        return conn_err(
            ErrorCode::FRAME_SIZE_ERROR,
            "PADDED frame without its pad length",
        );
    };
    if pad as usize + fixed > rest.len() {
        return conn_err(
            ErrorCode::PROTOCOL_ERROR,
            "pad length at least the frame's payload",
        );
    }
    Ok((Some(pad), &rest[..rest.len() - pad as usize]))
}
// ANCHOR_END: padding

/// Writes a padded payload's pieces: the pad length, `fixed`, the body, then `pad` zero bytes.
pub(crate) fn write_padded(out: &mut Vec<u8>, pad: Option<u8>, fixed: &[u8], body: &[u8]) {
    if let Some(pad) = pad {
        out.push(pad);
    }
    out.extend_from_slice(fixed);
    out.extend_from_slice(body);
    out.resize(out.len() + pad.unwrap_or(0) as usize, 0);
}

/// The payload length of a padded frame: pad length byte, fixed fields, body, padding.
pub(crate) fn padded_len(pad: Option<u8>, fixed: usize, body: usize) -> u32 {
    let padding = pad.map_or(0, |p| 1 + p as usize);
    (padding + fixed + body) as u32
}

#[cfg(test)]
mod tests;
