//! Request-head parsing: bytes in, a [`Request`] (or a reason to refuse it) out.
//!
//! httparse does the tokenizing; this module adds what a server must decide on top of it: the
//! size limits, which versions we speak, how the body is framed, and the handful of header
//! fields the rest of `common` acts on. It never reads a socket: the caller hands it whatever
//! bytes it has so far and is told to come back with more, to answer, or to refuse.

use crate::response::Response;
use crate::status::Status;

/// Longest request line we accept (method, target and version); longer gets 414.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// Largest request head (request line plus header fields); larger gets 431.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header fields in one request; more gets 431.
pub const MAX_HEADERS: usize = 100;

/// The request methods a static-file server knows by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// A method defined by RFC 9110 or RFC 5789 that a file server does not allow: 405.
    Known(&'static str),
    /// A syntactically valid method we have never heard of: 501.
    Other(String),
}

impl Method {
    pub(crate) fn from_token(token: &str) -> Method {
        const KNOWN: [&str; 7] = [
            "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
        ];
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            _ => match KNOWN.iter().find(|known| **known == token) {
                Some(known) => Method::Known(known),
                None => Method::Other(token.to_string()),
            },
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Known(name) => name,
            Method::Other(name) => name,
        }
    }
}

/// The protocol versions we speak. Anything else is refused before a `Request` exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
    /// A request that came in an HTTP/2 stream (stage07): never parsed from a request line,
    /// only made by `h2::http` from a stream's head. Named `HTTP/2.0` in the access log, as
    /// nginx and Apache write it.
    Http20,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
            Version::Http20 => "HTTP/2.0",
        }
    }
}

/// How the request's body, if any, is delimited (RFC 9112 section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: the next request starts right after the head.
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// `Transfer-Encoding: chunked`: the body ends with a zero-size chunk.
    Chunked,
}

/// One parsed request head: what was asked, and the fields the server acts on.
///
/// Only the headers `common` uses are kept, already checked; everything else is dropped at
/// parse time, so no later code has to search a header list or wonder about duplicates.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    /// The request target exactly as sent (for the access log).
    pub target: String,
    /// The path part of the target, still percent-encoded, always starting with `/`.
    pub path: String,
    /// The query, without its `?`; ignored when looking up files.
    pub query: Option<String>,
    pub version: Version,
    /// From the `Host` field, or from the target when it is in absolute form.
    pub host: Option<String>,
    /// `Connection: close` was sent.
    pub connection_close: bool,
    /// `Connection: keep-alive` was sent.
    pub connection_keep_alive: bool,
    pub body: BodyFraming,
    pub if_modified_since: Option<String>,
    pub if_none_match: Option<String>,
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub authorization: Option<String>,
    pub accept: Option<String>,
    /// Every `Accept-Encoding` field, joined as one list (precompressed files choose by it).
    pub accept_encoding: Option<String>,
    pub referer: Option<String>,
    pub user_agent: Option<String>,
}

/// What [`parse_head`] made of the bytes it was given.
// Returned and matched at once, never stored: boxing the big variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parsed {
    /// A whole head: the request, and how many bytes of the buffer it used.
    Complete(Request, usize),
    /// Not a whole head yet, and nothing wrong so far: read more and try again.
    Partial,
    /// The head is unacceptable: answer as the refusal says, then close the connection.
    Invalid(Refusal),
}

/// A head we will not serve: the status to answer with, and whether it asked for HEAD.
///
/// A HEAD gets no body, ever (RFC 9110 section 9.3.2), even when it is refused before a
/// [`Request`] exists: a client reading a response to HEAD reads no body, and would take the
/// error page's bytes for the start of the next response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: Status,
    pub head: bool,
}

impl Refusal {
    /// Refuses the head whose bytes (all of them, or as many as arrived) start `buf`.
    pub fn new(status: Status, buf: &[u8]) -> Refusal {
        // The empty lines a server may skip before a request line (RFC 9112 section 2.2).
        let start = buf.iter().position(|&b| b != b'\r' && b != b'\n');
        let line = start.map_or(&[][..], |start| &buf[start..]);
        Refusal {
            status,
            head: line.starts_with(b"HEAD "),
        }
    }

    /// The answer: the error page (its headers only, for HEAD), then the connection closes.
    pub fn response(self) -> Response {
        let response = Response::refuse(self.status);
        if self.head {
            response.without_body()
        } else {
            response
        }
    }
}

