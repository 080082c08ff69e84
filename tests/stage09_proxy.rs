//! stage09 behind a load balancer: the PROXY protocol on the listeners that enable it
//! (`proxy_protocol = true`), and the lame-duck phase before a stop (`timeouts.lame_duck`).
//!
//! Each test starts `stage09 --config` with three listeners: plain TCP expecting a PROXY
//! header, plain TCP without (a header there is just a bad request), and TLS expecting one
//! (the header comes before the ClientHello). Headers are written by hand, byte for byte, as
//! HAProxy's `send-proxy` (v1) and `send-proxy-v2` send them; the access log must then name
//! the client the header carries, not the socket's peer. (tests/haproxy/run does the same
//! with a real HAProxy in front of two instances.)

mod support;

use std::fs;
use std::io::{BufRead, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::Child;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use support::stage09::spawn_config;
use support::{fixture, Client};

const SIGTERM: i32 = 15;

extern "C" {
    /// glibc's kill(2) (the test package links no libc crate).
    fn kill(pid: i32, signal: i32) -> i32;
}

/// A scratch folder of its own for each server.
fn scratch(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "stage09-proxy-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A self-signed certificate and key, as PEM files in a folder shared by the tests.
fn certificate() -> &'static (PathBuf, PathBuf) {
    static FILES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = scratch("cert");
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("a self-signed certificate");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        fs::write(&cert, certified.cert.pem()).expect("write cert");
        fs::write(&key, certified.key_pair.serialize_pem()).expect("write key");
        (cert, key)
    })
}

/// A running stage09: its listeners' ports (in the config's order), its access log, stderr.
struct Run {
    child: Child,
    ports: Vec<u16>,
    dir: PathBuf,
    stderr: Arc<Mutex<String>>,
}

/// The three listeners of [`Run::three`], by position.
const PROXIED: usize = 0;
const DIRECT: usize = 1;
const PROXIED_TLS: usize = 2;

impl Run {
    /// stage09 on `listeners` (TOML `[[listener]]` tables) with one worker, `timeouts`, and
    /// an access log; returns once its startup lines (one per listener) are out.
    fn start(timeouts: &str, listeners: &[String]) -> Run {
        let dir = scratch("run");
        let mut text = format!(
            "root = {:?}\nworkers = 1\n[timeouts]\n{timeouts}\n[access_log]\npath = {:?}\n",
            fixture().root.display().to_string(),
            dir.join("access.log").display().to_string()
        );
        for listener in listeners {
            text.push_str("[[listener]]\n");
            text.push_str(listener);
        }
        let config = dir.join("site.toml");
        fs::write(&config, text).expect("write config");
        let (child, mut stdout, stderr) = spawn_config(&config);
        let mut ports = Vec::new();
        for _ in listeners {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("startup line");
            // `stage09 serving ROOT at http://localhost:PORT/ (Ctrl-C stops)`
            let port = line
                .split(" at ")
                .nth(1)
                .and_then(|url| url.rsplit(':').next())
                .and_then(|rest| rest.split('/').next())
                .and_then(|p| p.parse().ok());
            let stderr = stderr.lock().unwrap_or_else(|e| e.into_inner()).clone();
            ports.push(port.unwrap_or_else(|| panic!("no startup line: {line:?} {stderr}")));
        }
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Run {
            child,
            ports,
            dir,
            stderr,
        }
    }

    /// The usual three listeners, with a header timeout of 1 s.
    fn three() -> Run {
        let (cert, key) = certificate();
        Run::start(
            "header = 1",
            &[
                "address = \"127.0.0.1\"\nport = 0\nproxy_protocol = true\n".to_string(),
                "address = \"127.0.0.1\"\nport = 0\n".to_string(),
                format!(
                    "address = \"127.0.0.1\"\nport = 0\nproxy_protocol = true\ntls = {{ cert = {:?}, key = {:?} }}\n",
                    cert.display().to_string(),
                    key.display().to_string()
                ),
            ],
        )
    }

