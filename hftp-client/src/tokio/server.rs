//! Where the server is, for the async client: addresses and timeouts,
//! apart from any one connection (parallel downloads open more).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

use super::connection::open;
use super::download::run;
use super::{Client, Connection};
use crate::{DownloadOptions, Downloaded, Error, Progress, Timeouts};

/// An HFTP server to connect to; the async twin of [`crate::Server`].
///
/// ```no_run
/// # async fn example() -> Result<(), hftp_client::Error> {
/// use std::path::Path;
/// use hftp_client::{DownloadOptions, Timeouts};
/// use hftp_client::tokio::Server;
///
/// let server = Server::new("127.0.0.1:19500", Timeouts::default())?;
/// let options = DownloadOptions { connections: 4, resume: true, ..Default::default() };
/// server.download("big.iso", Path::new("big.iso"), &options, |_| {}).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Server {
    inner: crate::Server,
}

impl Server {
    /// Resolves `addr` now (a blocking lookup, as [`crate::Server::new`]).
    pub fn new(addr: impl ToSocketAddrs, timeouts: Timeouts) -> Result<Self, Error> {
        crate::Server::new(addr, timeouts).map(|inner| Server { inner })
    }

    /// The addresses tried, in order.
    pub fn addrs(&self) -> &[SocketAddr] {
        self.inner.addrs()
    }

    /// The timeouts every connection gets.
    pub fn timeouts(&self) -> Timeouts {
        self.inner.timeouts()
    }

    /// A new connection.
    pub async fn connection(&self) -> Result<Connection, Error> {
        let timeouts = self.timeouts();
        let mut last = None;
        for &addr in self.addrs() {
            match open(addr, timeouts).await {
                Ok(stream) => return Ok(Connection::new(stream, timeouts)),
                Err(e) => last = Some(e),
            }
        }
        Err(Error::Io(last.expect("at least one address")))
    }

    /// A new client.
    pub async fn connect(&self) -> Result<Client, Error> {
        self.connection().await.map(Client::from_connection)
    }

    /// Downloads the whole of `name` into `dest` over up to
    /// `options.connections` new connections, each a task of its own.
    pub async fn download(
        &self,
        name: &str,
        dest: &Path,
        options: &DownloadOptions,
        progress: impl Fn(Progress) + Send + Sync + 'static,
    ) -> Result<Downloaded, Error> {
        let mut client = self.connect().await?;
        let done = self
            .download_with(&mut client, name, dest, options, progress)
            .await?;
        let _ = client.quit().await;
        Ok(done)
    }

    /// Like [`Server::download`], with `client` as the first connection.
    pub async fn download_with(
        &self,
        client: &mut Client,
        name: &str,
        dest: &Path,
        options: &DownloadOptions,
        progress: impl Fn(Progress) + Send + Sync + 'static,
    ) -> Result<Downloaded, Error> {
        run(client, Some(self), name, dest, options, Arc::new(progress)).await
    }
}
