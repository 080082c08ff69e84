//! Stage 1: the simplest complete HTTP server. One connection at a time, HTTP/1.0.
//!
//! Accept a connection, read until the request head is complete, answer it, close. Everything
//! HTTP means (parsing, which file, which status) comes from `common`; what this file teaches
//! is the socket's side: bind, accept, read until the head ends, write, close, and what to do
//! when any of those fails. Its weakness is the lesson of the next stages: while one client is
//! being served (or is dawdling), every other client waits.

use clap::Parser;
use common::{AccessLog, BodyFraming, CommonArgs, Connection, DateCache, Parsed, Site, Version};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, SystemTime};

/// A stage01 server: HTTP/1.0, one connection at a time.
#[derive(Parser, Debug)]
#[command(name = "stage01", version, about, after_help = common::cli::LIMITS_HELP)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

/// How long one client may take to send its head or accept our response before we give up
/// on it. Without this, one silent client would stall the server forever (try it with `nc`).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

fn main() {
    let args = Args::parse();
    common::setup::run_or_exit("stage01", || {
        common::setup::check_root(&args.common.root)?;
        let site = Site::new(&args.common.root).map_err(|e| format!("cannot use ROOT: {e}"))?;
        let log = AccessLog::open(&args.common)?;
        let listener = common::setup::bind(args.common.bind, args.common.port)?;
        println!(
            "{}",
            common::setup::startup_line("stage01", &args.common, &listener, "http")
        );
        serve(&listener, &site, &log);
        Ok(())
    });
}

// ANCHOR: accept_loop
/// Accepts connections forever, serving each to the end before taking the next.
fn serve(listener: &TcpListener, site: &Site, log: &AccessLog) {
    let mut dates = DateCache::default();
    for stream in listener.incoming() {
        match stream {
            // A failure on one connection is that connection's problem, never the server's.
            Ok(stream) => {
                let _ = handle(stream, site, log, &mut dates);
            }
            // EMFILE, ECONNABORTED...: skip this one; a short pause keeps a lasting
            // condition (out of descriptors) from spinning the CPU.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}
// ANCHOR_END: accept_loop

// ANCHOR: handle
/// Serves one connection: one request, one response, then the connection closes.
fn handle(
    mut stream: TcpStream,
    site: &Site,
    log: &AccessLog,
    dates: &mut DateCache,
) -> io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let peer = stream.peer_addr()?.ip();

    // `unread`: the client may have sent bytes we will never read (a body, a refused head).
    let (request, response, unread) = match read_head(&mut stream)? {
        Some((Parsed::Complete(request, used), buffered)) => {
            let response = site.respond(&request);
            let unread = buffered > used || request.body != BodyFraming::None;
            (Some(request), response, unread)
        }
        Some((Parsed::Invalid(refusal), _)) => (None, refusal.response(), true),
        // The client closed (or went silent) before sending a whole head: nobody to answer.
        Some((Parsed::Partial, _)) | None => return Ok(()),
    };

    let mut head = Vec::with_capacity(512);
    let date = dates.get(SystemTime::now());
    response.write_head(
        &mut head,
        Version::Http10,
        Connection::Close,
        date,
        "stage01",
    );
    // The line is logged however sending ends: a client that leaves halfway shows up with
    // the bytes it got (as in nginx), and only then does the error end this connection.
    let mut sent = 0;
    let written = stream
        .write_all(&head)
        .and_then(|()| common::blocking::write_body(&mut stream, response.body, &mut sent));
    log.record(
        peer,
        SystemTime::now(),
        request.as_ref(),
        None,
        response.status,
        sent,
    );
    written?;
    // Closing with unread input makes the kernel send a reset, which can destroy the
    // response in flight; only then is the slower lingering close worth its round trip.
    if unread {
        common::blocking::lingering_close(&mut stream);
    }
    Ok(())
}
// ANCHOR_END: handle

// ANCHOR: read_head
/// Reads until the buffer holds a whole head (or an invalid one). TCP is a byte stream: the
/// head may arrive in one read or one byte at a time, and we cannot tell which in advance.
/// Returns the outcome with how many bytes were buffered, or `None` when the client hangs up
/// or times out first.
fn read_head(stream: &mut TcpStream) -> io::Result<Option<(Parsed, usize)>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        buf.extend_from_slice(&chunk[..n]);
        // parse_head enforces the size limits, so `buf` cannot grow past 16 KiB + one chunk.
        match common::parse_head(&buf) {
            Parsed::Partial => continue,
            done => return Ok(Some((done, buf.len()))),
        }
    }
}
// ANCHOR_END: read_head
