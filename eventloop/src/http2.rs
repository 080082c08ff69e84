//! HTTP/2 as a session: `common::h2::Connection` (sans-IO) driven by the loop, answering
//! every stream through the same `Site` as HTTP/1.1.
//!
//! An HTTP/1.1 session hands a connection here when ALPN chose `h2` or when the connection
//! began with the HTTP/2 preface (see `http1.rs`, [`Switch`]). From then on the bytes the
//! transport reads go into the connection object, which turns them into events (a request
//! head, a reset, a window that opened) and queues the frames it owes (SETTINGS ACKs, PING
//! replies, GOAWAY). This file does what the connection cannot, because it needs a disk, a
//! clock or a socket: it answers each request head with `Site::respond` (or the small-file
//! cache, or a verifier thread for bcrypt), writes the response as HEADERS, and streams the
//! body as DATA within the flow-control windows, a piece at a time.
//!
//! Three rules shape it:
//! - **Bodies go out in pieces, round robin.** Every stream with a body waits in one queue;
//!   each turn of the queue sends one piece (at most [`PIECE`] bytes, one DATA frame) of the
//!   stream at its front and puts it at the back. A 10 MiB download and a 1 KB file asked
//!   for just after it share the connection piece by piece, so the small one finishes first.
//!   A file is read with `pread` into the loop's scratch buffer, one piece at a time: memory
//!   stays flat whatever the file's size.
//! - **Output is bounded.** Frames are made only while less than [`OUTPUT_HIGH_WATER`] is
//!   waiting for the socket, and nothing more is read from a client while our frames to it
//!   are stuck: a client that floods PINGs and never reads gets its replies queued up to the
//!   socket's buffer and no further.
//! - **Nothing waits forever.** No stream open: the idle timeout. Bytes stuck in a full
//!   socket, or bodies stuck behind a window the client never opens: the send timeout,
//!   counted from the last time a body moved. A graceful stop sends GOAWAY (the two-step
//!   one of RFC 9113 section 6.8, by `Connection::shutdown`), lets the open streams finish,
//!   and closes.

use crate::http1::{Env, Http1, HttpService, Switch};
use crate::mailbox::ConnectionId;
use crate::poller::Interest;
use crate::session::{Service, Session, Step, Turn};
use crate::transport::{Received, Transport};
use common::auth::Verified;
use common::h2::hpack::Field;
use common::h2::{self, Connection, ErrorCode, Event, RequestHead, Settings, StreamId};
use common::log::PendingLine;
use common::{Body, FileBody, Reply, Request, Response};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv6Addr, Shutdown};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most body bytes one stream sends before the next stream's turn: one DATA frame of the
/// default SETTINGS_MAX_FRAME_SIZE, and one TLS record.
pub const PIECE: usize = 16 * 1024;
/// Stop making frames (and stop reading) while this much output waits for the socket.
const OUTPUT_HIGH_WATER: usize = 64 * 1024;
/// Body bytes one connection may send per turn of the loop before the other connections
/// get theirs (as HTTP/1.1's `FILE_TURN`).
const TURN_BUDGET: usize = 4 * 1024 * 1024;
/// How long a stream may wait for its password check before the connection is given up.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(60);
/// After a connection error's GOAWAY: how long, and how much, we read and discard before
/// closing, so that our close does not reset the GOAWAY away (as HTTP/1.1's lingering close).
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;

// ANCHOR: service
/// What a service gives HTTP/2 sessions beyond what HTTP/1.1 sessions get.
pub trait Http2Service<T>: HttpService<T> {
    /// Our SETTINGS for every new connection.
    fn settings(&self) -> Settings {
        Settings::default()
    }
}

/// The service of a server that speaks HTTP/1.1 and HTTP/2 (stage07): connections start as
/// HTTP/1.1 and are handed to [`Http2`] after ALPN `h2` or the HTTP/2 preface.
pub struct Http1And2 {
    pub http: Env,
}

impl Http1And2 {
    /// HTTP/1.1 as `http` says, plus HTTP/2 by ALPN and by prior knowledge.
    pub fn new(mut http: Env) -> Http1And2 {
        http.switches = vec![Switch::Alpn(b"h2".to_vec()), Switch::Preface];
        Http1And2 { http }
    }
}

impl<T: Transport> Service<T> for Http1And2 {
    /// A password check's verdict, from the verifiers, for either protocol's session.
    type Message = Verified;

