//! Reaching a server: the [`Timeouts`] every client honours and the one
//! [`connect`] that opens a TCP connection with them.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::{Connection, Error};

/// How long a client waits to connect, for each read and write, and for
/// each whole operation; `None` waits forever.
///
/// `read` and `write` bound each single read and write, so a server that
/// trickles a byte now and then never trips them; `operation` bounds a
/// whole operation (a listing, a slice, a metadata request), so such a
/// server cannot hold a client forever.
///
/// ```
/// use std::time::Duration;
/// use hftp_client::Timeouts;
///
/// let patient = Timeouts::uniform(Some(Duration::from_secs(300)));
/// assert_eq!(patient.read, Some(Duration::from_secs(300)));
/// assert_eq!(patient.operation, None);
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
    /// Bound on each whole operation, from its request to the end of its
    /// response.
    pub operation: Option<Duration>,
}

impl Timeouts {
    /// The same bound for connecting, reading and writing; no bound on a
    /// whole operation.
    pub fn uniform(timeout: Option<Duration>) -> Self {
        Timeouts {
            connect: timeout,
            read: timeout,
            write: timeout,
            operation: None,
        }
    }
}

impl Default for Timeouts {
    /// 10 seconds to connect, 30 seconds for each read and write, no bound
    /// on a whole operation (a slice of a large file takes what it takes).
    fn default() -> Self {
        Timeouts {
            connect: Some(Duration::from_secs(10)),
            read: Some(Duration::from_secs(30)),
            write: Some(Duration::from_secs(30)),
            operation: None,
        }
    }
}

/// Opens a TCP connection to `addr` (each address it resolves to in turn),
/// bounding the connect and every later read and write by `timeouts`, with
/// Nagle's algorithm off (requests are small and answered one by one).
///
/// ```no_run
/// use hftp_client::{connect, Timeouts};
/// use hftp_proto::Request;
///
/// let mut conn = connect("127.0.0.1:19500", Timeouts::default())?;
/// conn.send(&Request::Help)?;
/// let mut out = [0u8; 0];
/// while let Some((_, event)) = conn.next_event(&mut out)? {
///     println!("{event:?}");
///     if conn.in_flight() == 0 { break; }
/// }
/// # Ok::<(), hftp_client::Error>(())
/// ```
pub fn connect(addr: impl ToSocketAddrs, timeouts: Timeouts) -> Result<Connection, Error> {
    let mut last = io::Error::new(
        io::ErrorKind::InvalidInput,
        "the address resolved to nothing",
    );
    for addr in addr.to_socket_addrs()? {
        match open(addr, timeouts) {
            Ok(stream) => return Ok(Connection::over(stream.into(), timeouts)),
            Err(e) => last = e,
        }
    }
    Err(Error::Io(last))
}

/// One TCP connection to one address with the timeouts applied.
pub(crate) fn open(addr: SocketAddr, timeouts: Timeouts) -> io::Result<TcpStream> {
    let stream = match timeouts.connect {
        Some(t) => TcpStream::connect_timeout(&addr, t)?,
        None => TcpStream::connect(addr)?,
    };
    stream.set_read_timeout(timeouts.read)?;
    stream.set_write_timeout(timeouts.write)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
