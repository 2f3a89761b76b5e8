//! The byte stream a connection runs over: plain TCP, or TLS on TCP
//! (feature `tls`), one type so that every client works over either.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A connection's stream: plain TCP or, with the `tls` feature, TLS over
/// TCP. Reads and writes go through TLS when it is there; the timeouts are
/// those of the TCP socket underneath.
///
/// ```no_run
/// use hftp_client::{connect, Stream, Timeouts};
///
/// let conn = connect("127.0.0.1:19500", Timeouts::default())?;
/// assert!(matches!(conn.get_ref(), Stream::Tcp(_)));
/// # Ok::<(), hftp_client::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream {
    /// Plain HFTP over TCP.
    Tcp(TcpStream),
    /// HFTP inside TLS over TCP.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Tcp(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.get_ref(),
        }
    }

    /// The TCP socket underneath, taken out (of a TLS stream, without a
    /// close_notify: what the server sees is an abrupt close).
    pub fn into_tcp(self) -> TcpStream {
        match self {
            Stream::Tcp(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.sock,
        }
    }

    /// Whether this stream is TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Tcp(_))
    }

    /// Sets the read and write timeouts of the TCP socket underneath.
    pub fn set_timeouts(&self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(read)?;
        self.tcp().set_write_timeout(write)
    }
}

impl From<TcpStream> for Stream {
    fn from(s: TcpStream) -> Self {
        Stream::Tcp(s)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}
