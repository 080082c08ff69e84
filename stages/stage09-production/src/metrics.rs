//! The counters behind `/metrics`, shared by every process in one page of memory.
//!
//! A Prometheus scrape must see the whole server, but it reaches one worker (whichever the
//! kernel hands the connection). So the counters do not live in a worker: the master makes a
//! memfd (a file that is only memory), sizes it for every worker, and hands it to each worker
//! at descriptor 3; everyone `mmap`s it shared. Worker `i` adds to slot `i` with atomic
//! instructions (which work between processes as between threads: it is the same physical
//! memory), and the worker that answers a scrape reads every slot and adds them up. A worker
//! that dies and its replacement use the same slot, so the totals never go backwards, as
//! Prometheus counters must not; so do the old and the new generation during a reload. The
//! master counts what only it sees (restarts, log lines lost) in the page's header.
//!
//! The text format is written by hand: a few `# TYPE` lines and `name{labels} value` lines
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>), checked by `promtool
//! check metrics` in CI.

use common::log::LineFacts;
use std::fmt::Write as _;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::SystemTime;

/// Workers the page has room for (a config allows at most 1024 workers).
pub const SLOTS: usize = 1024;

/// The statuses counted one by one; anything else counts as `other`.
const STATUSES: [u16; 19] = [
    200, 206, 301, 304, 400, 401, 403, 404, 405, 408, 413, 414, 416, 431, 500, 501, 503, 505, 0,
];
/// `-` is a head that could not be parsed (no version known).
const PROTOCOLS: [&str; 4] = ["HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "-"];
/// Upper bounds of the latency histogram's buckets, in seconds (the last is +Inf).
const BUCKETS: [f64; 10] = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];

// ANCHOR: slot
/// One worker's counters. `repr(C)`: every process must agree on the layout.
#[repr(C)]
pub struct Slot {
    requests: [[AtomicU64; STATUSES.len()]; PROTOCOLS.len()],
    body_bytes: AtomicU64,
    open_connections: AtomicI64,
    /// Cumulative counts, Prometheus style: bucket `i` counts every latency <= BUCKETS[i].
    latency: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    /// Lines the worker could not hand to the master (its pipe broke).
    lines_dropped: AtomicU64,
}

/// The whole page: what the master counts, then a slot per worker.
#[repr(C)]
struct Page {
    restarts: AtomicU64,
    lines_lost: AtomicU64,
    slots: [Slot; SLOTS],
}
// ANCHOR_END: slot

/// A process's view of the shared page.
pub struct Shared {
    page: &'static Page,
    fd: OwnedFd,
}

impl Shared {
    /// The master's: a fresh memfd of the page's size, zeroed (zero is every counter's start).
    pub fn create() -> std::io::Result<Shared> {
        use rustix::fs::{memfd_create, MemfdFlags};
        let fd = memfd_create("stage09-metrics", MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&fd, std::mem::size_of::<Page>() as u64)?;
        Shared::map(fd)
    }

    /// A worker's: the memfd it inherited.
    pub fn map(fd: OwnedFd) -> std::io::Result<Shared> {
        use rustix::mm::{mmap, MapFlags, ProtFlags};
        let size = std::mem::size_of::<Page>();
        if rustix::fs::fstat(&fd)?.st_size < size as i64 {
            return Err(std::io::Error::other("the metrics page is too small"));
        }
        // SAFETY: a shared mapping of a memfd at least `size` long, never unmapped (it lives
        // as long as the process); every field of Page is an atomic integer, for which any
        // bit pattern (zero included) is valid, and which may be changed by another process
        // at any time: that is what atomics are for.
        let page = unsafe {
            let at = mmap(
                std::ptr::null_mut(),
                size,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )?;
            &*(at as *const Page)
        };
        Ok(Shared { page, fd })
    }

