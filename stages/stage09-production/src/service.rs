//! What a worker's loops serve: eventloop's HTTP/1.1 session on a [`Site`], as stage06 runs it,
//! and stage07's HTTP/2 session beside it, with the access log going to the master through
//! the worker's pipe.
//!
//! [`Stage09::switch`] is the one seam where HTTP/2 joins: a TLS handshake that chose `h2`
//! (ALPN) or a cleartext connection that opened with the HTTP/2 preface is handed to
//! eventloop's [`Http2`], as in stage07. With `http2 = false` the worker leaves
//! `Env::switches` empty (and ALPN offers `http/1.1` only, `tls.rs`): no connection ever
//! gets here, and the preface is answered as the HTTP/1.1 it is not.

use crate::config::{Auth, Mistake};
use crate::logs::Pipe;
use crate::metrics::{Shared, Slot};
use common::auth::{Users, Verified};
use common::log::LineFacts;
use common::setup::LogSink;
use common::{Method, Request, Response, Status};
use eventloop::http1::{Env, Http1, HttpService, Pages, Switch};
use eventloop::http2::{Http2, Http2Service};
use eventloop::{Service, Session, Step, Transport, Turn};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

/// The service every loop of a worker runs (one per listener, or N per listener in threads
/// mode), on plain TCP or TLS alike.
pub struct Stage09 {
    pub http: Env,
    /// This worker's counters in the shared page (`metrics.rs`).
    pub slot: &'static Slot,
}

impl<T: Transport> Service<T> for Stage09 {
    /// A password check's verdict, from the verifier threads.
    type Message = Verified;

    fn open(&mut self, peer: IpAddr, turn: &Turn) -> Box<dyn Session<T, Stage09>> {
        Box::new(Counted::new(
            Box::new(Http1::new(peer, turn.now)),
            self.slot,
        ))
    }
}

// ANCHOR: counted
/// A session, counted in `stage09_open_connections` from its start to its drop (the loop
/// drops a connection's session when it closes). Everything else it passes through.
pub struct Counted<T, S> {
    inner: Box<dyn Session<T, S>>,
    slot: &'static Slot,
}

impl<T, S> Counted<T, S> {
    pub fn new(inner: Box<dyn Session<T, S>>, slot: &'static Slot) -> Counted<T, S> {
        slot.opened();
        Counted { inner, slot }
    }
}

impl<T, S> Drop for Counted<T, S> {
    fn drop(&mut self) {
        self.slot.closed();
    }
}

impl<T, S: Service<T>> Session<T, S> for Counted<T, S> {
    fn start(&mut self, io: &mut T, service: &mut S, turn: &mut Turn) -> Step<T, S> {
        self.inner.start(io, service, turn)
    }
    fn ready(&mut self, io: &mut T, service: &mut S, turn: &mut Turn) -> Step<T, S> {
        self.inner.ready(io, service, turn)
    }
    fn timed_out(&mut self, io: &mut T, service: &mut S, turn: &mut Turn) -> Step<T, S> {
        self.inner.timed_out(io, service, turn)
    }
    fn is_idle(&self, io: &T) -> bool {
        self.inner.is_idle(io)
    }
    fn closed(&mut self, service: &mut S) {
        self.inner.closed(service)
    }
    /// A graceful stop (TERM, or the old workers of a reload) reaches HTTP/2 here: its
    /// GOAWAY goes out at once, not at the connection's next read.
    fn stopping(&mut self, io: &mut T, service: &mut S, turn: &mut Turn) -> Option<Step<T, S>> {
        self.inner.stopping(io, service, turn)
    }
    fn message(
        &mut self,
        io: &mut T,
        service: &mut S,
        turn: &mut Turn,
        message: S::Message,
    ) -> Option<Step<T, S>> {
        self.inner.message(io, service, turn, message)
    }
}
// ANCHOR_END: counted

// ANCHOR: switch
impl<T: Transport> HttpService<T> for Stage09 {
    fn http(&mut self) -> &mut Env {
        &mut self.http
    }

    fn verdict(message: Verified) -> Option<Verified> {
        Some(message)
    }

