//! Conditional requests (RFC 9110 section 13): "send it only if it changed".
//!
//! A browser that already holds a copy asks with the validators it was given: the
//! `Last-Modified` date (as `If-Modified-Since`) and, from stage02, the `ETag` (as
//! `If-None-Match`). When the copy is still good the answer is a bodiless 304.

use crate::request::trim_ows;
use std::time::{SystemTime, UNIX_EPOCH};

/// The validators of one version of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validators {
    /// Modification time, truncated to whole seconds as HTTP dates are.
    pub modified: SystemTime,
    /// A strong entity tag, quoted, when the stage sends them.
    pub etag: Option<String>,
}

/// Seconds since the epoch, the resolution of an HTTP date.
fn whole_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

// ANCHOR: etag
/// A strong ETag from size and modification time, in nginx's format: `"<mtime hex>-<size hex>"`.
/// It changes whenever either does, costs no hashing, and matches what nginx would send.
pub fn etag(size: u64, modified: SystemTime) -> String {
    format!("\"{:x}-{:x}\"", whole_seconds(modified), size)
}
// ANCHOR_END: etag

// ANCHOR: not_modified
/// True when the client's copy is current and a 304 should be sent (GET and HEAD only).
///
/// RFC 9110 section 13.2.2: `If-None-Match` is evaluated first and, when present, decides
/// alone; `If-Modified-Since` is looked at only without it. An unparseable date is ignored.
pub fn not_modified(
    validators: &Validators,
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
) -> bool {
    if let (Some(list), Some(etag)) = (if_none_match, validators.etag.as_deref()) {
        return etag_list_matches(list, etag);
    }
    let Some(since) = if_modified_since.and_then(|s| httpdate::parse_http_date(s).ok()) else {
        return false;
    };
    whole_seconds(validators.modified) <= whole_seconds(since)
}
// ANCHOR_END: not_modified

/// Weak comparison (RFC 9110 section 8.8.3.2): `W/"x"` matches `"x"`; `*` matches anything.
fn etag_list_matches(list: &str, etag: &str) -> bool {
    let ours = etag.trim_start_matches("W/");
    list.split(',')
        .map(trim_ows)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == ours)
}

/// True when an `If-Range` value still names the current version (strong comparison, or an
/// exact date): only then may a range of it be sent (RFC 9110 section 13.1.5).
pub fn if_range_matches(validators: &Validators, if_range: &str) -> bool {
    let if_range = trim_ows(if_range);
    if if_range.starts_with('"') {
        return validators.etag.as_deref() == Some(if_range);
    }
    if if_range.starts_with("W/") {
        return false;
    }
    httpdate::parse_http_date(if_range)
        .is_ok_and(|date| whole_seconds(date) == whole_seconds(validators.modified))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn validators(with_etag: bool) -> Validators {
        let modified = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        Validators {
            modified,
            etag: with_etag.then(|| etag(1234, modified)),
        }
    }

    const MODIFIED: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
    const EARLIER: &str = "Tue, 14 Nov 2023 22:13:19 GMT";

    #[test]
    fn etag_is_nginx_shaped() {
        assert_eq!(validators(true).etag.as_deref(), Some("\"6553f100-4d2\""));
    }

    #[test]
    fn if_modified_since() {
        let v = validators(false);
        assert!(not_modified(&v, None, Some(MODIFIED)));
        assert!(not_modified(
            &v,
            None,
            Some("Wed, 15 Nov 2023 00:00:00 GMT")
        ));
        assert!(!not_modified(&v, None, Some(EARLIER)));
        assert!(!not_modified(&v, None, Some("yesterday")));
        assert!(!not_modified(&v, None, None));
    }

    #[test]
    fn if_none_match_is_weak_and_wins_over_the_date() {
        let v = validators(true);
        assert!(not_modified(&v, Some("\"6553f100-4d2\""), None));
        assert!(not_modified(&v, Some("\"x\", W/\"6553f100-4d2\""), None));
        assert!(not_modified(&v, Some("*"), None));
        // A non-matching tag decides "changed", even when the date says "same".
        assert!(!not_modified(&v, Some("\"other\""), Some(MODIFIED)));
    }

    #[test]
    fn if_none_match_is_ignored_by_stages_without_etags() {
        assert!(not_modified(
            &validators(false),
            Some("\"other\""),
            Some(MODIFIED)
        ));
    }

    #[test]
    fn if_range_is_strong() {
        let v = validators(true);
        assert!(if_range_matches(&v, "\"6553f100-4d2\""));
        assert!(!if_range_matches(&v, "W/\"6553f100-4d2\""));
        assert!(if_range_matches(&v, MODIFIED));
        assert!(!if_range_matches(&v, EARLIER));
        assert!(!if_range_matches(&v, "garbage"));
    }
}
