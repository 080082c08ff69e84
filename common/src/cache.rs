//! A bounded cache of small files, ready to send: the answer to "why open and stat the same
//! 1 KB file 100,000 times a second when it has not changed?".
//!
//! For a file of at most [`CacheLimits::max_file`] bytes the cache keeps the body in memory
//! (an `Arc<[u8]>`, shared, never copied to build a response) and the middle of its response
//! heads prebuilt (`Content-Type`, `Last-Modified`, `ETag`, `Content-Length`). A hit costs a
//! hash lookup and a few copies into the output buffer, and no system call at all.
//!
//! Like nginx's `open_file_cache_valid`, an entry is trusted for at most
//! [`CacheLimits::valid_for`] (one second) before it is checked against the disk again, by the
//! very resolution [`Site`] uses: the path is opened beneath ROOT again and the descriptor's
//! `fstat` compared with the entry's. A file edited, replaced, deleted, made unreadable, or
//! hidden behind a symlink that now points outside ROOT is noticed within that second, and
//! then answered exactly as `Site::respond` would answer it. The bytes kept are always read
//! from that descriptor, so they can only come from a file opened inside ROOT.
//!
//! Only requests that `Site::respond` would answer with a file are ever hits; everything else
//! (errors, redirects, large files, other methods) is a miss, and the caller asks the `Site`.
//! Sans-IO where it can be: the clock is given (`now`), never read. The disk is not: looking
//! at files is what a cache of files is for.

use crate::conditional::{self, Validators};
use crate::mime;
use crate::path::{self, OpenFile, Resolved};
use crate::request::{Method, Request, Version};
use crate::response::{self, Connection};
use crate::site::Site;
use crate::status::Status;
use std::collections::HashMap;
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How big the cache may grow, and how long it trusts what it holds.
#[derive(Clone, Copy, Debug)]
pub struct CacheLimits {
    /// Files larger than this are never cached (they are streamed from disk instead).
    pub max_file: u64,
    /// Bytes held in all (bodies, prebuilt heads, keys, plus a fixed overhead per entry).
    pub max_bytes: usize,
    /// Entries held at most (nginx's `open_file_cache max=`).
    pub max_entries: usize,
    /// How long an entry is served without looking at the disk (`open_file_cache_valid`).
    pub valid_for: Duration,
}

impl Default for CacheLimits {
    fn default() -> CacheLimits {
        CacheLimits {
            max_file: 64 * 1024,
            max_bytes: 8 * 1024 * 1024,
            max_entries: 1000,
            valid_for: Duration::from_secs(1),
        }
    }
}

/// What an entry costs beyond its bytes (the map slot, the struct, the allocations' headers),
/// so that a flood of empty files still hits the byte bound.
const ENTRY_OVERHEAD: usize = 256;

/// Small files of one [`Site`], ready to send. Use one cache per site.
#[derive(Debug)]
pub struct FileCache {
    limits: CacheLimits,
    /// Keyed by the request path exactly as sent (still percent-encoded): the same bytes
    /// always resolve the same way, so no decoding is needed to find a hit.
    entries: HashMap<Box<str>, Entry>,
    /// The sum of every entry's cost, kept under `limits.max_bytes`.
    bytes: usize,
}

/// One cached file.
#[derive(Debug)]
struct Entry {
    /// When the disk was last asked whether this is still the file the path names.
    checked: Instant,
    /// What the file looked like then; any change means it must be read again.
    identity: Identity,
    validators: Validators,
    /// `Content-Type` .. `Content-Length` lines of a 200.
    ok_fields: Box<[u8]>,
    /// `Last-Modified` and `ETag` lines of a 304 (it has no type and no length).
    not_modified_fields: Box<[u8]>,
    body: Arc<[u8]>,
    /// What this entry counts against `max_bytes`.
    cost: usize,
    /// The 200's fields say `Accept-Ranges: bytes` (the site serves ranges).
    accept_ranges: bool,
}

