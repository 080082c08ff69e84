//! Stage 2: persistent connections. HTTP/1.1 keep-alive, with a thread for each connection.
//!
//! stage01 paid for a TCP connection per request: a handshake before every stylesheet and
//! every image. Here one connection carries request after request, and that raises the two
//! questions this file answers. Where does one request end and the next begin? (Framing: the
//! head, then any body, which we must step over, then the next request; bytes read past one
//! request belong to the next and are kept.) And when do we give up on a connection? (An idle
//! timeout between requests, and a deadline for each head however slowly it drips in.)
//! Every connection gets its own thread, so a client that dawdles holds up nobody else; what
//! a thread per connection costs is measured in the chapter.

use clap::Parser;
use common::{
    AccessLog, BodySkipper, CommonArgs, Connection, DateCache, Parsed, Refusal, Request, Site,
    Status, TimeoutArgs, Version,
};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const STAGE: &str = "stage02";

// ANCHOR: args
/// A stage02 server: persistent HTTP/1.1 connections, a thread for each.
#[derive(Parser, Debug)]
#[command(name = "stage02", version, about, after_help = common::cli::LIMITS_HELP)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    /// --idle-timeout and --header-timeout, shared from stage02 on.
    #[command(flatten)]
    timeouts: TimeoutArgs,
}
// ANCHOR_END: args

/// How many bytes one read asks the kernel for.
const READ_SIZE: usize = 16 * 1024;

/// What every connection's thread needs. Read-only once the server runs, so an `Arc` shares
/// it with no lock.
struct Shared {
    site: Site,
    log: AccessLog,
    /// How long a connection may sit silent between requests.
    idle_timeout: Duration,
    /// How long a head may take from its first byte to its last (and a body we skip, too).
    header_timeout: Duration,
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
        let listener = common::setup::bind(args.common.bind, args.common.port)?;
        println!(
            "{}",
            common::setup::startup_line(STAGE, &args.common, &listener, "http")
        );
        let shared = Arc::new(Shared {
            site,
            log,
            idle_timeout: args.timeouts.idle(),
            header_timeout: args.timeouts.header(),
        });
        serve(&listener, &shared);
        Ok(())
    });
}

// ANCHOR: accept_loop
/// Accepts connections forever and hands each to a thread of its own.
fn serve(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let shared = Arc::clone(shared);
                // `thread::spawn` panics when the OS refuses a thread (the process is at its
                // thread limit, or out of memory for stacks); `Builder::spawn` returns the error.
                let spawned = std::thread::Builder::new().spawn(move || {
                    // An error ends this connection only (a reset, a write timing out).
                    let _ = handle(stream, &shared);
                });
                if let Err(e) = spawned {
                    // The closure, and the stream in it, are dropped: this one client sees its
                    // connection close. The pause lets running threads finish before the next try.
                    eprintln!("{STAGE}: cannot start a thread for a connection: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            // EMFILE, ECONNABORTED...: skip this one; the pause keeps a lasting condition
            // (out of descriptors) from spinning the CPU.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}
// ANCHOR_END: accept_loop

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
    loop {
        let (request, response) = match next_head(&mut stream, &mut buf, shared)? {
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
        let mut head = Vec::with_capacity(512);
        let date = dates.get(SystemTime::now());
        response.write_head(&mut head, Version::Http11, connection, date, STAGE);
        let status = response.status;
        let mut sent = 0;
        let written = stream
            .write_all(&head)
            .and_then(|()| common::blocking::write_body(&mut stream, response.body, &mut sent));
        shared.log.record(
            peer,
            SystemTime::now(),
            request.as_ref(),
            None,
            status,
            sent,
        );
        written?;

        // Answered; now step over the body the request came with, so that what follows is
        // read as the next request and not as leftovers of this one.
        let body_skipped = match (&request, connection) {
            (Some(request), Connection::Default | Connection::KeepAlive) => {
                skip_body(&mut stream, &mut buf, request, shared)?
            }
            _ => false,
        };
        if !body_skipped {
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
/// Before its first byte the connection is idle, and may stay so for `idle_timeout`. From the
/// first byte the whole head must be in within `header_timeout`: a deadline fixed once, with
/// each read allowed only the time left before it. A timeout per read would not do: a
/// client sending one header line a second never makes a read wait long, and could hold the
/// connection (and its thread) for ever.
fn next_head(stream: &mut TcpStream, buf: &mut Vec<u8>, shared: &Shared) -> io::Result<Head> {
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
            Instant::now() + shared.idle_timeout
        } else {
            *head_deadline.get_or_insert_with(|| Instant::now() + shared.header_timeout)
        };
        match fill(stream, buf, deadline)? {
            Filled::Data => {}
            // Part of a head came, the rest did not: tell the client why we hang up.
            Filled::TimedOut if !buf.is_empty() => {
                return Ok(Head::Refused(Refusal::new(Status::REQUEST_TIMEOUT, buf)))
            }
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
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, deadline: Instant) -> io::Result<Filled> {
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
        match fill(stream, buf, deadline)? {
            Filled::Data => {}
            Filled::Closed | Filled::TimedOut => return Ok(false),
        }
    }
}
// ANCHOR_END: skip_body
