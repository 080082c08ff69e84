//! HTTP semantics over HTTP/2: a stream's request head becomes common's [`Request`], and a
//! [`Response`] (or a cached [`Hit`]) becomes the field list of a HEADERS frame.
//!
//! HTTP/2 changes how a message is framed, not what it means (RFC 9113 section 8): the
//! request line is split into pseudo-header fields (`:method`, `:scheme`, `:authority`,
//! `:path`), field names are lowercase, and everything HTTP/1.1 said about the connection
//! (`Connection`, `Keep-Alive`, `Transfer-Encoding`, chunking) is gone, because frames do that
//! job. So the same `Site::respond` answers both: this module only translates. The
//! connection (`h2::Connection`) has already refused malformed heads (section 8.1.1), so
//! what arrives here is well-formed HTTP/2; what is left to check is what HTTP itself
//! requires of a target and a host.

use crate::cache::Hit;
use crate::request::{self, BodyFraming, Method, Request, Version};
use crate::response::Response;
use crate::status::Status;
use std::borrow::Cow;

// ANCHOR: request
/// The [`Request`] a stream's head asks for, from its pseudo-header fields and its regular
/// fields (lowercase names, in order). An unusable target or authority is the status to
/// answer with (400), on this stream only: the connection and its other streams go on.
///
/// `:authority` plays the part of `Host` (RFC 9113 section 8.3.1); a `Host` field is used
/// only when there is no `:authority`, and one that names another host is refused. The body,
/// if any, comes in DATA frames, so the request has no framing of its own to skip.
pub fn request<'a>(
    method: &str,
    authority: Option<&str>,
    path: &str,
    fields: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Request, Status> {
    // `:path` is origin-form, or `*` for a server-wide OPTIONS (section 8.3.1), which names
    // no file: split_target refuses that with 400, as it does in HTTP/1.1.
    if !path.starts_with('/') {
        return Err(Status::BAD_REQUEST);
    }
    let (path_only, query, _) = request::split_target(path)?;
    let mut request = Request {
        method: Method::from_token(method),
        target: path.to_string(),
        path: path_only,
        query,
        version: Version::Http20,
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
    if let Some(authority) = authority {
        if !request::is_authority(authority) {
            return Err(Status::BAD_REQUEST);
        }
        request.host = Some(authority.to_string());
    }
    let mut if_modified_since_fields = 0;
    for (name, raw) in fields {
        // A value is copied into a String only for the fields kept below: most of what a
        // client sends (accept-language, sec-*, cookie...) is skipped unread, not
        // copied to be dropped (an allocation per ignored field, on every request).
        let value = || String::from_utf8_lossy(raw).into_owned();
        let slot = match name {
            "host" => {
                let value = value();
                // Section 8.3.1: a Host that names another entity than `:authority` is
                // malformed; without `:authority`, Host is the authority.
                if !request::is_authority(&value) {
                    return Err(Status::BAD_REQUEST);
                }
                match (&request.host, authority) {
                    (Some(_), Some(authority)) if !authority.eq_ignore_ascii_case(&value) => {
                        return Err(Status::BAD_REQUEST)
                    }
                    // (A second Host without `:authority` is as bad as in HTTP/1.1.)
                    (Some(_), None) => return Err(Status::BAD_REQUEST),
                    (Some(_), Some(_)) => {}
                    (None, _) => request.host = Some(value),
                }
                continue;
            }
            // Lists: several fields are one comma-separated value (RFC 9110 section 5.3).
            "if-none-match" => {
                request::append_list(&mut request.if_none_match, value());
                continue;
            }
            "accept" => {
                request::append_list(&mut request.accept, value());
                continue;
            }
            "accept-encoding" => {
                request::append_list(&mut request.accept_encoding, value());
                continue;
            }
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
        *slot = Some(value());
    }
    // As in HTTP/1.1: with several dates, which one was meant is unknown; ignore them all.
    if if_modified_since_fields > 1 {
        request.if_modified_since = None;
    }
    Ok(request)
}
// ANCHOR_END: request

/// The `cookie` of a request as HTTP/1.1 would carry it: HTTP/2 lets a client send each
/// cookie-pair as a field of its own (so HPACK can index them one by one), and a server that
/// hands them to HTTP/1.1-shaped code joins them with `"; "` (RFC 9113 section 8.2.3). Common's
/// static site reads no cookies; a stage that does starts here.
pub fn cookie<'a>(fields: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Option<String> {
    let crumbs: Vec<Cow<'a, str>> = fields
        .into_iter()
        .filter(|(name, _)| *name == "cookie")
        .map(|(_, value)| String::from_utf8_lossy(value))
        .collect();
    (!crumbs.is_empty()).then(|| crumbs.join("; "))
}

// ANCHOR: response
/// The fields of a response's HEADERS frame, after `:status` (which the connection writes
/// first): `server`, `date`, the response's own fields, and `content-length`. Names are
/// lowercase, as HTTP/2 requires (section 8.2.2); a response never carries a field about the
/// connection here (common's responses hold none: `Connection` is only written by the
/// HTTP/1.1 head writer). `content-length` stays: it lets a client size its buffer, and a
/// HEAD's says what the GET would send.
pub fn response_fields<'a>(
    response: &'a Response,
    date: &'a str,
    server: &'a str,
) -> Vec<(Cow<'static, str>, Cow<'a, str>)> {
    let mut fields = Vec::with_capacity(response.headers.len() + 3);
    fields.push((Cow::Borrowed("server"), Cow::Borrowed(server)));
    fields.push((Cow::Borrowed("date"), Cow::Borrowed(date)));
    for (name, value) in &response.headers {
        fields.push((lowercase(name), Cow::Borrowed(value.as_ref())));
    }
    if let Some(length) = response.content_length {
        fields.push((
            Cow::Borrowed("content-length"),
            Cow::Owned(length.to_string()),
        ));
    }
    fields
}
// ANCHOR_END: response

