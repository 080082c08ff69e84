//! stage09 (the production server: a config file, a master and N workers, reload, log
//! rotation, privileges).
//!
//! Started as every stage is (`stage09 0 ROOT --access-log FILE`), it claims what stage06's
//! HTTP/1.1 claims in the clear, and the conformance groups run against it unchanged, through
//! the master and its workers. The tests below are stage09's own: each mistake a config file
//! can hold, named with its line and column; the process tree; and the faults of issue 15,
//! each with the outcome it must have.

mod conformance;
mod support;

use std::fs;
use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::stage09::{
    children, exchange, is_root, signal, site_config, spawn_config, status_field, Tally,
};
use support::{binary, fixture, Stage};

const STAGE: Stage = Stage::new("stage09").skipping(&[
    (
        "bad_port_is_a_usage_error",
        "PORT is optional beside --config, so clap names it [PORT]; the value is still refused with exit 2 (bad_port_is_refused below)",
    ),
    (
        "out_of_descriptors_is_a_503_not_a_404",
        "it caps the descriptors of the process it started, the master, which serves nothing; the workers share eventloop's 503 (stage06 proves it)",
    ),
    (
        "one_thread_serves_five_hundred_connections",
        "it counts the descriptors of the process it started, the master, which holds no connection (the workers run eventloop's loop, which stage06 proves this on)",
    ),
    (
        "ten_thousand_idle_connections_and_still_serving",
        "it counts the master's descriptors, as above",
    ),
    (
        "a_stop_that_outlives_the_grace_period_exits_one",
        "its readiness counts the master's descriptors, as above (the master's exit code 1 for a worker cut off by its grace is in master.rs)",
    ),
    (
        "a_second_sigint_exits_at_once",
        "its readiness counts the master's descriptors, as above (a second INT: the master kills the workers and exits 130, master.rs)",
    ),
    (
        "max_connections_pauses_accepting",
        "--max-connections is per worker: with N workers, N times as many are accepted (nginx's worker_connections likewise)",
    ),
    (
        "three_hundred_clients_on_a_bounded_pool",
        "no pool and no --threads: the workers' event loops serve every client",
    ),
    (
        "a_full_queue_answers_503_with_retry_after",
        "no queue to fill: connections beyond --max-connections wait in the kernel's backlog",
    ),
    (
        "idle_keep_alive_clients_do_not_starve_a_waiting_one",
        "no --threads: an idle connection holds no worker",
    ),
]);

http10_behaviours!(crate::STAGE);
traversal_behaviours!(crate::STAGE);
filesystem_behaviours!(crate::STAGE);
limits_behaviours!(crate::STAGE);
hostile_behaviours!(crate::STAGE);
cli_behaviours!(crate::STAGE);
keepalive_behaviours!(crate::STAGE);
pipelining_behaviours!(crate::STAGE);
resilience_behaviours!(crate::STAGE);
pool_behaviours!(crate::STAGE);
eventloop_behaviours!(crate::STAGE);
precompressed_behaviours!(crate::STAGE);

/// A folder of its own for one test: configs, logs.
fn scratch(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "stage09-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The fixture root as a TOML string.
fn root_line() -> String {
    format!("root = {:?}\n", fixture().root.display().to_string())
}

// ---- Configuration: every mistake is one line, file:line:column, and exit 2 ----

/// Runs `stage09 FLAG FILE` on `text`; returns (exit code, stdout, stderr).
fn with_config(flag: &str, text: &str) -> (i32, String, String, PathBuf) {
    let dir = scratch("config");
    let path = dir.join("site.toml");
    fs::write(&path, text).expect("write config");
    let out = Command::new(binary("stage09"))
        .arg(flag)
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .expect("run stage09");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        path,
    )
}

/// `text` is refused by --check-config and by --config, both with exactly `line` (after
/// `stage09: FILE:`) and exit 2; nothing is left running.
fn refused(text: &str, line: &str) {
    for flag in ["--check-config", "--config"] {
        let (code, _, stderr, path) = with_config(flag, text);
        assert_eq!(
            stderr,
            format!("stage09: {}:{line}\n", path.display()),
            "{flag}"
        );
        assert_eq!(code, 2, "{flag}: {stderr}");
    }
}

