//! Close codes (RFC 6455 section 7.4): the two bytes a close frame starts with, saying why.
//!
//! Like [`crate::Status`] for HTTP, a code is a number with a meaning; keeping it in one `Copy`
//! type lets every violation the codec finds say exactly which code it closes with.

use std::fmt;

/// A close code as carried by a close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CloseCode(u16);

impl CloseCode {
    /// The purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// The server is going down, or a browser is leaving the page.
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// The peer broke the framing rules: an unmasked frame, a reserved bit or opcode...
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// A kind of data this endpoint does not accept (binary where only text makes sense).
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// No code was present. Never sent in a frame: it is what an empty close payload means.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// The connection dropped without a close frame. Never sent either.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// A text message (or a close reason) that is not UTF-8.
    pub const INVALID_DATA: CloseCode = CloseCode(1007);
    /// A message that breaks the endpoint's policy (the chat's stalled reader, its flooder).
    pub const POLICY: CloseCode = CloseCode(1008);
    /// A message larger than the endpoint will hold.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// (Client only) the server did not negotiate an extension the client needs.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// Something went wrong on our side.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);

    /// A code from its number, whatever it is (see [`CloseCode::is_valid_in_frame`]).
    pub const fn new(code: u16) -> CloseCode {
        CloseCode(code)
    }

    pub const fn code(self) -> u16 {
        self.0
    }

    // ANCHOR: valid_code
    /// May this code appear in a close frame (RFC 6455 section 7.4)? 1000-1003 and 1007-1014
    /// are defined for use (1012-1014 were registered with IANA after the RFC); 1004 is
    /// reserved, and 1005, 1006 and 1015 mean "no code", "no close frame" and "TLS failed",
    /// which only a local API may report: a peer sending one is confused. Under 1000 is
    /// unused, 1016-2999 is kept for future RFCs, 3000-3999 is for libraries and frameworks
    /// (registered with IANA) and 4000-4999 for applications; 5000 and up does not exist.
    pub fn is_valid_in_frame(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
    // ANCHOR_END: valid_code
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_ranges() {
        let valid = |code| CloseCode::new(code).is_valid_in_frame();
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
        ] {
            assert!(valid(code), "{code}");
        }
        for code in [3000, 3999, 4000, 4999] {
            assert!(valid(code), "{code}");
        }
        for code in [
            0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!valid(code), "{code}");
        }
    }
}
