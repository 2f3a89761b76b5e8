//! The sans-IO session driven deterministically: a fake clock, a fake
//! socket that takes N bytes per write and holds what the peer has not
//! acknowledged, and an in-memory directory. Every finding of the
//! connection-core review has a test here; the wire tests show the same on
//! real sockets.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hftp_proto::response::{
    encode_end, encode_item, encode_raw_header, encode_size, encode_status,
};
use hftp_proto::slice::encode_line;
use hftp_proto::{Response, Status};
use hftp_server::files::{perform, FileRequest, MemoryFiles};
use hftp_server::session::{
    Close, Command, PayloadMode, Reason, RequestEvent, Session, SessionConfig, Transmit,
    FILE_CHUNK, MAX_EVENTS, MAX_QUEUED, REQUEST_COST, TURN_BUDGET,
};
use proptest::prelude::*;

type File = Rc<RefCell<Vec<u8>>>;

/// A session with its fake socket and clock.
struct Rig {
    session: Session<File>,
    files: MemoryFiles,
    scratch: Vec<u8>,
    now: Instant,
    /// Bytes the client sent that the session has not taken yet.
    to_send: Vec<u8>,
    /// Bytes the socket took from the session, in order.
    wire: Vec<u8>,
    /// Of those, how many the peer has acknowledged (taken).
    acked: usize,
    /// Bytes the socket holds at most before it would block.
    socket_room: usize,
    write_shut: bool,
    /// The largest queue memory and queue length seen after any call.
    most_capacity: usize,
    most_queued: usize,
    /// Names whose lookups never come back (a hung file system).
    hung: Vec<&'static str>,
    /// Whether reads of open files never come back either.
    hang_reads: bool,
    /// Whether a raw slice's sends are answered by writing straight to the
    /// socket (as `sendfile`), rather than by reading.
    sendfile: bool,
    /// File requests made for them.
    unanswered: usize,
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

impl Rig {
    fn new(config: SessionConfig, files: &[(&str, Vec<u8>)]) -> Rig {
        let dir = MemoryFiles::new();
        for (name, content) in files {
            dir.insert(name, content.clone());
        }
        let now = Instant::now();
        Rig {
            session: Session::new(config, now),
            files: dir,
            scratch: vec![0; FILE_CHUNK],
            now,
            to_send: Vec::new(),
            wire: Vec::new(),
            acked: 0,
            socket_room: usize::MAX,
            write_shut: false,
            most_capacity: 0,
            most_queued: 0,
            hung: Vec::new(),
            hang_reads: false,
            sendfile: false,
            unanswered: 0,
        }
    }

    /// A rig serving `data` as `big`, asked for all of it as one slice.
    fn slice_of(config: SessionConfig, data: &[u8], raw: bool) -> Rig {
        let mut rig = Rig::new(config, &[("big", data.to_vec())]);
        let suffix = if raw { " raw" } else { "" };
        rig.to_send = format!("get_slice big 0 {}{suffix}\r\n", data.len()).into_bytes();
        rig
    }

    fn config(idle: u64, request: u64) -> SessionConfig {
        SessionConfig::new(
            Duration::from_secs(idle),
            Duration::from_secs(request),
            hftp_proto::RequestDecoder::DEFAULT_MAX_LINE,
        )
    }

    fn observe(&mut self) {
        self.most_capacity = self.most_capacity.max(self.session.queue_capacity());
        self.most_queued = self.most_queued.max(self.session.queued());
        assert!(self.session.queued() <= MAX_QUEUED);
    }

    /// Bytes in the socket the peer has not taken.
    fn in_flight(&self) -> usize {
        self.wire.len() - self.acked
    }

    fn closed(&self) -> Option<Close> {
        self.session.poll_close()
    }

