//! A request head from a decoded header block, checked against RFC 9113 §8.2 and §8.3.
//!
//! HTTP/2 moves the request line into pseudo-header fields (`:method`, `:scheme`,
//! `:authority`, `:path`) and drops everything HTTP/1.1 said about the connection. A head that
//! breaks the rules is "malformed" (§8.1.1): a stream error of type PROTOCOL_ERROR, never a
//! `Request` event. Each check says what it stops: a header that an HTTP/1.1 hop would read
//! differently (request smuggling through a proxy that downgrades) is the usual reason.

/// A complete, validated request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub scheme: String,
    pub authority: Option<String>,
    /// Empty only for CONNECT, which has no `:path`.
    pub path: String,
    /// The regular fields in order, lowercase names (a `cookie` may come in several crumbs,
    /// RFC 9113 §8.2.3: joining them is the caller's choice).
    pub fields: Vec<(String, Vec<u8>)>,
}

/// Why a head is malformed; the stream is reset with PROTOCOL_ERROR.
pub type Malformed = &'static str;

/// Fields HTTP/1.1 uses for the connection, meaningless and forbidden in HTTP/2 (§8.2.2).
const CONNECTION_SPECIFIC: [&[u8]; 5] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
];

/// The checks on every field of §8.2.1, pseudo or regular.
fn check_field(name: &[u8], value: &[u8]) -> Result<(), Malformed> {
    let bare = name.strip_prefix(b":").unwrap_or(name);
    if bare.is_empty() {
        return Err("empty field name");
    }
    // Not controls, SP, DEL or non-ASCII; not uppercase (HTTP/2 names are lowercase, and an
    // uppercase one would be a second spelling of the same field); no colon after the first.
    if bare
        .iter()
        .any(|&b| b <= 0x20 || b >= 0x7f || b.is_ascii_uppercase() || b == b':')
    {
        return Err("invalid character in a field name");
    }
    // NUL, CR and LF would split the field when written as HTTP/1.1.
    if value.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
        return Err("NUL, CR or LF in a field value");
    }
    if value.first().is_some_and(|b| matches!(b, b' ' | b'\t'))
        || value.last().is_some_and(|b| matches!(b, b' ' | b'\t'))
    {
        return Err("whitespace around a field value");
    }
    Ok(())
}

