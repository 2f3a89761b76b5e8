//! A hung file system delays only the requests that touch it.
//!
//! The served directory is a FUSE file system of our own ([`fuse`]) in
//! which looking up `hang` or `hang2` never ends. File-system work runs
//! on blocking threads off the event loops, and one not done within
//! `--fs-timeout` answers `199` (fatal: the connection is then closed);
//! meanwhile every other client is served as usual.
//!
//! Needs root and `/dev/fuse` (the test mounts the file system itself);
//! elsewhere it prints `skipped: ...` and passes. Every read is bounded,
//! and the mount is aborted on the way out (panic included), so a server
//! that freezes fails the test instead of hanging it.

#[path = "../common/mod.rs"]
mod common;
mod fuse;

use std::io::{self, Read};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{server_bin, show, start_with, Conn, Options, Server, HELP};
use fuse::HungFs;

/// The server's `--fs-timeout` here.
const FS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a request that does not touch the hung names may take.
const PROMPT: Duration = Duration::from_secs(1);
/// The most a hung request may wait for its `199`, from when it was sent.
const HUNG_ANSWER_BY: Duration = Duration::from_secs(6);
/// A `199` sooner than this after sending did not come from the timeout.
const HUNG_ANSWER_NOT_BEFORE: Duration = Duration::from_millis(1500);
/// How long a hung request's lookup may take to reach the file system.
const REACH: Duration = Duration::from_secs(5);

const LISTING: &[u8] = b"0 OK\r\na.txt\r\nhang\r\nhang2\r\n\r\n";
const A_SIZE: &[u8] = b"0 OK\r\n5\r\n";

/// The file system and the server, torn down in this order: the mount is
/// aborted first, so that server threads stuck in it return and the
/// server can be killed and reaped.
struct Rig {
    fs: HungFs,
    server: Server,
}

#[test]
fn a_hung_file_system_delays_only_the_requests_that_touch_it() {
    if !common::is_root() {
        eprintln!("skipped: not root (the test mounts a FUSE file system)");
        return;
    }
    let fs = match HungFs::mount() {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("skipped: cannot mount a FUSE file system: {why}");
            return;
        }
    };
    // `--threads 2`: two hung requests are as many as there are event
    // loops, so a server doing file-system work on them stops entirely.
    let mut args = vec!["--threads".to_owned(), "2".to_owned()];
    let has_fs_timeout = accepts_fs_timeout();
    if has_fs_timeout {
        args.extend(["--fs-timeout".to_owned(), FS_TIMEOUT.as_secs().to_string()]);
    } else {
        eprintln!(
            "NOTE: {} has no --fs-timeout; started without it, to show where it fails",
            server_bin()
        );
    }
    let opts = Options {
        args,
        dir: Some(fs.path().to_owned()),
        ..Options::default()
    };
    let server = start_with(opts, |_| {});
    let mut rig = Rig { fs, server };

    // Before anything hangs: the file system works through the server.
    let mut g = rig.server.connect();
    let settle = Duration::from_secs(10);
    let before = "before anything hangs";
    expect(&mut g, "G: help", b"help\r\n", HELP, settle, before);
    let listing = b"get_file_listing\r\n";
    expect(
        &mut g,
        "G: get_file_listing",
        listing,
        LISTING,
        settle,
        before,
    );
    let meta = b"get_metadata a.txt\r\n";
    expect(
        &mut g,
        "G: get_metadata a.txt",
        meta,
        A_SIZE,
        settle,
        before,
    );
    let slice = b"get_slice a.txt 0 5\r\n";
    expect(
        &mut g,
        "G: get_slice",
        slice,
        b"0 OK\r\naGVsbG8=\r\n",
        settle,
        before,
    );

    // H1, then H2, get stuck in the file system.
    let mut h1 = rig.server.connect();
    h1.send(b"get_metadata hang\r\n");
    let h1_sent = Instant::now();
    assert!(
        common::wait_until(REACH, || rig.fs.hang_lookups() >= 1),
        "H1's `get_metadata hang` did not reach the file system within {REACH:?}"
    );
    let mut h2 = rig.server.connect();
    h2.send(b"get_metadata hang2\r\n");
    let h2_sent = Instant::now();
    let both_hung = common::wait_until(REACH, || rig.fs.hang_lookups() >= 2);

    // 1. Meanwhile G is served promptly.
    let during = format!(
        "while H1 (`get_metadata hang`) and H2 (`get_metadata hang2`) hang in the \
         file system ({} of their 2 lookups reached it: {:?}): a request that does \
         not touch the hung file system must not wait for those that do",
        rig.fs.hang_lookups(),
        rig.fs.hung_names()
    );
    expect(
        &mut g,
        "1. G: get_metadata a.txt",
        meta,
        A_SIZE,
        PROMPT,
        &during,
    );
    expect(&mut g, "1. G: help", b"help\r\n", HELP, PROMPT, &during);
    expect(
        &mut g,
        "1. G: get_file_listing",
        listing,
        LISTING,
        PROMPT,
        &during,
    );
    assert!(
        both_hung,
        "1. H2's `get_metadata hang2` never reached the file system within {REACH:?} \
         while H1's lookup hung: the server does not run two requests' file-system \
         work at once"
    );
    assert!(
        has_fs_timeout,
        "{} does not accept --fs-timeout SECS",
        server_bin()
    );

    // 2. H1 and H2 each get 199 once --fs-timeout passes, then EOF.
    for (name, h, sent) in [("H1", &mut h1, h1_sent), ("H2", &mut h2, h2_sent)] {
        let left = HUNG_ANSWER_BY.saturating_sub(sent.elapsed());
        let reply = read_reply(h, left, |b| b.windows(2).any(|w| w == b"\r\n"));
        let took = sent.elapsed();
        let line = String::from_utf8_lossy(&reply.bytes).into_owned();
        assert!(
            line.starts_with("199 ") && line.ends_with("\r\n"),
            "2. {name}: want a `199` status line within {HUNG_ANSWER_BY:?} of sending \
             (--fs-timeout {FS_TIMEOUT:?}); got {:?}{} {took:?} after sending",
            show(&reply.bytes),
            if reply.closed { " and EOF" } else { "" },
        );
        assert!(
            took >= HUNG_ANSWER_NOT_BEFORE,
            "2. {name}: `199` already {took:?} after sending, before --fs-timeout \
             {FS_TIMEOUT:?} could pass"
        );
        let (rest, closed, _) = h.wait_close(Duration::from_secs(3));
        assert!(
            rest.is_empty() && closed,
            "2. {name}: after `199` (fatal) want EOF and nothing else within 3 s; \
             got {:?}, closed: {closed}",
            show(&rest)
        );
    }

    // 3. G is still served; after the mount is aborted (the hung lookups
    // fail at last), the server lives on and serves a new client.
    let after = "after H1 and H2 got 199 (their lookups still hang)";
    expect(&mut g, "3. G: help", b"help\r\n", HELP, PROMPT, after);
    expect(
        &mut g,
        "3. G: get_metadata a.txt",
        meta,
        A_SIZE,
        PROMPT,
        after,
    );
    assert_eq!(rig.fs.hang_lookups(), 2, "3. lookups of hanging names");
    rig.fs.abort();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        rig.server.running(),
        "3. the server exited once the hung lookups failed\n{}",
        rig.server.log()
    );
    let mut fresh = rig.server.connect();
    let aborted = "after the mount was aborted";
    let help = b"help\r\n";
    expect(
        &mut fresh,
        "3. new client: help",
        help,
        HELP,
        PROMPT,
        aborted,
    );
}

