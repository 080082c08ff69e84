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
    /// Modification time, compared in whole seconds as HTTP dates are; `None` when an HTTP
    /// date cannot say it (see [`Validators::of_file`]).
    pub modified: Option<SystemTime>,
    /// A strong entity tag, quoted, when the stage sends them.
    pub etag: Option<String>,
}

// ANCHOR: of_file
/// The first second an HTTP date cannot say: 10000-01-01 (`httpdate` stops at year 9999).
const AFTER_YEAR_9999: u64 = 253_402_300_800;

impl Validators {
    /// The validators of a file of `len` bytes last modified at `modified`, with an ETag when
    /// `etags` is on. A file dated before 1970 (`touch -d 1969-07-20`) or after 9999 gets
    /// none at all: no `Last-Modified`, no ETag, so it is always sent whole (200). A date
    /// clamped to 1970 would be a lie that makes `If-Modified-Since` answer 304 for any later
    /// edit, and an ETag built on it would stay the same across those edits.
    pub fn of_file(len: u64, modified: Option<SystemTime>, etags: bool) -> Validators {
        let modified = modified.filter(|time| {
            time.duration_since(UNIX_EPOCH)
                .is_ok_and(|since| since.as_secs() < AFTER_YEAR_9999)
        });
        Validators {
            modified,
            etag: modified.filter(|_| etags).map(|time| etag(len, time)),
        }
    }
}
// ANCHOR_END: of_file

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
    // No date of ours to compare (a file from before 1970): send the file.
    validators
        .modified
        .is_some_and(|modified| whole_seconds(modified) <= whole_seconds(since))
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
    let date = httpdate::parse_http_date(if_range).ok();
    date.zip(validators.modified)
        .is_some_and(|(date, modified)| whole_seconds(date) == whole_seconds(modified))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn validators(with_etag: bool) -> Validators {
        let modified = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        Validators::of_file(1234, Some(modified), with_etag)
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

    #[test]
    fn a_date_an_http_date_cannot_say_gives_no_validators() {
        let moon = UNIX_EPOCH - Duration::from_secs(14_182_940); // 1969-07-20 20:17:40
        let far = UNIX_EPOCH + Duration::from_secs(AFTER_YEAR_9999);
        for modified in [Some(moon), Some(far), None] {
            let v = Validators::of_file(1234, modified, true);
            assert_eq!(
                v,
                Validators {
                    modified: None,
                    etag: None
                }
            );
            // Nothing to compare with: always the whole file.
            assert!(!not_modified(&v, None, Some(MODIFIED)));
            assert!(!if_range_matches(&v, "Thu, 01 Jan 1970 00:00:00 GMT"));
        }
        let last_second = UNIX_EPOCH + Duration::from_secs(AFTER_YEAR_9999 - 1);
        let v = Validators::of_file(1, Some(last_second), false);
        assert_eq!(v.modified, Some(last_second));
    }
}
