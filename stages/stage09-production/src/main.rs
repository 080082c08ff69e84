//! Stage 9: the production server.
//!
//! Everything of stage06 (HTTP/1.1 on eventloop, TLS, auth, ranges, fallback), run the way a
//! server is run for real: from a config file that says exactly what is wrong with it, as a
//! master that binds the ports and N workers that serve, which reloads without dropping a
//! request, replaces a worker that dies, rotates its log, and gives up root before it reads
//! a single request. The files:
//!
//! - `config.rs`: the TOML file, the command line, and every check with its line and column;
//! - `master.rs`: the process tree, signals, reload, restarts, the log writer's loop;
//! - `worker.rs`: one worker process: its inherited descriptors, its loops, its stop;
//! - `privileges.rs`: chroot, setgroups, setgid, setuid;
//! - `logs.rs`: the access log, written by the master only, with rotation;
//! - `service.rs`, `tls.rs`: what a loop serves (and the seam where HTTP/2 joins).
//!
//! Three ways to start it:
//!
//! ```text
//! stage09 [OPTIONS] PORT ROOT      like every stage (cargo run -p stage09 -- 8080 ./www)
//! stage09 --config site.toml       a config file (see site.toml beside this crate)
//! stage09 --check-config site.toml check it and exit 0 or 2, like nginx -t
//! ```

mod config;
mod logs;
mod master;
mod metrics;
mod privileges;
mod service;
mod tls;
mod worker;

use clap::Parser;
use common::{GraceArgs, TimeoutArgs};
use config::{Config, Source, WorkerMode};
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use toml::Spanned;

/// The exit code for a configuration that is wrong, as clap uses for a wrong command line.
const BAD_CONFIG: i32 = 2;

/// stage09: a master and N workers serving a folder, from a config file or these options.
#[derive(Parser, Debug)]
#[command(
    name = "stage09",
    version,
    about,
    override_usage = "stage09 [OPTIONS] <PORT> <ROOT>\n       stage09 --config <FILE>\n       stage09 --check-config <FILE>",
    after_help = common::cli::LIMITS_HELP
)]
struct Args {
    /// TCP port to listen on; 0 asks the OS for a free one (the startup line shows it)
    #[arg(required_unless_present_any = ["config", "check_config", "worker"])]
    port: Option<u16>,

    /// The folder to serve; nothing outside it is ever sent
    #[arg(required_unless_present_any = ["config", "check_config", "worker"])]
    root: Option<PathBuf>,

    /// Read everything from this TOML file instead (the options below are then refused)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["port", "root", "check_config"])]
    config: Option<PathBuf>,

    /// Check FILE (syntax, values, root, certificates, users) and exit: 0 if good, 2 if not
    #[arg(long, value_name = "FILE", conflicts_with_all = ["port", "root"])]
    check_config: Option<PathBuf>,

    /// Address to listen on; the default `::` accepts IPv6 and IPv4 both
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V6(Ipv6Addr::UNSPECIFIED))]
    bind: IpAddr,

    /// Append the access log (Combined Log Format) to FILE instead of stdout
    #[arg(long, value_name = "FILE")]
    access_log: Option<PathBuf>,

    /// Write no access log at all
    #[arg(long, short, conflicts_with = "access_log")]
    quiet: bool,

    /// Rotate the access log when it reaches BYTES (FILE.1 ... FILE.N); 0 never
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    rotate_size: u64,

    /// Rotated access logs kept
    #[arg(long, value_name = "N", default_value_t = 5)]
    keep: u64,

    /// Where errors go (default stderr)
    #[arg(long, value_name = "FILE")]
    error_log: Option<PathBuf>,

    #[command(flatten)]
    timeouts: TimeoutArgs,

    /// Drop a client that takes none of our response for SECS
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    send_timeout: u64,

    #[command(flatten)]
    stop: GraceArgs,

    /// Per worker: stop accepting while N connections are open
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_connections: u64,

    /// Worker processes (or threads); default one per core
    #[arg(long, value_name = "N")]
    workers: Option<u64>,

    /// `processes` (a crash costs one worker) or `threads` (one process, N loops)
    #[arg(long, value_name = "MODE", default_value = "processes", value_parser = ["processes", "threads"])]
    worker_mode: String,

    /// PEM certificate chain: serve HTTPS on PORT
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<PathBuf>,

    /// PEM private key for --cert
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,

    /// Require HTTP Basic auth against the bcrypt lines of FILE (as `htpasswd -B` writes)
    #[arg(long, value_name = "FILE")]
    htpasswd: Option<PathBuf>,

    /// Allow USER with password PASS (repeatable). For demos only: it shows in `ps`
    #[arg(long, value_name = "USER:PASS")]
    auth: Vec<String>,

    /// The realm named in the password prompt
    #[arg(long, value_name = "NAME", default_value = "stage09")]
    realm: String,

    /// Serve this URL path (e.g. /index.html) for missing page routes
    #[arg(long, value_name = "PATH")]
    fallback: Option<String>,

    /// Send x.br / x.gz found beside x to clients that accept them (nginx's gzip_static)
    #[arg(long)]
    precompressed: bool,

    /// Started as root, workers become USER
    #[arg(long, value_name = "USER")]
    user: Option<String>,

    /// ... and GROUP (default: USER's own group)
    #[arg(long, value_name = "GROUP", requires = "user")]
    group: Option<String>,

    /// Workers chroot into ROOT before serving (needs root)
    #[arg(long)]
    chroot: bool,

    /// Started by the master: a worker (its descriptors are set up by the master)
    #[arg(long, hide = true)]
    worker: bool,
}