    /// One turn: hand in what the client sent (at most `read` bytes a
    /// read), and write, at most `per_write` bytes a write, while the
    /// socket has room. Returns the bytes written this turn.
    fn turn(&mut self, per_write: usize, read: usize) -> usize {
        self.session.begin_turn();
        let mut written = 0;
        loop {
            let mut moved = false;
            while self.in_flight() < self.socket_room {
                let room = (self.socket_room - self.in_flight()).min(per_write);
                let now = self.now;
                let Some(t) = self.session.poll_transmit(now) else {
                    break;
                };
                match t {
                    Transmit::Bytes(bytes) => {
                        let n = bytes.len().min(room);
                        assert!(n > 0, "empty Bytes");
                        self.wire.extend_from_slice(&bytes[..n]);
                        self.session.handle_written(n, now);
                        written += n;
                    }
                    Transmit::ShutdownWrite => {
                        assert!(!self.write_shut, "shut twice");
                        self.write_shut = true;
                    }
                }
                self.observe();
                moved = true;
            }
            if let Some(request) = self.session.poll_file_request(self.now) {
                let hangs = match &request {
                    FileRequest::Size(name) | FileRequest::Open(name) => {
                        self.hung.contains(&name.as_str())
                    }
                    FileRequest::Read { .. } | FileRequest::Send { .. } => self.hang_reads,
                    _ => false,
                };
                let in_flight = self.wire.len() - self.acked;
                let room = self.socket_room.saturating_sub(in_flight).min(per_write);
                let send = match &request {
                    FileRequest::Send { file, offset, len } if self.sendfile => {
                        Some((Rc::clone(file), *offset, *len))
                    }
                    _ => None,
                };
                if hangs {
                    // A file system that never answers: nothing comes back.
                    self.unanswered += 1;
                    moved = true;
                } else if let Some((file, offset, len)) = send {
                    // As `sendfile`: straight from the file to the socket.
                    assert_eq!(self.session.queued(), 0, "a send with bytes queued");
                    let content = file.borrow();
                    let start = (offset as usize).min(content.len());
                    let n = len.min(room).min(content.len() - start);
                    self.wire.extend_from_slice(&content[start..start + n]);
                    drop(content);
                    written += n;
                    // As the server: a full socket is "not now" (`Sent(0)`),
                    // the end of the file an empty read.
                    let reply = match n {
                        0 if room == 0 => hftp_server::files::FileReply::Sent(0),
                        0 => hftp_server::files::FileReply::Data(&[]),
                        n => hftp_server::files::FileReply::Sent(n),
                    };
                    self.session.handle_file_reply(reply, self.now);
                    // "Not now" moves nothing: wait for room, as a
                    // connection waits for writability.
                    moved |= n > 0 || room > 0;
                } else {
                    let reply = perform(&self.files, request, &mut self.scratch);
                    self.session.handle_file_reply(reply, self.now);
                    moved = true;
                }
                self.observe();
            }
            if !self.to_send.is_empty() && self.session.wants_input() {
                let n = self.to_send.len().min(read);
                let chunk: Vec<u8> = self.to_send.drain(..n).collect();
                self.session.handle_input(&chunk, self.now);
                self.observe();
                moved = true;
            }
            if self.closed().is_some() || !moved {
                return written;
            }
        }
    }

    /// Turns until nothing moves any more (or the session closes).
    fn run(&mut self, per_write: usize) {
        for _ in 0..100_000 {
            let before = (self.wire.len(), self.to_send.len());
            self.turn(per_write, 16 * 1024);
            if self.closed().is_some()
                || ((self.wire.len(), self.to_send.len()) == before && !self.session.turn_spent())
            {
                return;
            }
        }
        panic!("the session never settled");
    }

    /// The peer takes up to `n` bytes of what is in the socket.
    fn peer_takes(&mut self, n: usize) {
        self.acked += n.min(self.in_flight());
    }

    /// Gives the session a turn and moves the clock on 10 ms at a time
    /// until it closes; returns how long that took. Fails past `within`.
    fn wait_close(&mut self, within: Duration) -> Duration {
        let begun = self.now;
        loop {
            self.turn(usize::MAX, 16 * 1024);
            if self.closed().is_some() {
                return self.now - begun;
            }
            assert!(self.now - begun < within, "not closed within {within:?}");
            self.advance(Duration::from_millis(10));
        }
    }

    /// Moves the clock on by `d`, reporting the socket's send queue when
    /// the session asks, then its deadlines.
    fn advance(&mut self, d: Duration) {
        self.now += d;
        if self.session.wants_send_queue(self.now) {
            self.session
                .handle_send_queue(Some(self.in_flight() as u64), self.now);
        }
        self.session.handle_timeout(self.now);
    }
}

/// What a server answers to `get_slice NAME OFFSET SIZE`, computed from
/// the rules of docs/PROTOCOL.md §3.
fn slice_answer(data: &[u8], offset: usize, size: usize, raw: bool) -> Vec<u8> {
    let mut out = Vec::new();
    encode_status(Status::Ok, &mut out);
    if raw {
        encode_raw_header(size as u64, &mut out);
        out.extend_from_slice(&data[offset..offset + size]);
    } else {
        encode_line(&data[offset..offset + size], &mut out);
    }
    out
}

fn help() -> Vec<u8> {
    let mut out = Vec::new();
    Response::Help.encode(&mut out);
    out
}

/// A mix of requests and the answers docs/PROTOCOL.md gives them.
fn requests_and_answers(files: &[(&str, Vec<u8>)], picks: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut req, mut ans) = (Vec::new(), Vec::new());
    let (name, data) = (&files[0].0, &files[0].1);
    for (i, &p) in picks.iter().enumerate() {
        let offset = (i * 997) % data.len();
        let size = (p as usize * 4099) % (data.len() - offset);
        match p % 7 {
            0 => {
                req.extend_from_slice(b"get_file_listing\r\n");
                encode_status(Status::Ok, &mut ans);
                let mut names: Vec<&str> = files.iter().map(|f| f.0).collect();
                names.sort_unstable();
                for n in names {
                    encode_item(n, &mut ans);
                }
                encode_end(&mut ans);
            }
            1 => {
                req.extend_from_slice(format!("get_metadata {name}\r\n").as_bytes());
                encode_status(Status::Ok, &mut ans);
                encode_size(data.len() as u64, &mut ans);
            }
            2 => {
                req.extend_from_slice(format!("get_slice {name} {offset} {size}\r\n").as_bytes());
                ans.extend_from_slice(&slice_answer(data, offset, size, false));
            }
            3 => {
                req.extend_from_slice(
                    format!("get_slice {name} {offset} {size} raw\r\n").as_bytes(),
                );
                ans.extend_from_slice(&slice_answer(data, offset, size, true));
            }
            4 => {
                req.extend_from_slice(b"help\r\n");
                ans.extend_from_slice(&help());
            }
            5 => {
                req.extend_from_slice(b"get_metadata nope\r\n");
                encode_status(Status::FileNotFound, &mut ans);
            }
            _ => {
                req.extend_from_slice(format!("get_slice {name} {} 1\r\n", data.len()).as_bytes());
                encode_status(Status::OffsetExceedsFileSize, &mut ans);
            }
        }
    }
    (req, ans)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Finding 1: whatever the socket takes per write, from one byte up,
    /// the queue never holds more than its bound, its memory stays within
    /// what that bound needs, and the answers are the same bytes in the
    /// same order as with a socket that takes everything.
    #[test]
    fn the_queue_bound_holds_for_every_write_size(
        per_write in prop_oneof![1usize..64, 64usize..70_000, 70_000usize..400_000],
        picks in proptest::collection::vec(any::<u8>(), 1..24),
    ) {
        let files = vec![("big", pattern(700_000, 3)), ("small", pattern(10, 9))];
        let (requests, answers) = requests_and_answers(&files, &picks);
        let mut rig = Rig::new(Rig::config(60, 30), &files);
        rig.to_send = requests;
        rig.run(per_write);
        prop_assert!(rig.closed().is_none(), "closed: {:?}", rig.closed());
        prop_assert_eq!(rig.wire.len(), answers.len());
        prop_assert!(rig.wire == answers, "the answers differ");
        prop_assert!(rig.most_queued <= MAX_QUEUED);
        prop_assert!(
            rig.most_capacity <= 2 * MAX_QUEUED,
            "{} bytes held for a queue bound of {}", rig.most_capacity, MAX_QUEUED
        );
    }
}

