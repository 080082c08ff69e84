//! stage06 (stage05's event loop over TLS, with Basic auth, ranges and an HTML5 fallback).
//!
//! The stage is `over_tls`: every client the harness makes speaks TLS (a rustls client that
//! accepts the server's self-signed certificate), so every conformance group stage05 claims
//! runs here unchanged, over TLS: the same bytes, dripped, pipelined, cut and reset, inside
//! records. The tests below add what only stage06 does, and what deliberately is not TLS:
//! plaintext, garbage and a TLS 1.1 ClientHello must each cost only their own connection.

mod conformance;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};
use support::tls::{base64, client_config, connect_with};
use support::{big_content, fixture, Server, Stage, BIG_LEN};

const STAGE: Stage = Stage::new("stage06").over_tls().skipping(support::NO_POOL);

http10_behaviours!(crate::STAGE);
traversal_behaviours!(crate::STAGE);
filesystem_behaviours!(crate::STAGE);
limits_behaviours!(crate::STAGE);
resilience_behaviours!(crate::STAGE);
hostile_behaviours!(crate::STAGE);
cli_behaviours!(crate::STAGE);
keepalive_behaviours!(crate::STAGE);
pipelining_behaviours!(crate::STAGE);
pool_behaviours!(crate::STAGE);
eventloop_behaviours!(crate::STAGE);

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n")
}

/// One request on a fresh TLS connection.
fn fetch(server: &Server, path: &str, extra: &str) -> support::HttpResponse {
    server.connect().request(&get(path, extra))
}

#[test]
fn startup_says_https_and_prints_the_fingerprint() {
    let server = STAGE.start();
    assert!(server.wait_for(Duration::from_secs(5), || server
        .stderr()
        .contains("fingerprint")));
    let stderr = server.stderr();
    assert!(stderr.contains("self-signed"), "{stderr}");
    let mut client = server.connect();
    client.handshake().expect("TLS handshake");
    let tls = client.tls().expect("a TLS client");
    assert_eq!(tls.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(
        tls.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
}

#[test]
fn tls12_works_and_alpn_without_http11_is_refused() {
    let server = STAGE.start();
    let config = client_config(&[&rustls::version::TLS12], &[b"http/1.1"]);
    let mut client = connect_with(server.port, config).expect("TLS 1.2 handshake");
    let version = client.tls().and_then(|tls| tls.protocol_version());
    assert_eq!(version, Some(rustls::ProtocolVersion::TLSv1_2));
    assert_eq!(client.request(&get("/notes.txt", "")).status, 200);
    let h2_only = client_config(rustls::DEFAULT_VERSIONS, &[b"h2"]);
    assert!(connect_with(server.port, h2_only).is_err());
    assert_eq!(fetch(&server, "/notes.txt", "").status, 200);
}

/// A ClientHello that offers TLS 1.1 at most (no supported_versions extension), which is
/// what a TLS 1.1-only client sends. rustls cannot speak 1.1, so the test writes the bytes.
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version: TLS 1.1
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // no session id
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // two CBC suites of 1.1
    body.extend_from_slice(&[0x01, 0x00]); // compression: null
    let mut handshake = vec![0x01, 0x00, 0x00, body.len() as u8];
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    record
}

#[test]
fn tls11_is_refused_with_an_alert() {
    let server = STAGE.start();
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(&tls11_client_hello()).expect("send");
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    // An alert record (0x15), or nothing: never a ServerHello (a handshake record, 0x16).
    assert!(reply.first().is_none_or(|b| *b == 0x15), "{reply:02x?}");
    assert_eq!(fetch(&server, "/notes.txt", "").status, 200);
}

#[test]
fn plaintext_and_garbage_close_only_their_connection() {
    // Incomplete records wait for the handshake deadline (the header timeout): keep it short,
    // and keep the idle keeper connection alive for longer than all of that.
    let mut server = STAGE.start_with(&["--header-timeout", "2", "--idle-timeout", "60"]);
    let mut keeper = server.connect();
    assert_eq!(keeper.request(&get("/notes.txt", "")).status, 200);
    let junk: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(),
        vec![0x16, 0x03, 0x03, 0xff, 0xff, 0x01],
        vec![0x16; 1],
    ];
    for bytes in junk {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        let _ = stream.write_all(&bytes);
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        assert!(support::find(&reply, b"HTTP/1.").is_none(), "{reply:?}");
    }
    server.assert_alive();
    assert_eq!(keeper.request(&get("/notes.txt", "")).status, 200);
    assert_eq!(fetch(&server, "/index.html", "").status, 200);
}

#[test]
fn a_stalled_handshake_is_cut_off_by_the_header_timeout() {
    let server = STAGE.start_with(&["--header-timeout", "1"]);
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // Half a ClientHello, then nothing.
    stream.write_all(&tls11_client_hello()[..20]).expect("send");
    let started = Instant::now();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(fetch(&server, "/notes.txt", "").status, 200);
}

