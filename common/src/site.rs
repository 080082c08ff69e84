//! The site: a root folder, and the decision of what each request gets from it.
//!
//! [`Site::respond`] is the whole of "what does HTTP mean here" for a static server: method,
//! path, file, validators. It returns a [`Response`] value; no stage ever builds a file
//! response by hand, so every stage answers the same request the same way.

use crate::conditional::{self, Validators};
use crate::encoding::{self, Coding};
use crate::mime;
use crate::path::{self, DecodedPath, OpenFile, Resolved, Root};
use crate::range::{self, RangeDecision};
use crate::request::{Method, Request};
use crate::response::{Body, FileBody, Response};
use crate::status::Status;
use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
#[cfg(feature = "auth")]
use std::sync::Arc;

/// What [`Site::respond_or_verify`] says about a request.
#[derive(Debug)]
pub enum Reply {
    /// The response, and the user the credentials proved (`None`: public, or refused).
    Ready(Response, Option<String>),
    /// The credentials need a bcrypt check before anything can be said.
    #[cfg(feature = "auth")]
    Verify(crate::auth::Verification),
}

/// How far authentication got without the slow check.
enum Authenticated {
    Yes(Option<String>),
    #[cfg(feature = "auth")]
    No(Response),
    #[cfg(feature = "auth")]
    Verify(crate::auth::Verification),
}

/// A folder served over HTTP, and the features the stage serving it has switched on.
#[derive(Clone, Debug)]
pub struct Site {
    /// The folder served, held open: every file is opened beneath it.
    root: Root,
    /// Send `ETag` and honour `If-None-Match` (stage02 on).
    etags: bool,
    /// Send `Accept-Ranges` and honour `Range` / `If-Range` (stage06 on).
    ranges: bool,
    /// Who may read the site, and the realm named in the challenge (stage06, opt-in). Shared
    /// (`Arc`) because the users' verified-credential cache must be one cache, not one per clone.
    #[cfg(feature = "auth")]
    auth: Option<Arc<(crate::auth::Users, String)>>,
    /// The URL path (e.g. `/index.html`) served for missing page routes (stage06, opt-in).
    fallback: Option<String>,
    /// Send `x.br` / `x.gz`, found beside `x`, to a client whose `Accept-Encoding` takes it
    /// (stage09, opt-in).
    precompressed: bool,
}

impl Site {
    /// A site serving `root`, which must be an existing directory.
    pub fn new(root: &Path) -> io::Result<Site> {
        Ok(Site {
            root: Root::open(root)?,
            etags: false,
            ranges: false,
            #[cfg(feature = "auth")]
            auth: None,
            fallback: None,
            precompressed: false,
        })
    }

    /// Switches on range requests: `Accept-Ranges: bytes` on files, `Range` and `If-Range`
    /// honoured (206, 416, `multipart/byteranges`).
    pub fn with_ranges(mut self) -> Site {
        self.ranges = true;
        self
    }

    /// True when this site honours `Range` (and says `Accept-Ranges: bytes`).
    pub fn ranges(&self) -> bool {
        self.ranges
    }

    /// Requires HTTP Basic credentials of one of `users` for every request. An empty set of
    /// users leaves the site public.
    #[cfg(feature = "auth")]
    pub fn with_auth(mut self, users: crate::auth::Users, realm: &str) -> Site {
        self.auth = (!users.is_empty()).then(|| Arc::new((users, realm.to_string())));
        self
    }

    /// True when every request must carry credentials: such requests must never be answered
    /// by anything that skips [`Site::respond`] (a cache, say).
    pub fn requires_auth(&self) -> bool {
        #[cfg(feature = "auth")]
        if self.auth.is_some() {
            return true;
        }
        false
    }

    /// Serves the file at URL path `fallback` (e.g. `/index.html`) for a GET or HEAD of a
    /// missing page route, so a single-page app's client-side routes survive a reload.
    pub fn with_fallback(mut self, fallback: &str) -> Site {
        let fallback = if fallback.starts_with('/') {
            fallback.to_string()
        } else {
            format!("/{fallback}")
        };
        self.fallback = Some(fallback);
        self
    }

    /// Switches on entity tags: `ETag` on every file, `If-None-Match` evaluated.
    pub fn with_etags(mut self) -> Site {
        self.etags = true;
        self
    }

    /// True when this site sends `ETag` and honours `If-None-Match`.
    pub fn etags(&self) -> bool {
        self.etags
    }

    /// Switches on precompressed files, as nginx's `gzip_static on`: a GET or HEAD of `x`
    /// may be answered with the bytes of `x.br` or `x.gz` (with `Content-Encoding`), and every
    /// answer for a path that has such a sibling says `Vary: Accept-Encoding`.
    pub fn with_precompressed(mut self) -> Site {
        self.precompressed = true;
        self
    }

    /// True when this site may answer with a precompressed sibling: its answers then depend
    /// on `Accept-Encoding`, which a cache keyed by path alone does not model.
    pub fn precompressed(&self) -> bool {
        self.precompressed
    }

    /// The folder served.
    pub fn root(&self) -> &Root {
        &self.root
    }

    // ANCHOR: respond
    /// The response to `request`. Never fails: every problem is a status.
    pub fn respond(&self, request: &Request) -> Response {
        self.respond_as(request).0
    }

