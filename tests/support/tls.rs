//! A TLS client for the tests of stage06: the same byte-for-byte HTTP reading as
//! [`Client`](super::Client), over rustls instead of a bare socket.
//!
//! Additive to the harness: it is included with `#[path]` by the test files that need it, so
//! the other stages' test binaries neither compile nor depend on it. The server's certificate
//! is self-signed (made at its start-up), so the verifier accepts any certificate but still
//! checks the handshake signatures: these tests are about the server, not about PKI.

#![allow(dead_code)] // each test binary uses a different part of the harness

use crate::support::{fill_from, read_response, HttpResponse, READ_TIMEOUT};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;

/// Accepts whatever certificate the server shows (it is self-signed), checks the rest.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client configuration offering `versions` and the ALPN protocols `alpn`.
pub fn client_config(
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> Arc<ClientConfig> {
    let provider = Arc::new(ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// TLS 1.3 and 1.2, offering `http/1.1`: what curl or a browser would do.
pub fn default_config() -> Arc<ClientConfig> {
    client_config(rustls::DEFAULT_VERSIONS, &[b"http/1.1"])
}

/// An HTTP client over TLS.
pub struct TlsClient {
    pub tls: StreamOwned<ClientConnection, TcpStream>,
    pending: Vec<u8>,
}

impl TlsClient {
    /// Connects to `127.0.0.1:port` and completes the handshake.
    pub fn connect(port: u16) -> TlsClient {
        TlsClient::try_connect(port, default_config()).expect("TLS handshake")
    }

    /// Connects with `config`; the error says why the handshake failed.
    pub fn try_connect(port: u16, config: Arc<ClientConfig>) -> io::Result<TlsClient> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let name = ServerName::try_from("localhost").expect("server name");
        let connection = ClientConnection::new(config, name).map_err(io::Error::other)?;
        let mut tls = StreamOwned::new(connection, stream);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(TlsClient {
            tls,
            pending: Vec::new(),
        })
    }

    /// The ALPN protocol the server chose.
    pub fn alpn(&self) -> Option<Vec<u8>> {
        self.tls.conn.alpn_protocol().map(<[u8]>::to_vec)
    }

    /// The TLS version negotiated.
    pub fn version(&self) -> Option<rustls::ProtocolVersion> {
        self.tls.conn.protocol_version()
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).expect("send over TLS");
        self.tls.flush().expect("flush TLS");
    }

    /// Sends `raw` and reads its response.
    pub fn request(&mut self, raw: &str) -> HttpResponse {
        self.send(raw.as_bytes());
        self.response(raw.starts_with("HEAD "))
    }

    /// Sends every request in one write, then reads their responses in order.
    pub fn pipeline(&mut self, requests: &[&str]) -> Vec<HttpResponse> {
        self.send(requests.concat().as_bytes());
        requests
            .iter()
            .map(|raw| self.response(raw.starts_with("HEAD ")))
            .collect()
    }

    pub fn response(&mut self, head_request: bool) -> HttpResponse {
        self.try_response(head_request).expect("read a response")
    }

    /// Reads one response, with the plain client's reader (Content-Length framed, or to the end).
    pub fn try_response(&mut self, head_request: bool) -> io::Result<HttpResponse> {
        read_response(&mut self.pending, head_request, |pending| {
            fill_from(&mut self.tls, pending)
        })
    }

    fn fill(&mut self) -> io::Result<usize> {
        fill_from(&mut self.tls, &mut self.pending)
    }

    /// True when the server has closed the connection with nothing more sent.
    pub fn is_closed(&mut self) -> bool {
        self.pending.is_empty() && matches!(self.fill(), Ok(0) | Err(_))
    }
}

/// Standard base64 (RFC 4648), for building `Authorization` headers by hand.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
