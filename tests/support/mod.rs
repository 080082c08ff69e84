//! The test harness: build a stage's binary, give it a known folder to serve, start it on a
//! free port, and talk to it byte by byte over real sockets.
//!
//! `cargo test` does not build other packages' binaries, so [`binary`] runs `cargo build -p`
//! once per stage per test binary. Each test starts its own server (a few milliseconds), so
//! tests run in parallel without sharing state, and a crash is pinned on the test that caused it.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod h2;
pub mod stage09;
pub mod tls;
pub mod ws;

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a client waits for any one read before the test fails (never hang a test run).
pub const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// A stage under test: its package name, and the shared behaviours it does not claim.
#[derive(Clone, Copy, Debug)]
pub struct Stage {
    /// The package (`stage05`), or `package-example` for an example of one (`stage05-select`
    /// is `cargo run -p stage05 --example select`). Either way, what the program calls itself:
    /// its startup line and its `Server` field.
    pub name: &'static str,
    /// (behaviour, why this stage skips it): printed when the test runs, never silent.
    pub skips: &'static [(&'static str, &'static str)],
    /// Whether the stage speaks TLS on its port: then every client the harness makes is a TLS
    /// client, and every behaviour is checked over TLS.
    pub tls: bool,
    /// How to start it, if not as `NAME 0 ROOT --access-log LOG EXTRA...` (see [`Launch`]).
    pub launch: Option<Launch>,
}

/// The command that starts a stage started otherwise (stage09 from a config file): given the
/// root, the access log's path and the behaviour's extra options, which it translates. Its
/// first stdout line must still be the startup line, with the port the clients use.
pub type Launch = fn(root: &Path, log: &Path, extra: &[&str]) -> Command;

impl Stage {
    pub const fn new(name: &'static str) -> Stage {
        Stage {
            name,
            skips: &[],
            tls: false,
            launch: None,
        }
    }

    /// A stage started by `launch` rather than by its command line.
    pub const fn launched_by(self, launch: Launch) -> Stage {
        Stage {
            launch: Some(launch),
            ..self
        }
    }

    /// A stage that serves HTTPS only (stage06).
    pub const fn over_tls(self) -> Stage {
        Stage { tls: true, ..self }
    }

    pub const fn skipping(self, skips: &'static [(&'static str, &'static str)]) -> Stage {
        Stage { skips, ..self }
    }

    /// Runs one shared behaviour against this stage, unless the stage declared it skipped.
    pub fn run(&self, behaviour: &str, test: fn(&Stage)) {
        match self.skips.iter().find(|(name, _)| *name == behaviour) {
            Some((_, why)) => eprintln!("{}: skipping {behaviour}: {why}", self.name),
            None => test(self),
        }
    }

    /// Starts this stage on the fixture root with the default options.
    pub fn start(&self) -> Server {
        self.start_with(&[])
    }

    /// Starts this stage on the fixture root with extra command-line options.
    pub fn start_with(&self, extra: &[&str]) -> Server {
        Server::start(self, &fixture().root, extra)
    }
}

/// What an event-loop stage (stage05 on) skips of the pool group: it has no pool.
pub const NO_POOL: &[(&str, &str)] = &[
    (
        "three_hundred_clients_on_a_bounded_pool",
        "no pool and no --threads: one thread serves every client (eventloop proves 500)",
    ),
    (
        "a_full_queue_answers_503_with_retry_after",
        "no queue to fill: connections beyond --max-connections wait in the kernel's backlog",
    ),
    (
        "idle_keep_alive_clients_do_not_starve_a_waiting_one",
        "no --threads: an idle connection holds no worker (eventloop holds 10,000 of them)",
    ),
];

