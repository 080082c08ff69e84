//! Stage 4: a thread pool. stage03's connections, served by a fixed number of threads.
//!
//! stage03 starts a thread for every connection: ten thousand clients, ten thousand threads,
//! each with its stack, until the OS refuses one. Here the main thread only accepts; a fixed
//! pool of workers (`--threads`) takes connections from a bounded queue (`--queue`). When the
//! queue is full the acceptor answers 503 with `Retry-After` at once, instead of letting work
//! pile up without bound: that is back-pressure. The price: a worker serves one connection
//! at a time, so an idle keep-alive connection holds a worker. A worker about to wait on an
//! idle connection lets it go when others are queued. And since we now own our threads, we
//! can stop them politely: SIGINT or SIGTERM stops the accepting, lets answers in flight
//! finish, closes idle connections, and exits within `--grace` seconds.

use clap::Parser;
use common::{
    AccessLog, Body, BodySkipper, CommonArgs, Connection, DateCache, GraceArgs, Parsed, Refusal,
    Request, Response, Site, Status, TimeoutArgs, Version,
};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

const STAGE: &str = "stage04";

// ANCHOR: args
/// A stage04 server: persistent, pipelined HTTP/1.1 connections, served by a fixed pool of
/// threads; 503 when the queue is full; Ctrl-C (SIGINT) or SIGTERM stops it gracefully.
#[derive(Parser, Debug)]
#[command(name = "stage04", version, about, after_help = common::cli::LIMITS_HELP)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    /// --idle-timeout and --header-timeout, shared from stage02 on.
    #[command(flatten)]
    timeouts: TimeoutArgs,

    /// Worker threads serving connections [default: the number of CPUs]
    #[arg(long, value_name = "N")]
    threads: Option<NonZeroUsize>,

    /// Accepted connections that may wait for a worker; past this, new ones get 503
    #[arg(long, value_name = "N", default_value_t = 128,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    queue: u64,

    /// --grace, shared from stage04 on.
    #[command(flatten)]
    stop: GraceArgs,
}
// ANCHOR_END: args

/// How many bytes one read asks the kernel for.
const READ_SIZE: usize = 16 * 1024;

/// How much answer we gather before writing it out. Enough for a batch of small answers in
/// one write; small enough that a thousand connections hold at most 64 MiB of it.
const FLUSH_AT: usize = 64 * 1024;

/// How often a waiting thread looks up from its wait: the acceptor to see whether a signal
/// asked us to stop, a worker on an idle connection to see whether it should let it go.
const LOOK_UP_EVERY: Duration = Duration::from_millis(100);

/// What every worker needs. Read-only once the server runs (the queue and the flag are
/// shared by design), so an `Arc` shares it with no lock.
struct Shared {
    site: Site,
    log: AccessLog,
    /// How long a connection may sit silent between requests.
    idle_timeout: Duration,
    /// How long a head may take from its first byte to its last (and a body we skip, too).
    header_timeout: Duration,
    /// Where workers take connections from. Also read by a worker deciding whether someone
    /// is waiting for it (see `next_head`).
    queue: Receiver<TcpStream>,
    /// Set by the signal handler on SIGINT or SIGTERM: finish what is in flight, then stop.
    stopping: Arc<AtomicBool>,
}

impl Shared {
    // ANCHOR: should_let_go
    /// True when a worker should close an idle connection rather than keep waiting on it:
    /// the server is stopping, or (once the connection has had an answer) other clients are
    /// queued for a worker. A worker serves one connection at a time, so a keep-alive client
    /// that thinks before its next request would otherwise hold the worker for the whole idle
    /// timeout while clients in the queue wait. Closing an idle keep-alive connection is
    /// always allowed (RFC 9112 section 9.5); the client reconnects when it needs us.
    fn should_let_go(&self, answered_before: bool) -> bool {
        self.stopping.load(Ordering::Relaxed) || (answered_before && !self.queue.is_empty())
    }
    // ANCHOR_END: should_let_go
}

