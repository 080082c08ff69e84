//! A worker: a fresh process of the same binary (`stage09 --worker`), started by the master,
//! serving on listeners it inherited.
//!
//! What it is given, at fixed places, so that nothing has to be looked up after the jail:
//!
//! | descriptor | what |
//! |---|---|
//! | 0 | a socket to the master: the [`Plan`] comes in (TOML, to EOF), `ready` goes back |
//! | 1 | a pipe to the master: the access log, one line per write (`logs.rs`) |
//! | 2 | a pipe to the master: errors, which the master copies to the error log |
//! | 3 | the shared counters, a memfd (`metrics.rs`) |
//! | 4, 5, ... | the listening sockets, in the config's order, then the metrics listener |
//!
//! It then locks itself in (chroot, user, group: `privileges.rs`), builds one event loop per
//! listener (N per listener in `threads` mode), says `ready`, and serves until SIGTERM: then
//! every loop stops accepting, finishes what is in flight (up to the grace period) and the
//! process exits. The usual worker has one listener and so one loop, which runs on the main
//! thread and owns the signals itself, as stage06's loop does: one thread per worker. With
//! several loops, each gets a thread and the main thread waits for the signal that stops
//! them. The master's death sends SIGTERM too (`PR_SET_PDEATHSIG`), so no worker outlives it.

use crate::config::{Config, Loaded};
use crate::logs::Pipe;
use crate::metrics::{Shared, Slot};
use crate::service::{self, Stage09, ToMaster};
use common::{AccessLog, Site, TimeoutArgs};
use eventloop::http1::{Env, Pages, Switch};
use eventloop::{EventLoop, Handle, Plain, Tls, Transport, Verifiers};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// The shared counters' memfd.
pub const METRICS_FD: RawFd = 3;
/// The first inherited listener's descriptor; the others follow.
pub const FIRST_LISTENER: RawFd = 4;

// ANCHOR: plan
/// Everything a worker needs, from the master: the config it checked, what it loaded for it
/// (certificates, htpasswd, the uid and gid), and the worker's own place.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// This worker's number (0 to workers - 1): a replacement gets the same number.
    pub index: u64,
    /// Bumped by each reload: the workers of one configuration.
    pub generation: u64,
    /// Loops per listener: 1 in `processes` mode, the worker count in `threads` mode.
    pub threads: u64,
    pub config: Config,
    pub loaded: Loaded,
}
// ANCHOR_END: plan

