//! Stage 6: stage05's event loop, over TLS, with Basic auth, Range requests and an HTML5
//! fallback.
//!
//! The loop is stage05's, now the `eventloop` crate: one thread, non-blocking sockets, epoll,
//! connections as state machines. What changes is between the socket and HTTP: every
//! connection carries a rustls `ServerConnection`, a sans-IO TLS state machine that the
//! library's `Tls` transport feeds and drains. No thread per handshake, no blocking: a
//! handshake is a few more turns of the same loop. The security features (auth, ranges,
//! fallback) are `common::Site` options, switched on here from the command line.
//!
//! This file is what is stage06's own: the flags, the certificates (`tls.rs`), the users, and
//! the wiring of a `Site` into the library's HTTP/1.1 session over TLS, with a few verifier
//! threads for bcrypt so that no password check runs on the loop.

use clap::Parser;
use common::{AccessLog, CommonArgs, GraceArgs, Site, TimeoutArgs};
use eventloop::certs;
use eventloop::http1::{Env, HttpOnly};
use eventloop::{Config, EventLoop, Tls, Verifiers};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

/// A stage06 server: one thread, an event loop, thousands of connections.
#[derive(Parser, Debug)]
#[command(name = "stage06", version, about, after_help = common::cli::LIMITS_HELP)]
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
    #[arg(long, value_name = "NAME", default_value = "stage06")]
    realm: String,

    /// Serve this URL path (e.g. /index.html) for missing page routes (no dot in the last
    /// segment, Accept has text/html): client-side routing for single-page apps
    #[arg(long, value_name = "PATH")]
    fallback: Option<String>,
}

fn main() {
    let args = Args::parse();
    common::setup::run_or_exit("stage06", || {
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
        let log = AccessLog::open(&args.common)?;
        // 10,000 connections need 10,000 descriptors; the usual soft limit is 1024.
        let fd_limit = common::setup::raise_fd_limit().unwrap_or(1024);
        let listener = common::setup::bind(args.common.bind, args.common.port)?;
        let mut server = event_loop(&args, site, tls, log, listener)
            .map_err(|e| format!("cannot start the event loop: {e}"))?;
        let bound = server.listener().ok_or("no listener")?;
        println!(
            "{}",
            common::setup::startup_line("stage06", &args.common, bound, "https")
        );
        // Said only now that everything has worked: a mistake on the command line gets its
        // one line of error, not a warning about a certificate that will never be used.
        if let Some(fingerprint) = self_signed {
            eprintln!("stage06: certificate SHA-256 fingerprint {fingerprint}");
            eprintln!(
                "stage06: warning: no --cert/--key given, so using a self-signed certificate \
                 for localhost; clients will not trust it (curl -k, or check the fingerprint)"
            );
        }
        if fd_limit < args.max_connections + 64 {
            eprintln!(
                "stage06: note: {fd_limit} descriptors allowed; accepting pauses when they run out"
            );
        }
        server.run().map_err(|e| format!("event loop failed: {e}"))
    });
}

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
    Ok((certs::server_config(identity, certs::HTTP1)?, fingerprint))
}

/// The users of `--htpasswd` and `--auth`. Checking a bcrypt password takes milliseconds on
/// purpose, so it does not run on the loop's one thread: the wiring below gives the HTTP/1.1
/// session a pool of verifier threads. `common::auth` remembers credentials it has verified,
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
/// One loop on this thread, serving `site` over TLS with HTTP/1.1, and owning SIGINT and
/// SIGTERM.
fn event_loop(
    args: &Args,
    site: Site,
    tls: Arc<rustls::ServerConfig>,
    log: AccessLog,
    listener: TcpListener,
) -> std::io::Result<EventLoop<Tls, HttpOnly>> {
    let config = Config {
        name: "stage06",
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        grace: args.stop.period(),
        signals: true,
    };
    let http = Env::new(site, log, &args.timeouts, "stage06");
    let mut server = EventLoop::new(config, listener, tls, HttpOnly { http })?;
    // Only bcrypt users (`--htpasswd`) need checking off the loop: without them the server
    // stays one thread.
    if args.htpasswd.is_some() && args.verify_threads > 0 {
        // Each verdict goes back to the connection that waits for it, through the loop's
        // mailbox (which wakes the loop). A connection that has closed meanwhile is gone
        // from its slot, and the loop drops the verdict.
        let handle = server.handle();
        let deliver = move |to, verified| {
            let _ = handle.send_to(to, verified);
        };
        let threads = usize::from(args.verify_threads);
        let verifiers = Verifiers::start(threads, usize::from(args.verify_max), deliver)?;
        server.service().http.verifiers = Some(verifiers);
    }
    Ok(server)
}
// ANCHOR_END: wiring
