//! WebSocket (RFC 6455), sans-IO, in the style of wsproto and tungstenite: the opening
//! handshake, the frame codec, incremental UTF-8 validation and close codes.
//!
//! - [`handshake`]: the HTTP/1.1 `Upgrade` request read, checked and answered (101, or 400,
//!   403, 426 as common [`crate::Response`]s).
//! - [`frame`]: the frame layout: headers, lengths, masking, and [`frame::encode`], which
//!   makes a server frame once for any number of receivers.
//! - [`utf8`]: the validator that fails a text message at its first bad byte.
//! - [`close`]: the close codes and which of them may appear on the wire.
//! - [`connection`]: one server-side connection: bytes in, [`Event`]s out, frames to send.
//!
//! Extensions: none. `permessage-deflate` (RFC 7692), which every browser offers, is declined
//! by leaving `Sec-WebSocket-Extensions` out of the 101 (RFC 6455 section 9.1: the server
//! accepts only what it lists); with no extension in use, a frame with RSV1 set is a protocol
//! error (1002), like RSV2 and RSV3. Compression would cost a zlib context per connection
//! (tens of KiB each, against the 10,000 idle connections stage08 must hold in 60 MiB) and
//! would rule out encoding a broadcast once for a whole room.
//!
//! Nothing here reads a socket or a clock: the stage feeds bytes, sends the bytes it is given,
//! and applies the timeouts (the close handshake's, the idle ping's) itself.

pub mod close;
pub mod connection;
pub mod frame;
pub mod handshake;
pub mod utf8;

pub use close::CloseCode;
pub use connection::{Config, Connection, Event, State};
pub use frame::OpCode;
pub use handshake::{Accepted, Handshake, Offer, Policy};

use std::fmt;

/// A whole message, as the application sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Binary(Vec<u8>),
}

// ANCHOR: error
/// Every way a peer can break the protocol, and the close code each one fails the connection
/// with (RFC 6455 sections 5, 7.4 and 8.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A client frame without a masking key (section 5.1).
    Unmasked,
    /// An RSV bit set, with no extension negotiated to give it a meaning (section 5.2).
    ReservedBits,
    /// Opcodes 0x3-0x7 and 0xB-0xF have no meaning yet (section 5.2).
    ReservedOpcode(u8),
    /// A close, ping or pong without FIN (section 5.5).
    FragmentedControl,
    /// A control frame with more than 125 bytes of payload (section 5.5).
    ControlTooLong,
    /// A continuation frame with no fragmented message to continue (section 5.4).
    NothingToContinue,
    /// A new text or binary frame while a fragmented message is unfinished (section 5.4).
    MessageInsideMessage,
    /// A 64-bit length with its most significant bit set (section 5.2).
    LengthTopBit,
    /// A length not written in the fewest bytes (section 5.2).
    NonMinimalLength,
    /// A close frame whose payload is one byte: half a code (section 5.5.1).
    CloseOneByte,
    /// A close code no peer may send (section 7.4): the number is kept for the log.
    InvalidCloseCode(u16),
    /// A text message that is not UTF-8 (section 8.1).
    InvalidUtf8,
    /// A close reason that is not UTF-8 (section 5.5.1).
    InvalidCloseReason,
    /// A message larger than [`Config::max_message`].
    TooBig,
}

impl Error {
    /// The close code this violation fails the connection with.
    pub fn code(self) -> CloseCode {
        match self {
            Error::InvalidUtf8 | Error::InvalidCloseReason => CloseCode::INVALID_DATA,
            Error::TooBig => CloseCode::TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}
// ANCHOR_END: error

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unmasked => f.write_str("unmasked client frame"),
            Error::ReservedBits => f.write_str("reserved bits set"),
            Error::ReservedOpcode(bits) => write!(f, "reserved opcode {bits:#x}"),
            Error::FragmentedControl => f.write_str("fragmented control frame"),
            Error::ControlTooLong => f.write_str("control frame over 125 bytes"),
            Error::NothingToContinue => f.write_str("continuation with nothing to continue"),
            Error::MessageInsideMessage => f.write_str("new message inside a fragmented one"),
            Error::LengthTopBit => f.write_str("64-bit length with the top bit set"),
            Error::NonMinimalLength => f.write_str("length not in its shortest form"),
            Error::CloseOneByte => f.write_str("close payload of one byte"),
            Error::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            Error::InvalidUtf8 => f.write_str("text is not UTF-8"),
            Error::InvalidCloseReason => f.write_str("close reason is not UTF-8"),
            Error::TooBig => f.write_str("message too big"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests;
