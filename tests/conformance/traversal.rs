//! Path traversal: no request, however encoded, gets a byte from outside ROOT or a hidden file.

use crate::support::{Stage, SECRET};

#[macro_export]
macro_rules! traversal_behaviours {
    ($stage:expr) => {
        $crate::behaviours!($stage, traversal: [
            traversal_corpus_never_leaves_the_root,
            symlinks_out_of_the_root_are_404,
            symlinks_inside_the_root_are_followed,
            dotfiles_are_404,
            well_known_is_served,
        ]);
    };
}

// ANCHOR: corpus
/// Targets that try to climb out of ROOT, each followed by something that exists outside it
/// (`secret.txt` sits next to ROOT) or on every Linux machine (`/etc/passwd`).
const CORPUS: &[&str] = &[
    "/../secret.txt",
    "/../../../../../../etc/passwd",
    "/docs/../../secret.txt",
    "/./../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/%2E%2E/etc/passwd",
    "/..%2fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/..%2F..%2F..%2Fetc%2Fpasswd",
    "/%252e%252e/secret.txt",
    "/%252e%252e%252fsecret.txt",
    "/..%5csecret.txt",
    "/..\\secret.txt",
    "/docs\\..\\..\\secret.txt",
    "/%c0%ae%c0%ae/secret.txt",
    "/%c0%af../secret.txt",
    "/..%00/secret.txt",
    "/secret.txt%00.html",
    "//../secret.txt",
    "/docs/..//../secret.txt",
    "/link-dir/secret.txt",
    "/link-out.txt",
    "/link-dir/../../secret.txt",
    "http://localhost/../secret.txt",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/.%2e/secret.txt",
    "/....//secret.txt",
    "/..;/secret.txt",
];
// ANCHOR_END: corpus

pub fn traversal_corpus_never_leaves_the_root(stage: &Stage) {
    let server = stage.start();
    for target in CORPUS {
        let response = server.get(target);
        let body = response.text();
        assert!(!body.contains("TOP SECRET"), "{target} leaked the secret");
        assert!(!body.contains("root:x:0:0"), "{target} leaked /etc/passwd");
        assert!(
            [400, 404].contains(&response.status),
            "{target}: {}",
            response.status_line
        );
    }
    // Dot segments that stay inside the root resolve as a browser would resolve them.
    assert_eq!(server.get("/docs/../style.css").status, 200);
    assert_eq!(server.get("/../style.css").status, 200);
}

pub fn symlinks_out_of_the_root_are_404(stage: &Stage) {
    let server = stage.start();
    for target in ["/link-out.txt", "/link-dir/secret.txt", "/link-dir/"] {
        let response = server.get(target);
        assert_eq!(response.status, 404, "{target}");
        assert!(!response.text().contains(SECRET.trim()));
    }
}

pub fn symlinks_inside_the_root_are_followed(stage: &Stage) {
    let response = stage.start().get("/link-in.txt");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "plain text, naïve → UTF-8\n".as_bytes());
}

pub fn dotfiles_are_404(stage: &Stage) {
    let server = stage.start();
    for target in [
        "/.env",
        "/.git/config",
        "/.git/",
        "/.git",
        "/%2eenv",
        "/docs/../.env",
        "/.well-known/../.env",
    ] {
        let response = server.get(target);
        assert_eq!(response.status, 404, "{target}");
        assert!(!response.text().contains("hunter2"), "{target}");
    }
}

pub fn well_known_is_served(stage: &Stage) {
    let response = stage.start().get("/.well-known/security.txt");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"Contact: mailto:a@example.com\n");
}