/// Path of a stage's binary, built once per test process. A name `package-example` is that
/// package's example, built with `--example` (see [`Stage::name`]).
pub fn binary(stage: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(stage) {
        return path.clone();
    }
    let (target, file) = match stage.split_once('-') {
        Some((package, example)) => (
            vec!["-p", package, "--example", example],
            Path::new("examples").join(example),
        ),
        None => (vec!["-p", stage], PathBuf::from(stage)),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet"])
        .args(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build {} failed", target.join(" "));
    // The test executable lives in target/<profile>/deps; the binaries one level up, and
    // examples in target/<profile>/examples.
    let exe = std::env::current_exe().expect("current exe");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join(file);
    assert!(path.exists(), "{} was not built", path.display());
    built.insert(stage.to_string(), path.clone());
    path
}

/// `struct rlimit` and the three calls that read and set it, declared once for the helpers
/// below (the test package links no libc crate; these are glibc's own symbols).
#[repr(C)]
struct Rlimit {
    cur: u64,
    max: u64,
}
const RLIMIT_NOFILE: i32 = 7;
extern "C" {
    fn getrlimit(resource: i32, rlim: *mut Rlimit) -> i32;
    fn setrlimit(resource: i32, rlim: *const Rlimit) -> i32;
    fn prlimit(pid: i32, resource: i32, new: *const Rlimit, old: *mut Rlimit) -> i32;
}

/// Raises this process's soft limit on open descriptors to the hard limit, for a test that
/// holds more client sockets than the usual 1024 (all the way, not to `want`: tests running at
/// the same time in this process share the limit). The servers it starts inherit it. Ok is the
/// soft limit now in force; Err says why it cannot give `want` (the hard limit is lower).
pub fn raise_fd_limit(want: u64) -> Result<u64, String> {
    let mut limit = Rlimit { cur: 0, max: 0 };
    // SAFETY: both calls only read or write the struct passed, laid out as the C one.
    if unsafe { getrlimit(RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!("getrlimit: {}", io::Error::last_os_error()));
    }
    limit.cur = limit.max;
    if unsafe { setrlimit(RLIMIT_NOFILE, &limit) } != 0 {
        return Err(format!("setrlimit: {}", io::Error::last_os_error()));
    }
    if limit.max < want {
        return Err(format!(
            "the hard limit on descriptors is {}, under the {want} this needs",
            limit.max
        ));
    }
    Ok(limit.cur)
}

/// Caps the descriptors process `pid` may open: no new descriptor numbered `limit` or more.
/// Those already open stay open; the next `open` or `accept` past the cap fails with EMFILE.
pub fn limit_fds(pid: u32, limit: u64) -> Result<(), String> {
    let pid = i32::try_from(pid).map_err(|_| format!("pid {pid} out of range"))?;
    let mut old = Rlimit { cur: 0, max: 0 };
    // SAFETY: reads the current limit into `old`, a struct laid out as the C one.
    if unsafe { prlimit(pid, RLIMIT_NOFILE, std::ptr::null(), &mut old) } != 0 {
        return Err(format!("prlimit: {}", io::Error::last_os_error()));
    }
    let new = Rlimit {
        cur: limit,
        max: old.max,
    };
    // SAFETY: writes the soft limit only, from a struct laid out as the C one.
    if unsafe { prlimit(pid, RLIMIT_NOFILE, &new, std::ptr::null_mut()) } != 0 {
        return Err(format!("prlimit: {}", io::Error::last_os_error()));
    }
    Ok(())
}

/// A running server process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub log_path: PathBuf,
    /// Whether clients of this server speak TLS.
    pub tls: bool,
    stderr: std::sync::Arc<Mutex<String>>,
    /// stdout after the startup line.
    stdout: std::sync::Arc<Mutex<String>>,
}

impl Server {
    pub fn start(stage: &Stage, root: &Path, extra: &[&str]) -> Server {
        let tls = stage.tls;
        let log_path = scratch_dir().join(format!("access-{}.log", unique()));
        let mut command = match stage.launch {
            Some(launch) => launch(root, &log_path, extra),
            None => {
                let mut command = Command::new(binary(stage.name));
                command
                    .arg("0")
                    .arg(root)
                    .arg("--access-log")
                    .arg(&log_path)
                    .args(extra);
                command
            }
        };
        let stage = stage.name;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn stage");
        // The startup line is the readiness signal: the socket is listening once it is out.
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read startup line");
        let port = parse_port(&line).unwrap_or_else(|| {
            let _ = child.kill();
            let mut err = String::new();
            let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
            panic!("{stage} printed no startup line: {line:?}; stderr: {err}")
        });
        // Keep draining both pipes so the server never blocks writing to them; what comes
        // after the startup line is kept (stage09 prints one line per listener).
        let more_stdout = std::sync::Arc::new(Mutex::new(String::new()));
        let sink = more_stdout.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while matches!(stdout.read_line(&mut line), Ok(n) if n > 0) {
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&line);
                line.clear();
            }
        });
        let stderr = std::sync::Arc::new(Mutex::new(String::new()));
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
        Server {
            child,
            port,
            log_path,
            tls,
            stderr,
            stdout: more_stdout,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A new client connected to the server over IPv4 loopback (TLS if the stage speaks it).
    pub fn connect(&self) -> Client {
        self.connect_to(("127.0.0.1", self.port))
    }

    /// A client over IPv6 loopback.
    pub fn connect_v6(&self) -> Client {
        self.connect_to(("::1", self.port))
    }

    fn connect_to(&self, addr: impl std::net::ToSocketAddrs) -> Client {
        let client = Client::connect(addr);
        if self.tls {
            client.into_tls(tls::default_config())
        } else {
            client
        }
    }

    /// One request on a fresh connection; returns the response.
    pub fn request(&self, raw: &str) -> HttpResponse {
        self.connect().request(raw)
    }

    /// `GET path` as HTTP/1.0 on a fresh connection.
    pub fn get(&self, path: &str) -> HttpResponse {
        self.request(&format!("GET {path} HTTP/1.0\r\n\r\n"))
    }

    /// Descriptors the server process holds open right now.
    pub fn open_fds(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count())
    }

    /// Threads in the server process right now.
    pub fn threads(&self) -> usize {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Resident memory of the server process right now, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> usize {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|n| n.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// The access log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// What the server has written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What the server has written to stdout after its startup line, so far.
    pub fn stdout(&self) -> String {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Panics if the process has exited (a crash is a failure whatever the test asserted).
    pub fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("server exited with {status}; stderr: {}", self.stderr());
        }
    }

    /// Polls until `condition` holds or `limit` passes; returns whether it held.
    pub fn wait_for(&self, limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if condition() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        condition()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse_port(line: &str) -> Option<u16> {
    let after = line.split("://").nth(1)?;
    let host_port = after.split('/').next()?;
    host_port.rsplit(':').next()?.parse().ok()
}

/// What carries a client's bytes: a bare socket, or TLS over one. Reads and writes are the
/// plaintext either way, so one test checks a behaviour over both; the socket calls a test
/// makes (timeouts, shutdown) go to the TCP socket underneath.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Transport {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(stream) => stream,
            Transport::Tls(tls) => &tls.sock,
        }
    }

    pub fn set_read_timeout(&self, limit: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(limit)
    }

    pub fn set_write_timeout(&self, limit: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(limit)
    }

    /// Ends our side(s). Over TLS, ending the writing side first says so in TLS (close_notify),
    /// as a well-behaved client does; a bare FIN would look like a cut.
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        if let (Transport::Tls(tls), Shutdown::Write | Shutdown::Both) = (&mut *self, how) {
            tls.conn.send_close_notify();
            // Best effort: the peer may be gone already.
            let _ = tls.conn.write_tls(&mut tls.sock);
        }
        self.tcp().shutdown(how)
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.read(buf),
            // A TLS peer that closes without close_notify is reported as UnexpectedEof; for
            // these tests that is a close like any other.
            Transport::Tls(tls) => match tls.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.write(buf),
            Transport::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(stream) => stream.flush(),
            Transport::Tls(tls) => tls.flush(),
        }
    }
}

