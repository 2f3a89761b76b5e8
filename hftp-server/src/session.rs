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
//!   ([`Transmit`]: bytes, or shutting the write side), then
//!   [`Session::handle_written`] with how much the socket took;
//! - [`Session::poll_file_request`] for the file-system work a request
//!   needs ([`FileRequest`]: a listing, a size, an open, a read), done
//!   wherever and whenever the caller likes, then
//!   [`Session::handle_file_reply`] with its outcome;
//! - [`Session::poll_timeout`] for when to call [`Session::handle_timeout`],
//!   and [`Session::wants_send_queue`] / [`Session::handle_send_queue`] to
//!   learn whether the peer acknowledged what was written;
//! - [`Session::poll_close`] for whether, and how, to close.
//!
//! The session never touches a file system: the server answers its
//! requests on a pool of blocking threads, tests and fuzzing with
//! [`perform`](crate::files::perform) over
//! [`MemoryFiles`](crate::files::MemoryFiles). At most one request is out
//! at a time (answers go strictly in order), and one not answered within
//! [`SessionConfig::fs_timeout`] is answered `199` for the client, so that
//! a hung file system costs the clients that touch it, no one else.
//!
//! The promises of docs/PROTOCOL.md §4 live here: answers strictly in order, at
//! most [`MAX_QUEUED`] bytes queued whatever the socket accepts, a bounded
//! amount of work per turn ([`Session::begin_turn`]) so that one client
//! cannot hold a worker, an idle timeout that counts only what the peer
//! did (bytes received, or bytes of ours it acknowledged; time spent
//! waiting for the file system is not the peer's), a deadline for each
//! request line, a lingering close after fatal errors and `quit`,
//! and an abortive close (reset) when a slice can never be completed.
//!
//! An example that drives one session by hand is in the crate's docs.

use std::fmt;
use std::time::{Duration, Instant};

use hftp_proto::response::{encode_raw_header, encode_size, encode_status};
use hftp_proto::{Request, RequestDecoder, Response, SliceEncoder, Status};

use crate::events::{Answering, Events};
pub use crate::events::{Command, PayloadMode, RequestEvent, MAX_EVENTS, MAX_LINE_SHOWN};
use crate::files::{FileReply, FileRequest, Listing};
use crate::output::Output;
pub use crate::output::{HIGH_WATER, MAX_QUEUED};
use hftp_proto::FileName;

/// The most file bytes one [`FileRequest::Read`] asks for: a multiple of
/// 3, so that every chunk of a base64 slice is whole base64 groups.
pub const FILE_CHUNK: usize = 96 * 1024;

/// The most one [`FileRequest::Send`] of a raw slice asks for.
pub const RAW_CHUNK: usize = 1024 * 1024;

/// The most of a shared listing handed out in one [`Transmit::Bytes`].
const LISTING_CHUNK: usize = 256 * 1024;

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
    /// The hard limit on a request line (docs/PROTOCOL.md §2.3).
    pub max_request_bytes: usize,
    /// How long a lingering close waits for the peer to stop sending.
    pub linger: Duration,
    /// A [`FileRequest`] not answered this long after it was made is given
    /// up: the request is answered `199` (or, in the middle of a slice,
    /// the connection is reset).
    pub fs_timeout: Duration,
}

