//! Socket helpers for the blocking stages (01 to 04), which own a `TcpStream` per connection.

use crate::response::{Body, CHUNK_SIZE};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// How long, and how much, we keep reading after our last response before closing.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;

// ANCHOR: lingering_close
/// Closes a connection without destroying the response we just wrote.
///
/// If the client's bytes are still unread when we `close()` (say we refused a huge head after
/// reading only part of it), the kernel answers with a TCP reset, and the reset can overtake
/// our response and make the client discard it. So: send FIN first (`shutdown(Write)`), then
/// read and discard until the client closes too, within a bound of time and bytes. nginx calls
/// this `lingering_close`.
pub fn lingering_close(stream: &mut TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_TIME;
    let mut drained = 0;
    let mut scratch = [0u8; 16 * 1024];
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut scratch) {
            Ok(0) => return,
            Ok(n) => drained += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
// ANCHOR_END: lingering_close

// ANCHOR: write_body
/// Sends a response body, counting in `sent` the bytes that went out (so far, if a write
/// fails: the access log records what the client got). A file is copied in bounded chunks, so
/// serving a 4 GiB video takes 64 KiB of memory, not 4 GiB.
pub fn write_body(stream: &mut TcpStream, body: Body, sent: &mut u64) -> io::Result<()> {
    match body {
        Body::Empty => Ok(()),
        Body::Bytes(bytes) => {
            stream.write_all(&bytes)?;
            *sent = bytes.len() as u64;
            Ok(())
        }
        Body::File(mut file) => {
            // No bigger than the file: a 20-byte icon needs no 64 KiB buffer.
            let size = usize::try_from(file.len).map_or(CHUNK_SIZE, |len| len.min(CHUNK_SIZE));
            let mut chunk = vec![0u8; size];
            loop {
                let n = file.read_chunk(&mut chunk)?;
                if n == 0 {
                    return Ok(());
                }
                stream.write_all(&chunk[..n])?;
                *sent += n as u64;
            }
        }
    }
}
// ANCHOR_END: write_body
