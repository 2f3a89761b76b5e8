//! Fuzz target: the sans-IO server session (`hftp_server::session::Session`)
//! with a fake socket, a fake clock and a fake file system: its file
//! requests are answered from an in-memory directory
//! (`hftp_server::files::MemoryFiles`, with `hftp_server::files::perform`)
//! at once, later, never, late, or wrongly, as the input says.
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
//! * byte 11: the file system. Bits 0–1: `SessionConfig::fs_timeout`, from
//!   [`FS_TIMEOUTS`] (0: the default, 10 s); bits 2–7: the default
//!   [`Policy`] of file requests (see [`Policy::from_byte`]: 0 answers
//!   each at once);
//! * the rest: a schedule of operations, one opcode byte (`op % 18`, see
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
//!   nothing; a whole turn the way `conn.rs` drives one; `begin_turn`;
//!   advance the clock (0 ms to 120 s) and, when a deadline is due (or
//!   forced), `wants_send_queue` / `handle_send_queue` (with a
//!   fuzzer-chosen share of what was written still unacknowledged, or
//!   `None`) / `handle_timeout`; truncate a file; `handle_eof`;
//!   `handle_shutdown`; and the file system's: choose the [`Policy`] of the
//!   next file request (opcode 16), or answer the request held now
//!   (opcode 17, with a [`How`]: the right reply, a failure, a reply of the
//!   wrong kind, a short or an over-long read), which, when none is out,
//!   is a late reply to one the session gave up on, or a stray one.
//!
//! File requests: after every call into the session, `poll_file_request`
//! is asked (as `conn.rs` does in each turn; like `poll_transmit`, it
//! answers held input first, as far as the queue and the turn allow),
//! again after each reply given at once, and what it hands out is
//! recorded as an owned [`Asked`] (a `FileRequest` borrows the session; a
//! read keeps a clone of the file handle) and dealt with as its policy
//! says: answered at once (with `perform`, a short or an over-long read,
//! `FileReply::Failed`, or a reply of the wrong kind), or held: answered
//! later by opcode 17 or at the end ([`Policy::Later`]), never
//! ([`Policy::Hang`]), or only after the session gave up on it
//! ([`Policy::Late`]). A held request is answered by re-building the
//! `FileRequest` from the [`Asked`] and calling `perform` on the directory
//! as it is then. A `FileRequest::Send` (the next bytes of a raw slice, to
//! put on the socket directly) is answered `FileReply::Sent` after putting
//! all or some of the bytes on the fake socket, or, as the input says, read
//! as a `Read` and answered `Data`.
//!
//! After the schedule the session is driven to the end: everything the
//! client sent is read, every write is taken whole, held requests are
//! answered (or, if they hang, the clock moves to their deadline), a new
//! turn is begun while the last one was spent, and finally the client
//! closes (`handle_eof`). The clock moves in that drive only to let a
//! hung request's deadline pass.
//!
//! `SESSION_TRACE=1` in the environment prints each operation, each read
//! and each file request and reply.
//!
//! Session limits: idle timeout 5 s, request timeout 3 s, linger 2 s (the
//! default), the fuzzer-chosen line limit and file-system deadline. The
//! clock is one `Instant` taken per input plus a monotonic offset.
//!
//! Checks:
//!
//! 1. no panic (fuzz builds keep debug assertions and overflow checks);
//! 2. `queued() <= MAX_QUEUED` after every call into the session;
//! 3. bounded work: a `Transmit::Bytes` is never empty nor longer than
//!    `MAX_QUEUED` (the queue, or a listing chunk); the bytes of a slice,
//!    raw or base64, come from `FileRequest::Read`s of 1..=`FILE_CHUNK`
//!    bytes or (raw only) `FileRequest::Send`s of 1..=`RAW_CHUNK` bytes,
//!    asked only while nothing is queued and the write side is open, of
//!    the file that was opened, each where the last one ended and (the
//!    file untruncated) inside it; one turn hands the socket (`Bytes`
//!    written and bytes `Sent`) fewer
//!    than `TURN_BUDGET + MAX_QUEUED` bytes (the budget, plus the one queue
//!    the last write of a turn may take); a loop over `poll_transmit` with
//!    an unlimited socket ends within [`MAX_TRANSMITS`] calls, a
//!    `conn.rs`-style turn within [`MAX_TURN_STEPS`] steps (each plus two
//!    per file request answered meanwhile: reads are not charged to the
//!    turn, and legal short reads make many), and the final drive within
//!    [`MAX_ROUNDS`] turns; when `poll_transmit` gives nothing and the turn
//!    is not spent, nothing is queued;
//! 4. once `poll_close()` is `Some` it stays the same, `poll_transmit`
//!    gives nothing, `wants_input()` and `waits_for_files()` are false,
//!    `poll_file_request()` and `poll_timeout()` are `None`; after
//!    `Transmit::ShutdownWrite` nothing more is transmitted;
//! 5. what was transmitted is a prefix of an independent reference answer
//!    (see [`model`]) for the bytes the session was given and the file
//!    system's failures (a failed lookup ends the answers with `199`, a
//!    failed read cuts its slice short after the bytes read) — unless a
//!    file was truncated; and it is *equal* to it, with the close reason the
//!    reference predicts (`Quit`, `Fatal(status)`, `FileSystemTimeout` or
//!    `ByPeer`, no abort; or, after a failed read, that read's reason with
//!    abort) when the run had no truncation, no shutdown, no close on an
//!    idle or request timeout, and stayed under the work caps; the file
//!    requests other than reads are, in order, those the reference makes
//!    (a listing, the size of or opening each named file);
//! 6. timers: after `handle_timeout(now)` the session is closed or its
//!    next deadline is after now (no busy timer); it is closed when the
//!    peer did nothing (no byte sent, no ack reported) for the idle timeout
//!    while no file request was out (time spent waiting for one, up to its
//!    reply or the session giving up, is not the peer's) and the session
//!    was not lingering, or when it lingered for the linger time; a close
//!    on `Idle` comes at least the idle timeout after the last byte or EOF
//!    from the peer and after the end of the last wait for the file
//!    system, one on `RequestTimeout` only while the bytes read end in an
//!    incomplete line whose first byte was read at least the request
//!    timeout before (a line the client completed in time never times out,
//!    even while its answer waits for the socket or the file system), or
//!    while bytes read wait undecoded because the read spent the turn and
//!    no `poll_transmit` came since; `FileShrank` only after a truncation
//!    or an empty read reply, `FileSystemTimeout` only after the session
//!    gave up on a request, `Shutdown` only after `handle_shutdown`,
//!    `ByPeer` only after `handle_eof`;
//! 7. file requests: at most one is out at a time (`poll_file_request` is
//!    `None` while one handed out is not answered), and one is out exactly
//!    while `waits_for_files()`; meanwhile `wants_input()` is false, no
//!    byte is produced (what was sent plus what is queued does not grow)
//!    and the session is not closed; `poll_timeout()` is no later than the
//!    request's deadline (`fs_timeout` after it was made); the session
//!    gives up on a request only at that deadline or after it, and does so
//!    at the first `handle_timeout` there: a lookup is then answered `199`
//!    (queued, no more input), a read closes with abort and
//!    `FileSystemTimeout`; after a failed request no other is made; a
//!    reply to a request the session gave up on, or when none is out,
//!    changes nothing (queue, waits, input, deadline, close, turn).
#![no_main]

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hftp_proto::{parse_line, FileName, Request, RequestError, Response, Status};
use hftp_server::files::{perform, FileReply, FileRequest, Files, Listing, MemoryFiles};
use hftp_server::session::{
    Close, Reason, Session, SessionConfig, Transmit, FILE_CHUNK, HIGH_WATER, MAX_QUEUED, RAW_CHUNK,
    TURN_BUDGET,
};
use libfuzzer_sys::fuzz_target;

