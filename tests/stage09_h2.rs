//! stage09's HTTP/2: stage07's session (eventloop's `Http2`) behind the master and its workers.
//!
//! The h2 conformance groups run here as they run against stage07, through the independent
//! `h2` crate and crafted frames, against a stage09 started from a config file: a TLS listener
//! (ALPN `h2` first, the certificate from PEM files) and a cleartext one (the HTTP/2 preface).
//! [`launch`] turns each behaviour's stage07-style options into that file. The access log the
//! groups read is the master's: every line came through a worker's pipe.
//!
//! The tests below are what only stage09 adds: `/healthz` over h2 (and 503 while draining),
//! `/metrics` counting h2 requests and h2 connections, GOAWAY on TERM and on a reload with the
//! open stream finishing, `http2 = false`, and threads mode.

// Only the h2 groups of the conformance suite are called here.
#[allow(dead_code)]
mod conformance;
mod support;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use support::h2::{fetch, fetch_one, plain_port, Ask, Over, Raw, WITH_PLAIN};
use support::tls::{client_config, connect_with};
use support::{binary, fixture, Server, Stage, TYPED_FILES};

const STAGE: Stage = Stage::new("stage09").over_tls().launched_by(launch);

h2_behaviours!(crate::STAGE);
h2_frames_behaviours!(crate::STAGE);

/// A self-signed certificate for localhost, as PEM files (made once per test binary).
fn certificate() -> &'static (PathBuf, PathBuf) {
    static FILES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("stage09-h2-cert-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("cert dir");
        let names = vec!["localhost".to_string(), "127.0.0.1".into()];
        let made = rcgen::generate_simple_self_signed(names).expect("a certificate");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        fs::write(&cert, made.cert.pem()).expect("cert.pem");
        fs::write(&key, made.key_pair.serialize_pem()).expect("key.pem");
        (cert, key)
    })
}

/// stage09 from a config file: one worker, a TLS listener first (the startup line the
/// harness reads), the access log at `log`, and `extra` translated from the command-line
/// options the groups give stage07, plus a few of stage09's own (`--workers`,
/// `--worker-mode`, `--http2`, `--metrics`). An option it cannot translate fails the test.
fn launch(root: &Path, log: &Path, extra: &[&str]) -> Command {
    let (cert, key) = certificate();
    let quote = |path: &Path| format!("{:?}", path.display().to_string());
    let mut top = vec![format!("root = {}", quote(root))];
    let mut workers = "1".to_string();
    let mut timeouts = Vec::new();
    let mut users = Vec::new();
    let mut more = String::new();
    let mut options = extra.iter();
    while let Some(&option) = options.next() {
        let value = options
            .next()
            .unwrap_or_else(|| panic!("{option} needs a value"));
        match option {
            "--plain-port" => more.push_str(&format!(
                "[[listener]]\naddress = \"127.0.0.1\"\nport = {value}\n"
            )),
            "--auth" => users.push(format!("{value:?}")),
            "--fallback" => top.push(format!("fallback = {value:?}")),
            "--header-timeout" => timeouts.push(format!("header = {value}")),
            "--send-timeout" => timeouts.push(format!("send = {value}")),
            "--idle-timeout" => timeouts.push(format!("idle = {value}")),
            "--grace" => timeouts.push(format!("grace = {value}")),
            "--workers" => workers = value.to_string(),
            "--worker-mode" => top.push(format!("worker_mode = {value:?}")),
            "--http2" => top.push(format!("http2 = {value}")),
            "--metrics" => more.push_str(&format!(
                "[metrics]\naddress = \"127.0.0.1\"\nport = {value}\n"
            )),
            other => panic!("stage09_h2's launcher cannot translate {other}"),
        }
    }
    top.push(format!("workers = {workers}"));
    let mut text = top.join("\n") + "\n";
    if !timeouts.is_empty() {
        text += &format!("[timeouts]\n{}\n", timeouts.join("\n"));
    }
    text += &format!("[access_log]\npath = {}\n", quote(log));
    if !users.is_empty() {
        text += &format!("[auth]\nusers = [{}]\n", users.join(", "));
    }
    text += &format!(
        "[[listener]]\naddress = \"127.0.0.1\"\nport = 0\ntls = {{ cert = {}, key = {} }}\n",
        quote(cert),
        quote(key)
    );
    text += &more;
    let config = log.with_extension("toml");
    fs::write(&config, text).expect("write the config");
    let mut command = Command::new(binary("stage09"));
    command.arg("--config").arg(config);
    command
}

/// Starts stage09 with `extra` (see [`launch`]); the cleartext listener is always there.
fn start(extra: &[&str]) -> Server {
    let mut options = WITH_PLAIN.to_vec();
    options.extend_from_slice(extra);
    STAGE.start_with(&options)
}

