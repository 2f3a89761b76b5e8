//! Fuzz target: the sans-IO server session (`hftp_server::session::Session`)
//! over an in-memory directory (`hftp_server::files::MemoryFiles`), with a
//! fake socket and a fake clock.
//!
//! Input layout (byte-oriented, so that libFuzzer's mutations stay local;
//! bytes past the end read as 0):
//!
//! * byte 0: configuration. Bits 0–1: the request line limit, from
//!   [`MAX_LINES`]; bit 2: a third file `c.bin`; bit 3: an unreadable
//!   file `locked` (`MemoryFiles::insert_unreadable`).
//! * bytes 1–9: three times (class, lo, hi), the sizes of `a`, `b.txt` and
//!   `c.bin` (see [`file_size`]: up to 255 B, up to 64 KiB, up to 300 KiB,
//!   or one of the sizes around `FILE_CHUNK` and `HIGH_WATER`), and the
//!   seed of their pattern bytes;
//! * byte 10: the size of `locked`, in units of 1,201 bytes;
//! * the rest: a schedule of operations, one opcode byte (`op % 16`, see
//!   [`Run::step`]) and its argument bytes each. Some operations are the
//!   client *sending* (appended to the socket's receive buffer, at most
//!   [`STREAM_CAP`] bytes in all): a line from the request table
//!   [`LINES`], a `get_slice` built from argument bytes with a range
//!   chosen relative to the file's size (fits, ends at the end, one past
//!   the end, overflowing, around `FILE_CHUNK`...), up to 16 literal bytes,
//!   or a run of one byte (long lines). The others are the server's side:
//!   read a chunk of fuzzer-chosen size when `wants_input()` (then the
//!   client's EOF, once it closed and everything was read); write with a
//!   socket that accepts N bytes per call (N = 0: `WouldBlock`, 1, small,
//!   up to 300 KiB, unlimited), a few calls or until `poll_transmit` has
//!   nothing; end a raw range early (`handle_file_sent(0)`); a whole turn
//!   the way `conn.rs` drives one; `begin_turn`; advance the clock (0 ms to
//!   120 s) and, when a deadline is due (or forced), `wants_send_queue` /
//!   `handle_send_queue` (with a fuzzer-chosen share of what was written
//!   still unacknowledged, or `None`) / `handle_timeout`; truncate a file;
//!   `handle_eof`; `handle_shutdown`.
//!
//! After the schedule the session is driven to the end without the clock
//! moving: everything the client sent is read, every write is taken whole,
//! a new turn is begun while the last one was spent, and finally the
//! client closes (`handle_eof`).
//!
//! `SESSION_TRACE=1` in the environment prints each operation and read.
//!
//! Session limits: idle timeout 5 s, request timeout 3 s, linger 2 s (the
//! default), the fuzzer-chosen line limit. The clock is one `Instant`
//! taken per input plus a monotonic offset.
//!
//! Checks:
//!
//! 1. no panic (fuzz builds keep debug assertions and overflow checks);
//! 2. `queued() <= MAX_QUEUED` after every call into the session;
//! 3. bounded work: a `Transmit::Bytes` is never empty and a
//!    `Transmit::File` asks for 1..=`RAW_CHUNK` bytes inside the file; one
//!    turn hands the socket fewer than `TURN_BUDGET + MAX_QUEUED` bytes (the
//!    budget, plus the one queue the last write of a turn may take); a loop
//!    over `poll_transmit` with an unlimited socket ends within
//!    [`MAX_TRANSMITS`] calls, a `conn.rs`-style turn within
//!    [`MAX_TURN_STEPS`] steps, and the final drive within [`MAX_ROUNDS`]
//!    turns; when `poll_transmit` gives nothing and the turn is not spent,
//!    nothing is queued;
//! 4. once `poll_close()` is `Some` it stays the same, `poll_transmit`
//!    gives nothing, `wants_input()` is false and `poll_timeout()` is
//!    `None`; after `Transmit::ShutdownWrite` nothing more is transmitted;
//! 5. what was transmitted (the `Bytes` taken, plus the file bytes of the
//!    `File` ranges sent) is a prefix of an independent reference answer
//!    (see [`model`]) for the bytes the session was given — unless a file
//!    was truncated; and it is *equal* to it, with the close reason the
//!    reference predicts (`Quit`, `Fatal(status)` or `ByPeer`) and no
//!    abort, when the run had no truncation, no early end of a raw range,
//!    no shutdown, no close on a timeout, and stayed under the work caps;
//! 6. timers: after `handle_timeout(now)` the session is closed or its
//!    next deadline is after `now` (no busy timer); it is closed when the
//!    peer did nothing (no byte sent, no ack reported) for the idle timeout
//!    and the session was not lingering, or when it lingered for the
//!    linger time; a close on `Idle` comes at least the idle timeout after
//!    the last byte or EOF from the peer, one on `RequestTimeout` only while
//!    the bytes read end in an incomplete line whose first byte was read at
//!    least the request timeout before (a line the client completed in time
//!    never times out, even while its answer waits for the socket), or
//!    while bytes read wait undecoded because the read spent the turn and
//!    no `poll_transmit` came since;
//!    `FileShrank` only after a truncation or an early end, `Shutdown` only
//!    after `handle_shutdown`, `ByPeer` only after `handle_eof`.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hftp_proto::{parse_line, FileName, Request, RequestError, Response, Status};
use hftp_server::files::{Files, MemoryFiles};
use hftp_server::session::{
    Close, Reason, Session, SessionConfig, Transmit, FILE_CHUNK, HIGH_WATER, MAX_QUEUED, RAW_CHUNK,
    TURN_BUDGET,
};
use libfuzzer_sys::fuzz_target;

