//! Where one request ends and the next begins, on a connection that stays open.
//!
//! Keep-alive (stage02 on) means a second request may follow the first on the same bytes
//! stream. Two things must then be exactly right: whether the connection stays open at all
//! ([`connection_for`]), and where the first request's body ends ([`BodySkipper`]), since a
//! static server ignores bodies but must still step over them. Get the second wrong and the
//! body's bytes are read as the next request: the root of request smuggling.

use crate::request::{BodyFraming, Request, Version};
use crate::response::{Connection, Response};
use crate::status::Status;

/// The most body bytes we read just to throw away; a bigger body costs the client its
/// connection instead of costing us the bandwidth.
pub const MAX_DISCARD: u64 = 1024 * 1024;

/// Longest chunk-size line (hex size plus extensions) we accept in a chunked body.
const MAX_CHUNK_LINE: usize = 1024;

// ANCHOR: connection_for
/// Whether the connection stays open after `response`, and what the response says about it.
///
/// HTTP/1.1 stays open unless either side says `close`; HTTP/1.0 closes unless the client
/// asked for `keep-alive`, which we then echo. `close` wins over `keep-alive` wherever it
/// appears, in any `Connection` field (RFC 9112 sections 9.3 and 9.6). A refused head, or a
/// body too large to skip, closes it whatever was asked.
pub fn connection_for(request: Option<&Request>, response: &Response) -> Connection {
    match request {
        Some(request) if !response.close => persistence(request),
        _ => Connection::Close,
    }
}

/// The part of [`connection_for`] that depends on the request alone: what a response that
/// does not itself demand a close (every file response) says about the connection. A server
/// answering from a cache, with no [`Response`] value at hand, asks this directly.
pub fn persistence(request: &Request) -> Connection {
    let body_too_big = matches!(request.body, BodyFraming::Length(n) if n > MAX_DISCARD);
    if body_too_big || request.connection_close {
        return Connection::Close;
    }
    match request.version {
        // HTTP/2 has no Connection field at all: a stream ends, the connection stays.
        Version::Http11 | Version::Http20 => Connection::Default,
        Version::Http10 if request.connection_keep_alive => Connection::KeepAlive,
        Version::Http10 => Connection::Close,
    }
}
// ANCHOR_END: connection_for

/// Steps over a request body, whatever its framing, a buffer at a time.
#[derive(Debug)]
pub struct BodySkipper {
    state: SkipState,
    /// Body bytes skipped so far, checked against [`MAX_DISCARD`].
    skipped: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SkipState {
    /// This many bytes of body are still to come.
    Remaining(u64),
    /// Chunked: reading a chunk-size line, now at `part` of it; `len` bytes of it seen so far.
    ChunkSize {
        size: u64,
        digits: usize,
        part: LinePart,
        len: usize,
    },
    /// Chunked: this many bytes of chunk data are still to come, then CRLF.
    ChunkData(u64),
    /// Chunked: the CRLF after a chunk's data; `seen_cr` once the CR has passed.
    ChunkEnd {
        seen_cr: bool,
    },
    /// Chunked: trailer fields after the last chunk, until an empty line.
    /// `line_len` counts the current line's bytes (excluding CR), `total` the trailer's;
    /// `seen_cr` once a CR has passed, which only an LF may follow.
    Trailer {
        line_len: usize,
        total: usize,
        seen_cr: bool,
    },
    Done,
}

// ANCHOR: line_part
/// Where in `chunk-size [ chunk-ext ] CRLF` (RFC 9112 section 7.1) the skipper is.
///
/// Every byte has exactly one reading, so no front end can read the line differently: hex
/// digits, then optional SP/HTAB, then `;` extensions of visible characters, then CRLF (or a
/// bare LF, which RFC 9112 section 2.2 lets a recipient accept). A CR anywhere else (`5\r3`),
/// or a space between digits (`5 3`), is malformed: never skipped, never guessed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinePart {
    /// In the hex digits of the size.
    Size,
    /// After the size, in whitespace that may only lead to `;` or the line end.
    AfterSize,
    /// In `;name=value` extensions, which carry nothing we use.
    Extension,
    /// Just after the CR: only LF may follow.
    Cr,
}
// ANCHOR_END: line_part

/// The body could not be stepped over: the stage must close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipError {
    /// Chunked framing that does not parse.
    Malformed,
    /// More than [`MAX_DISCARD`] bytes.
    TooLarge,
}

impl SkipError {
    pub fn status(self) -> Status {
        match self {
            SkipError::Malformed => Status::BAD_REQUEST,
            SkipError::TooLarge => Status::PAYLOAD_TOO_LARGE,
        }
    }
}

