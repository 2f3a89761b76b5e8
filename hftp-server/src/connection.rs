//! One client connection as a state machine driven by socket readiness:
//! read and decode requests, answer them in order into a bounded output
//! queue, stream at most one slice at a time, and close the way HFTP.md §2
//! asks (a lingering close after fatal errors and `quit`).

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use hftp_proto::response::{
    encode_end, encode_item, encode_raw_header, encode_size, encode_status,
};
use hftp_proto::{Request, RequestDecoder, Response, Slice, Status};
use mio::net::TcpStream;
use tracing::{debug, warn};

use crate::config::Config;
use crate::output::Output;
use crate::published::{Lookup, Published};
use crate::transfer::{Step, Transfer};

/// How long a lingering close waits for the client to stop sending.
const LINGER: Duration = Duration::from_secs(2);

/// Why a connection ended; logged as `Closing connection ADDR (reason)`.
#[derive(Debug)]
pub enum Closed {
    /// The client closed the connection.
    ByPeer,
    /// The client sent `quit`.
    Quit,
    /// A fatal status was sent.
    Fatal(Status),
    /// No progress in either direction for the idle timeout.
    Idle,
    /// A request line was not complete within the request timeout.
    RequestTimeout,
    /// A file shrank while a slice of it was being sent.
    FileShrank,
    /// The server is shutting down.
    Shutdown,
    /// A socket or file error.
    Io(io::Error),
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closed::ByPeer => f.write_str("closed by client"),
            Closed::Quit => f.write_str("quit"),
            Closed::Fatal(s) => write!(f, "fatal error {s}"),
            Closed::Idle => f.write_str("idle timeout"),
            Closed::RequestTimeout => f.write_str("request line not completed in time"),
            Closed::FileShrank => f.write_str("file shrank while a slice of it was being sent"),
            Closed::Shutdown => f.write_str("server shutting down"),
            Closed::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

/// What a worker lends a connection while driving it.
pub struct Ctx<'a> {
    /// The served directory.
    pub published: &'a Published,
    /// The worker's read buffer, shared by all its connections.
    pub read_buf: &'a mut [u8],
    /// The worker's file chunk buffer, shared by all its connections.
    pub file_buf: &'a mut [u8],
    /// The time of the current event.
    pub now: Instant,
    /// The server is shutting down: answer nothing new.
    pub shutting_down: bool,
}

#[derive(Debug)]
enum State {
    /// Reading and answering requests.
    Open,
    /// No more requests: send what is queued, then close (lingering when
    /// `linger`).
    Draining { reason: Closed, linger: bool },
    /// The write side is shut; reading and discarding until `until`.
    Lingering { reason: Closed, until: Instant },
}

/// The answering half of a connection, apart from the decoder so that
/// decoded requests (which borrow the decoder) can be answered.
#[derive(Debug)]
struct Reply {
    out: Output,
    transfer: Option<Transfer>,
    state: State,
}

/// One client connection.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    decoder: RequestDecoder,
    /// Bytes read but not yet decoded, kept while output is backed up.
    pending: Vec<u8>,
    pending_from: usize,
    peer_done_sending: bool,
    /// The socket may hold unread bytes. Cleared by a read that comes back
    /// short or `WouldBlock` (the socket was drained), set again by the next
    /// readable event: edge-triggered epoll reports every arrival after a
    /// drain, so the read that would only say `WouldBlock` is never made.
    readable: bool,
    /// The peer's end was reported closed (or in error): a short read no
    /// longer means "wait for an event", since no event will follow the
    /// one that reported the close. Keep reading until 0 or `WouldBlock`.
    read_closed: bool,
    reply: Reply,
    last_progress: Instant,
    line_started: Option<Instant>,
}