type MemFile = <MemoryFiles as Files>::File;

/// Whether `SESSION_TRACE` is set: then every operation and every read is
/// printed to stderr, to follow a reproducer (see fuzz/README.md).
fn tracing() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("SESSION_TRACE").is_some())
}

/// Request line limits to choose from: 0 and 17 make nearly every request
/// too long; 300 fits every table line; 64 KiB is more than a stream holds.
const MAX_LINES: [usize; 4] = [0, 17, 300, 64 * 1024];

const IDLE: Duration = Duration::from_secs(5);
const REQUEST: Duration = Duration::from_secs(3);

/// The most the client sends in one run.
const STREAM_CAP: usize = 16 * 1024;
/// Past this much transmitted, the run stops (keeps executions fast).
const SENT_CAP: usize = 2 * 1024 * 1024;
/// The reference stops answering past this (beyond what a stopped run can
/// have transmitted: `SENT_CAP` plus one write).
const MODEL_CAP: usize = SENT_CAP + RAW_CHUNK + MAX_QUEUED;

/// `poll_transmit` calls in one loop with an unlimited socket: at most one
/// per request answered (a turn answers at most `TURN_BUDGET /
/// REQUEST_COST` = 1,024) or per full queue, with a wide margin.
const MAX_TRANSMITS: usize = 4 * 1024 + 64;
/// Write-or-read steps of one `conn.rs`-style turn: the writes as above,
/// plus one read per received byte at most.
const MAX_TURN_STEPS: usize = MAX_TRANSMITS + STREAM_CAP + 64;
/// Turns of the final drive: a turn that does not end it spent its budget
/// (a MiB transmitted, or 1,024 requests answered) or moved something, so a
/// few suffice; this is a wide margin.
const MAX_ROUNDS: usize = 4 * 1024;

/// Sizes around the session's chunking: base64 steps read `FILE_CHUNK`
/// bytes, whose encoding is exactly `HIGH_WATER`.
const SPECIAL_SIZES: [usize; 16] = [
    0,
    1,
    2,
    3,
    4,
    5,
    FILE_CHUNK - 1,
    FILE_CHUNK,
    FILE_CHUNK + 1,
    FILE_CHUNK + 2,
    2 * FILE_CHUNK,
    2 * FILE_CHUNK + 1,
    HIGH_WATER,
    HIGH_WATER + 1,
    3 * FILE_CHUNK,
    300 * 1024,
];

/// Socket reads.
const READ_SIZES: [usize; 16] = [
    1, 2, 3, 5, 8, 13, 24, 64, 100, 256, 1000, 1500, 4096, 8192, 16384, 65536,
];

/// What the socket accepts per write (0: `WouldBlock`).
const WRITE_SIZES: [usize; 16] = [
    0,
    1,
    2,
    3,
    7,
    17,
    64,
    1000,
    4096,
    65535,
    65536,
    98304,
    131072,
    200_000,
    300 * 1024,
    usize::MAX,
];

/// Clock steps in milliseconds, around the 1 s probe interval, the 2 s
/// linger, the 3 s request and 5 s idle timeouts.
const STEPS_MS: [u64; 16] = [
    0, 1, 10, 250, 999, 1000, 1001, 2000, 2999, 3000, 4999, 5000, 6000, 10_000, 60_000, 120_000,
];

