//! HTTP/1.1 as a session: stage06's connection state machine, on any transport.
//!
//! In stages 02 to 04 a connection's state lived on a thread's stack: "we are reading the
//! head" was simply where the code was blocked. With one thread for every connection, nobody
//! may block, so that position has to become data. An [`Http1`] records where it is
//! ([`State`]), what it has read but not yet used (`input`) and what it owes but could not yet
//! send (`output`, then `file`). When the loop says "your socket is ready", it does as much as
//! it can without blocking, and says what it is waiting for next.
//!
//! Partial reads and partial writes are the normal case here, not an error path: a read may
//! bring half a head or three and a half pipelined requests; a write may take 10 bytes of 10 MB.
//! The transport (TCP or TLS) is behind [`Transport`]: "TLS wants to write" (a handshake
//! reply, a ticket) is one more reason to wait for writability, and nothing else changes.
//!
//! A request whose password only bcrypt can judge is not answered on the loop: the session
//! hands the check to the service's [`Verifiers`] and waits, reading nothing more, until the
//! verdict comes back as a message ([`Session::message`]); then it answers and goes on with
//! whatever was pipelined behind.
//!
//! An HTTP/1.1 connection can also become something else ([`Switch`]): the service names the
//! protocols it takes in [`Env::switches`], and the session hands the connection over, with
//! every byte read from that point on, once the responses before it are out.

use crate::mailbox::ConnectionId;
use crate::poller::Interest;
use crate::session::{Service, Session, Step, Turn};
use crate::transport::{Received, Transport};
use crate::verifiers::Verifiers;
use common::auth::Verified;
use common::cache::FileCache;
use common::framing::{persistence, BodySkipper};
use common::log::PendingLine;
use common::{
    connection_for, AccessLog, Body, Connection as Persistence, DateCache, FileBody, Parsed,
    Refusal, Reply, Request, Site, Status, TimeoutArgs, Version,
};
use std::io::{self, Read};
use std::net::{IpAddr, Shutdown};
use std::time::{Duration, Instant, SystemTime};

/// Stop parsing pipelined requests once this much response is waiting to be written: a client
/// that sends requests and never reads must not make us buffer its answers without bound.
const OUTPUT_HIGH_WATER: usize = 64 * 1024;
/// How much of a file one connection may send per turn before letting the others have theirs.
const FILE_TURN: u64 = 4 * 1024 * 1024;
/// A client that takes none of our response for this long is dropped (nginx: send_timeout).
/// The default of [`Env::send_timeout`].
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Lingering close: how long, and how much, we read after our last response before closing.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;
/// How long a request may wait for its password check before the connection is given up. The
/// pool's bound keeps real waits far shorter; this only ensures no connection waits forever.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(60);
/// At a graceful stop, a connection accepted this recently that has sent nothing yet is not
/// idle: its client has only just connected, and its first request is most likely on the
/// wire. Closing it would leave that request unanswered (lost, behind stage09's reload, where
/// the next generation of workers would have answered it), so it gets this long to arrive.
pub(crate) const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);
/// The first line of the HTTP/2 connection preface (RFC 9113 section 3.4), as HTTP/1.1 would
/// parse it: a head of its own, ended by its blank line.
const H2_PREFACE_HEAD: &[u8] = b"PRI * HTTP/2.0\r\n\r\n";

/// Everything HTTP/1.1 sessions share: the site, the cache, the log, the settings. The
/// service owns it; the clock fields are the loop's, copied from the [`Turn`] at the start of
/// every call (one reading per loop turn, not one per connection).
pub struct Env {
    pub site: Site,
    pub cache: FileCache,
    pub log: AccessLog,
    pub dates: DateCache,
    pub idle_timeout: Duration,
    pub header_timeout: Duration,
    /// How long a connection that owes a response may take none of it (HTTP/2: also a
    /// window that stays shut); [`SEND_TIMEOUT`] unless the stage sets it.
    pub send_timeout: Duration,
    /// The `Server` field of every response.
    pub server: &'static str,
    /// The protocols this service takes a connection away from HTTP/1.1 for (empty: none).
    pub switches: Vec<Switch>,
    /// Where bcrypt checks run: a pool whose verdicts come back as messages (see
    /// [`HttpService::verdict`]), or `None` to run them here, on the loop's thread.
    pub verifiers: Option<Verifiers>,
    /// Pages the stage answers itself, before the cache and the site (stage09's `/healthz`
    /// and `/metrics`): given the request and whether the loop is draining or in its lame-duck
    /// phase (a health check says 503 then), `Some` answer or `None` for the site. `None`
    /// here: every request goes to the site.
    pub pages: Option<Pages>,
    pub now: Instant,
    pub wall: SystemTime,
    /// Shutting down: every response says `Connection: close`, and idle connections close.
    pub draining: bool,
    /// About to shut down ([`Turn::lame_duck`]): only the pages hear of it.
    pub lame_duck: bool,
}

