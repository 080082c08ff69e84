//! stage09's configuration: a TOML file (`--config FILE`), or the command line every stage
//! takes (`stage09 [OPTIONS] PORT ROOT`). Both end as one [`Config`], checked by one
//! [`Config::check`], so a mistake reads the same whichever way it was made.
//!
//! A person's mistake gets one line that names the file, the line and the column, like a
//! compiler's: `stage09: site.toml:12:5: unknown field "rotate_sise", expected one of ...`.
//! serde's derive maps the file onto the structs below, `deny_unknown_fields` turns a typo into
//! an error instead of a silently ignored setting, and `toml`'s errors carry the byte span of
//! the mistake. Mistakes only the file system or the OS can reveal (a root that does not exist,
//! a certificate that does not load, a user who is not in /etc/passwd) are checked afterwards,
//! and they point at the value too: every such value is read as a `Spanned<T>`, which keeps
//! where in the file it was written.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The longest timeout or grace period, as on every stage's command line (one day).
const MAX_SECS: u64 = common::cli::MAX_SECS;

// ANCHOR: config
/// Everything stage09 can be told. Field names are the file's keys.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The folder served.
    pub root: Spanned<PathBuf>,
    /// Worker processes (or threads); absent: one per core.
    #[serde(default)]
    pub workers: Option<Spanned<u64>>,
    /// `processes` (the default: a crash costs one worker) or `threads` (one process).
    #[serde(default)]
    pub worker_mode: WorkerMode,
    /// Per worker: it stops accepting while this many connections are open.
    #[serde(default = "default_max_connections")]
    pub max_connections: Spanned<u64>,
    /// Started as root, workers drop to this user (and `group`, else the user's own group).
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    #[serde(default)]
    pub group: Option<Spanned<String>>,
    /// Workers chroot into `root` before reading a request (needs starting as root).
    #[serde(default)]
    pub chroot: Option<Spanned<bool>>,
    /// The URL path served for missing page routes (single-page apps), e.g. `/index.html`.
    #[serde(default)]
    pub fallback: Option<Spanned<String>>,
    /// Serve `x.br` / `x.gz`, found beside `x`, to clients whose Accept-Encoding takes them
    /// (nginx's `gzip_static on`). Off unless asked, as in nginx and h2o: a sibling is a
    /// second copy the server cannot check, and a stale `app.css.gz` beside an edited
    /// `app.css` would quietly send browsers the old file.
    #[serde(default)]
    pub precompressed: bool,
    /// HTTP/2 (ALPN h2 on TLS listeners, the preface on cleartext ones); absent: on. See
    /// [`Config::http2`].
    #[serde(default)]
    pub http2: Option<Spanned<bool>>,
    /// Where the master and the workers say what went wrong; absent: stderr.
    #[serde(default)]
    pub error_log: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Absent: no access log.
    #[serde(default)]
    pub access_log: Option<AccessLog>,
    /// Absent: the site is public.
    #[serde(default)]
    pub auth: Option<Auth>,
    /// `[[listener]]`: at least one.
    #[serde(default, rename = "listener")]
    pub listeners: Vec<Listener>,
    /// A listener of its own for `/metrics` (keep it off the public address).
    #[serde(default)]
    pub metrics: Option<Metrics>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerMode {
    #[default]
    Processes,
    Threads,
}

/// `[timeouts]`, in seconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// A connection silent this long between requests is closed.
    #[serde(default = "default_idle")]
    pub idle: Spanned<u64>,
    /// A request head must arrive whole within this long of its first byte (else 408).
    #[serde(default = "default_header")]
    pub header: Spanned<u64>,
    /// A client that takes none of our response for this long is dropped.
    #[serde(default = "default_send")]
    pub send: Spanned<u64>,
    /// A stopping worker lets requests in flight finish for at most this long.
    #[serde(default = "default_grace")]
    pub grace: Spanned<u64>,
    /// On TERM, `/healthz` says 503 for this long while everything is served as usual, so a
    /// load balancer's checks take the instance out before its listeners close (0: no wait).
    #[serde(default = "zero")]
    pub lame_duck: Spanned<u64>,
}

/// `[access_log]`: Combined Log Format, written by the master (see `logs.rs`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLog {
    /// The file, appended to; `-` is the master's stdout.
    pub path: Spanned<PathBuf>,
    /// Rotate once the file reaches this many bytes (`access.log.1` ... `.keep`); 0: never.
    #[serde(default = "zero")]
    pub rotate_size: Spanned<u64>,
    /// Rotated files kept.
    #[serde(default = "default_keep")]
    pub keep: Spanned<u64>,
}

