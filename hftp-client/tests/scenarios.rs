//! One table of scenarios, run over every client kind: the blocking
//! `Client`, and with feature `tokio` the async one on a current-thread
//! and on a multi-thread runtime (`scenarios/api.rs` puts them behind one
//! trait). Each row is a server (ours, in-process, or a scripted fake from
//! `scenarios/fake.rs` that splits, trickles, stalls, closes and sends
//! garbage), a list of calls and what each must return.
//!
//! Every row runs even when an earlier one fails; the test fails at the
//! end with the list of rows that did.
//!
//! Timing: timeouts are short (300 ms reads) and only upper bounds are
//! asserted, with wide margins.

#[path = "scenarios/api.rs"]
mod api;
#[path = "scenarios/fake.rs"]
mod fake;
#[path = "served/mod.rs"]
mod served;

use std::fmt::Debug;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hftp_client::{part_path, Direction, DownloadOptions, Downloaded, Error, Timeouts};
use hftp_proto::ResponseError;

use api::{Api, Kind};
use fake::{read, send, Act, Fake};
use served::{binary, Served, NOTES};

// ---------------------------------------------------------------------
// The table's vocabulary.

/// What a call must return: the value, or an error of this kind.
type Res<T> = Result<T, Fail>;

/// An expected error.
#[derive(Debug, Clone, PartialEq)]
enum Fail {
    /// `Error::Server` with this code.
    Server(u16),
    Closed,
    /// `Error::Protocol` with exactly this error.
    Protocol(ResponseError),
    /// `Error::Protocol`, whichever.
    AnyProtocol,
    Broken,
    /// A read, write or deadline timeout (`Error::is_timeout`).
    Timeout,
    /// `Error::Io` of kind `ConnectionReset`.
    Reset,
    InvalidName,
    Changed,
    PartTooLong,
}

impl Fail {
    fn matches(&self, e: &Error) -> bool {
        match (self, e) {
            (Fail::Server(want), Error::Server { code, .. }) => want == code,
            (Fail::Closed, Error::Closed) => true,
            (Fail::Protocol(want), Error::Protocol(got)) => want == got,
            (Fail::AnyProtocol, Error::Protocol(_)) => true,
            (Fail::Broken, Error::Broken(_)) => true,
            (Fail::Timeout, e) => e.is_timeout(),
            (Fail::Reset, Error::Io(e)) => e.kind() == ErrorKind::ConnectionReset,
            (Fail::InvalidName, Error::InvalidName(_)) => true,
            (Fail::Changed, Error::Changed { .. }) => true,
            (Fail::PartTooLong, Error::PartTooLong { .. }) => true,
            _ => false,
        }
    }
}

/// A slice to ask for.
#[derive(Debug, Clone, Copy)]
struct Sl {
    name: &'static str,
    offset: u64,
    size: u64,
    raw: bool,
}

fn b64_slice(name: &'static str, offset: u64, size: u64) -> Sl {
    Sl {
        name,
        offset,
        size,
        raw: false,
    }
}

fn raw_slice(name: &'static str, offset: u64, size: u64) -> Sl {
    Sl {
        name,
        offset,
        size,
        raw: true,
    }
}

/// A whole-file download from our server; the bytes must be the served
/// file's.
#[derive(Debug, Clone, Copy)]
struct Dl {
    name: &'static str,
    /// 1: `Client::download` on the row's connection; more:
    /// `Server::download` over that many new connections.
    connections: usize,
    /// Resume from a `.part` holding this many bytes of the file (more
    /// than its size: the file, then zeros).
    resume_from: Option<usize>,
    raw: bool,
    chunk: u64,
}

/// A transcript record: direction, request id, bytes (`None` id and no
/// bytes: the server's close).
type Rec = (Direction, Option<u64>, Vec<u8>);

/// One call and what it must return.
#[derive(Debug)]
enum Step {
    List(Res<Vec<String>>),
    Help(Res<Vec<String>>),
    Metadata(&'static str, Res<u64>),
    Sizes(Vec<&'static str>, Vec<Res<u64>>),
    Slice(Sl, Res<Vec<u8>>),
    /// The result is the number of bytes resumed from.
    Download(Dl, Res<u64>),
    /// Starts recording a transcript.
    Record,
    /// The transcript so far, exactly.
    Transcript(Vec<Rec>),
    /// Ends the session (the client is gone afterwards).
    Quit(Res<()>),
    /// The client does nothing for a while.
    Sleep(Duration),
    /// The step must be over within this time (only an upper bound,
    /// generous: never a flaky timing assertion).
    Within(Duration, Box<Step>),
}

/// Where the row's server comes from.
enum Setup {
    /// Our server, serving [`files`].
    Real,
    /// A fake playing this script on the row's one connection.
    Fake(Vec<Act>),
}

struct Row {
    name: &'static str,
    setup: Setup,
    timeouts: Timeouts,
    steps: Vec<Step>,
}

/// What our server serves in every `Real` row.
fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("notes.txt", NOTES.to_vec()),
        ("photo.jpg", binary(1536)),
        ("empty", Vec::new()),
        ("one", b"1".to_vec()),
        ("big.bin", binary(300_000)),
    ]
}

fn served_file(name: &str) -> Vec<u8> {
    files()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| bytes)
        .unwrap_or_else(|| panic!("{name} is not served"))
}

fn strings(items: &[&str]) -> Res<Vec<String>> {
    Ok(items.iter().map(|s| s.to_string()).collect())
}

