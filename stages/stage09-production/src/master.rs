//! The master: binds every listener, reads the config and the certificates, starts the
//! workers and keeps them running, writes the access log, and answers signals. It never
//! serves a request, so nothing a client sends can reach it.
//!
//! Workers are fresh processes of this same binary (`stage09 --worker`): `fork` then `exec`,
//! which `std::process::Command` does, with the listening sockets placed at descriptors 3, 4,
//! ... in the child between the two (`pre_exec`). A bare `fork` of a process that has threads
//! copies only the calling thread, and every lock another thread held stays locked for ever in
//! the child; `exec` starts clean. (Why not threads? `worker_mode = "threads"` is that: one
//! worker process running N loops. Processes cost more memory and buy isolation: a crash, or a
//! bug that corrupts memory, takes one worker, and the master starts another.)
//!
//! The master's own loop is `poll(2)` over a handful of descriptors: the signal self-pipe and,
//! per worker, its control socket, its log pipe and its error pipe. It wakes at least every
//! 100 ms to reap and replace workers that died.
//!
//! Signals, as nginx users expect them:
//! - TERM, INT: graceful stop. With `timeouts.lame_duck` set, the workers first serve on,
//!   `/healthz` saying 503, for that long (the master tells them with USR2, a signal between
//!   it and its children only; a person sends the master TERM): a load balancer's checks
//!   take the instance out of rotation while it still answers all they send. Then the master
//!   closes its listeners and sends TERM to every worker; each stops accepting, finishes what
//!   is in flight (up to `timeouts.grace`), and exits. A second TERM in the lame-duck phase
//!   cuts it short (the graceful stop begins); one during the stop ends everything at once.
//! - HUP: reload. Read and check the config again; if it is bad, say why and keep serving with
//!   the old one. If it is good, start a new generation of workers on the (re)bound listeners,
//!   and once every one of them is ready, TERM the old generation, which drains. The listening
//!   sockets are the same kernel objects throughout, so a client connecting during a reload
//!   lands in the backlog that somebody is accepting from: nobody is refused.
//! - USR1: reopen the logs (after logrotate has renamed them).

use crate::config::{self, Config, Loaded, Source};
use crate::logs::{say, Lines, LogFile};
use crate::metrics::Shared;
use crate::worker::{Plan, FIRST_LISTENER, METRICS_FD};
use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, Signal};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The master wakes at least this often to reap and replace workers.
const TICK: Duration = Duration::from_millis(100);
/// A worker that dies sooner than this after starting is restarted after `RESTART_DELAY`, not
/// at once: a worker that cannot start must not become a fork loop.
const QUICK_DEATH: Duration = Duration::from_secs(1);
const RESTART_DELAY: Duration = Duration::from_millis(250);
/// Listening descriptors are kept at or above this number in the master, so that placing them
/// at 3, 4, ... in a child can never overwrite one not yet placed.
const HIGH_FD: RawFd = 64;

/// Where the configuration comes from, so that a reload can read it again.
pub enum Origin {
    File(PathBuf),
    /// Built from the command line: a reload re-checks it (certificates, users) as it is.
    CommandLine(Box<Config>),
}

impl Origin {
    fn load(&self) -> Result<(Config, Loaded), String> {
        match self {
            Origin::File(path) => config::load_file(path),
            Origin::CommandLine(config) => config
                .check()
                .map(|loaded| ((**config).clone(), loaded))
                .map_err(|m| Source::CommandLine.describe(&m)),
        }
    }
}

/// A bound listener: where the config asked for it, and the socket (kept at `HIGH_FD` up).
struct Bound {
    asked: SocketAddr,
    socket: TcpListener,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Started, has not said `ready` yet.
    Starting,
    Ready,
    /// Sent TERM: finishing its requests, then it exits.
    Draining,
}

/// One worker process, as the master sees it.
struct Worker {
    child: Child,
    index: u64,
    generation: u64,
    state: State,
    started: Instant,
    control: Option<UnixStream>,
    log: Option<ChildStdout>,
    errors: Option<ChildStderr>,
    lines: Lines,
    error_lines: Lines,
}

