//! The server side of one HTTP/2 connection, sans-IO (python-h2's shape): the caller hands
//! in the bytes it read, takes out events (requests, body lengths, resets) and the bytes to
//! write, and answers with `send_headers`/`send_data`.
//!
//! Everything RFC 9113 asks of a server that is not an HTTP meaning lives here: the preface,
//! SETTINGS and their ACK, the stream states of §5.1 and the error each illegal frame costs,
//! flow control both ways, PING, GOAWAY (and the two-step graceful GOAWAY), and the defences
//! against the published attacks, each bounded by a named constant below. There are no send
//! buffers: the caller sends DATA only within `capacity`, so what a stream costs is bounded.

use std::collections::{HashSet, VecDeque};

use super::flow::Window;
use super::frame::{self, ErrorCode, Frame, FrameError, Head, Kind, StreamId};
use super::frame::{DEFAULT_MAX_FRAME_SIZE, DEFAULT_WINDOW, HEADER_LEN};
use super::head::{self, RequestHead};
use super::hpack::{self, DecodeError, Field};
use super::stream::{Closed, Stream, Streams};

/// What a client sends first, before any frame (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// ANCHOR: defences
/// Rapid reset (CVE-2023-44487): a client opens a stream and resets it at once, thousands of
/// times a second; each reset frees its slot in MAX_CONCURRENT_STREAMS, so the limit never
/// bites while we start a response for every one. Two answers. A request reset before the
/// caller polled its `Request` event is withdrawn from the queue: no work is ever started for
/// it (the usual case, when the HEADERS and the RST_STREAM come in one read). And we count,
/// without a clock (the connection has none; nginx counts per request too), the peer's
/// resets of streams whose response was not finished: past `RESET_ALLOWANCE` of them, more
/// than a quarter of all the streams opened (`RESET_SHARE`) is an attack: GOAWAY
/// ENHANCE_YOUR_CALM. A browser that cancels a few requests when the user navigates away
/// stays far below both; a client that sends three real requests for each reset is only a
/// busy client (each reset costs us at most the response it asked for).
pub const RESET_ALLOWANCE: u64 = 100;
/// The share of streams opened that may be reset past the allowance: one in `RESET_SHARE`.
pub const RESET_SHARE: u64 = 4;

/// CONTINUATION flood (the 2024 class): HEADERS without END_HEADERS, then CONTINUATION
/// frames forever, each buffered because a header block is decoded only whole. The block's
/// encoded bytes are bounded by this or SETTINGS_MAX_HEADER_LIST_SIZE, whichever is larger
/// (an encoded field is never longer than the 32 + name + value the list size counts): past
/// it, GOAWAY ENHANCE_YOUR_CALM, since a block cut short would leave HPACK out of sync.
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;

/// SETTINGS and PING floods: each asks for a reply (an ACK), and a peer that never reads
/// makes the replies pile up in our output. More than this many control replies written by
/// us and not yet taken by the socket is a flood: GOAWAY ENHANCE_YOUR_CALM (nghttp2's
/// max_outbound_ack is 1000). Replies to stream errors (RST_STREAM, a 431) count too.
pub const MAX_PENDING_CONTROL: usize = 1024;

/// Empty-frame floods: DATA with no bytes and no END_STREAM, or CONTINUATION with an empty
/// fragment and no END_HEADERS, cost no flow-control credit and no buffer, only our time.
/// More than this many since the last new stream: GOAWAY ENHANCE_YOUR_CALM.
pub const MAX_EMPTY_FRAMES: u32 = 100;

// The other three have no constant of their own:
// - The HPACK bomb (small blocks that decode to a huge list, by referring to one big table
//   entry again and again) is bounded by `Settings::max_header_list_size`, which the decoder
//   enforces while decoding: past it, no field is kept and the stream gets a 431.
// - Window-update floods cost one addition each and make no reply; the `WindowOpened` event
//   they cause is queued once, however many arrive (`window_event_queued`). In the other
//   direction we give credit back in half windows (`RETURN_CREDIT_AT`), never per frame.
// - Stream-id exhaustion: a client that reaches 2^31-1 (`StreamId::MAX`) can open no more
//   streams; our final GOAWAY says so at once, and any id after it is PROTOCOL_ERROR.
// ANCHOR_END: defences

/// Our PING of the two-step GOAWAY; its ACK says the client saw the first GOAWAY.
const SHUTDOWN_PING: [u8; 8] = *b"shutdown";

/// The connection's own receive window stays at the default; we give credit back as soon as
/// half of a window is spent (a WINDOW_UPDATE per frame would let 1-byte DATA frames make us
/// write one frame each: the window-update flood, turned around).
const RETURN_CREDIT_AT: u32 = DEFAULT_WINDOW / 2;

