//! The PROXY protocol (HAProxy's, versions 1 and 2): how a load balancer tells the server
//! behind it who the client really is.
//!
//! Behind HAProxy every connection comes from HAProxy's address, so the access log would name
//! one client. With `send-proxy` (v1, a line of text) or `send-proxy-v2` (binary), HAProxy
//! starts each connection with a header carrying the client's address and port, then the
//! client's bytes unchanged. A listener that expects the header must get it, first, whole, or
//! close: a header from anyone else (a client connecting directly) would let them forge their
//! address, which is why it is switched on per listener and only behind a proxy you run.
//!
//! Sans-IO like the rest of `common`: [`parse`] takes the bytes read so far and says
//! `Partial` (read more), `Header` (and how many bytes it used: the rest is the client's), or
//! `Invalid`. The specification: <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 header's first 12 bytes (chosen never to begin any other protocol's first bytes).
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// v1's longest line, CRLF included (section 2.1: "107 bytes").
pub const V1_MAX: usize = 107;
/// The longest v2 header we take: 16 bytes, addresses, and TLVs (which we skip). The format
/// allows 64 KiB; a proxy of ours sends a few hundred bytes at most, so more is refused.
pub const V2_MAX: usize = 16 + 4096;

// ANCHOR: header
/// What the header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// A proxied connection: the client's address, and the address it connected to.
    Proxied {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// The proxy speaks for itself (v2 LOCAL: its health checks) or does not know the
    /// addresses (v1 UNKNOWN, or a family we do not carry): keep the socket's own peer.
    Local,
}

/// The result of looking at the first bytes of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not enough bytes yet to tell.
    Partial,
    /// A whole header, which took the first `used` bytes.
    Header(Header, usize),
    /// Not a PROXY header, or a broken one: close the connection.
    Invalid(&'static str),
}
// ANCHOR_END: header

impl Header {
    /// The client's address, if the header carried one.
    pub fn source(&self) -> Option<SocketAddr> {
        match self {
            Header::Proxied { source, .. } => Some(*source),
            Header::Local => None,
        }
    }
}

// ANCHOR: parse
/// Parses a PROXY header (v1 or v2) at the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    if buf.is_empty() {
        return Parsed::Partial;
    }
    // Either signature, as far as we have bytes of it.
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] == V2_SIGNATURE[..n] {
        return if n < V2_SIGNATURE.len() {
            Parsed::Partial
        } else {
            parse_v2(buf)
        };
    }
    let n = buf.len().min(6);
    if buf[..n] == b"PROXY "[..n] {
        return if n < 6 {
            Parsed::Partial
        } else {
            parse_v1(buf)
        };
    }
    Parsed::Invalid("no PROXY protocol header")
}
// ANCHOR_END: parse

// ANCHOR: v1
/// `PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n`: one line, single spaces, at most
/// 107 bytes.
fn parse_v1(buf: &[u8]) -> Parsed {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        return if buf.len() >= V1_MAX {
            Parsed::Invalid("PROXY v1 line longer than 107 bytes")
        } else {
            Parsed::Partial
        };
    };
    if cr + 2 > V1_MAX {
        return Parsed::Invalid("PROXY v1 line longer than 107 bytes");
    }
    match window.get(cr + 1) {
        None => return Parsed::Partial,
        Some(b'\n') => {}
        Some(_) => return Parsed::Invalid("PROXY v1 line without CRLF"),
    }
    let used = cr + 2;
    let Ok(line) = std::str::from_utf8(&buf[..cr]) else {
        return Parsed::Invalid("PROXY v1 line is not text");
    };
    let fields: Vec<&str> = line.split(' ').collect();
    match fields.as_slice() {
        // "the receiver must ignore anything presented before the CRLF" after UNKNOWN.
        ["PROXY", "UNKNOWN", ..] => Parsed::Header(Header::Local, used),
        ["PROXY", family @ ("TCP4" | "TCP6"), source, destination, source_port, destination_port] =>
        {
            let v4 = *family == "TCP4";
            let (Some(source), Some(destination)) = (address(source, v4), address(destination, v4))
            else {
                return Parsed::Invalid("PROXY v1 address does not match its family");
            };
            let (Some(source_port), Some(destination_port)) =
                (port(source_port), port(destination_port))
            else {
                return Parsed::Invalid("PROXY v1 port is not 0 to 65535");
            };
            Parsed::Header(
                Header::Proxied {
                    source: SocketAddr::new(source, source_port),
                    destination: SocketAddr::new(destination, destination_port),
                },
                used,
            )
        }
        _ => Parsed::Invalid("PROXY v1 line is malformed"),
    }
}