/// Base64 (standard alphabet), with or without `=` padding.
fn b64(bytes: &[u8], pad: bool) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..=chunk.len() {
            out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

/// `bytes` as base64 lines, each encoding the next `chunks` bytes on its
/// own, each ending in CRLF.
fn b64_lines(bytes: &[u8], chunks: &[usize], pad: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    for &n in chunks {
        out.extend_from_slice(b64(&bytes[at..at + n], pad).as_bytes());
        out.extend_from_slice(b"\r\n");
        at += n;
    }
    assert_eq!(at, bytes.len(), "the chunks cover the bytes");
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// For fakes that stall or trickle.
const SHORT: Timeouts = Timeouts {
    connect: Some(Duration::from_secs(5)),
    read: Some(Duration::from_millis(300)),
    write: Some(Duration::from_millis(300)),
    operation: None,
};

/// For everything else: no test waits this long unless something is
/// wrong, and a loaded machine never trips it.
const PATIENT: Timeouts = Timeouts {
    connect: Some(Duration::from_secs(10)),
    read: Some(Duration::from_secs(10)),
    write: Some(Duration::from_secs(10)),
    operation: None,
};

/// Bounds for steps that must time out (reads of 300 ms, operations of
/// 500 ms): an order of magnitude of room.
const SOON: Duration = Duration::from_secs(5);

fn real(name: &'static str, steps: Vec<Step>) -> Row {
    Row {
        name,
        setup: Setup::Real,
        timeouts: PATIENT,
        steps,
    }
}

fn faked(name: &'static str, script: Vec<Act>, steps: Vec<Step>) -> Row {
    Row {
        name,
        setup: Setup::Fake(script),
        timeouts: PATIENT,
        steps,
    }
}

/// A fake row with [`SHORT`] timeouts.
fn stalling(name: &'static str, script: Vec<Act>, steps: Vec<Step>) -> Row {
    Row {
        timeouts: SHORT,
        ..faked(name, script, steps)
    }
}

fn within(limit: Duration, step: Step) -> Step {
    Step::Within(limit, Box::new(step))
}

// ---------------------------------------------------------------------
// The table.

/// The protocol's example slice: bytes 5..25 of notes.txt.
const CALOR: &[u8] = b"calor que hace hoy, ";

fn rows() -> Vec<Row> {
    let photo = binary(1536);
    let mut rows = vec![
        // Our server.
        real(
            "real: listing and help",
            vec![
                Step::List(strings(&[
                    "big.bin",
                    "empty",
                    "notes.txt",
                    "one",
                    "photo.jpg",
                ])),
                Step::Help(strings(&[
                    "get_file_listing",
                    "get_metadata",
                    "get_slice",
                    "quit",
                    "help",
                ])),
            ],
        ),
        real(
            "real: metadata",
            vec![
                Step::Metadata("notes.txt", Ok(41)),
                Step::Metadata("photo.jpg", Ok(1536)),
                Step::Metadata("empty", Ok(0)),
                Step::Metadata("big.bin", Ok(300_000)),
            ],
        ),
        real(
            "real: base64 slices",
            vec![
                Step::Slice(b64_slice("notes.txt", 5, 20), Ok(CALOR.to_vec())),
                Step::Slice(
                    b64_slice("photo.jpg", 100, 1000),
                    Ok(photo[100..1100].to_vec()),
                ),
                Step::Slice(b64_slice("one", 0, 1), Ok(b"1".to_vec())),
                Step::Slice(b64_slice("notes.txt", 0, 41), Ok(NOTES.to_vec())),
            ],
        ),
        real(
            "real: raw slices",
            vec![
                Step::Slice(raw_slice("notes.txt", 5, 20), Ok(CALOR.to_vec())),
                Step::Slice(raw_slice("photo.jpg", 0, 1536), Ok(photo.clone())),
                Step::Slice(raw_slice("one", 0, 1), Ok(b"1".to_vec())),
            ],
        ),
        real(
            "real: empty slices",
            vec![
                Step::Slice(b64_slice("notes.txt", 41, 0), Ok(Vec::new())),
                Step::Slice(raw_slice("notes.txt", 41, 0), Ok(Vec::new())),
                Step::Slice(b64_slice("empty", 0, 0), Ok(Vec::new())),
                Step::Slice(raw_slice("empty", 0, 0), Ok(Vec::new())),
                Step::Metadata("notes.txt", Ok(41)),
            ],
        ),
        real(
            "real: pipelined sizes with a 202 and an invalid name in the middle",
            vec![
                Step::Sizes(
                    vec!["notes.txt", "missing", "photo.jpg", "../etc/passwd", "one"],
                    vec![
                        Ok(41),
                        Err(Fail::Server(202)),
                        Ok(1536),
                        Err(Fail::InvalidName),
                        Ok(1),
                    ],
                ),
                Step::Metadata("empty", Ok(0)),
            ],
        ),
        real("real: a deep pipeline (past the window)", {
            let names: Vec<&'static str> = (0..3000)
                .map(|i| ["notes.txt", "missing-file-name", "photo.jpg"][i % 3])
                .collect();
            let want = (0..3000)
                .map(|i| [Ok(41), Err(Fail::Server(202)), Ok(1536)][i % 3].clone())
                .collect();
            // Names near the longest a file can have, none of them there.
            let long: Vec<String> = (0..2000).map(|i| format!("{i:0>250}")).collect();
            let long: Vec<&'static str> = long
                .into_iter()
                .map(|n| &*Box::leak(n.into_boxed_str()))
                .collect();
            let missing = long.iter().map(|_| Err(Fail::Server(202))).collect();
            vec![
                Step::Sizes(names, want),
                Step::Sizes(long, missing),
                Step::Metadata("one", Ok(1)),
            ]
        }),
        real(
            "real: refusals keep the connection usable",
            vec![
                Step::Metadata("missing", Err(Fail::Server(202))),
                Step::Slice(b64_slice("notes.txt", 40, 5), Err(Fail::Server(203))),
                Step::Slice(raw_slice("notes.txt", 42, 0), Err(Fail::Server(203))),
                Step::Slice(b64_slice("missing", 0, 1), Err(Fail::Server(202))),
                Step::Metadata("../etc/passwd", Err(Fail::InvalidName)),
                Step::Slice(b64_slice("a b", 0, 1), Err(Fail::InvalidName)),
                Step::Metadata("notes.txt", Ok(41)),
                Step::Slice(raw_slice("notes.txt", 5, 20), Ok(CALOR.to_vec())),
            ],
        ),
        real(
            "real: quit",
            vec![Step::Metadata("one", Ok(1)), Step::Quit(Ok(()))],
        ),
        real(
            "real: download on one connection",
            vec![Step::Download(
                Dl {
                    name: "big.bin",
                    connections: 1,
                    resume_from: None,
                    raw: false,
                    chunk: 64 * 1024,
                },
                Ok(0),
            )],
        ),
        real(
            "real: download resumed on one connection",
            vec![
                Step::Download(
                    Dl {
                        name: "big.bin",
                        connections: 1,
                        resume_from: Some(100_001),
                        raw: false,
                        chunk: 50_000,
                    },
                    Ok(100_001),
                ),
                Step::Download(
                    Dl {
                        name: "photo.jpg",
                        connections: 1,
                        resume_from: Some(1000),
                        raw: true,
                        chunk: 100,
                    },
                    Ok(1000),
                ),
                // The connection is still usable afterwards.
                Step::Metadata("notes.txt", Ok(41)),
            ],
        ),
        real(
            "real: download over 3 connections",
            vec![
                Step::Download(
                    Dl {
                        name: "big.bin",
                        connections: 3,
                        resume_from: None,
                        raw: false,
                        chunk: 40_000,
                    },
                    Ok(0),
                ),
                Step::Download(
                    Dl {
                        name: "big.bin",
                        connections: 3,
                        resume_from: None,
                        raw: true,
                        chunk: 7_001,
                    },
                    Ok(0),
                ),
            ],
        ),
        real(
            "real: transcript of a small exchange",
            vec![
                Step::Record,
                Step::Metadata("notes.txt", Ok(41)),
                Step::Metadata("missing", Err(Fail::Server(202))),
                Step::Slice(b64_slice("notes.txt", 5, 20), Ok(CALOR.to_vec())),
                Step::Sizes(vec!["one", "empty"], vec![Ok(1), Ok(0)]),
                Step::Slice(raw_slice("notes.txt", 0, 3), Ok(b"!Qu".to_vec())),
                Step::Transcript(vec![
                    sent(0, "get_metadata notes.txt\r\n"),
                    got(0, "0 OK\r\n41\r\n"),
                    sent(1, "get_metadata missing\r\n"),
                    got(1, "202 FILE NOT FOUND\r\n"),
                    sent(2, "get_slice notes.txt 5 20\r\n"),
                    got(2, "0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n"),
                    sent(3, "get_metadata one\r\n"),
                    sent(4, "get_metadata empty\r\n"),
                    got(3, "0 OK\r\n1\r\n"),
                    got(4, "0 OK\r\n0\r\n"),
                    sent(5, "get_slice notes.txt 0 3 raw\r\n"),
                    got(5, "0 OK\r\nContent-Length: 3\r\n\r\n!Qu"),
                ]),
            ],
        ),
        // Fakes: the shapes of correct answers.
        faked(
            "fake: listing, help, metadata, slices",
            vec![
                read("get_file_listing"),
                send("0 OK\r\nnotes.txt\r\nphoto.jpg\r\n\r\n"),
                read("get_file_listing"),
                send("0 OK\r\n\r\n"),
                read("help"),
                send(
                    "0 OK\r\nget_file_listing\r\nget_metadata\r\nget_slice\r\nquit\r\nhelp\r\n\r\n",
                ),
                read("get_metadata notes.txt"),
                send("0 OK\r\n41\r\n"),
                read("get_slice notes.txt 5 20"),
                send("0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n"),
                read("get_slice notes.txt 5 20 raw"),
                send(cat(&[b"0 OK\r\nContent-Length: 20\r\n\r\n", CALOR])),
                // Raw bytes that look like protocol.
                read("get_slice x 0 5 raw"),
                send("0 OK\r\nContent-Length: 5\r\n\r\n\r\n\0\n\r"),
                read("get_slice x 0 1536"),
                send(cat(&[b"0 OK\r\n", b64(&photo, true).as_bytes(), b"\r\n"])),
            ],
            vec![
                Step::List(strings(&["notes.txt", "photo.jpg"])),
                Step::List(strings(&[])),
                Step::Help(strings(&[
                    "get_file_listing",
                    "get_metadata",
                    "get_slice",
                    "quit",
                    "help",
                ])),
                Step::Metadata("notes.txt", Ok(41)),
                Step::Slice(b64_slice("notes.txt", 5, 20), Ok(CALOR.to_vec())),
                Step::Slice(raw_slice("notes.txt", 5, 20), Ok(CALOR.to_vec())),
                Step::Slice(raw_slice("x", 0, 5), Ok(b"\r\n\0\n\r".to_vec())),
                Step::Slice(b64_slice("x", 0, 1536), Ok(photo.clone())),
            ],
        ),
        faked(
            "fake: empty slices",
            vec![
                read("get_slice notes.txt 41 0"),
                send("0 OK\r\n\r\n"),
                read("get_slice notes.txt 41 0 raw"),
                send("0 OK\r\nContent-Length: 0\r\n\r\n"),
                read("get_metadata notes.txt"),
                send("0 OK\r\n41\r\n"),
            ],
            vec![
                Step::Slice(b64_slice("notes.txt", 41, 0), Ok(Vec::new())),
                Step::Slice(raw_slice("notes.txt", 41, 0), Ok(Vec::new())),
                Step::Metadata("notes.txt", Ok(41)),
            ],
        ),
        faked(
            "fake: a slice split over several base64 lines, unpadded and padded",
            vec![
                read("get_slice notes.txt 5 20"),
                send(cat(&[
                    b"0 OK\r\n",
                    &b64_lines(CALOR, &[1, 2, 3, 4, 10], false),
                ])),
                read("get_slice notes.txt 5 20"),
                send(cat(&[b"0 OK\r\n", &b64_lines(CALOR, &[2, 1, 5, 12], true)])),
                read("get_slice photo.jpg 0 1536"),
                // MIME-style 76-character lines, the last one short.
                send(cat(&[
                    b"0 OK\r\n",
                    &b64_lines(
                        &photo,
                        &[57; 26][..].iter().copied().chain([54]).collect::<Vec<_>>(),
                        true,
                    ),
                ])),
                read("get_slice one 0 1"),
                send("0 OK\r\nMQ\r\n"),
            ],
            vec![
                Step::Slice(b64_slice("notes.txt", 5, 20), Ok(CALOR.to_vec())),
                Step::Slice(b64_slice("notes.txt", 5, 20), Ok(CALOR.to_vec())),
                Step::Slice(b64_slice("photo.jpg", 0, 1536), Ok(photo.clone())),
                Step::Slice(b64_slice("one", 0, 1), Ok(b"1".to_vec())),
            ],
        ),
        faked(
            "fake: bare LF line ends",
            vec![
                read("get_file_listing"),
                send("0 OK\nnotes.txt\n\n"),
                read("get_metadata notes.txt"),
                send("0 OK\n41\n"),
                read("get_slice notes.txt 5 20"),
                send("0 OK\nY2Fsb3IgcXVl\nIGhhY2UgaG95LCA=\n"),
            ],
            vec![
                Step::List(strings(&["notes.txt"])),
                Step::Metadata("notes.txt", Ok(41)),
                Step::Slice(b64_slice("notes.txt", 5, 20), Ok(CALOR.to_vec())),
            ],
        ),
        faked(
            "fake: pipelined sizes with a 202 in the middle",
            vec![
                read("get_metadata notes.txt"),
                read("get_metadata missing"),
                read("get_metadata photo.jpg"),
                send("0 OK\r\n41\r\n202 FILE NOT FOUND\r\n0 OK\r\n1536\r\n"),
                read("get_metadata one"),
                send("0 OK\r\n1\r\n"),
            ],
            vec![
                Step::Sizes(
                    vec!["notes.txt", "missing", "photo.jpg"],
                    vec![Ok(41), Err(Fail::Server(202)), Ok(1536)],
                ),
                Step::Metadata("one", Ok(1)),
            ],
        ),
        faked(
            "fake: refusals keep the connection usable",
            vec![
                read("get_metadata x"),
                send("201 INVALID ARGUMENTS FOR COMMAND\r\n"),
                read("get_slice notes.txt 0 99"),
                send("203 OFFSET EXCEEDS FILE SIZE\r\n"),
                read("get_slice notes.txt 0 99 raw"),
                send("203 OFFSET EXCEEDS FILE SIZE\r\n"),
                read("help"),
                // A code no spec knows, without text.
                send("299\r\n"),
                read("get_metadata notes.txt"),
                send("0 OK\r\n41\r\n"),
            ],
            vec![
                Step::Metadata("x", Err(Fail::Server(201))),
                Step::Slice(b64_slice("notes.txt", 0, 99), Err(Fail::Server(203))),
                Step::Slice(raw_slice("notes.txt", 0, 99), Err(Fail::Server(203))),
                Step::Help(Err(Fail::Server(299))),
                Step::Metadata("notes.txt", Ok(41)),
            ],
        ),
        faked(
            "fake: invalid names are refused before anything is sent",
            vec![],
            vec![
                Step::Metadata("../etc/passwd", Err(Fail::InvalidName)),
                Step::Slice(b64_slice("a/b", 0, 1), Err(Fail::InvalidName)),
                Step::Slice(raw_slice("..", 0, 1), Err(Fail::InvalidName)),
                Step::Sizes(
                    vec!["a b", ""],
                    vec![Err(Fail::InvalidName), Err(Fail::InvalidName)],
                ),
            ],
        ),
        faked(
            "fake: quit",
            vec![read("quit"), send("0 OK\r\n"), Act::Close],
            vec![Step::Quit(Ok(()))],
        ),
        faked(
            "fake: transcript of a pipeline, with ids",
            vec![
                read("get_metadata a"),
                read("get_metadata b"),
                send("0 OK\r\n7\r\n202 FILE"),
                send(" NOT FOUND\r\n"),
                read("get_slice a 0 8 raw"),
                send("0 OK\r\nContent-Length: 8\r\n\r\nabc\r\ndef"),
                read("get_file_listing"),
                send("0 OK\r\na\r\n\r\n"),
                Act::Close,
            ],
            vec![
                Step::Record,
                Step::Sizes(vec!["a", "b"], vec![Ok(7), Err(Fail::Server(202))]),
                Step::Slice(raw_slice("a", 0, 8), Ok(b"abc\r\ndef".to_vec())),
                Step::List(strings(&["a"])),
                Step::Metadata("a", Err(Fail::Closed)),
                Step::Transcript(vec![
                    sent(0, "get_metadata a\r\n"),
                    sent(1, "get_metadata b\r\n"),
                    got(0, "0 OK\r\n7\r\n"),
                    got(1, "202 FILE NOT FOUND\r\n"),
                    sent(2, "get_slice a 0 8 raw\r\n"),
                    got(2, "0 OK\r\nContent-Length: 8\r\n\r\nabc\r\ndef"),
                    sent(3, "get_file_listing\r\n"),
                    got(3, "0 OK\r\na\r\n\r\n"),
                    sent(4, "get_metadata a\r\n"),
                    (Direction::Received, None, Vec::new()),
                ]),
            ],
        ),
        // Fakes: connections that end early.
        faked(
            "fake: a close mid-slice is Closed, and later calls Broken",
            vec![
                read("get_slice notes.txt 5 20"),
                send("0 OK\r\nY2Fsb3Ig"),
                Act::Close,
            ],
            vec![
                Step::Slice(b64_slice("notes.txt", 5, 20), Err(Fail::Closed)),
                Step::Metadata("notes.txt", Err(Fail::Broken)),
                Step::List(Err(Fail::Broken)),
                Step::Slice(raw_slice("notes.txt", 0, 1), Err(Fail::Broken)),
                Step::Sizes(vec!["a", "b"], vec![Err(Fail::Broken), Err(Fail::Broken)]),
                Step::Quit(Err(Fail::Broken)),
            ],
        ),
        faked(
            "fake: a close mid-raw-body is Closed",
            vec![
                read("get_slice notes.txt 0 10 raw"),
                send("0 OK\r\nContent-Length: 10\r\n\r\n!Que"),
                Act::Close,
            ],
            vec![
                Step::Slice(raw_slice("notes.txt", 0, 10), Err(Fail::Closed)),
                Step::Help(Err(Fail::Broken)),
            ],
        ),
        faked(
            "fake: a close before the status line",
            vec![read("get_file_listing"), Act::Close],
            vec![Step::List(Err(Fail::Closed)), Step::List(Err(Fail::Broken))],
        ),
        faked(
            "fake: a close mid-listing",
            vec![
                read("get_file_listing"),
                send("0 OK\r\nnotes.txt\r\n"),
                Act::Close,
            ],
            vec![Step::List(Err(Fail::Closed))],
        ),
        faked(
            "fake: a close in the middle of pipelined sizes",
            vec![
                read("get_metadata a"),
                read("get_metadata b"),
                read("get_metadata c"),
                send("0 OK\r\n41\r\n"),
                Act::Close,
            ],
            vec![
                Step::Sizes(
                    vec!["a", "b", "c"],
                    vec![Ok(41), Err(Fail::Closed), Err(Fail::Broken)],
                ),
                Step::Metadata("a", Err(Fail::Broken)),
            ],
        ),
        faked(
            "fake: a reset in the middle of pipelined sizes",
            vec![
                // The other two requests stay unread: closing now resets.
                read("get_metadata a"),
                send("0 OK\r\n4"),
                Act::Pause(Duration::from_millis(50)),
                Act::Reset,
            ],
            vec![
                Step::Sizes(
                    vec!["a", "b", "c"],
                    vec![Err(Fail::Reset), Err(Fail::Broken), Err(Fail::Broken)],
                ),
                Step::Metadata("a", Err(Fail::Broken)),
            ],
        ),
        faked(
            "fake: a fatal status, then the close",
            vec![
                read("get_metadata a"),
                send("101 BAD REQUEST\r\n"),
                Act::Close,
            ],
            vec![
                Step::Metadata("a", Err(Fail::Server(101))),
                Step::Metadata("a", Err(Fail::Closed)),
                Step::Metadata("a", Err(Fail::Broken)),
            ],
        ),
        // Fakes: garbage.
        faked(
            "fake: an SSH banner is a protocol error, then Broken",
            vec![
                send("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n"),
                read("get_file_listing"),
            ],
            vec![
                Step::List(Err(Fail::Protocol(ResponseError::BadStatusLine))),
                Step::Metadata("notes.txt", Err(Fail::Broken)),
                Step::List(Err(Fail::Broken)),
            ],
        ),
        faked(
            "fake: an HTTP answer is a protocol error",
            vec![
                read("get_metadata notes.txt"),
                send("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
            ],
            vec![
                Step::Metadata(
                    "notes.txt",
                    Err(Fail::Protocol(ResponseError::BadStatusLine)),
                ),
                Step::Metadata("notes.txt", Err(Fail::Broken)),
            ],
        ),
        faked(
            "fake: binary garbage is a protocol error",
            vec![read("help"), send(b"\x15\x03\x01\x00\x02\x02\x50\r\n")],
            vec![
                Step::Help(Err(Fail::Protocol(ResponseError::ControlByte {
                    byte: 0x15,
                }))),
                Step::Help(Err(Fail::Broken)),
            ],
        ),
        faked(
            "fake: a line past the limit is a protocol error, not a wait",
            vec![read("help"), send(vec![b'7'; 70_000])],
            vec![
                within(
                    SOON,
                    Step::Help(Err(Fail::Protocol(ResponseError::LineTooLong {
                        limit: 65536,
                    }))),
                ),
                Step::Help(Err(Fail::Broken)),
            ],
        ),
        faked(
            "fake: garbage inside responses",
            vec![
                read("get_metadata notes.txt"),
                send("0 OK\r\nforty-one\r\n"),
            ],
            vec![
                Step::Metadata("notes.txt", Err(Fail::Protocol(ResponseError::BadSize))),
                Step::Metadata("notes.txt", Err(Fail::Broken)),
            ],
        ),
        faked(
            "fake: a byte outside base64 is a protocol error",
            vec![
                read("get_slice notes.txt 5 6"),
                send("0 OK\r\nY2Fs*G9y\r\n"),
            ],
            vec![Step::Slice(
                b64_slice("notes.txt", 5, 6),
                Err(Fail::Protocol(ResponseError::BadBase64 { byte: b'*' })),
            )],
        ),
        faked(
            "fake: bytes after a response make the next call a protocol error",
            vec![
                read("get_metadata notes.txt"),
                send("0 OK\r\n41\r\nextra"),
                read("get_metadata notes.txt"),
                send("0 OK\r\n41\r\n"),
            ],
            vec![
                Step::Metadata("notes.txt", Ok(41)),
                Step::Metadata("notes.txt", Err(Fail::AnyProtocol)),
                Step::Metadata("notes.txt", Err(Fail::Broken)),
            ],
        ),
        // Fakes: slices of the wrong length.
        faked(
            "fake: slices longer than asked are protocol errors",
            vec![
                read("get_slice notes.txt 0 3"),
                send("0 OK\r\nIVF1ZQ==\r\n"),
            ],
            vec![
                Step::Slice(
                    b64_slice("notes.txt", 0, 3),
                    Err(Fail::Protocol(ResponseError::SliceTooLong { expected: 3 })),
                ),
                Step::Metadata("notes.txt", Err(Fail::Broken)),
            ],
        ),
        faked(
            "fake: data for an empty slice is a protocol error",
            vec![read("get_slice notes.txt 41 0"), send("0 OK\r\nIQ==\r\n")],
            vec![Step::Slice(
                b64_slice("notes.txt", 41, 0),
                Err(Fail::Protocol(ResponseError::SliceTooLong { expected: 0 })),
            )],
        ),
        faked(
            "fake: a slice shorter than asked, ended by an empty line",
            vec![
                read("get_slice notes.txt 0 3"),
                send("0 OK\r\nIVE=\r\n\r\n"),
            ],
            vec![
                Step::Slice(
                    b64_slice("notes.txt", 0, 3),
                    Err(Fail::Protocol(ResponseError::SliceTooShort {
                        expected: 3,
                        got: 2,
                    })),
                ),
                Step::Metadata("notes.txt", Err(Fail::Broken)),
            ],
        ),
        faked(
            "fake: a slice shorter than asked, ended by the close",
            vec![
                read("get_slice notes.txt 0 3"),
                send("0 OK\r\nIVE=\r\n"),
                Act::Close,
            ],
            vec![Step::Slice(b64_slice("notes.txt", 0, 3), Err(Fail::Closed))],
        ),
        faked(
            "fake: raw slices announcing another length are protocol errors",
            vec![
                read("get_slice notes.txt 0 3 raw"),
                send("0 OK\r\nContent-Length: 4\r\n\r\n!Que"),
            ],
            vec![Step::Slice(
                raw_slice("notes.txt", 0, 3),
                Err(Fail::Protocol(ResponseError::BadContentLength {
                    expected: 3,
                    got: 4,
                })),
            )],
        ),
        faked(
            "fake: a raw slice announcing fewer bytes is a protocol error",
            vec![
                read("get_slice notes.txt 0 3 raw"),
                send("0 OK\r\nContent-Length: 2\r\n\r\n!Q"),
            ],
            vec![Step::Slice(
                raw_slice("notes.txt", 0, 3),
                Err(Fail::Protocol(ResponseError::BadContentLength {
                    expected: 3,
                    got: 2,
                })),
            )],
        ),
        faked(
            "fake: a download whose file changes size is Changed",
            vec![
                read("get_metadata f"),
                send("0 OK\r\n3\r\n"),
                read("get_slice f 0 3"),
                send("0 OK\r\nYWJj\r\n"),
                read("get_metadata f"),
                send("0 OK\r\n4\r\n"),
                read("get_metadata f"),
                send("0 OK\r\n4\r\n"),
            ],
            vec![
                Step::Download(
                    Dl {
                        name: "f",
                        connections: 1,
                        resume_from: None,
                        raw: false,
                        chunk: 1 << 20,
                    },
                    Err(Fail::Changed),
                ),
                // Nothing went wrong on the connection.
                Step::Metadata("f", Ok(4)),
            ],
        ),
        // Fakes: time.
        stalling(
            "fake: a stall before the status line times out",
            vec![read("get_file_listing")],
            vec![
                within(SOON, Step::List(Err(Fail::Timeout))),
                Step::Metadata("notes.txt", Err(Fail::Broken)),
            ],
        ),
        stalling(
            "fake: a stall mid-slice times out",
            vec![read("get_slice notes.txt 5 20"), send("0 OK\r\nY2Fsb3Ig")],
            vec![
                within(
                    SOON,
                    Step::Slice(b64_slice("notes.txt", 5, 20), Err(Fail::Timeout)),
                ),
                Step::Slice(b64_slice("notes.txt", 5, 20), Err(Fail::Broken)),
            ],
        ),
        stalling(
            "fake: a stall mid-raw-body times out",
            vec![
                read("get_slice notes.txt 0 10 raw"),
                send("0 OK\r\nContent-Length: 10\r\n\r\n!Q"),
            ],
            vec![within(
                SOON,
                Step::Slice(raw_slice("notes.txt", 0, 10), Err(Fail::Timeout)),
            )],
        ),
        stalling(
            "fake: a trickle within the read timeout is fine without an operation bound",
            vec![
                read("get_metadata notes.txt"),
                Act::Trickle {
                    bytes: b"0 OK\r\n41\r\n".to_vec(),
                    every: Duration::from_millis(50),
                },
            ],
            vec![Step::Metadata("notes.txt", Ok(41))],
        ),
        Row {
            timeouts: Timeouts {
                operation: Some(Duration::from_millis(500)),
                ..SHORT
            },
            ..faked(
                "fake: a trickle (1 byte / 50 ms) passes the operation timeout",
                vec![
                    read("get_file_listing"),
                    Act::Trickle {
                        // Five seconds of it.
                        bytes: listing_of(&["a-rather-long-file-name.txt"; 3]),
                        every: Duration::from_millis(50),
                    },
                ],
                vec![
                    within(SOON, Step::List(Err(Fail::Timeout))),
                    Step::List(Err(Fail::Broken)),
                ],
            )
        },
        Row {
            timeouts: Timeouts {
                operation: Some(Duration::from_millis(1000)),
                ..SHORT
            },
            ..faked(
                "fake: the operation timeout bounds each operation, not the connection",
                (0..6)
                    .flat_map(|_| {
                        [
                            read("get_metadata one"),
                            Act::Trickle {
                                bytes: b"0 OK\r\n1\r\n".to_vec(),
                                every: Duration::from_millis(20),
                            },
                        ]
                    })
                    .collect(),
                (0..6).map(|_| Step::Metadata("one", Ok(1))).collect(),
            )
        },
    ];
    rows.extend(more_rows());
    rows.extend(malformed());
    rows.push(every_split());
    rows.push(byte_by_byte());
    rows
}

fn more_rows() -> Vec<Row> {
    vec![
        faked(
            "fake: liberal forms (spaces around codes and sizes, no status text, header case)",
            vec![
                read("get_metadata a"),
                send("  0   OK\r\n 41 \r\n"),
                read("get_file_listing"),
                send("0\r\n\r\n"),
                read("get_slice a 0 3 raw"),
                send("0 OK\r\ncontent-length:3\r\n\r\nabc"),
                read("get_metadata b"),
                send("202\r\n"),
            ],
            vec![
                Step::Metadata("a", Ok(41)),
                Step::List(strings(&[])),
                Step::Slice(raw_slice("a", 0, 3), Ok(b"abc".to_vec())),
                Step::Metadata("b", Err(Fail::Server(202))),
                Step::Sizes(vec![], vec![]),
            ],
        ),
        real(
            "real: a .part longer than the file is PartTooLong",
            vec![
                Step::Download(
                    Dl {
                        name: "notes.txt",
                        connections: 1,
                        resume_from: Some(50),
                        raw: false,
                        chunk: 16,
                    },
                    Err(Fail::PartTooLong),
                ),
                // A local problem: the connection is fine.
                Step::Metadata("notes.txt", Ok(41)),
            ],
        ),
        faked(
            "fake: quit answered by a close is Closed",
            vec![read("quit"), Act::Close],
            vec![Step::Quit(Err(Fail::Closed))],
        ),
        stalling(
            "fake: a stall in the middle of pipelined sizes times out",
            vec![
                read("get_metadata a"),
                read("get_metadata b"),
                read("get_metadata c"),
                send("0 OK\r\n1\r\n0 OK\r\n"),
            ],
            vec![
                within(
                    SOON,
                    Step::Sizes(
                        vec!["a", "b", "c"],
                        vec![Ok(1), Err(Fail::Timeout), Err(Fail::Broken)],
                    ),
                ),
                Step::Metadata("a", Err(Fail::Broken)),
            ],
        ),
        Row {
            timeouts: Timeouts {
                operation: Some(Duration::from_millis(500)),
                ..SHORT
            },
            ..faked(
                "fake: the operation timeout bounds pipelined sizes as one operation",
                vec![
                    read("get_metadata a"),
                    read("get_metadata b"),
                    send("0 OK\r\n1\r\n"),
                    Act::Trickle {
                        bytes: b"0 OK\r\n1234567890123456789012345678901234567890\r\n".to_vec(),
                        every: Duration::from_millis(50),
                    },
                ],
                vec![within(
                    SOON,
                    Step::Sizes(vec!["a", "b"], vec![Ok(1), Err(Fail::Timeout)]),
                )],
            )
        },
        Row {
            timeouts: Timeouts {
                operation: Some(Duration::from_millis(500)),
                ..PATIENT
            },
            ..faked(
                "fake: idle time between operations does not count against the next one",
                vec![
                    read("get_metadata one"),
                    send("0 OK\r\n1\r\n"),
                    read("get_metadata one"),
                    send("0 OK\r\n1\r\n"),
                ],
                vec![
                    Step::Metadata("one", Ok(1)),
                    Step::Sleep(Duration::from_millis(1200)),
                    Step::Metadata("one", Ok(1)),
                ],
            )
        },
    ]
}

/// Responses a server gets wrong in one way each: a row per response,
/// each on its own connection, each a protocol error that breaks it.
fn malformed() -> Vec<Row> {
    use ResponseError::*;
    let cases: Vec<(&'static str, &'static str, &'static [u8], Step)> = vec![
        (
            "a listing item that is not UTF-8",
            "get_file_listing",
            b"0 OK\r\n\xff\xfe.txt\r\n\r\n",
            Step::List(Err(Fail::Protocol(InvalidUtf8))),
        ),
        (
            "a status code past 65535",
            "help",
            b"70000 BIG\r\n",
            Step::Help(Err(Fail::Protocol(BadStatusLine))),
        ),
        (
            "a status line without a code",
            "help",
            b"OK\r\n",
            Step::Help(Err(Fail::Protocol(BadStatusLine))),
        ),
        (
            "a NUL in the status line",
            "help",
            b"0 O\0K\r\n",
            Step::Help(Err(Fail::Protocol(ControlByte { byte: 0 }))),
        ),
        (
            "a bare CR in a listing item",
            "get_file_listing",
            b"0 OK\r\na\rb\r\n\r\n",
            Step::List(Err(Fail::Protocol(ControlByte { byte: b'\r' }))),
        ),
        (
            "a signed size",
            "get_metadata a",
            b"0 OK\r\n+41\r\n",
            Step::Metadata("a", Err(Fail::Protocol(BadSize))),
        ),
        (
            "a size past 2^64 - 1",
            "get_metadata a",
            b"0 OK\r\n18446744073709551616\r\n",
            Step::Metadata("a", Err(Fail::Protocol(BadSize))),
        ),
        (
            "a raw slice with another header",
            "get_slice a 0 3 raw",
            b"0 OK\r\nContent-Type: text/plain\r\n\r\nabc",
            Step::Slice(raw_slice("a", 0, 3), Err(Fail::Protocol(BadHeader))),
        ),
        (
            "a raw slice without the blank line",
            "get_slice a 0 3 raw",
            b"0 OK\r\nContent-Length: 3\r\nabc",
            Step::Slice(raw_slice("a", 0, 3), Err(Fail::Protocol(MissingBlankLine))),
        ),
        (
            "base64 padding in the middle of a line",
            "get_slice a 0 2",
            b"0 OK\r\nIQ==IQ==\r\n",
            Step::Slice(b64_slice("a", 0, 2), Err(Fail::Protocol(BadPadding))),
        ),
        (
            "a base64 line ending in a lone character",
            "get_slice a 0 4",
            b"0 OK\r\nIVF1Z\r\n",
            Step::Slice(b64_slice("a", 0, 4), Err(Fail::Protocol(DanglingBase64))),
        ),
    ];
    cases
        .into_iter()
        .map(|(what, request, response, step)| {
            let mut row = faked(
                "fake: malformed",
                vec![read(request), send(response)],
                vec![step],
            );
            row.name = Box::leak(format!("fake: malformed: {what}").into_boxed_str());
            row
        })
        .collect()
}

fn listing_of(names: &[&str]) -> Vec<u8> {
    let mut out = b"0 OK\r\n".to_vec();
    for name in names {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Exchanges whose responses are cut somewhere: the requests the fake
/// reads, the response, and the step that must decode it.
fn cuttable() -> Vec<(Vec<&'static str>, Vec<u8>, Step)> {
    let raw_body = b"\r\n\0a\n";
    vec![
        (
            vec!["get_file_listing"],
            listing_of(&["notes.txt", "photo.jpg"]),
            Step::List(strings(&["notes.txt", "photo.jpg"])),
        ),
        (
            vec!["get_metadata notes.txt"],
            b"0 OK\r\n41\r\n".to_vec(),
            Step::Metadata("notes.txt", Ok(41)),
        ),
        (
            vec!["get_slice notes.txt 5 20"],
            cat(&[b"0 OK\r\n", &b64_lines(CALOR, &[4, 1, 13, 2], false)]),
            Step::Slice(b64_slice("notes.txt", 5, 20), Ok(CALOR.to_vec())),
        ),
        (
            vec!["get_slice notes.txt 5 20"],
            cat(&[b"0 OK\r\n", &b64_lines(CALOR, &[20], true)]),
            Step::Slice(b64_slice("notes.txt", 5, 20), Ok(CALOR.to_vec())),
        ),
        (
            vec!["get_slice x 0 5 raw"],
            cat(&[b"0 OK\r\nContent-Length: 5\r\n\r\n", raw_body]),
            Step::Slice(raw_slice("x", 0, 5), Ok(raw_body.to_vec())),
        ),
        (
            vec!["get_metadata nope"],
            b"202 FILE NOT FOUND\r\n".to_vec(),
            Step::Metadata("nope", Err(Fail::Server(202))),
        ),
        (
            vec!["get_metadata a", "get_metadata b"],
            b"0 OK\r\n1\r\n0 OK\r\n22\r\n".to_vec(),
            Step::Sizes(vec!["a", "b"], vec![Ok(1), Ok(22)]),
        ),
    ]
}

/// Every response of [`cuttable`] cut in two at every byte boundary, the
/// halves a moment apart, on one connection.
fn every_split() -> Row {
    let mut script = Vec::new();
    let mut steps = Vec::new();
    for (requests, response, step) in cuttable() {
        for cut in 1..response.len() {
            script.extend(requests.iter().map(|r| read(r)));
            script.push(Act::Split {
                bytes: response.clone(),
                cuts: vec![cut],
                pause: Duration::from_millis(1),
            });
            steps.push(clone_step(&step));
        }
    }
    faked(
        "fake: responses split at every byte boundary",
        script,
        steps,
    )
}

/// Every response of [`cuttable`] one byte at a time.
fn byte_by_byte() -> Row {
    let mut script = Vec::new();
    let mut steps = Vec::new();
    for (requests, response, step) in cuttable() {
        script.extend(requests.iter().map(|r| read(r)));
        script.push(Act::Split {
            cuts: (1..response.len()).collect(),
            bytes: response,
            pause: Duration::from_millis(1),
        });
        steps.push(step);
    }
    faked("fake: responses one byte at a time", script, steps)
}

fn clone_step(step: &Step) -> Step {
    match step {
        Step::List(want) => Step::List(want.clone()),
        Step::Help(want) => Step::Help(want.clone()),
        Step::Metadata(name, want) => Step::Metadata(name, want.clone()),
        Step::Sizes(names, want) => Step::Sizes(names.clone(), want.clone()),
        Step::Slice(sl, want) => Step::Slice(*sl, want.clone()),
        Step::Download(dl, want) => Step::Download(*dl, want.clone()),
        Step::Record => Step::Record,
        Step::Transcript(want) => Step::Transcript(want.clone()),
        Step::Quit(want) => Step::Quit(want.clone()),
        Step::Sleep(d) => Step::Sleep(*d),
        Step::Within(limit, step) => within(*limit, clone_step(step)),
    }
}

fn sent(id: u64, bytes: &str) -> Rec {
    (Direction::Sent, Some(id), bytes.as_bytes().to_vec())
}

fn got(id: u64, bytes: &str) -> Rec {
    (Direction::Received, Some(id), bytes.as_bytes().to_vec())
}

// ---------------------------------------------------------------------
// The runner.

/// Runs every row on `kind`; fails with the list of rows that failed.
fn run_all(kind: &dyn Kind) {
    let mut failed = Vec::new();
    for row in rows() {
        let name = row.name;
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| run_row(kind, row)));
        let took = started.elapsed();
        match result {
            Ok(()) => eprintln!("ok      {name} ({took:.0?})"),
            Err(why) => {
                let why = panic_text(&why);
                eprintln!("FAILED  {name}: {why}");
                failed.push(format!("{name}: {why}"));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{}: {} row(s) failed:\n{}",
        kind.name(),
        failed.len(),
        failed.join("\n")
    );
}

fn panic_text(why: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = why.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = why.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "(a panic without a message)".into()
    }
}

/// Where a row runs.
struct Ctx<'a> {
    kind: &'a dyn Kind,
    addr: SocketAddr,
    timeouts: Timeouts,
    dir: &'a Path,
    /// Whether the connection is expected to be broken.
    broken: bool,
}

/// Runs one row.
fn run_row(kind: &dyn Kind, row: Row) {
    let mut served = None;
    let mut fake = None;
    let addr = match row.setup {
        Setup::Real => {
            let files = files();
            let files: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, &b[..])).collect();
            served.insert(Served::new(&files)).addr()
        }
        Setup::Fake(script) => fake.insert(Fake::start(script)).addr(),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = Ctx {
        kind,
        addr,
        timeouts: row.timeouts,
        dir: dir.path(),
        broken: false,
    };
    let mut client = Some(kind.connect(addr, row.timeouts).expect("connecting"));
    for (i, step) in row.steps.iter().enumerate() {
        let what = short(&format!("step {i}: {step:?}"));
        let r = catch_unwind(AssertUnwindSafe(|| ctx.step(&mut client, step, i)));
        if let Err(why) = r {
            panic!("{what}: {}", panic_text(&why));
        }
    }
    drop(client);
    if let Some(fake) = fake {
        if let Err(e) = fake.finish() {
            panic!("the fake server: {e}");
        }
    }
    drop(served);
}

fn short(s: &str) -> String {
    match s.char_indices().nth(160) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

impl Ctx<'_> {
    fn step(&mut self, client: &mut Option<Box<dyn Api>>, step: &Step, i: usize) {
        let api = client.as_mut().expect("no call after quit");
        let errors: Vec<bool> = match step {
            Step::Within(limit, step) => {
                let started = Instant::now();
                self.step(client, step, i);
                let took = started.elapsed();
                assert!(took <= *limit, "took {took:?}, more than {limit:?}");
                return;
            }
            Step::List(want) => check(api.list(), want),
            Step::Help(want) => check(api.help(), want),
            Step::Metadata(name, want) => check(api.metadata(name), want),
            Step::Sizes(names, want) => {
                let got = api.sizes(names);
                assert_eq!(got.len(), want.len(), "one result per name: {got:?}");
                got.into_iter()
                    .zip(want)
                    .enumerate()
                    .flat_map(|(n, (got, want))| {
                        catch_unwind(AssertUnwindSafe(|| check(got, want)))
                            .unwrap_or_else(|why| panic!("name {n}: {}", panic_text(&why)))
                    })
                    .collect()
            }
            Step::Slice(sl, want) => check(api.slice(sl.name, sl.offset, sl.size, sl.raw), want),
            Step::Download(dl, want) => {
                let parallel = dl.connections > 1;
                let result = self.download(api.as_mut(), dl, i);
                let errors = check(result, want);
                if parallel {
                    // Other connections: this one is untouched.
                    return;
                }
                errors
            }
            Step::Record => {
                api.record(1 << 20);
                Vec::new()
            }
            Step::Sleep(d) => {
                std::thread::sleep(*d);
                Vec::new()
            }
            Step::Transcript(want) => {
                let transcript = api.transcript().expect("recording");
                let got: Vec<Rec> = transcript
                    .records()
                    .iter()
                    .map(|r| {
                        assert_eq!(r.omitted, 0);
                        (r.direction, r.request.map(|id| id.0), r.bytes.clone())
                    })
                    .collect();
                if got != *want {
                    panic!(
                        "transcript differs; got:\n{}",
                        transcript.to_string().trim_end()
                    );
                }
                Vec::new()
            }
            Step::Quit(want) => {
                let api = client.take().expect("no call after quit");
                check(api.quit(), want);
                return;
            }
        };
        self.broken |= errors.iter().any(|&breaks| breaks);
        let api = client.as_mut().expect("no call after quit");
        assert_eq!(
            api.is_broken(),
            self.broken,
            "the connection's broken flag after this step"
        );
    }

    fn download(&self, api: &mut dyn Api, dl: &Dl, i: usize) -> Result<u64, Error> {
        let dest = self.dir.join(format!("{i}-{}", dl.name));
        let part = part_path(&dest);
        let options = DownloadOptions {
            resume: dl.resume_from.is_some(),
            connections: dl.connections,
            chunk_size: dl.chunk,
            raw: dl.raw,
            ..DownloadOptions::default()
        };
        if let Some(n) = dl.resume_from {
            let mut bytes = served_file(dl.name);
            bytes.resize(n, 0);
            std::fs::write(&part, bytes).unwrap();
        }
        let most = Arc::new(AtomicU64::new(0));
        let progress = {
            let most = Arc::clone(&most);
            Arc::new(move |p: hftp_client::Progress| {
                most.fetch_max(p.done, Ordering::Relaxed);
            })
        };
        let done = match dl.connections {
            1 => api.download(dl.name, &dest, &options, progress)?,
            _ => self.kind.server_download(
                self.addr,
                self.timeouts,
                dl.name,
                &dest,
                &options,
                progress,
            )?,
        };
        let want = served_file(dl.name);
        assert_eq!(
            done,
            Downloaded {
                size: want.len() as u64,
                resumed_from: dl.resume_from.unwrap_or(0) as u64,
            }
        );
        assert!(
            std::fs::read(&dest).unwrap() == want,
            "the downloaded bytes differ"
        );
        assert!(!part.exists(), "the .part is gone");
        assert_eq!(
            most.load(Ordering::Relaxed),
            want.len() as u64,
            "progress reached the end"
        );
        Ok(done.resumed_from)
    }
}

/// Checks a result against what was wanted; returns, for an error,
/// whether it breaks the connection.
fn check<T: PartialEq + Debug>(got: Result<T, Error>, want: &Res<T>) -> Vec<bool> {
    match (got, want) {
        (Ok(got), Ok(want)) => {
            assert!(
                got == *want,
                "got {}, want {}",
                short(&format!("{got:?}")),
                short(&format!("{want:?}"))
            );
            Vec::new()
        }
        (Err(e), Err(fail)) => {
            assert!(fail.matches(&e), "got the error {e:?} ({e}), want {fail:?}");
            vec![e.breaks_connection()]
        }
        (Ok(got), Err(fail)) => panic!(
            "got {}, want the error {fail:?}",
            short(&format!("{got:?}"))
        ),
        (Err(e), Ok(want)) => panic!(
            "got the error {e:?} ({e}), want {}",
            short(&format!("{want:?}"))
        ),
    }
}

// ---------------------------------------------------------------------
// One test per client kind.

#[test]
fn blocking() {
    run_all(&api::Blocking);
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_current_thread() {
    run_all(&api::Tokio::current_thread());
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_multi_thread() {
    run_all(&api::Tokio::multi_thread());
}