impl Connection {
    /// A connection accepted at `now`.
    pub fn new(stream: TcpStream, peer: SocketAddr, config: &Config, now: Instant) -> Self {
        Connection {
            stream,
            peer,
            decoder: RequestDecoder::with_max_line(config.max_request_bytes),
            pending: Vec::new(),
            pending_from: 0,
            peer_done_sending: false,
            readable: true,
            read_closed: false,
            reply: Reply {
                out: Output::default(),
                transfer: None,
                state: State::Open,
            },
            last_progress: now,
            line_started: None,
        }
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// When bytes last moved either way.
    pub fn last_progress(&self) -> Instant {
        self.last_progress
    }

    /// The socket, for (de)registration.
    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Notes a readiness event for the socket: `readable` when it reported
    /// bytes to read, `read_closed` when it reported the peer's end closed
    /// or an error.
    pub fn note_event(&mut self, readable: bool, read_closed: bool) {
        self.readable |= readable || read_closed;
        self.read_closed |= read_closed;
    }

    /// Does all the work the socket's readiness allows. Returns why the
    /// connection must be closed now, if it must.
    pub fn drive(&mut self, ctx: &mut Ctx<'_>) -> Option<Closed> {
        loop {
            match self.step(ctx) {
                Ok(true) => self.last_progress = ctx.now,
                Ok(false) => return None,
                Err(reason) => return Some(reason),
            }
        }
    }

    /// One round of work; `Ok(true)` when bytes moved.
    fn step(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Closed> {
        let mut progress = false;
        if !self.reply.out.is_empty() {
            progress |= self
                .reply
                .out
                .write_to(&mut self.stream)
                .map_err(Closed::Io)?
                > 0;
        }
        progress |= self.advance_transfer(ctx)?;
        if self.reply.transfer.is_none() {
            self.reply.out.release();
        }
        match &self.reply.state {
            State::Open if ctx.shutting_down => {
                if self.idle_output() {
                    return Err(Closed::Shutdown);
                }
            }
            State::Open => {
                if self.reply.transfer.is_none() && !self.reply.out.is_full() {
                    progress |= self.take_requests(ctx)?;
                }
            }
            State::Draining { .. } => {
                if self.idle_output() {
                    let State::Draining { reason, linger } =
                        std::mem::replace(&mut self.reply.state, State::Open)
                    else {
                        unreachable!("matched above")
                    };
                    if !linger {
                        return Err(reason);
                    }
                    // Shut the write side, so the client sees the end, then
                    // drain: closing with unread bytes would send a RST that
                    // can destroy the last status line (HFTP.md §2).
                    let _ = self.stream.shutdown(Shutdown::Write);
                    self.reply.state = State::Lingering {
                        reason,
                        until: ctx.now + LINGER,
                    };
                    progress = true;
                }
            }
            State::Lingering { .. } => loop {
                match self.stream.read(ctx.read_buf) {
                    Ok(0) => return Err(self.take_reason()),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Err(self.take_reason()),
                }
            },
        }
        Ok(progress)
    }

    /// Whether nothing is queued or in flight.
    fn idle_output(&self) -> bool {
        self.reply.out.is_empty() && self.reply.transfer.is_none()
    }

    fn take_reason(&mut self) -> Closed {
        match std::mem::replace(&mut self.reply.state, State::Open) {
            State::Draining { reason, .. } | State::Lingering { reason, .. } => reason,
            State::Open => Closed::ByPeer,
        }
    }

    /// Moves the slice in flight forward as far as the output bound allows.
    fn advance_transfer(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Closed> {
        let Some(transfer) = self.reply.transfer.as_mut() else {
            return Ok(false);
        };
        let step = if transfer.is_raw() {
            // Raw bytes go straight from file to socket, after the header.
            if !self.reply.out.is_empty() {
                return Ok(false);
            }
            transfer.send_raw(&self.stream)
        } else {
            if self.reply.out.is_full() {
                return Ok(false);
            }
            transfer.encode_next(ctx.file_buf, self.reply.out.buf())
        };
        match step.map_err(Closed::Io)? {
            Step::Progress => Ok(true),
            Step::Blocked => Ok(false),
            Step::Done => {
                self.reply.transfer = None;
                Ok(true)
            }
            Step::Shrank => {
                warn!(
                    "{}: a file shrank while a slice of it was being sent; closing at once",
                    self.peer
                );
                Err(Closed::FileShrank)
            }
        }
    }

    /// Decodes and answers requests from what was read earlier, or else
    /// from the socket, until the output is backed up, a slice starts, or
    /// the connection stops answering.
    fn take_requests(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Closed> {
        if self.pending_from < self.pending.len() {
            let Connection {
                decoder,
                reply,
                pending,
                pending_from,
                ..
            } = self;
            *pending_from += answer_requests(decoder, reply, &pending[*pending_from..], ctx);
            if *pending_from == pending.len() {
                *pending = Vec::new();
                *pending_from = 0;
            }
            self.note_line_start(ctx.now);
            return Ok(true);
        }
        if self.peer_done_sending {
            self.reply.state = State::Draining {
                reason: Closed::ByPeer,
                linger: false,
            };
            return Ok(true);
        }
        if !self.readable {
            return Ok(false);
        }
        let n = match self.stream.read(ctx.read_buf) {
            Ok(0) => {
                self.peer_done_sending = true;
                return Ok(true);
            }
            Ok(n) => {
                // A short read took all the socket held.
                if n < ctx.read_buf.len() && !self.read_closed {
                    self.readable = false;
                }
                n
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(true),
            Err(e) => return Err(Closed::Io(e)),
        };
        let used = answer_requests(&mut self.decoder, &mut self.reply, &ctx.read_buf[..n], ctx);
        if used < n && matches!(self.reply.state, State::Open) {
            self.pending.extend_from_slice(&ctx.read_buf[used..n]);
        }
        self.note_line_start(ctx.now);
        Ok(true)
    }

    /// Starts or stops the request deadline as a request line begins or ends.
    fn note_line_start(&mut self, now: Instant) {
        match (self.decoder.in_line(), self.line_started) {
            (true, None) => self.line_started = Some(now),
            (false, Some(_)) => self.line_started = None,
            _ => {}
        }
    }

    /// Whether a timeout has expired at `now`.
    pub fn check_timeouts(&mut self, now: Instant, config: &Config) -> Option<Closed> {
        if let State::Lingering { until, .. } = self.reply.state {
            return (now >= until).then(|| self.take_reason());
        }
        if now.duration_since(self.last_progress) >= config.idle_timeout {
            return Some(Closed::Idle);
        }
        match self.line_started {
            Some(start) if now.duration_since(start) >= config.request_timeout => {
                Some(Closed::RequestTimeout)
            }
            _ => None,
        }
    }
}

/// Decodes requests from `input` and answers them while the connection
/// can take more; returns how many bytes were used.
fn answer_requests(
    decoder: &mut RequestDecoder,
    reply: &mut Reply,
    input: &[u8],
    ctx: &Ctx<'_>,
) -> usize {
    let mut used = 0;
    while used < input.len()
        && matches!(reply.state, State::Open)
        && reply.transfer.is_none()
        && !reply.out.is_full()
    {
        let step = decoder.decode(&input[used..]);
        used += step.consumed;
        match step.item {
            None => break,
            Some(Ok(request)) => {
                debug!("Request: {request}");
                reply.answer(request, ctx);
            }
            Some(Err(err)) => {
                debug!("Bad request ({}): {err}", err.status().code());
                encode_status(err.status(), reply.out.buf());
                if err.is_fatal() {
                    reply.state = State::Draining {
                        reason: Closed::Fatal(err.status()),
                        linger: true,
                    };
                }
            }
        }
    }
    if !matches!(reply.state, State::Open) {
        // Nothing after a fatal error or quit is answered.
        return input.len();
    }
    used
}

impl Reply {
    fn answer(&mut self, request: Request<'_>, ctx: &Ctx<'_>) {
        let out = self.out.buf();
        match request {
            Request::GetFileListing => match ctx.published.list() {
                Ok(names) => {
                    encode_status(Status::Ok, out);
                    for name in &names {
                        encode_item(name, out);
                    }
                    encode_end(out);
                }
                Err(e) => self.internal_error(&e),
            },
            Request::GetMetadata { name } => match ctx.published.size(name) {
                Ok(size) => {
                    encode_status(Status::Ok, out);
                    encode_size(size, out);
                }
                Err(Lookup::NotFound) => encode_status(Status::FileNotFound, out),
                Err(Lookup::Io(e)) => self.internal_error(&e),
            },
            Request::GetSlice(slice) => self.start_slice(slice, ctx),
            Request::Help => Response::Help.encode(out),
            Request::Quit => {
                encode_status(Status::Ok, out);
                self.state = State::Draining {
                    reason: Closed::Quit,
                    linger: true,
                };
            }
        }
    }

    fn start_slice(&mut self, slice: Slice<'_>, ctx: &Ctx<'_>) {
        let out = self.out.buf();
        match ctx.published.open(slice.name) {
            Ok((file, size)) if slice.fits(size) => {
                encode_status(Status::Ok, out);
                if slice.raw {
                    encode_raw_header(slice.size, out);
                }
                self.transfer = Some(Transfer::new(file, slice.offset, slice.size, slice.raw));
            }
            Ok(_) => encode_status(Status::OffsetExceedsFileSize, out),
            Err(Lookup::NotFound) => encode_status(Status::FileNotFound, out),
            Err(Lookup::Io(e)) => self.internal_error(&e),
        }
    }

    fn internal_error(&mut self, e: &io::Error) {
        warn!("I/O error while serving a request: {e}");
        encode_status(Status::InternalServerError, self.out.buf());
        self.state = State::Draining {
            reason: Closed::Fatal(Status::InternalServerError),
            linger: true,
        };
    }
}
