//! The access log, written by one process: the master.
//!
//! N workers writing one file would each have to rotate it: rename it under the others' feet,
//! agree on who renames, and reopen a file that a chrooted worker can no longer even name. So
//! they don't write it. Each worker writes its lines to a pipe of its own (its stdout), one
//! `write` per line, and the master, the only writer of the file, copies whole lines from the
//! pipes to the file:
//!
//! - no line is torn: a worker's pipe carries only that worker's lines, and the master writes
//!   only up to the last newline it has; a fragment waits for its end (and a fragment left by
//!   a worker that died mid-line is dropped and counted, never written);
//! - no line is lost by rotation: the master rotates between two writes of its own, so there is
//!   no moment when a writer holds the old file;
//! - rotation by size is a few renames (`access.log.2` to `.3`, `.1` to `.2`, the log to `.1`)
//!   and a fresh open; USR1 (logrotate's convention, after it renamed the file) only reopens;
//! - a full disk costs lines, not service: a failed write is counted in `dropped` and serving
//!   goes on (the worker never sees the disk at all); so does a stdout pipe whose reader
//!   stalls (`stage09 8080 www | tee`): it is written without blocking, and what it will not
//!   take is dropped, whole lines only.
//!
//! The price is a copy through a pipe per line; the master reads them in 64 KiB gulps.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{BorrowedFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

// ANCHOR: say
/// `eprintln!` for the master, which must not die of its own messages: std's `eprintln!`
/// panics when the write fails, and it fails (EPIPE) once the reader of a piped stderr is
/// gone: a closed terminal, a log collector that died (Rust ignores SIGPIPE, so the write
/// returns the error instead of killing us). The master's loop is the whole server: a
/// message may be lost, the server may not.
/// The line is formatted first and written in one `write`: std's stderr is unbuffered, so
/// `writeln!` would write each piece of the format on its own, and a reader could see half.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!("{}\n", format_args!($($arg)*));
        let _ = std::io::stderr().write_all(line.as_bytes());
    }};
}
pub(crate) use say;
// ANCHOR_END: say

// ANCHOR: writer
/// The master's end: the file (or stdout), its size, and what rotation wants.
pub struct LogFile {
    /// `None`: the master's stdout.
    path: Option<PathBuf>,
    out: Output,
    /// Bytes in the current file, as far as we know (we are its only writer).
    size: u64,
    /// Rotate once `size` reaches this; 0: never.
    rotate_size: u64,
    keep: u64,
    /// Lines lost to failed writes (a full disk), for the metrics.
    pub dropped: u64,
    /// Whether the current failing spell has been reported (once, not once per line).
    warned: bool,
    /// The same for rotation: a folder that is gone fails every write that finds the file
    /// full, and an error log line per write would fill the disk the access log could not.
    rotate_warned: bool,
}

enum Output {
    File(File),
    Stdout,
}

impl LogFile {
    /// Opens `path` for appending (`-`: stdout). One line of error if it cannot be.
    pub fn open(path: &Path, rotate_size: u64, keep: u64) -> Result<LogFile, String> {
        let (path, out, size) = if path == Path::new("-") {
            stdout_nonblocking_if_a_pipe();
            (None, Output::Stdout, 0)
        } else {
            let file = append(path)?;
            let size = file.metadata().map_or(0, |m| m.len());
            (Some(path.to_path_buf()), Output::File(file), size)
        };
        Ok(LogFile {
            path,
            out,
            size,
            rotate_size,
            keep,
            dropped: 0,
            warned: false,
            rotate_warned: false,
        })
    }

    /// Writes whole lines (`lines` ends with a newline), then rotates if the file is full.
    pub fn write_lines(&mut self, lines: &[u8]) {
        let result = match &mut self.out {
            Output::File(file) => file.write_all(lines).map_err(|e| (e, count_lines(lines))),
            Output::Stdout => stdout_lines(lines),
        };
        match result {
            Ok(()) => {
                self.size += lines.len() as u64;
                self.warned = false;
            }
            // The disk is full (or the file went away, or stdout's reader stalls): these lines
            // are gone; count them, and say so once per spell of failures, not once per line.
            Err((e, lost)) => {
                self.dropped += lost;
                if !self.warned {
                    self.warned = true;
                    say!(
                        "stage09: cannot write the access log {}: {e}; serving goes on, lost lines are counted",
                        self.name()
                    );
                }
            }
        }
        if self.rotate_size > 0 && self.size >= self.rotate_size {
            match self.rotate() {
                Ok(()) => self.rotate_warned = false,
                // Lines still go to the file we have; the next full write tries again.
                Err(e) if !self.rotate_warned => {
                    self.rotate_warned = true;
                    say!(
                        "stage09: cannot rotate the access log: {e}; writing on to the current file, and trying again"
                    );
                }
                Err(_) => {}
            }
        }
    }

