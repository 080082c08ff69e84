//! What a worker's loops serve: eventloop's HTTP/1.1 session on a [`Site`], as stage06 runs it,
//! with the access log going to the master through the worker's pipe.
//!
//! [`Stage09::switch`] is the one seam where HTTP/2 joins: a TLS handshake that chose `h2`
//! (ALPN) or a cleartext connection that opened with the HTTP/2 preface is handed to the
//! session `switch` returns. This build has no HTTP/2 session (stage07 writes it), so the
//! config refuses `http2 = true` and `switches` stays empty: no connection ever gets here.

use crate::config::{Auth, Mistake};
use crate::logs::Pipe;
use common::auth::{Users, Verified};
use common::log::LineFacts;
use common::setup::LogSink;
use eventloop::http1::{Env, Http1, HttpService, Switch};
use eventloop::{Service, Session, Transport, Turn};
use std::net::IpAddr;
use std::sync::Arc;

/// The service every loop of a worker runs (one per listener, or N per listener in threads
/// mode), on plain TCP or TLS alike.
pub struct Stage09 {
    pub http: Env,
}

impl<T: Transport> Service<T> for Stage09 {
    /// A password check's verdict, from the verifier threads.
    type Message = Verified;

    fn open(&mut self, peer: IpAddr, turn: &Turn) -> Box<dyn Session<T, Stage09>> {
        Box::new(Http1::new(peer, turn.now))
    }
}

// ANCHOR: switch
impl<T: Transport> HttpService<T> for Stage09 {
    fn http(&mut self) -> &mut Env {
        &mut self.http
    }

    fn verdict(message: Verified) -> Option<Verified> {
        Some(message)
    }

    /// The HTTP/2 seam. With stage07's session this becomes: for `Switch::Alpn(b"h2")` and
    /// `Switch::Preface`, `Some(Box::new(Http2::new(read, ...)))`, with `Env::switches` holding
    /// both and `h2` first in the TLS config's ALPN list (tls.rs).
    fn switch(&mut self, _to: Switch, _read: Vec<u8>) -> Option<Box<dyn Session<T, Stage09>>> {
        None
    }
}
// ANCHOR_END: switch

/// The access log's destination in a worker: the pipe to the master.
pub struct ToMaster(pub Arc<Pipe>);

impl LogSink for ToMaster {
    fn line(&self, line: &str, _facts: &LineFacts) {
        self.0.write_line(line);
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
