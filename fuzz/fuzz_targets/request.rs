//! libFuzzer target: arbitrary bytes through common's parser, path decoding, body skipping
//! and Site::respond, checking the same invariants as the property test in every `cargo test`.
#![no_main]

include!("../../common/tests/invariants.rs");

use std::sync::OnceLock;

/// A small site made once per fuzzing process, with a hidden file and a secret outside it.
fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("workbook-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("root/docs")).expect("mkdir");
        std::fs::write(dir.join("root/index.html"), "<h1>hi</h1>").expect("write");
        std::fs::write(dir.join("root/docs/index.html"), "docs").expect("write");
        std::fs::write(dir.join("root/.env"), "secret").expect("write");
        std::fs::write(dir.join("secret.txt"), "secret").expect("write");
        Site::new(&dir.join("root")).expect("site").with_etags()
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check_invariants(site(), data);
});
