//! Stage 5: one thread, every connection. Non-blocking sockets and an epoll event loop.
//!
//! Stages 02 to 04 spend a thread on each connection, and a thread waiting on a socket is a
//! megabyte of stack and a scheduler entry doing nothing. Here one thread asks the kernel
//! (through the `polling` crate, which is epoll on Linux) "which of these 10,000 sockets can I
//! read or write *without waiting*?", does exactly that much for each, and asks again. Nothing
//! ever blocks, so nothing is ever stuck behind a slow client.
//!
//! This file is the loop: accepting, dispatching readiness to connections, timers, capacity
//! limits and graceful shutdown. `connection.rs` is one connection's state machine,
//! `timers.rs` the deadlines, `sendfile.rs` the zero-copy file path. What HTTP means is, as
//! always, `common`'s business, plus its small-file cache (`common::cache`).

mod connection;
mod sendfile;
mod timers;

use clap::Parser;
use common::cache::FileCache;
use common::{AccessLog, CommonArgs, DateCache, GraceArgs, Site, TimeoutArgs};
use connection::{Connection, Env, Interest, Outcome, Scratch};
use polling::{Event, Events, PollMode, Poller};
use std::io::{self, Read};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant, SystemTime};
use timers::{Owner, Timers};

/// A stage05 server: one thread, an event loop, thousands of connections.
#[derive(Parser, Debug)]
#[command(name = "stage05", version, about, after_help = common::cli::LIMITS_HELP)]
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

    /// --grace, shared from stage04 on.
    #[command(flatten)]
    stop: GraceArgs,
}

/// Poller keys: the listener, the signal pipe, then one per connection slot.
const LISTENER: usize = 0;
const SIGNALS: usize = 1;
const FIRST_CONNECTION: usize = 2;
/// Connections accepted per wake-up at most, so a flood of new ones cannot starve old ones.
const ACCEPT_BATCH: usize = 128;
/// Out of descriptors (EMFILE): stop accepting this long instead of spinning on the error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

fn main() {
    let args = Args::parse();
    common::setup::run_or_exit("stage05", || {
        common::setup::check_root(&args.common.root)?;
        let site = Site::new(&args.common.root)
            .map_err(|e| format!("cannot use ROOT: {e}"))?
            .with_etags();
        let log = AccessLog::open(&args.common)?;
        // 10,000 connections need 10,000 descriptors; the usual soft limit is 1024.
        let fd_limit = common::setup::raise_fd_limit().unwrap_or(1024);
        let listener = common::setup::bind(args.common.bind, args.common.port)?;
        let mut server = Server::new(&args, site, log, listener)
            .map_err(|e| format!("cannot start the event loop: {e}"))?;
        println!(
            "{}",
            common::setup::startup_line("stage05", &args.common, server.listener()?, "http")
        );
        if fd_limit < args.max_connections + 64 {
            eprintln!(
                "stage05: note: {fd_limit} descriptors allowed; accepting pauses when they run out"
            );
        }
        server.run().map_err(|e| format!("event loop failed: {e}"))
    });
}

/// The event loop and everything it owns.
struct Server {
    poller: Poller,
    /// `None` once shutdown has begun: new connections are refused by the kernel.
    listener: Option<TcpListener>,
    /// Whether the listener is registered for readiness (off while at capacity or backing off).
    accepting: bool,
    /// Accepting was paused by EMFILE and resumes at this time.
    accept_resumes: Option<Instant>,
    /// The read end of the self-pipe that signal handlers write to (see `signals`).
    signals: UnixStream,
    signals_seen: usize,
    /// Connections by slot; a closed connection's slot is reused (see `free`).
    slots: Vec<Option<Connection>>,
    free: Vec<usize>,
    live: usize,
    next_serial: u64,
    max_connections: usize,
    timers: Timers,
    /// When shutdown gives up on the connections still open.
    grace_ends: Option<Instant>,
    grace: Duration,
    env: Env,
    scratch: Scratch,
}

