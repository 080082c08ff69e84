//! Pipelining (stage03 on): requests sent before their answers are read are all answered,
//! in order, whatever the boundaries of the reads, with bounded memory on the server.

// Every stage's test binary compiles every group but calls only the groups it claims
// (stage01 claims neither keep-alive nor pipelining).
#![allow(dead_code)]

use crate::support::{big_content, Stage, BIG_LEN, TYPED_FILES};
use std::io::Write;

#[macro_export]
macro_rules! pipelining_behaviours {
    ($stage:expr) => {
        $crate::behaviours!($stage, pipelining: [
            five_pipelined_with_a_404_and_heads_in_order,
            two_hundred_pipelined_requests,
            pipeline_split_into_seven_byte_writes,
            pipeline_with_bodies_between_requests,
            four_pipelined_ten_mib_responses_while_still_writing,
            pipeline_ending_in_connection_close,
            pipeline_with_a_bad_request_stops_there,
            pipelined_big_files_do_not_grow_the_server,
            a_batch_is_answered_in_one_write,
        ]);
    };
}

const CSS: &[u8] = b"body { color: #222; }\n";

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

fn head(path: &str) -> String {
    format!("HEAD {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

/// A mix of GETs of every typed file, HEADs and 404s, with what each must answer.
fn mixed(count: usize) -> Vec<(String, u16, &'static [u8])> {
    (0..count)
        .map(|i| {
            let (name, bytes, _) = TYPED_FILES[i % TYPED_FILES.len()];
            match i % 7 {
                3 => (format!("/missing-{i}"), 404, &b""[..]),
                5 => (format!("/{name}"), 200, &b""[..]),
                _ => (format!("/{name}"), 200, bytes),
            }
        })
        .collect()
}

fn mixed_requests(cases: &[(String, u16, &'static [u8])]) -> Vec<String> {
    cases
        .iter()
        .enumerate()
        .map(|(i, (path, _, _))| if i % 7 == 5 { head(path) } else { get(path) })
        .collect()
}

/// Checks each response against its case; 404 bodies are pages, so only their status counts.
fn assert_answers(
    responses: &[crate::support::HttpResponse],
    cases: &[(String, u16, &'static [u8])],
) {
    assert_eq!(responses.len(), cases.len());
    for (i, (response, (path, status, body))) in responses.iter().zip(cases).enumerate() {
        assert_eq!(response.status, *status, "answer {i} ({path})");
        if *status == 200 {
            assert_eq!(response.body, *body, "answer {i} ({path})");
        }
    }
}

pub fn five_pipelined_with_a_404_and_heads_in_order(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    let requests = [
        get("/style.css"),
        head("/app.js"),
        get("/no-such-file"),
        head("/no-such-file-either"),
        get("/docs/page.txt"),
    ];
    let requests: Vec<&str> = requests.iter().map(String::as_str).collect();
    let responses = client.pipeline(&requests);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 404, 404, 200]);
    assert_eq!(responses[0].body, CSS);
    assert_eq!(responses[1].header("Content-Length"), Some("19"));
    assert!(responses[2].text().contains("404 Not Found"));
    assert_eq!(responses[4].body, b"a page in docs\n");
    // And the connection is still open for more.
    client.send(get("/style.css").as_bytes());
    assert_eq!(client.response(false).body, CSS);
}

pub fn two_hundred_pipelined_requests(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    let cases = mixed(200);
    let requests = mixed_requests(&cases);
    let requests: Vec<&str> = requests.iter().map(String::as_str).collect();
    assert_answers(&client.pipeline(&requests), &cases);
}

pub fn pipeline_split_into_seven_byte_writes(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    let cases = mixed(30);
    let requests = mixed_requests(&cases);
    let requests: Vec<&str> = requests.iter().map(String::as_str).collect();
    // Seven is prime to every request's length: the boundaries land everywhere.
    client.send_in_pieces(
        requests.concat().as_bytes(),
        7,
        std::time::Duration::from_micros(200),
    );
    assert_answers(&client.responses_for(&requests), &cases);
}

pub fn pipeline_with_bodies_between_requests(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    let requests = [
        get("/style.css"),
        "POST /style.css HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello".to_string(),
        get("/notes.txt"),
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nGET \r\n0\r\n\r\n"
            .to_string(),
        get("/style.css"),
    ];
    let requests: Vec<&str> = requests.iter().map(String::as_str).collect();
    let responses = client.pipeline(&requests);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 405, 200, 405, 200]);
    assert_eq!(responses[2].body, TYPED_FILES[4].1);
    assert_eq!(responses[4].body, CSS);
}

pub fn four_pipelined_ten_mib_responses_while_still_writing(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    let request = get("/big.bin");
    let (first_half, second_half) = request.split_at(request.len() / 2);
    // Two whole requests and half of a third; read the first answer before sending the rest,
    // so the server is streaming 10 MiB answers while the pipeline is still arriving.
    client.send(format!("{request}{request}{first_half}").as_bytes());
    let expected = big_content();
    let first = client.response(false);
    assert_eq!(first.status, 200);
    assert!(first.body == expected, "answer 0: 10 MiB body differs");
    client.send(format!("{second_half}{request}").as_bytes());
    for i in 1..4 {
        let response = client.response(false);
        assert_eq!(response.status, 200, "answer {i}");
        assert_eq!(response.body.len(), BIG_LEN, "answer {i}");
        assert!(response.body == expected, "answer {i}: 10 MiB body differs");
    }
}

pub fn pipeline_ending_in_connection_close(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    let last = "GET /notes.txt HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    // The request after the `close` must never be answered.
    client.send(
        format!(
            "{}{}{last}{}",
            get("/style.css"),
            head("/style.css"),
            get("/app.js")
        )
        .as_bytes(),
    );
    let responses = client.responses_for(&[&get("/style.css"), &head("/style.css"), last]);
    assert_eq!(responses[0].body, CSS);
    assert_eq!(responses[1].header("Content-Length"), Some("22"));
    assert_eq!(responses[2].body, TYPED_FILES[4].1);
    assert_eq!(responses[2].header("Connection"), Some("close"));
    assert!(client.is_closed(), "answered past the Connection: close");
}

pub fn pipeline_with_a_bad_request_stops_there(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    client.send(format!("{}GARBAGE\r\n\r\n{}", get("/style.css"), get("/style.css")).as_bytes());
    assert_eq!(client.response(false).body, CSS);
    let refused = client.response(false);
    assert_eq!(refused.status, 400);
    assert_eq!(refused.header("Connection"), Some("close"));
    assert!(client.is_closed(), "answered past a 400");
}

pub fn pipelined_big_files_do_not_grow_the_server(stage: &Stage) {
    // Three hundred requests for a 10 MiB file, and a client that reads slowly: 3 GiB of
    // answers owed. The server must hold neither them nor the requests behind them: it
    // streams, and stops reading while its answers are not taken.
    let server = stage.start();
    let baseline = server.rss_kib();
    let mut client = server.connect();
    let requests = get("/big.bin").repeat(300);
    // The requests fit in the socket buffers, so this write does not wait for the server.
    client
        .stream
        .write_all(requests.as_bytes())
        .expect("send the pipeline");
    let first = client.response(false);
    assert!(first.body == big_content(), "answer 0: 10 MiB body differs");
    let second = client.response(false);
    assert_eq!(second.body.len(), BIG_LEN);
    let grown = server.rss_kib().saturating_sub(baseline);
    assert!(
        grown < 32 * 1024,
        "the server grew by {grown} KiB while owing 3 GiB of answers"
    );
    // Hanging up mid-answer ends only this connection.
    client.reset();
    let mut server = server;
    server.assert_alive();
    assert_eq!(server.get("/style.css").status, 200);
}

/// The answers to a pipelined batch of small files leave together: they arrive in one read.
/// (Loopback delivers one write as one segment of up to 64 KiB, so a server writing each
/// answer on its own shows up here as several reads.)
pub fn a_batch_is_answered_in_one_write(stage: &Stage) {
    use std::io::Read;
    let server = stage.start();
    let mut client = server.connect();
    client.send(get("/style.css").repeat(16).as_bytes());
    let mut got = vec![0u8; 64 * 1024];
    let n = client.stream.read(&mut got).expect("read the answers");
    let answers = got[..n]
        .windows(b"HTTP/1.1 200 OK".len())
        .filter(|w| *w == b"HTTP/1.1 200 OK")
        .count();
    assert_eq!(answers, 16, "one read held {answers} of 16 answers");
}
