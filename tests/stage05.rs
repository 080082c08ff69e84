//! stage05 (one thread, epoll, connection state machines) against the conformance suite.
//!
//! It claims everything the blocking stages do (files, traversal, limits, resilience, hostile
//! input, the command line, keep-alive, pipelining, the pool group's graceful stop) plus the
//! event loop's own group: thousands of connections on one thread, deadlines without threads,
//! bounded memory, and graceful shutdown. The pool group's `--threads`/`--queue` behaviours are
//! skipped: there is no pool.

mod conformance;
mod support;

use support::Stage;

const STAGE: Stage = Stage::new("stage05").skipping(support::NO_POOL);

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