/// Our SETTINGS (RFC 9113 §6.5.2), sent at once by `Connection::server`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The HPACK table the peer's encoder may use (our decoder's size).
    pub header_table_size: u32,
    pub max_concurrent_streams: u32,
    /// Each stream's receive window.
    pub initial_window_size: u32,
    /// The largest frame payload we accept (16384..=16777215).
    pub max_frame_size: u32,
    /// The largest decoded header list (name + value + 32 per field) we accept: past it, 431.
    pub max_header_list_size: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            header_table_size: hpack::DEFAULT_TABLE_SIZE as u32,
            max_concurrent_streams: 100,
            initial_window_size: DEFAULT_WINDOW,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            // As much as common's HTTP/1.1 parser takes in a head (16 KiB).
            max_header_list_size: 16 * 1024,
        }
    }
}

/// What happened on the connection, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete, validated request head (RFC 9113 §8: malformed ones never get here; the
    /// connection resets them with PROTOCOL_ERROR itself).
    Request {
        stream: StreamId,
        head: RequestHead,
        end_stream: bool,
    },
    /// Request body bytes (the connection has already returned their flow-control credit).
    /// Trailers, once validated, arrive as `len: 0, end_stream: true`.
    Data {
        stream: StreamId,
        len: usize,
        end_stream: bool,
    },
    /// The stream is gone: the peer reset it, or the connection did for a stream error (this
    /// `code`). Stop sending on it.
    Reset { stream: StreamId, code: ErrorCode },
    /// Some window grew: streams waiting for capacity may send again.
    WindowOpened,
    /// The peer sent GOAWAY: it opens no more streams; those up to `last_stream` go on.
    GoAway {
        last_stream: StreamId,
        code: ErrorCode,
    },
}

/// A connection error: GOAWAY with `code` is queued in the output. Write it, then close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionError {
    pub code: ErrorCode,
    pub reason: &'static str,
}

/// Why `send_headers` or `send_data` queued nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The stream is reset, finished, unknown, or the connection failed.
    Closed,
    /// More DATA than `capacity` allows (or DATA before the response head).
    OverCapacity,
}

/// Where the graceful stop stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shutdown {
    Running,
    /// GOAWAY(2^31-1) and a PING are out; waiting for the PING's ACK.
    Announced,
    /// The final GOAWAY is out with this last stream: newer streams are ignored.
    Final(StreamId),
}

/// A header block in progress: HEADERS without END_HEADERS, waiting for CONTINUATIONs.
struct HeaderBlock {
    stream: StreamId,
    end_stream: bool,
    /// The HEADERS frame's priority made the stream depend on itself (§5.3.1).
    depends_on_itself: bool,
    fragments: Vec<u8>,
}

pub struct Connection {
    settings: Settings,
    /// How many bytes of the preface are still to come.
    preface_left: usize,
    /// The first frame after the preface must be SETTINGS (§3.4).
    seen_settings: bool,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Bytes ever appended to `output`: with `output.len()`, says how much the caller wrote.
    queued_total: u64,
    /// Where each control reply not yet written ends, in `queued_total` terms.
    pending_control: VecDeque<u64>,
    events: VecDeque<Event>,
    window_event_queued: bool,
    /// Streams whose `Request` event is queued and not yet polled.
    unpolled: HashSet<StreamId>,
    /// Streams reset before their `Request` was polled: their queued events are dropped.
    withdrawn: HashSet<StreamId>,
    decoder: hpack::Decoder,
    encoder: hpack::Encoder,
    /// The peer's SETTINGS that shape what we send.
    peer_max_frame_size: u32,
    peer_initial_window: u32,
    /// The stream receive window the peer assumes: the default until it ACKs our SETTINGS.
    local_initial_window: u32,
    settings_acked: bool,
    /// The connection's windows: what we may still send, what the peer may still send.
    send_window: Window,
    recv_window: Window,
    /// Bytes the peer spent on the connection that we have not given back yet.
    recv_unreturned: u32,
    streams: Streams,
    /// The highest stream id the client has used.
    last_stream: StreamId,
    block: Option<HeaderBlock>,
    shutdown: Shutdown,
    goaway_received: bool,
    /// Set by a connection error: from then on nothing is read or sent.
    error: Option<ConnectionError>,
    /// The counts the defences need (see the constants at the top).
    streams_opened: u64,
    peer_resets: u64,
    empty_frames: u32,
}

