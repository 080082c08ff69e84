//! Range requests (RFC 9110 section 14): "send me bytes 1000-1999 of that file".
//!
//! Video players seek with them, download managers resume with them, PDF viewers fetch the
//! pages on screen. This module turns a `Range` header and a file length into a decision;
//! it never reads the file. The rules of thumb are the RFC's and nginx's: anything malformed
//! is ignored (the whole file, 200, is always a correct answer), nothing satisfiable is 416,
//! and a request for many ranges cannot make us do more work than sending the file once.

use crate::request::trim_ows;

/// One inclusive byte range, already clamped to the file: `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

impl ByteRange {
    /// How many bytes the range covers (never zero: `first <= last`).
    pub fn size(self) -> u64 {
        self.last - self.first + 1
    }

    /// The `Content-Range` value for this range of a file of `total` bytes.
    pub fn content_range(self, total: u64) -> String {
        format!("bytes {}-{}/{total}", self.first, self.last)
    }
}

/// What to send for a `Range` header.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeDecision {
    /// Ignore the header: 200 with the whole file.
    Full,
    /// 206 with one range.
    Single(ByteRange),
    /// 206 `multipart/byteranges` with these ranges, in the order asked.
    Multiple(Vec<ByteRange>),
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Several ranges are sent as one multipart body built in memory; past this many bytes of
/// data we send the whole file instead, which the RFC always allows. Keeps memory bounded per
/// connection without a streaming multipart body (players and viewers ask for one range).
pub const MAX_MULTIPART_BYTES: u64 = 1024 * 1024;

/// More ranges than this in one header and we send the whole file instead (nginx's
/// `max_ranges` idea): a thousand tiny ranges would cost a thousand part headers.
pub const MAX_RANGES: usize = 32;

// ANCHOR: decide
/// Decides what a `Range: bytes=...` header gets for a file of `len` bytes.
pub fn decide(header: &str, len: u64) -> RangeDecision {
    // Range units are compared case-insensitively (RFC 9110 section 14.1): `Bytes=0-1` too.
    let (unit, specs) = trim_ows(header).split_once('=').unwrap_or_default();
    if !unit.eq_ignore_ascii_case("bytes") {
        // Another unit (or none): not something we serve in pieces.
        return RangeDecision::Full;
    }
    let mut ranges = Vec::new();
    let mut count = 0;
    for spec in specs.split(',').map(trim_ows).filter(|s| !s.is_empty()) {
        count += 1;
        if count > MAX_RANGES {
            return RangeDecision::Full;
        }
        match parse_spec(spec, len) {
            Spec::Invalid => return RangeDecision::Full,
            Spec::Unsatisfiable => {}
            Spec::Range(range) => ranges.push(range),
        }
    }
    match ranges.len() {
        0 if count == 0 => RangeDecision::Full,
        0 => RangeDecision::Unsatisfiable,
        1 => RangeDecision::Single(ranges[0]),
        _ if overlapping_or_too_big(&ranges, len) => RangeDecision::Full,
        _ if ranges.iter().map(|r| r.size()).sum::<u64>() > MAX_MULTIPART_BYTES => {
            RangeDecision::Full
        }
        _ => RangeDecision::Multiple(ranges),
    }
}
// ANCHOR_END: decide

enum Spec {
    Range(ByteRange),
    /// Well-formed but entirely past the end (or `-0`).
    Unsatisfiable,
    Invalid,
}

/// `a-b`, `a-` or `-n`, clamped to a file of `len` bytes.
fn parse_spec(spec: &str, len: u64) -> Spec {
    let Some((first, last)) = spec.split_once('-') else {
        return Spec::Invalid;
    };
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Digits past u64 are still a valid (huge) position: treat them as "past the end".
        Some(s.parse().unwrap_or(u64::MAX))
    };
    match (trim_ows(first), trim_ows(last)) {
        ("", suffix) => match number(suffix) {
            None => Spec::Invalid,
            Some(0) => Spec::Unsatisfiable,
            _ if len == 0 => Spec::Unsatisfiable,
            Some(n) => Spec::Range(ByteRange {
                first: len.saturating_sub(n),
                last: len - 1,
            }),
        },
        (first, "") => match number(first) {
            None => Spec::Invalid,
            Some(first) if first >= len => Spec::Unsatisfiable,
            Some(first) => Spec::Range(ByteRange {
                first,
                last: len - 1,
            }),
        },
        (first, last) => match (number(first), number(last)) {
            (Some(first), Some(last)) if first <= last => {
                if first >= len {
                    Spec::Unsatisfiable
                } else {
                    Spec::Range(ByteRange {
                        first,
                        last: last.min(len - 1),
                    })
                }
            }
            _ => Spec::Invalid,
        },
    }
}

/// nginx's rule: ranges that overlap, or add up to more than the file, get the whole file.
fn overlapping_or_too_big(ranges: &[ByteRange], len: u64) -> bool {
    let total: u64 = ranges.iter().map(|r| r.size()).sum();
    if total > len {
        return true;
    }
    let mut sorted = ranges.to_vec();
    sorted.sort_by_key(|r| r.first);
    sorted.windows(2).any(|pair| pair[1].first <= pair[0].last)
}

