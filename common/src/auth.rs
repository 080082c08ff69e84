//! HTTP Basic authentication (RFC 7617): who may read this site (stage06, over TLS).
//!
//! The client sends `Authorization: Basic base64(user:password)` with every request; there is
//! no session. Users come from an htpasswd file (bcrypt lines, as `htpasswd -B` writes them)
//! or from `--auth USER:PASS` on the command line. Checking is careful in three ways: every
//! failure looks the same to the client, comparisons take the same time whatever matches,
//! and the slow bcrypt check runs once per distinct good credential, not once per request.
//!
//! The check comes in two halves for a server with one thread for everyone:
//! [`Users::begin`] decides at once whatever needs no bcrypt, and hands back a
//! [`Verification`] for the rest, a pure function that any thread can run;
//! [`Users::conclude`] turns its verdict into a user and remembers a success.

use base64::Engine;
use std::collections::HashMap;
use std::sync::Mutex;

/// How a user's password is stored.
#[derive(Clone)]
enum Secret {
    /// From `--auth USER:PASS` (demos only: it is visible in `ps`).
    Plain(Vec<u8>),
    /// A bcrypt hash from an htpasswd file (`$2y$...`, `$2b$...`, `$2a$...`).
    Bcrypt(String),
}

/// The users allowed in, and a small cache of credentials already verified.
pub struct Users {
    users: HashMap<String, Secret>,
    /// Authorization values that passed a bcrypt check, so the next request with the same
    /// header costs a lookup, not ~50 ms of deliberately slow hashing.
    verified: Mutex<HashMap<String, String>>,
}

/// Most verified credentials remembered at once (cleared when full: bounded memory).
const MAX_VERIFIED: usize = 1024;

impl Users {
    pub fn new() -> Users {
        Users {
            users: HashMap::new(),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// True when no user is configured (the site is public).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Adds a user from a `USER:PASS` argument.
    pub fn add_plain(&mut self, user_pass: &str) -> Result<(), String> {
        let (user, pass) = user_pass
            .split_once(':')
            .filter(|(user, _)| !user.is_empty())
            .ok_or_else(|| format!("--auth wants USER:PASS, got {user_pass:?}"))?;
        self.users
            .insert(user.to_string(), Secret::Plain(pass.as_bytes().to_vec()));
        Ok(())
    }

    /// Adds every `user:hash` line of an htpasswd file's text. Only bcrypt hashes are
    /// accepted: the other formats htpasswd can write (MD5-crypt, SHA1, crypt) are weak.
    pub fn add_htpasswd(&mut self, text: &str, file: &str) -> Result<(), String> {
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| format!("{file} line {}: expected user:hash", number + 1))?;
            if !["$2y$", "$2b$", "$2a$"]
                .iter()
                .any(|prefix| hash.starts_with(prefix))
            {
                return Err(format!(
                    "{file} line {}: user {user:?} has no bcrypt hash (create it with htpasswd -B)",
                    number + 1
                ));
            }
            self.users
                .insert(user.to_string(), Secret::Bcrypt(hash.to_string()));
        }
        Ok(())
    }

    // ANCHOR: check
    /// The user an `Authorization` header proves, or `None` (missing, malformed, other
    /// scheme, unknown user, wrong password: all the same to the client, a 401). Runs the
    /// slow check here, on the caller's thread: [`Users::begin`] and [`Users::conclude`] are
    /// the same check in two halves, for a caller that runs the slow part elsewhere.
    pub fn check(&self, authorization: Option<&str>) -> Option<String> {
        match self.begin(authorization) {
            Check::Done(user) => user,
            Check::Slow(verification) => self.conclude(verification.verify()),
        }
    }