/// Counts of each signal the master handles, bumped by the handlers (an atomic add is one of
/// the few things a signal handler may do), read by the loop after the self-pipe wakes it.
struct Signals {
    wake: UnixStream,
    stop: Arc<AtomicUsize>,
    reload: Arc<AtomicUsize>,
    reopen: Arc<AtomicUsize>,
}

pub struct Master {
    origin: Origin,
    config: Config,
    loaded: Loaded,
    listeners: Vec<Bound>,
    workers: Vec<Worker>,
    generation: u64,
    /// Worker numbers to start again, and when.
    restarts_due: Vec<(u64, Instant)>,
    /// Workers replaced after dying, since the master started.
    restarts: u64,
    /// Access log lines lost so far: torn lines of dead workers (dropped rather than written),
    /// and lines the log files of earlier configurations could not write.
    lost: u64,
    access: Option<LogFile>,
    /// The counters every process shares, and their memfd (at `HIGH_FD` up, for `spawn`).
    shared: Shared,
    shared_fd: OwnedFd,
    signals: Signals,
    /// While the first generation starts: `Some(None)`, then `Some(Some(why))` if a worker
    /// died before it was ready.
    first_start: Option<Option<String>>,
    /// Set by the first TERM/INT when `timeouts.lame_duck` is not 0: when the lame-duck phase
    /// ends and the graceful stop begins.
    lame_duck: Option<Instant>,
    /// Set when the graceful stop begins: when the master gives up waiting for workers.
    stopping: Option<Instant>,
    /// A worker that was stopping exited other than cleanly (its grace ran out): the stop
    /// was not clean either, and the master's exit code says so.
    unclean: bool,
    stops_seen: usize,
    reloads_seen: usize,
    reopens_seen: usize,
    exe: PathBuf,
}

impl Master {
    /// Binds the listeners and opens the logs: everything that needs root and can fail with
    /// a person's mistake happens here, before any worker exists.
    pub fn new(origin: Origin, config: Config, loaded: Loaded) -> Result<Master, String> {
        let listeners = bind_all(&config, &[])?;
        let access = open_access_log(&config)?;
        open_error_log(&config)?;
        let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
        let shared = Shared::create().map_err(|e| format!("cannot make the counters: {e}"))?;
        let shared_fd =
            rustix::io::fcntl_dupfd_cloexec(shared.fd(), HIGH_FD).map_err(|e| e.to_string())?;
        Ok(Master {
            origin,
            config,
            loaded,
            listeners,
            workers: Vec::new(),
            generation: 0,
            restarts_due: Vec::new(),
            restarts: 0,
            lost: 0,
            access,
            shared,
            shared_fd,
            signals: signals()?,
            first_start: None,
            lame_duck: None,
            stopping: None,
            unclean: false,
            stops_seen: 0,
            reloads_seen: 0,
            reopens_seen: 0,
            exe,
        })
    }

    /// The addresses actually bound (port 0 resolved), in the config's order (the metrics
    /// listener last).
    pub fn bound(&self) -> Vec<SocketAddr> {
        let local = |b: &Bound| b.socket.local_addr().unwrap_or(b.asked);
        self.listeners.iter().map(local).collect()
    }

    /// Starts the first generation and waits until every worker is ready. A worker that dies
    /// before it is ready fails the start: it would fail again (a root it cannot chroot into,
    /// say), and a person is waiting for the startup line.
    pub fn start(&mut self) -> Result<(), String> {
        self.start_generation()
            .map_err(|e| format!("cannot start a worker: {e}"))?;
        self.first_start = Some(None);
        loop {
            // (A dead worker is reaped out of the list: check for it before the list.)
            if let Some(Some(dead)) = &self.first_start {
                return Err(format!("a worker failed to start ({dead}); see above"));
            }
            if !self.workers.iter().any(|w| w.state == State::Starting) {
                break;
            }
            self.turn();
        }
        self.first_start = None;
        Ok(())
    }

    /// Workers per generation, and loops per listener in each.
    fn shape(&self) -> (u64, u64) {
        let n = match &self.config.workers {
            Some(n) => *n.get_ref(),
            None => std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        };
        match self.config.worker_mode {
            config::WorkerMode::Processes => (n, 1),
            config::WorkerMode::Threads => (1, n),
        }
    }

