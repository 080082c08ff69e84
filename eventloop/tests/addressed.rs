//! Messages to one connection: `Handle::send_to` with the `ConnectionId` a session found in
//! its `Turn`, the way a verifier thread answers the connection whose password it checked.
//!
//! The toy protocol is a line at a time: `name WORD` tells the test this connection's id
//! (through a channel), `quit` says `bye` and closes; a message sent to the connection is
//! written back as `got MESSAGE`. The point is the slot: a connection that closes frees its
//! slot for the next one, and a message addressed to the old connection must not reach the
//! new one in its place.

use eventloop::{Config, ConnectionId, EventLoop, Handle, Interest, Plain, Received};
use eventloop::{Service, Session, Step, Transport, Turn};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

struct Toy {
    /// Where `name` sends (name, id) to the test.
    names: mpsc::Sender<(String, ConnectionId)>,
}

impl Service<Plain> for Toy {
    type Message = String;

    fn open(&mut self, _peer: IpAddr, _turn: &Turn) -> Box<dyn Session<Plain, Toy>> {
        Box::new(Lines::default())
    }
}

#[derive(Default)]
struct Lines {
    input: Vec<u8>,
    output: Vec<u8>,
    quitting: bool,
}

impl Lines {
    /// Sends what is queued and says what to wait for.
    fn flush(&mut self, io: &mut Plain, turn: &Turn) -> Step<Plain, Toy> {
        match io.send(&self.output, false) {
            Ok(n) => self.output.drain(..n),
            Err(_) => return Step::Close,
        };
        if self.output.is_empty() && self.quitting {
            return Step::Close;
        }
        let interest = if self.output.is_empty() {
            Interest::Read
        } else {
            Interest::Write
        };
        Step::Wait {
            interest,
            deadline: turn.now + Duration::from_secs(10),
        }
    }
}

impl Session<Plain, Toy> for Lines {
    fn start(&mut self, io: &mut Plain, _: &mut Toy, turn: &mut Turn) -> Step<Plain, Toy> {
        self.flush(io, turn)
    }

    fn ready(&mut self, io: &mut Plain, service: &mut Toy, turn: &mut Turn) -> Step<Plain, Toy> {
        if self.output.is_empty() {
            let input = &mut self.input;
            match io.receive(&mut turn.input, &mut |bytes| input.extend_from_slice(bytes)) {
                Ok(Received::Open) => {}
                Ok(Received::Closed) | Err(_) => return Step::Close,
            }
            while let Some(end) = self.input.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.input.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line).trim().to_string();
                if let Some(name) = line.strip_prefix("name ") {
                    let _ = service.names.send((name.to_string(), turn.connection()));
                    self.output.extend_from_slice(b"named\n");
                } else if line == "quit" {
                    self.output.extend_from_slice(b"bye\n");
                    self.quitting = true;
                }
            }
        }
        self.flush(io, turn)
    }

    fn timed_out(&mut self, _: &mut Plain, _: &mut Toy, _: &mut Turn) -> Step<Plain, Toy> {
        Step::Close
    }

    fn is_idle(&self, _: &Plain) -> bool {
        self.input.is_empty() && self.output.is_empty()
    }

    fn message(
        &mut self,
        io: &mut Plain,
        _: &mut Toy,
        turn: &mut Turn,
        message: String,
    ) -> Option<Step<Plain, Toy>> {
        self.output
            .extend_from_slice(format!("got {message}\n").as_bytes());
        Some(self.flush(io, turn))
    }
}

struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Client {
            writer: stream.try_clone().expect("clone"),
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .expect("send");
    }

    fn line(&mut self) -> String {
        let mut answer = String::new();
        self.reader.read_line(&mut answer).expect("answer");
        answer.trim_end().to_string()
    }

    fn ask(&mut self, line: &str) -> String {
        self.send(line);
        self.line()
    }
}

/// The slot part of an id's Debug form (`ConnectionId { slot: 0, serial: 1 }`).
fn slot(id: ConnectionId) -> String {
    let debug = format!("{id:?}");
    debug
        .split(',')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn a_message_reaches_its_connection_and_never_the_next_one_in_its_slot() {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("listener");
    let port = listener.local_addr().expect("addr").port();
    let (names, named) = mpsc::channel();
    let (tell, handle) = mpsc::channel::<Handle<String>>();
    let thread = std::thread::spawn(move || {
        let config = Config {
            name: "toy",
            max_connections: 100,
            grace: Duration::from_secs(5),
            signals: false,
        };
        let mut server = EventLoop::new(config, listener, (), Toy { names }).expect("loop");
        tell.send(server.handle()).expect("tell");
        server.run().expect("run");
    });
    let handle = handle.recv().expect("handle");
    let id = |client: &mut Client, name: &str| {
        assert_eq!(client.ask(&format!("name {name}")), "named");
        let (got, id) = named.recv().expect("id");
        assert_eq!(got, name);
        id
    };

    // Two connections at once: each message reaches the one it was sent to, and wakes the
    // loop out of epoll_wait to get there.
    let mut first = Client::connect(port);
    let mut second = Client::connect(port);
    let first_id = id(&mut first, "first");
    let second_id = id(&mut second, "second");
    assert_ne!(first_id, second_id);
    assert!(handle.send_to(second_id, "two".into()).is_ok());
    assert!(handle.send_to(first_id, "one".into()).is_ok());
    assert_eq!(first.line(), "got one");
    assert_eq!(second.line(), "got two");

    // `first` closes (the loop has closed it, and freed its slot, before `bye` could be
    // read); the next connection takes that slot, with a new serial.
    assert_eq!(first.ask("quit"), "bye");
    let mut third = Client::connect(port);
    let third_id = id(&mut third, "third");
    assert_eq!(slot(third_id), slot(first_id), "the freed slot is reused");
    assert_ne!(third_id, first_id);
    // A message for the closed connection is dropped, though its slot is taken again; the
    // next one, sent after it, is the first `third` hears.
    assert!(handle.send_to(first_id, "stale".into()).is_ok());
    assert!(handle.send_to(third_id, "fresh".into()).is_ok());
    assert_eq!(third.line(), "got fresh");
    // And the loop is fine: the other connection still answers.
    assert!(handle.send_to(second_id, "still".into()).is_ok());
    assert_eq!(second.line(), "got still");

    handle.stop();
    thread.join().expect("the loop ended cleanly");
}