/// The checks of §8.2.2 and §8.1.1 on a regular field; keeps `content-length`'s value.
fn check_regular(
    name: &[u8],
    value: &[u8],
    content_length: &mut Option<u64>,
) -> Result<(), Malformed> {
    if CONNECTION_SPECIFIC.contains(&name) {
        return Err("connection-specific field");
    }
    if name == b"te" && !value.eq_ignore_ascii_case(b"trailers") {
        return Err("te other than trailers");
    }
    if name == b"content-length" {
        let parsed = std::str::from_utf8(value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or("content-length not a number")?;
        if content_length.is_some_and(|seen| seen != parsed) {
            return Err("two different content-lengths");
        }
        *content_length = Some(parsed);
    }
    Ok(())
}

/// A pseudo-header's value as text: visible ASCII only (a method is a token, a path or an
/// authority has no spaces or controls).
fn visible(value: &[u8]) -> Result<String, Malformed> {
    if value.is_empty() || !value.iter().all(|b| (0x21..0x7f).contains(b)) {
        return Err("pseudo-header value not visible ASCII");
    }
    Ok(value.iter().map(|&b| b as char).collect())
}

/// Builds the head of a request from its decoded fields, in order, with the `content-length`
/// the DATA frames must add up to.
pub fn request(fields: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(RequestHead, Option<u64>), Malformed> {
    let (mut method, mut scheme, mut authority, mut path) = (None, None, None, None);
    let mut regular = Vec::with_capacity(fields.len());
    let mut content_length = None;
    for (name, value) in fields {
        check_field(&name, &value)?;
        if name.starts_with(b":") {
            if !regular.is_empty() {
                return Err("pseudo-header after a regular field");
            }
            let slot = match &name[..] {
                b":method" => &mut method,
                b":scheme" => &mut scheme,
                b":authority" => &mut authority,
                b":path" => &mut path,
                // :status is a response's; :protocol (RFC 8441) is not enabled; others unknown.
                _ => return Err("unknown or response pseudo-header"),
            };
            if slot.is_some() {
                return Err("duplicated pseudo-header");
            }
            *slot = Some(value);
        } else {
            check_regular(&name, &value, &mut content_length)?;
            // check_field allowed only ASCII bytes in the name.
            let name = name.iter().map(|&b| b as char).collect();
            regular.push((name, value));
        }
    }
    let method = visible(&method.ok_or("no :method")?)?;
    let authority = authority.as_deref().map(visible).transpose()?;
    let (scheme, path) = if method == "CONNECT" {
        // CONNECT names only a host and port (§8.5).
        if scheme.is_some() || path.is_some() {
            return Err("CONNECT with :scheme or :path");
        }
        if authority.is_none() {
            return Err("CONNECT without :authority");
        }
        (String::new(), String::new())
    } else {
        let scheme = visible(&scheme.ok_or("no :scheme")?)?;
        // "user@host" was deprecated long ago, and is how phishing links hide a host (§8.3.1).
        if authority.as_deref().is_some_and(|a| a.contains('@')) {
            return Err("userinfo in :authority");
        }
        let path = path.ok_or("no :path")?;
        if path.is_empty() {
            return Err("empty :path");
        }
        (scheme, visible(&path)?)
    };
    let head = RequestHead {
        method,
        scheme,
        authority,
        path,
        fields: regular,
    };
    Ok((head, content_length))
}

/// Checks a trailer block: regular fields only (§8.1), the same character rules.
pub fn trailers(fields: &[(Vec<u8>, Vec<u8>)]) -> Result<(), Malformed> {
    for (name, value) in fields {
        check_field(name, value)?;
        if name.starts_with(b":") {
            return Err("pseudo-header in trailers");
        }
        check_regular(name, value, &mut None)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    const GET: [(&str, &str); 4] = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "localhost"),
        (":path", "/index.html"),
    ];

    fn with(extra: &[(&str, &str)]) -> Result<(RequestHead, Option<u64>), Malformed> {
        let mut list = GET.to_vec();
        list.extend_from_slice(extra);
        request(fields(&list))
    }

    #[test]
    fn a_good_head() {
        let (head, length) = with(&[
            ("accept", "*/*"),
            ("te", "trailers"),
            ("content-length", "5"),
        ])
        .unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.authority.as_deref(), Some("localhost"));
        assert_eq!(head.path, "/index.html");
        assert_eq!(head.fields[0], ("accept".to_string(), b"*/*".to_vec()));
        assert_eq!(length, Some(5));
        let connect = request(fields(&[
            (":method", "CONNECT"),
            (":authority", "example.com:443"),
        ]));
        assert_eq!(connect.unwrap().0.path, "");
    }

    #[test]
    fn malformed_heads() {
        let bad: &[&[(&str, &str)]] = &[
            &[("Accept", "*/*")],
            &[("accept", "a\0b")],
            &[("accept", "a\rb")],
            &[("accept", "a\nb")],
            &[("accept", " x")],
            &[("accept", "x\t")],
            &[("ac cept", "x")],
            &[("acc:ept", "x")],
            &[("", "x")],
            &[("x", "y"), (":path", "/")],
            &[(":path", "/again")],
            &[(":status", "200")],
            &[(":foo", "bar")],
            &[(":", "bar")],
            &[("connection", "keep-alive")],
            &[("keep-alive", "5")],
            &[("proxy-connection", "x")],
            &[("transfer-encoding", "chunked")],
            &[("upgrade", "h2c")],
            &[("te", "gzip")],
            &[("content-length", "1x")],
            &[("content-length", "")],
            &[("content-length", "1"), ("content-length", "2")],
        ];
        let userinfo = request(fields(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "u:p@host"),
            (":path", "/"),
        ]));
        assert_eq!(userinfo, Err("userinfo in :authority"));
        for extra in bad {
            assert!(with(extra).is_err(), "{extra:?} was accepted");
        }
        for missing in 0..GET.len() {
            let mut list = GET.to_vec();
            let removed = list.remove(missing);
            // :authority is optional (a Host field may stand in for it).
            assert_eq!(
                request(fields(&list)).is_err(),
                removed.0 != ":authority",
                "{removed:?}"
            );
        }
        let empty_path = request(fields(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", ""),
        ]));
        assert_eq!(empty_path, Err("empty :path"));
        let connect = request(fields(&[
            (":method", "CONNECT"),
            (":authority", "a:1"),
            (":path", "/"),
        ]));
        assert!(connect.is_err());
    }

    #[test]
    fn trailer_rules() {
        assert_eq!(trailers(&fields(&[("x-checksum", "abc")])), Ok(()));
        assert!(trailers(&fields(&[(":path", "/")])).is_err());
        assert!(trailers(&fields(&[("X-Checksum", "abc")])).is_err());
        assert!(trailers(&fields(&[("transfer-encoding", "chunked")])).is_err());
    }
}
