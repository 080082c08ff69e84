//! A file system that changes under the server: entries swapped by `rename` while requests
//! are served, a FIFO where a file was, a file dated before 1970, symlinks built to make each
//! lookup cost thousands of system calls. Whoever can create or rename
//! entries inside ROOT (an upload folder, a shared directory) can do each of these; none may
//! leak a byte from outside ROOT, block the server, or crash it.
//!
//! Each behaviour builds its own folder (the shared fixture must not change under other
//! tests), and the races are bounded: at most [`ROUNDS`] requests or [`RACE_TIME`].

use crate::support::{Client, HttpResponse, Server, Stage};
use rustix::fs::{renameat_with, RenameFlags, CWD};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, UNIX_EPOCH};

#[macro_export]
macro_rules! filesystem_behaviours {
    ($stage:expr) => {
        $crate::behaviours!($stage, filesystem: [
            a_directory_swapped_with_a_symlink_out_never_leaks,
            a_fifo_swapped_in_does_not_stop_the_server,
            a_file_dated_1969_is_served_without_validators,
            symlinks_that_cost_too_many_lookups_are_a_404,
            out_of_descriptors_is_a_503_not_a_404,
        ]);
    };
}

/// Requests per race, at most.
const ROUNDS: usize = 2_000;
/// Time per race, at most.
const RACE_TIME: Duration = Duration::from_secs(3);

const INSIDE: &str = "inside the root\n";
const OUTSIDE: &str = "OUTSIDE SECRET: must never be served\n";

/// A fresh, empty folder for one test (`base`), holding `root/` (served) and `outside/`.
fn scratch(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "workbook-tests/fs-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&base);
    fs::create_dir_all(base.join("root")).expect("mkdir root");
    fs::create_dir_all(base.join("outside")).expect("mkdir outside");
    base
}

/// The `i`th spelling of `/dir/name`: the plain one on even rounds (a small-file cache then
/// serves it from memory), else `/dir/./name`, `/dir/././name`, ...: the same file to the
/// server, but a new key to a cache, so each is resolved and opened while the race runs.
fn spelling(dir: &str, name: &str, i: usize) -> String {
    let dots = if i.is_multiple_of(2) {
        0
    } else {
        1 + i / 2 % 1000
    };
    format!("/{dir}/{}{name}", "./".repeat(dots))
}

/// GETs on one keep-alive connection, reconnecting whenever the server ends it (stage01
/// closes after every response), so the same loop runs against every stage.
struct Repeater<'a> {
    server: &'a Server,
    client: Option<Client>,
}

impl Repeater<'_> {
    fn new(server: &Server) -> Repeater<'_> {
        Repeater {
            server,
            client: None,
        }
    }

    fn get(&mut self, path: &str) -> HttpResponse {
        self.get_with(path, "")
    }

    /// `GET path` with `extra` header lines (each ending in CRLF).
    fn get_with(&mut self, path: &str, extra: &str) -> HttpResponse {
        let server = self.server;
        let client = self.client.get_or_insert_with(|| server.connect());
        let response = client.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n"
        ));
        let closes = response
            .header("Connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"));
        if closes || response.status_line.starts_with("HTTP/1.0") {
            self.client = None;
        }
        response
    }
}

/// A thread exchanging two entries with `renameat2(RENAME_EXCHANGE)` (atomic: each name
/// always exists) as fast as it can, until the returned flag is set. The entries end as
/// they began: the thread swaps an even number of times.
fn swapper(a: &Path, b: &Path) -> (Arc<AtomicBool>, JoinHandle<usize>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (a, b, flag) = (a.to_path_buf(), b.to_path_buf(), stop.clone());
    let thread = std::thread::spawn(move || {
        let mut swaps = 0;
        while !flag.load(Ordering::Relaxed) || swaps % 2 == 1 {
            renameat_with(CWD, &a, CWD, &b, RenameFlags::EXCHANGE).expect("renameat2");
            swaps += 1;
        }
        swaps
    });
    (stop, thread)
}

