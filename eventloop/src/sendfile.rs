//! Sending a region of a file to a socket without a buffer of our own: `sendfile(2)`.
//!
//! Why sendfile rather than reading into a buffer and writing it: the bytes go from the page
//! cache to the socket inside the kernel, so there is no copy through user space, one system
//! call instead of two, and no buffer per connection at all: a thousand clients downloading a
//! 1 GiB file cost the server no memory beyond their sockets. On a non-blocking socket it does
//! what `write` does: sends what fits in the socket buffer and says how much (or `EAGAIN`).
//! The price comes in stage06: TLS encrypts in user space, so the bytes must pass through us,
//! and the fallback below (read a piece at an offset, write it) becomes the only way.
//!
//! One `extern "C"` declaration is all it takes; the C library already links it.

use std::fs::File;
use std::io;
use std::net::TcpStream;

// ANCHOR: sendfile
/// Sends up to `count` bytes of `file`, from `*offset`, to `socket`; advances `*offset` by
/// what was sent and returns it. `Ok(0)` means the file ended early (it shrank under us).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
pub fn send_file(
    socket: &TcpStream,
    file: &File,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    extern "C" {
        // ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count);
        // off_t is 64 bits on 64-bit Linux.
        fn sendfile(out_fd: i32, in_fd: i32, offset: *mut i64, count: usize) -> isize;
    }
    let mut position = i64::try_from(*offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))?;
    // SAFETY: both descriptors are open for the duration of the call (we hold the owners),
    // and `position` is a valid i64 the kernel reads and updates. With an offset pointer,
    // sendfile leaves the file's own position alone.
    let sent = unsafe { sendfile(socket.as_raw_fd(), file.as_raw_fd(), &mut position, count) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    *offset = position as u64;
    Ok(sent as usize)
}
// ANCHOR_END: sendfile

/// Elsewhere: read a piece at the offset, write what the socket takes, and advance by only
/// that much (the rest is read again next time; positional reads make that free of state).
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
pub fn send_file(
    socket: &TcpStream,
    file: &File,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    let mut piece = [0u8; 16 * 1024];
    let want = count.min(piece.len());
    let read = file.read_at(&mut piece[..want], *offset)?;
    if read == 0 {
        return Ok(0);
    }
    let sent = (&*socket).write(&piece[..read])?;
    *offset += sent as u64;
    Ok(sent)
}

// ANCHOR: write_more
/// Writes `bytes` (a head) saying "more is coming" (`MSG_MORE`), so that the kernel sends it
/// in one segment with the start of the file `send_file` adds next, as nginx's `tcp_nopush`
/// does with `TCP_CORK`. Why it matters: sent alone, a 250-byte head is a tiny segment before
/// megabytes of full ones, and on Linux the client's receive buffer then never grew past its
/// first 128 KiB (`ss -tmi` shows it); a 10 MiB download ran at two thirds of nginx's speed,
/// waiting on the window. Use it only when file bytes do follow: nothing else releases them.
#[cfg(target_os = "linux")]
pub fn write_more(socket: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    extern "C" {
        // ssize_t send(int sockfd, const void *buf, size_t len, int flags);
        fn send(fd: i32, buf: *const u8, len: usize, flags: i32) -> isize;
    }
    const MSG_MORE: i32 = 0x8000;
    // SAFETY: the descriptor is open (we hold the stream) and `bytes` is valid for its length.
    let sent = unsafe { send(socket.as_raw_fd(), bytes.as_ptr(), bytes.len(), MSG_MORE) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}
// ANCHOR_END: write_more

/// Elsewhere: a plain write.
#[cfg(not(target_os = "linux"))]
pub fn write_more(socket: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    use std::io::Write;
    (&*socket).write(bytes)
}