/// Runs a worker to the end; an error is one line for the master's error log.
pub fn run() -> Result<(), String> {
    // SAFETY: the master put a socket at 0 and pipes at 1 and 2 (see the table above), and
    // nothing else in this process owns them.
    let mut control = unsafe { UnixStream::from_raw_fd(0) };
    let mut text = String::new();
    control
        .read_to_string(&mut text)
        .map_err(|e| format!("reading the plan: {e}"))?;
    let plan: Plan = toml::from_str(&text).map_err(|e| format!("a bad plan: {e}"))?;
    ignore_the_masters_signals()?;
    // 10,000 connections need 10,000 descriptors; the usual soft limit is 1024.
    let _ = common::setup::raise_fd_limit();
    let config = &plan.config;
    let count = config.listeners.len() + usize::from(config.metrics.is_some());
    // SAFETY: the master put the counters' memfd at 3, and nothing else owns it.
    let shared = Shared::map(unsafe { OwnedFd::from_raw_fd(METRICS_FD) })
        .map_err(|e| format!("mapping the counters: {e}"))?;
    let shared = Arc::new(shared);
    let listeners: Vec<TcpListener> = (0..count)
        // SAFETY: the master dup2'ed exactly `count` listeners to 4, 5, ... before exec.
        .map(|i| unsafe { TcpListener::from_raw_fd(FIRST_LISTENER + i as RawFd) })
        .collect();

    // ANCHOR: lock_in
    // Before the first request: into the jail, then down to the configured user. Everything
    // from outside the jail (certificates, passwords) is already in the plan.
    let chroot = config.chroot.as_ref().is_some_and(|c| *c.get_ref());
    let root = config.root.get_ref();
    crate::privileges::drop_to(chroot.then_some(root.as_path()), plan.loaded.identity)?;
    let root = if chroot { Path::new("/") } else { root };
    // ANCHOR_END: lock_in
    let site = site(root, &plan)?;
    // SAFETY: descriptor 1 is the log pipe (above); this is its only owner from now on.
    let pipe = Arc::new(Pipe::new(unsafe { File::from_raw_fd(1) }));

    // One loop per listener, or N per listener in threads mode.
    let mut jobs = Vec::new();
    for (index, listener) in config.listeners.iter().enumerate() {
        let tls = match &listener.tls {
            None => None,
            Some(_) => {
                let pem = plan.loaded.pems.iter().find(|p| p.listener == index);
                let pem = pem.ok_or("a TLS listener without its certificate")?;
                Some(pem.pem.server_config(config.http2())?)
            }
        };
        for _ in 0..plan.threads.max(1) {
            let socket = listeners[index]
                .try_clone()
                .map_err(|e| format!("dup listener: {e}"))?;
            let proxy = listener
                .proxy_protocol
                .as_ref()
                .is_some_and(|on| *on.get_ref());
            jobs.push((socket, tls.clone(), service::site_pages(), proxy));
        }
    }
    if config.metrics.is_some() {
        // One loop for the metrics listener, whatever the mode: scrapes are rare.
        let socket = listeners[count - 1]
            .try_clone()
            .map_err(|e| format!("dup listener: {e}"))?;
        jobs.push((socket, None, service::metrics_pages(shared.clone()), false));
    }
    drop(listeners);
    let slot = shared.slot(plan.index);
    let parts = Parts {
        site,
        pipe,
        plan,
        slot,
    };
    if jobs.len() == 1 {
        // ANCHOR: one_loop
        // The usual worker: one listener, one loop, on this thread, owning SIGTERM itself
        // (the first drains, a second ends the process), as stage06 does. One thread.
        let (socket, tls, pages, proxy) = jobs.remove(0);
        return match tls {
            None => serve_here::<Plain>(socket, (), (pages, proxy), &parts, control),
            Some(tls) => serve_here::<Tls>(socket, tls, (pages, proxy), &parts, control),
        };
        // ANCHOR_END: one_loop
    }
    // Several loops: each on a thread of its own; this thread waits for the signal that
    // stops them all. The last loop to finish ends the process.
    let stop = stop_pipe()?;
    let (handles_in, handles) = mpsc::channel();
    let remaining = Arc::new(std::sync::atomic::AtomicUsize::new(jobs.len()));
    for (socket, tls, pages, proxy) in jobs {
        let (ready, remaining) = (handles_in.clone(), remaining.clone());
        let parts = Parts {
            site: parts.site.clone(),
            pipe: parts.pipe.clone(),
            plan: parts.plan.clone(),
            slot: parts.slot,
        };
        match tls {
            None => spawn::<Plain>(socket, (), (pages, proxy), parts, ready, remaining),
            Some(tls) => spawn::<Tls>(socket, tls, (pages, proxy), parts, ready, remaining),
        };
    }
    drop(handles_in);
    // Every loop has its listener registered (or failed): only then are we ready.
    let mut loops: Vec<Handle<common::auth::Verified>> = Vec::new();
    for handle in handles.iter() {
        loops.push(handle?);
    }
    control
        .write_all(b"ready\n")
        .map_err(|e| format!("telling the master: {e}"))?;
    stop_on_signal(stop, loops)
}

/// The site of the config: the same features as stage06 (ranges, auth, fallback).
fn site(root: &Path, plan: &Plan) -> Result<Site, String> {
    let mut site = Site::new(root)
        .map_err(|e| format!("cannot use root {}: {e}", root.display()))?
        .with_etags()
        .with_ranges();
    if let Some(fallback) = &plan.config.fallback {
        site = site.with_fallback(fallback.get_ref());
    }
    if plan.config.precompressed {
        site = site.with_precompressed();
    }
    if let Some(auth) = &plan.config.auth {
        let users = service::users(auth, plan.loaded.htpasswd.as_deref()).map_err(|m| m.message)?;
        site = site.with_auth(users, &auth.realm);
    }
    Ok(site)
}

