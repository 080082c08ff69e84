//! The first session of a connection on a listener behind a proxy: it takes the PROXY
//! protocol header (`common::proxy`) off the socket, then hands the connection to the
//! service's own first session with the client's address from the header.
//!
//! The header comes before anything else on the raw TCP stream, before TLS on a TLS
//! listener. So it is read from the socket directly, around the transport, which has not
//! seen a byte yet: rustls then starts at the ClientHello, HTTP/1.1 at the request line.
//!
//! Why a session and not the loop itself: a session already has what this needs (a deadline,
//! readiness, a hand-off that starts the next session at once), so the loop learns only a
//! flag. And why `peek`: the header is taken off the socket without ever reading past its
//! end, so there are never "bytes read too far" to hand on (to Http1, or back into rustls
//! before its socket): whatever follows the header (a pipelined request, a ClientHello) is
//! still in the kernel's buffer, and level-triggered readiness reports it to the next session.

use crate::http1::FIRST_REQUEST_GRACE;
use crate::poller::Interest;
use crate::session::{Service, Session, Step, Turn};
use crate::transport::{is_transient, Transport};
use common::proxy::{self, Parsed};
use std::io::Read;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Reads a PROXY header, then becomes the service's session for the client it names.
pub struct ProxyHeader {
    /// The socket's own peer (the proxy): the address kept for a LOCAL header.
    socket_peer: IpAddr,
    /// The header's bytes taken off the socket so far (all of them part of the header).
    got: Vec<u8>,
    /// The whole header must be here by then (the listener's header timeout).
    deadline: Instant,
    accepted: Instant,
}

impl ProxyHeader {
    pub fn new(socket_peer: IpAddr, accepted: Instant, timeout: Duration) -> ProxyHeader {
        ProxyHeader {
            socket_peer,
            got: Vec::new(),
            deadline: accepted + timeout,
            accepted,
        }
    }

    /// Accepted under `FIRST_REQUEST_GRACE` ago, nothing received: as for HTTP/1.1 (see
    /// `Http1::is_idle`), its header and first request are most likely on the wire, and a
    /// reload's old worker that closed it would lose them.
    fn just_connected(&self) -> bool {
        self.got.is_empty() && self.accepted.elapsed() < FIRST_REQUEST_GRACE
    }

    fn wait<T, S>(&self) -> Step<T, S> {
        Step::Wait {
            interest: Interest::Read,
            deadline: self.deadline,
        }
    }
}

impl<T: Transport, S: Service<T>> Session<T, S> for ProxyHeader {
    fn start(&mut self, _io: &mut T, _service: &mut S, _turn: &mut Turn) -> Step<T, S> {
        self.wait()
    }

    // ANCHOR: ready
    /// Looks at what has arrived (`peek`, which leaves it in the socket) together with what
    /// was taken before. A whole header: take exactly its bytes and hand over. Not yet whole:
    /// every byte seen is part of the header, so take them all (else level-triggered epoll
    /// would report the same bytes for ever) and wait for more. Anything else: close.
    fn ready(&mut self, io: &mut T, service: &mut S, turn: &mut Turn) -> Step<T, S> {
        // More than the longest header is never needed to decide.
        let room = proxy::V1_MAX.max(proxy::V2_MAX) - self.got.len();
        let peeked = match io.socket().peek(&mut turn.input[..room]) {
            // The client left before its header was whole.
            Ok(0) => return Step::Close,
            Ok(n) => n,
            Err(e) if is_transient(&e) => return self.wait(),
            Err(_) => return Step::Close,
        };
        let before = self.got.len();
        self.got.extend_from_slice(&turn.input[..peeked]);
        let (take, header) = match proxy::parse(&self.got) {
            Parsed::Partial => (peeked, None),
            // Of what was peeked now, only the header's part is taken. (It ends past what
            // was taken before, which parsed as `Partial`.)
            Parsed::Header(header, used) => match used.checked_sub(before) {
                Some(take) => (take, Some(header)),
                None => return Step::Close,
            },
            Parsed::Invalid(_) => return Step::Close,
        };
        // The bytes are in the socket (peeked just now): one read takes them.
        match io.socket().read(&mut turn.input[..take]) {
            Ok(n) if n == take => {}
            _ => return Step::Close,
        }
        let Some(header) = header else {
            return self.wait();
        };
        // LOCAL (HAProxy's own health checks) or UNKNOWN: the connection is the proxy's.
        let peer = header
            .source()
            .map_or(self.socket_peer, |source| source.ip());
        io.set_peer(peer);
        Step::Handoff(service.open(peer, turn))
    }
    // ANCHOR_END: ready

    /// The header did not come whole in time: there is no one to answer (we do not even know
    /// which protocol the client would understand), so the connection just closes.
    fn timed_out(&mut self, _io: &mut T, _service: &mut S, _turn: &mut Turn) -> Step<T, S> {
        Step::Close
    }

    /// Nothing of a header yet, and not just connected: a graceful stop may close it (the
    /// loop also checks that no bytes wait unread in the socket).
    fn is_idle(&self, _io: &T) -> bool {
        self.got.is_empty() && !self.just_connected()
    }

    /// A stop has begun: one that has only just connected gets until `FIRST_REQUEST_GRACE`
    /// after it was accepted for its header (the header timeout still bounds the rest).
    fn stopping(&mut self, _io: &mut T, _service: &mut S, _turn: &mut Turn) -> Option<Step<T, S>> {
        self.just_connected().then(|| Step::Wait {
            interest: Interest::Read,
            deadline: self.deadline.min(self.accepted + FIRST_REQUEST_GRACE),
        })
    }
}
