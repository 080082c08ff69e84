//! The size limits of DESIGN section 5: each is answered, the connection closed, and the
//! server keeps serving everyone else.

use crate::support::Stage;
use std::io::Write;

#[macro_export]
macro_rules! limits_behaviours {
    ($stage:expr) => {
        $crate::behaviours!($stage, limits: [
            long_request_line_is_414_then_still_serving,
            huge_head_is_431_then_still_serving,
            too_many_fields_is_431_then_still_serving,
            endless_request_line_is_cut_off,
        ]);
    };
}

fn assert_refused_then_serving(stage: &Stage, request: &[u8], status: u16) {
    let mut server = stage.start();
    let mut client = server.connect();
    // The server may answer and close before it has read everything we send: that's fine.
    let _ = client.stream.write_all(request);
    let response = client.response(false);
    assert_eq!(response.status, status);
    assert!(client.is_closed(), "a {status} closes the connection");
    // Hang up as a browser would; stage01 lingers until we do before taking the next client.
    drop(client);
    server.assert_alive();
    assert_eq!(
        server.get("/style.css").status,
        200,
        "still serving after a {status}"
    );
}

pub fn long_request_line_is_414_then_still_serving(stage: &Stage) {
    let request = format!("GET /{} HTTP/1.0\r\n\r\n", "a".repeat(9000));
    assert_refused_then_serving(stage, request.as_bytes(), 414);
}

pub fn huge_head_is_431_then_still_serving(stage: &Stage) {
    let request = format!("GET / HTTP/1.0\r\nX-Big: {}\r\n\r\n", "b".repeat(17 * 1024));
    assert_refused_then_serving(stage, request.as_bytes(), 431);
}

pub fn too_many_fields_is_431_then_still_serving(stage: &Stage) {
    let fields: String = (0..101).map(|i| format!("X-F{i}: v\r\n")).collect();
    let request = format!("GET / HTTP/1.0\r\n{fields}\r\n");
    assert_refused_then_serving(stage, request.as_bytes(), 431);
}

pub fn endless_request_line_is_cut_off(stage: &Stage) {
    // No line end ever comes: the server must not wait for one past its limit.
    let request = format!("GET /{}", "x".repeat(20 * 1024));
    assert_refused_then_serving(stage, request.as_bytes(), 414);
}
