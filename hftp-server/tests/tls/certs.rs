//! Certificates made at test time (rcgen): a private CA and leaves it
//! signs (for `localhost` and 127.0.0.1, for another name, expired), and a
//! TLS client over a real socket that trusts only that CA.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};

/// A private certificate authority.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate, DER.
    pub der: CertificateDer<'static>,
}

impl Ca {
    pub fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("hftp test CA {}", unique()),
        );
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names` (DNS names or IP addresses), valid now.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, |_| {})
    }

    /// A leaf for `localhost` and 127.0.0.1 that expired a year ago.
    pub fn expired_leaf(&self) -> Leaf {
        self.leaf_with(&["localhost", "127.0.0.1"], |p| {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        })
    }

    fn leaf_with(&self, names: &[&str], tweak: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        tweak(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// A client configuration trusting this CA alone.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
        )
    }
}

/// A number no other CA of this process has (CAs with one name would be
/// taken for each other).
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A leaf certificate and its key.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl Leaf {
    /// Writes `cert.pem` and `key.pem` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }
}

/// A blocking TLS client connection with bounded reads.
pub type Tls = BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

/// Connects to `addr` over TLS as `name`, the handshake done (or its
/// error returned).
pub fn connect(
    addr: SocketAddr,
    name: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<Tls, std::io::Error> {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(20))?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(20)))?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(BufReader::with_capacity(256 * 1024, stream))
}

/// The certificate the server showed.
pub fn peer_cert(tls: &Tls) -> CertificateDer<'static> {
    tls.get_ref().conn.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

/// Sends `bytes`.
pub fn send(tls: &mut Tls, bytes: &[u8]) {
    tls.get_mut().write_all(bytes).unwrap();
    tls.get_mut().flush().unwrap();
}

/// One line, CRLF included.
pub fn line(tls: &mut Tls) -> Vec<u8> {
    let mut line = Vec::new();
    tls.read_until(b'\n', &mut line).unwrap();
    line
}

/// Exactly `n` bytes.
pub fn exact(tls: &mut Tls, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    tls.read_exact(&mut buf).unwrap();
    buf
}
