//! libFuzzer target: the "bare CR / non-ASCII whitespace" generator of the property test,
//! driven by the fuzzer's bytes. Each input picks a framing-sensitive request and what goes
//! in each of its slots (nothing, a bare CR, U+00A0, U+3000...), so the fuzzer spends its
//! time where a request boundary can shift, under the same invariants as `request`.
#![no_main]

include!("../../common/tests/invariants.rs");

use std::sync::OnceLock;

/// A small site made once per fuzzing process.
fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("workbook-fuzz-ws-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("root/docs")).expect("mkdir");
        std::fs::write(dir.join("root/docs/index.html"), "docs").expect("write");
        Site::new(&dir.join("root")).expect("site").with_etags()
    })
}

libfuzzer_sys::fuzz_target!(|choices: &[u8]| {
    check_invariants(site(), &whitespace_variant(choices));
});