fn main() {
    let args = Args::parse();
    common::setup::run_or_exit(STAGE, || {
        common::setup::check_root(&args.common.root)?;
        let site = Site::new(&args.common.root)
            .map_err(|e| format!("cannot use ROOT: {e}"))?
            // A connection that lives on makes revalidating cheap; ETags make it exact.
            .with_etags();
        let log = AccessLog::open(&args.common)?;
        let stopping = on_stop_signals()?;
        let listener = common::setup::bind(args.common.bind, args.common.port)?;
        let threads = args
            .threads
            .or_else(|| std::thread::available_parallelism().ok())
            .map_or(1, NonZeroUsize::get);
        // `queue` is at most a million (clap checks), so it fits a usize anywhere.
        let (sender, receiver) = crossbeam_channel::bounded(args.queue as usize);
        let shared = Arc::new(Shared {
            site,
            log,
            idle_timeout: args.timeouts.idle(),
            header_timeout: args.timeouts.header(),
            queue: receiver,
            stopping,
        });
        let workers = start_workers(threads, &shared)?;
        println!(
            "{}",
            common::setup::startup_line(STAGE, &args.common, &listener, "http")
        );
        serve(&listener, sender, &shared);
        // The acceptor returns only when asked to stop.
        drop(listener);
        finish(workers, args.stop.period());
        Ok(())
    });
}

// ANCHOR: signals
/// Makes SIGINT and SIGTERM set a flag, which the threads look at between waits, instead of
/// killing the process; a second signal, once the flag is set, exits at once.
///
/// A signal handler may do almost nothing safely (no locks, no allocation): storing to an
/// atomic is one of the few things it can. The order matters: the conditional exit is
/// registered first, so the first signal finds the flag still false and only sets it.
fn on_stop_signals() -> Result<Arc<AtomicBool>, String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stopping = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // 130 is what a shell reports for a process killed by Ctrl-C (128 + SIGINT).
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stopping))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stopping)))
            .map_err(|e| format!("cannot handle signal {signal}: {e}"))?;
    }
    Ok(stopping)
}
// ANCHOR_END: signals

// ANCHOR: pool
/// Starts the fixed pool: each worker takes a connection from the queue, serves it to the
/// end, and takes the next. The threads live as long as the server; none starts per client.
fn start_workers(count: usize, shared: &Arc<Shared>) -> Result<Vec<JoinHandle<()>>, String> {
    (0..count)
        .map(|i| {
            let shared = Arc::clone(shared);
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    // `recv` fails only once every sender is gone (we are stopping) and the
                    // queue is empty: connections accepted before the stop are still served.
                    while let Ok(stream) = shared.queue.recv() {
                        // An error ends this connection only (a reset, a write timing out).
                        let _ = handle(stream, &shared);
                    }
                })
                .map_err(|e| format!("cannot start worker thread {i}: {e}"))
        })
        .collect()
}
// ANCHOR_END: pool

// ANCHOR: accept_loop
/// Accepts connections and queues them for the workers, until a signal asks us to stop.
/// A connection that finds the queue full is answered 503 here, at once, and closed.
fn serve(listener: &TcpListener, sender: Sender<TcpStream>, shared: &Shared) {
    // A blocking `accept` would sleep through the signal (the handler restarts it). With a
    // receive timeout on the listening socket, Linux's `accept` gives up after LOOK_UP_EVERY
    // (as EAGAIN), and we look at the flag. A connection that arrives is taken at once.
    let socket = socket2::SockRef::from(listener);
    if let Err(e) = socket.set_read_timeout(Some(LOOK_UP_EVERY)) {
        eprintln!("{STAGE}: cannot set a timeout on accept ({e}); stopping will wait for a client");
    }
    let mut dates = DateCache::default();
    while !shared.stopping.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => match sender.try_send(stream) {
                Ok(()) => {}
                Err(TrySendError::Full(stream)) => refuse_busy(stream, &mut dates),
                // Every worker has exited (none should): nobody will ever serve this.
                Err(TrySendError::Disconnected(_)) => break,
            },
            // The timeout (or a signal): go round and look at the flag.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            // EMFILE, ECONNABORTED...: skip this one; the pause keeps a lasting condition
            // (out of descriptors) from spinning the CPU.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    eprintln!(
        "{STAGE}: stopping: finishing the answers in flight (send the signal again to stop at once)"
    );
    // Dropping the only sender is how the workers learn there is nothing more to come.
    drop(sender);
}
// ANCHOR_END: accept_loop