/// Finding 1, the case the review measured: a long slice to a socket that
/// takes a little less than is queued each time (so the queue never
/// empties). The old queue kept every byte sent behind the unsent ones.
#[test]
fn a_long_slice_through_partial_writes_holds_one_bound_of_memory() {
    let data = pattern(8 << 20, 1);
    let mut rig = Rig::new(Rig::config(60, 30), &[("big", data.clone())]);
    rig.to_send = format!("get_slice big 0 {}\r\n", data.len()).into_bytes();
    rig.run(100_000);
    assert_eq!(rig.wire, slice_answer(&data, 0, data.len(), false));
    assert!(
        rig.most_capacity <= 2 * MAX_QUEUED,
        "{} bytes held",
        rig.most_capacity
    );
}

/// Drives a slice to a peer that takes `rate` bytes every 100 ms through a
/// socket holding `room` bytes, for `ticks` ticks or until the peer has
/// taken `until` bytes. Like a real socket, it reports itself writable
/// again only once a third of it is free: a large one hides the peer's
/// progress from the writer for a long time.
fn paced(rig: &mut Rig, room: usize, rate: usize, ticks: usize, until: usize) {
    rig.socket_room = room;
    for _ in 0..ticks {
        if rig.acked >= until {
            return;
        }
        if rig.in_flight() <= room / 3 * 2 {
            rig.turn(usize::MAX, 16 * 1024);
        }
        if rig.closed().is_some() {
            return;
        }
        rig.advance(Duration::from_millis(100));
        if rig.closed().is_some() {
            return;
        }
        rig.peer_takes(rate);
    }
}

/// Findings 2 and 3: base64 and raw slices to a slow peer that keeps
/// reading last 40 times the idle timeout and are never cut, although the
/// socket lets the server write only every 30 idle timeouts or so: what
/// counts is what the peer acknowledged, not when the server wrote.
#[test]
fn slow_slices_are_never_cut_while_the_peer_takes_bytes() {
    let data = pattern(4 << 20, 5);
    for raw in [false, true] {
        let mut rig = Rig::slice_of(Rig::config(1, 30), &data, raw);
        let expected = slice_answer(&data, 0, data.len(), raw);
        // 10 KiB every 100 ms: the whole slice takes 41 (raw) to 55
        // (base64) idle timeouts.
        let begun = rig.now;
        paced(&mut rig, 1 << 20, 10 * 1024, 10_000, expected.len());
        assert_eq!(rig.closed(), None, "raw: {raw}");
        assert!(rig.now - begun >= Duration::from_secs(40));
        assert!(rig.wire == expected, "raw: {raw}: the slice differs");
    }
}

/// Findings 2 and 3, the other half: once the peer stops taking bytes, the
/// connection is reset after the idle timeout (at most a probe interval
/// late), whatever is still queued.
#[test]
fn a_peer_that_stops_taking_bytes_is_cut_after_the_idle_timeout() {
    let data = pattern(4 << 20, 6);
    for raw in [false, true] {
        let mut rig = Rig::slice_of(Rig::config(1, 30), &data, raw);
        paced(&mut rig, 256 * 1024, 100 * 1024, 20, usize::MAX);
        assert_eq!(rig.closed(), None);
        // The peer takes nothing more.
        let after = rig.wait_close(Duration::from_secs(2));
        let close = rig.closed().expect("closed");
        assert_eq!(
            close,
            Close {
                reason: Reason::Idle,
                abort: true
            }
        );
        assert!(
            after >= Duration::from_secs(1) && after <= Duration::from_millis(1260),
            "raw: {raw}: closed {after:?} after the peer stopped"
        );
    }
}

