//! Request events: what a [`Session`](crate::session::Session) reports
//! once a request's answer has been handed to the socket in full, for
//! metrics and request logs, and the bounded queue that holds them.
//!
//! An answer's end is known as a count of bytes written on the
//! connection: when the session has written that many, the answer is
//! handed over. Answers go strictly in order, so the answers produced and
//! not yet handed over form a queue sorted by their ends. It holds at most
//! [`MAX_EVENTS`] (the session answers no more requests until it has
//! room), and so does the queue of events ready to be polled (the oldest
//! is dropped, and counted, when a caller does not drain it).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hftp_proto::{Request, Status};

/// The most characters of a request line an event keeps.
pub const MAX_LINE_SHOWN: usize = 200;

/// `shown` cut to [`MAX_LINE_SHOWN`] characters, kept only when request
/// logs are wanted (a `debug` event), so that nothing is allocated per
/// request otherwise.
fn line(shown: impl std::fmt::Display) -> Option<Box<str>> {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return None;
    }
    let mut s = shown.to_string();
    if s.len() > MAX_LINE_SHOWN {
        let mut end = MAX_LINE_SHOWN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    Some(s.into_boxed_str())
}

/// The most answers kept waiting to be handed over, and the most events
/// kept ready to be polled, per session: as many requests as one turn may
/// answer.
pub const MAX_EVENTS: usize = crate::session::TURN_BUDGET / crate::session::REQUEST_COST;

/// The command a request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Command {
    /// `get_file_listing`.
    GetFileListing,
    /// `get_metadata`.
    GetMetadata,
    /// `get_slice` (either mode).
    GetSlice,
    /// `help`.
    Help,
    /// `quit`.
    Quit,
    /// A line that is no valid request (unknown command, bad argument,
    /// bad line ending, too long).
    Invalid,
}

impl Command {
    /// Every command, in a fixed order (label sets are made from it).
    pub const ALL: [Command; 6] = [
        Command::GetFileListing,
        Command::GetMetadata,
        Command::GetSlice,
        Command::Help,
        Command::Quit,
        Command::Invalid,
    ];

    /// The command's name on the wire (`invalid` for an invalid line).
    pub fn as_str(self) -> &'static str {
        match self {
            Command::GetFileListing => "get_file_listing",
            Command::GetMetadata => "get_metadata",
            Command::GetSlice => "get_slice",
            Command::Help => "help",
            Command::Quit => "quit",
            Command::Invalid => "invalid",
        }
    }
}

/// How a slice's payload went on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadMode {
    /// Base64 (`get_slice name offset size`).
    Base64,
    /// Raw bytes (`get_slice name offset size raw`).
    Raw,
}

impl PayloadMode {
    /// `base64` or `raw`.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadMode::Base64 => "base64",
            PayloadMode::Raw => "raw",
        }
    }
}

/// One request whose answer was handed to the socket in full.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestEvent {
    /// What the request was.
    pub command: Command,
    /// The answer's status.
    pub status: Status,
    /// File bytes the answer carried (a slice's size; `0` for every other
    /// answer and for a slice answered with an error).
    pub payload: u64,
    /// How the payload went (`None` when the answer has none).
    pub mode: Option<PayloadMode>,
    /// From the request's decoding to its answer's last byte handed to the
    /// socket, in the session's clock.
    pub duration: Duration,
    /// The request as displayed (for an invalid line, what was wrong with
    /// it), at most [`MAX_LINE_SHOWN`] characters; only kept while `debug`
    /// events are enabled (request logs).
    pub line: Option<Box<str>>,
}

/// The request being answered, until its answer is produced.
#[derive(Debug)]
pub(crate) struct Answering {
    command: Command,
    line: Option<Box<str>>,
    mode: Option<PayloadMode>,
    /// The payload of a slice whose answer is being produced.
    pub(crate) payload: u64,
    started: Instant,
}

impl Answering {
    /// A request decoded at `now`.
    pub(crate) fn new(request: &Request<'_>, now: Instant) -> Self {
        let (command, mode) = match request {
            Request::GetFileListing => (Command::GetFileListing, None),
            Request::GetMetadata { .. } => (Command::GetMetadata, None),
            Request::GetSlice(s) if s.raw => (Command::GetSlice, Some(PayloadMode::Raw)),
            Request::GetSlice(_) => (Command::GetSlice, Some(PayloadMode::Base64)),
            Request::Help => (Command::Help, None),
            Request::Quit => (Command::Quit, None),
        };
        Answering {
            command,
            line: line(request),
            mode,
            payload: 0,
            started: now,
        }
    }

    /// An invalid line decoded at `now`.
    pub(crate) fn invalid(err: &impl std::fmt::Display, now: Instant) -> Self {
        Answering {
            command: Command::Invalid,
            line: line(err),
            mode: None,
            payload: 0,
            started: now,
        }
    }

    /// Its answer, with this status and payload, is produced.
    pub(crate) fn finish(self, status: Status, payload: u64) -> Produced {
        let mode = if status == Status::Ok {
            self.mode
        } else {
            None
        };
        Produced {
            command: self.command,
            line: self.line,
            status,
            payload: if mode.is_some() { payload } else { 0 },
            mode,
            started: self.started,
        }
    }
}

/// An answer produced, waiting to be handed over.
#[derive(Debug)]
pub(crate) struct Produced {
    command: Command,
    line: Option<Box<str>>,
    status: Status,
    payload: u64,
    mode: Option<PayloadMode>,
    started: Instant,
}

/// A session's answers waiting to be handed over, and its events ready.
#[derive(Debug, Default)]
pub(crate) struct Events {
    /// Answers produced, with the count of bytes written at which each is
    /// handed over; sorted by it.
    waiting: VecDeque<(u64, Produced)>,
    ready: VecDeque<RequestEvent>,
    dropped: u64,
}

impl Events {
    /// Whether another answer may be produced.
    pub(crate) fn has_room(&self) -> bool {
        self.waiting.len() < MAX_EVENTS
    }

    /// An answer is produced, handed over once `end` bytes are written
    /// (`written` are already: an empty answer cannot be, so `end` is
    /// later).
    pub(crate) fn produced(&mut self, answer: Produced, end: u64, written: u64) {
        debug_assert!(end > written, "every answer has a status line");
        self.waiting.push_back((end, answer));
    }

    /// `written` bytes in all are written at `now`.
    pub(crate) fn written(&mut self, written: u64, now: Instant) {
        while self.waiting.front().is_some_and(|(end, _)| *end <= written) {
            let Some((_, a)) = self.waiting.pop_front() else {
                break;
            };
            if self.ready.len() == MAX_EVENTS {
                self.ready.pop_front();
                self.dropped += 1;
            }
            self.ready.push_back(RequestEvent {
                command: a.command,
                status: a.status,
                payload: a.payload,
                mode: a.mode,
                duration: now.saturating_duration_since(a.started),
                line: a.line,
            });
        }
    }

    /// The oldest event ready.
    pub(crate) fn poll(&mut self) -> Option<RequestEvent> {
        self.ready.pop_front()
    }

    /// Events dropped because they were not polled in time.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}
