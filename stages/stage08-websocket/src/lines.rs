//! The sources' first program, the raw TCP chat, as a session on the loop: `nc localhost PORT`.
//!
//! The protocol is lines. The first line is your name; every further line is a message to
//! room `lobby`; what the room says arrives as lines (`alice: hi`, `* bob joined`, `* bob
//! left`). Browser users in `lobby` are the same room: the hub encodes each event once as a
//! WebSocket frame and once as a line, and each member gets its own kind.
//!
//! The rules, all enforced here: a line is at most [`MAX_LINE`] bytes (a longer one gets an
//! error line and the connection closes: we cannot find its end without holding it all);
//! control bytes are stripped (a `\r` from `nc -C` or telnet, an escape sequence that would
//! repaint other people's terminals) and invalid UTF-8 is replaced; an invalid or taken name
//! is asked for again; the flood rule and the queue bound are the WebSocket members' own
//! (`outbox.rs`); a member silent for [`IDLE`] is told so and closed.

use crate::hub::{valid_name, Command, Delivery, Frame, HubSender, Kind, LOBBY};
use crate::outbox::{Bucket, Outbox, HIGH_WATER};
use crate::Member;
use eventloop::{Interest, Plain, Received, Service, Session, Step, Transport, Turn};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The longest line taken, in bytes, newline excluded.
pub const MAX_LINE: usize = 1000;
/// A member who sends nothing for this long is closed (a line chat has no ping).
pub const IDLE: Duration = Duration::from_secs(600);
/// How long our last words (an error line) may take to go out before we close anyway.
const LAST_WORDS: Duration = Duration::from_secs(5);

/// Every TCP chat connection of one loop shares this.
pub struct LineService {
    /// Which loop this is: a member is (loop, connection).
    pub place: usize,
    pub hub: HubSender<Member>,
    /// The flood rule's rate (see `outbox::Bucket`).
    pub rate: u32,
}

impl Service<Plain> for LineService {
    type Message = Delivery;

    fn open(&mut self, _peer: IpAddr, turn: &Turn) -> Box<dyn Session<Plain, LineService>> {
        Box::new(LineChat::new(turn.now, self.rate))
    }
}

/// Where a line member stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// The next line is a name.
    Naming,
    /// The hub has our name and will answer (welcome or refusal); lines wait until then.
    Joining,
    Joined,
    /// Our last words are queued: send them, then close.
    Leaving,
}

pub struct LineChat {
    stage: Stage,
    member: Option<Member>,
    /// Bytes of a line not yet ended.
    input: Vec<u8>,
    outbox: Outbox,
    bucket: Bucket,
    /// When the client last sent anything.
    heard: Instant,
    /// The client has closed its side: what it sent is still handled, then we close.
    peer_done: bool,
    /// Leaving: when we close whether or not the last words went out.
    until: Instant,
}

impl LineChat {
    fn new(now: Instant, rate: u32) -> LineChat {
        let mut outbox = Outbox::default();
        outbox.push(line("* welcome to the lobby; your name?"));
        LineChat {
            stage: Stage::Naming,
            member: None,
            input: Vec::new(),
            outbox,
            bucket: Bucket::new(now, rate),
            heard: now,
            peer_done: false,
            until: now,
        }
    }

    /// Handles every whole line in `input` that can be handled now.
    fn lines(&mut self, service: &mut LineService, now: Instant) {
        loop {
            if matches!(self.stage, Stage::Joining | Stage::Leaving) {
                return;
            }
            let Some(end) = self.input.iter().position(|&b| b == b'\n') else {
                break;
            };
            if end > MAX_LINE {
                break;
            }
            let raw: Vec<u8> = self.input.drain(..=end).collect();
            self.line(&clean(&raw), service, now);
        }
        if self.input.len() > MAX_LINE {
            let message = format!("* error: a line is at most {MAX_LINE} bytes");
            return self.leave(service, &message, now);
        }
        if self.peer_done {
            // The client is gone: a last line without its newline still counts.
            if !self.input.is_empty() {
                let raw = std::mem::take(&mut self.input);
                self.line(&clean(&raw), service, now);
                if self.stage == Stage::Joining {
                    return;
                }
            }
            self.leave(service, "", now);
        }
        if self.input.is_empty() {
            self.input = Vec::new();
        }
    }

    fn line(&mut self, text: &str, service: &mut LineService, now: Instant) {
        let Some(member) = self.member else { return };
        match self.stage {
            Stage::Naming if valid_name(text) => {
                self.stage = Stage::Joining;
                let join = Command::Join {
                    member,
                    kind: Kind::Line,
                    room: LOBBY.to_string(),
                    name: text.to_string(),
                };
                let _ = service.hub.send(join);
            }
            Stage::Naming => self.outbox.push(line(
                "* a name is 1 to 24 letters, digits, '.', '_' or '-'; your name?",
            )),
            Stage::Joined if text.is_empty() => {}
            Stage::Joined if !self.bucket.take(now) => {
                let why = format!(
                    "* error: more than {} lines a second: flooding",
                    service.rate
                );
                self.leave(service, &why, now)
            }
            Stage::Joined => {
                let say = Command::Say {
                    member,
                    text: text.to_string(),
                };
                let _ = service.hub.send(say);
            }
            Stage::Joining | Stage::Leaving => {}
        }
    }

