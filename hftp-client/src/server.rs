//! Where the server is: its addresses and the timeouts to reach it with,
//! kept apart from any one connection, so that operations needing more
//! connections (parallel downloads) can open them.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use crate::connect::open;
use crate::download::run;
use crate::{Client, Connection, DownloadOptions, Downloaded, Error, Progress, Timeouts};

/// An HFTP server to connect to: addresses resolved once, and timeouts.
///
/// ```no_run
/// use std::path::Path;
/// use hftp_client::{DownloadOptions, Server, Timeouts};
///
/// let server = Server::new("127.0.0.1:19500", Timeouts::default())?;
/// let options = DownloadOptions { connections: 4, resume: true, ..Default::default() };
/// server.download("big.iso", Path::new("big.iso"), &options, &|_| {})?;
/// # Ok::<(), hftp_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Server {
    addrs: Vec<SocketAddr>,
    timeouts: Timeouts,
    /// The TLS configuration and the name to check certificates against.
    #[cfg(feature = "tls")]
    tls: Option<(
        crate::tls::TlsConfig,
        rustls::pki_types::ServerName<'static>,
    )>,
}

impl Server {
    /// Resolves `addr` (e.g. `"localhost:19500"`) now; each connection
    /// tries the addresses in turn.
    pub fn new(addr: impl ToSocketAddrs, timeouts: Timeouts) -> Result<Self, Error> {
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
        if addrs.is_empty() {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the address resolved to nothing",
            )));
        }
        Ok(Server {
            addrs,
            timeouts,
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// A server reached over TLS at `addr` (`host:port`): every
    /// connection checks the certificate against `host` with `config`.
    ///
    /// ```no_run
    /// use std::path::Path;
    /// use hftp_client::tls::TlsConfig;
    /// use hftp_client::{DownloadOptions, Server, Timeouts};
    ///
    /// let config = TlsConfig::platform()?;
    /// let server = Server::tls("files.example:19501", &config, Timeouts::default())?;
    /// let options = DownloadOptions { connections: 4, ..Default::default() };
    /// server.download("big.iso", Path::new("big.iso"), &options, &|_| {})?;
    /// # Ok::<(), hftp_client::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(
        addr: &str,
        config: &crate::tls::TlsConfig,
        timeouts: Timeouts,
    ) -> Result<Self, Error> {
        let name = crate::tls::server_name(addr)?;
        let mut server = Server::new(addr, timeouts)?;
        server.tls = Some((config.clone(), name));
        Ok(server)
    }

    /// This server reached over TLS, each connection checking the
    /// certificate against `host` (a DNS name or IP address) with
    /// `config`; for addresses given as socket addresses.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn with_tls(mut self, config: &crate::tls::TlsConfig, host: &str) -> Result<Self, Error> {
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|_| crate::tls::TlsError::InvalidHost(host.to_owned()))?;
        self.tls = Some((config.clone(), name));
        Ok(self)
    }

    /// Whether connections to this server use TLS.
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// The addresses tried, in order.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The timeouts every connection gets.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// A new connection.
    pub fn connection(&self) -> Result<Connection, Error> {
        #[cfg(feature = "tls")]
        if let Some((config, name)) = &self.tls {
            return crate::tls::connect_to(&self.addrs, name, config, self.timeouts);
        }
        let mut last = None;
        for &addr in &self.addrs {
            match open(addr, self.timeouts) {
                Ok(stream) => return Ok(Connection::over(stream.into(), self.timeouts)),
                Err(e) => last = Some(e),
            }
        }
        Err(Error::Io(last.expect("at least one address")))
    }

    /// A new client.
    pub fn connect(&self) -> Result<Client, Error> {
        self.connection().map(Client::from_connection)
    }

    /// Downloads the whole of `name` into `dest` over up to
    /// `options.connections` new connections; see [`Client::download`] for
    /// what happens to `dest` and its `.part`.
    pub fn download(
        &self,
        name: &str,
        dest: &Path,
        options: &DownloadOptions,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<Downloaded, Error> {
        let mut client = self.connect()?;
        let done = self.download_with(&mut client, name, dest, options, progress)?;
        let _ = client.quit();
        Ok(done)
    }

    /// Like [`Server::download`], with `client` (a connection to this
    /// server) as the first connection: it asks the sizes, and more are
    /// opened for the other ranges.
    pub fn download_with(
        &self,
        client: &mut Client,
        name: &str,
        dest: &Path,
        options: &DownloadOptions,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<Downloaded, Error> {
        run(client, Some(self), name, dest, options, progress)
    }
}