    /// `log.N-1` to `log.N`, ..., `log` to `log.1`, and a new `log`. The oldest falls off.
    fn rotate(&mut self) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let numbered = |n: u64| PathBuf::from(format!("{}.{n}", path.display()));
        for n in (1..self.keep).rev() {
            match std::fs::rename(numbered(n), numbered(n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(format!("rename {}: {e}", numbered(n).display()))
                }
                _ => {}
            }
        }
        std::fs::rename(path, numbered(1))
            .map_err(|e| format!("rename {}: {e}", path.display()))?;
        self.out = Output::File(append(path)?);
        self.size = 0;
        Ok(())
    }

    fn name(&self) -> String {
        self.path
            .as_ref()
            .map_or("(stdout)".into(), |p| p.display().to_string())
    }

    /// USR1: the file may have been renamed away (logrotate); open the name again.
    pub fn reopen(&mut self) -> Result<(), String> {
        if let Some(path) = &self.path {
            let file = append(path)?;
            self.size = file.metadata().map_or(0, |m| m.len());
            self.out = Output::File(file);
        }
        Ok(())
    }
}
// ANCHOR_END: writer

fn append(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open access log {}: {e}", path.display()))
}

// ANCHOR: stdout
/// Makes stdout non-blocking if it is a pipe or a socket: a reader that stops reading (a
/// paused `less`, a stuck `tee`) must not stop the master, whose loop also reads the workers'
/// pipes, or every worker would block on its next line. A terminal or a file is left as it is:
/// its open file description is shared with the shell, which expects it blocking.
fn stdout_nonblocking_if_a_pipe() {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, fstat, FileType, OFlags};
    // SAFETY: descriptor 1 is open for the life of the process; it is only borrowed here.
    let out = unsafe { BorrowedFd::borrow_raw(1) };
    let Ok(stat) = fstat(out) else {
        return;
    };
    if matches!(
        FileType::from_raw_mode(stat.st_mode),
        FileType::Fifo | FileType::Socket
    ) {
        if let Ok(flags) = fcntl_getfl(out) {
            let _ = fcntl_setfl(out, flags | OFlags::NONBLOCK);
        }
    }
}

/// The end of a line that stdout took only the start of: it is written before anything else,
/// so that no line is torn. One stdout per process, so one tail (it outlives the `LogFile` a
/// reload replaces).
static STDOUT_TAIL: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Writes whole lines to stdout without waiting for it; `Err` holds the lines dropped.
fn stdout_lines(lines: &[u8]) -> Result<(), (io::Error, u64)> {
    // Descriptor 1 itself, not std's line-buffered `Stdout`, which would keep what a full
    // pipe refused and write it later, in the middle of some other line.
    // SAFETY: descriptor 1 is open for the life of the process; ManuallyDrop never closes it.
    let mut out = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    let mut tail = STDOUT_TAIL.lock().unwrap_or_else(|e| e.into_inner());
    let stalled = || io::Error::new(io::ErrorKind::WouldBlock, "the reader is not keeping up");
    if !tail.is_empty() {
        let n = write_some(&mut out, &tail).map_err(|e| (e, count_lines(lines)))?;
        tail.drain(..n);
        if !tail.is_empty() {
            return Err((stalled(), count_lines(lines)));
        }
    }
    let n = write_some(&mut out, lines).map_err(|e| (e, count_lines(lines)))?;
    if n == lines.len() {
        return Ok(());
    }
    // The line the pipe took the start of is finished later, from the tail; the lines after
    // it are dropped.
    let begun_end = match lines[..n].last() {
        None | Some(b'\n') => n,
        Some(_) => {
            n + lines[n..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(0, |i| i + 1)
        }
    };
    tail.extend_from_slice(&lines[n..begun_end]);
    match count_lines(&lines[begun_end..]) {
        0 => Ok(()),
        lost => Err((stalled(), lost)),
    }
}

/// At exit: the end of a line stdout took only the start of is written, waiting up to
/// `within` for a reader that has fallen behind, so that the log does not end in half a line.
pub fn finish_stdout(within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        match stdout_lines(&[]) {
            Err((e, _)) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => return,
        }
    }
}

