//! stage05's loop on `select(2)`, the readiness API of 1983:
//! `cargo run --release -p stage05 --example select -- 8080 ./www`.
//!
//! The HTTP, the connection state machine, the timers and the loop are stage05's (see
//! `shared/mod.rs`); this file is only the readiness API, so that the difference from stage05
//! is exactly that. select takes *sets* of descriptors, one bit per descriptor number, and
//! overwrites them with the ready ones: so every wait rebuilds the sets from our list, the
//! kernel checks every descriptor up to the highest, and we test every bit we set. The cost
//! of a wait grows with the number of connections, ready or not.
//!
//! And an `fd_set` is a fixed array of `FD_SETSIZE` (1024) bits: a descriptor numbered 1024
//! or more has no bit. glibc's C macro `FD_SET` writes past the array for it (silently, unless
//! built with `_FORTIFY_SOURCE`); the libc crate's panics, which kills the server and every
//! connection it holds. So `watch` refuses such a descriptor, and the loop answers that
//! connection with `503 Service Unavailable` and closes it. Descriptors 0 to 2 are stdin, stdout and stderr,
//! then come the access log (if it is a file) and the listener: connections get 5 to 1023 at
//! most, so about the 1,020th open at once is the first refused, and a new one is served
//! again once one closes.

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
    shared::main::<Select>("stage05-select");
}

// ANCHOR: select
/// Our list of what to watch, by key: select keeps none between calls.
struct Select {
    watched: Vec<Option<(RawFd, Interest)>>,
}

impl Readiness for Select {
    fn new() -> io::Result<Select> {
        Ok(Select {
            watched: Vec::new(),
        })
    }

    fn watch(&mut self, key: usize, fd: RawFd, interest: Option<Interest>) -> io::Result<()> {
        // The limit that ends select's story: no bit exists for this descriptor.
        if usize::try_from(fd).map_or(true, |fd| fd >= libc::FD_SETSIZE) {
            return Err(io::Error::other(format!(
                "descriptor {fd} has no bit in select's fd_set (FD_SETSIZE is {})",
                libc::FD_SETSIZE
            )));
        }
        if key >= self.watched.len() {
            self.watched.resize(key + 1, None);
        }
        self.watched[key] = interest.map(|interest| (fd, interest));
        Ok(())
    }

    fn forget(&mut self, key: usize) {
        if let Some(entry) = self.watched.get_mut(key) {
            *entry = None;
        }
    }

    fn wait(&mut self, ready: &mut Vec<usize>, timeout: Option<Duration>) -> io::Result<()> {
        // SAFETY (every call below): an all-zero fd_set is a valid empty set, and `watch`
        // admits only descriptors below FD_SETSIZE, so every FD_SET and FD_ISSET is in bounds.
        let mut readable: libc::fd_set = unsafe { std::mem::zeroed() };
        let mut writable: libc::fd_set = unsafe { std::mem::zeroed() };
        // Every wait starts over: select overwrote the last sets with its answer.
        let mut highest = -1;
        for &(fd, interest) in self.watched.iter().flatten() {
            let set = match interest {
                Interest::Read => &mut readable,
                Interest::Write => &mut writable,
            };
            unsafe { libc::FD_SET(fd, set) };
            highest = highest.max(fd);
        }
        let mut time = timeout.map(|t| libc::timeval {
            tv_sec: t.as_secs().try_into().unwrap_or(libc::time_t::MAX),
            tv_usec: t.subsec_micros().into(),
        });
        let time = time.as_mut().map_or(std::ptr::null_mut(), |t| t as *mut _);
        // The kernel looks at every descriptor from 0 to `highest`.
        let n = unsafe {
            libc::select(
                highest + 1,
                &mut readable,
                &mut writable,
                std::ptr::null_mut(),
                time,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::Interrupted => Ok(()),
                _ => Err(e),
            };
        }
        // And we look at every bit we set, to find the `n` that are ready.
        for (key, entry) in self.watched.iter().enumerate() {
            if let Some((fd, interest)) = *entry {
                let set = match interest {
                    Interest::Read => &readable,
                    Interest::Write => &writable,
                };
                if unsafe { libc::FD_ISSET(fd, set) } {
                    ready.push(key);
                }
            }
        }
        Ok(())
    }
}
// ANCHOR_END: select
