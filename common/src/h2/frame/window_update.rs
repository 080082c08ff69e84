//! WINDOW_UPDATE (RFC 9113 §6.9): credit for more DATA, on one stream or (stream 0) the
//! whole connection. An increment of 0 means nothing and is an error; where it is only one
//! stream's error, that stream is reset and the connection goes on.

use super::{conn_err, ErrorCode, FrameError, Head, Kind, StreamId, MAX_WINDOW};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowUpdate {
    pub stream: StreamId,
    pub increment: u32,
}

impl WindowUpdate {
    pub fn parse(head: &Head, payload: &[u8]) -> Result<WindowUpdate, FrameError> {
        let Ok(bytes) = <[u8; 4]>::try_from(payload) else {
            return conn_err(
                ErrorCode::FRAME_SIZE_ERROR,
                "WINDOW_UPDATE not 4 bytes long",
            );
        };
        // The top bit is reserved and ignored, like a stream id's.
        let increment = u32::from_be_bytes(bytes) & MAX_WINDOW;
        if increment == 0 {
            return if head.stream.is_connection() {
                conn_err(
                    ErrorCode::PROTOCOL_ERROR,
                    "WINDOW_UPDATE of 0 on the connection",
                )
            } else {
                Err(FrameError::Stream(
                    head.stream,
                    ErrorCode::PROTOCOL_ERROR,
                    "WINDOW_UPDATE of 0",
                ))
            };
        }
        Ok(WindowUpdate {
            stream: head.stream,
            increment,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        Head {
            length: 4,
            kind: Kind::WindowUpdate,
            flags: 0,
            stream: self.stream,
        }
        .write(out);
        out.extend_from_slice(&self.increment.to_be_bytes());
    }
}
