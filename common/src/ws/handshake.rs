//! The opening handshake (RFC 6455 section 4.2): an HTTP/1.1 GET that asks to become a
//! WebSocket, and the `101 Switching Protocols` that says yes.
//!
//! Two steps, because the second depends on where the request goes: [`parse`] reads the head
//! and checks what every WebSocket request must be (400 or 426 otherwise), giving an
//! [`Offer`]; the stage routes on `offer.request.path` and calls [`Offer::accept`] with that
//! endpoint's [`Policy`] (which origins, which subprotocols; 403 for a foreign origin). Both
//! answers are common's [`Response`], so the stage writes and logs them as it does any other.
//!
//! common's [`Request`] keeps only the fields a file server acts on, so the WebSocket fields
//! are read here from the raw head with httparse, after [`crate::parse_head`] has checked the
//! head's limits and syntax.

use crate::request::{BodyFraming, Method, Parsed, Request, Version, MAX_HEADERS};
use crate::response::{Body, Response};
use crate::status::Status;
use base64::Engine;
use std::borrow::Cow;

/// The GUID every accept key is made with (section 1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version there is (section 4.4 explains the history).
const VERSION: &str = "13";

/// What [`parse`] made of the bytes a WebSocket session was handed.
// Returned and matched at once, never stored.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Handshake {
    /// Not a whole head yet: read more and try again with all the bytes.
    Partial,
    /// A valid opening handshake; the head took `usize` bytes, and whatever follows is
    /// already WebSocket frames. Decide with [`Offer::accept`].
    Offer(Offer, usize),
    /// Not a handshake we can accept: send the response, then close. The request, when the
    /// head could be parsed at all, is for the access log.
    Refuse(Response, Option<Request>),
}

/// A client's valid request to open a WebSocket.
#[derive(Clone, Debug)]
pub struct Offer {
    /// The request as common reads any other (path and query for routing, log fields).
    pub request: Request,
    /// `Sec-WebSocket-Key`, checked to be the base64 of 16 bytes.
    pub key: String,
    /// `Origin`, sent by browsers (and not by most other clients).
    pub origin: Option<String>,
    /// `Sec-WebSocket-Protocol`: the subprotocols offered, in the client's order.
    pub protocols: Vec<String>,
    /// `Sec-WebSocket-Extensions`: the extension names offered (`permessage-deflate`...).
    /// None is ever accepted: see the module documentation of `common::ws`.
    pub extensions: Vec<String>,
}

/// What an endpoint accepts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy<'a> {
    /// The origins allowed (`https://example.com`, compared without regard to case); `None`
    /// allows every origin. A request without `Origin` is allowed either way: it comes from
    /// a program, not from a page some other site served, which is what the check is for
    /// (section 10.2).
    pub origins: Option<&'a [&'a str]>,
    /// The subprotocols this endpoint speaks, most preferred first.
    pub protocols: &'a [&'a str],
}

/// A handshake accepted.
#[derive(Debug)]
pub struct Accepted {
    /// The 101: write it with `write_head` (HTTP/1.1, `Connection::Default`: the field it
    /// needs is in its headers already).
    pub response: Response,
    /// The subprotocol chosen, if the client offered one we speak.
    pub protocol: Option<String>,
}

// ANCHOR: parse
/// Reads the opening handshake at the start of `buf`.
pub fn parse(buf: &[u8]) -> Handshake {
    let (request, len) = match crate::parse_head(buf) {
        Parsed::Partial => return Handshake::Partial,
        Parsed::Invalid(refusal) => return Handshake::Refuse(refusal.response(), None),
        Parsed::Complete(request, len) => (request, len),
    };
    match Offer::read(request, &buf[..len]) {
        Ok(offer) => Handshake::Offer(offer, len),
        Err((response, request)) => Handshake::Refuse(response, Some(*request)),
    }
}
// ANCHOR_END: parse