// ANCHOR: refuse_busy
/// Answers 503 on the acceptor's own thread, so it must never wait long: a short write
/// timeout bounds a client that does not read, and the small answer fits the socket's buffer.
fn refuse_busy(mut stream: TcpStream, dates: &mut DateCache) {
    let response = Response::refuse(Status::SERVICE_UNAVAILABLE).with_header("Retry-After", "1");
    let mut out = Vec::with_capacity(512);
    let date = dates.get(SystemTime::now());
    response.write_head(&mut out, Version::Http11, Connection::Close, date, STAGE);
    if let Body::Bytes(bytes) = &response.body {
        out.extend_from_slice(bytes);
    }
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = stream.set_nodelay(true);
    let _ = stream.write_all(&out);
    // Closing with the client's request unread would send a reset, which may overtake the 503.
    // We cannot linger here (the acceptor must go on), so read what has already arrived,
    // without waiting, then send our FIN.
    if stream.set_nonblocking(true).is_ok() {
        let mut scratch = [0u8; 16 * 1024];
        while matches!(stream.read(&mut scratch), Ok(n) if n > 0) {}
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
}
// ANCHOR_END: refuse_busy

// ANCHOR: finish
/// Waits for the workers to finish their connections, at most `grace`; then exits anyway
/// (code 1) rather than let one slow client hold the process for ever.
fn finish(workers: Vec<JoinHandle<()>>, grace: Duration) {
    let deadline = Instant::now() + grace;
    while workers.iter().any(|w| !w.is_finished()) {
        if Instant::now() >= deadline {
            let busy = workers.iter().filter(|w| !w.is_finished()).count();
            eprintln!("{STAGE}: grace period over; cutting off {busy} connection(s)");
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("{STAGE}: stopped");
}
// ANCHOR_END: finish

// ANCHOR: handle
/// Serves one connection, request after request, until either side ends it.
fn handle(mut stream: TcpStream, shared: &Shared) -> io::Result<()> {
    // An answer may leave in several writes (a head, then a body; a big file in pieces).
    // With Nagle's algorithm on, the kernel holds back a small write while earlier bytes are
    // unacknowledged, and the client delays its acknowledgement (up to 40 ms) hoping to
    // piggyback it: small answers would stall. stage01 never saw this: closing a socket
    // flushes it.
    stream.set_nodelay(true)?;
    // A client that stops taking our bytes gets the allowance of one that stops sending.
    stream.set_write_timeout(Some(shared.idle_timeout))?;
    let peer = stream.peer_addr()?.ip();
    let mut dates = DateCache::default();
    // Bytes read and not yet used. Whatever follows a request's head is its body or the next
    // request: it is kept here for the next step, never dropped.
    let mut buf = Vec::with_capacity(READ_SIZE);
    // Answers not yet written: they go out when we next wait for the client (see `fill`),
    // or as soon as they reach FLUSH_AT bytes.
    let mut out = Vec::with_capacity(FLUSH_AT);
    // Whether this connection has had an answer: only then is it a keep-alive connection
    // we may close to make room for a queued client.
    let mut answered = false;
    loop {
        let head = next_head(&mut stream, &mut buf, &mut out, shared, answered)?;
        answered = true;
        let (request, response) = match head {
            Head::Request(request, len) => {
                buf.drain(..len);
                let response = shared.site.respond(&request);
                (Some(request), response)
            }
            Head::Refused(refusal) => (None, refusal.response()),
            // Closed, reset or idle before a request began: nobody waits for an answer.
            Head::Gone => return Ok(()),
        };
        // Keep-alive or not, by version and `Connection` field (DESIGN section 5).
        let connection = common::connection_for(request.as_ref(), &response);
        let date = dates.get(SystemTime::now());
        response.write_head(&mut out, Version::Http11, connection, date, STAGE);
        let status = response.status;
        let mut sent = 0;
        let queued = queue(&mut stream, &mut out, response.body, &mut sent);
        shared.log.record(
            peer,
            SystemTime::now(),
            request.as_ref(),
            None,
            status,
            sent,
        );
        if let Err(e) = queued {
            // The answers before this one are whole: they still go out, then the close tells
            // the client this one was cut short.
            let _ = flush(&mut stream, &mut out);
            return Err(e);
        }

        // Answered; now step over the body the request came with, so that what follows is
        // read as the next request and not as leftovers of this one.
        let body_skipped = match (&request, connection) {
            (Some(request), Connection::Default | Connection::KeepAlive) => {
                skip_body(&mut stream, &mut buf, &mut out, request, shared)?
            }
            _ => false,
        };
        if !body_skipped {
            flush(&mut stream, &mut out)?;
            common::blocking::lingering_close(&mut stream);
            return Ok(());
        }
    }
}
// ANCHOR_END: handle

/// What the next request on a connection turned out to be.
// Returned and matched at once, never stored: boxing the big variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Head {
    /// A whole, valid head, and how many bytes of the buffer it took.
    Request(Request, usize),
    /// A head we will not serve: answer as refused (no body for a HEAD), then close.
    Refused(Refusal),
    /// The client closed, reset, or stayed idle before starting a request.
    Gone,
}

// ANCHOR: next_head
/// Waits for the next request head in `buf`, reading more as needed, within two limits.
///
/// Before its first byte the connection is idle, and may stay so for `idle_timeout`, but we
/// wait in slices of LOOK_UP_EVERY and let it go early when `should_let_go` says so. From the
/// first byte the whole head must be in within `header_timeout`: a deadline fixed once, with
/// each read allowed only the time left before it. A timeout per read would not do: a
/// client sending one header line a second never makes a read wait long, and could hold the
/// connection (and its thread) for ever.
fn next_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
    shared: &Shared,
    answered_before: bool,
) -> io::Result<Head> {
    let idle_until = Instant::now() + shared.idle_timeout;
    let mut head_deadline = None;
    loop {
        if !buf.is_empty() {
            match common::parse_head(buf) {
                Parsed::Complete(request, len) => return Ok(Head::Request(request, len)),
                Parsed::Invalid(refusal) => return Ok(Head::Refused(refusal)),
                Parsed::Partial => {}
            }
        }
        let deadline = if buf.is_empty() {
            idle_until.min(Instant::now() + LOOK_UP_EVERY)
        } else {
            *head_deadline.get_or_insert_with(|| Instant::now() + shared.header_timeout)
        };
        match fill(stream, buf, out, deadline)? {
            Filled::Data => {}
            // Part of a head came, the rest did not: tell the client why we hang up.
            Filled::TimedOut if !buf.is_empty() => {
                return Ok(Head::Refused(Refusal::new(Status::REQUEST_TIMEOUT, buf)))
            }
            // Idle for one slice only: go on waiting, unless someone needs this worker.
            Filled::TimedOut
                if Instant::now() < idle_until && !shared.should_let_go(answered_before) => {}
            Filled::TimedOut | Filled::Closed => return Ok(Head::Gone),
        }
    }
}
// ANCHOR_END: next_head

/// What one read brought.
enum Filled {
    Data,
    /// The client closed its side (EOF).
    Closed,
    /// The deadline passed first.
    TimedOut,
}

// ANCHOR: fill
/// One read, appended to `buf`, waiting no later than `deadline`.
///
/// The answers gathered so far go out first: this is the moment a batch ends. It is also what
/// bounds memory: while a client is not taking our answers we are stuck writing them, so we
/// read nothing more from it, and a client that pipelines without reading stalls only itself.
fn fill(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
    deadline: Instant,
) -> io::Result<Filled> {
    flush(stream, out)?;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // A zero timeout would mean "wait for ever" to the kernel (and is an error in std).
        if left.is_zero() {
            return Ok(Filled::TimedOut);
        }
        stream.set_read_timeout(Some(left))?;
        let start = buf.len();
        buf.resize(start + READ_SIZE, 0);
        let result = stream.read(&mut buf[start..]);
        buf.truncate(start + result.as_ref().map_or(0, |n| *n));
        match result {
            Ok(0) => return Ok(Filled::Closed),
            Ok(_) => return Ok(Filled::Data),
            // A signal interrupted the wait: wait again for what is left of the time.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Filled::TimedOut)
            }
            Err(e) => return Err(e),
        }
    }
}
// ANCHOR_END: fill