/// `[auth]`: HTTP Basic, as stage06.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// bcrypt lines as `htpasswd -B` writes them.
    #[serde(default)]
    pub htpasswd: Option<Spanned<PathBuf>>,
    /// `USER:PASS` in the clear: for demos (the file is readable by whoever reads it).
    #[serde(default)]
    pub users: Vec<Spanned<String>>,
    #[serde(default = "default_realm")]
    pub realm: String,
}

/// `[[listener]]`: one listening socket.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    #[serde(default = "any_address")]
    pub address: Spanned<IpAddr>,
    pub port: Spanned<u16>,
    /// HTTPS on this listener.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// Every connection starts with a PROXY protocol header, v1 or v2 (behind HAProxy's
    /// `send-proxy-v2`): the log names the client it carries. Or is closed.
    #[serde(default)]
    pub proxy_protocol: Option<Spanned<bool>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: Spanned<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Spanned<PathBuf>,
}

/// `[metrics]`: `/metrics` in the Prometheus text format, and nothing else, on its own port.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    #[serde(default = "loopback")]
    pub address: Spanned<IpAddr>,
    pub port: Spanned<u16>,
}
// ANCHOR_END: config

fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}
fn zero() -> Spanned<u64> {
    unspanned(0)
}
fn default_max_connections() -> Spanned<u64> {
    unspanned(10_000)
}
fn default_idle() -> Spanned<u64> {
    unspanned(5)
}
fn default_header() -> Spanned<u64> {
    unspanned(10)
}
fn default_send() -> Spanned<u64> {
    unspanned(30)
}
fn default_grace() -> Spanned<u64> {
    unspanned(10)
}
fn default_keep() -> Spanned<u64> {
    unspanned(5)
}
fn default_realm() -> String {
    "stage09".to_string()
}
fn any_address() -> Spanned<IpAddr> {
    unspanned(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
}
fn loopback() -> Spanned<IpAddr> {
    unspanned(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            idle: default_idle(),
            header: default_header(),
            send: default_send(),
            grace: default_grace(),
            lame_duck: zero(),
        }
    }
}

/// A mistake in the configuration: what is wrong, and where (a byte range of the file's text;
/// `None` for a setting that came from the command line or a default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mistake {
    pub span: Option<Range<usize>>,
    pub message: String,
}

impl Mistake {
    /// A mistake in `value`. Values from the file have a span of at least one byte; the
    /// command line's and the defaults have `0..0` (see `unspanned`): no place.
    pub fn at<T>(value: &Spanned<T>, message: impl Into<String>) -> Mistake {
        let span = value.span();
        Mistake {
            span: (span != (0..0)).then_some(span),
            message: message.into(),
        }
    }

    fn nowhere(message: impl Into<String>) -> Mistake {
        Mistake {
            span: None,
            message: message.into(),
        }
    }
}

// ANCHOR: render
/// Where a configuration came from, for the error line.
pub enum Source<'a> {
    /// A file: its name as given, and its text (to turn a byte offset into line:column).
    File(&'a Path, &'a str),
    CommandLine,
}

