//! The blocking client: the protocol's operations (list, metadata, help,
//! slices, quit) as methods, each one exchange on a [`Connection`].

use std::io::{self, Read, Write};
use std::net::ToSocketAddrs;
use std::time::Instant;

use hftp_proto::{Event, FileName, Request, Slice};

use crate::{Connection, Error, RequestId, Stream, Timeouts};

/// Room for slice bytes: raw bodies are read straight into it, so it is as
/// large as a read.
const DATA_BUF: usize = 1024 * 1024;

/// Slice bytes handed to the caller's `Write` at a time. Smaller than a
/// read: parallel downloads write one file from several threads, and
/// shorter writes contend less for the file's lock.
const WRITE_CHUNK: usize = 256 * 1024;

/// A blocking HFTP client over any byte stream (a [`Stream`], plain TCP or TLS, by default).
///
/// Each method is one request and its whole response; [`Client::sizes`]
/// pipelines many. For anything else (other pipelines, transcripts)
/// [`Client::connection`] is the [`Connection`] underneath.
///
/// ```no_run
/// use hftp_client::Client;
///
/// let mut client = Client::connect("127.0.0.1:19500")?;
/// for name in client.list()? {
///     println!("{name}: {} bytes", client.metadata(&name)?);
/// }
/// let mut first = Vec::new();
/// client.slice_to("notes.txt", 0, 10, &mut first)?;
/// client.quit()?;
/// # Ok::<(), hftp_client::Error>(())
/// ```
#[derive(Debug)]
pub struct Client<S = Stream> {
    conn: Connection<S>,
    data: Box<[u8]>,
}

impl Client<Stream> {
    /// Connects to `addr` with the default [`Timeouts`].
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Self, Error> {
        Client::connect_with(addr, Timeouts::default())
    }

    /// Connects to `addr` (each address it resolves to in turn), bounding
    /// the connect, every later read and write, and each operation by
    /// `timeouts`.
    pub fn connect_with(addr: impl ToSocketAddrs, timeouts: Timeouts) -> Result<Self, Error> {
        crate::connect(addr, timeouts).map(Client::from_connection)
    }
}

impl<S: Read + Write> Client<S> {
    /// A client over an established stream (a socket, a tunnel, a test
    /// pipe).
    pub fn new(stream: S) -> Self {
        Client::from_connection(Connection::new(stream))
    }

    /// A client over a connection with nothing in flight.
    pub fn from_connection(conn: Connection<S>) -> Self {
        Client {
            conn,
            data: vec![0; DATA_BUF].into_boxed_slice(),
        }
    }

    /// The names of the files the server publishes.
    pub fn list(&mut self) -> Result<Vec<String>, Error> {
        self.items(&Request::GetFileListing)
    }

    /// The commands the server says it knows.
    pub fn help(&mut self) -> Result<Vec<String>, Error> {
        self.items(&Request::Help)
    }

    /// The size of a file, in bytes.
    pub fn metadata(&mut self, name: &str) -> Result<u64, Error> {
        let name = FileName::new(name)?;
        let id = self.begin(&Request::GetMetadata { name })?;
        self.size(id)
    }