#[test]
fn a_good_config_checks_ok() {
    let (code, stdout, stderr, path) = with_config(
        "--check-config",
        &format!("{}[[listener]]\nport = 0\n", root_line()),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, format!("stage09: {}: ok\n", path.display()));
}

#[test]
fn the_shipped_example_config_checks_ok() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("stages/stage09-production/site.toml");
    // Its root ("www") is relative to the repository's root, where the README runs it.
    let out = Command::new(binary("stage09"))
        .arg("--check-config")
        .arg(&example)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unknown_key_is_named_with_its_place() {
    let text = format!(
        "{}[[listener]]\nport = 0\n[access_log]\npath = \"a.log\"\n    rotate_sise = 10\n",
        root_line()
    );
    refused(
        &text,
        "6:5: unknown field \"rotate_sise\", expected one of \"path\", \"rotate_size\", \"keep\"",
    );
}

#[test]
fn a_value_of_the_wrong_type_is_named() {
    let text = format!("{}workers = \"two\"\n[[listener]]\nport = 0\n", root_line());
    refused(&text, "2:11: invalid type: string \"two\", expected u64");
}

#[test]
fn a_syntax_error_is_named() {
    let text = format!("{}[[listener]\nport = 0\n", root_line());
    let (code, _, stderr, path) = with_config("--check-config", &text);
    assert_eq!(code, 2);
    let prefix = format!("stage09: {}:2:", path.display());
    assert!(stderr.starts_with(&prefix), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_value_out_of_range_is_named() {
    let text = format!(
        "{}[[listener]]\nport = 0\n[timeouts]\nidle = 0\n",
        root_line()
    );
    refused(&text, "5:8: timeouts.idle must be 1 to 86400 seconds");
    let text = format!("{}[[listener]]\nport = 70000\n", root_line());
    let (code, _, stderr, _) = with_config("--check-config", &text);
    assert_eq!(code, 2);
    assert!(stderr.contains(":3:8: "), "{stderr}");
}

#[test]
fn a_missing_root_is_named() {
    refused(
        "root = \"/no/such/folder\"\n[[listener]]\nport = 0\n",
        "1:8: ROOT /no/such/folder does not exist",
    );
}

#[test]
fn no_listener_is_named() {
    let (code, _, stderr, path) = with_config("--check-config", &root_line());
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        format!(
            "stage09: {}: no [[listener]]: add one, e.g. [[listener]] port = 8080\n",
            path.display()
        )
    );
}

#[test]
fn the_same_address_twice_is_named() {
    let text = format!(
        "{}[[listener]]\nport = 8080\n[[listener]]\nport = 8080\n",
        root_line()
    );
    refused(&text, "5:8: [::]:8080 is listed twice");
}

#[test]
fn an_unreadable_certificate_is_named() {
    let text = format!(
        "{}[[listener]]\nport = 0\ntls = {{ cert = \"/no/cert.pem\", key = \"/no/key.pem\" }}\n",
        root_line()
    );
    refused(
        &text,
        "4:16: cannot read certificate /no/cert.pem: No such file or directory (os error 2)",
    );
}

#[test]
fn a_file_that_is_no_certificate_is_named() {
    let dir = scratch("badcert");
    let cert = dir.join("cert.pem");
    fs::write(&cert, "not a certificate\n").expect("write");
    let text = format!(
        "{}[[listener]]\nport = 0\ntls = {{ cert = {:?}, key = {:?} }}\n",
        root_line(),
        cert.display().to_string(),
        cert.display().to_string()
    );
    refused(
        &text,
        "4:16: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
    );
}

#[test]
fn an_unknown_user_is_named() {
    let text = format!(
        "{}user = \"no-such-user-here\"\n[[listener]]\nport = 0\n",
        root_line()
    );
    refused(&text, "2:8: no user \"no-such-user-here\" on this system");
}

#[test]
fn a_missing_config_file_is_one_line() {
    let out = Command::new(binary("stage09"))
        .args(["--check-config", "/no/such/site.toml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "stage09: cannot read config /no/such/site.toml: No such file or directory (os error 2)\n"
    );
}

#[test]
fn bad_port_is_refused() {
    let out = Command::new(binary("stage09"))
        .args(["99999", "."])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid value '99999' for '[PORT]'"),
        "{stderr}"
    );
}

// ---- Signals, sent as a person would (kill -TERM PID) ----

const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;
const SIGUSR1: i32 = 10;
const SIGTERM: i32 = 15;

// ---- Processes: a master that never serves, N workers, replaced when they die ----

fn cmdline(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

#[test]
fn the_master_has_n_worker_processes_and_serves_nothing_itself() {
    let server = STAGE.start_with(&["--workers", "3"]);
    let workers = children(server.pid());
    assert_eq!(workers.len(), 3, "{workers:?}");
    for pid in &workers {
        assert!(cmdline(*pid).contains("--worker"), "{}", cmdline(*pid));
        // A fresh process of the same binary (exec), not a fork of the master.
        let exe = fs::read_link(format!("/proc/{pid}/exe")).expect("exe");
        assert_eq!(exe, binary("stage09"));
    }
    // Each worker is one loop on one thread (plus nothing: no pool without --htpasswd).
    for pid in &workers {
        assert_eq!(status_field(*pid, "Threads"), ["1"], "worker {pid}");
    }
    // The master holds the listener but accepts nothing: five open connections, each
    // answered, add no descriptor to it.
    let before = server.open_fds();
    let mut clients: Vec<_> = (0..5).map(|_| server.connect()).collect();
    for client in &mut clients {
        let response = client.request("GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(response.status, 200);
    }
    assert_eq!(server.open_fds(), before, "the master took a connection");
}

#[test]
fn threads_mode_is_one_worker_process_with_n_loops() {
    let server = STAGE.start_with(&["--workers", "3", "--worker-mode", "threads"]);
    let workers = children(server.pid());
    assert_eq!(workers.len(), 1, "{workers:?}");
    // Three loops, and the main thread that waits for the signal to stop them.
    assert_eq!(status_field(workers[0], "Threads"), ["4"]);
    // Several clients at once are all served.
    let mut clients: Vec<_> = (0..6).map(|_| server.connect()).collect();
    for client in &mut clients {
        client.send(b"GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    for client in &mut clients {
        assert_eq!(client.response(false).status, 200);
    }
}

// ANCHOR: killed_worker
#[test]
fn a_killed_worker_is_replaced_and_serving_within_a_second() {
    let mut server = STAGE.start_with(&["--workers", "1"]);
    let before = children(server.pid());
    assert_eq!(before.len(), 1);
    let killed = std::time::Instant::now();
    signal(before[0], SIGKILL);
    // A client that connects while no worker runs waits in the backlog the master keeps open,
    // and is answered by the replacement.
    let response = server.get("/notes.txt");
    let served = killed.elapsed();
    assert_eq!(response.status, 200);
    assert!(
        served < Duration::from_secs(1),
        "served again after {served:?}"
    );
    let after = children(server.pid());
    assert_eq!(after.len(), 1);
    assert_ne!(after, before, "a new process");
    server.assert_alive();
    assert!(
        server.wait_for(Duration::from_secs(2), || server.stderr().contains(
            &format!(
                "worker {} exited: killed by signal 9; starting another",
                before[0]
            )
        ))
    );
}
// ANCHOR_END: killed_worker

#[test]
fn a_worker_started_as_root_drops_to_the_configured_user() {
    if !is_root() {
        eprintln!("skipping: the privilege drop needs the tests to run as root (CI does)");
        return;
    }
    let server = STAGE.start_with(&["--workers", "1", "--user", "nobody", "--group", "nogroup"]);
    let worker = children(server.pid())[0];
    // Real, effective, saved and file-system ids: all four, or the drop could be undone.
    assert_eq!(status_field(worker, "Uid"), ["65534"; 4]);
    assert_eq!(status_field(worker, "Gid"), ["65534"; 4]);
    // Root's supplementary groups are gone too (setgroups).
    assert_eq!(status_field(worker, "Groups"), ["65534"]);
    // The master keeps root (it may need it to bind on a reload).
    assert_eq!(status_field(server.pid(), "Uid"), ["0"; 4]);
    assert_eq!(server.get("/notes.txt").status, 200);
}

#[test]
fn a_chrooted_worker_cannot_reach_outside_its_root() {
    if !is_root() {
        eprintln!("skipping: chroot needs the tests to run as root (CI does)");
        return;
    }
    let server = STAGE.start_with(&["--workers", "1", "--user", "nobody", "--chroot"]);
    let worker = children(server.pid())[0];
    let jail = fs::read_link(format!("/proc/{worker}/root")).expect("root link");
    assert_eq!(jail, fixture().root.canonicalize().expect("canonical root"));
    // Inside, "/" is the served folder: files are served as before.
    assert_eq!(server.get("/notes.txt").status, 200);
    // The folder beside the root does not exist for the worker; nor does a symlink's target.
    for path in [
        "/../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/link-out.txt",
    ] {
        let response = server.get(path);
        assert_eq!(response.status, 404, "{path}");
        assert!(!response.text().contains("hunter"), "{path}");
    }
}

#[test]
fn chroot_without_root_is_refused_at_start() {
    if is_root() {
        // As root it is allowed; the refusal is for everyone else (see config.rs).
        return;
    }
    let out = Command::new(binary("stage09"))
        .args(["0", "--chroot"])
        .arg(&fixture().root)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chroot = true needs starting as root"));
}

// ---- Started from a config file ----

/// A stage09 started with `--config`, its config file beside its access log in `dir`.
struct Run {
    child: Child,
    port: u16,
    /// The `[metrics]` listener's port, if the config has one.
    metrics_port: Option<u16>,
    dir: PathBuf,
    config: PathBuf,
    stderr: Arc<Mutex<String>>,
}

impl Run {
    /// Starts `stage09 --config` on `text` (in which `{dir}` is the scratch folder), and
    /// waits for its startup line: every worker is then ready.
    fn start(text: &str) -> Run {
        let dir = scratch("run");
        let config = dir.join("site.toml");
        fs::write(&config, text.replace("{dir}", &dir.display().to_string())).expect("write");
        let (child, mut stdout, stderr) = spawn_config(&config);
        let mut line = String::new();
        stdout.read_line(&mut line).expect("startup line");
        // With [metrics], its URL is the next line: `stage09 metrics at http://ADDR/metrics`.
        let mut metrics_port = None;
        if text.contains("[metrics]") {
            let mut url = String::new();
            stdout.read_line(&mut url).expect("metrics line");
            metrics_port = url
                .trim_end()
                .strip_suffix("/metrics")
                .and_then(|u| u.rsplit(':').next())
                .and_then(|p| p.parse().ok());
        }
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let port = line
            .rsplit(':')
            .next()
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no startup line: {line:?}"));
        Run {
            child,
            port,
            metrics_port,
            dir,
            config,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until stderr holds `needle` (the master says what it did), up to 10 s.
    fn wait_for_stderr(&self, needle: &str) {
        let start = Instant::now();
        while !self.stderr().contains(needle) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no {needle:?} in: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn get(&self, path: &str) -> support::HttpResponse {
        support::Client::connect(("127.0.0.1", self.port)).request(&format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ))
    }

    /// The exit status, waiting at most `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn term_lets_a_download_in_flight_finish_then_exits() {
    let mut run = Run::start(&site_config(&fixture().root, "[timeouts]\ngrace = 20"));
    let mut client = TcpStream::connect(("127.0.0.1", run.port)).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    client
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    // The response has begun: the request is in flight when the signal comes (10 MiB do
    // not fit in the socket buffers, so the worker is still sending).
    let mut whole = vec![0u8; 1];
    client.read_exact(&mut whole).expect("first byte");
    signal(run.pid(), SIGTERM);
    run.wait_for_stderr("stopping: 2 worker(s) finish their requests");
    client.read_to_end(&mut whole).expect("the rest");
    let head_end = whole
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = String::from_utf8_lossy(&whole[..head_end]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(
        &whole[head_end..],
        &support::big_content()[..],
        "the whole file"
    );
    let status = run
        .wait_exit(Duration::from_secs(20))
        .expect("exited within the grace");
    assert_eq!(status.code(), Some(0), "{}", run.stderr());
    assert!(
        run.stderr().ends_with("stage09: stopped\n"),
        "{}",
        run.stderr()
    );
    // Nothing listens any more.
    assert!(TcpStream::connect(("127.0.0.1", run.port)).is_err());
}

#[test]
fn int_stops_the_same_way() {
    let mut run = Run::start(&site_config(&fixture().root, ""));
    assert_eq!(run.get("/notes.txt").status, 200);
    let workers = children(run.pid());
    signal(run.pid(), SIGINT);
    let status = run.wait_exit(Duration::from_secs(10)).expect("exited");
    assert_eq!(status.code(), Some(0), "{}", run.stderr());
    for pid in workers {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} outlived the master"
        );
    }
}

#[test]
fn a_bad_config_at_reload_keeps_the_old_one_serving() {
    let run = Run::start(&site_config(&fixture().root, ""));
    let workers = children(run.pid());
    let good = fs::read_to_string(&run.config).expect("read");
    fs::write(
        &run.config,
        good.replace("workers = 2", "workers = 2\nworkerz = 3"),
    )
    .expect("write");
    signal(run.pid(), SIGHUP);
    run.wait_for_stderr("reload refused");
    let line = format!(
        "stage09: reload refused, still serving the old configuration: {}:3:1: unknown field \"workerz\"",
        run.config.display()
    );
    assert!(run.stderr().contains(&line), "{}", run.stderr());
    // The same workers, still serving.
    assert_eq!(children(run.pid()), workers);
    assert_eq!(run.get("/notes.txt").status, 200);
}

#[test]
fn a_good_reload_replaces_the_workers_with_the_new_config() {
    let other = scratch("other-root");
    fs::write(other.join("notes.txt"), "the new root\n").expect("write");
    let run = Run::start(&site_config(&fixture().root, ""));
    let old = children(run.pid());
    assert_ne!(run.get("/notes.txt").body, b"the new root\n");
    let text = fs::read_to_string(&run.config).expect("read");
    let old_root = format!("{:?}", fixture().root.display().to_string());
    let new_root = format!("{:?}", other.display().to_string());
    fs::write(&run.config, text.replace(&old_root, &new_root)).expect("write");
    signal(run.pid(), SIGHUP);
    run.wait_for_stderr("generation 2 starting");
    // The old generation drains and exits once the new one is ready.
    let start = Instant::now();
    while old.iter().any(|pid| children(run.pid()).contains(pid)) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "old workers still there"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let new = children(run.pid());
    assert_eq!(new.len(), 2);
    // Same port (the same listening socket), new root.
    assert_eq!(run.get("/notes.txt").body, b"the new root\n");
}

// ANCHOR: reload_under_load

/// Requests until `stop`: on one keep-alive connection (`keep_alive`), or a new connection
/// each time.
fn client_loop(port: u16, keep_alive: bool, stop: Arc<std::sync::atomic::AtomicBool>) -> Tally {
    let mut tally = Tally::default();
    let mut connection: Option<(TcpStream, Vec<u8>, bool)> = None;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let (stream, pending, reused) = match connection.take() {
            Some(open) => open,
            None => match TcpStream::connect(("127.0.0.1", port)) {
                Ok(stream) => {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(15)));
                    (stream, Vec::new(), false)
                }
                Err(e) => {
                    tally.failed.push(format!("connect: {e}"));
                    continue;
                }
            },
        };
        let mut stream = stream;
        let mut pending = pending;
        match exchange(&mut stream, &mut pending) {
            Ok(Some(response)) if response.status == 200 && response.body == b"plain notes\n" => {
                tally.ok += 1;
                let closing = response.header("Connection") == Some("close");
                if keep_alive && !closing {
                    connection = Some((stream, pending, true));
                }
            }
            Ok(Some(response)) => tally.failed.push(format!("got {}", response.status_line)),
            Ok(None) if reused => tally.retried += 1,
            Ok(None) => tally
                .failed
                .push("a new connection closed unanswered".into()),
            Err(e) => tally.failed.push(format!("{e}")),
        }
    }
    tally
}

#[test]
fn reloads_under_load_fail_no_request() {
    let root = scratch("reload-root");
    fs::write(root.join("notes.txt"), "plain notes\n").expect("write");
    let run = Run::start(&site_config(&root, ""));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = [true, true, false, false]
        .into_iter()
        .map(|keep_alive| {
            let (port, stop) = (run.port, stop.clone());
            std::thread::spawn(move || client_loop(port, keep_alive, stop))
        })
        .collect();
    for generation in 2..=6 {
        let old = children(run.pid());
        signal(run.pid(), SIGHUP);
        run.wait_for_stderr(&format!("generation {generation} starting"));
        let start = Instant::now();
        while old.iter().any(|pid| children(run.pid()).contains(pid)) {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "old workers still there"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let tallies: Vec<Tally> = clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .collect();
    let failed: Vec<&String> = tallies.iter().flat_map(|t| &t.failed).collect();
    let ok: u64 = tallies.iter().map(|t| t.ok).sum();
    let retried: u64 = tallies.iter().map(|t| t.retried).sum();
    eprintln!("five reloads under load: {ok} answered, {retried} idle keep-alive closes retried");
    assert!(failed.is_empty(), "{} failed: {failed:?}", failed.len());
    assert!(ok > 100, "only {ok} requests");
    // Every answer was logged exactly once, whole, by the one writer (the last lines may
    // still be on their way through the pipes).
    let start = Instant::now();
    while (run.log().lines().count() as u64) < ok && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = run.log();
    assert_eq!(log.lines().count() as u64, ok);
    assert!(
        log.lines()
            .all(|l| l.contains("\"GET /notes.txt HTTP/1.1\" 200 12")),
        "{log}"
    );
}
// ANCHOR_END: reload_under_load

#[test]
fn usr1_reopens_the_access_log_after_logrotate_renamed_it() {
    let run = Run::start(&site_config(&fixture().root, ""));
    for _ in 0..3 {
        assert_eq!(run.get("/notes.txt").status, 200);
    }
    let log = run.dir.join("access.log");
    let start = Instant::now();
    while fs::read_to_string(&log).unwrap_or_default().lines().count() < 3 {
        assert!(start.elapsed() < Duration::from_secs(5), "three lines");
        std::thread::sleep(Duration::from_millis(10));
    }
    // What logrotate does: rename, then signal.
    let rotated = run.dir.join("access.log.1");
    fs::rename(&log, &rotated).expect("rename");
    signal(run.pid(), SIGUSR1);
    // Until the master has reopened, lines still go to the renamed file; then to the new one.
    let mut sent = 3;
    let start = Instant::now();
    while !log.exists() || fs::read_to_string(&log).unwrap_or_default().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no new access.log"
        );
        assert_eq!(run.get("/notes.txt").status, 200);
        sent += 1;
    }
    for _ in 0..3 {
        assert_eq!(run.get("/notes.txt").status, 200);
        sent += 1;
    }
    let count = || {
        let old = fs::read_to_string(&rotated).unwrap_or_default();
        let new = fs::read_to_string(&log).unwrap_or_default();
        old.lines().count() + new.lines().count()
    };
    let start = Instant::now();
    while count() < sent && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Every request in exactly one of the two files.
    assert_eq!(count(), sent);
    assert!(fs::read_to_string(&log).expect("new log").lines().count() >= 3);
}

// ---- The access log: one writer, rotation by size, a full disk ----

// ANCHOR: rotation_under_load
#[test]
fn rotation_under_load_loses_and_tears_no_line() {
    let root = scratch("rotate-root");
    fs::write(root.join("notes.txt"), "plain notes\n").expect("write");
    let text = site_config(&root, "").replace(
        "[access_log]\npath = \"{dir}/access.log\"\n",
        "[access_log]\npath = \"{dir}/access.log\"\nrotate_size = 8192\nkeep = 500\n",
    );
    let mut run = Run::start(&text);
    // Lines longer than a pipe's atomic write (4 KiB) among short ones, from two workers.
    let long_agent = "x".repeat(6000);
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (port, agent) = (run.port, long_agent.clone());
            std::thread::spawn(move || {
                let mut client = support::Client::connect(("127.0.0.1", port));
                for n in 0..150 {
                    let agent = if n % 10 == 0 { agent.as_str() } else { "short" };
                    let request =
                        format!("GET /notes.txt?c={i}&n={n} HTTP/1.1\r\nHost: x\r\nUser-Agent: {agent}\r\n\r\n");
                    assert_eq!(client.request(&request).status, 200);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client");
    }
    // TERM: the master writes what is left in the pipes before it exits.
    signal(run.pid(), SIGTERM);
    assert_eq!(
        run.wait_exit(Duration::from_secs(10))
            .and_then(|s| s.code()),
        Some(0)
    );
    let mut files: Vec<(u64, PathBuf)> = fs::read_dir(&run.dir)
        .expect("list")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let number = match name.strip_prefix("access.log") {
                Some("") => 0,
                Some(rest) => rest.strip_prefix('.')?.parse().ok()?,
                None => return None,
            };
            Some((number, e.path()))
        })
        .collect();
    files.sort();
    assert!(files.len() > 10, "it rotated: {} files", files.len());
    // Numbered without a gap, each rotated file at least the rotation size.
    for (i, (number, path)) in files.iter().enumerate() {
        assert_eq!(*number, i as u64);
        if *number > 0 {
            assert!(
                fs::metadata(path).expect("size").len() >= 8192,
                "{}",
                path.display()
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (_, path) in &files {
        for line in fs::read_to_string(path).expect("read").lines() {
            // Whole: the head of a Combined line, our request, our agent, nothing else.
            let (request, agent) = line
                .strip_prefix("127.0.0.1 - - [")
                .and_then(|l| l.split_once("] \"GET /notes.txt?"))
                .and_then(|(_, l)| l.split_once(" HTTP/1.1\" 200 12 \"-\" \""))
                .unwrap_or_else(|| panic!("a torn or foreign line: {line:.200}"));
            assert!(
                agent == "short\"" || agent == format!("{long_agent}\""),
                "{line:.200}"
            );
            assert!(seen.insert(request.to_string()), "logged twice: {request}");
        }
    }
    assert_eq!(seen.len(), 600, "every request logged once");
}
// ANCHOR_END: rotation_under_load

#[test]
fn a_full_disk_for_the_access_log_does_not_stop_serving() {
    let text = site_config(&fixture().root, "")
        .replace("path = \"{dir}/access.log\"", "path = \"/dev/full\"");
    let mut run = Run::start(&text);
    for _ in 0..5 {
        assert_eq!(run.get("/notes.txt").status, 200);
    }
    run.wait_for_stderr(
        "stage09: cannot write the access log /dev/full: No space left on device (os error 28); serving goes on, lost lines are counted",
    );
    signal(run.pid(), SIGTERM);
    assert_eq!(
        run.wait_exit(Duration::from_secs(10))
            .and_then(|s| s.code()),
        Some(0)
    );
    let stderr = run.stderr();
    assert!(
        stderr.contains("stage09: 5 access log line(s) were lost\n"),
        "{stderr}"
    );
    // Said once, not once per line.
    assert_eq!(
        stderr.matches("cannot write the access log").count(),
        1,
        "{stderr}"
    );
}

// ---- Operations: /healthz, /metrics ----

#[test]
fn healthz_says_ok_while_serving() {
    let server = STAGE.start_with(&["--workers", "1"]);
    let response = server.request("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"ok\n");
    assert_eq!(response.header("Cache-Control"), Some("no-store"));
    let head = server.request("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (head.status, head.header("Content-Length")),
        (200, Some("3"))
    );
    // Not a page of the site: a POST goes to the site, which allows only GET and HEAD.
    let post = server.request("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(post.status, 405);
}

#[test]
fn healthz_says_draining_on_a_connection_open_during_the_stop() {
    let mut run = Run::start(&site_config(&fixture().root, "[timeouts]\ngrace = 20"));
    // A keep-alive connection busy with a download when the stop begins stays open, and the
    // probe pipelined behind it is answered by a draining worker.
    let mut client = TcpStream::connect(("127.0.0.1", run.port)).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    client
        .write_all(
            b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .expect("send");
    let mut whole = vec![0u8; 1];
    client.read_exact(&mut whole).expect("first byte");
    signal(run.pid(), SIGTERM);
    run.wait_for_stderr("stopping: 2 worker(s)");
    client.read_to_end(&mut whole).expect("the rest");
    let text = String::from_utf8_lossy(&whole[whole.len() - 300..]).into_owned();
    assert!(
        text.contains("HTTP/1.1 503 Service Unavailable\r\n"),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\ndraining\n"), "{text}");
    assert_eq!(
        run.wait_exit(Duration::from_secs(20))
            .and_then(|s| s.code()),
        Some(0)
    );
}

/// The value of one metric line (`name{labels} value`), by its exact name and labels.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

// ANCHOR: metrics_test
#[test]
fn metrics_add_up_every_worker_and_count_restarts_and_lost_lines() {
    let text = site_config(
        &fixture().root,
        "[metrics]\naddress = \"127.0.0.1\"\nport = 0",
    )
    .replace("path = \"{dir}/access.log\"", "path = \"/dev/full\"");
    let run = Run::start(&text);
    let metrics_port = run.metrics_port.expect("the metrics URL on stdout");
    let scrape = || {
        support::Client::connect(("127.0.0.1", metrics_port))
            .request("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    };
    // Six clients at once, so that both workers serve some.
    let mut clients: Vec<_> = (0..6)
        .map(|_| support::Client::connect(("127.0.0.1", run.port)))
        .collect();
    for client in &mut clients {
        assert_eq!(
            client
                .request("GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                .status,
            200
        );
    }
    assert_eq!(run.get("/nope").status, 404);
    // A worker killed: replaced, and counted.
    let workers = children(run.pid());
    signal(workers[0], SIGKILL);
    run.wait_for_stderr("starting another");
    let start = Instant::now();
    let page = loop {
        let page = scrape();
        let text = page.text();
        if metric(&text, "stage09_worker_restarts_total") == Some(1.0)
            && metric(&text, "stage09_log_lines_dropped_total") >= Some(7.0)
        {
            break page;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("Content-Type"),
        Some("text/plain; version=0.0.4")
    );
    let text = page.text();
    assert_eq!(
        metric(
            &text,
            "stage09_requests_total{code=\"404\",protocol=\"HTTP/1.1\"}"
        ),
        Some(1.0)
    );
    // Six file requests, and the scrapes so far (each is a request too).
    let ok = metric(
        &text,
        "stage09_requests_total{code=\"200\",protocol=\"HTTP/1.1\"}",
    )
    .expect("200s");
    assert!(ok >= 7.0, "{text}");
    let notes = fs::read(fixture().root.join("notes.txt"))
        .expect("notes")
        .len() as f64;
    assert!(metric(&text, "stage09_response_body_bytes_total").expect("bytes") >= 6.0 * notes);
    // The six clients are still connected: the killed worker's share closed with it.
    let open = metric(&text, "stage09_open_connections").expect("gauge");
    assert!((1.0..=7.0).contains(&open), "{open}");
    // The histogram counts every response once: its +Inf bucket and count agree.
    let count = metric(&text, "stage09_response_seconds_count").expect("count");
    assert_eq!(
        metric(&text, "stage09_response_seconds_bucket{le=\"+Inf\"}"),
        Some(count)
    );
    assert!(count >= ok + 1.0, "{text}");
    // Only /metrics and /healthz on the metrics port.
    let other = support::Client::connect(("127.0.0.1", metrics_port))
        .request("GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(other.status, 404);
}
// ANCHOR_END: metrics_test
