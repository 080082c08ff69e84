//! GOAWAY (RFC 9113 §6.8): "I will process no stream above `last_stream`", with an error code
//! (NO_ERROR for a graceful stop) and optional debug bytes meant for a human.

use super::{conn_err, ErrorCode, FrameError, Head, Kind, StreamId, MAX_WINDOW};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoAway<'a> {
    pub last_stream: StreamId,
    pub code: ErrorCode,
    pub debug: &'a [u8],
}

impl<'a> GoAway<'a> {
    pub fn parse(head: &Head, payload: &'a [u8]) -> Result<GoAway<'a>, FrameError> {
        if !head.stream.is_connection() {
            return conn_err(ErrorCode::PROTOCOL_ERROR, "GOAWAY on a stream");
        }
        if payload.len() < 8 {
            return conn_err(ErrorCode::FRAME_SIZE_ERROR, "GOAWAY shorter than 8 bytes");
        }
        let (fixed, debug) = payload.split_at(8);
        let last = u32::from_be_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]) & MAX_WINDOW;
        let code = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        Ok(GoAway {
            last_stream: StreamId(last),
            code: ErrorCode(code),
            debug,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        Head {
            length: 8 + self.debug.len() as u32,
            kind: Kind::GoAway,
            flags: 0,
            stream: StreamId::CONNECTION,
        }
        .write(out);
        out.extend_from_slice(&self.last_stream.0.to_be_bytes());
        out.extend_from_slice(&self.code.0.to_be_bytes());
        out.extend_from_slice(self.debug);
    }
}
