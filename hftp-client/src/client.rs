//! The blocking client: one connection, one request at a time, responses
//! decoded with `hftp-proto`'s `ResponseDecoder`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use hftp_proto::{Event, Expect, FileName, Request, ResponseDecoder, Slice};

use crate::Error;

/// Bytes read from the socket at a time. Large reads matter on fast
/// links: with 1 MiB instead of 256 KiB the sending server spends ~40 %
/// less CPU per GB on loopback (fewer wake-ups of this reader).
const READ_BUF: usize = 1024 * 1024;

/// Slice bytes handed to the caller's `Write` at a time. Smaller than a
/// read: parallel downloads write one file from several threads, and
/// shorter writes contend less for the file's lock.
const DATA_BUF: usize = 256 * 1024;

/// A blocking HFTP client over any byte stream (a `TcpStream` by default).
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
pub struct Client<S = TcpStream> {
    stream: S,
    decoder: ResponseDecoder,
    inbuf: Box<[u8]>,
    start: usize,
    end: usize,
    data: Box<[u8]>,
    /// Where and how to open more connections to the same server (for
    /// parallel downloads); `None` for clients over other streams.
    pub(crate) peer: Option<(SocketAddr, Timeouts)>,
}

/// How long the client waits to connect, and for each read and write;
/// `None` waits forever.
///
/// ```
/// use std::time::Duration;
/// use hftp_client::Timeouts;
///
/// let patient = Timeouts::uniform(Some(Duration::from_secs(300)));
/// assert_eq!(patient.read, Some(Duration::from_secs(300)));
/// assert_eq!(Timeouts::default().connect, Some(Duration::from_secs(10)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Bound on establishing the TCP connection.
    pub connect: Option<Duration>,
    /// Bound on each read (a server silent this long is an error).
    pub read: Option<Duration>,
    /// Bound on each write (a server not reading this long is an error).
    pub write: Option<Duration>,
}

impl Timeouts {
    /// The same bound for connecting, reading and writing.
    pub fn uniform(timeout: Option<Duration>) -> Self {
        Timeouts {
            connect: timeout,
            read: timeout,
            write: timeout,
        }
    }
}

impl Default for Timeouts {
    /// 10 seconds to connect, 30 seconds for each read and write.
    fn default() -> Self {
        Timeouts {
            connect: Some(Duration::from_secs(10)),
            read: Some(Duration::from_secs(30)),
            write: Some(Duration::from_secs(30)),
        }
    }
}

/// A response event with its text owned.
enum Owned {
    Status(u16, String),
    Item(String),
    Size(u64),
    Data(usize),
    End,
}

impl Client<TcpStream> {
    /// Connects to `addr` with the default [`Timeouts`].
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Self, Error> {
        Client::connect_with(addr, Timeouts::default())
    }

    /// Connects to `addr` (each address it resolves to in turn), bounding
    /// the connect and every later read and write by `timeouts`.
    pub fn connect_with(addr: impl ToSocketAddrs, timeouts: Timeouts) -> Result<Self, Error> {
        let mut last = io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        );
        for addr in addr.to_socket_addrs()? {
            match open(addr, timeouts) {
                Ok(stream) => {
                    let mut client = Client::new(stream);
                    client.peer = Some((addr, timeouts));
                    return Ok(client);
                }
                Err(e) => last = e,
            }
        }
        Err(Error::Io(last))
    }
}

