//! The async driver: one [`Connection`] over any tokio `AsyncRead +
//! AsyncWrite` stream, doing the I/O for the same sans-IO [`Pipeline`] as
//! the blocking one, with the same timeouts (each read and write, and a
//! deadline per operation, by `tokio::time`).

use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

use hftp_proto::{Event, Expect, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::pipeline::Tag;
use crate::{Error, Pipeline, RequestId, Timeouts, Transcript};

/// Bytes read from the stream at a time (as the blocking driver).
const READ_BUF: usize = 1024 * 1024;

/// One async HFTP connection; the twin of [`crate::Connection`], with the
/// same methods, async where they do I/O.
///
/// ```no_run
/// # async fn example() -> Result<(), hftp_client::Error> {
/// use hftp_client::Timeouts;
/// use hftp_client::tokio::Connection;
/// use hftp_proto::{Event, Request};
///
/// let mut conn = Connection::connect("127.0.0.1:19500", Timeouts::default()).await?;
/// conn.send(&Request::GetFileListing)?;
/// conn.send(&Request::Help)?;
/// while let Some((id, event)) = conn.next_event(&mut []).await? {
///     if let Event::Item(name) = event {
///         println!("{id}: {name}");
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct Connection<S = TcpStream> {
    stream: S,
    pipeline: Pipeline,
    inbuf: Box<[u8]>,
    start: usize,
    end: usize,
    read_at: Instant,
    text: String,
    timeouts: Timeouts,
    deadline: Option<Instant>,
}

impl<S> std::fmt::Debug for Connection<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("in_flight", &self.pipeline.in_flight())
            .field("broken", &self.pipeline.is_broken())
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Connection<TcpStream> {
    /// Connects to `addr` (each address it resolves to in turn) within
    /// `timeouts.connect`; later reads and writes are bounded by
    /// `timeouts` too.
    pub async fn connect(
        addr: impl tokio::net::ToSocketAddrs,
        timeouts: Timeouts,
    ) -> Result<Self, Error> {
        let mut last = io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        );
        for addr in tokio::net::lookup_host(addr).await? {
            match open(addr, timeouts).await {
                Ok(stream) => return Ok(Connection::new(stream, timeouts)),
                Err(e) => last = e,
            }
        }
        Err(Error::Io(last))
    }
}