    /// The response to `request`, and the user its credentials proved (for the access log;
    /// `None` when the site is public or the request was refused). A bcrypt check, if one is
    /// needed, runs here, on the caller's thread: see [`Site::respond_or_verify`] for a server
    /// whose thread serves everyone.
    pub fn respond_as(&self, request: &Request) -> (Response, Option<String>) {
        match self.respond_or_verify(request) {
            Reply::Ready(response, user) => (response, user),
            #[cfg(feature = "auth")]
            Reply::Verify(verification) => self.respond_verified(request, verification.verify()),
        }
    }

    fn respond_public(&self, request: &Request) -> Response {
        let response = match request.method {
            Method::Get | Method::Head => self.serve(request),
            // A static file server has nothing to POST or DELETE to; say what it does allow.
            Method::Known(_) => {
                Response::error(Status::METHOD_NOT_ALLOWED).with_header("Allow", "GET, HEAD")
            }
            Method::Other(_) => Response::error(Status::NOT_IMPLEMENTED),
        };
        without_body_for_head(request, response)
    }

    fn serve(&self, request: &Request) -> Response {
        let decoded = match path::decode(&request.path) {
            Ok(decoded) => decoded,
            Err(status) => return Response::error(status),
        };
        match path::resolve(&self.root, &decoded) {
            Resolved::File(file) => self.serve_chosen(request, &decoded, file),
            Resolved::AddSlash => redirect_to_slash(&decoded, request.query.as_deref()),
            Resolved::NotFound if self.falls_back(request, &decoded) => {
                self.serve_fallback(request)
            }
            Resolved::NotFound => Response::error(Status::NOT_FOUND),
            Resolved::Forbidden => Response::error(Status::FORBIDDEN),
            // Out of descriptors for a moment (the event loop backs off accepting the same way).
            Resolved::Unavailable => {
                Response::error(Status::SERVICE_UNAVAILABLE).with_header("Retry-After", "1")
            }
        }
    }
    // ANCHOR_END: respond

    // ANCHOR: respond_or_verify
    /// [`Site::respond_as`] in two halves. The first answers every request it can at once;
    /// a request whose credentials only bcrypt can judge comes back as [`Reply::Verify`]: run
    /// the [`Verification`](crate::auth::Verification) wherever suits (a pool: it is slow on
    /// purpose), then call [`Site::respond_verified`] with the same request and the verdict.
    pub fn respond_or_verify(&self, request: &Request) -> Reply {
        // Authentication comes first: an unauthenticated client learns nothing, not even
        // whether a path exists (no 404 vs 401 difference, no redirect, no 405).
        match self.authenticate(request) {
            Authenticated::Yes(user) => Reply::Ready(self.respond_public(request), user),
            #[cfg(feature = "auth")]
            Authenticated::No(challenge) => {
                Reply::Ready(without_body_for_head(request, challenge), None)
            }
            #[cfg(feature = "auth")]
            Authenticated::Verify(verification) => Reply::Verify(verification),
        }
    }

    /// The second half: the response to `request` once its verification is done.
    #[cfg(feature = "auth")]
    pub fn respond_verified(
        &self,
        request: &Request,
        verified: crate::auth::Verified,
    ) -> (Response, Option<String>) {
        let user = self
            .auth
            .as_ref()
            .and_then(|auth| auth.0.conclude(verified));
        match user {
            Some(user) => (self.respond_public(request), Some(user)),
            None => (without_body_for_head(request, self.challenge()), None),
        }
    }

    /// The answer to a request whose credentials cannot be checked now, because every
    /// verifier is busy: 503, and when to try again (as stage04 says when its queue is full).
    pub fn respond_busy(&self, request: &Request) -> Response {
        let busy = Response::error(Status::SERVICE_UNAVAILABLE).with_header("Retry-After", "1");
        without_body_for_head(request, busy)
    }
    // ANCHOR_END: respond_or_verify

    /// Whether the request may proceed, as far as can be told at once.
    #[cfg(feature = "auth")]
    fn authenticate(&self, request: &Request) -> Authenticated {
        let Some(auth) = &self.auth else {
            return Authenticated::Yes(None);
        };
        match auth.0.begin(request.authorization.as_deref()) {
            crate::auth::Check::Done(Some(user)) => Authenticated::Yes(Some(user)),
            crate::auth::Check::Done(None) => Authenticated::No(self.challenge()),
            crate::auth::Check::Slow(verification) => Authenticated::Verify(verification),
        }
    }

    #[cfg(not(feature = "auth"))]
    fn authenticate(&self, _request: &Request) -> Authenticated {
        Authenticated::Yes(None)
    }

    /// The 401: a small fixed page, nothing about the resource asked for.
    #[cfg(feature = "auth")]
    fn challenge(&self) -> Response {
        let realm = self.auth.as_ref().map_or("", |auth| auth.1.as_str());
        Response::error(Status::UNAUTHORIZED)
            .with_header("WWW-Authenticate", crate::auth::challenge(realm))
    }

    // ANCHOR: fallback
    /// A missing path gets the fallback page when it looks like a client-side route: GET or
    /// HEAD (only those reach here), a last segment without a dot (`/app/users/42`, not
    /// `/app.css`: a missing asset must stay a 404, or the browser would parse HTML as CSS),
    /// and a client that accepts HTML (a browser navigating, not a script fetching JSON).
    fn falls_back(&self, request: &Request, decoded: &path::DecodedPath) -> bool {
        if self.fallback.is_none() {
            return false;
        }
        let last = decoded.segments.last().map_or("", String::as_str);
        let wants_html = request
            .accept
            .as_deref()
            .is_some_and(|accept| accept.contains("text/html") || accept.contains("*/*"));
        !last.contains('.') && wants_html
    }

