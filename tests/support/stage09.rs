//! What stage09's own test files share: its processes (a master's children, their
//! `/proc/PID/status`, a signal to one of them), its config files, and the client loop's
//! tally of a load that runs while the server reloads, restarts or stops.

use super::{binary, read_response, HttpResponse};
use std::fs;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

/// `stage09 --config config`, with its stdout (the startup lines) to read, and its stderr
/// gathered as it comes, by a thread of its own, into the string returned (a full stderr
/// pipe would stop the master).
pub fn spawn_config(config: &Path) -> (Child, BufReader<ChildStdout>, Arc<Mutex<String>>) {
    let mut child = Command::new(binary("stage09"))
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stage09");
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = stderr.clone();
    let mut pipe = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_str(&text);
        }
    });
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    (child, stdout, stderr)
}

extern "C" {
    /// glibc's kill(2) (the test package links no libc crate).
    fn kill(pid: i32, signal: i32) -> i32;
}

/// Sends signal `number` to `pid`, and fails the test if it could not.
pub fn signal(pid: u32, number: i32) {
    // SAFETY: kill takes two integers and touches no memory of ours.
    let sent = unsafe { kill(pid as i32, number) };
    assert_eq!(sent, 0, "kill({pid}, {number})");
}

/// The pids whose parent is `parent` (from /proc/PID/stat: the field after the name).
pub fn children(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            found.push(pid);
        }
    }
    found.sort();
    found
}

/// The `Name:`-style line of /proc/PID/status, its fields split.
pub fn status_field(pid: u32, name: &str) -> Vec<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

pub fn is_root() -> bool {
    status_field(std::process::id(), "Uid")
        .first()
        .map(String::as_str)
        == Some("0")
}

/// A config for `root` on an OS-chosen port, logging to `{dir}/access.log`.
pub fn site_config(root: &Path, extra: &str) -> String {
    format!(
        "root = {:?}\nworkers = 2\n{extra}\n[access_log]\npath = \"{{dir}}/access.log\"\n[[listener]]\naddress = \"127.0.0.1\"\nport = 0\n",
        root.display().to_string()
    )
}

/// What one client loop saw.
#[derive(Default, Debug)]
pub struct Tally {
    pub ok: u64,
    /// A reused keep-alive connection closed before any byte of the answer: the request was
    /// never taken (the server closed an idle connection just as it was sent), and an HTTP
    /// client sends it again on a new connection (RFC 9112 section 9.3.1). Counted, not failed.
    pub retried: u64,
    pub failed: Vec<String>,
}

/// One request on `stream`: `Ok(Some(response))`, `Ok(None)` if the connection was closed
/// before a single byte of the answer came, or the error.
pub fn exchange(
    stream: &mut TcpStream,
    pending: &mut Vec<u8>,
) -> std::io::Result<Option<HttpResponse>> {
    let sent = stream.write_all(b"GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut got = 0;
    let result = sent.and_then(|()| {
        read_response(pending, false, |buf| {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk)?;
            got += n;
            buf.extend_from_slice(&chunk[..n]);
            Ok(n)
        })
    });
    match result {
        Ok(response) => Ok(Some(response)),
        Err(_) if got == 0 => Ok(None),
        Err(e) => Err(e),
    }
}
