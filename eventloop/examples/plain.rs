//! The library's plain transport serving a folder over HTTP/1.1 in the clear: stage05's
//! behaviour on eventloop's loop, in a few lines of wiring.
//!
//! It exists to be measured against stage05 (same flags, same site, same cache): the two
//! differ only in the loop, so `strace -c -f` on both under one httperf run shows what waiting
//! with epoll directly saves (see the "From a program to a library" chapter):
//!
//! ```text
//! cargo build --release -p eventloop --example plain
//! target/release/examples/plain 8080 ./www --quiet
//! ```

use clap::Parser;
use common::{AccessLog, CommonArgs, Site, TimeoutArgs};
use eventloop::http1::{Env, HttpOnly};
use eventloop::{Config, EventLoop, Plain};
use std::time::Duration;

/// Serve ROOT over plain HTTP/1.1 with eventloop's loop (one thread).
#[derive(Parser, Debug)]
#[command(name = "plain")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    #[command(flatten)]
    timeouts: TimeoutArgs,
}

fn main() {
    let args = Args::parse();
    common::setup::run_or_exit("plain", || {
        let site = Site::new(&args.common.root)
            .map_err(|e| format!("cannot use ROOT: {e}"))?
            .with_etags();
        let log = AccessLog::open(&args.common)?;
        let listener = common::setup::bind(args.common.bind, args.common.port)?;
        let http = Env::new(site, log, &args.timeouts, "eventloop-plain");
        let config = Config {
            name: "plain",
            max_connections: 10_000,
            grace: Duration::from_secs(10),
            signals: true,
        };
        let mut server: EventLoop<Plain, HttpOnly> =
            EventLoop::new(config, listener, (), HttpOnly { http })
                .map_err(|e| format!("cannot start the event loop: {e}"))?;
        let bound = server.listener().ok_or("no listener")?;
        println!(
            "{}",
            common::setup::startup_line("plain", &args.common, bound, "http")
        );
        server.run().map_err(|e| format!("event loop failed: {e}"))
    });
}
