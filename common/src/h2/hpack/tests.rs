//! RFC 7541 Appendix C byte for byte, with the dynamic table after each step; every error;
//! round trips of random header lists (a fixed-seed generator, as common's property tests).

use super::decoder::decode_int;
use super::encoder::{encode_int, encode_string};
use super::{DecodeError, Decoder, Encoder, Field, Huffman};

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
fn table_of(table: &super::table::Table) -> (Vec<(String, String)>, usize) {
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