type MemFile = <MemoryFiles as Files>::File;

/// Whether `SESSION_TRACE` is set: then every operation, every read and
/// every file request is printed to stderr, to follow a reproducer (see
/// fuzz/README.md).
fn tracing() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("SESSION_TRACE").is_some())
}

/// Request line limits to choose from: 0 and 17 make nearly every request
/// too long; 300 fits every table line; 64 KiB is more than a stream holds.
const MAX_LINES: [usize; 4] = [0, 17, 300, 64 * 1024];

const IDLE: Duration = Duration::from_secs(5);
const REQUEST: Duration = Duration::from_secs(3);

/// File-system deadlines to choose from: the default (10 s, longer than
/// the idle timeout), shorter than the request timeout, between the
/// request and the idle timeouts, and equal to the idle timeout.
const FS_TIMEOUTS: [Option<Duration>; 4] = [
    None,
    Some(Duration::from_secs(1)),
    Some(Duration::from_secs(4)),
    Some(Duration::from_secs(5)),
];

/// The most the client sends in one run.
const STREAM_CAP: usize = 16 * 1024;
/// Past this much transmitted, the run stops (keeps executions fast).
const SENT_CAP: usize = 2 * 1024 * 1024;
/// The reference stops answering past this (beyond what a stopped run can
/// have transmitted: `SENT_CAP` plus one write, a queue, a listing chunk
/// or a `Send`).
const MODEL_CAP: usize = SENT_CAP + RAW_CHUNK + MAX_QUEUED;

/// `poll_transmit` calls in one loop with an unlimited socket: at most one
/// per request answered (a turn answers at most `TURN_BUDGET /
/// REQUEST_COST` = 1,024) or per full queue, with a wide margin; plus two
/// per file request answered in the loop (see [`Run::flush`]).
const MAX_TRANSMITS: usize = 4 * 1024 + 64;
/// Write-or-read steps of one `conn.rs`-style turn: the writes as above,
/// plus one read per received byte at most.
const MAX_TURN_STEPS: usize = MAX_TRANSMITS + STREAM_CAP + 64;
/// Turns of the final drive: a turn that does not end it spent its budget
/// (a MiB transmitted, or 1,024 requests answered) or moved something, so a
/// few suffice; this is a wide margin.
const MAX_ROUNDS: usize = 4 * 1024;

/// What an over-long read reply carries beyond what was asked.
const LONG_EXTRA: usize = 7;

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
/// linger, the 3 s request and 5 s idle timeouts, and the file-system
/// deadlines.
const STEPS_MS: [u64; 16] = [
    0, 1, 10, 250, 999, 1000, 1001, 2000, 2999, 3000, 4999, 5000, 6000, 10_000, 60_000, 120_000,
];

/// The errors an injected `FileReply::Failed` carries.
const ERROR_KINDS: [io::ErrorKind; 4] = [
    io::ErrorKind::Other,
    io::ErrorKind::PermissionDenied,
    io::ErrorKind::TimedOut,
    io::ErrorKind::Interrupted,
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

/// A file request other than a read, as the reference and the run record
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lookup {
    List,
    Size(String),
    Open(String),
}

/// How the file system failed the session, as far as the answers go:
/// only the first failure matters (the session answers nothing after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Lookup `index` (counting from 0 in the order the session made
    /// them) failed: `timeout` when the session gave up on it, else an
    /// error or a reply of the wrong kind.
    Lookup { index: usize, timeout: bool },
    /// A read of the slice lookup `lookup` opened failed after `delivered`
    /// bytes of it were read; the session closes with `reason`.
    Read {
        lookup: usize,
        delivered: u64,
        reason: Reason,
    },
}

/// How the reference session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Still reading requests.
    Open,
    Quit,
    Fatal(Status),
    /// `199` after the session gave up on a lookup.
    FsTimeout,
    /// A slice cut short by a failed read: an abortive close.
    Cut(Reason),
}

struct Model {
    out: Vec<u8>,
    end: End,
    /// Stopped answering at `MODEL_CAP`.
    capped: bool,
    /// The lookups the answers need, in order.
    lookups: Vec<Lookup>,
}