// ANCHOR: race
/// `root/d` is a directory holding `f.txt`; `root/link` is a symlink to a folder outside ROOT
/// holding its own `f.txt`. While a thread swaps the two names, `GET /d/f.txt` must get the
/// inside file or a 404, never the outside one: a server that checks the name and then opens
/// it again (stage04 leaked it in about a third of 20,000 requests; stage05's cache kept it)
/// fails here.
pub fn a_directory_swapped_with_a_symlink_out_never_leaks(stage: &Stage) {
    let base = scratch("swap-dir");
    let root = base.join("root");
    fs::create_dir(root.join("d")).expect("mkdir d");
    fs::write(root.join("d/f.txt"), INSIDE).expect("write");
    fs::write(base.join("outside/f.txt"), OUTSIDE).expect("write");
    std::os::unix::fs::symlink(base.join("outside"), root.join("link")).expect("symlink");
    let mut server = Server::start(stage, &root, &[]);
    let mut client = Repeater::new(&server);
    let (stop, thread) = swapper(&root.join("d"), &root.join("link"));
    let (mut served, start) = ([0usize; 2], Instant::now());
    for i in 0..ROUNDS {
        let response = client.get(&spelling("d", "f.txt", i));
        assert!(
            !response.text().contains("OUTSIDE"),
            "leaked the outside file"
        );
        match response.status {
            200 => assert_eq!(response.text(), INSIDE),
            404 => {}
            _ => panic!("unexpected {}", response.status_line),
        }
        served[usize::from(response.status == 404)] += 1;
        if start.elapsed() > RACE_TIME {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = thread.join().expect("swapper");
    eprintln!(
        "{}: {swaps} swaps, {} x 200, {} x 404",
        stage.name, served[0], served[1]
    );
    server.assert_alive();
    // Swapped back: the inside file is served again (the cache noticed within its second).
    let settled = server.wait_for(Duration::from_secs(5), || {
        Repeater::new(&server).get("/d/f.txt").text() == INSIDE
    });
    assert!(settled, "the inside file is no longer served");
    drop(server);
    let _ = fs::remove_dir_all(base);
}
// ANCHOR_END: race

/// A FIFO swapped in for a file: opening a FIFO for reading waits for a writer, so an
/// `open` without `O_NONBLOCK` would hold a worker (stage04) or the whole loop (stage05) for
/// ever. Another client must keep being answered throughout, and the FIFO is never served.
pub fn a_fifo_swapped_in_does_not_stop_the_server(stage: &Stage) {
    let base = scratch("swap-fifo");
    let root = base.join("root");
    fs::write(root.join("p.txt"), INSIDE).expect("write");
    fs::write(root.join("other.txt"), "another file\n").expect("write");
    rustix::fs::mkfifoat(
        CWD,
        root.join("pipe"),
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .expect("mkfifo");
    let mut server = Server::start(stage, &root, &[]);
    let mut racing = Repeater::new(&server);
    let mut other = Repeater::new(&server);
    let (stop, thread) = swapper(&root.join("p.txt"), &root.join("pipe"));
    let start = Instant::now();
    for i in 0..ROUNDS / 2 {
        let response = racing.get(&spelling(".", "p.txt", i));
        match response.status {
            200 => assert_eq!(response.text(), INSIDE),
            404 => {}
            _ => panic!("unexpected {}", response.status_line),
        }
        // A blocked server fails here (the client's read times out).
        assert_eq!(other.get("/other.txt").text(), "another file\n");
        if start.elapsed() > RACE_TIME {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    thread.join().expect("swapper");
    server.assert_alive();
    assert_eq!(Repeater::new(&server).get("/pipe").status, 404);
    assert_eq!(Repeater::new(&server).get("/other.txt").status, 200);
    drop(server);
    let _ = fs::remove_dir_all(base);
}

/// A file touched to 1969 (`touch -d 1969-07-20 f`) has a modification time an HTTP date
/// cannot say (`httpdate` panicked on it, and took stage05 down with exit code 101). It is
/// served whole, with no `Last-Modified` and no `ETag`, every time, and never as a 304.
pub fn a_file_dated_1969_is_served_without_validators(stage: &Stage) {
    let base = scratch("1969");
    let root = base.join("root");
    fs::write(root.join("old.txt"), "one small step\n").expect("write");
    fs::write(root.join("new.txt"), "a later file\n").expect("write");
    let moon = UNIX_EPOCH - Duration::from_secs(14_182_940); // 1969-07-20 20:17:40 UTC
    let file = fs::File::options()
        .write(true)
        .open(root.join("old.txt"))
        .expect("open");
    file.set_modified(moon).expect("set a 1969 mtime");
    drop(file);
    assert!(fs::metadata(root.join("old.txt"))
        .and_then(|meta| meta.modified())
        .is_ok_and(|modified| modified < UNIX_EPOCH));
    let mut server = Server::start(stage, &root, &[]);
    let mut client = Repeater::new(&server);
    // More than once: stage04 lost a worker to each such request.
    for extra in [
        "",
        "",
        "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n",
        "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
    ] {
        let response = client.get_with("/old.txt", extra);
        assert_eq!(response.status, 200, "{extra:?}");
        assert_eq!(response.body, b"one small step\n");
        assert_eq!(response.header("Last-Modified"), None);
        assert_eq!(response.header("ETag"), None);
    }
    server.assert_alive();
    let later = Repeater::new(&server).get("/new.txt");
    assert_eq!(later.status, 200);
    assert!(later
        .header("Last-Modified")
        .is_some_and(|date| date.ends_with(" GMT")));
    drop(server);
    let _ = fs::remove_dir_all(base);
}

/// Symlinks built to make one lookup expensive: 40 absolute links (absolute, so the server
/// walks them itself, one system call per name), each target about 4 KiB of `d/../d/..`.
/// The kernel would resolve the chain; walked by the server it was 64,000 lookups per request,
/// and through `/proc/self/root` (ROOT spelled by another name, once resolved by `realpath`
/// with a fresh 40-link allowance per link) about 5 s of stage05's only thread per request.
/// Past the walk's budget the answer is a 404; ROOT spelled through `/proc/self/root` within
/// it still works, and another client is answered between the expensive requests.
pub fn symlinks_that_cost_too_many_lookups_are_a_404(stage: &Stage) {
    use std::os::unix::fs::symlink;
    let base = scratch("lookups");
    let root = base.join("root");
    fs::create_dir(root.join("d")).expect("mkdir d");
    fs::write(root.join("a.txt"), INSIDE).expect("write");
    let real = fs::canonicalize(&root).expect("canonical root");
    let real = real.to_str().expect("a UTF-8 temp path");
    // As long as a symlink target may be (4095 bytes), whatever the temp folder's path.
    let pad = "d/../".repeat((3_900 - real.len()) / 5);
    for i in 0..39 {
        let target = format!("{real}/{pad}long{}", i + 1);
        symlink(target, root.join(format!("long{i}"))).expect("symlink");
        let target = format!("/proc/self/root{real}/{pad}proc{}", i + 1);
        symlink(target, root.join(format!("proc{i}"))).expect("symlink");
    }
    symlink("a.txt", root.join("long39")).expect("symlink");
    symlink("a.txt", root.join("proc39")).expect("symlink");
    symlink(
        format!("/proc/self/root{real}/a.txt"),
        root.join("alias.txt"),
    )
    .expect("symlink");
    let mut server = Server::start(stage, &root, &[]);
    let mut attacker = Repeater::new(&server);
    let mut other = Repeater::new(&server);
    for i in 0..20 {
        // A new spelling each time, so that no cache answers instead of the walk.
        assert_eq!(attacker.get(&spelling(".", "long0", i)).status, 404);
        assert_eq!(attacker.get(&spelling(".", "proc0", i)).status, 404);
        assert_eq!(other.get("/a.txt").text(), INSIDE);
    }
    let alias = Repeater::new(&server).get("/alias.txt");
    assert_eq!((alias.status, alias.text()), (200, INSIDE.to_string()));
    server.assert_alive();
    drop(server);
    let _ = fs::remove_dir_all(base);
}

/// An open that fails for the server's own reasons (EMFILE: no descriptor left) says nothing
/// about the file: answering 404 would tell a client, and any cache in front, that an
/// existing file is gone. It is a 503 with `Retry-After`, and the server recovers.
pub fn out_of_descriptors_is_a_503_not_a_404(stage: &Stage) {
    let base = scratch("emfile");
    let root = base.join("root");
    fs::write(root.join("here.txt"), "it exists\n").expect("write");
    let mut server = Server::start(stage, &root, &[]);
    // Allow exactly one more descriptor: the connection's. The file's open then fails.
    let fd_dir = format!("/proc/{}/fd", server.pid());
    let open: std::collections::HashSet<u64> = fs::read_dir(&fd_dir)
        .expect("list the server's descriptors")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let lowest_free = (0..).find(|fd| !open.contains(fd)).unwrap_or(0);
    crate::support::limit_fds(server.pid(), lowest_free + 1).expect("cap the descriptors");
    let response = server.connect().request("GET /here.txt HTTP/1.0\r\n\r\n");
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(response.header("Retry-After"), Some("1"));
    // With descriptors again, the same file is there.
    crate::support::limit_fds(server.pid(), 1024).expect("lift the cap");
    let response = server.connect().request("GET /here.txt HTTP/1.0\r\n\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"it exists\n");
    server.assert_alive();
}
