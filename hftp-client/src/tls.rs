//! HFTP over TLS (feature `tls`): which roots to trust ([`TlsConfig`]),
//! the name to check the certificate against (the host the user typed),
//! the handshake inside connect, and its failures said so that a user can
//! act on them ([`TlsError`]).
//!
//! ```no_run
//! use hftp_client::tls::{self, TlsConfig};
//! use hftp_client::{Client, Timeouts};
//!
//! // A server whose certificate is signed by a private CA.
//! let config = TlsConfig::from_ca_file("ca.pem")?;
//! let conn = tls::connect("files.example:19501", &config, Timeouts::default())?;
//! let mut client = Client::from_connection(conn);
//! println!("{:?}", client.list()?);
//! # Ok::<(), hftp_client::Error>(())
//! ```

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use thiserror::Error;

use crate::connect::open;
use crate::{Connection, Error, Stream, Timeouts};

/// The default port of HFTP over TLS.
pub const DEFAULT_PORT: u16 = 19501;

/// Why a TLS connection could not be made.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate names other hosts than the one connected to.
    #[error("the server's certificate is not valid for {host} (it is for {})", valid_for(.presented))]
    WrongHost {
        /// The host connected to.
        host: String,
        /// The names the certificate is for.
        presented: Vec<String>,
    },
    /// The certificate's validity ended.
    #[error("the server's certificate expired on {not_after}")]
    Expired {
        /// When it ended (UTC, `YYYY-MM-DD HH:MM:SS UTC`), or `an unknown date`.
        not_after: String,
    },
    /// The certificate chain does not lead to a trusted root.
    #[error(
        "the server's certificate is not signed by a trusted CA (use --ca FILE for a private CA)"
    )]
    UntrustedIssuer,
    /// Another certificate problem.
    #[error("the server's certificate was refused: {0}")]
    Certificate(String),
    /// What came back was not TLS (a plain HFTP server, most likely).
    #[error("the server did not speak TLS (is this the plain port?)")]
    NotTls,
    /// The handshake failed otherwise.
    #[error("the TLS handshake failed: {0}")]
    Handshake(rustls::Error),
    /// The host is neither a DNS name nor an IP address.
    #[error("{0} is not a host name or IP address a certificate can be checked against")]
    InvalidHost(String),
    /// A CA file could not be read or holds no certificate.
    #[error("cannot use {} as a CA file: {why}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The platform's trust roots could not be loaded.
    #[error("cannot load the system's trusted CAs: {0}")]
    Platform(rustls::Error),
}

fn valid_for(names: &[String]) -> String {
    if names.is_empty() {
        return "no host name".into();
    }
    names.iter().map(|n| bare(n)).collect::<Vec<_>>().join(", ")
}

/// A presented name as rustls words it (`DnsName("a.example")`,
/// `IpAddress(..)`) without its wrapping.
fn bare(name: &str) -> &str {
    let inner = match (name.find('('), name.rfind(')')) {
        (Some(open), Some(close)) if open < close => &name[open + 1..close],
        _ => name,
    };
    inner.trim_matches('"')
}

/// Which certificates to trust: the platform's roots (the default) or
/// only those of a private CA.
///
/// ```
/// use hftp_client::tls::TlsConfig;
///
/// let err = TlsConfig::from_ca_pem(b"not a certificate").unwrap_err();
/// assert!(err.to_string().contains("no certificate"), "{err}");
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ClientConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsConfig {
    /// Trusts the platform's roots: the OS verifier on macOS and Windows,
    /// the system store on Linux.
    pub fn platform() -> Result<Self, Error> {
        let provider = provider();
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
            .map_err(TlsError::Platform)?;
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Platform)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(TlsConfig {
            config: Arc::new(config),
        })
    }

    /// Trusts only the CA certificates in the PEM file at `path` (a
    /// private CA).
    pub fn from_ca_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|e| TlsError::CaFile {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
        TlsConfig::from_ca_pem(&pem).map_err(|e| match e {
            Error::Tls(TlsError::CaFile { why, .. }) => TlsError::CaFile {
                path: path.to_owned(),
                why,
            }
            .into(),
            e => e,
        })
    }

    /// Trusts only the CA certificates in `pem`.
    pub fn from_ca_pem(pem: &[u8]) -> Result<Self, Error> {
        let bad = |why: String| TlsError::CaFile {
            path: PathBuf::from("the PEM text"),
            why,
        };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| bad(e.to_string()))?;
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(bad("it holds no certificate (PEM, BEGIN CERTIFICATE)".into()).into());
        }
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Handshake)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConfig {
            config: Arc::new(config),
        })
    }

    /// The rustls configuration (for the async client, or other drivers).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }
}