impl Connection {
    /// A server side connection; our SETTINGS are queued in the output at once.
    pub fn server(settings: Settings) -> Connection {
        // Values the RFC does not allow are brought within its bounds, never sent as they are.
        let settings = Settings {
            initial_window_size: settings.initial_window_size.min(frame::MAX_WINDOW),
            max_frame_size: settings
                .max_frame_size
                .clamp(DEFAULT_MAX_FRAME_SIZE, frame::MAX_MAX_FRAME_SIZE),
            ..settings
        };
        let mut conn = Connection {
            settings,
            preface_left: PREFACE.len(),
            seen_settings: false,
            input: Vec::new(),
            output: Vec::new(),
            queued_total: 0,
            pending_control: VecDeque::new(),
            events: VecDeque::new(),
            window_event_queued: false,
            unpolled: HashSet::new(),
            withdrawn: HashSet::new(),
            decoder: hpack::Decoder::new(settings.header_table_size as usize),
            encoder: hpack::Encoder::new(),
            peer_max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            peer_initial_window: DEFAULT_WINDOW,
            local_initial_window: DEFAULT_WINDOW,
            settings_acked: false,
            send_window: Window::new(DEFAULT_WINDOW),
            recv_window: Window::new(DEFAULT_WINDOW),
            recv_unreturned: 0,
            streams: Streams::default(),
            last_stream: StreamId::CONNECTION,
            block: None,
            shutdown: Shutdown::Running,
            goaway_received: false,
            error: None,
            streams_opened: 0,
            peer_resets: 0,
            empty_frames: 0,
        };
        conn.queue(Frame::Settings(frame::SettingsFrame {
            header_table_size: Some(settings.header_table_size),
            max_concurrent_streams: Some(settings.max_concurrent_streams),
            initial_window_size: Some(settings.initial_window_size),
            max_frame_size: Some(settings.max_frame_size),
            max_header_list_size: Some(settings.max_header_list_size),
            ..frame::SettingsFrame::default()
        }));
        conn
    }

