//! stage03 (pipelined HTTP/1.1, answers to a batch coalesced, a thread per connection)
//! against the conformance suite.
//!
//! It claims everything stage02 did, plus pipelining: batches answered in order, split at
//! any byte, big answers streamed while the pipeline still arrives, memory bounded.

mod conformance;
mod support;

use support::Stage;

const STAGE: Stage = Stage::new("stage03");

http10_behaviours!(crate::STAGE);
traversal_behaviours!(crate::STAGE);
limits_behaviours!(crate::STAGE);
resilience_behaviours!(crate::STAGE);
cli_behaviours!(crate::STAGE);
hostile_behaviours!(crate::STAGE);
keepalive_behaviours!(crate::STAGE);
pipelining_behaviours!(crate::STAGE);

/// The answers to a pipelined batch of small files leave together: they arrive in one read.
/// (Loopback delivers one write as one segment of up to 64 KiB, so a server writing each
/// answer on its own shows up here as several reads.)
#[test]
fn a_batch_is_answered_in_one_write() {
    use std::io::Read;
    let server = STAGE.start();
    let mut client = server.connect();
    let request = "GET /style.css HTTP/1.1\r\nHost: test\r\n\r\n";
    let batch = request.repeat(16);
    client.send(batch.as_bytes());
    let mut got = vec![0u8; 64 * 1024];
    let n = client.stream.read(&mut got).expect("read the answers");
    let answers = got[..n]
        .windows(b"HTTP/1.1 200 OK".len())
        .filter(|w| *w == b"HTTP/1.1 200 OK")
        .count();
    assert_eq!(answers, 16, "one read held {answers} of 16 answers");
}

/// A thread per connection, as in stage02: threads come and go with connections.
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
