//! A member's queue of bytes to send, and the two rules that keep one member from costing
//! anyone else anything: the queue is bounded, and the bytes in it are shared.
//!
//! A broadcast frame is encoded once by the hub and arrives here as an `Arc`: a room of a
//! thousand members holds one copy of each message, not a thousand. What the socket has not
//! taken yet stays queued; the session reads nothing more from its client while much is
//! waiting ([`HIGH_WATER`]: a client that sends pings and never reads cannot make us queue
//! pongs without end), and a member whose queue would pass [`QUEUE_LIMIT`] is not reading
//! at all: it is dropped (closed with 1008) rather than buffered for, while everyone else
//! goes on at full speed.

use crate::hub::Frame;
use eventloop::Transport;
use std::collections::VecDeque;
use std::io;

/// The most a member may have waiting: past it, the member is too slow and is dropped.
pub const QUEUE_LIMIT: usize = 1024 * 1024;
/// A session reads from its client only while less than this waits to go out.
pub const HIGH_WATER: usize = 64 * 1024;
/// Small frames are copied together and written in one system call, up to this much.
const BATCH: usize = 64 * 1024;

/// The frame did not fit under the bound.
#[derive(Debug, PartialEq, Eq)]
pub struct Overflow;

#[derive(Default)]
pub struct Outbox {
    frames: VecDeque<Frame>,
    /// Bytes of the front frame already written.
    offset: usize,
    /// Bytes queued and not yet written.
    queued: usize,
}

// ANCHOR: outbox
impl Outbox {
    /// Queues bytes of our own (a reply, a pong, a close), which the read rule bounds.
    pub fn push(&mut self, frame: Frame) {
        self.queued += frame.len();
        self.frames.push_back(frame);
    }

    /// Queues a broadcast, unless it would take the queue past [`QUEUE_LIMIT`].
    pub fn offer(&mut self, frame: Frame) -> Result<(), Overflow> {
        if self.queued + frame.len() > QUEUE_LIMIT {
            return Err(Overflow);
        }
        self.push(frame);
        Ok(())
    }

    /// Drops every frame not yet begun; one half written stays (cut there, the stream of
    /// frames would be garbage to the client).
    pub fn cut(&mut self) {
        let keep = usize::from(self.offset > 0);
        self.frames.truncate(keep);
        self.queued = self.frames.front().map_or(0, |f| f.len() - self.offset);
    }

    /// Writes as much as the transport takes now. `Ok(true)`: all of it is out, the
    /// transport's own bytes too (a TLS record not yet written).
    pub fn write<T: Transport>(&mut self, io: &mut T, batch: &mut Vec<u8>) -> io::Result<bool> {
        while let Some(front) = self.frames.front() {
            let front = &front[self.offset..];
            let (tried, sent) = if front.len() >= BATCH || self.frames.len() == 1 {
                // A big frame goes straight from its shared bytes, with no copy.
                (front.len(), io.send(front, false)?)
            } else {
                batch.clear();
                batch.extend_from_slice(front);
                for frame in self.frames.iter().skip(1) {
                    if batch.len() + frame.len() > BATCH {
                        break;
                    }
                    batch.extend_from_slice(frame);
                }
                let sent = io.send(batch, false)?;
                let tried = batch.len();
                batch.clear();
                (tried, sent)
            };
            self.advance(sent);
            if sent < tried {
                return Ok(false);
            }
        }
        io.flush()
    }
    // ANCHOR_END: outbox

    fn advance(&mut self, mut sent: usize) {
        self.queued -= sent;
        while let Some(front) = self.frames.front() {
            let left = front.len() - self.offset;
            if sent < left {
                self.offset += sent;
                return;
            }
            sent -= left;
            self.offset = 0;
            self.frames.pop_front();
        }
        // Idle again: hand the ring's memory back (10,000 idle members hold none).
        self.frames = VecDeque::new();
    }

    pub fn queued(&self) -> usize {
        self.queued
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// The flood rule: a token bucket. A member may send `rate` messages a second (10 unless
/// `--chat-rate` says otherwise), in bursts of up to twice that; one more is flooding, and
/// the member is closed (1008 for a WebSocket, an error line for `nc`). Generous for a person
/// typing or pasting a few lines; a script in a loop hits it within two seconds.
pub struct Bucket {
    tokens: f64,
    rate: f64,
    last: std::time::Instant,
}

impl Bucket {
    pub fn new(now: std::time::Instant, rate: u32) -> Bucket {
        let rate = f64::from(rate);
        Bucket {
            tokens: 2.0 * rate,
            rate,
            last: now,
        }
    }

    /// One message at `now`: false when the member is over its rate.
    pub fn take(&mut self, now: std::time::Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(2.0 * self.rate);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn frame(bytes: &[u8]) -> Frame {
        bytes.into()
    }

    #[test]
    fn the_bound_refuses_what_would_pass_it() {
        let mut outbox = Outbox::default();
        let half = frame(&vec![0; QUEUE_LIMIT / 2]);
        assert_eq!(outbox.offer(half.clone()), Ok(()));
        assert_eq!(outbox.offer(half.clone()), Ok(()));
        assert_eq!(outbox.offer(frame(b"x")), Err(Overflow));
        assert_eq!(outbox.queued(), QUEUE_LIMIT);
    }

    #[test]
    fn advancing_pops_whole_frames_and_cut_keeps_a_half_written_one() {
        let mut outbox = Outbox::default();
        for bytes in [&b"abc"[..], b"de", b"fgh"] {
            outbox.push(frame(bytes));
        }
        outbox.advance(4);
        assert_eq!(
            (outbox.frames.len(), outbox.offset, outbox.queued),
            (2, 1, 4)
        );
        outbox.cut();
        assert_eq!((outbox.frames.len(), outbox.queued), (1, 1));
        outbox.advance(1);
        assert!(outbox.is_empty());
        outbox.push(frame(b"xy"));
        outbox.cut();
        assert!(outbox.is_empty() && outbox.queued() == 0);
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut bucket = Bucket::new(t0, 10);
        assert!((0..20).all(|_| bucket.take(t0)));
        assert!(!bucket.take(t0));
        // A tenth of a second buys one more message.
        assert!(bucket.take(t0 + Duration::from_millis(100)));
        assert!(!bucket.take(t0 + Duration::from_millis(100)));
        // A long pause refills to the burst, no further.
        let later = t0 + Duration::from_secs(60);
        assert!((0..20).all(|_| bucket.take(later)));
        assert!(!bucket.take(later));
    }
}
