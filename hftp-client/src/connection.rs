//! The blocking driver: one [`Connection`] over any `Read + Write` stream,
//! doing the I/O for a [`Pipeline`]. Requests queue for pipelining at any
//! depth, events come back in order with the request they answer, raw
//! slice bodies are read straight into the caller's buffer, and a
//! deadline bounds each operation.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hftp_proto::{Event, Expect, Request};

use crate::pipeline::Tag;
use crate::{Error, Pipeline, RequestId, Stream, Timeouts, Transcript};

/// Bytes read from the stream at a time. Large reads matter on fast
/// links: with 1 MiB instead of 256 KiB the sending server spends ~40 %
/// less CPU per GB on loopback (fewer wake-ups of this reader).
const READ_BUF: usize = 1024 * 1024;

/// Sets a stream's read and write timeouts (a no-op for streams without).
type SetTimeouts<S> = fn(&S, Option<Duration>, Option<Duration>) -> io::Result<()>;

/// One blocking HFTP connection: the protocol driver every client in this
/// workspace runs on.
///
/// [`send`](Self::send) queues a request and returns its [`RequestId`];
/// [`next_event`](Self::next_event) writes what is queued (within the
/// pipeline's window), reads, and returns the next response event with the
/// request it answers. After an I/O or protocol error the connection is
/// broken: every later call returns [`Error::Broken`], so requests and
/// responses can never be mismatched.
///
/// ```no_run
/// use hftp_client::{connect, Timeouts};
/// use hftp_proto::{Event, FileName, Request};
///
/// let mut conn = connect("127.0.0.1:19500", Timeouts::default())?;
/// // Three requests in flight at once.
/// let mut ids = Vec::new();
/// for name in ["a.txt", "b.txt", "c.txt"] {
///     ids.push(conn.send(&Request::GetMetadata { name: FileName::new(name)? })?);
/// }
/// while let Some((id, event)) = conn.next_event(&mut [])? {
///     if let Event::Size(size) = event {
///         println!("request {id}: {size} bytes");
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Connection<S = Stream> {
    stream: S,
    pipeline: Pipeline,
    /// Input read and not decoded yet is `inbuf[start..end]`; allocated
    /// at the first read (a connection never read from costs no buffer).
    inbuf: Box<[u8]>,
    /// Bytes read at a time.
    read_size: usize,
    start: usize,
    end: usize,
    /// When the buffered input arrived.
    read_at: Instant,
    /// The text of the last status or item event.
    text: String,
    timeouts: Timeouts,
    set_timeouts: SetTimeouts<S>,
    deadline: Option<Instant>,
    /// The read and write timeouts set on the stream for a deadline.
    narrowed: Option<(Duration, Duration)>,
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
    /// A connection over an established TCP stream whose read and write
    /// timeouts are `timeouts` (as [`connect`](crate::connect) sets them);
    /// deadlines narrow them when they are closer.
    pub fn tcp(stream: TcpStream, timeouts: Timeouts) -> Self {
        let mut conn = Connection::new(stream);
        conn.timeouts = timeouts;
        conn.set_timeouts = |s, read, write| {
            s.set_read_timeout(read)?;
            s.set_write_timeout(write)
        };
        conn
    }
}

impl Connection<Stream> {
    /// A connection over an established [`Stream`] (plain or TLS) whose
    /// socket's read and write timeouts are `timeouts`; deadlines narrow
    /// them when they are closer.
    pub fn over(stream: Stream, timeouts: Timeouts) -> Self {
        let mut conn = Connection::new(stream);
        conn.timeouts = timeouts;
        conn.set_timeouts = |s, read, write| s.set_timeouts(read, write);
        conn
    }
}

impl<S: Read + Write> Connection<S> {
    /// A connection over any established stream (a socket, a tunnel, a
    /// test pipe). Its own timeouts bound each read and write; a deadline
    /// is checked between them.
    pub fn new(stream: S) -> Self {
        Connection {
            stream,
            pipeline: Pipeline::new(),
            inbuf: Box::default(),
            read_size: READ_BUF,
            start: 0,
            end: 0,
            read_at: Instant::now(),
            text: String::new(),
            timeouts: Timeouts::uniform(None),
            set_timeouts: |_, _, _| Ok(()),
            deadline: None,
            narrowed: None,
        }
    }

    /// Queues `request` (nothing is written until [`flush`](Self::flush)
    /// or [`next_event`](Self::next_event)); returns its id.
    pub fn send(&mut self, request: &Request<'_>) -> Result<RequestId, Error> {
        self.pipeline.check()?;
        Ok(self.pipeline.push(request))
    }

