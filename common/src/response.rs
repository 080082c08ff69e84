//! A response as data: status, header fields, and a body that is bytes or a region of a file.
//!
//! The stage decides how the bytes reach the socket; this module only decides what they are.
//! A file body is an open file plus a range, never its contents: a 4 GiB video is streamed by
//! the stage in bounded chunks (or by `sendfile`), so memory stays flat whatever is served.

use crate::request::Version;
use crate::status::Status;
use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How big a piece of a file a stage reads (or writes) at once when streaming it.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// What follows the head.
#[derive(Debug)]
pub enum Body {
    /// Nothing: HEAD, 304, or an empty file.
    Empty,
    /// Bytes held in memory: error pages, redirects, and (later) cached small files.
    Bytes(Arc<[u8]>),
    /// `len` bytes of `file` starting at `offset`, to be streamed.
    File(FileBody),
}

/// A region of an open file, read in [`CHUNK_SIZE`] pieces.
#[derive(Debug)]
pub struct FileBody {
    pub file: File,
    pub offset: u64,
    pub len: u64,
}

impl FileBody {
    /// Reads the next piece of the region into `buf`, returning how many bytes were read
    /// (0 once the region is done). Fails if the file shrank under us: the promised
    /// Content-Length can no longer be kept, and the stage must close the connection.
    pub fn read_chunk(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.len == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.len).unwrap_or(usize::MAX));
        // pread: one syscall, and no shared file position to get wrong.
        let n = self.file.read_at(&mut buf[..want], self.offset)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being sent",
            ));
        }
        self.offset += n as u64;
        self.len -= n as u64;
        Ok(n)
    }
}

/// What the `Connection` field of a response says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// The connection closes after this response.
    Close,
    /// An HTTP/1.0 client asked to keep it open and we agree: say so.
    KeepAlive,
    /// HTTP/1.1 keeps it open by default: nothing to say.
    Default,
}

/// A response: what to send, not how.
#[derive(Debug)]
pub struct Response {
    pub status: Status,
    /// Header fields other than the ones every response has (`Date`, `Server`,
    /// `Content-Length`, `Connection`), which [`Response::write_head`] adds itself.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// The `Content-Length` to announce; `None` for responses that have none (304).
    pub content_length: Option<u64>,
    pub body: Body,
    /// The request was malformed in a way that makes the connection unusable (framing,
    /// limits): answer, then close.
    pub close: bool,
}

impl Response {
    /// A response with a small in-memory body.
    pub fn bytes(
        status: Status,
        content_type: &'static str,
        body: impl Into<Arc<[u8]>>,
    ) -> Response {
        let body: Arc<[u8]> = body.into();
        Response {
            status,
            headers: vec![("Content-Type", Cow::Borrowed(content_type))],
            content_length: Some(body.len() as u64),
            body: if body.is_empty() {
                Body::Empty
            } else {
                Body::Bytes(body)
            },
            close: false,
        }
    }

    /// An error page: a few lines of HTML saying what went wrong.
    pub fn error(status: Status) -> Response {
        let page = format!("<!doctype html>\n<title>{status}</title>\n<h1>{status}</h1>\n");
        Response::bytes(status, "text/html; charset=utf-8", page.into_bytes())
    }

    /// The answer to a head we refused to parse: the error, then the connection closes.
    pub fn refuse(status: Status) -> Response {
        let mut response = Response::error(status);
        response.close = true;
        response
    }

    /// Adds a header field.
    pub fn with_header(
        mut self,
        name: &'static str,
        value: impl Into<Cow<'static, str>>,
    ) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// The value of a header field this response carries, if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// Drops the body but keeps every header, `Content-Length` included: the answer to HEAD.
    pub fn without_body(mut self) -> Response {
        self.body = Body::Empty;
        self
    }

    /// How many body bytes will follow the head.
    pub fn body_len(&self) -> u64 {
        match &self.body {
            Body::Empty => 0,
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::File(file) => file.len,
        }
    }

    // ANCHOR: write_head
    /// Appends the status line and header fields, ending with the blank line, to `out`.
    ///
    /// `date` is the current IMF-fixdate (see [`DateCache`]); `server` names the stage.
    pub fn write_head(
        &self,
        out: &mut Vec<u8>,
        version: Version,
        connection: Connection,
        date: &str,
        server: &str,
    ) {
        write_status_line(out, version, self.status);
        field(out, "Server", server);
        field(out, "Date", date);
        for (name, value) in &self.headers {
            field(out, name, value);
        }
        if let Some(length) = self.content_length {
            write_content_length(out, length);
        }
        write_connection_and_end(out, connection);
    }
    // ANCHOR_END: write_head
}

// The pieces of a head, shared with the small-file cache (`crate::cache`), which prebuilds the
// middle of a head once and adds only these per request. None of them allocates: a server
// answering 100,000 requests a second should not format a number through a `String` each time.