impl Env {
    /// Settings for serving `site`, logging to `log`, answering as `server`; an empty cache,
    /// and no switch to another protocol.
    pub fn new(site: Site, log: AccessLog, timeouts: &TimeoutArgs, server: &'static str) -> Env {
        Env {
            site,
            cache: FileCache::default(),
            log,
            dates: DateCache::default(),
            idle_timeout: timeouts.idle(),
            header_timeout: timeouts.header(),
            send_timeout: SEND_TIMEOUT,
            server,
            switches: Vec::new(),
            verifiers: None,
            pages: None,
            now: Instant::now(),
            wall: SystemTime::now(),
            draining: false,
            lame_duck: false,
        }
    }

    fn sync(&mut self, turn: &Turn) {
        self.now = turn.now;
        self.wall = turn.wall;
        self.draining = turn.draining;
        self.lame_duck = turn.lame_duck;
    }

    fn speaks(&self, to: &Switch) -> bool {
        self.switches.contains(to)
    }
}

/// See [`Env::pages`].
pub type Pages = std::sync::Arc<dyn Fn(&Request, bool) -> Option<common::Response> + Send + Sync>;

// ANCHOR: switch
/// A sign that the connection is to speak another protocol from here on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Switch {
    /// ALPN chose this protocol in the TLS handshake (`h2`), before any HTTP/1.1 byte.
    Alpn(Vec<u8>),
    /// The connection began with the HTTP/2 preface (prior knowledge, on a cleartext port).
    Preface,
    /// An HTTP/1.1 request asked `Upgrade: <token>` (lowercase: `websocket`), with
    /// `Connection: upgrade`. The bytes handed over begin with that request's head: the new
    /// session answers it (101, or a refusal).
    Upgrade(String),
}

/// What a service must provide for HTTP/1.1 sessions to run on it.
pub trait HttpService<T>: Service<T> {
    fn http(&mut self) -> &mut Env;

    /// The verdict of a password check, if `message` is one: a service whose `Env` has
    /// `verifiers` must send each verdict to its connection as a message this recognizes.
    fn verdict(_message: Self::Message) -> Option<Verified> {
        None
    }

    /// The session for `to` (one of `Env::switches`), given every byte read from the point of
    /// the switch on. `None` closes the connection.
    fn switch(&mut self, _to: Switch, _read: Vec<u8>) -> Option<Box<dyn Session<T, Self>>> {
        None
    }
}
// ANCHOR_END: switch

/// The service of a server that speaks HTTP/1.1 and nothing else, on any transport: what
/// stage06 runs (over TLS) and the plain example (over TCP).
pub struct HttpOnly {
    pub http: Env,
}

impl<T: Transport> Service<T> for HttpOnly {
    /// The only message: a password check's verdict, from the verifiers.
    type Message = Verified;

    fn open(&mut self, peer: IpAddr, turn: &Turn) -> Box<dyn Session<T, HttpOnly>> {
        Box::new(Http1::new(peer, turn.now))
    }
}

impl<T: Transport> HttpService<T> for HttpOnly {
    fn http(&mut self) -> &mut Env {
        &mut self.http
    }

    fn verdict(message: Verified) -> Option<Verified> {
        Some(message)
    }
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
    /// Hand the connection to another session, with what is left in `input`.
    Switch(Switch),
}
// ANCHOR_END: state

/// What one call leads to, before the service is asked for a session to switch to.
enum Then {
    Wait {
        interest: Interest,
        deadline: Instant,
    },
    Close,
    Switch(Switch),
}