// ANCHOR: parse_head
/// Parses the request head at the start of `buf`.
///
/// Call it again with the same buffer (plus whatever arrived since) after a [`Parsed::Partial`].
/// The limits are checked on partial input too, so a client cannot make us buffer without end
/// by never finishing its head.
pub fn parse_head(buf: &[u8]) -> Parsed {
    // The request line is bounded on its own: 414 tells the client its URI is the problem.
    let line_end = buf
        .iter()
        .take(MAX_REQUEST_LINE + 2)
        .position(|&b| b == b'\n');
    match line_end {
        None if buf.len() > MAX_REQUEST_LINE + 1 => return refuse(Status::URI_TOO_LONG, buf),
        Some(end) if end > MAX_REQUEST_LINE + 1 => return refuse(Status::URI_TOO_LONG, buf),
        _ => {}
    }

    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut fields);
    match head.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len > MAX_HEAD => {
            refuse(Status::HEADERS_TOO_LARGE, buf)
        }
        Ok(httparse::Status::Complete(len)) => match Request::from_httparse(&head) {
            Ok(request) => Parsed::Complete(request, len),
            Err(status) => refuse(status, buf),
        },
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            refuse(Status::HEADERS_TOO_LARGE, buf)
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => refuse(Status::HEADERS_TOO_LARGE, buf),
        Err(httparse::Error::Version) => match as_http11(buf) {
            Some(rewritten) => parse_head(&rewritten),
            None => refuse(version_error(buf), buf),
        },
        Err(_) => refuse(Status::BAD_REQUEST, buf),
    }
}
// ANCHOR_END: parse_head

fn refuse(status: Status, buf: &[u8]) -> Parsed {
    Parsed::Invalid(Refusal::new(status, buf))
}