/// A listener's pages, and whether its connections start with a PROXY header.
type Listening = (Pages, bool);

/// What each loop's thread is given to build its service.
struct Parts {
    site: Site,
    pipe: Arc<Pipe>,
    plan: Plan,
    slot: &'static Slot,
}

// ANCHOR: loop
/// One event loop serving `listener` over transport `T`: stage06's wiring, with the access
/// log going to the master, and the config's limits and timeouts.
fn build<T: Transport>(
    listener: TcpListener,
    transport: T::Config,
    (pages, proxy): Listening,
    parts: &Parts,
    signals: bool,
) -> Result<EventLoop<T, Stage09>, String> {
    let config = &parts.plan.config;
    let t = &config.timeouts;
    let timeouts = TimeoutArgs {
        idle_timeout: *t.idle.get_ref(),
        header_timeout: *t.header.get_ref(),
    };
    // Always a sink, so that the metrics count every response; lines reach the master only
    // when there is an access log.
    let log = AccessLog::Sink(Box::new(ToMaster {
        pipe: config.access_log.is_some().then(|| parts.pipe.clone()),
        slot: parts.slot,
    }));
    let mut http = Env::new(parts.site.clone(), log, &timeouts, "stage09");
    http.send_timeout = Duration::from_secs(*t.send.get_ref());
    http.pages = Some(pages);
    if config.http2() {
        // As stage07: ALPN `h2` (offered first, `tls.rs`) and the preface on cleartext
        // listeners hand the connection to HTTP/2 (`service.rs`).
        http.switches = vec![Switch::Alpn(b"h2".to_vec()), Switch::Preface];
    }
    let loop_config = eventloop::Config {
        name: "stage09",
        max_connections: usize::try_from(*config.max_connections.get_ref()).unwrap_or(usize::MAX),
        grace: Duration::from_secs(*t.grace.get_ref()),
        signals,
    };
    let mut server = EventLoop::<T, Stage09>::new(
        loop_config,
        listener,
        transport,
        Stage09 {
            http,
            slot: parts.slot,
        },
    )
    .map_err(|e| format!("cannot start an event loop: {e}"))?;
    if proxy {
        // Behind HAProxy: the PROXY header gets what a request head gets.
        server.expect_proxy_header(Duration::from_secs(*t.header.get_ref()));
    }
    if signals {
        // The one loop takes the master's lame-duck signal too (several: `stop_on_signal`).
        server
            .lame_duck_on(signal_hook::consts::SIGUSR2)
            .map_err(|e| format!("cannot catch USR2: {e}"))?;
    }
    if config.auth.as_ref().is_some_and(|a| a.htpasswd.is_some()) {
        // bcrypt off the loop, as stage06: verdicts come back through the loop's mailbox.
        let handle = server.handle();
        let deliver = move |to, verified| {
            let _ = handle.send_to(to, verified);
        };
        let verifiers =
            Verifiers::start(2, 16, deliver).map_err(|e| format!("cannot start verifiers: {e}"))?;
        server.service().http.verifiers = Some(verifiers);
    }
    Ok(server)
}

/// Runs a loop to its end. A panic is a bug: it ends the whole worker (exit code 101), so the
/// master replaces it, rather than limping on with a loop fewer.
fn run_to_end<T: Transport>(mut server: EventLoop<T, Stage09>) {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.run())) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("stage09: event loop failed: {e}");
            std::process::exit(1);
        }
        Err(_) => std::process::exit(101),
    }
}

/// The one loop of a worker, on its main thread.
fn serve_here<T: Transport>(
    listener: TcpListener,
    transport: T::Config,
    pages: Listening,
    parts: &Parts,
    mut control: UnixStream,
) -> Result<(), String> {
    let server = build::<T>(listener, transport, pages, parts, true)?;
    control
        .write_all(b"ready\n")
        .map_err(|e| format!("telling the master: {e}"))?;
    run_to_end(server);
    Ok(())
}

