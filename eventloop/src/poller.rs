//! Readiness from the kernel: epoll, called directly.
//!
//! stage05 waits through the `polling` crate, which is portable and safe to wake from any
//! thread, and pays for that on every wait: `polling`'s `wait` arms a timerfd, re-registers
//! its notifier, waits, reads the notifier and re-registers again (five system calls where
//! one would do; stage05's chapter measures it). This loop only needs Linux's epoll, waited on
//! from its own thread, with the timeout passed to the wait itself: one `epoll_pwait` per turn.
//! Other threads wake it through an eventfd registered like any socket (see `mailbox.rs`).
//!
//! Registrations are level-triggered, like stage05's: a socket with bytes left unread is
//! reported again at the next wait, so a connection may stop halfway and lose nothing.

use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::event::Timespec;
use rustix::fd::{AsFd, OwnedFd};
use std::io;
use std::time::Duration;

/// Which readiness a registration waits for. A connection never wants both: while responses
/// are pending it stops reading, and that is the back-pressure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    Read,
    Write,
    /// Registered, but reported for nothing (a session waiting on something other than its
    /// socket, such as a password verdict; a paused listener is deleted instead).
    Nothing,
}

impl Interest {
    fn flags(self) -> EventFlags {
        match self {
            Interest::Read => EventFlags::IN,
            Interest::Write => EventFlags::OUT,
            Interest::Nothing => EventFlags::empty(),
        }
    }
}

// ANCHOR: poller
/// An epoll instance and the buffer its events land in.
pub struct Poller {
    epoll: OwnedFd,
    events: Vec<Event>,
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        Ok(Poller {
            epoll: epoll::create(CreateFlags::CLOEXEC)?,
            events: Vec::with_capacity(1024),
        })
    }

    /// Watches `source` for `interest`; its events carry `key`.
    pub fn add(&self, source: impl AsFd, key: usize, interest: Interest) -> io::Result<()> {
        let data = EventData::new_u64(key as u64);
        Ok(epoll::add(&self.epoll, source, data, interest.flags())?)
    }

    /// Watches a listener for incoming connections, waking only one of the loops that wait
    /// on it. stage09's workers are separate processes sharing one listening socket: without
    /// `EPOLLEXCLUSIVE` every worker wakes for each connection, one accepts it and the others
    /// get `EAGAIN` (two wasted system calls per connection per extra worker). Such a
    /// registration cannot be modified, only deleted and added again.
    pub fn add_exclusive(&self, listener: impl AsFd, key: usize) -> io::Result<()> {
        let data = EventData::new_u64(key as u64);
        let flags = EventFlags::IN | EventFlags::EXCLUSIVE;
        Ok(epoll::add(&self.epoll, listener, data, flags)?)
    }

    pub fn modify(&self, source: impl AsFd, key: usize, interest: Interest) -> io::Result<()> {
        let data = EventData::new_u64(key as u64);
        Ok(epoll::modify(&self.epoll, source, data, interest.flags())?)
    }

    /// Stops watching `source`. Closing a descriptor removes it too, but only once every copy
    /// of it is closed: listeners, which workers and threads share, are deleted explicitly; a
    /// connection's socket, which has no copy, simply leaves when it is closed.
    pub fn delete(&self, source: impl AsFd) -> io::Result<()> {
        Ok(epoll::delete(&self.epoll, source)?)
    }

    /// Waits until something is ready or `timeout` passes (`None`: no limit), and returns the
    /// keys of what is ready. One system call; a signal interrupting it is just an empty turn.
    pub fn wait(
        &mut self,
        timeout: Option<Duration>,
    ) -> io::Result<impl Iterator<Item = usize> + '_> {
        // Rounded up to whole milliseconds by rustix: waking a little late is harmless, waking
        // early would only find the deadline not yet due and wait again.
        let timeout = timeout.map(|t| Timespec {
            tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: t.subsec_nanos().into(),
        });
        self.events.clear();
        let spare = rustix::buffer::spare_capacity(&mut self.events);
        match epoll::wait(&self.epoll, spare, timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => self.events.clear(),
            Err(e) => return Err(e.into()),
        }
        Ok(self.events.iter().map(|event| event.data.u64() as usize))
    }
}
// ANCHOR_END: poller
