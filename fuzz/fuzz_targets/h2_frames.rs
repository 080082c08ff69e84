//! libFuzzer target: arbitrary bytes into an HTTP/2 server connection after a valid preface
//! and SETTINGS. It must never panic, and what it writes must stay bounded by what it read
//! (no amplification a peer could turn into memory): every request gets a small response
//! within its capacity, and the output is drained only when the input says so, like a peer
//! that reads slowly or never.
#![no_main]

use common::h2::{Connection, Event, Field, Settings, PREFACE};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut conn = Connection::server(Settings::default());
    let mut hello = PREFACE.to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    conn.receive(&hello).expect("a valid preface");
    conn.output().clear();
    // The first byte cuts the rest into reads of 1..=256 bytes, so frames split anywhere.
    let Some((&cut, rest)) = data.split_first() else { return };
    let read = usize::from(cut) + 1;
    let mut written = 0usize;
    for chunk in rest.chunks(read) {
        let failed = conn.receive(chunk).is_err();
        while let Some(event) = conn.poll_event() {
            if let Event::Request { stream, .. } = event {
                let fields = [Field::new(b"content-type", b"text/plain")];
                if conn.send_headers(stream, 200, &fields, false).is_ok() {
                    let body = [b'x'; 100];
                    let n = conn.capacity(stream).min(body.len());
                    conn.send_data(stream, &body[..n], n == body.len()).expect("within capacity");
                }
            }
        }
        // A read whose first byte is even lets the socket take everything written so far.
        if chunk[0] % 2 == 0 {
            written += conn.output().len();
            conn.output().clear();
        }
        if failed {
            break;
        }
    }
    // Output is bounded by the input: at most a response, a reset or a reply per few bytes.
    let total = written + conn.output().len();
    assert!(total <= 64 * data.len() + 4096, "{total} bytes out for {} in", data.len());
});
