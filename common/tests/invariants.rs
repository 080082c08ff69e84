// The invariants `common` must keep on ANY input, shared by the property test
// (common/tests/properties.rs, in every `cargo test`) and the cargo-fuzz target
// (fuzz/fuzz_targets/request.rs, for long runs). Included with `include!`, so no `//!` here.

use common::framing::BodySkipper;
use common::path;
use common::request::{self, BodyFraming, Parsed, MAX_HEAD};
use common::{Body, Site, Status};

/// Feeds `data` through everything a request touches and panics on any broken invariant.
pub fn check_invariants(site: &Site, data: &[u8]) {
    match request::parse_head(data) {
        Parsed::Complete(request, used) => {
            assert!(
                used <= data.len() && used <= MAX_HEAD,
                "used {used} of {}",
                data.len()
            );
            assert!(request.path.starts_with('/'), "path {:?}", request.path);
            // Every shorter prefix of a complete head is only "need more bytes".
            for end in [0, used / 2, used.saturating_sub(1)] {
                if end < used {
                    let prefix = request::parse_head(&data[..end]);
                    assert!(
                        matches!(prefix, Parsed::Partial),
                        "prefix {end} of {used}: {prefix:?}"
                    );
                }
            }
            check_path(&request.path);
            check_body(request.body, &data[used..]);
            check_response(site, &request);
        }
        Parsed::Partial => assert!(data.len() < MAX_HEAD, "partial at {} bytes", data.len()),
        Parsed::Invalid(refusal) => {
            let status = refusal.status;
            let allowed = [400, 414, 431, 501, 505];
            assert!(allowed.contains(&status.code()), "status {status}");
            // A HEAD gets no body, even refused before a request exists.
            if refusal.head {
                assert_eq!(refusal.response().body_len(), 0, "refused HEAD with a body");
            }
        }
    }
    if let Parsed::Complete(_, used) = request::parse_head(data) {
        check_framing_fields(&data[..used]);
    }
}

/// A head is never accepted with a framing field (Content-Length, Transfer-Encoding) whose
/// value holds anything but visible ASCII, SP and HTAB: no bare CR, no U+00A0 or other
/// "whitespace" that a front end could read differently.
fn check_framing_fields(head: &[u8]) {
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
        if name == "content-length" || name == "transfer-encoding" {
            let value = &line[colon + 1..];
            assert!(
                value
                    .iter()
                    .all(|&b| b == b' ' || b == b'\t' || (0x21..=0x7e).contains(&b)),
                "accepted {name} {:?}",
                String::from_utf8_lossy(value)
            );
        }
    }
}

/// Decoded paths never hold a dot segment, a slash, a NUL or a hidden name.
fn check_path(raw: &str) {
    let Ok(decoded) = path::decode(raw) else {
        return;
    };
    for (i, segment) in decoded.segments.iter().enumerate() {
        assert!(
            !segment.is_empty() && segment != "." && segment != "..",
            "{raw:?}: {segment:?}"
        );
        assert!(
            !segment.contains('/') && !segment.contains('\0'),
            "{raw:?}: {segment:?}"
        );
        assert!(
            !segment.starts_with('.') || (i == 0 && segment == ".well-known"),
            "{raw:?}: {segment:?}"
        );
    }
}

/// The skipper never claims more bytes than it was given, fed whole or a byte at a time.
fn check_body(framing: BodyFraming, rest: &[u8]) {
    let mut whole = BodySkipper::new(framing);
    let whole_used = whole.skip(rest);
    if let Ok(used) = whole_used {
        assert!(used <= rest.len());
    }
    let mut dripped = BodySkipper::new(framing);
    let mut used = 0;
    for byte in rest.iter().take(4096) {
        match dripped.skip(std::slice::from_ref(byte)) {
            Ok(n) => used += n,
            Err(_) => return,
        }
        if dripped.is_done() {
            break;
        }
    }
    if dripped.is_done() && rest.len() <= 4096 {
        assert_eq!(whole_used, Ok(used), "whole and dripped disagree");
    }
    if framing == BodyFraming::Chunked && whole.is_done() {
        // Where we end a chunked body, a strict reading of RFC 9112 ends it too: never earlier
        // (the rest would be answered as a request) and never later (a request swallowed).
        assert_eq!(
            whole_used.ok().map(Ok),
            strict_chunked_end(rest),
            "body {:?}",
            String::from_utf8_lossy(rest)
        );
    }
}

