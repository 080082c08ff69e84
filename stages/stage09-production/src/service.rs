//! What a worker's loops serve: eventloop's HTTP/1.1 session on a [`Site`], as stage06 runs it,
//! with the access log going to the master through the worker's pipe.
//!
//! [`Stage09::switch`] is the one seam where HTTP/2 joins: a TLS handshake that chose `h2`
//! (ALPN) or a cleartext connection that opened with the HTTP/2 preface is handed to the
//! session `switch` returns. This build has no HTTP/2 session (stage07 writes it), so the
//! config refuses `http2 = true` and `switches` stays empty: no connection ever gets here.

use crate::config::{Auth, Mistake};
use crate::logs::Pipe;
use crate::metrics::{Shared, Slot};
use common::auth::{Users, Verified};
use common::log::LineFacts;
use common::setup::LogSink;
use common::{Method, Request, Response, Status};
use eventloop::http1::{Env, Http1, HttpService, Pages, Switch};
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

    /// The HTTP/2 seam. With stage07's session this becomes: for `Switch::Alpn(b"h2")` and
    /// `Switch::Preface`, `Some(Box::new(Counted::new(Box::new(Http2::new(read, ...)),
    /// self.slot)))`, with `Env::switches` holding both and `h2` first in the TLS config's
    /// ALPN list (tls.rs). (The HTTP/1.1 session's `Counted` is dropped by the hand-off.)
    fn switch(&mut self, _to: Switch, _read: Vec<u8>) -> Option<Box<dyn Session<T, Stage09>>> {
        None
    }
}
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
