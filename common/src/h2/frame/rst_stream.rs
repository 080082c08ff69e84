//! RST_STREAM (RFC 9113 §6.4): "this stream is over", from either side, with an error code.
//! The connection goes on; only the stream is closed.

use super::{conn_err, ErrorCode, FrameError, Head, Kind, StreamId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RstStream {
    pub stream: StreamId,
    pub code: ErrorCode,
}

impl RstStream {
    pub fn parse(head: &Head, payload: &[u8]) -> Result<RstStream, FrameError> {
        if head.stream.is_connection() {
            return conn_err(ErrorCode::PROTOCOL_ERROR, "RST_STREAM on stream 0");
        }
        let Ok(code) = <[u8; 4]>::try_from(payload) else {
            return conn_err(ErrorCode::FRAME_SIZE_ERROR, "RST_STREAM not 4 bytes long");
        };
        Ok(RstStream {
            stream: head.stream,
            code: ErrorCode(u32::from_be_bytes(code)),
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        Head {
            length: 4,
            kind: Kind::RstStream,
            flags: 0,
            stream: self.stream,
        }
        .write(out);
        out.extend_from_slice(&self.code.0.to_be_bytes());
    }
}
