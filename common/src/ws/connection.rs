//! The server side of one WebSocket connection, sans-IO: bytes in, events out, frames to send.
//!
//! The stage hands [`Connection::receive`] whatever it read, in any pieces (a frame may arrive
//! one byte at a time, or fifty frames in one read), takes [`Event`]s out with
//! [`Connection::next_event`], and sends [`Connection::take_outgoing`]. Nothing is buffered but
//! the message being assembled (bounded by [`Config::max_message`]), a control frame's 125
//! bytes and a partial header's 14: payloads are unmasked and UTF-8-checked as they arrive, so
//! a bad byte fails the connection when it arrives, and a too-large message fails it from its
//! header, before its payload is read.
//!
//! What the protocol answers by itself (a pong for a ping, the close frame that echoes the
//! peer's or reports a violation) is queued when the stage takes the event that asks for it,
//! not when the bytes are parsed: the stage answers each event in turn, so a message that
//! came just before a close or a bad frame is echoed before the close frame, not dropped.
//!
//! Closing (section 7): whoever closes first sends a close frame and waits for the other's;
//! then the server closes the TCP connection. When the state becomes [`State::Closed`], the
//! stage sends what is outgoing and closes the socket. After [`Connection::close`] it waits for
//! the peer's close frame, with a timeout of its choosing.

use super::close::CloseCode;
use super::frame::{self, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER};
use super::utf8::{self, Utf8Validator};
use super::{Error, Message};
use std::collections::VecDeque;

/// Limits, chosen per endpoint (the echo endpoint takes 16 MiB messages; a chat, far less).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The largest message, counted across its fragments; larger closes with 1009.
    pub max_message: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_message: 16 * 1024 * 1024,
        }
    }
}

/// What arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole message (its fragments joined; text already checked to be UTF-8).
    Message(Message),
    /// A ping; the pong with the same payload is queued as this event is taken.
    Ping(Vec<u8>),
    /// A pong (the answer to our ping, or an unsolicited heartbeat, which needs no answer).
    Pong(Vec<u8>),
    /// The peer's close frame: its code (`None` for an empty payload) and reason. If we had not
    /// closed first, the reply echoing the code is queued as this event is taken. Send it,
    /// then close the socket.
    Close {
        code: Option<CloseCode>,
        reason: String,
    },
    /// The peer broke the protocol: our close frame with `error.code()` is queued as this
    /// event is taken (unless we had sent one already). Send it, then close the socket.
    Error(Error),
}

/// Where the closing handshake stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's; we may send nothing more.
    CloseSent,
    /// Both close frames are sent (or the connection failed): send what is outgoing, then
    /// close the socket.
    Closed,
}

/// Where the reader is within the byte stream.
#[derive(Debug)]
enum Read {
    /// Reading a header: the bytes of it seen so far.
    Header { buf: [u8; MAX_HEADER], len: usize },
    /// Reading a payload: how many of its bytes are still to come.
    Payload { header: FrameHeader, remaining: u64 },
}

/// A data message whose fragments are arriving.
#[derive(Debug)]
struct Assembling {
    text: bool,
    data: Vec<u8>,
    utf8: Utf8Validator,
}

/// One server-side WebSocket connection.
#[derive(Debug)]
pub struct Connection {
    config: Config,
    state: State,
    /// A close frame or a violation was read: nothing after it is.
    read_done: bool,
    read: Read,
    /// The message being received, from its first frame to the frame with FIN.
    message: Option<Assembling>,
    /// The payload of the control frame being received (it may sit inside a message).
    control: Vec<u8>,
    events: VecDeque<Event>,
    outgoing: Vec<u8>,
}

impl Connection {
    /// A connection whose handshake was just accepted.
    pub fn new(config: Config) -> Connection {
        Connection {
            config,
            state: State::Open,
            read_done: false,
            read: Read::Header {
                buf: [0; MAX_HEADER],
                len: 0,
            },
            message: None,
            control: Vec::new(),
            events: VecDeque::new(),
            outgoing: Vec::new(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// May data frames still be sent (nothing sent a close yet)?
    pub fn can_send(&self) -> bool {
        self.state == State::Open
    }

    // ANCHOR: next_event
    /// The next event, oldest first; what the protocol answers to it is queued now.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            let Some(event) = self.events.pop_front() else {
                // An idle connection keeps no buffer: 10,000 of them should cost little more
                // than their sockets.
                self.events = VecDeque::new();
                return None;
            };
            match &event {
                // After our own close the peer may still send what it had queued: dropped.
                Event::Message(_) if self.state != State::Open => continue,
                Event::Message(_) | Event::Pong(_) => {}
                // Answered with the same payload, even in the middle of a fragmented message
                // (section 5.5.2); after our own close nothing more may be sent.
                Event::Ping(payload) => self.send_frame(OpCode::Pong, payload),
                Event::Close { code, .. } => {
                    if self.state == State::Open {
                        // Echo the code (section 5.5.1): the usual reply; no reason needed.
                        frame::encode_close(*code, "", &mut self.outgoing);
                    }
                    self.state = State::Closed;
                }
                // Failing the connection (section 7.1.7): our close with the error's code.
                Event::Error(error) => {
                    if self.state == State::Open {
                        let reason = error.to_string();
                        frame::encode_close(Some(error.code()), &reason, &mut self.outgoing);
                    }
                    self.state = State::Closed;
                }
            }
            return Some(event);
        }
    }
    // ANCHOR_END: next_event

