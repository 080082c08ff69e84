//! Waking a loop from another thread: a channel for the message, an eventfd for the wake-up.
//!
//! A loop asleep in `epoll_wait` hears only its descriptors. So a [`Handle`] puts the message
//! in a crossbeam channel and then adds 1 to an eventfd that the loop watches like a socket:
//! the kernel wakes the loop, the loop reads the counter back to zero and empties the channel.
//! The loop also looks in the channel at the start of every turn, which costs no system call:
//! a message sent before a client's request is always taken before that request is answered,
//! whichever of the two descriptors epoll lists first.

use crossbeam_channel::{Receiver, Sender};
use rustix::event::{eventfd, EventfdFlags};
use rustix::fd::OwnedFd;
use std::io;
use std::sync::Arc;

// ANCHOR: connection_id
/// One connection of one loop, for as long as it lives: its slot, and the serial number that
/// tells it from every later connection in the same slot. A message addressed to a connection
/// that has closed is dropped, even if a new connection now has its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionId {
    pub(crate) slot: usize,
    pub(crate) serial: u64,
}
// ANCHOR_END: connection_id

impl ConnectionId {
    /// No connection (serials start at 1): where a `Turn` points between calls.
    pub(crate) const NONE: ConnectionId = ConnectionId {
        slot: usize::MAX,
        serial: 0,
    };
}

/// What a handle can ask of a loop.
pub(crate) enum Command<M> {
    Message(M),
    /// A message for one connection's session (dropped if that connection has closed).
    To(ConnectionId, M),
    /// Begin the graceful stop, as the first SIGTERM does.
    Stop,
    /// Begin the lame-duck phase (see `EventLoop::lame_duck_on`).
    LameDuck,
}

// ANCHOR: handle
/// A way to reach a loop from any thread: cheap to clone, `Send`.
pub struct Handle<M> {
    sender: Sender<Command<M>>,
    wake: Arc<OwnedFd>,
}

impl<M> Clone for Handle<M> {
    fn clone(&self) -> Handle<M> {
        Handle {
            sender: self.sender.clone(),
            wake: self.wake.clone(),
        }
    }
}

impl<M> Handle<M> {
    /// Queues `message` for the loop's service and wakes the loop. Fails only when the loop
    /// has ended.
    pub fn send(&self, message: M) -> Result<(), M> {
        match self.sender.send(Command::Message(message)) {
            Ok(()) => {
                self.wake();
                Ok(())
            }
            Err(crossbeam_channel::SendError(Command::Message(message))) => Err(message),
            // (Not reachable: what failed to go is what was sent, a message.)
            Err(_) => Ok(()),
        }
    }

    /// Queues `message` for the session of connection `to` and wakes the loop (see
    /// [`crate::Session::message`]): how work done on another thread, such as a password
    /// check, comes back to the connection that asked for it. If that connection has closed
    /// by the time the loop takes the message, the message is dropped. Fails only when the
    /// loop has ended.
    pub fn send_to(&self, to: ConnectionId, message: M) -> Result<(), M> {
        match self.sender.send(Command::To(to, message)) {
            Ok(()) => {
                self.wake();
                Ok(())
            }
            Err(crossbeam_channel::SendError(Command::To(_, message))) => Err(message),
            Err(_) => Ok(()),
        }
    }

    /// Asks the loop to stop gracefully (finish what is in flight, up to its grace period).
    pub fn stop(&self) {
        if self.sender.send(Command::Stop).is_ok() {
            self.wake();
        }
    }

    /// Puts the loop in its lame-duck phase ([`crate::Turn::lame_duck`]): it serves on as
    /// before, but its health page says it is going away, so that a load balancer moves
    /// clients elsewhere before the stop.
    pub fn lame_duck(&self) {
        if self.sender.send(Command::LameDuck).is_ok() {
            self.wake();
        }
    }

    fn wake(&self) {
        // Adds 1 to the counter. It can only fail if the counter were near 2^64: it is reset
        // by every wake-up the loop takes, so the only failure left is a loop already gone.
        let _ = rustix::io::write(&*self.wake, &1u64.to_ne_bytes());
    }
}
// ANCHOR_END: handle

/// The loop's end: the receiver and the descriptor it watches.
pub(crate) struct Mailbox<M> {
    receiver: Receiver<Command<M>>,
    pub(crate) wake: Arc<OwnedFd>,
    sender: Sender<Command<M>>,
}

impl<M> Mailbox<M> {
    pub(crate) fn new() -> io::Result<Mailbox<M>> {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Mailbox {
            receiver,
            wake: Arc::new(wake),
            sender,
        })
    }

    pub(crate) fn handle(&self) -> Handle<M> {
        Handle {
            sender: self.sender.clone(),
            wake: self.wake.clone(),
        }
    }

    /// The eventfd was readable: reset its counter so it stops being reported.
    pub(crate) fn woken(&self) {
        let mut counter = [0u8; 8];
        let _ = rustix::io::read(&*self.wake, &mut counter);
    }

    /// The next command, if one is waiting. (The loop holds a sender itself, for handles it
    /// gives out later, so the channel never reports "disconnected".)
    pub(crate) fn next(&self) -> Option<Command<M>> {
        self.receiver.try_recv().ok()
    }
}
