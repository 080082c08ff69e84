//! Our header lists to header blocks (RFC 7541 §6), with the integer and string primitives
//! (§5) it writes them with.
//!
//! The point is that a second response on a connection costs a few bytes: a field already
//! in a table goes out as one index byte, and every other field goes into the dynamic table
//! (literal with incremental indexing) so the next response can index it. Names come from the
//! static table when it has them; strings are Huffman-coded when that is shorter.
//!
//! What is *not* indexed, and why:
//! - sensitive fields (`Field::sensitive`): never-indexed literals, and never matched against
//!   the table's values, so no guess of a secret can be confirmed by a shorter block;
//! - `content-range`, different on every range request by nature (a seeking video sends
//!   dozens), which would only push reusable entries out of the FIFO table;
//! - a field larger than half the table, whose insertion would evict most of it.
//!
//! Fields that change on most responses and are still indexed, deliberately: `date` changes
//! once a second, so responses within the same second (the normal case on a busy
//! connection, and every one of a benchmark's) send it as one byte; a new second costs one
//! new entry of 65 bytes, and the same bytes on the wire as a literal without indexing. RFC
//! 7541's own response examples do it (C.5), and so does h2o. `content-length`, `etag` and
//! `last-modified` repeat whenever the same file is asked for again, and a distinct entry per
//! file of a page (60-80 bytes each) fits a 4 KB table many times over. Indexing costs
//! nothing extra on the wire, since a literal with indexing is exactly as long as one
//! without; the price is the eviction of the oldest entries, which are re-sent (and
//! re-indexed) once when next used.
//!
//! What the others do, seen on the wire (three requests for one file on one connection,
//! 2026-12-01): h2o 2.2.5 indexes `server`, `date`, `content-type`, `last-modified`, `etag`
//! and `accept-ranges` but sends `content-length` as a literal without indexing every time
//! (its second response: 14 bytes); nginx 1.22 marks its literals "with indexing" but never
//! refers to the table afterwards (112 bytes, every response). Ours: one byte per field.

use super::huffman;
use super::table::{entry_size, Found, Table};
use super::{Field, DEFAULT_TABLE_SIZE};

/// Encodes our header blocks, keeping the dynamic table the peer's decoder mirrors.
pub struct Encoder {
    table: Table,
    /// A size update owed at the start of the next block (§4.2), after the peer changed
    /// SETTINGS_HEADER_TABLE_SIZE.
    pending: Option<SizeUpdate>,
    huffman: Huffman,
}

/// When string literals are Huffman-coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Huffman {
    /// When that is shorter: the default. On a tie the raw string wins, which the peer can
    /// copy instead of decoding.
    WhenShorter,
    /// Never (RFC 7541's examples C.3 and C.5, and comparisons).
    Never,
    /// Always, even when longer (RFC 7541's examples C.4 and C.6 Huffman-code `307`, three
    /// bytes either way).
    Always,
}

/// The smallest size since the last block, and the last one: if the peer lowered then raised
/// its setting, the decoder must see the low point too, because it evicted down to it.
#[derive(Debug, Clone, Copy)]
struct SizeUpdate {
    smallest: usize,
    last: usize,
}

/// The literal representations (§6.2): the pattern of the first byte and its index prefix.
#[derive(Debug, Clone, Copy)]
enum Literal {
    Indexed,
    NotIndexed,
    NeverIndexed,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder with the table size every HTTP/2 connection starts with (4096).
    pub fn new() -> Encoder {
        Encoder::with_table_size(DEFAULT_TABLE_SIZE)
    }

    /// An encoder whose table starts at `size`, which the decoder must start at too (agreed
    /// out of band; HTTP/2 always starts at 4096). For tests and comparisons.
    pub fn with_table_size(size: usize) -> Encoder {
        Encoder {
            table: Table::new(size),
            pending: None,
            huffman: Huffman::WhenShorter,
        }
    }

