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
//! | 3, 4, ... | the listening sockets, in the config's order, then the metrics listener |
//!
//! It then locks itself in (chroot, user, group: `privileges.rs`), builds one event loop per
//! listener (N per listener in `threads` mode), each on its own thread, says `ready`, and
//! waits for SIGTERM: then every loop stops accepting, finishes what is in flight (up to the
//! grace period) and the process exits. The master's death sends SIGTERM too
//! (`PR_SET_PDEATHSIG`), so no worker outlives it.

use crate::config::{Config, Loaded};
use crate::logs::Pipe;
use crate::service::{self, Stage09, ToMaster};
use common::{AccessLog, Site, TimeoutArgs};
use eventloop::http1::Env;
use eventloop::{Handle, Plain, Tls, Transport, Verifiers};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// The first inherited listener's descriptor; the others follow.
pub const FIRST_LISTENER: RawFd = 3;

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
    // Signals first: a SIGTERM from now on is a graceful stop, never the default death.
    let signals = signals()?;
    let config = &plan.config;
    let count = config.listeners.len();
    let listeners: Vec<TcpListener> = (0..count)
        // SAFETY: the master dup2'ed exactly `count` listeners to 3, 4, ... before exec.
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

    let (handles_in, handles) = mpsc::channel();
    let mut threads = Vec::new();
    for (index, listener) in config.listeners.iter().enumerate() {
        let tls = match &listener.tls {
            None => None,
            Some(_) => {
                let pem = plan.loaded.pems.iter().find(|p| p.listener == index);
                let pem = pem.ok_or("a TLS listener without its certificate")?;
                Some(pem.pem.server_config()?)
            }
        };
        for _ in 0..plan.threads.max(1) {
            let socket = listeners[index]
                .try_clone()
                .map_err(|e| format!("dup listener: {e}"))?;
            let parts = Parts {
                site: site.clone(),
                pipe: pipe.clone(),
                plan: plan.clone(),
            };
            let ready = handles_in.clone();
            threads.push(match tls.clone() {
                None => start::<Plain>(socket, (), parts, ready),
                Some(tls) => start::<Tls>(socket, tls, parts, ready),
            });
        }
    }
    drop(handles_in);
    drop(listeners);
    // Every loop has its listener registered (or failed): only then are we ready.
    let mut stops: Vec<Handle<common::auth::Verified>> = Vec::new();
    for handle in handles.iter() {
        stops.push(handle?);
    }
    control
        .write_all(b"ready\n")
        .map_err(|e| format!("telling the master: {e}"))?;
    stop_on_signal(signals, stops);
    for thread in threads {
        let _ = thread.join();
    }
    Ok(())
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
    if let Some(auth) = &plan.config.auth {
        let users = service::users(auth, plan.loaded.htpasswd.as_deref()).map_err(|m| m.message)?;
        site = site.with_auth(users, &auth.realm);
    }
    Ok(site)
}

/// What each loop's thread is given to build its service.
struct Parts {
    site: Site,
    pipe: Arc<Pipe>,
    plan: Plan,
}

// ANCHOR: loop
/// One event loop on its own thread, serving `listener` over transport `T`. Its handle comes
/// back through `ready` once it listens (the loop itself is built on its thread: a loop holds
/// sessions that never leave the thread they were made on).
fn start<T: Transport>(
    listener: TcpListener,
    transport: T::Config,
    parts: Parts,
    ready: mpsc::Sender<Result<Handle<common::auth::Verified>, String>>,
) -> std::thread::JoinHandle<()>
where
    T::Config: Send,
{
    std::thread::spawn(move || {
        let config = &parts.plan.config;
        let t = &config.timeouts;
        let timeouts = TimeoutArgs {
            idle_timeout: *t.idle.get_ref(),
            header_timeout: *t.header.get_ref(),
        };
        let log = match config.access_log {
            Some(_) => AccessLog::Sink(Box::new(ToMaster(parts.pipe.clone()))),
            None => AccessLog::Off,
        };
        let mut http = Env::new(parts.site, log, &timeouts, "stage09");
        http.send_timeout = Duration::from_secs(*t.send.get_ref());
        let needs_verifiers = config.auth.as_ref().is_some_and(|a| a.htpasswd.is_some());
        let loop_config = eventloop::Config {
            name: "stage09",
            max_connections: usize::try_from(*config.max_connections.get_ref())
                .unwrap_or(usize::MAX),
            grace: Duration::from_secs(*t.grace.get_ref()),
            // The worker's main thread owns the signals and stops every loop.
            signals: false,
        };
        let built = eventloop::EventLoop::<T, Stage09>::new(
            loop_config,
            listener,
            transport,
            Stage09 { http },
        );
        let mut server = match built {
            Ok(server) => server,
            Err(e) => {
                let _ = ready.send(Err(format!("cannot start an event loop: {e}")));
                return;
            }
        };
        if needs_verifiers {
            // bcrypt off the loop, as stage06: verdicts come back through the loop's mailbox.
            let handle = server.handle();
            let deliver = move |to, verified| {
                let _ = handle.send_to(to, verified);
            };
            match Verifiers::start(2, 16, deliver) {
                Ok(verifiers) => server.service().http.verifiers = Some(verifiers),
                Err(e) => {
                    let _ = ready.send(Err(format!("cannot start verifiers: {e}")));
                    return;
                }
            }
        }
        let _ = ready.send(Ok(server.handle()));
        drop(ready);
        // A panic here is a bug: end the whole worker, so the master replaces it, rather than
        // limp on with one listener fewer.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.run()));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("stage09: event loop failed: {e}");
                std::process::exit(1);
            }
            Err(_) => std::process::exit(101),
        }
    })
}
// ANCHOR_END: loop

// ANCHOR: stop
/// SIGTERM and SIGINT write a byte to a socket pair (the self-pipe trick); this returns the
/// read end. HUP and USR1 are the master's business: here they are caught and ignored, so a
/// stray one does not kill the worker (their default action).
fn signals() -> Result<UnixStream, String> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
    let (read_end, write_end) = UnixStream::pair().map_err(|e| e.to_string())?;
    for signal in [SIGINT, SIGTERM] {
        let write_end = write_end.try_clone().map_err(|e| e.to_string())?;
        signal_hook::low_level::pipe::register(signal, write_end).map_err(|e| e.to_string())?;
    }
    for signal in [SIGHUP, SIGUSR1] {
        let ignored = Arc::new(std::sync::atomic::AtomicBool::new(false));
        signal_hook::flag::register(signal, ignored).map_err(|e| e.to_string())?;
    }
    Ok(read_end)
}

/// On the first signal, asks every loop to stop gracefully; a second ends the process at once.
fn stop_on_signal(mut read_end: UnixStream, loops: Vec<Handle<common::auth::Verified>>) {
    std::thread::spawn(move || {
        let mut seen = 0;
        let mut byte = [0u8; 1];
        while let Ok(1) = read_end.read(&mut byte) {
            seen += 1;
            if seen == 1 {
                for handle in &loops {
                    handle.stop();
                }
            } else {
                std::process::exit(130);
            }
        }
    });
}
// ANCHOR_END: stop
