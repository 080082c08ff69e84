//! The event loop of stages 05 and 06, as a library for Part II.
//!
//! stage05 wrote the loop; stage06 copied it and put TLS in. From stage07 on (HTTP/2,
//! WebSocket, a production server) the same loop would be copied three more times, so here it
//! becomes one crate, generic over two things:
//!
//! - the [`Transport`] that carries a connection's bytes: [`Plain`] TCP, or [`Tls`] (rustls,
//!   sans-IO, as in stage06);
//! - the [`Session`] that speaks a protocol on it: [`http1::Http1`] first, and any session a
//!   connection is handed to (after ALPN, the HTTP/2 preface, or an `Upgrade`).
//!
//! What the loop owns is what every protocol needs (`server.rs`): readiness by epoll, waited
//! on directly (`poller.rs`); accepting with a capacity limit and an EMFILE backoff; one heap
//! of deadlines (`timers.rs`); signals through a self-pipe; graceful shutdown; and messages
//! from other threads (`mailbox.rs`), so that N loops can run on N threads, and so that work
//! too slow for the loop (a bcrypt check: `verifiers.rs`) can answer the connection that
//! asked for it. What HTTP means
//! stays in `common`, sans-IO, as before.
//!
//! `timers.rs` and `sendfile.rs` are stage05's files, copied on purpose: stage05 keeps its
//! own loop because writing it is that chapter's lesson, and this crate is where the loop
//! lives from then on.

pub mod certs;
pub mod http1;
#[cfg(feature = "h2")]
pub mod http2;
mod mailbox;
mod poller;
mod proxy;
mod sendfile;
mod server;
mod session;
mod timers;
mod transport;
pub mod verifiers;

pub use mailbox::{ConnectionId, Handle};
pub use poller::Interest;
pub use server::{reuseport_listener, Config, EventLoop};
pub use session::{Service, Session, Step, Turn};
pub use transport::{Piece, Plain, Received, Tls, Transport, TLS_BUFFER_LIMIT};
pub use verifiers::Verifiers;
