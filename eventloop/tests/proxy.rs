//! A listener behind a proxy ([`EventLoop::expect_proxy_header`]): the loop takes the PROXY
//! header off each connection before the service's first session exists, and that session,
//! and the transport it is given, name the client the header carried. A toy session shows
//! both (the address `Service::open` got, and `Transport::peer`), then echoes what follows
//! the header, proving that not a byte past it was taken. (stage09's tests do the same over
//! HTTP, TLS and the access log: tests/stage09_proxy.rs.)

use eventloop::{Config, EventLoop, Handle, Interest, Plain, Received, Service, Session, Step};
use eventloop::{Transport, Turn};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Says who it thinks the client is, then echoes.
struct Who {
    pending: Vec<u8>,
}

impl<T: Transport, S> Session<T, S> for Who {
    fn start(&mut self, io: &mut T, _: &mut S, turn: &mut Turn) -> Step<T, S> {
        let transport = io
            .peer()
            .map_or("none".to_string(), |peer| peer.to_string());
        self.pending
            .extend_from_slice(format!(" transport={transport}\n").as_bytes());
        self.flush(io, turn)
    }

    fn ready(&mut self, io: &mut T, _: &mut S, turn: &mut Turn) -> Step<T, S> {
        let pending = &mut self.pending;
        match io.receive(&mut turn.input, &mut |bytes| {
            pending.extend_from_slice(bytes)
        }) {
            Ok(Received::Open) => self.flush(io, turn),
            Ok(Received::Closed) | Err(_) => Step::Close,
        }
    }

    fn timed_out(&mut self, _: &mut T, _: &mut S, _: &mut Turn) -> Step<T, S> {
        Step::Close
    }

    fn is_idle(&self, _: &T) -> bool {
        true
    }
}

impl Who {
    fn flush<T: Transport, S>(&mut self, io: &mut T, turn: &Turn) -> Step<T, S> {
        match io.send(&self.pending, false) {
            Ok(n) if n == self.pending.len() => self.pending.clear(),
            _ => return Step::Close,
        }
        Step::Wait {
            interest: Interest::Read,
            deadline: turn.now + Duration::from_secs(10),
        }
    }
}

struct Toy;

impl<T: Transport> Service<T> for Toy {
    type Message = ();

    fn open(&mut self, peer: IpAddr, _: &Turn) -> Box<dyn Session<T, Toy>> {
        Box::new(Who {
            pending: format!("open={peer}").into_bytes(),
        })
    }
}

/// A loop on its own thread, stopped when dropped.
struct Running {
    port: u16,
    stop: Handle<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(proxied: bool) -> Running {
    let (tell, told) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let listener =
            TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).expect("bind");
        let config = Config {
            name: "toy",
            max_connections: 100,
            grace: Duration::from_secs(5),
            signals: false,
        };
        let mut server: EventLoop<Plain, Toy> =
            EventLoop::new(config, listener, (), Toy).expect("loop");
        if proxied {
            server.expect_proxy_header(Duration::from_secs(1));
        }
        let port = server.local_addr().expect("addr").port();
        tell.send((port, server.handle())).expect("tell");
        server.run().expect("run");
    });
    let (port, stop) = told.recv().expect("the loop started");
    Running {
        port,
        stop,
        thread: Some(thread),
    }
}

/// Sends `bytes` in one write, then reads until `want` bytes came or the connection ended.
fn exchange(port: u16, bytes: &[u8], want: usize) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(bytes).expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.len() < want {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn the_session_and_the_transport_name_the_client_and_nothing_past_the_header_is_taken() {
    let server = serve(true);
    let said = "open=192.0.2.1 transport=192.0.2.1\nhello";
    let got = exchange(
        server.port,
        b"PROXY TCP4 192.0.2.1 127.0.0.1 5555 80\r\nhello",
        said.len(),
    );
    assert_eq!(got, said);
    // v2, IPv6.
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x24".to_vec();
    v2.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .expect("ip")
            .octets(),
    );
    v2.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    v2.extend_from_slice(&[0, 1, 0, 80]);
    v2.extend_from_slice(b"!");
    let said = "open=2001:db8::1 transport=2001:db8::1\n!";
    assert_eq!(exchange(server.port, &v2, said.len()), said);
}

#[test]
fn local_keeps_the_sockets_peer() {
    let server = serve(true);
    let said = "open=127.0.0.1 transport=127.0.0.1\n";
    let got = exchange(
        server.port,
        b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00",
        said.len(),
    );
    assert_eq!(got, said);
}

#[test]
fn without_a_header_the_connection_closes_unanswered() {
    let server = serve(true);
    assert_eq!(exchange(server.port, b"hello, no header\r\n", 1), "");
}

#[test]
fn a_listener_not_behind_a_proxy_takes_the_header_for_data() {
    let server = serve(false);
    let header = "PROXY TCP4 192.0.2.1 127.0.0.1 5555 80\r\n";
    let said = format!("open=127.0.0.1 transport=127.0.0.1\n{header}");
    assert_eq!(exchange(server.port, header.as_bytes(), said.len()), said);
}
