//! What carries a connection's bytes: plain TCP, or TLS over TCP.
//!
//! A session (HTTP/1.1, or whatever it hands the connection to) reads and writes
//! *application* bytes and never asks which transport it is on. [`Plain`] passes them to the
//! socket as they are, and sends files with `sendfile` (stage05's zero-copy path). [`Tls`]
//! puts rustls's `ServerConnection` in between, a sans-IO state machine as in stage06: we hand
//! it the ciphertext we read, take out the plaintext, give it plaintext to send and move the
//! ciphertext it made to the socket; a file is read in record-sized pieces and encrypted.
//!
//! Every method does at most what the socket takes *now* and never blocks: the loop's
//! readiness says when to call again.

use crate::sendfile::{send_file, write_more};
use common::FileBody;
use rustls::ServerConnection;
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::Arc;

// ANCHOR: transport
/// A connection's byte carrier, as the loop and the sessions see it.
pub trait Transport: Sized + 'static {
    /// What every connection of a loop shares: nothing for TCP, the certificates for TLS.
    type Config;

    /// Wraps a freshly accepted (non-blocking) socket.
    fn new(socket: TcpStream, config: &Self::Config) -> io::Result<Self>;

    /// The socket, for the poller, `peek`, `shutdown` and the lingering reads.
    fn socket(&self) -> &TcpStream;

    /// The client's address, for the log: the socket's peer, unless a PROXY header named the
    /// real client (`set_peer`). A session that starts after a hand-off (HTTP/2) asks here.
    fn peer(&self) -> Option<IpAddr>;

    /// The client a PROXY header named (see `proxy.rs`), for every later `peer`.
    fn set_peer(&mut self, peer: IpAddr);

    /// One read from the socket (at most one system call). Every application byte it brings
    /// is passed to `deliver`, in order, before this returns.
    fn receive(&mut self, buf: &mut [u8], deliver: &mut dyn FnMut(&[u8])) -> io::Result<Received>;

    /// Takes as much of `bytes` as it can now and returns how much. `more`: file bytes follow
    /// at once, so a small head may wait for them to share a segment.
    fn send(&mut self, bytes: &[u8], more: bool) -> io::Result<usize>;

    /// Sends up to `max` bytes of `file` (one piece), advancing it by what went.
    fn send_file(&mut self, file: &mut FileBody, max: u64) -> io::Result<Piece>;

    /// Moves bytes of the transport's own (TLS records not yet written) to the socket;
    /// `true` once none are left.
    fn flush(&mut self) -> io::Result<bool>;

    /// The transport has bytes of its own to send: a handshake reply, a ticket, an alert.
    fn wants_write(&self) -> bool;

    /// Still agreeing on keys: the session has nothing to read yet.
    fn is_handshaking(&self) -> bool;

    /// The application protocol the handshake chose (ALPN), if any.
    fn protocol(&self) -> Option<&[u8]>;

    /// Bytes the socket has taken so far: a session compares it before and after a write to
    /// know whether the client is still reading (the send timeout runs from the last change).
    fn sent(&self) -> u64;

    /// Says "this end is deliberate" before the socket closes, best effort: TLS's
    /// close_notify (a cut without one could be an attack truncating the response). The loop
    /// calls it on every close; calling it twice sends it once.
    fn goodbye(&mut self);
}

/// What a read found, beside the bytes it delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// The connection is still open (perhaps nothing was there after all).
    Open,
    /// The client will send nothing more: a TCP FIN, or a TLS close_notify. What it sent
    /// before still deserves its answers.
    Closed,
}

/// One piece of a file sent: how many bytes went, and whether the socket is now full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub sent: u64,
    pub full: bool,
}
// ANCHOR_END: transport

/// Plain TCP: application bytes are socket bytes.
pub struct Plain {
    socket: TcpStream,
    sent: u64,
    /// Set by a PROXY header (else the socket's peer is the client).
    peer: Option<IpAddr>,
}

impl Transport for Plain {
    type Config = ();