/// The reference: the framing rules of docs/PROTOCOL.md §1/§2.1/§5 applied to the
/// whole stream (as the `request_decoder` target's model: lines cut at CR
/// LF, a bare CR or LF is `100`, more than `max_line` bytes before the line
/// end is `101` at once, `parse_line` on every complete line), each
/// request answered from `dir` with `Response::encode`, nothing after a
/// fatal status or `quit`; the lookup `fault` names is answered `199`
/// (fatal), and the slice whose read it names is cut after the bytes read.
fn model(data: &[u8], max_line: usize, dir: &Dir, fault: Option<Fault>) -> Model {
    let mut m = Model {
        out: Vec::new(),
        end: End::Open,
        capped: false,
        lookups: Vec::new(),
    };
    let mut rest = data;
    loop {
        if m.out.len() > MODEL_CAP {
            m.capped = true;
            return m;
        }
        if rest.is_empty() {
            return m;
        }
        let window = &rest[..rest.len().min(max_line.saturating_add(1))];
        let Some(p) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
            if window.len() > max_line {
                Response::Status(Status::BadRequest).encode(&mut m.out);
                m.end = End::Fatal(Status::BadRequest);
            }
            return m;
        };
        if window[p] == b'\n' {
            Response::Status(Status::BadEol).encode(&mut m.out);
            m.end = End::Fatal(Status::BadEol);
            return m;
        }
        match rest.get(p + 1) {
            None => return m,
            Some(b'\n') => {
                if let Some(end) = answer(parse_line(&rest[..p]), dir, fault, &mut m) {
                    m.end = end;
                    return m;
                }
                rest = &rest[p + 2..];
            }
            Some(_) => {
                Response::Status(Status::BadEol).encode(&mut m.out);
                m.end = End::Fatal(Status::BadEol);
                return m;
            }
        }
    }
}

/// Answers one parsed line; `Some` when nothing more is answered.
fn answer(
    item: Result<Request<'_>, RequestError>,
    dir: &Dir,
    fault: Option<Fault>,
    m: &mut Model,
) -> Option<End> {
    let out = &mut m.out;
    let status = |s: Status, out: &mut Vec<u8>| {
        Response::Status(s).encode(out);
        s.is_fatal().then_some(End::Fatal(s))
    };
    let request = match item {
        Ok(request) => request,
        Err(e) => return status(e.status(), out),
    };
    // The file request this answer needs, and its number.
    let index = m.lookups.len();
    let lookup = match &request {
        Request::GetFileListing => Some(Lookup::List),
        Request::GetMetadata { name } => Some(Lookup::Size(name.as_str().to_owned())),
        Request::GetSlice(slice) => Some(Lookup::Open(slice.name.as_str().to_owned())),
        Request::Help | Request::Quit => None,
    };
    if let Some(lookup) = lookup {
        m.lookups.push(lookup);
        if let Some(Fault::Lookup { index: i, timeout }) = fault {
            if i == index {
                Response::Status(Status::InternalServerError).encode(out);
                return Some(if timeout {
                    End::FsTimeout
                } else {
                    End::Fatal(Status::InternalServerError)
                });
            }
        }
    }
    let cut = match fault {
        Some(Fault::Read {
            lookup,
            delivered,
            reason,
        }) if lookup == index && index < m.lookups.len() => Some((delivered, reason)),
        _ => None,
    };
    if cut.is_some() && !matches!(request, Request::GetSlice(_)) {
        panic!("the session read files for lookup {index}, {request:?}, which reads none");
    }
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
        Request::GetSlice(slice) => {
            let read_fails = |what: &str| {
                assert!(
                    cut.is_none(),
                    "the session read for request {index}, {slice:?}, which is {what}"
                );
            };
            match dir.get(slice.name.as_str()) {
                None => {
                    read_fails("not found");
                    return status(Status::FileNotFound, out);
                }
                Some(Entry::Unreadable(_)) => {
                    read_fails("unreadable");
                    return status(Status::InternalServerError, out);
                }
                Some(Entry::File(size, seed)) => {
                    let end = slice.offset.checked_add(slice.size);
                    if end.is_none_or(|end| end > size as u64) {
                        read_fails("out of range");
                        return status(Status::OffsetExceedsFileSize, out);
                    }
                    let (off, len) = (slice.offset as usize, slice.size as usize);
                    let data: Vec<u8> = (off..off + len).map(|i| pattern_byte(seed, i)).collect();
                    let start = out.len();
                    if slice.raw {
                        Response::RawSlice(&data).encode(out);
                    } else {
                        Response::Slice(&data).encode(out);
                    }
                    if let Some((delivered, reason)) = cut {
                        // The status line (and header) went out before the
                        // first read; then what was read, base64 in whole
                        // groups.
                        let d = usize::try_from(delivered).expect("small");
                        assert!(
                            d < len,
                            "a read after all {len} bytes of request {index}, {slice:?}"
                        );
                        let payload = if slice.raw {
                            len
                        } else {
                            len.div_ceil(3) * 4 + 2
                        };
                        let header = out.len() - start - payload;
                        let kept = if slice.raw { d } else { d / 3 * 4 };
                        out.truncate(start + header + kept);
                        return Some(End::Cut(reason));
                    }
                }
            }
        }
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
    /// The socket took this many bytes.
    Took(usize),
    /// The write side was shut.
    Shut,
}

/// What the run does with a file request when it is handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// Answer it at once, the way given.
    AtOnce(How),
    /// Hold it: answered (right) by opcode 17 or in the final drive.
    Later,
    /// Hold it and never answer it: the session must give up on it.
    Hang,
    /// Hold it, and answer it only after the session gave up on it.
    Late,
}

impl Policy {
    /// Bits 0–2: at once (0), later (1), hang (2), failed (3), wrong kind
    /// (4), short read (5), late (6), over-long read (7); bits 3–7: the
    /// parameter of a failure, a wrong kind or a short read.
    fn from_byte(b: u8) -> Policy {
        let p = b >> 3;
        match b & 7 {
            0 => Policy::AtOnce(How::Right),
            1 => Policy::Later,
            2 => Policy::Hang,
            3 => Policy::AtOnce(How::Failed(p)),
            4 => Policy::AtOnce(How::Wrong(p)),
            5 => Policy::AtOnce(How::Short(p)),
            6 => Policy::Late,
            _ => Policy::AtOnce(How::Long),
        }
    }
}

