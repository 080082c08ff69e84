//! The access log line, in the Combined Log Format that Apache and nginx write.
//!
//! One line per response, so the usual tools (goaccess, awk, fail2ban) read our logs as
//! theirs. Everything the client sent is escaped before it is written: a `User-Agent` holding
//! a quote or a newline must not be able to forge a second log line.

use crate::request::{Request, Version};
use crate::status::Status;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// What the log records of one exchange.
pub struct LogEntry<'a> {
    pub peer: IpAddr,
    pub time: SystemTime,
    /// The request, if its head could be parsed.
    pub request: Option<&'a Request>,
    /// The authenticated user (stage06), `-` when none.
    pub user: Option<&'a str>,
    pub status: Status,
    /// Body bytes sent (not counting the head), as Apache's `%b`.
    pub body_bytes: u64,
}

// ANCHOR: combined
impl LogEntry<'_> {
    /// `host ident user [time] "request line" status bytes "referer" "user-agent"`
    pub fn combined(&self) -> String {
        self.pending().finish(self.body_bytes)
    }

    /// The line without its byte count yet (see [`PendingLine`]); `body_bytes` is not used.
    pub fn pending(&self) -> PendingLine {
        let request_line = self
            .request
            .map_or_else(|| "-".to_string(), Request::request_line);
        let field = |value: Option<&str>| escape(value.unwrap_or("-"));
        PendingLine {
            facts: self.facts(),
            before: format!(
                "{} - {} [{}] \"{}\" {} ",
                canonical_ip(self.peer),
                escape(self.user.unwrap_or("-")),
                clf_time(self.time),
                escape(&request_line),
                self.status.code(),
            ),
            after: format!(
                " \"{}\" \"{}\"",
                field(self.request.and_then(|r| r.referer.as_deref())),
                field(self.request.and_then(|r| r.user_agent.as_deref())),
            ),
        }
    }
}

/// A log line still waiting for its byte count. An event loop knows a file response's status
/// when it starts streaming the file, but how many bytes went out only when the file is done,
/// or when the client leaves halfway: it writes the line then, so the log says what was sent
/// (nginx's `$body_bytes_sent`), not what was promised.
pub struct PendingLine {
    facts: LineFacts,
    before: String,
    after: String,
}

/// What a line says, as values rather than text: for a [`crate::setup::LogSink`] that counts
/// (stage09's metrics) as well as writes.
#[derive(Clone, Copy, Debug)]
pub struct LineFacts {
    pub status: Status,
    /// The request's version; `None` for a head that could not be parsed.
    pub version: Option<Version>,
    /// When the request was answered (the line's timestamp).
    pub time: SystemTime,
    pub body_bytes: u64,
}

impl PendingLine {
    /// The line's facts, with the bytes sent once it is finished.
    pub fn facts(&self, body_bytes: u64) -> LineFacts {
        LineFacts {
            body_bytes,
            ..self.facts
        }
    }

    /// The whole line, with `body_bytes` (`-` for none, as Apache's `%b`).
    pub fn finish(self, body_bytes: u64) -> String {
        let PendingLine {
            mut before, after, ..
        } = self;
        match body_bytes {
            0 => before.push('-'),
            n => before.push_str(&n.to_string()),
        }
        before.push_str(&after);
        before
    }
}
// ANCHOR_END: combined

impl LogEntry<'_> {
    /// What the metrics count of this line (its byte count comes when the body has gone).
    fn facts(&self) -> LineFacts {
        LineFacts {
            status: self.status,
            version: self.request.map(|r| r.version),
            time: self.time,
            body_bytes: 0,
        }
    }

    /// The line's facts alone, its text left empty: for a sink that only counts (see
    /// [`crate::setup::LogSink::wants_text`]). Empty strings allocate nothing.
    pub fn untold(&self) -> PendingLine {
        PendingLine {
            facts: self.facts(),
            before: String::new(),
            after: String::new(),
        }
    }
}

/// On a dual-stack socket IPv4 clients appear as `::ffff:1.2.3.4`; log them as `1.2.3.4`.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Escapes `"`, `\` and anything not printable ASCII as Apache does (`\"`, `\\`, `\xHH`).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out
}

/// `10/Oct/2000:13:55:36 +0000`: CLF's own date format, in UTC.
fn clf_time(time: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rest = secs % 86_400;
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31); Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{parse_head, Parsed};
    use std::time::Duration;

    #[test]
    fn formats_a_combined_line() {
        let raw =
            b"GET /a.txt HTTP/1.0\r\nReferer: http://x/\r\nUser-Agent: curl/8 \"evil\"\r\n\r\n";
        let Parsed::Complete(request, _) = parse_head(raw) else {
            panic!("parse")
        };
        let entry = LogEntry {
            peer: "::ffff:127.0.0.1".parse().expect("ip"),
            time: UNIX_EPOCH + Duration::from_secs(971_186_136),
            request: Some(&request),
            user: None,
            status: Status::OK,
            body_bytes: 2326,
        };
        assert_eq!(
            entry.combined(),
            "127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET /a.txt HTTP/1.0\" 200 2326 \"http://x/\" \"curl/8 \\\"evil\\\"\""
        );
        // A line finished later with fewer bytes (the client left halfway) differs only there.
        assert_eq!(
            entry.pending().finish(1000),
            entry.combined().replace(" 2326 ", " 1000 ")
        );
        assert!(entry.pending().finish(0).contains(" 200 - "));
    }

    #[test]
    fn a_refused_head_logs_dashes() {
        let entry = LogEntry {
            peer: "::1".parse().expect("ip"),
            time: UNIX_EPOCH,
            request: None,
            user: None,
            status: Status::BAD_REQUEST,
            body_bytes: 0,
        };
        assert_eq!(
            entry.combined(),
            "::1 - - [01/Jan/1970:00:00:00 +0000] \"-\" 400 - \"-\" \"-\""
        );
    }

    #[test]
    fn escapes_control_bytes() {
        assert_eq!(escape("a\nb\\c\x7f"), "a\\x0ab\\\\c\\x7f");
    }

    #[test]
    fn calendar_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_778), (2026, 11, 21));
    }
}