    /// The memfd, for the master to pass on to a worker.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Worker `index`'s slot (replacements and later generations share it).
    pub fn slot(&self, index: u64) -> &'static Slot {
        &self.page.slots[(index as usize) % SLOTS]
    }

    pub fn add_restart(&self) {
        self.page.restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// The master's count of lost access log lines (it owns the file), set to its total.
    pub fn set_lines_lost(&self, lost: u64) {
        self.page.lines_lost.store(lost, Ordering::Relaxed);
    }

    // ANCHOR: render
    /// The whole server's counters in the Prometheus text format.
    pub fn render(&self) -> String {
        let sum = |f: &dyn Fn(&Slot) -> u64| -> u64 { self.page.slots.iter().map(f).sum() };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        out.push_str("# HELP stage09_requests_total Responses sent, by status and protocol.\n");
        out.push_str("# TYPE stage09_requests_total counter\n");
        for (p, protocol) in PROTOCOLS.iter().enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let n = sum(&|slot| load(&slot.requests[p][s]));
                let code = match status {
                    0 => "other".to_string(),
                    code => code.to_string(),
                };
                if n > 0 || (*status == 200 && p == 1) {
                    let _ = writeln!(
                        out,
                        "stage09_requests_total{{code=\"{code}\",protocol=\"{protocol}\"}} {n}"
                    );
                }
            }
        }
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            &mut out,
            "stage09_response_body_bytes_total",
            "Body bytes sent.",
            sum(&|slot| load(&slot.body_bytes)),
        );
        let open: i64 = self
            .page
            .slots
            .iter()
            .map(|s| s.open_connections.load(Ordering::Relaxed))
            .sum();
        let _ = writeln!(
            out,
            "# HELP stage09_open_connections Connections open now.\n# TYPE stage09_open_connections gauge\nstage09_open_connections {}",
            open.max(0)
        );
        out.push_str("# HELP stage09_response_seconds From the turn that read a request to its response queued (files: to the last byte handed to the kernel).\n");
        out.push_str("# TYPE stage09_response_seconds histogram\n");
        let count = sum(&|slot| load(&slot.latency_count));
        for (i, bound) in BUCKETS.iter().enumerate() {
            let n = sum(&|slot| load(&slot.latency[i]));
            let _ = writeln!(out, "stage09_response_seconds_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "stage09_response_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let micros = sum(&|slot| load(&slot.latency_sum_micros));
        let _ = writeln!(out, "stage09_response_seconds_sum {}", micros as f64 / 1e6);
        let _ = writeln!(out, "stage09_response_seconds_count {count}");
        counter(
            &mut out,
            "stage09_worker_restarts_total",
            "Workers that died and were replaced.",
            load(&self.page.restarts),
        );
        let dropped = load(&self.page.lines_lost) + sum(&|slot| load(&slot.lines_dropped));
        counter(
            &mut out,
            "stage09_log_lines_dropped_total",
            "Access log lines lost (a full disk, a broken pipe, a worker dead mid-line).",
            dropped,
        );
        out
    }
    // ANCHOR_END: render
}

impl Slot {
    /// One response, as its log line's facts say, finished `now`.
    pub fn record(&self, facts: &LineFacts, now: SystemTime) {
        let protocol = match facts.version.map(|v| v.as_str()) {
            Some("HTTP/1.0") => 0,
            Some("HTTP/1.1") => 1,
            Some(_) => 2,
            None => 3,
        };
        let code = facts.status.code();
        let status = STATUSES[..STATUSES.len() - 1]
            .iter()
            .position(|&s| s == code)
            .unwrap_or(STATUSES.len() - 1);
        self.requests[protocol][status].fetch_add(1, Ordering::Relaxed);
        self.body_bytes
            .fetch_add(facts.body_bytes, Ordering::Relaxed);
        let seconds = now
            .duration_since(facts.time)
            .map_or(0.0, |d| d.as_secs_f64());
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.latency[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn opened(&self) {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn closed(&self) {
        self.open_connections.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn line_dropped(&self) {
        self.lines_dropped.fetch_add(1, Ordering::Relaxed);
    }
}
