//! HTTP/2 for the tests of stage07, two ways.
//!
//! - [`fetch`]: an independent client, the `h2` crate (hyper's), on a current-thread tokio
//!   runtime, over TLS with ALPN `h2` or over cleartext with prior knowledge. Several
//!   requests go on one connection at once, as streams; each response comes back whole, with
//!   the order in which the responses finished. Our own codec is never on the client side:
//!   a bug shared by our encoder and decoder cannot hide here.
//! - [`Raw`]: a bare socket and frames built by hand (HPACK literals without Huffman or
//!   indexing, so nothing of ours encodes them), for what no well-behaved client sends:
//!   malformed frames, floods, a window that never opens. It reads frames back so a test can
//!   assert the GOAWAY or RST_STREAM code.

use super::{Server, READ_TIMEOUT};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How a client reaches the server: TLS on PORT (ALPN h2), or the cleartext `--plain-port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Over {
    Tls,
    Cleartext,
}

/// The options that give a stage07 server its cleartext port too.
pub const WITH_PLAIN: &[&str] = &["--plain-port", "0"];

/// The cleartext port of a server started with `--plain-port`: stage07 names it on stderr
/// (`stage07: cleartext at http://...`); stage09 prints a startup line per listener, and its
/// cleartext one follows the TLS one on stdout.
pub fn plain_port(server: &Server) -> u16 {
    let mut port = None;
    let port_of = |url: &str| url.split('/').next()?.rsplit(':').next()?.parse().ok();
    server.wait_for(Duration::from_secs(10), || {
        port = server.stderr().lines().find_map(|line| {
            let rest = line.strip_prefix("stage07: cleartext")?;
            port_of(rest.split("http://").nth(1)?)
        });
        port = port.or_else(|| {
            let stdout = server.stdout();
            let line = stdout.lines().find(|l| l.contains(" serving "))?;
            port_of(line.split(" at http://").nth(1)?)
        });
        port.is_some()
    });
    port.unwrap_or_else(|| panic!("no cleartext port in stderr: {}", server.stderr()))
}

/// One request: method, path (sent as is in `:path`), and extra fields.
#[derive(Clone, Debug)]
pub struct Ask {
    pub method: &'static str,
    pub path: String,
    pub fields: Vec<(String, String)>,
}

impl Ask {
    pub fn get(path: &str) -> Ask {
        Ask {
            method: "GET",
            path: path.to_string(),
            fields: Vec::new(),
        }
    }

    pub fn head(path: &str) -> Ask {
        Ask {
            method: "HEAD",
            ..Ask::get(path)
        }
    }

    pub fn method(method: &'static str, path: &str) -> Ask {
        Ask {
            method,
            ..Ask::get(path)
        }
    }

    pub fn with(mut self, name: &str, value: &str) -> Ask {
        self.fields.push((name.to_string(), value.to_string()));
        self
    }
}

/// A whole response, and when it finished among its connection's responses (0 first).
#[derive(Debug)]
pub struct H2Response {
    pub status: u16,
    pub fields: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub finished: usize,
}

impl H2Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends every request of `asks` at once, as streams of one new connection, and returns the
/// responses in the order asked.
pub fn fetch(server: &Server, over: Over, asks: &[Ask]) -> Vec<H2Response> {
    try_fetch(server, over, asks).unwrap_or_else(|e| panic!("h2 exchange failed: {e}"))
}

/// One request on a new connection.
pub fn fetch_one(server: &Server, over: Over, ask: Ask) -> H2Response {
    fetch(server, over, &[ask]).remove(0)
}

pub fn try_fetch(server: &Server, over: Over, asks: &[Ask]) -> Result<Vec<H2Response>, String> {
    let port = match over {
        Over::Tls => server.port,
        Over::Cleartext => plain_port(server),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let asks = asks.to_vec();
    runtime.block_on(async move {
        tokio::time::timeout(READ_TIMEOUT, exchange(port, over, asks))
            .await
            .map_err(|_| "timed out".to_string())?
    })
}

async fn exchange(port: u16, over: Over, asks: Vec<Ask>) -> Result<Vec<H2Response>, String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let scheme = match over {
        Over::Tls => "https",
        Over::Cleartext => "http",
    };
    let send = match over {
        Over::Tls => {
            let config = super::tls::client_config(rustls::DEFAULT_VERSIONS, &[b"h2"]);
            let name =
                rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())?;
            let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            if alpn.as_deref() != Some(b"h2") {
                return Err(format!("ALPN chose {alpn:?}, not h2"));
            }
            let (send, connection) = h2::client::handshake(tls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            send
        }
        Over::Cleartext => {
            let (send, connection) = h2::client::handshake(tcp)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            send
        }
    };
    let mut send = send.ready().await.map_err(|e| e.to_string())?;
    let order = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for ask in asks {
        let uri = format!("{scheme}://localhost:{port}{}", ask.path);
        let mut request = http::Request::builder().method(ask.method).uri(uri);
        for (name, value) in &ask.fields {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request.body(()).map_err(|e| e.to_string())?;
        send = send.ready().await.map_err(|e| e.to_string())?;
        let (response, _) = send
            .send_request(request, true)
            .map_err(|e| e.to_string())?;
        let order = order.clone();
        tasks.push(tokio::spawn(async move {
            let response = response.await.map_err(|e| e.to_string())?;
            let (parts, mut body) = response.into_parts();
            let mut bytes = Vec::new();
            while let Some(chunk) = body.data().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                let _ = body.flow_control().release_capacity(chunk.len());
                bytes.extend_from_slice(&chunk);
            }
            let fields = parts
                .headers
                .iter()
                .map(|(n, v)| {
                    let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                    (n.as_str().to_string(), value)
                })
                .collect();
            Ok::<_, String>(H2Response {
                status: parts.status.as_u16(),
                fields,
                body: bytes,
                finished: order.fetch_add(1, Ordering::SeqCst),
            })
        }));
    }
    let mut responses = Vec::new();
    for task in tasks {
        responses.push(task.await.map_err(|e| e.to_string())??);
    }
    Ok(responses)
}

