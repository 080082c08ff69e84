//! The chat hub: rooms, their members, their last 50 messages, and the order of everything.
//!
//! The hub is plain data. It is told "K joins room R as NICK", "K says T", "K left", and it
//! answers by handing deliveries to a sink: bytes for one member, in the order the hub decided
//! them. That order is the whole of the consistency rule: every member of a room receives the
//! room's events in the order the hub saw them, because the hub is one thread taking one
//! command at a time, and each member's deliveries travel in one FIFO (its loop's mailbox).
//!
//! The hub never waits for a member. It encodes each event once per kind of member (a
//! WebSocket frame, a text line for `nc` users), shares the bytes (`Arc`) among every
//! member's queue, and moves on: how fast a member drains its queue is that member's
//! session's business (`outbox.rs`), and a member too slow for its bound is dropped there.
//!
//! `K` is whatever names a member: the stage uses (loop, connection); the tests use numbers.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Messages a joiner is shown (the room's most recent ones).
pub const HISTORY: usize = 50;
/// Nicknames: 1 to 24 of `A-Z a-z 0-9 . _ -`.
pub const MAX_NAME: usize = 24;
/// Room names: 1 to 32 of `A-Z a-z 0-9 _ -`.
pub const MAX_ROOM: usize = 32;
/// The room every `nc` user talks in.
pub const LOBBY: &str = "lobby";

/// Bytes ready for a socket, shared by every member that gets them.
pub type Frame = Arc<[u8]>;

/// How a member wants its bytes: JSON in WebSocket frames, or lines of text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    WebSocket,
    Line,
}

/// What the hub hands a member's session.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// You are in: the welcome (members and history), already encoded for your kind.
    Joined(Frame),
    /// You are not in, and why (the name is taken).
    Refused(&'static str),
    /// A room event (a message, a join, a leave), encoded for your kind.
    Event(Frame),
}

/// What a session tells the hub.
#[derive(Debug)]
pub enum Command<K> {
    Join {
        member: K,
        kind: Kind,
        room: String,
        name: String,
    },
    Say {
        member: K,
        text: String,
    },
    Leave {
        member: K,
    },
}

/// True for a valid nickname (see [`MAX_NAME`]).
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// True for a valid room name (see [`MAX_ROOM`]).
pub fn valid_room(room: &str) -> bool {
    (1..=MAX_ROOM).contains(&room.len())
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
}

/// One message as a joiner's history shows it, in both encodings (unframed).
struct Said {
    json: String,
    line: String,
}

struct Room<K> {
    /// In join order: the order a broadcast is handed out (any fixed order would do).
    members: Vec<(K, Kind)>,
    /// Names in use, lowercased: `Alice` and `alice` cannot both be here.
    names: HashMap<String, K>,
    history: VecDeque<Said>,
}

/// Where a member is.
struct Seat {
    room: String,
    name: String,
}

/// Every room and every member.
pub struct Hub<K> {
    rooms: HashMap<String, Room<K>>,
    seats: HashMap<K, Seat>,
    /// Wraps a JSON text in a WebSocket text frame (a server's frames are unmasked, so the
    /// same bytes serve every member).
    frame: fn(&[u8]) -> Vec<u8>,
}

impl<K: Copy + Eq + Hash> Hub<K> {
    /// An empty hub whose WebSocket members get their JSON wrapped by `frame`.
    pub fn new(frame: fn(&[u8]) -> Vec<u8>) -> Hub<K> {
        Hub {
            rooms: HashMap::new(),
            seats: HashMap::new(),
            frame,
        }
    }

    /// Takes one command at wall-clock time `ts` (milliseconds since the epoch) and hands
    /// what it causes to `out`, in order.
    pub fn apply(&mut self, command: Command<K>, ts: u64, out: &mut impl FnMut(K, Delivery)) {
        match command {
            Command::Join {
                member,
                kind,
                room,
                name,
            } => self.join(member, kind, room, name, out),
            Command::Say { member, text } => self.say(member, &text, ts, out),
            Command::Leave { member } => self.leave(member, out),
        }
    }