impl Offer {
    fn read(request: Request, head: &[u8]) -> Result<Offer, (Response, Box<Request>)> {
        let refuse = |request, status| Err((Response::refuse(status), Box::new(request)));
        // Section 4.2.1, items 1-6. A body would make the bytes after the head ambiguous:
        // request body or first frame?
        if request.method != Method::Get
            || request.version != Version::Http11
            || request.body != BodyFraming::None
        {
            return refuse(request, Status::BAD_REQUEST);
        }
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut fields);
        if !matches!(parsed.parse(head), Ok(httparse::Status::Complete(_))) {
            return refuse(request, Status::BAD_REQUEST);
        }
        let fields = Fields(parsed.headers);
        if !fields.has_token("upgrade", "websocket") || !fields.has_token("connection", "upgrade") {
            return refuse(request, Status::BAD_REQUEST);
        }
        // Section 4.4: a version we do not speak gets 426 and the versions we do.
        let versions = fields.values("sec-websocket-version");
        if versions.len() != 1 || versions[0] != VERSION {
            let response = Response::refuse(Status::UPGRADE_REQUIRED)
                .with_header("Sec-WebSocket-Version", VERSION);
            return Err((response, Box::new(request)));
        }
        let keys = fields.values("sec-websocket-key");
        let key = match keys[..] {
            [key] if is_key(key) => key.to_string(),
            _ => return refuse(request, Status::BAD_REQUEST),
        };
        let origins = fields.values("origin");
        if origins.len() > 1 {
            return refuse(request, Status::BAD_REQUEST);
        }
        Ok(Offer {
            key,
            origin: origins.first().map(|origin| origin.to_string()),
            protocols: fields.tokens("sec-websocket-protocol"),
            // Each extension offer is `name; param=value; ...`: keep the names.
            extensions: fields
                .tokens("sec-websocket-extensions")
                .into_iter()
                .map(|offer| match offer.split_once(';') {
                    Some((name, _)) => crate::request::trim_ows(name).to_string(),
                    None => offer,
                })
                .collect(),
            request,
        })
    }

    // ANCHOR: accept
    /// Accepts the offer for an endpoint with this policy: the 101, or 403 for a foreign origin.
    pub fn accept(&self, policy: &Policy) -> Result<Accepted, Response> {
        if let (Some(allowed), Some(origin)) = (policy.origins, &self.origin) {
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
                return Err(Response::refuse(Status::FORBIDDEN));
            }
        }
        // Our preference wins among the ones the client offered (section 4.2.2, item 5.4).
        let protocol = policy
            .protocols
            .iter()
            .find(|ours| self.protocols.iter().any(|theirs| theirs == *ours))
            .map(|ours| ours.to_string());
        let mut response = Response {
            status: Status::SWITCHING_PROTOCOLS,
            headers: vec![
                ("Upgrade", Cow::Borrowed("websocket")),
                ("Connection", Cow::Borrowed("Upgrade")),
                ("Sec-WebSocket-Accept", Cow::Owned(accept_key(&self.key))),
            ],
            // A 101 has no body, and so no Content-Length (RFC 9110 section 8.6).
            content_length: None,
            body: Body::Empty,
            close: false,
        };
        if let Some(protocol) = &protocol {
            response = response.with_header("Sec-WebSocket-Protocol", protocol.clone());
        }
        Ok(Accepted { response, protocol })
    }
    // ANCHOR_END: accept
}

// ANCHOR: accept_key
/// `Sec-WebSocket-Accept` for a key (section 4.2.2, item 5.4): base64(SHA-1(key + GUID)). It
/// proves the server read this handshake, so a cache or a confused server cannot answer one.
pub fn accept_key(key: &str) -> String {
    let mut input = Vec::with_capacity(key.len() + GUID.len());
    input.extend_from_slice(key.as_bytes());
    input.extend_from_slice(GUID.as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}
// ANCHOR_END: accept_key

/// A key is the base64 of 16 random bytes (section 4.1, item 7): 24 characters, padding
/// included, and nothing else.
fn is_key(key: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok_and(|bytes| bytes.len() == 16)
}

/// The header fields of one head, looked up by name.
struct Fields<'h, 'b>(&'h [httparse::Header<'b>]);

