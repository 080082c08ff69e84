//! stage05's loop on `poll(2)`, select's successor from System V Release 3:
//! `cargo run --release -p stage05 --example poll -- 8080 ./www`.
//!
//! As in the select example, everything but the readiness API is stage05's (`shared/mod.rs`).
//! poll fixes select's two worst faults: it takes an array of `(descriptor, events)` entries,
//! any descriptor number, as many as the process may open; and it answers in a separate field
//! (`revents`), so our array is kept between calls instead of rebuilt. What it does not fix:
//! the kernel keeps nothing between calls, so every wait copies in the whole array and checks
//! every entry, and we scan the whole array for the few that are ready. Still a cost per wait
//! that grows with the connections open, not with the ones that have something to say.

#[allow(dead_code)] // its graceful-shutdown helpers are stage05's, not used here
#[path = "../src/connection.rs"]
mod connection;
#[path = "../src/sendfile.rs"]
mod sendfile;
mod shared;
#[path = "../src/timers.rs"]
mod timers;

use connection::Interest;
use shared::Readiness;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

fn main() {
    shared::main::<Poll>("stage05-poll");
}

// ANCHOR: poll
/// The array poll reads, by key. A negative descriptor is skipped by the kernel: that is
/// how an entry is switched off without moving the others.
struct Poll {
    entries: Vec<libc::pollfd>,
}

const UNUSED: libc::pollfd = libc::pollfd {
    fd: -1,
    events: 0,
    revents: 0,
};

impl Readiness for Poll {
    fn new() -> io::Result<Poll> {
        Ok(Poll {
            entries: Vec::new(),
        })
    }

    fn watch(&mut self, key: usize, fd: RawFd, interest: Option<Interest>) -> io::Result<()> {
        if key >= self.entries.len() {
            self.entries.resize(key + 1, UNUSED);
        }
        self.entries[key] = match interest {
            Some(Interest::Read) => libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            },
            Some(Interest::Write) => libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            },
            None => UNUSED,
        };
        Ok(())
    }

    fn forget(&mut self, key: usize) {
        if let Some(entry) = self.entries.get_mut(key) {
            *entry = UNUSED;
        }
    }

    fn wait(&mut self, ready: &mut Vec<usize>, timeout: Option<Duration>) -> io::Result<()> {
        // Milliseconds, rounded up: rounding down would wake just before a deadline, find
        // nothing due, and wait again for 0 ms, spinning until it came.
        let millis = timeout.map_or(-1, |t| {
            let micros = t.as_micros().div_ceil(1000);
            i32::try_from(micros).unwrap_or(i32::MAX)
        });
        // SAFETY: `entries` is a valid array of that many pollfd, for the length of the call.
        // The kernel copies in every entry and checks every descriptor.
        let n = unsafe {
            libc::poll(
                self.entries.as_mut_ptr(),
                self.entries.len() as libc::nfds_t,
                millis,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::Interrupted => Ok(()),
                _ => Err(e),
            };
        }
        // The `n` ready ones are somewhere in the array: look at all of it. (POLLHUP and
        // POLLERR come whatever we asked for; the connection's next read or write sees why.)
        for (key, entry) in self.entries.iter().enumerate() {
            if entry.revents != 0 {
                ready.push(key);
            }
        }
        Ok(())
    }
}
// ANCHOR_END: poll
