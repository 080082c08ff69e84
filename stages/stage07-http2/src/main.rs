//! Stage 7: HTTP/2, on the same loop, beside stage06's HTTP/1.1.
//!
//! stage06 speaks HTTP/1.1 over TLS. This stage adds HTTP/2 (RFC 9113): one connection, many
//! streams, binary frames, HPACK-compressed headers, flow control. The protocol itself is
//! sans-IO in `common::h2` (frames, HPACK, stream states, windows); the session that drives
//! it on the loop is eventloop's `http2.rs`; the mapping between a stream's head and
//! common's `Request` is `common::h2::http`. What is left here is stage06's wiring plus:
//!
//! - ALPN offers `h2` before `http/1.1` (`tls.rs`): a browser gets HTTP/2, and a client
//!   without h2 gets stage06's HTTP/1.1, byte for byte.
//! - `--plain-port N`: a cleartext listener too, where the first bytes decide: the HTTP/2
//!   preface means h2 with prior knowledge (`curl --http2-prior-knowledge`, `h2load
//!   http://`), anything else is HTTP/1.1. `Upgrade: h2c` is ignored (answered as plain
//!   HTTP/1.1): RFC 9113 section 3.1 deprecates that upgrade, and no browser ever sent it.
//!
//! A loop takes one listener and one transport type, so two listeners are two loops, each
//! on its own thread, sharing nothing but the site's files and the access log. Neither owns
//! the signals: a third thread waits for SIGINT/SIGTERM and stops both through their
//! handles, so a graceful stop drains both ports at once (a loop that owned them would stop
//! only itself, and could not tell the other).

use clap::Parser;
use common::auth::Verified;
use common::{AccessLog, CommonArgs, GraceArgs, Site, TimeoutArgs};
use eventloop::certs;
use eventloop::http1::Env;
use eventloop::http2::Http1And2;
use eventloop::{Config, EventLoop, Handle, Plain, Tls, Transport, Verifiers};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A stage07 server: HTTP/2 and HTTP/1.1, over TLS and (optionally) in the clear.
#[derive(Parser, Debug, Clone)]
#[command(name = "stage07", version, about, after_help = common::cli::LIMITS_HELP)]
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

    /// PEM certificate chain (leaf first); without --cert/--key a self-signed certificate
    /// for localhost is made at start-up
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<PathBuf>,

    /// PEM private key for --cert
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,

    /// Require HTTP Basic auth against the bcrypt lines of FILE (as `htpasswd -B` writes)
    #[arg(long, value_name = "FILE")]
    htpasswd: Option<PathBuf>,

    /// Allow USER with password PASS (repeatable). For demos only: anyone on this machine
    /// can read it in `ps`; use --htpasswd for real passwords
    #[arg(long, value_name = "USER:PASS")]
    auth: Vec<String>,

    /// Threads that check bcrypt passwords, off the event loop; 0 checks them on the loop's
    /// own thread, as stage06 first did (for comparison: one client's wrong passwords then
    /// stall every connection)
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(0..=64))]
    verify_threads: u16,

    /// Password checks in flight at once (running, or waiting for a verifier thread); a
    /// request that needs one more gets 503 with Retry-After
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    verify_max: u16,

    /// The realm named in the password prompt
    #[arg(long, value_name = "NAME", default_value = "stage07")]
    realm: String,

    /// Serve this URL path (e.g. /index.html) for missing page routes (no dot in the last
    /// segment, Accept has text/html): client-side routing for single-page apps
    #[arg(long, value_name = "PATH")]
    fallback: Option<String>,

    /// Also listen in the clear on port N (same --bind): HTTP/2 with prior knowledge (the
    /// connection starts with the HTTP/2 preface) or HTTP/1.1; 0 picks a free port
    #[arg(long, value_name = "N")]
    plain_port: Option<u16>,

    /// Close a connection that owes a response but takes none of it (a full socket, or an
    /// HTTP/2 window that stays shut) for SECS
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    send_timeout: u64,
}