    fn join(
        &mut self,
        member: K,
        kind: Kind,
        room_name: String,
        name: String,
        out: &mut impl FnMut(K, Delivery),
    ) {
        if self.seats.contains_key(&member) {
            return;
        }
        let room = self.rooms.entry(room_name.clone()).or_insert_with(|| Room {
            members: Vec::new(),
            names: HashMap::new(),
            history: VecDeque::new(),
        });
        let key = name.to_ascii_lowercase();
        if room.names.contains_key(&key) {
            if room.members.is_empty() {
                self.rooms.remove(&room_name);
            }
            return out(member, Delivery::Refused("name taken"));
        }
        // The others hear of the joiner before the joiner hears anything more: whatever the
        // room says next, every member (the joiner included) sees it after this point.
        let json = format!(r#"{{"type":"join","name":{}}}"#, quote(&name));
        let line = format!("* {name} joined\n");
        broadcast(&room.members, &json, &line, self.frame, out);
        room.members.push((member, kind));
        room.names.insert(key, member);
        self.seats.insert(
            member,
            Seat {
                room: room_name.clone(),
                name,
            },
        );
        let seats = &self.seats;
        let names: Vec<&str> = room
            .members
            .iter()
            .filter_map(|(m, _)| seats.get(m).map(|seat| seat.name.as_str()))
            .collect();
        let welcome = match kind {
            Kind::WebSocket => {
                let history: Vec<&str> = room.history.iter().map(|s| s.json.as_str()).collect();
                let json = format!(
                    r#"{{"type":"welcome","room":{},"members":[{}],"history":[{}]}}"#,
                    quote(&room_name),
                    names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(","),
                    history.join(",")
                );
                (self.frame)(json.as_bytes())
            }
            Kind::Line => {
                let me = names.last().copied().unwrap_or_default();
                let mut text = format!(
                    "* welcome to {room_name}, {me}; here: {}\n",
                    names.join(", ")
                );
                for said in &room.history {
                    text.push_str(&said.line);
                }
                text.into_bytes()
            }
        };
        out(member, Delivery::Joined(welcome.into()));
    }

    fn say(&mut self, member: K, text: &str, ts: u64, out: &mut impl FnMut(K, Delivery)) {
        let Some(seat) = self.seats.get(&member) else {
            return;
        };
        let Some(room) = self.rooms.get_mut(&seat.room) else {
            return;
        };
        let json = format!(
            r#"{{"type":"message","room":{},"from":{},"text":{},"ts":{ts}}}"#,
            quote(&seat.room),
            quote(&seat.name),
            quote(text)
        );
        // A line is one line: whatever a browser user typed (newlines, tabs, escapes) is
        // shown to `nc` users with its control characters made spaces.
        let flat: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let line = format!("{}: {flat}\n", seat.name);
        broadcast(&room.members, &json, &line, self.frame, out);
        if room.history.len() == HISTORY {
            room.history.pop_front();
        }
        room.history.push_back(Said { json, line });
    }

    fn leave(&mut self, member: K, out: &mut impl FnMut(K, Delivery)) {
        let Some(seat) = self.seats.remove(&member) else {
            return;
        };
        let Some(room) = self.rooms.get_mut(&seat.room) else {
            return;
        };
        room.members.retain(|(m, _)| *m != member);
        room.names.remove(&seat.name.to_ascii_lowercase());
        if room.members.is_empty() {
            // An empty room is forgotten, history and all: rooms cost memory only while used.
            self.rooms.remove(&seat.room);
            return;
        }
        let json = format!(r#"{{"type":"leave","name":{}}}"#, quote(&seat.name));
        let line = format!("* {} left\n", seat.name);
        broadcast(&room.members, &json, &line, self.frame, out);
    }

    /// Members of `room` right now.
    #[cfg(test)]
    fn members(&self, room: &str) -> usize {
        self.rooms.get(room).map_or(0, |r| r.members.len())
    }
}

// ANCHOR: broadcast
/// Hands one event to every member: encoded at most once per kind, and the same bytes
/// (one `Arc`) to all members of that kind. Nothing here waits for anyone.
fn broadcast<K: Copy>(
    members: &[(K, Kind)],
    json: &str,
    line: &str,
    frame: fn(&[u8]) -> Vec<u8>,
    out: &mut impl FnMut(K, Delivery),
) {
    let (mut framed, mut lined): (Option<Frame>, Option<Frame>) = (None, None);
    for &(member, kind) in members {
        let bytes = match kind {
            Kind::WebSocket => framed.get_or_insert_with(|| frame(json.as_bytes()).into()),
            Kind::Line => lined.get_or_insert_with(|| line.as_bytes().into()),
        };
        out(member, Delivery::Event(bytes.clone()));
    }
}
// ANCHOR_END: broadcast

/// `s` as a JSON string, quotes and escapes included.
pub fn quote(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Runs a hub on this thread until every sender is gone, stamping each command with the
/// wall clock and handing deliveries to `deliver` (which sends them to the member's loop).
pub fn run<K: Copy + Eq + Hash>(
    commands: Receiver<Command<K>>,
    frame: fn(&[u8]) -> Vec<u8>,
    mut deliver: impl FnMut(K, Delivery),
) {
    let mut hub = Hub::new(frame);
    for command in commands {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        hub.apply(command, ts, &mut deliver);
    }
}

/// A way for sessions to reach the hub (cheap to clone; never blocks).
pub type HubSender<K> = Sender<Command<K>>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames stay readable in tests: the JSON as it is.
    fn raw(json: &[u8]) -> Vec<u8> {
        json.to_vec()
    }

    type Seen = Vec<(u32, String)>;

    fn text(delivery: &Delivery) -> String {
        match delivery {
            Delivery::Joined(b) | Delivery::Event(b) => String::from_utf8_lossy(b).into_owned(),
            Delivery::Refused(why) => format!("refused: {why}"),
        }
    }

    fn run_all(hub: &mut Hub<u32>, commands: Vec<Command<u32>>) -> Seen {
        let mut seen = Vec::new();
        for (ts, command) in commands.into_iter().enumerate() {
            hub.apply(command, ts as u64, &mut |m, d| seen.push((m, text(&d))));
        }
        seen
    }

    fn join(member: u32, room: &str, name: &str) -> Command<u32> {
        Command::Join {
            member,
            kind: Kind::WebSocket,
            room: room.into(),
            name: name.into(),
        }
    }

    fn say(member: u32, text: &str) -> Command<u32> {
        Command::Say {
            member,
            text: text.into(),
        }
    }

    #[test]
    fn welcome_join_message_and_leave_in_order() {
        let mut hub = Hub::new(raw);
        let seen = run_all(
            &mut hub,
            vec![
                join(1, "r", "alice"),
                say(1, "hi"),
                join(2, "r", "bob"),
                say(2, "yo \"there\""),
                Command::Leave { member: 1 },
            ],
        );
        let expect: Seen = vec![
            (1, r#"{"type":"welcome","room":"r","members":["alice"],"history":[]}"#),
            (1, r#"{"type":"message","room":"r","from":"alice","text":"hi","ts":1}"#),
            (1, r#"{"type":"join","name":"bob"}"#),
            (
                2,
                r#"{"type":"welcome","room":"r","members":["alice","bob"],"history":[{"type":"message","room":"r","from":"alice","text":"hi","ts":1}]}"#,
            ),
            (1, r#"{"type":"message","room":"r","from":"bob","text":"yo \"there\"","ts":3}"#),
            (2, r#"{"type":"message","room":"r","from":"bob","text":"yo \"there\"","ts":3}"#),
            (2, r#"{"type":"leave","name":"alice"}"#),
        ]
        .into_iter()
        .map(|(m, s)| (m, s.to_string()))
        .collect();
        assert_eq!(seen, expect);
    }

    #[test]
    fn a_taken_name_is_refused_whatever_its_case_and_freed_by_leaving() {
        let mut hub = Hub::new(raw);
        let seen = run_all(
            &mut hub,
            vec![
                join(1, "r", "Alice"),
                join(2, "r", "alice"),
                join(3, "other", "alice"),
                Command::Leave { member: 1 },
                join(2, "r", "alice"),
            ],
        );
        assert_eq!(seen[1], (2, "refused: name taken".to_string()));
        assert!(seen[2].1.contains(r#""room":"other""#), "{seen:?}");
        assert_eq!(seen[3].0, 2);
        assert!(seen[3].1.contains(r#""members":["alice"]"#), "{seen:?}");
        assert_eq!(hub.members("r"), 1);
    }

    #[test]
    fn history_keeps_the_last_fifty_and_empty_rooms_are_forgotten() {
        let mut hub = Hub::new(raw);
        let mut commands = vec![join(1, "r", "a")];
        commands.extend((0..60).map(|i| say(1, &format!("m{i}"))));
        commands.push(join(2, "r", "b"));
        let seen = run_all(&mut hub, commands);
        let welcome = &seen.last().expect("welcome").1;
        assert_eq!(welcome.matches(r#""type":"message""#).count(), HISTORY);
        assert!(welcome.contains(r#""text":"m10""#) && !welcome.contains(r#""text":"m9""#));
        let mut out = |_, _| {};
        hub.apply(Command::Leave { member: 1 }, 0, &mut out);
        hub.apply(Command::Leave { member: 2 }, 0, &mut out);
        assert!(hub.rooms.is_empty() && hub.seats.is_empty());
        let seen = run_all(&mut hub, vec![join(3, "r", "c")]);
        assert!(seen[0].1.contains(r#""history":[]"#), "{seen:?}");
    }

    #[test]
    fn each_event_is_encoded_once_per_kind_and_shared() {
        let mut hub = Hub::new(raw);
        let mut frames = Vec::new();
        for (member, kind) in [(1, Kind::WebSocket), (2, Kind::WebSocket), (3, Kind::Line)] {
            let name = format!("n{member}");
            let join = Command::Join {
                member,
                kind,
                room: LOBBY.into(),
                name,
            };
            hub.apply(join, 0, &mut |_, _| {});
        }
        hub.apply(say(3, "hi\tthere\n"), 7, &mut |m, d| {
            if let Delivery::Event(frame) = d {
                frames.push((m, frame));
            }
        });
        assert!(Arc::ptr_eq(&frames[0].1, &frames[1].1));
        assert_eq!(&*frames[2].1, b"n3: hi there \n");
        assert_eq!(
            &*frames[0].1,
            br#"{"type":"message","room":"lobby","from":"n3","text":"hi\tthere\n","ts":7}"#
        );
    }

    #[test]
    fn line_members_get_a_welcome_line_and_history_lines() {
        let mut hub = Hub::new(raw);
        let line = |member, name: &str| Command::Join {
            member,
            kind: Kind::Line,
            room: LOBBY.into(),
            name: name.into(),
        };
        let seen = run_all(
            &mut hub,
            vec![line(1, "ann"), say(1, "hello"), line(2, "bo")],
        );
        assert_eq!(seen[2], (1, "* bo joined\n".to_string()));
        assert_eq!(
            seen[3],
            (
                2,
                "* welcome to lobby, bo; here: ann, bo\nann: hello\n".to_string()
            )
        );
    }

    #[test]
    fn names_and_rooms_are_bounded_in_length_and_charset() {
        assert!(valid_name("alice") && valid_name("a.b_c-9") && valid_name(&"x".repeat(24)));
        for bad in ["", "al ice", "é", "a/b", "<b>", &"x".repeat(25)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(valid_room("lobby") && valid_room("r-2_b") && valid_room(&"r".repeat(32)));
        for bad in ["", "a.b", "a b", "../x", &"r".repeat(33)] {
            assert!(!valid_room(bad), "{bad:?}");
        }
    }

    #[test]
    fn strangers_cannot_speak_or_leave() {
        let mut hub = Hub::new(raw);
        let seen = run_all(
            &mut hub,
            vec![
                join(1, "r", "a"),
                say(9, "hi"),
                Command::Leave { member: 9 },
            ],
        );
        assert_eq!(seen.len(), 1);
    }
}