/// One of several loops, on its own thread; its handle comes back through `ready` once it
/// listens (a loop is built on the thread it runs on: its sessions never leave it).
fn spawn<T: Transport>(
    listener: TcpListener,
    transport: T::Config,
    pages: Listening,
    parts: Parts,
    ready: mpsc::Sender<Result<Handle<common::auth::Verified>, String>>,
    remaining: Arc<std::sync::atomic::AtomicUsize>,
) where
    T::Config: Send,
{
    std::thread::spawn(move || {
        let server = match build::<T>(listener, transport, pages, &parts, false) {
            Ok(server) => server,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(server.handle()));
        drop(ready);
        run_to_end(server);
        if remaining.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
            std::process::exit(0);
        }
    });
}
// ANCHOR_END: loop

// ANCHOR: stop
/// HUP and USR1 are the master's business: a worker catches and ignores them, so a stray one
/// does not kill it (their default action).
fn ignore_the_masters_signals() -> Result<(), String> {
    use signal_hook::consts::{SIGHUP, SIGUSR1};
    for signal in [SIGHUP, SIGUSR1] {
        let ignored = Arc::new(std::sync::atomic::AtomicBool::new(false));
        signal_hook::flag::register(signal, ignored).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// With several loops, the main thread waits for signals: SIGTERM and SIGINT (stop) and
/// SIGUSR2 (the master's lame-duck phase, before a stop: see master.rs) are each counted by
/// their handler, then write a byte to a socket pair (the self-pipe trick) that wakes the
/// main thread, which looks at the counts. (One loop alone catches them itself.)
struct StopSignals {
    wake: UnixStream,
    stops: Arc<AtomicUsize>,
    lame_ducks: Arc<AtomicUsize>,
}

fn stop_pipe() -> Result<StopSignals, String> {
    use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR2};
    let (read_end, write_end) = UnixStream::pair().map_err(|e| e.to_string())?;
    let stops = Arc::new(AtomicUsize::new(0));
    let lame_ducks = Arc::new(AtomicUsize::new(0));
    // The counters first: a signal's handlers run in the order they were registered, so the
    // count has moved by the time its byte wakes the main thread.
    for (signal, counter) in [(SIGINT, &stops), (SIGTERM, &stops), (SIGUSR2, &lame_ducks)] {
        let counter = Arc::clone(counter);
        // SAFETY: the handler only adds to an atomic: async-signal-safe.
        unsafe {
            signal_hook::low_level::register(signal, move || {
                counter.fetch_add(1, Ordering::Relaxed);
            })
        }
        .map_err(|e| e.to_string())?;
    }
    for signal in [SIGINT, SIGTERM, SIGUSR2] {
        let write_end = write_end.try_clone().map_err(|e| e.to_string())?;
        signal_hook::low_level::pipe::register(signal, write_end).map_err(|e| e.to_string())?;
    }
    Ok(StopSignals {
        wake: read_end,
        stops,
        lame_ducks,
    })
}

/// USR2 puts every loop in its lame-duck phase. The first stop signal asks every loop to stop
/// gracefully; a second ends the process at once. (The process ends normally when its last
/// loop finishes: see `spawn`.)
fn stop_on_signal(
    mut signals: StopSignals,
    loops: Vec<Handle<common::auth::Verified>>,
) -> Result<(), String> {
    let (mut stops_seen, mut lame_ducks_seen) = (0, 0);
    let mut byte = [0u8; 1];
    loop {
        match signals.wake.read(&mut byte) {
            Ok(1) => {}
            Ok(_) => return Err("the signal pipe closed".into()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("the signal pipe: {e}")),
        }
        let lame_ducks = signals.lame_ducks.load(Ordering::Relaxed);
        if lame_ducks > lame_ducks_seen {
            lame_ducks_seen = lame_ducks;
            loops.iter().for_each(Handle::lame_duck);
        }
        let stops = signals.stops.load(Ordering::Relaxed);
        if stops > stops_seen {
            if stops_seen == 0 && stops == 1 {
                loops.iter().for_each(Handle::stop);
            } else {
                std::process::exit(130);
            }
            stops_seen = stops;
        }
    }
}
// ANCHOR_END: stop