// ANCHOR: skip_body
/// Steps over the request's body (by Content-Length or chunked), reading as needed, so that
/// `buf` starts at the next request. False when the connection must close instead: chunks
/// that do not parse, more than we will discard, the client gone, or too slow.
fn skip_body(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
    request: &Request,
    shared: &Shared,
) -> io::Result<bool> {
    let mut skipper = BodySkipper::new(request.body);
    // A body we throw away gets the allowance of a head; unbounded, a client could hold this
    // thread for ever by dripping a megabyte of body a byte at a time.
    let deadline = Instant::now() + shared.header_timeout;
    loop {
        match skipper.skip(buf) {
            Ok(used) => drop(buf.drain(..used)),
            Err(_) => return Ok(false),
        }
        if skipper.is_done() {
            return Ok(true);
        }
        match fill(stream, buf, out, deadline)? {
            Filled::Data => {}
            Filled::Closed | Filled::TimedOut => return Ok(false),
        }
    }
}
// ANCHOR_END: skip_body

// ANCHOR: queue
/// Appends the body to `out`, writing `out` whenever it reaches FLUSH_AT: a small file rides
/// in the same write as its head (and as its neighbours' answers), a big one streams through
/// in FLUSH_AT pieces, never whole in memory. `sent` counts the body bytes queued, for the log.
fn queue(stream: &mut TcpStream, out: &mut Vec<u8>, body: Body, sent: &mut u64) -> io::Result<()> {
    match body {
        Body::Empty => {}
        Body::Bytes(bytes) => {
            out.extend_from_slice(&bytes);
            *sent = bytes.len() as u64;
        }
        Body::File(mut file) => loop {
            if out.len() >= FLUSH_AT {
                flush(stream, out)?;
            }
            // Read the next piece of the file straight into the room left in `out`.
            let start = out.len();
            let room = FLUSH_AT - start;
            let room = usize::try_from(file.len).map_or(room, |len| len.min(room));
            out.resize(start + room, 0);
            let read = file.read_chunk(&mut out[start..]);
            out.truncate(start + read.as_ref().map_or(0, |n| *n));
            match read? {
                0 => break,
                n => *sent += n as u64,
            }
        },
    }
    if out.len() >= FLUSH_AT {
        flush(stream, out)?;
    }
    Ok(())
}
// ANCHOR_END: queue

// ANCHOR: flush
/// Writes out everything gathered: one `write` when the kernel takes it all at once.
fn flush(stream: &mut TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    if !out.is_empty() {
        stream.write_all(out)?;
        out.clear();
    }
    Ok(())
}
// ANCHOR_END: flush