// ANCHOR: later_minor
/// `HTTP/1.2` to `HTTP/1.9`: a later minor version of the protocol we speak. RFC 9110
/// section 2.5 says to read it as the highest minor version we support (nginx does the same),
/// so the head is parsed again with `1.1` in its place. httparse knows only 1.0 and 1.1,
/// hence the copy; it is made for such requests only. `None` for any other version.
fn as_http11(buf: &[u8]) -> Option<Vec<u8>> {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = &buf[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let minor = line.len().checked_sub(1)?;
    if !line[..minor].ends_with(b" HTTP/1.") || !(b'2'..=b'9').contains(&line[minor]) {
        return None;
    }
    let mut rewritten = buf.to_vec();
    rewritten[minor] = b'1';
    Some(rewritten)
}
// ANCHOR_END: later_minor

/// httparse only knows HTTP/1.0 and 1.1. A well-formed later version (`HTTP/2.0`, `HTTP/3`)
/// deserves 505 ("I don't speak that"); anything else in that place is garbage: 400.
fn version_error(buf: &[u8]) -> Status {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // Exactly `method SP target SP version`: otherwise the line is garbage, whatever it ends with.
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let [_, _, version] = parts[..] else {
        return Status::BAD_REQUEST;
    };
    let Some(number) = version.strip_prefix(b"HTTP/") else {
        return Status::BAD_REQUEST;
    };
    let (major, minor) = match number.iter().position(|&b| b == b'.') {
        Some(dot) => (&number[..dot], Some(&number[dot + 1..])),
        None => (number, None),
    };
    let digits = |s: &[u8]| !s.is_empty() && s.len() <= 3 && s.iter().all(u8::is_ascii_digit);
    // A major version with a leading zero (`01.1`) is no version, and a major of 1 that
    // httparse refused (`HTTP/1`, `HTTP/1.x`) is a malformed 1.x, not one we do not speak.
    if digits(major) && minor.is_none_or(digits) && major[0] != b'0' && major != b"1" {
        Status::VERSION_NOT_SUPPORTED
    } else {
        Status::BAD_REQUEST
    }
}

impl Request {
    fn from_httparse(head: &httparse::Request<'_, '_>) -> Result<Request, Status> {
        // httparse has already checked the method is a token and the target has no spaces or
        // control characters; a Complete parse always has all three parts.
        let (Some(method), Some(target), Some(minor)) = (head.method, head.path, head.version)
        else {
            return Err(Status::BAD_REQUEST);
        };
        let version = if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        };
        let (path, query, target_host) = split_target(target)?;

        let mut request = Request {
            method: Method::from_token(method),
            target: target.to_string(),
            path,
            query,
            version,
            host: None,
            connection_close: false,
            connection_keep_alive: false,
            body: BodyFraming::None,
            if_modified_since: None,
            if_none_match: None,
            range: None,
            if_range: None,
            authorization: None,
            accept: None,
            accept_encoding: None,
            referer: None,
            user_agent: None,
        };
        let mut content_length: Option<u64> = None;
        let mut transfer_encoding: Option<String> = None;
        let mut host_fields = 0;
        let mut if_modified_since_fields = 0;

        for field in head.headers.iter() {
            let value = field_value(field.value);
            let name = field.name;
            if name.eq_ignore_ascii_case("host") {
                host_fields += 1;
                // RFC 9112 section 3.2: a Host that is not a valid authority is a 400.
                if !is_authority(&value) {
                    return Err(Status::BAD_REQUEST);
                }
                request.host = Some(value);
            } else if name.eq_ignore_ascii_case("content-length") {
                let length = parse_content_length(&value)?;
                // Two Content-Lengths that disagree are a classic smuggling vector: refuse.
                if content_length.is_some_and(|earlier| earlier != length) {
                    return Err(Status::BAD_REQUEST);
                }
                content_length = Some(length);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                // Repeated fields form one comma-separated list (RFC 9110 section 5.3).
                transfer_encoding = Some(match transfer_encoding {
                    Some(earlier) => format!("{earlier}, {value}"),
                    None => value,
                });
            } else if name.eq_ignore_ascii_case("connection") {
                // ANCHOR: connection_options
                for option in value.split(',').map(trim_ows) {
                    // An option that is not a token cannot be read; "close" is the safe reading.
                    request.connection_close |=
                        option.eq_ignore_ascii_case("close") || !is_token_list_item(option);
                    request.connection_keep_alive |= option.eq_ignore_ascii_case("keep-alive");
                }
                // ANCHOR_END: connection_options
            } else if name.eq_ignore_ascii_case("if-none-match") {
                append_list(&mut request.if_none_match, value);
            } else if name.eq_ignore_ascii_case("accept") {
                append_list(&mut request.accept, value);
            } else if name.eq_ignore_ascii_case("accept-encoding") {
                append_list(&mut request.accept_encoding, value);
            } else {
                let slot = match name.to_ascii_lowercase().as_str() {
                    "if-modified-since" => {
                        if_modified_since_fields += 1;
                        &mut request.if_modified_since
                    }
                    "range" => &mut request.range,
                    "if-range" => &mut request.if_range,
                    "authorization" => &mut request.authorization,
                    "referer" => &mut request.referer,
                    "user-agent" => &mut request.user_agent,
                    _ => continue,
                };
                *slot = Some(value);
            }
        }

        // RFC 9112 section 3.2: a 1.1 request must carry exactly one Host.
        if host_fields > 1 || (version == Version::Http11 && host_fields == 0) {
            return Err(Status::BAD_REQUEST);
        }
        // If-Modified-Since holds one date (RFC 9110 section 13.1.3): with several, which one
        // the client meant is unknown, and "a recipient MUST ignore" an invalid one. Ignore all.
        if if_modified_since_fields > 1 {
            request.if_modified_since = None;
        }
        if target_host.is_some() {
            request.host = target_host;
        }
        request.body = body_framing(version, content_length, transfer_encoding.as_deref())?;
        Ok(request)
    }

    /// The request line as the client sent it, for the access log.
    pub fn request_line(&self) -> String {
        format!(
            "{} {} {}",
            self.method.as_str(),
            self.target,
            self.version.as_str()
        )
    }
}

