//! One connection as an explicit state machine, driven by readiness events.
//!
//! In stages 02 to 04 a connection's state lived on a thread's stack: "we are reading the
//! head" was simply where the code was blocked. With one thread for every connection, nobody
//! may block, so that position has to become data. Each [`Connection`] records where it is
//! ([`State`]), what it has read but not yet used (`input`) and what it owes but could not yet
//! send (`output`, then `file`). When the loop says "your socket is ready", the connection does
//! as much as it can without blocking, and returns what it is waiting for next ([`Outcome`]).
//!
//! Partial reads and partial writes are the normal case here, not an error path: a read may
//! bring half a head or three and a half pipelined requests; a write may take 10 bytes of 10 MB.

use crate::sendfile::{send_file, write_more};
use crate::timers::Timer;
use common::cache::FileCache;
use common::framing::{persistence, BodySkipper};
use common::log::PendingLine;
use common::{
    connection_for, AccessLog, Body, Connection as Persistence, DateCache, FileBody, Parsed,
    Refusal, Request, Site, Status, Version,
};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::time::{Duration, Instant, SystemTime};

/// Stop parsing pipelined requests once this much response is waiting to be written: a client
/// that sends requests and never reads must not make us buffer its answers without bound.
const OUTPUT_HIGH_WATER: usize = 64 * 1024;
/// How much of a file one connection may send per turn before letting the others have theirs.
const FILE_TURN: u64 = 4 * 1024 * 1024;
/// A client that takes none of our response for this long is dropped (nginx: send_timeout).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Lingering close: how long, and how much, we read after our last response before closing.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;

/// Everything a connection borrows from the loop while it works: the site, the cache, the
/// log, the clock (read once per loop turn, not once per connection), and the settings.
pub struct Env {
    /// The `Server` field of every response: "stage05" (or the name of an example using it).
    pub server: &'static str,
    pub site: Site,
    pub cache: FileCache,
    pub log: AccessLog,
    pub dates: DateCache,
    pub idle_timeout: Duration,
    pub header_timeout: Duration,
    pub now: Instant,
    pub wall: SystemTime,
    /// Shutting down: every response says `Connection: close`, and idle connections close.
    pub draining: bool,
}

/// Buffers shared by every connection, because only one connection works at a time. A read
/// lands in `input` and a batch of responses is built in `output`; only what is left over
/// (half a head, a response the socket would not take) is copied into the connection's own
/// buffers. So 10,000 idle connections hold no buffers at all.
pub struct Scratch {
    pub input: Vec<u8>,
    pub output: Vec<u8>,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            input: vec![0; 64 * 1024],
            output: Vec::with_capacity(OUTPUT_HIGH_WATER * 2),
        }
    }
}

/// Which readiness a connection waits for. Reading and writing are never both wanted: while
/// responses are pending we stop reading, and that is the back-pressure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    Read,
    Write,
}

/// What the connection wants from the loop after a turn.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Call me again when the socket is ready this way, or close me at `deadline`.
    Wait {
        interest: Interest,
        deadline: Instant,
    },
    /// Done: deregister and close.
    Close,
}

// ANCHOR: state
/// Where a connection stands.
#[derive(Debug)]
enum State {
    /// Reading requests: a head (or the rest of one), or a body to step over.
    Reading(Reading),
    /// Sending what is queued: `output`, then `file`. Reading is paused until it is all out.
    Writing(Next),
    /// Our last response is out and our side is shut; discarding what the client still
    /// sends until it closes too, so our close cannot reset the response away.
    Lingering { drained: usize, until: Instant },
}

/// The two places in a request stream.
#[derive(Debug)]
enum Reading {
    Head,
    Body(BodySkipper),
}

/// Where a connection goes once its queued output is written.
#[derive(Debug)]
enum Next {
    Read(Reading),
    Close,
}
// ANCHOR_END: state

pub struct Connection {
    pub stream: TcpStream,
    peer: IpAddr,
    /// Unique for the life of the process: tells this connection from the next one in its slot.
    pub serial: u64,
    /// The interest registered with the poller now (changing it costs a system call).
    pub interest: Interest,
    pub timer: Timer,
    state: State,
    /// Bytes read but not yet used: part of a head, or requests queued behind a response.
    input: Vec<u8>,
    /// Response bytes the socket has not taken yet.
    output: Vec<u8>,
    /// A file to stream once `output` is empty.
    file: Option<FileBody>,
    /// The file's log line and its full length: written when the file is out, or when the
    /// connection ends first, with the bytes that went (see `log_file_sent`).
    file_log: Option<(PendingLine, u64)>,
    /// When the head we are waiting on began to arrive: the header timeout runs from here,
    /// however slowly the rest drips in.
    head_started: Option<Instant>,
    /// When the socket last took any of our bytes (the send timeout runs from here).
    last_progress: Instant,
}

