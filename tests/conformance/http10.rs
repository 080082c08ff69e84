//! Serving files: the behaviours every stage owes from stage01 on (DESIGN section 5).
//!
//! Requests here are HTTP/1.0 (or 1.1 with `Connection: close`), so they mean the same to a
//! stage that closes after every response and to one that keeps connections open.

use crate::support::{big_content, Stage, DOCS_INDEX, TYPED_FILES};

#[macro_export]
macro_rules! http10_behaviours {
    ($stage:expr) => {
        $crate::behaviours!($stage, http10: [
            every_mime_type_with_exact_body_and_headers,
            root_and_docs_indexes,
            directory_without_slash_is_301,
            missing_file_is_404_with_a_page,
            head_has_get_headers_and_no_body,
            if_modified_since_gives_304_or_200,
            unparseable_if_modified_since_is_ignored,
            other_methods_get_405_with_allow,
            unknown_method_is_501,
            http2_request_line_is_505,
            garbage_is_400,
            malformed_header_lines_are_400,
            http11_without_host_is_400,
            absolute_form_target,
            query_is_ignored_for_lookup,
            percent_encoded_names_with_spaces_and_utf8,
            bad_percent_encoding_is_400,
            empty_file_has_zero_length,
            fifo_is_not_served,
            ipv6_and_ipv4_both_answer,
            request_sent_one_byte_at_a_time,
            ten_mib_file_arrives_intact,
            access_log_has_a_combined_line,
        ]);
    };
}

/// A stage's 200 for a file: status, type, exact length and bytes, and the validators.
fn assert_file(stage: &Stage, path: &str, bytes: &[u8], content_type: &str) {
    let server = stage.start();
    let response = server.get(path);
    assert_eq!(response.status, 200, "{path}: {}", response.status_line);
    assert_eq!(
        response.header("Content-Type"),
        Some(content_type),
        "{path}"
    );
    assert_eq!(
        response.header("Content-Length"),
        Some(bytes.len().to_string().as_str()),
        "{path}"
    );
    assert_eq!(response.body, bytes, "{path}");
    assert!(
        response
            .header("Last-Modified")
            .is_some_and(|d| d.ends_with(" GMT")),
        "{path}"
    );
    assert!(
        response.header("Date").is_some_and(|d| d.ends_with(" GMT")),
        "{path}"
    );
    assert_eq!(response.header("Server"), Some(stage.name), "{path}");
}

pub fn every_mime_type_with_exact_body_and_headers(stage: &Stage) {
    for (name, bytes, content_type) in TYPED_FILES {
        assert_file(stage, &format!("/{name}"), bytes, content_type);
    }
}

pub fn root_and_docs_indexes(stage: &Stage) {
    let index = TYPED_FILES[0].1;
    assert_file(stage, "/", index, "text/html; charset=utf-8");
    assert_file(
        stage,
        "/docs/",
        DOCS_INDEX.as_bytes(),
        "text/html; charset=utf-8",
    );
}

pub fn directory_without_slash_is_301(stage: &Stage) {
    let server = stage.start();
    let response = server.get("/docs");
    assert_eq!(response.status, 301);
    assert_eq!(response.header("Location"), Some("/docs/"));
    let with_query = server.get("/docs?lang=en");
    assert_eq!(with_query.header("Location"), Some("/docs/?lang=en"));
    // A directory with no index is not listed.
    assert_eq!(server.get("/empty-dir/").status, 404);
}

