//! Timers without threads: every connection's deadline in one heap, ordered by time.
//!
//! A blocking server gets timeouts for free (`set_read_timeout`: the kernel wakes the thread).
//! One thread serving 10,000 sockets has to keep the clock itself: each connection has a
//! deadline, the nearest of them becomes the timeout of the next `poll`, and after each
//! wake-up the loop pops whatever has come due.
//!
//! The heap uses *lazy deletion*. A keep-alive connection moves its deadline on every request;
//! removing and re-inserting it each time would cost two O(log n) heap operations per request.
//! Instead a connection's [`Timer`] remembers the deadline it really has and the one it has
//! in the heap. Moving the deadline later (the common case) just stores the new time; when the
//! old entry comes due, the loop sees the deadline has moved and pushes it again. Only a
//! deadline moved *earlier* needs a new entry; the superseded one is skipped when popped.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Which connection an entry belongs to: its slot, and its serial number, because a slot is
/// reused when a connection closes and the old entry must not fire for the new tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Owner {
    pub slot: usize,
    pub serial: u64,
}

/// One connection's deadline, as the connection sees it.
#[derive(Debug, Default)]
pub struct Timer {
    /// When this connection must be dealt with, if ever.
    deadline: Option<Instant>,
    /// The entry it has in the heap (`None`: none that counts).
    queued: Option<Instant>,
}

// ANCHOR: timers
/// Every deadline, nearest first.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Owner)>>,
}

impl Timers {
    /// Sets `timer`'s deadline. Later than the queued entry: nothing to do but remember it.
    pub fn set(&mut self, timer: &mut Timer, owner: Owner, deadline: Instant) {
        timer.deadline = Some(deadline);
        if timer.queued.is_none_or(|queued| deadline < queued) {
            self.heap.push(Reverse((deadline, owner)));
            timer.queued = Some(deadline);
        }
    }

    /// The nearest deadline, which bounds how long the loop may sleep. (It may belong to an
    /// entry that turns out to be stale: then the loop wakes early, finds nothing, sleeps on.)
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Pops the next entry due at `now`, if any: `(when, whose)`. The caller looks the owner
    /// up and passes its timer to [`Timers::fire`], which says whether it really expired.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, Owner)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(entry)| entry),
            _ => None,
        }
    }

    /// Settles a popped entry against its owner's timer: true when the deadline has passed.
    /// A superseded entry is ignored; a deadline that moved later is queued again.
    pub fn fire(&mut self, timer: &mut Timer, owner: Owner, at: Instant, now: Instant) -> bool {
        if timer.queued != Some(at) {
            return false;
        }
        timer.queued = None;
        match timer.deadline {
            Some(deadline) if deadline <= now => true,
            Some(deadline) => {
                self.set(timer, owner, deadline);
                false
            }
            None => false,
        }
    }
}
// ANCHOR_END: timers

impl Timers {
    /// Entries in the heap, live or stale.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Rebuilds the heap from the live timers, dropping every stale entry. Closed connections
    /// leave entries behind until they come due; under heavy connection churn the loop calls
    /// this when stale entries far outnumber live ones, so the heap stays bounded.
    pub fn rebuild<'a>(&mut self, live: impl Iterator<Item = (&'a mut Timer, Owner)>) {
        self.heap.clear();
        for (timer, owner) in live {
            timer.queued = None;
            if let Some(deadline) = timer.deadline {
                self.set(timer, owner, deadline);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const A: Owner = Owner { slot: 0, serial: 1 };
    const B: Owner = Owner { slot: 1, serial: 2 };

    /// Pops everything due at `now` and returns the owners whose deadline really passed.
    fn expire(timers: &mut Timers, a: &mut Timer, b: &mut Timer, now: Instant) -> Vec<Owner> {
        let mut fired = Vec::new();
        while let Some((at, owner)) = timers.pop_due(now) {
            let timer = if owner == A { &mut *a } else { &mut *b };
            if timers.fire(timer, owner, at, now) {
                fired.push(owner);
            }
        }
        fired
    }

    #[test]
    fn nearest_first_and_moving_later_costs_no_entry() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let (mut timers, mut a, mut b) = (Timers::default(), Timer::default(), Timer::default());
        timers.set(&mut a, A, t0 + 5 * s);
        timers.set(&mut b, B, t0 + 3 * s);
        assert_eq!(timers.next(), Some(t0 + 3 * s));
        // A keep-alive request pushes A's deadline later: no new heap entry.
        timers.set(&mut a, A, t0 + 9 * s);
        assert_eq!(timers.len(), 2);
        assert_eq!(expire(&mut timers, &mut a, &mut b, t0 + 4 * s), vec![B]);
        // A's old entry comes due, finds the deadline moved, and is queued again.
        assert!(expire(&mut timers, &mut a, &mut b, t0 + 6 * s).is_empty());
        assert_eq!(timers.next(), Some(t0 + 9 * s));
        assert_eq!(expire(&mut timers, &mut a, &mut b, t0 + 9 * s), vec![A]);
    }

    #[test]
    fn moving_earlier_supersedes_the_old_entry() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let (mut timers, mut a, mut b) = (Timers::default(), Timer::default(), Timer::default());
        timers.set(&mut a, A, t0 + 10 * s);
        timers.set(&mut a, A, t0 + 2 * s);
        assert_eq!(expire(&mut timers, &mut a, &mut b, t0 + 2 * s), vec![A]);
        // The superseded entry at 10 s fires nothing.
        assert!(expire(&mut timers, &mut a, &mut b, t0 + 11 * s).is_empty());
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn rebuild_keeps_only_live_deadlines() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let (mut timers, mut a, mut b) = (Timers::default(), Timer::default(), Timer::default());
        for i in 0..100 {
            timers.set(&mut b, B, t0 + s * (100 - i));
        }
        timers.set(&mut a, A, t0 + s);
        timers.rebuild([(&mut a, A)].into_iter());
        assert_eq!(timers.len(), 1);
        assert_eq!(expire(&mut timers, &mut a, &mut b, t0 + 200 * s), vec![A]);
    }
}
