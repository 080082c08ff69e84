//! stage02 (persistent HTTP/1.1 connections, a thread per connection) against the
//! conformance suite.
//!
//! It claims everything stage01 did (an HTTP/1.0 request without keep-alive still closes, so
//! those behaviours mean the same here) plus keep-alive, framing of request bodies and the
//! idle and header timeouts. Pipelining, answered in batches, is stage03's group.

mod conformance;
mod support;

use support::Stage;

const STAGE: Stage = Stage::new("stage02");

http10_behaviours!(crate::STAGE);
traversal_behaviours!(crate::STAGE);
limits_behaviours!(crate::STAGE);
resilience_behaviours!(crate::STAGE);
cli_behaviours!(crate::STAGE);
hostile_behaviours!(crate::STAGE);
keepalive_behaviours!(crate::STAGE);

/// A thread per connection: open connections show up as threads, and go away with them.
#[test]
fn a_thread_for_each_connection() {
    let server = STAGE.start();
    let baseline = server.threads();
    let mut clients: Vec<_> = (0..40).map(|_| server.connect()).collect();
    for client in &mut clients {
        client.send(b"GET /style.css HTTP/1.1\r\nHost: test\r\n\r\n");
        assert_eq!(client.response(false).status, 200);
    }
    assert!(
        server.threads() >= baseline + 40,
        "{} threads for 40 connections",
        server.threads()
    );
    drop(clients);
    assert!(
        server.wait_for(std::time::Duration::from_secs(10), || server.threads()
            <= baseline),
        "threads stayed: {}",
        server.threads()
    );
}
