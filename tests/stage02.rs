//! stage02 (persistent HTTP/1.1 connections, a thread per connection) against the
//! conformance suite.
//!
//! It claims everything stage01 did (an HTTP/1.0 request without keep-alive still closes, so
//! those behaviours mean the same here) plus keep-alive, framing of request bodies and the
//! idle and header timeouts. Pipelining, answered in batches, is stage03's group.

mod conformance;
mod support;

use support::Stage;

const STAGE: Stage = Stage::new("stage02").skipping(&[(
    "absurd_grace_is_refused_at_parse_time",
    "no --grace: no graceful stop before stage04",
)]);

http10_behaviours!(crate::STAGE);
traversal_behaviours!(crate::STAGE);
filesystem_behaviours!(crate::STAGE);
limits_behaviours!(crate::STAGE);
resilience_behaviours!(crate::STAGE);
cli_behaviours!(crate::STAGE);
hostile_behaviours!(crate::STAGE);
keepalive_behaviours!(crate::STAGE);
threads_behaviours!(crate::STAGE);
