//! The event loop that the `select` and `poll` examples share: stage05's loop with the
//! readiness API behind a small trait, so that each example is only that API.
//!
//! Everything else is stage05's own code: the connection state machine, the timers and
//! sendfile are its `src/` files, included by `#[path]` in each example; this loop is
//! `src/main.rs`'s `Server` with `polling::Poller` replaced by [`Readiness`]. Left out, to keep
//! the lesson small: graceful shutdown (Ctrl-C stops an example at once; stage05 has `--grace`).

use crate::connection::{Connection, Env, Interest, Outcome, Scratch};
use crate::timers::{Owner, Timers};
use clap::{CommandFactory, FromArgMatches, Parser};
use common::cache::FileCache;
use common::{
    AccessLog, Body, CommonArgs, Connection as Persistence, DateCache, Response, Site, Status,
    TimeoutArgs, Version,
};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant, SystemTime};

// ANCHOR: readiness
/// What the loop asks of a readiness API.
///
/// stage05 gets this from `polling`, which is epoll: there `watch` and `forget` are
/// `epoll_ctl` calls that edit a list *the kernel keeps*, and `wait` is one `epoll_wait` that
/// returns only the descriptors that are ready. select and poll keep no list in the kernel:
/// the examples keep it in user space, and every `wait` hands the kernel all of it, ready or
/// not, and then looks through all of it for the few that are.
pub trait Readiness: Sized {
    /// One with nothing watched yet.
    fn new() -> io::Result<Self>;
    /// Watches `fd` for `interest` (`None`: for nothing, for now) and reports it as `key`.
    /// Called again with the same key to change the interest. An error means it cannot be
    /// watched at all (select: a descriptor numbered `FD_SETSIZE` or more).
    fn watch(&mut self, key: usize, fd: RawFd, interest: Option<Interest>) -> io::Result<()>;
    /// Stops watching `key` (its descriptor is about to be closed).
    fn forget(&mut self, key: usize);
    /// Sleeps until a watched descriptor is ready or `timeout` passes, then pushes the keys of
    /// the ready ones onto `ready`. (A signal cutting the wait short is not an error.)
    fn wait(&mut self, ready: &mut Vec<usize>, timeout: Option<Duration>) -> io::Result<()>;
}
// ANCHOR_END: readiness

/// The example's command line: stage05's, less `--grace` (no graceful shutdown here).
#[derive(Parser, Debug)]
#[command(version, about = "stage05's loop on an older readiness API", after_help = common::cli::LIMITS_HELP)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    /// --idle-timeout and --header-timeout, shared from stage02 on.
    #[command(flatten)]
    timeouts: TimeoutArgs,

    /// Stop accepting while N connections are open (the rest wait in the kernel's backlog)
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
}

/// Keys: the listener, then one per connection slot.
const LISTENER: usize = 0;
const FIRST_CONNECTION: usize = 1;
/// As in stage05: accepts per wake-up at most, and the pause after EMFILE.
const ACCEPT_BATCH: usize = 128;
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Parses the command line and runs the loop on `R`; `name` is the program's name, in its
/// usage line, its startup line and every response's `Server` field.
pub fn main<R: Readiness>(name: &'static str) {
    let matches = Args::command().name(name).bin_name(name).get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    common::setup::run_or_exit(name, || {
        common::setup::check_root(&args.common.root)?;
        let site = Site::new(&args.common.root)
            .map_err(|e| format!("cannot use ROOT: {e}"))?
            .with_etags();
        let log = AccessLog::open(&args.common)?;
        // poll needs it for 10,000 connections; select needs it to *accept* a descriptor past
        // FD_SETSIZE, and so to refuse it with a 503 rather than leave it in the backlog.
        let _ = common::setup::raise_fd_limit();
        let listener = common::setup::bind(args.common.bind, args.common.port)?;
        let mut server = Server::<R>::new(name, &args, site, log, listener)
            .map_err(|e| format!("cannot start the event loop: {e}"))?;
        println!(
            "{}",
            common::setup::startup_line(name, &args.common, &server.listener, "http")
        );
        server.run().map_err(|e| format!("event loop failed: {e}"))
    });
}