/// The host part of `addr` as typed (`host:port`, `[v6]:port`, `host`),
/// as the name the certificate must be valid for.
///
/// ```
/// use hftp_client::tls::server_name;
///
/// assert_eq!(server_name("localhost:19501")?.to_str(), "localhost");
/// assert_eq!(server_name("[::1]:19501")?.to_str(), "::1");
/// assert_eq!(server_name("127.0.0.1")?.to_str(), "127.0.0.1");
/// # Ok::<(), hftp_client::Error>(())
/// ```
pub fn server_name(addr: &str) -> Result<ServerName<'static>, Error> {
    let host = host_of(addr);
    ServerName::try_from(host.to_owned()).map_err(|_| TlsError::InvalidHost(host.to_owned()).into())
}

fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        // A bare IPv6 address has more than one colon.
        Some((host, port)) if !host.contains(':') && port.parse::<u16>().is_ok() => host,
        _ => addr,
    }
}

/// Opens a TLS connection to `addr` (`host:port`; each address it
/// resolves to in turn), checking the certificate against `host` and
/// doing the handshake within the connect and read timeouts.
pub fn connect(addr: &str, config: &TlsConfig, timeouts: Timeouts) -> Result<Connection, Error> {
    let name = server_name(addr)?;
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    connect_to(&addrs, &name, config, timeouts)
}

/// A TLS connection to the first of `addrs` that accepts TCP.
pub(crate) fn connect_to(
    addrs: &[SocketAddr],
    name: &ServerName<'static>,
    config: &TlsConfig,
    timeouts: Timeouts,
) -> Result<Connection, Error> {
    let mut last = io::Error::new(
        io::ErrorKind::InvalidInput,
        "the address resolved to nothing",
    );
    for &addr in addrs {
        match open(addr, timeouts) {
            Ok(tcp) => {
                let stream = handshake(tcp, name, config, timeouts)?;
                return Ok(Connection::over(stream, timeouts));
            }
            Err(e) => last = e,
        }
    }
    Err(Error::Io(last))
}

/// The client side of the handshake on `tcp`, bounded by the connect
/// timeout (and each read by the read timeout).
fn handshake(
    mut tcp: TcpStream,
    name: &ServerName<'static>,
    config: &TlsConfig,
    timeouts: Timeouts,
) -> Result<Stream, Error> {
    let mut conn =
        ClientConnection::new(config.config.clone(), name.clone()).map_err(TlsError::Handshake)?;
    let bound = match (timeouts.connect, timeouts.read) {
        (Some(c), Some(r)) => Some(c.min(r)),
        (c, r) => c.or(r),
    };
    tcp.set_read_timeout(bound)?;
    let deadline = timeouts.connect.map(|t| std::time::Instant::now() + t);
    while conn.is_handshaking() {
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Err(
                io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake timed out").into(),
            );
        }
        match conn.complete_io(&mut tcp) {
            Ok((0, 0)) if conn.is_handshaking() => {
                return Err(TlsError::NotTls.into());
            }
            Ok(_) => {}
            Err(e) => return Err(handshake_error(e, name)),
        }
    }
    tcp.set_read_timeout(timeouts.read)?;
    Ok(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
}

/// An I/O error of the handshake as what a user can act on.
pub(crate) fn handshake_error(e: io::Error, name: &ServerName<'static>) -> Error {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return match e.kind() {
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => {
                TlsError::NotTls.into()
            }
            _ => Error::Io(e),
        };
    };
    let err = match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::NotValidForNameContext { presented, .. } => TlsError::WrongHost {
                host: name.to_str().into_owned(),
                presented: presented.clone(),
            },
            CertificateError::NotValidForName => TlsError::WrongHost {
                host: name.to_str().into_owned(),
                presented: Vec::new(),
            },
            CertificateError::ExpiredContext { not_after, .. } => TlsError::Expired {
                not_after: utc(not_after.as_secs()),
            },
            CertificateError::Expired => TlsError::Expired {
                not_after: "an unknown date".into(),
            },
            CertificateError::UnknownIssuer => TlsError::UntrustedIssuer,
            // webpki's own error, for a CA certificate presented as the
            // server's (a self-signed certificate made without
            // basicConstraints CA:FALSE).
            CertificateError::Other(other)
                if format!("{other:?}").contains("CaUsedAsEndEntity") =>
            {
                TlsError::Certificate(
                    "it is a CA certificate, not a server's (a self-signed one needs \
                     basicConstraints CA:FALSE)"
                        .into(),
                )
            }
            other => TlsError::Certificate(format!("{other:?}")),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            TlsError::NotTls
        }
        other => TlsError::Handshake(other.clone()),
    };
    err.into()
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_767_225_599), "2025-12-31 23:59:59 UTC");
    }

    #[test]
    fn hosts_come_from_what_was_typed() {
        assert_eq!(host_of("localhost:19501"), "localhost");
        assert_eq!(host_of("localhost"), "localhost");
        assert_eq!(host_of("[::1]:1"), "::1");
        assert_eq!(host_of("::1"), "::1");
        assert!(server_name("bad host:1").is_err());
        assert_eq!(bare("DnsName(\"a.example\")"), "a.example");
        assert_eq!(bare("b.example"), "b.example");
    }
}
