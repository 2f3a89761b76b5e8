//! One client's protocol session, sans-IO: bytes in, bytes (and file
//! ranges) out, time passed in. No sockets, no file system, no clock.
//!
//! In the style of quinn-proto and rustls: the caller owns the socket and
//! does all I/O, telling the session what happened through `handle_*` and
//! asking it what to do through `poll_*`:
//!
//! - [`Session::wants_input`], then [`Session::handle_input`] with bytes
//!   read, or [`Session::handle_eof`] when the peer stopped sending;
//! - [`Session::poll_transmit`] for the next thing to put on the socket
//!   ([`Transmit`]: bytes, a raw range of a file, or shutting the write
//!   side), then [`Session::handle_written`] /
//!   [`Session::handle_file_sent`] with how much the socket took;
//! - [`Session::poll_timeout`] for when to call [`Session::handle_timeout`],
//!   and [`Session::wants_send_queue`] / [`Session::handle_send_queue`] to
//!   learn whether the peer acknowledged what was written;
//! - [`Session::poll_close`] for whether, and how, to close.
//!
//! Files are reached through [`Files`], which the server implements with
//! the published directory and tests with [`MemoryFiles`](crate::files::MemoryFiles).
//!
//! The promises of HFTP.md §4 live here: answers strictly in order, at
//! most [`MAX_QUEUED`] bytes queued whatever the socket accepts, a bounded
//! amount of work per turn ([`Session::begin_turn`]) so that one client
//! cannot hold a worker, an idle timeout that counts only what the peer
//! did (bytes received, or bytes of ours it acknowledged), a deadline for
//! each request line, a lingering close after fatal errors and `quit`,
//! and an abortive close (reset) when a slice can never be completed.
//!
//! An example that drives one session by hand is in the crate's docs.

use std::fmt;
use std::time::{Duration, Instant};

use hftp_proto::response::{
    encode_end, encode_item, encode_raw_header, encode_size, encode_status,
};
use hftp_proto::{Request, RequestDecoder, Response, SliceEncoder, Status};

use crate::files::{Files, Lookup};
use crate::output::Output;
pub use crate::output::{HIGH_WATER, MAX_QUEUED};

/// File bytes read per step of a base64 slice: a multiple of 3, so that
/// every chunk is whole base64 groups. The `scratch` buffer given to
/// [`Session::poll_transmit`] must hold at least this much.
pub const FILE_CHUNK: usize = 96 * 1024;

/// The most a raw slice asks the caller to send in one [`Transmit::File`].
pub const RAW_CHUNK: usize = 1024 * 1024;

/// Work one turn may do: bytes handed to the socket, and
/// [`REQUEST_COST`] for each request answered. Past it, the session
/// answers, produces and reads nothing more until the next
/// [`Session::begin_turn`] (it still hands out what is already queued), so
/// that a worker goes round every ready connection before coming back: a
/// turn writes at most this plus [`MAX_QUEUED`] bytes.
pub const TURN_BUDGET: usize = 1024 * 1024;

/// What answering one request counts against [`TURN_BUDGET`]: a turn
/// answers at most 1,024 requests.
pub const REQUEST_COST: usize = 1024;

/// What each name of a listing counts against [`TURN_BUDGET`], beyond its
/// bytes: a listing costs work in proportion to the directory (reading and
/// sorting it), not to the request's few bytes.
pub const LISTING_NAME_COST: usize = 64;

/// The most often the send queue is asked about while bytes of ours may be
/// unacknowledged (see [`Session::wants_send_queue`]).
const PROBE_MAX: Duration = Duration::from_secs(1);

/// The limits a session is held to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Close when the peer did nothing for this long: sent no byte and
    /// acknowledged no byte of ours.
    pub idle_timeout: Duration,
    /// A request line must be complete this long after its first byte.
    pub request_timeout: Duration,
    /// The hard limit on a request line (HFTP.md §2.3).
    pub max_request_bytes: usize,
    /// How long a lingering close waits for the peer to stop sending.
    pub linger: Duration,
}

impl Default for SessionConfig {
    /// The `hftp-server` command line's defaults.
    fn default() -> Self {
        SessionConfig {
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            max_request_bytes: RequestDecoder::DEFAULT_MAX_LINE,
            linger: Duration::from_secs(2),
        }
    }
}