/// How a file request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// What `perform` on the directory says; for a `Send`, all the bytes
    /// put on the socket and `Sent`.
    Right,
    /// `FileReply::Failed` with one of [`ERROR_KINDS`].
    Failed(u8),
    /// A reply of another kind than the request calls for (for a read, one
    /// of them an empty `Data`: the file ended).
    Wrong(u8),
    /// For a read, fewer bytes than asked (at least one; a legal reply);
    /// for a `Send`, fewer bytes sent (even parameter) or read (odd);
    /// otherwise `Right`.
    Short(u8),
    /// For a read or a `Send`, more bytes read than asked, as far as the
    /// file has them (the session takes what it asked for); otherwise
    /// `Right`.
    Long,
}

impl How {
    /// Bits 0–2: right (0, 5–7), failed (1), wrong kind (2), short (3),
    /// over-long (4); bits 3–7: the parameter.
    fn from_byte(b: u8) -> How {
        let p = b >> 3;
        match b & 7 {
            1 => How::Failed(p),
            2 => How::Wrong(p),
            3 => How::Short(p),
            4 => How::Long,
            _ => How::Right,
        }
    }
}

/// A file request as the session asked for it, owned (the `FileRequest`
/// borrows the session); a read holds a clone of the file handle.
#[derive(Clone)]
enum Asked {
    List,
    Size(String),
    Open(String),
    /// `FileRequest::Read`, or (`send`) `FileRequest::Send`: the bytes of a
    /// raw slice to put on the socket, or to read.
    Read {
        file: MemFile,
        offset: u64,
        len: usize,
        send: bool,
    },
}

impl std::fmt::Debug for Asked {
    /// Without the file's bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Asked::List => f.write_str("List"),
            Asked::Size(n) => write!(f, "Size({n:?})"),
            Asked::Open(n) => write!(f, "Open({n:?})"),
            Asked::Read {
                offset, len, send, ..
            } => {
                let what = if *send { "Send" } else { "Read" };
                write!(f, "{what} {{ offset: {offset}, len: {len} }}")
            }
        }
    }
}

impl Asked {
    fn of(request: &FileRequest<'_, MemFile>) -> Asked {
        match request {
            FileRequest::List => Asked::List,
            FileRequest::Size(name) => Asked::Size(name.as_str().to_owned()),
            FileRequest::Open(name) => Asked::Open(name.as_str().to_owned()),
            FileRequest::Read { file, offset, len } => Asked::Read {
                file: Rc::clone(file),
                offset: *offset,
                len: *len,
                send: false,
            },
            FileRequest::Send { file, offset, len } => Asked::Read {
                file: Rc::clone(file),
                offset: *offset,
                len: *len,
                send: true,
            },
            other => panic!("a file request the target does not know: {other:?}"),
        }
    }

    /// The request again, to answer with `perform`.
    fn request(&self) -> FileRequest<'_, MemFile> {
        fn name(n: &str) -> FileName<'_> {
            FileName::new(n).unwrap_or_else(|_| panic!("{n:?} was a valid name"))
        }
        match self {
            Asked::List => FileRequest::List,
            Asked::Size(n) => FileRequest::Size(name(n)),
            Asked::Open(n) => FileRequest::Open(name(n)),
            Asked::Read {
                file,
                offset,
                len,
                send: false,
            } => FileRequest::Read {
                file,
                offset: *offset,
                len: *len,
            },
            Asked::Read {
                file,
                offset,
                len,
                send: true,
            } => FileRequest::Send {
                file,
                offset: *offset,
                len: *len,
            },
        }
    }

    fn lookup(&self) -> Option<Lookup> {
        match self {
            Asked::List => Some(Lookup::List),
            Asked::Size(n) => Some(Lookup::Size(n.clone())),
            Asked::Open(n) => Some(Lookup::Open(n.clone())),
            Asked::Read { .. } => None,
        }
    }
}

/// A file request handed out and not answered.
#[derive(Debug)]
struct Held {
    asked: Asked,
    /// When it was made (and handed out: in the same call).
    at: Duration,
    policy: Policy,
    /// Its number among the lookups, if it is one.
    lookup: Option<usize>,
    /// What the session had produced when it was made: bytes sent plus
    /// bytes queued.
    produced: usize,
}

/// The slice whose reads are being answered.
struct Track {
    /// The lookup (`Open`) that opened it.
    lookup: usize,
    /// The file `FileReply::Opened` handed over.
    file: MemFile,
    /// Where the next read must start, once one was answered.
    next: Option<u64>,
    /// Bytes of it the session took from read replies.
    delivered: u64,
}

/// What a reply said, for the bookkeeping.
enum Said {
    Other,
    Opened(MemFile),
    /// File bytes handed over: read (`Data`) or put on the socket (`Sent`).
    Data(usize),
    /// A failure injected (not the directory's own): the reason the
    /// session closes with if it was a read's.
    Fault(Reason),
}

/// What a reply may not change, when it comes late or unasked.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    queued: usize,
    waits: bool,
    wants_input: bool,
    timeout: Option<Instant>,
    close: Option<Close>,
    spent: bool,
}

impl Snapshot {
    fn of(session: &Session<MemFile>) -> Snapshot {
        Snapshot {
            queued: session.queued(),
            waits: session.waits_for_files(),
            wants_input: session.wants_input(),
            timeout: session.poll_timeout(),
            close: session.poll_close(),
            spent: session.turn_spent(),
        }
    }
}

