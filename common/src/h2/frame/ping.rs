//! PING (RFC 9113 §6.7): eight opaque bytes the peer must echo with the ACK flag. Peers use it
//! to measure round trips and keep connections alive; we also use it in the two-step GOAWAY.

use super::{conn_err, flags, ErrorCode, FrameError, Head, Kind, StreamId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ping {
    pub ack: bool,
    pub payload: [u8; 8],
}

impl Ping {
    pub fn parse(head: &Head, payload: &[u8]) -> Result<Ping, FrameError> {
        if !head.stream.is_connection() {
            return conn_err(ErrorCode::PROTOCOL_ERROR, "PING on a stream");
        }
        let Ok(payload) = <[u8; 8]>::try_from(payload) else {
            return conn_err(ErrorCode::FRAME_SIZE_ERROR, "PING not 8 bytes long");
        };
        Ok(Ping {
            ack: head.has(flags::ACK),
            payload,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        Head {
            length: 8,
            kind: Kind::Ping,
            flags: if self.ack { flags::ACK } else { 0 },
            stream: StreamId::CONNECTION,
        }
        .write(out);
        out.extend_from_slice(&self.payload);
    }
}
