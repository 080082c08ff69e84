//! The site: a root folder, and the decision of what each request gets from it.
//!
//! [`Site::respond`] is the whole of "what does HTTP mean here" for a static server: method,
//! path, file, validators. It returns a [`Response`] value; no stage ever builds a file
//! response by hand, so every stage answers the same request the same way.

use crate::conditional::{self, Validators};
use crate::mime;
use crate::path::{self, Resolved};
use crate::request::{Method, Request};
use crate::response::{Body, FileBody, Response};
use crate::status::Status;
use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// A folder served over HTTP, and the features the stage serving it has switched on.
#[derive(Clone, Debug)]
pub struct Site {
    /// Canonical (absolute, symlinks resolved), so "is it inside?" is a prefix test.
    root: PathBuf,
    /// Send `ETag` and honour `If-None-Match` (stage02 on).
    etags: bool,
}

impl Site {
    /// A site serving `root`, which must be an existing directory.
    pub fn new(root: &Path) -> io::Result<Site> {
        Ok(Site {
            root: path::canonical_root(root)?,
            etags: false,
        })
    }

    /// Switches on entity tags: `ETag` on every file, `If-None-Match` evaluated.
    pub fn with_etags(mut self) -> Site {
        self.etags = true;
        self
    }

    /// The canonical root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    // ANCHOR: respond
    /// The response to `request`. Never fails: every problem is a status.
    pub fn respond(&self, request: &Request) -> Response {
        let response = match request.method {
            Method::Get | Method::Head => self.serve(request),
            // A static file server has nothing to POST or DELETE to; say what it does allow.
            Method::Known(_) => {
                Response::error(Status::METHOD_NOT_ALLOWED).with_header("Allow", "GET, HEAD")
            }
            Method::Other(_) => Response::error(Status::NOT_IMPLEMENTED),
        };
        if request.method == Method::Head {
            response.without_body()
        } else {
            response
        }
    }

    fn serve(&self, request: &Request) -> Response {
        let decoded = match path::decode(&request.path) {
            Ok(decoded) => decoded,
            Err(status) => return Response::error(status),
        };
        match path::resolve(&self.root, &decoded) {
            Resolved::File(path, _) => self.serve_file(request, &path),
            Resolved::AddSlash => redirect_to_slash(request),
            Resolved::NotFound => Response::error(Status::NOT_FOUND),
            Resolved::Forbidden => Response::error(Status::FORBIDDEN),
        }
    }
    // ANCHOR_END: respond

    // ANCHOR: serve_file
    fn serve_file(&self, request: &Request, path: &Path) -> Response {
        // Size and date come from the open file, so they describe exactly what we send.
        let opened = File::open(path).and_then(|file| Ok((file.metadata()?, file)));
        let (meta, file) = match opened {
            Ok(opened) => opened,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Response::error(Status::FORBIDDEN)
            }
            Err(_) => return Response::error(Status::NOT_FOUND),
        };
        let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        let validators = Validators {
            modified,
            etag: self.etags.then(|| conditional::etag(meta.len(), modified)),
        };
        let mut headers: Vec<(&'static str, Cow<'static, str>)> =
            vec![("Last-Modified", crate::response::http_date(modified).into())];
        if let Some(etag) = &validators.etag {
            headers.push(("ETag", etag.clone().into()));
        }

        let not_modified = conditional::not_modified(
            &validators,
            request.if_none_match.as_deref(),
            request.if_modified_since.as_deref(),
        );
        if not_modified {
            return Response {
                status: Status::NOT_MODIFIED,
                headers,
                content_length: None,
                body: Body::Empty,
                close: false,
            };
        }
        headers.insert(0, ("Content-Type", mime::content_type(path).into()));
        let body = match meta.len() {
            0 => Body::Empty,
            len => Body::File(FileBody {
                file,
                offset: 0,
                len,
            }),
        };
        Response {
            status: Status::OK,
            headers,
            content_length: Some(meta.len()),
            body,
            close: false,
        }
    }
    // ANCHOR_END: serve_file
}