/// A reply of the wrong kind for `asked`.
fn wrong_reply(asked: &Asked, p: u8) -> FileReply<'static, MemFile> {
    let listing = || FileReply::Listing(Listing::from_names(["a"]));
    let opened = || FileReply::Opened {
        file: Rc::new(RefCell::new(vec![7; 3])),
        size: 3,
    };
    match (asked, p) {
        (Asked::List, p) => match p % 3 {
            0 => FileReply::Size(u64::from(p)),
            1 => FileReply::NotFound,
            _ => FileReply::Data(b"x"),
        },
        (Asked::Size(_), p) => match p % 3 {
            0 => listing(),
            1 => opened(),
            _ => FileReply::Data(b"x"),
        },
        (Asked::Open(_), p) => match p % 3 {
            0 => FileReply::Size(u64::from(p)),
            1 => listing(),
            _ => FileReply::Data(b"x"),
        },
        (Asked::Read { send: false, .. }, p) => match p % 6 {
            0 => FileReply::Data(b""),
            1 => FileReply::Size(0),
            2 => FileReply::NotFound,
            3 => listing(),
            4 => FileReply::Sent(1),
            _ => opened(),
        },
        (Asked::Read { send: true, .. }, p) => match p % 6 {
            0 => FileReply::Data(b""),
            1 => FileReply::Sent(0),
            2 => FileReply::NotFound,
            3 => listing(),
            4 => FileReply::Size(1),
            _ => opened(),
        },
    }
}

/// Answers `asked` as `how` says, computing the reply with `perform` on
/// `files` as they are now. A `Send` answered `Sent` first puts the bytes
/// on `wire` (the socket), as a caller using `sendfile` does.
fn deliver(
    session: &mut Session<MemFile>,
    files: &MemoryFiles,
    scratch: &mut [u8],
    wire: &mut Vec<u8>,
    asked: &Asked,
    how: How,
    now: Instant,
) -> Said {
    let fatal = Said::Fault(Reason::Fatal(Status::InternalServerError));
    match how {
        How::Failed(p) => {
            let kind = ERROR_KINDS[usize::from(p) % ERROR_KINDS.len()];
            let reply = FileReply::Failed(io::Error::new(kind, "injected"));
            session.handle_file_reply(reply, now);
            return fatal;
        }
        How::Wrong(p) => {
            let reply = wrong_reply(asked, p);
            let said = match (asked, &reply) {
                (_, FileReply::Data([])) => Said::Fault(Reason::FileShrank),
                // Not wrong: nothing sent now (a full socket); asked again.
                (Asked::Read { send: true, .. }, FileReply::Sent(0)) => Said::Other,
                _ => fatal,
            };
            session.handle_file_reply(reply, now);
            return said;
        }
        How::Right | How::Short(_) | How::Long => {}
    }
    let short = |len: usize, p: u8| (len * (usize::from(p % 8) + 1) / 9).max(1);
    if let Asked::Read {
        file,
        offset,
        len,
        send: true,
    } = asked
    {
        // Sent with `sendfile`: all of it (`Right`) or a part (`Short`,
        // even parameter); otherwise read, as for a `Read`.
        let len = match how {
            How::Right => Some(*len),
            How::Short(p) if p % 2 == 0 => Some(short(*len, p >> 1)),
            _ => None,
        };
        if let Some(len) = len {
            let content = file.borrow();
            let start = usize::try_from(*offset)
                .unwrap_or(usize::MAX)
                .min(content.len());
            let n = len.min(content.len() - start);
            wire.extend_from_slice(&content[start..start + n]);
            drop(content);
            if tracing() {
                eprintln!("  reply Sent({n})");
            }
            // `sendfile` at the end of the file sends nothing: the caller
            // says so as an empty read (`Sent(0)` is "not now").
            let reply = match n {
                0 => FileReply::Data(&[]),
                n => FileReply::Sent(n),
            };
            session.handle_file_reply(reply, now);
            return Said::Data(n);
        }
    }
    let request = match (how, asked) {
        (
            How::Short(p),
            Asked::Read {
                file, offset, len, ..
            },
        ) => FileRequest::Read {
            file,
            offset: *offset,
            len: short(*len, p),
        },
        (
            How::Long,
            Asked::Read {
                file, offset, len, ..
            },
        ) => FileRequest::Read {
            file,
            offset: *offset,
            len: len + LONG_EXTRA,
        },
        _ => asked.request(),
    };
    let reply = perform(files, request, scratch);
    let said = match &reply {
        FileReply::Opened { file, .. } => Said::Opened(Rc::clone(file)),
        FileReply::Data(d) => Said::Data(d.len()),
        _ => Said::Other,
    };
    if tracing() {
        let shown = match &reply {
            FileReply::Data(d) => format!("Data({} bytes)", d.len()),
            FileReply::Opened { size, .. } => format!("Opened {{ size: {size} }}"),
            FileReply::Listing(l) => format!("Listing({} names)", l.names()),
            other => format!("{other:?}"),
        };
        eprintln!("  reply {shown}");
    }
    session.handle_file_reply(reply, now);
    said
}

struct Run {
    files: MemoryFiles,
    dir: Dir,
    max_line: usize,
    linger: Duration,
    fs_timeout: Duration,
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
    /// The last time the peer did anything, or a wait for the file system
    /// ended: that, an ack reported, a reply, the session giving up.
    last_activity: Duration,
    /// When the last wait for the file system ended (a reply taken, or the
    /// session giving up).
    fs_quiet_since: Duration,

    /// The policy of file requests, and the one for the next only.
    default_policy: Policy,
    next_policy: Option<Policy>,
    /// The file request handed out and not answered, while the session
    /// waits for it.
    out: Option<Held>,
    /// One the session gave up on, unanswered (for a late reply).
    stale: Option<Held>,
    /// The lookups the session made, in order.
    lookups: Vec<Lookup>,
    /// The slice being read.
    track: Option<Track>,
    /// The first failure of the file system the session saw.
    fault: Option<Fault>,
    /// Replies handed in so far, and as many as [`Run::take_answered`]
    /// saw: after a reply the session may have more to do even though its
    /// last `poll_transmit` gave nothing (it asked for the file bytes, and
    /// got them since).
    answers: usize,
    answers_seen: usize,

