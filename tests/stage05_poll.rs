//! stage05's loop on poll(2) (`cargo run -p stage05 --example poll`) against the conformance
//! suite: the same HTTP and the same connection state machine as stage05, so the same
//! behaviours, less what the example leaves out: graceful shutdown (the pool group's stop and
//! the event loop's SIGTERM behaviour). And no FD_SETSIZE: poll takes descriptors of any
//! number, as many as the process may open.

mod conformance;
mod support;

use support::Stage;

/// What the example leaves out: graceful shutdown.
const SKIPS: &[(&str, &str)] = &[
    (
        "sigterm_lets_the_response_in_flight_finish",
        "no graceful shutdown in the example: SIGTERM stops it at once",
    ),
    (
        "absurd_grace_is_refused_at_parse_time",
        "no --grace in the example: it has no graceful stop",
    ),
];

const STAGE: Stage = Stage::new("stage05-poll").skipping(SKIPS);

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
fn serves_connections_past_fd_setsize() {
    if let Err(why) = support::raise_fd_limit(4096) {
        eprintln!("skipping: {why}");
        return;
    }
    let mut server = STAGE.start();
    // 1,100 open at once: select's example refuses the ~1,020th, poll serves them all.
    let mut open = Vec::new();
    for i in 0..1100 {
        let mut client = server.connect();
        let response = client.request(GET);
        assert_eq!(response.status, 200, "connection {}", i + 1);
        assert_eq!(
            response.body,
            b"plain text, na\xc3\xafve \xe2\x86\x92 UTF-8\n"
        );
        open.push(client);
    }
    assert!(
        server.open_fds() > 1100,
        "{} descriptors",
        server.open_fds()
    );
    // The first and the last are both still open and served.
    assert_eq!(open[0].request(GET).status, 200);
    assert_eq!(open[1099].request(GET).status, 200);
    server.assert_alive();
}