    /// The sizes of many files, asked all at once (pipelined): one result
    /// per name, in order. A refusal (`202` for a missing file) is that
    /// name's error; when the connection breaks, the name being answered
    /// gets the error and the names after it [`Error::Broken`].
    pub fn sizes<N: AsRef<str>>(&mut self, names: &[N]) -> Vec<Result<u64, Error>> {
        self.arm_deadline();
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            ids.push(match FileName::new(name.as_ref()) {
                Ok(name) => self.conn.send(&Request::GetMetadata { name }),
                Err(e) => Err(Error::InvalidName(e)),
            });
        }
        ids.into_iter().map(|id| self.size(id?)).collect()
    }

    /// Downloads `size` bytes of `name` from `offset` as base64, writing
    /// them to `w` as they arrive; memory stays bounded whatever the size.
    pub fn slice_to(
        &mut self,
        name: &str,
        offset: u64,
        size: u64,
        w: &mut impl Write,
    ) -> Result<(), Error> {
        self.slice(name, offset, size, false, w)
    }

    /// Like [`Client::slice_to`], with the `raw` extension: the bytes come
    /// unencoded after a `Content-Length` header, and are read from the
    /// socket straight into the buffer handed to `w`.
    pub fn raw_slice_to(
        &mut self,
        name: &str,
        offset: u64,
        size: u64,
        w: &mut impl Write,
    ) -> Result<(), Error> {
        self.slice(name, offset, size, true, w)
    }

    fn slice(
        &mut self,
        name: &str,
        offset: u64,
        size: u64,
        raw: bool,
        w: &mut impl Write,
    ) -> Result<(), Error> {
        let name = FileName::new(name)?;
        let slice = Slice {
            name,
            offset,
            size,
            raw,
        };
        let id = self.begin(&Request::GetSlice(slice))?;
        self.status(id)?;
        loop {
            match self.conn.next_event(&mut self.data)? {
                Some((got, Event::Data(n))) if got == id => {
                    for chunk in self.data[..n].chunks(WRITE_CHUNK) {
                        if let Err(e) = w.write_all(chunk) {
                            // The rest of the response is not read.
                            let e = Error::Io(e);
                            self.conn.poison(&e);
                            return Err(e);
                        }
                    }
                }
                Some((got, Event::End)) if got == id => return Ok(()),
                _ => return Err(self.unexpected()),
            }
        }
    }

    /// Ends the session: sends `quit` and waits for its `0 OK`.
    pub fn quit(mut self) -> Result<(), Error> {
        let id = self.begin(&Request::Quit)?;
        self.status(id)?;
        self.end(id)
    }

    /// The connection underneath, for pipelines and transcripts. Leave it
    /// with nothing in flight before calling this client's methods again.
    pub fn connection(&mut self) -> &mut Connection<S> {
        &mut self.conn
    }

    /// The connection underneath.
    pub fn into_connection(self) -> Connection<S> {
        self.conn
    }

    /// The underlying stream.
    pub fn into_inner(self) -> S {
        self.conn.into_inner()
    }

    fn items(&mut self, request: &Request<'_>) -> Result<Vec<String>, Error> {
        let id = self.begin(request)?;
        self.status(id)?;
        let mut items = Vec::new();
        loop {
            match self.event(id)? {
                Event::Item(item) => items.push(item.to_owned()),
                Event::End => return Ok(items),
                _ => return Err(self.unexpected()),
            }
        }
    }

    /// The status, size line and end of `id`'s metadata response.
    fn size(&mut self, id: RequestId) -> Result<u64, Error> {
        self.status(id)?;
        let size = match self.event(id)? {
            Event::Size(size) => size,
            _ => return Err(self.unexpected()),
        };
        self.end(id)?;
        Ok(size)
    }

    /// The operation's deadline, from the connection's timeouts.
    fn arm_deadline(&mut self) {
        let deadline = self.conn.timeouts().operation.map(|d| Instant::now() + d);
        self.conn.set_deadline(deadline);
    }

    /// Starts an operation: its deadline, its request queued.
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

    /// Reads the status line of `id`'s response; a refusal is an error.
    fn status(&mut self, id: RequestId) -> Result<(), Error> {
        let (code, text) = match self.event(id)? {
            Event::Status { code, text } => (code, text.to_owned()),
            _ => return Err(self.unexpected()),
        };
        if code == 0 {
            return Ok(());
        }
        self.end(id)?;
        Err(Error::Server { code, text })
    }

    fn end(&mut self, id: RequestId) -> Result<(), Error> {
        match self.event(id)? {
            Event::End => Ok(()),
            _ => Err(self.unexpected()),
        }
    }

    /// The next event, which must belong to `id`.
    fn event(&mut self, id: RequestId) -> Result<Event<'_>, Error> {
        match self.conn.next_event(&mut self.data)? {
            Some((got, event)) if got == id => Ok(event),
            _ => Err(internal()),
        }
    }

    fn unexpected(&mut self) -> Error {
        let e = internal();
        self.conn.poison(&e);
        e
    }
}

fn internal() -> Error {
    // The decoder checks response shapes against what was asked, so an
    // event out of place means the decoder and this client disagree.
    Error::Io(io::Error::other(
        "internal error: unexpected response event",
    ))
}