#[test]
fn single_ranges_in_every_form() {
    let server = STAGE.start();
    let big = big_content();
    let len = BIG_LEN;
    let cases: [(&str, usize, usize); 5] = [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, len - 1),
        ("bytes=-500", len - 500, len - 1),
        ("bytes=70000-99999999", 70_000, len - 1),
        ("bytes=5-5", 5, 5),
    ];
    let mut client = server.connect();
    for (range, first, last) in cases {
        let response = client.request(&get("/big.bin", &format!("Range: {range}\r\n")));
        assert_eq!(response.status, 206, "{range}");
        assert_eq!(
            response.header("Content-Range"),
            Some(format!("bytes {first}-{last}/{len}").as_str())
        );
        assert_eq!(response.header("Accept-Ranges"), Some("bytes"));
        assert_eq!(response.body, &big[first..=last], "{range}");
    }
    let notes = client.request(&get("/notes.txt", "Range: bytes=0-4\r\n"));
    assert_eq!((notes.status, notes.body.as_slice()), (206, &b"plain"[..]));
}

/// Range units are case-insensitive (RFC 9110 section 14.1), as in nginx.
#[test]
fn range_units_are_case_insensitive() {
    let server = STAGE.start();
    let mut client = server.connect();
    for range in ["Bytes=0-4", "BYTES=0-4", "bytes=0-4"] {
        let response = client.request(&get("/notes.txt", &format!("Range: {range}\r\n")));
        assert_eq!(response.status, 206, "{range}");
        assert_eq!(response.body, b"plain", "{range}");
    }
}

#[test]
fn unsatisfiable_malformed_and_head_ranges() {
    let server = STAGE.start();
    let mut client = server.connect();
    let past = client.request(&get("/big.bin", &format!("Range: bytes={BIG_LEN}-\r\n")));
    assert_eq!(past.status, 416);
    assert_eq!(
        past.header("Content-Range"),
        Some(format!("bytes */{BIG_LEN}").as_str())
    );
    for malformed in ["bytes=a-b", "bytes=5-1", "items=0-1", "bytes=1"] {
        let response = client.request(&get("/notes.txt", &format!("Range: {malformed}\r\n")));
        assert_eq!(response.status, 200, "{malformed}");
        assert_eq!(response.body, support::TYPED_FILES[4].1);
    }
    let head = client.request("HEAD /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Accept-Ranges"), Some("bytes"));
    // The connection is still good after all of that.
    assert_eq!(client.request(&get("/notes.txt", "")).status, 200);
}

#[test]
fn several_ranges_are_multipart_byteranges() {
    let server = STAGE.start();
    let big = big_content();
    let response = fetch(&server, "/big.bin", "Range: bytes=0-9,100-109\r\n");
    assert_eq!(response.status, 206);
    let content_type = response.header("Content-Type").expect("type");
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .expect("multipart type");
    let mut expected = Vec::new();
    for (first, last) in [(0usize, 9usize), (100, 109)] {
        expected.extend_from_slice(
            format!(
                "\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\
                 Content-Range: bytes {first}-{last}/{BIG_LEN}\r\n\r\n"
            )
            .as_bytes(),
        );
        expected.extend_from_slice(&big[first..=last]);
    }
    expected.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    assert_eq!(response.body, expected);
    // Overlapping ranges: the whole file (nginx's rule).
    let overlapping = fetch(&server, "/notes.txt", "Range: bytes=0-5,3-8\r\n");
    assert_eq!(overlapping.status, 200);
}

/// Range abuse: a Range header is a few bytes from the client and could be a lot of work and
/// bytes from us (the "Apache Killer" of 2011 asked for 1,300 overlapping ranges of a file and
/// got each one, in memory). Ours: more than 32 ranges, overlapping ranges, or ranges that add
/// up past the file get the file once, as a plain 200; so no Range header ever makes an
/// answer longer than the file plus the multipart framing of at most 32 parts.
#[test]
fn range_abuse_never_multiplies_the_response() {
    let mut server = STAGE.start();
    let big = big_content();
    let abusive = [
        // A thousand tiny disjoint ranges (the head stays under the 16 KiB limit).
        (0..1200)
            .map(|i| format!("{0}-{0}", i * 2))
            .collect::<Vec<_>>()
            .join(","),
        // The same byte, three thousand times.
        vec!["0-0"; 3000].join(","),
        // The same whole-file range again and again.
        vec!["0-"; 1000].join(","),
        // Overlapping windows, each of them big.
        (0..30)
            .map(|i| format!("{}-{}", i * 1000, i * 1000 + 500_000))
            .collect::<Vec<_>>()
            .join(","),
        // Suffixes that each cover most of the file.
        vec![format!("-{}", BIG_LEN - 1); 20].join(","),
    ];
    let mut client = server.connect();
    for ranges in &abusive {
        let response = client.request(&get("/big.bin", &format!("Range: bytes={ranges}\r\n")));
        assert_eq!(response.status, 200, "{}", &ranges[..40]);
        assert!(
            response.body == big,
            "{}: not the file, once",
            &ranges[..40]
        );
    }
    // The most a Range header can ask for: 32 disjoint parts, each framed once.
    let most = (0..32)
        .map(|i| format!("{}-{}", i * 300_000, i * 300_000 + 99))
        .collect::<Vec<_>>()
        .join(",");
    let response = client.request(&get("/big.bin", &format!("Range: bytes={most}\r\n")));
    assert_eq!(response.status, 206);
    assert!(
        response.body.len() < 32 * (100 + 200),
        "{} bytes for 3,200 bytes of ranges",
        response.body.len()
    );
    // Pipelined, the abuse does not pile up in the server's memory either.
    let baseline = server.rss_kib();
    let request = get("/big.bin", &format!("Range: bytes={most}\r\n"));
    let batch = vec![request.as_str(); 200];
    for response in client.pipeline(&batch) {
        assert_eq!(response.status, 206);
    }
    let rss = server.rss_kib();
    assert!(
        rss < baseline + 16 * 1024,
        "resident grew from {baseline} KiB to {rss} KiB"
    );
    server.assert_alive();
    assert_eq!(fetch(&server, "/notes.txt", "").status, 200);
}