/// Request lines the client can send whole (CRLF is added).
const LINES: &[&[u8]] = &[
    b"get_file_listing",
    b"help",
    b"quit",
    b"get_metadata a",
    b"get_metadata b.txt",
    b"get_metadata c.bin",
    b"get_metadata locked",
    b"get_metadata missing",
    b"get_slice a 0 1",
    b"get_slice b.txt 0 0",
    b"get_slice locked 0 1",
    b"get_slice missing 0 1",
    b"get_slice c.bin 0 1 raw",
    b"get_slice a 0 18446744073709551615",
    b"get_slice a 18446744073709551616 0",
    b"get_slice a 1 1 RAW",
    b"get_slice a -1 1",
    b"get_slice a 0",
    b"get_metadata ../a",
    b"get_metadata a/b",
    b"get_metadata  a",
    b"get_metadata a ",
    b" quit",
    b"quit now",
    b"QUIT",
    b"nope",
    b"",
    b"get_file_listing\r",
    b"help\n",
    b"get\x00metadata",
    b"get_metadata \x7f",
    b"get_file_listing x",
];

/// Names the built `get_slice` requests use.
const SLICE_NAMES: [&str; 6] = ["a", "b.txt", "c.bin", "locked", "missing", "a"];

/// The pattern bytes of a file.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| pattern_byte(seed, i)).collect()
}

fn pattern_byte(seed: u8, i: usize) -> u8 {
    ((i as u32).wrapping_mul(0x9e37_79b1) >> 24) as u8 ^ seed
}

/// A file size from (class, lo, hi).
fn file_size(class: u8, lo: u8, hi: u8) -> usize {
    let wide = usize::from(u16::from_le_bytes([lo, hi]));
    match class & 3 {
        0 => usize::from(lo),
        1 => wide,
        2 => wide * (300 * 1024) / 65535,
        _ => SPECIAL_SIZES[usize::from(lo & 15)],
    }
}

/// The served directory as the reference sees it.
#[derive(Debug)]
struct Dir {
    /// Name, size, pattern seed.
    files: Vec<(&'static str, usize, u8)>,
    unreadable: Option<(&'static str, u64)>,
}

enum Entry {
    File(usize, u8),
    Unreadable(u64),
}

impl Dir {
    fn get(&self, name: &str) -> Option<Entry> {
        if let Some(&(_, size, seed)) = self.files.iter().find(|f| f.0 == name) {
            return Some(Entry::File(size, seed));
        }
        match self.unreadable {
            Some((n, size)) if n == name => Some(Entry::Unreadable(size)),
            _ => None,
        }
    }

    fn size(&self, name: &str) -> u64 {
        match self.get(name) {
            Some(Entry::File(size, _)) => size as u64,
            Some(Entry::Unreadable(size)) => size,
            None => 0,
        }
    }
}

/// How the reference session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Still reading requests.
    Open,
    Quit,
    Fatal(Status),
}

struct Model {
    out: Vec<u8>,
    end: End,
    /// Stopped answering at `MODEL_CAP`.
    capped: bool,
}

/// The reference: the framing rules of HFTP.md §1/§2.1/§5 applied to the
/// whole stream (as the `request_decoder` target's model: lines cut at CR
/// LF, a bare CR or LF is `100`, more than `max_line` bytes before the line
/// end is `101` at once, `parse_line` on every complete line), each
/// request answered from `dir` with `Response::encode`, nothing after a
/// fatal status or `quit`.
fn model(data: &[u8], max_line: usize, dir: &Dir) -> Model {
    let mut out = Vec::new();
    let mut rest = data;
    let finish = |out: Vec<u8>, end| Model {
        out,
        end,
        capped: false,
    };
    loop {
        if out.len() > MODEL_CAP {
            return Model {
                out,
                end: End::Open,
                capped: true,
            };
        }
        if rest.is_empty() {
            return finish(out, End::Open);
        }
        let window = &rest[..rest.len().min(max_line.saturating_add(1))];
        let Some(p) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
            if window.len() > max_line {
                Response::Status(Status::BadRequest).encode(&mut out);
                return finish(out, End::Fatal(Status::BadRequest));
            }
            return finish(out, End::Open);
        };
        if window[p] == b'\n' {
            Response::Status(Status::BadEol).encode(&mut out);
            return finish(out, End::Fatal(Status::BadEol));
        }
        match rest.get(p + 1) {
            None => return finish(out, End::Open),
            Some(b'\n') => {
                if let Some(end) = answer(parse_line(&rest[..p]), dir, &mut out) {
                    return finish(out, end);
                }
                rest = &rest[p + 2..];
            }
            Some(_) => {
                Response::Status(Status::BadEol).encode(&mut out);
                return finish(out, End::Fatal(Status::BadEol));
            }
        }
    }
}