    /// The HTTP/2 seam: the connections that ALPN (`h2`) or the preface hand over get
    /// stage07's session, counted as the HTTP/1.1 one was (whose `Counted` the hand-off
    /// drops). Only the switches in `Env::switches` get here: none with `http2 = false`.
    fn switch(&mut self, to: Switch, read: Vec<u8>) -> Option<Box<dyn Session<T, Stage09>>> {
        match to {
            Switch::Alpn(protocol) if protocol == b"h2" => {}
            Switch::Preface => {}
            _ => return None,
        }
        Some(Box::new(Counted::new(
            Box::new(Http2::new(read)),
            self.slot,
        )))
    }
}

/// Stage07's settings (the defaults) for every HTTP/2 connection.
impl<T: Transport> Http2Service<T> for Stage09 {}
// ANCHOR_END: switch

/// Where a worker's finished responses go: counted in its slot, and, if there is an access
/// log, written to the pipe to the master.
pub struct ToMaster {
    pub pipe: Option<Arc<Pipe>>,
    pub slot: &'static Slot,
}

impl LogSink for ToMaster {
    /// Without an access log the metrics need the facts only: no line is formatted.
    fn wants_text(&self) -> bool {
        self.pipe.is_some()
    }

    fn line(&self, line: &str, facts: &LineFacts) {
        self.slot.record(facts, SystemTime::now());
        if let Some(pipe) = &self.pipe {
            if !pipe.write_line(line) {
                self.slot.line_dropped();
            }
        }
    }
}

// ANCHOR: pages
/// `/healthz` on the main listeners, for load balancers: `200 ok` while serving, `503
/// draining` once the worker is stopping (a reload or a stop), so a balancer that probes a
/// keep-alive connection takes it out of rotation.
pub fn site_pages() -> Pages {
    Arc::new(|request: &Request, draining: bool| health(request, draining))
}

/// The metrics listener: `/metrics` (the whole server's counters) and `/healthz`; 404 for
/// anything else (it never serves the site).
pub fn metrics_pages(shared: Arc<Shared>) -> Pages {
    Arc::new(move |request: &Request, draining: bool| {
        if let Some(response) = health(request, draining) {
            return Some(response);
        }
        if request.path == "/metrics" && is_read(request) {
            let text = shared.render().into_bytes();
            let response = Response::bytes(Status::OK, "text/plain; version=0.0.4", text)
                .with_header("Cache-Control", "no-store");
            return Some(head_or_get(request, response));
        }
        Some(Response::error(Status::NOT_FOUND))
    })
}

fn health(request: &Request, draining: bool) -> Option<Response> {
    if request.path != "/healthz" || !is_read(request) {
        return None;
    }
    let (status, body) = if draining {
        (Status::SERVICE_UNAVAILABLE, &b"draining\n"[..])
    } else {
        (Status::OK, &b"ok\n"[..])
    };
    let response = Response::bytes(status, "text/plain; charset=utf-8", body.to_vec())
        .with_header("Cache-Control", "no-store");
    Some(head_or_get(request, response))
}
// ANCHOR_END: pages

fn is_read(request: &Request) -> bool {
    matches!(request.method, Method::Get | Method::Head)
}

fn head_or_get(request: &Request, response: Response) -> Response {
    match request.method {
        Method::Head => response.without_body(),
        _ => response,
    }
}

/// The users of `[auth]`: the htpasswd text the master read, and the demo `users`.
pub fn users(auth: &Auth, htpasswd: Option<&str>) -> Result<Users, Mistake> {
    let mut users = Users::new();
    if let (Some(path), Some(text)) = (&auth.htpasswd, htpasswd) {
        let name = path.get_ref().display().to_string();
        users
            .add_htpasswd(text, &name)
            .map_err(|message| Mistake::at(path, message))?;
        if users.is_empty() {
            return Err(Mistake::at(path, format!("htpasswd {name} has no users")));
        }
    }
    for user in &auth.users {
        users
            .add_plain(user.get_ref())
            .map_err(|message| Mistake::at(user, message))?;
    }
    Ok(users)
}