/// The same for an answer from the small-file cache: its prebuilt fields, which already end
/// with `Content-Length` (a 304's have none).
pub fn hit_fields<'a>(
    hit: &Hit<'a>,
    date: &'a str,
    server: &'a str,
) -> Vec<(Cow<'static, str>, Cow<'a, str>)> {
    // Sized once for the usual head (server, date, and the cache's content-type,
    // last-modified, etag, accept-ranges, content-length): `vec![a, b]` has room for two, and
    // growing it to seven reallocated twice per response.
    let mut fields = Vec::with_capacity(HIT_FIELDS);
    fields.push((Cow::Borrowed("server"), Cow::Borrowed(server)));
    fields.push((Cow::Borrowed("date"), Cow::Borrowed(date)));
    for (name, value) in hit.fields() {
        fields.push((lowercase(name), Cow::Borrowed(value)));
    }
    fields
}

/// Room for a cached answer's fields (see [`hit_fields`]); more just grow the Vec.
const HIT_FIELDS: usize = 8;

/// A field name as HTTP/2 writes it. The names common uses are spelled out, so that the
/// common case costs no allocation; any other is lowercased.
fn lowercase(name: &str) -> Cow<'static, str> {
    const KNOWN: [&str; 10] = [
        "content-type",
        "content-length",
        "last-modified",
        "etag",
        "accept-ranges",
        "content-range",
        "allow",
        "location",
        "retry-after",
        "www-authenticate",
    ];
    match KNOWN.iter().find(|known| known.eq_ignore_ascii_case(name)) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(name.to_ascii_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(list: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        list.iter().map(|(n, v)| (*n, v.as_bytes()))
    }

    #[test]
    fn pseudo_fields_become_method_path_query_and_host() {
        let request = request(
            "GET",
            Some("localhost:8443"),
            "/docs/a%20b.txt?x=1",
            fields(&[("user-agent", "h2 test"), ("accept", "text/html")]),
        )
        .expect("request");
        assert_eq!(request.method, Method::Get);
        assert_eq!(request.path, "/docs/a%20b.txt");
        assert_eq!(request.query.as_deref(), Some("x=1"));
        assert_eq!(request.host.as_deref(), Some("localhost:8443"));
        assert_eq!(request.version, Version::Http20);
        assert_eq!(request.user_agent.as_deref(), Some("h2 test"));
        assert_eq!(request.body, BodyFraming::None);
        // Several accept-encoding fields are one list, as in HTTP/1.1 (precompressed files).
        let coded = super::request(
            "GET",
            None,
            "/",
            fields(&[("accept-encoding", "gzip"), ("accept-encoding", "br;q=0.5")]),
        )
        .expect("request");
        assert_eq!(coded.accept_encoding.as_deref(), Some("gzip, br;q=0.5"));
        assert_eq!(
            request.request_line(),
            "GET /docs/a%20b.txt?x=1 HTTP/2.0",
            "the access log's request line"
        );
    }

    #[test]
    fn the_fields_common_acts_on_are_kept() {
        let request = request(
            "HEAD",
            None,
            "/big.bin",
            fields(&[
                ("host", "example.com"),
                ("if-none-match", "\"a\""),
                ("if-none-match", "\"b\""),
                ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
                ("range", "bytes=0-9"),
                ("if-range", "\"a\""),
                ("authorization", "Basic eDp5"),
                ("referer", "https://example.com/"),
                ("x-other", "ignored"),
            ]),
        )
        .expect("request");
        assert_eq!(request.method, Method::Head);
        assert_eq!(request.host.as_deref(), Some("example.com"));
        assert_eq!(request.if_none_match.as_deref(), Some("\"a\", \"b\""));
        assert!(request.if_modified_since.is_some());
        assert_eq!(request.range.as_deref(), Some("bytes=0-9"));
        assert_eq!(request.if_range.as_deref(), Some("\"a\""));
        assert_eq!(request.authorization.as_deref(), Some("Basic eDp5"));
        assert_eq!(request.referer.as_deref(), Some("https://example.com/"));
    }

    #[test]
    fn bad_targets_and_hosts_are_400() {
        let none = || fields(&[]);
        assert_eq!(
            request("OPTIONS", None, "*", none()).err(),
            Some(Status::BAD_REQUEST)
        );
        assert_eq!(
            request("GET", Some("a b"), "/", none()).err(),
            Some(Status::BAD_REQUEST)
        );
        let other_host = fields(&[("host", "elsewhere")]);
        assert_eq!(
            request("GET", Some("localhost"), "/", other_host).err(),
            Some(Status::BAD_REQUEST)
        );
        let same_host = fields(&[("host", "LOCALHOST")]);
        assert!(request("GET", Some("localhost"), "/", same_host).is_ok());
        let two_hosts = fields(&[("host", "a"), ("host", "b")]);
        assert_eq!(
            request("GET", None, "/", two_hosts).err(),
            Some(Status::BAD_REQUEST)
        );
        // A method is whatever token it is; the site answers 405 or 501 as usual.
        let post = request("POST", None, "/", none()).expect("request");
        assert_eq!(post.method, Method::Known("POST"));
    }

    #[test]
    fn several_dates_are_ignored() {
        let two = fields(&[
            ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("if-modified-since", "Mon, 07 Nov 1994 08:49:37 GMT"),
        ]);
        let request = request("GET", None, "/", two).expect("request");
        assert_eq!(request.if_modified_since, None);
    }

    #[test]
    fn cookie_crumbs_are_joined_with_semicolons() {
        let crumbs = fields(&[("cookie", "a=1"), ("accept", "*/*"), ("cookie", "b=2")]);
        assert_eq!(cookie(crumbs).as_deref(), Some("a=1; b=2"));
        assert_eq!(cookie(fields(&[("accept", "*/*")])), None);
    }

    #[test]
    fn response_fields_are_lowercase_with_the_length() {
        let response =
            Response::error(Status::METHOD_NOT_ALLOWED).with_header("Allow", "GET, HEAD");
        let length = response.body_len().to_string();
        let got = response_fields(&response, "Sun, 06 Nov 1994 08:49:37 GMT", "stage07");
        let got: Vec<(&str, &str)> = got.iter().map(|(n, v)| (n.as_ref(), v.as_ref())).collect();
        assert_eq!(
            got,
            [
                ("server", "stage07"),
                ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                ("content-type", "text/html; charset=utf-8"),
                ("allow", "GET, HEAD"),
                ("content-length", length.as_str()),
            ]
        );
        assert_eq!(lowercase("X-Custom-Thing"), "x-custom-thing");
    }
}