impl SessionConfig {
    /// These timeouts and limits, with the default linger.
    pub fn new(
        idle_timeout: Duration,
        request_timeout: Duration,
        max_request_bytes: usize,
    ) -> Self {
        SessionConfig {
            idle_timeout,
            request_timeout,
            max_request_bytes,
            ..SessionConfig::default()
        }
    }

    /// How often the send queue is asked about while bytes may be
    /// unacknowledged: a quarter of the idle timeout, at most a second, so
    /// that a peer that stops is closed at most that long after the idle
    /// timeout.
    fn probe_interval(&self) -> Duration {
        (self.idle_timeout / 4).min(PROBE_MAX)
    }
}

/// What the caller must put on the socket next.
#[derive(Debug)]
pub enum Transmit<'a, F> {
    /// Write these bytes, then call [`Session::handle_written`] with how
    /// many the socket took.
    Bytes(&'a [u8]),
    /// Send `len` bytes of `file` from `offset` (a raw slice; `sendfile`
    /// where the OS has it), then call [`Session::handle_file_sent`].
    File {
        /// The open file.
        file: &'a F,
        /// Where in the file.
        offset: u64,
        /// How many bytes, at most.
        len: usize,
    },
    /// Shut down the write side of the socket (the peer sees the end of
    /// the stream), then keep reading and handing the bytes in until the
    /// peer closes: a lingering close (HFTP.md §2).
    ShutdownWrite,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The client closed the connection.
    ByPeer,
    /// The client sent `quit`.
    Quit,
    /// A fatal status was sent.
    Fatal(Status),
    /// The peer did nothing for the idle timeout.
    Idle,
    /// A request line was not complete within the request timeout.
    RequestTimeout,
    /// A file shrank while a slice of it was being sent.
    FileShrank,
    /// The server is shutting down.
    Shutdown,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ByPeer => f.write_str("closed by client"),
            Reason::Quit => f.write_str("quit"),
            Reason::Fatal(s) => write!(f, "fatal error {s}"),
            Reason::Idle => f.write_str("idle timeout"),
            Reason::RequestTimeout => f.write_str("request line not completed in time"),
            Reason::FileShrank => f.write_str("file shrank while a slice of it was being sent"),
            Reason::Shutdown => f.write_str("server shutting down"),
        }
    }
}

/// How to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    /// Why.
    pub reason: Reason,
    /// Reset the connection (`SO_LINGER` 0) instead of closing it
    /// gracefully: what is queued can never be completed or will never
    /// be taken, so the peer should learn at once.
    pub abort: bool,
}

#[derive(Debug)]
enum State {
    /// Reading and answering requests.
    Open,
    /// No more requests (after `quit` or a fatal status): send what is
    /// queued, then a lingering close.
    Draining { reason: Reason },
    /// The write side is shut; reading and discarding until `until`.
    Lingering { reason: Reason, until: Instant },
    /// Decided; see [`Session::poll_close`].
    Closed(Close),
}

/// The response being produced, beyond what is queued.
#[derive(Debug)]
enum Job<F> {
    /// A base64 slice: the file, where to read next, and the encoder
    /// (which knows how much remains).
    Base64 {
        file: F,
        offset: u64,
        encoder: SliceEncoder,
    },
    /// A raw slice: sent by the caller straight from the file.
    Raw {
        file: F,
        offset: u64,
        remaining: u64,
    },
    /// A listing, streamed a few names at a time.
    Listing { names: Vec<String>, next: usize },
}

/// One client connection's protocol state. `F` is the open-file type of
/// the [`Files`] it is served from.
#[derive(Debug)]
pub struct Session<F> {
    config: SessionConfig,
    decoder: RequestDecoder,
    /// Bytes handed in but not yet decoded, kept while answers wait.
    pending: Vec<u8>,
    out: Output,
    job: Option<Job<F>>,
    state: State,
    peer_eof: bool,
    shutting_down: bool,
    /// When the peer last did something: sent a byte, or acknowledged one.
    last_progress: Instant,
    line_started: Option<Instant>,
    /// Bytes handed to the socket so far.
    written: u64,
    /// Of those, how many the peer is known to have taken.
    acked: u64,
    /// When to ask about the send queue next, while `written > acked`.
    probe_at: Option<Instant>,
    /// What this turn may still do.
    budget: usize,
}