/// `HTTP/1.1 200 OK\r\n`
pub(crate) fn write_status_line(out: &mut Vec<u8>, version: Version, status: Status) {
    out.extend_from_slice(version.as_str().as_bytes());
    out.push(b' ');
    write_decimal(out, u64::from(status.code()));
    out.push(b' ');
    out.extend_from_slice(status.reason().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `Content-Length: 1234\r\n`
pub(crate) fn write_content_length(out: &mut Vec<u8>, length: u64) {
    out.extend_from_slice(b"Content-Length: ");
    write_decimal(out, length);
    out.extend_from_slice(b"\r\n");
}

/// The `Connection` field (when there is something to say), then the blank line.
pub(crate) fn write_connection_and_end(out: &mut Vec<u8>, connection: Connection) {
    match connection {
        Connection::Close => field(out, "Connection", "close"),
        Connection::KeepAlive => field(out, "Connection", "keep-alive"),
        Connection::Default => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal, without going through a `String`.
fn write_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Appends one `Name: value` line.
pub(crate) fn field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// An HTTP date (IMF-fixdate, RFC 9110 section 5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
///
/// `httpdate` panics outside 1970..=9999; a time out there (a clock set to 1969) is clamped
/// to the nearest date it can say, so formatting a date never takes a server down. A file's
/// `Last-Modified` is never clamped: such a file has no date (`Validators::of_file`).
pub fn http_date(time: SystemTime) -> String {
    let last = UNIX_EPOCH + Duration::from_secs(253_402_300_799); // 9999-12-31 23:59:59
    httpdate::fmt_http_date(time.clamp(UNIX_EPOCH, last))
}

/// The `Date` field changes once a second; formatting it for every response is wasted work.
/// Each thread (or event loop) keeps one of these and asks it for the current value.
#[derive(Debug, Default)]
pub struct DateCache {
    second: u64,
    text: String,
}

impl DateCache {
    /// The IMF-fixdate for `now`, reformatted only when the second changes.
    pub fn get(&mut self, now: SystemTime) -> &str {
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = http_date(UNIX_EPOCH + Duration::from_secs(second));
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(response: &Response, version: Version, connection: Connection) -> String {
        let mut out = Vec::new();
        response.write_head(
            &mut out,
            version,
            connection,
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "test",
        );
        String::from_utf8(out).expect("ascii head")
    }

    #[test]
    fn serializes_status_line_fields_and_blank_line() {
        let response = Response::bytes(Status::OK, "text/plain; charset=utf-8", &b"hi"[..]);
        assert_eq!(
            head(&response, Version::Http10, Connection::Close),
            "HTTP/1.0 200 OK\r\nServer: test\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(response.body_len(), 2);
    }

    #[test]
    fn keep_alive_is_said_only_when_needed() {
        let response = Response::error(Status::NOT_FOUND);
        assert!(head(&response, Version::Http10, Connection::KeepAlive)
            .contains("\r\nConnection: keep-alive\r\n"));
        assert!(!head(&response, Version::Http11, Connection::Default).contains("Connection"));
    }

    #[test]
    fn head_keeps_content_length_but_drops_the_body() {
        let page_len = Response::error(Status::NOT_FOUND).body_len();
        let response = Response::error(Status::NOT_FOUND).without_body();
        assert_eq!(response.body_len(), 0);
        let expected = format!("Content-Length: {page_len}\r\n");
        assert!(head(&response, Version::Http11, Connection::Default).contains(&expected));
    }

    #[test]
    fn file_bodies_stream_their_region_in_chunks() {
        let path = std::env::temp_dir().join(format!("common-filebody-{}", std::process::id()));
        std::fs::write(&path, b"0123456789").expect("write");
        let mut body = FileBody {
            file: File::open(&path).expect("open"),
            offset: 2,
            len: 5,
        };
        let mut buf = [0u8; 3];
        let mut got = Vec::new();
        loop {
            let n = body.read_chunk(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"23456");
        let mut past_end = FileBody {
            file: File::open(&path).expect("open"),
            offset: 8,
            len: 5,
        };
        assert_eq!(past_end.read_chunk(&mut [0u8; 16]).expect("read"), 2);
        assert!(past_end.read_chunk(&mut [0u8; 16]).is_err());
        std::fs::remove_file(path).expect("cleanup");
    }

    #[test]
    fn date_cache_formats_once_per_second() {
        let mut cache = DateCache::default();
        let t = UNIX_EPOCH + Duration::from_millis(784_111_777_300);
        assert_eq!(cache.get(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            cache.get(t + Duration::from_millis(600)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            cache.get(t + Duration::from_millis(700)),
            "Sun, 06 Nov 1994 08:49:38 GMT"
        );
    }

    #[test]
    fn dates_outside_what_http_can_say_are_clamped_not_panics() {
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(http_date(before), "Thu, 01 Jan 1970 00:00:00 GMT");
        let after = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(http_date(after), "Fri, 31 Dec 9999 23:59:59 GMT");
    }
}