    fn start_generation(&mut self) -> io::Result<()> {
        self.generation += 1;
        let (processes, _) = self.shape();
        for index in 0..processes {
            let worker = self.spawn(index)?;
            self.workers.push(worker);
        }
        Ok(())
    }

    // ANCHOR: spawn
    /// Starts worker `index` of the current generation: the same binary with `--worker`, its
    /// listeners at 3, 4, ..., its plan written to its control socket.
    fn spawn(&self, index: u64) -> io::Result<Worker> {
        let (ours, theirs) = UnixStream::pair()?;
        let fds: Vec<RawFd> = self
            .listeners
            .iter()
            .map(|b| b.socket.as_raw_fd())
            .collect();
        let counters = self.shared_fd.as_raw_fd();
        let master = std::process::id();
        let mut command = Command::new(&self.exe);
        command
            .arg("--worker")
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: between fork and exec only async-signal-safe calls: dup2, prctl, getppid,
        // setpgid. No allocation, no lock.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(counters, METRICS_FD) < 0 {
                    return Err(io::Error::last_os_error());
                }
                for (i, &fd) in fds.iter().enumerate() {
                    // dup2 leaves the copy without FD_CLOEXEC: it survives the exec. (The
                    // originals are at HIGH_FD and up, above every target.)
                    if libc::dup2(fd, FIRST_LISTENER + i as RawFd) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                // If the master dies, its workers get SIGTERM and drain.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // ... unless it died before that line: then stop here.
                if libc::getppid() as u32 != master {
                    return Err(io::Error::other("the master is gone"));
                }
                // A process group of its own: Ctrl-C in a terminal signals the master only,
                // which then stops the workers gracefully (instead of each getting it twice).
                libc::setpgid(0, 0);
                Ok(())
            });
        }
        let mut child = command.spawn()?;
        let (_, threads) = self.shape();
        let plan = Plan {
            index,
            generation: self.generation,
            threads,
            config: self.config.clone(),
            loaded: self.loaded.clone(),
        };
        let text = toml::to_string(&plan).map_err(io::Error::other)?;
        let mut control = ours;
        // A worker that dies at once leaves a broken socket: that shows in its exit status.
        let _ = control.write_all(text.as_bytes());
        let _ = control.shutdown(std::net::Shutdown::Write);
        control.set_nonblocking(true)?;
        let log = child.stdout.take();
        let errors = child.stderr.take();
        for fd in [
            log.as_ref().map(AsFd::as_fd),
            errors.as_ref().map(AsFd::as_fd),
        ]
        .into_iter()
        .flatten()
        {
            rustix::io::ioctl_fionbio(fd, true)?;
        }
        Ok(Worker {
            child,
            index,
            generation: self.generation,
            state: State::Starting,
            started: Instant::now(),
            control: Some(control),
            log,
            errors,
            lines: Lines::default(),
            error_lines: Lines::default(),
        })
    }
    // ANCHOR_END: spawn

    /// The worker processes' ids, current generation first (for the startup message).
    pub fn pids(&self) -> Vec<u32> {
        self.workers.iter().map(|w| w.child.id()).collect()
    }

    // ANCHOR: run
    /// The master's loop, until a graceful stop has seen every worker exit.
    pub fn run(&mut self) -> i32 {
        loop {
            self.turn();
            if let Some(deadline) = self.stopping {
                if self.workers.is_empty() {
                    self.report_dropped();
                    // A line half taken by a slow reader of stdout is finished (a second at most).
                    crate::logs::finish_stdout(Duration::from_secs(1));
                    if self.unclean {
                        say!(
                            "stage09: stopped, cutting off requests that outlived the grace period"
                        );
                        return 1;
                    }
                    say!("stage09: stopped");
                    return 0;
                }
                if Instant::now() >= deadline {
                    say!(
                        "stage09: {} worker(s) still busy after the grace period; killing them",
                        self.workers.len()
                    );
                    self.signal_all(Signal::KILL);
                    self.reap_all_blocking();
                    return 1;
                }
            }
        }
    }

    /// One wait for anything to happen, and everything that follows from it.
    fn turn(&mut self) {
        self.wait();
        self.take_signals();
        self.reap();
        self.restart_due();
        self.finish_reload();
        if self.lame_duck.is_some_and(|ends| Instant::now() >= ends) {
            self.begin_stop();
        }
        let lost = self.lost + self.access.as_ref().map_or(0, |a| a.dropped);
        self.shared.set_lines_lost(lost);
    }
    // ANCHOR_END: run

    /// Waits up to a tick for a signal or a worker's bytes, and reads what came.
    fn wait(&mut self) {
        let mut ready: Vec<(usize, u8)> = Vec::new();
        {
            let mut fds = vec![PollFd::new(&self.signals.wake, PollFlags::IN)];
            let mut owners = vec![(usize::MAX, 0u8)];
            for (i, worker) in self.workers.iter().enumerate() {
                if let Some(c) = &worker.control {
                    fds.push(PollFd::new(c, PollFlags::IN));
                    owners.push((i, 0));
                }
                if let Some(l) = &worker.log {
                    fds.push(PollFd::new(l, PollFlags::IN));
                    owners.push((i, 1));
                }
                if let Some(e) = &worker.errors {
                    fds.push(PollFd::new(e, PollFlags::IN));
                    owners.push((i, 2));
                }
            }
            let timeout = rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: TICK.as_nanos() as i64,
            };
            if rustix::event::poll(&mut fds, Some(&timeout)).is_err() {
                return; // EINTR: a signal; the next turn looks.
            }
            for (fd, owner) in fds.iter().zip(owners) {
                if !fd.revents().is_empty() {
                    ready.push(owner);
                }
            }
        }
        for (i, which) in ready {
            match which {
                _ if i == usize::MAX => drain_wake(&mut self.signals.wake),
                0 => self.read_control(i),
                1 => self.read_log(i),
                _ => self.read_errors(i),
            }
        }
    }

    fn read_control(&mut self, i: usize) {
        let worker = &mut self.workers[i];
        let Some(control) = &mut worker.control else {
            return;
        };
        let mut buf = [0u8; 64];
        match control.read(&mut buf) {
            Ok(0) => worker.control = None,
            Ok(n) if buf[..n].starts_with(b"ready") && worker.state == State::Starting => {
                worker.state = State::Ready;
                // A worker that got ready during the lame-duck phase (a replacement) joins it.
                if self.lame_duck.is_some() {
                    let _ = rustix::process::kill_process(pid_of(&worker.child), Signal::USR2);
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => worker.control = None,
        }
    }

    // ANCHOR: read_log
    /// Copies the whole lines waiting in worker `i`'s log pipe to the access log.
    fn read_log(&mut self, i: usize) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let worker = &mut self.workers[i];
            let Some(pipe) = &mut worker.log else {
                return;
            };
            match pipe.read(&mut buf) {
                Ok(0) => {
                    // The worker is gone: what is left is half a line.
                    worker.log = None;
                    if worker.lines.abandon() {
                        self.lost += 1;
                    }
                    return;
                }
                Ok(n) => {
                    let lines = worker.lines.push(&buf[..n]);
                    if let Some(access) = &mut self.access {
                        access.write_lines(lines.bytes());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return, // WouldBlock: all read for now.
            }
        }
    }
    // ANCHOR_END: read_log

    /// Copies a worker's error lines to the master's stderr (the error log), naming it.
    fn read_errors(&mut self, i: usize) {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let worker = &mut self.workers[i];
            let pid = worker.child.id();
            let Some(pipe) = &mut worker.errors else {
                return;
            };
            match pipe.read(&mut buf) {
                Ok(0) => {
                    worker.errors = None;
                    worker.error_lines.abandon();
                    return;
                }
                Ok(n) => {
                    let lines = worker.error_lines.push(&buf[..n]);
                    let text = String::from_utf8_lossy(lines.bytes());
                    let mut err = io::stderr().lock();
                    for line in text.lines() {
                        let line = line.strip_prefix("stage09: ").unwrap_or(line);
                        let _ = writeln!(err, "stage09: worker {pid}: {line}");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    fn take_signals(&mut self) {
        let stops = self.signals.stop.load(Ordering::Relaxed);
        if stops > self.stops_seen {
            self.stops_seen = stops;
            let lame_duck = Duration::from_secs(*self.config.timeouts.lame_duck.get_ref());
            if self.stopping.is_some() {
                say!("stage09: stopping now");
                self.signal_all(Signal::KILL);
                self.reap_all_blocking();
                std::process::exit(130);
            } else if self.lame_duck.is_none() && !lame_duck.is_zero() {
                self.begin_lame_duck(lame_duck);
            } else {
                self.begin_stop();
            }
        }
        let reloads = self.signals.reload.load(Ordering::Relaxed);
        if reloads > self.reloads_seen {
            self.reloads_seen = reloads;
            // Not while stopping, lame duck included: the new workers would not be lame.
            if self.stopping.is_none() && self.lame_duck.is_none() {
                self.reload();
            }
        }
        let reopens = self.signals.reopen.load(Ordering::Relaxed);
        if reopens > self.reopens_seen {
            self.reopens_seen = reopens;
            self.reopen_logs();
        }
    }

    // ANCHOR: lame_duck
    /// TERM/INT with `timeouts.lame_duck`: the workers serve on, but their `/healthz` says 503
    /// (USR2, which their event loops catch: `Turn::lame_duck`). A balancer learns that a
    /// server is going only from its checks; once they have failed `fall` times it sends no
    /// new work here, and the stop that follows (`begin_stop`, from `turn`) refuses no one.
    fn begin_lame_duck(&mut self, time: Duration) {
        self.lame_duck = Some(Instant::now() + time);
        say!(
            "stage09: stopping in {} s: /healthz says 503 until then (again to stop now)",
            time.as_secs()
        );
        // Only workers that said `ready` have their loops, and so USR2's handler, in place
        // (USR2 would end any other); the rest get it when they say it (`read_control`).
        for worker in &self.workers {
            if worker.state == State::Ready {
                let _ = rustix::process::kill_process(pid_of(&worker.child), Signal::USR2);
            }
        }
    }
    // ANCHOR_END: lame_duck

    // ANCHOR: stop
    /// TERM/INT: close our listeners, tell every worker to drain, and wait for them.
    fn begin_stop(&mut self) {
        self.lame_duck = None;
        let grace = Duration::from_secs(*self.config.timeouts.grace.get_ref());
        // The workers' own grace ends them; this is for a worker that does not stop.
        self.stopping = Some(Instant::now() + grace + Duration::from_secs(2));
        self.listeners.clear();
        self.restarts_due.clear();
        say!(
            "stage09: stopping: {} worker(s) finish their requests (at most {} s)",
            self.workers.len(),
            grace.as_secs()
        );
        for worker in &mut self.workers {
            worker.state = State::Draining;
        }
        self.signal_all(Signal::TERM);
    }
    // ANCHOR_END: stop

    fn signal_all(&self, signal: Signal) {
        for worker in &self.workers {
            let _ = rustix::process::kill_process(pid_of(&worker.child), signal);
        }
    }

    fn reap_all_blocking(&mut self) {
        for worker in &mut self.workers {
            let _ = worker.child.wait();
        }
        self.workers.clear();
    }

    // ANCHOR: reap
    /// Workers that exited: their last log lines are copied, and a worker of the current
    /// generation that was not asked to stop is replaced.
    fn reap(&mut self) {
        let mut i = 0;
        while i < self.workers.len() {
            let exited = self.workers[i].child.try_wait().ok().flatten();
            let Some(status) = exited else {
                i += 1;
                continue;
            };
            // Everything it wrote before dying is in the pipes still: take it all.
            self.read_log(i);
            self.read_errors(i);
            let worker = self.workers.swap_remove(i);
            if worker.state == State::Draining {
                if self.stopping.is_some() && !status.success() {
                    self.unclean = true;
                }
                continue;
            }
            let pid = worker.child.id();
            if let Some(failed) = &mut self.first_start {
                *failed = Some(describe(status));
                continue;
            }
            if worker.generation != self.generation || self.stopping.is_some() {
                say!("stage09: worker {pid} (old) exited: {}", describe(status));
                continue;
            }
            let lived = worker.started.elapsed();
            let delay = if lived < QUICK_DEATH {
                RESTART_DELAY
            } else {
                Duration::ZERO
            };
            say!(
                "stage09: worker {pid} exited: {}; starting another",
                describe(status)
            );
            self.restarts_due
                .push((worker.index, Instant::now() + delay));
        }
    }

    fn restart_due(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) =
            self.restarts_due.drain(..).partition(|(_, at)| *at <= now);
        self.restarts_due = later;
        for (index, _) in due {
            match self.spawn(index) {
                Ok(worker) => {
                    self.restarts += 1;
                    self.shared.add_restart();
                    self.workers.push(worker);
                }
                Err(e) => {
                    say!("stage09: cannot start a worker: {e}; trying again");
                    self.restarts_due.push((index, now + RESTART_DELAY));
                }
            }
        }
    }
    // ANCHOR_END: reap

    // ANCHOR: reload
    /// HUP: a new configuration, checked in full before anything changes.
    fn reload(&mut self) {
        let (config, loaded) = match self.origin.load() {
            Ok(new) => new,
            Err(line) => {
                say!("stage09: reload refused, still serving the old configuration: {line}");
                return;
            }
        };
        let listeners = match bind_all(&config, &self.listeners) {
            Ok(listeners) => listeners,
            Err(e) => {
                say!("stage09: reload refused, still serving the old configuration: {e}");
                return;
            }
        };
        let access = match open_access_log(&config).and_then(|a| {
            open_error_log(&config)?;
            Ok(a)
        }) {
            Ok(access) => access,
            Err(e) => {
                say!("stage09: reload refused, still serving the old configuration: {e}");
                return;
            }
        };
        self.config = config;
        self.loaded = loaded;
        self.listeners = listeners;
        // Lines still in the old workers' pipes go to the new file: one log, no gap.
        self.lost += self.access.as_ref().map_or(0, |a| a.dropped);
        self.access = access;
        // Old workers waiting to be restarted never will be: the new generation replaces them.
        self.restarts_due.clear();
        let from = self.generation;
        if let Err(e) = self.start_generation() {
            say!("stage09: cannot start a worker: {e}");
        }
        say!(
            "stage09: reloading: generation {} starting, generation {from} serves until it is ready",
            self.generation
        );
    }

    /// Once every worker of the new generation is ready, the older ones drain.
    fn finish_reload(&mut self) {
        let current = self.generation;
        let (processes, _) = self.shape();
        let ready = self
            .workers
            .iter()
            .filter(|w| w.generation == current && w.state == State::Ready)
            .count() as u64;
        if ready < processes {
            return;
        }
        for worker in &mut self.workers {
            if worker.generation != current && worker.state != State::Draining {
                worker.state = State::Draining;
                let _ = rustix::process::kill_process(pid_of(&worker.child), Signal::TERM);
            }
        }
    }
    // ANCHOR_END: reload

    /// Lines the access log lost (a full disk, or torn by a worker's death), said at the end.
    fn report_dropped(&self) {
        let dropped = self.access.as_ref().map_or(0, |a| a.dropped) + self.lost;
        if dropped > 0 {
            say!("stage09: {dropped} access log line(s) were lost");
        }
    }

    /// USR1: open the log files by name again.
    fn reopen_logs(&mut self) {
        if let Some(access) = &mut self.access {
            if let Err(e) = access.reopen() {
                say!("stage09: {e}");
            }
        }
        if let Err(e) = open_error_log(&self.config) {
            say!("stage09: {e}");
        }
    }
}

fn pid_of(child: &Child) -> Pid {
    Pid::from_child(child)
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

fn drain_wake(wake: &mut UnixStream) {
    let mut buf = [0u8; 64];
    while let Ok(n) = wake.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

// ANCHOR: bind
/// Binds every listener of `config`, reusing the sockets of `old` whose address is the same
/// (a reload must not close a socket that clients are connecting to). A port-0 listener keeps
/// the socket it had at the same place in the list.
fn bind_all(config: &Config, old: &[Bound]) -> Result<Vec<Bound>, String> {
    let mut bound = Vec::new();
    let listeners = config.listeners.iter().map(|l| (&l.address, &l.port));
    let metrics = config.metrics.iter().map(|m| (&m.address, &m.port));
    for (i, (address, port)) in listeners.chain(metrics).enumerate() {
        let asked = SocketAddr::new(*address.get_ref(), *port.get_ref());
        let reuse = old
            .iter()
            .enumerate()
            .find(|(j, b)| b.asked == asked && (asked.port() != 0 || *j == i));
        let socket = match reuse {
            Some((_, b)) => b.socket.try_clone().map_err(|e| e.to_string())?,
            None => common::setup::bind(asked.ip(), asked.port())?,
        };
        bound.push(Bound {
            asked,
            socket: high(socket)?,
        });
    }
    Ok(bound)
}
// ANCHOR_END: bind

/// Moves a socket to a descriptor at `HIGH_FD` or above (close-on-exec: only the copies
/// `pre_exec` makes reach a worker).
fn high(socket: TcpListener) -> Result<TcpListener, String> {
    let fd = rustix::io::fcntl_dupfd_cloexec(&socket, HIGH_FD).map_err(|e| e.to_string())?;
    Ok(TcpListener::from(fd))
}

fn open_access_log(config: &Config) -> Result<Option<LogFile>, String> {
    match &config.access_log {
        None => Ok(None),
        Some(log) => LogFile::open(
            log.path.get_ref(),
            *log.rotate_size.get_ref(),
            *log.keep.get_ref(),
        )
        .map(Some),
    }
}

/// Points the master's stderr (descriptor 2) at the error log, if there is one: every
/// `eprintln!` of the master, and every worker line it copies, then lands in the file.
fn open_error_log(config: &Config) -> Result<(), String> {
    let Some(path) = &config.error_log else {
        return Ok(());
    };
    let path = path.get_ref();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open error log {}: {e}", path.display()))?;
    // SAFETY: dup2 onto 2 replaces stderr atomically; `file` is closed after, 2 stays.
    if unsafe { libc::dup2(file.as_raw_fd(), 2) } < 0 {
        return Err(format!("dup2 error log: {}", io::Error::last_os_error()));
    }
    Ok(())
}

// ANCHOR: signals
/// TERM/INT, HUP and USR1 each bump a counter and write a byte to the self-pipe; CHLD only
/// writes the byte (a worker died: reap it now rather than at the next tick).
fn signals() -> Result<Signals, String> {
    use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1};
    let (wake, write_end) = UnixStream::pair().map_err(|e| e.to_string())?;
    wake.set_nonblocking(true).map_err(|e| e.to_string())?;
    write_end.set_nonblocking(true).map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicUsize::new(0));
    let reload = Arc::new(AtomicUsize::new(0));
    let reopen = Arc::new(AtomicUsize::new(0));
    let counted = [
        (SIGTERM, &stop),
        (SIGINT, &stop),
        (SIGHUP, &reload),
        (SIGUSR1, &reopen),
    ];
    for (signal, counter) in counted {
        let counter = Arc::clone(counter);
        // SAFETY: the handler only adds to an atomic: async-signal-safe.
        unsafe {
            signal_hook::low_level::register(signal, move || {
                counter.fetch_add(1, Ordering::Relaxed);
            })
        }
        .map_err(|e| e.to_string())?;
    }
    for signal in [SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGCHLD] {
        let write_end = write_end.try_clone().map_err(|e| e.to_string())?;
        signal_hook::low_level::pipe::register(signal, write_end).map_err(|e| e.to_string())?;
    }
    Ok(Signals {
        wake,
        stop,
        reload,
        reopen,
    })
}
// ANCHOR_END: signals

/// The line a person can click, for listener `addr` of `config`.
pub fn startup_line(config: &Config, addr: SocketAddr, tls: bool) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() || ip.is_loopback() => "localhost".to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    };
    let scheme = if tls { "https" } else { "http" };
    format!(
        "stage09 serving {} at {scheme}://{host}:{}/ (Ctrl-C stops)",
        config.root.get_ref().display(),
        addr.port()
    )
}