/// The port of the `[metrics]` listener (`stage09 metrics at http://ADDR/metrics`).
fn metrics_port(server: &Server) -> u16 {
    let mut port = None;
    server.wait_for(Duration::from_secs(10), || {
        port = server.stdout().lines().find_map(|line| {
            let url = line.strip_prefix("stage09 metrics at http://")?;
            url.strip_suffix("/metrics")?
                .rsplit(':')
                .next()?
                .parse()
                .ok()
        });
        port.is_some()
    });
    port.unwrap_or_else(|| panic!("no metrics line: {}", server.stdout()))
}

/// The value of one metric line (`name{labels} value`).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

fn signal(server: &Server, name: &str) {
    let status = Command::new("kill")
        .args([name, &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// A raw h2 connection on the cleartext port whose client has shut its window (initial
/// window 0): a GET of /notes.txt gets its HEADERS, and its body waits on the client.
fn a_stream_held_open(port: u16) -> Raw {
    let mut raw = Raw::connect(port);
    let mut hello = support::h2::PREFACE.to_vec();
    hello.extend_from_slice(&support::h2::settings(&[(0x4, 0)]));
    raw.send(&hello);
    raw.send(&support::h2::get(1, "/notes.txt"));
    raw.until(support::h2::HEADERS, Some(1)).expect("head");
    raw
}

/// After `signal` (TERM: a stop; HUP: a reload, whose old worker stops the same way): the
/// first GOAWAY of RFC 9113 section 6.8 (last stream 2^31-1) and a PING; a probe sent after
/// that GOAWAY is still answered, by a draining worker (`/healthz` says so); the held stream
/// finishes once the client opens its window; the final GOAWAY, sent once the PING is
/// answered, names the probe's stream, 3, as the last; then the server closes. The frames
/// are taken in whatever order they come (the final GOAWAY may precede either answer).
fn goaway_and_the_open_stream_finishes(server: &Server, name: &str) {
    use support::h2::{frame, window_update, ACK, DATA, GOAWAY, NO_ERROR, PING};
    let mut raw = a_stream_held_open(plain_port(server));
    signal(server, name);
    let (mut goaways, mut probe, mut body) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(got) = raw.next_frame() {
        match got.kind {
            GOAWAY => {
                assert_eq!(got.code(), NO_ERROR);
                if goaways.is_empty() {
                    // Its window is the client's initial one, 0, as stream 1's: opened for
                    // it alone.
                    raw.send(&support::h2::get(3, "/healthz"));
                    raw.send(&window_update(3, 1024));
                }
                goaways.push(u32::from_be_bytes(got.payload[..4].try_into().expect("id")));
            }
            PING if got.flags & ACK == 0 => raw.send(&frame(PING, ACK, 0, &got.payload)),
            DATA if got.stream == 3 => {
                probe.extend_from_slice(&got.payload);
                // Now stream 1's window too.
                raw.send(&support::h2::settings(&[(0x4, 65_535)]));
            }
            DATA if got.stream == 1 => body.extend_from_slice(&got.payload),
            _ => {}
        }
    }
    // The frames ended with the server's close, not a read timeout: EOF, at once.
    assert!(
        matches!(raw.stream.read(&mut [0u8; 1]), Ok(0)),
        "not closed"
    );
    assert_eq!(goaways, [0x7fff_ffff, 3], "the two GOAWAYs");
    // Only the draining page says this (with 503).
    assert_eq!(probe, b"draining\n");
    assert_eq!(body, TYPED_FILES[4].1, "the open stream finished");
}

#[test]
fn term_sends_goaway_and_the_open_stream_finishes() {
    let mut server = start(&["--grace", "20"]);
    goaway_and_the_open_stream_finishes(&server, "-TERM");
    let status = server.child.wait().expect("wait");
    assert!(status.success(), "{status}; {}", server.stderr());
}

#[test]
fn a_reload_sends_goaway_and_the_new_workers_speak_h2() {
    let mut server = start(&["--grace", "20"]);
    goaway_and_the_open_stream_finishes(&server, "-HUP");
    for over in [Over::Tls, Over::Cleartext] {
        let response = fetch_one(&server, over, Ask::get("/notes.txt"));
        assert_eq!((response.status, &*response.body), (200, TYPED_FILES[4].1));
    }
    server.assert_alive();
}

#[test]
fn healthz_over_h2_says_ok() {
    let server = start(&[]);
    for over in [Over::Tls, Over::Cleartext] {
        let responses = fetch(
            &server,
            over,
            &[Ask::get("/healthz"), Ask::head("/healthz")],
        );
        assert_eq!(
            (responses[0].status, &*responses[0].body),
            (200, &b"ok\n"[..])
        );
        assert_eq!(responses[0].header("cache-control"), Some("no-store"));
        assert_eq!(responses[1].status, 200);
        assert_eq!(responses[1].header("content-length"), Some("3"));
        assert!(responses[1].body.is_empty());
    }
}

#[test]
fn metrics_count_h2_requests_and_h2_connections() {
    let server = start(&["--metrics", "0"]);
    let metrics = metrics_port(&server);
    for over in [Over::Tls, Over::Cleartext] {
        let response = fetch_one(&server, over, Ask::get("/notes.txt"));
        assert_eq!(response.status, 200);
    }
    // An h2 connection that stays open, counted from its hand-off on (`Counted`), as the
    // scrape's own connection is.
    let mut held = Raw::open(plain_port(&server));
    held.send(&support::h2::get(1, "/notes.txt"));
    let data = held.until(support::h2::DATA, Some(1)).expect("answered");
    assert_eq!(data.payload, TYPED_FILES[4].1);
    let page = support::Client::connect(("127.0.0.1", metrics))
        .request("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(page.status, 200);
    let text = page.text();
    let h2_ok = "stage09_requests_total{code=\"200\",protocol=\"HTTP/2.0\"}";
    // The two fetches, and the held connection's.
    assert_eq!(metric(&text, h2_ok), Some(3.0), "{text}");
    assert_eq!(
        metric(&text, "stage09_open_connections"),
        Some(2.0),
        "{text}"
    );
    // The metrics listener serves its pages over h2 too (prior knowledge).
    let scrape = fetch_one_at(metrics, Ask::get("/metrics"));
    assert_eq!(scrape.status, 200);
    let text = String::from_utf8_lossy(&scrape.body).into_owned();
    assert!(metric(&text, h2_ok).is_some_and(|n| n >= 3.0), "{text}");
}

/// One h2 request (prior knowledge) to another port of the server: the metrics listener.
fn fetch_one_at(port: u16, ask: Ask) -> support::h2::H2Response {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let (send, connection) = ::h2::client::handshake(tcp).await.expect("handshake");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut send = send.ready().await.expect("ready");
        let uri = format!("http://localhost:{port}{}", ask.path);
        let request = http::Request::builder()
            .method(ask.method)
            .uri(uri)
            .body(())
            .expect("request");
        let (response, _) = send.send_request(request, true).expect("send");
        let (parts, mut body) = response.await.expect("response").into_parts();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("body");
            let _ = body.flow_control().release_capacity(chunk.len());
            bytes.extend_from_slice(&chunk);
        }
        support::h2::H2Response {
            status: parts.status.as_u16(),
            fields: Vec::new(),
            body: bytes,
            finished: 0,
        }
    })
}

#[test]
fn http2_false_offers_http11_only_and_answers_the_preface_as_http11() {
    let server = start(&["--http2", "false"]);
    let both = client_config(rustls::DEFAULT_VERSIONS, &[b"h2", b"http/1.1"]);
    let mut client = connect_with(server.port, both).expect("handshake");
    assert_eq!(
        client.tls().and_then(|tls| tls.alpn_protocol()),
        Some(&b"http/1.1"[..])
    );
    let response =
        client.request("GET /notes.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!((response.status, &*response.body), (200, TYPED_FILES[4].1));
    // A client that offers h2 alone is refused, not misunderstood.
    let h2_only = client_config(rustls::DEFAULT_VERSIONS, &[b"h2"]);
    assert!(connect_with(server.port, h2_only).is_err());
    // The preface on the cleartext listener is an HTTP/1.1 request line it cannot serve.
    let mut raw = support::Client::connect(("127.0.0.1", plain_port(&server)));
    let response = raw.request("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert_eq!(response.status, 505);
}

#[test]
fn threads_mode_serves_h2() {
    let server = start(&["--worker-mode", "threads", "--workers", "2"]);
    for over in [Over::Tls, Over::Cleartext] {
        let asks: Vec<Ask> = TYPED_FILES
            .iter()
            .map(|(name, _, _)| Ask::get(&format!("/{name}")))
            .collect();
        let responses = fetch(&server, over, &asks);
        for ((name, bytes, _), response) in TYPED_FILES.iter().zip(&responses) {
            assert_eq!(
                (response.status, &response.body),
                (200, &bytes.to_vec()),
                "{name}"
            );
        }
    }
    let health = fetch_one(&server, Over::Tls, Ask::get("/healthz"));
    assert_eq!(health.body, b"ok\n");
}

#[test]
fn http2_true_and_false_both_check_ok() {
    for value in ["true", "false"] {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("stage09-h2-check-{value}-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("site.toml");
        let text = format!(
            "root = {:?}\nhttp2 = {value}\n[[listener]]\nport = 0\n",
            fixture().root.display().to_string()
        );
        fs::write(&path, text).expect("write");
        let out = Command::new(binary("stage09"))
            .arg("--check-config")
            .arg(&path)
            .stdin(Stdio::null())
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
