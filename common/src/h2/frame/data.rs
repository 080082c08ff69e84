//! DATA (RFC 9113 §6.1): a piece of a message body on one stream, flow-controlled.
//!
//! Padding hides a body's true length from an observer; it counts against the flow-control
//! window like the body does, which is why `flow_len` is the frame's whole payload.

use super::StreamId;
use super::{conn_err, flags, padded_len, unpad, write_padded, ErrorCode, FrameError, Head, Kind};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Data<'a> {
    pub stream: StreamId,
    pub data: &'a [u8],
    pub end_stream: bool,
    /// The pad length, for a PADDED frame.
    pub pad: Option<u8>,
}

impl<'a> Data<'a> {
    pub fn parse(head: &Head, payload: &'a [u8]) -> Result<Data<'a>, FrameError> {
        if head.stream.is_connection() {
            return conn_err(ErrorCode::PROTOCOL_ERROR, "DATA on stream 0");
        }
        let (pad, data) = unpad(head, payload, 0)?;
        Ok(Data {
            stream: head.stream,
            data,
            end_stream: head.has(flags::END_STREAM),
            pad,
        })
    }

    /// What the frame costs in the flow-control windows: its whole payload, padding included.
    pub fn flow_len(&self) -> usize {
        padded_len(self.pad, 0, self.data.len()) as usize
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        let mut flag_bits = if self.end_stream {
            flags::END_STREAM
        } else {
            0
        };
        if self.pad.is_some() {
            flag_bits |= flags::PADDED;
        }
        Head {
            length: padded_len(self.pad, 0, self.data.len()),
            kind: Kind::Data,
            flags: flag_bits,
            stream: self.stream,
        }
        .write(out);
        write_padded(out, self.pad, &[], self.data);
    }
}
