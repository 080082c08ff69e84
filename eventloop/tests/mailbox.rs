//! The mailbox must never lose a wake-up. A message is sent by pushing it into the channel
//! and then adding 1 to the eventfd; the loop empties the channel at the start of a turn and
//! resets the eventfd when epoll reports it. A message pushed after the channel was emptied
//! but before the reset would be left in the channel with the eventfd at 0, and the loop
//! would sleep on it until something else woke it.
//!
//! The test makes that interleaving happen for certain: a session that, inside `ready`, tells
//! the test it is there and waits for the word to go on. While the loop stands there, after
//! emptying its channel and before the mailbox's event of the same turn, the test sends a
//! message; the loop must then take it without any other event.

use eventloop::{Config, EventLoop, Handle, Interest, Plain, Received};
use eventloop::{Service, Session, Step, Transport, Turn};
use std::io::Write;
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::Duration;

struct Hub {
    /// Every message the loop takes, passed on to the test.
    seen: Sender<u32>,
    /// The session tells the test it is inside `ready` ...
    entered: Sender<()>,
    /// ... and goes on when the test says so.
    resume: Receiver<()>,
}

impl Service<Plain> for Hub {
    type Message = u32;

    fn open(&mut self, _peer: IpAddr, _turn: &Turn) -> Box<dyn Session<Plain, Hub>> {
        Box::new(Pausing)
    }

    fn message(&mut self, message: u32, _turn: &Turn) {
        let _ = self.seen.send(message);
    }
}

/// Reads what is there, then stands still until the test lets it go on.
struct Pausing;

impl Session<Plain, Hub> for Pausing {
    fn start(&mut self, _: &mut Plain, _: &mut Hub, turn: &mut Turn) -> Step<Plain, Hub> {
        wait(turn)
    }

    fn ready(&mut self, io: &mut Plain, hub: &mut Hub, turn: &mut Turn) -> Step<Plain, Hub> {
        match io.receive(&mut turn.input, &mut |_| {}) {
            Ok(Received::Open) => {}
            Ok(Received::Closed) | Err(_) => return Step::Close,
        }
        let _ = hub.entered.send(());
        let _ = hub.resume.recv_timeout(Duration::from_secs(10));
        wait(turn)
    }

    fn timed_out(&mut self, _: &mut Plain, _: &mut Hub, _: &mut Turn) -> Step<Plain, Hub> {
        Step::Close
    }

    fn is_idle(&self, _: &Plain) -> bool {
        true
    }
}

fn wait(turn: &Turn) -> Step<Plain, Hub> {
    // Far away: the test must not be rescued by a timer waking the loop.
    Step::Wait {
        interest: Interest::Read,
        deadline: turn.now + Duration::from_secs(600),
    }
}

#[test]
fn a_message_sent_while_a_turn_is_under_way_is_taken_without_another_event() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (seen_tx, seen) = channel();
    let (entered_tx, entered) = channel();
    let (resume, resume_rx) = channel();
    let (handle_tx, handle_rx) = channel::<Handle<u32>>();
    let config = Config {
        name: "mailbox",
        max_connections: 10,
        grace: Duration::from_secs(1),
        signals: false,
    };
    let thread = std::thread::spawn(move || {
        let hub = Hub {
            seen: seen_tx,
            entered: entered_tx,
            resume: resume_rx,
        };
        let mut server: EventLoop<Plain, Hub> =
            EventLoop::new(config, listener, (), hub).expect("loop");
        handle_tx.send(server.handle()).expect("handle");
        server.run().expect("run");
    });
    let handle = handle_rx.recv().expect("the loop's handle");
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let step = Duration::from_secs(10);

    // Turn A: the session stands in `ready`. Meanwhile message 1 and more bytes arrive, so
    // the next turn has the connection and the mailbox both ready, in that order.
    client.write_all(b"1").expect("write");
    entered.recv_timeout(step).expect("turn A");
    handle.send(1).map_err(|_| "send").expect("message 1");
    client.write_all(b"2").expect("write");
    resume.send(()).expect("resume");

    // Turn B: message 1 is taken at its start; then the session stands in `ready` again,
    // the mailbox's event still to come in this turn. Message 2 is sent now.
    entered.recv_timeout(step).expect("turn B");
    assert_eq!(seen.recv_timeout(step), Ok(1));
    handle.send(2).map_err(|_| "send").expect("message 2");
    resume.send(()).expect("resume");

    // Nothing else will happen: no bytes, no timer. Message 2 must arrive on its own.
    let second = seen.recv_timeout(Duration::from_secs(5));
    handle.stop();
    thread.join().expect("the loop's thread");
    assert_eq!(
        second,
        Ok(2),
        "message 2 was left in the channel, its wake-up lost"
    );
}
