//! stage04 (stage03's connections served by a fixed pool of threads fed by a bounded queue)
//! against the conformance suite.
//!
//! It claims everything stage03 did, plus the pool group: a bounded number of threads,
//! 503 when the queue is full, idle keep-alive clients let go for queued ones, and a graceful
//! stop on SIGINT and SIGTERM. stage03's "a thread for each connection" is exactly what it
//! no longer does. It skips one stage03 behaviour, by design: stalled clients hold workers.

mod conformance;
mod support;

use support::Stage;

const STAGE: Stage = Stage::new("stage04").skipping(&[(
    "silent_clients_do_not_block_others",
    "a worker serves one connection at a time: stalled clients as many as the workers hold \
     them all, and an idle keep-alive client is let go when others queue (stage05's event \
     loop removes both limits)",
)]);

http10_behaviours!(crate::STAGE);
traversal_behaviours!(crate::STAGE);
filesystem_behaviours!(crate::STAGE);
limits_behaviours!(crate::STAGE);
resilience_behaviours!(crate::STAGE);
cli_behaviours!(crate::STAGE);
hostile_behaviours!(crate::STAGE);
keepalive_behaviours!(crate::STAGE);
pipelining_behaviours!(crate::STAGE);
pool_behaviours!(crate::STAGE);