    fn open(&mut self, peer: IpAddr, turn: &Turn) -> Box<dyn Session<T, Http1And2>> {
        Box::new(Http1::new(peer, turn.now))
    }
}

impl<T: Transport> HttpService<T> for Http1And2 {
    fn http(&mut self) -> &mut Env {
        &mut self.http
    }

    fn verdict(message: Verified) -> Option<Verified> {
        Some(message)
    }

    fn switch(&mut self, to: Switch, read: Vec<u8>) -> Option<Box<dyn Session<T, Self>>> {
        match to {
            Switch::Alpn(protocol) if protocol == b"h2" => Some(Box::new(Http2::new(read))),
            Switch::Preface => Some(Box::new(Http2::new(read))),
            _ => None,
        }
    }
}

impl<T: Transport> Http2Service<T> for Http1And2 {}
// ANCHOR_END: service

// ANCHOR: stream
/// A response body still (partly) to send on one stream.
struct Outgoing {
    stream: StreamId,
    body: Pending,
    /// The log line, written when the body is done or cut off, with the bytes that went.
    log: Option<PendingLine>,
    sent: u64,
}

/// Where a body's bytes come from.
enum Pending {
    /// In memory (an error page, a cached small file), from this offset on.
    Bytes(Arc<[u8]>, usize),
    /// A region of a file, read a piece at a time.
    File(FileBody),
}

impl Pending {
    fn left(&self) -> u64 {
        match self {
            Pending::Bytes(bytes, at) => (bytes.len() - at) as u64,
            Pending::File(file) => file.len,
        }
    }
}

/// A stream whose request waits for a password check (one check in flight per connection:
/// the first of these has it; see `on_verdict`).
struct Waiting {
    stream: StreamId,
    request: Request,
    /// The client reset the stream meanwhile: the verdict is still taken, but not answered.
    cancelled: bool,
}
// ANCHOR_END: stream

/// Where the connection as a whole stands.
#[derive(Debug, PartialEq, Eq)]
enum Phase {
    Open,
    /// A connection error: its GOAWAY is queued; send it, then close.
    Failed,
    /// Our side is shut: discarding what the client still sends, until it closes.
    Lingering {
        drained: usize,
        until: Instant,
    },
}

/// One HTTP/2 connection.
pub struct Http2 {
    /// Everything read before the hand-off (the preface, perhaps the first frames).
    handed: Vec<u8>,
    peer: IpAddr,
    connection: Connection,
    phase: Phase,
    /// Bodies being sent, in round-robin order.
    outgoing: VecDeque<Outgoing>,
    /// Requests waiting for a password verdict, in order.
    waiting: VecDeque<Waiting>,
    /// The first of `waiting` has its check with the verifiers.
    checking: bool,
    verdict_due: Instant,
    /// The client ended its side (FIN, close_notify): nothing more will come.
    peer_done: bool,
    /// When the client sent GOAWAY: it opens no more streams, and the connection ends soon
    /// after its last one (see `drive`).
    peer_goaway: Option<Instant>,
    /// `Connection::shutdown` has been called (graceful stop, or idle timeout).
    stopping: bool,
    stop_began: Instant,
    /// When a body byte last went out (or a body was queued): the send timeout counts from here.
    body_progress: Instant,
    /// When the socket last took any byte of ours.
    socket_progress: Instant,
    /// When the last stream finished (the idle timeout counts from here).
    idle_since: Instant,
    /// Since when the client has held a header block or a request body open while we owe
    /// nothing (the header timeout counts from here).
    client_owes: Option<Instant>,
    id: ConnectionId,
}

impl Http2 {
    /// A session taking over a connection, with the bytes read so far.
    pub fn new(handed: Vec<u8>) -> Http2 {
        let now = Instant::now();
        Http2 {
            handed,
            peer: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            // Replaced in `start` by one made with the service's settings.
            connection: Connection::server(Settings::default()),
            phase: Phase::Open,
            outgoing: VecDeque::new(),
            waiting: VecDeque::new(),
            checking: false,
            verdict_due: now,
            peer_done: false,
            peer_goaway: None,
            stopping: false,
            stop_began: now,
            body_progress: now,
            socket_progress: now,
            idle_since: now,
            client_owes: None,
            id: ConnectionId::NONE,
        }
    }
}

