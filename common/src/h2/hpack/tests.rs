//! RFC 7541 Appendix C byte for byte, with the dynamic table after each step; every error;
//! round trips of random header lists (a fixed-seed generator, as common's property tests).

use super::decoder::{decode_int, decode_string};
use super::encoder::{encode_int, encode_string};
use super::table::{Found, Table};
use super::{huffman, DecodeError, Decoder, Encoder, Field, Huffman};

/// The RFC's hex dumps, spaces and line breaks ignored.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn decode_all(decoder: &mut Decoder, block: &[u8]) -> Result<Vec<(String, String)>, DecodeError> {
    let mut fields = Vec::new();
    decoder.decode(block, usize::MAX, &mut |n, v| {
        fields.push((
            String::from_utf8_lossy(n).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        ))
    })?;
    Ok(fields)
}

fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|&(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn as_fields<'a>(fields: &[(&'a str, &'a str)]) -> Vec<Field<'a>> {
    fields
        .iter()
        .map(|&(n, v)| Field::new(n.as_bytes(), v.as_bytes()))
        .collect()
}

/// The dynamic table, newest first, as the RFC prints it: entries and total size.
fn table_of(table: &Table) -> (Vec<(String, String)>, usize) {
    let entries = table
        .dynamic()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect();
    (entries, table.size())
}

// ---- C.1 integers ----

#[test]
fn c1_integers() {
    // C.1.1: 10 with a 5-bit prefix; C.1.2: 1337 with a 5-bit prefix; C.1.3: 42 at an octet.
    for (value, prefix, bytes) in [(10, 5, "0a"), (1337, 5, "1f9a0a"), (42, 8, "2a")] {
        let mut out = Vec::new();
        encode_int(value, prefix, 0, &mut out);
        assert_eq!(out, hex(bytes), "encoding {value}");
        let mut pos = 0;
        assert_eq!(decode_int(&out, &mut pos, prefix), Ok(value));
        assert_eq!(pos, out.len());
    }
    // The bits above the prefix belong to the representation and are ignored.
    let mut pos = 0;
    assert_eq!(decode_int(&[0xea], &mut pos, 5), Ok(10));
}

#[test]
fn integer_edges() {
    // Exactly the prefix's maximum needs a zero continuation byte.
    let mut out = Vec::new();
    encode_int(31, 5, 0, &mut out);
    assert_eq!(out, [0x1f, 0x00]);
    for value in [
        0,
        1,
        30,
        31,
        32,
        126,
        127,
        128,
        255,
        16383,
        16384,
        1 << 21,
        u32::MAX as usize,
    ] {
        for prefix in 1..=8 {
            let mut out = Vec::new();
            encode_int(value, prefix, 0, &mut out);
            let mut pos = 0;
            assert_eq!(
                decode_int(&out, &mut pos, prefix),
                Ok(value),
                "{value} prefix {prefix}"
            );
            assert_eq!(pos, out.len());
        }
    }
}

// ---- C.2 header field representations (one block each, fresh tables) ----

#[test]
fn c2_1_literal_with_indexing() {
    let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    let mut decoder = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut decoder, &block).unwrap(),
        owned(&[("custom-key", "custom-header")])
    );
    assert_eq!(
        table_of(decoder.table()),
        (owned(&[("custom-key", "custom-header")]), 55)
    );

    let mut encoder = Encoder::new();
    encoder.set_huffman(Huffman::Never);
    let mut out = Vec::new();
    encoder.encode(&as_fields(&[("custom-key", "custom-header")]), &mut out);
    assert_eq!(out, block);
    assert_eq!(table_of(encoder.table()), table_of(decoder.table()));
}

#[test]
fn c2_2_literal_without_indexing() {
    let block = hex("040c 2f73 616d 706c 652f 7061 7468");
    let mut decoder = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut decoder, &block).unwrap(),
        owned(&[(":path", "/sample/path")])
    );
    assert_eq!(table_of(decoder.table()), (vec![], 0));
    // Our encoder would index `:path`; the representation itself, written by hand:
    let mut out = Vec::new();
    encode_int(4, 4, 0x00, &mut out);
    encode_string(b"/sample/path", Huffman::Never, &mut out);
    assert_eq!(out, block);
}