/// One TCP connection to one address within the connect timeout.
pub(crate) async fn open(addr: std::net::SocketAddr, timeouts: Timeouts) -> io::Result<TcpStream> {
    let stream = within(timeouts.connect, TcpStream::connect(addr)).await??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// A connection over any established stream, each read and write
    /// bounded by `timeouts.read` and `timeouts.write`.
    pub fn new(stream: S, timeouts: Timeouts) -> Self {
        Connection {
            stream,
            pipeline: Pipeline::new(),
            inbuf: vec![0; READ_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            read_at: Instant::now(),
            text: String::new(),
            timeouts,
            deadline: None,
        }
    }

    /// Queues `request`; returns its id.
    pub fn send(&mut self, request: &Request<'_>) -> Result<RequestId, Error> {
        self.pipeline.check()?;
        Ok(self.pipeline.push(request))
    }

    /// Queues arbitrary bytes that draw the responses `expects`.
    pub fn send_bytes(
        &mut self,
        bytes: &[u8],
        expects: impl IntoIterator<Item = Expect>,
    ) -> Result<Vec<RequestId>, Error> {
        self.pipeline.check()?;
        Ok(self.pipeline.push_bytes(bytes, expects))
    }

    /// Writes what the window allows of the queued requests.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.pipeline.check()?;
        let mut wrote = false;
        while !self.pipeline.poll_transmit().is_empty() {
            let limit = self.limit(self.timeouts.write)?;
            let bytes = self.pipeline.poll_transmit();
            let result = within(limit, self.stream.write(bytes)).await;
            match self.io_result(result) {
                Ok(0) => {
                    let e =
                        io::Error::new(io::ErrorKind::WriteZero, "the connection took no bytes");
                    return Err(self.failed(e.into()));
                }
                Ok(n) => {
                    self.pipeline.handle_transmitted(n, Instant::now());
                    wrote = true;
                }
                Err(e) => return Err(e),
            }
        }
        if wrote {
            let limit = self.limit(self.timeouts.write)?;
            let result = within(limit, self.stream.flush()).await;
            self.io_result(result)?;
        }
        Ok(())
    }

    /// The next event of the responses expected and the request it
    /// answers; `None` when none is expected. Slice bytes go to the front
    /// of `out`; raw bodies are read straight into it.
    pub async fn next_event<'a>(
        &'a mut self,
        out: &'a mut [u8],
    ) -> Result<Option<(RequestId, Event<'a>)>, Error> {
        let (id, got) = loop {
            self.pipeline.check()?;
            if self.pipeline.in_flight() == 0 {
                return Ok(None);
            }
            self.flush().await?;
            if self.start == self.end {
                if let (Some(left), Some(id)) =
                    (self.pipeline.raw_body_remaining(), self.pipeline.current())
                {
                    if left > 0 && !out.is_empty() {
                        let want = out.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                        let n = self.read_into_out(&mut out[..want]).await?;
                        self.pipeline.handle_raw_body(&out[..n], self.read_at)?;
                        break (id, Tag::Data(n));
                    }
                }
            }
            let step =
                self.pipeline
                    .handle_input(&self.inbuf[self.start..self.end], out, self.read_at)?;
            self.start += step.consumed;
            if let Some((id, event)) = step.event {
                break (id, Tag::of(event, &mut self.text));
            }
            if self.start < self.end {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "next_event needs room in `out` for slice bytes",
                )));
            }
            if self.pipeline.awaits_input() {
                self.fill().await?;
            }
        };
        let event = got.event(&self.text);
        Ok(Some((id, event)))
    }

    /// Responses still expected.
    pub fn in_flight(&self) -> usize {
        self.pipeline.in_flight()
    }

    /// Whether an error broke the connection.
    pub fn is_broken(&self) -> bool {
        self.pipeline.is_broken()
    }

    /// Every read and write from now on must end by `deadline`.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The timeouts this connection was made with.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The pipeline underneath (counters, state).
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Starts recording a transcript of at most `max_bytes` of payload.
    pub fn record(&mut self, max_bytes: usize) {
        self.pipeline.record(max_bytes);
    }

    /// The transcript so far, if recording.
    pub fn transcript(&self) -> Option<&Transcript> {
        self.pipeline.transcript()
    }

    /// Stops recording and returns the transcript.
    pub fn take_transcript(&mut self) -> Option<Transcript> {
        self.pipeline.take_transcript()
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream.
    pub fn into_inner(self) -> S {
        self.stream
    }

    pub(crate) fn poison(&mut self, why: &Error) {
        self.pipeline.fail(why);
    }

    /// The bound on the next read or write: `per_call`, narrowed to the
    /// deadline; a deadline already past is an error.
    fn limit(&mut self, per_call: Option<Duration>) -> Result<Option<Duration>, Error> {
        let Some(deadline) = self.deadline else {
            return Ok(per_call);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.failed(Error::Io(deadline_passed())));
        }
        Ok(Some(per_call.map_or(left, |t| t.min(left))))
    }

    async fn fill(&mut self) -> Result<(), Error> {
        let limit = self.limit(self.timeouts.read)?;
        let result = within(limit, self.stream.read(&mut self.inbuf)).await;
        let n = self.read_result(result)?;
        self.start = 0;
        self.end = n;
        Ok(())
    }

    async fn read_into_out(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let limit = self.limit(self.timeouts.read)?;
        let result = within(limit, self.stream.read(buf)).await;
        self.read_result(result)
    }

    fn read_result(&mut self, result: Result<io::Result<usize>, Elapsed>) -> Result<usize, Error> {
        match self.io_result(result)? {
            0 => Err(match self.pipeline.handle_eof(Instant::now()) {
                Ok(()) => Error::Closed,
                Err(e) => e,
            }),
            n => {
                self.read_at = Instant::now();
                Ok(n)
            }
        }
    }

    /// An I/O result, a timeout an error; either breaks the connection.
    fn io_result<T>(&mut self, result: Result<io::Result<T>, Elapsed>) -> Result<T, Error> {
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.failed(e.into())),
            Err(Elapsed) => {
                let past = self.deadline.is_some_and(|d| Instant::now() >= d);
                let e = match past {
                    true => deadline_passed(),
                    false => io::Error::new(io::ErrorKind::TimedOut, "timed out"),
                };
                Err(self.failed(e.into()))
            }
        }
    }

    fn failed(&mut self, e: Error) -> Error {
        self.pipeline.fail(&e);
        e
    }
}

/// A timeout passed.
pub(crate) struct Elapsed;

/// `fut`, bounded by `limit` when there is one.
pub(crate) async fn within<T>(
    limit: Option<Duration>,
    fut: impl Future<Output = T>,
) -> Result<T, Elapsed> {
    match limit {
        None => Ok(fut.await),
        Some(limit) => tokio::time::timeout(limit, fut).await.map_err(|_| Elapsed),
    }
}

fn deadline_passed() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the operation's deadline passed")
}

impl From<Elapsed> for io::Error {
    fn from(_: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, "timed out")
    }
}
