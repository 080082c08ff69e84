//! The frame (RFC 6455 section 5.2): a header of 2 to 14 bytes, then the payload.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! | Masking-key (continued)       |          Payload Data         |
//! +-------------------------------- - - - - - - - - - - - - - - - +
//! ```
//!
//! This file knows the layout only: it reads a header (or says it needs more bytes), writes
//! one, and applies a mask. Which frames are allowed when is the connection's business
//! (`connection.rs`). Server frames are never masked, so a frame encoded once with [`encode`]
//! is byte for byte the frame every member of a chat room must receive.

use super::close::CloseCode;
use super::Error;

/// The longest header: 2 bytes, an 8-byte length and a 4-byte masking key.
pub const MAX_HEADER: usize = 14;

/// The largest payload of a control frame (close, ping, pong): it fits the 7-bit length.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// What a frame carries (RFC 6455 section 5.2, "Opcode").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    /// The next fragment of the message a Text or Binary frame without FIN began.
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
    /// 0x3-0x7 (for data frames) and 0xB-0xF (for control frames) are reserved.
    Reserved(u8),
}

impl OpCode {
    pub fn from_bits(bits: u8) -> OpCode {
        match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            other => OpCode::Reserved(other),
        }
    }

    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
            OpCode::Reserved(bits) => bits & 0x0F,
        }
    }

    /// Control frames (opcodes with the high bit set) may come between a message's fragments.
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The last fragment of its message (always set on control frames).
    pub fin: bool,
    /// RSV1-RSV3 in the low three bits: zero unless an extension gave them a meaning.
    pub rsv: u8,
    pub opcode: OpCode,
    /// The masking key; every client-to-server frame has one (section 5.3).
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub len: u64,
}

// ANCHOR: parse_header
impl FrameHeader {
    /// Reads the header at the start of `buf`: `Ok(None)` if `buf` does not hold all of it
    /// yet, else the header and how many bytes it took.
    ///
    /// Two lengths are refused with 1002 (section 5.2, "Payload length"): a 64-bit length
    /// with its most significant bit set ("the most significant bit MUST be 0"), and a length
    /// not written in the fewest bytes ("the minimal number of bytes MUST be used to encode
    /// the length"): a sender that writes 5 as 127 + eight bytes breaks a MUST, and taking
    /// it would give two encodings to one frame.
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, Error> {
        let [first, second, ..] = *buf else {
            return Ok(None);
        };
        let masked = second & 0x80 != 0;
        let (len, mut used) = match second & 0x7F {
            126 => {
                let Some(bytes) = buf.get(2..4) else {
                    return Ok(None);
                };
                let len = u16::from_be_bytes([bytes[0], bytes[1]]);
                if len < 126 {
                    return Err(Error::NonMinimalLength);
                }
                (u64::from(len), 4)
            }
            127 => {
                let Some(bytes) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                let len = u64::from_be_bytes(be);
                if len >> 63 != 0 {
                    return Err(Error::LengthTopBit);
                }
                if len <= u64::from(u16::MAX) {
                    return Err(Error::NonMinimalLength);
                }
                (len, 10)
            }
            short => (u64::from(short), 2),
        };
        let mask = if masked {
            let Some(key) = buf.get(used..used + 4) else {
                return Ok(None);
            };
            used += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        let header = FrameHeader {
            fin: first & 0x80 != 0,
            rsv: (first >> 4) & 0x7,
            opcode: OpCode::from_bits(first & 0x0F),
            mask,
            len,
        };
        Ok(Some((header, used)))
    }
    // ANCHOR_END: parse_header

    /// Appends the header, with the length in the fewest bytes that hold it.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.fin) << 7 | (self.rsv & 0x7) << 4 | self.opcode.bits());
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        match self.len {
            0..=125 => out.push(mask_bit | self.len as u8),
            126..=0xFFFF => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(self.len as u16).to_be_bytes());
            }
            _ => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&self.len.to_be_bytes());
            }
        }
        if let Some(key) = self.mask {
            out.extend_from_slice(&key);
        }
    }
}

// ANCHOR: encode
/// Appends one unmasked (server-to-client) frame to `out`.
///
/// Encode a broadcast once and send the same bytes to every receiver: an unmasked frame does
/// not depend on who gets it.
pub fn encode(opcode: OpCode, payload: &[u8], fin: bool, out: &mut Vec<u8>) {
    out.reserve(MAX_HEADER + payload.len());
    let header = FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask: None,
        len: payload.len() as u64,
    };
    header.write(out);
    out.extend_from_slice(payload);
}
// ANCHOR_END: encode

/// Appends one masked (client-to-server) frame: what tests and the fuzzer play a client with.
pub fn encode_masked(opcode: OpCode, payload: &[u8], fin: bool, key: [u8; 4], out: &mut Vec<u8>) {
    let header = FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask: Some(key),
        len: payload.len() as u64,
    };
    header.write(out);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
}

/// Appends a close frame: the code (none: an empty payload), then as much of `reason` as fits
/// the 125 bytes of a control frame, cut at a character boundary so it stays UTF-8.
pub fn encode_close(code: Option<CloseCode>, reason: &str, out: &mut Vec<u8>) {
    let mut payload = Vec::with_capacity(MAX_CONTROL_PAYLOAD);
    if let Some(code) = code {
        payload.extend_from_slice(&code.code().to_be_bytes());
        let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        payload.extend_from_slice(&reason.as_bytes()[..end]);
    }
    encode(OpCode::Close, &payload, true, out);
}