/// A client that speaks raw bytes: nothing is added, fixed or reordered (under TLS, the bytes
/// are the plaintext of the records).
pub struct Client {
    pub stream: Transport,
    /// Bytes read past the end of the last response (the start of the next one).
    pending: Vec<u8>,
}

impl Client {
    /// A plain TCP client.
    pub fn connect(addr: impl std::net::ToSocketAddrs) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to server");
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream: Transport::Plain(stream),
            pending: Vec::new(),
        }
    }

    /// The same connection, as a TLS client. The handshake happens on the first read or write,
    /// as it does in a browser that opens a connection before it has a request to send: a
    /// client that connects and says nothing is, to the server, a handshake that never starts.
    pub fn into_tls(self, config: std::sync::Arc<rustls::ClientConfig>) -> Client {
        let Transport::Plain(stream) = self.stream else {
            return self;
        };
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("server name");
        let connection = rustls::ClientConnection::new(config, name).expect("TLS client");
        Client {
            stream: Transport::Tls(Box::new(rustls::StreamOwned::new(connection, stream))),
            pending: self.pending,
        }
    }

    /// Completes the TLS handshake now (a no-op for a plain client); the error says why it
    /// failed.
    pub fn handshake(&mut self) -> io::Result<()> {
        if let Transport::Tls(tls) = &mut self.stream {
            while tls.conn.is_handshaking() {
                tls.conn.complete_io(&mut tls.sock)?;
            }
        }
        Ok(())
    }

    /// The TLS session, if this client speaks TLS.
    pub fn tls(&self) -> Option<&rustls::ClientConnection> {
        match &self.stream {
            Transport::Plain(_) => None,
            Transport::Tls(tls) => Some(&tls.conn),
        }
    }

    /// Sends `raw` and reads its response.
    pub fn request(&mut self, raw: &str) -> HttpResponse {
        self.send(raw.as_bytes());
        self.response_for(raw)
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send request bytes");
        self.stream.flush().expect("flush request bytes");
    }

    /// Sends `bytes` in pieces of `size`, pausing briefly between them so they arrive as
    /// separate segments (a drip, not a burst).
    pub fn send_in_pieces(&mut self, bytes: &[u8], size: usize, pause: Duration) {
        for piece in bytes.chunks(size) {
            self.send(piece);
            std::thread::sleep(pause);
        }
    }

    /// Reads one response; `head_request` says whether it answers a HEAD (no body follows).
    pub fn response(&mut self, head_request: bool) -> HttpResponse {
        self.try_response(head_request).expect("read a response")
    }

    /// Reads the response to `raw` (a HEAD request gets no body).
    pub fn response_for(&mut self, raw: &str) -> HttpResponse {
        self.response(raw.starts_with("HEAD "))
    }

    /// Reads one response, or says why none came.
    pub fn try_response(&mut self, head_request: bool) -> io::Result<HttpResponse> {
        read_response(&mut self.pending, head_request, |pending| {
            fill_from(&mut self.stream, pending)
        })
    }

    fn fill(&mut self) -> io::Result<usize> {
        fill_from(&mut self.stream, &mut self.pending)
    }

    /// True when the server has closed the connection (EOF or reset) with nothing more sent.
    pub fn is_closed(&mut self) -> bool {
        if !self.pending.is_empty() {
            return false;
        }
        match self.fill() {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
        }
    }

    /// Everything until the server closes the connection.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        while let Ok(n) = self.fill() {
            if n == 0 {
                break;
            }
        }
        std::mem::take(&mut self.pending)
    }

    /// Hangs up at once with a TCP reset instead of a polite FIN (SO_LINGER 0).
    pub fn reset(self) {
        let socket = socket2::SockRef::from(self.stream.tcp());
        let _ = socket.set_linger(Some(Duration::ZERO));
        drop(self);
    }

    /// Closes our sending side only: the server sees EOF but may still answer.
    pub fn half_close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Sends every request in one write (a pipeline), then reads their responses in order.
    pub fn pipeline(&mut self, requests: &[&str]) -> Vec<HttpResponse> {
        self.send(requests.concat().as_bytes());
        self.responses_for(requests)
    }

    /// Reads one response for each of `requests` (already sent), in order; a HEAD's
    /// response is read without a body.
    pub fn responses_for(&mut self, requests: &[&str]) -> Vec<HttpResponse> {
        requests
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                self.try_response(raw.starts_with("HEAD "))
                    .unwrap_or_else(|e| panic!("response {i} of {}: {e}", requests.len()))
            })
            .collect()
    }
}

