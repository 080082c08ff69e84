//! PRIORITY (RFC 9113 §6.3) and the same five bytes inside HEADERS.
//!
//! RFC 7540's dependency tree was deprecated by RFC 9113 §5.3.2: few clients sent it
//! consistently and few servers honoured it. So we parse the fields (their size is still
//! checked, and a stream may still not depend on itself, §5.3.1) and then ignore them; a
//! client that wants priorities uses RFC 9218's `priority` header, which is a plain field.

use super::{conn_err, ErrorCode, FrameError, Head, Kind, StreamId, MAX_WINDOW};

/// The priority fields: exclusive bit, the stream depended on, a weight (1-256, sent minus 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrioritySpec {
    pub exclusive: bool,
    pub depends_on: StreamId,
    pub weight: u8,
}

impl PrioritySpec {
    /// `bytes` is exactly 5 bytes long (the callers check).
    pub(crate) fn parse(bytes: &[u8]) -> PrioritySpec {
        let word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        PrioritySpec {
            exclusive: word & !MAX_WINDOW != 0,
            depends_on: StreamId(word & MAX_WINDOW),
            weight: bytes[4],
        }
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        let exclusive = if self.exclusive { 1 << 31 } else { 0 };
        out.extend_from_slice(&(self.depends_on.0 | exclusive).to_be_bytes());
        out.push(self.weight);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    pub stream: StreamId,
    pub spec: PrioritySpec,
}

impl Priority {
    pub fn parse(head: &Head, payload: &[u8]) -> Result<Priority, FrameError> {
        if head.stream.is_connection() {
            return conn_err(ErrorCode::PROTOCOL_ERROR, "PRIORITY on stream 0");
        }
        if payload.len() != 5 {
            // Only this stream's priority is in doubt: a stream error (§6.3).
            return Err(FrameError::Stream(
                head.stream,
                ErrorCode::FRAME_SIZE_ERROR,
                "PRIORITY not 5 bytes long",
            ));
        }
        let spec = PrioritySpec::parse(payload);
        if spec.depends_on == head.stream {
            return Err(FrameError::Stream(
                head.stream,
                ErrorCode::PROTOCOL_ERROR,
                "stream depends on itself",
            ));
        }
        Ok(Priority {
            stream: head.stream,
            spec,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        Head {
            length: 5,
            kind: Kind::Priority,
            flags: 0,
            stream: self.stream,
        }
        .write(out);
        self.spec.write(out);
    }
}