    fn new(socket: TcpStream, _: &()) -> io::Result<Plain> {
        Ok(Plain {
            socket,
            sent: 0,
            peer: None,
        })
    }

    fn socket(&self) -> &TcpStream {
        &self.socket
    }

    fn peer(&self) -> Option<IpAddr> {
        self.peer
            .or_else(|| Some(self.socket.peer_addr().ok()?.ip()))
    }

    fn set_peer(&mut self, peer: IpAddr) {
        self.peer = Some(peer);
    }

    fn receive(&mut self, buf: &mut [u8], deliver: &mut dyn FnMut(&[u8])) -> io::Result<Received> {
        match self.socket.read(buf) {
            Ok(0) => Ok(Received::Closed),
            Ok(n) => {
                deliver(&buf[..n]);
                Ok(Received::Open)
            }
            Err(e) if is_transient(&e) => Ok(Received::Open),
            Err(e) => Err(e),
        }
    }

    fn send(&mut self, bytes: &[u8], more: bool) -> io::Result<usize> {
        let mut written = 0;
        while written < bytes.len() {
            // A head whose file follows waits for the file's first bytes (see `write_more`).
            let result = if more {
                write_more(&self.socket, &bytes[written..])
            } else {
                (&self.socket).write(&bytes[written..])
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    written += n;
                    self.sent += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }

    fn send_file(&mut self, body: &mut FileBody, max: u64) -> io::Result<Piece> {
        let count = body.len.min(max).min(1 << 30) as usize;
        match send_file(&self.socket, &body.file, &mut body.offset, count) {
            // The file shrank: the promised Content-Length cannot be kept. Close.
            Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank")),
            Ok(n) => {
                body.len -= n as u64;
                self.sent += n as u64;
                // Less than asked: the socket's buffer is full. Asking again at once gets a
                // segment at a time as the client reads; the kernel reports writable again
                // when half the buffer is free, a piece worth a call.
                Ok(Piece {
                    sent: n as u64,
                    full: n < count,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Piece {
                sent: 0,
                full: false,
            }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Piece {
                sent: 0,
                full: true,
            }),
            Err(e) => Err(e),
        }
    }

    fn flush(&mut self) -> io::Result<bool> {
        Ok(true)
    }

    fn wants_write(&self) -> bool {
        false
    }

    fn is_handshaking(&self) -> bool {
        false
    }

    fn protocol(&self) -> Option<&[u8]> {
        None
    }

    fn sent(&self) -> u64 {
        self.sent
    }

    fn goodbye(&mut self) {}
}

/// Most ciphertext rustls may hold for one connection before `writer()` stops taking
/// plaintext (its default is unbounded). Past it, what a session still owes waits in its own
/// buffer, whose growth the session bounds.
pub const TLS_BUFFER_LIMIT: usize = 64 * 1024;
/// A file is encrypted in pieces of one TLS record's worth of plaintext (16 KiB, the maximum).
const TLS_CHUNK: usize = 16 * 1024;

/// TLS over TCP, by rustls.
pub struct Tls {
    socket: TcpStream,
    /// The TLS state machine: handshake, then record encryption and decryption.
    tls: ServerConnection,
    sent: u64,
    /// The handshake or a record failed: rustls has queued its alert, and nothing more (a
    /// close_notify after a fatal alert would be noise) will follow it.
    failed: bool,
    said_goodbye: bool,
    /// Set by a PROXY header (else the socket's peer is the client).
    peer: Option<IpAddr>,
}

impl Transport for Tls {
    /// Certificates, protocol versions and ALPN, shared by every connection.
    type Config = Arc<rustls::ServerConfig>;

    fn new(socket: TcpStream, config: &Arc<rustls::ServerConfig>) -> io::Result<Tls> {
        // A fresh TLS state machine per connection, over the shared configuration.
        let mut tls = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        tls.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Ok(Tls {
            socket,
            tls,
            sent: 0,
            failed: false,
            said_goodbye: false,
            peer: None,
        })
    }

    fn socket(&self) -> &TcpStream {
        &self.socket
    }

    fn peer(&self) -> Option<IpAddr> {
        self.peer
            .or_else(|| Some(self.socket.peer_addr().ok()?.ip()))
    }

    fn set_peer(&mut self, peer: IpAddr) {
        self.peer = Some(peer);
    }

    // ANCHOR: plaintext
    /// One read of ciphertext, then every decrypted byte out of rustls and into `deliver`.
    /// All of it is taken now: plaintext left inside rustls would never wake the poller again.
    fn receive(&mut self, buf: &mut [u8], deliver: &mut dyn FnMut(&[u8])) -> io::Result<Received> {
        match self.tls.read_tls(&mut self.socket) {
            Ok(0) => return Ok(Received::Closed),
            Ok(_) => {}
            Err(e) if is_transient(&e) => return Ok(Received::Open),
            Err(e) => return Err(e),
        }
        if let Err(e) = self.tls.process_new_packets() {
            // Not TLS (plaintext HTTP, a port scanner, garbage) or a handshake we refuse
            // (TLS 1.1, no shared cipher or ALPN): rustls has queued an alert. Send it if the
            // socket takes it now, and close this connection only.
            self.failed = true;
            let _ = self.flush();
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        loop {
            match self.tls.reader().read(buf) {
                // close_notify: the client's last word. What came before it is answered.
                Ok(0) => return Ok(Received::Closed),
                Ok(n) => deliver(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Received::Open),
                // A cut without close_notify.
                Err(_) => return Ok(Received::Closed),
            }
        }
    }
    // ANCHOR_END: plaintext

    fn send(&mut self, bytes: &[u8], _more: bool) -> io::Result<usize> {
        let mut written = 0;
        loop {
            if !self.flush()? || written == bytes.len() {
                return Ok(written);
            }
            match self.tls.writer().write(&bytes[written..])? {
                // (Only before the handshake ends, which never has a response to send.)
                0 => return Ok(written),
                n => written += n,
            }
        }
    }

    // ANCHOR: send_file
    /// No sendfile here: sendfile copies file pages to the socket inside the kernel, but under
    /// TLS every byte must be encrypted first, in user space, by rustls (kernel TLS, kTLS,
    /// could do it in the kernel; that is an exercise). So the file is read in record-sized
    /// pieces and each is encrypted into rustls's buffer, one at a time, only once the
    /// previous ciphertext has gone: memory stays flat for a 4 GiB file.
    fn send_file(&mut self, body: &mut FileBody, max: u64) -> io::Result<Piece> {
        if !self.flush()? {
            return Ok(Piece {
                sent: 0,
                full: true,
            });
        }
        let mut chunk = [0u8; TLS_CHUNK];
        let want = TLS_CHUNK.min(usize::try_from(max).unwrap_or(TLS_CHUNK));
        // A file that shrank fails here: the promised Content-Length cannot be kept. Close.
        let n = body.read_chunk(&mut chunk[..want])?;
        let taken = self.tls.writer().write(&chunk[..n])?;
        if taken < n {
            // (rustls's buffer was just emptied, so this does not happen; if it did, the rest
            // is read again next time: positional reads make stepping back free.)
            body.offset -= (n - taken) as u64;
            body.len += (n - taken) as u64;
        }
        Ok(Piece {
            sent: taken as u64,
            full: taken < n,
        })
    }
    // ANCHOR_END: send_file

    // ANCHOR: send_tls
    /// Moves the ciphertext rustls has ready to the socket; `true` when all of it went.
    fn flush(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.socket) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
    // ANCHOR_END: send_tls

    fn wants_write(&self) -> bool {
        self.tls.wants_write()
    }

    fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    fn protocol(&self) -> Option<&[u8]> {
        self.tls.alpn_protocol()
    }

    fn sent(&self) -> u64 {
        self.sent
    }

    fn goodbye(&mut self) {
        if self.failed || self.said_goodbye {
            return;
        }
        self.said_goodbye = true;
        self.tls.send_close_notify();
        let _ = self.flush();
    }
}

/// Errors that mean "nothing now, try again later", not "this connection is broken".
pub(crate) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
