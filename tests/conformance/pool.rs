//! Bounded resources (stage04 on): a fixed pool of threads whatever the number of clients,
//! back-pressure (503 with `Retry-After`) when the queue is full, idle keep-alive clients
//! that do not starve queued ones, and a graceful stop on SIGTERM and SIGINT.
//!
//! The signal tests send real signals with `kill`, as a person or systemd would.

// Every stage's test binary compiles every group but calls only the groups it claims.
#![allow(dead_code)]

use crate::support::{big_content, find, Client, Server, Stage, BIG_LEN};
use std::io::Read;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

#[macro_export]
macro_rules! pool_behaviours {
    ($stage:expr) => {
        $crate::behaviours!($stage, pool: [
            three_hundred_clients_on_a_bounded_pool,
            a_full_queue_answers_503_with_retry_after,
            idle_keep_alive_clients_do_not_starve_a_waiting_one,
            sigterm_lets_a_big_response_finish_then_exits_zero,
            a_second_sigint_exits_at_once,
            a_stop_that_outlives_the_grace_period_exits_one,
        ]);
    };
}

const CSS: &[u8] = b"body { color: #222; }\n";
const GET_CSS: &[u8] = b"GET /style.css HTTP/1.1\r\nHost: test\r\n\r\n";

/// The stop messages the server prints on stderr when it has seen the first signal: the
/// readiness signal the tests wait for before going on.
const STOPPING: &str = "stopping";