impl BodySkipper {
    // ANCHOR: skipper
    pub fn new(framing: BodyFraming) -> BodySkipper {
        let state = match framing {
            BodyFraming::None | BodyFraming::Length(0) => SkipState::Done,
            BodyFraming::Length(n) => SkipState::Remaining(n),
            BodyFraming::Chunked => SkipState::ChunkSize {
                size: 0,
                digits: 0,
                part: LinePart::Size,
                len: 0,
            },
        };
        BodySkipper { state, skipped: 0 }
    }

    /// True once the whole body has been stepped over.
    pub fn is_done(&self) -> bool {
        self.state == SkipState::Done
    }

    /// Consumes body bytes from the start of `buf`, returning how many it used. Once
    /// [`is_done`](Self::is_done), the rest of `buf` is the next request.
    pub fn skip(&mut self, buf: &[u8]) -> Result<usize, SkipError> {
        let mut used = 0;
        while used < buf.len() && self.state != SkipState::Done {
            used += self.step(&buf[used..])?;
        }
        Ok(used)
    }
    // ANCHOR_END: skipper

    /// Advances the state machine over the start of `buf` (never empty); returns bytes used.
    fn step(&mut self, buf: &[u8]) -> Result<usize, SkipError> {
        match self.state {
            SkipState::Remaining(n) | SkipState::ChunkData(n) => {
                let take = n.min(buf.len() as u64);
                self.skipped += take;
                if self.skipped > MAX_DISCARD {
                    return Err(SkipError::TooLarge);
                }
                let left = n - take;
                self.state = match (self.state, left) {
                    (SkipState::Remaining(_), 0) => SkipState::Done,
                    (SkipState::Remaining(_), _) => SkipState::Remaining(left),
                    (_, 0) => SkipState::ChunkEnd { seen_cr: false },
                    (_, _) => SkipState::ChunkData(left),
                };
                Ok(take as usize)
            }
            SkipState::ChunkSize {
                size,
                digits,
                part,
                len,
            } => {
                let byte = buf[0];
                if len >= MAX_CHUNK_LINE {
                    return Err(SkipError::Malformed);
                }
                let len = len + 1;
                let next = |part| SkipState::ChunkSize {
                    size,
                    digits,
                    part,
                    len,
                };
                self.state = match (part, byte) {
                    // A line with no size at all (`\r\n`, `;x\r\n`) has no reading.
                    (_, b'\r' | b'\n' | b';') if digits == 0 => return Err(SkipError::Malformed),
                    (_, b'\n') => {
                        if size == 0 {
                            SkipState::Trailer {
                                line_len: 0,
                                total: 0,
                                seen_cr: false,
                            }
                        } else if size > MAX_DISCARD.saturating_sub(self.skipped) {
                            // Refused at the size line, not after a mebibyte of data: a
                            // `ffffffffffffffff` chunk would otherwise take the bytes that
                            // follow (the next request) as data, where a front end that
                            // refuses such a size, or reads it as a negative i64, would not.
                            return Err(SkipError::TooLarge);
                        } else {
                            SkipState::ChunkData(size)
                        }
                    }
                    (LinePart::Cr, _) => return Err(SkipError::Malformed),
                    (_, b'\r') => next(LinePart::Cr),
                    (LinePart::Size | LinePart::AfterSize, b';') => next(LinePart::Extension),
                    (LinePart::Size | LinePart::AfterSize, b' ' | b'\t') if digits > 0 => {
                        next(LinePart::AfterSize)
                    }
                    (LinePart::Extension, b' ' | b'\t' | 0x21..=0x7e) => next(LinePart::Extension),
                    (LinePart::Size, _) => {
                        let digit = (byte as char).to_digit(16).ok_or(SkipError::Malformed)?;
                        // A size past u64 would wrap around (a smuggling trick): refuse it.
                        // Leading zeros are fine (`1*HEXDIG` has no length limit).
                        if size > u64::MAX >> 4 {
                            return Err(SkipError::Malformed);
                        }
                        SkipState::ChunkSize {
                            size: size * 16 + u64::from(digit),
                            digits: digits + 1,
                            part,
                            len,
                        }
                    }
                    // A digit after a space (`5 3`), a control byte or obs-text in an extension.
                    (LinePart::AfterSize | LinePart::Extension, _) => {
                        return Err(SkipError::Malformed)
                    }
                };
                Ok(1)
            }
            SkipState::ChunkEnd { seen_cr } => {
                self.state = match (buf[0], seen_cr) {
                    (b'\r', false) => SkipState::ChunkEnd { seen_cr: true },
                    (b'\n', _) => SkipState::ChunkSize {
                        size: 0,
                        digits: 0,
                        part: LinePart::Size,
                        len: 0,
                    },
                    _ => return Err(SkipError::Malformed),
                };
                Ok(1)
            }
            SkipState::Trailer {
                line_len,
                total,
                seen_cr,
            } => {
                if total >= crate::request::MAX_HEAD {
                    return Err(SkipError::TooLarge);
                }
                let total = total + 1;
                self.state = match (buf[0], seen_cr) {
                    (b'\n', _) if line_len == 0 => SkipState::Done,
                    (b'\n', _) => SkipState::Trailer {
                        line_len: 0,
                        total,
                        seen_cr: false,
                    },
                    // A bare CR (`0\r\n\r\r\n`) ends no line: a front end may read it as
                    // data, and we would end the body where it does not.
                    (_, true) => return Err(SkipError::Malformed),
                    (b'\r', false) => SkipState::Trailer {
                        line_len,
                        total,
                        seen_cr: true,
                    },
                    // NUL and other controls have no place in a field line either.
                    (byte, false) if byte.is_ascii_control() && byte != b'\t' => {
                        return Err(SkipError::Malformed)
                    }
                    _ => SkipState::Trailer {
                        line_len: line_len + 1,
                        total,
                        seen_cr: false,
                    },
                };
                Ok(1)
            }
            SkipState::Done => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::request::test_request as request;

    fn ok() -> Response {
        Response::error(Status::OK)
    }

    #[test]
    fn persistence_by_version_and_connection_field() {
        let decide = |raw: &str| connection_for(Some(&request(raw)), &ok());
        assert_eq!(
            decide("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Connection::Default
        );
        assert_eq!(
            decide("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
            Connection::Close
        );
        assert_eq!(decide("GET / HTTP/1.0\r\n\r\n"), Connection::Close);
        assert_eq!(
            decide("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
            Connection::KeepAlive
        );
        assert_eq!(
            decide("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n"),
            Connection::Close
        );
        assert_eq!(connection_for(None, &ok()), Connection::Close);
        // `close` wins over `keep-alive`, in one field or two, whatever the version.
        for fields in [
            "Connection: keep-alive, close\r\n",
            "Connection: keep-alive\r\nConnection: close\r\n",
        ] {
            for version in ["1.0", "1.1"] {
                let raw = format!("GET / HTTP/{version}\r\nHost: a\r\n{fields}\r\n");
                assert_eq!(decide(&raw), Connection::Close, "{raw:?}");
            }
        }
        let refused = Response::refuse(Status::BAD_REQUEST);
        assert_eq!(
            connection_for(
                Some(&request("GET / HTTP/1.1\r\nHost: a\r\n\r\n")),
                &refused
            ),
            Connection::Close
        );
    }

    /// Feeds `body` to a skipper in pieces of `step` bytes; returns bytes used when done.
    fn skip_in_pieces(framing: BodyFraming, body: &[u8], step: usize) -> Result<usize, SkipError> {
        let mut skipper = BodySkipper::new(framing);
        let mut used = 0;
        while !skipper.is_done() {
            let end = (used + step).min(body.len());
            assert!(used < end, "ran out of input before the body ended");
            used += skipper.skip(&body[used..end])?;
        }
        Ok(used)
    }

    #[test]
    fn content_length_bodies_end_exactly() {
        for step in [1, 3, 100] {
            assert_eq!(
                skip_in_pieces(BodyFraming::Length(5), b"helloGET /", step),
                Ok(5)
            );
        }
        assert!(BodySkipper::new(BodyFraming::None).is_done());
    }

    #[test]
    fn chunked_bodies_end_after_the_trailer() {
        let body = b"5\r\nhello\r\n1A;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        for step in [1, 2, 7, 1000] {
            assert_eq!(
                skip_in_pieces(BodyFraming::Chunked, body, step),
                Ok(body.len() - 4),
                "step {step}"
            );
        }
        assert_eq!(skip_in_pieces(BodyFraming::Chunked, b"0\r\n\r\n", 1), Ok(5));
        assert_eq!(skip_in_pieces(BodyFraming::Chunked, b"0\n\n", 1), Ok(3));
        // Leading zeros are digits like any other.
        let zeros = b"00000000000000000000005\r\nhello\r\n0000000000000000000\r\n\r\n";
        assert_eq!(
            skip_in_pieces(BodyFraming::Chunked, zeros, 1),
            Ok(zeros.len())
        );
    }

    #[test]
    fn malformed_chunked_is_an_error() {
        for body in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\r\nhelloXX",
            b"-1\r\n",
            b"11111111111111111\r\n",
            b"fffffffffffffffff\r\n",
        ] {
            let mut padded = body.to_vec();
            padded.extend_from_slice(&[b'\n'; 64]);
            assert_eq!(
                skip_in_pieces(BodyFraming::Chunked, &padded, 1),
                Err(SkipError::Malformed),
                "{body:?}"
            );
        }
    }

    #[test]
    fn chunk_sizes_past_the_discard_limit_are_refused_at_the_size_line() {
        // No data follows: the size alone must be enough to refuse, before any byte after
        // the line (the next request, perhaps) is taken for chunk data.
        for body in [
            &b"ffffffffffffffff\r\n"[..],
            b"8000000000000000\r\n",
            b"7fffffffffffffff\r\n",
            b"100001\r\n",
        ] {
            let mut skipper = BodySkipper::new(BodyFraming::Chunked);
            let used = skipper.skip(body);
            assert_eq!(used, Err(SkipError::TooLarge), "{body:?}");
        }
        // Exactly the limit, in one chunk, is still read; one byte more in a second is not.
        let mut body = b"100000\r\n".to_vec();
        body.extend(std::iter::repeat_n(b'x', MAX_DISCARD as usize));
        let mut skipper = BodySkipper::new(BodyFraming::Chunked);
        assert_eq!(skipper.skip(&body), Ok(body.len()));
        assert_eq!(skipper.skip(b"\r\n1\r\n"), Err(SkipError::TooLarge));
    }

    #[test]
    fn bodies_past_the_discard_limit_are_refused() {
        let big = vec![b'a'; MAX_DISCARD as usize + 10];
        let mut skipper = BodySkipper::new(BodyFraming::Length(big.len() as u64));
        assert_eq!(skipper.skip(&big), Err(SkipError::TooLarge));
        let mut chunked = format!("{:x}\r\n", big.len()).into_bytes();
        chunked.extend_from_slice(&big);
        let mut skipper = BodySkipper::new(BodyFraming::Chunked);
        assert_eq!(skipper.skip(&chunked), Err(SkipError::TooLarge));
        assert_eq!(SkipError::TooLarge.status(), Status::PAYLOAD_TOO_LARGE);
    }

    // ANCHOR: bare_cr_tests
    #[test]
    fn bare_cr_and_spaces_in_chunk_lines_are_malformed() {
        // Each of these once ended a body somewhere a front end would not: `5\r3` read as
        // 0x53, `0\r2a` as 0x2a, `0\r\r\n` as the last chunk, `5 3` as 5.
        for body in [
            &b"5\r3\r\nhello\r\n0\r\n\r\n"[..],
            b"0\r2a\r\n",
            b"0\r\r\n\r\n",
            b"5 3\r\nhello\r\n0\r\n\r\n",
            b"5\t3\r\nhello\r\n0\r\n\r\n",
            b"0\r\n\r\r\n",
            b"0\r\nX: y\r\r\n\r\n",
            b"0\r\nX: a\rb\r\n\r\n",
            b"0\r\nX: a\x00b\r\n\r\n",
            b"5;a\rb\r\nhello\r\n0\r\n\r\n",
            b"5;a\xc2\xa0\r\nhello\r\n0\r\n\r\n",
            b"5\xc2\xa0\r\nhello\r\n0\r\n\r\n",
            b"\xc2\xa05\r\nhello\r\n0\r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
            b";x\r\n",
            b"5\r\nhello\r\r\n0\r\n\r\n",
        ] {
            for step in [1, 1000] {
                let mut padded = body.to_vec();
                padded.extend_from_slice(&[b'\n'; 64]);
                assert_eq!(
                    skip_in_pieces(BodyFraming::Chunked, &padded, step),
                    Err(SkipError::Malformed),
                    "{:?}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }
    // ANCHOR_END: bare_cr_tests

    #[test]
    fn whitespace_before_extensions_is_optional_whitespace() {
        // BWS before `;` (RFC 9112 section 7.1.1), and extensions of visible characters.
        let body = b"5 ;a=b\r\nhello\r\n3\t;x=\"y z\"\r\nabc\r\n0 \r\n\r\nNEXT";
        for step in [1, 1000] {
            assert_eq!(
                skip_in_pieces(BodyFraming::Chunked, body, step),
                Ok(body.len() - 4)
            );
        }
    }
}