/// Answers one parsed line; `Some` when nothing more is answered.
fn answer(item: Result<Request<'_>, RequestError>, dir: &Dir, out: &mut Vec<u8>) -> Option<End> {
    let status = |s: Status, out: &mut Vec<u8>| {
        Response::Status(s).encode(out);
        s.is_fatal().then_some(End::Fatal(s))
    };
    let request = match item {
        Ok(request) => request,
        Err(e) => return status(e.status(), out),
    };
    match request {
        Request::GetFileListing => {
            let mut names: Vec<&str> = dir.files.iter().map(|f| f.0).collect();
            names.extend(dir.unreadable.map(|u| u.0));
            names.sort_unstable();
            let names: Vec<FileName<'_>> = names
                .iter()
                .map(|n| FileName::new(n).expect("valid names"))
                .collect();
            Response::Listing(&names).encode(out);
        }
        Request::GetMetadata { name } => match dir.get(name.as_str()) {
            Some(_) => Response::Metadata(dir.size(name.as_str())).encode(out),
            None => return status(Status::FileNotFound, out),
        },
        Request::GetSlice(slice) => match dir.get(slice.name.as_str()) {
            None => return status(Status::FileNotFound, out),
            Some(Entry::Unreadable(_)) => return status(Status::InternalServerError, out),
            Some(Entry::File(size, seed)) => {
                let end = slice.offset.checked_add(slice.size);
                if end.is_none_or(|end| end > size as u64) {
                    return status(Status::OffsetExceedsFileSize, out);
                }
                let (off, len) = (slice.offset as usize, slice.size as usize);
                let data: Vec<u8> = (off..off + len).map(|i| pattern_byte(seed, i)).collect();
                if slice.raw {
                    Response::RawSlice(&data).encode(out);
                } else {
                    Response::Slice(&data).encode(out);
                }
            }
        },
        Request::Help => Response::Help.encode(out),
        Request::Quit => {
            Response::Status(Status::Ok).encode(out);
            return Some(End::Quit);
        }
    }
    None
}

/// The fuzzer's bytes, read one at a time; 0 past the end.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn next(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// What one `poll_transmit` led to.
#[derive(Debug, PartialEq, Eq)]
enum Wrote {
    /// `poll_transmit` gave nothing.
    Nothing,
    /// The socket would block.
    Blocked,
    /// The socket took this many bytes (0: a raw range ended early).
    Took(usize),
    /// The write side was shut.
    Shut,
}

struct Run {
    files: MemoryFiles,
    dir: Dir,
    max_line: usize,
    linger: Duration,
    session: Session<MemFile>,
    scratch: Vec<u8>,
    base: Instant,
    clock: Duration,

    /// Everything the client sent, and how much of it the session read.
    stream: Vec<u8>,
    delivered: usize,
    client_eof: bool,
    eof_delivered: bool,

    /// Everything transmitted.
    sent: Vec<u8>,
    /// Bytes handed to the socket, and of those how many were reported
    /// acknowledged (mirrors the session's own counts).
    written: u64,
    acked: u64,
    turn_bytes: usize,
    shut_at: Option<Duration>,
    closed: Option<(Close, Duration)>,

    /// When the first byte of the incomplete line the delivered stream
    /// ends with (if it does) was delivered.
    partial_since: Option<Duration>,
    /// A read spent the turn's budget (bytes taken count against it), so
    /// what it brought may wait undecoded until the next turn's
    /// `poll_transmit`: the request deadline may then pass for a line the
    /// client completed in time (the worker gives such a session its next
    /// turn at once; here the clock may move first).
    starved: bool,
    /// The last byte or EOF from the peer.
    last_input: Duration,
    /// The last time the peer did anything: that, or an ack reported.
    last_activity: Duration,

    truncated: bool,
    early_end: bool,
    shutdown: bool,
    /// The run hit `SENT_CAP`.
    stopped: bool,
}

impl Run {
    fn now(&self) -> Instant {
        self.base + self.clock
    }

