//! Start-up, the one part of `common` that touches the OS: checking ROOT, binding the
//! listening socket, opening the access log, printing the startup line.
//!
//! Every stage starts the same way, and every failure here is a person's mistake (a port in
//! use, a typo in ROOT), so each error is one sentence that says what to do, not a backtrace.

use crate::cli::CommonArgs;
use socket2::{Domain, Protocol, Socket, Type};
use std::fs::{File, OpenOptions};
use std::io::{self, LineWriter, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Mutex;

/// Runs a stage's `main` body; on error prints one line, `stageNN: error: ...`, and exits 1.
/// (Returning the error from `main` would print its Debug form, with a backtrace when
/// RUST_BACKTRACE is set: not what a person who mistyped a folder name needs.)
pub fn run_or_exit(stage: &str, run: impl FnOnce() -> Result<(), String>) {
    if let Err(message) = run() {
        eprintln!("{stage}: error: {message}");
        std::process::exit(1);
    }
}

/// Checks that ROOT exists and is a directory we can list.
pub fn check_root(root: &Path) -> Result<(), String> {
    match std::fs::metadata(root) {
        Ok(meta) if meta.is_dir() => std::fs::read_dir(root)
            .map(drop)
            .map_err(|e| format!("cannot read ROOT {}: {e}", root.display())),
        Ok(_) => Err(format!("ROOT {} is not a directory", root.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(format!("ROOT {} does not exist", root.display()))
        }
        Err(e) => Err(format!("cannot use ROOT {}: {e}", root.display())),
    }
}

// ANCHOR: bind
/// Binds and listens on `addr:port`. For `::`, one dual-stack socket takes IPv4 too (IPv4
/// clients appear as `::ffff:a.b.c.d`); on a host without IPv6 it falls back to `0.0.0.0`.
pub fn bind(addr: IpAddr, port: u16) -> Result<TcpListener, String> {
    match listen_on(SocketAddr::new(addr, port)) {
        Err(e)
            if addr.is_unspecified()
                && addr.is_ipv6()
                && e.kind() == io::ErrorKind::Unsupported =>
        {
            listen_on(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
        }
        other => other,
    }
    .map_err(|e| bind_error(addr, port, &e))
}

fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| match e.raw_os_error() {
            // EAFNOSUPPORT: this kernel has no IPv6.
            Some(97) => io::Error::new(io::ErrorKind::Unsupported, e),
            _ => e,
        })?;
    if addr.is_ipv6() {
        // Linux defaults to dual-stack, but a sysctl can change that: ask explicitly.
        socket.set_only_v6(false)?;
    }
    // Lets a restarted server bind at once while the old connections sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    // The kernel caps the backlog at net.core.somaxconn anyway.
    socket.listen(4096)?;
    Ok(socket.into())
}
// ANCHOR_END: bind

fn bind_error(addr: IpAddr, port: u16, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::AddrInUse => format!("port {port} is already in use (is another server running? try another PORT, or 0)"),
        io::ErrorKind::PermissionDenied => format!(
            "permission denied to listen on port {port} (ports below 1024 need root or CAP_NET_BIND_SERVICE; try 8080)"
        ),
        io::ErrorKind::AddrNotAvailable => format!("address {addr} is not one of this machine's addresses"),
        _ => format!("cannot listen on {}: {e}", SocketAddr::new(addr, port)),
    }
}

/// The line a person can click: `stage01 serving ./www at http://localhost:8080/ (Ctrl-C stops)`.
pub fn startup_line(
    stage: &str,
    args: &CommonArgs,
    listener: &TcpListener,
    scheme: &str,
) -> String {
    let port = listener.local_addr().map_or(args.port, |a| a.port());
    let host = match args.bind {
        ip if ip.is_unspecified() || ip.is_loopback() => "localhost".to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    };
    format!(
        "{stage} serving {} at {scheme}://{host}:{port}/ (Ctrl-C stops)",
        args.root.display()
    )
}

/// Where access-log lines go. Shared by every thread of a stage; one line is one write.
pub enum AccessLog {
    Off,
    Stdout,
    File(Mutex<LineWriter<File>>),
    /// Lines go where the stage says (stage09: a pipe to its master, counted on the way).
    Sink(Box<dyn LogSink>),
}

/// A stage's own destination for finished lines, with their facts (status, version, bytes).
pub trait LogSink: Send + Sync {
    /// One finished line, without its newline (empty when [`LogSink::wants_text`] is false).
    fn line(&self, line: &str, facts: &crate::log::LineFacts);

    /// False for a sink that only counts (stage09 without an access log): its lines are then
    /// never formatted. Formatting one is a dozen small allocations and most of the CPU a
    /// cached small-file response costs in user space (perf, issue 15), for text nobody reads.
    fn wants_text(&self) -> bool {
        true
    }
}

impl AccessLog {
    /// Opens the log the arguments ask for (appending to a file, or stdout, or none).
    pub fn open(args: &CommonArgs) -> Result<AccessLog, String> {
        if args.quiet {
            return Ok(AccessLog::Off);
        }
        let Some(path) = &args.access_log else {
            return Ok(AccessLog::Stdout);
        };
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(|file| AccessLog::File(Mutex::new(LineWriter::new(file))))
            .map_err(|e| format!("cannot open access log {}: {e}", path.display()))
    }

    /// True when lines are written at all (callers can skip formatting them otherwise).
    pub fn enabled(&self) -> bool {
        !matches!(self, AccessLog::Off)
    }