/// Whether the server under test has the `--fs-timeout` flag.
fn accepts_fs_timeout() -> bool {
    let out = Command::new(server_bin())
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("running {} --help: {e}", server_bin()));
    String::from_utf8_lossy(&out.stdout).contains("--fs-timeout")
}

/// What came on a connection within a time limit.
struct Reply {
    bytes: Vec<u8>,
    /// The connection ended (EOF or reset).
    closed: bool,
}

/// Reads from `c`'s socket until `complete` holds for what came, the
/// connection ends, or `within` passes. Reads the socket directly, past
/// `c`'s own buffer: use it before any of `c`'s reading methods.
fn read_reply(c: &mut Conn, within: Duration, complete: impl Fn(&[u8]) -> bool) -> Reply {
    let begun = Instant::now();
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    while !complete(&bytes) {
        let left = within.saturating_sub(begun.elapsed());
        if left.is_zero() {
            return Reply {
                bytes,
                closed: false,
            };
        }
        c.stream.set_read_timeout(Some(left)).unwrap();
        match c.stream.read(&mut chunk) {
            Ok(0) => {
                return Reply {
                    bytes,
                    closed: true,
                }
            }
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if common::read_timed_out(&e) => {}
            Err(_) => {
                return Reply {
                    bytes,
                    closed: true,
                }
            }
        }
    }
    Reply {
        bytes,
        closed: false,
    }
}

/// Whether `bytes` hold a whole response shaped like `want`: a status
/// line other than `0 OK` is whole by itself; otherwise as many lines as
/// `want` has (a listing or help ends with an empty line).
fn whole(bytes: &[u8], want: &[u8]) -> bool {
    let lines = |b: &[u8]| b.windows(2).filter(|w| *w == b"\r\n").count();
    let Some(end) = bytes.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    &bytes[..end] != b"0 OK" || lines(bytes) >= lines(want) || bytes.len() >= want.len()
}

/// Sends `request` on `c` and asserts the answer is `want`, all of it
/// within `within`; `context` says what else is going on.
#[track_caller]
fn expect(c: &mut Conn, what: &str, request: &[u8], want: &[u8], within: Duration, context: &str) {
    let sent = Instant::now();
    c.send(request);
    let reply = read_reply(c, within, |b| whole(b, want));
    let took = sent.elapsed();
    assert!(
        reply.bytes == want && took <= within,
        "{what}: want {:?} within {within:?}; got {:?}{} after {took:?}, {context}",
        show(want),
        show(&reply.bytes),
        if reply.closed { " and EOF" } else { "" },
    );
}