    /// The frames to send, whole frames only, so the stage may put other whole frames (a
    /// broadcast encoded once with [`frame::encode`]) before or after them.
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outgoing)
    }

    /// How many bytes are waiting in [`Connection::take_outgoing`].
    pub fn outgoing_len(&self) -> usize {
        self.outgoing.len()
    }

    /// Queues a text message (ignored once a close was sent: nothing may follow it).
    pub fn send_text(&mut self, text: &str) {
        self.send_frame(OpCode::Text, text.as_bytes());
    }

    /// Queues a binary message (ignored once a close was sent).
    pub fn send_binary(&mut self, data: &[u8]) {
        self.send_frame(OpCode::Binary, data);
    }

    /// Queues a message with its own kind: what an echo endpoint does.
    pub fn send_message(&mut self, message: &Message) {
        match message {
            Message::Text(text) => self.send_text(text),
            Message::Binary(data) => self.send_binary(data),
        }
    }

    /// Queues a ping; its payload is cut to the 125 bytes a control frame holds.
    pub fn ping(&mut self, payload: &[u8]) {
        let len = payload.len().min(MAX_CONTROL_PAYLOAD);
        self.send_frame(OpCode::Ping, &payload[..len]);
    }

    /// Starts the closing handshake: our close frame is queued, and the peer's is awaited.
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        if self.state == State::Open {
            frame::encode_close(Some(code), reason, &mut self.outgoing);
            self.state = State::CloseSent;
        }
    }

    fn send_frame(&mut self, opcode: OpCode, payload: &[u8]) {
        if self.state == State::Open {
            frame::encode(opcode, payload, true, &mut self.outgoing);
        }
    }

    // ANCHOR: receive
    /// Takes bytes read from the socket: any number, split anywhere.
    pub fn receive(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.read_done {
            match &mut self.read {
                Read::Header { buf, len } => {
                    let seen = *len;
                    let take = data.len().min(MAX_HEADER - seen);
                    buf[seen..seen + take].copy_from_slice(&data[..take]);
                    match FrameHeader::parse(&buf[..seen + take]) {
                        Ok(None) => {
                            *len += take;
                            data = &data[take..];
                        }
                        Ok(Some((header, used))) => {
                            data = &data[used - seen..];
                            if let Err(error) = self.start_frame(header) {
                                self.fail(error);
                            }
                        }
                        Err(error) => self.fail(error),
                    }
                }
                Read::Payload { header, remaining } => {
                    let header = *header;
                    let n = data
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    let offset = (header.len - *remaining) as usize;
                    *remaining -= n as u64;
                    let done = *remaining == 0;
                    if let Err(error) = self.payload(&header, &data[..n], offset) {
                        self.fail(error);
                    } else if done {
                        self.end_frame(&header);
                    }
                    data = &data[n..];
                }
            }
        }
    }
    // ANCHOR_END: receive

    // ANCHOR: start_frame
    /// A header has arrived: check it against what may come now, before any payload byte.
    fn start_frame(&mut self, header: FrameHeader) -> Result<(), Error> {
        // No extension is ever negotiated, so no RSV bit has a meaning (section 5.2).
        if header.rsv != 0 {
            return Err(Error::ReservedBits);
        }
        if let OpCode::Reserved(bits) = header.opcode {
            return Err(Error::ReservedOpcode(bits));
        }
        // Every client frame is masked (section 5.1), so that a page's script cannot choose
        // the bytes a proxy between it and us sees.
        if header.mask.is_none() {
            return Err(Error::Unmasked);
        }
        if header.opcode.is_control() {
            // Section 5.5: control frames are short and never fragmented, so one can always
            // be answered in the middle of a long fragmented message.
            if !header.fin {
                return Err(Error::FragmentedControl);
            }
            if header.len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(Error::ControlTooLong);
            }
            self.control.clear();
        } else {
            let so_far = match (header.opcode, &self.message) {
                (OpCode::Continuation, None) => return Err(Error::NothingToContinue),
                (OpCode::Continuation, Some(message)) => message.data.len(),
                (_, Some(_)) => return Err(Error::MessageInsideMessage),
                (_, None) => 0,
            };
            // The size limit counts every fragment, and is checked from the header: a client
            // announcing 2^62 bytes is refused before it sends one of them.
            let max = self.config.max_message as u64;
            if header.len > max - (so_far as u64).min(max) {
                return Err(Error::TooBig);
            }
            if header.opcode != OpCode::Continuation {
                self.message = Some(Assembling {
                    text: header.opcode == OpCode::Text,
                    data: Vec::new(),
                    utf8: Utf8Validator::new(),
                });
            }
        }
        self.read = Read::Payload {
            header,
            remaining: header.len,
        };
        if header.len == 0 {
            self.end_frame(&header);
        }
        Ok(())
    }
    // ANCHOR_END: start_frame

    /// Payload bytes of the current frame: unmask them, and check text as it comes.
    fn payload(&mut self, header: &FrameHeader, bytes: &[u8], offset: usize) -> Result<(), Error> {
        let key = header.mask.unwrap_or_default();
        let buffer = match &mut self.message {
            Some(message) if !header.opcode.is_control() => &mut message.data,
            _ => &mut self.control,
        };
        let start = buffer.len();
        buffer.extend_from_slice(bytes);
        frame::apply_mask(&mut buffer[start..], key, offset);
        if let Some(message) = &mut self.message {
            if message.text && !header.opcode.is_control() {
                message
                    .utf8
                    .feed(&message.data[start..])
                    .map_err(|_| Error::InvalidUtf8)?;
            }
        }
        Ok(())
    }

    /// The current frame's payload is complete.
    fn end_frame(&mut self, header: &FrameHeader) {
        self.read = Read::Header {
            buf: [0; MAX_HEADER],
            len: 0,
        };
        let result = match header.opcode {
            OpCode::Close => self.peer_closed(),
            OpCode::Ping => {
                let payload = std::mem::take(&mut self.control);
                self.events.push_back(Event::Ping(payload));
                Ok(())
            }
            OpCode::Pong => {
                let payload = std::mem::take(&mut self.control);
                self.events.push_back(Event::Pong(payload));
                Ok(())
            }
            _ if header.fin => self.end_message(),
            _ => Ok(()),
        };
        if let Err(error) = result {
            self.fail(error);
        }
    }

    /// The frame with FIN arrived: the message is whole.
    fn end_message(&mut self) -> Result<(), Error> {
        let Some(message) = self.message.take() else {
            return Ok(());
        };
        if !message.utf8.is_complete() {
            return Err(Error::InvalidUtf8);
        }
        let message = if message.text {
            // Checked piece by piece already; std checks again, faster than it can fail.
            String::from_utf8(message.data)
                .map(Message::Text)
                .map_err(|_| Error::InvalidUtf8)?
        } else {
            Message::Binary(message.data)
        };
        self.events.push_back(Event::Message(message));
        Ok(())
    }

    // ANCHOR: peer_closed
    /// The peer's close frame: check its code and reason (section 7.4). Nothing after it is read.
    fn peer_closed(&mut self) -> Result<(), Error> {
        let payload = std::mem::take(&mut self.control);
        let code = match payload[..] {
            [] => None,
            [_] => return Err(Error::CloseOneByte),
            [high, low, ..] => {
                let code = CloseCode::new(u16::from_be_bytes([high, low]));
                if !code.is_valid_in_frame() {
                    return Err(Error::InvalidCloseCode(code.code()));
                }
                Some(code)
            }
        };
        let reason = payload.get(2..).unwrap_or_default();
        if !utf8::is_valid(reason) {
            return Err(Error::InvalidCloseReason);
        }
        self.read_done = true;
        self.events.push_back(Event::Close {
            code,
            reason: String::from_utf8_lossy(reason).into_owned(),
        });
        Ok(())
    }
    // ANCHOR_END: peer_closed

    /// A violation: nothing after it is read, and the event fails the connection.
    fn fail(&mut self, error: Error) {
        self.read_done = true;
        self.message = None;
        self.control = Vec::new();
        self.events.push_back(Event::Error(error));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_connection_holds_no_buffer() {
        let mut connection = Connection::new(Config::default());
        let mut bytes = Vec::new();
        frame::encode_masked(OpCode::Text, &[b'a'; 1000], true, [1, 2, 3, 4], &mut bytes);
        frame::encode_masked(OpCode::Ping, b"ping", true, [1, 2, 3, 4], &mut bytes);
        connection.receive(&bytes);
        while connection.next_event().is_some() {}
        connection.take_outgoing();
        assert_eq!(connection.events.capacity(), 0);
        assert_eq!(connection.outgoing.capacity(), 0);
        assert_eq!(connection.control.capacity(), 0);
        assert!(connection.message.is_none());
        // And the struct itself is small.
        assert!(std::mem::size_of::<Connection>() <= 256);
    }
}