/// The end of a chunked body by RFC 9112 section 7.1, read the slow, obvious way: lines end
/// at LF (a CR right before it belongs to the line end; any other CR is malformed), sizes are
/// hex digits, then optional SP/HTAB, then `;` and visible characters. `None`: not all here.
fn strict_chunked_end(body: &[u8]) -> Option<Result<usize, ()>> {
    /// The line starting at `at`: its content (CR and LF stripped) and where the next begins.
    fn line(body: &[u8], at: usize) -> Option<Result<(&[u8], usize), ()>> {
        let lf = at + body.get(at..)?.iter().position(|&b| b == b'\n')?;
        let content = &body[at..lf];
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        // The skipper's line limit (MAX_CHUNK_LINE, CR included) and bare CRs.
        if lf - at >= 1024 || content.contains(&b'\r') {
            return Some(Err(()));
        }
        Some(Ok((content, lf + 1)))
    }
    let mut at = 0;
    loop {
        let (size_line, next) = match line(body, at)? {
            Ok(line) => line,
            Err(()) => return Some(Err(())),
        };
        let digits = size_line
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let after = &size_line[digits..];
        let after = &after[after
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count()..];
        let extension_ok = after.is_empty()
            || (after[0] == b';'
                && after[1..]
                    .iter()
                    .all(|&b| b == b' ' || b == b'\t' || (0x21..=0x7e).contains(&b)));
        if digits == 0 || !extension_ok {
            return Some(Err(()));
        }
        let hex = std::str::from_utf8(&size_line[..digits]).ok()?;
        let size = usize::try_from(u64::from_str_radix(hex, 16).ok()?).ok()?;
        at = next;
        if size == 0 {
            // The trailer: field lines of no control byte but HTAB, up to an empty line.
            loop {
                let (field, next) = match line(body, at)? {
                    Ok(line) => line,
                    Err(()) => return Some(Err(())),
                };
                if field.is_empty() {
                    return Some(Ok(next));
                }
                if field.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
                    return Some(Err(()));
                }
                at = next;
            }
        }
        let end = at.checked_add(size)?;
        match body.get(end..)? {
            [b'\r', b'\n', ..] => at = end + 2,
            [b'\n', ..] => at = end + 1,
            [b'\r'] | [] => return None,
            _ => return Some(Err(())),
        }
    }
}

/// Fragments that look like whitespace to someone: a bare CR, SP and HTAB (the only optional
/// whitespace in HTTP), VT and FF, and UTF-8 U+00A0, U+0085, U+2003, U+3000, U+FEFF, and
/// lone 0xA0 and 0x85 bytes (Latin-1 NBSP and NEL).
pub const WHITESPACE: &[&[u8]] = &[
    b"\r",
    b" ",
    b"\t",
    b"\x0b",
    b"\x0c",
    b"\xc2\xa0",
    b"\xc2\x85",
    b"\xe2\x80\x83",
    b"\xe3\x80\x80",
    b"\xef\xbb\xbf",
    b"\xa0",
    b"\x85",
    b"\r\r",
];

/// Requests with a `\x01` at every place where whitespace changes the framing: around the
/// values of Content-Length, Transfer-Encoding, Host and Connection, inside chunk-size lines,
/// and at the ends of trailer lines. A follow-up request comes after each.
pub const WHITESPACE_TEMPLATES: &[&[u8]] = &[
    b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x01chunked\x01\r\n\r\n\x015\x01;e\x01\r\nhello\r\n1\x010\x01\r\n0123456789abcdef\r\n0\x01\r\nT: v\x01\r\n\x01\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length:\x015\x01\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /docs HTTP/1.1\r\nHost:\x01a\x01:80\x01\r\nConnection:\x01keep-alive,\x01close\x01\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip,\x01chunked\r\nContent-Length:\x010\r\n\r\n0\x01\r\x01\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\x01\r\n\x01\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
];

/// The "bare CR / non-ASCII whitespace" generator: `choices` picks a template (first byte)
/// and, for each `\x01` in it, nothing (an even byte) or one of [`WHITESPACE`]. The same
/// bytes always give the same request, so the property test and the fuzzer share it.
pub fn whitespace_variant(choices: &[u8]) -> Vec<u8> {
    let mut choices = choices.iter().copied();
    let template =
        WHITESPACE_TEMPLATES[usize::from(choices.next().unwrap_or(0)) % WHITESPACE_TEMPLATES.len()];
    let mut out = Vec::with_capacity(template.len() + 16);
    for &byte in template {
        if byte != 1 {
            out.push(byte);
            continue;
        }
        let choice = usize::from(choices.next().unwrap_or(0));
        if choice % 2 == 1 {
            out.extend_from_slice(WHITESPACE[(choice / 2) % WHITESPACE.len()]);
        }
    }
    out
}

/// A response's announced length matches its body, and only known statuses come out.
fn check_response(site: &Site, request: &common::Request) {
    let response = site.respond(request);
    let allowed = [200, 301, 304, 400, 403, 404, 405, 501];
    assert!(
        allowed.contains(&response.status.code()),
        "status {}",
        response.status
    );
    let head_request = request.method == common::Method::Head;
    if response.status == Status::NOT_MODIFIED {
        assert!(response.content_length.is_none() && response.body_len() == 0);
    } else if !head_request {
        assert_eq!(response.content_length, Some(response.body_len()));
    }
    if let Body::File(file) = &response.body {
        let real = file.file.metadata().map(|m| m.len()).unwrap_or(0);
        assert!(file.offset + file.len <= real, "file region past the end");
    }
}
