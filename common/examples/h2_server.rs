//! The smallest server on `common::h2::Connection`: cleartext HTTP/2 (prior knowledge), one
//! connection at a time, blocking reads and writes. It exists so that tests/h2/peer.py can
//! check the sans-IO core against an independent client (Python's `h2`) without stage07, and
//! to show the connection's loop whole: bytes in, events out, answers within capacity.
//!
//!   cargo run -p common --features h2 --example h2_server -- 0   # prints its port
//!
//! `/` answers a short text, `/big` 100,000 bytes (more than one window, so it waits for
//! WINDOW_UPDATEs), anything else 404. It is a test fixture, not a server: no timeouts.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use common::h2::{Connection, Event, Field, Settings, StreamId};

/// Bodies still to send, by stream: what the windows did not let out yet.
type Pending = HashMap<StreamId, (Vec<u8>, usize)>;

fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "0".into());
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))?;
    // The readiness line a script waits for.
    println!("h2_server: listening on {}", listener.local_addr()?);
    for socket in listener.incoming() {
        if let Err(err) = serve(socket?) {
            eprintln!("h2_server: connection ended: {err}");
        }
    }
    Ok(())
}

fn serve(mut socket: TcpStream) -> std::io::Result<()> {
    let mut conn = Connection::server(Settings::default());
    let mut pending = Pending::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        flush(&mut conn, &mut socket)?;
        if conn.is_done() {
            return Ok(());
        }
        let n = socket.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if let Err(err) = conn.receive(&buf[..n]) {
            // The GOAWAY is queued: write it, then close.
            flush(&mut conn, &mut socket)?;
            eprintln!("h2_server: {:?} ({})", err.code, err.reason);
            return Ok(());
        }
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Request { stream, head, .. } => {
                    let body = match head.path.as_str() {
                        "/" => b"hello from common::h2\n".to_vec(),
                        "/big" => (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect(),
                        _ => {
                            let _ = conn.send_headers(stream, 404, &[], true);
                            continue;
                        }
                    };
                    let length = body.len().to_string();
                    let fields = [
                        Field::new(b"content-type", b"text/plain"),
                        Field::new(b"content-length", length.as_bytes()),
                    ];
                    if conn.send_headers(stream, 200, &fields, false).is_ok() {
                        pending.insert(stream, (body, 0));
                    }
                }
                Event::Reset { stream, .. } => {
                    pending.remove(&stream);
                }
                Event::Data { .. } | Event::WindowOpened | Event::GoAway { .. } => {}
            }
        }
        send_bodies(&mut conn, &mut pending);
    }
}

/// Each waiting body sends what its capacity allows now; finished ones leave.
fn send_bodies(conn: &mut Connection, pending: &mut Pending) {
    pending.retain(|&stream, (body, sent)| {
        let n = conn.capacity(stream).min(body.len() - *sent);
        let end = *sent + n == body.len();
        if (n > 0 || end)
            && conn
                .send_data(stream, &body[*sent..*sent + n], end)
                .is_err()
        {
            return false;
        }
        *sent += n;
        !end
    });
}

fn flush(conn: &mut Connection, socket: &mut TcpStream) -> std::io::Result<()> {
    let out = conn.output();
    socket.write_all(out)?;
    out.clear();
    Ok(())
}