/// The event loop and everything it owns (stage05's `Server`, less the shutdown fields).
struct Server<R> {
    poller: R,
    listener: TcpListener,
    accepting: bool,
    accept_resumes: Option<Instant>,
    slots: Vec<Option<Connection>>,
    free: Vec<usize>,
    live: usize,
    next_serial: u64,
    max_connections: usize,
    timers: Timers,
    env: Env,
    scratch: Scratch,
    /// Whether the first refusal has been reported on stderr.
    warned: bool,
}

impl<R: Readiness> Server<R> {
    fn new(
        name: &'static str,
        args: &Args,
        site: Site,
        log: AccessLog,
        listener: TcpListener,
    ) -> io::Result<Server<R>> {
        listener.set_nonblocking(true)?;
        let mut poller = R::new()?;
        poller.watch(LISTENER, listener.as_raw_fd(), Some(Interest::Read))?;
        Ok(Server {
            poller,
            listener,
            accepting: true,
            accept_resumes: None,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            next_serial: 0,
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
            timers: Timers::default(),
            env: Env {
                server: name,
                site,
                cache: FileCache::default(),
                log,
                dates: DateCache::default(),
                idle_timeout: args.timeouts.idle(),
                header_timeout: args.timeouts.header(),
                now: Instant::now(),
                wall: SystemTime::now(),
                draining: false,
            },
            scratch: Scratch::new(),
            warned: false,
        })
    }

    // ANCHOR: run
    /// stage05's loop: wait for readiness or the nearest deadline, handle what came, repeat.
    fn run(&mut self) -> io::Result<()> {
        let mut ready = Vec::new();
        loop {
            let timeout = [self.timers.next(), self.accept_resumes]
                .into_iter()
                .flatten()
                .min()
                .map(|at| at.saturating_duration_since(Instant::now()));
            self.poller.wait(&mut ready, timeout)?;
            self.env.now = Instant::now();
            self.env.wall = SystemTime::now();
            for key in ready.drain(..) {
                match key {
                    LISTENER => self.accept(),
                    key => self.on_ready(key - FIRST_CONNECTION),
                }
            }
            self.expire_timers();
            if self.accept_resumes.is_some_and(|at| self.env.now >= at) {
                self.accept_resumes = None;
                self.set_accepting(self.live < self.max_connections);
            }
        }
    }
    // ANCHOR_END: run

    fn on_ready(&mut self, slot: usize) {
        let Some(Some(connection)) = self.slots.get_mut(slot) else {
            return;
        };
        let outcome = connection.ready(&mut self.scratch, &mut self.env);
        self.scratch.output.clear();
        self.apply(slot, outcome);
    }

    /// Carries out an [`Outcome`]: a new interest, a new deadline, or the end.
    fn apply(&mut self, slot: usize, outcome: Outcome) {
        let Some(Some(connection)) = self.slots.get_mut(slot) else {
            return;
        };
        match outcome {
            Outcome::Wait { interest, deadline } => {
                if interest != connection.interest {
                    let fd = connection.stream.as_raw_fd();
                    let key = slot + FIRST_CONNECTION;
                    if self.poller.watch(key, fd, Some(interest)).is_err() {
                        return self.close(slot);
                    }
                    connection.interest = interest;
                }
                let owner = Owner {
                    slot,
                    serial: connection.serial,
                };
                self.timers.set(&mut connection.timer, owner, deadline);
            }
            Outcome::Close => self.close(slot),
        }
    }