    /// Everything that can be decided at once: a malformed header, another scheme, a
    /// credential already in the verified cache, a `--auth` user. What only bcrypt can decide
    /// comes back as a [`Verification`] to run (anywhere) and hand to [`Users::conclude`].
    pub fn begin(&self, authorization: Option<&str>) -> Check {
        let Some(header) = authorization.map(crate::request::trim_ows) else {
            return Check::Done(None);
        };
        let Some((scheme, encoded)) = header.split_once(' ') else {
            return Check::Done(None);
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return Check::Done(None);
        }
        let encoded = crate::request::trim_ows(encoded);
        match self.verified.lock() {
            Ok(verified) => {
                if let Some(user) = verified.get(encoded) {
                    return Check::Done(Some(user.clone()));
                }
            }
            Err(_) => return Check::Done(None),
        }
        let Some(decoded) = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
        else {
            return Check::Done(None);
        };
        let Some((user, password)) = decoded.split_once(':') else {
            return Check::Done(None);
        };
        let (claimed, hash) = match self.users.get(user) {
            Some(Secret::Plain(expected)) => {
                let ok = constant_time_eq(password.as_bytes(), expected);
                return Check::Done(ok.then(|| user.to_string()));
            }
            Some(Secret::Bcrypt(hash)) => (Some(user.to_string()), hash.clone()),
            // Spend the time a real check would (against some real user's hash, same cost),
            // then fail: user names cannot be probed by timing.
            None => match self.some_bcrypt_hash() {
                Some(hash) => (None, hash.clone()),
                None => return Check::Done(None),
            },
        };
        Check::Slow(Verification {
            encoded: encoded.to_string(),
            user: claimed,
            password: password.to_string(),
            hash,
        })
    }

    /// The user a finished [`Verification`] proves, if any; a success is remembered, so the
    /// next request with the same header is decided by [`Users::begin`] at once.
    pub fn conclude(&self, verified: Verified) -> Option<String> {
        let user = verified.user.filter(|_| verified.ok)?;
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= MAX_VERIFIED {
                cache.clear();
            }
            cache.insert(verified.encoded, user.clone());
        }
        Some(user)
    }
    // ANCHOR_END: check

    fn some_bcrypt_hash(&self) -> Option<&String> {
        self.users.values().find_map(|secret| match secret {
            Secret::Bcrypt(hash) => Some(hash),
            Secret::Plain(_) => None,
        })
    }
}

// ANCHOR: verification
/// What [`Users::begin`] decided.
pub enum Check {
    /// Decided without bcrypt: the user proved, or `None` (a 401).
    Done(Option<String>),
    /// Only bcrypt can tell: run [`Verification::verify`], then [`Users::conclude`].
    Slow(Verification),
}

/// One bcrypt comparison still to make. It owns everything it needs and touches nothing
/// shared, so any thread may run it: an event loop hands it to a pool, because at a
/// realistic cost it takes tens to hundreds of milliseconds of CPU, on purpose.
pub struct Verification {
    /// The header's base64, the key under which a success is remembered.
    encoded: String,
    /// The user claimed, or `None` for a name nobody has (the check runs, then fails).
    user: Option<String>,
    password: String,
    hash: String,
}

/// A [`Verification`] done: the password is gone, only the verdict is left.
pub struct Verified {
    encoded: String,
    user: Option<String>,
    ok: bool,
}

impl Verification {
    /// The slow part, a pure function of the verification: bcrypt the password with the
    /// hash's salt and cost, and compare.
    pub fn verify(self) -> Verified {
        let matches = bcrypt::verify(&self.password, &self.hash).unwrap_or(false);
        Verified {
            ok: matches && self.user.is_some(),
            encoded: self.encoded,
            user: self.user,
        }
    }
}
// ANCHOR_END: verification

/// Debug never shows a password or a hash (a `{:?}` in a log must not leak one).
impl std::fmt::Debug for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verification")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("user", &self.user)
            .field("ok", &self.ok)
            .finish_non_exhaustive()
    }
}