// ANCHOR: multipart
/// The framing of a `multipart/byteranges` body: the bytes that go before each part's data,
/// and the closing delimiter. The data itself comes from the file, between them.
pub fn multipart_frames(
    ranges: &[ByteRange],
    total: u64,
    content_type: &str,
    boundary: &str,
) -> (Vec<String>, String) {
    let heads = ranges
        .iter()
        .map(|range| {
            format!(
                "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: {}\r\n\r\n",
                range.content_range(total)
            )
        })
        .collect();
    (heads, format!("\r\n--{boundary}--\r\n"))
}
// ANCHOR_END: multipart

#[cfg(test)]
mod tests {
    use super::*;

    fn r(first: u64, last: u64) -> ByteRange {
        ByteRange { first, last }
    }

    #[test]
    fn single_ranges_in_all_three_forms() {
        assert_eq!(decide("bytes=0-99", 1000), RangeDecision::Single(r(0, 99)));
        assert_eq!(
            decide("bytes=500-", 1000),
            RangeDecision::Single(r(500, 999))
        );
        assert_eq!(
            decide("bytes=-100", 1000),
            RangeDecision::Single(r(900, 999))
        );
        assert_eq!(decide("bytes= 5-5 ", 1000), RangeDecision::Single(r(5, 5)));
    }

    #[test]
    fn ends_past_the_file_are_clamped() {
        assert_eq!(
            decide("bytes=900-5000", 1000),
            RangeDecision::Single(r(900, 999))
        );
        assert_eq!(
            decide("bytes=-5000", 1000),
            RangeDecision::Single(r(0, 999))
        );
        assert_eq!(
            decide("bytes=0-99999999999999999999999", 10),
            RangeDecision::Single(r(0, 9))
        );
    }

    #[test]
    fn nothing_satisfiable_is_416() {
        assert_eq!(decide("bytes=1000-", 1000), RangeDecision::Unsatisfiable);
        assert_eq!(
            decide("bytes=2000-3000", 1000),
            RangeDecision::Unsatisfiable
        );
        assert_eq!(decide("bytes=-0", 1000), RangeDecision::Unsatisfiable);
        assert_eq!(decide("bytes=0-", 0), RangeDecision::Unsatisfiable);
        assert_eq!(
            decide("bytes=99999999999999999999999-", 10),
            RangeDecision::Unsatisfiable
        );
        // One satisfiable range among unsatisfiable ones is served.
        assert_eq!(
            decide("bytes=5000-,0-0", 1000),
            RangeDecision::Single(r(0, 0))
        );
    }

    #[test]
    fn malformed_headers_are_ignored() {
        for header in [
            "bytes=",
            "bytes=a-b",
            "bytes=5-1",
            "bytes=--1",
            "bytes=1",
            "items=0-1",
            "0-1",
            "bytes=0-1,x",
            "bytes=+1-2",
            "bytes=1-2-3",
        ] {
            assert_eq!(decide(header, 1000), RangeDecision::Full, "{header}");
        }
    }

    #[test]
    fn several_ranges_are_multipart_unless_they_overlap_or_exceed_the_file() {
        assert_eq!(
            decide("bytes=0-9,20-29", 100),
            RangeDecision::Multiple(vec![r(0, 9), r(20, 29)])
        );
        assert_eq!(
            decide("bytes=20-29,0-9", 100),
            RangeDecision::Multiple(vec![r(20, 29), r(0, 9)])
        );
        assert_eq!(decide("bytes=0-9,5-14", 100), RangeDecision::Full);
        assert_eq!(decide("bytes=0-59,-50", 100), RangeDecision::Full);
        let many: Vec<String> = (0..MAX_RANGES + 1)
            .map(|i| format!("{}-{}", i * 2, i * 2))
            .collect();
        assert_eq!(
            decide(&format!("bytes={}", many.join(",")), 1000),
            RangeDecision::Full
        );
        let big = MAX_MULTIPART_BYTES * 4;
        assert_eq!(
            decide(
                &format!("bytes=0-{},-{}", MAX_MULTIPART_BYTES, MAX_MULTIPART_BYTES),
                big
            ),
            RangeDecision::Full
        );
    }

    #[test]
    fn multipart_framing() {
        let (heads, tail) = multipart_frames(&[r(0, 1), r(5, 6)], 10, "text/plain", "B");
        assert_eq!(
            heads[0],
            "\r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n"
        );
        assert_eq!(
            heads[1],
            "\r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 5-6/10\r\n\r\n"
        );
        assert_eq!(tail, "\r\n--B--\r\n");
    }

    #[test]
    fn range_units_are_case_insensitive_and_only_ows_is_trimmed() {
        for header in [
            "Bytes=0-1",
            "BYTES=0-1",
            " bytes=0-1\t",
            "bytes= 0-1",
            "bytes=0 - 1",
        ] {
            assert_eq!(
                decide(header, 1000),
                RangeDecision::Single(r(0, 1)),
                "{header}"
            );
        }
        for header in [
            "bytes =0-1",
            "bytes=0-1\u{a0}",
            "bytes=\u{3000}0-1",
            "bytez=0-1",
        ] {
            assert_eq!(decide(header, 1000), RangeDecision::Full, "{header:?}");
        }
    }
}