#[test]
fn if_range_fresh_gives_the_range_and_stale_the_whole_file() {
    let server = STAGE.start();
    let mut client = server.connect();
    let first = client.request(&get("/notes.txt", ""));
    let etag = first.header("ETag").expect("etag").to_string();
    let date = first.header("Last-Modified").expect("date").to_string();
    for fresh in [&etag, &date] {
        let response = client.request(&get(
            "/notes.txt",
            &format!("Range: bytes=0-4\r\nIf-Range: {fresh}\r\n"),
        ));
        assert_eq!(
            (response.status, response.body.as_slice()),
            (206, &b"plain"[..])
        );
    }
    for stale in ["\"0-0\"", "Sun, 06 Nov 1994 08:49:37 GMT"] {
        let response = client.request(&get(
            "/notes.txt",
            &format!("Range: bytes=0-4\r\nIf-Range: {stale}\r\n"),
        ));
        assert_eq!(response.status, 200, "{stale}");
        assert_eq!(response.body, support::TYPED_FILES[4].1);
    }
}

/// `Authorization` values that must all get the same 401.
fn bad_credentials(user: &str) -> Vec<String> {
    vec![
        String::new(),
        format!(
            "Authorization: Basic {}\r\n",
            base64(format!("{user}:wrong").as_bytes())
        ),
        format!("Authorization: Basic {}\r\n", base64(b"nobody:secret")),
        "Authorization: Basic %%%not-base64%%%\r\n".to_string(),
        format!("Authorization: Basic {}\r\n", base64(b"no colon here")),
        format!("Authorization: Basic {}\r\n", base64(b"\xff\xfe:\xff")),
        format!(
            "Authorization: Bearer {}\r\n",
            base64(format!("{user}:secret").as_bytes())
        ),
        "Authorization: Basic\r\n".to_string(),
    ]
}

fn check_auth(server: &Server, user: &str, password: &str) {
    let mut client = server.connect();
    for bad in bad_credentials(user) {
        for path in ["/notes.txt", "/no-such-file", "/docs"] {
            let response = client.request(&get(path, &bad));
            assert_eq!(response.status, 401, "{bad:?} {path}");
            assert_eq!(
                response.header("WWW-Authenticate"),
                Some("Basic realm=\"test realm\", charset=\"UTF-8\"")
            );
            assert!(!response.text().contains("plain text"), "body leak");
        }
    }
    let good = format!(
        "Authorization: Basic {}\r\n",
        base64(format!("{user}:{password}").as_bytes())
    );
    for _ in 0..2 {
        let response = client.request(&get("/notes.txt", &good));
        assert_eq!(response.status, 200);
        assert_eq!(response.body, support::TYPED_FILES[4].1);
    }
    let ranged = client.request(&get("/notes.txt", &format!("{good}Range: bytes=0-4\r\n")));
    assert_eq!(ranged.status, 206);
    assert!(server.wait_for(Duration::from_secs(5), || server
        .log()
        .contains(&format!(" - {user} ["))));
}

#[test]
fn basic_auth_from_the_command_line() {
    let server = STAGE.start_with(&["--auth", "alice:secret", "--realm", "test realm"]);
    check_auth(&server, "alice", "secret");
}

#[test]
fn basic_auth_from_an_htpasswd_file() {
    let output = Command::new("htpasswd")
        .args(["-nbB", "-C", "4", "bob", "secret"])
        .output();
    let Some(output) = output.ok().filter(|o| o.status.success()) else {
        eprintln!("skipping basic_auth_from_an_htpasswd_file: htpasswd (apache2-utils) not found");
        return;
    };
    let file = fixture().root.parent().expect("base").join("test.htpasswd");
    std::fs::write(&file, &output.stdout).expect("write htpasswd");
    let file = file.to_string_lossy().into_owned();
    let server = STAGE.start_with(&["--htpasswd", &file, "--realm", "test realm"]);
    check_auth(&server, "bob", "secret");
}