/// 301 to the same path with a slash added, keeping the query.
fn redirect_to_slash(request: &Request) -> Response {
    let location = match &request.query {
        Some(query) => format!("{}/?{query}", request.path),
        None => format!("{}/", request.path),
    };
    let page = format!("<!doctype html>\n<title>301 Moved Permanently</title>\n<a href=\"{location}\">{location}</a>\n");
    Response::bytes(
        Status::MOVED_PERMANENTLY,
        "text/html; charset=utf-8",
        page.into_bytes(),
    )
    .with_header("Location", location)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{parse_head, Parsed};
    use std::time::{Duration, SystemTime};

    fn request(raw: &str) -> Request {
        match parse_head(raw.as_bytes()) {
            Parsed::Complete(request, _) => request,
            other => panic!("{other:?}"),
        }
    }

    fn site(name: &str) -> (PathBuf, Site) {
        let dir = std::env::temp_dir().join(format!("common-site-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("docs")).expect("mkdir");
        std::fs::write(dir.join("docs/index.html"), "<h1>docs</h1>").expect("write");
        std::fs::write(dir.join("style.css"), "body{}").expect("write");
        std::fs::write(dir.join("empty.txt"), "").expect("write");
        let site = Site::new(&dir).expect("site");
        (dir, site)
    }

    #[test]
    fn serves_files_with_type_length_and_date() {
        let (dir, site) = site("serve");
        let response = site.respond(&request("GET /style.css HTTP/1.0\r\n\r\n"));
        assert_eq!(response.status, Status::OK);
        assert_eq!(
            response.header("Content-Type"),
            Some("text/css; charset=utf-8")
        );
        assert_eq!(response.content_length, Some(6));
        assert!(response
            .header("Last-Modified")
            .is_some_and(|d| d.ends_with(" GMT")));
        assert!(response.header("ETag").is_none());
        assert!(matches!(response.body, Body::File(FileBody { len: 6, .. })));
        let empty = site.respond(&request("GET /empty.txt HTTP/1.0\r\n\r\n"));
        assert_eq!(
            (empty.status, empty.content_length, empty.body_len()),
            (Status::OK, Some(0), 0)
        );
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn head_has_the_headers_of_get_and_no_body() {
        let (dir, site) = site("head");
        let get = site.respond(&request("GET /docs/ HTTP/1.0\r\n\r\n"));
        let head = site.respond(&request("HEAD /docs/ HTTP/1.0\r\n\r\n"));
        assert_eq!(get.headers, head.headers);
        assert_eq!(get.content_length, head.content_length);
        assert_eq!(head.body_len(), 0);
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn statuses_for_methods_paths_and_directories() {
        let (dir, site) = site("statuses");
        let post = site.respond(&request("POST /style.css HTTP/1.0\r\n\r\n"));
        assert_eq!(
            (post.status, post.header("Allow")),
            (Status::METHOD_NOT_ALLOWED, Some("GET, HEAD"))
        );
        assert_eq!(
            site.respond(&request("BREW / HTTP/1.0\r\n\r\n")).status,
            Status::NOT_IMPLEMENTED
        );
        assert_eq!(
            site.respond(&request("GET /nope HTTP/1.0\r\n\r\n")).status,
            Status::NOT_FOUND
        );
        assert_eq!(
            site.respond(&request("GET /%zz HTTP/1.0\r\n\r\n")).status,
            Status::BAD_REQUEST
        );
        let moved = site.respond(&request("GET /docs?x=1 HTTP/1.0\r\n\r\n"));
        assert_eq!(
            (moved.status, moved.header("Location")),
            (Status::MOVED_PERMANENTLY, Some("/docs/?x=1"))
        );
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn conditional_get_gives_a_bodiless_304() {
        let (dir, site) = site("conditional");
        let site = site.with_etags();
        let first = site.respond(&request("GET /style.css HTTP/1.0\r\n\r\n"));
        let etag = first.header("ETag").expect("etag").to_string();
        let date = first.header("Last-Modified").expect("date").to_string();
        let by_tag = site.respond(&request(&format!(
            "GET /style.css HTTP/1.0\r\nIf-None-Match: {etag}\r\n\r\n"
        )));
        assert_eq!(
            (by_tag.status, by_tag.content_length, by_tag.body_len()),
            (Status::NOT_MODIFIED, None, 0)
        );
        assert_eq!(by_tag.header("ETag"), Some(etag.as_str()));
        let by_date = site.respond(&request(&format!(
            "GET /style.css HTTP/1.0\r\nIf-Modified-Since: {date}\r\n\r\n"
        )));
        assert_eq!(by_date.status, Status::NOT_MODIFIED);
        let earlier = crate::response::http_date(SystemTime::now() - Duration::from_secs(86_400));
        let stale = site.respond(&request(&format!(
            "GET /style.css HTTP/1.0\r\nIf-Modified-Since: {earlier}\r\n\r\n"
        )));
        assert_eq!(stale.status, Status::OK);
        std::fs::remove_dir_all(dir).expect("cleanup");
    }
}
