//! HPACK (RFC 7541): how HTTP/2 compresses header lists, written by hand.
//!
//! A header list travels as a *header block*: a sequence of representations, each either an
//! index into a table of fields both ends know (`:method: GET` is the single byte `0x82`) or a
//! literal, optionally added to the dynamic table so that the next block can index it. Strings
//! may be Huffman-coded. Laid out like hyper's h2:
//!
//! - `table.rs`: the static table (Appendix A) and the dynamic table, with its size accounting
//!   (name + value + 32 bytes per entry), eviction and size updates;
//! - `huffman.rs`: the Huffman code of Appendix B, both ways;
//! - `decoder.rs`: the peer's header blocks to fields, with every check that makes a bad block
//!   a COMPRESSION_ERROR, and the header-list bound that stops an HPACK bomb;
//! - `encoder.rs`: our responses to header blocks, indexing what repeats.
//!
//! One `Decoder` and one `Encoder` per connection: each direction has its own dynamic table.

mod decoder;
mod encoder;
mod huffman;
mod table;
#[cfg(test)]
mod tests;

pub use decoder::Decoder;
pub use encoder::{Encoder, Huffman};
pub use table::entry_size;

use std::fmt;

/// The table size HTTP/2 starts with on both sides (SETTINGS_HEADER_TABLE_SIZE's default).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// One header field to encode. Names are lowercase, as HTTP/2 requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
    /// Sent as "never indexed" (RFC 7541 §6.2.3, §7.1.3), and never matched against the
    /// table's values: for secrets (credentials, cookies) that a compression oracle
    /// (CRIME-style guessing) could otherwise confirm byte by byte.
    pub sensitive: bool,
}

impl<'a> Field<'a> {
    pub fn new(name: &'a [u8], value: &'a [u8]) -> Field<'a> {
        Field {
            name,
            value,
            sensitive: false,
        }
    }

    pub fn sensitive(name: &'a [u8], value: &'a [u8]) -> Field<'a> {
        Field {
            name,
            value,
            sensitive: true,
        }
    }
}

/// Why a header block was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The decoded list passed `max_list_size` (SETTINGS_MAX_HEADER_LIST_SIZE). The block was
    /// still decoded to its end, so the dynamic table is in sync and the connection can go on:
    /// HTTP/2 answers the one request (431, or a stream reset), not the connection.
    ListTooLarge,
    /// Anything else: a malformed block, which leaves the tables out of sync. The connection
    /// must end with COMPRESSION_ERROR (RFC 9113 §4.3).
    Compression(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::ListTooLarge => f.write_str("header list larger than the limit"),
            DecodeError::Compression(why) => write!(f, "HPACK: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}