    /// The checks after every call into the session.
    fn check(&mut self) {
        let queued = self.session.queued();
        assert!(queued <= MAX_QUEUED, "queued {queued} > {MAX_QUEUED}");
        assert!(
            self.turn_bytes < TURN_BUDGET + MAX_QUEUED,
            "{} bytes transmitted in one turn",
            self.turn_bytes
        );
        let close = self.session.poll_close();
        match (self.closed, close) {
            (Some((was, _)), now) => assert_eq!(now, Some(was), "poll_close changed"),
            (None, Some(close)) => {
                let at = self.clock;
                match close.reason {
                    Reason::Idle => assert!(
                        at >= self.last_input + IDLE,
                        "idle close at {at:?}, last input at {:?}",
                        self.last_input
                    ),
                    Reason::RequestTimeout => assert!(
                        self.starved || self.partial_since.is_some_and(|t| at >= t + REQUEST),
                        "request timeout at {at:?}, the last line started at {:?}",
                        self.partial_since
                    ),
                    Reason::FileShrank => assert!(
                        self.truncated || self.early_end,
                        "FileShrank without truncation or early end"
                    ),
                    Reason::Shutdown => assert!(self.shutdown, "Shutdown without handle_shutdown"),
                    Reason::ByPeer => assert!(self.eof_delivered, "ByPeer without EOF"),
                    _ => {}
                }
                self.closed = Some((close, at));
            }
            (None, None) => {}
        }
        if self.closed.is_some() {
            assert!(!self.session.wants_input(), "closed, yet wants input");
            assert_eq!(self.session.poll_timeout(), None, "closed, yet a deadline");
        }
    }

    /// One `poll_transmit` and the write it asks for, with a socket that
    /// takes up to `room` bytes.
    fn write_once(&mut self, room: usize) -> Wrote {
        let was_closed = self.closed.is_some();
        if !self.session.turn_spent() {
            // This poll decodes what waits (see `starved`).
            self.starved = false;
        }
        let now = self.now();
        let result = match self
            .session
            .poll_transmit(now, &self.files, &mut self.scratch)
        {
            None => Wrote::Nothing,
            Some(t) => {
                assert!(!was_closed, "transmit after close: {t:?}");
                assert!(
                    self.shut_at.is_none(),
                    "transmit after ShutdownWrite: {t:?}"
                );
                match t {
                    Transmit::Bytes(bytes) => {
                        assert!(!bytes.is_empty(), "empty Transmit::Bytes");
                        let n = room.min(bytes.len());
                        if n == 0 {
                            Wrote::Blocked
                        } else {
                            self.sent.extend_from_slice(&bytes[..n]);
                            self.session.handle_written(n, now);
                            self.note_written(n);
                            Wrote::Took(n)
                        }
                    }
                    Transmit::File { file, offset, len } => {
                        assert!(
                            (1..=RAW_CHUNK).contains(&len),
                            "Transmit::File of {len} bytes"
                        );
                        let content = file.borrow();
                        if !self.truncated {
                            // Untruncated, the content is the original file.
                            let size = content.len() as u64;
                            assert!(
                                offset + len as u64 <= size,
                                "range {offset}+{len} past the file's {size} bytes"
                            );
                        }
                        let start = usize::try_from(offset)
                            .unwrap_or(usize::MAX)
                            .min(content.len());
                        let avail = content.len() - start;
                        let n = room.min(len).min(avail);
                        if room == 0 {
                            Wrote::Blocked
                        } else {
                            if n == 0 {
                                // sendfile at the end of a shrunk file.
                                self.early_end = true;
                            }
                            self.sent.extend_from_slice(&content[start..start + n]);
                            drop(content);
                            self.session.handle_file_sent(n, now);
                            self.note_written(n);
                            Wrote::Took(n)
                        }
                    }
                    Transmit::ShutdownWrite => {
                        self.shut_at = Some(self.clock);
                        Wrote::Shut
                    }
                }
            }
        };
        if result == Wrote::Nothing
            && self.closed.is_none()
            && !self.session.turn_spent()
            && self.session.poll_close().is_none()
        {
            assert_eq!(
                self.session.queued(),
                0,
                "bytes queued, yet nothing to send"
            );
        }
        if self.sent.len() >= SENT_CAP {
            self.stopped = true;
        }
        self.check();
        result
    }

    fn note_written(&mut self, n: usize) {
        self.written += n as u64;
        self.turn_bytes += n;
    }

    /// Writes with an unlimited socket until the session has nothing more
    /// (or spent its turn); returns whether anything was transmitted.
    fn flush(&mut self) -> bool {
        let mut moved = false;
        for _ in 0..MAX_TRANSMITS {
            match self.write_once(usize::MAX) {
                Wrote::Nothing => return moved,
                Wrote::Blocked => unreachable!("an unlimited socket blocked"),
                Wrote::Took(_) | Wrote::Shut => moved = true,
            }
            if self.stopped {
                return moved;
            }
        }
        panic!("poll_transmit still has something after {MAX_TRANSMITS} transmits");
    }

    fn begin_turn(&mut self) {
        self.session.begin_turn();
        self.turn_bytes = 0;
        self.check();
    }

