//! Header blocks from the peer to fields (RFC 7541 §6), with the integer and string
//! primitives (§5) it reads them with.
//!
//! Every malformed input is an `Err`, never a panic: a truncated integer or string, an integer
//! past 32 bits, index 0 or past the table, a size update after the first field or above our
//! SETTINGS_HEADER_TABLE_SIZE, a bad Huffman string. The decoder never builds the header
//! list itself: it hands each field to a callback, and stops handing them over once the list
//! passes the caller's bound, which is what defuses an HPACK bomb (a few bytes that index a
//! 4 KB table entry thousands of times).

use super::table::{entry_size, Table};
use super::{huffman, DecodeError};

/// Scratch space kept between blocks; more is given back after the block that needed it.
const KEEP_SCRATCH: usize = 4096;

/// Decodes the peer's header blocks, keeping the dynamic table their encoder fills.
pub struct Decoder {
    table: Table,
    /// Our SETTINGS_HEADER_TABLE_SIZE: the most a size update may ask for (§4.2, §6.3).
    limit: usize,
    /// Scratch space for Huffman-decoded names and values, and for a name copied out of the
    /// table before an insertion can evict it; reused from field to field.
    name_buf: Vec<u8>,
    value_buf: Vec<u8>,
}

impl Decoder {
    /// A decoder whose dynamic table may grow to `max_table_size`, the
    /// SETTINGS_HEADER_TABLE_SIZE we advertise (4096 unless we say otherwise).
    pub fn new(max_table_size: usize) -> Decoder {
        Decoder {
            table: Table::new(max_table_size),
            limit: max_table_size,
            name_buf: Vec::new(),
            value_buf: Vec::new(),
        }
    }

