//! TLS settings: the certificate chain and key read from PEM files, the
//! rustls server configuration every TLS connection starts from, and
//! reloading the certificate (on SIGHUP) without touching the connections
//! already open.
//!
//! The handshake and the records are rustls's sans-IO `ServerConnection`,
//! driven by [`crate::transport`]; nothing here touches a socket.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig};
use rustls::sign::CertifiedKey;
use thiserror::Error;

/// Why a certificate or key could not be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{} holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no PEM private key, or one that cannot be parsed.
    #[error(
        "{} holds no usable private key (expected PEM: PKCS#8, PKCS#1 RSA or SEC1 EC): {reason}",
        path.display()
    )]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The key is not the certificate's.
    #[error("the key in {} does not match the certificate in {}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
}

/// The crypto provider every TLS connection uses: ring's.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a certificate chain (leaf first) and its private key from PEM
/// files, checking that they belong together.
pub fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_owned(),
        });
    }
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::BadKey {
        path: key.to_owned(),
        reason: e.to_string(),
    })?;
    CertifiedKey::from_der(chain, private, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
            cert: cert.to_owned(),
            key: key.to_owned(),
        },
        e => TlsError::BadKey {
            path: key.to_owned(),
            reason: e.to_string(),
        },
    })
}

/// The certificate handed to every new handshake; replaced by
/// [`Tls::reload`], while handshakes already done keep theirs.
struct Current(RwLock<Arc<CertifiedKey>>);

impl fmt::Debug for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Current(..)")
    }
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.0.read().unwrap_or_else(|e| e.into_inner()),
        ))
    }
}

/// A server's TLS: where its certificate comes from, and the rustls
/// configuration new connections start from. Cloning shares it.
#[derive(Clone)]
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    current: Arc<Current>,
    config: Arc<ServerConfig>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the certificate chain and key (PEM) and builds the server
    /// configuration: TLS 1.2 and 1.3, no client certificates, no ALPN.
    pub fn new(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let current = Arc::new(Current(RwLock::new(Arc::new(load(cert, key)?))));
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        Ok(Tls {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current,
            config: Arc::new(config),
        })
    }

    /// Reads the certificate and key files again: new handshakes get the
    /// new certificate, connections open keep theirs. On an error the
    /// certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(load(&self.cert, &self.key)?);
        *self.current.0.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// A new connection's TLS state.
    pub fn accept(&self) -> Result<rustls::ServerConnection, rustls::Error> {
        rustls::ServerConnection::new(Arc::clone(&self.config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[&str]) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let made = rcgen::generate_simple_self_signed(
            names.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        (dir, cert, key)
    }

    fn served_der(tls: &Tls) -> Vec<u8> {
        tls.current.0.read().unwrap().cert[0].to_vec()
    }

    #[test]
    fn a_pair_loads_and_a_reload_replaces_it() {
        let (_dir, cert, key) = files(&["localhost"]);
        let tls = Tls::new(&cert, &key).unwrap();
        let before = served_der(&tls);
        let (_other, cert2, key2) = files(&["localhost"]);
        std::fs::copy(&cert2, &cert).unwrap();
        std::fs::copy(&key2, &key).unwrap();
        tls.reload().unwrap();
        assert_ne!(served_der(&tls), before);
        assert_eq!(
            served_der(&tls),
            std::fs::read(&cert2)
                .map(|pem| {
                    CertificateDer::pem_slice_iter(&pem)
                        .next()
                        .unwrap()
                        .unwrap()
                        .to_vec()
                })
                .unwrap()
        );
    }

    #[test]
    fn a_failed_reload_keeps_the_certificate_in_use() {
        let (_dir, cert, key) = files(&["localhost"]);
        let tls = Tls::new(&cert, &key).unwrap();
        let before = served_der(&tls);
        std::fs::write(&cert, "not a certificate").unwrap();
        let err = tls.reload().unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        assert_eq!(served_der(&tls), before);
    }

    #[test]
    fn mistakes_are_named() {
        let (_dir, cert, key) = files(&["localhost"]);
        let (_other, _cert2, key2) = files(&["localhost"]);
        let err = Tls::new(&cert, &key2).unwrap_err();
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
        // The two files swapped.
        let err = Tls::new(&key, &cert).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        let err = Tls::new(&cert, &cert).unwrap_err();
        assert!(matches!(err, TlsError::BadKey { .. }), "{err}");
        assert!(err.to_string().contains("private key"), "{err}");
        let err = Tls::new(&cert.with_extension("missing"), &key).unwrap_err();
        assert!(matches!(err, TlsError::Read { .. }), "{err}");
    }
}