    /// Appends to what the client sent (nothing after its EOF or past the
    /// cap).
    fn send(&mut self, bytes: &[u8]) {
        if !self.client_eof && self.stream.len() + bytes.len() <= STREAM_CAP {
            self.stream.extend_from_slice(bytes);
        }
    }

    /// One socket read of up to `max` bytes, if the session wants input;
    /// returns whether it did anything.
    fn read(&mut self, max: usize) -> bool {
        if !self.session.wants_input() {
            return false;
        }
        let end = self.stream.len().min(self.delivered.saturating_add(max));
        if end > self.delivered {
            let now = self.now();
            let chunk = &self.stream[self.delivered..end];
            if tracing() {
                eprintln!("  read {:?}", String::from_utf8_lossy(chunk));
            }
            self.session.handle_input(chunk, now, &self.files);
            match chunk.iter().rposition(|&b| b == b'\n') {
                Some(lf) if lf + 1 == chunk.len() => self.partial_since = None,
                Some(_) => self.partial_since = Some(self.clock),
                None => {
                    self.partial_since.get_or_insert(self.clock);
                }
            }
            self.delivered = end;
            self.starved |= self.session.turn_spent();
            self.last_input = self.clock;
            self.last_activity = self.clock;
            self.check();
            true
        } else if self.client_eof && (!self.eof_delivered || self.shut_at.is_some()) {
            // A read returns 0 (again, while lingering).
            self.eof();
            true
        } else {
            false
        }
    }

    fn eof(&mut self) {
        self.eof_delivered = true;
        self.last_input = self.clock;
        self.last_activity = self.clock;
        let now = self.now();
        self.session.handle_eof(now);
        self.check();
    }

    /// One turn the way `conn.rs` drives it: write while the socket takes
    /// bytes, read when the session wants input, until nothing moves.
    fn drive(&mut self, mut room: usize, read_size: usize) {
        self.begin_turn();
        for _ in 0..MAX_TURN_STEPS {
            let mut moved = false;
            while room > 0 && !self.stopped {
                match self.write_once(room) {
                    Wrote::Nothing => break,
                    Wrote::Blocked => unreachable!("room left"),
                    Wrote::Took(n) => {
                        room = room.saturating_sub(n.max(1));
                        moved = true;
                    }
                    Wrote::Shut => moved = true,
                }
            }
            moved |= self.read(read_size);
            if !moved || self.closed.is_some() || self.stopped {
                return;
            }
        }
        panic!("a turn did not end after {MAX_TURN_STEPS} steps");
    }

    /// Advances the clock and, when a deadline is due (or `force`), does
    /// what the worker does when a timer fires.
    fn advance(&mut self, step: Duration, force: bool, ack: u8) {
        self.clock += step;
        let now = self.now();
        let due = self.session.poll_timeout().is_some_and(|t| t <= now);
        if !(due || force) {
            return;
        }
        if self.session.wants_send_queue(now) {
            let outstanding = self.written - self.acked;
            let unacked = match ack & 3 {
                0 => Some(0),
                1 => Some(outstanding),
                2 => None,
                _ => Some(outstanding * u64::from(ack >> 2) / 64),
            };
            let acked = self.written - unacked.unwrap_or(0);
            if acked > self.acked {
                self.acked = acked;
                self.last_activity = self.clock;
            }
            self.session.handle_send_queue(unacked, now);
            self.check();
        }
        let idle_due = self.clock >= self.last_activity + IDLE;
        let linger_due = self.shut_at.is_some_and(|t| self.clock >= t + self.linger);
        self.session.handle_timeout(now);
        self.check();
        if self.closed.is_none() {
            if let Some(next) = self.session.poll_timeout() {
                assert!(
                    next > now,
                    "timer due at {next:?} still due after firing at {now:?}"
                );
            } else {
                panic!("an open session without a deadline");
            }
            assert!(
                !(idle_due && self.shut_at.is_none()),
                "peer idle since {:?}, still open at {:?}",
                self.last_activity,
                self.clock
            );
            assert!(!linger_due, "still lingering at {:?}", self.clock);
        }
    }

    /// A `get_slice` built from four argument bytes.
    fn slice_request(&self, name: u8, mode: u8, x: u8, y: u8) -> Vec<u8> {
        let name = SLICE_NAMES[usize::from(name) % SLICE_NAMES.len()];
        let size = self.dir.size(name);
        let (x, y) = (u64::from(x), u64::from(y));
        let (offset, len): (u64, u64) = match mode & 7 {
            0 => {
                let off = size * x / 255;
                (off, (size - off) * y / 255)
            }
            1 => (x, y),
            2 => (size - x.min(size), x.min(size)),
            3 => {
                let off = x.min(size);
                (off, size + 1 - off)
            }
            4 => (0, size),
            5 => (size, 0),
            6 => (u64::MAX - x, 1 + y),
            _ => {
                let chunk = FILE_CHUNK as u64;
                let off = (chunk * x / 16).min(size);
                let want = (chunk * (1 + y % 3) + y % 7).saturating_sub(3);
                (off, want.min(size - off))
            }
        };
        let zeros = if mode & 16 != 0 { "00" } else { "" };
        let raw = if mode & 8 != 0 { " raw" } else { "" };
        format!("get_slice {name} {zeros}{offset} {len}{raw}\r\n").into_bytes()
    }