/// One HTTP/1.1 connection.
pub struct Http1 {
    /// When the connection was accepted: the handshake must finish by `header_timeout` after.
    accepted: Instant,
    peer: IpAddr,
    state: State,
    /// The client has ended its side (TCP FIN or TLS close_notify): no more requests will
    /// come, but the ones already here are answered before we close.
    peer_done: bool,
    /// No head has been completed yet (the HTTP/2 preface can only come first).
    first: bool,
    /// Bytes read but not yet used: part of a head, or requests queued behind a response.
    input: Vec<u8>,
    /// Response bytes the transport has not taken yet.
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
    /// A request whose password is being checked off the loop: nothing after it is read or
    /// answered until its verdict comes (responses go out in order), so a connection has at
    /// most one check in flight.
    verifying: Option<Request>,
    /// When the connection gives up waiting for that verdict.
    verdict_due: Instant,
    /// This connection, as the verifiers address their verdict (known from `start` on).
    id: ConnectionId,
}

impl<T: Transport, S: HttpService<T>> Session<T, S> for Http1 {
    fn start(&mut self, io: &mut T, service: &mut S, turn: &mut Turn) -> Step<T, S> {
        self.id = turn.connection();
        let env = service.http();
        env.sync(turn);
        // A fresh connection: under TLS the handshake is part of getting a request in, so it
        // gets what a head gets, `header_timeout` (a client that sends half a ClientHello
        // must not hold a slot for longer); in the clear it has `idle_timeout` to start.
        let wait = if io.is_handshaking() {
            env.header_timeout
        } else {
            env.idle_timeout
        };
        Step::Wait {
            interest: Interest::Read,
            deadline: env.now + wait,
        }
    }

    // ANCHOR: ready
    /// The socket is ready (for what we said we wanted): make all the progress we can.
    fn ready(&mut self, io: &mut T, service: &mut S, turn: &mut Turn) -> Step<T, S> {
        if self.verifying.is_some() && matches!(self.state, State::Reading(_)) {
            // Waiting for a verdict, we watch for nothing, and epoll reports only an error
            // or a hang-up: the client is gone, and so is the need to answer it.
            return Step::Close;
        }
        let then = match self.state {
            State::Reading(_) => self.read(io, service, turn),
            State::Writing(_) => {
                let env = service.http();
                env.sync(turn);
                self.advance(io, &mut turn.output, env)
            }
            State::Lingering { .. } => self.linger(io, &mut turn.input),
        };
        self.finish(then, service)
    }
    // ANCHOR_END: ready

    /// The deadline has passed. A head that began but did not finish in time is told why we
    /// hang up (408, as the blocking stages do); anything else just closes.
    fn timed_out(&mut self, io: &mut T, service: &mut S, turn: &mut Turn) -> Step<T, S> {
        if self.verifying.is_some() && matches!(self.state, State::Reading(_)) {
            return Step::Close;
        }
        if !matches!(self.state, State::Reading(Reading::Head)) || self.input.is_empty() {
            return Step::Close;
        }
        let env = service.http();
        env.sync(turn);
        let refusal = Refusal::new(Status::REQUEST_TIMEOUT, &self.input);
        self.input = Vec::new();
        self.head_started = None;
        self.last_progress = env.now;
        self.refuse(refusal, &mut turn.output, env);
        self.state = State::Writing(Next::Close);
        let then = self.advance(io, &mut turn.output, env);
        self.finish(then, service)
    }

    /// True when nothing is in flight: no partial request, nothing to send. Safe to close.
    /// A TLS handshake the server has answered is in flight too: the client's Finished, and
    /// its first request right behind it, may be on the wire (see `answered_handshake`).
    fn is_idle(&self, io: &T) -> bool {
        matches!(self.state, State::Reading(Reading::Head))
            && self.input.is_empty()
            && self.output.is_empty()
            && self.file.is_none()
            && self.verifying.is_none()
            && !io.wants_write()
            && !(io.is_handshaking() && io.sent() > 0)
            && !self.just_connected()
    }

    /// A stop has begun and this connection is busy; the one kind that needs a new deadline is
    /// a connection that has only just connected: it waits for its first request until
    /// `FIRST_REQUEST_GRACE` after it was accepted, and closes then if nothing came.
    fn stopping(&mut self, _io: &mut T, _service: &mut S, _turn: &mut Turn) -> Option<Step<T, S>> {
        self.just_connected().then(|| Step::Wait {
            interest: Interest::Read,
            deadline: self.accepted + FIRST_REQUEST_GRACE,
        })
    }