// ANCHOR: trim_ows
/// Header values are bytes; the few that are not UTF-8 (obs-text) are kept lossily, which
/// is enough for logging and makes them fail any comparison that matters.
fn field_value(bytes: &[u8]) -> String {
    // Trim the bytes before decoding: a lone 0xA0 byte must stay a byte, not become U+FFFD
    // that a later, Unicode-aware trim could also strip.
    let start = bytes
        .iter()
        .position(|&b| !is_ows(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_ows(b))
        .map_or(start, |last| last + 1);
    String::from_utf8_lossy(&bytes[start..end]).into_owned()
}

/// Optional whitespace in HTTP is SP and HTAB, nothing else (RFC 9110 section 5.6.3).
fn is_ows(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// Strips optional whitespace from a field value or a list element. Never `str::trim`: that
/// also strips U+00A0, U+0085, U+2003, U+3000..., which a front end in front of us may not
/// read as whitespace; two readings of one field is how request smuggling starts.
pub fn trim_ows(value: &str) -> &str {
    value.trim_matches([' ', '\t'])
}
// ANCHOR_END: trim_ows

/// A token (RFC 9110 section 5.6.2): what names a method, a coding or a connection option.
fn is_token(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// An element of a `#token` list: a token, or empty (`a,,b` is allowed, RFC 9110 5.6.1).
fn is_token_list_item(value: &str) -> bool {
    value.is_empty() || is_token(value)
}

// ANCHOR: authority
/// `uri-host [ ":" port ]` (RFC 9112 section 3.2, RFC 3986 section 3.2): a registered name or
/// IPv4 address, or an IPv6 literal in brackets, then digits. No userinfo (`a@b`), no path
/// (`a/b`), no space or backslash: a Host that a proxy and we could read as two hosts is a 400.
pub(crate) fn is_authority(value: &str) -> bool {
    let (host_ok, port) = match value.strip_prefix('[') {
        Some(literal) => match literal.split_once(']') {
            Some((address, port)) => {
                let ipv6 = |b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';
                (!address.is_empty() && address.bytes().all(ipv6), port)
            }
            None => return false,
        },
        None => {
            let (host, port) = value.split_at(value.find(':').unwrap_or(value.len()));
            // An empty host is no host: an "http" URI must have one (RFC 9110 section 4.2.1).
            (!host.is_empty() && is_reg_name(host), port)
        }
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// `*( unreserved / pct-encoded / sub-delims )`: the characters a host name may hold.
fn is_reg_name(host: &str) -> bool {
    let bytes = host.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3);
                if !hex.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) => i += 1,
            _ => return false,
        }
    }
    true
}
// ANCHOR_END: authority

pub(crate) fn append_list(slot: &mut Option<String>, value: String) {
    *slot = Some(match slot.take() {
        Some(earlier) => format!("{earlier}, {value}"),
        None => value,
    });
}

/// Content-Length is 1*DIGIT: no sign, no spaces inside, no list, and it must fit a u64.
fn parse_content_length(value: &str) -> Result<u64, Status> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Status::BAD_REQUEST);
    }
    value.parse().map_err(|_| Status::BAD_REQUEST)
}

// ANCHOR: body_framing
/// Decides how the body is delimited, refusing every ambiguous combination (RFC 9112 6.1, 6.3).
fn body_framing(
    version: Version,
    content_length: Option<u64>,
    transfer_encoding: Option<&str>,
) -> Result<BodyFraming, Status> {
    match (content_length, transfer_encoding) {
        // Both at once is how request smuggling starts: two parsers, two answers. Refuse.
        (Some(_), Some(_)) => Err(Status::BAD_REQUEST),
        // HTTP/1.0 has no transfer codings; a 1.0 message with one has faulty framing.
        (None, Some(_)) if version == Version::Http10 => Err(Status::BAD_REQUEST),
        (None, Some(codings)) => {
            let codings: Vec<&str> = codings.split(',').map(trim_ows).collect();
            // Each coding is a token (perhaps with `;` parameters): anything else, such as
            // `chunked` with a U+00A0 stuck to it, is not exactly valid framing.
            let readable =
                |coding: &&str| is_token(trim_ows(coding.split(';').next().unwrap_or("")));
            if !codings.iter().all(readable) {
                return Err(Status::BAD_REQUEST);
            }
            let chunked_last = codings
                .last()
                .is_some_and(|c| c.eq_ignore_ascii_case("chunked"));
            if !chunked_last {
                // Without chunked last, the body's end cannot be known.
                Err(Status::BAD_REQUEST)
            } else if codings.len() > 1 {
                // gzip, chunked and the like: well-formed, but we decode no codings but chunked.
                Err(Status::NOT_IMPLEMENTED)
            } else {
                Ok(BodyFraming::Chunked)
            }
        }
        (Some(0), None) | (None, None) => Ok(BodyFraming::None),
        (Some(length), None) => Ok(BodyFraming::Length(length)),
    }
}
// ANCHOR_END: body_framing

/// Splits a request target into (path, query, host from an absolute-form target).
///
/// Origin-form `/a/b?q` is what clients send to servers; absolute-form `http://host/a/b` is
/// what they send to proxies, and servers must accept it too (RFC 9112 section 3.2.2).
pub(crate) fn split_target(
    target: &str,
) -> Result<(String, Option<String>, Option<String>), Status> {
    let (host, rest) = if target.starts_with('/') {
        (None, target)
    } else {
        let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
        let after_scheme = if lower.starts_with("http://") {
            &target[7..]
        } else if lower.starts_with("https://") {
            &target[8..]
        } else {
            // asterisk-form (`OPTIONS *`) and authority-form (`CONNECT`) name no file.
            return Err(Status::BAD_REQUEST);
        };
        let authority_end = after_scheme.find(['/', '?']).unwrap_or(after_scheme.len());
        let authority = &after_scheme[..authority_end];
        if authority.is_empty() || !is_authority(authority) {
            return Err(Status::BAD_REQUEST);
        }
        (Some(authority.to_string()), &after_scheme[authority_end..])
    };
    // A fragment is never sent by a conforming client; drop it rather than look it up.
    let rest = rest.split('#').next().unwrap_or_default();
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query.to_string())),
        None => (rest, None),
    };
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path.to_string()
    };
    Ok((path, query, host))
}