/// A parsed response, as the client saw it.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status_line: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The value of a header field, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response from `pending`, calling `fill` (which appends to it) for more bytes:
/// the byte-for-byte HTTP reading every test client shares, whatever carries the bytes.
/// `head_request` says whether it answers a HEAD (no body follows).
pub fn read_response(
    pending: &mut Vec<u8>,
    head_request: bool,
    mut fill: impl FnMut(&mut Vec<u8>) -> io::Result<usize>,
) -> io::Result<HttpResponse> {
    let head_end = loop {
        if let Some(end) = find(pending, b"\r\n\r\n") {
            break end + 4;
        }
        if fill(pending)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("closed after {:?}", String::from_utf8_lossy(pending)),
            ));
        }
    };
    let head = String::from_utf8(pending[..head_end].to_vec())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "non-UTF-8 head"))?;
    pending.drain(..head_end);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_string(), v.trim().to_string()))
        .collect();
    let mut response = HttpResponse {
        status_line,
        status,
        headers,
        body: Vec::new(),
    };
    let bodiless = head_request || status == 304 || status == 204 || (100..200).contains(&status);
    if bodiless {
        return Ok(response);
    }
    match response
        .header("content-length")
        .map(|l| l.parse::<usize>())
    {
        Some(Ok(len)) => {
            while pending.len() < len {
                if fill(pending)? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "body cut short",
                    ));
                }
            }
            response.body = pending.drain(..len).collect();
        }
        Some(Err(_)) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad Content-Length",
            ))
        }
        None => {
            while fill(pending)? > 0 {}
            response.body = std::mem::take(pending);
        }
    }
    Ok(response)
}