    /// When to Huffman-code strings (`WhenShorter` unless told otherwise).
    pub fn set_huffman(&mut self, huffman: Huffman) {
        self.huffman = huffman;
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE: our table follows it, up to 4096 (a peer may
    /// allow more, but each connection's memory stays bounded), and the next block starts
    /// with the size update that tells the peer's decoder.
    pub fn set_max_table_size(&mut self, peer_setting: usize) {
        let size = peer_setting.min(DEFAULT_TABLE_SIZE);
        let smallest = match self.pending {
            Some(pending) => pending.smallest.min(size),
            None if size == self.table.max_size() => return,
            None => self.table.max_size().min(size),
        };
        self.pending = Some(SizeUpdate {
            smallest,
            last: size,
        });
    }

    /// Appends the header block for `fields`, in order, to `out`.
    pub fn encode(&mut self, fields: &[Field<'_>], out: &mut Vec<u8>) {
        if let Some(update) = self.pending.take() {
            if update.smallest < update.last {
                encode_int(update.smallest, 5, 0x20, out);
                self.table.set_max_size(update.smallest);
            }
            encode_int(update.last, 5, 0x20, out);
            self.table.set_max_size(update.last);
        }
        for field in fields {
            self.encode_field(field, out);
        }
    }

    fn encode_field(&mut self, field: &Field<'_>, out: &mut Vec<u8>) {
        if field.sensitive {
            let name_index = match self.table.find(field.name, field.value, false) {
                Found::Name(i) | Found::Field(i) => i,
                Found::None => 0,
            };
            self.literal(Literal::NeverIndexed, name_index, field, out);
            return;
        }
        let kind = if self.worth_indexing(field) {
            Literal::Indexed
        } else {
            Literal::NotIndexed
        };
        match self.table.find(field.name, field.value, true) {
            Found::Field(index) => encode_int(index, 7, 0x80, out),
            Found::Name(index) => self.literal(kind, index, field, out),
            Found::None => self.literal(kind, 0, field, out),
        }
    }

    /// Whether adding `field` to the table is likely to pay (see the top of this file).
    fn worth_indexing(&self, field: &Field<'_>) -> bool {
        field.name != b"content-range"
            && entry_size(field.name, field.value) <= self.table.max_size() / 2
    }

    /// A literal field: the name by index (`name_index` > 0) or spelled out, then the value.
    fn literal(&mut self, kind: Literal, name_index: usize, field: &Field<'_>, out: &mut Vec<u8>) {
        let (pattern, prefix) = match kind {
            Literal::Indexed => (0x40, 6),
            Literal::NotIndexed => (0x00, 4),
            Literal::NeverIndexed => (0x10, 4),
        };
        encode_int(name_index, prefix, pattern, out);
        if name_index == 0 {
            encode_string(field.name, self.huffman, out);
        }
        encode_string(field.value, self.huffman, out);
        if let Literal::Indexed = kind {
            self.table.insert(field.name, field.value);
        }
    }

    /// The dynamic table's current size in bytes (entries' sizes, §4.1).
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    #[cfg(test)]
    pub(super) fn table(&self) -> &Table {
        &self.table
    }
}

/// Writes `value` with an N-bit prefix (§5.1); `pattern` holds the representation's bits
/// above the prefix.
pub(super) fn encode_int(value: usize, prefix_bits: u8, pattern: u8, out: &mut Vec<u8>) {
    let max_prefix = (1usize << prefix_bits) - 1;
    if value < max_prefix {
        out.push(pattern | value as u8);
        return;
    }
    out.push(pattern | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Writes a string literal (§5.2), Huffman-coded or raw as `huffman` says.
pub(super) fn encode_string(s: &[u8], huffman: Huffman, out: &mut Vec<u8>) {
    if huffman != Huffman::Never {
        let len = huffman::encoded_len(s);
        if len < s.len() || huffman == Huffman::Always {
            encode_int(len, 7, 0x80, out);
            huffman::encode(s, out);
            return;
        }
    }
    encode_int(s.len(), 7, 0x00, out);
    out.extend_from_slice(s);
}
