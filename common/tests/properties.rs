//! A bounded fuzz run inside every `cargo test`: mutated requests from a seed corpus through
//! the parser, path decoding, body skipping and `Site::respond`, checking the invariants in
//! `invariants.rs`. Deterministic (a fixed-seed PRNG), so a failure reproduces exactly. For
//! long coverage-guided runs of the same checks, see fuzz/README.md.

include!("invariants.rs");

use std::path::PathBuf;

/// Requests that reach deep into each part: the fuzzer's starting points.
const SEEDS: &[&[u8]] = &[
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET /docs/index.html?x=1 HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\n\r\n",
    b"HEAD /a%20b/caf%C3%A9.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"GET http://h:80/../%2e%2e/secret.txt HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /.well-known/../.env HTTP/1.0\r\nRange: bytes=0-1,5-\r\n\r\n",
    b"GET /docs HTTP/1.0\nConnection: keep-alive\n\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/2.0\r\n\r\n",
];

/// Fragments that tend to matter to an HTTP parser.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\t",
    b":",
    b"%",
    b"%2e",
    b"%2F",
    b"%00",
    b"%C3%A9",
    b"..",
    b"/",
    b".",
    b"\0",
    b"\xff",
    b"chunked",
    b"Content-Length: ",
    b"Transfer-Encoding: ",
    b"Host: a\r\n",
    b"HTTP/1.1",
    b"0\r\n\r\n",
    b"ffffffffffffffffff",
    b";ext",
    b"\xc2\xa0",
    b"\xe3\x80\x80",
    b"\x0b",
    b"\"",
    b"W/",
    b"*",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: tiny, fast and plenty random for choosing mutations.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(data.len() + 1);
        // Token insertions dominate: they keep inputs parseable often enough to reach the
        // path and response code, where random bytes would stop at the parser.
        match rng.below(12) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            1 if !data.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(data.len());
                data.drain(at.min(end)..end);
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
            3 if !data.is_empty() => {
                let start = rng.below(data.len());
                let end = (start + rng.below(32)).min(data.len());
                let copy = data[start..end].to_vec();
                data.splice(at..at, copy);
            }
            4 => data.insert(at, rng.next() as u8),
            5 => data.truncate(at),
            _ => {
                // Insert a token into the target, where path handling is exercised.
                let target = data
                    .iter()
                    .position(|&b| b == b' ')
                    .map_or(at, |space| space + 2);
                let at = target.min(data.len());
                let token = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
        }
    }
}

fn scratch_site(name: &str) -> (PathBuf, Site) {
    let dir = std::env::temp_dir().join(format!("common-properties-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("root/docs")).expect("mkdir");
    std::fs::write(dir.join("root/index.html"), "<h1>hi</h1>").expect("write");
    std::fs::write(dir.join("root/docs/index.html"), "docs").expect("write");
    std::fs::write(dir.join("root/.env"), "secret").expect("write");
    std::fs::write(dir.join("secret.txt"), "secret").expect("write");
    let site = Site::new(&dir.join("root")).expect("site").with_etags();
    (dir, site)
}

#[test]
fn seeds_keep_the_invariants() {
    let (dir, site) = scratch_site("seeds");
    for seed in SEEDS {
        check_invariants(&site, seed);
    }
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn mutated_requests_keep_the_invariants() {
    let (dir, site) = scratch_site("mutated");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let rounds: usize = std::env::var("PROPERTY_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let mut complete = 0;
    for round in 0..rounds {
        let mut data = SEEDS[round % SEEDS.len()].to_vec();
        mutate(&mut rng, &mut data);
        complete += usize::from(matches!(request::parse_head(&data), Parsed::Complete(..)));
        let result = std::panic::catch_unwind(|| check_invariants(&site, &data));
        if let Err(panic) = result {
            eprintln!(
                "round {round} failed on input {:?}",
                String::from_utf8_lossy(&data)
            );
            std::panic::resume_unwind(panic);
        }
    }
    // A fuzzer whose inputs never parse tests nothing past the parser: keep the mix useful.
    assert!(
        complete * 8 > rounds,
        "only {complete} of {rounds} inputs parsed completely"
    );
    eprintln!("{complete} of {rounds} mutated inputs reached Site::respond");
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn random_bytes_keep_the_invariants() {
    let (dir, site) = scratch_site("random");
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let len = rng.below(300);
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        check_invariants(&site, &data);
    }
    std::fs::remove_dir_all(dir).expect("cleanup");
}

/// The "bare CR / non-ASCII whitespace" generator (`whitespace_variant` in invariants.rs):
/// framing-sensitive requests with whitespace-looking bytes at every place it could shift a
/// request boundary. Checked against the same invariants, including the strict chunked reader.
#[test]
fn bare_cr_and_unicode_whitespace_keep_the_invariants() {
    let (dir, site) = scratch_site("whitespace");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut refused = 0;
    let rounds = 20_000;
    for round in 0..rounds {
        let choices: Vec<u8> = (0..16).map(|_| rng.next() as u8).collect();
        let data = whitespace_variant(&choices);
        refused += usize::from(matches!(request::parse_head(&data), Parsed::Invalid(_)));
        let result = std::panic::catch_unwind(|| check_invariants(&site, &data));
        if let Err(panic) = result {
            eprintln!(
                "round {round} failed on input {:?}",
                String::from_utf8_lossy(&data)
            );
            std::panic::resume_unwind(panic);
        }
    }
    // Both sides must be exercised: heads refused for their whitespace, and heads accepted
    // whose bodies the strict reader then checks.
    assert!(
        refused * 10 > rounds && refused * 10 < rounds * 9,
        "{refused} of {rounds} refused"
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}

/// The generator's templates, without any whitespace added, are valid and end where expected.
#[test]
fn whitespace_templates_parse_cleanly() {
    let (dir, site) = scratch_site("templates");
    for index in 0..WHITESPACE_TEMPLATES.len() {
        let data = whitespace_variant(&[index as u8]);
        check_invariants(&site, &data);
        if index != 3 {
            assert!(
                matches!(request::parse_head(&data), Parsed::Complete(..)),
                "template {index}"
            );
        }
    }
    std::fs::remove_dir_all(dir).expect("cleanup");
}