/// One read from `source` appended to `pending`; returns the bytes read (0 at the end).
/// A signal (say SIGCHLD from another test's server) can interrupt a read: it is retried. A
/// TLS peer that closes without close_notify reports UnexpectedEof: the same as the end here.
pub fn fill_from(source: &mut impl Read, pending: &mut Vec<u8>) -> io::Result<usize> {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match source.read(&mut buf) {
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
            Err(e) => return Err(e),
        }
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn unique() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn scratch_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("workbook-tests");
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The folder every stage serves in tests: known files with known bytes, plus the traps a
/// server must not fall into (hidden files, symlinks out of the root, a FIFO).
pub struct Fixture {
    pub root: PathBuf,
    pub outside: PathBuf,
}

/// Every MIME case the tests check: (file name, bytes, expected Content-Type).
pub const TYPED_FILES: &[(&str, &[u8], &str)] = &[
    (
        "index.html",
        b"<!doctype html><title>home</title><h1>Home</h1>\n",
        "text/html; charset=utf-8",
    ),
    (
        "style.css",
        b"body { color: #222; }\n",
        "text/css; charset=utf-8",
    ),
    (
        "app.js",
        b"console.log('hi');\n",
        "text/javascript; charset=utf-8",
    ),
    ("data.json", b"{\"ok\": true}\n", "application/json"),
    (
        "notes.txt",
        "plain text, naïve → UTF-8\n".as_bytes(),
        "text/plain; charset=utf-8",
    ),
    ("pic.jpg", b"\xff\xd8\xff\xe0 fake jpeg", "image/jpeg"),
    ("pic.jpeg", b"\xff\xd8\xff\xe0 fake jpeg 2", "image/jpeg"),
    ("pic.png", b"\x89PNG\r\n\x1a\n fake png", "image/png"),
    ("pic.gif", b"GIF89a fake", "image/gif"),
    (
        "pic.svg",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        "image/svg+xml",
    ),
    ("favicon.ico", b"\x00\x00\x01\x00 fake ico", "image/x-icon"),
    ("pic.webp", b"RIFF fake webp", "image/webp"),
    ("clip.mp4", b"\x00\x00\x00\x18ftypmp42 fake", "video/mp4"),
    ("clip.webm", b"\x1a\x45\xdf\xa3 fake", "video/webm"),
    ("song.mp3", b"ID3 fake", "audio/mpeg"),
    ("mod.wasm", b"\x00asm\x01\x00\x00\x00", "application/wasm"),
    ("doc.pdf", b"%PDF-1.4 fake", "application/pdf"),
    ("font.woff2", b"wOF2 fake", "font/woff2"),
    ("blob.xyz", b"unknown bytes", "application/octet-stream"),
];

/// Size of `big.bin`, the file that must arrive intact.
pub const BIG_LEN: usize = 10 * 1024 * 1024;

/// The deterministic content of `big.bin`: not all zeros, so a misplaced chunk shows.
pub fn big_content() -> Vec<u8> {
    (0..BIG_LEN)
        .map(|i| (i % 251) as u8 ^ (i / 65_536) as u8)
        .collect()
}

pub const SECRET: &str = "TOP SECRET: outside the root\n";
pub const DOCS_INDEX: &str = "<!doctype html><title>docs</title><h1>Docs</h1>\n";

/// The fixture, made once per test process.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let base = scratch_dir().join(format!("fixture-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let root = base.join("root");
        let outside = base.join("outside");
        for dir in ["docs", "empty-dir", ".git", ".well-known", "sub dir"] {
            fs::create_dir_all(root.join(dir)).expect("mkdir");
        }
        fs::create_dir_all(&outside).expect("mkdir");
        for (name, bytes, _) in TYPED_FILES {
            fs::write(root.join(name), bytes).expect("write");
        }
        fs::write(root.join("docs/index.html"), DOCS_INDEX).expect("write");
        fs::write(root.join("docs/page.txt"), "a page in docs\n").expect("write");
        fs::write(root.join("with space.txt"), "spaces work\n").expect("write");
        fs::write(root.join("sub dir/inner.txt"), "inner\n").expect("write");
        fs::write(root.join("café.txt"), "utf-8 name\n").expect("write");
        fs::write(root.join("empty.txt"), "").expect("write");
        fs::write(root.join(".env"), "PASSWORD=hunter2\n").expect("write");
        fs::write(root.join(".git/config"), "[core]\n").expect("write");
        fs::write(
            root.join(".well-known/security.txt"),
            "Contact: mailto:a@example.com\n",
        )
        .expect("write");
        fs::write(root.join("big.bin"), big_content()).expect("write");
        fs::write(outside.join("secret.txt"), SECRET).expect("write");
        std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("link-out.txt"))
            .expect("symlink");
        std::os::unix::fs::symlink(&outside, root.join("link-dir")).expect("symlink");
        std::os::unix::fs::symlink(root.join("notes.txt"), root.join("link-in.txt"))
            .expect("symlink");
        let fifo = Command::new("mkfifo").arg(root.join("fifo")).status();
        assert!(fifo.is_ok_and(|s| s.success()), "mkfifo");
        Fixture { root, outside }
    })
}
