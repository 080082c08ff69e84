//! The conformance suite: every behaviour written once, run against every stage that claims it.
//!
//! Like Crafting Interpreters' test suite, a behaviour is a plain function taking the
//! [`Stage`](crate::support::Stage) under test. Each group module lists its behaviours in a
//! macro; a stage's test file invokes the macros of the groups it claims, which expands to one
//! `#[test]` per behaviour. Stage N claims what stage N-1 did, plus its own groups.

pub mod cli;
pub mod eventloop;
pub mod filesystem;
pub mod h2;
pub mod h2_frames;
pub mod hostile;
pub mod http10;
pub mod keepalive;
pub mod limits;
pub mod pipelining;
pub mod pool;
pub mod precompressed;
pub mod resilience;
pub mod threads;
pub mod traversal;
pub mod ws;

/// Expands to `mod $group { #[test] fn behaviour() ... }` for the listed behaviours.
#[macro_export]
macro_rules! behaviours {
    ($stage:expr, $group:ident: [$($test:ident),* $(,)?]) => {
        mod $group {
            $(
                #[test]
                fn $test() {
                    $stage.run(stringify!($test), $crate::conformance::$group::$test)
                }
            )*
        }
    };
}