fn main() {
    let args = Args::parse();
    common::setup::run_or_exit("stage07", || {
        common::setup::check_root(&args.common.root)?;
        let mut site = Site::new(&args.common.root)
            .map_err(|e| format!("cannot use ROOT: {e}"))?
            .with_etags()
            .with_ranges();
        if let Some(fallback) = &args.fallback {
            site = site.with_fallback(fallback);
        }
        let users = users(&args)?;
        if !users.is_empty() {
            site = site.with_auth(users, &args.realm);
        }
        let (tls, self_signed) = tls_config(&args)?;
        // 10,000 connections need 10,000 descriptors; the usual soft limit is 1024.
        let fd_limit = common::setup::raise_fd_limit().unwrap_or(1024);
        let listener = common::setup::bind(args.common.bind, args.common.port)?;
        let plain = match args.plain_port {
            Some(port) => Some(common::setup::bind(args.common.bind, port)?),
            None => None,
        };
        // The signals go to one loop when there is one, as in stage06; with two, to a
        // thread that stops both (see the top of this file).
        let signals = plain.is_none();
        let mut server = event_loop::<Tls>(&args, site.clone(), tls, listener, signals)
            .map_err(|e| format!("cannot start the event loop: {e}"))?;
        // With two loops, the signals are caught from here on, before the startup line tells
        // anyone we are up: a SIGTERM that follows it at once must stop us gracefully, not
        // kill us (the signals thread that acts on them starts below).
        let caught = if signals {
            None
        } else {
            use signal_hook::consts::{SIGINT, SIGTERM};
            Some(
                signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
                    .map_err(|e| format!("cannot wait for signals: {e}"))?,
            )
        };
        let bound = server.listener().ok_or("no listener")?;
        println!(
            "{}",
            common::setup::startup_line("stage07", &args.common, bound, "https")
        );
        // The cleartext loop is built on its own thread (a loop holds its sessions, which
        // stay on the thread that made them), and says back where it listens.
        let cleartext = match plain {
            Some(listener) => {
                let (running, line) = cleartext_loop(&args, site, listener)?;
                // The startup line's URL, on stderr: stdout's first line stays the one a
                // script waits for, as in every stage.
                let url = line
                    .split(" at ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next());
                eprintln!(
                    "stage07: cleartext at {} too (HTTP/2 with prior knowledge, or HTTP/1.1)",
                    url.unwrap_or("?")
                );
                Some(running)
            }
            None => None,
        };
        // Said only now that everything has worked: a mistake on the command line gets its
        // one line of error, not a warning about a certificate that will never be used.
        if let Some(fingerprint) = self_signed {
            eprintln!("stage07: certificate SHA-256 fingerprint {fingerprint}");
            eprintln!(
                "stage07: warning: no --cert/--key given, so using a self-signed certificate \
                 for localhost; clients will not trust it (curl -k, or check the fingerprint)"
            );
        }
        if fd_limit < args.max_connections + 64 {
            eprintln!(
                "stage07: note: {fd_limit} descriptors allowed; accepting pauses when they run out"
            );
        }
        let (Some((handle, thread)), Some(caught)) = (cleartext, caught) else {
            return server.run().map_err(|e| format!("event loop failed: {e}"));
        };
        stop_both_on_signals(caught, server.handle(), handle)
            .map_err(|e| format!("cannot wait for signals: {e}"))?;
        let first = server.run();
        let second = thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("panicked")));
        first
            .and(second)
            .map_err(|e| format!("event loop failed: {e}"))
    });
}

/// The cleartext loop, started on a thread of its own: its handle, the thread, and its URL.
type Running = (
    Handle<Verified>,
    std::thread::JoinHandle<std::io::Result<()>>,
);

fn cleartext_loop(
    args: &Args,
    site: Site,
    listener: TcpListener,
) -> Result<(Running, String), String> {
    let args = args.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("cleartext".into())
        .spawn(move || {
            let built = event_loop::<Plain>(&args, site, (), listener, false);
            let mut server = match built {
                Ok(server) => server,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return Ok(());
                }
            };
            let url = match server.listener() {
                Some(bound) => common::setup::startup_line("stage07", &args.common, bound, "http"),
                None => String::new(),
            };
            let _ = tx.send(Ok((server.handle(), url)));
            server.run()
        })
        .map_err(|e| format!("cannot start the cleartext loop: {e}"))?;
    match rx.recv() {
        Ok(Ok((handle, url))) => Ok(((handle, thread), url)),
        Ok(Err(e)) => Err(format!("cannot start the cleartext event loop: {e}")),
        Err(_) => Err("the cleartext loop ended before it started".into()),
    }
}