    fn closed(&mut self, service: &mut S) {
        // A file cut off halfway is logged now, with what it got.
        self.log_file_sent(&service.http().log);
    }

    // ANCHOR: verdict
    /// A verdict from the verifiers: answer the request that waited for it, then carry on
    /// with whatever was pipelined behind it.
    fn message(
        &mut self,
        io: &mut T,
        service: &mut S,
        turn: &mut Turn,
        message: S::Message,
    ) -> Option<Step<T, S>> {
        let verified = S::verdict(message)?;
        let request = self.verifying.take()?;
        let env = service.http();
        env.sync(turn);
        let (response, user) = env.site.respond_verified(&request, verified);
        let out = &mut turn.output;
        let connection = self.queue(&request, response, user, out, env);
        if !self.output.is_empty() {
            // Earlier responses are still going out: this one goes after them.
            self.output.extend_from_slice(out);
            out.clear();
        }
        if connection == Persistence::Close {
            self.state = State::Writing(Next::Close);
        }
        let then = self.advance(io, out, env);
        Some(self.finish(then, service))
    }
    // ANCHOR_END: verdict
}

impl Http1 {
    pub fn new(peer: IpAddr, now: Instant) -> Http1 {
        Http1 {
            accepted: now,
            peer,
            state: State::Reading(Reading::Head),
            peer_done: false,
            first: true,
            input: Vec::new(),
            output: Vec::new(),
            file: None,
            file_log: None,
            head_started: None,
            last_progress: now,
            verifying: None,
            verdict_due: now,
            id: ConnectionId::NONE,
        }
    }

    /// Accepted under `FIRST_REQUEST_GRACE` ago and nothing received yet: its first request
    /// may be on the wire (see `is_idle`, `stopping`).
    fn just_connected(&self) -> bool {
        self.first
            && self.input.is_empty()
            && matches!(self.state, State::Reading(Reading::Head))
            && self.accepted.elapsed() < FIRST_REQUEST_GRACE
    }

    /// Turns what a call led to into a [`Step`]; a switch asks the service for the session
    /// that takes over, with everything read and not used.
    fn finish<T: Transport, S: HttpService<T>>(
        &mut self,
        then: Then,
        service: &mut S,
    ) -> Step<T, S> {
        match then {
            Then::Wait { interest, deadline } => Step::Wait { interest, deadline },
            Then::Close => Step::Close,
            Then::Switch(to) => match service.switch(to, std::mem::take(&mut self.input)) {
                Some(session) => Step::Handoff(session),
                None => Step::Close,
            },
        }
    }

    /// Writes the streamed file's log line with the bytes that went out: all of them once the
    /// file is done, fewer when the connection ends first (called then by `closed`).
    fn log_file_sent(&mut self, log: &AccessLog) {
        if let Some((line, len)) = self.file_log.take() {
            let left = self.file.as_ref().map_or(0, |file| file.len);
            log.end(line, len - left);
        }
    }

