//! The hand-off: an HTTP/1.1 session gives its connection, with every byte it has read and
//! not used, to another session. Three signs start it (ALPN `h2` after the TLS handshake, the
//! HTTP/2 preface on a cleartext port, `Upgrade:` on a request), and a toy second session
//! shows exactly what it was handed: it answers `<sign>:` and then echoes every byte, the
//! handed ones first. No sign, or a sign the service does not take: HTTP/1.1 carries on.

use common::cache::FileCache;
use common::{AccessLog, DateCache, Site};
use eventloop::http1::{Env, Http1, HttpService, Switch};
use eventloop::{Config, EventLoop, Handle, Plain, Received, Service, Session, Step, Tls};
use eventloop::{Interest, Transport, Turn};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The second protocol: says which sign brought it, then echoes.
struct Echo {
    pending: Vec<u8>,
}

impl<T: Transport, S> Session<T, S> for Echo {
    fn start(&mut self, io: &mut T, _: &mut S, turn: &mut Turn) -> Step<T, S> {
        self.flush(io, turn)
    }

    fn ready(&mut self, io: &mut T, _: &mut S, turn: &mut Turn) -> Step<T, S> {
        if self.pending.is_empty() && !io.wants_write() {
            let pending = &mut self.pending;
            match io.receive(&mut turn.input, &mut |bytes| {
                pending.extend_from_slice(bytes)
            }) {
                Ok(Received::Open) => {}
                Ok(Received::Closed) | Err(_) => return Step::Close,
            }
        }
        self.flush(io, turn)
    }

    fn timed_out(&mut self, _: &mut T, _: &mut S, _: &mut Turn) -> Step<T, S> {
        Step::Close
    }

    fn is_idle(&self, _: &T) -> bool {
        self.pending.is_empty()
    }
}

impl Echo {
    fn flush<T: Transport, S>(&mut self, io: &mut T, turn: &Turn) -> Step<T, S> {
        let done = io.send(&self.pending, false).map(|n| {
            self.pending.drain(..n);
        });
        let interest = match (done, io.flush()) {
            (Ok(()), Ok(true)) if self.pending.is_empty() => Interest::Read,
            (Ok(()), Ok(_)) => Interest::Write,
            _ => return Step::Close,
        };
        Step::Wait {
            interest,
            deadline: turn.now + Duration::from_secs(10),
        }
    }
}

/// HTTP/1.1 first, and the echo for the signs in `switches`.
struct Toy {
    http: Env,
}

impl<T: Transport> Service<T> for Toy {
    type Message = ();

    fn open(&mut self, peer: IpAddr, turn: &Turn) -> Box<dyn Session<T, Toy>> {
        Box::new(Http1::new(peer, turn.now))
    }
}

impl<T: Transport> HttpService<T> for Toy {
    fn http(&mut self) -> &mut Env {
        &mut self.http
    }

    fn switch(&mut self, to: Switch, read: Vec<u8>) -> Option<Box<dyn Session<T, Toy>>> {
        let sign = match to {
            Switch::Alpn(protocol) => format!("alpn {}", String::from_utf8_lossy(&protocol)),
            Switch::Preface => "preface".to_string(),
            Switch::Upgrade(token) => format!("upgrade {token}"),
        };
        let mut pending = format!("{sign}:").into_bytes();
        pending.extend_from_slice(&read);
        Some(Box::new(Echo { pending }))
    }
}

