//! What speaks a protocol on a connection, and what the loop lends it.
//!
//! The loop knows sockets, readiness, deadlines and shutdown; it knows nothing of HTTP. A
//! [`Session`] is one connection's protocol state machine (stage05's `Connection`, minus the
//! socket): the loop calls it when its socket is ready or its deadline passes, and the session
//! says what it waits for next ([`Step`]). A session may also hand its connection, with every
//! byte it has read and not used, to another session: HTTP/1.1 to HTTP/2 after ALPN or the
//! HTTP/2 preface, HTTP/1.1 to WebSocket after an `Upgrade`. The transport stays; only the
//! protocol on top changes.
//!
//! A [`Service`] is what every session of a loop shares (the site, the cache, the log) and
//! makes the first session of each connection.

use crate::mailbox::ConnectionId;
use crate::poller::Interest;
use std::net::IpAddr;
use std::time::{Instant, SystemTime};

// ANCHOR: session
/// One connection's protocol, driven by the loop. `T` is the transport, `S` the service.
pub trait Session<T, S> {
    /// The connection is new, or was just handed to this session: do what can be done without
    /// waiting (a handed-over session may already hold a request) and say what comes next.
    fn start(&mut self, io: &mut T, service: &mut S, turn: &mut Turn) -> Step<T, S>;

    /// The socket is ready the way the last [`Step::Wait`] asked: make all the progress we can.
    fn ready(&mut self, io: &mut T, service: &mut S, turn: &mut Turn) -> Step<T, S>;

    /// The deadline of the last [`Step::Wait`] has passed.
    fn timed_out(&mut self, io: &mut T, service: &mut S, turn: &mut Turn) -> Step<T, S>;

    /// Nothing in flight: no partial request, nothing to send. A graceful stop may close it
    /// now (if its socket holds no unread bytes either: the loop checks that).
    fn is_idle(&self, io: &T) -> bool;

    /// The connection is closing, whatever the reason: last words for the log.
    fn closed(&mut self, _service: &mut S) {}

    /// A graceful stop has begun and this connection is busy (not [`Session::is_idle`]): a
    /// protocol that announces a stop does it now (HTTP/2's GOAWAY), rather than at its next
    /// read or deadline. `None` leaves the wait as it was; HTTP/1.1 needs nothing here (its
    /// next response says `Connection: close`).
    fn stopping(&mut self, _io: &mut T, _service: &mut S, _turn: &mut Turn) -> Option<Step<T, S>> {
        None
    }

    /// A message for this connection, sent with [`crate::Handle::send_to`] to the id the
    /// session found in [`Turn::connection`] (the verdict of a password check done on another
    /// thread, say). `None` leaves the wait as it was; a session that is sent nothing needs
    /// nothing here.
    fn message(
        &mut self,
        _io: &mut T,
        _service: &mut S,
        _turn: &mut Turn,
        _message: S::Message,
    ) -> Option<Step<T, S>>
    where
        S: Service<T>,
    {
        None
    }
}

/// What a session wants from the loop after a turn.
pub enum Step<T, S> {
    /// Call me again when the socket is ready this way, or at `deadline`.
    Wait {
        interest: Interest,
        deadline: Instant,
    },
    /// Done: say goodbye, deregister and close.
    Close,
    /// From now on this session speaks on the connection; the loop calls its `start` at once.
    Handoff(Box<dyn Session<T, S>>),
}

/// What a loop's sessions share, and where each connection's first session comes from.
pub trait Service<T>: Sized + 'static {
    /// What other threads may send this loop (see [`crate::Handle`]).
    type Message: Send + 'static;

    /// The first session of a freshly accepted connection from `peer`.
    fn open(&mut self, peer: IpAddr, turn: &Turn) -> Box<dyn Session<T, Self>>;

    /// A message from another thread, taken at the start of a turn.
    fn message(&mut self, _message: Self::Message, _turn: &Turn) {}
}
// ANCHOR_END: session

/// What the loop lends every session in one turn: one clock reading for all of them, whether
/// the loop is stopping, and buffers shared by every connection because only one connection
/// works at a time. A read lands in `input` and a batch of responses is built in `output`;
/// only what is left over is copied into a session's own buffers, so 10,000 idle connections
/// hold no buffers at all. `output` is empty again after every call, whatever happened.
pub struct Turn {
    pub now: Instant,
    pub wall: SystemTime,
    /// Shutting down: finish what is in flight, start nothing new.
    pub draining: bool,
    /// About to shut down ([`crate::Handle::lame_duck`]): serve as usual, but a
    /// health check says 503, so that a load balancer stops sending work here first.
    pub lame_duck: bool,
    pub input: Vec<u8>,
    pub output: Vec<u8>,
    /// The connection being called now (set by the loop before every call of a session).
    pub(crate) connection: ConnectionId,
}

impl Turn {
    pub fn new() -> Turn {
        Turn {
            now: Instant::now(),
            wall: SystemTime::now(),
            draining: false,
            lame_duck: false,
            input: vec![0; 64 * 1024],
            output: Vec::with_capacity(128 * 1024),
            connection: ConnectionId::NONE,
        }
    }

    /// The connection this turn's call is about: where a message for it must be sent.
    pub fn connection(&self) -> ConnectionId {
        self.connection
    }
}

impl Default for Turn {
    fn default() -> Turn {
        Turn::new()
    }
}