#[test]
fn fallback_serves_routes_and_404s_missing_assets() {
    let server = STAGE.start_with(&["--fallback", "/index.html"]);
    let index = support::TYPED_FILES[0].1;
    let route = fetch(&server, "/app/users/42", "Accept: text/html,*/*;q=0.8\r\n");
    assert_eq!((route.status, route.body.as_slice()), (200, index));
    assert_eq!(
        route.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        fetch(&server, "/missing.css", "Accept: */*\r\n").status,
        404
    );
    assert_eq!(
        fetch(&server, "/app/missing.js", "Accept: text/html\r\n").status,
        404
    );
    assert_eq!(
        fetch(&server, "/api/x", "Accept: application/json\r\n").status,
        404
    );
    let without = STAGE.start();
    assert_eq!(
        fetch(&without, "/app/users/42", "Accept: text/html\r\n").status,
        404
    );
}

#[test]
fn ranges_and_heads_in_a_pipeline() {
    let server = STAGE.start();
    let mut client = server.connect();
    for _ in 0..5 {
        assert_eq!(client.request(&get("/notes.txt", "")).status, 200);
        assert_eq!(client.request(&get("/nope", "")).status, 404);
    }
    let a = get("/notes.txt", "");
    let b = "HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n".to_string();
    let c = get("/docs/", "");
    let d = get("/notes.txt", "Range: bytes=0-4\r\n");
    let batch: Vec<&str> = vec![&a, &b, &c, &d, &a];
    let responses = client.pipeline(&batch);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 206, 200]);
    assert_eq!(responses[2].text(), support::DOCS_INDEX);
    assert_eq!(responses[3].body, b"plain");
    let close = client.request("GET /notes.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(close.status, 200);
    assert!(client.is_closed());
}

#[test]
fn bad_certificate_files_are_one_line_errors() {
    let missing = Command::new(support::binary("stage06"))
        .args(["0", "."])
        .args(["--cert", "/no/such/cert.pem", "--key", "/no/such/key.pem"])
        .output()
        .expect("run");
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.starts_with("stage06: error: cannot read certificate"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let not_pem = fixture().root.join("notes.txt");
    let invalid = Command::new(support::binary("stage06"))
        .args(["0", "."])
        .arg("--cert")
        .arg(&not_pem)
        .arg("--key")
        .arg(&not_pem)
        .output()
        .expect("run");
    assert!(!invalid.status.success());
    let stderr = String::from_utf8_lossy(&invalid.stderr);
    assert!(stderr.starts_with("stage06: error: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let help = Command::new(support::binary("stage06"))
        .arg("--help")
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("ps"), "{help}");
}

// The loop's ways of ending a connection, over TLS (issue 19, items 5, 6 and 8): a client's
// half-close ends its requests, not their answers; a graceful stop finishes what has already
// arrived; and every close says close_notify.

/// Writes `plaintext` as TLS records and, when asked, a close_notify after them, all in one
/// TCP write (so the server finds them in one read), then a FIN when asked.
fn one_write(client: &mut support::Client, plaintext: &[u8], close_notify: bool, fin: bool) {
    client.handshake().expect("TLS handshake");
    let support::Transport::Tls(tls) = &mut client.stream else {
        panic!("a TLS client");
    };
    tls.conn.writer().write_all(plaintext).expect("encrypt");
    if close_notify {
        tls.conn.send_close_notify();
    }
    let mut wire = Vec::new();
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut wire).expect("records");
    }
    tls.sock.write_all(&wire).expect("one write");
    if fin {
        tls.sock.shutdown(std::net::Shutdown::Write).expect("FIN");
    }
}

/// A big file first (streamed over many turns), then two small ones queued behind it.
fn three_pipelined() -> (String, [&'static str; 3]) {
    let paths = ["/big.bin", "/style.css", "/notes.txt"];
    (paths.iter().map(|p| get(p, "")).collect(), paths)
}

fn assert_three_answers(client: &mut support::Client, paths: [&str; 3]) {
    let big = client.response(false);
    assert_eq!(big.status, 200, "{}", big.status_line);
    assert!(
        big.body == big_content(),
        "big.bin arrived corrupt or short"
    );
    for (path, wanted) in paths[1..].iter().zip(["style.css", "notes.txt"]) {
        let response = client.response(false);
        let file = support::TYPED_FILES
            .iter()
            .find(|f| f.0 == wanted)
            .expect("fixture");
        assert_eq!(response.status, 200, "{path}: {}", response.status_line);
        assert_eq!(response.body, file.1, "{path}");
    }
    assert!(
        client.is_closed(),
        "the connection closes after the last answer"
    );
}

#[test]
fn close_notify_behind_pipelined_requests_still_gets_every_answer() {
    let server = STAGE.start();
    let mut client = server.connect();
    let (requests, paths) = three_pipelined();
    one_write(&mut client, requests.as_bytes(), true, false);
    assert_three_answers(&mut client, paths);
}

#[test]
fn a_fin_behind_pipelined_requests_over_tls_still_gets_every_answer() {
    let server = STAGE.start();
    let mut client = server.connect();
    let (requests, paths) = three_pipelined();
    one_write(&mut client, requests.as_bytes(), false, true);
    assert_three_answers(&mut client, paths);
}

/// Reads through TLS itself (not the harness's reader, which takes a cut for a close) and
/// says whether the server ended with close_notify: rustls reports that as a clean `Ok(0)`,
/// and a bare TCP close as `UnexpectedEof`.
fn closed_with_close_notify(client: &mut support::Client) -> bool {
    let support::Transport::Tls(tls) = &mut client.stream else {
        panic!("a TLS client");
    };
    let mut byte = [0u8; 1];
    match tls.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => panic!("bytes after the last response"),
        Err(e) => {
            assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
            false
        }
    }
}