fn main() {
    let args = Args::parse();
    if args.worker {
        if let Err(e) = worker::run() {
            eprintln!("stage09: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Some(path) = &args.check_config {
        match config::load_file(path) {
            Ok(_) => {
                println!("stage09: {}: ok", path.display());
                return;
            }
            Err(line) => {
                eprintln!("stage09: {line}");
                std::process::exit(BAD_CONFIG);
            }
        }
    }
    let (origin, config, loaded) = match &args.config {
        Some(path) => match config::load_file(path) {
            Ok((config, loaded)) => (master::Origin::File(path.clone()), config, loaded),
            Err(line) => {
                eprintln!("stage09: {line}");
                std::process::exit(BAD_CONFIG);
            }
        },
        None => {
            let config = from_command_line(&args);
            // The command line's mistakes read as every stage's: `stage09: error: ...`.
            match config.check() {
                Ok(loaded) => (
                    master::Origin::CommandLine(Box::new(config.clone())),
                    config,
                    loaded,
                ),
                Err(m) => fail(&Source::CommandLine.describe(&m)),
            }
        }
    };
    let mut master = match master::Master::new(origin, config.clone(), loaded) {
        Ok(master) => master,
        Err(e) => fail(&e),
    };
    if let Err(e) = master.start() {
        fail(&e);
    }
    // The startup line is the readiness signal: every worker is serving.
    for (listener, addr) in config.listeners.iter().zip(master.bound()) {
        println!(
            "{}",
            master::startup_line(&config, addr, listener.tls.is_some())
        );
    }
    if config.metrics.is_some() {
        if let Some(addr) = master.bound().last() {
            println!("stage09 metrics at http://{addr}/metrics");
        }
    }
    let pids: Vec<String> = master.pids().iter().map(u32::to_string).collect();
    logs::say!(
        "stage09: master {}, workers {} ({})",
        std::process::id(),
        pids.join(" "),
        match config.worker_mode {
            WorkerMode::Processes => "processes",
            WorkerMode::Threads => "one process, a thread per loop",
        }
    );
    std::process::exit(master.run());
}

fn fail(message: &str) -> ! {
    eprintln!("stage09: error: {message}");
    std::process::exit(1);
}

/// The command line as a config, so that one set of checks (and one reload) serves both.
/// Nothing here came from a file, so nothing has a place (span `0..0`).
fn from_command_line(args: &Args) -> Config {
    fn here<T>(value: T) -> Spanned<T> {
        Spanned::new(0..0, value)
    }
    let tls = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => Some(config::TlsFiles {
            cert: here(cert.clone()),
            key: here(key.clone()),
        }),
        _ => None,
    };
    let auth = (args.htpasswd.is_some() || !args.auth.is_empty()).then(|| config::Auth {
        htpasswd: args.htpasswd.clone().map(here),
        users: args.auth.iter().cloned().map(here).collect(),
        realm: args.realm.clone(),
    });
    Config {
        root: here(args.root.clone().unwrap_or_default()),
        workers: args.workers.map(here),
        worker_mode: match args.worker_mode.as_str() {
            "threads" => WorkerMode::Threads,
            _ => WorkerMode::Processes,
        },
        max_connections: here(args.max_connections),
        user: args.user.clone().map(here),
        group: args.group.clone().map(here),
        chroot: args.chroot.then(|| here(true)),
        fallback: args.fallback.clone().map(here),
        precompressed: args.precompressed,
        http2: None,
        error_log: args.error_log.clone().map(here),
        timeouts: config::Timeouts {
            idle: here(args.timeouts.idle_timeout),
            header: here(args.timeouts.header_timeout),
            send: here(args.send_timeout),
            grace: here(args.stop.grace),
            lame_duck: here(0),
        },
        access_log: (!args.quiet).then(|| config::AccessLog {
            path: here(args.access_log.clone().unwrap_or_else(|| "-".into())),
            rotate_size: here(args.rotate_size),
            keep: here(args.keep),
        }),
        auth,
        listeners: vec![config::Listener {
            address: here(args.bind),
            port: here(args.port.unwrap_or(0)),
            tls,
            proxy_protocol: None,
        }],
        metrics: None,
    }
}