/// The idle timeout on a quiet connection: closed gracefully (nothing is
/// queued), and a peer that sends a request now and then never is.
#[test]
fn idle_is_what_the_peer_did_not_do() {
    let mut rig = Rig::new(Rig::config(1, 30), &[("ten", b"0123456789".to_vec())]);
    for _ in 0..10 {
        rig.to_send = b"get_metadata ten\r\n".to_vec();
        rig.run(usize::MAX);
        rig.peer_takes(usize::MAX);
        rig.advance(Duration::from_millis(900));
        assert_eq!(rig.closed(), None);
    }
    let after = rig.wait_close(Duration::from_secs(5));
    assert_eq!(
        rig.closed(),
        Some(Close {
            reason: Reason::Idle,
            abort: false
        })
    );
    // The last answer was sent 900 ms before the quiet began; the probe
    // that found it taken was due after 250 ms but asked only when the
    // clock moved on, 900 ms after: dated one probe interval before that
    // (650 ms), the idle deadline is 1.65 s after the answer.
    assert!(
        after >= Duration::from_millis(740) && after <= Duration::from_millis(760),
        "{after:?}"
    );
}

/// The request deadline runs from a line's first byte, per line: a client
/// trickling bytes (so never idle) is cut, one that finishes its lines in
/// time is not.
#[test]
fn the_request_deadline_cuts_trickling_lines_only() {
    let mut rig = Rig::new(Rig::config(10, 1), &[("ten", b"0123456789".to_vec())]);
    for _ in 0..4 {
        for &b in b"help\r\n" {
            rig.to_send.push(b);
            rig.run(usize::MAX);
            rig.advance(Duration::from_millis(150));
        }
    }
    assert_eq!(rig.closed(), None);
    assert_eq!(rig.wire, help().repeat(4));
    let started = rig.now;
    for &b in b"get_metadata ten" {
        rig.to_send.push(b);
        rig.run(usize::MAX);
        rig.advance(Duration::from_millis(100));
        if rig.closed().is_some() {
            break;
        }
    }
    assert_eq!(
        rig.closed(),
        Some(Close {
            reason: Reason::RequestTimeout,
            abort: false
        })
    );
    let took = rig.now - started;
    assert!(took >= Duration::from_secs(1) && took <= Duration::from_millis(1100));
}

/// After `quit` (and fatal errors), a lingering close: the status line,
/// the write side shut, what the client still sends discarded, then the
/// close at the client's EOF or at the linger deadline.
#[test]
fn quit_and_fatal_errors_linger() {
    for (request, status, reason) in [
        (&b"quit\r\nhelp\r\n"[..], "0 OK\r\n", Reason::Quit),
        (
            b"help\rx\r\nhelp\r\n",
            "100 BAD EOL\r\n",
            Reason::Fatal(Status::BadEol),
        ),
    ] {
        for eof in [true, false] {
            let mut rig = Rig::new(Rig::config(60, 30), &[]);
            rig.to_send = request.to_vec();
            rig.run(3);
            assert!(rig.write_shut);
            let expected = status.as_bytes().to_vec();
            assert_eq!(
                String::from_utf8_lossy(&rig.wire),
                String::from_utf8_lossy(&expected)
            );
            assert_eq!(rig.closed(), None, "lingering");
            // More junk is taken and discarded.
            rig.to_send = vec![b'x'; 100_000];
            rig.run(usize::MAX);
            assert!(rig.to_send.is_empty());
            assert_eq!(rig.wire, expected);
            if eof {
                rig.session.handle_eof(rig.now);
            } else {
                rig.advance(Duration::from_millis(1999));
                assert_eq!(rig.closed(), None);
                rig.advance(Duration::from_millis(1));
            }
            assert_eq!(
                rig.closed(),
                Some(Close {
                    reason,
                    abort: false
                })
            );
        }
    }
}

/// Finding 4: a file that shrinks mid-slice can never give the promised
/// bytes: the session asks for a reset, not a graceful close.
#[test]
fn a_file_shrinking_mid_slice_aborts() {
    let data = pattern(1 << 20, 8);
    for raw in [false, true] {
        let mut rig = Rig::slice_of(Rig::config(60, 30), &data, raw);
        rig.socket_room = 200 * 1024;
        rig.turn(usize::MAX, 16 * 1024);
        assert_eq!(rig.closed(), None);
        rig.files.truncate("big", 300 * 1024);
        for _ in 0..20 {
            rig.peer_takes(usize::MAX);
            rig.turn(usize::MAX, 16 * 1024);
        }
        assert_eq!(
            rig.closed(),
            Some(Close {
                reason: Reason::FileShrank,
                abort: true
            }),
            "raw: {raw}"
        );
        let full = slice_answer(&data, 0, data.len(), raw);
        assert!(rig.wire.len() < full.len());
        assert!(
            full.starts_with(&rig.wire),
            "raw: {raw}: wrong bytes before the end"
        );
    }
}