fn sync(env: &mut Env, turn: &Turn) {
    env.now = turn.now;
    env.wall = turn.wall;
    env.draining = turn.draining;
    env.lame_duck = turn.lame_duck;
}

impl<T: Transport, S: Http2Service<T>> Session<T, S> for Http2 {
    fn start(&mut self, io: &mut T, service: &mut S, turn: &mut Turn) -> Step<T, S> {
        self.id = turn.connection();
        // The socket's peer, or the client a PROXY header named (behind HAProxy).
        if let Some(peer) = io.peer() {
            self.peer = peer;
        }
        self.connection = Connection::server(service.settings());
        (self.body_progress, self.socket_progress, self.idle_since) =
            (turn.now, turn.now, turn.now);
        let handed = std::mem::take(&mut self.handed);
        let env = service.http();
        sync(env, turn);
        if !handed.is_empty() {
            self.receive(&handed, env);
        }
        self.drive(io, service, turn)
    }

    fn ready(&mut self, io: &mut T, service: &mut S, turn: &mut Turn) -> Step<T, S> {
        if let Phase::Lingering { .. } = self.phase {
            return self.linger(io, &mut turn.input);
        }
        let env = service.http();
        sync(env, turn);
        // Frames already waiting go first; only a connection whose output has drained may
        // read more (each read can make replies: PING, SETTINGS ACK).
        if self.flush(io, turn.now).is_err() {
            return Step::Close;
        }
        if self.phase == Phase::Open && self.connection.output().is_empty() {
            let connection = &mut self.connection;
            let mut failed = false;
            let received = io.receive(&mut turn.input, &mut |bytes| {
                if !failed && connection.receive(bytes).is_err() {
                    failed = true;
                }
            });
            match received {
                Ok(Received::Open) => {}
                Ok(Received::Closed) => self.peer_done = true,
                Err(_) => return Step::Close,
            }
            if failed {
                self.phase = Phase::Failed;
            }
            self.take_events(env);
        }
        self.drive(io, service, turn)
    }

    fn timed_out(&mut self, io: &mut T, service: &mut S, turn: &mut Turn) -> Step<T, S> {
        if self.phase != Phase::Open {
            return Step::Close;
        }
        let env = service.http();
        sync(env, turn);
        if self.checking && turn.now >= self.verdict_due {
            return Step::Close;
        }
        let owes = !self.outgoing.is_empty() || !self.connection.output().is_empty();
        if owes {
            // The send timeout: the client takes nothing, or never opens its window.
            return Step::Close;
        }
        // Idle: say goodbye with GOAWAY (best effort), then close; a client that has said
        // goodbye itself needs no GOAWAY (nor our PING) back.
        if !self.stopping && self.peer_goaway.is_none() {
            self.stopping = true;
            self.connection.shutdown();
        }
        let _ = self.flush(io, turn.now);
        Step::Close
    }

    /// Idle: no stream in flight and nothing to send. A graceful stop closes such a
    /// connection at once, without a GOAWAY: no request of the client's is lost by it.
    fn is_idle(&self, io: &T) -> bool {
        self.phase == Phase::Open
            && self.outgoing.is_empty()
            && self.waiting.is_empty()
            && self.connection.is_idle()
            && !io.wants_write()
    }

    fn closed(&mut self, service: &mut S) {
        // Bodies cut off by the close are logged with what they got.
        let log = &service.http().log;
        for outgoing in self.outgoing.drain(..) {
            if let Some(line) = outgoing.log {
                log.end(line, outgoing.sent);
            }
        }
    }

    /// The graceful stop: GOAWAY now (`drive` sees `draining`), even on a connection that
    /// is waiting for a window or a verdict.
    fn stopping(&mut self, io: &mut T, service: &mut S, turn: &mut Turn) -> Option<Step<T, S>> {
        if self.phase != Phase::Open {
            return None;
        }
        let env = service.http();
        sync(env, turn);
        Some(self.drive(io, service, turn))
    }

    fn message(
        &mut self,
        io: &mut T,
        service: &mut S,
        turn: &mut Turn,
        message: S::Message,
    ) -> Option<Step<T, S>> {
        let verified = S::verdict(message)?;
        if !self.checking {
            return None;
        }
        let env = service.http();
        sync(env, turn);
        self.on_verdict(verified, env);
        Some(self.drive(io, service, turn))
    }
}

