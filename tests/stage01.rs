//! stage01 (simple HTTP/1.0, one connection at a time) against the conformance suite.
//!
//! It claims every group a stage01 can: serving files, traversal, limits, resilience and the
//! command line. Keep-alive, pipelining and timeouts begin with stage02 (their own groups).

mod conformance;
mod support;

use support::Stage;

const STAGE: Stage = Stage::new("stage01").skipping(&[
    (
        "absurd_timeouts_are_refused_at_parse_time",
        "no --idle-timeout or --header-timeout: one request per connection, read with fixed \
         socket timeouts",
    ),
    (
        "oversized_chunk_sizes_end_the_connection",
        "no --idle-timeout, and no request body is ever read: it answers and closes",
    ),
    (
        "absurd_grace_is_refused_at_parse_time",
        "no --grace: no graceful stop before stage04",
    ),
]);

http10_behaviours!(crate::STAGE);
traversal_behaviours!(crate::STAGE);
filesystem_behaviours!(crate::STAGE);
limits_behaviours!(crate::STAGE);
resilience_behaviours!(crate::STAGE);
cli_behaviours!(crate::STAGE);
hostile_behaviours!(crate::STAGE);

/// stage01 answers in HTTP/1.0 and closes after every response, whatever the client asked.
#[test]
fn answers_http10_and_always_closes() {
    let server = STAGE.start();
    let mut client = server.connect();
    client.send(b"GET /style.css HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n");
    let response = client.response(false);
    assert!(
        response.status_line.starts_with("HTTP/1.0 200 OK"),
        "{}",
        response.status_line
    );
    assert_eq!(response.header("Connection"), Some("close"));
    assert!(client.is_closed());
}
