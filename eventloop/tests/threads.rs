//! One loop per thread: two loops on two threads, each with its own `SO_REUSEPORT` listener
//! on the same port, and messages from one to the other through a `Handle` (a crossbeam
//! channel plus an eventfd that wakes the loop out of `epoll_wait`).
//!
//! The toy protocol is a line at a time: `who` answers the loop's number, `tell WORD` sends
//! WORD to the other loop, `heard` answers what this loop has been told.

use eventloop::{reuseport_listener, Config, EventLoop, Handle, Interest, Plain, Received};
use eventloop::{Service, Session, Step, Transport, Turn};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

enum Message {
    /// The other loop's handle, sent once both loops exist.
    Peer(Handle<Message>),
    Word(String),
}

struct Loop {
    number: usize,
    peer: Option<Handle<Message>>,
    heard: Vec<String>,
}

impl Service<Plain> for Loop {
    type Message = Message;

    fn open(&mut self, _peer: IpAddr, _turn: &Turn) -> Box<dyn Session<Plain, Loop>> {
        Box::new(Lines::default())
    }

    fn message(&mut self, message: Message, _turn: &Turn) {
        match message {
            Message::Peer(handle) => self.peer = Some(handle),
            Message::Word(word) => self.heard.push(word),
        }
    }
}

#[derive(Default)]
struct Lines {
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Session<Plain, Loop> for Lines {
    fn start(&mut self, _: &mut Plain, _: &mut Loop, turn: &mut Turn) -> Step<Plain, Loop> {
        wait(Interest::Read, turn)
    }

    fn ready(&mut self, io: &mut Plain, service: &mut Loop, turn: &mut Turn) -> Step<Plain, Loop> {
        if self.output.is_empty() {
            let input = &mut self.input;
            match io.receive(&mut turn.input, &mut |bytes| input.extend_from_slice(bytes)) {
                Ok(Received::Open) => {}
                Ok(Received::Closed) | Err(_) => return Step::Close,
            }
            while let Some(end) = self.input.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.input.drain(..=end).collect();
                let answer = answer(String::from_utf8_lossy(&line).trim(), service);
                self.output.extend_from_slice(answer.as_bytes());
                self.output.push(b'\n');
            }
        }
        match io.send(&self.output, false) {
            Ok(n) => self.output.drain(..n),
            Err(_) => return Step::Close,
        };
        let interest = if self.output.is_empty() {
            Interest::Read
        } else {
            Interest::Write
        };
        wait(interest, turn)
    }

    fn timed_out(&mut self, _: &mut Plain, _: &mut Loop, _: &mut Turn) -> Step<Plain, Loop> {
        Step::Close
    }

    fn is_idle(&self, _: &Plain) -> bool {
        self.input.is_empty() && self.output.is_empty()
    }
}

fn wait(interest: Interest, turn: &Turn) -> Step<Plain, Loop> {
    Step::Wait {
        interest,
        deadline: turn.now + Duration::from_secs(10),
    }
}

fn answer(line: &str, service: &mut Loop) -> String {
    match line.split_once(' ') {
        _ if line == "who" => format!("loop {}", service.number),
        _ if line == "heard" => service.heard.join(","),
        Some(("tell", word)) => match &service.peer {
            Some(peer) if peer.send(Message::Word(word.to_string())).is_ok() => "sent".into(),
            _ => "no peer".into(),
        },
        _ => "?".into(),
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

    fn ask(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .expect("send");
        let mut answer = String::new();
        self.reader.read_line(&mut answer).expect("answer");
        answer.trim_end().to_string()
    }
}

#[test]
fn two_loops_share_a_port_and_message_each_other() {
    // Loop 0 binds the port; loop 1 binds the same one (both with SO_REUSEPORT).
    let first =
        reuseport_listener(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).expect("listener");
    let addr = first.local_addr().expect("addr");
    let listeners = vec![first, reuseport_listener(addr).expect("second listener")];
    let (tell, told) = std::sync::mpsc::channel();
    let threads: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(number, listener)| {
            let tell = tell.clone();
            std::thread::spawn(move || {
                let config = Config {
                    name: "toy",
                    max_connections: 100,
                    grace: Duration::from_secs(5),
                    signals: false,
                };
                let service = Loop {
                    number,
                    peer: None,
                    heard: Vec::new(),
                };
                let mut server = EventLoop::new(config, listener, (), service).expect("loop");
                tell.send((number, server.handle())).expect("tell");
                server.run().expect("run");
            })
        })
        .collect();
    let mut handles: Vec<(usize, Handle<Message>)> =
        (0..2).map(|_| told.recv().expect("loop")).collect();
    handles.sort_by_key(|(number, _)| *number);
    // Each loop learns the other's handle by message: the channel carries handles too.
    for (number, handle) in &handles {
        let other = handles[1 - number].1.clone();
        assert!(handle.send(Message::Peer(other)).is_ok());
    }
    // The kernel spreads connections over the two listeners by a hash of their addresses: a
    // few connections find both loops (32 all on one would be a 1 in 2^31 chance).
    let mut on: [Option<Client>; 2] = [None, None];
    for _ in 0..32 {
        let mut client = Client::connect(addr.port());
        let who = client.ask("who");
        let number: usize = who
            .strip_prefix("loop ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("who: {who:?}"));
        on[number].get_or_insert(client);
        if on.iter().all(Option::is_some) {
            break;
        }
    }
    let [Some(mut zero), Some(mut one)] = on else {
        panic!("32 connections all went to one loop");
    };
    // A message from loop 0 wakes loop 1, asleep in epoll_wait, and is there before the next
    // request it answers; and the other way round.
    assert_eq!(zero.ask("tell hello"), "sent");
    assert_eq!(one.ask("heard"), "hello");
    assert_eq!(one.ask("tell back"), "sent");
    assert_eq!(one.ask("tell again"), "sent");
    assert_eq!(zero.ask("heard"), "back,again");
    // A stop through the handles ends both loops (idle connections close; `run` returns).
    for (_, handle) in &handles {
        handle.stop();
    }
    for thread in threads {
        thread.join().expect("a loop ended cleanly");
    }
    let mut rest = String::new();
    assert_eq!(zero.reader.read_line(&mut rest).expect("EOF"), 0);
}