    /// Leaves the room (if in it) and queues last words; the connection closes once they
    /// are out, or [`LAST_WORDS`] from now.
    fn leave(&mut self, service: &mut LineService, last_words: &str, now: Instant) {
        self.quit(service);
        if !last_words.is_empty() {
            self.outbox.push(line(last_words));
        }
        self.input = Vec::new();
        self.stage = Stage::Leaving;
        self.until = now + LAST_WORDS;
    }

    fn quit(&mut self, service: &mut LineService) {
        if let (Stage::Joining | Stage::Joined, Some(member)) = (self.stage, self.member) {
            let _ = service.hub.send(Command::Leave { member });
        }
        self.stage = Stage::Leaving;
    }

    /// Writes what is queued and says what to wait for.
    fn step(&mut self, io: &mut Plain, turn: &mut Turn) -> Step<Plain, LineService> {
        let written = match self.outbox.write(io, &mut turn.output) {
            Ok(written) => written,
            Err(_) => return Step::Close,
        };
        if self.stage == Stage::Leaving {
            if written {
                return Step::Close;
            }
            return Step::Wait {
                interest: Interest::Write,
                deadline: self.until,
            };
        }
        let reading = self.stage != Stage::Joining && self.outbox.queued() < HIGH_WATER;
        let interest = match (written, reading) {
            (false, _) => Interest::Write,
            (true, true) => Interest::Read,
            // Waiting for the hub: the socket is watched for nothing (a hang-up still
            // wakes us), and the hub's answer comes as a message.
            (true, false) => Interest::Nothing,
        };
        Step::Wait {
            interest,
            deadline: self.heard + IDLE,
        }
    }
}

impl Session<Plain, LineService> for LineChat {
    fn start(
        &mut self,
        io: &mut Plain,
        service: &mut LineService,
        turn: &mut Turn,
    ) -> Step<Plain, LineService> {
        self.member = Some((service.place, turn.connection()));
        if turn.draining {
            self.stage = Stage::Leaving;
            self.until = turn.now;
        }
        self.step(io, turn)
    }

    fn ready(
        &mut self,
        io: &mut Plain,
        service: &mut LineService,
        turn: &mut Turn,
    ) -> Step<Plain, LineService> {
        if self.stage != Stage::Leaving && self.outbox.queued() < HIGH_WATER {
            let input = &mut self.input;
            match io.receive(&mut turn.input, &mut |bytes| input.extend_from_slice(bytes)) {
                Ok(Received::Open) => {}
                Ok(Received::Closed) => self.peer_done = true,
                Err(_) => {
                    self.quit(service);
                    return Step::Close;
                }
            }
            self.heard = turn.now;
            self.lines(service, turn.now);
        }
        self.step(io, turn)
    }

    fn timed_out(
        &mut self,
        io: &mut Plain,
        service: &mut LineService,
        turn: &mut Turn,
    ) -> Step<Plain, LineService> {
        if self.stage == Stage::Leaving {
            return Step::Close;
        }
        if turn.now < self.heard + IDLE {
            return self.step(io, turn);
        }
        self.leave(service, "* idle too long: closing", turn.now);
        self.step(io, turn)
    }

    fn is_idle(&self, _io: &Plain) -> bool {
        self.outbox.is_empty() && self.input.is_empty()
    }

    fn closed(&mut self, service: &mut LineService) {
        self.quit(service);
    }

    // ANCHOR: line_message
    /// What the hub sends: our welcome or refusal, and the room's lines.
    fn message(
        &mut self,
        io: &mut Plain,
        service: &mut LineService,
        turn: &mut Turn,
        delivery: Delivery,
    ) -> Option<Step<Plain, LineService>> {
        match delivery {
            Delivery::Joined(welcome) if self.stage == Stage::Joining => {
                self.outbox.push(welcome);
                self.stage = Stage::Joined;
                self.lines(service, turn.now);
            }
            Delivery::Refused(why) if self.stage == Stage::Joining => {
                self.outbox.push(line(&format!("* {why}; your name?")));
                self.stage = Stage::Naming;
                self.lines(service, turn.now);
            }
            Delivery::Event(bytes) if self.stage == Stage::Joined => {
                if self.outbox.offer(bytes).is_err() {
                    // Over a megabyte behind: this member is not reading. Drop it; what it
                    // has half received is finished first, the rest is discarded.
                    self.outbox.cut();
                    self.leave(service, "", turn.now);
                }
            }
            // Left already, or not in yet: not for us.
            _ => return None,
        }
        Some(self.step(io, turn))
    }
    // ANCHOR_END: line_message
}

/// One line of ours, newline added.
fn line(text: &str) -> Frame {
    format!("{text}\n").into_bytes().into()
}

/// A received line as text: the newline and any `\r` gone, invalid UTF-8 replaced, control
/// characters removed (a tab becomes a space).
fn clean(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_lose_their_control_bytes() {
        assert_eq!(clean(b"alice\r\n"), "alice");
        assert_eq!(clean(b"hi\x1b[2Jthere\x07\tyou\n"), "hi[2Jthere you");
        assert_eq!(clean(b"caf\xc3\xa9 \xff\n"), "café \u{fffd}");
    }
}
