//! A WebSocket connection as a session on the loop: the handshake's answer, then frames.
//!
//! eventloop's HTTP/1.1 session hands us the connection with the upgrade request's head
//! still unread (`web.rs`). We answer it: a refusal (400, 403, 404, 426) ends the connection
//! as an HTTP error does; 101 starts WebSocket. From then on the protocol is `common::ws`'s
//! sans-IO [`Connection`]: we feed it the bytes we read, take its events (messages, pings,
//! closes, violations with their close code), and send the whole frames it produces.
//!
//! What is ours here: the two routes (`/ws/echo`, `/ws/chat/<room>?name=<nick>`), the chat's
//! JSON, the queue every frame waits in (`outbox.rs`: bounded, shared bytes), the flood rule,
//! the keep-alive pings, and ending well: our close frame out, our FIN, and the client's
//! last bytes read away before the socket closes (a close with unread bytes is a reset, and
//! a reset can destroy the close frame before the client reads it).

use crate::hub::{quote, valid_name, valid_room, Command, Delivery, Kind};
use crate::outbox::{Bucket, Outbox, HIGH_WATER};
use crate::web::Web;
use crate::Member;
use common::ws::frame::encode;
use common::ws::handshake::{self, Handshake, Policy};
use common::ws::{CloseCode, Config, Connection, Event, Message, OpCode, State};
use common::{Connection as Persistence, Response, Status, Version};
use eventloop::http1::SEND_TIMEOUT;
use eventloop::{Interest, Received, Service, Session, Step, Transport, Turn};
use std::net::{IpAddr, Ipv4Addr, Shutdown};
use std::time::{Duration, Instant};

/// The largest message `/ws/echo` takes (the conformance suites send 16 MiB).
pub const ECHO_MAX: usize = 16 * 1024 * 1024;
/// The largest chat message frame; a longer one is closed with 1009.
pub const CHAT_MAX: usize = 64 * 1024;
/// The longest chat text, in characters; a longer one gets an error and the connection stays.
pub const MAX_TEXT: usize = 2000;
/// After our close frame (or a refusal), how long we read the client's last bytes.
const LINGER: Duration = Duration::from_secs(2);
/// The most bytes of an unfinished handshake head we hold (the HTTP session's own bound).
const MAX_HEAD: usize = 64 * 1024;

/// What every WebSocket connection of a loop is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Origins allowed to open a WebSocket (`Origin` field, exact); empty allows any.
    pub origins: Vec<String>,
    /// A member silent this long is pinged; silent as long again, it is dropped.
    pub ping_interval: Duration,
    /// The flood rule: chat messages a second per member (bursts of twice as many).
    pub rate: u32,
}

/// A text frame carrying `payload` (the hub's encoder: once per message, for everyone).
pub fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    encode(OpCode::Text, payload, true, &mut out);
    out
}