impl<F> Session<F> {
    /// A session for a connection accepted at `now`.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        Session {
            decoder: RequestDecoder::with_max_line(config.max_request_bytes),
            config,
            pending: Vec::new(),
            out: Output::default(),
            job: None,
            state: State::Open,
            peer_eof: false,
            shutting_down: false,
            last_progress: now,
            line_started: None,
            written: 0,
            acked: 0,
            probe_at: None,
            budget: TURN_BUDGET,
        }
    }

    /// Starts a turn: the session may again do up to [`TURN_BUDGET`] of
    /// work. Call it each time the connection gets its go.
    pub fn begin_turn(&mut self) {
        self.budget = TURN_BUDGET;
    }

    /// Whether this turn's budget is spent: the session may have more to
    /// do, and must be given another turn after the other connections'.
    pub fn turn_spent(&self) -> bool {
        self.budget == 0 && !matches!(self.state, State::Closed(_))
    }

    /// When the peer last sent a byte or acknowledged one of ours.
    pub fn last_progress(&self) -> Instant {
        self.last_progress
    }

    /// Bytes queued, waiting for the socket (never more than
    /// [`MAX_QUEUED`]).
    pub fn queued(&self) -> usize {
        self.out.len()
    }

    /// Bytes of memory the queue holds.
    pub fn queue_capacity(&self) -> usize {
        self.out.capacity()
    }

    /// Whether the session would take input now. While it would not (its
    /// answers are waiting for the socket, or it still holds unanswered
    /// input), the caller stops reading, which holds the client back.
    pub fn wants_input(&self) -> bool {
        if self.budget == 0 {
            return false;
        }
        match self.state {
            State::Open => !self.peer_eof && !self.shutting_down && self.pending.is_empty(),
            State::Lingering { .. } => true,
            State::Draining { .. } | State::Closed(_) => false,
        }
    }

    /// Bytes read from the peer at `now`.
    pub fn handle_input<D: Files<File = F>>(&mut self, data: &[u8], now: Instant, files: &D) {
        if data.is_empty() {
            return;
        }
        self.last_progress = now;
        if !matches!(self.state, State::Open) || self.shutting_down {
            // Lingering, or nothing more is answered: discard. Taking bytes
            // is work too: a peer flooding a lingering close gets a bounded
            // share of the turn.
            self.budget = self.budget.saturating_sub(data.len());
            return;
        }
        if self.pending.is_empty() {
            let used = self.answer(data, files);
            if used < data.len() && matches!(self.state, State::Open) {
                self.pending.extend_from_slice(&data[used..]);
            }
        } else {
            self.pending.extend_from_slice(data);
            self.answer_pending(files);
        }
        // Charged after answering, so that a line this read completes is
        // answered in this turn; one long line streamed in still gets a
        // bounded share of it.
        self.budget = self.budget.saturating_sub(data.len());
        self.note_line(now);
        self.settle();
    }

    /// The peer closed its sending side (a read returned 0) at `now`.
    pub fn handle_eof(&mut self, now: Instant) {
        self.peer_eof = true;
        self.last_progress = now;
        if let State::Lingering { reason, .. } = self.state {
            self.close(reason, false);
        }
        self.settle();
    }

    /// The server is shutting down: answer nothing new, finish what is in
    /// flight, then close.
    pub fn handle_shutdown(&mut self) {
        self.shutting_down = true;
        self.pending = Vec::new();
        self.settle();
    }

    /// What to put on the socket next, if anything; `None` when the
    /// session waits for input, for the next turn, or is closed. Produces
    /// the next part of a response (reading files through `files`, with
    /// `scratch`, at least [`FILE_CHUNK`] bytes, as the read buffer) when
    /// the queue has room.
    pub fn poll_transmit<'s, D: Files<File = F>>(
        &'s mut self,
        now: Instant,
        files: &D,
        scratch: &mut [u8],
    ) -> Option<Transmit<'s, F>> {
        if matches!(self.state, State::Closed(_)) {
            return None;
        }
        while self.budget > 0 && !self.out.is_full() && self.produce(now, files, scratch) {}
        if !self.out.is_empty() {
            return Some(Transmit::Bytes(self.out.unsent()));
        }
        if self.budget == 0 {
            return None;
        }
        if let State::Draining { reason } = self.state {
            if self.job.is_none() {
                if self.peer_eof {
                    // Everything the peer sent was read: nothing is left
                    // for a close to reset, so no need to linger.
                    self.close(reason, false);
                    return None;
                }
                self.state = State::Lingering {
                    reason,
                    until: now + self.config.linger,
                };
                return Some(Transmit::ShutdownWrite);
            }
        }
        if let Some(Job::Raw {
            file,
            offset,
            remaining,
        }) = &self.job
        {
            let len = (*remaining).min(RAW_CHUNK.min(self.budget) as u64) as usize;
            return Some(Transmit::File {
                file,
                offset: *offset,
                len,
            });
        }
        None
    }

    /// The socket took `n` bytes of the last [`Transmit::Bytes`] at `now`.
    pub fn handle_written(&mut self, n: usize, now: Instant) {
        self.out.consume(n);
        self.note_written(n, now);
        if self.job.is_none() {
            self.out.release();
        }
        self.settle();
    }

    /// The socket took `n` bytes of the last [`Transmit::File`] at `now`.
    /// `0` means the file ended before the range: it shrank, and the
    /// slice can never be completed.
    pub fn handle_file_sent(&mut self, n: usize, now: Instant) {
        let Some(Job::Raw {
            offset, remaining, ..
        }) = &mut self.job
        else {
            return;
        };
        if n == 0 {
            self.close(Reason::FileShrank, true);
            return;
        }
        let n64 = (n as u64).min(*remaining);
        *offset += n64;
        *remaining -= n64;
        if *remaining == 0 {
            self.job = None;
            self.out.release();
        }
        self.note_written(n, now);
        self.settle();
    }

    /// When [`Session::handle_timeout`] is due next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed(_) => None,
            State::Lingering { until, .. } => Some(until),
            State::Open | State::Draining { .. } => {
                let idle = self.last_progress + self.config.idle_timeout;
                let request = self.request_deadline();
                [Some(idle), request, self.probe_at]
                    .into_iter()
                    .flatten()
                    .min()
            }
        }
    }

    /// Whether the caller should tell [`Session::handle_send_queue`] how
    /// much of what was written the peer has not acknowledged yet, before
    /// [`Session::handle_timeout`] at `now`: bytes of ours may be in flight
    /// and a probe or the idle deadline is due.
    pub fn wants_send_queue(&self, now: Instant) -> bool {
        self.written > self.acked
            && !matches!(self.state, State::Closed(_) | State::Lingering { .. })
            && (self.probe_at.is_some_and(|t| t <= now)
                || self.last_progress + self.config.idle_timeout <= now)
    }

    /// The socket's send queue holds `unacked` bytes that the peer has not
    /// acknowledged, at `now` (Linux: `SIOCOUTQ`). Bytes it acknowledged
    /// since the last report are progress, dated when this report was due
    /// (the peer took them then or before), or one probe interval before
    /// `now` if the report comes later than that: a stopped peer never
    /// looks active for more than a probe interval past its last byte, and
    /// a server that was itself late (starved of CPU) never cuts a peer
    /// that was taking bytes meanwhile. `None` where the OS cannot tell:
    /// bytes written since the last report then count as taken.
    pub fn handle_send_queue(&mut self, unacked: Option<u64>, now: Instant) {
        let acked = match unacked {
            Some(unacked) => self.written.saturating_sub(unacked),
            None => self.written,
        };
        if acked > self.acked {
            self.acked = acked;
            let late = now.checked_sub(self.config.probe_interval());
            let seen = match (self.probe_at, late) {
                (Some(due), Some(late)) => due.max(late).min(now),
                (Some(due), None) => due.min(now),
                (None, _) => now,
            };
            self.last_progress = self.last_progress.max(seen);
        }
        self.probe_at = (self.written > self.acked).then(|| now + self.config.probe_interval());
    }

    /// Closes the session if one of its deadlines passed by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed(_) => return,
            State::Lingering { reason, until } => {
                if now >= until {
                    self.close(reason, false);
                }
                return;
            }
            State::Open | State::Draining { .. } => {}
        }
        if self.request_deadline().is_some_and(|t| now >= t) {
            self.close(Reason::RequestTimeout, false);
        } else if now >= self.last_progress + self.config.idle_timeout {
            // Whatever is queued or in flight will never be taken.
            let abort = self.written > self.acked || !self.out.is_empty() || self.job.is_some();
            self.close(Reason::Idle, abort);
        } else if self.probe_at.is_some_and(|t| t <= now) {
            // Due, but not asked about: look again later rather than never.
            self.probe_at = Some(now + self.config.probe_interval());
        }
    }

    /// Whether the session is over, and how to close the connection. The
    /// caller closes it and drops the session.
    pub fn poll_close(&self) -> Option<Close> {
        match self.state {
            State::Closed(close) => Some(close),
            _ => None,
        }
    }

    fn close(&mut self, reason: Reason, abort: bool) {
        if !matches!(self.state, State::Closed(_)) {
            self.state = State::Closed(Close { reason, abort });
            self.job = None;
            self.pending = Vec::new();
            self.out = Output::default();
        }
    }

    /// When the request line being read must be complete: only while
    /// requests are read (not after `quit` or a fatal error).
    fn request_deadline(&self) -> Option<Instant> {
        match self.state {
            State::Open => self.line_started.map(|t| t + self.config.request_timeout),
            _ => None,
        }
    }

    fn note_written(&mut self, n: usize, now: Instant) {
        self.written += n as u64;
        self.budget = self.budget.saturating_sub(n);
        if self.written > self.acked && self.probe_at.is_none() {
            self.probe_at = Some(now + self.config.probe_interval());
        }
    }

    /// Starts or stops the request deadline as a request line begins or
    /// ends.
    fn note_line(&mut self, now: Instant) {
        match (self.decoder.in_line(), self.line_started) {
            (true, None) => self.line_started = Some(now),
            (false, Some(_)) => self.line_started = None,
            _ => {}
        }
    }

    /// The state changes that need no I/O: closing once nothing is left to
    /// send after the peer's end, or at a shutdown.
    fn settle(&mut self) {
        let idle_output = self.out.is_empty() && self.job.is_none();
        match self.state {
            State::Open if idle_output && self.shutting_down => self.close(Reason::Shutdown, false),
            State::Open if idle_output && self.peer_eof && self.pending.is_empty() => {
                self.close(Reason::ByPeer, false)
            }
            _ => {}
        }
    }

    /// Produces the next part of the response in flight into the queue,
    /// or answers held input; returns whether anything changed.
    fn produce<D: Files<File = F>>(&mut self, now: Instant, files: &D, scratch: &mut [u8]) -> bool {
        match &mut self.job {
            Some(Job::Raw { .. }) => false,
            Some(Job::Base64 {
                file,
                offset,
                encoder,
            }) => {
                let remaining = encoder.remaining();
                if remaining == 0 {
                    let Some(Job::Base64 { encoder, .. }) = self.job.take() else {
                        unreachable!("matched above")
                    };
                    encoder
                        .finish(self.out.append())
                        .expect("the whole slice was encoded");
                    return true;
                }
                let want = remaining.min(FILE_CHUNK.min(scratch.len()) as u64) as usize;
                match files.read_at(file, &mut scratch[..want], *offset) {
                    Ok(0) => self.close(Reason::FileShrank, true),
                    Ok(n) => {
                        let n = n.min(want);
                        *offset += n as u64;
                        encoder
                            .encode(&scratch[..n], self.out.append())
                            .expect("never more than the slice");
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // The status line is gone already: the slice can
                        // only be cut short.
                        tracing::warn!("I/O error in the middle of a slice: {e}");
                        self.close(Reason::Fatal(Status::InternalServerError), true);
                    }
                }
                true
            }
            Some(Job::Listing { names, next }) => {
                let out = self.out.append();
                while *next < names.len() && out.len() < HIGH_WATER {
                    encode_item(&names[*next], out);
                    *next += 1;
                }
                if *next == names.len() {
                    encode_end(out);
                    self.job = None;
                }
                self.budget = self.budget.saturating_sub(REQUEST_COST);
                true
            }
            None if !self.pending.is_empty() && matches!(self.state, State::Open) => {
                let before = self.pending.len();
                self.answer_pending(files);
                self.note_line(now);
                self.settle();
                self.pending.len() != before
            }
            None => false,
        }
    }

    /// Answers what [`Session::pending`] holds, as far as the queue allows.
    fn answer_pending<D: Files<File = F>>(&mut self, files: &D) {
        let pending = std::mem::take(&mut self.pending);
        let used = self.answer(&pending, files);
        if used < pending.len() && matches!(self.state, State::Open) {
            self.pending = pending;
            self.pending.drain(..used);
        }
    }

    /// Decodes requests from `input` and answers them while the session
    /// can take more; returns how many bytes were used.
    fn answer<D: Files<File = F>>(&mut self, input: &[u8], files: &D) -> usize {
        let mut used = 0;
        while used < input.len()
            && matches!(self.state, State::Open)
            && !self.shutting_down
            && self.job.is_none()
            && !self.out.is_full()
            && self.budget > 0
        {
            let step = self.decoder.decode(&input[used..]);
            used += step.consumed;
            let Some(item) = step.item else { break };
            // That line is complete: its deadline is over. One the same
            // bytes began is timed from now (see `note_line`).
            self.line_started = None;
            self.budget = self.budget.saturating_sub(REQUEST_COST);
            let out = self.out.append();
            match item {
                Ok(request) => {
                    tracing::debug!("Request: {request}");
                    answer_request(
                        request,
                        files,
                        out,
                        &mut self.job,
                        &mut self.state,
                        &mut self.budget,
                    );
                }
                Err(err) => {
                    tracing::debug!("Bad request ({}): {err}", err.status().code());
                    encode_status(err.status(), out);
                    if err.is_fatal() {
                        self.state = State::Draining {
                            reason: Reason::Fatal(err.status()),
                        };
                    }
                }
            }
        }
        if !matches!(self.state, State::Open) {
            // Nothing after a fatal error or quit is answered.
            return input.len();
        }
        used
    }
}