#[test]
fn the_idle_timeout_closes_with_close_notify() {
    let server = STAGE.start_with(&["--idle-timeout", "1"]);
    let mut client = server.connect();
    assert_eq!(client.request(&get("/notes.txt", "")).status, 200);
    assert!(
        closed_with_close_notify(&mut client),
        "idle timeout: a TCP close without close_notify"
    );
}

fn sigterm(server: &Server) {
    let kill = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status();
    assert!(
        kill.is_ok_and(|status| status.success()),
        "kill -TERM failed"
    );
}

fn wait_exit(server: &mut Server) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            return status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_graceful_stop_closes_idle_connections_with_close_notify() {
    let mut server = STAGE.start();
    let mut client = server.connect();
    assert_eq!(client.request(&get("/notes.txt", "")).status, 200);
    sigterm(&server);
    assert!(
        closed_with_close_notify(&mut client),
        "graceful stop: an idle connection closed without close_notify"
    );
    assert!(wait_exit(&mut server).success(), "{}", server.stderr());
}

/// CPU seconds the server has used, in clock ticks (utime + stime of /proc/PID/stat).
fn cpu_ticks(server: &Server) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.pid())).expect("stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..]
        .split(' ')
        .collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// Whether a SIGTERM sent to the server is still waiting for its handler to run.
fn sigterm_pending(server: &Server) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).expect("status");
    status
        .lines()
        .filter(|line| line.starts_with("SigPnd:") || line.starts_with("ShdPnd:"))
        .filter_map(|line| u64::from_str_radix(line[7..].trim(), 16).ok())
        .any(|mask| mask & (1 << (15 - 1)) != 0)
}

/// A stop must not lose what has already arrived: a keep-alive request whose bytes are in
/// the socket but not yet read, and a client in the listen backlog that was not yet accepted.
/// To have both in place when the loop takes the signal, the loop is kept busy meanwhile by
/// one wrong password (bcrypt, on the loop's thread: `--verify-threads 0` keeps the checks
/// there, as stage06 first did): the signal, then the request bytes, then the new client all
/// arrive during that one turn, and the next wait reports them in that order.
#[test]
fn a_graceful_stop_answers_requests_that_arrived_before_it() {
    let output = Command::new("htpasswd")
        .args(["-nbB", "-C", "9", "bob", "secret"])
        .output();
    let Some(output) = output.ok().filter(|o| o.status.success()) else {
        eprintln!("skipping a_graceful_stop_answers_requests_that_arrived_before_it: no htpasswd");
        return;
    };
    let file = fixture().root.parent().expect("base").join("stop.htpasswd");
    std::fs::write(&file, &output.stdout).expect("write htpasswd");
    let file = file.to_string_lossy();
    let mut server = STAGE.start_with(&["--htpasswd", &file, "--verify-threads", "0"]);
    let good = format!("Authorization: Basic {}\r\n", base64(b"bob:secret"));
    let bad = format!("Authorization: Basic {}\r\n", base64(b"bob:wrong"));
    // `kept` is a keep-alive connection, idle after one answer (which also puts bob's good
    // password in the verified cache: its next request costs no bcrypt).
    let mut kept = server.connect();
    assert_eq!(kept.request(&get("/notes.txt", &good)).status, 200);
    let mut busy = connect_with(server.port, support::tls::default_config()).expect("TLS");
    let before = cpu_ticks(&server);
    busy.send(get("/notes.txt", &bad).as_bytes());
    // The loop is inside bcrypt once it has used 50 ms of CPU on it (seconds at cost 9 in a debug build).
    let start = Instant::now();
    while cpu_ticks(&server) < before + 5 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "bcrypt never started"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    sigterm(&server);
    // The signal must reach the loop's self-pipe before the bytes below reach their sockets.
    let start = Instant::now();
    while sigterm_pending(&server) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "SIGTERM never handled"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    kept.send(get("/style.css", &good).as_bytes());
    let port = server.port;
    let queued = std::thread::spawn(move || {
        let mut late =
            support::Client::connect(("127.0.0.1", port)).into_tls(support::tls::default_config());
        late.request(&get("/notes.txt", ""))
    });
    let answer = kept.response(false);
    assert_eq!(answer.status, 200, "{}", answer.status_line);
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(kept.is_closed());
    assert_eq!(busy.response(false).status, 401);
    let late = queued.join().expect("the queued client");
    assert_eq!(late.status, 401, "{}", late.status_line);
    assert_eq!(late.header("connection"), Some("close"));
    assert!(wait_exit(&mut server).success(), "{}", server.stderr());
}