/// For the unit tests of every module: the request a complete, valid head parses to.
#[cfg(test)]
pub(crate) fn test_request(raw: &str) -> Request {
    match parse_head(raw.as_bytes()) {
        Parsed::Complete(request, _) => request,
        other => panic!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(raw: &str) -> (Request, usize) {
        match parse_head(raw.as_bytes()) {
            Parsed::Complete(request, len) => (request, len),
            other => panic!("expected a complete head for {raw:?}, got {other:?}"),
        }
    }

    fn invalid(raw: &[u8]) -> Status {
        match parse_head(raw) {
            Parsed::Invalid(refusal) => refusal.status,
            other => panic!("expected an invalid head for {raw:?}, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_simple_request_and_reports_bytes_used() {
        let raw = "GET /index.html?x=1 HTTP/1.0\r\nUser-Agent: t\r\n\r\nNEXT";
        let (request, len) = complete(raw);
        assert_eq!(len, raw.len() - 4);
        assert_eq!(request.method, Method::Get);
        assert_eq!(request.path, "/index.html");
        assert_eq!(request.query.as_deref(), Some("x=1"));
        assert_eq!(request.version, Version::Http10);
        assert_eq!(request.user_agent.as_deref(), Some("t"));
        assert_eq!(request.request_line(), "GET /index.html?x=1 HTTP/1.0");
    }

    #[test]
    fn every_prefix_of_a_head_is_partial() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";
        for end in 0..raw.len() {
            assert!(
                matches!(parse_head(&raw[..end]), Parsed::Partial),
                "prefix {end}"
            );
        }
        assert!(matches!(parse_head(raw), Parsed::Complete(_, len) if len == raw.len()));
    }

    #[test]
    fn accepts_bare_lf_line_endings() {
        let (request, _) = complete("GET /a HTTP/1.0\nHost: x\n\n");
        assert_eq!(request.path, "/a");
    }

    #[test]
    fn absolute_form_gives_path_and_host() {
        let (request, _) =
            complete("GET http://Example.com:8080/docs/?q HTTP/1.1\r\nHost: other\r\n\r\n");
        assert_eq!(request.path, "/docs/");
        assert_eq!(request.host.as_deref(), Some("Example.com:8080"));
        let (request, _) = complete("HEAD HTTPS://h HTTP/1.0\r\n\r\n");
        assert_eq!(request.path, "/");
        assert_eq!(request.method, Method::Head);
    }

    #[test]
    fn refuses_targets_that_name_no_path() {
        assert_eq!(
            invalid(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
            Status::BAD_REQUEST
        );
        assert_eq!(
            invalid(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"),
            Status::BAD_REQUEST
        );
        assert_eq!(
            invalid(b"GET ftp://a/ HTTP/1.0\r\n\r\n"),
            Status::BAD_REQUEST
        );
        assert_eq!(
            invalid(b"GET http:///x HTTP/1.0\r\n\r\n"),
            Status::BAD_REQUEST
        );
    }

    #[test]
    fn methods_are_sorted_into_served_known_and_unknown() {
        assert_eq!(
            complete("POST / HTTP/1.0\r\n\r\n").0.method,
            Method::Known("POST")
        );
        assert_eq!(
            complete("BREW / HTTP/1.0\r\n\r\n").0.method,
            Method::Other("BREW".into())
        );
        assert_eq!(invalid(b"G(T / HTTP/1.0\r\n\r\n"), Status::BAD_REQUEST);
    }

    #[test]
    fn versions_we_do_not_speak() {
        assert_eq!(
            invalid(b"GET / HTTP/2.0\r\n\r\n"),
            Status::VERSION_NOT_SUPPORTED
        );
        assert_eq!(
            invalid(b"GET / HTTP/3\r\n\r\n"),
            Status::VERSION_NOT_SUPPORTED
        );
        assert_eq!(invalid(b"GET / HTTP/x.y\r\n\r\n"), Status::BAD_REQUEST);
        // Malformed spellings of 1.x are garbage, not a version we do not speak.
        for version in ["HTTP/1", "HTTP/01.1", "HTTP/00.9", "HTTP/0.9", "HTTP/1.x"] {
            let raw = format!("GET / {version}\r\nHost: h\r\n\r\n");
            assert_eq!(invalid(raw.as_bytes()), Status::BAD_REQUEST, "{version}");
        }
        assert_eq!(
            invalid(b"GET / HTTP/10.0\r\n\r\n"),
            Status::VERSION_NOT_SUPPORTED
        );
        assert_eq!(invalid(b"GET / FTP/1.0\r\n\r\n"), Status::BAD_REQUEST);
        assert_eq!(invalid(b"GET /\r\n\r\n"), Status::BAD_REQUEST);
        assert_eq!(invalid(b"GET /a b HTTP/1.0\r\n\r\n"), Status::BAD_REQUEST);
    }

    #[test]
    fn garbage_and_malformed_fields_are_400() {
        assert_eq!(
            invalid(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
            Status::BAD_REQUEST
        );
        assert_eq!(
            invalid(b"GET / HTTP/1.0\r\nNo colon here\r\n\r\n"),
            Status::BAD_REQUEST
        );
        assert_eq!(
            invalid(b"GET / HTTP/1.0\r\nName : v\r\n\r\n"),
            Status::BAD_REQUEST
        );
        assert_eq!(
            invalid(b"GET / HTTP/1.0\r\nA: b\r\n folded\r\n\r\n"),
            Status::BAD_REQUEST
        );
        assert_eq!(
            invalid(b"GET / HTTP/1.0\r\nA: b\x00c\r\n\r\n"),
            Status::BAD_REQUEST
        );
    }

    #[test]
    fn long_request_line_is_414_even_before_it_ends() {
        let mut raw = b"GET /".to_vec();
        raw.extend(std::iter::repeat_n(b'a', MAX_REQUEST_LINE));
        assert_eq!(invalid(&raw), Status::URI_TOO_LONG);
        raw.extend(b" HTTP/1.0\r\n\r\n");
        assert_eq!(invalid(&raw), Status::URI_TOO_LONG);
    }

    #[test]
    fn a_request_line_just_under_the_limit_is_fine() {
        let path = format!("/{}", "a".repeat(MAX_REQUEST_LINE - 20));
        let (request, _) = complete(&format!("GET {path} HTTP/1.0\r\n\r\n"));
        assert_eq!(request.path, path);
    }

    #[test]
    fn big_heads_and_many_fields_are_431() {
        let mut raw = b"GET / HTTP/1.0\r\n".to_vec();
        while raw.len() < MAX_HEAD {
            raw.extend(b"X-Filler: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n");
        }
        assert_eq!(invalid(&raw), Status::HEADERS_TOO_LARGE);
        let mut raw = b"GET / HTTP/1.0\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            raw.extend(format!("X-{i}: y\r\n").as_bytes());
        }
        assert_eq!(invalid(&raw), Status::HEADERS_TOO_LARGE);
    }

    #[test]
    fn http11_needs_exactly_one_host() {
        assert_eq!(invalid(b"GET / HTTP/1.1\r\n\r\n"), Status::BAD_REQUEST);
        assert_eq!(
            invalid(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Status::BAD_REQUEST
        );
        assert!(complete("GET / HTTP/1.0\r\n\r\n").0.host.is_none());
    }

    #[test]
    fn body_framing_rules() {
        let framing = |fields: &str| match parse_head(
            format!("POST / HTTP/1.1\r\nHost: a\r\n{fields}\r\n").as_bytes(),
        ) {
            Parsed::Complete(request, _) => Ok(request.body),
            Parsed::Invalid(refusal) => Err(refusal.status),
            Parsed::Partial => panic!("partial"),
        };
        assert_eq!(framing(""), Ok(BodyFraming::None));
        assert_eq!(framing("Content-Length: 0\r\n"), Ok(BodyFraming::None));
        assert_eq!(
            framing("Content-Length: 12\r\n"),
            Ok(BodyFraming::Length(12))
        );
        assert_eq!(
            framing("Content-Length: 12\r\nContent-Length: 12\r\n"),
            Ok(BodyFraming::Length(12))
        );
        assert_eq!(
            framing("Content-Length: 12\r\nContent-Length: 13\r\n"),
            Err(Status::BAD_REQUEST)
        );
        assert_eq!(framing("Content-Length: -1\r\n"), Err(Status::BAD_REQUEST));
        assert_eq!(framing("Content-Length: +5\r\n"), Err(Status::BAD_REQUEST));
        assert_eq!(
            framing("Content-Length: 5, 5\r\n"),
            Err(Status::BAD_REQUEST)
        );
        assert_eq!(
            framing("Content-Length: 99999999999999999999999\r\n"),
            Err(Status::BAD_REQUEST)
        );
        assert_eq!(
            framing("Transfer-Encoding: chunked\r\n"),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(
            framing("Transfer-Encoding: Chunked\r\n"),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(
            framing("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"),
            Err(Status::BAD_REQUEST)
        );
        assert_eq!(
            framing("Transfer-Encoding: chunked, identity\r\n"),
            Err(Status::BAD_REQUEST)
        );
        assert_eq!(
            framing("Transfer-Encoding: gzip, chunked\r\n"),
            Err(Status::NOT_IMPLEMENTED)
        );
        assert_eq!(
            framing("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
            Err(Status::NOT_IMPLEMENTED)
        );
        let http10 = parse_head(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(matches!(
            http10,
            Parsed::Invalid(Refusal {
                status: Status::BAD_REQUEST,
                ..
            })
        ));
    }

    #[test]
    fn connection_options_and_conditional_fields() {
        let (request, _) = complete(
            "GET / HTTP/1.0\r\nConnection: Keep-Alive, Upgrade\r\nIf-None-Match: \"a\"\r\nIf-None-Match: \"b\"\r\nIf-Modified-Since: x\r\nRange: bytes=0-1\r\n\r\n",
        );
        assert!(request.connection_keep_alive && !request.connection_close);
        assert_eq!(request.if_none_match.as_deref(), Some("\"a\", \"b\""));
        assert_eq!(request.if_modified_since.as_deref(), Some("x"));
        assert_eq!(request.range.as_deref(), Some("bytes=0-1"));
        let (request, _) = complete("GET / HTTP/1.1\r\nHost: a\r\nconnection: close\r\n\r\n");
        assert!(request.connection_close);
        // Accept-Encoding fields are one list, whatever the case of their name.
        let (request, _) = complete(
            "GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\naccept-encoding: br;q=0.5\r\n\r\n",
        );
        assert_eq!(request.accept_encoding.as_deref(), Some("gzip, br;q=0.5"));
    }

    #[test]
    fn later_minor_versions_are_read_as_http11() {
        for minor in b'2'..=b'9' {
            let raw = format!("GET /a HTTP/1.{}\r\nHost: h\r\n\r\n", char::from(minor));
            let (request, len) = complete(&raw);
            assert_eq!(
                (request.version, len),
                (Version::Http11, raw.len()),
                "{raw:?}"
            );
            assert_eq!(request.path, "/a");
        }
        // Read as 1.1, so it needs its Host like any 1.1 request.
        assert_eq!(invalid(b"GET / HTTP/1.5\r\n\r\n"), Status::BAD_REQUEST);
        assert!(matches!(
            parse_head(b"GET / HTTP/1.2\r\nHost: h\r\n"),
            Parsed::Partial
        ));
        // One digit each side of the dot (RFC 9112 section 2.3): `1.10` is no version.
        assert_eq!(
            invalid(b"GET / HTTP/1.10\r\nHost: h\r\n\r\n"),
            Status::BAD_REQUEST
        );
        assert_eq!(
            invalid(b"GET / HTTP/2.1\r\nHost: h\r\n\r\n"),
            Status::VERSION_NOT_SUPPORTED
        );
    }

    #[test]
    fn only_sp_and_htab_are_trimmed_from_field_values() {
        let (request, _) = complete("GET / HTTP/1.0\r\nUser-Agent: \t x \t\r\n\r\n");
        assert_eq!(request.user_agent.as_deref(), Some("x"));
        let (request, _) = complete("GET / HTTP/1.0\r\nUser-Agent: \u{a0}x\u{3000}\r\n\r\n");
        assert_eq!(request.user_agent.as_deref(), Some("\u{a0}x\u{3000}"));
        assert_eq!(trim_ows(" \tx\u{a0} "), "x\u{a0}");
        assert_eq!(field_value(b" \xa0 "), "\u{fffd}");
    }

    #[test]
    fn framing_fields_with_unicode_whitespace_are_400() {
        let framing = |fields: &str| match parse_head(
            format!("POST / HTTP/1.1\r\nHost: a\r\n{fields}\r\n").as_bytes(),
        ) {
            Parsed::Complete(request, _) => Ok(request.body),
            Parsed::Invalid(refusal) => Err(refusal.status),
            Parsed::Partial => panic!("partial"),
        };
        for space in [
            "\u{a0}", "\u{85}", "\u{2003}", "\u{3000}", "\u{feff}", "\x0b", "\x0c",
        ] {
            for fields in [
                format!("Transfer-Encoding: chunked{space}\r\n"),
                format!("Transfer-Encoding: {space}chunked\r\n"),
                format!("Transfer-Encoding: gzip{space}, chunked\r\n"),
                format!("Content-Length: 42{space}\r\n"),
                format!("Content-Length: {space}42\r\n"),
            ] {
                assert_eq!(framing(&fields), Err(Status::BAD_REQUEST), "{fields:?}");
            }
        }
        // SP and HTAB around a value are optional whitespace, and nothing more.
        assert_eq!(
            framing("Transfer-Encoding: \t chunked \t\r\n"),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(
            framing("Content-Length:\t42 \r\n"),
            Ok(BodyFraming::Length(42))
        );
        assert_eq!(
            framing("Transfer-Encoding: chunked,\r\n"),
            Err(Status::BAD_REQUEST)
        );
    }

    #[test]
    fn host_must_be_a_valid_authority() {
        for host in [
            "a",
            "a:80",
            "a:",
            "127.0.0.1:8080",
            "[::1]",
            "[::1]:80",
            "xn--caf-dma.example",
            "a%41b",
        ] {
            let (request, _) = complete(&format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"));
            assert_eq!(request.host.as_deref(), Some(host));
        }
        for host in [
            "a b",
            "a/b",
            "a\\b",
            "a@b",
            "u:p@b",
            "a:b",
            "a:80:90",
            "[::1",
            "[x]",
            "::1",
            "a%4",
            "a\u{a0}",
            "caf\u{e9}",
            "a?b",
            "a#b",
        ] {
            let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            assert_eq!(invalid(raw.as_bytes()), Status::BAD_REQUEST, "{host:?}");
        }
        assert_eq!(
            invalid(b"GET http://a b/ HTTP/1.1\r\nHost: a\r\n\r\n"),
            Status::BAD_REQUEST
        );
        assert_eq!(
            invalid(b"GET http://a\\b/ HTTP/1.1\r\nHost: a\r\n\r\n"),
            Status::BAD_REQUEST
        );
    }

    #[test]
    fn close_is_read_in_every_connection_field() {
        for fields in [
            "Connection: keep-alive, close\r\n",
            "Connection: close, keep-alive\r\n",
            "Connection: keep-alive\r\nConnection: close\r\n",
            "Connection: keep-alive\r\nConnection: x, CLOSE\r\n",
            // Unreadable options are read the safe way.
            "Connection: keep-alive, close\u{a0}\r\n",
        ] {
            let (request, _) = complete(&format!("GET / HTTP/1.0\r\n{fields}\r\n"));
            assert!(request.connection_close, "{fields:?}");
        }
        let (request, _) = complete("GET / HTTP/1.0\r\nConnection: keep-alive,,Upgrade\r\n\r\n");
        assert!(request.connection_keep_alive && !request.connection_close);
    }

    #[test]
    fn several_if_modified_since_fields_are_ignored() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        let (one, _) = complete(&format!(
            "GET / HTTP/1.0\r\nIf-Modified-Since: {date}\r\n\r\n"
        ));
        assert_eq!(one.if_modified_since.as_deref(), Some(date));
        let (two, _) = complete(&format!(
            "GET / HTTP/1.0\r\nIf-Modified-Since: {date}\r\nIf-Modified-Since: {date}\r\n\r\n"
        ));
        assert_eq!(two.if_modified_since, None);
    }

    #[test]
    fn a_refused_head_gets_no_body() {
        for raw in [
            &b"HEAD / HTTP/1.1\r\n\r\n"[..],
            b"HEAD / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HEAD / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"\r\nHEAD / HTTP/1.1\r\nHost: a b\r\n\r\n",
            b"HEAD / HTTP/1.1\r\nX: a\rb\r\n\r\n",
        ] {
            let Parsed::Invalid(refusal) = parse_head(raw) else {
                panic!("{raw:?}");
            };
            assert!(refusal.head, "{raw:?}");
            let response = refusal.response();
            assert!(response.close && response.body_len() == 0, "{raw:?}");
            assert!(response.content_length.is_some_and(|len| len > 0));
        }
        let Parsed::Invalid(refusal) = parse_head(b"GET / HTTP/1.1\r\n\r\n") else {
            panic!("no host");
        };
        assert!(!refusal.head && refusal.response().body_len() > 0);
        assert!(!Refusal::new(Status::REQUEST_TIMEOUT, b"HEADER").head);
    }
}