    /// Accepts what is waiting, up to a batch, while below `--max-connections`.
    fn accept(&mut self) {
        for _ in 0..ACCEPT_BATCH {
            if self.live >= self.max_connections {
                self.set_accepting(false);
                return;
            }
            match self.listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer.ip()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if out_of_resources(&e) => {
                    self.set_accepting(false);
                    self.accept_resumes = Some(self.env.now + ACCEPT_BACKOFF);
                    return;
                }
                Err(_) => {}
            }
        }
    }

    // ANCHOR: admit
    /// Watches a new connection and gives it its first deadline; one the readiness API cannot
    /// watch (select: its descriptor is `FD_SETSIZE` or more) is refused with a 503 instead.
    fn admit(&mut self, stream: TcpStream, peer: IpAddr) {
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let slot = self.free.pop().unwrap_or(self.slots.len());
        let key = slot + FIRST_CONNECTION;
        if let Err(e) = self
            .poller
            .watch(key, stream.as_raw_fd(), Some(Interest::Read))
        {
            if slot < self.slots.len() {
                self.free.push(slot);
            }
            return self.refuse(stream, peer, &e);
        }
        self.next_serial += 1;
        let mut connection = Connection::new(stream, peer, self.next_serial, self.env.now);
        let owner = Owner {
            slot,
            serial: connection.serial,
        };
        let deadline = connection.first_deadline(&self.env);
        self.timers.set(&mut connection.timer, owner, deadline);
        if slot == self.slots.len() {
            self.slots.push(Some(connection));
        } else {
            self.slots[slot] = Some(connection);
        }
        self.live += 1;
    }
    // ANCHOR_END: admit

    // ANCHOR: refuse
    /// Answers a connection we cannot watch with `503 Service Unavailable` and closes it. The
    /// socket is new, so the small answer fits its send buffer in one non-blocking write; what
    /// the client already sent is read first, so that closing does not reset the answer away.
    fn refuse(&mut self, mut stream: TcpStream, peer: IpAddr, why: &io::Error) {
        let response =
            Response::refuse(Status::SERVICE_UNAVAILABLE).with_header("Retry-After", "1");
        let mut out = Vec::with_capacity(512);
        let date = self.env.dates.get(self.env.wall);
        response.write_head(
            &mut out,
            Version::Http11,
            Persistence::Close,
            date,
            self.env.server,
        );
        if let Body::Bytes(bytes) = &response.body {
            out.extend_from_slice(bytes);
        }
        let mut scratch = [0u8; 4096];
        while matches!(stream.read(&mut scratch), Ok(n) if n > 0) {}
        let _ = stream.write(&out);
        let _ = stream.shutdown(Shutdown::Write);
        let (status, sent) = (Status::SERVICE_UNAVAILABLE, response.body_len());
        self.env
            .log
            .record(peer, self.env.wall, None, None, status, sent);
        if !self.warned {
            // Once: a flood of refusals must not become a flood on stderr.
            eprintln!("{}: refusing connections with 503: {why}", self.env.server);
            self.warned = true;
        }
    }
    // ANCHOR_END: refuse

    fn close(&mut self, slot: usize) {
        let Some(mut connection) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        // Forgotten before the descriptor closes: the number may come back at the next accept.
        self.poller.forget(slot + FIRST_CONNECTION);
        connection.log_file_sent(&self.env.log);
        drop(connection);
        self.free.push(slot);
        self.live -= 1;
        if self.accept_resumes.is_none() {
            self.set_accepting(true);
        }
    }

    fn set_accepting(&mut self, on: bool) {
        if self.accepting == on {
            return;
        }
        let interest = on.then_some(Interest::Read);
        let fd = self.listener.as_raw_fd();
        if self.poller.watch(LISTENER, fd, interest).is_ok() {
            self.accepting = on;
        }
    }

    /// Ends every connection whose deadline has passed (stage05's `expire_timers`).
    fn expire_timers(&mut self) {
        let now = self.env.now;
        while let Some((at, owner)) = self.timers.pop_due(now) {
            let Some(Some(connection)) = self.slots.get_mut(owner.slot) else {
                continue;
            };
            if connection.serial == owner.serial
                && self.timers.fire(&mut connection.timer, owner, at, now)
            {
                let outcome = connection.timed_out(&mut self.scratch, &mut self.env);
                self.scratch.output.clear();
                self.apply(owner.slot, outcome);
            }
        }
        if self.timers.len() > 2 * self.live + 1024 {
            let live = self.slots.iter_mut().enumerate().filter_map(|(slot, c)| {
                let connection = c.as_mut()?;
                let owner = Owner {
                    slot,
                    serial: connection.serial,
                };
                Some((&mut connection.timer, owner))
            });
            self.timers.rebuild(live);
        }
    }
}

/// accept(2) errors that say "out of something", not "that client went away" (as stage05).
fn out_of_resources(e: &io::Error) -> bool {
    const ENOMEM: i32 = 12;
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    const ENOBUFS: i32 = 105;
    matches!(e.raw_os_error(), Some(ENOMEM | ENFILE | EMFILE | ENOBUFS))
}
