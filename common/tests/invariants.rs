// The invariants `common` must keep on ANY input, shared by the property test
// (common/tests/properties.rs, in every `cargo test`) and the cargo-fuzz target
// (fuzz/fuzz_targets/request.rs, for long runs). Included with `include!`, so no `//!` here.

use common::framing::BodySkipper;
use common::path;
use common::request::{self, BodyFraming, Parsed, MAX_HEAD};
use common::{Body, Site, Status};

/// Feeds `data` through everything a request touches and panics on any broken invariant.
pub fn check_invariants(site: &Site, data: &[u8]) {
    match request::parse_head(data) {
        Parsed::Complete(request, used) => {
            assert!(
                used <= data.len() && used <= MAX_HEAD,
                "used {used} of {}",
                data.len()
            );
            assert!(request.path.starts_with('/'), "path {:?}", request.path);
            // Every shorter prefix of a complete head is only "need more bytes".
            for end in [0, used / 2, used.saturating_sub(1)] {
                if end < used {
                    let prefix = request::parse_head(&data[..end]);
                    assert!(
                        matches!(prefix, Parsed::Partial),
                        "prefix {end} of {used}: {prefix:?}"
                    );
                }
            }
            check_path(&request.path);
            check_body(request.body, &data[used..]);
            check_response(site, &request);
        }
        Parsed::Partial => assert!(data.len() < MAX_HEAD, "partial at {} bytes", data.len()),
        Parsed::Invalid(status) => {
            let allowed = [400, 414, 431, 501, 505];
            assert!(allowed.contains(&status.code()), "status {status}");
        }
    }
}

/// Decoded paths never hold a dot segment, a slash, a NUL or a hidden name.
fn check_path(raw: &str) {
    let Ok(decoded) = path::decode(raw) else {
        return;
    };
    for (i, segment) in decoded.segments.iter().enumerate() {
        assert!(
            !segment.is_empty() && segment != "." && segment != "..",
            "{raw:?}: {segment:?}"
        );
        assert!(
            !segment.contains('/') && !segment.contains('\0'),
            "{raw:?}: {segment:?}"
        );
        assert!(
            !segment.starts_with('.') || (i == 0 && segment == ".well-known"),
            "{raw:?}: {segment:?}"
        );
    }
}

/// The skipper never claims more bytes than it was given, fed whole or a byte at a time.
fn check_body(framing: BodyFraming, rest: &[u8]) {
    let mut whole = BodySkipper::new(framing);
    let whole_used = whole.skip(rest);
    if let Ok(used) = whole_used {
        assert!(used <= rest.len());
    }
    let mut dripped = BodySkipper::new(framing);
    let mut used = 0;
    for byte in rest.iter().take(4096) {
        match dripped.skip(std::slice::from_ref(byte)) {
            Ok(n) => used += n,
            Err(_) => return,
        }
        if dripped.is_done() {
            break;
        }
    }
    if dripped.is_done() && rest.len() <= 4096 {
        assert_eq!(whole_used, Ok(used), "whole and dripped disagree");
    }
}

/// A response's announced length matches its body, and only known statuses come out.
fn check_response(site: &Site, request: &common::Request) {
    let response = site.respond(request);
    let allowed = [200, 301, 304, 400, 403, 404, 405, 501];
    assert!(
        allowed.contains(&response.status.code()),
        "status {}",
        response.status
    );
    let head_request = request.method == common::Method::Head;
    if response.status == Status::NOT_MODIFIED {
        assert!(response.content_length.is_none() && response.body_len() == 0);
    } else if !head_request {
        assert_eq!(response.content_length, Some(response.body_len()));
    }
    if let Body::File(file) = &response.body {
        let real = file.file.metadata().map(|m| m.len()).unwrap_or(0);
        assert!(file.offset + file.len <= real, "file region past the end");
    }
}