impl Server {
    fn new(args: &Args, site: Site, log: AccessLog, listener: TcpListener) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        let poller = Poller::new()?;
        let signals = signals()?;
        // SAFETY (both): `polling` requires that a registered source is deleted from the
        // poller before it is closed. The listener and the signal pipe live as long as the
        // poller; connections are deleted in `close` before they are dropped.
        unsafe {
            poller.add_with_mode(&listener, Event::readable(LISTENER), PollMode::Level)?;
            poller.add_with_mode(&signals, Event::readable(SIGNALS), PollMode::Level)?;
        }
        let now = Instant::now();
        Ok(Server {
            poller,
            listener: Some(listener),
            accepting: true,
            accept_resumes: None,
            signals,
            signals_seen: 0,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            next_serial: 0,
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
            timers: Timers::default(),
            grace_ends: None,
            grace: args.stop.period(),
            env: Env {
                server: "stage05",
                site,
                cache: FileCache::default(),
                log,
                dates: DateCache::default(),
                idle_timeout: args.timeouts.idle(),
                header_timeout: args.timeouts.header(),
                now,
                wall: SystemTime::now(),
                draining: false,
            },
            scratch: Scratch::new(),
        })
    }

    fn listener(&self) -> Result<&TcpListener, String> {
        self.listener
            .as_ref()
            .ok_or_else(|| "no listener".to_string())
    }

    // ANCHOR: run
    /// The loop: wait for readiness or the nearest deadline, handle what came, repeat.
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::new();
        loop {
            let timeout = self
                .next_deadline()
                .map(|at| at.saturating_duration_since(Instant::now()));
            events.clear();
            self.poller.wait(&mut events, timeout)?;
            // One clock reading per turn serves every connection in it.
            self.env.now = Instant::now();
            self.env.wall = SystemTime::now();
            for event in events.iter() {
                match event.key {
                    LISTENER => {
                        self.accept();
                    }
                    SIGNALS => self.on_signal(),
                    key => self.on_ready(key - FIRST_CONNECTION),
                }
            }
            self.expire_timers();
            self.resume_accepting_if_due();
            if let Some(grace_ends) = self.grace_ends {
                if self.live == 0 {
                    return Ok(());
                }
                if self.env.now >= grace_ends {
                    // Not a clean stop: say so, and in the exit code (as stage04 does).
                    eprintln!(
                        "stage05: grace period over; cutting off {} connection(s)",
                        self.live
                    );
                    std::process::exit(1);
                }
            }
        }
    }
    // ANCHOR_END: run

    /// The soonest moment the loop must wake even if no socket is ready.
    fn next_deadline(&self) -> Option<Instant> {
        [self.timers.next(), self.accept_resumes, self.grace_ends]
            .into_iter()
            .flatten()
            .min()
    }

    // ANCHOR: on_ready
    /// A connection's socket is ready: let it run, then do what it asks.
    fn on_ready(&mut self, slot: usize) {
        // It may have been closed earlier in this same batch of events.
        let Some(Some(connection)) = self.slots.get_mut(slot) else {
            return;
        };
        let outcome = connection.ready(&mut self.scratch, &mut self.env);
        // The shared output buffer is empty after every turn, whatever happened.
        self.scratch.output.clear();
        self.apply(slot, outcome);
    }

    /// Carries out an [`Outcome`]: change what the poller watches for, move the deadline,
    /// or close. Each change of interest is a system call, so it is made only when needed.
    fn apply(&mut self, slot: usize, outcome: Outcome) {
        let Some(Some(connection)) = self.slots.get_mut(slot) else {
            return;
        };
        match outcome {
            Outcome::Wait { interest, deadline } => {
                if interest != connection.interest {
                    let key = slot + FIRST_CONNECTION;
                    let event = match interest {
                        Interest::Read => Event::readable(key),
                        Interest::Write => Event::writable(key),
                    };
                    let changed =
                        self.poller
                            .modify_with_mode(&connection.stream, event, PollMode::Level);
                    if changed.is_err() {
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
    // ANCHOR_END: on_ready

    // ANCHOR: accept
    /// Accepts what is waiting, up to a batch, while below `--max-connections`. Returns true
    /// when it stopped only because the batch was used up (more may be waiting).
    fn accept(&mut self) -> bool {
        for _ in 0..ACCEPT_BATCH {
            if self.live >= self.max_connections {
                // At capacity: stop listening for readiness (or the level-triggered listener
                // would wake us forever). Closing a connection turns it back on.
                self.set_accepting(false);
                return false;
            }
            let Some(listener) = &self.listener else {
                return false;
            };
            match listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer.ip()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if out_of_resources(&e) => {
                    // EMFILE: the connection stays in the backlog and the listener stays
                    // readable. Retrying now would spin; pause, and try again a bit later.
                    self.set_accepting(false);
                    self.accept_resumes = Some(self.env.now + ACCEPT_BACKOFF);
                    return false;
                }
                // ECONNABORTED and the like: that one connection's problem.
                Err(_) => {}
            }
        }
        true
    }

    /// Registers a new connection and gives it its first deadline.
    fn admit(&mut self, stream: TcpStream, peer: IpAddr) {
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        // Responses go out in one write each; there is nothing for Nagle to coalesce, only
        // latency to add when a file follows its head.
        let _ = stream.set_nodelay(true);
        let slot = self.free.pop().unwrap_or(self.slots.len());
        // SAFETY: see `Server::new`; `close` deletes it before the stream is dropped.
        let added = unsafe {
            self.poller.add_with_mode(
                &stream,
                Event::readable(slot + FIRST_CONNECTION),
                PollMode::Level,
            )
        };
        if added.is_err() {
            if slot < self.slots.len() {
                self.free.push(slot);
            }
            return;
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
    // ANCHOR_END: accept

    fn close(&mut self, slot: usize) {
        let Some(mut connection) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let _ = self.poller.delete(&connection.stream);
        // A file cut off halfway is logged now, with what it got.
        connection.log_file_sent(&self.env.log);
        drop(connection);
        self.free.push(slot);
        self.live -= 1;
        if self.live < self.max_connections && self.accept_resumes.is_none() {
            self.set_accepting(true);
        }
    }

    fn set_accepting(&mut self, on: bool) {
        let Some(listener) = &self.listener else {
            return;
        };
        if self.accepting == on {
            return;
        }
        let event = if on {
            Event::readable(LISTENER)
        } else {
            Event::none(LISTENER)
        };
        if self
            .poller
            .modify_with_mode(listener, event, PollMode::Level)
            .is_ok()
        {
            self.accepting = on;
        }
    }

    fn resume_accepting_if_due(&mut self) {
        if self.accept_resumes.is_some_and(|at| self.env.now >= at) {
            self.accept_resumes = None;
            if self.live < self.max_connections {
                self.set_accepting(true);
            }
        }
    }

    // ANCHOR: expire
    /// Ends every connection whose deadline has passed: idle too long, a head dripping in too
    /// slowly (it gets a 408 first), a client not reading its response, a lingering close
    /// that ran out.
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
        // Closed connections leave stale entries; don't let them pile up under churn.
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
    // ANCHOR_END: expire

    // ANCHOR: shutdown
    /// A signal arrived (through the self-pipe). The first starts a graceful shutdown; the
    /// second ends the process at once.
    fn on_signal(&mut self) {
        let mut bytes = [0u8; 64];
        while let Ok(n) = self.signals.read(&mut bytes) {
            if n == 0 {
                break;
            }
            self.signals_seen += n;
        }
        if self.signals_seen >= 2 {
            eprintln!("stage05: stopping now");
            std::process::exit(130);
        }
        if self.signals_seen == 1 && self.grace_ends.is_none() {
            self.begin_shutdown();
        }
    }

    /// Stop accepting (the listener closes, so new clients are refused at once), close idle
    /// connections, and let the rest finish the response they are on, up to `--grace`.
    fn begin_shutdown(&mut self) {
        // Clients that connected before the signal are in flight too, even if the loop has not
        // got round to them: take them from the backlog, then close the listener.
        while self.accept() {}
        if let Some(listener) = self.listener.take() {
            let _ = self.poller.delete(&listener);
        }
        self.env.draining = true;
        self.grace_ends = Some(self.env.now + self.grace);
        // Idle means nothing in flight on either side: no state of ours, no unread request.
        let idle: Vec<usize> = (0..self.slots.len())
            .filter(|&slot| matches!(&self.slots[slot], Some(c) if c.is_idle() && !c.has_unread_bytes()))
            .collect();
        for slot in idle {
            self.close(slot);
        }
        eprintln!(
            "stage05: stopping: finishing {} connection(s) for at most {} s (again to stop now)",
            self.live,
            self.grace.as_secs()
        );
    }
    // ANCHOR_END: shutdown
}

/// Registers SIGINT and SIGTERM to write a byte into a socket pair, and returns its read end.
/// A signal handler may do almost nothing safely, but it may write to a descriptor, and a
/// descriptor is something the event loop can wait on: the self-pipe trick.
fn signals() -> io::Result<UnixStream> {
    let (read_end, write_end) = UnixStream::pair()?;
    read_end.set_nonblocking(true)?;
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::low_level::pipe::register(signal, write_end.try_clone()?)?;
    }
    Ok(read_end)
}

/// accept(2) errors that say "the process or system is out of something", not "that client
/// went away": retrying at once would fail the same way.
fn out_of_resources(e: &io::Error) -> bool {
    const ENOMEM: i32 = 12;
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    const ENOBUFS: i32 = 105;
    matches!(e.raw_os_error(), Some(ENOMEM | ENFILE | EMFILE | ENOBUFS))
}
