//! The async client: the protocol's operations as async methods, each one
//! exchange on a [`Connection`]; the twin of [`crate::Client`].

use std::io;
use std::path::Path;
use std::time::Instant;

use hftp_proto::{Event, FileName, Request, Slice};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::download::run;
use super::Connection;
use crate::{DownloadOptions, Downloaded, Error, Progress, RequestId, Timeouts};

/// Room for slice bytes (raw bodies are read straight into it).
const DATA_BUF: usize = 1024 * 1024;

/// An async HFTP client over any tokio stream (a `TcpStream` by default),
/// with the operations, errors and timeouts of the blocking
/// [`crate::Client`].
///
/// ```no_run
/// # async fn example() -> Result<(), hftp_client::Error> {
/// use hftp_client::tokio::Client;
///
/// let mut client = Client::connect("127.0.0.1:19500").await?;
/// for name in client.list().await? {
///     println!("{name}: {} bytes", client.metadata(&name).await?);
/// }
/// let mut first = Vec::new();
/// client.slice_to("notes.txt", 0, 10, &mut first).await?;
/// client.quit().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Client<S = TcpStream> {
    conn: Connection<S>,
    data: Box<[u8]>,
}

impl Client<TcpStream> {
    /// Connects to `addr` with the default [`Timeouts`].
    pub async fn connect(addr: impl tokio::net::ToSocketAddrs) -> Result<Self, Error> {
        Client::connect_with(addr, Timeouts::default()).await
    }

    /// Connects to `addr`, bounding the connect, each read and write, and
    /// each operation by `timeouts`.
    pub async fn connect_with(
        addr: impl tokio::net::ToSocketAddrs,
        timeouts: Timeouts,
    ) -> Result<Self, Error> {
        Connection::connect(addr, timeouts)
            .await
            .map(Client::from_connection)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// A client over an established stream, with the default timeouts.
    pub fn new(stream: S) -> Self {
        Client::from_connection(Connection::new(stream, Timeouts::default()))
    }

    /// A client over a connection with nothing in flight.
    pub fn from_connection(conn: Connection<S>) -> Self {
        Client {
            conn,
            data: vec![0; DATA_BUF].into_boxed_slice(),
        }
    }

    /// The names of the files the server publishes.
    pub async fn list(&mut self) -> Result<Vec<String>, Error> {
        self.items(&Request::GetFileListing).await
    }

    /// The commands the server says it knows.
    pub async fn help(&mut self) -> Result<Vec<String>, Error> {
        self.items(&Request::Help).await
    }

    /// The size of a file, in bytes.
    pub async fn metadata(&mut self, name: &str) -> Result<u64, Error> {
        let name = FileName::new(name)?;
        let id = self.begin(&Request::GetMetadata { name })?;
        self.size(id).await
    }

    /// The sizes of many files, asked all at once (pipelined); see
    /// [`crate::Client::sizes`].
    pub async fn sizes<N: AsRef<str>>(&mut self, names: &[N]) -> Vec<Result<u64, Error>> {
        self.arm_deadline();
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            ids.push(match FileName::new(name.as_ref()) {
                Ok(name) => self.conn.send(&Request::GetMetadata { name }),
                Err(e) => Err(Error::InvalidName(e)),
            });
        }
        let mut sizes = Vec::with_capacity(ids.len());
        for id in ids {
            sizes.push(match id {
                Ok(id) => self.size(id).await,
                Err(e) => Err(e),
            });
        }
        sizes
    }

