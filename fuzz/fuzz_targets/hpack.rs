//! libFuzzer target: arbitrary header blocks through common's HPACK decoder, over one
//! connection. The decoder must never panic, its table never pass its size, and whatever it
//! decodes must survive a round trip: re-encoded by our encoder (a second connection, so its
//! table fills too) and decoded again, it is the same list.
//!
//! The input: one byte of settings (Huffman mode, header list bound), then blocks, each
//! preceded by its length in one byte, so that the fuzzer can grow a sequence of blocks whose
//! later ones index what earlier ones inserted.
#![no_main]

use common::h2::hpack::{DecodeError, Decoder, Encoder, Field, Huffman, DEFAULT_TABLE_SIZE};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&settings, mut rest)) = data.split_first() else { return };
    let huffman = [Huffman::WhenShorter, Huffman::Never, Huffman::Always][settings as usize % 3];
    // A small bound makes ListTooLarge reachable; the large one lets bombs through to the
    // round trip (bounded anyway: 64 KiB of list).
    let max_list = if settings & 0x80 != 0 { 256 } else { 64 * 1024 };

    let mut peer = Decoder::new(DEFAULT_TABLE_SIZE);
    let mut encoder = Encoder::new();
    encoder.set_huffman(huffman);
    let mut decoder = Decoder::new(DEFAULT_TABLE_SIZE);

    while let Some((&len, tail)) = rest.split_first() {
        let (block, tail) = tail.split_at((len as usize).min(tail.len()));
        rest = tail;

        let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let result = peer.decode(block, max_list, &mut |n, v| fields.push((n.to_vec(), v.to_vec())));
        assert!(peer.table_size() <= DEFAULT_TABLE_SIZE);
        match result {
            // A malformed block ends the connection (COMPRESSION_ERROR): nothing follows.
            Err(DecodeError::Compression(_)) => return,
            // The fields handed over before the bound are a valid list too.
            Err(DecodeError::ListTooLarge) | Ok(()) => {}
        }
        let size: usize = fields.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
        assert!(size <= max_list, "the bound held");

        let list: Vec<Field<'_>> = fields.iter().map(|(n, v)| Field::new(n, v)).collect();
        let mut reencoded = Vec::new();
        encoder.encode(&list, &mut reencoded);
        let mut again = Vec::new();
        decoder
            .decode(&reencoded, usize::MAX, &mut |n, v| again.push((n.to_vec(), v.to_vec())))
            .expect("our own block decodes");
        assert_eq!(again, fields, "round trip");
        assert_eq!(encoder.table_size(), decoder.table_size(), "tables in step");
    }
});