/// One TCP connection with the timeouts applied.
fn open(addr: SocketAddr, timeouts: Timeouts) -> io::Result<TcpStream> {
    let stream = match timeouts.connect {
        Some(t) => TcpStream::connect_timeout(&addr, t)?,
        None => TcpStream::connect(addr)?,
    };
    stream.set_read_timeout(timeouts.read)?;
    stream.set_write_timeout(timeouts.write)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Another connection to the server `peer` describes (parallel downloads).
pub(crate) fn reconnect(peer: (SocketAddr, Timeouts)) -> Result<Client<TcpStream>, Error> {
    let mut client = Client::new(open(peer.0, peer.1)?);
    client.peer = Some(peer);
    Ok(client)
}

impl<S: Read + Write> Client<S> {
    /// A client over an established stream (a socket, a tunnel, a test pipe).
    pub fn new(stream: S) -> Self {
        Client {
            stream,
            decoder: ResponseDecoder::new(),
            inbuf: vec![0; READ_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            data: vec![0; DATA_BUF].into_boxed_slice(),
            peer: None,
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
        self.request(&Request::GetMetadata { name })?;
        let size = match self.next_event()? {
            Owned::Size(size) => size,
            _ => return Err(unexpected()),
        };
        self.expect_end()?;
        Ok(size)
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
    /// unencoded after a `Content-Length` header.
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
        self.request(&Request::GetSlice(Slice {
            name,
            offset,
            size,
            raw,
        }))?;
        loop {
            if self.start == self.end {
                if let Some(left) = self.decoder.raw_body_remaining() {
                    self.raw_body_to(left, w)?;
                    continue;
                }
            }
            match self.next_event()? {
                Owned::Data(n) => w.write_all(&self.data[..n])?,
                Owned::End => return Ok(()),
                _ => return Err(unexpected()),
            }
        }
    }

    /// Inside a raw body with nothing buffered: reads up to `left` body
    /// bytes straight into the input buffer and writes them from there,
    /// without copying them through the decoder.
    fn raw_body_to(&mut self, left: u64, w: &mut impl Write) -> Result<(), Error> {
        let want = self
            .inbuf
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = read_some(&mut self.stream, &mut self.inbuf[..want])?;
        self.decoder.raw_body_received(n)?;
        for chunk in self.inbuf[..n].chunks(DATA_BUF) {
            w.write_all(chunk)?;
        }
        Ok(())
    }

    /// Ends the session: sends `quit` and waits for its `0 OK`.
    pub fn quit(mut self) -> Result<(), Error> {
        self.request(&Request::Quit)?;
        self.expect_end()
    }

    /// The underlying stream.
    pub fn into_inner(self) -> S {
        self.stream
    }

    fn items(&mut self, request: &Request<'_>) -> Result<Vec<String>, Error> {
        self.request(request)?;
        let mut items = Vec::new();
        loop {
            match self.next_event()? {
                Owned::Item(item) => items.push(item),
                Owned::End => return Ok(items),
                _ => return Err(unexpected()),
            }
        }
    }

    /// Sends a request and reads its status line; a refusal is an error.
    fn request(&mut self, request: &Request<'_>) -> Result<(), Error> {
        let mut line = Vec::with_capacity(64);
        request.encode(&mut line);
        self.stream.write_all(&line)?;
        self.stream.flush()?;
        self.decoder.expect(Expect::for_request(request));
        match self.next_event()? {
            Owned::Status(0, _) => Ok(()),
            Owned::Status(code, text) => {
                self.expect_end()?;
                Err(Error::Server { code, text })
            }
            _ => Err(unexpected()),
        }
    }

    fn expect_end(&mut self) -> Result<(), Error> {
        match self.next_event()? {
            Owned::End => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// The next event, reading from the stream as needed.
    fn next_event(&mut self) -> Result<Owned, Error> {
        loop {
            let step = self
                .decoder
                .decode(&self.inbuf[self.start..self.end], &mut self.data)?;
            self.start += step.consumed;
            if let Some(event) = step.event {
                return Ok(match event {
                    Event::Status { code, text } => Owned::Status(code, text.to_owned()),
                    Event::Item(item) => Owned::Item(item.to_owned()),
                    Event::Size(size) => Owned::Size(size),
                    Event::Data(n) => Owned::Data(n),
                    Event::End => Owned::End,
                });
            }
            if self.start == self.end {
                self.fill()?;
            }
        }
    }

    fn fill(&mut self) -> Result<(), Error> {
        self.start = 0;
        self.end = 0;
        self.end = read_some(&mut self.stream, &mut self.inbuf)?;
        Ok(())
    }
}

/// One read of at least a byte; the end of the stream is [`Error::Closed`].
fn read_some(stream: &mut impl Read, buf: &mut [u8]) -> Result<usize, Error> {
    loop {
        match stream.read(buf) {
            Ok(0) => return Err(Error::Closed),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Io(e)),
        }
    }
}

fn unexpected() -> Error {
    // The decoder checks response shapes against what was asked, so an
    // event out of place means the decoder and this client disagree.
    Error::Io(io::Error::other(
        "internal error: unexpected response event",
    ))
}
