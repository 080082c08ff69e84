//! The command line (DESIGN section 6): a person's mistake gets one clear line and a
//! non-zero exit, never a panic or a backtrace.

use crate::support::{binary, fixture, Stage};
use assert_cmd::Command;
use predicates::prelude::*;

#[macro_export]
macro_rules! cli_behaviours {
    ($stage:expr) => {
        $crate::behaviours!($stage, cli: [
            help_shows_usage_options_and_limits,
            port_in_use_is_one_clear_line,
            missing_root_is_one_clear_line,
            root_that_is_a_file_is_one_clear_line,
            bad_port_is_a_usage_error,
            bad_bind_address_is_one_clear_line,
            unwritable_access_log_is_one_clear_line,
            startup_line_names_the_url,
            absurd_timeouts_are_refused_at_parse_time,
            absurd_grace_is_refused_at_parse_time,
        ]);
    };
}

/// No `.timeout()` on these: assert_cmd implements it with a process-wide SIGCHLD handler,
/// which interrupts blocking reads in every other test thread (EINTR). Each command here
/// exits at once by design; a hang would be the bug this group exists to catch.
fn command(stage: &Stage) -> Command {
    Command::new(binary(stage.name))
}

/// One line on stderr, naming the problem, no panic.
fn one_clear_line(needle: &'static str) -> impl Predicate<str> {
    predicate::str::contains(needle)
        .and(predicate::str::contains("panicked").not())
        .and(predicate::function(|err: &str| {
            err.trim_end().lines().count() == 1
        }))
}

pub fn help_shows_usage_options_and_limits(stage: &Stage) {
    command(stage).arg("--help").assert().success().stdout(
        predicate::str::contains(format!("Usage: {} [OPTIONS] <PORT> <ROOT>", stage.name))
            .and(predicate::str::contains("--bind <ADDR>"))
            .and(predicate::str::contains("--access-log <FILE>"))
            .and(predicate::str::contains("--quiet"))
            .and(predicate::str::contains("Limits: request line 8 KiB")),
    );
}

pub fn port_in_use_is_one_clear_line(stage: &Stage) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    command(stage)
        .args(["--bind", "127.0.0.1", &port])
        .arg(&fixture().root)
        .assert()
        .failure()
        .stderr(one_clear_line("already in use"));
}

pub fn missing_root_is_one_clear_line(stage: &Stage) {
    command(stage)
        .args(["0", "/no/such/folder"])
        .assert()
        .failure()
        .stderr(one_clear_line("ROOT /no/such/folder does not exist"));
}

pub fn root_that_is_a_file_is_one_clear_line(stage: &Stage) {
    command(stage)
        .arg("0")
        .arg(fixture().root.join("notes.txt"))
        .assert()
        .failure()
        .stderr(one_clear_line("is not a directory"));
}

pub fn bad_port_is_a_usage_error(stage: &Stage) {
    command(stage).args(["99999", "."]).assert().code(2).stderr(
        predicate::str::contains("invalid value '99999' for '<PORT>'")
            .and(predicate::str::contains("panicked").not()),
    );
}

pub fn bad_bind_address_is_one_clear_line(stage: &Stage) {
    command(stage)
        .args(["--bind", "192.0.2.1", "0"])
        .arg(&fixture().root)
        .assert()
        .failure()
        .stderr(one_clear_line("is not one of this machine's addresses"));
}

pub fn unwritable_access_log_is_one_clear_line(stage: &Stage) {
    command(stage)
        .args(["--access-log", "/no/such/dir/access.log", "0"])
        .arg(&fixture().root)
        .assert()
        .failure()
        .stderr(one_clear_line(
            "cannot open access log /no/such/dir/access.log",
        ));
}

pub fn startup_line_names_the_url(stage: &Stage) {
    let server = stage.start();
    // The harness found the port in the startup line; the line is right if that port answers.
    assert_eq!(server.get("/style.css").status, 200);
    let mut child = std::process::Command::new(binary(stage.name))
        .args(["--quiet", "0"])
        .arg(&fixture().root)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("line");
    let _ = child.kill();
    let _ = child.wait();
    let root = fixture().root.display().to_string();
    let scheme = if stage.tls { "https" } else { "http" };
    let expected = format!("{} serving {root} at {scheme}://localhost:", stage.name);
    assert!(
        line.starts_with(&expected) && line.trim_end().ends_with("/ (Ctrl-C stops)"),
        "{line}"
    );
}

/// A value clap refuses: exit code 2, the flag and the value named, no panic.
fn refused(stage: &Stage, flag: &str, value: &str) {
    command(stage)
        .arg(format!("{flag}={value}"))
        .arg("0")
        .arg(&fixture().root)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains(format!("invalid value '{value}' for '{flag} <SECS>'"))
                .and(predicate::str::contains("panicked").not()),
        );
}

/// `Instant::now() + Duration::from_secs(u64::MAX)` panics: such a timeout used to be
/// accepted and take the server down at its first connection. The longest one accepted (a
/// day) must serve.
pub fn absurd_timeouts_are_refused_at_parse_time(stage: &Stage) {
    for flag in ["--idle-timeout", "--header-timeout"] {
        for value in [
            "18446744073709551615",
            "18446744073709551616",
            "86401",
            "0",
            "-1",
        ] {
            refused(stage, flag, value);
        }
    }
    let mut server = stage.start_with(&["--idle-timeout", "86400", "--header-timeout", "86400"]);
    let mut client = server.connect();
    let request = "GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(client.request(request).status, 200);
    assert_eq!(client.request(request).status, 200);
    server.assert_alive();
}

/// The grace period is added to the moment SIGTERM arrives: a huge one used to panic then.
/// The longest accepted (a day) must still stop at once when nothing is in flight.
pub fn absurd_grace_is_refused_at_parse_time(stage: &Stage) {
    for value in ["18446744073709551615", "86401", "-1"] {
        refused(stage, "--grace", value);
    }
    let mut server = stage.start_with(&["--grace", "86400"]);
    assert_eq!(server.get("/style.css").status, 200);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM failed");
    let start = std::time::Instant::now();
    let exit = loop {
        if let Ok(Some(exit)) = server.child.try_wait() {
            break exit;
        }
        assert!(
            start.elapsed().as_secs() < 10,
            "still running after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let stderr = server.stderr();
    assert!(
        exit.success() && !stderr.contains("panicked"),
        "{exit}: {stderr}"
    );
}