    truncated: bool,
    /// An empty read reply was injected.
    injected_shrink: bool,
    shutdown: bool,
    /// The run hit `SENT_CAP`.
    stopped: bool,
}

impl Run {
    fn now(&self) -> Instant {
        self.base + self.clock
    }

    /// After every call into the session: notes a request it gave up on,
    /// checks the invariants, then deals with the file request it makes.
    fn check(&mut self) {
        self.note_given_up();
        self.invariants();
        self.serve_files();
    }

    /// The session stopped waiting for the request held, with no reply:
    /// it gave up on it.
    fn note_given_up(&mut self) {
        if self.out.is_none() || self.session.waits_for_files() {
            return;
        }
        let held = self.out.take().expect("checked");
        assert!(
            self.clock >= held.at + self.fs_timeout,
            "gave up at {:?} on a file request made at {:?}, before its deadline ({:?})",
            self.clock,
            held.at,
            self.fs_timeout
        );
        if tracing() {
            eprintln!("  gave up on {:?}", held.asked);
        }
        self.note_fault(&held, Reason::FileSystemTimeout, true);
        self.fs_quiet_since = self.clock;
        self.last_activity = self.clock;
        self.stale = Some(held);
    }

    fn note_fault(&mut self, held: &Held, reason: Reason, timeout: bool) {
        assert_eq!(
            self.fault, None,
            "a file request ({:?}) after one failed",
            held.asked
        );
        self.fault = Some(match (&held.asked, held.lookup) {
            (_, Some(index)) => Fault::Lookup { index, timeout },
            (Asked::Read { .. }, None) => {
                let track = self.track.as_ref().expect("a read after an open");
                Fault::Read {
                    lookup: track.lookup,
                    delivered: track.delivered,
                    reason,
                }
            }
            (asked, None) => unreachable!("{asked:?} is a lookup"),
        });
        self.injected_shrink |= reason == Reason::FileShrank;
    }

    /// The checks after every call into the session.
    fn invariants(&mut self) {
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
                    Reason::Idle => {
                        assert!(
                            at >= self.last_input + IDLE,
                            "idle close at {at:?}, last input at {:?}",
                            self.last_input
                        );
                        assert!(
                            at >= self.fs_quiet_since + IDLE,
                            "idle close at {at:?}, the file system's last answer (or the \
                             session giving up on it) at {:?}",
                            self.fs_quiet_since
                        );
                    }
                    Reason::RequestTimeout => assert!(
                        self.starved || self.partial_since.is_some_and(|t| at >= t + REQUEST),
                        "request timeout at {at:?}, the last line started at {:?}",
                        self.partial_since
                    ),
                    Reason::FileShrank => assert!(
                        self.truncated || self.injected_shrink,
                        "FileShrank without truncation or an empty read"
                    ),
                    Reason::FileSystemTimeout => assert!(
                        matches!(
                            self.fault,
                            Some(
                                Fault::Lookup { timeout: true, .. }
                                    | Fault::Read {
                                        reason: Reason::FileSystemTimeout,
                                        ..
                                    }
                            )
                        ),
                        "FileSystemTimeout, but no request was given up on ({:?})",
                        self.fault
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
            assert!(
                !self.session.waits_for_files(),
                "closed, yet waits for files"
            );
            let now = self.now();
            assert!(
                self.session.poll_file_request(now).is_none(),
                "closed, yet a file request"
            );
        }
        if let Some(held) = &self.out {
            // `note_given_up` ran: the session still waits for it.
            assert!(self.closed.is_none(), "closed while waiting for files");
            assert!(
                !self.session.wants_input(),
                "wants input while waiting for files"
            );
            let produced = self.sent.len() + queued;
            assert!(
                produced <= held.produced,
                "{} bytes produced while waiting for {:?}",
                produced - held.produced,
                held.asked
            );
            let deadline = self.base + held.at + self.fs_timeout;
            assert!(
                self.session.poll_timeout().is_some_and(|t| t <= deadline),
                "deadline {:?} while waiting for files since {:?}",
                self.session.poll_timeout().map(|t| t - self.base),
                held.at
            );
        }
    }

    /// Asks for the file request the session makes, if any (as `conn.rs`
    /// does, before writing: the poll answers held input first), and deals
    /// with it as its policy says; again after a reply given at once.
    fn serve_files(&mut self) {
        let now = self.now();
        loop {
            if self.out.is_some() {
                let produced = self.sent.len() + self.session.queued();
                assert!(
                    self.session.poll_file_request(now).is_none(),
                    "a second file request while one is out"
                );
                assert_eq!(
                    self.sent.len() + self.session.queued(),
                    produced,
                    "bytes produced while waiting for files"
                );
                return;
            }
            if !self.session.turn_spent() {
                // This poll decodes what waits (see `starved`).
                self.starved = false;
            }
            let Some(request) = self.session.poll_file_request(now) else {
                assert!(
                    !self.session.waits_for_files(),
                    "waits for a file request it never handed out"
                );
                return;
            };
            let asked = Asked::of(&request);
            assert!(
                self.session.waits_for_files(),
                "a file request handed out, yet not waited for"
            );
            assert!(
                !self.session.wants_input(),
                "wants input while waiting for files"
            );
            assert_eq!(
                self.fault, None,
                "a file request ({asked:?}) after one failed"
            );
            if tracing() {
                eprintln!("  file request {asked:?}");
            }
            if let Asked::Read {
                file,
                offset,
                len,
                send,
            } = &asked
            {
                if *send {
                    assert!(
                        (1..=RAW_CHUNK).contains(len),
                        "a send of {len} bytes at {offset}"
                    );
                    assert_eq!(self.session.queued(), 0, "a send while bytes are queued");
                    assert!(self.shut_at.is_none(), "a send after ShutdownWrite");
                } else {
                    assert!(
                        (1..=FILE_CHUNK).contains(len),
                        "a read of {len} bytes at {offset}"
                    );
                }
                let track = self.track.as_ref().expect("a read before any open");
                assert!(
                    Rc::ptr_eq(file, &track.file),
                    "a read of another file than the one opened"
                );
                if let Some(next) = track.next {
                    assert_eq!(*offset, next, "a read not where the last one ended");
                }
                if !self.truncated {
                    let size = file.borrow().len() as u64;
                    assert!(
                        offset + *len as u64 <= size,
                        "a read of {offset}+{len} past the file's {size} bytes"
                    );
                }
            }
            let lookup = asked.lookup().map(|l| {
                self.lookups.push(l);
                self.lookups.len() - 1
            });
            let policy = self.next_policy.take().unwrap_or(self.default_policy);
            let held = Held {
                asked,
                at: self.clock,
                policy,
                lookup,
                produced: self.sent.len() + self.session.queued(),
            };
            match policy {
                Policy::AtOnce(how) => self.answer(held, how),
                Policy::Later | Policy::Hang | Policy::Late => self.out = Some(held),
            }
        }
    }

