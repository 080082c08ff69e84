//! Stage 8: WebSocket on the eventloop library, a chat hub, and the raw TCP chat.
//!
//! Up to stage06 every connection spoke requests and responses. Here a request can become a
//! conversation: `Upgrade: websocket` hands the connection from eventloop's HTTP/1.1 session
//! to ours (`web.rs`, `websocket.rs`), which answers the handshake and then speaks frames,
//! with the codec of `common::ws`. Beside the site (served as stage06 serves it) there are
//! two WebSocket routes: `/ws/echo`, and `/ws/chat/<room>?name=<nick>`, a JSON chat whose
//! rooms live in a hub (`hub.rs`); and, on its own port, the chat of the sources' first
//! program, for `nc` (`lines.rs`), in the same rooms.
//!
//! The wiring (this file): one event loop per listener, each on its own thread (the loop
//! takes one listener and one transport); the plain HTTP port on the main thread, the TLS
//! port and the TCP chat port on two more. The hub is a fourth thread, reached by a channel.

mod hub;
mod lines;
mod outbox;
mod web;
mod websocket;

use clap::Parser;
use common::{AccessLog, CommonArgs, GraceArgs, Site, TimeoutArgs};
use eventloop::certs;
use eventloop::http1::{Env, Switch};
use eventloop::{Config, ConnectionId, EventLoop, Handle, Plain, Tls};
use hub::{Delivery, HubSender};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// A chat member: which loop holds its connection, and which connection.
pub type Member = (usize, ConnectionId);

/// A stage08 server: the site, WebSocket echo and chat over ws:// and wss://, a TCP chat.
#[derive(Parser, Debug)]
#[command(name = "stage08", version, about, after_help = common::cli::LIMITS_HELP)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    /// --idle-timeout and --header-timeout, shared from stage02 on (for HTTP; a WebSocket
    /// is kept alive by pings instead, see --ping-interval).
    #[command(flatten)]
    timeouts: TimeoutArgs,

    /// Stop accepting while N connections are open, per listener (the rest wait in the
    /// kernel's backlog)
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,

    /// --grace, shared from stage04 on.
    #[command(flatten)]
    stop: GraceArgs,

    /// Also serve HTTPS and wss:// on port N (0: any free port)
    #[arg(long, value_name = "N")]
    tls_port: Option<u16>,

    /// PEM certificate chain (leaf first) for --tls-port; without --cert/--key a
    /// self-signed certificate for localhost is made at start-up
    #[arg(long, value_name = "PEM", requires_all = ["key", "tls_port"])]
    cert: Option<PathBuf>,

    /// PEM private key for --cert
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,

    /// Also run the raw TCP chat on port N (`nc localhost N`: first line your name, then
    /// lines to room lobby)
    #[arg(long, value_name = "N")]
    tcp_chat: Option<u16>,

    /// Accept WebSocket handshakes only from this Origin (exact, e.g. https://example.com;
    /// repeatable); others get 403. Without it, any Origin
    #[arg(long, value_name = "ORIGIN")]
    origin: Vec<String>,

    /// Ping a WebSocket client silent for SECS; drop it if it stays silent SECS more
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=common::cli::MAX_SECS))]
    ping_interval: u64,

    /// The flood rule: a chat member may send N messages a second, in bursts of 2N; one more
    /// closes it (WebSocket: 1008; nc: an error line)
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    chat_rate: u32,
}

fn main() {
    let args = Args::parse();
    common::setup::run_or_exit("stage08", || serve(&args));
}