    /// One operation of the schedule.
    fn step(&mut self, input: &mut Input<'_>) {
        if tracing() {
            let rest = &input.data[input.pos..];
            eprintln!(
                "at {:?}: read {}/{}, sent {}, queued {}, deadline {:?}, closed {:?}; op {:?}",
                self.clock,
                self.delivered,
                self.stream.len(),
                self.sent.len(),
                self.session.queued(),
                self.session.poll_timeout().map(|t| t - self.base),
                self.closed.map(|c| c.0),
                &rest[..rest.len().min(6)],
            );
        }
        let op = input.next();
        match op % 16 {
            0 | 1 => {
                let i = usize::from(input.next());
                let mut line = match i % (LINES.len() + 2) {
                    i if i < LINES.len() => LINES[i].to_vec(),
                    i => {
                        // Well-formed names too long to exist (255 is a
                        // valid length; 256 is 202 without a lookup).
                        let mut l = b"get_metadata ".to_vec();
                        l.resize(l.len() + 255 + (i - LINES.len()), b'n');
                        l
                    }
                };
                line.extend_from_slice(b"\r\n");
                self.send(&line);
            }
            2 | 3 => {
                let (name, mode, x, y) = (input.next(), input.next(), input.next(), input.next());
                let line = self.slice_request(name, mode, x, y);
                self.send(&line);
            }
            4 => {
                let n = usize::from(input.next() & 15) + 1;
                let bytes: Vec<u8> = (0..n).map(|_| input.next()).collect();
                self.send(&bytes);
            }
            5 => {
                let (b, count) = (input.next(), input.next());
                self.send(&vec![b; (usize::from(count) + 1) * 16]);
            }
            6 | 7 => {
                let arg = input.next();
                for _ in 0..=(arg >> 4) {
                    self.read(READ_SIZES[usize::from(arg & 15)]);
                }
            }
            8 | 9 => {
                let arg = input.next();
                let room = WRITE_SIZES[usize::from(arg & 15)];
                for _ in 0..=(arg >> 4) {
                    match self.write_once(room) {
                        Wrote::Nothing | Wrote::Blocked => break,
                        Wrote::Took(_) | Wrote::Shut => {}
                    }
                    if self.stopped {
                        break;
                    }
                }
            }
            10 => {
                let arg = input.next();
                self.drive(
                    WRITE_SIZES[usize::from(arg & 15)],
                    READ_SIZES[usize::from(arg >> 4)],
                );
            }
            11 => {
                let (arg, ack) = (input.next(), input.next());
                let step = Duration::from_millis(STEPS_MS[usize::from(arg & 15)]);
                self.advance(step, arg & 16 != 0, ack);
            }
            12 => {
                // Flush, or (odd argument) a new turn first.
                if input.next() & 1 != 0 {
                    self.begin_turn();
                }
                self.flush();
            }
            13 => {
                // The client closes: seen once everything is read, or
                // (odd argument) at once, whatever is still in flight.
                self.client_eof = true;
                if input.next() & 1 != 0 && !self.eof_delivered {
                    self.eof();
                }
            }
            14 => {
                let (which, frac) = (input.next(), input.next());
                let (name, size, _) = self.dir.files[usize::from(which) % self.dir.files.len()];
                let len = size * usize::from(frac) / 256;
                self.files.truncate(name, len);
                self.truncated |= len < size;
            }
            _ => {
                // Rare: the end of a raw range before it was all sent, or
                // a server shutdown.
                match input.next() & 3 {
                    0 => {
                        let now = self.now();
                        match self
                            .session
                            .poll_transmit(now, &self.files, &mut self.scratch)
                        {
                            Some(Transmit::File { .. }) => {
                                self.early_end = true;
                                self.session.handle_file_sent(0, now);
                            }
                            Some(Transmit::ShutdownWrite) => self.shut_at = Some(self.clock),
                            _ => {}
                        }
                        self.check();
                    }
                    1 => {
                        self.shutdown = true;
                        self.session.handle_shutdown();
                        self.check();
                    }
                    _ => self.begin_turn(),
                }
            }
        }
    }

