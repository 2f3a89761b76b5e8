//! The async client over TLS (feature `tokio-tls`): the handshake on
//! tokio-rustls within the connect timeout, its failures the same
//! [`TlsError`](crate::tls::TlsError)s as the blocking client's.

use std::io;

use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::connection::{open, within};
use super::Connection;
use crate::tls::{handshake_error, server_name, TlsConfig};
use crate::{Error, Timeouts};

/// An async TLS connection to `addr` (`host:port`; each address it
/// resolves to in turn), checking the certificate against `host`, the
/// handshake bounded by `timeouts.connect`.
///
/// ```no_run
/// use hftp_client::tls::TlsConfig;
/// use hftp_client::tokio::{connect_tls, Client};
/// use hftp_client::Timeouts;
///
/// #[tokio::main]
/// async fn main() -> Result<(), hftp_client::Error> {
///     let config = TlsConfig::from_ca_file("ca.pem")?;
///     let conn = connect_tls("files.example:19501", &config, Timeouts::default()).await?;
///     let mut client = Client::from_connection(conn);
///     println!("{:?}", client.list().await?);
///     client.quit().await
/// }
/// ```
pub async fn connect_tls(
    addr: &str,
    config: &TlsConfig,
    timeouts: Timeouts,
) -> Result<Connection<TlsStream<TcpStream>>, Error> {
    let name = server_name(addr)?;
    let connector = TlsConnector::from(config.client_config());
    let mut last = io::Error::new(
        io::ErrorKind::InvalidInput,
        "the address resolved to nothing",
    );
    for sock in tokio::net::lookup_host(addr).await? {
        let tcp = match open(sock, timeouts).await {
            Ok(tcp) => tcp,
            Err(e) => {
                last = e;
                continue;
            }
        };
        let tls = within(timeouts.connect, connector.connect(name.clone(), tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake timed out"))?
            .map_err(|e| handshake_error(e, &name))?;
        return Ok(Connection::new(tls, timeouts));
    }
    Err(Error::Io(last))
}