/// Waits until the server has said on stderr that its graceful stop has begun (the line
/// `begin_shutdown` ends with), so that what a test sends next arrives during the drain.
fn wait_for_stopping(server: &Server) {
    let start = Instant::now();
    while !server.stderr().contains("stopping: finishing") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the stop never began: {}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A TLS client that has sent its ClientHello and read the server's whole first flight:
/// its Finished is the next thing it would send.
fn client_before_its_finished(server: &Server) -> support::Client {
    let mut client = support::Client::connect(("127.0.0.1", server.port))
        .into_tls(support::tls::default_config());
    let support::Transport::Tls(tls) = &mut client.stream else {
        panic!("a TLS client");
    };
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut tls.sock).expect("ClientHello");
    }
    while !tls.conn.wants_write() {
        tls.conn.read_tls(&mut tls.sock).expect("server flight");
        tls.conn.process_new_packets().expect("server flight");
    }
    client
}

/// Sends what the client's TLS has queued (its Finished, and any request written) in one write.
fn send_queued(client: &mut support::Client, plaintext: &[u8]) {
    let support::Transport::Tls(tls) = &mut client.stream else {
        panic!("a TLS client");
    };
    tls.conn.writer().write_all(plaintext).expect("encrypt");
    let mut wire = Vec::new();
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut wire).expect("records");
    }
    tls.sock.write_all(&wire).expect("one write");
}

fn assert_answered_then_closed(client: &mut support::Client) {
    let answer = client.response(false);
    assert_eq!(answer.status, 200, "{}", answer.status_line);
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(client.is_closed());
}

// Found by attacking the library (eventloop): a handshake the server has answered is a
// request on its way, not an idle connection. The stop used to close it, so a client whose
// Finished and first request were in flight when SIGTERM came got nothing.
#[test]
fn a_graceful_stop_finishes_a_handshake_it_has_answered() {
    let mut server = STAGE.start();
    let mut client = client_before_its_finished(&server);
    sigterm(&server);
    wait_for_stopping(&server);
    send_queued(&mut client, get("/notes.txt", "").as_bytes());
    assert_answered_then_closed(&mut client);
    assert!(wait_exit(&mut server).success(), "{}", server.stderr());
}

// The same, with the Finished and the request in two writes: a handshake that ends during
// the stop waits for the request behind it instead of closing as idle.
#[test]
fn a_handshake_that_ends_during_a_stop_waits_for_its_first_request() {
    let mut server = STAGE.start();
    let mut client = client_before_its_finished(&server);
    sigterm(&server);
    wait_for_stopping(&server);
    send_queued(&mut client, b"");
    // The server has taken the Finished once its session tickets (TLS 1.3) arrive.
    let support::Transport::Tls(tls) = &mut client.stream else {
        panic!("a TLS client");
    };
    let mut tickets = 0;
    while tickets == 0 {
        tickets = tls.conn.read_tls(&mut tls.sock).expect("session tickets");
        tls.conn.process_new_packets().expect("session tickets");
    }
    send_queued(&mut client, get("/notes.txt", "").as_bytes());
    assert_answered_then_closed(&mut client);
    assert!(wait_exit(&mut server).success(), "{}", server.stderr());
}

// bcrypt off the loop (issue 19, item 7): a password check runs on a verifier thread, the
// connection that asked waits for its verdict (reading nothing more meanwhile), and every
// other connection is served as before. The checks use a realistic cost (12: about a second
// a check in a debug build), so a loop that ran them itself would be visibly stuck.

/// An htpasswd file of `users` at bcrypt `cost`, made by `htpasswd -B` (apache2-utils, which
/// CI installs); `None`, with the reason printed, where htpasswd is missing.
fn htpasswd_file(test: &str, cost: u32, users: &[(&str, &str)]) -> Option<String> {
    let mut text = Vec::new();
    for (user, password) in users {
        let output = Command::new("htpasswd")
            .args(["-nbB", "-C", &cost.to_string(), user, password])
            .output();
        let Some(output) = output.ok().filter(|o| o.status.success()) else {
            eprintln!("skipping {test}: htpasswd (apache2-utils) not found");
            return None;
        };
        text.extend_from_slice(output.stdout.trim_ascii_end());
        text.push(b'\n');
    }
    let file = fixture()
        .root
        .parent()
        .expect("base")
        .join(format!("{test}.htpasswd"));
    std::fs::write(&file, text).expect("write htpasswd");
    Some(file.to_string_lossy().into_owned())
}

fn basic_auth(user_pass: &str) -> String {
    format!("Authorization: Basic {}\r\n", base64(user_pass.as_bytes()))
}