impl Fields<'_, '_> {
    /// The values of every field with this name, trimmed; values that are not UTF-8 are
    /// skipped (no field the handshake reads may hold such bytes).
    fn values(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|field| field.name.eq_ignore_ascii_case(name))
            .filter_map(|field| std::str::from_utf8(field.value).ok())
            .map(crate::request::trim_ows)
            .collect()
    }

    /// The comma-separated elements of every field with this name (several fields form one
    /// list, RFC 9110 section 5.3), empty elements dropped.
    fn tokens(&self, name: &str) -> Vec<String> {
        self.values(name)
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(crate::request::trim_ows)
            .filter(|token| !token.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Does some field with this name list `token` (without regard to case)?
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name)
            .iter()
            .any(|t| t.eq_ignore_ascii_case(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::Connection;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn head(extra: &str) -> String {
        format!(
            "GET /ws/echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\
             {extra}\r\n"
        )
    }

    fn offer(head: &str) -> Offer {
        match parse(head.as_bytes()) {
            Handshake::Offer(offer, used) => {
                assert_eq!(used, head.len());
                offer
            }
            other => panic!("not an offer: {other:?}"),
        }
    }

    fn refusal(head: &str) -> Response {
        match parse(head.as_bytes()) {
            Handshake::Refuse(response, _) => response,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn the_rfc_example_key() {
        // RFC 6455 section 1.3.
        assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn accepts_and_writes_the_101() {
        let accepted = offer(&head("")).accept(&Policy::default()).unwrap();
        let mut out = Vec::new();
        accepted.response.write_head(
            &mut out,
            Version::Http11,
            Connection::Default,
            "Tue, 01 Dec 2026 10:00:00 GMT",
            "stage08",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nServer: stage08\r\n\
             Date: Tue, 01 Dec 2026 10:00:00 GMT\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
        assert_eq!(accepted.protocol, None);
    }

    #[test]
    fn bytes_after_the_head_are_not_part_of_it() {
        let mut bytes = head("").into_bytes();
        let len = bytes.len();
        bytes.extend_from_slice(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        assert!(matches!(parse(&bytes), Handshake::Offer(_, used) if used == len));
        assert!(matches!(parse(&bytes[..len - 1]), Handshake::Partial));
    }

    #[test]
    fn token_lists_are_read_without_regard_to_case_or_field_count() {
        let request = "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: h2c, WebSocket\r\n\
             Connection: keep-alive\r\nconnection: UPGRADE\r\nSec-WebSocket-Key:  {KEY} \r\n\
             sec-websocket-version: 13\r\n\r\n"
            .replace("{KEY}", KEY);
        let offer = offer(&request);
        assert_eq!(offer.key, KEY);
        assert_eq!(offer.request.path, "/chat");
    }

    #[test]
    fn every_malformed_handshake_is_a_400() {
        let cases = [
            head("").replace("GET", "POST"),
            head("").replace("HTTP/1.1", "HTTP/1.0"),
            head("").replace("Upgrade: websocket\r\n", ""),
            head("").replace("Upgrade: websocket", "Upgrade: h2c"),
            head("").replace("Connection: Upgrade", "Connection: keep-alive"),
            head("").replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), ""),
            // The base64 of 15 and 17 bytes; not base64 at all; two keys.
            head("").replace(KEY, "AAAAAAAAAAAAAAAAAAAA"),
            head("").replace(KEY, "AAAAAAAAAAAAAAAAAAAAAAA="),
            head("").replace(KEY, "not a key at all, no"),
            head("").replace(KEY, "dGhlIHNhbXBsZSBub25jZQ"),
            head(&format!("Sec-WebSocket-Key: {KEY}\r\n")),
            head("Content-Length: 5\r\n"),
            head("Origin: http://a\r\nOrigin: http://b\r\n"),
        ];
        for case in cases {
            assert_eq!(refusal(&case).status, Status::BAD_REQUEST, "{case}");
        }
        // No Host: common's own check, before any WebSocket field is read.
        let no_host = head("").replace("Host: localhost\r\n", "");
        assert!(
            matches!(parse(no_host.as_bytes()), Handshake::Refuse(r, None) if r.status == Status::BAD_REQUEST)
        );
    }

    #[test]
    fn another_version_is_a_426_naming_ours() {
        for case in [
            head("").replace("Version: 13", "Version: 8"),
            head("").replace("Sec-WebSocket-Version: 13\r\n", ""),
            head("Sec-WebSocket-Version: 8\r\n"),
        ] {
            let response = refusal(&case);
            assert_eq!(response.status, Status::UPGRADE_REQUIRED, "{case}");
            assert_eq!(response.header("Sec-WebSocket-Version"), Some("13"));
            assert!(response.close);
        }
    }

    #[test]
    fn the_origin_allow_list() {
        let allowed: &[&str] = &["https://chat.example"];
        let policy = Policy {
            origins: Some(allowed),
            protocols: &[],
        };
        let foreign = offer(&head("Origin: https://evil.example\r\n"));
        assert_eq!(
            foreign.accept(&policy).unwrap_err().status,
            Status::FORBIDDEN
        );
        let ours = offer(&head("Origin: https://CHAT.example\r\n"));
        assert!(ours.accept(&policy).is_ok());
        // A program sends no Origin: allowed.
        assert!(offer(&head("")).accept(&policy).is_ok());
        // No list: any origin.
        assert!(foreign.accept(&Policy::default()).is_ok());
    }

    #[test]
    fn subprotocols_our_preference_among_theirs() {
        let offer = offer(&head(
            "Sec-WebSocket-Protocol: chat.v1, json\r\nSec-WebSocket-Protocol: chat.v2\r\n",
        ));
        assert_eq!(offer.protocols, ["chat.v1", "json", "chat.v2"]);
        let policy = Policy {
            origins: None,
            protocols: &["chat.v2", "chat.v1"],
        };
        let accepted = offer.accept(&policy).unwrap();
        assert_eq!(accepted.protocol.as_deref(), Some("chat.v2"));
        assert_eq!(
            accepted.response.header("Sec-WebSocket-Protocol"),
            Some("chat.v2")
        );
        // Nothing in common: accepted without a protocol (the client decides if that will do).
        let none = Policy {
            origins: None,
            protocols: &["mqtt"],
        };
        let accepted = offer.accept(&none).unwrap();
        assert_eq!(accepted.protocol, None);
        assert_eq!(accepted.response.header("Sec-WebSocket-Protocol"), None);
    }

    #[test]
    fn extensions_are_seen_and_declined() {
        let offer = offer(&head(
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
        ));
        assert_eq!(offer.extensions, ["permessage-deflate"]);
        let accepted = offer.accept(&Policy::default()).unwrap();
        assert_eq!(accepted.response.header("Sec-WebSocket-Extensions"), None);
    }
}