/// Finding 5: one turn does a bounded amount of work, however much the
/// client pipelined and however fast the socket takes it; the rest comes
/// in later turns, in order.
#[test]
fn one_turn_does_a_bounded_amount_of_work() {
    let mut rig = Rig::new(Rig::config(60, 30), &[("big", pattern(8 << 20, 2))]);
    let requests = 20_000;
    rig.to_send = b"help\r\n".repeat(requests);
    let written = rig.turn(usize::MAX, usize::MAX);
    assert!(
        rig.session.turn_spent(),
        "the turn did not stop on its budget"
    );
    let answered = written / help().len();
    assert!(
        answered <= TURN_BUDGET / REQUEST_COST,
        "{answered} requests in one turn"
    );
    assert!(answered > 0);
    let mut turns = 1;
    while rig.wire.len() < requests * help().len() {
        rig.turn(usize::MAX, usize::MAX);
        turns += 1;
        assert!(turns < 1000);
    }
    assert!(turns >= requests / (TURN_BUDGET / REQUEST_COST));
    assert_eq!(rig.wire, help().repeat(requests));
    // A flood of junk during a lingering close: read a bounded amount
    // per turn too.
    let mut rig = Rig::new(Rig::config(60, 30), &[]);
    rig.to_send = b"quit\r\n".to_vec();
    rig.run(usize::MAX);
    assert!(rig.write_shut);
    rig.to_send = vec![b'x'; 4 << 20];
    rig.turn(usize::MAX, 16 * 1024);
    assert!(rig.session.turn_spent());
    let taken = (4 << 20) - rig.to_send.len();
    assert!(
        taken <= TURN_BUDGET + 16 * 1024,
        "{taken} bytes in one turn"
    );
    // A slice: each turn sends at most the budget plus one chunk.
    let mut rig = Rig::new(Rig::config(60, 30), &[("big", pattern(8 << 20, 2))]);
    for raw in ["", " raw"] {
        rig.to_send = format!("get_slice big 0 {}{raw}\r\n", 8 << 20).into_bytes();
        loop {
            let written = rig.turn(usize::MAX, usize::MAX);
            assert!(
                written <= TURN_BUDGET + MAX_QUEUED,
                "{written} bytes in one turn"
            );
            if !rig.session.turn_spent() {
                break;
            }
        }
    }
}

/// An unreadable file has a size but answers 199 (fatal) to a slice, and
/// nothing after it is answered.
#[test]
fn an_unreadable_file_has_a_size_and_a_fatal_slice() {
    let mut rig = Rig::new(Rig::config(60, 30), &[]);
    rig.files.insert_unreadable("locked", 42);
    rig.to_send = b"get_metadata locked\r\nget_slice locked 0 1\r\nhelp\r\n".to_vec();
    rig.run(usize::MAX);
    let mut expected = Vec::new();
    encode_status(Status::Ok, &mut expected);
    encode_size(42, &mut expected);
    encode_status(Status::InternalServerError, &mut expected);
    assert_eq!(rig.wire, expected);
    assert!(rig.write_shut, "a fatal error lingers");
}

/// Shutting down: the answer in flight is finished, nothing new is
/// answered, then the session closes.
#[test]
fn shutdown_finishes_the_answer_in_flight_only() {
    let data = pattern(1 << 20, 4);
    let mut rig = Rig::new(Rig::config(60, 30), &[("big", data.clone())]);
    rig.to_send = format!("get_slice big 0 {}\r\nhelp\r\n", data.len()).into_bytes();
    rig.socket_room = 100_000;
    rig.turn(usize::MAX, usize::MAX);
    rig.session.handle_shutdown();
    rig.socket_room = usize::MAX;
    rig.run(usize::MAX);
    assert_eq!(rig.wire, slice_answer(&data, 0, data.len(), false));
    assert_eq!(
        rig.closed(),
        Some(Close {
            reason: Reason::Shutdown,
            abort: false
        })
    );
}

/// A client that sent `quit` and closed its side: the answer, then a
/// plain close (everything it sent was read, so nothing is left to
/// linger for).
#[test]
fn quit_then_eof_closes_after_the_answer_without_lingering() {
    let mut rig = Rig::new(Rig::config(60, 30), &[]);
    rig.socket_room = 0;
    rig.to_send = b"quit\r\n".to_vec();
    rig.turn(usize::MAX, 16 * 1024);
    rig.session.handle_eof(rig.now);
    assert_eq!(rig.closed(), None, "the answer is not sent yet");
    rig.socket_room = usize::MAX;
    rig.run(usize::MAX);
    assert_eq!(rig.wire, b"0 OK\r\n");
    assert!(!rig.write_shut);
    assert_eq!(
        rig.closed(),
        Some(Close {
            reason: Reason::Quit,
            abort: false
        })
    );
}

