//! Certificates for the TLS listeners of stages 06 to 08: which certificate we present, which
//! protocol versions and which application protocols (ALPN) we agree to. Built once at
//! start-up and shared by every connection; the per-connection TLS state is the `Tls`
//! transport (`transport.rs`). This was stage06's `tls.rs`; stage07 and stage08 need the same
//! three things with another ALPN list, so it lives here, with the list as a parameter.
//!
//! Without `--cert` and `--key` a stage makes a self-signed certificate for localhost at
//! start-up, so `cargo run -p stage06 -- 8443 ./www` works at once. A browser will warn
//! (nobody vouches for it); the SHA-256 fingerprint a stage prints lets a person check by hand
//! that the certificate their client was shown is the one this process made.

use rustls::crypto::ring as provider;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;
use std::sync::Arc;

/// A certificate chain and its private key, ready for rustls.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

// ANCHOR: load
/// Reads `--cert` (one or more PEM certificates, leaf first) and `--key` (a PEM private key:
/// PKCS#8, PKCS#1 or SEC1). Every failure is one line naming the file.
pub fn load(cert: &Path, key: &Path) -> Result<Identity, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read certificate {}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in {}",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read a PEM private key from {}: {e}", key.display()))?;
    Ok(Identity { chain, key })
}
// ANCHOR_END: load

// ANCHOR: self_signed
/// A fresh self-signed certificate for `localhost`, `127.0.0.1` and `::1`, and the SHA-256
/// fingerprint of it (colon-separated hex, as browsers and `openssl x509 -fingerprint` show).
pub fn self_signed() -> Result<(Identity, String), String> {
    let names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot generate a self-signed certificate: {e}"))?;
    let der = certified.cert.der().clone();
    let digest = ring::digest::digest(&ring::digest::SHA256, &der);
    let fingerprint = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()).into();
    Ok((
        Identity {
            chain: vec![der],
            key,
        },
        fingerprint,
    ))
}
// ANCHOR_END: self_signed

// ANCHOR: config
/// The server's TLS settings: TLS 1.3 and 1.2 only (1.0 and 1.1 are broken and deprecated,
/// RFC 8996), the ring crypto provider, and the application protocols of `alpn`, in our
/// order of preference: rustls picks the first of ours that the client offers, and refuses a
/// client that offers only others rather than letting it be misunderstood.
pub fn server_config(identity: Identity, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, String> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)
        .map_err(|e| format!("the certificate and key do not make a usable pair: {e}"))?;
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(Arc::new(config))
}
// ANCHOR_END: config

// ANCHOR: alpn
/// ALPN for a server that speaks HTTP/1.1 only (stage06; stage08, whose WebSocket upgrade is
/// an HTTP/1.1 request): a client that offers only `h2` is refused rather than misunderstood.
pub const HTTP1: &[&[u8]] = &[b"http/1.1"];
/// ALPN for stage07: `h2` first, so a browser gets HTTP/2, and `http/1.1` for a client that
/// offers only it. A client that sends no ALPN at all (wrk, old scripts) gets HTTP/1.1 too:
/// that is the HTTP/1.1 session's default. RFC 9113 section 9.2 asks h2 over TLS for TLS 1.2
/// or later with a strong cipher suite, which is all rustls has.
pub const H2_THEN_HTTP1: &[&[u8]] = &[b"h2", b"http/1.1"];
// ANCHOR_END: alpn

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificates_make_a_config() {
        let (identity, fingerprint) = self_signed().expect("generate");
        assert_eq!(fingerprint.len(), 32 * 3 - 1);
        let config = server_config(identity, HTTP1).expect("config");
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let (identity, _) = self_signed().expect("generate");
        let config = server_config(identity, H2_THEN_HTTP1).expect("config");
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn unreadable_files_are_one_line_errors() {
        let missing = load(Path::new("/no/cert.pem"), Path::new("/no/key.pem"))
            .err()
            .expect("missing file");
        assert!(
            missing.starts_with("cannot read certificate /no/cert.pem"),
            "{missing}"
        );
        assert!(!missing.contains('\n'));
    }
}