fn signal(server: &Server, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(server.pid().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
}

/// Polls for the process to exit, for at most `limit`.
fn wait_exit(server: &mut Server, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Some(status);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_css(client: &mut Client) {
    let response = client.response(false);
    assert_eq!(response.status, 200, "{}", response.status_line);
    assert_eq!(response.body, CSS);
}

/// 300 clients connected at once, each asking once over keep-alive: all are answered, by
/// the same few threads (stage03 would run 300).
pub fn three_hundred_clients_on_a_bounded_pool(stage: &Stage) {
    let mut server = stage.start_with(&["--threads", "4", "--queue", "512"]);
    let bound = 4 + 3; // the workers, the acceptor, a little slack
    let mut most = server.threads();
    let mut clients: Vec<Client> = (0..300)
        .map(|i| {
            let mut client = server.connect();
            client.send(GET_CSS);
            if i % 25 == 0 {
                most = most.max(server.threads());
            }
            client
        })
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        assert_css(client);
        if i % 25 == 0 {
            most = most.max(server.threads());
        }
    }
    assert!(most <= bound, "{most} threads for a pool of 4");
    server.assert_alive();
}

/// With one worker and a queue of one: the worker busy, one client queued, the next is
/// answered 503 with `Retry-After` at once and closed. The queued client is served later.
pub fn a_full_queue_answers_503_with_retry_after(stage: &Stage) {
    let server = stage.start_with(&["--threads", "1", "--queue", "1", "--header-timeout", "60"]);
    // An answer proves the worker has taken `busy` off the queue; half a head then keeps it
    // busy (a head in progress is not idle, so the worker waits for the rest).
    let mut busy = server.connect();
    busy.send(GET_CSS);
    assert_css(&mut busy);
    busy.send(b"GET /style.css HTTP/1.1\r\nHost: te");
    // The acceptor takes connections in order: `queued` fills the queue, `refused` finds it
    // full. Neither sends anything, so nothing unread can turn the close into a reset.
    let mut queued = server.connect();
    let mut refused = server.connect();
    let answer = refused.response(false);
    assert_eq!(answer.status, 503, "{}", answer.status_line);
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(refused.is_closed(), "a refused connection is closed");
    // Finish the head: `busy` is answered, then let go, since `queued` waits for the worker.
    busy.send(b"st\r\n\r\n");
    assert_css(&mut busy);
    assert!(
        busy.is_closed(),
        "an idle keep-alive connection holds the only worker"
    );
    queued.send(GET_CSS);
    assert_css(&mut queued);
}

/// Three keep-alive clients, two workers: the two served first go idle, and the third must
/// not wait for their idle timeout (a minute here; a read in the harness gives up long before).
pub fn idle_keep_alive_clients_do_not_starve_a_waiting_one(stage: &Stage) {
    let server = stage.start_with(&["--threads", "2", "--idle-timeout", "60"]);
    let mut idle: Vec<Client> = (0..2).map(|_| server.connect()).collect();
    for client in &mut idle {
        client.send(GET_CSS);
        assert_css(client);
    }
    let mut waiting = server.connect();
    waiting.send(GET_CSS);
    assert_css(&mut waiting);
}

/// SIGTERM while a 10 MiB answer is being written: the answer arrives whole, the idle
/// connection is then closed, and the process exits 0.
pub fn sigterm_lets_a_big_response_finish_then_exits_zero(stage: &Stage) {
    let mut server = stage.start();
    let mut client = server.connect();
    client.send(b"GET /big.bin HTTP/1.1\r\nHost: test\r\n\r\n");
    // The first bytes are in: the answer is in flight (10 MiB does not fit socket buffers).
    let mut got = vec![0u8; 64 * 1024];
    let n = client
        .stream
        .read(&mut got)
        .expect("first bytes of the answer");
    got.truncate(n);
    signal(&server, "TERM");
    assert!(
        server.wait_for(Duration::from_secs(10), || server
            .stderr()
            .contains(STOPPING)),
        "no stop message after SIGTERM; stderr: {}",
        server.stderr()
    );
    // The rest, until the server closes the (now idle) connection.
    got.extend_from_slice(&client.read_to_end());
    let head_end = find(&got, b"\r\n\r\n").expect("a head") + 4;
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert_eq!(got.len() - head_end, BIG_LEN, "the body was cut short");
    assert!(got[head_end..] == big_content()[..], "the body is corrupt");
    let status = wait_exit(&mut server, Duration::from_secs(15)).expect("exited after SIGTERM");
    assert!(
        status.success(),
        "exit status {status}; stderr: {}",
        server.stderr()
    );
}

/// A server started with `--grace SECS`, holding a connection whose head never ends (a
/// minute's header timeout): a stop has something to wait for. Returns once the server has
/// accepted it, since one still in the kernel's backlog is not the server's to finish.
fn busy_with_a_slow_head(stage: &Stage, grace: &str) -> (Server, Client) {
    let server = stage.start_with(&["--header-timeout", "60", "--grace", grace]);
    let before = server.open_fds();
    let mut slow = server.connect();
    slow.send(b"GET /style.css HTTP/1.1\r\nHost: te");
    assert!(server.wait_for(Duration::from_secs(5), || server.open_fds() > before));
    (server, slow)
}

/// A graceful stop can wait (here on a head that never ends, for up to a minute); a second
/// Ctrl-C ends it at once.
pub fn a_second_sigint_exits_at_once(stage: &Stage) {
    let (mut server, _slow) = busy_with_a_slow_head(stage, "60");
    signal(&server, "INT");
    assert!(
        server.wait_for(Duration::from_secs(10), || server
            .stderr()
            .contains(STOPPING)),
        "no stop message after SIGINT; stderr: {}",
        server.stderr()
    );
    server.assert_alive(); // still waiting for the slow head, as it should
    signal(&server, "INT");
    let status =
        wait_exit(&mut server, Duration::from_secs(10)).expect("exited on a second SIGINT");
    assert_eq!(status.code(), Some(130), "stderr: {}", server.stderr());
}

/// `--grace` bounds the wait: a connection still busy when it ends is cut off, and the exit
/// code (1) tells whoever stopped us that the stop was not clean.
pub fn a_stop_that_outlives_the_grace_period_exits_one(stage: &Stage) {
    let (mut server, mut slow) = busy_with_a_slow_head(stage, "1");
    signal(&server, "TERM");
    let status = wait_exit(&mut server, Duration::from_secs(15)).expect("exited after --grace");
    assert_eq!(status.code(), Some(1), "stderr: {}", server.stderr());
    assert!(
        server.wait_for(Duration::from_secs(5), || server
            .stderr()
            .contains("grace period over; cutting off 1 connection(s)")),
        "stderr: {}",
        server.stderr()
    );
    assert!(slow.is_closed(), "the cut-off connection is closed");
}
