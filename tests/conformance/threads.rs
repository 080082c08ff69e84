//! A thread per connection (stages 02 and 03): every open connection holds a thread, and the
//! thread goes when the connection does. stage04 replaces this with a bounded pool (the pool
//! group), stage05 with one thread for everyone (the eventloop group).

// Every stage's test binary compiles every group but calls only the groups it claims.
#![allow(dead_code)]

use crate::support::Stage;
use std::time::Duration;

#[macro_export]
macro_rules! threads_behaviours {
    ($stage:expr) => {
        $crate::behaviours!($stage, threads: [
            a_thread_for_each_connection,
        ]);
    };
}

/// Open connections show up as threads, and go away with them.
pub fn a_thread_for_each_connection(stage: &Stage) {
    let server = stage.start();
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
        server.wait_for(Duration::from_secs(10), || server.threads() <= baseline),
        "threads stayed: {}",
        server.threads()
    );
}