    fn connect(&self, listener: usize) -> Client {
        Client::connect(("127.0.0.1", self.ports[listener]))
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The access log line whose User-Agent is `agent`, waiting for the master to write it.
    fn log_line(&self, agent: &str) -> String {
        let start = Instant::now();
        loop {
            let log = fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
            let quoted = format!("\"{agent}\"");
            if let Some(line) = log.lines().find(|line| line.ends_with(&quoted)) {
                return line.to_string();
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no line for {agent} in:\n{log}\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The exit status, waiting at most `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request for /notes.txt that names itself in its User-Agent (to find its log line).
fn request(agent: &str, close: bool) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!("GET /notes.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: {agent}\r\n{connection}\r\n")
}

/// The fixture's /notes.txt.
fn notes() -> Vec<u8> {
    fs::read(fixture().root.join("notes.txt")).expect("notes.txt")
}

// ---- The headers, as HAProxy writes them ----

fn v1_tcp4(source: Ipv4Addr, port: u16) -> Vec<u8> {
    format!("PROXY TCP4 {source} 127.0.0.1 {port} 80\r\n").into_bytes()
}

fn v1_tcp6(source: Ipv6Addr, port: u16) -> Vec<u8> {
    format!("PROXY TCP6 {source} ::1 {port} 80\r\n").into_bytes()
}

/// A v2 header: the signature, version 2 and `command` (0 LOCAL, 1 PROXY), `family` (0x11
/// TCP over IPv4, 0x21 TCP over IPv6, 0 for LOCAL), and the address block.
fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.push(0x20 | command);
    header.push(family);
    header.extend_from_slice(&(addresses.len() as u16).to_be_bytes());
    header.extend_from_slice(addresses);
    header
}

fn v2_tcp4(source: Ipv4Addr, port: u16) -> Vec<u8> {
    let mut addresses = source.octets().to_vec();
    addresses.extend_from_slice(&Ipv4Addr::LOCALHOST.octets());
    addresses.extend_from_slice(&port.to_be_bytes());
    addresses.extend_from_slice(&80u16.to_be_bytes());
    v2(1, 0x11, &addresses)
}

fn v2_tcp6(source: Ipv6Addr, port: u16) -> Vec<u8> {
    let mut addresses = source.octets().to_vec();
    addresses.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    addresses.extend_from_slice(&port.to_be_bytes());
    addresses.extend_from_slice(&80u16.to_be_bytes());
    v2(1, 0x21, &addresses)
}

/// What HAProxy's health checks send: LOCAL, no addresses.
fn v2_local() -> Vec<u8> {
    v2(0, 0, &[])
}

/// Sends `header` then a request in one write, and checks that the response is the file and
/// that the log names `client`.
fn served_as(run: &Run, header: &[u8], agent: &str, client: &str) {
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(request(agent, true).as_bytes());
    let mut conn = run.connect(PROXIED);
    conn.send(&bytes);
    let response = conn.response(false);
    assert_eq!(response.status, 200, "{}", response.status_line);
    assert_eq!(response.body, notes());
    assert!(conn.is_closed(), "Connection: close was asked for");
    let line = run.log_line(agent);
    assert!(line.starts_with(&format!("{client} - - [")), "{line}");
}

#[test]
fn v1_tcp4_names_the_client_in_the_log() {
    let run = Run::three();
    served_as(
        &run,
        &v1_tcp4(Ipv4Addr::new(192, 0, 2, 1), 56324),
        "v1-tcp4",
        "192.0.2.1",
    );
}

#[test]
fn v1_tcp6_names_the_client_in_the_log() {
    let source: Ipv6Addr = "2001:db8::7".parse().expect("address");
    served_as(
        &Run::three(),
        &v1_tcp6(source, 4000),
        "v1-tcp6",
        "2001:db8::7",
    );
}

#[test]
fn v2_tcp4_names_the_client_in_the_log() {
    let header = v2_tcp4(Ipv4Addr::new(203, 0, 113, 9), 61000);
    served_as(&Run::three(), &header, "v2-tcp4", "203.0.113.9");
}

#[test]
fn v2_tcp6_names_the_client_in_the_log() {
    let source: Ipv6Addr = "2001:db8::42".parse().expect("address");
    served_as(
        &Run::three(),
        &v2_tcp6(source, 1),
        "v2-tcp6",
        "2001:db8::42",
    );
}

#[test]
fn v2_local_keeps_the_sockets_own_peer() {
    // HAProxy's health checks: LOCAL, then `GET /healthz`. The connection is the proxy's own.
    let run = Run::three();
    served_as(&run, &v2_local(), "v2-local", "127.0.0.1");
    let mut conn = run.connect(PROXIED);
    let mut bytes = v2_local();
    bytes.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    conn.send(&bytes);
    let response = conn.response(false);
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"ok\n");
}

#[test]
fn the_client_stays_for_every_request_of_a_keep_alive_connection() {
    // The header, then two requests pipelined behind it, in one write: the header is taken
    // off exactly, and both requests are answered, in order, both logged with the client.
    let run = Run::three();
    let mut bytes = v2_tcp4(Ipv4Addr::new(198, 51, 100, 3), 5000);
    bytes.extend_from_slice(request("keep-1", false).as_bytes());
    bytes.extend_from_slice(request("keep-2", true).as_bytes());
    let mut conn = run.connect(PROXIED);
    conn.send(&bytes);
    for _ in 0..2 {
        let response = conn.response(false);
        assert_eq!(response.status, 200);
        assert_eq!(response.body, notes());
    }
    assert!(conn.is_closed());
    for agent in ["keep-1", "keep-2"] {
        assert!(run.log_line(agent).starts_with("198.51.100.3 - - ["));
    }
}

#[test]
fn a_dripped_header_is_put_together() {
    // A byte at a time, each its own segment: v1 (which has no length field), then v2 (whose
    // length comes in the middle).
    let run = Run::three();
    for (header, agent, client) in [
        (
            v1_tcp4(Ipv4Addr::new(192, 0, 2, 77), 1234),
            "drip-v1",
            "192.0.2.77",
        ),
        (
            v2_tcp4(Ipv4Addr::new(192, 0, 2, 78), 1234),
            "drip-v2",
            "192.0.2.78",
        ),
    ] {
        let mut conn = run.connect(PROXIED);
        conn.send_in_pieces(&header, 1, Duration::from_millis(2));
        let response = conn.request(&request(agent, true));
        assert_eq!(response.status, 200);
        assert_eq!(response.body, notes());
        assert!(run.log_line(agent).starts_with(&format!("{client} - - [")));
    }
}

#[test]
fn a_header_split_from_its_request_waits_for_it() {
    // The header whole in one segment, the request later in another: nothing is lost between.
    let run = Run::three();
    let mut conn = run.connect(PROXIED);
    conn.send(&v1_tcp4(Ipv4Addr::new(192, 0, 2, 5), 9));
    std::thread::sleep(Duration::from_millis(20));
    let response = conn.request(&request("split", true));
    assert_eq!(response.status, 200);
    assert!(run.log_line("split").starts_with("192.0.2.5 - - ["));
}

#[test]
fn no_header_or_a_bad_one_closes_without_a_word() {
    let run = Run::three();
    let mut bad_v2 = v2_tcp4(Ipv4Addr::new(192, 0, 2, 1), 1);
    bad_v2[12] = 0x31; // version 3
    let cases: [&[u8]; 5] = [
        // A client that connects straight to the proxied port: no header at all.
        b"GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PROXY TCP4 192.0.2.1 nonsense 1 2\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PROXY TCP4 192.0.2.1 127.0.0.1 99999 80\r\nGET / HTTP/1.1\r\n\r\n",
        b"\r\n\r\n\0\r\nQUIX\n!\x11\0\x0c",
        &bad_v2,
    ];
    for case in cases {
        let mut conn = run.connect(PROXIED);
        conn.send(case);
        assert!(conn.is_closed(), "{:?}", String::from_utf8_lossy(case));
    }
    // A v1 line that never ends within 107 bytes.
    let mut conn = run.connect(PROXIED);
    let mut long = b"PROXY TCP4 ".to_vec();
    long.resize(200, b'1');
    conn.send(&long);
    assert!(conn.is_closed());
    // And the listener still serves the next one.
    served_as(
        &run,
        &v1_tcp4(Ipv4Addr::new(192, 0, 2, 1), 1),
        "after-bad",
        "192.0.2.1",
    );
}

#[test]
fn a_header_that_never_completes_is_closed_at_the_header_timeout() {
    // timeouts.header = 1 (see `three`): half a header, then silence.
    let run = Run::three();
    let mut conn = run.connect(PROXIED);
    let started = Instant::now();
    conn.send(b"PROXY TCP4 192.0.2.1 ");
    assert!(
        conn.is_closed(),
        "closed, not left open (the read times out at 15 s)"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed at the header timeout, not before: {:?}",
        started.elapsed()
    );
    // Silence from the first byte on is the same.
    let mut conn = run.connect(PROXIED);
    assert!(conn.is_closed());
}

#[test]
fn a_listener_without_the_flag_takes_a_header_for_a_bad_request() {
    let run = Run::three();
    let mut conn = run.connect(DIRECT);
    let mut bytes = v1_tcp4(Ipv4Addr::new(192, 0, 2, 1), 1);
    bytes.extend_from_slice(request("direct", true).as_bytes());
    conn.send(&bytes);
    let response = conn.response(false);
    assert_eq!(response.status, 400, "{}", response.status_line);
    // The plain requests are served there, logged with the socket's peer.
    let response = run.connect(DIRECT).request(&request("direct-ok", true));
    assert_eq!(response.status, 200);
    assert!(run.log_line("direct-ok").starts_with("127.0.0.1 - - ["));
}

#[test]
fn over_tls_the_header_comes_before_the_handshake() {
    let run = Run::three();
    for (header, agent, client) in [
        (
            v2_tcp4(Ipv4Addr::new(192, 0, 2, 200), 443),
            "tls-v2",
            "192.0.2.200",
        ),
        (
            v1_tcp6("2001:db8::5".parse().expect("ip"), 443),
            "tls-v1",
            "2001:db8::5",
        ),
        (v2_local(), "tls-local", "127.0.0.1"),
    ] {
        let conn = run.connect(PROXIED_TLS);
        // Written on the raw socket; the ClientHello follows at once, so the two are likely
        // in the server's socket buffer together: the header must be taken off exactly.
        conn.stream.tcp().write_all(&header).expect("header");
        let mut conn = conn.into_tls(support::tls::default_config());
        let response = conn.request(&request(agent, true));
        assert_eq!(response.status, 200, "{}", response.status_line);
        assert_eq!(response.body, notes());
        assert!(run.log_line(agent).starts_with(&format!("{client} - - [")));
    }
    // No header: the ClientHello is not one, and the connection closes.
    let mut conn = run
        .connect(PROXIED_TLS)
        .into_tls(support::tls::default_config());
    assert!(
        conn.handshake().is_err(),
        "a TLS client without a header is refused"
    );
}

// ---- The lame-duck phase ----

#[test]
fn term_with_a_lame_duck_says_503_on_healthz_and_serves_on_then_stops() {
    // One listener: the worker's one loop catches USR2 itself (eventloop's server.rs).
    lame_duck(1);
}

#[test]
fn the_lame_duck_reaches_every_loop_of_a_worker() {
    // Two listeners, two loops on threads: the worker's main thread takes USR2 (worker.rs)
    // and passes it to each loop; the first listener is checked.
    lame_duck(2);
}

/// TERM with `lame_duck = 2` on a stage09 with `listeners` plain listeners.
fn lame_duck(listeners: usize) {
    let listener = "address = \"127.0.0.1\"\nport = 0\n".to_string();
    let mut run = Run::start("lame_duck = 2", &vec![listener; listeners]);
    let health = |run: &Run| {
        run.connect(0)
            .request("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    };
    assert_eq!(health(&run).status, 200);
    // A keep-alive connection from before the signal.
    let mut kept = run.connect(0);
    assert_eq!(kept.request(&request("before", false)).status, 200);
    // SAFETY: kill takes two integers and touches no memory of ours.
    assert_eq!(unsafe { kill(run.child.id() as i32, SIGTERM) }, 0);
    let start = Instant::now();
    loop {
        let response = health(&run);
        if response.status == 503 {
            assert_eq!(response.body, b"draining\n");
            break;
        }
        assert_eq!(response.status, 200);
        assert!(start.elapsed() < Duration::from_secs(2), "{}", run.stderr());
        std::thread::sleep(Duration::from_millis(10));
    }
    // Everything else is served as before: on new connections, and on the old one, which is
    // kept alive (no `Connection: close` yet).
    let response = run.connect(0).request(&request("lame-new", true));
    assert_eq!(response.status, 200);
    let response = kept.request(&request("lame-kept", false));
    assert_eq!(response.status, 200);
    assert_ne!(
        response.header("Connection"),
        Some("close"),
        "not closing yet"
    );
    assert!(run.stderr().contains("stopping in 2 s"), "{}", run.stderr());
    let status = run.wait_exit(Duration::from_secs(15)).expect("it stops");
    assert_eq!(status.code(), Some(0), "{}", run.stderr());
    // The stop itself came only after the lame duck.
    assert!(start.elapsed() >= Duration::from_millis(1900));
    assert!(
        run.stderr().ends_with("stage09: stopped\n"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_second_term_cuts_the_lame_duck_short() {
    let mut run = Run::start(
        "lame_duck = 600",
        &["address = \"127.0.0.1\"\nport = 0\nproxy_protocol = true\n".to_string()],
    );
    let pid = run.child.id() as i32;
    // SAFETY: as above.
    assert_eq!(unsafe { kill(pid, SIGTERM) }, 0);
    let start = Instant::now();
    while !run.stderr().contains("stopping in 600 s") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}",
            run.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: as above.
    assert_eq!(unsafe { kill(pid, SIGTERM) }, 0);
    let status = run.wait_exit(Duration::from_secs(15)).expect("it stops");
    assert_eq!(status.code(), Some(0), "{}", run.stderr());
}