/// Answers one well-formed request into `out`; a slice or listing becomes
/// the `job` in flight. A listing is charged to the turn's `budget` by
/// its names.
fn answer_request<D: Files>(
    request: Request<'_>,
    files: &D,
    out: &mut Vec<u8>,
    job: &mut Option<Job<D::File>>,
    state: &mut State,
    budget: &mut usize,
) {
    let mut internal_error = |e: std::io::Error, out: &mut Vec<u8>| {
        tracing::warn!("I/O error while serving a request: {e}");
        encode_status(Status::InternalServerError, out);
        *state = State::Draining {
            reason: Reason::Fatal(Status::InternalServerError),
        };
    };
    match request {
        Request::GetFileListing => match files.list() {
            Ok(names) => {
                encode_status(Status::Ok, out);
                *budget = budget.saturating_sub(names.len().saturating_mul(LISTING_NAME_COST));
                *job = Some(Job::Listing { names, next: 0 });
            }
            Err(e) => internal_error(e, out),
        },
        Request::GetMetadata { name } => match files.size(name) {
            Ok(size) => {
                encode_status(Status::Ok, out);
                encode_size(size, out);
            }
            Err(Lookup::NotFound) => encode_status(Status::FileNotFound, out),
            Err(Lookup::Io(e)) => internal_error(e, out),
        },
        Request::GetSlice(slice) => match files.open(slice.name) {
            Ok((file, size)) if slice.fits(size) => {
                encode_status(Status::Ok, out);
                if slice.raw {
                    encode_raw_header(slice.size, out);
                    if slice.size > 0 {
                        *job = Some(Job::Raw {
                            file,
                            offset: slice.offset,
                            remaining: slice.size,
                        });
                    }
                } else {
                    *job = Some(Job::Base64 {
                        file,
                        offset: slice.offset,
                        encoder: SliceEncoder::new(slice.size),
                    });
                }
            }
            Ok(_) => encode_status(Status::OffsetExceedsFileSize, out),
            Err(Lookup::NotFound) => encode_status(Status::FileNotFound, out),
            Err(Lookup::Io(e)) => internal_error(e, out),
        },
        Request::Help => Response::Help.encode(out),
        Request::Quit => {
            encode_status(Status::Ok, out);
            *state = State::Draining {
                reason: Reason::Quit,
            };
        }
    }
}