/// `{"type":"error","error":...}`.
fn error_json(why: &str) -> String {
    format!(r#"{{"type":"error","error":{}}}"#, quote(why))
}

/// What this connection is for.
enum Role {
    Echo,
    Chat {
        room: String,
        name: String,
        /// The hub has welcomed us: room events are ours from now on.
        joined: bool,
    },
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The upgrade request is not all here yet.
    Handshake,
    Open,
    /// Our last bytes (a close frame, or an HTTP refusal) are queued: send them, then FIN.
    Closing,
    /// Our side is shut; reading the client's last bytes away until it closes or `until`.
    Lingering,
}

pub struct WebSocket {
    phase: Phase,
    /// The handshake's bytes (the head first), as the HTTP session handed them over.
    read: Vec<u8>,
    ws: Option<Connection>,
    role: Role,
    outbox: Outbox,
    member: Option<Member>,
    bucket: Bucket,
    /// When the client last sent anything: the ping clock runs from here.
    heard: Instant,
    /// A ping is out and its pong has not come.
    pinged: bool,
    /// When the socket last took any of our bytes (the send timeout runs from here).
    last_progress: Instant,
    /// The client has closed its side.
    peer_done: bool,
    /// The rest of the upgrade request must come by then (the header timeout).
    handshake_due: Instant,
    /// Once our last bytes are out: when we stop waiting for the client's (its close frame,
    /// its FIN) and close.
    until: Option<Instant>,
}

impl WebSocket {
    pub fn new(read: Vec<u8>) -> WebSocket {
        let now = Instant::now();
        WebSocket {
            phase: Phase::Handshake,
            read,
            ws: None,
            role: Role::Echo,
            outbox: Outbox::default(),
            member: None,
            bucket: Bucket::new(now, 1),
            heard: now,
            pinged: false,
            last_progress: now,
            peer_done: false,
            handshake_due: now,
            until: None,
        }
    }

    // ANCHOR: handshake
    /// Answers the upgrade request, once it is whole: 101 and WebSocket, or an HTTP refusal.
    fn handshake<T: Transport>(&mut self, io: &T, web: &mut Web, turn: &Turn) {
        let peer = io
            .socket()
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        let (offer, used) = match handshake::parse(&self.read) {
            Handshake::Partial if self.read.len() < MAX_HEAD => return,
            Handshake::Partial => {
                return self.refuse(
                    Response::refuse(Status::HEADERS_TOO_LARGE),
                    None,
                    peer,
                    web,
                    turn,
                )
            }
            Handshake::Refuse(response, request) => {
                return self.refuse(response, request.as_ref(), peer, web, turn)
            }
            Handshake::Offer(offer, used) => (offer, used),
        };
        let request = &offer.request;
        let (role, max) = match route(&request.path, request.query.as_deref()) {
            Some(Route::Echo) => (Role::Echo, ECHO_MAX),
            Some(Route::Chat(room, name)) => (
                Role::Chat {
                    room,
                    name,
                    joined: false,
                },
                CHAT_MAX,
            ),
            None => {
                let request = request.clone();
                let response = Response::refuse(Status::NOT_FOUND);
                return self.refuse(response, Some(&request), peer, web, turn);
            }
        };
        let origins: Vec<&str> = web.settings.origins.iter().map(String::as_str).collect();
        let policy = Policy {
            origins: (!origins.is_empty()).then_some(&origins[..]),
            protocols: &[],
        };
        let accepted = match offer.accept(&policy) {
            Ok(accepted) => accepted,
            Err(response) => {
                let request = offer.request.clone();
                return self.refuse(response, Some(&request), peer, web, turn);
            }
        };
        let mut head = Vec::new();
        let date = web.http.dates.get(turn.wall);
        let response = accepted.response;
        response.write_head(
            &mut head,
            Version::Http11,
            Persistence::Default,
            date,
            web.http.server,
        );
        web.http.log.record(
            peer,
            turn.wall,
            Some(&offer.request),
            None,
            response.status,
            0,
        );
        self.outbox.push(head.into());
        let mut ws = Connection::new(Config { max_message: max });
        ws.receive(&self.read[used..]);
        self.read = Vec::new();
        self.ws = Some(ws);
        self.role = role;
        self.phase = Phase::Open;
        self.heard = turn.now;
        self.join(web);
        self.events(web, turn.now);
    }
    // ANCHOR_END: handshake

    /// Queues an HTTP refusal of the handshake; the connection ends after it.
    fn refuse(
        &mut self,
        response: Response,
        request: Option<&common::Request>,
        peer: IpAddr,
        web: &mut Web,
        turn: &Turn,
    ) {
        let mut bytes = Vec::new();
        let date = web.http.dates.get(turn.wall);
        response.write_head(
            &mut bytes,
            Version::Http11,
            Persistence::Close,
            date,
            web.http.server,
        );
        if let common::Body::Bytes(body) = &response.body {
            bytes.extend_from_slice(body);
        }
        web.http.log.record(
            peer,
            turn.wall,
            request,
            None,
            response.status,
            response.body_len(),
        );
        self.outbox.push(bytes.into());
        self.read = Vec::new();
        self.closing();
    }

    /// A chat member asks the hub for a seat, or is told (and closed) why it cannot have one.
    fn join(&mut self, web: &mut Web) {
        let Role::Chat { room, name, .. } = &self.role else {
            return;
        };
        let why = if !valid_room(room) {
            "a room name is 1 to 32 letters, digits, '_' or '-'"
        } else if !valid_name(name) {
            "a name is 1 to 24 letters, digits, '.', '_' or '-'"
        } else {
            let (Some(member), room, name) = (self.member, room.clone(), name.clone()) else {
                return;
            };
            let kind = Kind::WebSocket;
            let _ = web.hub.send(Command::Join {
                member,
                kind,
                room,
                name,
            });
            return;
        };
        self.refuse_member(why);
    }

    /// An error message the page can show, then close 1008 with the same reason.
    fn refuse_member(&mut self, why: &str) {
        if let Some(ws) = &mut self.ws {
            ws.send_text(&error_json(why));
            ws.close(CloseCode::POLICY, why);
        }
    }

    // ANCHOR: events
    /// Everything the codec has made of the bytes so far: answer it, pass it to the hub.
    fn events(&mut self, web: &mut Web, now: Instant) {
        let Some(ws) = &mut self.ws else { return };
        while let Some(event) = ws.next_event() {
            match event {
                // Once closing, messages still arriving are the client's last words, unheard.
                Event::Message(_) if self.phase != Phase::Open => {}
                Event::Message(message) => match &self.role {
                    Role::Echo => ws.send_message(&message),
                    Role::Chat { .. } => {
                        let Message::Text(text) = message else {
                            ws.send_text(&error_json("binary messages are not chat"));
                            continue;
                        };
                        match said(&text) {
                            Err(why) => ws.send_text(&error_json(why)),
                            Ok(_) if !self.bucket.take(now) => {
                                let rate = web.settings.rate;
                                let why = format!("more than {rate} messages a second: flooding");
                                ws.close(CloseCode::POLICY, &why);
                            }
                            Ok(text) => {
                                if let Some(member) = self.member {
                                    let _ = web.hub.send(Command::Say { member, text });
                                }
                            }
                        }
                    }
                },
                // The codec has queued the pong (it answers a ping even mid-message).
                Event::Ping(_) => {}
                Event::Pong(_) => self.pinged = false,
                // The client's close (our reply is queued, unless we closed first), or its
                // violation (our close, with the RFC's code, is queued).
                Event::Close { .. } | Event::Error(_) => {}
            }
        }
        let out = ws.take_outgoing();
        if !out.is_empty() {
            self.outbox.push(out.into());
        }
        if !ws.can_send() && self.phase == Phase::Open {
            self.leave_hub(web);
            self.closing();
        }
    }
    // ANCHOR_END: events

    fn leave_hub(&mut self, web: &mut Web) {
        if let (Role::Chat { .. }, Some(member)) = (&self.role, self.member.take()) {
            let _ = web.hub.send(Command::Leave { member });
        }
    }

    fn closing(&mut self) {
        self.phase = Phase::Closing;
        self.until = None;
    }

    /// Reads what the client sent, if we are reading now.
    fn receive<T: Transport>(&mut self, io: &mut T, web: &mut Web, turn: &mut Turn) -> bool {
        let read = &mut self.read;
        let ws = &mut self.ws;
        let phase = self.phase;
        let result = io.receive(&mut turn.input, &mut |bytes| match phase {
            Phase::Handshake => read.extend_from_slice(bytes),
            // Closing, the codec still reads: the client's close frame ends the handshake.
            Phase::Open | Phase::Closing => {
                if let Some(ws) = ws {
                    ws.receive(bytes)
                }
            }
            // Lingering: the client's last bytes, thrown away.
            Phase::Lingering => {}
        });
        match result {
            Ok(Received::Open) => {}
            Ok(Received::Closed) => self.peer_done = true,
            Err(_) => return false,
        }
        self.heard = turn.now;
        self.pinged = false;
        match self.phase {
            Phase::Handshake => self.handshake(io, web, turn),
            Phase::Open | Phase::Closing => self.events(web, turn.now),
            Phase::Lingering => {}
        }
        true
    }

    // ANCHOR: step
    /// Writes what is queued, and says what to wait for next.
    fn step<T: Transport>(&mut self, io: &mut T, web: &mut Web, turn: &mut Turn) -> Step<T, Web> {
        if turn.draining && self.phase == Phase::Open {
            // A graceful stop: say so (1001), then end as any close does.
            if let Some(ws) = &mut self.ws {
                ws.close(CloseCode::GOING_AWAY, "server stopping");
            }
            self.events(web, turn.now);
            self.leave_hub(web);
            self.closing();
        }
        let before = io.sent();
        let written = self.outbox.write(io, &mut turn.output);
        if io.sent() != before {
            self.last_progress = turn.now;
        }
        let written = match written {
            Ok(written) => written,
            Err(_) => return Step::Close,
        };
        match self.phase {
            Phase::Handshake => Step::Wait {
                interest: Interest::Read,
                deadline: self.handshake_due,
            },
            Phase::Open if self.peer_done => {
                // A FIN without a close frame: nothing more will come, and nobody reads.
                Step::Close
            }
            Phase::Open => {
                let ping = self.heard + web.settings.ping_interval * (1 + u32::from(self.pinged));
                if !written {
                    let deadline = ping.min(self.last_progress + SEND_TIMEOUT);
                    return Step::Wait {
                        interest: Interest::Write,
                        deadline,
                    };
                }
                // A client that sends and never reads: while much of ours waits, we read
                // nothing more (its pings would otherwise queue pongs without end).
                let interest = if self.outbox.queued() < HIGH_WATER {
                    Interest::Read
                } else {
                    Interest::Write
                };
                Step::Wait {
                    interest,
                    deadline: ping,
                }
            }
            // Our last bytes go out as any bytes do: while the client takes some within the
            // send timeout (a member dropped for being slow may still be reading, slowly).
            Phase::Closing if !written => Step::Wait {
                interest: Interest::Write,
                deadline: self.last_progress + SEND_TIMEOUT,
            },
            // Our close is out and the client's has not come: wait for it (RFC 6455 section
            // 7.1.1: the server closes the TCP connection once both are sent).
            Phase::Closing
                if !self.peer_done
                    && self
                        .ws
                        .as_ref()
                        .is_some_and(|ws| ws.state() == State::CloseSent) =>
            {
                // The client has LINGER from the moment our close is out to answer it.
                let due = *self.until.get_or_insert(turn.now + LINGER);
                Step::Wait {
                    interest: Interest::Read,
                    deadline: due,
                }
            }
            Phase::Closing => {
                io.goodbye();
                if self.peer_done || io.socket().shutdown(Shutdown::Write).is_err() {
                    return Step::Close;
                }
                self.phase = Phase::Lingering;
                let due = *self.until.get_or_insert(turn.now + LINGER);
                Step::Wait {
                    interest: Interest::Read,
                    deadline: due,
                }
            }
            Phase::Lingering if self.peer_done => Step::Close,
            Phase::Lingering => Step::Wait {
                interest: Interest::Read,
                deadline: self.until.unwrap_or(turn.now),
            },
        }
    }
    // ANCHOR_END: step
}

impl<T: Transport> Session<T, Web> for WebSocket {
    fn start(&mut self, io: &mut T, web: &mut Web, turn: &mut Turn) -> Step<T, Web> {
        self.member = Some((web.place, turn.connection()));
        self.heard = turn.now;
        self.last_progress = turn.now;
        // The rest of a handshake must come as a head's rest does, within the header timeout.
        self.handshake_due = turn.now + web.http.header_timeout;
        self.bucket = Bucket::new(turn.now, web.settings.rate);
        self.handshake(io, web, turn);
        self.step(io, web, turn)
    }

    // ANCHOR: ready
    /// The socket is ready: read (when we read at all now), answer, write.
    fn ready(&mut self, io: &mut T, web: &mut Web, turn: &mut Turn) -> Step<T, Web> {
        let reading = match self.phase {
            Phase::Open => self.outbox.queued() < HIGH_WATER,
            Phase::Handshake | Phase::Lingering => true,
            // Only once our last bytes are out (then we wait for the client's close).
            Phase::Closing => self.outbox.is_empty(),
        };
        if reading && !self.receive(io, web, turn) {
            self.leave_hub(web);
            return Step::Close;
        }
        self.step(io, web, turn)
    }
    // ANCHOR_END: ready

    fn timed_out(&mut self, io: &mut T, web: &mut Web, turn: &mut Turn) -> Step<T, Web> {
        match self.phase {
            // Our last bytes still going out, slowly: they have the send timeout.
            Phase::Closing
                if !self.outbox.is_empty() && turn.now < self.last_progress + SEND_TIMEOUT =>
            {
                return self.step(io, web, turn)
            }
            Phase::Handshake | Phase::Closing | Phase::Lingering => return Step::Close,
            Phase::Open => {}
        }
        let interval = web.settings.ping_interval;
        if turn.now >= self.last_progress + SEND_TIMEOUT && !self.outbox.is_empty() {
            // Our bytes have sat untaken for the send timeout: nobody is reading.
            self.leave_hub(web);
            return Step::Close;
        }
        if self.pinged && turn.now >= self.heard + 2 * interval {
            // Pinged, and still silent: gone (or too far behind to matter).
            if let Some(ws) = &mut self.ws {
                ws.close(CloseCode::POLICY, "no pong");
            }
            self.events(web, turn.now);
        } else if !self.pinged && turn.now >= self.heard + interval {
            if let Some(ws) = &mut self.ws {
                ws.ping(b"stage08");
            }
            self.pinged = true;
            self.events(web, turn.now);
        }
        self.step(io, web, turn)
    }

    fn is_idle(&self, _io: &T) -> bool {
        self.phase == Phase::Open && self.outbox.is_empty()
    }

    fn closed(&mut self, web: &mut Web) {
        self.leave_hub(web);
    }

    // ANCHOR: delivery
    /// The hub's deliveries: our welcome (or refusal), and the room's events.
    fn message(
        &mut self,
        io: &mut T,
        web: &mut Web,
        turn: &mut Turn,
        delivery: <Web as Service<T>>::Message,
    ) -> Option<Step<T, Web>> {
        if self.phase != Phase::Open {
            return None;
        }
        let Role::Chat { joined, .. } = &mut self.role else {
            return None;
        };
        match delivery {
            Delivery::Joined(welcome) if !*joined => {
                *joined = true;
                self.outbox.push(welcome);
            }
            Delivery::Refused(why) if !*joined => {
                // Not in the room: nothing to leave.
                self.member = None;
                self.refuse_member(&format!("{why}: choose another name"));
                self.events(web, turn.now);
            }
            Delivery::Event(frame) if *joined => {
                if self.outbox.offer(frame).is_err() {
                    // A megabyte behind: this member has stopped reading. It is dropped, so
                    // that nobody else waits for it and nothing grows without bound: the
                    // frames it has not begun are discarded, and its close (1008) follows
                    // the frame it is in the middle of.
                    self.outbox.cut();
                    if let Some(ws) = &mut self.ws {
                        ws.close(CloseCode::POLICY, "too slow: over 1 MiB behind");
                    }
                    self.events(web, turn.now);
                }
            }
            _ => return None,
        }
        Some(self.step(io, web, turn))
    }
    // ANCHOR_END: delivery
}

/// What a connection asked for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Echo,
    /// Room and name, as sent (checked by `join`, so that a bad one gets an error message
    /// a page can show rather than a failed handshake it cannot see).
    Chat(String, String),
}