/// The request deadline belongs to the line: a read that completes one
/// line and begins the next starts the next one's deadline (found by the
/// `session` fuzz target: the first line's start was kept, so pipelined
/// clients whose reads end mid-line were cut after the timeout).
#[test]
fn a_read_that_ends_one_line_and_begins_the_next_restarts_the_deadline() {
    let mut rig = Rig::new(Rig::config(60, 3), &[]);
    rig.to_send = b"hel".to_vec();
    rig.run(usize::MAX);
    rig.advance(Duration::from_secs(2));
    rig.to_send = b"p\r\nhel".to_vec();
    rig.run(usize::MAX);
    assert_eq!(rig.wire, help());
    rig.advance(Duration::from_secs(2));
    assert_eq!(rig.closed(), None, "cut by the first line's deadline");
    rig.advance(Duration::from_millis(999));
    assert_eq!(rig.closed(), None);
    rig.advance(Duration::from_millis(1));
    assert_eq!(
        rig.closed(),
        Some(Close {
            reason: Reason::RequestTimeout,
            abort: false
        })
    );
}

/// A server starved of CPU probes late; a peer that was taking bytes
/// meanwhile must not pay for it (the acknowledgement is dated one probe
/// interval before the late probe, not when the probe was due).
#[test]
fn a_late_probe_never_cuts_a_peer_that_was_taking_bytes() {
    let data = pattern(4 << 20, 9);
    let mut rig = Rig::slice_of(Rig::config(1, 30), &data, false);
    rig.socket_room = 1 << 20;
    rig.turn(usize::MAX, 16 * 1024);
    rig.advance(Duration::from_millis(100));
    rig.peer_takes(200_000);
    // The worker comes back only 1.5 s later (the idle timeout is 1 s).
    rig.advance(Duration::from_millis(1500));
    assert_eq!(rig.closed(), None, "cut for the server's own lateness");
    // Then the peer stops: cut after the idle timeout, as ever.
    rig.wait_close(Duration::from_secs(3));
    assert_eq!(rig.closed().map(|c| c.reason), Some(Reason::Idle));
}

fn config_with_fs_timeout(idle: u64, fs: u64) -> SessionConfig {
    let mut config = Rig::config(idle, 30);
    config.fs_timeout = Duration::from_secs(fs);
    config
}

/// A lookup the file system never answers: nothing is answered until the
/// file-system deadline, the idle timeout does not run meanwhile (the
/// peer waits for us), then `199` and a lingering close; the requests
/// after it are not answered, and a reply that comes after all is
/// ignored.
#[test]
fn a_hung_lookup_answers_199_at_the_fs_deadline_and_a_late_reply_is_ignored() {
    let mut rig = Rig::new(config_with_fs_timeout(5, 10), &[("a", b"x".to_vec())]);
    rig.hung = vec!["hang"];
    rig.to_send = b"get_metadata hang\r\nhelp\r\n".to_vec();
    rig.run(usize::MAX);
    assert_eq!(rig.unanswered, 1);
    assert!(rig.wire.is_empty());
    assert!(rig.session.waits_for_files());
    // Past the idle timeout (5 s), short of the file-system deadline.
    for _ in 0..99 {
        rig.advance(Duration::from_millis(99));
        rig.run(usize::MAX);
    }
    assert!(
        rig.closed().is_none() && rig.wire.is_empty(),
        "{:?}",
        rig.closed()
    );
    let waited = rig.wait_close(Duration::from_secs(10));
    let mut expected = Vec::new();
    encode_status(Status::InternalServerError, &mut expected);
    assert_eq!(rig.wire, expected);
    assert!(rig.write_shut, "199 is fatal: a lingering close");
    assert_eq!(
        rig.closed(),
        Some(Close {
            reason: Reason::FileSystemTimeout,
            abort: false
        })
    );
    assert!(waited >= Duration::from_millis(10), "{waited:?}");
    rig.session
        .handle_file_reply(hftp_server::files::FileReply::Size(1), rig.now);
    assert_eq!(rig.session.poll_transmit(rig.now).map(|_| ()), None);
}

/// The answer to a request that waits for the file system keeps its
/// place: a pipelined request after it is answered after it, and the
/// session reads no more input meanwhile.
#[test]
fn requests_behind_one_waiting_for_the_file_system_wait_in_order() {
    let mut rig = Rig::new(config_with_fs_timeout(60, 10), &[("a", b"x".to_vec())]);
    rig.hung = vec!["slow"];
    rig.to_send = b"get_metadata slow\r\nhelp\r\nget_metadata a\r\n".to_vec();
    rig.turn(usize::MAX, 5);
    rig.turn(usize::MAX, 5);
    assert!(rig.wire.is_empty());
    assert!(!rig.session.wants_input(), "no more reading while it waits");
    assert!(!rig.to_send.is_empty(), "the rest stays with the client");
    // The file system answers after all, within the deadline.
    rig.advance(Duration::from_secs(3));
    rig.session
        .handle_file_reply(hftp_server::files::FileReply::Size(7), rig.now);
    rig.hung.clear();
    rig.run(usize::MAX);
    let mut expected = Vec::new();
    encode_status(Status::Ok, &mut expected);
    encode_size(7, &mut expected);
    expected.extend_from_slice(&help());
    encode_status(Status::Ok, &mut expected);
    encode_size(1, &mut expected);
    assert_eq!(rig.wire, expected);
    assert!(rig.closed().is_none());
}

