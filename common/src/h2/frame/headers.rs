//! The frames that carry a header block (RFC 9113 §4.3, §6.2, §6.6, §6.10): HEADERS opens a
//! stream (or carries trailers), PUSH_PROMISE reserves one (servers only: a server refuses
//! it), and CONTINUATION carries the rest of a block too big for one frame.
//!
//! A header block is only meaningful whole: HPACK's dynamic table changes as it is decoded, so
//! the connection joins the fragments and decodes them once END_HEADERS arrives.

use super::{conn_err, flags, padded_len, unpad, write_padded, ErrorCode, FrameError, Head, Kind};
use super::{PrioritySpec, StreamId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headers<'a> {
    pub stream: StreamId,
    /// A piece of an HPACK-encoded header block.
    pub fragment: &'a [u8],
    pub end_stream: bool,
    pub end_headers: bool,
    /// The PRIORITY flag's fields: parsed (a stream depending on itself is still an error,
    /// RFC 9113 §5.3.1) but otherwise ignored, as §5.3.2 deprecates the scheme.
    pub priority: Option<PrioritySpec>,
    pub pad: Option<u8>,
}

impl<'a> Headers<'a> {
    pub fn parse(head: &Head, payload: &'a [u8]) -> Result<Headers<'a>, FrameError> {
        if head.stream.is_connection() {
            return conn_err(ErrorCode::PROTOCOL_ERROR, "HEADERS on stream 0");
        }
        let has_priority = head.has(flags::PRIORITY);
        let fixed = if has_priority { 5 } else { 0 };
        if payload.len() < fixed {
            return conn_err(
                ErrorCode::FRAME_SIZE_ERROR,
                "HEADERS too short for its priority",
            );
        }
        let (pad, rest) = unpad(head, payload, fixed)?;
        let (priority, fragment) = if has_priority {
            let (spec, fragment) = rest.split_at(5);
            (Some(PrioritySpec::parse(spec)), fragment)
        } else {
            (None, rest)
        };
        Ok(Headers {
            stream: head.stream,
            fragment,
            end_stream: head.has(flags::END_STREAM),
            end_headers: head.has(flags::END_HEADERS),
            priority,
            pad,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        let mut flag_bits = 0;
        if self.end_stream {
            flag_bits |= flags::END_STREAM;
        }
        if self.end_headers {
            flag_bits |= flags::END_HEADERS;
        }
        if self.pad.is_some() {
            flag_bits |= flags::PADDED;
        }
        let mut fixed = Vec::new();
        if let Some(spec) = self.priority {
            flag_bits |= flags::PRIORITY;
            spec.write(&mut fixed);
        }
        Head {
            length: padded_len(self.pad, fixed.len(), self.fragment.len()),
            kind: Kind::Headers,
            flags: flag_bits,
            stream: self.stream,
        }
        .write(out);
        write_padded(out, self.pad, &fixed, self.fragment);
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushPromise<'a> {
    pub stream: StreamId,
    pub promised: StreamId,
    pub fragment: &'a [u8],
    pub end_headers: bool,
    pub pad: Option<u8>,
}

impl<'a> PushPromise<'a> {
    pub fn parse(head: &Head, payload: &'a [u8]) -> Result<PushPromise<'a>, FrameError> {
        if head.stream.is_connection() {
            return conn_err(ErrorCode::PROTOCOL_ERROR, "PUSH_PROMISE on stream 0");
        }
        if payload.len() < 4 {
            return conn_err(
                ErrorCode::FRAME_SIZE_ERROR,
                "PUSH_PROMISE without its stream id",
            );
        }
        let (pad, rest) = unpad(head, payload, 4)?;
        let (id, fragment) = rest.split_at(4);
        let promised = u32::from_be_bytes([id[0], id[1], id[2], id[3]]) & super::MAX_WINDOW;
        Ok(PushPromise {
            stream: head.stream,
            promised: StreamId(promised),
            fragment,
            end_headers: head.has(flags::END_HEADERS),
            pad,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        let mut flag_bits = if self.end_headers {
            flags::END_HEADERS
        } else {
            0
        };
        if self.pad.is_some() {
            flag_bits |= flags::PADDED;
        }
        Head {
            length: padded_len(self.pad, 4, self.fragment.len()),
            kind: Kind::PushPromise,
            flags: flag_bits,
            stream: self.stream,
        }
        .write(out);
        write_padded(out, self.pad, &self.promised.0.to_be_bytes(), self.fragment);
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Continuation<'a> {
    pub stream: StreamId,
    pub fragment: &'a [u8],
    pub end_headers: bool,
}

impl<'a> Continuation<'a> {
    pub fn parse(head: &Head, payload: &'a [u8]) -> Result<Continuation<'a>, FrameError> {
        if head.stream.is_connection() {
            return conn_err(ErrorCode::PROTOCOL_ERROR, "CONTINUATION on stream 0");
        }
        Ok(Continuation {
            stream: head.stream,
            fragment: payload,
            end_headers: head.has(flags::END_HEADERS),
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        Head {
            length: self.fragment.len() as u32,
            kind: Kind::Continuation,
            flags: if self.end_headers {
                flags::END_HEADERS
            } else {
                0
            },
            stream: self.stream,
        }
        .write(out);
        out.extend_from_slice(self.fragment);
    }
}
