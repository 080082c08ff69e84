//! A small pool of threads for password checks, so that bcrypt never runs on the loop.
//!
//! bcrypt is slow on purpose: at cost 12, a few hundred milliseconds of CPU per check. On the
//! loop's one thread, five wrong passwords from one client would stop every other connection
//! for a second or more. So the HTTP/1.1 session hands each check it cannot decide at once
//! (`common::auth::Verification`, a pure function) to this pool and waits; a verifier thread
//! runs it and sends the verdict back to that one connection through the loop's mailbox
//! ([`crate::Handle::send_to`]), which wakes the loop.
//!
//! The pool is bounded twice. Each connection has at most one check in flight, because its
//! requests are answered in order and it waits for the verdict before reading another (see
//! `http1.rs`). And the pool holds at most `limit` checks at once, running or waiting in its
//! crossbeam channel, counted from the moment the loop hands one over to the moment its
//! verdict is reached. A check beyond that is refused at once and the request gets 503
//! with `Retry-After`, as stage04 answers when its queue is full: many clients with wrong
//! passwords can delay other *logins*, but never a request that needs no bcrypt.

use crate::mailbox::ConnectionId;
use common::auth::{Verification, Verified};
use crossbeam_channel::{Sender, TrySendError};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// One check for the pool: what to verify, and which connection waits for the verdict.
struct Job {
    to: ConnectionId,
    verification: Verification,
}

// ANCHOR: verifiers
/// The loop's end of the pool. Dropping it lets the threads finish their last check and end.
pub struct Verifiers {
    jobs: Sender<Job>,
    /// Checks accepted and not yet done, running or waiting: never above `limit`.
    in_flight: Arc<AtomicUsize>,
    limit: usize,
}

impl Verifiers {
    /// Starts `threads` verifier threads (at least one) that take at most `limit` checks at
    /// once, running or waiting. Every verdict goes to `deliver`, on the verifier's thread:
    /// typically a closure that sends it to the connection through the loop's
    /// [`crate::Handle`].
    pub fn start(
        threads: usize,
        limit: usize,
        deliver: impl Fn(ConnectionId, Verified) + Send + Sync + 'static,
    ) -> io::Result<Verifiers> {
        // The count is the bound; the channel only needs room for what it allows.
        let (jobs, receiver) = crossbeam_channel::bounded::<Job>(limit.max(1));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let deliver = Arc::new(deliver);
        for n in 0..threads.max(1) {
            let (receiver, deliver, in_flight) =
                (receiver.clone(), deliver.clone(), in_flight.clone());
            std::thread::Builder::new()
                .name(format!("verifier-{n}"))
                .spawn(move || {
                    // Ends when the sender is gone (the loop has ended).
                    for job in receiver {
                        let verified = job.verification.verify();
                        // Freed before the verdict is sent, so that a client who has its
                        // answer and asks again always finds the room its check left.
                        in_flight.fetch_sub(1, Ordering::AcqRel);
                        deliver(job.to, verified);
                    }
                })?;
        }
        Ok(Verifiers {
            jobs,
            in_flight,
            limit,
        })
    }

    /// Queues a check whose verdict is to go to connection `to`. At the limit, the check
    /// comes back at once: the loop never waits for the pool.
    pub fn submit(&self, to: ConnectionId, verification: Verification) -> Result<(), Verification> {
        let taken = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            });
        if taken.is_err() {
            return Err(verification);
        }
        match self.jobs.try_send(Job { to, verification }) {
            Ok(()) => Ok(()),
            // (Full cannot happen, the count is below the channel's size; Disconnected only
            // if every thread has died.)
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                Err(job.verification)
            }
        }
    }
}
// ANCHOR_END: verifiers