    /// Bytes read from the peer, starting with the 24-byte preface. Frames are parsed as far
    /// as they go; events queue up. A connection error queues GOAWAY with its code and returns
    /// Err: the caller writes the output, then closes.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<(), ConnectionError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        // Whole frames are handled straight from `bytes`; only a frame cut by the end of a
        // read waits in `input` for the rest (at most one frame: SETTINGS_MAX_FRAME_SIZE).
        let result = if self.input.is_empty() {
            self.process(bytes)
                .map(|used| self.input.extend_from_slice(&bytes[used..]))
        } else {
            let mut input = std::mem::take(&mut self.input);
            input.extend_from_slice(bytes);
            self.process(&input).map(|used| {
                input.drain(..used);
                self.input = input;
            })
        };
        if let Err(error) = result {
            let last_stream = self.last_stream;
            self.queue(Frame::GoAway(frame::GoAway {
                last_stream,
                code: error.code,
                debug: error.reason.as_bytes(),
            }));
            self.error = Some(error);
            self.block = None;
            self.input = Vec::new();
        }
        result
    }

    /// The next event, in order. Events of a request that was reset before it was polled
    /// never come out (see `RESET_ALLOWANCE`).
    pub fn poll_event(&mut self) -> Option<Event> {
        loop {
            let event = self.events.pop_front();
            let stream = match &event {
                None => {
                    // Nothing queued: nothing left to withdraw either.
                    self.withdrawn.clear();
                    return None;
                }
                Some(Event::WindowOpened) => {
                    self.window_event_queued = false;
                    return event;
                }
                Some(Event::GoAway { .. }) => return event,
                Some(Event::Request { stream, .. }) => {
                    self.unpolled.remove(stream);
                    *stream
                }
                Some(Event::Data { stream, .. } | Event::Reset { stream, .. }) => *stream,
            };
            if !self.withdrawn.contains(&stream) {
                return event;
            }
        }
    }

    /// Our response head on a stream the peer opened (`:status` first, then `fields`, names
    /// lowercase). `end_stream` for a response without a body.
    pub fn send_headers(
        &mut self,
        stream: StreamId,
        status: u16,
        fields: &[Field<'_>],
        end_stream: bool,
    ) -> Result<(), SendError> {
        match self.sendable(stream) {
            Some(s) if !s.headers_sent => {}
            _ => return Err(SendError::Closed),
        }
        self.write_head(stream, status, fields, end_stream);
        if let Some(s) = self.streams.get_mut(stream) {
            s.headers_sent = true;
            s.send_closed = end_stream;
        }
        self.streams.close_if_finished(stream);
        Ok(())
    }

    /// How many bytes of DATA this stream may send now: the smaller of its window and the
    /// connection's (0 while either is closed, or before the response head).
    pub fn capacity(&self, stream: StreamId) -> usize {
        match self.sendable(stream) {
            Some(s) if s.headers_sent => {
                s.send_window.available().min(self.send_window.available())
            }
            _ => 0,
        }
    }

    /// Up to `capacity` bytes of body, split into frames of the peer's max frame size. An
    /// empty `data` with `end_stream` ends the stream whatever the windows say.
    pub fn send_data(
        &mut self,
        stream: StreamId,
        data: &[u8],
        end_stream: bool,
    ) -> Result<(), SendError> {
        match self.sendable(stream) {
            None => return Err(SendError::Closed),
            Some(s) if !s.headers_sent => return Err(SendError::OverCapacity),
            Some(_) if data.len() > self.capacity(stream) => return Err(SendError::OverCapacity),
            Some(_) => {}
        }
        let chunk = self.peer_max_frame_size as usize;
        let mut pieces = data.chunks(chunk).peekable();
        if data.is_empty() && !end_stream {
            // Nothing to say: an empty DATA frame would only look like the start of a flood.
            return Ok(());
        }
        if data.is_empty() {
            self.queue(Frame::Data(frame::Data {
                stream,
                data,
                end_stream,
                pad: None,
            }));
        }
        while let Some(piece) = pieces.next() {
            let last = pieces.peek().is_none();
            self.queue(Frame::Data(frame::Data {
                stream,
                data: piece,
                end_stream: end_stream && last,
                pad: None,
            }));
        }
        // Both spends fit: capacity() said so.
        let _ = self.send_window.spend(data.len());
        if let Some(s) = self.streams.get_mut(stream) {
            let _ = s.send_window.spend(data.len());
            s.send_closed = end_stream;
        }
        self.streams.close_if_finished(stream);
        Ok(())
    }

    /// Resets a stream (RST_STREAM with `code`): CANCEL when we give up on it, NO_ERROR after a
    /// complete response whose request body we do not want (RFC 9113 §8.1).
    pub fn reset(&mut self, stream: StreamId, code: ErrorCode) {
        if self.error.is_none() && self.streams.close(stream, Closed::ResetByUs).is_some() {
            self.queue(Frame::RstStream(frame::RstStream { stream, code }));
        }
    }

    /// Graceful stop: GOAWAY(2^31-1) and a PING now, the final GOAWAY(last id) when the PING
    /// comes back; streams already open finish. The first GOAWAY tells the client to open no
    /// more streams, without racing the ones it sent before it saw it (RFC 9113 §6.8).
    pub fn shutdown(&mut self) {
        if self.error.is_some() || self.shutdown != Shutdown::Running {
            return;
        }
        self.shutdown = Shutdown::Announced;
        self.queue(Frame::GoAway(frame::GoAway {
            last_stream: StreamId::MAX,
            code: ErrorCode::NO_ERROR,
            debug: b"",
        }));
        self.queue(Frame::Ping(frame::Ping {
            ack: false,
            payload: SHUTDOWN_PING,
        }));
    }

    /// Bytes to write to the peer (frames queued by all of the above). The caller takes them
    /// from the front (`drain(..written)`), as a socket accepts them.
    pub fn output(&mut self) -> &mut Vec<u8> {
        &mut self.output
    }

    /// No stream open or half-closed.
    pub fn is_idle(&self) -> bool {
        self.streams.active() == 0 && self.block.is_none()
    }

    /// Nothing left to do but close: a connection error's GOAWAY is written, or GOAWAY was
    /// exchanged (ours final, or the peer's) and every stream is over and written.
    pub fn is_done(&self) -> bool {
        if !self.output.is_empty() {
            return false;
        }
        let over = self.goaway_received || matches!(self.shutdown, Shutdown::Final(_));
        self.error.is_some() || (over && self.is_idle())
    }

    // --- Receiving -------------------------------------------------------------------------

    /// Parses and handles frames from `input`; returns how many bytes were used.
    fn process(&mut self, input: &[u8]) -> Result<usize, ConnectionError> {
        let mut at = 0;
        if self.preface_left > 0 {
            let matched = PREFACE.len() - self.preface_left;
            let take = self.preface_left.min(input.len());
            // Compared as it arrives, so an HTTP/1.1 request is refused at its first byte.
            if input[..take] != PREFACE[matched..matched + take] {
                return fail(
                    ErrorCode::PROTOCOL_ERROR,
                    "not the HTTP/2 connection preface",
                );
            }
            self.preface_left -= take;
            at = take;
            if self.preface_left > 0 {
                return Ok(at);
            }
        }
        while input.len() - at >= HEADER_LEN {
            let Ok(head_bytes) = <&[u8; HEADER_LEN]>::try_from(&input[at..at + HEADER_LEN]) else {
                break; // (cannot happen: the slice is 9 bytes long)
            };
            let head = Head::parse(head_bytes);
            // Refused on the header alone, before a byte of the payload is buffered (§4.2).
            if head.length > self.settings.max_frame_size {
                return fail(
                    ErrorCode::FRAME_SIZE_ERROR,
                    "frame larger than SETTINGS_MAX_FRAME_SIZE",
                );
            }
            let end = at + HEADER_LEN + head.length as usize;
            if input.len() < end {
                break;
            }
            self.frame(&head, &input[at + HEADER_LEN..end])?;
            at = end;
        }
        Ok(at)
    }

    fn frame(&mut self, head: &Head, payload: &[u8]) -> Result<(), ConnectionError> {
        if !self.seen_settings {
            if head.kind != Kind::Settings || head.flags & frame::flags::ACK != 0 {
                return fail(
                    ErrorCode::PROTOCOL_ERROR,
                    "the preface's first frame is not SETTINGS",
                );
            }
            self.seen_settings = true;
        }
        // Inside a header block only its CONTINUATIONs may come, of any type (§6.10).
        if let Some(block) = &self.block {
            if head.kind != Kind::Continuation || head.stream != block.stream {
                return fail(ErrorCode::PROTOCOL_ERROR, "a frame inside a header block");
            }
        }
        let parsed = match Frame::parse(head, payload) {
            Ok(parsed) => parsed,
            Err(FrameError::Connection(code, reason)) => return fail(code, reason),
            Err(FrameError::Stream(stream, code, _)) => {
                // WINDOW_UPDATE on an idle stream is a connection error whatever it says.
                if head.kind == Kind::WindowUpdate && self.is_idle_stream(stream) {
                    return fail(ErrorCode::PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
                }
                return self.stream_error(stream, code);
            }
        };
        match parsed {
            Frame::Data(data) => self.on_data(data),
            Frame::Headers(headers) => self.on_headers(headers),
            Frame::Continuation(continuation) => self.on_continuation(continuation),
            // Parsed, checked, and ignored (RFC 9113 §5.3.2 deprecates priority signals).
            Frame::Priority(_) => Ok(()),
            Frame::RstStream(rst) => self.on_rst_stream(rst),
            Frame::Settings(settings) => self.on_settings(settings),
            Frame::PushPromise(_) => fail(ErrorCode::PROTOCOL_ERROR, "PUSH_PROMISE from a client"),
            Frame::Ping(ping) => self.on_ping(ping),
            Frame::GoAway(goaway) => {
                self.goaway_received = true;
                self.events.push_back(Event::GoAway {
                    last_stream: goaway.last_stream,
                    code: goaway.code,
                });
                Ok(())
            }
            Frame::WindowUpdate(update) => self.on_window_update(update),
            Frame::Unknown { .. } => Ok(()),
        }
    }

    /// A stream the client has not opened yet (or an even one, which only we could open).
    fn is_idle_stream(&self, id: StreamId) -> bool {
        !id.is_client_initiated() || id > self.last_stream
    }

    // ANCHOR: data
    fn on_data(&mut self, data: frame::Data<'_>) -> Result<(), ConnectionError> {
        let id = data.stream;
        let flow_len = data.flow_len();
        if self.is_idle_stream(id) {
            return fail(ErrorCode::PROTOCOL_ERROR, "DATA on an idle stream");
        }
        // The connection's window counts every DATA frame, even on a closed stream (§6.9).
        if self.recv_window.spend(flow_len).is_err() {
            return fail(
                ErrorCode::FLOW_CONTROL_ERROR,
                "DATA past the connection's window",
            );
        }
        self.return_connection_credit(flow_len as u32);
        if data.data.is_empty() && !data.end_stream {
            self.count_empty_frame()?;
        }
        let local_initial = self.local_initial_window;
        let Some(stream) = self.streams.get_mut(id) else {
            return self.on_closed_stream(id, "DATA on a closed stream");
        };
        if stream.recv_closed {
            return self.stream_error(id, ErrorCode::STREAM_CLOSED);
        }
        if stream.recv_window.spend(flow_len).is_err() {
            return self.stream_error(id, ErrorCode::FLOW_CONTROL_ERROR);
        }
        stream.received += data.data.len() as u64;
        let too_long = stream.content_length.is_some_and(|length| {
            stream.received > length || (data.end_stream && stream.received != length)
        });
        if too_long {
            return self.stream_error(id, ErrorCode::PROTOCOL_ERROR);
        }
        let mut credit = None;
        if data.end_stream {
            stream.recv_closed = true;
        } else {
            // We discard request bodies, so the credit goes back at once (in batches).
            stream.recv_unreturned += flow_len as u32;
            if stream.recv_unreturned >= local_initial / 2 && stream.recv_unreturned > 0 {
                credit = Some(stream.recv_unreturned);
                let _ = stream.recv_window.grow(i64::from(stream.recv_unreturned));
                stream.recv_unreturned = 0;
            }
        }
        if let Some(increment) = credit {
            self.queue(Frame::WindowUpdate(frame::WindowUpdate {
                stream: id,
                increment,
            }));
        }
        if !data.data.is_empty() || data.end_stream {
            self.events.push_back(Event::Data {
                stream: id,
                len: data.data.len(),
                end_stream: data.end_stream,
            });
        }
        self.streams.close_if_finished(id);
        Ok(())
    }

    fn return_connection_credit(&mut self, spent: u32) {
        self.recv_unreturned += spent;
        if self.recv_unreturned >= RETURN_CREDIT_AT {
            let increment = self.recv_unreturned;
            self.recv_unreturned = 0;
            let _ = self.recv_window.grow(i64::from(increment));
            self.queue(Frame::WindowUpdate(frame::WindowUpdate {
                stream: StreamId::CONNECTION,
                increment,
            }));
        }
    }
    // ANCHOR_END: data

    fn count_empty_frame(&mut self) -> Result<(), ConnectionError> {
        self.empty_frames += 1;
        if self.empty_frames > MAX_EMPTY_FRAMES {
            return fail(ErrorCode::ENHANCE_YOUR_CALM, "too many empty frames");
        }
        Ok(())
    }

    /// DATA or HEADERS on a stream that has closed (§5.1): what it means depends on how.
    fn on_closed_stream(
        &mut self,
        id: StreamId,
        reason: &'static str,
    ) -> Result<(), ConnectionError> {
        match self.streams.how_closed(id) {
            // Frames the peer sent before it saw our RST_STREAM: ignored.
            Some(Closed::ResetByUs) => Ok(()),
            Some(Closed::ResetByPeer) => self.stream_error(id, ErrorCode::STREAM_CLOSED),
            Some(Closed::Finished) | None => fail(ErrorCode::STREAM_CLOSED, reason),
        }
    }

    fn on_headers(&mut self, headers: frame::Headers<'_>) -> Result<(), ConnectionError> {
        let mut block = HeaderBlock {
            stream: headers.stream,
            end_stream: headers.end_stream,
            depends_on_itself: headers
                .priority
                .is_some_and(|spec| spec.depends_on == headers.stream),
            fragments: Vec::new(),
        };
        if headers.end_headers {
            // The common case: a whole block in one frame, decoded straight from the input.
            return self.on_header_block(&block, headers.fragment);
        }
        self.check_block_size(headers.fragment.len())?;
        block.fragments.extend_from_slice(headers.fragment);
        self.block = Some(block);
        Ok(())
    }

    fn check_block_size(&self, len: usize) -> Result<(), ConnectionError> {
        let limit = MAX_HEADER_BLOCK.max(self.settings.max_header_list_size as usize);
        if len > limit {
            return fail(ErrorCode::ENHANCE_YOUR_CALM, "header block too large");
        }
        Ok(())
    }

    fn on_continuation(
        &mut self,
        continuation: frame::Continuation<'_>,
    ) -> Result<(), ConnectionError> {
        // (A CONTINUATION of another stream inside a block was refused in `frame`.)
        let Some(mut block) = self.block.take() else {
            return fail(
                ErrorCode::PROTOCOL_ERROR,
                "CONTINUATION without a header block",
            );
        };
        self.check_block_size(block.fragments.len() + continuation.fragment.len())?;
        if continuation.fragment.is_empty() && !continuation.end_headers {
            self.count_empty_frame()?;
        }
        block.fragments.extend_from_slice(continuation.fragment);
        if !continuation.end_headers {
            self.block = Some(block);
            return Ok(());
        }
        let fragments = std::mem::take(&mut block.fragments);
        self.on_header_block(&block, &fragments)
    }

    // ANCHOR: header_block
    /// A whole header block: decoded first, always, since HPACK's table must see every block
    /// the peer encoded (§4.3), even one for a stream we will reset or ignore.
    fn on_header_block(
        &mut self,
        block: &HeaderBlock,
        encoded: &[u8],
    ) -> Result<(), ConnectionError> {
        let id = block.stream;
        let mut fields = Vec::new();
        let max_list = self.settings.max_header_list_size as usize;
        let too_large = match self.decoder.decode(encoded, max_list, &mut |name, value| {
            fields.push((name.to_vec(), value.to_vec()))
        }) {
            Ok(()) => false,
            Err(DecodeError::ListTooLarge) => true,
            Err(DecodeError::Compression(reason)) => {
                return fail(ErrorCode::COMPRESSION_ERROR, reason)
            }
        };
        if !id.is_client_initiated() {
            return fail(ErrorCode::PROTOCOL_ERROR, "HEADERS on an even stream id");
        }
        if let Some(stream) = self.streams.get(id) {
            return self.on_trailers(id, stream.recv_closed, block.end_stream, too_large, &fields);
        }
        if id <= self.last_stream {
            return match self.streams.how_closed(id) {
                Some(_) => self.on_closed_stream(id, "HEADERS on a closed stream"),
                None => fail(
                    ErrorCode::PROTOCOL_ERROR,
                    "stream id not above the last one",
                ),
            };
        }
        // A new stream: it implicitly closes every idle one below it (§5.1.1).
        self.last_stream = id;
        self.streams_opened += 1;
        self.empty_frames = 0;
        if let Shutdown::Final(last) = self.shutdown {
            if id > last {
                // After the final GOAWAY: not processed, and the client knows it (§6.8).
                self.streams.remember(id, Closed::ResetByUs);
                return Ok(());
            }
        }
        if block.depends_on_itself {
            return self.refuse(id, ErrorCode::PROTOCOL_ERROR);
        }
        if too_large {
            return self.answer_431(id, block.end_stream);
        }
        if self.streams.active() >= self.settings.max_concurrent_streams as usize {
            return self.refuse(id, ErrorCode::REFUSED_STREAM);
        }
        let (head, content_length) = match head::request(fields) {
            Ok(parsed) => parsed,
            Err(_malformed) => return self.refuse(id, ErrorCode::PROTOCOL_ERROR),
        };
        if block.end_stream && content_length.is_some_and(|length| length != 0) {
            return self.refuse(id, ErrorCode::PROTOCOL_ERROR);
        }
        self.streams.insert(
            id,
            Stream {
                recv_closed: block.end_stream,
                send_closed: false,
                headers_sent: false,
                send_window: Window::new(self.peer_initial_window),
                recv_window: Window::new(self.local_initial_window),
                recv_unreturned: 0,
                content_length,
                received: 0,
            },
        );
        self.unpolled.insert(id);
        self.events.push_back(Event::Request {
            stream: id,
            head,
            end_stream: block.end_stream,
        });
        if id == StreamId::MAX {
            // Stream-id exhaustion: the client can open no more streams on this connection.
            // Say so with our final GOAWAY, so it opens a new connection for the next request.
            self.final_goaway();
        }
        Ok(())
    }
    // ANCHOR_END: header_block

    /// A second HEADERS on an open stream: trailers (§8.1), which must end the stream.
    fn on_trailers(
        &mut self,
        id: StreamId,
        recv_closed: bool,
        end_stream: bool,
        too_large: bool,
        fields: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), ConnectionError> {
        if recv_closed {
            return self.stream_error(id, ErrorCode::STREAM_CLOSED);
        }
        if too_large {
            return self.stream_error(id, ErrorCode::ENHANCE_YOUR_CALM);
        }
        if !end_stream || head::trailers(fields).is_err() {
            return self.stream_error(id, ErrorCode::PROTOCOL_ERROR);
        }
        let Some(stream) = self.streams.get_mut(id) else {
            return Ok(());
        };
        if stream
            .content_length
            .is_some_and(|length| length != stream.received)
        {
            return self.stream_error(id, ErrorCode::PROTOCOL_ERROR);
        }
        stream.recv_closed = true;
        self.events.push_back(Event::Data {
            stream: id,
            len: 0,
            end_stream: true,
        });
        self.streams.close_if_finished(id);
        Ok(())
    }

    /// Resets a stream that never became a request (refused, malformed).
    fn refuse(&mut self, id: StreamId, code: ErrorCode) -> Result<(), ConnectionError> {
        self.streams.remember(id, Closed::ResetByUs);
        self.control_reply(Frame::RstStream(frame::RstStream { stream: id, code }))
    }

    /// A header list past SETTINGS_MAX_HEADER_LIST_SIZE (the HPACK bomb's target): the
    /// decoder stopped keeping fields at the bound, and the one request gets 431 (RFC 6585),
    /// written here because no `Request` event will ever name it.
    fn answer_431(&mut self, id: StreamId, end_stream: bool) -> Result<(), ConnectionError> {
        self.reserve_control()?;
        self.write_head(id, 431, &[], true);
        self.mark_control();
        if end_stream {
            self.streams.remember(id, Closed::Finished);
            return Ok(());
        }
        // The response is complete; its body is not wanted (§8.1).
        self.refuse(id, ErrorCode::NO_ERROR)
    }

    /// A stream error (§5.4.2): RST_STREAM, and the stream is gone.
    fn stream_error(&mut self, id: StreamId, code: ErrorCode) -> Result<(), ConnectionError> {
        if self.streams.close(id, Closed::ResetByUs).is_some() {
            self.gone(id, code);
        }
        self.control_reply(Frame::RstStream(frame::RstStream { stream: id, code }))
    }

    /// Tells the caller a stream is gone: a `Reset` event, or, if its `Request` was never
    /// polled, the withdrawal of its events (the caller never hears of it).
    fn gone(&mut self, id: StreamId, code: ErrorCode) {
        if self.unpolled.remove(&id) {
            self.withdrawn.insert(id);
        } else {
            self.events.push_back(Event::Reset { stream: id, code });
        }
    }

    fn on_rst_stream(&mut self, rst: frame::RstStream) -> Result<(), ConnectionError> {
        if self.is_idle_stream(rst.stream) {
            return fail(ErrorCode::PROTOCOL_ERROR, "RST_STREAM on an idle stream");
        }
        // On a closed stream it is ignored: it may have crossed our END_STREAM.
        if let Some(stream) = self.streams.close(rst.stream, Closed::ResetByPeer) {
            self.gone(rst.stream, rst.code);
            if !stream.send_closed {
                self.peer_resets += 1;
                if self.peer_resets > RESET_ALLOWANCE
                    && self.peer_resets * RESET_SHARE > self.streams_opened
                {
                    return fail(
                        ErrorCode::ENHANCE_YOUR_CALM,
                        "too many streams reset (rapid reset)",
                    );
                }
            }
        }
        Ok(())
    }

    fn on_settings(&mut self, settings: frame::SettingsFrame) -> Result<(), ConnectionError> {
        if settings.ack {
            if !self.settings_acked {
                // Our SETTINGS now apply: every stream's receive window moves by the difference.
                self.settings_acked = true;
                let delta = i64::from(self.settings.initial_window_size)
                    - i64::from(self.local_initial_window);
                self.local_initial_window = self.settings.initial_window_size;
                for stream in self.streams.iter_mut() {
                    let _ = stream.recv_window.grow(delta);
                }
            }
            return Ok(());
        }
        if let Some(size) = settings.header_table_size {
            self.encoder.set_max_table_size(size as usize);
        }
        if let Some(size) = settings.max_frame_size {
            self.peer_max_frame_size = size;
        }
        if let Some(size) = settings.initial_window_size {
            // Applies to every open stream at once, and may make windows negative (§6.9.2).
            let delta = i64::from(size) - i64::from(self.peer_initial_window);
            self.peer_initial_window = size;
            for stream in self.streams.iter_mut() {
                if stream.send_window.grow(delta).is_err() {
                    return fail(ErrorCode::FLOW_CONTROL_ERROR, "a stream window past 2^31-1");
                }
            }
            if delta > 0 {
                self.window_opened();
            }
        }
        self.control_reply(Frame::Settings(frame::SettingsFrame::ack()))
    }

    fn on_ping(&mut self, ping: frame::Ping) -> Result<(), ConnectionError> {
        if ping.ack {
            if ping.payload == SHUTDOWN_PING && self.shutdown == Shutdown::Announced {
                self.final_goaway();
            }
            return Ok(());
        }
        self.control_reply(Frame::Ping(frame::Ping {
            ack: true,
            payload: ping.payload,
        }))
    }

    fn on_window_update(&mut self, update: frame::WindowUpdate) -> Result<(), ConnectionError> {
        let id = update.stream;
        let increment = i64::from(update.increment);
        if id.is_connection() {
            if self.send_window.grow(increment).is_err() {
                return fail(
                    ErrorCode::FLOW_CONTROL_ERROR,
                    "connection window past 2^31-1",
                );
            }
        } else if self.is_idle_stream(id) {
            return fail(ErrorCode::PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
        } else if let Some(stream) = self.streams.get_mut(id) {
            if stream.send_window.grow(increment).is_err() {
                return self.stream_error(id, ErrorCode::FLOW_CONTROL_ERROR);
            }
        } else {
            // A closed stream: the update may have crossed our END_STREAM (§5.1).
            return Ok(());
        }
        self.window_opened();
        Ok(())
    }

    fn window_opened(&mut self) {
        if !self.window_event_queued {
            self.window_event_queued = true;
            self.events.push_back(Event::WindowOpened);
        }
    }

    // --- Sending ---------------------------------------------------------------------------

    /// The stream if we may still send on it.
    fn sendable(&self, id: StreamId) -> Option<&Stream> {
        if self.error.is_some() {
            return None;
        }
        self.streams.get(id).filter(|s| !s.send_closed)
    }

    /// HEADERS and as many CONTINUATIONs as the peer's max frame size needs, back to back
    /// (nothing may come between them, §6.10).
    fn write_head(
        &mut self,
        stream: StreamId,
        status: u16,
        fields: &[Field<'_>],
        end_stream: bool,
    ) {
        let status = status.to_string();
        let mut all = Vec::with_capacity(fields.len() + 1);
        all.push(Field::new(b":status", status.as_bytes()));
        all.extend_from_slice(fields);
        let mut block = Vec::new();
        self.encoder.encode(&all, &mut block);
        let mut pieces = block.chunks(self.peer_max_frame_size as usize);
        let first = pieces.next().unwrap_or(&[]);
        let mut rest = pieces.peekable();
        self.queue(Frame::Headers(frame::Headers {
            stream,
            fragment: first,
            end_stream,
            end_headers: rest.peek().is_none(),
            priority: None,
            pad: None,
        }));
        while let Some(piece) = rest.next() {
            let end_headers = rest.peek().is_none();
            self.queue(Frame::Continuation(frame::Continuation {
                stream,
                fragment: piece,
                end_headers,
            }));
        }
    }

    fn final_goaway(&mut self) {
        let last_stream = self.last_stream;
        self.shutdown = Shutdown::Final(last_stream);
        self.queue(Frame::GoAway(frame::GoAway {
            last_stream,
            code: ErrorCode::NO_ERROR,
            debug: b"",
        }));
    }

    fn queue(&mut self, frame: Frame<'_>) {
        let before = self.output.len();
        frame.write(&mut self.output);
        self.queued_total += (self.output.len() - before) as u64;
    }

    // ANCHOR: control_replies
    /// A reply the peer's frames asked for, bounded by MAX_PENDING_CONTROL.
    fn control_reply(&mut self, frame: Frame<'_>) -> Result<(), ConnectionError> {
        self.reserve_control()?;
        self.queue(frame);
        self.mark_control();
        Ok(())
    }

    fn reserve_control(&mut self) -> Result<(), ConnectionError> {
        // Replies that end before what the caller has written are out of our hands: forget them.
        let written = self.queued_total - self.output.len() as u64;
        while self
            .pending_control
            .front()
            .is_some_and(|&end| end <= written)
        {
            self.pending_control.pop_front();
        }
        if self.pending_control.len() >= MAX_PENDING_CONTROL {
            return fail(
                ErrorCode::ENHANCE_YOUR_CALM,
                "control replies not read (flood)",
            );
        }
        Ok(())
    }

    fn mark_control(&mut self) {
        self.pending_control.push_back(self.queued_total);
    }
    // ANCHOR_END: control_replies
}

fn fail<T>(code: ErrorCode, reason: &'static str) -> Result<T, ConnectionError> {
    Err(ConnectionError { code, reason })
}