/// True when no response byte has reached `client` yet: takes whatever TLS records are
/// waiting (a session ticket, say) without blocking, and finds no plaintext among them. On
/// loopback a response the server has written is already in our socket, so "nothing yet"
/// means the server has not written it.
fn nothing_received(client: &mut support::Client) -> bool {
    let support::Transport::Tls(tls) = &mut client.stream else {
        panic!("a TLS client");
    };
    tls.sock.set_nonblocking(true).expect("nonblocking");
    loop {
        match tls.conn.read_tls(&mut tls.sock) {
            Ok(0) => break,
            Ok(_) => {
                tls.conn.process_new_packets().expect("TLS records");
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("read: {e}"),
        }
    }
    tls.sock.set_nonblocking(false).expect("blocking");
    let state = tls.conn.process_new_packets().expect("TLS records");
    state.plaintext_bytes_to_read() == 0
}

fn assert_challenged(response: &support::HttpResponse, what: &str) {
    assert_eq!(response.status, 401, "{what}: {}", response.status_line);
    assert_eq!(
        response.header("WWW-Authenticate"),
        Some("Basic realm=\"test realm\", charset=\"UTF-8\""),
        "{what}"
    );
    assert!(!response.text().contains("plain text"), "{what}: body leak");
}

fn typed_file(name: &str) -> &'static [u8] {
    support::TYPED_FILES
        .iter()
        .find(|f| f.0 == name)
        .expect("fixture")
        .1
}

/// The scenario: wrong passwords pipelined on one connection (an unknown user name
/// among them, which costs a check too) while another connection asks with a password
/// already verified. The other connection gets its whole answer while the first has not yet
/// received a byte: its checks are still outstanding, and the loop did not wait for them.
/// Then the pipelined connection gets every answer, in order.
#[test]
fn wrong_passwords_on_one_connection_do_not_delay_another() {
    let test = "wrong_passwords_on_one_connection_do_not_delay_another";
    let users = [("bob", "secret"), ("carol", "hunter2")];
    let Some(file) = htpasswd_file(test, 12, &users) else {
        return;
    };
    let server = STAGE.start_with(&["--htpasswd", &file, "--realm", "test realm"]);
    let good = basic_auth("bob:secret");
    let mut other = server.connect();
    // bob's first request pays one check (on a verifier); a success is remembered, so his
    // next requests are decided on the loop, at once.
    let first = other.request(&get("/notes.txt", &good));
    assert_eq!(first.status, 200, "{}", first.status_line);

    let mut flood = server.connect();
    flood.handshake().expect("TLS handshake");
    let pipelined = [
        (basic_auth("bob:wrong"), "/notes.txt"),
        (basic_auth("nobody:secret"), "/notes.txt"),
        // A right password not yet verified: a check too, and then 200.
        (basic_auth("carol:hunter2"), "/style.css"),
        (basic_auth("bob:wrong-again"), "/docs/"),
        // Remembered, but behind the others: answered in its turn.
        (good.clone(), "/notes.txt"),
    ];
    let batch: String = pipelined
        .iter()
        .map(|(auth, path)| get(path, auth))
        .collect();
    flood.send(batch.as_bytes());

    let answer = other.request(&get("/style.css", &good));
    assert_eq!(answer.status, 200, "{}", answer.status_line);
    assert_eq!(answer.body, typed_file("style.css"));
    assert!(
        nothing_received(&mut flood),
        "the other connection was answered only after the pipelined checks"
    );

    let answers: Vec<support::HttpResponse> = (0..pipelined.len())
        .map(|_| flood.response(false))
        .collect();
    assert_challenged(&answers[0], "bob:wrong");
    assert_challenged(&answers[1], "an unknown user");
    assert_eq!(answers[2].status, 200, "carol: {}", answers[2].status_line);
    assert_eq!(answers[2].body, typed_file("style.css"));
    assert_challenged(&answers[3], "bob:wrong-again");
    assert_eq!(answers[4].status, 200, "bob: {}", answers[4].status_line);
    assert_eq!(answers[4].body, typed_file("notes.txt"));
    // The connection is still good for more, and carol is now remembered too.
    let again = flood.request(&get("/notes.txt", &basic_auth("carol:hunter2")));
    assert_eq!(again.status, 200, "{}", again.status_line);
    assert!(server.wait_for(Duration::from_secs(5), || server
        .log()
        .contains(" - carol [")));
}

/// The total bound: with one verifier thread and room for two checks, a third check asked
/// for while both are outstanding is refused at once with 503 and `Retry-After`, and its
/// connection stays open; a remembered password is never refused, since it needs no check.
/// Once the two verdicts are out, the refused request succeeds in being checked.
#[test]
fn a_full_verifier_pool_answers_503_with_retry_after() {
    let test = "a_full_verifier_pool_answers_503_with_retry_after";
    let Some(file) = htpasswd_file(test, 12, &[("bob", "secret")]) else {
        return;
    };
    let server = STAGE.start_with(&[
        "--htpasswd",
        &file,
        "--realm",
        "test realm",
        "--verify-threads",
        "1",
        "--verify-max",
        "2",
    ]);
    let good = basic_auth("bob:secret");
    let mut remembered = server.connect();
    assert_eq!(remembered.request(&get("/notes.txt", &good)).status, 200);

    // Two checks outstanding, from two connections (one each: a connection waits for its
    // verdict before its next request is even read).
    let mut waiting: Vec<support::Client> = ["bob:wrong", "nobody:secret"]
        .iter()
        .map(|credentials| {
            let mut client = server.connect();
            client.handshake().expect("TLS handshake");
            client.send(get("/notes.txt", &basic_auth(credentials)).as_bytes());
            client
        })
        .collect();
    let mut third = server.connect();
    let busy = third.request(&get("/notes.txt", &basic_auth("bob:guess")));
    assert_eq!(busy.status, 503, "{}", busy.status_line);
    assert_eq!(busy.header("Retry-After"), Some("1"));
    assert!(!busy.text().contains("plain text"), "body leak");
    let head = third.request(&format!(
        "HEAD /notes.txt HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
        basic_auth("bob:guess")
    ));
    assert_eq!(head.status, 503, "HEAD: {}", head.status_line);
    assert!(head.body.is_empty(), "HEAD: a body");
    let fast = remembered.request(&get("/style.css", &good));
    assert_eq!(fast.status, 200, "{}", fast.status_line);
    for client in &mut waiting {
        assert!(
            nothing_received(client),
            "a 503 while the pool was not full"
        );
    }

    for (n, client) in waiting.iter_mut().enumerate() {
        assert_challenged(&client.response(false), &format!("waiting {n}"));
    }
    // (On a new connection: `third` may have reached its idle timeout meanwhile.)
    let retry = server
        .connect()
        .request(&get("/notes.txt", &basic_auth("bob:guess")));
    assert_challenged(&retry, "the retry");
}