impl Default for SessionConfig {
    /// The `hftp-server` command line's defaults.
    fn default() -> Self {
        SessionConfig {
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            max_request_bytes: RequestDecoder::DEFAULT_MAX_LINE,
            linger: Duration::from_secs(2),
            fs_timeout: Duration::from_secs(10),
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
pub enum Transmit<'a> {
    /// Write these bytes, then call [`Session::handle_written`] with how
    /// many the socket took.
    Bytes(&'a [u8]),
    /// Shut down the write side of the socket (the peer sees the end of
    /// the stream), then keep reading and handing the bytes in until the
    /// peer closes: a lingering close (docs/PROTOCOL.md §2).
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
    /// The file system did not answer within the file-system deadline
    /// (after `199`, or in the middle of a slice).
    FileSystemTimeout,
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
            Reason::FileSystemTimeout => f.write_str("the file system did not answer in time"),
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
    /// A raw slice: the file, where to read next, and how much remains.
    Raw {
        file: F,
        offset: u64,
        remaining: u64,
    },
    /// A listing, handed to the socket straight from its (shared) body.
    Listing { body: Listing, sent: usize },
}

/// A file-system request made and not answered yet.
#[derive(Debug)]
struct Asked {
    what: Wanted,
    /// When it was made: the file-system deadline runs from here.
    at: Instant,
    /// Whether the caller took it ([`Session::poll_file_request`]).
    polled: bool,
}

#[derive(Debug)]
enum Wanted {
    List,
    Size(String),
    Open {
        name: String,
        offset: u64,
        size: u64,
        raw: bool,
    },
    /// The next chunk of the slice in flight, into the queue.
    Read {
        len: usize,
    },
    /// The next chunk of the raw slice in flight, onto the socket or into
    /// the queue (which is empty).
    Send {
        len: usize,
    },
}

/// One client connection's protocol state. `F` is the open-file type the
/// caller hands back in [`FileReply::Opened`].
#[derive(Debug)]
pub struct Session<F> {
    config: SessionConfig,
    decoder: RequestDecoder,
    /// Bytes handed in but not yet decoded, kept while answers wait.
    pending: Vec<u8>,
    /// How much of `pending` is answered already (dropped when more is
    /// added, not after each request: a long pipeline is not moved down
    /// once per request).
    pending_from: usize,
    out: Output,
    job: Option<Job<F>>,
    asked: Option<Asked>,
    state: State,
    peer_eof: bool,
    shutting_down: bool,
    /// When the peer last did something: sent a byte, or acknowledged one.
    last_progress: Instant,
    /// When the file system last answered a request it made the session
    /// wait for: the idle timeout does not run while the session waits,
    /// and starts again from the answer.
    fs_answered: Instant,
    line_started: Option<Instant>,
    /// Bytes handed to the socket so far.
    written: u64,
    /// Of those, how many the peer is known to have taken.
    acked: u64,
    /// When to ask about the send queue next, while `written > acked`.
    probe_at: Option<Instant>,
    /// What this turn may still do.
    budget: usize,
    /// The request being answered, until its answer is produced.
    answering: Option<Answering>,
    /// Answers produced and not yet handed over, and events ready.
    events: Events,
}

impl<F> Session<F> {
    /// A session for a connection accepted at `now`.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        Session {
            decoder: RequestDecoder::with_max_line(config.max_request_bytes),
            config,
            pending: Vec::new(),
            pending_from: 0,
            out: Output::default(),
            job: None,
            asked: None,
            state: State::Open,
            peer_eof: false,
            shutting_down: false,
            last_progress: now,
            fs_answered: now,
            line_started: None,
            written: 0,
            acked: 0,
            probe_at: None,
            budget: TURN_BUDGET,
            answering: None,
            events: Events::default(),
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
    /// [`MAX_QUEUED`]; a listing is sent from its shared body and not
    /// counted).
    pub fn queued(&self) -> usize {
        self.out.len()
    }

    /// Bytes of memory the queue holds.
    pub fn queue_capacity(&self) -> usize {
        self.out.capacity()
    }

    /// Whether a slice is being answered: from its status line to the
    /// production of its last payload byte.
    pub fn sends_slice(&self) -> bool {
        matches!(self.job, Some(Job::Base64 { .. } | Job::Raw { .. }))
    }

    /// Whether a [`FileRequest`] is out, not answered yet.
    pub fn waits_for_files(&self) -> bool {
        self.asked.is_some()
    }

    /// Whether the session would take input now. While it would not (its
    /// answers are waiting for the socket or the file system, or it still
    /// holds unanswered input), the caller stops reading, which holds the
    /// client back.
    pub fn wants_input(&self) -> bool {
        if self.budget == 0 {
            return false;
        }
        match self.state {
            State::Open => {
                !self.peer_eof && !self.shutting_down && !self.has_pending() && self.asked.is_none()
            }
            State::Lingering { .. } => true,
            State::Draining { .. } | State::Closed(_) => false,
        }
    }

    /// Bytes read from the peer at `now`.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
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
        if !self.has_pending() {
            let used = self.answer(data, now);
            if used < data.len() && matches!(self.state, State::Open) {
                self.pending.clear();
                self.pending_from = 0;
                self.pending.extend_from_slice(&data[used..]);
            }
        } else {
            self.pending.drain(..self.pending_from);
            self.pending_from = 0;
            self.pending.extend_from_slice(data);
            self.answer_pending(now);
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
        self.pending_from = 0;
        self.settle();
    }

    /// What to put on the socket next, if anything; `None` when the
    /// session waits for input, for the file system, for the next turn,
    /// or is closed. Produces the next part of a response when the queue
    /// has room.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<'_>> {
        if matches!(self.state, State::Closed(_)) {
            return None;
        }
        self.produce_while_room(now);
        if !self.out.is_empty() {
            return Some(Transmit::Bytes(self.out.unsent()));
        }
        if self.budget == 0 {
            return None;
        }
        if matches!(self.job, Some(Job::Listing { .. })) {
            let Some(Job::Listing { body, sent }) = &self.job else {
                unreachable!("matched above")
            };
            let rest = &body.as_bytes()[*sent..];
            let len = rest.len().min(LISTING_CHUNK).min(self.budget);
            return Some(Transmit::Bytes(&rest[..len]));
        }
        if let State::Draining { reason } = self.state {
            if self.job.is_none() && self.asked.is_none() {
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
        None
    }

    /// The socket took `n` bytes of the last [`Transmit::Bytes`] at `now`.
    pub fn handle_written(&mut self, n: usize, now: Instant) {
        if !self.out.is_empty() {
            self.out.consume(n);
        } else if let Some(Job::Listing { body, sent }) = &mut self.job {
            *sent += n;
            if *sent >= body.as_bytes().len() {
                self.job = None;
            }
        }
        self.note_written(n, now);
        if self.job.is_none() {
            self.out.release();
        }
        self.settle();
    }

    /// The file-system work to do next, if any, at `now`: do it (the
    /// session does not mind how long it takes, up to
    /// [`SessionConfig::fs_timeout`]), then call
    /// [`Session::handle_file_reply`] with the outcome. Each request is
    /// handed out once; no other is made until it is answered. Answers
    /// held input first, as far as the queue and the turn allow: a caller
    /// that answers at once (from a cache) and asks again before writing
    /// sends a pipeline's answers in one write.
    pub fn poll_file_request(&mut self, now: Instant) -> Option<FileRequest<'_, F>> {
        if matches!(self.state, State::Closed(_)) {
            return None;
        }
        self.produce_while_room(now);
        let asked = self.asked.as_mut().filter(|a| !a.polled)?;
        asked.polled = true;
        Some(match &asked.what {
            Wanted::List => FileRequest::List,
            // Names were checked when the request was decoded.
            Wanted::Size(name) => FileRequest::Size(FileName::new(name).ok()?),
            Wanted::Open { name, .. } => FileRequest::Open(FileName::new(name).ok()?),
            Wanted::Read { len } => match &self.job {
                Some(Job::Base64 { file, offset, .. } | Job::Raw { file, offset, .. }) => {
                    FileRequest::Read {
                        file,
                        offset: *offset,
                        len: *len,
                    }
                }
                _ => return None,
            },
            Wanted::Send { len } => match &self.job {
                Some(Job::Raw { file, offset, .. }) => FileRequest::Send {
                    file,
                    offset: *offset,
                    len: *len,
                },
                _ => return None,
            },
        })
    }

    /// The outcome of the last [`FileRequest`], at `now`. A reply that
    /// comes after the session gave up on it (or closed) is ignored.
    pub fn handle_file_reply(&mut self, reply: FileReply<'_, F>, now: Instant) {
        let Some(asked) = self.asked.take_if(|a| a.polled) else {
            return;
        };
        // A reply that came later than the request: the idle timeout,
        // which did not run meanwhile, starts again from it. One given at
        // once (from a cache) changes nothing: the peer did nothing.
        if now > asked.at {
            self.fs_answered = now;
        }
        let out = self.out.append();
        match (asked.what, reply) {
            (Wanted::Send { len }, FileReply::Sent(n)) => self.handle_sent(n.min(len), now),
            (Wanted::Read { len } | Wanted::Send { len }, reply) => self.handle_read(len, reply),
            (Wanted::List, FileReply::Listing(body)) => {
                encode_status(Status::Ok, out);
                let end = self.written + self.out.len() as u64 + body.as_bytes().len() as u64;
                self.answered(Status::Ok, 0, end);
                self.job = Some(Job::Listing { body, sent: 0 });
            }
            (Wanted::Size(_), FileReply::Size(size)) => {
                encode_status(Status::Ok, out);
                encode_size(size, out);
                self.answered_queued(Status::Ok);
            }
            (
                Wanted::Open {
                    offset, size, raw, ..
                },
                FileReply::Opened {
                    file,
                    size: file_size,
                },
            ) => {
                // As `hftp_proto::Slice::fits`: no overflow.
                if u128::from(offset) + u128::from(size) > u128::from(file_size) {
                    encode_status(Status::OffsetExceedsFileSize, out);
                    self.answered_queued(Status::OffsetExceedsFileSize);
                } else if raw {
                    encode_status(Status::Ok, out);
                    encode_raw_header(size, out);
                    let end = self.written + self.out.len() as u64 + size;
                    self.answered(Status::Ok, size, end);
                    if size > 0 {
                        self.job = Some(Job::Raw {
                            file,
                            offset,
                            remaining: size,
                        });
                    }
                } else {
                    encode_status(Status::Ok, out);
                    if let Some(a) = &mut self.answering {
                        a.payload = size;
                    }
                    self.job = Some(Job::Base64 {
                        file,
                        offset,
                        encoder: SliceEncoder::new(size),
                    });
                }
            }
            (Wanted::Size(_) | Wanted::Open { .. }, FileReply::NotFound) => {
                encode_status(Status::FileNotFound, out);
                self.answered_queued(Status::FileNotFound);
            }
            (_, reply) => {
                match reply {
                    FileReply::Failed(e) => {
                        tracing::warn!("I/O error while serving a request: {e}")
                    }
                    _ => tracing::error!("a file reply that does not answer the request"),
                }
                encode_status(Status::InternalServerError, out);
                self.answered_queued(Status::InternalServerError);
                self.state = State::Draining {
                    reason: Reason::Fatal(Status::InternalServerError),
                };
            }
        }
        self.settle();
    }

    /// When [`Session::handle_timeout`] is due next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed(_) => None,
            State::Lingering { until, .. } => Some(until),
            State::Open | State::Draining { .. } => {
                let fs = self.asked.as_ref().map(|a| a.at + self.config.fs_timeout);
                [
                    self.idle_deadline(),
                    self.request_deadline(),
                    self.probe_at,
                    fs,
                ]
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
                || self.idle_deadline().is_some_and(|t| t <= now))
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

    /// Handles the deadlines that passed by `now`: the file system's, the
    /// request line's, the idle timeout, a probe that was not made.
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
        if self
            .asked
            .as_ref()
            .is_some_and(|a| now >= a.at + self.config.fs_timeout)
        {
            self.give_up_on_files(now);
        } else if self.request_deadline().is_some_and(|t| now >= t) {
            self.close(Reason::RequestTimeout, false);
        } else if self.idle_deadline().is_some_and(|t| now >= t) {
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

    /// The next [`RequestEvent`]: a request whose answer was handed to the
    /// socket in full (status line and payload), oldest first. Drain it
    /// every turn: at most [`MAX_EVENTS`] are kept (older ones are dropped
    /// and counted, see [`Session::dropped_events`]).
    pub fn poll_event(&mut self) -> Option<RequestEvent> {
        self.events.poll()
    }

    /// How many events were dropped because they were not drained in time.
    pub fn dropped_events(&self) -> u64 {
        self.events.dropped()
    }

    /// The answer to the request being answered is produced: it is handed
    /// over once `end` bytes in all have been written.
    fn answered(&mut self, status: Status, payload: u64, end: u64) {
        if let Some(a) = self.answering.take() {
            self.events
                .produced(a.finish(status, payload), end, self.written);
        }
    }

    /// An answer made of what is queued now (status lines, a size): handed
    /// over once the queue is.
    fn answered_queued(&mut self, status: Status) {
        let end = self.written + self.out.len() as u64;
        self.answered(status, 0, end);
    }

    fn close(&mut self, reason: Reason, abort: bool) {
        if !matches!(self.state, State::Closed(_)) {
            self.state = State::Closed(Close { reason, abort });
            self.job = None;
            self.asked = None;
            self.pending = Vec::new();
            self.pending_from = 0;
            self.out = Output::default();
        }
    }

    /// The file system did not answer in time: the request is answered
    /// `199`, or, in the middle of a slice (its status sent already), the
    /// connection is reset. A reply that comes later is ignored.
    fn give_up_on_files(&mut self, now: Instant) {
        let Some(asked) = self.asked.take() else {
            return;
        };
        // The wait was the server's: the idle timeout starts again now, so
        // that the `199` is not dropped by an idle close due meanwhile.
        self.fs_answered = now;
        tracing::warn!(
            "the file system did not answer within {:?}; answering 199",
            self.config.fs_timeout
        );
        if matches!(asked.what, Wanted::Read { .. } | Wanted::Send { .. }) {
            self.close(Reason::FileSystemTimeout, true);
        } else {
            encode_status(Status::InternalServerError, self.out.append());
            self.answered_queued(Status::InternalServerError);
            self.state = State::Draining {
                reason: Reason::FileSystemTimeout,
            };
        }
    }

    /// The next chunk of the slice in flight came back.
    fn handle_read(&mut self, len: usize, reply: FileReply<'_, F>) {
        let data = match reply {
            FileReply::Data(data) if !data.is_empty() => &data[..data.len().min(len)],
            FileReply::Data(_) => return self.close(Reason::FileShrank, true),
            other => {
                if let FileReply::Failed(e) = other {
                    tracing::warn!("I/O error in the middle of a slice: {e}");
                }
                // The status line is gone already: the slice can only be
                // cut short.
                return self.close(Reason::Fatal(Status::InternalServerError), true);
            }
        };
        let out = self.out.append();
        match &mut self.job {
            Some(Job::Base64 {
                offset, encoder, ..
            }) => {
                *offset += data.len() as u64;
                encoder
                    .encode(data, out)
                    .expect("never more than the slice");
            }
            Some(Job::Raw {
                offset, remaining, ..
            }) => {
                *offset += data.len() as u64;
                *remaining -= data.len() as u64;
                out.extend_from_slice(data);
                if *remaining == 0 {
                    self.job = None;
                }
            }
            _ => {}
        }
    }

    /// `n` bytes of the raw slice in flight went onto the socket (`0`:
    /// none yet; the next is asked when the session is driven again).
    fn handle_sent(&mut self, n: usize, now: Instant) {
        if n == 0 {
            return;
        }
        if let Some(Job::Raw {
            offset, remaining, ..
        }) = &mut self.job
        {
            *offset += n as u64;
            *remaining = remaining.saturating_sub(n as u64);
            if *remaining == 0 {
                self.job = None;
                self.out.release();
            }
        }
        self.note_written(n, now);
    }

    /// Makes a file-system request at `now`.
    fn ask(&mut self, what: Wanted, now: Instant) {
        self.asked = Some(Asked {
            what,
            at: now,
            polled: false,
        });
    }

    /// When the idle timeout ends: not while the session waits for the
    /// file system (the peer waits too), and counted from its answer.
    fn idle_deadline(&self) -> Option<Instant> {
        if self.asked.is_some() {
            return None;
        }
        Some(self.last_progress.max(self.fs_answered) + self.config.idle_timeout)
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
        self.events.written(self.written, now);
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
        let idle_output = self.out.is_empty() && self.job.is_none() && self.asked.is_none();
        match self.state {
            State::Open if idle_output && self.shutting_down => self.close(Reason::Shutdown, false),
            State::Open if idle_output && self.peer_eof && !self.has_pending() => {
                self.close(Reason::ByPeer, false)
            }
            _ => {}
        }
    }

    /// Produces (and answers held input) while the turn and the queue
    /// allow, until something must wait.
    fn produce_while_room(&mut self, now: Instant) {
        while self.budget > 0 && !self.out.is_full() && self.produce(now) {}
    }

    /// Produces the next part of the response in flight into the queue,
    /// asks for the file bytes it needs, or answers held input; returns
    /// whether anything was produced.
    fn produce(&mut self, now: Instant) -> bool {
        if self.asked.is_some() {
            return false;
        }
        let remaining = match &self.job {
            Some(Job::Listing { .. }) => return false,
            Some(Job::Base64 { encoder, .. }) => encoder.remaining(),
            Some(Job::Raw { remaining, .. }) => *remaining,
            None if self.has_pending() && matches!(self.state, State::Open) => {
                let before = self.pending.len() - self.pending_from;
                self.answer_pending(now);
                self.note_line(now);
                self.settle();
                return self.pending.len() - self.pending_from != before;
            }
            None => return false,
        };
        if remaining > 0 {
            let raw = matches!(self.job, Some(Job::Raw { .. }));
            let what = if raw && self.out.is_empty() {
                // Nothing queued: the bytes may go straight to the socket.
                let len = remaining.min(RAW_CHUNK.min(self.budget) as u64) as usize;
                Wanted::Send { len }
            } else {
                let len = remaining.min(FILE_CHUNK as u64) as usize;
                Wanted::Read { len }
            };
            self.ask(what, now);
            return false;
        }
        if let Some(Job::Base64 { encoder, .. }) = self.job.take() {
            encoder
                .finish(self.out.append())
                .expect("the whole slice was encoded");
            let payload = self.answering.as_ref().map_or(0, |a| a.payload);
            let end = self.written + self.out.len() as u64;
            self.answered(Status::Ok, payload, end);
        }
        true
    }

    /// Answers what [`Session::pending`] holds, as far as the queue allows.
    fn answer_pending(&mut self, now: Instant) {
        let pending = std::mem::take(&mut self.pending);
        let from = self.pending_from + self.answer(&pending[self.pending_from..], now);
        if from < pending.len() && matches!(self.state, State::Open) {
            self.pending = pending;
            self.pending_from = from;
        } else {
            self.pending_from = 0;
        }
    }

    /// Whether input is held, not answered yet.
    fn has_pending(&self) -> bool {
        self.pending_from < self.pending.len()
    }

    /// Decodes requests from `input` and answers them while the session
    /// can take more; returns how many bytes were used. A request that
    /// needs the file system makes a [`FileRequest`] and stops the loop
    /// until it is answered.
    fn answer(&mut self, input: &[u8], now: Instant) -> usize {
        let mut used = 0;
        while used < input.len()
            && matches!(self.state, State::Open)
            && !self.shutting_down
            && self.job.is_none()
            && self.asked.is_none()
            && !self.out.is_full()
            && self.budget > 0
            && self.events.has_room()
        {
            let step = self.decoder.decode(&input[used..]);
            used += step.consumed;
            let Some(item) = step.item else { break };
            // That line is complete: its deadline is over. One the same
            // bytes began is timed from now (see `note_line`).
            self.line_started = None;
            self.budget = self.budget.saturating_sub(REQUEST_COST);
            match item {
                Ok(request) => {
                    tracing::debug!("Request: {request}");
                    self.answering = Some(Answering::new(&request, now));
                    let answer = Answer::to(request);
                    self.answer_request(answer, now);
                }
                Err(err) => {
                    tracing::debug!("Bad request ({}): {err}", err.status().code());
                    encode_status(err.status(), self.out.append());
                    self.answering = Some(Answering::invalid(&err, now));
                    self.answered_queued(err.status());
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

    /// Answers one well-formed request, or asks the file system for what
    /// its answer needs.
    fn answer_request(&mut self, answer: Answer, now: Instant) {
        match answer {
            Answer::Ask(what) => self.ask(what, now),
            Answer::Help => {
                Response::Help.encode(self.out.append());
                self.answered_queued(Status::Ok);
            }
            Answer::Quit => {
                encode_status(Status::Ok, self.out.append());
                self.answered_queued(Status::Ok);
                self.state = State::Draining {
                    reason: Reason::Quit,
                };
            }
        }
    }
}

/// What a request calls for, owning what it needs (the request itself
/// borrows the decoder).
enum Answer {
    Ask(Wanted),
    Help,
    Quit,
}

impl Answer {
    fn to(request: Request<'_>) -> Answer {
        match request {
            Request::GetFileListing => Answer::Ask(Wanted::List),
            Request::GetMetadata { name } => Answer::Ask(Wanted::Size(name.as_str().to_owned())),
            Request::GetSlice(slice) => Answer::Ask(Wanted::Open {
                name: slice.name.as_str().to_owned(),
                offset: slice.offset,
                size: slice.size,
                raw: slice.raw,
            }),
            Request::Help => Answer::Help,
            Request::Quit => Answer::Quit,
        }
    }
}