    /// Drives the session to the end without the clock moving: reads all,
    /// writes all, new turns while spent; then the client closes.
    fn finish(&mut self) {
        for close_round in [false, true] {
            if close_round
                && self.closed.is_none()
                && !self.stopped
                && (!self.eof_delivered || self.session.wants_input())
            {
                self.client_eof = true;
                self.eof();
            }
            for round in 0.. {
                assert!(round < MAX_ROUNDS, "still busy after {MAX_ROUNDS} turns");
                if self.closed.is_some() || self.stopped {
                    break;
                }
                self.begin_turn();
                let mut moved = self.read(STREAM_CAP);
                moved |= self.flush();
                if !moved && !self.session.turn_spent() {
                    break;
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { data, pos: 0 };
    let cfg = input.next();
    let max_line = MAX_LINES[usize::from(cfg & 3)];
    let mut sizes = [(0usize, 0u8); 3];
    for s in &mut sizes {
        let (class, lo, hi) = (input.next(), input.next(), input.next());
        *s = (file_size(class, lo, hi), hi ^ (class >> 2));
    }
    let locked = u64::from(input.next()) * 1201;

    let files = MemoryFiles::new();
    let mut dir = Dir {
        files: Vec::new(),
        unreadable: None,
    };
    let names = if cfg & 4 != 0 { 3 } else { 2 };
    for (name, &(size, seed)) in ["a", "b.txt", "c.bin"].into_iter().zip(&sizes).take(names) {
        files.insert(name, pattern(seed, size));
        dir.files.push((name, size, seed));
    }
    if cfg & 8 != 0 {
        files.insert_unreadable("locked", locked);
        dir.unreadable = Some(("locked", locked));
    }

    let config = SessionConfig::new(IDLE, REQUEST, max_line);
    let linger = config.linger;
    let base = Instant::now();
    let mut run = Run {
        files,
        dir,
        max_line,
        linger,
        session: Session::new(config, base),
        scratch: vec![0; FILE_CHUNK],
        base,
        clock: Duration::ZERO,
        stream: Vec::new(),
        delivered: 0,
        client_eof: false,
        eof_delivered: false,
        sent: Vec::new(),
        written: 0,
        acked: 0,
        turn_bytes: 0,
        shut_at: None,
        closed: None,
        partial_since: None,
        starved: false,
        last_input: Duration::ZERO,
        last_activity: Duration::ZERO,
        truncated: false,
        early_end: false,
        shutdown: false,
        stopped: false,
    };
    run.check();
    while !input.done() && !run.stopped {
        run.step(&mut input);
    }
    run.finish();
    if tracing() {
        eprintln!(
            "end at {:?}: read {}/{}, sent {}, closed {:?}",
            run.clock,
            run.delivered,
            run.stream.len(),
            run.sent.len(),
            run.closed.map(|c| c.0)
        );
    }
    assert!(
        run.closed.is_some() || run.stopped,
        "not closed after everything was read and written and the client closed"
    );
    if run.truncated {
        return;
    }
    let want = model(&run.stream[..run.delivered], run.max_line, &run.dir);
    let n = run.sent.len().min(want.out.len());
    if run.sent[..n] != want.out[..n] || (run.sent.len() > want.out.len() && !want.capped) {
        let at = run
            .sent
            .iter()
            .zip(&want.out)
            .take_while(|(a, b)| a == b)
            .count();
        panic!(
            "transmitted bytes differ from the reference at byte {at} (sent {}, expected {}):\n\
             sent:     {:?}\nexpected: {:?}",
            run.sent.len(),
            want.out.len(),
            String::from_utf8_lossy(
                &run.sent[at.saturating_sub(40)..(at + 40).min(run.sent.len())]
            ),
            String::from_utf8_lossy(
                &want.out[at.saturating_sub(40)..(at + 40).min(want.out.len())]
            ),
        );
    }
    let Some((close, _)) = run.closed else {
        return; // stopped
    };
    let timed_out = matches!(close.reason, Reason::Idle | Reason::RequestTimeout);
    if run.early_end || run.shutdown || run.stopped || want.capped || timed_out {
        return;
    }
    assert_eq!(
        run.sent.len(),
        want.out.len(),
        "the session answered less than the reference"
    );
    let reason = match want.end {
        End::Open => Reason::ByPeer,
        End::Quit => Reason::Quit,
        End::Fatal(status) => Reason::Fatal(status),
    };
    assert_eq!(
        close,
        Close {
            reason,
            abort: false
        },
        "close"
    );
});
