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
use common::{AccessLog, CommonArgs, GraceArgs, Site, TimeoutArgs};
use eventloop::http1::{Env, HttpOnly};
use eventloop::{Config, EventLoop, Plain};

/// Serve ROOT over plain HTTP/1.1 with eventloop's loop (one thread).
#[derive(Parser, Debug)]
#[command(name = "plain")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    #[command(flatten)]
    timeouts: TimeoutArgs,

    /// Stop accepting while N connections are open (the rest wait in the kernel's backlog)
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,

    /// --grace, as stage05's.
    #[command(flatten)]
    stop: GraceArgs,
}

fn main() {
    let args = Args::parse();
    common::setup::run_or_exit("plain", || {
        let site = Site::new(&args.common.root)
            .map_err(|e| format!("cannot use ROOT: {e}"))?
            .with_etags();
        let log = AccessLog::open(&args.common)?;
        // As stage05: 10,000 connections need 10,000 descriptors, and the usual soft limit is
        // 1024 (past it, accepting pauses on EMFILE).
        let _ = common::setup::raise_fd_limit();
        let listener = common::setup::bind(args.common.bind, args.common.port)?;
        let http = Env::new(site, log, &args.timeouts, "eventloop-plain");
        let config = Config {
            name: "plain",
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
            grace: args.stop.period(),
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