    /// Queues arbitrary bytes that draw the responses `expects` (see
    /// [`Pipeline::push_bytes`]).
    pub fn send_bytes(
        &mut self,
        bytes: &[u8],
        expects: impl IntoIterator<Item = Expect>,
    ) -> Result<Vec<RequestId>, Error> {
        self.pipeline.check()?;
        Ok(self.pipeline.push_bytes(bytes, expects))
    }

    /// Writes what the window allows of the queued requests.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.pipeline.check()?;
        let mut wrote = false;
        loop {
            if self.pipeline.poll_transmit().is_empty() {
                break;
            }
            self.arm()?;
            match self.stream.write(self.pipeline.poll_transmit()) {
                Ok(0) => {
                    let e =
                        io::Error::new(io::ErrorKind::WriteZero, "the connection took no bytes");
                    return Err(self.failed(e.into()));
                }
                Ok(n) => {
                    self.pipeline.handle_transmitted(n, Instant::now());
                    wrote = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.failed(e.into())),
            }
        }
        if wrote {
            if let Err(e) = self.stream.flush() {
                return Err(self.failed(e.into()));
            }
        }
        Ok(())
    }

    /// The next event of the responses expected, and the request it
    /// answers; `None` when no response is expected. Slice bytes are
    /// written to the front of `out` (`Event::Data(n)`: `out[..n]`); raw
    /// slice bodies are read from the stream straight into it.
    pub fn next_event<'a>(
        &'a mut self,
        out: &'a mut [u8],
    ) -> Result<Option<(RequestId, Event<'a>)>, Error> {
        let (id, got) = loop {
            self.pipeline.check()?;
            if self.pipeline.in_flight() == 0 {
                return Ok(None);
            }
            self.flush()?;
            if self.start == self.end {
                if let (Some(left), Some(id)) =
                    (self.pipeline.raw_body_remaining(), self.pipeline.current())
                {
                    if left > 0 && !out.is_empty() {
                        let want = out.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                        let n = self.read_into(&mut out[..want])?;
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
                // Slice bytes are next and `out` has no room for them.
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "next_event needs room in `out` for slice bytes",
                )));
            }
            if self.pipeline.awaits_input() {
                self.fill()?;
            }
        };
        let event = got.event(&self.text);
        Ok(Some((id, event)))
    }

    /// Responses still expected (of requests sent or queued).
    pub fn in_flight(&self) -> usize {
        self.pipeline.in_flight()
    }

    /// The pipeline underneath (counters, state).
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Reads at most `size` bytes (at least 1) at a time from now on
    /// (1 MiB by default; the buffer is allocated at the next read, so
    /// many connections that read little can set a small one first).
    /// Input read but not decoded yet is kept.
    pub fn set_read_size(&mut self, size: usize) {
        self.read_size = size.max(1);
        let kept = self.end - self.start;
        let mut inbuf = match kept {
            0 => Box::default(),
            _ => vec![0; self.read_size.max(kept)].into_boxed_slice(),
        };
        inbuf[..kept].copy_from_slice(&self.inbuf[self.start..self.end]);
        self.start = 0;
        self.end = kept;
        self.inbuf = inbuf;
    }

    /// Whether an error broke the connection (see [`Error::Broken`]).
    pub fn is_broken(&self) -> bool {
        self.pipeline.is_broken()
    }

    /// Every read and write from now on must end by `deadline` (`None`:
    /// no deadline); past it they fail with a timeout, which breaks the
    /// connection.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The timeouts this connection was made with.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Starts recording a transcript of at most `max_bytes` of payload.
    pub fn record(&mut self, max_bytes: usize) {
        self.pipeline.record(max_bytes);
    }

    /// Starts recording into `transcript` (see [`Pipeline::record_into`]).
    pub fn record_into(&mut self, transcript: Transcript) {
        self.pipeline.record_into(transcript);
    }

    /// Once every response expected has come: waits (within the deadline
    /// and timeouts) until the server closes its side, as it must after
    /// `quit` or a fatal status. Bytes that come instead are
    /// [`Error::Protocol`] (`UnexpectedData`); a reset is [`Error::Io`].
    ///
    /// ```
    /// use std::io::{self, Cursor, Read, Write};
    /// use hftp_client::{Connection, Error};
    /// use hftp_proto::Request;
    ///
    /// /// A server's bytes, then the end of the stream.
    /// struct Replay(Cursor<&'static [u8]>);
    /// impl Read for Replay {
    ///     fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> { self.0.read(buf) }
    /// }
    /// impl Write for Replay {
    ///     fn write(&mut self, buf: &[u8]) -> io::Result<usize> { Ok(buf.len()) }
    ///     fn flush(&mut self) -> io::Result<()> { Ok(()) }
    /// }
    ///
    /// let mut conn = Connection::new(Replay(Cursor::new(b"0 OK\r\n")));
    /// conn.send(&Request::Quit)?;
    /// while conn.next_event(&mut [])?.is_some() {}
    /// conn.wait_close()?; // closed after its answer, as it should
    ///
    /// let mut conn = Connection::new(Replay(Cursor::new(b"0 OK\r\n0 OK\r\n")));
    /// conn.send(&Request::Quit)?;
    /// while conn.next_event(&mut [])?.is_some() {}
    /// assert!(matches!(conn.wait_close(), Err(Error::Protocol(_)))); // more bytes
    /// # Ok::<(), Error>(())
    /// ```
    pub fn wait_close(&mut self) -> Result<(), Error> {
        self.pipeline.check()?;
        if self.pipeline.in_flight() > 0 {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "wait_close while responses are still expected",
            )));
        }
        self.flush()?;
        loop {
            if self.start < self.end {
                let input = &self.inbuf[self.start..self.end];
                let step = self.pipeline.handle_input(input, &mut [], self.read_at)?;
                self.start += step.consumed;
                continue;
            }
            match self.fill() {
                Ok(()) => {}
                Err(Error::Closed) if !self.pipeline.is_broken() => return Ok(()),
                Err(e) => return Err(e),
            }
        }
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

    /// The stream, to change its settings (reading or writing it directly
    /// desynchronises the connection).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The stream, the pipeline, and input read but not decoded yet: for
    /// driving the same connection from an event loop.
    pub fn into_parts(self) -> (S, Pipeline, Vec<u8>) {
        let rest = self.inbuf[self.start..self.end].to_vec();
        (self.stream, self.pipeline, rest)
    }

    /// The stream.
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Breaks the connection with `why`: a caller stopped reading in the
    /// middle of a response.
    pub(crate) fn poison(&mut self, why: &Error) {
        self.pipeline.fail(why);
    }

    /// Narrows the stream's timeouts to the deadline, or restores them.
    fn arm(&mut self) -> Result<(), Error> {
        let Some(deadline) = self.deadline else {
            if self.narrowed.take().is_some() {
                let t = self.timeouts;
                (self.set_timeouts)(&self.stream, t.read, t.write)?;
            }
            return Ok(());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.failed(Error::Io(deadline_passed())));
        }
        // Timeouts set earlier still do if a call begun now ends at most
        // 1/64 of the time left (plus a millisecond) past the deadline:
        // no two system calls before every read of a long slice.
        let slack = left + left / 64 + Duration::from_millis(1);
        if self
            .narrowed
            .is_some_and(|(read, write)| read <= slack && write <= slack)
        {
            return Ok(());
        }
        let cap = |t: Option<Duration>| t.map_or(left, |t| t.min(left));
        let (read, write) = (cap(self.timeouts.read), cap(self.timeouts.write));
        (self.set_timeouts)(&self.stream, Some(read), Some(write))?;
        self.narrowed = Some((read, write));
        Ok(())
    }

    /// Refills the input buffer with one read of at least a byte.
    fn fill(&mut self) -> Result<(), Error> {
        if self.inbuf.is_empty() {
            self.inbuf = vec![0; self.read_size].into_boxed_slice();
        }
        let mut inbuf = std::mem::take(&mut self.inbuf);
        let read = self.read_into(&mut inbuf);
        self.inbuf = inbuf;
        self.start = 0;
        self.end = read?;
        Ok(())
    }

    /// One read of at least a byte into `buf`; the end of the stream
    /// while a response is expected is [`Error::Closed`].
    fn read_into(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        loop {
            self.arm()?;
            match self.stream.read(buf) {
                Ok(0) => {
                    return Err(match self.pipeline.handle_eof(Instant::now()) {
                        Ok(()) => Error::Closed,
                        Err(e) => e,
                    })
                }
                Ok(n) => {
                    self.read_at = Instant::now();
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_failed(e)),
            }
        }
    }

    /// A read or write failed: a timeout past the deadline says so.
    fn io_failed(&mut self, e: io::Error) -> Error {
        let timed_out = matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        );
        let e = match self.deadline {
            Some(d) if timed_out && Instant::now() >= d => deadline_passed(),
            _ => e,
        };
        self.failed(Error::Io(e))
    }

    /// Breaks the pipeline with `e` and returns it.
    fn failed(&mut self, e: Error) -> Error {
        self.pipeline.fail(&e);
        e
    }
}

fn deadline_passed() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the operation's deadline passed")
}