    /// Answers the request held, which the session waits for.
    fn answer(&mut self, held: Held, how: How) {
        assert!(self.session.waits_for_files());
        let now = self.now();
        if tracing() {
            eprintln!("  answer {:?} {how:?}", held.asked);
        }
        let before = self.sent.len();
        let said = deliver(
            &mut self.session,
            &self.files,
            &mut self.scratch,
            &mut self.sent,
            &held.asked,
            how,
            now,
        );
        // What a `Send` put on the socket.
        self.note_written(self.sent.len() - before);
        if self.sent.len() >= SENT_CAP {
            self.stopped = true;
        }
        // Only a reply that made the session wait restarts its idle
        // timeout; one given at once (same instant) is no one's progress.
        if self.clock > held.at {
            self.fs_quiet_since = self.clock;
            self.last_activity = self.clock;
        }
        self.answers += 1;
        match (&held.asked, said) {
            (_, Said::Fault(reason)) => self.note_fault(&held, reason, false),
            (Asked::Open(_), Said::Opened(file)) => {
                self.track = Some(Track {
                    lookup: held.lookup.expect("an open is a lookup"),
                    file,
                    next: None,
                    delivered: 0,
                });
            }
            (Asked::Read { offset, len, .. }, Said::Data(n)) => {
                let n = n.min(*len) as u64;
                let track = self.track.as_mut().expect("a read after an open");
                track.delivered += n;
                track.next = Some(offset + n);
            }
            _ => {}
        }
        assert!(
            !self.session.waits_for_files(),
            "still waiting after the reply"
        );
        self.invariants();
    }