impl Source<'_> {
    /// The one line a person reads: `site.toml:12:5: unknown field "rotate_sise"`, or
    /// without a place for a mistake that has none (a setting missing from the file).
    pub fn describe(&self, mistake: &Mistake) -> String {
        match self {
            Source::File(path, text) if mistake.span.is_some() => {
                let start = mistake.span.as_ref().map_or(0, |s| s.start);
                let (line, column) = line_and_column(text, start);
                format!("{}:{line}:{column}: {}", path.display(), mistake.message)
            }
            Source::File(path, _) => format!("{}: {}", path.display(), mistake.message),
            Source::CommandLine => mistake.message.clone(),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}
// ANCHOR_END: render

// ANCHOR: parse
impl Config {
    /// Parses the text of a config file. Syntax, types and unknown keys fail here.
    pub fn parse(text: &str) -> Result<Config, Mistake> {
        toml::from_str(text).map_err(|e: toml::de::Error| Mistake {
            span: e.span(),
            // serde quotes names in backticks (`rotate_sise`); people quote with ".
            message: e.message().trim_end().replace('`', "\""),
        })
    }

    /// The settings that need no file system to judge: ranges, required parts, what this
    /// build cannot do yet. [`Config::check`] does these and then the rest.
    pub fn check_values(&self) -> Result<(), Mistake> {
        if self.listeners.is_empty() {
            return Err(Mistake::nowhere(
                "no [[listener]]: add one, e.g. [[listener]] port = 8080",
            ));
        }
        if let Some(workers) = &self.workers {
            if !(1..=1024).contains(workers.get_ref()) {
                return Err(Mistake::at(workers, "workers must be 1 to 1024"));
            }
        }
        if *self.max_connections.get_ref() == 0 {
            return Err(Mistake::at(
                &self.max_connections,
                "max_connections must be at least 1",
            ));
        }
        let t = &self.timeouts;
        for (name, value) in [("idle", &t.idle), ("header", &t.header), ("send", &t.send)] {
            if !(1..=MAX_SECS).contains(value.get_ref()) {
                return Err(Mistake::at(
                    value,
                    format!("timeouts.{name} must be 1 to {MAX_SECS} seconds"),
                ));
            }
        }
        for (name, value) in [("grace", &t.grace), ("lame_duck", &t.lame_duck)] {
            if *value.get_ref() > MAX_SECS {
                return Err(Mistake::at(
                    value,
                    format!("timeouts.{name} must be 0 to {MAX_SECS} seconds"),
                ));
            }
        }
        if let Some(log) = &self.access_log {
            if !(1..=1000).contains(log.keep.get_ref()) {
                return Err(Mistake::at(&log.keep, "access_log.keep must be 1 to 1000"));
            }
        }
        let mut seen: Vec<SocketAddr> = Vec::new();
        let metrics = self.metrics.iter().map(|m| (&m.address, &m.port));
        let listeners = self.listeners.iter().map(|l| (&l.address, &l.port));
        for (address, port) in listeners.chain(metrics) {
            let addr = SocketAddr::new(*address.get_ref(), *port.get_ref());
            // Port 0 (the OS picks) never collides; the same address and port twice does.
            if addr.port() != 0 && seen.contains(&addr) {
                return Err(Mistake::at(port, format!("{addr} is listed twice")));
            }
            seen.push(addr);
        }
        if let Some(fallback) = &self.fallback {
            if !fallback.get_ref().starts_with('/') {
                return Err(Mistake::at(
                    fallback,
                    "fallback is a URL path and starts with /",
                ));
            }
        }
        if self.group.is_some() && self.user.is_none() {
            if let Some(group) = &self.group {
                return Err(Mistake::at(group, "group needs a user too"));
            }
        }
        Ok(())
    }

    /// Everything [`Config::check_values`] does, and what only the system can tell: the root
    /// is a folder, the certificates load, the users exist, the logs open, privileges allow.
    /// Returns what was loaded, for the master to use.
    pub fn check(&self) -> Result<Loaded, Mistake> {
        self.check_values()?;
        common::setup::check_root(self.root.get_ref()).map_err(|e| Mistake::at(&self.root, e))?;
        let mut pems = Vec::new();
        for (index, listener) in self.listeners.iter().enumerate() {
            if let Some(tls) = &listener.tls {
                let pem = crate::tls::Pem::read(tls)?;
                pem.server_config(self.http2())
                    .map_err(|e| Mistake::at(&tls.cert, e))?;
                pems.push(crate::tls::ListenerPem {
                    listener: index,
                    pem,
                });
            }
        }
        let htpasswd = match self.auth.as_ref().and_then(|a| a.htpasswd.as_ref()) {
            Some(path) => Some(
                std::fs::read_to_string(path.get_ref())
                    .map_err(|e| Mistake::at(path, format!("cannot read htpasswd: {e}")))?,
            ),
            None => None,
        };
        if let Some(auth) = &self.auth {
            crate::service::users(auth, htpasswd.as_deref())?;
        }
        let identity = crate::privileges::Identity::look_up(self)?;
        let running_as_root = crate::privileges::is_root();
        if let Some(chroot) = self.chroot.as_ref().filter(|on| *on.get_ref()) {
            if !running_as_root {
                return Err(Mistake::at(
                    chroot,
                    "chroot = true needs starting as root (chroot(2) is root's)",
                ));
            }
        }
        if let Some(user) = &self.user {
            if !running_as_root && identity.is_some_and(|id| id.uid != crate::privileges::uid()) {
                return Err(Mistake::at(
                    user,
                    "switching user needs starting as root (or leave user out)",
                ));
            }
        }
        Ok(Loaded {
            pems,
            htpasswd,
            identity,
        })
    }
}
// ANCHOR_END: parse

// ANCHOR: http2
impl Config {
    /// Whether the workers speak HTTP/2. On unless `http2 = false`: every browser and CDN
    /// speaks it, and h2o and Caddy have it on by default (nginx asks for `http2 on`, a
    /// default from when HTTP/2 was new). Off, a TLS client is offered `http/1.1` only and
    /// the cleartext preface is answered as HTTP/1.1.
    pub fn http2(&self) -> bool {
        self.http2.as_ref().is_none_or(|on| *on.get_ref())
    }
}
// ANCHOR_END: http2

/// What checking loaded from outside the file: the master reads these once, as root, and
/// hands them to every worker (which may no longer be able to read them after the chroot).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Loaded {
    pub pems: Vec<crate::tls::ListenerPem>,
    pub htpasswd: Option<String>,
    pub identity: Option<crate::privileges::Identity>,
}

