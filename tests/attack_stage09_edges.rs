//! Attacks on two edges of stage09: the PROXY protocol on its listeners (`proxy_protocol =
//! true`, eventloop/src/proxy.rs over common/src/proxy.rs) and precompressed siblings
//! (`precompressed = true`, common/src/encoding.rs and site.rs).
//!
//! Written by the `attack2` review. Each test starts its own stage09 from a config file with
//! one worker and writes hostile bytes by hand over loopback: headers whose lengths lie,
//! families we do not carry, v1 lines that bend the grammar, headers that never finish (do
//! they hold descriptors past the header timeout?), and Accept-Encoding fields built to cost
//! the parser. A bad header must be a close without a reply, never a panic, a hang or a
//! leaked descriptor (counted in the worker's /proc/PID/fd). What is not right yet stays
//! `#[ignore = "finding N: ..."]`, with what it should do.
//!
//!     cargo test -p workbook --test attack_stage09_edges

mod support;

use std::fs;
use std::io::{BufRead, ErrorKind, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::stage09::spawn_config;
use support::{fixture, Client};

/// A scratch folder of its own for each server.
fn scratch(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "attack2-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A running stage09 (one worker) with a PROXY listener first and a plain one second.
struct Run {
    child: Child,
    ports: Vec<u16>,
    dir: PathBuf,
    stderr: Arc<Mutex<String>>,
}

const PROXIED: usize = 0;
const DIRECT: usize = 1;

impl Run {
    /// `top` is TOML put before the tables (root, precompressed...), `timeouts` the body of
    /// `[timeouts]`.
    fn start(root: &str, top: &str, timeouts: &str) -> Run {
        let dir = scratch("run");
        let text = format!(
            "root = {root:?}\nworkers = 1\n{top}\n[timeouts]\n{timeouts}\n[access_log]\npath = {:?}\n\
             [[listener]]\naddress = \"127.0.0.1\"\nport = 0\nproxy_protocol = true\n\
             [[listener]]\naddress = \"127.0.0.1\"\nport = 0\n",
            dir.join("access.log").display().to_string()
        );
        let config = dir.join("site.toml");
        fs::write(&config, text).expect("write config");
        let (child, mut stdout, stderr) = spawn_config(&config);
        let mut ports = Vec::new();
        for _ in 0..2 {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("startup line");
            let port = line
                .split(" at ")
                .nth(1)
                .and_then(|url| url.rsplit(':').next())
                .and_then(|rest| rest.split('/').next())
                .and_then(|p| p.parse().ok());
            ports.push(port.unwrap_or_else(|| panic!("no startup line: {line:?}")));
        }
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Run {
            child,
            ports,
            dir,
            stderr,
        }
    }

    /// The shared fixture's root, a header timeout of `header` seconds.
    fn proxied(header: u64) -> Run {
        Run::start(
            &fixture().root.display().to_string(),
            "",
            &format!("header = {header}"),
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

    /// The worker's pid, from the master's `workers N (processes)` line.
    fn worker(&self) -> u32 {
        let start = Instant::now();
        loop {
            let text = self.stderr();
            if let Some(pid) = text
                .split("workers ")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|pid| pid.parse().ok())
            {
                return pid;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "no worker: {text}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Descriptors the worker holds right now.
    fn worker_fds(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.worker())).map_or(0, |d| d.count())
    }

    /// Waits (bounded) for the worker to be back at `fds` descriptors or fewer (the count
    /// taken as the baseline may still include a connection the server was closing).
    fn fds_back_to(&self, fds: usize, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.worker_fds() <= fds {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The access log line whose User-Agent is `agent`.
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

    fn assert_alive(&mut self) {
        assert!(
            matches!(self.child.try_wait(), Ok(None)),
            "stage09 exited: {}",
            self.stderr()
        );
        assert!(
            fs::metadata(format!("/proc/{}", self.worker())).is_ok(),
            "the worker died: {}",
            self.stderr()
        );
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn request(agent: &str) -> String {
    format!(
        "GET /notes.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: {agent}\r\nConnection: close\r\n\r\n"
    )
}

/// A v2 header with a `length` field of our choosing (the truth is `body.len()`).
fn v2_lying(command: u8, family: u8, body: &[u8], length: u16) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.push(0x20 | command);
    header.push(family);
    header.extend_from_slice(&length.to_be_bytes());
    header.extend_from_slice(body);
    header
}

fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
    v2_lying(command, family, body, body.len() as u16)
}

/// 192.0.2.9:4000 -> 127.0.0.1:80, the twelve bytes of a TCP-over-IPv4 address block.
const IPV4_BLOCK: [u8; 12] = [192, 0, 2, 9, 127, 0, 0, 1, 0x0f, 0xa0, 0, 80];

/// Sends `bytes` in one write and returns the response, asserting it is the file.
fn served(run: &Run, bytes: &[u8]) -> support::HttpResponse {
    let mut conn = run.connect(PROXIED);
    conn.send(bytes);
    let response = conn.response(false);
    assert_eq!(
        response.status,
        200,
        "{}: {:?}",
        response.status_line,
        String::from_utf8_lossy(bytes)
    );
    response
}

// ---- The PROXY protocol ----

/// Finding 1 (fixed in common::proxy: the TLVs must tile the length). A v2 header whose
/// length field says more than its address block and TLVs
/// fill: what follows the addresses is skipped unread as "TLVs", so the client's own bytes
/// are eaten and the rest answered as a broken request (a 400, logged under the header's
/// client). The TLV area is never walked: `type(1) length(2) value` must tile it exactly
/// (HAProxy refuses a TLV that runs past the header's end). Here the request's first bytes
/// read as a TLV of type 'G' with length 0x4554 ("ET"): far past the 16 bytes declared.
#[test]
fn a_v2_length_past_its_tlvs_closes_without_a_reply() {
    let run = Run::proxied(2);
    let mut bytes = v2_lying(1, 0x11, &IPV4_BLOCK, 12 + 16);
    bytes.extend_from_slice(request("tlv-lie").as_bytes());
    let mut conn = run.connect(PROXIED);
    conn.send(&bytes);
    let answer = conn.read_to_end();
    assert!(
        answer.is_empty(),
        "a header whose TLVs do not add up must close without a word, got {:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(60)])
    );
}

/// Finding 2. The header timeout restarts once the PROXY header is whole: a client that
/// drips its PROXY header for just under `header` seconds gets `header` seconds more for its
/// request head, so one connection holds its slot for twice the timeout before the 408
/// (measured: header = 2 s, the 408 at 3.9 s). The timeout should run from the accept: the
/// PROXY header is part of the connection's first bytes, as HAProxy's `timeout
/// http-request` counts it.
#[test]
#[ignore = "finding 2: the header timeout starts again after the PROXY header, so a slow client holds a slot for twice [timeouts] header"]
fn the_header_timeout_counts_from_the_accept_not_from_the_proxy_header() {
    let header = 2;
    let run = Run::proxied(header);
    let line = b"PROXY TCP4 192.0.2.9 127.0.0.1 4000 80\r\n";
    let mut conn =
        std::net::TcpStream::connect(("127.0.0.1", run.ports[PROXIED])).expect("connect");
    let accepted = Instant::now();
    conn.write_all(&line[..line.len() - 1]).expect("write");
    std::thread::sleep(Duration::from_millis(1700));
    conn.write_all(&line[line.len() - 1..]).expect("write");
    // Now the request head, one byte every 100 ms, never finished; any answer, EOF or error
    // means the server has ended it.
    conn.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut answered = None;
    for byte in b"GET /notes.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: slow"
        .iter()
        .cycle()
    {
        if accepted.elapsed() > Duration::from_secs(8) {
            break;
        }
        if conn.write_all(&[*byte]).is_err() {
            answered = Some(accepted.elapsed());
            break;
        }
        let mut buf = [0u8; 64];
        match conn.read(&mut buf) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            _ => {
                answered = Some(accepted.elapsed());
                break;
            }
        }
    }
    let answered = answered.expect("the server never ended the slow connection");
    assert!(
        answered < Duration::from_millis(header * 1000 + 700),
        "the connection lived {answered:?} for a header timeout of {header} s"
    );
}

/// Headers that are broken or lie short are closed without a reply, and the worker's
/// descriptors come back: huge and short lengths, an IPv6 family with an IPv4 block, v1
/// lines with an IPv6 address in TCP4, leading zeros, port 65536, a bare LF, a 108-byte
/// line, a NUL, a trailing space. (tests/stage09_proxy.rs covers version, signature, a word
/// for an address, 99999 and a line that never ends.)
#[test]
fn broken_or_lying_headers_close_without_a_reply_and_leak_nothing() {
    let mut run = Run::proxied(2);
    // One good request first, so the worker's lazily opened files (the log...) are open.
    let mut bytes = v2(1, 0x11, &IPV4_BLOCK);
    bytes.extend_from_slice(request("warm").as_bytes());
    served(&run, &bytes);
    let fds = run.worker_fds();
    let req = request("never");
    let with_req = |header: Vec<u8>| [header, req.clone().into_bytes()].concat();
    let cases: Vec<Vec<u8>> = vec![
        // 65535 bytes declared: more than the server takes, refused at once.
        with_req(v2_lying(1, 0x11, &IPV4_BLOCK, 0xffff)),
        // LOCAL with a huge length: refused too (not waited for).
        with_req(v2_lying(0, 0x00, &[], 5000)),
        // Shorter than the addresses its family needs.
        with_req(v2_lying(1, 0x11, &IPV4_BLOCK, 4)),
        // TCP over IPv6 with an IPv4-sized block.
        with_req(v2(1, 0x21, &IPV4_BLOCK)),
        with_req(b"PROXY TCP4 ::1 ::1 1 2\r\n".to_vec()),
        with_req(b"PROXY TCP4 01.2.3.4 127.0.0.1 1 2\r\n".to_vec()),
        with_req(b"PROXY TCP4 192.0.2.9 127.0.0.1 65536 2\r\n".to_vec()),
        with_req(b"PROXY TCP4 192.0.2.9 127.0.0.1 1 2\n".to_vec()),
        with_req(b"PROXY TCP4 192.0.2.9 127.0.0.1 1 2 \r\n".to_vec()),
        with_req(b"PROXY TCP4 192.0.2.9\0 127.0.0.1 1 2\r\n".to_vec()),
        with_req([&b"PROXY UNKNOWN "[..], &[b'x'; 92], b"\r\n"].concat()),
    ];
    for case in &cases {
        let mut conn = run.connect(PROXIED);
        conn.send(case);
        assert!(
            conn.is_closed(),
            "{:?}",
            String::from_utf8_lossy(&case[..case.len().min(60)])
        );
    }
    // And connections that leave in the middle of a header, v1 and v2.
    for cut in [
        b"PROXY TCP4 19".to_vec(),
        v2(1, 0x11, &IPV4_BLOCK)[..20].to_vec(),
    ] {
        for _ in 0..20 {
            let mut conn = run.connect(PROXIED);
            conn.send(&cut);
            conn.half_close();
            assert!(conn.is_closed());
        }
    }
    run.assert_alive();
    assert!(
        run.fds_back_to(fds, Duration::from_secs(3)),
        "worker holds {} descriptors, {fds} before",
        run.worker_fds()
    );
    let mut bytes = v2(1, 0x11, &IPV4_BLOCK);
    bytes.extend_from_slice(request("after-bad").as_bytes());
    served(&run, &bytes);
    assert!(run.log_line("after-bad").starts_with("192.0.2.9 - - ["));
}

/// What the specification says to accept and use the socket's own address for: v1 UNKNOWN
/// with anything after it, v2 PROXY over UNIX or UNSPEC, LOCAL with an address block and a
/// TLV; and what it allows: port 0, a v4-mapped TCP6 source, TLVs after the addresses.
#[test]
fn families_we_do_not_carry_keep_the_peer_and_odd_but_valid_headers_are_served() {
    let run = Run::proxied(2);
    let mut tlv = IPV4_BLOCK.to_vec();
    tlv.extend_from_slice(&[0x01, 0x00, 0x02, b'h', b'2', 0x04, 0x00, 0x00]);
    for (header, agent, client) in [
        (b"PROXY UNKNOWN\r\n".to_vec(), "unknown", "127.0.0.1"),
        (
            b"PROXY UNKNOWN 1.2.3.4 ignored words\r\n".to_vec(),
            "unknown-junk",
            "127.0.0.1",
        ),
        (v2(1, 0x31, &[0u8; 216]), "unix", "127.0.0.1"),
        (v2(1, 0x00, &[]), "unspec", "127.0.0.1"),
        (v2(0, 0x11, &tlv), "local-tlv", "127.0.0.1"),
        (v2(1, 0x11, &tlv), "tlvs", "192.0.2.9"),
        (
            b"PROXY TCP4 192.0.2.10 127.0.0.1 0 0\r\n".to_vec(),
            "port0",
            "192.0.2.10",
        ),
    ] {
        let mut bytes = header;
        bytes.extend_from_slice(request(agent).as_bytes());
        served(&run, &bytes);
        let line = run.log_line(agent);
        assert!(
            line.starts_with(&format!("{client} - - [")),
            "{agent}: {line}"
        );
    }
}

/// Hundreds of connections that start a header and stop: they hold descriptors only until
/// the header timeout, and meanwhile a direct client and a proxied one are still served.
#[test]
fn unfinished_headers_hold_slots_only_until_the_header_timeout() {
    let run = Run::proxied(1);
    let mut bytes = b"PROXY UNKNOWN\r\n".to_vec();
    bytes.extend_from_slice(request("warm").as_bytes());
    served(&run, &bytes);
    let fds = run.worker_fds();
    let mut stalled = Vec::new();
    for i in 0..200 {
        let mut conn = run.connect(PROXIED);
        if i % 2 == 0 {
            conn.send(b"PROXY TCP4 192.0.2.");
        } else {
            conn.send(&v2(1, 0x11, &IPV4_BLOCK)[..14]);
        }
        stalled.push(conn);
    }
    // Served while they wait: on the direct listener and on the proxied one.
    let response = run.connect(DIRECT).request(&request("direct"));
    assert_eq!(response.status, 200);
    let mut bytes = b"PROXY TCP4 192.0.2.11 127.0.0.1 1 2\r\n".to_vec();
    bytes.extend_from_slice(request("beside-stalled").as_bytes());
    served(&run, &bytes);
    // Each stalled one is closed, without a word, by the timeout.
    for conn in &mut stalled {
        let _ = conn.stream.set_read_timeout(Some(Duration::from_secs(5)));
        assert!(conn.is_closed(), "closed at the header timeout");
    }
    drop(stalled);
    assert!(
        run.fds_back_to(fds, Duration::from_secs(3)),
        "worker holds {} descriptors, {fds} before",
        run.worker_fds()
    );
}

// ---- Precompressed siblings ----

/// A root with `x.css` and its `.gz`, a `.br` that is a FIFO, and `y.css` whose `.gz` is a
/// symlink to a file outside the root.
fn precompressed_root() -> PathBuf {
    let base = scratch("precompressed");
    let (root, outside) = (base.join("root"), base.join("outside"));
    fs::create_dir_all(&root).expect("mkdir");
    fs::create_dir_all(&outside).expect("mkdir");
    fs::write(root.join("x.css"), "body{}\n").expect("write");
    fs::write(root.join("x.css.gz"), "GZ").expect("write");
    let fifo = Command::new("mkfifo").arg(root.join("x.css.br")).status();
    assert!(fifo.is_ok_and(|s| s.success()), "mkfifo");
    fs::write(outside.join("secret.gz"), "SECRET").expect("write");
    fs::write(root.join("y.css"), "y\n").expect("write");
    std::os::unix::fs::symlink(outside.join("secret.gz"), root.join("y.css.gz")).expect("link");
    root
}

fn asking(path: &str, fields: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n{fields}\r\n")
}

/// Accept-Encoding fields built to cost or confuse the parser: each gets a clean answer (the
/// gzip file, the original, or a 4xx for a field too big), the worker lives, and its
/// descriptors come back.
#[test]
fn hostile_accept_encoding_fields_get_a_clean_answer() {
    let root = precompressed_root();
    let mut run = Run::start(&root.display().to_string(), "precompressed = true", "");
    let many: Vec<String> = (0..10_000).map(|i| format!("c{i}")).collect();
    let cases: Vec<(String, &str)> = vec![
        // (field, what comes back: "gzip", "identity" or a status)
        ("gzip".into(), "gzip"),
        (format!("gzip;q=0.{}1", "0".repeat(5000)), "identity"),
        ("gzip;q=0.0001".into(), "identity"),
        ("gzip;q=0.001".into(), "gzip"),
        ("gzip;q=0, gzip, GZIP;q=1".into(), "identity"),
        ("x-gzip;q=0.5, gzip;q=0".into(), "gzip"),
        ("*;q=0.5, br;q=0".into(), "gzip"),
        ("gzip\u{e9}".into(), "identity"),
        // br only: its sibling is a FIFO, never opened for reading in a blocking way.
        ("br".into(), "identity"),
        (format!("{},gzip", many.join(",")), "431"),
        (format!("gzip,{}", " ".repeat(60_000)), "431"),
    ];
    let fds = {
        let response = run
            .connect(DIRECT)
            .request(&asking("/x.css", "Connection: close\r\n"));
        assert_eq!(response.status, 200);
        run.worker_fds()
    };
    for (field, expect) in &cases {
        let raw = asking(
            "/x.css",
            &format!("Accept-Encoding: {field}\r\nConnection: close\r\n"),
        );
        let response = run.connect(DIRECT).request(&raw);
        let shown = &field[..field.len().min(40)];
        match *expect {
            "gzip" => {
                assert_eq!(response.status, 200, "{shown}");
                assert_eq!(response.header("Content-Encoding"), Some("gzip"), "{shown}");
                assert_eq!(response.body, b"GZ", "{shown}");
            }
            "identity" => {
                assert_eq!(response.status, 200, "{shown}");
                assert_eq!(response.header("Content-Encoding"), None, "{shown}");
                assert_eq!(response.body, b"body{}\n", "{shown}");
            }
            status => assert_eq!(response.status.to_string(), status, "{shown}"),
        }
        if response.status == 200 {
            assert_eq!(response.header("Vary"), Some("Accept-Encoding"), "{shown}");
        }
    }
    // A NUL in the field is a bad request, not a coding.
    let response = run
        .connect(DIRECT)
        .request(&asking("/x.css", "Accept-Encoding: gz\0ip\r\n"));
    assert_eq!(response.status, 400);
    // A .gz that leads outside the root is no sibling: the original, and nothing varies.
    let response = run
        .connect(DIRECT)
        .request(&asking("/y.css", "Accept-Encoding: gzip\r\n"));
    assert_eq!((response.status, &response.body[..]), (200, &b"y\n"[..]));
    assert_eq!(response.header("Vary"), None);
    run.assert_alive();
    assert!(
        run.fds_back_to(fds, Duration::from_secs(3)),
        "worker holds {} descriptors, {fds} before",
        run.worker_fds()
    );
}

/// HEAD, 304 and If-Range on the encoded file agree with GET: the same Vary, the coded
/// ETag, and a weak tag never satisfies If-Range (RFC 9110 section 13.1.5).
#[test]
fn head_304_and_if_range_agree_on_the_encoded_file() {
    let root = precompressed_root();
    let run = Run::start(&root.display().to_string(), "precompressed = true", "");
    let get = run
        .connect(DIRECT)
        .request(&asking("/x.css", "Accept-Encoding: gzip\r\n"));
    let tag = get.header("ETag").expect("etag").to_string();
    assert!(tag.ends_with("-gzip\""), "{tag}");
    let head = run
        .connect(DIRECT)
        .request("HEAD /x.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
    for name in ["ETag", "Vary", "Content-Encoding", "Content-Length"] {
        assert_eq!(head.header(name), get.header(name), "HEAD {name}");
    }
    let not_modified = run.connect(DIRECT).request(&asking(
        "/x.css",
        &format!("Accept-Encoding: gzip\r\nIf-None-Match: {tag}\r\n"),
    ));
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.header("ETag"), Some(tag.as_str()));
    assert_eq!(not_modified.header("Vary"), Some("Accept-Encoding"));
    // The gzip tag does not validate the identity representation.
    let identity = run.connect(DIRECT).request(&asking(
        "/x.css",
        &format!("Accept-Encoding: identity\r\nIf-None-Match: {tag}\r\n"),
    ));
    assert_eq!(
        (identity.status, &identity.body[..]),
        (200, &b"body{}\n"[..])
    );
    let weak = run.connect(DIRECT).request(&asking(
        "/x.css",
        &format!("Accept-Encoding: gzip\r\nRange: bytes=0-0\r\nIf-Range: W/{tag}\r\n"),
    ));
    assert_eq!((weak.status, &weak.body[..]), (200, &b"GZ"[..]));
    let strong = run.connect(DIRECT).request(&asking(
        "/x.css",
        &format!("Accept-Encoding: gzip\r\nRange: bytes=1-1\r\nIf-Range: {tag}\r\n"),
    ));
    assert_eq!((strong.status, &strong.body[..]), (206, &b"Z"[..]));
    assert_eq!(strong.header("Content-Range"), Some("bytes 1-1/2"));
}

/// A sibling replaced (renamed over) while it is being sent: the client gets the old bytes,
/// whole, under the old length, because the descriptor opened for the answer is what is
/// sent, not the name.
#[test]
fn a_sibling_renamed_over_while_sent_goes_out_whole() {
    let root = precompressed_root();
    // 4 MiB of bytes that no two positions share a pattern of (not compressible, not a
    // multiple of a page), so a mix of old and new would show.
    let old: Vec<u8> = (0..4 * 1024 * 1024 + 7)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(root.join("big.bin"), "original\n").expect("write");
    fs::write(root.join("big.bin.gz"), &old).expect("write");
    let run = Run::start(&root.display().to_string(), "precompressed = true", "");
    let mut conn = run.connect(DIRECT);
    conn.send(
        b"GET /big.bin HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    );
    // The answer has begun (its first bytes are here) before the name points elsewhere.
    let mut first = [0u8; 1];
    conn.stream.read_exact(&mut first).expect("first byte");
    fs::write(root.join("new.tmp"), b"NEW").expect("write");
    fs::rename(root.join("new.tmp"), root.join("big.bin.gz")).expect("rename");
    let mut rest = first.to_vec();
    rest.extend_from_slice(&conn.read_to_end());
    let split = support::find(&rest, b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&rest[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("Content-Encoding: gzip"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", old.len())),
        "{head}"
    );
    assert!(rest[split..] == old[..], "the old sibling's bytes, whole");
    // The next request sees the new sibling.
    let response = run
        .connect(DIRECT)
        .request(&asking("/big.bin", "Accept-Encoding: gzip\r\n"));
    assert_eq!(response.body, b"NEW");
}