impl Entry {
    /// Adds `Accept-Ranges: bytes` to the 200's fields, where `Site::serve_file` puts it
    /// (after the validators, before `Content-Length`), for a site serving ranges (stage06).
    fn add_accept_ranges(&mut self) {
        let before = self.ok_fields.len();
        let mut fields = Vec::with_capacity(before + 24);
        let mut length_line = Vec::with_capacity(40);
        response::write_content_length(&mut length_line, self.body.len() as u64);
        let length_at = self.ok_fields.len().saturating_sub(length_line.len());
        fields.extend_from_slice(&self.ok_fields[..length_at]);
        response::field(&mut fields, "Accept-Ranges", "bytes");
        fields.extend_from_slice(&self.ok_fields[length_at..]);
        self.cost += fields.len() - before;
        self.ok_fields = fields.into();
        self.accept_ranges = true;
    }
}

/// Enough of an open file's `fstat` to notice any change: a new device or inode (replaced by
/// a rename, or a symlink on the way now leads elsewhere), a new size or mtime (edited), a
/// new ctime (chmod, so a file made unreadable is noticed).
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(meta: &Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// A cached answer: what `Site::respond` would have returned, as bytes ready to copy.
#[derive(Debug)]
pub struct Hit<'a> {
    status: Status,
    fields: &'a [u8],
    body: &'a [u8],
    content_length: u64,
}

impl<'a> Hit<'a> {
    /// 200, or 304 when the client's copy is current.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The body to send after the head: empty for HEAD and for 304.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The length the head announces (a HEAD announces the GET's length and sends nothing).
    pub fn content_length(&self) -> u64 {
        self.content_length
    }

    /// The prebuilt fields (`Content-Type` .. `Content-Length`, or a 304's validators) as
    /// (name, value) pairs, for a protocol that does not send them as text lines (HTTP/2).
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        let text = std::str::from_utf8(self.fields).unwrap_or_default();
        text.split_terminator("\r\n")
            .filter_map(|line| line.split_once(": "))
    }

    /// Appends the head, byte for byte what [`Response::write_head`](crate::Response::write_head)
    /// writes for the same answer, without allocating.
    pub fn write_head(
        &self,
        out: &mut Vec<u8>,
        version: Version,
        connection: Connection,
        date: &str,
        server: &str,
    ) {
        response::write_status_line(out, version, self.status);
        response::field(out, "Server", server);
        response::field(out, "Date", date);
        out.extend_from_slice(self.fields);
        response::write_connection_and_end(out, connection);
    }
}

impl Default for FileCache {
    fn default() -> FileCache {
        FileCache::new(CacheLimits::default())
    }
}

impl FileCache {
    pub fn new(limits: CacheLimits) -> FileCache {
        FileCache {
            limits,
            entries: HashMap::new(),
            bytes: 0,
        }
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held now, as counted against [`CacheLimits::max_bytes`].
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    // ANCHOR: lookup
    /// The answer to `request` from the cache, or `None`: then ask `site.respond(request)`.
    ///
    /// A hit is only ever a GET or HEAD of a small regular file that `site` serves. An entry
    /// older than `valid_for` is first checked against the disk, and reloaded or dropped.
    pub fn lookup(&mut self, site: &Site, request: &Request, now: Instant) -> Option<Hit<'_>> {
        let send_body = match request.method {
            Method::Get => true,
            Method::Head => false,
            _ => return None,
        };
        // What the cache does not model goes to the Site: credentials to check (a hit must
        // never skip the 401), range requests (206, 416, If-Range), and precompressed
        // siblings (the answer depends on Accept-Encoding, and a sibling can appear beside
        // any cached file; keying by encoding too is left for when it is measured to matter).
        if site.requires_auth()
            || site.precompressed()
            || (site.ranges() && (request.range.is_some() || request.if_range.is_some()))
        {
            return None;
        }
        let key = request.path.as_str();
        let fresh = self.entries.get(key).is_some_and(|entry| {
            now.saturating_duration_since(entry.checked) < self.limits.valid_for
                && entry.validators.etag.is_some() == site.etags()
                && entry.accept_ranges == site.ranges()
        });
        if !fresh {
            self.refresh(site, key, now)?;
        }
        let entry = self.entries.get(key)?;
        let not_modified = conditional::not_modified(
            &entry.validators,
            request.if_none_match.as_deref(),
            request.if_modified_since.as_deref(),
        );
        Some(if not_modified {
            Hit {
                status: Status::NOT_MODIFIED,
                fields: &entry.not_modified_fields,
                body: &[],
                content_length: 0,
            }
        } else {
            Hit {
                status: Status::OK,
                fields: &entry.ok_fields,
                body: if send_body { &entry.body } else { &[] },
                content_length: entry.body.len() as u64,
            }
        })
    }
    // ANCHOR_END: lookup