/// A client that leaves while its check runs: the loop closes the connection (its verdict,
/// when it comes, finds nobody and is dropped) and goes on serving, with no descriptor kept.
#[test]
fn a_client_that_leaves_during_its_check_costs_nothing_after() {
    let test = "a_client_that_leaves_during_its_check_costs_nothing_after";
    let Some(file) = htpasswd_file(test, 12, &[("bob", "secret")]) else {
        return;
    };
    let server = STAGE.start_with(&["--htpasswd", &file, "--realm", "test realm"]);
    let baseline = {
        let mut client = server.connect();
        assert_challenged(&client.request(&get("/notes.txt", "")), "no credentials");
        drop(client);
        server.open_fds()
    };
    for _ in 0..3 {
        let mut client = server.connect();
        client.handshake().expect("TLS handshake");
        client.send(get("/notes.txt", &basic_auth("bob:wrong")).as_bytes());
        client.reset();
    }
    let good = basic_auth("bob:secret");
    let mut client = server.connect();
    let response = client.request(&get("/notes.txt", &good));
    assert_eq!(response.status, 200, "{}", response.status_line);
    drop(client);
    assert!(
        server.wait_for(Duration::from_secs(20), || server.open_fds() <= baseline),
        "descriptors kept: {} > {baseline}",
        server.open_fds()
    );
}

/// A client that sends its wrong password and then ends its side (close_notify and FIN in
/// the same write) still gets its 401 from the verifier, then the close: a half-close means
/// "no more requests", not "forget the one waiting for its verdict".
#[test]
fn a_half_close_behind_a_password_check_still_gets_the_answer() {
    let test = "a_half_close_behind_a_password_check_still_gets_the_answer";
    let Some(file) = htpasswd_file(test, 12, &[("bob", "secret")]) else {
        return;
    };
    let server = STAGE.start_with(&["--htpasswd", &file, "--realm", "test realm"]);
    let mut client = server.connect();
    // One answer first, so that the server's side of the handshake is over before the write.
    assert_challenged(&client.request(&get("/notes.txt", "")), "no credentials");
    let requests = format!(
        "{}{}",
        get("/notes.txt", &basic_auth("bob:wrong")),
        get("/style.css", &basic_auth("bob:secret"))
    );
    one_write(&mut client, requests.as_bytes(), true, true);
    assert_challenged(&client.response(false), "bob:wrong");
    let right = client.response(false);
    assert_eq!(right.status, 200, "{}", right.status_line);
    assert_eq!(right.body, typed_file("style.css"));
    assert!(
        client.is_closed(),
        "the connection closes after the last answer"
    );
}

/// A graceful stop while a password check is outstanding: the connection waiting for its
/// verdict is in flight, not idle, so it gets its answer (with `Connection: close`) before
/// the server exits, cleanly.
#[test]
fn a_graceful_stop_waits_for_an_outstanding_password_check() {
    let test = "a_graceful_stop_waits_for_an_outstanding_password_check";
    let Some(file) = htpasswd_file(test, 12, &[("bob", "secret")]) else {
        return;
    };
    let mut server = STAGE.start_with(&["--htpasswd", &file, "--realm", "test realm"]);
    let mut waiting = server.connect();
    waiting.handshake().expect("TLS handshake");
    waiting.send(get("/notes.txt", &basic_auth("bob:wrong")).as_bytes());
    // Another connection's answer, asked for after: the loop has read the first request
    // (and handed its check to a verifier) by the time this comes back.
    let mut other = server.connect();
    assert_challenged(&other.request(&get("/notes.txt", "")), "no credentials");
    assert!(nothing_received(&mut waiting), "the check was already over");
    sigterm(&server);
    let answer = waiting.response(false);
    assert_challenged(&answer, "after the stop");
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(waiting.is_closed());
    assert!(wait_exit(&mut server).success(), "{}", server.stderr());
}