/// A read that hangs in the middle of a slice: the status is sent
/// already, so at the file-system deadline the connection is reset.
#[test]
fn a_slice_whose_read_hangs_is_reset_at_the_fs_deadline() {
    let data = pattern(300_000, 5);
    let mut rig = Rig::slice_of(config_with_fs_timeout(60, 4), &data, false);
    rig.socket_room = 50_000;
    rig.run(usize::MAX);
    assert!(rig.wire.len() < 300_000 && rig.closed().is_none());
    rig.hang_reads = true;
    rig.socket_room = usize::MAX;
    let before = rig.wire.len();
    let waited = rig.wait_close(Duration::from_secs(6));
    assert!(waited >= Duration::from_secs(3), "{waited:?}");
    assert_eq!(
        rig.closed(),
        Some(Close {
            reason: Reason::FileSystemTimeout,
            abort: true
        })
    );
    assert!(rig.unanswered > 0, "a read was made and hung");
    assert!(rig.wire.len() >= before);
    assert!(
        rig.wire.len() < b64_total(300_000),
        "the slice was cut short"
    );
}

fn b64_total(n: usize) -> usize {
    let mut out = Vec::new();
    encode_line(&pattern(n, 5), &mut out);
    out.len()
}

/// A listing goes out straight from its shared body: whatever its size,
/// the session's own queue stays small, and the bytes are the listing's.
#[test]
fn a_large_listing_is_sent_from_the_shared_body_not_copied() {
    let names: Vec<String> = (0..20_000).map(|i| format!("file-{i:06}.dat")).collect();
    let files: Vec<(&str, Vec<u8>)> = names.iter().map(|n| (n.as_str(), Vec::new())).collect();
    let mut rig = Rig::new(Rig::config(60, 30), &files);
    rig.to_send = b"get_file_listing\r\n".to_vec();
    rig.run(7_000);
    let mut expected = Vec::new();
    encode_status(Status::Ok, &mut expected);
    for name in &names {
        expected.extend_from_slice(name.as_bytes());
        expected.extend_from_slice(b"\r\n");
    }
    expected.extend_from_slice(b"\r\n");
    assert_eq!(rig.wire.len(), expected.len());
    assert!(rig.wire == expected);
    assert!(
        rig.most_capacity <= 16 * 1024,
        "the queue held {} bytes of memory for a {}-byte listing",
        rig.most_capacity,
        expected.len()
    );
}

/// Raw slices sent straight from the file (as `sendfile`), a socket that
/// takes a few KiB at a time: the bytes are the slice's, in order after
/// the header, and a file that shrinks meanwhile resets the connection.
#[test]
fn raw_slices_sent_straight_from_the_file_arrive_whole_and_in_order() {
    let data = pattern(3 << 20, 7);
    let mut rig = Rig::new(Rig::config(60, 30), &[("big", data.clone())]);
    rig.sendfile = true;
    rig.to_send = b"get_slice big 5 3000000 raw\r\nhelp\r\nget_slice big 0 10 raw\r\n".to_vec();
    rig.run(7_777);
    let mut expected = slice_answer(&data, 5, 3_000_000, true);
    expected.extend_from_slice(&help());
    expected.extend_from_slice(&slice_answer(&data, 0, 10, true));
    assert_eq!(rig.wire.len(), expected.len());
    assert!(rig.wire == expected, "bytes differ");
    assert!(rig.closed().is_none());

    let mut rig = Rig::slice_of(Rig::config(60, 30), &data, true);
    rig.sendfile = true;
    rig.socket_room = 1 << 20;
    rig.run(usize::MAX);
    rig.files.truncate("big", 1 << 20);
    rig.socket_room = usize::MAX;
    rig.run(usize::MAX);
    assert_eq!(
        rig.closed(),
        Some(Close {
            reason: Reason::FileShrank,
            abort: true
        })
    );
}

/// Answers given at once (from a cache: a raw send on a full socket says
/// "not now" again and again) are not the peer's progress: a client that
/// stops reading a raw slice is still closed at the idle timeout.
#[test]
fn replies_given_at_once_do_not_hold_off_the_idle_timeout() {
    let data = pattern(4 << 20, 2);
    let mut rig = Rig::slice_of(Rig::config(2, 30), &data, true);
    rig.sendfile = true;
    // One turn takes the socket as far as the turn budget goes; then the
    // socket is full for good.
    rig.turn(usize::MAX, 16 * 1024);
    rig.socket_room = rig.in_flight();
    rig.turn(usize::MAX, 16 * 1024);
    assert!(rig.closed().is_none());
    assert_eq!(rig.session.queued(), 0, "sent straight, nothing queued");
    assert!(rig.wire.len() < data.len());
    // The socket stays full: each turn asks to send, and is told "not now".
    let begun = rig.now;
    loop {
        rig.turn(usize::MAX, 16 * 1024);
        if rig.closed().is_some() {
            break;
        }
        assert!(rig.now - begun < Duration::from_secs(5), "never closed");
        rig.advance(Duration::from_millis(50));
    }
    assert_eq!(rig.closed().map(|c| c.reason), Some(Reason::Idle));
}