    /// Makes the entry for `key` current: keeps it if the disk still shows the same file,
    /// reloads it if the file changed, drops it if the path no longer names a small file.
    fn refresh(&mut self, site: &Site, key: &str, now: Instant) -> Option<()> {
        let Some(opened) = resolve_file(site, key) else {
            self.remove(key);
            return None;
        };
        if let Some(entry) = self.entries.get_mut(key) {
            let same_etag_setting = entry.validators.etag.is_some() == site.etags()
                && entry.accept_ranges == site.ranges();
            if same_etag_setting && entry.identity == Identity::of(&opened.meta) {
                entry.checked = now;
                return Some(());
            }
            self.remove(key);
        }
        if opened.meta.len() > self.limits.max_file {
            return None;
        }
        let mut entry = load(opened, site.etags(), self.limits.max_file, key.len(), now)?;
        if site.ranges() {
            entry.add_accept_ranges();
        }
        self.insert(key, entry)
    }

    fn insert(&mut self, key: &str, entry: Entry) -> Option<()> {
        if entry.cost > self.limits.max_bytes || self.limits.max_entries == 0 {
            return None;
        }
        // Full: evict whichever entries the map yields first. A HashMap's order is effectively
        // random, and random eviction is a fair policy that needs no bookkeeping per hit.
        while self.entries.len() >= self.limits.max_entries
            || self.bytes + entry.cost > self.limits.max_bytes
        {
            let victim = self.entries.keys().next()?.clone();
            self.remove(&victim);
        }
        self.bytes += entry.cost;
        self.entries.insert(key.into(), entry);
        Some(())
    }

    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.entries.remove(key) {
            self.bytes -= entry.cost;
        }
    }
}

/// The file `Site` would serve for this request path, opened: the same decoding and the same
/// resolution (symlinks, dotfiles, indexes), so the cache can never disagree with it.
fn resolve_file(site: &Site, raw_path: &str) -> Option<OpenFile> {
    let decoded = path::decode(raw_path).ok()?;
    match path::resolve(site.root(), &decoded) {
        Resolved::File(opened) => Some(opened),
        Resolved::AddSlash | Resolved::NotFound | Resolved::Forbidden | Resolved::Unavailable => {
            None
        }
    }
}