    /// Decodes one complete header block (HEADERS + its CONTINUATIONs, already joined),
    /// calling `field(name, value)` for each field in order.
    ///
    /// `max_list_size` is SETTINGS_MAX_HEADER_LIST_SIZE, counted as RFC 9113 §6.5.2 does
    /// (name + value + 32 per field). Past it, decoding still runs to the end of the block,
    /// because the dynamic table must stay in sync with the peer's encoder, but no more fields
    /// are handed over and the result is `Err(ListTooLarge)`.
    pub fn decode(
        &mut self,
        block: &[u8],
        max_list_size: usize,
        field: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), DecodeError> {
        let Decoder {
            table,
            limit,
            name_buf,
            value_buf,
        } = self;
        let mut list = ListBound {
            used: 0,
            max: max_list_size,
            exceeded: false,
        };
        let mut pos = 0;
        // Size updates are allowed only before the first field (§4.2): possibly two of them,
        // the smallest size since the last block then the final one.
        let mut at_start = true;
        // ANCHOR: representations
        while let Some(&first) = block.get(pos) {
            if first & 0x80 != 0 {
                // 1xxxxxxx: indexed field (§6.1).
                let index = decode_int(block, &mut pos, 7)?;
                let (name, value) = table.get(index)?;
                list.emit(name, value, field);
            } else if first & 0x40 != 0 {
                // 01xxxxxx: literal with incremental indexing (§6.2.1), then into the table.
                let index = decode_int(block, &mut pos, 6)?;
                let name: &[u8] = if index == 0 {
                    decode_string(block, &mut pos, name_buf)?
                } else {
                    // Copied: inserting this field may evict the very entry that named it.
                    name_buf.clear();
                    name_buf.extend_from_slice(table.get(index)?.0);
                    &name_buf[..]
                };
                let value = decode_string(block, &mut pos, value_buf)?;
                list.emit(name, value, field);
                table.insert(name, value);
            } else if first & 0x20 != 0 {
                // 001xxxxx: dynamic table size update (§6.3).
                if !at_start {
                    return Err(DecodeError::Compression(
                        "dynamic table size update after the start of the block",
                    ));
                }
                let size = decode_int(block, &mut pos, 5)?;
                if size > *limit {
                    return Err(DecodeError::Compression(
                        "dynamic table size update above SETTINGS_HEADER_TABLE_SIZE",
                    ));
                }
                table.set_max_size(size);
                continue;
            } else {
                // 0000xxxx: literal without indexing (§6.2.2); 0001xxxx: never indexed
                // (§6.2.3). The same to an endpoint: the difference binds only an intermediary
                // that would re-encode the field.
                let index = decode_int(block, &mut pos, 4)?;
                let name: &[u8] = if index == 0 {
                    decode_string(block, &mut pos, name_buf)?
                } else {
                    table.get(index)?.0
                };
                let value = decode_string(block, &mut pos, value_buf)?;
                list.emit(name, value, field);
            }
            at_start = false;
        }
        // ANCHOR_END: representations
        // A connection that once received a long Huffman string keeps no big buffer for it.
        for buf in [name_buf, value_buf] {
            if buf.capacity() > KEEP_SCRATCH {
                *buf = Vec::new();
            }
        }
        if list.exceeded {
            return Err(DecodeError::ListTooLarge);
        }
        Ok(())
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

/// The header list's running size against SETTINGS_MAX_HEADER_LIST_SIZE.
struct ListBound {
    used: usize,
    max: usize,
    exceeded: bool,
}

impl ListBound {
    fn emit(&mut self, name: &[u8], value: &[u8], field: &mut dyn FnMut(&[u8], &[u8])) {
        if self.exceeded {
            return;
        }
        self.used = self.used.saturating_add(entry_size(name, value));
        if self.used > self.max {
            self.exceeded = true;
            return;
        }
        field(name, value);
    }
}

/// HPACK integers carry table indexes, string lengths and table sizes, none of which
/// can usefully pass 32 bits; the cap keeps a hostile run of continuation bytes from
/// overflowing (and five of them already reach 2^35).
const MAX_INT: u64 = u32::MAX as u64;

/// Reads an integer with an N-bit prefix (§5.1) starting at `block[*pos]`, whose top bits
/// (the representation's pattern) are ignored.
pub(super) fn decode_int(
    block: &[u8],
    pos: &mut usize,
    prefix_bits: u8,
) -> Result<usize, DecodeError> {
    let truncated = DecodeError::Compression("integer past the end of the block");
    // u16: an 8-bit prefix (C.1.3) is a whole byte, 255.
    let max_prefix = ((1u16 << prefix_bits) - 1) as u8;
    let first = *block.get(*pos).ok_or(truncated)? & max_prefix;
    *pos += 1;
    if first < max_prefix {
        return Ok(first as usize);
    }
    // The prefix is full: 7 more bits per byte follow, least significant first, each byte
    // but the last with its top bit set.
    let mut value = max_prefix as u64;
    let mut shift = 0;
    loop {
        let byte = *block.get(*pos).ok_or(truncated)?;
        *pos += 1;
        value += ((byte & 0x7f) as u64) << shift;
        if value > MAX_INT {
            return Err(DecodeError::Compression("integer larger than 32 bits"));
        }
        if byte & 0x80 == 0 {
            return Ok(value as usize);
        }
        shift += 7;
        if shift > 28 {
            // A sixth continuation byte: only zero padding could make it fit, and nobody
            // honest sends that.
            return Err(DecodeError::Compression(
                "integer with too many continuation bytes",
            ));
        }
    }
}

/// Reads a string literal (§5.2): an H bit, a 7-bit-prefix length, then the bytes, raw or
/// Huffman-coded. A raw string is borrowed from the block; a Huffman one is decoded into
/// `scratch`.
pub(super) fn decode_string<'a>(
    block: &'a [u8],
    pos: &mut usize,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], DecodeError> {
    let huffman = block.get(*pos).is_some_and(|b| b & 0x80 != 0);
    let len = decode_int(block, pos, 7)?;
    let end = pos
        .checked_add(len)
        .filter(|&end| end <= block.len())
        .ok_or(DecodeError::Compression("string past the end of the block"))?;
    let raw = &block[*pos..end];
    *pos = end;
    if !huffman {
        return Ok(raw);
    }
    scratch.clear();
    huffman::decode(raw, scratch)?;
    Ok(scratch)
}