impl Http2 {
    /// Bytes from the peer into the connection; a connection error leaves its GOAWAY queued.
    fn receive(&mut self, bytes: &[u8], env: &mut Env) {
        if self.connection.receive(bytes).is_err() {
            self.phase = Phase::Failed;
        }
        self.take_events(env);
    }

    // ANCHOR: events
    /// Acts on every event the connection has queued.
    fn take_events(&mut self, env: &mut Env) {
        while let Some(event) = self.connection.poll_event() {
            match event {
                Event::Request { stream, head, .. } => self.on_request(stream, head, env),
                // Request bodies are not for a static site: the connection has already given
                // their flow-control credit back, and the bytes are dropped.
                Event::Data { .. } => {}
                Event::Reset { stream, .. } => self.on_reset(stream, env),
                // Streams stalled on a window are tried again by `pump` anyway.
                Event::WindowOpened => {}
                // The client promises no more streams (one it opens anyway is answered like
                // any other); the ones open finish, and the connection stays a moment for a
                // PING or SETTINGS, which get their answers (see `drive`).
                Event::GoAway { .. } => {
                    self.peer_goaway.get_or_insert(env.now);
                }
            }
        }
    }
    // ANCHOR_END: events

    // ANCHOR: request
    /// A request head: answered by the stage's pages ([`Env::pages`]), else from the cache
    /// when it can be, else by the site, else (a bcrypt password) after a verdict from the
    /// verifiers.
    fn on_request(&mut self, stream: StreamId, head: RequestHead, env: &mut Env) {
        let fields = head
            .fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_slice()));
        let request =
            match h2::http::request(&head.method, head.authority.as_deref(), &head.path, fields) {
                Ok(request) => request,
                Err(status) => {
                    let mut response = Response::error(status);
                    if head.method == "HEAD" {
                        response = response.without_body();
                    }
                    env.log
                        .record(self.peer, env.wall, None, None, status, response.body_len());
                    return self.send_response(stream, None, response, None, env);
                }
            };
        // The stage's own pages first, as HTTP/1.1 does (stage09's `/healthz`, which says 503
        // while the loop drains or is a lame duck, and `/metrics`).
        if let Some(response) = env
            .pages
            .as_ref()
            .and_then(|pages| pages(&request, env.draining || env.lame_duck))
        {
            return self.send_response(stream, Some(&request), response, None, env);
        }
        if let Some(hit) = env.cache.lookup(&env.site, &request, env.now) {
            let date = env.dates.get(env.wall);
            let fields = h2::http::hit_fields(&hit, date, env.server);
            let body = hit.body();
            let (status, len) = (hit.status(), body.len());
            let fields: Vec<Field<'_>> = fields.iter().map(field).collect();
            let sent = self
                .connection
                .send_headers(stream, status.code(), &fields, body.is_empty())
                .is_ok();
            if sent && !body.is_empty() {
                // The usual case: the window has room for the whole small file, which goes
                // out at once, straight from the cache. Otherwise it waits its turn, copied.
                let whole = self.connection.capacity(stream) >= len
                    && len <= PIECE
                    && self.outgoing.is_empty();
                if !(whole && self.connection.send_data(stream, body, true).is_ok()) {
                    self.queue_bytes(stream, Arc::from(body), None);
                }
            }
            env.log.record(
                self.peer,
                env.wall,
                Some(&request),
                None,
                status,
                len as u64,
            );
            return;
        }
        match env.site.respond_or_verify(&request) {
            Reply::Ready(response, user) => {
                self.send_response(stream, Some(&request), response, user, env)
            }
            Reply::Verify(verification) => match &env.verifiers {
                // No pool: bcrypt here, on the loop's thread, while everyone else waits.
                None => {
                    let (response, user) =
                        env.site.respond_verified(&request, verification.verify());
                    self.send_response(stream, Some(&request), response, user, env)
                }
                // One check in flight per connection: later ones wait their turn behind it
                // (a verdict that proves the same credentials answers them all at once).
                Some(_) if self.checking => self.waiting.push_back(Waiting {
                    stream,
                    request,
                    cancelled: false,
                }),
                Some(verifiers) => match verifiers.submit(self.id, verification) {
                    Ok(()) => {
                        self.checking = true;
                        self.verdict_due = env.now + VERDICT_TIMEOUT;
                        self.waiting.push_back(Waiting {
                            stream,
                            request,
                            cancelled: false,
                        });
                    }
                    Err(_) => {
                        let busy = env.site.respond_busy(&request);
                        self.send_response(stream, Some(&request), busy, None, env)
                    }
                },
            },
        }
    }
    // ANCHOR_END: request

    // ANCHOR: verdict
    /// The verdict for the first waiting stream: answer it, then every waiting stream that
    /// can now be answered at once (the same credentials, now remembered), and send the next
    /// check that is needed.
    fn on_verdict(&mut self, verified: Verified, env: &mut Env) {
        self.checking = false;
        if let Some(first) = self.waiting.pop_front() {
            let (response, user) = env.site.respond_verified(&first.request, verified);
            if !first.cancelled {
                self.send_response(first.stream, Some(&first.request), response, user, env);
            }
        }
        while let Some(next) = self.waiting.front() {
            if next.cancelled {
                self.waiting.pop_front();
                continue;
            }
            match env.site.respond_or_verify(&next.request) {
                Reply::Ready(response, user) => {
                    let Some(next) = self.waiting.pop_front() else {
                        break;
                    };
                    self.send_response(next.stream, Some(&next.request), response, user, env);
                }
                Reply::Verify(verification) => {
                    let submitted = match &env.verifiers {
                        Some(verifiers) => verifiers.submit(self.id, verification).is_ok(),
                        None => false,
                    };
                    if submitted {
                        self.checking = true;
                        self.verdict_due = env.now + VERDICT_TIMEOUT;
                        break;
                    }
                    let Some(next) = self.waiting.pop_front() else {
                        break;
                    };
                    let busy = env.site.respond_busy(&next.request);
                    self.send_response(next.stream, Some(&next.request), busy, None, env);
                }
            }
        }
    }
    // ANCHOR_END: verdict

    /// The client reset a stream: its body stops here (logged with what went), and a
    /// request waiting for a verdict will not be answered.
    fn on_reset(&mut self, stream: StreamId, env: &mut Env) {
        if let Some(at) = self.outgoing.iter().position(|o| o.stream == stream) {
            if let Some(outgoing) = self.outgoing.remove(at) {
                if let Some(line) = outgoing.log {
                    env.log.end(line, outgoing.sent);
                }
            }
        }
        for waiting in self.waiting.iter_mut().filter(|w| w.stream == stream) {
            waiting.cancelled = true;
        }
    }

    // ANCHOR: send_response
    /// Writes a response's HEADERS and queues its body. A stream the client has closed
    /// meanwhile takes nothing (the connection says so), and the response is dropped.
    fn send_response(
        &mut self,
        stream: StreamId,
        request: Option<&Request>,
        response: Response,
        user: Option<String>,
        env: &mut Env,
    ) {
        let date = env.dates.get(env.wall);
        let fields = h2::http::response_fields(&response, date, env.server);
        let fields: Vec<Field<'_>> = fields.iter().map(field).collect();
        let (status, len) = (response.status, response.body_len());
        let empty = len == 0;
        let sent = self
            .connection
            .send_headers(stream, status.code(), &fields, empty)
            .is_ok();
        drop(fields);
        match response.body {
            Body::File(file) if sent && !empty => {
                // Its line waits for the bytes that really go out (the client may reset).
                let line = env
                    .log
                    .begin(self.peer, env.wall, request, user.as_deref(), status);
                self.queue(stream, Pending::File(file), line);
            }
            body => {
                if request.is_some() {
                    let len = if sent { len } else { 0 };
                    env.log
                        .record(self.peer, env.wall, request, user.as_deref(), status, len);
                }
                if let (Body::Bytes(bytes), true) = (body, sent && !empty) {
                    self.queue_bytes(stream, bytes, None);
                }
            }
        }
    }
    // ANCHOR_END: send_response

    fn queue_bytes(&mut self, stream: StreamId, bytes: Arc<[u8]>, log: Option<PendingLine>) {
        self.queue(stream, Pending::Bytes(bytes, 0), log);
    }

    fn queue(&mut self, stream: StreamId, body: Pending, log: Option<PendingLine>) {
        if self.outgoing.is_empty() {
            // The send timeout counts from when there is something to send, not from an
            // idle spell before it.
            self.body_progress = Instant::now();
        }
        self.outgoing.push_back(Outgoing {
            stream,
            body,
            log,
            sent: 0,
        });
    }

    // ANCHOR: pump
    /// Turns queued bodies into DATA frames, one piece per stream per round, while windows
    /// allow and the output is below its high-water mark. Returns whether a body is still
    /// owed with room to send it (the turn's budget ran out: come back soon).
    fn pump(&mut self, scratch: &mut [u8], env: &Env, budget: &mut usize) -> bool {
        let mut stalled = 0;
        while stalled < self.outgoing.len() {
            if self.connection.output().len() >= OUTPUT_HIGH_WATER {
                return false;
            }
            if *budget == 0 {
                return true;
            }
            let Some(mut outgoing) = self.outgoing.pop_front() else {
                break;
            };
            let room = self.connection.capacity(outgoing.stream).min(PIECE);
            if room == 0 {
                // Its window (or the connection's) is shut: try the others.
                self.outgoing.push_back(outgoing);
                stalled += 1;
                continue;
            }
            stalled = 0;
            let piece = match &mut outgoing.body {
                Pending::Bytes(bytes, at) => {
                    let n = room.min(bytes.len() - *at);
                    scratch[..n].copy_from_slice(&bytes[*at..*at + n]);
                    *at += n;
                    Ok(n)
                }
                Pending::File(file) => file.read_chunk(&mut scratch[..room]),
            };
            let n = match piece {
                Ok(n) if n > 0 => n,
                // The file shrank (or cannot be read): the length we announced cannot be
                // kept. This stream ends in an error; the others go on.
                _ => {
                    self.connection
                        .reset(outgoing.stream, ErrorCode::INTERNAL_ERROR);
                    finish(outgoing, env);
                    continue;
                }
            };
            let end = outgoing.body.left() == 0;
            if self
                .connection
                .send_data(outgoing.stream, &scratch[..n], end)
                .is_err()
            {
                // Closed by the client meanwhile (a reset whose event is still to come).
                finish(outgoing, env);
                continue;
            }
            outgoing.sent += n as u64;
            *budget = budget.saturating_sub(n);
            self.body_progress = env.now;
            if end {
                finish(outgoing, env);
            } else {
                self.outgoing.push_back(outgoing);
            }
        }
        false
    }
    // ANCHOR_END: pump

    /// Sends what the connection has queued, as far as the socket takes it; `true` when all
    /// of it (and the transport's own bytes) went.
    fn flush<T: Transport>(&mut self, io: &mut T, now: Instant) -> io::Result<bool> {
        let before = io.sent();
        let output = self.connection.output();
        let mut done = true;
        if !output.is_empty() {
            let n = io.send(output, false)?;
            output.drain(..n);
            done = output.is_empty();
        }
        let done = done && io.flush()?;
        if io.sent() != before {
            self.socket_progress = now;
        }
        Ok(done)
    }

    // ANCHOR: drive
    /// After every event: make frames, send them, and say what to wait for.
    fn drive<T: Transport, S: Http2Service<T>>(
        &mut self,
        io: &mut T,
        service: &mut S,
        turn: &mut Turn,
    ) -> Step<T, S> {
        let env = service.http();
        let send_timeout = env.send_timeout;
        if env.draining && !self.stopping && self.phase == Phase::Open {
            // Graceful stop: GOAWAY (two steps), and the streams already open finish.
            self.stopping = true;
            self.stop_began = turn.now;
            self.connection.shutdown();
        }
        let mut budget = TURN_BUDGET;
        let more = loop {
            let more = if self.phase == Phase::Open {
                self.pump(&mut turn.input, env, &mut budget)
            } else {
                false
            };
            match self.flush(io, turn.now) {
                Ok(true) if more => break true,
                // All out: frames the pump held back for the high-water mark may follow.
                Ok(true) if self.connection.output().is_empty() && self.can_pump() => continue,
                Ok(true) => break false,
                Ok(false) => {
                    return Step::Wait {
                        interest: Interest::Write,
                        deadline: self.socket_progress + send_timeout,
                    }
                }
                Err(_) => return Step::Close,
            }
        };
        if self.phase == Phase::Failed {
            return self.start_lingering(io, turn.now);
        }
        if more {
            // Still writable, but other connections are waiting: come back next turn.
            return Step::Wait {
                interest: Interest::Write,
                deadline: self.body_progress + send_timeout,
            };
        }
        let idle = self.outgoing.is_empty() && self.waiting.is_empty() && self.connection.is_idle();
        // Our GOAWAY is final and the streams are done (a graceful stop, or the client used
        // up the stream ids), or the client has gone: nothing more can happen here. (A GOAWAY
        // from the client alone closes nothing: it may still ask for a PING's answer.)
        let done = self.connection.is_done() && (self.stopping || self.peer_goaway.is_none());
        // The client has ended its side (FIN, or TLS close_notify), and what we still owe
        // cannot go without it: a window it will never open, a header block or a body it will
        // never finish. Only a password verdict to come can still move on its own.
        let stranded = self.peer_done && self.waiting.is_empty();
        if done || stranded {
            return self.start_lingering(io, turn.now);
        }
        if !idle {
            self.idle_since = turn.now;
        }
        let deadline = if !self.outgoing.is_empty() {
            // Bodies owed but every window shut: the client must open one in time.
            self.body_progress + send_timeout
        } else if self.checking {
            self.verdict_due
        } else if idle && self.stopping {
            // Stopping with nothing in flight: the final GOAWAY waits for the PING's answer
            // (`Connection::shutdown`), but not for long.
            self.stop_began + LINGER_TIME
        } else if let (true, Some(said)) = (idle, self.peer_goaway) {
            // The client said goodbye and nothing is left: a moment for its last PING or
            // SETTINGS to be answered (h2spec 6.8), then close.
            (said + LINGER_TIME).min(self.idle_since + env.idle_timeout)
        } else if idle {
            // No stream left: the idle timeout.
            self.idle_since + env.idle_timeout
        } else {
            // Nothing of ours in flight, yet the client holds something open: a header block
            // still arriving (HEADERS without END_HEADERS, CONTINUATIONs dripping), or a
            // request body. As an HTTP/1.1 head, it has `header_timeout` from when it began,
            // however slowly it drips (the slowloris of HTTP/2).
            *self.client_owes.get_or_insert(turn.now) + env.header_timeout
        };
        if idle || !self.outgoing.is_empty() || self.checking {
            self.client_owes = None;
        }
        Step::Wait {
            interest: Interest::Read,
            deadline,
        }
    }
    // ANCHOR_END: drive

    /// Some body could go out now.
    fn can_pump(&self) -> bool {
        self.phase == Phase::Open
            && self
                .outgoing
                .iter()
                .any(|o| self.connection.capacity(o.stream) > 0)
    }

    /// Our last frame is out: shut our side, then read and discard until the client closes
    /// (a close with its bytes unread would reset the connection, and the reset could
    /// destroy our GOAWAY before the client reads it).
    fn start_lingering<T: Transport, S>(&mut self, io: &mut T, now: Instant) -> Step<T, S> {
        io.goodbye();
        if io.socket().shutdown(Shutdown::Write).is_err() {
            return Step::Close;
        }
        let until = now + LINGER_TIME;
        self.phase = Phase::Lingering { drained: 0, until };
        Step::Wait {
            interest: Interest::Read,
            deadline: until,
        }
    }

    fn linger<T: Transport, S>(&mut self, io: &T, scratch: &mut [u8]) -> Step<T, S> {
        let Phase::Lingering { drained, until } = &mut self.phase else {
            return Step::Close;
        };
        let wait = Step::Wait {
            interest: Interest::Read,
            deadline: *until,
        };
        match io.socket().read(scratch) {
            Ok(0) => Step::Close,
            Ok(n) if *drained + n > LINGER_BYTES => Step::Close,
            Ok(n) => {
                *drained += n;
                wait
            }
            Err(e) if crate::transport::is_transient(&e) => wait,
            Err(_) => Step::Close,
        }
    }
}

/// A body is done (or cut off): its log line gets the bytes that went.
fn finish(outgoing: Outgoing, env: &Env) {
    if let Some(line) = outgoing.log {
        env.log.end(line, outgoing.sent);
    }
}

/// One of `h2::http`'s (name, value) pairs as an HPACK field. Only `authorization`-like
/// secrets would be sensitive, and a response carries none.
fn field<'a>((name, value): &'a (Cow<'static, str>, Cow<'a, str>)) -> Field<'a> {
    Field {
        name: name.as_bytes(),
        value: value.as_bytes(),
        sensitive: false,
    }
}