    /// Logs one exchange in Combined Log Format; the line is only formatted when the log is on.
    /// `user` is the authenticated user (stage06), `body_bytes` the body bytes sent.
    pub fn record(
        &self,
        peer: IpAddr,
        time: std::time::SystemTime,
        request: Option<&crate::Request>,
        user: Option<&str>,
        status: crate::Status,
        body_bytes: u64,
    ) {
        if let Some(line) = self.begin(peer, time, request, user, status) {
            self.end(line, body_bytes);
        }
    }

    /// Starts the line of a response whose body is still to be streamed: `None` when the log
    /// is off. [`AccessLog::end`] writes it once the bytes sent are known.
    pub fn begin(
        &self,
        peer: IpAddr,
        time: std::time::SystemTime,
        request: Option<&crate::Request>,
        user: Option<&str>,
        status: crate::Status,
    ) -> Option<crate::log::PendingLine> {
        let entry = crate::LogEntry {
            peer,
            time,
            request,
            user,
            status,
            body_bytes: 0,
        };
        match self {
            AccessLog::Off => None,
            AccessLog::Sink(sink) if !sink.wants_text() => Some(entry.untold()),
            _ => Some(entry.pending()),
        }
    }

    /// Writes a line begun with [`AccessLog::begin`], now that `body_bytes` went out.
    pub fn end(&self, line: crate::log::PendingLine, body_bytes: u64) {
        if let AccessLog::Sink(sink) = self {
            let facts = line.facts(body_bytes);
            if !sink.wants_text() {
                return sink.line("", &facts);
            }
            return sink.line(&line.finish(body_bytes), &facts);
        }
        self.write(&line.finish(body_bytes));
    }

    /// Writes one line. A failing log (disk full, closed stdout) must not stop the server.
    pub fn write(&self, line: &str) {
        let _ = match self {
            // A sink takes finished lines with their facts, through `end`.
            AccessLog::Off | AccessLog::Sink(_) => Ok(()),
            AccessLog::Stdout => writeln!(io::stdout().lock(), "{line}"),
            AccessLog::File(file) => match file.lock() {
                Ok(mut file) => writeln!(file, "{line}"),
                Err(_) => Ok(()),
            },
        };
    }
}

/// Raises the soft limit on open descriptors to the hard limit, returning the new soft limit.
/// An event loop holding 10,000 connections needs more than the usual 1024.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut limit = libc_rlimit::Rlimit { cur: 0, max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    unsafe {
        if libc_rlimit::getrlimit(libc_rlimit::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        limit.cur = limit.max;
        if libc_rlimit::setrlimit(libc_rlimit::RLIMIT_NOFILE, &limit) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(limit.cur)
}

/// The two libc calls `raise_fd_limit` needs, declared here rather than pulling in a crate.
mod libc_rlimit {
    #[repr(C)]
    pub struct Rlimit {
        pub cur: u64,
        pub max: u64,
    }
    pub const RLIMIT_NOFILE: i32 = 7;
    extern "C" {
        pub fn getrlimit(resource: i32, rlim: *mut Rlimit) -> i32;
        pub fn setrlimit(resource: i32, rlim: *const Rlimit) -> i32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_must_be_an_existing_directory() {
        assert!(check_root(Path::new(".")).is_ok());
        let missing = check_root(Path::new("/no/such/dir")).expect_err("missing");
        assert_eq!(missing, "ROOT /no/such/dir does not exist");
        let file = check_root(Path::new("Cargo.toml")).expect_err("file");
        assert_eq!(file, "ROOT Cargo.toml is not a directory");
    }

    #[test]
    fn a_taken_port_is_one_clear_sentence() {
        let taken = bind(IpAddr::V4(Ipv4Addr::LOCALHOST), 0).expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let error = bind(IpAddr::V4(Ipv4Addr::LOCALHOST), port).expect_err("in use");
        assert!(
            error.starts_with(&format!("port {port} is already in use")),
            "{error}"
        );
    }

    /// A sink that keeps what it is given, and says whether it wants the text (shared, so
    /// the test can look after the log took it).
    struct Keep(bool, Mutex<Vec<(String, u16, u64)>>);

    impl LogSink for std::sync::Arc<Keep> {
        fn line(&self, line: &str, facts: &crate::log::LineFacts) {
            let mut got = self.1.lock().expect("lock");
            got.push((line.to_string(), facts.status.code(), facts.body_bytes));
        }
        fn wants_text(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn a_counting_sink_gets_the_facts_without_a_line() {
        let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let time = std::time::UNIX_EPOCH;
        for wants_text in [true, false] {
            let sink = std::sync::Arc::new(Keep(wants_text, Mutex::new(Vec::new())));
            let log = AccessLog::Sink(Box::new(sink.clone()));
            log.record(peer, time, None, None, crate::Status::NOT_FOUND, 10);
            let pending = log.begin(peer, time, None, None, crate::Status::OK);
            log.end(pending.expect("a sink is on"), 1024);
            let got = sink.1.lock().expect("lock").clone();
            let codes: Vec<(u16, u64)> = got.iter().map(|(_, code, n)| (*code, *n)).collect();
            assert_eq!(codes, [(404, 10), (200, 1024)], "the facts either way");
            if wants_text {
                assert_eq!(
                    got[0].0,
                    "127.0.0.1 - - [01/Jan/1970:00:00:00 +0000] \"-\" 404 10 \"-\" \"-\""
                );
                assert!(got[1].0.contains("\" 200 1024 "), "{}", got[1].0);
            } else {
                assert!(got.iter().all(|(line, _, _)| line.is_empty()), "{got:?}");
            }
        }
    }

    #[test]
    fn dual_stack_accepts_ipv4() {
        let listener = bind("::".parse().expect("ip"), 0).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("ipv4 connects");
    }
}