#[test]
fn c2_3_never_indexed() {
    let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    let mut decoder = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut decoder, &block).unwrap(),
        owned(&[("password", "secret")])
    );
    assert_eq!(table_of(decoder.table()), (vec![], 0));

    let mut encoder = Encoder::new();
    encoder.set_huffman(Huffman::Never);
    let mut out = Vec::new();
    encoder.encode(&[Field::sensitive(b"password", b"secret")], &mut out);
    assert_eq!(out, block);
    assert_eq!(encoder.table_size(), 0);
}

#[test]
fn c2_4_indexed() {
    let mut decoder = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut decoder, &[0x82]).unwrap(),
        owned(&[(":method", "GET")])
    );
    assert_eq!(table_of(decoder.table()), (vec![], 0));
    let mut out = Vec::new();
    Encoder::new().encode(&as_fields(&[(":method", "GET")]), &mut out);
    assert_eq!(out, [0x82]);
}

// ---- C.3 to C.6: sequences of blocks over one connection ----

/// One step of a sequence: the fields, the block, the dynamic table after it.
struct Step {
    fields: &'static [(&'static str, &'static str)],
    block: &'static str,
    table: &'static [(&'static str, &'static str)],
    size: usize,
}

/// Decodes each block and encodes each list with fresh tables of `table_size`, checking both
/// directions byte for byte and both tables after every step.
fn check_sequence(steps: &[Step], table_size: usize, huffman: Huffman) {
    let mut decoder = Decoder::new(table_size);
    let mut encoder = Encoder::with_table_size(table_size);
    encoder.set_huffman(huffman);
    for (i, step) in steps.iter().enumerate() {
        let block = hex(step.block);
        assert_eq!(
            decode_all(&mut decoder, &block).unwrap(),
            owned(step.fields),
            "decoding step {}",
            i + 1
        );
        let want = (owned(step.table), step.size);
        assert_eq!(
            table_of(decoder.table()),
            want,
            "decoder's table after step {}",
            i + 1
        );

        let mut out = Vec::new();
        encoder.encode(&as_fields(step.fields), &mut out);
        assert_eq!(out, block, "encoding step {}", i + 1);
        assert_eq!(
            table_of(encoder.table()),
            want,
            "encoder's table after step {}",
            i + 1
        );
    }
}

const REQUEST_1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQUEST_2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQUEST_3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const REQUEST_TABLES: [&[(&str, &str)]; 3] = [
    &[(":authority", "www.example.com")],
    &[
        ("cache-control", "no-cache"),
        (":authority", "www.example.com"),
    ],
    &[
        ("custom-key", "custom-value"),
        ("cache-control", "no-cache"),
        (":authority", "www.example.com"),
    ],
];

#[test]
fn c3_requests_without_huffman() {
    let steps = [
        Step {
            fields: REQUEST_1,
            block: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            table: REQUEST_TABLES[0],
            size: 57,
        },
        Step {
            fields: REQUEST_2,
            block: "8286 84be 5808 6e6f 2d63 6163 6865",
            table: REQUEST_TABLES[1],
            size: 110,
        },
        Step {
            fields: REQUEST_3,
            block: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
            table: REQUEST_TABLES[2],
            size: 164,
        },
    ];
    check_sequence(&steps, 4096, Huffman::Never);
}

#[test]
fn c4_requests_with_huffman() {
    let steps = [
        Step {
            fields: REQUEST_1,
            block: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
            table: REQUEST_TABLES[0],
            size: 57,
        },
        Step {
            fields: REQUEST_2,
            block: "8286 84be 5886 a8eb 1064 9cbf",
            table: REQUEST_TABLES[1],
            size: 110,
        },
        Step {
            fields: REQUEST_3,
            block: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
            table: REQUEST_TABLES[2],
            size: 164,
        },
    ];
    check_sequence(&steps, 4096, Huffman::Always);
}