/// Reads and checks a config file: the error is the finished line (`file:line:col: ...`).
pub fn load_file(path: &Path) -> Result<(Config, Loaded), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
    let source = Source::File(path, &text);
    let config = Config::parse(&text).map_err(|m| source.describe(&m))?;
    let loaded = config.check().map_err(|m| source.describe(&m))?;
    Ok((config, loaded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mistake(text: &str) -> String {
        let source = Source::File(Path::new("site.toml"), text);
        let error = Config::parse(text)
            .and_then(|config| config.check_values())
            .expect_err("a mistake");
        source.describe(&error)
    }

    #[test]
    fn a_minimal_file_has_every_default() {
        let config = Config::parse("root = \"/srv\"\n[[listener]]\nport = 8080\n").expect("ok");
        assert_eq!(config.worker_mode, WorkerMode::Processes);
        assert!(!config.precompressed);
        assert_eq!(*config.timeouts.idle.get_ref(), 5);
        assert_eq!(*config.timeouts.grace.get_ref(), 10);
        assert!(config.listeners[0].address.get_ref().is_unspecified());
        config.check_values().expect("valid");
    }

    #[test]
    fn mistakes_name_line_and_column() {
        let text = "root = \"/srv\"\n[access_log]\npath = \"a.log\"\n    rotate_sise = 10\n";
        assert_eq!(
            mistake(text),
            "site.toml:4:5: unknown field \"rotate_sise\", expected one of \"path\", \"rotate_size\", \"keep\""
        );
        assert_eq!(
            mistake("root = \"/srv\"\nworkers = \"two\"\n[[listener]]\nport = 8080\n"),
            "site.toml:2:11: invalid type: string \"two\", expected u64"
        );
        assert_eq!(
            mistake("root = \"/srv\"\n[[listener]]\nport = 8080\n[timeouts]\nidle = 0\n"),
            "site.toml:5:8: timeouts.idle must be 1 to 86400 seconds"
        );
        assert_eq!(
            mistake("root = \"/srv\"\n"),
            "site.toml: no [[listener]]: add one, e.g. [[listener]] port = 8080"
        );
    }

    #[test]
    fn behind_a_balancer_proxy_protocol_and_lame_duck() {
        let text = "root = \"/srv\"\n[timeouts]\nlame_duck = 3\n[[listener]]\nport = 8080\nproxy_protocol = true\n";
        let config = Config::parse(text).expect("parse");
        config.check_values().expect("valid");
        // Both reach the worker (the plan is this config, as TOML).
        let again = Config::parse(&toml::to_string(&config).expect("write")).expect("reparse");
        assert_eq!(*again.timeouts.lame_duck.get_ref(), 3);
        assert_eq!(
            again.listeners[0]
                .proxy_protocol
                .as_ref()
                .map(|on| *on.get_ref()),
            Some(true)
        );
        let plain = Config::parse("root = \"/srv\"\n[[listener]]\nport = 8080\n").expect("ok");
        assert_eq!(
            *plain.timeouts.lame_duck.get_ref(),
            0,
            "a plain stop by default"
        );
        assert_eq!(
            mistake("root = \"/srv\"\n[[listener]]\nport = 8080\n[timeouts]\nlame_duck = 86401\n"),
            "site.toml:5:13: timeouts.lame_duck must be 0 to 86400 seconds"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(line_and_column("a\n\u{e9}\u{e9}x", 6), (2, 3));
        assert_eq!(line_and_column("abc", 0), (1, 1));
    }

    #[test]
    fn a_config_survives_the_trip_to_a_worker() {
        let text = "root = \"/srv\"\nworkers = 3\n[[listener]]\nport = 8080\n[[listener]]\nport = 8443\ntls = { cert = \"c.pem\", key = \"k.pem\" }\n[access_log]\npath = \"a.log\"\n";
        let config = Config::parse(text).expect("parse");
        let again = Config::parse(&toml::to_string(&config).expect("write")).expect("reparse");
        assert_eq!(again.workers.map(|w| w.into_inner()), Some(3));
        assert_eq!(again.listeners.len(), 2);
        assert!(again.listeners[1].tls.is_some());
    }
}