/// Every event the session has ready.
fn events(session: &mut Session<File>) -> Vec<RequestEvent> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

/// Each request yields one event, in order, once its answer's last byte
/// is handed to the socket (not when it is produced): its command, status,
/// payload and mode, and the time from its decoding in the session's clock.
#[test]
fn request_events_come_when_the_answer_is_handed_over() {
    let data = pattern(10_000, 3);
    let mut rig = Rig::new(
        Rig::config(60, 30),
        &[("big", data.clone()), ("a", b"xyz".to_vec())],
    );
    rig.to_send = b"get_file_listing\r\nget_metadata a\r\nget_metadata nope\r\n\
        get_slice big 0 9000\r\nget_slice big 5 4000 raw\r\nget_slice a 2 5\r\nbogus\r\nhelp\r\n"
        .to_vec();
    // The socket holds 1,000 bytes until the peer takes them.
    rig.socket_room = 1000;
    rig.run(usize::MAX);
    let first = events(&mut rig.session);
    let commands: Vec<_> = first.iter().map(|e| (e.command, e.status)).collect();
    assert_eq!(
        commands,
        [
            (Command::GetFileListing, Status::Ok),
            (Command::GetMetadata, Status::Ok),
            (Command::GetMetadata, Status::FileNotFound)
        ],
        "the slice is not handed over yet"
    );
    assert!(first.iter().all(|e| e.duration.is_zero() && e.payload == 0));
    let mut seen = Vec::new();
    for _ in 0..1000 {
        rig.advance(Duration::from_millis(100));
        rig.peer_takes(usize::MAX);
        rig.run(usize::MAX);
        seen.extend(events(&mut rig.session));
        if seen.len() == 5 {
            break;
        }
    }
    let b64 = &seen[0];
    assert_eq!(
        (b64.command, b64.status, b64.payload, b64.mode),
        (
            Command::GetSlice,
            Status::Ok,
            9000,
            Some(PayloadMode::Base64)
        )
    );
    // About 12,100 bytes up to the base64 line's end, through a socket
    // that takes 1,000 each 100 ms: the last went out 1.2 s after the
    // request was decoded.
    assert!(
        b64.duration >= Duration::from_millis(1100) && b64.duration <= Duration::from_millis(1300),
        "{:?}",
        b64.duration
    );
    let raw = &seen[1];
    assert_eq!(
        (raw.command, raw.status, raw.payload, raw.mode),
        (Command::GetSlice, Status::Ok, 4000, Some(PayloadMode::Raw))
    );
    assert!(raw.duration > b64.duration);
    let tail: Vec<_> = seen[2..]
        .iter()
        .map(|e| (e.command, e.status, e.payload, e.mode))
        .collect();
    assert_eq!(
        tail,
        [
            (Command::GetSlice, Status::OffsetExceedsFileSize, 0, None),
            (Command::Invalid, Status::NoSuchCommand, 0, None),
            (Command::Help, Status::Ok, 0, None),
        ]
    );
    assert!(events(&mut rig.session).is_empty(), "each event once");
    assert_eq!(rig.session.dropped_events(), 0);
}

/// A long pipeline never makes the session hold more than [`MAX_EVENTS`]
/// answers or events: every answer still goes out, and events nobody
/// polled are dropped and counted.
#[test]
fn request_events_are_bounded_when_not_drained() {
    let mut rig = Rig::new(Rig::config(60, 30), &[("a", b"xyz".to_vec())]);
    let n = 3 * MAX_EVENTS + 7;
    rig.to_send = b"get_metadata a\r\n".repeat(n);
    rig.run(usize::MAX);
    let mut one = Vec::new();
    encode_status(Status::Ok, &mut one);
    encode_size(3, &mut one);
    assert_eq!(rig.wire, one.repeat(n), "every answer went out");
    let kept = events(&mut rig.session);
    assert_eq!(kept.len(), MAX_EVENTS);
    assert_eq!(rig.session.dropped_events(), (n - MAX_EVENTS) as u64);
    assert!(kept.iter().all(|e| e.command == Command::GetMetadata));
}

/// A request the file system never answers is reported with the `199` it
/// was answered, timed from its decoding to that answer's going out.
#[test]
fn a_request_answered_199_at_the_fs_deadline_is_reported() {
    let mut rig = Rig::new(config_with_fs_timeout(5, 10), &[]);
    rig.hung = vec!["hang"];
    rig.to_send = b"get_slice hang 0 10\r\n".to_vec();
    rig.run(usize::MAX);
    assert!(events(&mut rig.session).is_empty());
    rig.wait_close(Duration::from_secs(20));
    let seen = events(&mut rig.session);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (
            seen[0].command,
            seen[0].status,
            seen[0].payload,
            seen[0].mode
        ),
        (Command::GetSlice, Status::InternalServerError, 0, None)
    );
    assert!(
        seen[0].duration >= Duration::from_secs(10) && seen[0].duration < Duration::from_secs(11),
        "{:?}",
        seen[0].duration
    );
}