// ANCHOR: signals
/// A thread that waits for SIGINT and SIGTERM: the first stops both loops gracefully (each
/// finishes its open connections within --grace), the second ends the process at once, as
/// one loop owning the signals does.
fn stop_both_on_signals<A: Send + 'static, B: Send + 'static>(
    mut signals: signal_hook::iterator::Signals,
    a: Handle<A>,
    b: Handle<B>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = 0;
            for _ in signals.forever() {
                seen += 1;
                if seen >= 2 {
                    eprintln!("stage07: stopping now");
                    std::process::exit(130);
                }
                a.stop();
                b.stop();
            }
        })?;
    Ok(())
}
// ANCHOR_END: signals

// ANCHOR: startup
/// The TLS settings from `--cert`/`--key`, or from a fresh self-signed certificate, whose
/// fingerprint comes back too (`main` prints it with a warning, on stderr: stdout's first line
/// is the startup line).
fn tls_config(args: &Args) -> Result<(Arc<rustls::ServerConfig>, Option<String>), String> {
    let (identity, fingerprint) = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => (certs::load(cert, key)?, None),
        _ => {
            let (identity, fingerprint) = certs::self_signed()?;
            (identity, Some(fingerprint))
        }
    };
    Ok((
        certs::server_config(identity, certs::H2_THEN_HTTP1)?,
        fingerprint,
    ))
}

/// The users of `--htpasswd` and `--auth`. Checking a bcrypt password takes milliseconds on
/// purpose, so it does not run on the loop's one thread: the wiring below gives the HTTP/1.1
/// and HTTP/2 sessions a pool of verifier threads. `common::auth` remembers credentials it has verified,
/// so only the first request with a given `Authorization` needs the pool.
fn users(args: &Args) -> Result<common::auth::Users, String> {
    let mut users = common::auth::Users::new();
    if let Some(path) = &args.htpasswd {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --htpasswd {}: {e}", path.display()))?;
        users.add_htpasswd(&text, &path.display().to_string())?;
        if users.is_empty() {
            return Err(format!("--htpasswd {} has no users", path.display()));
        }
    }
    for user_pass in &args.auth {
        users.add_plain(user_pass)?;
    }
    Ok(users)
}
// ANCHOR_END: startup

// ANCHOR: wiring
/// One loop serving `site` on `listener` over transport `T` (TLS, or plain TCP), speaking
/// HTTP/1.1 and HTTP/2, with its own verifier threads for bcrypt.
fn event_loop<T: Transport>(
    args: &Args,
    site: Site,
    transport: T::Config,
    listener: TcpListener,
    signals: bool,
) -> Result<EventLoop<T, Http1And2>, String> {
    let config = Config {
        name: "stage07",
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        grace: args.stop.period(),
        signals,
    };
    // Each loop opens the log for itself: a file opened twice for appending, each line one
    // write (O_APPEND keeps whole lines whole), as two worker processes of nginx share one.
    let log = AccessLog::open(&args.common)?;
    let mut http = Env::new(site, log, &args.timeouts, "stage07");
    http.send_timeout = Duration::from_secs(args.send_timeout);
    let service = Http1And2::new(http);
    let mut server =
        EventLoop::new(config, listener, transport, service).map_err(|e| e.to_string())?;
    // Only bcrypt users (`--htpasswd`) need checking off the loop: without them the server
    // stays one thread per loop.
    if args.htpasswd.is_some() && args.verify_threads > 0 {
        // Each verdict goes back to the connection that waits for it, through the loop's
        // mailbox (which wakes the loop). A connection that has closed meanwhile is gone
        // from its slot, and the loop drops the verdict.
        let handle = server.handle();
        let deliver = move |to, verified| {
            let _ = handle.send_to(to, verified);
        };
        let threads = usize::from(args.verify_threads);
        let verifiers = Verifiers::start(threads, usize::from(args.verify_max), deliver)
            .map_err(|e| e.to_string())?;
        server.service().http.verifiers = Some(verifiers);
    }
    Ok(server)
}
// ANCHOR_END: wiring