pub fn missing_file_is_404_with_a_page(stage: &Stage) {
    let server = stage.start();
    let response = server.get("/no-such-file.html");
    assert_eq!(response.status, 404);
    assert_eq!(
        response.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert!(response.text().contains("404 Not Found"));
    assert_eq!(
        response.header("Content-Length"),
        Some(response.body.len().to_string().as_str())
    );
}

pub fn head_has_get_headers_and_no_body(stage: &Stage) {
    let server = stage.start();
    for path in ["/style.css", "/", "/missing"] {
        let get = server.get(path);
        let mut client = server.connect();
        client.send(format!("HEAD {path} HTTP/1.0\r\n\r\n").as_bytes());
        let head = client.response(true);
        assert_eq!(head.status, get.status);
        for field in ["Content-Type", "Content-Length", "Last-Modified"] {
            assert_eq!(head.header(field), get.header(field), "{path} {field}");
        }
        // Nothing may follow the head: the next bytes are the close.
        assert!(client.is_closed(), "HEAD {path} sent a body");
    }
}

pub fn if_modified_since_gives_304_or_200(stage: &Stage) {
    let server = stage.start();
    let first = server.get("/style.css");
    let date = first.header("Last-Modified").expect("Last-Modified");
    let mut client = server.connect();
    client.send(format!("GET /style.css HTTP/1.0\r\nIf-Modified-Since: {date}\r\n\r\n").as_bytes());
    let not_modified = client.response(false);
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    assert!(client.is_closed(), "a 304 has no body");
    let old = server.request(
        "GET /style.css HTTP/1.0\r\nIf-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n\r\n",
    );
    assert_eq!(old.status, 200);
    assert_eq!(old.body, b"body { color: #222; }\n");
}

pub fn unparseable_if_modified_since_is_ignored(stage: &Stage) {
    let server = stage.start();
    let response =
        server.request("GET /style.css HTTP/1.0\r\nIf-Modified-Since: last tuesday\r\n\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"body { color: #222; }\n");
}

pub fn other_methods_get_405_with_allow(stage: &Stage) {
    let server = stage.start();
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let response = server.request(&format!("{method} /style.css HTTP/1.0\r\n\r\n"));
        assert_eq!(response.status, 405, "{method}");
        assert_eq!(response.header("Allow"), Some("GET, HEAD"), "{method}");
    }
}

pub fn unknown_method_is_501(stage: &Stage) {
    let response = stage.start().request("BREW /pot HTTP/1.0\r\n\r\n");
    assert_eq!(response.status, 501);
}

pub fn http2_request_line_is_505(stage: &Stage) {
    let server = stage.start();
    for version in ["HTTP/2.0", "HTTP/3.0", "HTTP/2"] {
        let response = server.request(&format!("GET / {version}\r\n\r\n"));
        assert_eq!(response.status, 505, "{version}");
    }
}

pub fn garbage_is_400(stage: &Stage) {
    let server = stage.start();
    for garbage in [
        "HELLO\r\n\r\n",
        "GET\r\n\r\n",
        "GET / HTTP/1.0 extra\r\n\r\n",
        "\x01\x02\x03\r\n\r\n",
        "GET /a b HTTP/1.0\r\n\r\n",
        "GET / HTTP/x.y\r\n\r\n",
    ] {
        let mut client = server.connect();
        client.send(garbage.as_bytes());
        let response = client.response(false);
        assert_eq!(response.status, 400, "{garbage:?}");
        assert!(
            client.is_closed(),
            "{garbage:?}: a 400 closes the connection"
        );
    }
}

pub fn malformed_header_lines_are_400(stage: &Stage) {
    let server = stage.start();
    for field in [
        "No colon here",
        "Space before colon : x",
        " leading: space",
        ": no name",
        "Bad\x01Name: x",
        "X: a\x00b",
    ] {
        let response = server.request(&format!("GET / HTTP/1.0\r\n{field}\r\n\r\n"));
        assert_eq!(response.status, 400, "{field:?}");
    }
}

pub fn http11_without_host_is_400(stage: &Stage) {
    let server = stage.start();
    assert_eq!(
        server
            .request("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .status,
        400
    );
    assert_eq!(
        server
            .request("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n")
            .status,
        400
    );
    assert_eq!(
        server
            .request("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .status,
        200
    );
}

pub fn absolute_form_target(stage: &Stage) {
    let server = stage.start();
    let response = server.request("GET http://localhost/docs/ HTTP/1.0\r\n\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, DOCS_INDEX.as_bytes());
    let response = server.request("GET http://localhost HTTP/1.0\r\n\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, TYPED_FILES[0].1);
}

pub fn query_is_ignored_for_lookup(stage: &Stage) {
    let response = stage.start().get("/style.css?v=3&x=%zz");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"body { color: #222; }\n");
}

pub fn percent_encoded_names_with_spaces_and_utf8(stage: &Stage) {
    let server = stage.start();
    assert_eq!(server.get("/with%20space.txt").body, b"spaces work\n");
    assert_eq!(server.get("/sub%20dir/inner.txt").body, b"inner\n");
    assert_eq!(server.get("/caf%C3%A9.txt").body, b"utf-8 name\n");
    assert_eq!(server.get("/caf%c3%a9.txt").body, b"utf-8 name\n");
    assert_eq!(server.get("/%73tyle.css").body, b"body { color: #222; }\n");
}

pub fn bad_percent_encoding_is_400(stage: &Stage) {
    let server = stage.start();
    for path in [
        "/%zz",
        "/a%",
        "/a%4",
        "/notes.txt%00.html",
        "/%ff%fe",
        "/%C0%AE%C0%AE/",
    ] {
        assert_eq!(server.get(path).status, 400, "{path}");
    }
}

pub fn empty_file_has_zero_length(stage: &Stage) {
    let response = stage.start().get("/empty.txt");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Length"), Some("0"));
    assert!(response.body.is_empty());
}

pub fn fifo_is_not_served(stage: &Stage) {
    // Opening a FIFO blocks until a writer appears: a server that tries would hang.
    let server = stage.start();
    assert_eq!(server.get("/fifo").status, 404);
    assert_eq!(server.get("/style.css").status, 200);
}

pub fn ipv6_and_ipv4_both_answer(stage: &Stage) {
    let server = stage.start();
    for mut client in [server.connect(), server.connect_v6()] {
        client.send(b"GET /style.css HTTP/1.0\r\n\r\n");
        assert_eq!(client.response(false).body, b"body { color: #222; }\n");
    }
}

pub fn request_sent_one_byte_at_a_time(stage: &Stage) {
    let server = stage.start();
    let mut client = server.connect();
    let request = b"GET /docs/ HTTP/1.0\r\nUser-Agent: drip\r\nAccept: */*\r\n\r\n";
    client.send_in_pieces(request, 1, std::time::Duration::from_millis(2));
    let response = client.response(false);
    assert_eq!(response.status, 200);
    assert_eq!(response.body, DOCS_INDEX.as_bytes());
}

pub fn ten_mib_file_arrives_intact(stage: &Stage) {
    let response = stage.start().get("/big.bin");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("Content-Length"),
        Some(crate::support::BIG_LEN.to_string().as_str())
    );
    assert!(response.body == big_content(), "10 MiB body differs");
}

pub fn access_log_has_a_combined_line(stage: &Stage) {
    let server = stage.start();
    server.request("GET /style.css?x=1 HTTP/1.0\r\nReferer: http://ref/\r\nUser-Agent: tester \"quoted\"\r\n\r\n");
    server.get("/nope");
    let expect = [
        "\"GET /style.css?x=1 HTTP/1.0\" 200 22 \"http://ref/\" \"tester \\\"quoted\\\"\"",
        "\"GET /nope HTTP/1.0\" 404 ",
    ];
    let logged = server.wait_for(std::time::Duration::from_secs(5), || {
        let log = server.log();
        expect.iter().all(|line| log.contains(line))
    });
    let log = server.log();
    assert!(logged, "log lacks expected lines: {log}");
    assert!(
        log.lines().all(|l| l.starts_with("127.0.0.1 - - [")),
        "{log}"
    );
}