impl Connection {
    pub fn new(stream: TcpStream, peer: IpAddr, serial: u64, now: Instant) -> Connection {
        Connection {
            stream,
            peer,
            serial,
            interest: Interest::Read,
            timer: Timer::default(),
            state: State::Reading(Reading::Head),
            input: Vec::new(),
            output: Vec::new(),
            file: None,
            file_log: None,
            head_started: None,
            last_progress: now,
        }
    }

    /// True when nothing is in flight: no partial request, nothing to send. Safe to close.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Reading(Reading::Head))
            && self.input.is_empty()
            && self.output.is_empty()
            && self.file.is_none()
    }

    /// Writes the streamed file's log line with the bytes that went out: all of them once the
    /// file is done, fewer when the connection ends first (called then by the loop's `close`).
    pub fn log_file_sent(&mut self, log: &AccessLog) {
        if let Some((line, len)) = self.file_log.take() {
            let left = self.file.as_ref().map_or(0, |file| file.len);
            log.end(line, len - left);
        }
    }

    /// True when the client has sent bytes we have not read yet (a request on its way).
    pub fn has_unread_bytes(&self) -> bool {
        matches!(self.stream.peek(&mut [0u8; 1]), Ok(n) if n > 0)
    }

    /// The deadline of a fresh connection: it has `idle_timeout` to start a request.
    pub fn first_deadline(&self, env: &Env) -> Instant {
        env.now + env.idle_timeout
    }

    // ANCHOR: ready
    /// The socket is ready (for what we said we wanted): make all the progress we can.
    pub fn ready(&mut self, scratch: &mut Scratch, env: &mut Env) -> Outcome {
        match self.state {
            State::Reading(_) => {
                let n = match self.stream.read(&mut scratch.input) {
                    // The client hung up. Anything it had half-sent can never be answered.
                    Ok(0) => return Outcome::Close,
                    Ok(n) => n,
                    Err(e) if is_transient(&e) => return self.advance(&mut scratch.output, env),
                    Err(_) => return Outcome::Close,
                };
                self.absorb(&scratch.input[..n], &mut scratch.output, env);
                self.advance(&mut scratch.output, env)
            }
            State::Writing(_) => self.advance(&mut scratch.output, env),
            State::Lingering { .. } => self.linger(&mut scratch.input),
        }
    }
    // ANCHOR_END: ready

    /// The connection's deadline has passed. A head that began but did not finish in time is
    /// told why we hang up (408, as the blocking stages do); anything else just closes.
    pub fn timed_out(&mut self, scratch: &mut Scratch, env: &mut Env) -> Outcome {
        if !matches!(self.state, State::Reading(Reading::Head)) || self.input.is_empty() {
            return Outcome::Close;
        }
        let refusal = Refusal::new(Status::REQUEST_TIMEOUT, &self.input);
        self.input = Vec::new();
        self.head_started = None;
        self.last_progress = env.now;
        self.refuse(refusal, &mut scratch.output, env);
        self.state = State::Writing(Next::Close);
        self.advance(&mut scratch.output, env)
    }

    /// Takes freshly read bytes: answers every complete request in them, keeps the rest.
    fn absorb(&mut self, fresh: &[u8], out: &mut Vec<u8>, env: &mut Env) {
        if self.input.is_empty() {
            // The fast path: whole requests in one read are parsed straight from the shared
            // buffer, and only a leftover fragment is copied.
            let used = self.process(fresh, out, env);
            self.input.extend_from_slice(&fresh[used..]);
        } else {
            self.input.extend_from_slice(fresh);
            self.process_input(out, env);
        }
    }

    /// Processes what waited in `input`; returns whether that made any progress.
    fn process_input(&mut self, out: &mut Vec<u8>, env: &mut Env) -> bool {
        let input = std::mem::take(&mut self.input);
        let used = self.process(&input, out, env);
        self.input = input;
        self.input.drain(..used);
        if self.input.is_empty() {
            // Hand the memory back: an idle connection should hold no buffer.
            self.input = Vec::new();
        }
        used > 0 || !out.is_empty() || self.file.is_some()
    }

    // ANCHOR: process
    /// Answers, in order, every complete request at the start of `buf`, appending the
    /// responses to `out`, and returns how many bytes it used. Stops at a partial head, at a
    /// file (it must be streamed before any later response), when `out` is full enough, or
    /// when the connection is to close.
    fn process(&mut self, buf: &[u8], out: &mut Vec<u8>, env: &mut Env) -> usize {
        // Whatever gets queued now, its send timeout counts from now, not from before an
        // idle spell.
        self.last_progress = env.now;
        let mut used = 0;
        loop {
            let State::Reading(reading) = &mut self.state else {
                return buf.len();
            };
            match reading {
                Reading::Body(skipper) => match skipper.skip(&buf[used..]) {
                    Ok(n) => {
                        used += n;
                        if !skipper.is_done() {
                            return used;
                        }
                        self.state = State::Reading(Reading::Head);
                    }
                    // Malformed chunks, or too much to throw away: the next request cannot be
                    // found, so the connection ends after what is already queued.
                    Err(_) => {
                        self.state = State::Writing(Next::Close);
                        return buf.len();
                    }
                },
                Reading::Head => {
                    let rest = &buf[used..];
                    if rest.is_empty() || self.file.is_some() || out.len() >= OUTPUT_HIGH_WATER {
                        return used;
                    }
                    match common::parse_head(rest) {
                        Parsed::Partial => {
                            self.head_started.get_or_insert(env.now);
                            return used;
                        }
                        Parsed::Invalid(refusal) => {
                            self.refuse(refusal, out, env);
                            self.state = State::Writing(Next::Close);
                            return buf.len();
                        }
                        Parsed::Complete(request, len) => {
                            used += len;
                            self.head_started = None;
                            if self.respond(&request, out, env) == Persistence::Close {
                                self.state = State::Writing(Next::Close);
                                return buf.len();
                            }
                            let skipper = BodySkipper::new(request.body);
                            if !skipper.is_done() {
                                self.state = State::Reading(Reading::Body(skipper));
                            }
                        }
                    }
                }
            }
        }
    }
    // ANCHOR_END: process

    // ANCHOR: respond
    /// Queues the response to one request: from the cache when it can, else from the site.
    /// Returns what the response said about the connection.
    fn respond(&mut self, request: &Request, out: &mut Vec<u8>, env: &mut Env) -> Persistence {
        let date = env.dates.get(env.wall);
        if let Some(hit) = env.cache.lookup(&env.site, request, env.now) {
            let connection = if env.draining {
                Persistence::Close
            } else {
                persistence(request)
            };
            hit.write_head(out, Version::Http11, connection, date, env.server);
            out.extend_from_slice(hit.body());
            let (status, sent) = (hit.status(), hit.body().len() as u64);
            env.log
                .record(self.peer, env.wall, Some(request), None, status, sent);
            return connection;
        }
        let response = env.site.respond(request);
        let connection = if env.draining {
            Persistence::Close
        } else {
            connection_for(Some(request), &response)
        };
        response.write_head(out, Version::Http11, connection, date, env.server);
        let (status, sent) = (response.status, response.body_len());
        match response.body {
            Body::File(file) => {
                // Its line waits for the bytes that really go out (the client may leave).
                let line = env
                    .log
                    .begin(self.peer, env.wall, Some(request), None, status);
                self.file_log = line.map(|line| (line, file.len));
                self.file = Some(file);
            }
            body => {
                env.log
                    .record(self.peer, env.wall, Some(request), None, status, sent);
                if let Body::Bytes(bytes) = body {
                    out.extend_from_slice(&bytes);
                }
            }
        }
        connection
    }
    // ANCHOR_END: respond

    /// Queues the answer to a head we will not parse; the connection closes after it.
    fn refuse(&mut self, refusal: Refusal, out: &mut Vec<u8>, env: &mut Env) {
        let (status, response) = (refusal.status, refusal.response());
        let date = env.dates.get(env.wall);
        response.write_head(out, Version::Http11, Persistence::Close, date, env.server);
        if let Body::Bytes(bytes) = &response.body {
            out.extend_from_slice(bytes);
        }
        env.log
            .record(self.peer, env.wall, None, None, status, response.body_len());
    }

    // ANCHOR: advance
    /// Moves through the states as far as the socket allows, and says what to wait for.
    fn advance(&mut self, out: &mut Vec<u8>, env: &mut Env) -> Outcome {
        loop {
            match &mut self.state {
                State::Reading(reading) => {
                    if !out.is_empty() || self.file.is_some() {
                        let reading = std::mem::replace(reading, Reading::Head);
                        self.state = State::Writing(Next::Read(reading));
                        continue;
                    }
                    // Requests that waited behind a response are answered before reading more.
                    if !self.input.is_empty() && self.process_input(out, env) {
                        continue;
                    }
                    return self.wait_for_request(env);
                }
                State::Writing(_) => match self.flush(out, env.now, &env.log) {
                    Ok(true) => {
                        match std::mem::replace(&mut self.state, State::Reading(Reading::Head)) {
                            State::Writing(Next::Read(reading)) => {
                                self.state = State::Reading(reading)
                            }
                            State::Writing(Next::Close) => return self.start_lingering(env.now),
                            // (Not reachable: this arm is only taken in `Writing`.)
                            other => self.state = other,
                        }
                    }
                    Ok(false) => {
                        return Outcome::Wait {
                            interest: Interest::Write,
                            deadline: self.last_progress + SEND_TIMEOUT,
                        }
                    }
                    Err(_) => return Outcome::Close,
                },
                State::Lingering { until, .. } => {
                    return Outcome::Wait {
                        interest: Interest::Read,
                        deadline: *until,
                    }
                }
            }
        }
    }
    // ANCHOR_END: advance

    /// Nothing to send: wait for the next request (or the rest of this one, or its body).
    fn wait_for_request(&mut self, env: &Env) -> Outcome {
        let deadline = match (&self.state, self.head_started) {
            // Part of a head is here: it has until `header_timeout` after it began, however
            // slowly the rest drips in. A per-read timeout would let a byte every 9 s live forever.
            (State::Reading(Reading::Head), Some(started)) if !self.input.is_empty() => {
                started + env.header_timeout
            }
            (State::Reading(Reading::Head), _) => {
                self.head_started = None;
                // Shutting down: its last response is out, so the connection ends, with a
                // lingering close in case a request of the client's is already on its way.
                if env.draining {
                    return self.start_lingering(env.now);
                }
                env.now + env.idle_timeout
            }
            // A body drips in: it must keep moving.
            _ => env.now + env.idle_timeout,
        };
        Outcome::Wait {
            interest: Interest::Read,
            deadline,
        }
    }

    // ANCHOR: flush
    /// Writes queued bytes, then the file, until done (`true`) or the socket is full (`false`).
    fn flush(&mut self, out: &mut Vec<u8>, now: Instant, log: &AccessLog) -> io::Result<bool> {
        if !out.is_empty() {
            // A new batch: one write for all of it, straight from the shared buffer. Only what
            // the socket does not take is copied to this connection's own buffer.
            let n = self.write_some(out, now)?;
            self.output.extend_from_slice(&out[n..]);
            out.clear();
        }
        if !self.output.is_empty() {
            let output = std::mem::take(&mut self.output);
            let n = self.write_some(&output, now)?;
            self.output = output;
            self.output.drain(..n);
            if !self.output.is_empty() {
                return Ok(false);
            }
            self.output = Vec::new();
        }
        let mut turn = FILE_TURN;
        while let Some(body) = &mut self.file {
            if body.len == 0 {
                self.file = None;
                self.log_file_sent(log);
                break;
            }
            if turn == 0 {
                // Still writable, but others are waiting: yield, and come back next turn.
                return Ok(false);
            }
            let count = body.len.min(turn).min(1 << 30) as usize;
            match send_file(&self.stream, &body.file, &mut body.offset, count) {
                Ok(0) => {
                    // The file shrank: the promised Content-Length cannot be kept. Close.
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
                }
                Ok(n) => {
                    body.len -= n as u64;
                    turn = turn.saturating_sub(n as u64);
                    self.last_progress = now;
                    if n < count {
                        // Less than asked: the socket's buffer is full. Asking again at once
                        // gets a segment at a time as the client reads; the kernel reports
                        // writable again when half the buffer is free, a piece worth a call.
                        return Ok(false);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
    // ANCHOR_END: flush

    /// Writes as much of `bytes` as the socket takes now; returns how much that was.
    fn write_some(&mut self, bytes: &[u8], now: Instant) -> io::Result<usize> {
        let mut written = 0;
        while written < bytes.len() {
            // A head whose file follows waits for the file's first bytes (see `write_more`).
            let result = if self.file.as_ref().is_some_and(|file| file.len > 0) {
                write_more(&self.stream, &bytes[written..])
            } else {
                self.stream.write(&bytes[written..])
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    written += n;
                    self.last_progress = now;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }

    /// Our last response is out: send FIN, then read and discard until the client closes.
    /// Closing at once could reset the connection while it still holds unread request bytes,
    /// and a reset can destroy the response before the client reads it.
    fn start_lingering(&mut self, now: Instant) -> Outcome {
        self.input = Vec::new();
        if self.stream.shutdown(Shutdown::Write).is_err() {
            return Outcome::Close;
        }
        let until = now + LINGER_TIME;
        self.state = State::Lingering { drained: 0, until };
        Outcome::Wait {
            interest: Interest::Read,
            deadline: until,
        }
    }

    fn linger(&mut self, scratch: &mut [u8]) -> Outcome {
        let State::Lingering { drained, until } = &mut self.state else {
            return Outcome::Close;
        };
        match self.stream.read(scratch) {
            Ok(0) => Outcome::Close,
            Ok(n) if *drained + n > LINGER_BYTES => Outcome::Close,
            Ok(n) => {
                *drained += n;
                Outcome::Wait {
                    interest: Interest::Read,
                    deadline: *until,
                }
            }
            Err(e) if is_transient(&e) => Outcome::Wait {
                interest: Interest::Read,
                deadline: *until,
            },
            Err(_) => Outcome::Close,
        }
    }
}

/// Errors that mean "nothing now, try again later", not "this connection is broken".
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