    /// A reply when no request is out: to one the session gave up on (a
    /// late reply), or to none. Neither may change anything.
    fn unasked_reply(&mut self, how: How) {
        assert!(self.out.is_none());
        let before = Snapshot::of(&self.session);
        let asked = match self.stale.take() {
            Some(held) => held.asked,
            None => match how {
                How::Short(_) | How::Long => Asked::Size("a".to_owned()),
                _ => Asked::List,
            },
        };
        if tracing() {
            eprintln!("  unasked reply {how:?} to {asked:?}");
        }
        let now = self.now();
        // Bytes a late `Send` put on the socket would follow a reset: not
        // part of what the peer gets.
        let mut wire = Vec::new();
        deliver(
            &mut self.session,
            &self.files,
            &mut self.scratch,
            &mut wire,
            &asked,
            how,
            now,
        );
        assert_eq!(
            Snapshot::of(&self.session),
            before,
            "a reply to no request changed the session"
        );
        self.check();
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
        let result = match self.session.poll_transmit(now) {
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
                        assert!(
                            bytes.len() <= MAX_QUEUED,
                            "a Transmit::Bytes of {} bytes",
                            bytes.len()
                        );
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

    /// Whether a reply was handed in since the last look.
    fn take_answered(&mut self) -> bool {
        let new = self.answers != self.answers_seen;
        self.answers_seen = self.answers;
        new
    }

    fn note_written(&mut self, n: usize) {
        self.written += n as u64;
        self.turn_bytes += n;
    }

    /// Writes with an unlimited socket until the session has nothing more
    /// (or spent its turn, or waits for a file request held); returns
    /// whether anything was transmitted or answered. Ends within
    /// [`MAX_TRANSMITS`] calls plus two per file request answered meanwhile
    /// (the `None` that asked for it, and the bytes of its reply: short
    /// reads make many).
    fn flush(&mut self) -> bool {
        let mut moved = self.take_answered();
        let answers = self.answers;
        let mut polls = 0;
        while polls < MAX_TRANSMITS + 2 * (self.answers - answers) {
            polls += 1;
            match self.write_once(usize::MAX) {
                Wrote::Nothing if self.take_answered() => moved = true,
                Wrote::Nothing => return moved,
                Wrote::Blocked => unreachable!("an unlimited socket blocked"),
                Wrote::Took(_) | Wrote::Shut => moved = true,
            }
            if self.stopped {
                return moved;
            }
        }
        panic!(
            "poll_transmit still has something after {polls} transmits and {} file replies",
            self.answers - answers
        );
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
            self.session.handle_input(chunk, now);
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
    /// bytes, take the file request (done in `check`), read when the
    /// session wants input, until nothing moves.
    fn drive(&mut self, mut room: usize, read_size: usize) {
        self.begin_turn();
        let answers = self.answers;
        let mut steps = 0;
        while steps < MAX_TURN_STEPS + 2 * (self.answers - answers) {
            steps += 1;
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
            // The file request taken and answered (in `check`).
            moved |= self.take_answered();
            if !moved || self.closed.is_some() || self.stopped {
                return;
            }
        }
        panic!(
            "a turn did not end after {steps} steps and {} file replies",
            self.answers - answers
        );
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
        let waiting = self.out.as_ref().map(|h| h.at);
        let idle_due = waiting.is_none() && self.clock >= self.last_activity + IDLE;
        let linger_due = self.shut_at.is_some_and(|t| self.clock >= t + self.linger);
        if tracing() {
            eprintln!("  handle_timeout");
        }
        self.session.handle_timeout(now);
        self.check();
        if let Some(at) = waiting.filter(|&at| self.clock >= at + self.fs_timeout) {
            assert!(
                self.out.is_none(),
                "still waiting at {:?} for a file request made at {at:?}",
                self.clock
            );
            match self.fault {
                Some(Fault::Lookup { timeout: true, .. }) => {
                    assert!(
                        self.closed.is_none()
                            && !self.session.wants_input()
                            && self.session.queued() > 0,
                        "a lookup given up on, yet no 199 queued"
                    );
                }
                Some(Fault::Read {
                    reason: Reason::FileSystemTimeout,
                    ..
                }) => assert_eq!(
                    self.closed.map(|c| c.0),
                    Some(Close {
                        reason: Reason::FileSystemTimeout,
                        abort: true
                    }),
                    "a read given up on"
                ),
                other => panic!("a file request given up on, yet {other:?}"),
            }
        }
        if self.closed.is_none() {
            if let Some(next) = self.session.poll_timeout() {
                assert!(
                    next > now,
                    "timer due at {:?} still due after firing at {:?}",
                    next - self.base,
                    self.clock
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
                "at {:?}: read {}/{}, sent {}, queued {}, deadline {:?}, files {}, closed {:?}; \
                 op {:?}",
                self.clock,
                self.delivered,
                self.stream.len(),
                self.sent.len(),
                self.session.queued(),
                self.session.poll_timeout().map(|t| t - self.base),
                if self.session.waits_for_files() {
                    "waiting"
                } else {
                    "-"
                },
                self.closed.map(|c| c.0),
                &rest[..rest.len().min(6)],
            );
        }
        let op = input.next();
        match op % 18 {
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
            15 => {
                // Rare: a poll the socket refuses, or a server shutdown.
                match input.next() & 3 {
                    0 => {
                        self.write_once(0);
                    }
                    1 => {
                        self.shutdown = true;
                        self.session.handle_shutdown();
                        self.check();
                    }
                    _ => self.begin_turn(),
                }
            }
            16 => self.next_policy = Some(Policy::from_byte(input.next())),
            _ => {
                // The file system answers the request held, or one the
                // session gave up on, or none.
                let how = How::from_byte(input.next());
                match self.out.take() {
                    Some(held) => self.answer(held, how),
                    None => self.unasked_reply(how),
                }
                self.check();
            }
        }
    }

    /// In the final drive: answers a request held (or a late reply to one
    /// given up on), or lets the deadline of one that hangs pass. Returns
    /// whether it did anything.
    fn settle_files(&mut self) -> bool {
        match self.out.as_ref().map(|h| h.policy) {
            Some(Policy::Hang | Policy::Late) => {
                // Nothing will come: move to the next deadline (a probe,
                // reported all taken, or the file system's).
                let next = self.session.poll_timeout().expect("waiting has a deadline");
                let step = (next - self.base).saturating_sub(self.clock);
                self.advance(step, true, 0);
                true
            }
            Some(_) => {
                let held = self.out.take().expect("checked");
                self.answer(held, How::Right);
                self.check();
                true
            }
            None => {
                if self
                    .stale
                    .as_ref()
                    .is_some_and(|h| h.policy == Policy::Late)
                {
                    self.unasked_reply(How::Right);
                }
                false
            }
        }
    }

    /// Drives the session to the end: reads all, writes all, answers what
    /// is held, new turns while spent; then the client closes.
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
                moved |= self.settle_files();
                moved |= self.take_answered();
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
    let fs = input.next();

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

    let mut config = SessionConfig::new(IDLE, REQUEST, max_line);
    if let Some(t) = FS_TIMEOUTS[usize::from(fs & 3)] {
        config.fs_timeout = t;
    }
    let linger = config.linger;
    let fs_timeout = config.fs_timeout;
    let base = Instant::now();
    let mut run = Run {
        files,
        dir,
        max_line,
        linger,
        fs_timeout,
        session: Session::new(config, base),
        scratch: vec![0; FILE_CHUNK + LONG_EXTRA],
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
        fs_quiet_since: Duration::ZERO,
        default_policy: Policy::from_byte(fs >> 2),
        next_policy: None,
        out: None,
        stale: None,
        lookups: Vec::new(),
        track: None,
        fault: None,
        answers: 0,
        answers_seen: 0,
        truncated: false,
        injected_shrink: false,
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
            "end at {:?}: read {}/{}, sent {}, closed {:?}, fault {:?}",
            run.clock,
            run.delivered,
            run.stream.len(),
            run.sent.len(),
            run.closed.map(|c| c.0),
            run.fault,
        );
    }
    assert!(
        run.closed.is_some() || run.stopped,
        "not closed after everything was read and written and the client closed"
    );
    if run.truncated {
        return;
    }
    let want = model(
        &run.stream[..run.delivered],
        run.max_line,
        &run.dir,
        run.fault,
    );
    assert!(
        want.capped || want.lookups.starts_with(&run.lookups),
        "file requests differ from the reference:\nmade:     {:?}\nexpected: {:?}",
        run.lookups,
        want.lookups
    );
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
    if run.shutdown || run.stopped || want.capped || timed_out {
        return;
    }
    let expected = match want.end {
        End::Open => Reason::ByPeer,
        End::Quit => Reason::Quit,
        End::Fatal(status) => Reason::Fatal(status),
        End::FsTimeout => Reason::FileSystemTimeout,
        End::Cut(reason) => {
            // An abortive close: what was queued is dropped, so the bytes
            // sent are only a prefix.
            assert_eq!(
                close,
                Close {
                    reason,
                    abort: true
                },
                "close after a failed read"
            );
            return;
        }
    };
    assert_eq!(
        run.sent.len(),
        want.out.len(),
        "the session answered less than the reference"
    );
    assert_eq!(
        want.lookups, run.lookups,
        "the session made fewer file requests than the reference"
    );
    assert_eq!(
        close,
        Close {
            reason: expected,
            abort: false
        },
        "close"
    );
});
