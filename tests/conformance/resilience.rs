//! Clients that misbehave at the socket level: hanging up early, resetting, half-closing,
//! and thousands of connections in a row. The server must survive each and leak nothing.

use crate::support::{Stage, BIG_LEN};
use std::time::Duration;

#[macro_export]
macro_rules! resilience_behaviours {
    ($stage:expr) => {
        $crate::behaviours!($stage, resilience: [
            clients_resetting_mid_response_do_not_stop_the_server,
            a_download_cut_short_is_logged_with_the_bytes_sent,
            clients_hanging_up_mid_request_do_not_stop_the_server,
            half_closed_client_still_gets_its_answer,
            four_thousand_connections_leak_no_descriptors,
        ]);
    };
}

pub fn clients_resetting_mid_response_do_not_stop_the_server(stage: &Stage) {
    let mut server = stage.start();
    for _ in 0..20 {
        let mut client = server.connect();
        client.send(b"GET /big.bin HTTP/1.0\r\n\r\n");
        let mut first = [0u8; 1024];
        std::io::Read::read(&mut client.stream, &mut first).expect("first bytes");
        client.reset();
    }
    server.assert_alive();
    let response = server.get("/big.bin");
    assert_eq!(response.body.len(), BIG_LEN);
}

/// The access log says what a client got, not what it was promised (nginx's
/// `$body_bytes_sent`): a client that leaves a 10 MiB download after its first bytes is logged,
/// with fewer than 10 MiB. Whatever the socket buffers took is counted as sent; they hold a
/// few MiB on loopback at most, since this client reads only 64 KiB.
pub fn a_download_cut_short_is_logged_with_the_bytes_sent(stage: &Stage) {
    let mut server = stage.start();
    let mut client = server.connect();
    client.send(b"GET /big.bin HTTP/1.0\r\n\r\n");
    let mut first = vec![0u8; 64 * 1024];
    std::io::Read::read_exact(&mut client.stream, &mut first).expect("first bytes");
    client.reset();
    let logged = |log: &str| {
        log.lines()
            .find(|line| line.contains("\"GET /big.bin HTTP/1.0\""))
            .map(str::to_string)
    };
    assert!(
        server.wait_for(Duration::from_secs(10), || logged(&server.log()).is_some()),
        "the cut download was never logged; log: {}",
        server.log()
    );
    let line = logged(&server.log()).unwrap_or_default();
    // `... "GET /big.bin HTTP/1.0" 200 BYTES "-" "-"`
    let after = line.split("HTTP/1.0\" ").nth(1).unwrap_or_default();
    let mut fields = after.split(' ');
    assert_eq!(fields.next(), Some("200"), "{line}");
    let bytes: usize = fields.next().and_then(|b| b.parse().ok()).unwrap_or(0);
    assert!(
        (first.len()..BIG_LEN).contains(&bytes),
        "logged {bytes} bytes for a download cut after {} of {BIG_LEN}: {line}",
        first.len()
    );
    server.assert_alive();
    assert_eq!(server.get("/style.css").status, 200);
}

pub fn clients_hanging_up_mid_request_do_not_stop_the_server(stage: &Stage) {
    let mut server = stage.start();
    for partial in [
        "G",
        "GET /",
        "GET / HTTP/1.0\r\n",
        "GET / HTTP/1.0\r\nHost: a\r\n",
    ] {
        let mut client = server.connect();
        client.send(partial.as_bytes());
        drop(client);
        let mut client = server.connect();
        client.send(partial.as_bytes());
        client.reset();
    }
    server.assert_alive();
    assert_eq!(server.get("/style.css").status, 200);
}

pub fn half_closed_client_still_gets_its_answer(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    client.send(b"GET /style.css HTTP/1.0\r\n\r\n");
    client.half_close();
    let response = client.response(false);
    assert_eq!(response.body, b"body { color: #222; }\n");
}

pub fn four_thousand_connections_leak_no_descriptors(stage: &Stage) {
    let mut server = stage.start();
    assert_eq!(server.get("/style.css").status, 200);
    let before = server.open_fds();
    for i in 0..4000 {
        let mut client = server.connect();
        match i % 4 {
            // Hang up halfway through the head.
            0 => client.send(b"GET /style.css HTT"),
            // Reset halfway through the head.
            1 => {
                client.send(b"GET /style.css HTTP/1.0\r\nHo");
                client.reset();
                continue;
            }
            // A whole exchange.
            _ => {
                client.send(b"GET /style.css HTTP/1.0\r\n\r\n");
                assert_eq!(client.response(false).status, 200, "connection {i}");
            }
        }
    }
    server.assert_alive();
    // Closing is asynchronous on the server side: give it a moment to catch up.
    let settled = server.wait_for(Duration::from_secs(10), || server.open_fds() <= before + 2);
    assert!(
        settled,
        "descriptors grew from {before} to {}",
        server.open_fds()
    );
    assert_eq!(server.get("/style.css").status, 200);
}
