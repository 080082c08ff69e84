//! TLS settings from PEM text. The master reads the certificate and key files (as root, before
//! any chroot) and hands their text to every worker in its plan; the worker builds the rustls
//! configuration from that text, so a worker never needs to open a file outside its jail, and
//! a reload that replaces a certificate is one more plan.
//!
//! The rest is stage06's `tls.rs`, now `eventloop::certs`: TLS 1.3 and 1.2 only, the ring
//! provider, and ALPN `h2` then `http/1.1` as stage07 offers them (or `http/1.1` alone with
//! `http2 = false`).

use crate::config::{Mistake, TlsFiles};
use eventloop::certs::{self, Identity};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use toml::Spanned;

/// A certificate chain and its key, as PEM text.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// The PEM of listener number `listener` (its place in the config's `[[listener]]` list).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ListenerPem {
    pub listener: usize,
    pub pem: Pem,
}

fn read(path: &Spanned<std::path::PathBuf>, what: &str) -> Result<String, Mistake> {
    std::fs::read_to_string(path.get_ref()).map_err(|e| {
        Mistake::at(
            path,
            format!("cannot read {what} {}: {e}", path.get_ref().display()),
        )
    })
}

impl Pem {
    /// Reads both files; a failure points at the file's name in the config.
    pub fn read(files: &TlsFiles) -> Result<Pem, Mistake> {
        Ok(Pem {
            cert: read(&files.cert, "certificate")?,
            key: read(&files.key, "key")?,
        })
    }

    // ANCHOR: server_config
    /// The rustls settings for this certificate, or one line on why it cannot serve. With
    /// `http2`, ALPN offers `h2` first, so a browser gets HTTP/2 and a client that offers
    /// only `http/1.1` gets HTTP/1.1; without, `http/1.1` alone (a client that offers only
    /// `h2` is refused rather than misunderstood).
    pub fn server_config(&self, http2: bool) -> Result<Arc<ServerConfig>, String> {
        let chain = CertificateDer::pem_slice_iter(self.cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("invalid certificate: {e}"))?;
        if chain.is_empty() {
            return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) in the file".into());
        }
        let key = PrivateKeyDer::from_pem_slice(self.key.as_bytes())
            .map_err(|e| format!("no usable PEM private key: {e}"))?;
        let alpn = if http2 {
            certs::H2_THEN_HTTP1
        } else {
            certs::HTTP1
        };
        certs::server_config(Identity { chain, key }, alpn)
    }
    // ANCHOR_END: server_config
}
