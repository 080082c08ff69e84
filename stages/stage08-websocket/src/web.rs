//! The service of the HTTP listeners (plain and TLS): the site, as stage06 serves it, and
//! the door to WebSocket. eventloop's HTTP/1.1 session answers every request itself, except
//! one asking `Upgrade: websocket` (with `Connection: upgrade`): that connection, with the
//! request's head, is handed to a [`WebSocket`] session, which answers the handshake (101,
//! or a refusal) and speaks WebSocket from then on.

use crate::hub::{Delivery, HubSender};
use crate::websocket::{Settings, WebSocket};
use crate::Member;
use eventloop::http1::{Env, Http1, HttpService, Switch};
use eventloop::{Service, Session, Transport, Turn};
use std::net::IpAddr;

/// What every connection of one HTTP loop shares.
pub struct Web {
    pub http: Env,
    /// Which loop this is: a chat member is (loop, connection).
    pub place: usize,
    pub hub: HubSender<Member>,
    pub settings: Settings,
}

impl<T: Transport> Service<T> for Web {
    /// The hub's deliveries to this loop's chat members.
    type Message = Delivery;

    fn open(&mut self, peer: IpAddr, turn: &Turn) -> Box<dyn Session<T, Web>> {
        Box::new(Http1::new(peer, turn.now))
    }
}

// ANCHOR: upgrade
impl<T: Transport> HttpService<T> for Web {
    fn http(&mut self) -> &mut Env {
        &mut self.http
    }

    /// `Upgrade: websocket` on a request: `read` begins with its head, and the new session
    /// answers it. (The only switch this service lists in `Env::switches`.)
    fn switch(&mut self, to: Switch, read: Vec<u8>) -> Option<Box<dyn Session<T, Web>>> {
        match to {
            Switch::Upgrade(token) if token == "websocket" => Some(Box::new(WebSocket::new(read))),
            _ => None,
        }
    }
}
// ANCHOR_END: upgrade
