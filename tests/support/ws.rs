//! A WebSocket client made of bytes, for the tests of stage08: it writes frames as the test
//! spells them (masked or not, any opcode, any RSV bit, split anywhere) and reads the
//! server's frames back exactly as they came, close codes included. It runs over the
//! harness's [`Client`], so the same test speaks ws:// or wss://.
//!
//! Also here: starting stage08 with its extra listeners (`--tls-port`, `--tcp-chat`), whose
//! ports the startup line names after the HTTP URL.

use super::{fill_from, Client, Server, Stage};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CONTINUATION: u8 = 0x0;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// The key of RFC 6455's example, and the accept key it must get (section 1.3).
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// The masking key every frame of ours uses (any key will do; not all zeros, so that a
/// server that forgets to unmask shows it).
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// An opening handshake for `path`, with `extra` header lines (each ending in CRLF).
pub fn handshake(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// One frame's bytes: FIN, the RSV bits (0-7), opcode, the shortest length form, then the
/// payload, masked with `mask` if given.
pub fn frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    let masked = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(masked | n as u8),
        n if n <= 0xffff => {
            out.push(masked | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(masked | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A client frame, as a browser sends it: masked, no RSV bits.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(fin, 0, opcode, payload, Some(MASK))
}

/// A close frame's payload: the code, then the reason.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// A frame as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// A close frame's code (`None`: no code).
    pub fn close_code(&self) -> Option<u16> {
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// A WebSocket client after its handshake (or before it: `client` is the raw connection).
pub struct Ws {
    pub client: Client,
}

impl Ws {
    /// Opens `path` on `server` (TLS if the server speaks it) and checks the 101.
    pub fn open(server: &Server, path: &str) -> Ws {
        Ws::open_on(server.connect(), path)
    }

    /// The handshake on an existing connection; panics unless it is a proper 101.
    pub fn open_on(mut client: Client, path: &str) -> Ws {
        let response = client.request(&handshake(path, ""));
        assert_eq!(response.status, 101, "{path}: {response:?}");
        assert_eq!(response.header("Sec-WebSocket-Accept"), Some(ACCEPT));
        assert_eq!(response.header("Upgrade"), Some("websocket"));
        assert!(response.header("Content-Length").is_none());
        Ws { client }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.client.send(bytes);
    }

    /// Sends, and says whether the server took it (it may have closed already).
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.client.stream.write_all(bytes)?;
        self.client.stream.flush()
    }

    pub fn send_text(&mut self, text: &str) {
        self.send(&client_frame(true, TEXT, text.as_bytes()));
    }

    /// The next frame the server sends.
    pub fn read_frame(&mut self) -> Frame {
        self.try_read_frame().expect("read a frame")
    }

    pub fn try_read_frame(&mut self) -> io::Result<Frame> {
        let pending = &mut self.client.pending;
        let stream = &mut self.client.stream;
        let mut need = 2;
        loop {
            while pending.len() < need {
                if fill_from(stream, pending)? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("closed with {} bytes of a frame", pending.len()),
                    ));
                }
            }
            assert_eq!(pending[1] & 0x80, 0, "a server frame must not be masked");
            assert_eq!(pending[0] & 0x70, 0, "no RSV bits without an extension");
            let (len, header) = match pending[1] & 0x7f {
                126 if pending.len() >= 4 => {
                    (u16::from_be_bytes([pending[2], pending[3]]) as usize, 4)
                }
                127 if pending.len() >= 10 => {
                    let mut bytes = [0u8; 8];
                    bytes.copy_from_slice(&pending[2..10]);
                    (u64::from_be_bytes(bytes) as usize, 10)
                }
                126 => {
                    need = 4;
                    continue;
                }
                127 => {
                    need = 10;
                    continue;
                }
                n => (n as usize, 2),
            };
            if pending.len() < header + len {
                need = header + len;
                continue;
            }
            let frame = Frame {
                fin: pending[0] & 0x80 != 0,
                opcode: pending[0] & 0x0f,
                payload: pending[header..header + len].to_vec(),
            };
            pending.drain(..header + len);
            return Ok(frame);
        }
    }

    /// The next frame, which must be a close: its code. We answer it (the closing
    /// handshake), and the server must then close the connection.
    pub fn expect_close(&mut self) -> Option<u16> {
        let frame = self.read_frame();
        assert_eq!(frame.opcode, CLOSE, "expected a close, got {frame:?}");
        let _ = self.try_send(&client_frame(
            true,
            CLOSE,
            &frame.payload[..frame.payload.len().min(2)],
        ));
        assert!(
            self.client.is_closed(),
            "the server closes after the close handshake"
        );
        frame.close_code()
    }

    /// Reads frames until a close; returns the data frames before it and the close code.
    pub fn read_until_close(&mut self) -> (Vec<Frame>, Option<u16>) {
        let mut frames = Vec::new();
        loop {
            let frame = self.read_frame();
            if frame.opcode == CLOSE {
                return (frames, frame.close_code());
            }
            frames.push(frame);
        }
    }
}

/// stage08 running, and the ports of its extra listeners.
pub struct Started {
    pub server: Server,
    pub tls_port: Option<u16>,
    pub tcp_port: Option<u16>,
}

/// Starts `stage` on `root` with `extra` options, keeping what its startup line says about
/// the TLS and TCP chat listeners (`... and https://localhost:P/, TCP chat on port Q ...`).
pub fn start(stage: &Stage, root: &Path, extra: &[&str]) -> Started {
    let log_path = super::scratch_dir().join(format!("access-{}.log", super::unique()));
    let mut child = Command::new(super::binary(stage.name))
        .arg("0")
        .arg(root)
        .arg("--access-log")
        .arg(&log_path)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stage");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read startup line");
    let port = super::parse_port(&line).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("{} printed no startup line: {line:?}", stage.name)
    });
    std::thread::spawn(move || io::copy(&mut stdout, &mut io::sink()));
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut err_pipe = child.stderr.take().expect("stderr");
    let sink = stderr.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err_pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let after = |marker: &str| {
        let rest = &line[line.find(marker)? + marker.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    Started {
        tls_port: after(" and https://localhost:"),
        tcp_port: after("TCP chat on port "),
        server: Server {
            child,
            port,
            log_path,
            tls: stage.tls,
            stderr,
            // Its stdout is drained above; nothing after the startup line is kept.
            stdout: Default::default(),
        },
    }
}

/// A plain client whose receive buffer is small (4 KiB asked; the kernel doubles it), so
/// that a test which stops reading fills the server's queue for it quickly, not after the
/// megabytes a loopback socket would otherwise hold.
pub fn connect_small_buffer(port: u16) -> Client {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    socket.connect(&addr.into()).expect("connect");
    let stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(super::READ_TIMEOUT))
        .expect("timeout");
    stream.set_nodelay(true).expect("nodelay");
    Client {
        stream: super::Transport::Plain(stream),
        pending: Vec::new(),
    }
}