fn address(text: &str, v4: bool) -> Option<IpAddr> {
    if v4 {
        text.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    } else {
        text.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    }
}

/// A decimal port: digits only (no sign, no spaces), no leading zero, at most 65535.
fn port(text: &str) -> Option<u16> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}
// ANCHOR_END: v1

// ANCHOR: v2
/// The binary header: signature (12), version and command (1), family and transport (1),
/// length of the rest (2, big-endian), then the addresses and optional TLVs.
fn parse_v2(buf: &[u8]) -> Parsed {
    if buf.len() < 16 {
        return Parsed::Partial;
    }
    let (version, command) = (buf[12] >> 4, buf[12] & 0x0f);
    if version != 2 {
        return Parsed::Invalid("PROXY v2 header with a version other than 2");
    }
    let length = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let used = 16 + length;
    if used > V2_MAX {
        return Parsed::Invalid("PROXY v2 header longer than we take");
    }
    if buf.len() < used {
        return Parsed::Partial;
    }
    let body = &buf[16..used];
    match command {
        // LOCAL: the proxy's own connection (a health check); the addresses, if any, are
        // to be ignored.
        0x0 => return Parsed::Header(Header::Local, used),
        0x1 => {}
        _ => return Parsed::Invalid("PROXY v2 command is neither LOCAL nor PROXY"),
    }
    let (family, transport) = (buf[13] >> 4, buf[13] & 0x0f);
    // Only TCP over IPv4 or IPv6 carries an address we can log; for UNSPEC, UNIX or
    // datagrams the spec says to accept the connection and use the real one.
    if transport != 0x1 || !matches!(family, 0x1 | 0x2) {
        return Parsed::Header(Header::Local, used);
    }
    let addresses = if family == 0x1 { 12 } else { 36 };
    if body.len() >= addresses && !tlvs_tile(&body[addresses..]) {
        // A length that overstates would swallow the client's own first bytes as "TLVs".
        return Parsed::Invalid("PROXY v2 TLVs do not fill the header's length");
    }
    let header = if family == 0x1 {
        if body.len() < 12 {
            return Parsed::Invalid("PROXY v2 IPv4 addresses cut short");
        }
        let ip = |at: usize| {
            IpAddr::V4(Ipv4Addr::new(
                body[at],
                body[at + 1],
                body[at + 2],
                body[at + 3],
            ))
        };
        let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
        Header::Proxied {
            source: SocketAddr::new(ip(0), port(8)),
            destination: SocketAddr::new(ip(4), port(10)),
        }
    } else {
        if body.len() < 36 {
            return Parsed::Invalid("PROXY v2 IPv6 addresses cut short");
        }
        let ip = |at: usize| {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&body[at..at + 16]);
            IpAddr::V6(Ipv6Addr::from(octets))
        };
        let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
        Header::Proxied {
            source: SocketAddr::new(ip(0), port(32)),
            destination: SocketAddr::new(ip(16), port(34)),
        }
    };
    // What follows the addresses (TLVs: ALPN, SNI, a CRC...) is skipped, as `used` says.
    Parsed::Header(header, used)
}

/// Whether `area` is whole TLVs end to end (a type byte, a two-byte length, that many bytes),
/// as section 2.2.7 lays them out and HAProxy checks them.
fn tlvs_tile(mut area: &[u8]) -> bool {
    while !area.is_empty() {
        let &[_, high, low, ..] = area else {
            return false;
        };
        let end = 3 + usize::from(u16::from_be_bytes([high, low]));
        let Some(rest) = area.get(end..) else {
            return false;
        };
        area = rest;
    }
    true
}
// ANCHOR_END: v2