// ---------------------------------------------------------------------------------------
// Raw frames.

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const FLOW_CONTROL_ERROR: u32 = 0x3;
pub const STREAM_CLOSED: u32 = 0x5;
pub const FRAME_SIZE_ERROR: u32 = 0x6;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const COMPRESSION_ERROR: u32 = 0x9;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// One frame: 9-byte header, then the payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A SETTINGS frame with these (id, value) pairs.
pub fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (id, value) in pairs {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &payload)
}

pub fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    frame(WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// An HPACK "literal header field without indexing, new name" (RFC 7541 section 6.2.2),
/// lengths under 127 only, no Huffman: readable by any decoder, made by nothing of ours.
pub fn literal(out: &mut Vec<u8>, name: &str, value: &str) {
    assert!(name.len() < 127 && value.len() < 127);
    out.push(0x00);
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
}

/// The header block of a GET for `path` (plus `extra` fields).
pub fn request_block(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    literal(&mut block, ":method", method);
    literal(&mut block, ":scheme", "http");
    literal(&mut block, ":authority", "localhost");
    literal(&mut block, ":path", path);
    for (name, value) in extra {
        literal(&mut block, name, value);
    }
    block
}

/// A whole GET as one HEADERS frame with END_HEADERS and END_STREAM.
pub fn get(stream: u32, path: &str) -> Vec<u8> {
    frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        stream,
        &request_block("GET", path, &[]),
    )
}

/// A frame read back from the server.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a GOAWAY or RST_STREAM.
    pub fn code(&self) -> u32 {
        let at = if self.kind == GOAWAY { 4 } else { 0 };
        let bytes = self.payload.get(at..at + 4).unwrap_or(&[0xff; 4]);
        u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }
}

/// A bare socket that speaks frames: the crafted-frame and defence tests' client.
pub struct Raw {
    pub stream: TcpStream,
    pending: Vec<u8>,
}

impl Raw {
    /// Connected to the cleartext port, nothing sent yet.
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Raw {
            stream,
            pending: Vec::new(),
        }
    }

    /// Connected, with the preface and an empty SETTINGS sent.
    pub fn open(port: u16) -> Raw {
        let mut raw = Raw::connect(port);
        let mut hello = PREFACE.to_vec();
        hello.extend_from_slice(&settings(&[]));
        raw.send(&hello);
        raw
    }

    /// Writes bytes; a server that has closed makes this fail quietly (the test reads why).
    pub fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The next frame, or `None` once the server has closed (or the read timed out).
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if self.pending.len() >= 9 {
                let len = (usize::from(self.pending[0]) << 16)
                    | (usize::from(self.pending[1]) << 8)
                    | usize::from(self.pending[2]);
                if self.pending.len() >= 9 + len {
                    let bytes: Vec<u8> = self.pending.drain(..9 + len).collect();
                    let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
                    return Some(Frame {
                        kind: bytes[3],
                        flags: bytes[4],
                        stream: stream & 0x7fff_ffff,
                        payload: bytes[9..].to_vec(),
                    });
                }
            }
            let mut buf = [0u8; 16 * 1024];
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// Reads frames until one of `kind` (for `stream`, when given); `None` if the connection
    /// ends first.
    pub fn until(&mut self, kind: u8, stream: Option<u32>) -> Option<Frame> {
        while let Some(frame) = self.next_frame() {
            if frame.kind == kind && stream.is_none_or(|s| s == frame.stream) {
                return Some(frame);
            }
        }
        None
    }

    /// The code of the GOAWAY the server sends (reading past everything before it).
    pub fn goaway_code(&mut self) -> Option<u32> {
        self.until(GOAWAY, None).map(|frame| frame.code())
    }

    /// True once the server has closed the connection (EOF or reset), reading past frames.
    pub fn is_closed(&mut self) -> bool {
        while self.next_frame().is_some() {}
        let mut buf = [0u8; 1];
        matches!(self.stream.read(&mut buf), Ok(0) | Err(_))
    }

    /// Reads one response on `stream`: its HEADERS (status decoded only when it is one of
    /// the static table's indexed `:status` values or a literal) and the DATA bytes until
    /// END_STREAM. Used where the h2 crate cannot go (a connection we abuse first).
    pub fn response_status(&mut self, stream: u32) -> Option<u8> {
        let headers = self.until(HEADERS, Some(stream))?;
        headers.payload.first().copied()
    }
}
