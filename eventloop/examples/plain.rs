//! The library's plain transport serving a folder over HTTP/1.1 in the clear: stage05's
//! behaviour on eventloop's loop, in 80 lines of wiring.
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
use common::cache::FileCache;
use common::{AccessLog, CommonArgs, DateCache, Site, TimeoutArgs};
use eventloop::http1::{Env, Http1, HttpService};
use eventloop::{Config, EventLoop, Plain, Service, Session, Turn};
use std::net::IpAddr;
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

struct Files {
    http: Env,
}

impl Service<Plain> for Files {
    type Message = ();

    fn open(&mut self, peer: IpAddr, turn: &Turn) -> Box<dyn Session<Plain, Files>> {
        Box::new(Http1::new(peer, turn.now))
    }
}

impl HttpService<Plain> for Files {
    fn http(&mut self) -> &mut Env {
        &mut self.http
    }
}

fn main() {
    let args = Args::parse();
    common::setup::run_or_exit("plain", || {
        let site = Site::new(&args.common.root)
            .map_err(|e| format!("cannot use ROOT: {e}"))?
            .with_etags();
        let log = AccessLog::open(&args.common)?;
        let listener = common::setup::bind(args.common.bind, args.common.port)?;
        let turn = Turn::new();
        let http = Env {
            site,
            cache: FileCache::default(),
            log,
            dates: DateCache::default(),
            idle_timeout: args.timeouts.idle(),
            header_timeout: args.timeouts.header(),
            server: "eventloop-plain",
            switches: Vec::new(),
            now: turn.now,
            wall: turn.wall,
            draining: false,
        };
        let config = Config {
            name: "plain",
            max_connections: 10_000,
            grace: Duration::from_secs(10),
            signals: true,
        };
        let mut server = EventLoop::new(config, listener, (), Files { http })
            .map_err(|e| format!("cannot start the event loop: {e}"))?;
        let bound = server.listener().ok_or("no listener")?;
        println!(
            "{}",
            common::setup::startup_line("plain", &args.common, bound, "http")
        );
        server.run().map_err(|e| format!("event loop failed: {e}"))
    });
}