const RESPONSE_1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESPONSE_2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESPONSE_3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
];
const RESPONSE_TABLES: [&[(&str, &str)]; 3] = [
    &[
        ("location", "https://www.example.com"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("cache-control", "private"),
        (":status", "302"),
    ],
    // ":status: 302" evicted to make room for ":status: 307".
    &[
        (":status", "307"),
        ("location", "https://www.example.com"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("cache-control", "private"),
    ],
    // Four evictions: cache-control, then the old date, then :status and location.
    &[
        (
            "set-cookie",
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        ),
        ("content-encoding", "gzip"),
        ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ],
];

#[test]
fn c5_responses_without_huffman() {
    let steps = [
        Step {
            fields: RESPONSE_1,
            block: "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230
                    3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65
                    7861 6d70 6c65 2e63 6f6d",
            table: RESPONSE_TABLES[0],
            size: 222,
        },
        Step {
            fields: RESPONSE_2,
            block: "4803 3330 37c1 c0bf",
            table: RESPONSE_TABLES[1],
            size: 222,
        },
        Step {
            fields: RESPONSE_3,
            block: "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220
                    474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157
                    454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076
                    6572 7369 6f6e 3d31",
            table: RESPONSE_TABLES[2],
            size: 215,
        },
    ];
    check_sequence(&steps, 256, Huffman::Never);
}

#[test]
fn c6_responses_with_huffman() {
    let steps = [
        Step {
            fields: RESPONSE_1,
            block: "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0
                    82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
            table: RESPONSE_TABLES[0],
            size: 222,
        },
        Step {
            fields: RESPONSE_2,
            block: "4883 640e ffc1 c0bf",
            table: RESPONSE_TABLES[1],
            size: 222,
        },
        Step {
            fields: RESPONSE_3,
            block: "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b
                    d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27
                    0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
            table: RESPONSE_TABLES[2],
            size: 215,
        },
    ];
    check_sequence(&steps, 256, Huffman::Always);
}

// ---- Huffman ----

fn huffman_decode(bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    huffman::decode(bytes, &mut out).map(|()| out)
}

#[test]
fn huffman_round_trips_every_byte() {
    let all: Vec<u8> = (0..=255).collect();
    for s in [
        &all[..],
        b"",
        b"a",
        b"text/html",
        b"\xff\x00\xfe",
        &all[250..],
    ] {
        let mut coded = Vec::new();
        huffman::encode(s, &mut coded);
        assert_eq!(coded.len(), huffman::encoded_len(s));
        assert_eq!(huffman_decode(&coded).unwrap(), s);
    }
}

#[test]
fn huffman_text_html_is_seven_bytes() {
    // The chapter's example: `text/html` is 9 bytes as text, 54 bits (7 bytes) coded.
    assert_eq!(huffman::encoded_len(b"text/html"), 7);
}

#[test]
fn huffman_padding_of_up_to_seven_ones_is_accepted() {
    // '0' is 00000: three bits of padding, then (with a second '0') six.
    assert_eq!(huffman_decode(&[0b0000_0111]).unwrap(), b"0");
    assert_eq!(huffman_decode(&[0b0000_0000, 0b0011_1111]).unwrap(), b"00");
    // 'a' (00011) then '0' (00000) then 'a' again: 15 bits, one bit of padding.
    assert_eq!(huffman_decode(&[0b0001_1000, 0b0000_0111]).unwrap(), b"a0a");
}

#[test]
fn huffman_padding_longer_than_seven_bits_is_refused() {
    // 'a' then 3 ones, then a whole byte of ones: 11 bits of padding.
    assert!(matches!(
        huffman_decode(&[0b0001_1111, 0xff]),
        Err(DecodeError::Compression(_))
    ));
    // A string of padding alone: 8 ones.
    assert!(matches!(
        huffman_decode(&[0xff]),
        Err(DecodeError::Compression(_))
    ));
}

#[test]
fn huffman_padding_not_all_ones_is_refused() {
    // 'a' (00011) then 000: a prefix of '0', not of EOS.
    assert!(matches!(
        huffman_decode(&[0b0001_1000]),
        Err(DecodeError::Compression(_))
    ));
    // 'a' then 101.
    assert!(matches!(
        huffman_decode(&[0b0001_1101]),
        Err(DecodeError::Compression(_))
    ));
}

#[test]
fn huffman_eos_is_refused() {
    // EOS is 30 ones: four bytes of ones contain it, alone or after a symbol.
    assert!(matches!(
        huffman_decode(&[0xff; 4]),
        Err(DecodeError::Compression(_))
    ));
    assert!(matches!(
        huffman_decode(&[0b0001_1111, 0xff, 0xff, 0xff, 0xff]),
        Err(DecodeError::Compression(_))
    ));
}

// ---- strings ----

#[test]
fn strings_raw_and_huffman() {
    for mode in [Huffman::Never, Huffman::Always, Huffman::WhenShorter] {
        for s in [&b""[..], b"no-cache", b"\x00\x01\xff", &[b'z'; 300]] {
            let mut out = Vec::new();
            encode_string(s, mode, &mut out);
            let (mut pos, mut scratch) = (0, Vec::new());
            assert_eq!(decode_string(&out, &mut pos, &mut scratch).unwrap(), s);
            assert_eq!(pos, out.len());
        }
    }
    // WhenShorter keeps a string raw when coding would not shrink it ("307": 3 bytes either
    // way; bytes above 127 take 20 bits or more).
    let mut out = Vec::new();
    encode_string(b"307", Huffman::WhenShorter, &mut out);
    assert_eq!(out, b"\x03307");
}

// ---- decoder errors: every one a COMPRESSION_ERROR, none a panic ----

fn refused(block: &[u8]) -> &'static str {
    match decode_all(&mut Decoder::new(4096), block) {
        Err(DecodeError::Compression(why)) => why,
        other => panic!("{block:02x?} was not refused: {other:?}"),
    }
}

#[test]
fn index_zero_and_past_the_table() {
    assert_eq!(refused(&[0x80]), "index 0");
    // 62 is the first dynamic index, and the table is empty.
    assert_eq!(refused(&[0xbe]), "index past the end of the dynamic table");
    // A literal naming a missing entry, with each of the three literal patterns.
    for first in [0x7e, 0x0f, 0x1f] {
        let mut block = vec![first];
        if first != 0x7e {
            block.push(62 - 15);
        }
        block.extend_from_slice(b"\x01v");
        assert_eq!(
            refused(&block),
            "index past the end of the dynamic table",
            "{first:#x}"
        );
    }
}

#[test]
fn truncated_and_oversized_integers() {
    assert_eq!(refused(&[0xff]), "integer past the end of the block");
    assert_eq!(refused(&[0xff, 0x80]), "integer past the end of the block");
    // 2^32 + 126: past 32 bits.
    assert_eq!(
        refused(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        "integer larger than 32 bits"
    );
    // Zero padding in six continuation bytes.
    assert_eq!(
        refused(&[0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
        "integer with too many continuation bytes"
    );
}

#[test]
fn truncated_strings() {
    // A literal name of 5 bytes with one present; a value missing altogether; a length
    // that would overflow the position.
    assert_eq!(
        refused(&[0x40, 0x05, b'a']),
        "string past the end of the block"
    );
    assert_eq!(
        refused(&[0x40, 0x01, b'a']),
        "integer past the end of the block"
    );
    assert_eq!(
        refused(&[0x00, 0x7f, 0xff, 0xff, 0xff, 0x0f]),
        "string past the end of the block"
    );
}

#[test]
fn bad_huffman_in_a_block() {
    // Name "a" Huffman-coded with bad padding, then with EOS.
    assert_eq!(
        refused(&[0x00, 0x81, 0b0001_1000, 0x00]),
        "Huffman padding longer than 7 bits or not all ones"
    );
    assert_eq!(
        refused(&[0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00]),
        "EOS symbol inside a Huffman-coded string"
    );
}

#[test]
fn size_updates_only_at_the_start() {
    assert_eq!(
        refused(&[0x82, 0x20]),
        "dynamic table size update after the start of the block"
    );
    // Two at the start are fine (the smallest then the final size), then fields.
    let mut decoder = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut decoder, &[0x20, 0x3f, 0xe1, 0x1f, 0x82]).unwrap(),
        owned(&[(":method", "GET")])
    );
    assert_eq!(decoder.table().max_size(), 4096);
    // A block of size updates alone is a valid (empty) header list.
    assert_eq!(decode_all(&mut decoder, &[0x20]).unwrap(), vec![]);
}

#[test]
fn size_update_above_the_setting() {
    let mut block = Vec::new();
    encode_int(4097, 5, 0x20, &mut block);
    assert_eq!(
        refused(&block),
        "dynamic table size update above SETTINGS_HEADER_TABLE_SIZE"
    );
    // At a smaller setting, the setting is the ceiling.
    let mut decoder = Decoder::new(100);
    assert!(decode_all(&mut decoder, &[0x3f, 0x46]).is_err()); // 101
    assert!(decode_all(&mut decoder, &[0x3f, 0x45]).is_ok()); // 100
}

#[test]
fn size_update_evicts() {
    let mut decoder = Decoder::new(4096);
    // Two entries of 33 + 32 = 34 bytes... then a size update to 40 keeps only the newest.
    decode_all(&mut decoder, b"\x40\x01a\x01b\x40\x01c\x01d").unwrap();
    assert_eq!(
        table_of(decoder.table()),
        (owned(&[("c", "d"), ("a", "b")]), 68)
    );
    decode_all(&mut decoder, &[0x3f, 0x09]).unwrap(); // 40
    assert_eq!(table_of(decoder.table()), (owned(&[("c", "d")]), 34));
    decode_all(&mut decoder, &[0x20]).unwrap();
    assert_eq!(table_of(decoder.table()), (vec![], 0));
    // With a table of 0, an insertion is legal and stores nothing.
    decode_all(&mut decoder, b"\x40\x01a\x01b").unwrap();
    assert_eq!(table_of(decoder.table()), (vec![], 0));
    assert_eq!(refused(&[0xbe]), "index past the end of the dynamic table");
}

#[test]
fn errors_never_panic_on_any_short_block() {
    // Every block of one or two bytes, and every prefix of the Appendix C blocks: no panic.
    for a in 0..=255u8 {
        let _ = decode_all(&mut Decoder::new(4096), &[a]);
        for b in 0..=255u8 {
            let _ = decode_all(&mut Decoder::new(4096), &[a, b]);
        }
    }
    let block = hex("88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b");
    for end in 0..block.len() {
        let _ = decode_all(&mut Decoder::new(4096), &block[..end]);
    }
}

// ---- the table ----

#[test]
fn table_accounting_and_eviction() {
    let mut table = Table::new(100);
    table.insert(b"aaaa", b"bbbb"); // 40
    table.insert(b"cc", b"dd"); // 36
    assert_eq!(table.size(), 76);
    table.insert(b"e", b"f"); // 34: evicts the oldest (40)
    assert_eq!(table_of(&table), (owned(&[("e", "f"), ("cc", "dd")]), 70));
    assert_eq!(table.get(62).unwrap(), (&b"e"[..], &b"f"[..]));
    assert_eq!(table.get(63).unwrap(), (&b"cc"[..], &b"dd"[..]));
    assert!(table.get(64).is_err());
    assert_eq!(table.get(61).unwrap(), (&b"www-authenticate"[..], &b""[..]));
    // An entry larger than the table empties it and is not added (§4.4).
    table.insert(&[b'x'; 60], b"y"); // 93 fits
    assert_eq!(table.size(), 93);
    table.insert(&[b'x'; 70], b"y"); // 103 does not
    assert_eq!(table_of(&table), (vec![], 0));
}

#[test]
fn table_lookups() {
    let mut table = Table::new(4096);
    assert_eq!(table.find(b":status", b"200", true), Found::Field(8));
    assert_eq!(table.find(b":status", b"302", true), Found::Name(8));
    assert_eq!(table.find(b"x-custom", b"1", true), Found::None);
    table.insert(b"x-custom", b"1");
    table.insert(b"content-type", b"text/html");
    assert_eq!(table.find(b"x-custom", b"1", true), Found::Field(63));
    assert_eq!(table.find(b"x-custom", b"2", true), Found::Name(63));
    assert_eq!(
        table.find(b"content-type", b"text/html", true),
        Found::Field(62)
    );
    // Names only (sensitive fields): the static index for the name, never a value match.
    assert_eq!(
        table.find(b"content-type", b"text/html", false),
        Found::Name(31)
    );
    assert_eq!(table.find(b":status", b"200", false), Found::Name(8));
}

#[test]
fn every_static_entry_is_found_by_name_and_value() {
    let table = Table::new(4096);
    for (i, &(name, value)) in super::table::STATIC.iter().enumerate() {
        assert_eq!(
            table.find(name.as_bytes(), value.as_bytes(), true),
            Found::Field(i + 1),
            "{name}"
        );
        let first = super::table::STATIC
            .iter()
            .position(|&(n, _)| n == name)
            .unwrap()
            + 1;
        assert_eq!(
            table.find(name.as_bytes(), b"\xff", true),
            Found::Name(first),
            "{name}"
        );
        assert_eq!(
            table.find(name.as_bytes(), value.as_bytes(), false),
            Found::Name(first),
            "{name}"
        );
    }
    assert_eq!(table.find(b":Status", b"200", true), Found::None);
}

// ---- the header list bound (HPACK bomb) ----

#[test]
fn hpack_bomb_is_bounded_and_the_table_stays_in_sync() {
    let mut decoder = Decoder::new(4096);
    // One entry of 4073 bytes...
    let mut block = vec![0x40, 0x01, b'x'];
    encode_int(4040, 7, 0x00, &mut block);
    block.extend(std::iter::repeat_n(b'a', 4040));
    decode_all(&mut decoder, &block).unwrap();
    assert_eq!(decoder.table_size(), 4073);

    // ...then 10,000 one-byte references to it (40 MB if collected), and a last literal
    // with indexing that must still reach the table.
    let mut bomb = vec![0xbe; 10_000];
    bomb.extend_from_slice(b"\x40\x01k\x01v");
    let mut calls = 0;
    let result = decoder.decode(&bomb, 16_384, &mut |_, _| calls += 1);
    assert_eq!(result, Err(DecodeError::ListTooLarge));
    assert_eq!(calls, 4, "16 KB holds four fields of 4073 bytes");
    // The table followed the whole block: k: v is the newest entry (and evicted x).
    assert_eq!(table_of(decoder.table()), (owned(&[("k", "v")]), 34));
    assert_eq!(
        decode_all(&mut decoder, &[0xbe]).unwrap(),
        owned(&[("k", "v")])
    );
}

#[test]
fn list_bound_counts_as_rfc_9113() {
    // ":method: GET" counts 7 + 3 + 32 = 42: a bound of 42 passes it, 41 does not.
    let mut seen = 0;
    assert_eq!(
        Decoder::new(4096).decode(&[0x82], 42, &mut |_, _| seen += 1),
        Ok(())
    );
    assert_eq!(
        Decoder::new(4096).decode(&[0x82], 41, &mut |_, _| seen += 1),
        Err(DecodeError::ListTooLarge)
    );
    assert_eq!(seen, 1);
}

// ---- the encoder's choices ----

const RESPONSE: &[(&str, &str)] = &[
    (":status", "200"),
    ("server", "stage07"),
    ("date", "Tue, 01 Dec 2026 10:40:00 GMT"),
    ("content-type", "text/html; charset=utf-8"),
    ("content-length", "1024"),
    ("last-modified", "Sat, 21 Nov 2026 09:00:00 GMT"),
    ("etag", "\"6740a8b0-400\""),
    ("accept-ranges", "bytes"),
    ("cache-control", "no-cache"),
    ("vary", "accept-encoding"),
];

#[test]
fn a_second_response_costs_a_byte_per_field() {
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(4096);
    let mut first = Vec::new();
    encoder.encode(&as_fields(RESPONSE), &mut first);
    assert_eq!(decode_all(&mut decoder, &first).unwrap(), owned(RESPONSE));
    let mut second = Vec::new();
    encoder.encode(&as_fields(RESPONSE), &mut second);
    assert_eq!(second.len(), RESPONSE.len(), "{second:02x?}");
    assert!(second.iter().all(|b| b & 0x80 != 0), "every field indexed");
    assert_eq!(decode_all(&mut decoder, &second).unwrap(), owned(RESPONSE));

    // Another file: only what differs is sent, and indexed for next time.
    let other: Vec<(&str, &str)> = RESPONSE
        .iter()
        .map(|&(n, v)| match n {
            "content-length" => (n, "5120"),
            "etag" => (n, "\"6740a8b0-1400\""),
            _ => (n, v),
        })
        .collect();
    let mut third = Vec::new();
    encoder.encode(&as_fields(&other), &mut third);
    assert_eq!(decode_all(&mut decoder, &third).unwrap(), owned(&other));
    // Nine entries from the first response (all but `:status: 200`, static), two new ones.
    let (entries, _) = table_of(encoder.table());
    assert_eq!(entries.len(), 11);
    assert_eq!(
        entries[..2],
        owned(&[("etag", "\"6740a8b0-1400\""), ("content-length", "5120")])
    );
    assert_eq!(table_of(encoder.table()), table_of(decoder.table()));
}

#[test]
fn sensitive_fields_are_never_indexed_nor_matched() {
    let mut encoder = Encoder::new();
    encoder.set_huffman(Huffman::Never);
    let mut out = Vec::new();
    // An attacker's guess, indexed as an ordinary field...
    encoder.encode(&[Field::new(b"authorization", b"Basic c2VjcmV0")], &mut out);
    assert_eq!(out[0], 0x40 | 23, "indexed, with the static name");
    // ...does not make the real secret shorter: still a never-indexed literal, in full.
    out.clear();
    encoder.encode(
        &[Field::sensitive(b"authorization", b"Basic c2VjcmV0")],
        &mut out,
    );
    assert_eq!(out[0], 0x1f, "never indexed, name index 23 = 15 + 8");
    assert_eq!(out[1], 8);
    assert_eq!(&out[3..], b"Basic c2VjcmV0");
    let mut decoder = Decoder::new(4096);
    let mut prior = Vec::new();
    Encoder::new().encode(
        &[Field::new(b"authorization", b"Basic c2VjcmV0")],
        &mut prior,
    );
    decode_all(&mut decoder, &prior).unwrap();
    assert_eq!(
        decode_all(&mut decoder, &out).unwrap(),
        owned(&[("authorization", "Basic c2VjcmV0")])
    );
    assert_eq!(encoder.table_size(), decoder.table_size());
}

#[test]
fn churn_and_big_fields_are_not_indexed() {
    let mut encoder = Encoder::new();
    let mut out = Vec::new();
    encoder.encode(
        &[Field::new(b"content-range", b"bytes 0-1023/10485760")],
        &mut out,
    );
    assert_eq!(out[0], 0x0f, "without indexing, name index 30 = 15 + 15");
    assert_eq!(encoder.table_size(), 0);
    // Half the table (2048) is the most one entry may take.
    let big = vec![b'x'; 2048 - 32 - 5];
    encoder.encode(&[Field::new(b"x-big", &big)], &mut out);
    assert_eq!(encoder.table_size(), 2048);
    let bigger = vec![b'y'; 2048 - 32 - 4];
    encoder.encode(&[Field::new(b"x-big", &bigger)], &mut out);
    assert_eq!(encoder.table_size(), 2048);
}

#[test]
fn peer_table_size_changes_become_size_updates() {
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(4096);
    let mut out = Vec::new();
    encoder.encode(&as_fields(RESPONSE), &mut out);
    decode_all(&mut decoder, &out).unwrap();

    // The same size, or more than we keep: nothing to say.
    encoder.set_max_table_size(4096);
    encoder.set_max_table_size(65536);
    out.clear();
    encoder.encode(&as_fields(&[(":status", "200")]), &mut out);
    assert_eq!(out, [0x88]);

    // Down to 0 then up to 100 before the next block: both sizes are signalled.
    encoder.set_max_table_size(0);
    encoder.set_max_table_size(100);
    out.clear();
    encoder.encode(&as_fields(&[("server", "stage07")]), &mut out);
    assert_eq!(&out[..3], &[0x20, 0x3f, 0x45]);
    decode_all(&mut decoder, &out).unwrap();
    assert_eq!(table_of(encoder.table()), table_of(decoder.table()));
    assert_eq!(
        table_of(decoder.table()),
        (owned(&[("server", "stage07")]), 45)
    );

    // Down to 50: one update, evicting down to it.
    encoder.set_max_table_size(50);
    out.clear();
    encoder.encode(&[], &mut out);
    assert_eq!(out, [0x3f, 0x13]);
    decode_all(&mut decoder, &out).unwrap();
    assert_eq!(decoder.table().max_size(), 50);
}

// ---- round trips of random header lists over one connection ----

/// xorshift64*, as common's property tests: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes biased towards what headers hold, with any byte possible.
fn random_bytes(rng: &mut Rng, max_len: usize) -> Vec<u8> {
    const COMMON: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-/.:;=, \"";
    let len = rng.below(max_len + 1);
    (0..len)
        .map(|_| match rng.below(4) {
            0 => rng.next() as u8,
            _ => COMMON[rng.below(COMMON.len())],
        })
        .collect()
}

fn random_list(rng: &mut Rng, pool: &[(Vec<u8>, Vec<u8>)]) -> Vec<(Vec<u8>, Vec<u8>, bool)> {
    (0..rng.below(16))
        .map(|_| {
            let (name, value) = match rng.below(4) {
                // A field seen before (static table or an earlier list): an index.
                0 => pool[rng.below(pool.len())].clone(),
                // A known name with a new value.
                1 => (pool[rng.below(pool.len())].0.clone(), random_bytes(rng, 40)),
                2 => {
                    let (n, v) = super::table::STATIC[rng.below(61)];
                    (n.as_bytes().to_vec(), v.as_bytes().to_vec())
                }
                _ => {
                    // Now and then a value too big to index (more than half the table).
                    let max = if rng.below(20) == 0 { 3000 } else { 60 };
                    (random_bytes(rng, 20), random_bytes(rng, max))
                }
            };
            (name, value, rng.below(10) == 0)
        })
        .collect()
}

#[test]
fn random_lists_round_trip_with_tables_in_sync() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for connection in 0..200 {
        let mut encoder = Encoder::new();
        let mut decoder = Decoder::new(4096);
        encoder
            .set_huffman([Huffman::WhenShorter, Huffman::Never, Huffman::Always][connection % 3]);
        let mut pool: Vec<(Vec<u8>, Vec<u8>)> = vec![(b"server".to_vec(), b"stage07".to_vec())];
        for _ in 0..20 {
            if rng.below(8) == 0 {
                encoder.set_max_table_size(rng.below(5000));
            }
            let list = random_list(&mut rng, &pool);
            let fields: Vec<Field<'_>> = list
                .iter()
                .map(|(n, v, s)| Field {
                    name: n,
                    value: v,
                    sensitive: *s,
                })
                .collect();
            let mut block = Vec::new();
            encoder.encode(&fields, &mut block);
            let mut decoded = Vec::new();
            decoder
                .decode(&block, usize::MAX, &mut |n, v| {
                    decoded.push((n.to_vec(), v.to_vec()))
                })
                .unwrap();
            let want: Vec<(Vec<u8>, Vec<u8>)> = list
                .iter()
                .map(|(n, v, _)| (n.clone(), v.clone()))
                .collect();
            assert_eq!(decoded, want, "connection {connection}");
            assert_eq!(
                table_of(encoder.table()),
                table_of(decoder.table()),
                "connection {connection}"
            );
            pool.extend(want);
        }
    }
}
