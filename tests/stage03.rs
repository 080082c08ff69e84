//! stage03 (pipelined HTTP/1.1, answers to a batch coalesced, a thread per connection)
//! against the conformance suite.
//!
//! It claims everything stage02 did, plus pipelining: batches answered in order, split at
//! any byte, big answers streamed while the pipeline still arrives, memory bounded.

mod conformance;
mod support;

use support::Stage;

const STAGE: Stage = Stage::new("stage03").skipping(&[(
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
pipelining_behaviours!(crate::STAGE);