#[cfg(test)]
mod tests {
    use super::*;

    fn proxied(source: &str, destination: &str) -> Header {
        Header::Proxied {
            source: source.parse().expect("source"),
            destination: destination.parse().expect("destination"),
        }
    }

    /// The v1 examples of the specification, section 2.1, byte for byte.
    #[test]
    fn v1_examples_of_the_specification() {
        let tcp4 = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            parse(tcp4),
            Parsed::Header(proxied("192.168.0.1:56324", "192.168.0.11:443"), 47)
        );
        // The longest TCP6 line, and the longest line of all (UNKNOWN with the same
        // addresses: the spec's 107 bytes).
        let tcp6 = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        let all = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535";
        assert_eq!(
            parse(tcp6.as_bytes()),
            Parsed::Header(proxied(all, all), 104)
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Parsed::Header(Header::Local, 15)
        );
        let unknown = tcp6.replace("TCP6", "UNKNOWN");
        assert_eq!(unknown.len(), V1_MAX);
        assert_eq!(
            parse(unknown.as_bytes()),
            Parsed::Header(Header::Local, 107)
        );
        // One byte more is refused, however it ends.
        let longer = unknown.replace("UNKNOWN", "UNKNOWN ");
        assert!(matches!(parse(longer.as_bytes()), Parsed::Invalid(_)));
    }

    #[test]
    fn v1_arrives_in_pieces() {
        let line = b"PROXY TCP4 10.0.0.1 10.0.0.2 1234 80\r\n";
        for cut in 0..line.len() {
            assert_eq!(parse(&line[..cut]), Parsed::Partial, "cut at {cut}");
        }
        assert_eq!(
            parse(line),
            Parsed::Header(proxied("10.0.0.1:1234", "10.0.0.2:80"), line.len())
        );
    }

    #[test]
    fn v1_mistakes_are_invalid() {
        for bad in [
            &b"PROXY TCP4 10.0.0.1 10.0.0.2 1234\r\n"[..],
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP6 10.0.0.1 10.0.0.2 1 2\r\n",
            b"PROXY TCP4 10.0.0.1 10.0.0.2 65536 80\r\n",
            b"PROXY TCP4 10.0.0.1 10.0.0.2 080 80\r\n",
            b"PROXY TCP4 10.0.0.1 10.0.0.2 +80 80\r\n",
            b"PROXY TCP4  10.0.0.1 10.0.0.2 1 2\r\n",
            b"PROXY UDP4 10.0.0.1 10.0.0.2 1 2\r\n",
            b"PROXY TCP4 10.0.0.1 10.0.0.2 1 2\rX",
            b"GET / HTTP/1.1\r\n\r\n",
            b"proxy TCP4 10.0.0.1 10.0.0.2 1 2\r\n",
        ] {
            assert!(
                matches!(parse(bad), Parsed::Invalid(_)),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let endless = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 200]].concat();
        assert_eq!(
            parse(&endless),
            Parsed::Invalid("PROXY v1 line longer than 107 bytes")
        );
    }

    /// A v2 header built field by field as section 2.2 lays it out.
    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(0x20 | command);
        out.push(family);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn v2_tcp_over_ipv4_and_ipv6() {
        // 192.168.0.1:56324 -> 192.168.0.11:443, then the client's bytes.
        let mut bytes = v2(
            0x1,
            0x11,
            &[192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb],
        );
        assert_eq!(bytes.len(), 28);
        bytes.extend_from_slice(b"GET /");
        assert_eq!(
            parse(&bytes),
            Parsed::Header(proxied("192.168.0.1:56324", "192.168.0.11:443"), 28)
        );
        let mut body = Vec::new();
        body.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().expect("v6").octets());
        body.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().expect("v6").octets());
        body.extend_from_slice(&[0x30, 0x39, 0x00, 0x50]);
        assert_eq!(
            parse(&v2(0x1, 0x21, &body)),
            Parsed::Header(proxied("[2001:db8::1]:12345", "[2001:db8::2]:80"), 52)
        );
    }

    #[test]
    fn v2_tlvs_are_skipped_and_local_keeps_the_peer() {
        // An ALPN TLV (type 0x01, length 2, "h2") after the IPv4 addresses.
        let mut body = vec![127, 0, 0, 1, 127, 0, 0, 1, 0x04, 0xd2, 0x00, 0x50];
        body.extend_from_slice(&[0x01, 0x00, 0x02, b'h', b'2']);
        assert_eq!(
            parse(&v2(0x1, 0x11, &body)),
            Parsed::Header(proxied("127.0.0.1:1234", "127.0.0.1:80"), 33)
        );
        // HAProxy's health checks: LOCAL, family UNSPEC, no addresses.
        assert_eq!(
            parse(&v2(0x0, 0x00, &[])),
            Parsed::Header(Header::Local, 16)
        );
        // A UNIX socket's addresses (216 bytes) are accepted but not used.
        assert_eq!(
            parse(&v2(0x1, 0x31, &[0u8; 216])),
            Parsed::Header(Header::Local, 232)
        );
    }

    #[test]
    fn v2_tlvs_must_fill_the_length_exactly() {
        // A length of 28 over a 12-byte IPv4 block: the 16 bytes after it are the client's
        // request, not TLVs, and must not be swallowed.
        let mut body = vec![127, 0, 0, 1, 127, 0, 0, 1, 0x04, 0xd2, 0x00, 0x50];
        body.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            parse(&v2(0x1, 0x11, &body)),
            Parsed::Invalid("PROXY v2 TLVs do not fill the header's length")
        );
        // A TLV cut short (it says 2 bytes, 1 follows), and a lone type byte.
        for tail in [&[0x01, 0x00, 0x02, b'h'][..], &[0x04][..]] {
            let mut body = vec![127, 0, 0, 1, 127, 0, 0, 1, 0x04, 0xd2, 0x00, 0x50];
            body.extend_from_slice(tail);
            assert!(matches!(parse(&v2(0x1, 0x11, &body)), Parsed::Invalid(_)));
        }
        // Two whole TLVs (ALPN "h2", then a NOOP of 0 bytes) tile it.
        let mut body = vec![127, 0, 0, 1, 127, 0, 0, 1, 0x04, 0xd2, 0x00, 0x50];
        body.extend_from_slice(&[0x01, 0x00, 0x02, b'h', b'2', 0x04, 0x00, 0x00]);
        assert!(matches!(
            parse(&v2(0x1, 0x11, &body)),
            Parsed::Header(_, 36)
        ));
    }

    #[test]
    fn v2_arrives_in_pieces_and_refuses_what_is_broken() {
        let whole = v2(0x1, 0x11, &[10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2]);
        for cut in 0..whole.len() {
            assert_eq!(parse(&whole[..cut]), Parsed::Partial, "cut at {cut}");
        }
        let mut version_one = whole.clone();
        version_one[12] = 0x11;
        assert!(matches!(parse(&version_one), Parsed::Invalid(_)));
        let mut command_two = whole.clone();
        command_two[12] = 0x22;
        assert!(matches!(parse(&command_two), Parsed::Invalid(_)));
        assert!(matches!(
            parse(&v2(0x1, 0x11, &[10, 0, 0, 1])),
            Parsed::Invalid("PROXY v2 IPv4 addresses cut short")
        ));
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(
            parse(&huge),
            Parsed::Invalid("PROXY v2 header longer than we take")
        );
        // A near miss of the signature is not a header at all.
        let mut near = whole;
        near[11] = b'X';
        assert!(matches!(parse(&near), Parsed::Invalid(_)));
    }

    #[test]
    fn the_source_is_what_reaches_the_log() {
        let Parsed::Header(header, _) = parse(b"PROXY TCP4 203.0.113.7 10.0.0.2 4000 80\r\n")
        else {
            panic!("a header");
        };
        assert_eq!(
            header.source(),
            Some("203.0.113.7:4000".parse().expect("addr"))
        );
        assert_eq!(Header::Local.source(), None);
    }
}