// ANCHOR: load
/// Reads a small file, opened by [`path::resolve`], and prebuilds its heads, exactly as
/// `Site::serve_file` would build them. The bytes come from that descriptor and the identity
/// from its `fstat`, so the entry describes one file, opened inside ROOT.
fn load(
    opened: OpenFile,
    etags: bool,
    max_file: u64,
    key_len: usize,
    now: Instant,
) -> Option<Entry> {
    let OpenFile { file, meta, name } = opened;
    if !meta.is_file() || meta.len() > max_file {
        return None;
    }
    let mut body = Vec::with_capacity(meta.len() as usize);
    file.take(max_file + 1).read_to_end(&mut body).ok()?;
    // Written to while we read it: the length and the bytes may disagree. Let the Site stream it.
    if body.len() as u64 != meta.len() {
        return None;
    }
    let validators = Validators::of_file(meta.len(), meta.modified().ok(), etags);

    let mut not_modified_fields = Vec::with_capacity(128);
    if let Some(modified) = validators.modified {
        let last_modified = response::http_date(modified);
        response::field(&mut not_modified_fields, "Last-Modified", &last_modified);
    }
    if let Some(etag) = &validators.etag {
        response::field(&mut not_modified_fields, "ETag", etag);
    }
    let mut ok_fields = Vec::with_capacity(192);
    response::field(
        &mut ok_fields,
        "Content-Type",
        mime::content_type(Path::new(&name)),
    );
    ok_fields.extend_from_slice(&not_modified_fields);
    response::write_content_length(&mut ok_fields, meta.len());

    let cost = ENTRY_OVERHEAD + key_len + body.len() + ok_fields.len() + not_modified_fields.len();
    Some(Entry {
        checked: now,
        identity: Identity::of(&meta),
        validators,
        ok_fields: ok_fields.into(),
        not_modified_fields: not_modified_fields.into(),
        body: body.into(),
        cost,
        accept_ranges: false,
    })
}
// ANCHOR_END: load

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::Body;
    use std::fs;
    use std::path::PathBuf;

    use crate::request::test_request as request;

    fn scratch(name: &str) -> (PathBuf, Site) {
        let dir = std::env::temp_dir().join(format!("common-cache-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("root/docs")).expect("mkdir");
        fs::write(dir.join("root/docs/index.html"), "<h1>docs</h1>").expect("write");
        fs::write(dir.join("root/style.css"), "body{}").expect("write");
        fs::write(dir.join("root/empty.txt"), "").expect("write");
        fs::write(dir.join("root/.env"), "SECRET=1").expect("write");
        fs::write(dir.join("root/big.bin"), vec![7u8; 100_000]).expect("write");
        fs::write(dir.join("outside.txt"), "outside").expect("write");
        let site = Site::new(&dir.join("root")).expect("site").with_etags();
        (dir, site)
    }

    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

    /// The bytes `Site::respond` would send: head and body.
    fn from_site(site: &Site, raw: &str) -> Vec<u8> {
        let request = request(raw);
        let response = site.respond(&request);
        let mut out = Vec::new();
        let connection = crate::connection_for(Some(&request), &response);
        response.write_head(&mut out, Version::Http11, connection, DATE, "t");
        match response.body {
            Body::Empty => {}
            Body::Bytes(bytes) => out.extend_from_slice(&bytes),
            Body::File(mut file) => {
                let mut buf = vec![0u8; 1 << 20];
                let n = file.read_chunk(&mut buf).expect("read");
                out.extend_from_slice(&buf[..n]);
            }
        }
        out
    }

    /// The bytes the cache sends, or None for a miss.
    fn from_cache(cache: &mut FileCache, site: &Site, raw: &str, now: Instant) -> Option<Vec<u8>> {
        let request = request(raw);
        let hit = cache.lookup(site, &request, now)?;
        let mut out = Vec::new();
        let connection = crate::framing::persistence(&request);
        hit.write_head(&mut out, Version::Http11, connection, DATE, "t");
        out.extend_from_slice(hit.body());
        Some(out)
    }

    #[test]
    fn hits_are_byte_for_byte_what_the_site_sends() {
        let (dir, site) = scratch("same");
        let mut cache = FileCache::default();
        let now = Instant::now();
        let etag = site
            .respond(&request("GET /style.css HTTP/1.1\r\nHost: a\r\n\r\n"))
            .header("ETag")
            .expect("etag")
            .to_string();
        let date = response::http_date(
            fs::metadata(dir.join("root/style.css"))
                .expect("meta")
                .modified()
                .expect("mtime"),
        );
        for raw in [
            "GET /style.css HTTP/1.1\r\nHost: a\r\n\r\n".to_string(),
            "GET /style.css HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_string(),
            "HEAD /style.css HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_string(),
            "GET /%73tyle.css?v=1 HTTP/1.1\r\nHost: a\r\n\r\n".to_string(),
            "GET /docs/ HTTP/1.1\r\nHost: a\r\n\r\n".to_string(),
            "GET /empty.txt HTTP/1.1\r\nHost: a\r\n\r\n".to_string(),
            format!("GET /style.css HTTP/1.1\r\nHost: a\r\nIf-None-Match: {etag}\r\n\r\n"),
            format!("HEAD /style.css HTTP/1.1\r\nHost: a\r\nIf-None-Match: W/{etag}\r\n\r\n"),
            "GET /style.css HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\n\r\n".to_string(),
            format!("GET /style.css HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: {date}\r\n\r\n"),
        ] {
            // Twice: the first fills the cache, the second is a hit on the entry.
            for _ in 0..2 {
                let cached = from_cache(&mut cache, &site, &raw, now).expect("a hit");
                assert_eq!(
                    String::from_utf8_lossy(&cached),
                    String::from_utf8_lossy(&from_site(&site, &raw)),
                    "{raw:?}"
                );
            }
        }
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn misses_for_everything_but_small_served_files() {
        let (dir, site) = scratch("misses");
        let mut cache = FileCache::default();
        let now = Instant::now();
        for raw in [
            "GET /.env HTTP/1.0\r\n\r\n",
            "GET /docs HTTP/1.0\r\n\r\n",
            "GET /missing HTTP/1.0\r\n\r\n",
            "GET /%zz HTTP/1.0\r\n\r\n",
            "GET /../outside.txt HTTP/1.0\r\n\r\n",
            "GET /big.bin HTTP/1.0\r\n\r\n",
            "POST /style.css HTTP/1.0\r\n\r\n",
            "DELETE /style.css HTTP/1.0\r\n\r\n",
        ] {
            assert!(from_cache(&mut cache, &site, raw, now).is_none(), "{raw:?}");
        }
        assert!(cache.is_empty());
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn changes_are_seen_after_valid_for_and_not_before() {
        let (dir, site) = scratch("changes");
        let mut cache = FileCache::default();
        let t0 = Instant::now();
        let raw = "GET /style.css HTTP/1.0\r\n\r\n";
        let body = |cache: &mut FileCache, now| {
            let request = request(raw);
            cache
                .lookup(&site, &request, now)
                .map(|hit| hit.body().to_vec())
        };
        assert_eq!(body(&mut cache, t0).as_deref(), Some(&b"body{}"[..]));
        fs::write(dir.join("root/style.css"), "p{color:red}").expect("edit");
        // Within valid_for the cache trusts what it has, as nginx's open_file_cache does.
        let soon = t0 + Duration::from_millis(500);
        assert_eq!(body(&mut cache, soon).as_deref(), Some(&b"body{}"[..]));
        let later = t0 + Duration::from_secs(2);
        assert_eq!(
            body(&mut cache, later).as_deref(),
            Some(&b"p{color:red}"[..])
        );
        // Deleted: a miss (the Site answers 404), and the entry is gone.
        fs::remove_file(dir.join("root/style.css")).expect("rm");
        assert!(body(&mut cache, later + Duration::from_secs(2)).is_none());
        assert!(cache.is_empty() && cache.bytes() == 0);
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn a_symlink_turned_outside_the_root_is_dropped() {
        let (dir, site) = scratch("symlink");
        let root = dir.join("root");
        std::os::unix::fs::symlink(root.join("style.css"), root.join("link.css")).expect("ln");
        let mut cache = FileCache::default();
        let t0 = Instant::now();
        let raw = "GET /link.css HTTP/1.0\r\n\r\n";
        assert!(from_cache(&mut cache, &site, raw, t0).is_some());
        fs::remove_file(root.join("link.css")).expect("rm");
        std::os::unix::fs::symlink(dir.join("outside.txt"), root.join("link.css")).expect("ln");
        assert!(from_cache(&mut cache, &site, raw, t0 + Duration::from_secs(2)).is_none());
        assert_eq!(site.respond(&request(raw)).status, Status::NOT_FOUND);
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn a_fifo_in_place_of_a_cached_file_is_a_miss_not_a_hang() {
        let (dir, site) = scratch("fifo");
        let mut cache = FileCache::default();
        let t0 = Instant::now();
        let raw = "GET /style.css HTTP/1.0\r\n\r\n";
        assert!(from_cache(&mut cache, &site, raw, t0).is_some());
        fs::remove_file(dir.join("root/style.css")).expect("rm");
        let mode = rustix::fs::Mode::from_raw_mode(0o644);
        rustix::fs::mkfifoat(rustix::fs::CWD, dir.join("root/style.css"), mode).expect("mkfifo");
        // Opening it would wait for a writer, for ever, without O_NONBLOCK.
        assert!(from_cache(&mut cache, &site, raw, t0 + Duration::from_secs(2)).is_none());
        assert!(cache.is_empty());
        assert_eq!(site.respond(&request(raw)).status, Status::NOT_FOUND);
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn stays_within_its_limits() {
        let (dir, site) = scratch("limits");
        for i in 0..50 {
            fs::write(dir.join(format!("root/f{i}.txt")), vec![b'x'; 1000]).expect("write");
        }
        let limits = CacheLimits {
            max_entries: 10,
            max_bytes: 8 * 1400,
            ..CacheLimits::default()
        };
        let mut cache = FileCache::new(limits);
        let now = Instant::now();
        for i in 0..50 {
            let raw = format!("GET /f{i}.txt HTTP/1.0\r\n\r\n");
            let hit = from_cache(&mut cache, &site, &raw, now).expect("hit");
            assert!(hit.ends_with(&[b'x'; 1000]));
            assert!(
                cache.len() <= 10 && cache.bytes() <= 8 * 1400,
                "{}",
                cache.bytes()
            );
        }
        assert!(
            cache.len() >= 5,
            "evicts only what it must: {}",
            cache.len()
        );
        fs::remove_dir_all(dir).expect("cleanup");
    }
}