fn route(path: &str, query: Option<&str>) -> Option<Route> {
    if path == "/ws/echo" {
        return Some(Route::Echo);
    }
    let room = path.strip_prefix("/ws/chat/")?;
    let name = query
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("name="))
        .unwrap_or("");
    Some(Route::Chat(room.to_string(), name.to_string()))
}

/// The text of a chat message, `{"text": "..."}`, or why it is not one.
fn said(json: &str) -> Result<String, &'static str> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|_| r#"not JSON: send {"text": "..."}"#)?;
    let text = value
        .get("text")
        .and_then(serde_json::Value::as_str)
        .ok_or(r#"no "text": send {"text": "..."}"#)?;
    if text.trim().is_empty() {
        return Err("empty text");
    }
    if text.chars().count() > MAX_TEXT {
        return Err("text over 2000 characters");
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/ws/echo", None), Some(Route::Echo));
        assert_eq!(
            route("/ws/chat/lobby", Some("x=1&name=bob")),
            Some(Route::Chat("lobby".into(), "bob".into()))
        );
        assert_eq!(
            route("/ws/chat/", None),
            Some(Route::Chat(String::new(), String::new()))
        );
        assert_eq!(route("/ws/other", None), None);
        assert_eq!(route("/chat/", None), None);
    }

    #[test]
    fn chat_messages_are_objects_with_a_text() {
        assert_eq!(said(r#"{"text":"hi"}"#), Ok("hi".to_string()));
        assert_eq!(said(r#"{"text":"hi","extra":1}"#), Ok("hi".to_string()));
        for bad in [
            "hi",
            "{}",
            r#"{"text":3}"#,
            r#"["text"]"#,
            r#"{"text":"  "}"#,
        ] {
            assert!(said(bad).is_err(), "{bad}");
        }
        let long = format!(r#"{{"text":"{}"}}"#, "é".repeat(MAX_TEXT + 1));
        assert!(said(&long).is_err());
    }
}