// ANCHOR: wiring
fn serve(args: &Args) -> Result<(), String> {
    common::setup::check_root(&args.common.root)?;
    let tls = match args.tls_port {
        Some(_) => Some(tls_config(args)?),
        None => None,
    };
    // 10,000 connections need 10,000 descriptors; the usual soft limit is 1024.
    let fd_limit = common::setup::raise_fd_limit().unwrap_or(1024);
    let listener = common::setup::bind(args.common.bind, args.common.port)?;
    let tls_listener = match args.tls_port {
        Some(port) => Some(common::setup::bind(args.common.bind, port)?),
        None => None,
    };
    let tcp_listener = match args.tcp_chat {
        Some(port) => Some(common::setup::bind(args.common.bind, port)?),
        None => None,
    };
    let shown = startup_line(
        args,
        &listener,
        tls_listener.as_ref(),
        tcp_listener.as_ref(),
    );

    // The hub's thread takes commands from every loop's sessions; it answers each member
    // through that member's loop (its Handle: a channel and an eventfd that wakes the loop).
    // So no loop ever waits for another, or for the hub, and the hub waits for no member:
    // a member that stops reading fills only its own bounded queue (outbox.rs). A Mutex
    // around a shared hub would instead make every loop wait while one of them broadcasts.
    let (hub, commands) = mpsc::channel();
    let mut handles: Vec<Handle<Delivery>> = Vec::new();
    let mut threads = Vec::new();
    let mut main_loop = EventLoop::<Plain, web::Web>::new(
        config(args),
        listener,
        (),
        web_service(args, 0, hub.clone())?,
    )
    .map_err(|e| format!("cannot start the event loop: {e}"))?;
    handles.push(main_loop.handle());
    if let (Some(listener), Some((tls, _))) = (tls_listener, &tls) {
        let place = handles.len();
        let service = web_service(args, place, hub.clone())?;
        let (config, tls) = (config(args), tls.clone());
        let (handle, thread) =
            spawn_loop(move || EventLoop::<Tls, web::Web>::new(config, listener, tls, service))?;
        handles.push(handle);
        threads.push(thread);
    }
    if let Some(listener) = tcp_listener {
        let service = lines::LineService {
            place: handles.len(),
            hub: hub.clone(),
            rate: args.chat_rate,
        };
        let config = config(args);
        let (handle, thread) = spawn_loop(move || EventLoop::new(config, listener, (), service))?;
        handles.push(handle);
        threads.push(thread);
    }
    // Only the sessions hold senders now: when every loop has ended, the hub ends too.
    drop(hub);
    std::thread::Builder::new()
        .name("hub".into())
        .spawn(move || {
            hub::run(commands, websocket::text_frame, |(place, to), delivery| {
                // A member whose connection has closed meanwhile: the loop drops it.
                let _ = handles[place].send_to(to, delivery);
            })
        })
        .map_err(|e| format!("cannot start the hub: {e}"))?;

    println!("{shown}");
    if let Some((_, Some(fingerprint))) = &tls {
        eprintln!("stage08: certificate SHA-256 fingerprint {fingerprint}");
        eprintln!(
            "stage08: warning: no --cert/--key given, so using a self-signed certificate \
             for localhost; clients will not trust it (curl -k, or check the fingerprint)"
        );
    }
    if fd_limit < args.max_connections + 64 {
        eprintln!(
            "stage08: note: {fd_limit} descriptors allowed; accepting pauses when they run out"
        );
    }
    // Every loop hears SIGINT and SIGTERM itself (each registers the signal), so each stops
    // gracefully on its own; the process ends when all of them have.
    main_loop
        .run()
        .map_err(|e| format!("event loop failed: {e}"))?;
    for thread in threads {
        let _ = thread.join();
    }
    Ok(())
}
// ANCHOR_END: wiring

/// Starts a loop on a thread of its own (an `EventLoop` holds sessions that stay on the
/// thread that made them, so it is made there) and returns its handle once it exists.
fn spawn_loop<T, S>(
    make: impl FnOnce() -> std::io::Result<EventLoop<T, S>> + Send + 'static,
) -> Result<(Handle<Delivery>, std::thread::JoinHandle<()>), String>
where
    T: eventloop::Transport,
    S: eventloop::Service<T, Message = Delivery>,
{
    let (tell, told) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut server = match make() {
            Ok(server) => server,
            Err(e) => {
                let _ = tell.send(Err(format!("cannot start an event loop: {e}")));
                return;
            }
        };
        let _ = tell.send(Ok(server.handle()));
        if let Err(e) = server.run() {
            eprintln!("stage08: error: event loop failed: {e}");
            std::process::exit(1);
        }
    });
    let handle = told
        .recv()
        .map_err(|_| "an event loop ended before it started".to_string())??;
    Ok((handle, thread))
}

fn config(args: &Args) -> Config {
    Config {
        name: "stage08",
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        grace: args.stop.period(),
        signals: true,
    }
}

/// The service of one HTTP loop: the site as stage06 serves it (ETags, ranges), taking
/// `Upgrade: websocket`. Each loop opens its own access log (appending: one write a line).
fn web_service(args: &Args, place: usize, hub: HubSender<Member>) -> Result<web::Web, String> {
    let site = Site::new(&args.common.root)
        .map_err(|e| format!("cannot use ROOT: {e}"))?
        .with_etags()
        .with_ranges();
    let log = AccessLog::open(&args.common)?;
    let mut http = Env::new(site, log, &args.timeouts, "stage08");
    http.switches = vec![Switch::Upgrade("websocket".to_string())];
    Ok(web::Web {
        http,
        place,
        hub,
        settings: websocket::Settings {
            origins: args.origin.clone(),
            ping_interval: Duration::from_secs(args.ping_interval),
            rate: args.chat_rate,
        },
    })
}

/// The TLS settings from `--cert`/`--key`, or a fresh self-signed certificate and its
/// fingerprint (as stage06).
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

/// The one line that says the server is up, and where: the HTTP URL first (as every stage's
/// startup line), then the TLS URL and the TCP chat's port when there are.
fn startup_line(
    args: &Args,
    http: &TcpListener,
    tls: Option<&TcpListener>,
    tcp: Option<&TcpListener>,
) -> String {
    let line = common::setup::startup_line("stage08", &args.common, http, "http");
    let mut line = line.trim_end_matches(" (Ctrl-C stops)").to_string();
    let port = |l: &TcpListener| l.local_addr().map_or(0, |a| a.port());
    if let Some(tls) = tls {
        line.push_str(&format!(" and https://localhost:{}/", port(tls)));
    }
    if let Some(tcp) = tcp {
        line.push_str(&format!(", TCP chat on port {}", port(tcp)));
    }
    line.push_str(" (Ctrl-C stops)");
    line
}