/// `write_all`, except that it stops when the descriptor would block: how much went.
fn write_some(out: &mut File, bytes: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < bytes.len() {
        match out.write(&bytes[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
// ANCHOR_END: stdout

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

// ANCHOR: lines
/// What the master has read from one worker's pipe and not yet written: at most a fragment of
/// a line, whose end is still in the pipe.
#[derive(Default)]
pub struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Adds freshly read bytes; returns the whole lines now complete (possibly none).
    pub fn push<'a>(&'a mut self, fresh: &'a [u8]) -> WholeLines<'a> {
        match fresh.iter().rposition(|&b| b == b'\n') {
            None => {
                self.pending.extend_from_slice(fresh);
                WholeLines::None
            }
            Some(last) if self.pending.is_empty() => {
                // The common case: no copy, the lines go straight from the read buffer.
                let (whole, rest) = fresh.split_at(last + 1);
                let out = WholeLines::Borrowed(whole);
                self.pending.extend_from_slice(rest);
                out
            }
            Some(last) => {
                let mut whole = std::mem::take(&mut self.pending);
                whole.extend_from_slice(&fresh[..=last]);
                self.pending.extend_from_slice(&fresh[last + 1..]);
                WholeLines::Owned(whole)
            }
        }
    }

    /// The worker is gone: a fragment left now can never be finished. It is dropped (a torn
    /// line in the log is worse than a missing one); returns whether there was one.
    pub fn abandon(&mut self) -> bool {
        let torn = !self.pending.is_empty();
        self.pending = Vec::new();
        torn
    }
}

pub enum WholeLines<'a> {
    None,
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl WholeLines<'_> {
    pub fn bytes(&self) -> &[u8] {
        match self {
            WholeLines::None => &[],
            WholeLines::Borrowed(b) => b,
            WholeLines::Owned(v) => v,
        }
    }
}
// ANCHOR_END: lines

// ANCHOR: sink
/// A worker's end: its stdout, a pipe to the master. Every loop of the worker shares it; the
/// lock makes each line one uninterrupted `write` even when it is longer than the pipe's
/// atomic size (4 KiB), and the pipe is this worker's alone.
pub struct Pipe {
    out: Mutex<File>,
}

impl Pipe {
    pub fn new(out: File) -> Pipe {
        Pipe {
            out: Mutex::new(out),
        }
    }

    /// Writes `line` and its newline in one call; false if it could not (the master is gone).
    pub fn write_line(&self, line: &str) -> bool {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        match self.out.lock() {
            Ok(mut out) => out.write_all(&bytes).is_ok(),
            Err(_) => false,
        }
    }
}
// ANCHOR_END: sink

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_lines_come_out() {
        let mut lines = Lines::default();
        assert_eq!(lines.push(b"GET /a").bytes(), b"");
        assert_eq!(
            lines.push(b" 200\nGET /b 200\nGET").bytes(),
            b"GET /a 200\nGET /b 200\n"
        );
        assert_eq!(lines.push(b" /c 404\n").bytes(), b"GET /c 404\n");
        assert!(!lines.abandon());
        lines.push(b"torn");
        assert!(lines.abandon());
    }

    #[test]
    fn rotation_keeps_n_files_and_every_line() {
        let dir = std::env::temp_dir().join(format!("stage09-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("access.log");
        let mut log = LogFile::open(&path, 100, 3).expect("open");
        for i in 0..100 {
            log.write_lines(format!("line {i:03} padding padding\n").as_bytes());
        }
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(
            files,
            ["access.log", "access.log.1", "access.log.2", "access.log.3"]
        );
        // The newest lines are all there, in order, across the files kept.
        let text: String = ["access.log.3", "access.log.2", "access.log.1", "access.log"]
            .iter()
            .map(|f| std::fs::read_to_string(dir.join(f)).expect("read"))
            .collect();
        assert!(text.ends_with("line 099 padding padding\n"), "{text}");
        assert!(text.lines().all(|l| l.len() == 24), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_rotation_that_fails_goes_on_writing_and_recovers() {
        let dir = std::env::temp_dir().join(format!("stage09-norotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("access.log");
        let mut log = LogFile::open(&path, 10, 3).expect("open");
        // The folder goes away under the open file: every rename fails.
        std::fs::remove_dir_all(&dir).expect("remove");
        for _ in 0..5 {
            log.write_lines(b"a line over ten bytes\n");
        }
        assert!(log.rotate_warned);
        assert_eq!(log.dropped, 0, "written to the open (unlinked) file");
        // Back, the next full write rotates and the spell is over.
        std::fs::create_dir_all(&dir).expect("dir");
        log.reopen().expect("reopen");
        log.write_lines(b"a line over ten bytes\n");
        assert!(!log.rotate_warned);
        assert!(dir.join("access.log.1").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_disk_counts_dropped_lines() {
        let mut log = LogFile::open(Path::new("/dev/full"), 0, 1).expect("open");
        log.write_lines(b"a\nb\n");
        assert_eq!(log.dropped, 2);
    }
}