/// A fresh folder with one file, `notes.txt`, for the HTTP/1.1 side (removed with the loop).
fn root() -> PathBuf {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("eventloop-handoff-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::write(dir.join("notes.txt"), "notes\n").expect("fixture");
    dir
}

const NOTES: &[u8] = b"GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n";

/// A running loop on its own thread; stopped (gracefully) when dropped.
struct Running {
    port: u16,
    stop: Handle<()>,
    thread: Option<std::thread::JoinHandle<()>>,
    root: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn serve<T: Transport>(config: T::Config, switches: Vec<Switch>) -> Running
where
    T::Config: Send,
{
    let (tell, told) = std::sync::mpsc::channel();
    let root = root();
    let site = Site::new(&root).expect("site");
    let thread = std::thread::spawn(move || {
        let listener =
            TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).expect("bind");
        let turn = Turn::new();
        let http = Env {
            site,
            cache: FileCache::default(),
            log: AccessLog::Off,
            dates: DateCache::default(),
            idle_timeout: Duration::from_secs(10),
            send_timeout: eventloop::http1::SEND_TIMEOUT,
            header_timeout: Duration::from_secs(10),
            server: "toy",
            switches,
            verifiers: None,
            pages: None,
            now: turn.now,
            wall: turn.wall,
            draining: false,
            lame_duck: false,
        };
        let config_loop = Config {
            name: "toy",
            max_connections: 100,
            grace: Duration::from_secs(5),
            signals: false,
        };
        let mut server: EventLoop<T, Toy> =
            EventLoop::new(config_loop, listener, config, Toy { http }).expect("loop");
        let port = server.local_addr().expect("addr").port();
        tell.send((port, server.handle())).expect("tell");
        server.run().expect("run");
    });
    let (port, stop) = told.recv().expect("the loop started");
    Running {
        port,
        stop,
        thread: Some(thread),
        root,
    }
}

fn all_signs() -> Vec<Switch> {
    vec![
        Switch::Upgrade("echo".into()),
        Switch::Preface,
        Switch::Alpn(b"h2".to_vec()),
    ]
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

/// Reads until `len` bytes have come (or the connection ends).
fn read_exactly(stream: &mut impl Read, len: usize) -> Vec<u8> {
    let mut got = vec![0u8; len];
    let mut have = 0;
    while have < len {
        match stream.read(&mut got[have..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => have += n,
        }
    }
    got.truncate(have);
    got
}

/// Reads one HTTP response to `GET /notes.txt` and checks it.
fn assert_notes(stream: &mut impl Read) {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"notes\n") {
        match stream.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            _ => panic!("no response: {:?}", String::from_utf8_lossy(&got)),
        }
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn an_upgrade_hands_over_the_request_and_what_followed_it() {
    let server = serve::<Plain>((), all_signs());
    let mut client = connect(server.port);
    // An ordinary request, then the upgrade with bytes of the new protocol behind it, in one
    // write: the first is answered by HTTP/1.1, the rest belongs to the echo, head included.
    let upgrade: &[u8] = b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c, echo\r\n\r\n";
    let mut write = NOTES.to_vec();
    write.extend_from_slice(upgrade);
    write.extend_from_slice(b"hello");
    client.write_all(&write).expect("send");
    assert_notes(&mut client);
    let mut wanted = b"upgrade echo:".to_vec();
    wanted.extend_from_slice(upgrade);
    wanted.extend_from_slice(b"hello");
    assert_eq!(read_exactly(&mut client, wanted.len()), wanted);
    // From now on the connection is the echo's.
    client.write_all(b"more").expect("send");
    assert_eq!(read_exactly(&mut client, 4), b"more");
}

#[test]
fn an_upgrade_nobody_takes_is_an_ordinary_request() {
    let server = serve::<Plain>((), all_signs());
    let mut client = connect(server.port);
    // A protocol the service does not speak, and `echo` without `Connection: upgrade`.
    client
        .write_all(b"GET /notes.txt HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
        .expect("send");
    assert_notes(&mut client);
    client
        .write_all(b"GET /notes.txt HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\n\r\n")
        .expect("send");
    assert_notes(&mut client);
    // A service that takes no sign at all.
    let plain = serve::<Plain>((), Vec::new());
    let mut client = connect(plain.port);
    client
        .write_all(
            b"GET /notes.txt HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n",
        )
        .expect("send");
    assert_notes(&mut client);
}

#[test]
fn the_http2_preface_on_a_cleartext_port_hands_over_from_the_first_byte() {
    let server = serve::<Plain>((), all_signs());
    let mut client = connect(server.port);
    let preface: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    // Dripped: the sign is recognised only once its whole first line is in.
    client.write_all(&preface[..10]).expect("send");
    client.write_all(&preface[10..]).expect("send");
    let mut wanted = b"preface:".to_vec();
    wanted.extend_from_slice(preface);
    assert_eq!(read_exactly(&mut client, wanted.len()), wanted);
    // Later on a connection, the same bytes are just a bad request: the preface comes first.
    let mut late = connect(server.port);
    let mut write = NOTES.to_vec();
    write.extend_from_slice(preface);
    late.write_all(&write).expect("send");
    assert_notes(&mut late);
    let mut rest = Vec::new();
    let _ = late.read_to_end(&mut rest);
    assert!(
        rest.starts_with(b"HTTP/1.1 "),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    assert!(
        !rest.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
}

/// A test CA and a certificate for localhost signed by it: the server's config (ALPN `h2`
/// before `http/1.1`) and the roots a client trusts it with.
fn tls_server() -> (Arc<rustls::ServerConfig>, rustls::RootCertStore) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .signed_by(&key, &ca, &ca_key)
        .expect("certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let private = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into();
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], private)
        .expect("server config");
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).expect("trust the CA");
    (Arc::new(server), roots)
}

/// A TLS client of the test CA on `port`, offering `alpn`.
fn tls_client(
    port: u16,
    roots: &rustls::RootCertStore,
    alpn: &[u8],
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    rustls::StreamOwned::new(connection, connect(port))
}

#[test]
fn alpn_h2_hands_over_after_the_handshake() {
    let (config, roots) = tls_server();
    let server = serve::<Tls>(config, all_signs());
    let mut client = tls_client(server.port, &roots, b"h2");
    client.write_all(b"frames").expect("send");
    assert_eq!(client.conn.alpn_protocol(), Some(&b"h2"[..]));
    let wanted = b"alpn h2:frames";
    assert_eq!(read_exactly(&mut client, wanted.len()), wanted);
    // A client that chose http/1.1 stays with HTTP/1.1.
    let mut client = tls_client(server.port, &roots, b"http/1.1");
    client.write_all(NOTES).expect("send");
    assert_eq!(client.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_notes(&mut client);
}