    // ANCHOR: read
    /// One read from the transport, its requests answered, then as far as the socket allows.
    fn read<T: Transport, S: HttpService<T>>(
        &mut self,
        io: &mut T,
        service: &mut S,
        turn: &mut Turn,
    ) -> Then {
        let handshaking = io.is_handshaking();
        let received = {
            let env = service.http();
            env.sync(turn);
            let (input, out) = (&mut turn.input, &mut turn.output);
            if handshaking {
                // The first plaintext may belong to another protocol (ALPN): keep it until
                // the handshake says which.
                io.receive(input, &mut |bytes| self.input.extend_from_slice(bytes))
            } else {
                io.receive(input, &mut |bytes| self.absorb(bytes, out, env))
            }
        };
        let env = service.http();
        match received {
            Ok(Received::Open) => {}
            // No more requests will come; the ones already read are still answered.
            Ok(Received::Closed) => self.peer_done = true,
            Err(_) => return Then::Close,
        }
        if handshaking && !io.is_handshaking() {
            let to = io.protocol().map(|alpn| Switch::Alpn(alpn.to_vec()));
            if let Some(to) = to.filter(|to| env.speaks(to)) {
                self.state = State::Writing(Next::Switch(to));
            }
        }
        let out = &mut turn.output;
        let nothing_owed = out.is_empty()
            && self.output.is_empty()
            && self.file.is_none()
            && self.verifying.is_none();
        if self.peer_done && nothing_owed && !handshaking {
            // The client left, and only half a request can be left here (whole ones were
            // answered as they were absorbed): it can never be completed.
            return Then::Close;
        }
        self.advance(io, out, env)
    }
    // ANCHOR_END: read

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
        // A switch is progress too, though it uses no byte (the new session reads the head):
        // without it, an `Upgrade` that waited in `input` (behind a response, or read during
        // the TLS handshake) would leave the connection waiting to read, not to switch.
        used > 0
            || !out.is_empty()
            || self.file.is_some()
            || !matches!(self.state, State::Reading(_))
    }

    // ANCHOR: process
    /// Answers, in order, every complete request at the start of `buf`, appending the
    /// responses to `out`, and returns how many bytes it used. Stops at a partial head, at a
    /// file (it must be streamed before any later response), when `out` is full enough, when
    /// the connection is to close, or at a switch to another protocol.
    fn process(&mut self, buf: &[u8], out: &mut Vec<u8>, env: &mut Env) -> usize {
        // Whatever gets queued now, its send timeout counts from now, not from before an
        // idle spell.
        self.last_progress = env.now;
        let mut used = 0;
        loop {
            if self.verifying.is_some() {
                // Nothing behind a request that waits for its verdict is read yet, not even
                // its body: the verdict may close the connection.
                return used;
            }
            let State::Reading(reading) = &mut self.state else {
                // Switching: every later byte is the next session's. Closing: nobody's.
                return match self.state {
                    State::Writing(Next::Switch(_)) => used,
                    _ => buf.len(),
                };
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
                    if self.first && env.speaks(&Switch::Preface) {
                        if rest.starts_with(H2_PREFACE_HEAD) {
                            self.state = State::Writing(Next::Switch(Switch::Preface));
                            return used;
                        }
                        // Part of the preface so far (`PRI * HTTP/2.0\r\n` is a whole request
                        // line already, which parse_head would refuse with 505): wait for more.
                        if H2_PREFACE_HEAD.starts_with(rest) {
                            self.head_started.get_or_insert(env.now);
                            return used;
                        }
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
                            self.first = false;
                            self.head_started = None;
                            if let Some(to) = upgrade(&rest[..len], &request, env) {
                                // The new session answers this request: hand it the head.
                                self.state = State::Writing(Next::Switch(to));
                                return used;
                            }
                            used += len;
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
        if let Some(response) = env
            .pages
            .as_ref()
            .and_then(|pages| pages(request, env.draining || env.lame_duck))
        {
            return self.queue(request, response, None, out, env);
        }
        let date = env.dates.get(env.wall);
        // The cache itself declines what it does not model (it checks the site): any request
        // when auth is on (a hit must never skip the 401), and Range / If-Range requests.
        // Missing paths are never hits, so the fallback is always the Site's decision.
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
        let (response, user) = match env.site.respond_or_verify(request) {
            Reply::Ready(response, user) => (response, user),
            Reply::Verify(verification) => match &env.verifiers {
                // No pool: bcrypt here, on the loop's thread, while everyone else waits.
                None => env.site.respond_verified(request, verification.verify()),
                Some(verifiers) => match verifiers.submit(self.id, verification) {
                    Ok(()) => {
                        // The answer comes with the verdict (`message`); until then this
                        // connection reads nothing, and the connection stays as it is.
                        self.verifying = Some(request.clone());
                        self.verdict_due = env.now + VERDICT_TIMEOUT;
                        return Persistence::Default;
                    }
                    // Every verifier busy and the queue full: come back in a second.
                    Err(_) => (env.site.respond_busy(request), None),
                },
            },
        };
        self.queue(request, response, user, out, env)
    }

    /// Queues `response` to `request` (its head, its bytes or its file) and logs it. Returns
    /// what the response said about the connection.
    fn queue(
        &mut self,
        request: &Request,
        response: common::Response,
        user: Option<String>,
        out: &mut Vec<u8>,
        env: &mut Env,
    ) -> Persistence {
        let date = env.dates.get(env.wall);
        let connection = if env.draining {
            Persistence::Close
        } else {
            connection_for(Some(request), &response)
        };
        response.write_head(out, Version::Http11, connection, date, env.server);
        let (status, sent, user) = (response.status, response.body_len(), user.as_deref());
        match response.body {
            Body::File(file) => {
                // Its line waits for the bytes that really go out (the client may leave).
                let line = env
                    .log
                    .begin(self.peer, env.wall, Some(request), user, status);
                self.file_log = line.map(|line| (line, file.len));
                self.file = Some(file);
            }
            body => {
                env.log
                    .record(self.peer, env.wall, Some(request), user, status, sent);
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
    fn advance<T: Transport>(&mut self, io: &mut T, out: &mut Vec<u8>, env: &mut Env) -> Then {
        loop {
            match &mut self.state {
                State::Reading(reading) => {
                    // The transport may have bytes of its own to send (the handshake's
                    // replies, session tickets, alerts): they mean waiting for writability too.
                    if !out.is_empty() || self.file.is_some() || io.wants_write() {
                        let reading = std::mem::replace(reading, Reading::Head);
                        self.state = State::Writing(Next::Read(reading));
                        continue;
                    }
                    // Everything before the request being verified is out: wait for its verdict,
                    // reading nothing meanwhile (the verifiers wake us; see `message`).
                    if self.verifying.is_some() {
                        return Then::Wait {
                            interest: Interest::Nothing,
                            deadline: self.verdict_due,
                        };
                    }
                    // Requests that waited behind a response are answered before reading more.
                    if !self.input.is_empty() && self.process_input(out, env) {
                        continue;
                    }
                    // The client said it was done: everything it sent is answered. Close.
                    if self.peer_done {
                        return self.start_lingering(io, env.now);
                    }
                    return self.wait_for_request(io, env);
                }
                State::Writing(_) => match self.flush(io, out, env.now, &env.log) {
                    Ok(true) => {
                        match std::mem::replace(&mut self.state, State::Reading(Reading::Head)) {
                            State::Writing(Next::Read(reading)) => {
                                self.state = State::Reading(reading)
                            }
                            State::Writing(Next::Close) => {
                                return self.start_lingering(io, env.now)
                            }
                            State::Writing(Next::Switch(to)) => return Then::Switch(to),
                            // (Not reachable: this arm is only taken in `Writing`.)
                            other => self.state = other,
                        }
                    }
                    Ok(false) => {
                        let mut deadline = self.last_progress + env.send_timeout;
                        if io.is_handshaking() {
                            deadline = deadline.min(self.accepted + env.header_timeout);
                        }
                        return Then::Wait {
                            interest: Interest::Write,
                            deadline,
                        };
                    }
                    Err(_) => return Then::Close,
                },
                State::Lingering { until, .. } => {
                    return Then::Wait {
                        interest: Interest::Read,
                        deadline: *until,
                    }
                }
            }
        }
    }
    // ANCHOR_END: advance

    /// Nothing to send: wait for the next request (or the rest of this one, or its body).
    fn wait_for_request<T: Transport>(&mut self, io: &T, env: &Env) -> Then {
        let deadline = match (&self.state, self.head_started) {
            // Still shaking hands: bounded from the moment of accepting, like a head.
            _ if io.is_handshaking() => self.accepted + env.header_timeout,
            // Part of a head is here: it has until `header_timeout` after it began, however
            // slowly the rest drips in. A per-read timeout would let a byte every 9 s live forever.
            (State::Reading(Reading::Head), Some(started)) if !self.input.is_empty() => {
                started + env.header_timeout
            }
            (State::Reading(Reading::Head), _) => {
                self.head_started = None;
                // Shutting down: an idle connection has nothing in flight; close it. But a
                // handshake that ended during the stop is a connection the client has only
                // just got: its first request follows the Finished. It gets what the
                // handshake got, `header_timeout` from the accept (the grace bounds it too).
                if env.draining {
                    if self.answered_handshake(io) {
                        return Then::Wait {
                            interest: Interest::Read,
                            deadline: self.accepted + env.header_timeout,
                        };
                    }
                    return Then::Close;
                }
                env.now + env.idle_timeout
            }
            // A body drips in: it must keep moving.
            _ => env.now + env.idle_timeout,
        };
        Then::Wait {
            interest: Interest::Read,
            deadline,
        }
    }

    /// The server has spoken on this connection (a TLS handshake's flight) but no request
    /// has come yet. In the clear this cannot happen: nothing is sent before a head.
    fn answered_handshake<T: Transport>(&self, io: &T) -> bool {
        self.first && io.sent() > 0
    }

    // ANCHOR: flush
    /// Writes queued bytes, then the file, until done (`true`) or the socket is full
    /// (`false`). Done means the transport holds no bytes of its own either.
    fn flush<T: Transport>(
        &mut self,
        io: &mut T,
        out: &mut Vec<u8>,
        now: Instant,
        log: &AccessLog,
    ) -> io::Result<bool> {
        let before = io.sent();
        let result = self.flush_all(io, out, log);
        if io.sent() != before {
            self.last_progress = now;
        }
        result
    }

    fn flush_all<T: Transport>(
        &mut self,
        io: &mut T,
        out: &mut Vec<u8>,
        log: &AccessLog,
    ) -> io::Result<bool> {
        // A head whose file follows waits for the file's first bytes (TCP: `MSG_MORE`).
        let more = self.file.as_ref().is_some_and(|file| file.len > 0);
        if !out.is_empty() {
            // A new batch: as much as the transport takes, straight from the shared buffer.
            // Only what it does not take is copied to this connection's own buffer.
            let n = io.send(out, more)?;
            self.output.extend_from_slice(&out[n..]);
            out.clear();
        }
        if !self.output.is_empty() {
            let n = io.send(&self.output, more)?;
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
            let piece = io.send_file(body, turn)?;
            turn = turn.saturating_sub(piece.sent);
            if piece.full {
                return Ok(false);
            }
        }
        io.flush()
    }
    // ANCHOR_END: flush

    /// Our last response is out: say goodbye, send FIN, then read and discard until the
    /// client closes. Closing at once could reset the connection while it still holds unread
    /// request bytes, and a reset can destroy the response before the client reads it.
    fn start_lingering<T: Transport>(&mut self, io: &mut T, now: Instant) -> Then {
        self.input = Vec::new();
        io.goodbye();
        if io.socket().shutdown(Shutdown::Write).is_err() {
            return Then::Close;
        }
        let until = now + LINGER_TIME;
        self.state = State::Lingering { drained: 0, until };
        Then::Wait {
            interest: Interest::Read,
            deadline: until,
        }
    }

    fn linger<T: Transport>(&mut self, io: &T, scratch: &mut [u8]) -> Then {
        let State::Lingering { drained, until } = &mut self.state else {
            return Then::Close;
        };
        match io.socket().read(scratch) {
            Ok(0) => Then::Close,
            Ok(n) if *drained + n > LINGER_BYTES => Then::Close,
            Ok(n) => {
                *drained += n;
                Then::Wait {
                    interest: Interest::Read,
                    deadline: *until,
                }
            }
            Err(e) if crate::transport::is_transient(&e) => Then::Wait {
                interest: Interest::Read,
                deadline: *until,
            },
            Err(_) => Then::Close,
        }
    }
}

/// The protocol an `Upgrade` request asks for, when the service takes it. Only then is the
/// raw head read again (common's `Request` keeps no `Upgrade` field), so a service that takes
/// no upgrades pays nothing. RFC 9110 section 7.8: only HTTP/1.1, and only with `Connection:
/// upgrade`; otherwise the field is ignored and the request answered as usual.
fn upgrade(head: &[u8], request: &Request, env: &Env) -> Option<Switch> {
    if request.version != Version::Http11
        || !env.switches.iter().any(|s| matches!(s, Switch::Upgrade(_)))
    {
        return None;
    }
    let mut fields = [httparse::EMPTY_HEADER; common::request::MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut fields);
    parsed.parse(head).ok()?;
    let field = |name: &'static str| {
        parsed
            .headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .flat_map(|value| value.split(','))
            .map(|token| token.trim().to_ascii_lowercase())
    };
    if !field("connection").any(|token| token == "upgrade") {
        return None;
    }
    let offered: Vec<String> = field("upgrade").collect();
    offered
        .into_iter()
        .map(Switch::Upgrade)
        .find(|to| env.speaks(to))
}