    /// The fallback file, resolved like any request (so it cannot escape ROOT either).
    fn serve_fallback(&self, request: &Request) -> Response {
        let Some(fallback) = &self.fallback else {
            return Response::error(Status::NOT_FOUND);
        };
        let Ok(decoded) = path::decode(fallback) else {
            return Response::error(Status::NOT_FOUND);
        };
        match path::resolve(&self.root, &decoded) {
            Resolved::File(file) => self.serve_chosen(request, &decoded, file),
            _ => Response::error(Status::NOT_FOUND),
        }
    }
    // ANCHOR_END: fallback

    // ANCHOR: precompressed
    /// Serves `original` (the file `decoded` names), or the precompressed sibling the client
    /// prefers, when the site has them switched on.
    fn serve_chosen(
        &self,
        request: &Request,
        decoded: &DecodedPath,
        original: OpenFile,
    ) -> Response {
        if !self.precompressed {
            return self.serve_file(request, original, None, false);
        }
        let preference = encoding::preference(request.accept_encoding.as_deref());
        for &coding in preference.codings() {
            if let Some(mut sibling) = self.sibling(decoded, coding) {
                // The sibling's bytes, the original's type: `app.css.br` is served as CSS.
                sibling.name = original.name;
                return self.serve_file(request, sibling, Some(coding), true);
            }
        }
        // The original goes out; if another client would get a sibling, caches must know
        // this answer was chosen by Accept-Encoding too.
        let vary = Coding::ALL
            .into_iter()
            .filter(|coding| !preference.codings().contains(coding))
            .any(|coding| self.sibling(decoded, coding).is_some());
        self.serve_file(request, original, None, vary)
    }

    /// `x.br` or `x.gz` beside the file `decoded` names (`docs/index.html.gz` for `/docs/`),
    /// opened exactly as a request for it would be: beneath ROOT, so a sibling that is a
    /// symlink leading outside, a directory, a FIFO or an unreadable file is no sibling.
    ///
    /// Only ever asked once the original has been found: unlike nginx, a `.gz` with no
    /// original is not served under the original's name, so a URL is never a 404 for one
    /// client and a 200 for another, and the original's checks (dotfiles, indexes) decide.
    fn sibling(&self, decoded: &DecodedPath, coding: Coding) -> Option<OpenFile> {
        let mut segments = decoded.segments.clone();
        if decoded.trailing_slash {
            segments.push("index.html".to_string());
        }
        segments.last_mut()?.push_str(coding.extension());
        let sibling = DecodedPath {
            segments,
            trailing_slash: false,
        };
        match path::resolve(&self.root, &sibling) {
            Resolved::File(file) => Some(file),
            _ => None,
        }
    }
    // ANCHOR_END: precompressed