// ANCHOR: mask
/// XORs `data` with the masking key (section 5.3), `offset` being how many payload bytes came
/// before `data` in the same frame: byte i of the payload is XORed with `key[i % 4]`, so a
/// payload unmasked in pieces, as it arrives, needs to know where each piece starts.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    // Rotate the key so that data[0] lines up with key[0]; then whole words at a time, which
    // the compiler turns into wide XORs.
    let key = [
        key[offset % 4],
        key[(offset + 1) % 4],
        key[(offset + 2) % 4],
        key[(offset + 3) % 4],
    ];
    let mut words = data.chunks_exact_mut(4);
    for word in &mut words {
        for (byte, k) in word.iter_mut().zip(key) {
            *byte ^= k;
        }
    }
    for (byte, k) in words.into_remainder().iter_mut().zip(key) {
        *byte ^= k;
    }
}
// ANCHOR_END: mask

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Option<(FrameHeader, usize)>, Error> {
        FrameHeader::parse(bytes)
    }

    #[test]
    fn rfc_examples_parse_and_encode_byte_for_byte() {
        // RFC 6455 section 5.7: a single-frame unmasked text message "Hello".
        let mut out = Vec::new();
        encode(OpCode::Text, b"Hello", true, &mut out);
        assert_eq!(out, b"\x81\x05\x48\x65\x6c\x6c\x6f");
        // A single-frame masked text message "Hello".
        let mut out = Vec::new();
        encode_masked(
            OpCode::Text,
            b"Hello",
            true,
            [0x37, 0xfa, 0x21, 0x3d],
            &mut out,
        );
        assert_eq!(out, b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        let (header, used) = parse(&out).unwrap().unwrap();
        assert_eq!(
            (header.fin, header.opcode, header.len, used),
            (true, OpCode::Text, 5, 6)
        );
        assert_eq!(header.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        // A fragmented unmasked text message: "Hel", then "lo".
        let mut out = Vec::new();
        encode(OpCode::Text, b"Hel", false, &mut out);
        encode(OpCode::Continuation, b"lo", true, &mut out);
        assert_eq!(out, b"\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f");
        // An unmasked ping with "Hello", and the masked pong answering it.
        let mut out = Vec::new();
        encode(OpCode::Ping, b"Hello", true, &mut out);
        assert_eq!(out, b"\x89\x05\x48\x65\x6c\x6c\x6f");
        let mut out = Vec::new();
        encode_masked(
            OpCode::Pong,
            b"Hello",
            true,
            [0x37, 0xfa, 0x21, 0x3d],
            &mut out,
        );
        assert_eq!(out, b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        // 256 bytes of binary data in one unmasked frame; 64 KiB in one unmasked frame.
        let mut out = Vec::new();
        encode(OpCode::Binary, &[0; 256], true, &mut out);
        assert_eq!(&out[..4], b"\x82\x7E\x01\x00");
        let mut out = Vec::new();
        encode(OpCode::Binary, &[0; 65536], true, &mut out);
        assert_eq!(&out[..10], b"\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00");
    }

    #[test]
    fn lengths_at_every_boundary() {
        for (len, header_len) in [
            (0, 2),
            (125, 2),
            (126, 4),
            (127, 4),
            (65535, 4),
            (65536, 10),
        ] {
            let mut out = Vec::new();
            encode(OpCode::Binary, &vec![7; len], true, &mut out);
            assert_eq!(out.len(), header_len + len);
            let (header, used) = parse(&out).unwrap().unwrap();
            assert_eq!((header.len, used), (len as u64, header_len));
            // Every shorter prefix of the header asks for more bytes.
            for cut in 0..header_len {
                assert_eq!(parse(&out[..cut]), Ok(None), "len {len}, cut {cut}");
            }
        }
    }

    #[test]
    fn refuses_the_lengths_the_rfc_forbids() {
        assert_eq!(parse(b"\x82\x7E\x00\x7D"), Err(Error::NonMinimalLength));
        assert_eq!(
            parse(b"\x82\x7F\x00\x00\x00\x00\x00\x00\xFF\xFF"),
            Err(Error::NonMinimalLength)
        );
        assert_eq!(
            parse(b"\x82\x7F\x80\x00\x00\x00\x00\x00\x00\x00"),
            Err(Error::LengthTopBit)
        );
        // The largest legal length parses (the connection's size limit refuses it later).
        let (header, _) = parse(b"\x82\x7F\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF")
            .unwrap()
            .unwrap();
        assert_eq!(header.len, u64::MAX >> 1);
    }

    #[test]
    fn bits_and_opcodes() {
        let (header, _) = parse(b"\x7B\x00").unwrap().unwrap();
        assert_eq!(
            (header.fin, header.rsv, header.opcode),
            (false, 7, OpCode::Reserved(0xB))
        );
        assert!(header.opcode.is_control());
        assert!(!OpCode::Reserved(3).is_control());
        for bits in 0..16 {
            assert_eq!(OpCode::from_bits(bits).bits(), bits);
        }
    }

    #[test]
    fn masking_in_pieces_equals_masking_at_once() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..=255).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        for split in [1, 3, 5, 7, 100] {
            let mut pieces = data.clone();
            let (a, b) = pieces.split_at_mut(split);
            apply_mask(a, key, 0);
            apply_mask(b, key, split);
            assert_eq!(pieces, whole, "split at {split}");
        }
    }

    #[test]
    fn close_reasons_are_cut_at_a_character_boundary() {
        let mut out = Vec::new();
        encode_close(Some(CloseCode::NORMAL), &"é".repeat(100), &mut out);
        // 2 header bytes, 2 code bytes, then 61 two-byte characters (122 bytes, not 123).
        assert_eq!(out.len(), 2 + 2 + 122);
        assert!(std::str::from_utf8(&out[4..]).is_ok());
        let mut out = Vec::new();
        encode_close(None, "ignored without a code", &mut out);
        assert_eq!(out, b"\x88\x00");
    }
}
