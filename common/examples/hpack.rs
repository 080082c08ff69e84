//! Drives common's HPACK codec from outside, one connection's encoder and decoder per run,
//! for tests/hpack/run to check it against Python's independent `hpack`.
//!
//! A line in, a line out, names and values in hex (any byte may occur in either):
//!
//! ```text
//! encode MODE NAME:VALUE[:s] ...  ->  block HEX       (MODE: shorter, never or always Huffman;
//!                                                      :s marks a sensitive field)
//! decode HEX                      ->  fields NAME:VALUE ...   or   error WHY
//! size N                          ->  ok              (the peer's SETTINGS_HEADER_TABLE_SIZE)
//! reset                           ->  ok              (a new connection: fresh tables)
//! ```
//!
//! Build and run: `cargo run -p common --features h2 --example hpack`.

use std::io::{self, BufRead, Write};

use common::h2::hpack::{Decoder, Encoder, Field, Huffman, DEFAULT_TABLE_SIZE};

fn main() -> io::Result<()> {
    let stdin = io::stdin();
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(DEFAULT_TABLE_SIZE);
    for line in stdin.lock().lines() {
        let line = line?;
        let reply = match answer(&line, &mut encoder, &mut decoder) {
            Ok(reply) => reply,
            Err(why) => format!("error {why}"),
        };
        writeln!(out, "{reply}")?;
        // One answer per line, at once: the other end waits for it before the next line.
        out.flush()?;
    }
    Ok(())
}

fn answer(line: &str, encoder: &mut Encoder, decoder: &mut Decoder) -> Result<String, String> {
    let mut words = line.split_ascii_whitespace();
    match words.next() {
        Some("encode") => {
            let mode = match words.next() {
                Some("shorter") => Huffman::WhenShorter,
                Some("never") => Huffman::Never,
                Some("always") => Huffman::Always,
                other => return Err(format!("unknown Huffman mode {other:?}")),
            };
            let mut owned = Vec::new();
            for word in words {
                let mut parts = word.split(':');
                let name = unhex(parts.next().unwrap_or(""))?;
                let value = unhex(parts.next().ok_or("a field without ':'")?)?;
                let sensitive = parts.next() == Some("s");
                owned.push((name, value, sensitive));
            }
            let fields: Vec<Field<'_>> = owned
                .iter()
                .map(|(n, v, s)| Field {
                    name: n,
                    value: v,
                    sensitive: *s,
                })
                .collect();
            encoder.set_huffman(mode);
            let mut block = Vec::new();
            encoder.encode(&fields, &mut block);
            Ok(format!("block {}", hex(&block)))
        }
        Some("decode") => {
            let block = unhex(words.next().unwrap_or(""))?;
            let mut reply = String::from("fields");
            decoder
                .decode(&block, usize::MAX, &mut |name, value| {
                    reply.push(' ');
                    reply.push_str(&hex(name));
                    reply.push(':');
                    reply.push_str(&hex(value));
                })
                .map_err(|e| e.to_string())?;
            Ok(reply)
        }
        Some("size") => {
            let size = words
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or("size needs a number")?;
            encoder.set_max_table_size(size);
            Ok("ok".into())
        }
        Some("reset") => {
            *encoder = Encoder::new();
            *decoder = Decoder::new(DEFAULT_TABLE_SIZE);
            Ok("ok".into())
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return Err(format!("not hex: {s:?}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("bad hex {s:?}")))
        .collect()
}