/// Debug shows how many users there are, never who or their secrets (a `{:?}` in a log or a
/// panic message must not leak a password).
impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("count", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl Default for Users {
    fn default() -> Users {
        Users::new()
    }
}

/// The `WWW-Authenticate` value that asks for Basic credentials in `realm`.
pub fn challenge(realm: &str) -> String {
    let realm: String = realm
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect();
    format!("Basic realm=\"{realm}\", charset=\"UTF-8\"")
}

/// Compares two byte strings in time that depends only on their lengths, not on where they
/// first differ, so a wrong password's timing says nothing about how close it was.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        difference |= x ^ y;
    }
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn plain_users_from_the_command_line() {
        let mut users = Users::new();
        users.add_plain("alice:s3cret:with:colons").expect("add");
        assert_eq!(
            users.check(Some(&basic("alice:s3cret:with:colons"))),
            Some("alice".into())
        );
        assert_eq!(users.check(Some(&basic("alice:wrong"))), None);
        assert!(users.add_plain("nocolon").is_err());
        assert!(users.add_plain(":pass").is_err());
    }

    #[test]
    fn malformed_credentials_are_refused() {
        let mut users = Users::new();
        users.add_plain("alice:pw").expect("add");
        let bad = [
            None,
            Some("Basic"),
            Some("Basic !!!notbase64"),
            Some("Bearer abc"),
            Some("Digest username=\"alice\""),
            Some("Basic YWxpY2Vwdw=="), // "alicepw": no colon
            Some("Basic /w=="),         // 0xff: not UTF-8
        ];
        for header in bad {
            assert_eq!(users.check(header), None, "{header:?}");
        }
        let lower = basic("alice:pw").replace("Basic", "basic");
        assert_eq!(users.check(Some(&lower)), Some("alice".into()));
    }

    #[test]
    fn htpasswd_bcrypt_lines() {
        let hash = bcrypt::hash("hunter2", 4)
            .expect("hash")
            .replacen("$2b$", "$2y$", 1);
        let mut users = Users::new();
        users
            .add_htpasswd(&format!("# comment\nbob:{hash}\n"), "test")
            .expect("parse");
        assert_eq!(users.check(Some(&basic("bob:hunter2"))), Some("bob".into()));
        // The second check is served from the verified cache.
        assert_eq!(users.check(Some(&basic("bob:hunter2"))), Some("bob".into()));
        assert_eq!(users.check(Some(&basic("bob:hunter3"))), None);
        assert_eq!(users.check(Some(&basic("nobody:hunter2"))), None);
        let md5 = users
            .add_htpasswd("carol:$apr1$abc$def\n", "test")
            .expect_err("md5");
        assert!(md5.contains("htpasswd -B"), "{md5}");
    }

    #[test]
    fn the_check_in_two_halves() {
        let hash = bcrypt::hash("hunter2", 4).expect("hash");
        let mut users = Users::new();
        users.add_plain("alice:pw").expect("add");
        users
            .add_htpasswd(&format!("bob:{hash}\n"), "test")
            .expect("parse");
        // No bcrypt needed: decided at once.
        assert!(matches!(users.begin(None), Check::Done(None)));
        assert!(matches!(
            users.begin(Some(&basic("alice:pw"))),
            Check::Done(Some(user)) if user == "alice"
        ));
        // A bcrypt user, and an unknown one (checked against a decoy hash), need the slow
        // half, and it may run on another thread.
        for (credentials, proves) in [("bob:hunter2", Some("bob")), ("bob:nope", None)] {
            let Check::Slow(verification) = users.begin(Some(&basic(credentials))) else {
                panic!("{credentials}: no slow half");
            };
            let verified = std::thread::spawn(move || verification.verify())
                .join()
                .expect("verify");
            assert_eq!(users.conclude(verified).as_deref(), proves, "{credentials}");
        }
        let Check::Slow(unknown) = users.begin(Some(&basic("nobody:hunter2"))) else {
            panic!("an unknown user must cost a bcrypt check too");
        };
        assert!(!format!("{unknown:?}").contains("hunter2"), "Debug leaks");
        assert_eq!(users.conclude(unknown.verify()), None);
        // bob's success was remembered: his next request needs no bcrypt.
        assert!(matches!(
            users.begin(Some(&basic("bob:hunter2"))),
            Check::Done(Some(user)) if user == "bob"
        ));
    }

    #[test]
    fn challenge_and_comparison() {
        assert_eq!(
            challenge("my \"site\""),
            "Basic realm=\"my site\", charset=\"UTF-8\""
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
