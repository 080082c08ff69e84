//! An incremental UTF-8 validator: text frames arrive in pieces, and a bad byte must close the
//! connection when it arrives, not when the message is complete.
//!
//! A text message may be split into fragments anywhere, even inside a code point (a four-byte
//! emoji can straddle two frames, or two reads), so the validator keeps a little state between
//! calls: how many continuation bytes are still owed, and the range the next one must fall in.
//! The ranges are Table 3-7 of the Unicode Standard ("Well-Formed UTF-8 Byte Sequences"); the
//! narrowed second-byte ranges are what rule out overlong forms (`C0 80`, `E0 80 80`),
//! surrogates (`ED A0 80`, U+D800) and code points above U+10FFFF (`F4 90 80 80`), each at the
//! first byte that makes the sequence impossible.

/// Where the validator is between bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    /// Continuation bytes still owed by the current code point (0: between code points).
    pending: u8,
    /// The range the next continuation byte must be in: 80..=BF, except right after a lead
    /// byte with a narrowed second byte (E0, ED, F0, F4).
    low: u8,
    high: u8,
}

/// A byte that no well-formed text can have at this place; `offset` is its index in the
/// slice just fed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf8Error {
    pub offset: usize,
}

impl Utf8Validator {
    pub fn new() -> Utf8Validator {
        Utf8Validator::default()
    }

    // ANCHOR: feed
    /// Checks the next bytes of the text, failing at the first byte that cannot be UTF-8.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Utf8Error> {
        let mut i = 0;
        while i < bytes.len() {
            let byte = bytes[i];
            if self.pending > 0 {
                if byte < self.low || byte > self.high {
                    return Err(Utf8Error { offset: i });
                }
                self.pending -= 1;
                (self.low, self.high) = (0x80, 0xBF);
                i += 1;
                continue;
            }
            if byte < 0x80 {
                // Most text is ASCII: skip the run without touching the state.
                i += bytes[i..]
                    .iter()
                    .position(|&b| b >= 0x80)
                    .unwrap_or(bytes.len() - i);
                continue;
            }
            // A lead byte: how many continuation bytes follow, and the range of the first.
            (self.pending, self.low, self.high) = match byte {
                0xC2..=0xDF => (1, 0x80, 0xBF),
                0xE0 => (2, 0xA0, 0xBF), // below A0 would be an overlong 2-byte form
                0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
                0xED => (2, 0x80, 0x9F), // A0 and up would be a surrogate, U+D800..U+DFFF
                0xF0 => (3, 0x90, 0xBF), // below 90 would be an overlong 3-byte form
                0xF1..=0xF3 => (3, 0x80, 0xBF),
                0xF4 => (3, 0x80, 0x8F), // 90 and up would be above U+10FFFF
                // 80..BF cannot start a code point; C0, C1 only start overlong forms of
                // ASCII; F5..FF would start code points above U+10FFFF.
                _ => return Err(Utf8Error { offset: i }),
            };
            i += 1;
        }
        Ok(())
    }
    // ANCHOR_END: feed

    /// The text ended: is it between code points (not in the middle of one)?
    pub fn is_complete(&self) -> bool {
        self.pending == 0
    }
}

/// Validates a whole piece of text at once (a close frame's reason).
pub fn is_valid(bytes: &[u8]) -> bool {
    let mut validator = Utf8Validator::new();
    validator.feed(bytes).is_ok() && validator.is_complete()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` in pieces of `size`, returning the absolute offset of the first bad byte,
    /// or `bytes.len()` if it is all valid but incomplete, or `None` if valid and complete.
    fn check(bytes: &[u8], size: usize) -> Option<usize> {
        let mut validator = Utf8Validator::new();
        for (n, piece) in bytes.chunks(size).enumerate() {
            if let Err(error) = validator.feed(piece) {
                return Some(n * size + error.offset);
            }
        }
        (!validator.is_complete()).then_some(bytes.len())
    }

    #[test]
    fn valid_text_of_every_length_split_anywhere() {
        let text =
            "a\u{7F}\u{80}\u{7FF}\u{800}\u{FFFF}\u{10000}\u{10FFFF}κόσμε 🎉 \u{D7FF}\u{E000}";
        for size in 1..=text.len() {
            assert_eq!(check(text.as_bytes(), size), None, "pieces of {size}");
        }
    }

    #[test]
    fn agrees_with_std_on_every_two_and_three_byte_sequence() {
        // Exhaustive over two bytes and every lead byte with two more: any disagreement with
        // the standard library's validator is a bug in the table above.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for c in [0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF] {
                    let bytes = [a, b, c];
                    let ours = is_valid(&bytes);
                    assert_eq!(ours, std::str::from_utf8(&bytes).is_ok(), "{bytes:02X?}");
                }
                let bytes = [a, b];
                assert_eq!(is_valid(&bytes), std::str::from_utf8(&bytes).is_ok());
            }
        }
    }

    #[test]
    fn fails_at_the_first_impossible_byte() {
        // Overlong forms: the lead byte (C0, C1) or the second byte (E0 80, F0 80) gives it away.
        assert_eq!(check(b"ab\xC0\x80", 1), Some(2));
        assert_eq!(check(b"\xC1\xBF", 4), Some(0));
        assert_eq!(check(b"\xE0\x80\x80", 1), Some(1));
        assert_eq!(check(b"\xF0\x8F\xBF\xBF", 2), Some(1));
        // Surrogates U+D800 and U+DFFF.
        assert_eq!(check(b"\xED\xA0\x80", 1), Some(1));
        assert_eq!(check(b"\xED\xBF\xBF", 3), Some(1));
        // Above U+10FFFF: F4 90 is the first impossible pair; F5 is never a lead byte.
        assert_eq!(check(b"\xF4\x90\x80\x80", 1), Some(1));
        assert_eq!(check(b"x\xF5\x80", 1), Some(1));
        assert_eq!(check(b"\xFF", 1), Some(0));
        // A lone continuation byte; a lead byte followed by ASCII.
        assert_eq!(check(b"abc\x80", 2), Some(3));
        assert_eq!(check(b"\xCE\xBAx\xCEx", 1), Some(4));
        // Valid so far, only unfinished: the end of the message decides.
        assert_eq!(check(b"\xF0\x9F\x8E", 1), Some(3));
        assert!(!is_valid(b"\xE2\x82"));
    }
}
