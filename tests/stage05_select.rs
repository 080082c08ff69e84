//! stage05's loop on select(2) (`cargo run -p stage05 --example select`) against the
//! conformance suite: the same HTTP and the same connection state machine as stage05, so the
//! same behaviours, less what the example leaves out: graceful shutdown (the pool group's stop
//! and the event loop's SIGTERM behaviour). Plus select's own limit: a descriptor numbered
//! FD_SETSIZE (1024) or more has no bit in an `fd_set`, so the connection that gets one is
//! answered 503 and closed, never watched.

mod conformance;
mod support;

use support::{Stage, READ_TIMEOUT};

/// What the example leaves out: graceful shutdown; and what select cannot do.
const SKIPS: &[(&str, &str)] = &[
    (
        "sigterm_lets_the_response_in_flight_finish",
        "no graceful shutdown in the example: SIGTERM stops it at once",
    ),
    (
        "absurd_grace_is_refused_at_parse_time",
        "no --grace in the example: it has no graceful stop",
    ),
    (
        "ten_thousand_idle_connections_and_still_serving",
        "select stops at FD_SETSIZE (1024): see past_fd_setsize_a_connection_gets_503_and_close",
    ),
];

const STAGE: Stage = Stage::new("stage05-select").skipping(SKIPS);

http10_behaviours!(crate::STAGE);
keepalive_behaviours!(crate::STAGE);
traversal_behaviours!(crate::STAGE);
limits_behaviours!(crate::STAGE);
resilience_behaviours!(crate::STAGE);
hostile_behaviours!(crate::STAGE);
cli_behaviours!(crate::STAGE);
pipelining_behaviours!(crate::STAGE);
eventloop_behaviours!(crate::STAGE);
filesystem_behaviours!(crate::STAGE);

const GET: &str = "GET /notes.txt HTTP/1.1\r\nHost: test\r\n\r\n";

#[test]
fn past_fd_setsize_a_connection_gets_503_and_close() {
    // About 1,020 client sockets here, on top of what the other tests hold.
    if let Err(why) = support::raise_fd_limit(4096) {
        eprintln!("skipping: {why}");
        return;
    }
    let mut server = STAGE.start();
    // Each connection proves it is served (a keep-alive 200) and stays open, until one is not.
    let mut open = Vec::new();
    let (mut refused, answer) = loop {
        assert!(
            open.len() < 1100,
            "1,100 connections served: select's limit never came"
        );
        let mut client = server.connect();
        let response = client.request(GET);
        match response.status {
            200 => open.push(client),
            503 => break (client, response),
            other => panic!("connection {}: {other}", open.len() + 1),
        }
    };
    // The server's own descriptors come first (0-2, the access log, the listener, and any the
    // environment let it inherit); connections have the rest, up to 1023.
    assert!(
        (1000..=1019).contains(&open.len()),
        "{} connections served before the refusal",
        open.len()
    );
    assert_eq!(answer.header("Connection"), Some("close"));
    assert_eq!(answer.header("Retry-After"), Some("1"));
    assert!(refused.is_closed(), "the refused connection stays open");
    // Said once on stderr, and logged (both reach us through other processes: wait a little).
    let said = server.wait_for(READ_TIMEOUT, || {
        server.stderr().contains("no bit in select's fd_set")
    });
    assert!(said, "stderr: {}", server.stderr());
    let logged = server.wait_for(READ_TIMEOUT, || server.log().contains("\" 503 88 "));
    assert!(logged, "the refusal is not in the access log");
    // The ones below the limit are untouched by it.
    server.assert_alive();
    assert_eq!(open[0].request(GET).status, 200);
    let last = open.len() - 1;
    assert_eq!(open[last].request(GET).status, 200);
    // One closes: its descriptor is free again, and a new connection is served. (The close
    // and our connect may land in the same turn of the loop, which accepts first, and on a
    // busy machine the loop may see the close turns later: so tries until READ_TIMEOUT, each
    // refused one answered at once with a 503.)
    drop(open.pop());
    let served = server.wait_for(READ_TIMEOUT, || server.connect().request(GET).status == 200);
    assert!(
        served,
        "no connection served after one below the limit closed"
    );
}
