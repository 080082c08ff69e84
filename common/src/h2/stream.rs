//! One stream's state (RFC 9113 §5.1), and what the connection remembers of closed ones.
//!
//! A server's stream is born when the client's HEADERS arrive; from then on each side closes
//! its half with END_STREAM, or either side resets the whole stream. The states of §5.1 map to
//! two booleans: open (neither half closed), half-closed (remote) (`recv_closed`: the request is
//! complete), half-closed (local) (`send_closed`: the response is complete). A stream with both
//! halves closed, or reset, leaves the map; a short memory of how it closed decides what a late
//! frame on it means.

use std::collections::{HashMap, VecDeque};

use super::flow::Window;
use super::frame::StreamId;

/// How many closed streams the connection remembers (a bounded memory: an attacker who closes
/// millions of streams costs us this many entries, no more). Older ones fall back to the
/// strictest reading of a late frame.
const REMEMBERED_CLOSED: usize = 256;

#[derive(Debug)]
pub struct Stream {
    /// The peer sent END_STREAM: half-closed (remote).
    pub recv_closed: bool,
    /// We sent END_STREAM: half-closed (local).
    pub send_closed: bool,
    /// Our response head is out (DATA may follow).
    pub headers_sent: bool,
    /// What we may still send on this stream.
    pub send_window: Window,
    /// What the peer may still send on it.
    pub recv_window: Window,
    /// Bytes the peer spent that we have not yet given back with a WINDOW_UPDATE.
    pub recv_unreturned: u32,
    /// The request's `content-length`, checked against the DATA received (RFC 9113 §8.1.1).
    pub content_length: Option<u64>,
    pub received: u64,
}

/// How a stream left the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// Both halves ended with END_STREAM: any later DATA or HEADERS is a connection error of
    /// type STREAM_CLOSED (§5.1, "closed").
    Finished,
    /// We sent RST_STREAM (or refused, or ignored it after GOAWAY): frames the peer had already
    /// sent are still arriving, and are ignored (§5.4.2).
    ResetByUs,
    /// The peer sent RST_STREAM: anything but PRIORITY after it is a stream error of type
    /// STREAM_CLOSED.
    ResetByPeer,
}

#[derive(Debug, Default)]
pub struct Streams {
    open: HashMap<StreamId, Stream>,
    closed: VecDeque<(StreamId, Closed)>,
}

impl Streams {
    pub fn get_mut(&mut self, id: StreamId) -> Option<&mut Stream> {
        self.open.get_mut(&id)
    }

    pub fn get(&self, id: StreamId) -> Option<&Stream> {
        self.open.get(&id)
    }

    pub fn insert(&mut self, id: StreamId, stream: Stream) {
        self.open.insert(id, stream);
    }

    /// Streams open or half-closed: what SETTINGS_MAX_CONCURRENT_STREAMS counts.
    pub fn active(&self) -> usize {
        self.open.len()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Stream> {
        self.open.values_mut()
    }

    /// Takes the stream out of the map, remembering how it closed. A stream already closed
    /// keeps the memory of its first closing.
    pub fn close(&mut self, id: StreamId, how: Closed) -> Option<Stream> {
        let stream = self.open.remove(&id)?;
        self.remember(id, how);
        Some(stream)
    }

    /// Closes the stream if both halves are done.
    pub fn close_if_finished(&mut self, id: StreamId) {
        if self
            .open
            .get(&id)
            .is_some_and(|s| s.recv_closed && s.send_closed)
        {
            self.close(id, Closed::Finished);
        }
    }

    /// Records a stream that closed without ever entering the map (refused, malformed).
    pub fn remember(&mut self, id: StreamId, how: Closed) {
        if self.closed.len() == REMEMBERED_CLOSED {
            self.closed.pop_front();
        }
        self.closed.push_back((id, how));
    }

    pub fn how_closed(&self, id: StreamId) -> Option<Closed> {
        self.closed
            .iter()
            .rev()
            .find(|(closed, _)| *closed == id)
            .map(|&(_, how)| how)
    }
}
