//! The two tables both ends index into (RFC 7541 §2.3): the static table of 61 common fields
//! (Appendix A) and the dynamic table, a FIFO of recently sent fields bounded in bytes.
//!
//! Index 1..=61 is the static table; 62 and up is the dynamic table, newest first. The encoder
//! and the decoder of one direction each keep a copy and apply the same insertions and
//! evictions in the same order, which is what keeps them in sync without ever sending the
//! table itself.

use std::collections::VecDeque;

use super::DecodeError;

/// RFC 7541 Appendix A, in order: entry `i` here is index `i + 1`. A `static`: the encoder
/// reads it for every field, and a `const` array might be copied at each use.
pub static STATIC: [(&str, &str); STATIC_LEN] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// The first static index with this name (the entries of one name are consecutive), by a
/// `match` the compiler turns into a length test and a few comparisons: the encoder asks this
/// for every field it sends, where a scan of all 61 entries would compare them all.
fn static_name(name: &[u8]) -> Option<usize> {
    let index = match name {
        b":authority" => 1,
        b":method" => 2,
        b":path" => 4,
        b":scheme" => 6,
        b":status" => 8,
        b"accept-charset" => 15,
        b"accept-encoding" => 16,
        b"accept-language" => 17,
        b"accept-ranges" => 18,
        b"accept" => 19,
        b"access-control-allow-origin" => 20,
        b"age" => 21,
        b"allow" => 22,
        b"authorization" => 23,
        b"cache-control" => 24,
        b"content-disposition" => 25,
        b"content-encoding" => 26,
        b"content-language" => 27,
        b"content-length" => 28,
        b"content-location" => 29,
        b"content-range" => 30,
        b"content-type" => 31,
        b"cookie" => 32,
        b"date" => 33,
        b"etag" => 34,
        b"expect" => 35,
        b"expires" => 36,
        b"from" => 37,
        b"host" => 38,
        b"if-match" => 39,
        b"if-modified-since" => 40,
        b"if-none-match" => 41,
        b"if-range" => 42,
        b"if-unmodified-since" => 43,
        b"last-modified" => 44,
        b"link" => 45,
        b"location" => 46,
        b"max-forwards" => 47,
        b"proxy-authenticate" => 48,
        b"proxy-authorization" => 49,
        b"range" => 50,
        b"referer" => 51,
        b"refresh" => 52,
        b"retry-after" => 53,
        b"server" => 54,
        b"set-cookie" => 55,
        b"strict-transport-security" => 56,
        b"transfer-encoding" => 57,
        b"user-agent" => 58,
        b"vary" => 59,
        b"via" => 60,
        b"www-authenticate" => 61,
        _ => return None,
    };
    Some(index)
}

const STATIC_LEN: usize = 61;

/// The first dynamic index.
const FIRST_DYNAMIC: usize = STATIC_LEN + 1;

/// What an entry costs in the table: its name and value plus 32 bytes, RFC 7541 §4.1's
/// estimate of an implementation's overhead. It is the unit of every size limit here.
pub fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + 32
}

/// One dynamic entry: name and value in one allocation.
struct Entry {
    bytes: Box<[u8]>,
    name_len: usize,
}

impl Entry {
    fn name(&self) -> &[u8] {
        &self.bytes[..self.name_len]
    }
    fn value(&self) -> &[u8] {
        &self.bytes[self.name_len..]
    }
}

/// What a lookup found (the encoder's question: can this field be sent as an index?).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Name and value: send the index alone.
    Field(usize),
    /// The name only: a literal can refer to it instead of spelling the name.
    Name(usize),
    None,
}

/// The static table and one dynamic table.
pub struct Table {
    /// Newest first: `entries[0]` is index 62.
    entries: VecDeque<Entry>,
    /// Sum of `entry_size` over `entries`; never above `max_size`.
    size: usize,
    max_size: usize,
}

impl Table {
    pub fn new(max_size: usize) -> Table {
        Table {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    /// The entry at `index` (1-based, static then dynamic). Index 0 or one past the end is a
    /// COMPRESSION_ERROR (RFC 7541 §2.3.3).
    pub fn get(&self, index: usize) -> Result<(&[u8], &[u8]), DecodeError> {
        if index == 0 {
            return Err(DecodeError::Compression("index 0"));
        }
        if index < FIRST_DYNAMIC {
            let (name, value) = STATIC[index - 1];
            return Ok((name.as_bytes(), value.as_bytes()));
        }
        match self.entries.get(index - FIRST_DYNAMIC) {
            Some(entry) => Ok((entry.name(), entry.value())),
            None => Err(DecodeError::Compression(
                "index past the end of the dynamic table",
            )),
        }
    }

    // ANCHOR: insert
    /// Adds a field as the newest entry, evicting the oldest until it fits (§4.4). A field
    /// larger than the whole table empties it and is not added: not an error.
    pub fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = entry_size(name, value);
        if size > self.max_size {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max_size - size);
        let mut bytes = Vec::with_capacity(name.len() + value.len());
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(value);
        self.entries.push_front(Entry {
            bytes: bytes.into_boxed_slice(),
            name_len: name.len(),
        });
        self.size += size;
    }

    /// A dynamic table size update (§4.3): the new bound, evicting what no longer fits.
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    fn evict_to(&mut self, size: usize) {
        while self.size > size {
            // `size` > 0 means there is an entry to pop.
            let Some(oldest) = self.entries.pop_back() else {
                break;
            };
            self.size -= entry_size(oldest.name(), oldest.value());
        }
    }
    // ANCHOR_END: insert

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// The dynamic entries, newest first (what the RFC's examples print after each step).
    #[cfg(test)]
    pub fn dynamic(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries.iter().map(|e| (e.name(), e.value()))
    }

    /// The smallest index holding `name` and `value` (or, failing that, `name`), the static
    /// table first. With `values` false only names are matched: the encoder's choice for a
    /// sensitive field, whose value must never be confirmed by a match (see encoder.rs).
    pub fn find(&self, name: &[u8], value: &[u8], values: bool) -> Found {
        let mut name_index = static_name(name);
        if let (Some(first), true) = (name_index, values) {
            // The entries of one name are consecutive, from `first` on.
            let same_name = STATIC[first - 1..]
                .iter()
                .take_while(|(n, _)| n.as_bytes() == name);
            for (i, (_, v)) in same_name.enumerate() {
                if v.as_bytes() == value {
                    return Found::Field(first + i);
                }
            }
        }
        for (i, entry) in self.entries.iter().enumerate() {
            if entry.name() == name {
                if values && entry.value() == value {
                    return Found::Field(i + FIRST_DYNAMIC);
                }
                name_index.get_or_insert(i + FIRST_DYNAMIC);
            }
        }
        match name_index {
            Some(i) => Found::Name(i),
            None => Found::None,
        }
    }
}