    // ANCHOR: serve_file
    /// The answer with the bytes of `opened`: the file asked for or, with `coding`, its
    /// precompressed sibling (renamed to the original, for the type). `vary`: the path has a
    /// sibling, so every answer for it says `Vary: Accept-Encoding`, 304s included.
    fn serve_file(
        &self,
        request: &Request,
        opened: OpenFile,
        coding: Option<Coding>,
        vary: bool,
    ) -> Response {
        // `path::resolve` opened the file and `fstat`ed the descriptor: size, date and type
        // describe exactly the bytes we send, whatever happens to the name meanwhile.
        let OpenFile { file, meta, name } = opened;
        let path = Path::new(&name);
        let mut validators = Validators::of_file(meta.len(), meta.modified().ok(), self.etags);
        if let Some(coding) = coding {
            validators.etag = validators.etag.map(|etag| coding.tag(&etag));
        }
        let mut headers: Vec<(&'static str, Cow<'static, str>)> = Vec::new();
        if vary {
            headers.push(("Vary", "Accept-Encoding".into()));
        }
        if let Some(modified) = validators.modified {
            headers.push(("Last-Modified", crate::response::http_date(modified).into()));
        }
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
        if let Some(coding) = coding {
            headers.insert(1, ("Content-Encoding", coding.name().into()));
        }
        if self.ranges {
            headers.push(("Accept-Ranges", "bytes".into()));
            if let Some(ranged) = ranged(request, &validators, path, &file, meta.len(), &headers) {
                return ranged;
            }
        }
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

// ANCHOR: ranged
/// The 206 or 416 a `Range` header asks for, or `None` for the whole file (no `Range`, a HEAD,
/// a stale `If-Range`, or a header we ignore). `headers` are the file's 200 headers.
fn ranged(
    request: &Request,
    validators: &Validators,
    path: &Path,
    file: &File,
    len: u64,
    headers: &[(&'static str, Cow<'static, str>)],
) -> Option<Response> {
    // Ranges are defined for GET only (RFC 9110 section 14.2): HEAD gets the 200's headers.
    if request.method != Method::Get {
        return None;
    }
    let header = request.range.as_deref()?;
    // If-Range: "send the range only if it is still the version I have; else all of it".
    if let Some(if_range) = request.if_range.as_deref() {
        if !conditional::if_range_matches(validators, if_range) {
            return None;
        }
    }
    let mut response = match range::decide(header, len) {
        RangeDecision::Full => return None,
        RangeDecision::Unsatisfiable => {
            let mut refused = Response::error(Status::RANGE_NOT_SATISFIABLE)
                .with_header("Content-Range", format!("bytes */{len}"));
            // `len` is the chosen encoding's: the answer depends on Accept-Encoding too.
            refused
                .headers
                .extend(headers.iter().filter(|(name, _)| *name == "Vary").cloned());
            return Some(refused);
        }
        RangeDecision::Single(range) => {
            let file = file.try_clone().ok()?;
            let mut response = Response {
                status: Status::PARTIAL_CONTENT,
                headers: headers.to_vec(),
                content_length: Some(range.size()),
                body: Body::File(FileBody {
                    file,
                    offset: range.first,
                    len: range.size(),
                }),
                close: false,
            };
            response
                .headers
                .push(("Content-Range", range.content_range(len).into()));
            return Some(response);
        }
        // Several ranges of a precompressed file: the whole file instead (RFC 9110 lets a
        // server ignore Range). A `Content-Encoding` beside `multipart/byteranges` would
        // tell the client to decode the multipart body itself, which is not what it is.
        RangeDecision::Multiple(_) if headers.iter().any(|(n, _)| *n == "Content-Encoding") => {
            return None
        }
        RangeDecision::Multiple(ranges) => multipart(&ranges, path, file, len)?,
    };
    // The part headers carry the type; the response's own type is multipart.
    response.headers.extend(
        headers
            .iter()
            .filter(|(name, _)| *name != "Content-Type")
            .cloned(),
    );
    Some(response)
}

/// A `multipart/byteranges` body, built in memory: `range::decide` has already bounded the
/// data to `MAX_MULTIPART_BYTES`, so this is at most about 1 MiB plus the part headers.
/// `None` (send the whole file instead) if the file cannot be read as promised.
fn multipart(ranges: &[range::ByteRange], path: &Path, file: &File, len: u64) -> Option<Response> {
    let boundary = boundary();
    let content_type = mime::content_type(path);
    let (heads, tail) = range::multipart_frames(ranges, len, content_type, &boundary);
    let data: u64 = ranges.iter().map(|r| r.size()).sum();
    let framing: usize = heads.iter().map(String::len).sum::<usize>() + tail.len();
    let mut body = Vec::with_capacity(usize::try_from(data).ok()? + framing);
    for (range, head) in ranges.iter().zip(&heads) {
        body.extend_from_slice(head.as_bytes());
        let start = body.len();
        body.resize(start + usize::try_from(range.size()).ok()?, 0);
        // read_exact_at: a file that shrank since the stat fails here, not with short parts.
        file.read_exact_at(&mut body[start..], range.first).ok()?;
    }
    body.extend_from_slice(tail.as_bytes());
    let mut response = Response::bytes(Status::PARTIAL_CONTENT, "", body);
    response.headers = vec![(
        "Content-Type",
        format!("multipart/byteranges; boundary={boundary}").into(),
    )];
    Some(response)
}

/// A boundary that cannot be predicted from outside (so a file cannot be crafted to contain
/// it): a counter mixed with the clock and the process id. Not cryptographic, and need not be.
fn boundary() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = (nanos ^ u64::from(std::process::id()).rotate_left(32))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ count;
    format!("stage06-{mixed:016x}{count:08x}")
}
// ANCHOR_END: ranged

/// HEAD gets every header of the answer and none of its body, whatever the answer is: a file,
/// a redirect, a 401 or an error page (RFC 9110 section 9.3.2).
fn without_body_for_head(request: &Request, response: Response) -> Response {
    if request.method == Method::Head {
        response.without_body()
    } else {
        response
    }
}

// ANCHOR: redirect_to_slash
/// 301 to the same directory with a slash added, keeping the query.
///
/// The `Location` is built from the decoded, normalised path, never from the raw target:
/// `//evil.example/../docs` names `/docs` here, and echoing it back as `//evil.example/../docs/`
/// would send a browser to another host (a scheme-relative reference). Rebuilt from segments,
/// each non-empty and percent-encoded, it always starts with exactly one `/` and never `/\`.
fn redirect_to_slash(decoded: &path::DecodedPath, query: Option<&str>) -> Response {
    let mut location = String::from("/");
    for segment in &decoded.segments {
        encode_segment(segment, &mut location);
        location.push('/');
    }
    if let Some(query) = query {
        location.push('?');
        encode_query(query, &mut location);
    }
    let shown = escape_html(&location);
    let page = format!(
        "<!doctype html>\n<title>301 Moved Permanently</title>\n<a href=\"{shown}\">{shown}</a>\n"
    );
    Response::bytes(
        Status::MOVED_PERMANENTLY,
        "text/html; charset=utf-8",
        page.into_bytes(),
    )
    .with_header("Location", location)
}

/// Percent-encodes a decoded path segment: everything but RFC 3986's unreserved characters
/// and the sub-delims a path may hold as they are. A `\` becomes `%5C`, a `/` inside a name
/// `%2F`, and non-ASCII names their UTF-8 bytes, so the result is one segment and plain ASCII.
fn encode_segment(segment: &str, out: &mut String) {
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// Keeps the client's query as it came, except for what a URI cannot hold (RFC 3986 section
/// 3.4): `"`, `<`, `>`, a backslash, non-ASCII bytes and the like are percent-encoded, so the
/// `Location` is a plain ASCII URI reference. A `%` stays: the query is never decoded here.
fn encode_query(query: &str, out: &mut String) {
    for byte in query.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// What the 301 page echoes (the query is the client's) must be text, never markup.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
// ANCHOR_END: redirect_to_slash

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Version;
    use std::path::PathBuf;
    use std::time::{Duration, SystemTime};

    use crate::request::test_request as request;

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

    /// A site with precompressed siblings: `style.css` has both, `docs/` a gzipped index,
    /// `app.js` none, `orphan.js.gz` no original; the bytes are stand-ins (the conformance
    /// group sends real gzip and brotli).
    fn precompressed_site(name: &str) -> (PathBuf, Site) {
        let (dir, site) = site(name);
        std::fs::write(dir.join("style.css.br"), "BR:body{}").expect("write");
        std::fs::write(dir.join("style.css.gz"), "GZIP:body{}").expect("write");
        std::fs::write(dir.join("docs/index.html.gz"), "GZIP:docs").expect("write");
        std::fs::write(dir.join("app.js"), "run()").expect("write");
        std::fs::write(dir.join("orphan.js.gz"), "GZIP:orphan").expect("write");
        (dir, site.with_etags().with_ranges().with_precompressed())
    }

    fn get_encoded(site: &Site, path: &str, accept_encoding: &str) -> Response {
        site.respond(&request(&format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: {accept_encoding}\r\n\r\n"
        )))
    }

    #[test]
    fn precompressed_siblings_are_chosen_by_accept_encoding() {
        let (dir, site) = precompressed_site("precompressed");
        let identity = site.respond(&request("GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n"));
        let identity_tag = identity.header("ETag").expect("etag").to_string();
        for (accept, coding, bytes) in [
            ("gzip, deflate, br", Some("br"), &b"BR:body{}"[..]),
            ("gzip", Some("gzip"), b"GZIP:body{}"),
            ("br;q=0.5, gzip", Some("gzip"), b"GZIP:body{}"),
            ("br;q=0, gzip;q=0", None, b"body{}"),
            ("identity", None, b"body{}"),
            ("gzip;q=2", None, b"body{}"),
        ] {
            let response = get_encoded(&site, "/style.css", accept);
            assert_eq!(response.status, Status::OK, "{accept}");
            assert_eq!(response.header("Content-Encoding"), coding, "{accept}");
            assert_eq!(
                response.header("Content-Type"),
                Some("text/css; charset=utf-8")
            );
            assert_eq!(response.header("Vary"), Some("Accept-Encoding"), "{accept}");
            assert_eq!(response.header("Accept-Ranges"), Some("bytes"));
            assert_eq!(response.content_length, Some(bytes.len() as u64));
            let etag = response.header("ETag").expect("etag").to_string();
            match coding {
                Some(name) => assert!(etag.ends_with(&format!("-{name}\"")), "{etag}"),
                None => assert_eq!(etag, identity_tag),
            }
            assert_eq!(body_bytes(response), bytes, "{accept}");
        }
        // No Accept-Encoding: the original, still marked as chosen by it.
        assert_eq!(identity.header("Vary"), Some("Accept-Encoding"));
        assert_eq!(identity.header("Content-Encoding"), None);
        // A directory's index has its siblings too.
        let docs = get_encoded(&site, "/docs/", "gzip");
        assert_eq!(docs.header("Content-Encoding"), Some("gzip"));
        assert_eq!(
            docs.header("Content-Type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(body_bytes(docs), b"GZIP:docs");
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn without_a_sibling_or_the_option_nothing_varies() {
        let (dir, site) = precompressed_site("precompressed-none");
        let plain = get_encoded(&site, "/app.js", "gzip, br");
        assert_eq!(
            (plain.header("Content-Encoding"), plain.header("Vary")),
            (None, None)
        );
        assert_eq!(body_bytes(plain), b"run()");
        // A .gz whose original is missing is not served under the original's name...
        assert_eq!(
            get_encoded(&site, "/orphan.js", "gzip").status,
            Status::NOT_FOUND
        );
        // ...and a request for a .gz itself is an ordinary file.
        let itself = get_encoded(&site, "/style.css.gz", "gzip");
        assert_eq!(
            (
                itself.status,
                itself.header("Content-Encoding"),
                itself.header("Vary")
            ),
            (Status::OK, None, None)
        );
        assert_eq!(body_bytes(itself), b"GZIP:body{}");
        let off = Site::new(&dir).expect("site");
        let ignored = get_encoded(&off, "/style.css", "br, gzip");
        assert_eq!(
            (ignored.header("Content-Encoding"), ignored.header("Vary")),
            (None, None)
        );
        assert_eq!(body_bytes(ignored), b"body{}");
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn a_sibling_must_be_a_regular_file_inside_the_root() {
        let (dir, site) = precompressed_site("precompressed-escape");
        let outside = dir.with_extension("outside.gz");
        std::fs::write(&outside, "SECRET").expect("write");
        std::os::unix::fs::symlink(&outside, dir.join("app.js.gz")).expect("symlink");
        std::fs::create_dir_all(dir.join("app.js.br")).expect("mkdir");
        let response = get_encoded(&site, "/app.js", "br, gzip");
        assert_eq!(
            (response.header("Content-Encoding"), response.header("Vary")),
            (None, None)
        );
        assert_eq!(body_bytes(response), b"run()");
        // A symlink to a sibling inside the root is followed, as for any file.
        std::fs::remove_file(dir.join("app.js.gz")).expect("rm");
        std::os::unix::fs::symlink("style.css.gz", dir.join("app.js.gz")).expect("symlink");
        let inside = get_encoded(&site, "/app.js", "gzip");
        assert_eq!(inside.header("Content-Encoding"), Some("gzip"));
        assert_eq!(
            inside.header("Content-Type"),
            Some("text/javascript; charset=utf-8")
        );
        std::fs::remove_file(outside).expect("cleanup");
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn validators_and_ranges_belong_to_each_encoding() {
        let (dir, site) = precompressed_site("precompressed-conditional");
        let gzip = get_encoded(&site, "/style.css", "gzip");
        let gzip_tag = gzip.header("ETag").expect("etag").to_string();
        let date = gzip.header("Last-Modified").expect("date").to_string();
        let conditional = |accept: &str, field: &str| {
            site.respond(&request(&format!(
                "GET /style.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: {accept}\r\n{field}\r\n\r\n"
            )))
        };
        let fresh = conditional("gzip", &format!("If-None-Match: {gzip_tag}"));
        assert_eq!(
            (fresh.status, fresh.body_len(), fresh.header("Vary")),
            (Status::NOT_MODIFIED, 0, Some("Accept-Encoding"))
        );
        assert_eq!(fresh.header("ETag"), Some(gzip_tag.as_str()));
        // The gzip tag does not validate the brotli or the identity bytes.
        let other = conditional("br", &format!("If-None-Match: {gzip_tag}"));
        assert_eq!(
            (other.status, other.header("Content-Encoding")),
            (Status::OK, Some("br"))
        );
        let identity = conditional("identity", &format!("If-None-Match: {gzip_tag}"));
        assert_eq!(identity.status, Status::OK);
        let by_date = conditional("gzip", &format!("If-Modified-Since: {date}"));
        assert_eq!(by_date.status, Status::NOT_MODIFIED);
        assert_eq!(by_date.header("Vary"), Some("Accept-Encoding"));
        // Ranges count the encoded bytes (GZIP:body{} is 11 long).
        let part = conditional("gzip", "Range: bytes=0-3");
        assert_eq!(part.status, Status::PARTIAL_CONTENT);
        assert_eq!(part.header("Content-Range"), Some("bytes 0-3/11"));
        assert_eq!(part.header("Content-Encoding"), Some("gzip"));
        assert_eq!(body_bytes(part), b"GZIP");
        let stale = conditional("gzip", "Range: bytes=0-3\r\nIf-Range: \"other\"");
        assert_eq!(stale.status, Status::OK);
        let refused = conditional("gzip", "Range: bytes=11-");
        assert_eq!(refused.status, Status::RANGE_NOT_SATISFIABLE);
        assert_eq!(refused.header("Content-Range"), Some("bytes */11"));
        assert_eq!(refused.header("Vary"), Some("Accept-Encoding"));
        // Several ranges of encoded bytes: the whole encoded file, never a multipart body
        // under a Content-Encoding that would claim the multipart itself is compressed.
        let several = conditional("gzip", "Range: bytes=0-1,4-5");
        assert_eq!(
            (several.status, several.header("Content-Encoding")),
            (Status::OK, Some("gzip"))
        );
        assert_eq!(body_bytes(several), b"GZIP:body{}");
        let head = site.respond(&request(
            "HEAD /style.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\n\r\n",
        ));
        assert_eq!(
            (head.status, head.content_length, head.body_len()),
            (Status::OK, Some(9), 0)
        );
        assert_eq!(head.header("Content-Encoding"), Some("br"));
        // The cache cannot tell encodings apart: a precompressed site is always asked.
        let mut cache = crate::cache::FileCache::default();
        let get = request("GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(cache
            .lookup(&site, &get, std::time::Instant::now())
            .is_none());
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    fn ranged_site(name: &str) -> (PathBuf, Site) {
        let (dir, site) = site(name);
        std::fs::write(dir.join("digits.txt"), "0123456789").expect("write");
        std::fs::write(dir.join("index.html"), "<h1>app</h1>").expect("write");
        (dir, site.with_etags().with_ranges())
    }

    fn body_bytes(response: Response) -> Vec<u8> {
        match response.body {
            Body::Empty => Vec::new(),
            Body::Bytes(bytes) => bytes.to_vec(),
            Body::File(mut file) => {
                let mut out = vec![0u8; file.len as usize];
                let n = file.read_chunk(&mut out).expect("read");
                out.truncate(n);
                out
            }
        }
    }

    #[test]
    fn ranges_give_206_416_and_200() {
        let (dir, site) = ranged_site("ranges");
        let whole = site.respond(&request("GET /digits.txt HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_eq!(whole.header("Accept-Ranges"), Some("bytes"));
        for (header, range, bytes) in [
            ("bytes=2-4", "bytes 2-4/10", &b"234"[..]),
            ("bytes=7-", "bytes 7-9/10", b"789"),
            ("bytes=-2", "bytes 8-9/10", b"89"),
            ("bytes=8-100", "bytes 8-9/10", b"89"),
        ] {
            let response = site.respond(&request(&format!(
                "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: {header}\r\n\r\n"
            )));
            assert_eq!(response.status, Status::PARTIAL_CONTENT, "{header}");
            assert_eq!(response.header("Content-Range"), Some(range));
            assert_eq!(response.content_length, Some(bytes.len() as u64));
            assert_eq!(body_bytes(response), bytes);
        }
        let unsatisfiable = site.respond(&request(
            "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=10-\r\n\r\n",
        ));
        assert_eq!(unsatisfiable.status, Status::RANGE_NOT_SATISFIABLE);
        assert_eq!(unsatisfiable.header("Content-Range"), Some("bytes */10"));
        let malformed = site.respond(&request(
            "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=x-y\r\n\r\n",
        ));
        assert_eq!(malformed.status, Status::OK);
        assert_eq!(body_bytes(malformed), b"0123456789");
        // HEAD ignores Range; a site without ranges ignores it too.
        let head = site.respond(&request(
            "HEAD /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n",
        ));
        assert_eq!(head.status, Status::OK);
        let plain = Site::new(&dir).expect("site").respond(&request(
            "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n",
        ));
        assert_eq!(plain.status, Status::OK);
        assert_eq!(plain.header("Accept-Ranges"), None);
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn several_ranges_are_multipart() {
        let (dir, site) = ranged_site("multipart");
        let response = site.respond(&request(
            "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,5-6\r\n\r\n",
        ));
        assert_eq!(response.status, Status::PARTIAL_CONTENT);
        let content_type = response.header("Content-Type").expect("type").to_string();
        let boundary = content_type
            .strip_prefix("multipart/byteranges; boundary=")
            .expect("multipart")
            .to_string();
        let length = response.content_length;
        let body = body_bytes(response);
        assert_eq!(length, Some(body.len() as u64));
        let expected = format!(
            "\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-1/10\r\n\r\n01\
             \r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 5-6/10\r\n\r\n56\
             \r\n--{boundary}--\r\n"
        );
        assert_eq!(String::from_utf8(body).expect("utf-8"), expected);
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn if_range_fresh_gives_the_range_and_stale_the_whole_file() {
        let (dir, site) = ranged_site("ifrange");
        let first = site.respond(&request("GET /digits.txt HTTP/1.1\r\nHost: x\r\n\r\n"));
        let etag = first.header("ETag").expect("etag").to_string();
        let date = first.header("Last-Modified").expect("date").to_string();
        for validator in [etag.as_str(), date.as_str()] {
            let fresh = site.respond(&request(&format!(
                "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\nIf-Range: {validator}\r\n\r\n"
            )));
            assert_eq!(fresh.status, Status::PARTIAL_CONTENT, "{validator}");
        }
        for stale in ["\"other\"", "W/\"weak\"", "Sun, 06 Nov 1994 08:49:37 GMT"] {
            let response = site.respond(&request(&format!(
                "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\nIf-Range: {stale}\r\n\r\n"
            )));
            assert_eq!(response.status, Status::OK, "{stale}");
            assert_eq!(body_bytes(response), b"0123456789");
        }
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn fallback_serves_routes_but_not_missing_assets() {
        let (dir, site) = ranged_site("fallback");
        let site = site.with_fallback("/index.html");
        let route = |path: &str, accept: &str| {
            site.respond(&request(&format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n\r\n"
            )))
        };
        let served = route("/app/users/42", "text/html,application/xhtml+xml");
        assert_eq!(served.status, Status::OK);
        assert_eq!(body_bytes(served), b"<h1>app</h1>");
        assert_eq!(route("/deep/route", "*/*").status, Status::OK);
        assert_eq!(route("/missing.css", "*/*").status, Status::NOT_FOUND);
        assert_eq!(route("/app/main.js", "text/html").status, Status::NOT_FOUND);
        assert_eq!(
            route("/api/data", "application/json").status,
            Status::NOT_FOUND
        );
        let no_accept = site.respond(&request("GET /route HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_eq!(no_accept.status, Status::NOT_FOUND);
        let post = site.respond(&request(
            "POST /route HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n",
        ));
        assert_eq!(post.status, Status::METHOD_NOT_ALLOWED);
        // Existing files are untouched; without the option, a route is a 404.
        assert_eq!(route("/style.css", "*/*").status, Status::OK);
        let plain = Site::new(&dir).expect("site");
        let missing = plain.respond(&request(
            "GET /app/users HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n",
        ));
        assert_eq!(missing.status, Status::NOT_FOUND);
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[cfg(feature = "auth")]
    #[test]
    fn auth_refuses_with_a_challenge_and_admits_with_the_user() {
        use base64::Engine;
        let (dir, site) = ranged_site("auth");
        let mut users = crate::auth::Users::new();
        users.add_plain("alice:pw").expect("user");
        let site = site.with_auth(users, "test realm");
        assert!(site.requires_auth());
        let basic = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        for authorization in [
            None,
            Some(format!("Basic {}", basic("alice:wrong"))),
            Some(format!("Basic {}", basic("bob:pw"))),
            Some("Basic !!!".to_string()),
            Some(format!("Basic {}", basic("alicepw"))),
            Some("Basic /w==".to_string()),
            Some(format!("Bearer {}", basic("alice:pw"))),
        ] {
            let field = authorization
                .as_deref()
                .map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
            for path in ["/digits.txt", "/missing", "/docs"] {
                let (response, user) = site.respond_as(&request(&format!(
                    "GET {path} HTTP/1.1\r\nHost: x\r\n{field}\r\n"
                )));
                assert_eq!(response.status, Status::UNAUTHORIZED, "{field} {path}");
                assert_eq!(
                    response.header("WWW-Authenticate"),
                    Some("Basic realm=\"test realm\", charset=\"UTF-8\"")
                );
                assert_eq!(user, None);
                assert!(!body_bytes(response).windows(3).any(|w| w == b"012"));
            }
        }
        let (ok, user) = site.respond_as(&request(&format!(
            "GET /digits.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\n\r\n",
            basic("alice:pw")
        )));
        assert_eq!((ok.status, user.as_deref()), (Status::OK, Some("alice")));
        // No users: the site stays public.
        let public = Site::new(&dir)
            .expect("site")
            .with_auth(crate::auth::Users::new(), "r");
        assert!(!public.requires_auth());
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn the_cache_defers_ranges_to_the_site_and_says_accept_ranges() {
        let (dir, site) = ranged_site("cache");
        let mut cache = crate::cache::FileCache::default();
        let now = std::time::Instant::now();
        let get = request("GET /digits.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut cached = Vec::new();
        let hit = cache.lookup(&site, &get, now).expect("hit");
        hit.write_head(
            &mut cached,
            Version::Http11,
            crate::Connection::Default,
            "d",
            "t",
        );
        let response = site.respond(&get);
        let mut direct = Vec::new();
        response.write_head(
            &mut direct,
            Version::Http11,
            crate::Connection::Default,
            "d",
            "t",
        );
        assert_eq!(
            String::from_utf8_lossy(&cached),
            String::from_utf8_lossy(&direct)
        );
        let ranged = request("GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n");
        assert!(cache.lookup(&site, &ranged, now).is_none());
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    // ANCHOR: redirect_tests
    #[test]
    fn directory_redirects_never_leave_the_host() {
        let (dir, site) = site("redirect");
        for (target, location) in [
            ("//evil.example/../docs", "/docs/"),
            ("/\\evil.example/../docs", "/docs/"),
            ("//docs", "/docs/"),
            ("///docs", "/docs/"),
            ("/./docs", "/docs/"),
            ("/%2e/docs", "/docs/"),
            ("/docs?q=1", "/docs/?q=1"),
            ("/docs?a=%2F/?b", "/docs/?a=%2F/?b"),
            // What a URI cannot hold is encoded: the Location stays plain ASCII.
            ("/docs?\"<>\\^`{|}", "/docs/?%22%3C%3E%5C%5E%60%7B%7C%7D"),
            ("/docs?caf\u{e9}", "/docs/?caf%C3%A9"),
        ] {
            let moved = site.respond(&request(&format!("GET {target} HTTP/1.0\r\n\r\n")));
            assert_eq!(moved.status, Status::MOVED_PERMANENTLY, "{target}");
            assert_eq!(moved.header("Location"), Some(location), "{target}");
        }
        std::fs::create_dir_all(dir.join("a b\\c/d\u{e9}")).expect("mkdir");
        let moved = site.respond(&request("GET /a%20b%5Cc/d%C3%A9 HTTP/1.0\r\n\r\n"));
        assert_eq!(moved.header("Location"), Some("/a%20b%5Cc/d%C3%A9/"));
        std::fs::remove_dir_all(dir).expect("cleanup");
    }
    // ANCHOR_END: redirect_tests

    #[test]
    fn the_redirect_page_escapes_what_it_echoes() {
        let (dir, site) = site("escape");
        let moved = site.respond(&request(
            "GET /docs?<script>alert('x')</script>&\"q\" HTTP/1.0\r\n\r\n",
        ));
        let page = String::from_utf8(body_bytes(moved)).expect("utf-8");
        assert!(
            !page.contains("<script>") && !page.contains("'x'"),
            "{page}"
        );
        assert!(page.contains("/docs/?%3Cscript%3Ealert(&#39;x&#39;)%3C/script%3E&amp;%22q%22"));
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn head_never_gets_a_body() {
        let (dir, site) = ranged_site("head-errors");
        for target in ["/docs", "/missing", "/%zz", "/digits.txt"] {
            for version in ["1.0", "1.1"] {
                let head = site.respond(&request(&format!(
                    "HEAD {target} HTTP/{version}\r\nHost: x\r\n\r\n"
                )));
                assert_eq!(head.body_len(), 0, "{target}");
                let get = site.respond(&request(&format!(
                    "GET {target} HTTP/{version}\r\nHost: x\r\n\r\n"
                )));
                assert_eq!(
                    (head.status, head.content_length),
                    (get.status, get.content_length)
                );
            }
        }
        #[cfg(feature = "auth")]
        {
            let mut users = crate::auth::Users::new();
            users.add_plain("alice:pw").expect("user");
            let site = site.with_auth(users, "r");
            let refused = site.respond(&request("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"));
            assert_eq!(
                (refused.status, refused.body_len()),
                (Status::UNAUTHORIZED, 0)
            );
        }
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn several_if_modified_since_are_ignored() {
        let (dir, site) = site("several-ims");
        let first = site.respond(&request("GET /style.css HTTP/1.0\r\n\r\n"));
        let date = first.header("Last-Modified").expect("date").to_string();
        for fields in [
            format!("If-Modified-Since: {date}\r\nIf-Modified-Since: {date}\r\n"),
            format!("If-Modified-Since: {date}, {date}\r\n"),
        ] {
            let response = site.respond(&request(&format!(
                "GET /style.css HTTP/1.0\r\n{fields}\r\n"
            )));
            assert_eq!(response.status, Status::OK, "{fields:?}");
        }
        std::fs::remove_dir_all(dir).expect("cleanup");
    }
}