    /// Downloads `size` bytes of `name` from `offset` as base64 into `w`,
    /// as they arrive; memory stays bounded whatever the size.
    pub async fn slice_to<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        name: &str,
        offset: u64,
        size: u64,
        w: &mut W,
    ) -> Result<(), Error> {
        self.slice(name, offset, size, false, w).await
    }

    /// Like [`Client::slice_to`], with the `raw` extension.
    pub async fn raw_slice_to<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        name: &str,
        offset: u64,
        size: u64,
        w: &mut W,
    ) -> Result<(), Error> {
        self.slice(name, offset, size, true, w).await
    }

    async fn slice<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        name: &str,
        offset: u64,
        size: u64,
        raw: bool,
        w: &mut W,
    ) -> Result<(), Error> {
        let name = FileName::new(name)?;
        let slice = Slice {
            name,
            offset,
            size,
            raw,
        };
        let id = self.begin(&Request::GetSlice(slice))?;
        self.status(id).await?;
        loop {
            match self.conn.next_event(&mut self.data).await? {
                Some((got, Event::Data(n))) if got == id => {
                    if let Err(e) = w.write_all(&self.data[..n]).await {
                        let e = Error::Io(e);
                        self.conn.poison(&e);
                        return Err(e);
                    }
                }
                Some((got, Event::End)) if got == id => break,
                _ => return Err(self.unexpected()),
            }
        }
        w.flush().await.map_err(|e| {
            let e = Error::Io(e);
            self.conn.poison(&e);
            e
        })
    }

    /// Downloads the whole of `name` into `dest` on this connection; see
    /// [`crate::Client::download`]. `progress` is called as bytes land.
    pub async fn download(
        &mut self,
        name: &str,
        dest: &Path,
        options: &DownloadOptions,
        progress: impl Fn(Progress) + Send + Sync + 'static,
    ) -> Result<Downloaded, Error> {
        run(
            self,
            None,
            name,
            dest,
            options,
            std::sync::Arc::new(progress),
        )
        .await
    }

    /// Ends the session: sends `quit` and waits for its `0 OK`.
    pub async fn quit(mut self) -> Result<(), Error> {
        let id = self.begin(&Request::Quit)?;
        self.status(id).await?;
        self.end(id).await
    }

    /// The connection underneath, for pipelines and transcripts.
    pub fn connection(&mut self) -> &mut Connection<S> {
        &mut self.conn
    }

    /// The connection underneath.
    pub fn into_connection(self) -> Connection<S> {
        self.conn
    }

    async fn items(&mut self, request: &Request<'_>) -> Result<Vec<String>, Error> {
        let id = self.begin(request)?;
        self.status(id).await?;
        let mut items = Vec::new();
        loop {
            match self.conn.next_event(&mut self.data).await? {
                Some((got, Event::Item(item))) if got == id => items.push(item.to_owned()),
                Some((got, Event::End)) if got == id => return Ok(items),
                _ => return Err(self.unexpected()),
            }
        }
    }

    /// The status, size line and end of a metadata response.
    async fn size(&mut self, id: RequestId) -> Result<u64, Error> {
        self.status(id).await?;
        let size = match self.conn.next_event(&mut self.data).await? {
            Some((got, Event::Size(size))) if got == id => size,
            _ => return Err(self.unexpected()),
        };
        self.end(id).await?;
        Ok(size)
    }

    fn arm_deadline(&mut self) {
        let deadline = self.conn.timeouts().operation.map(|d| Instant::now() + d);
        self.conn.set_deadline(deadline);
    }

    fn begin(&mut self, request: &Request<'_>) -> Result<RequestId, Error> {
        // A broken connection says so, whatever it left in flight.
        self.conn.pipeline().check()?;
        if self.conn.in_flight() > 0 {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "responses to earlier requests on this connection are still expected",
            )));
        }
        self.arm_deadline();
        self.conn.send(request)
    }

    async fn status(&mut self, id: RequestId) -> Result<(), Error> {
        let (code, text) = match self.conn.next_event(&mut self.data).await? {
            Some((got, Event::Status { code, text })) if got == id => (code, text.to_owned()),
            _ => return Err(self.unexpected()),
        };
        if code == 0 {
            return Ok(());
        }
        self.end(id).await?;
        Err(Error::Server { code, text })
    }

    async fn end(&mut self, id: RequestId) -> Result<(), Error> {
        match self.conn.next_event(&mut self.data).await? {
            Some((got, Event::End)) if got == id => Ok(()),
            _ => Err(self.unexpected()),
        }
    }

    fn unexpected(&mut self) -> Error {
        let e = Error::Io(io::Error::other(
            "internal error: unexpected response event",
        ));
        self.conn.poison(&e);
        e
    }
}
