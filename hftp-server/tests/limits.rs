//! Timeouts, the connection limit, and a stalled reader that must not delay
//! anyone else (docs/PROTOCOL.md §4), with small configured values.

mod common;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn idle_timeout_closes_idle_connections_only() {
    let server = start(&["--idle-timeout", "1"], &[("ten", b"0123456789")]);
    let addr = server.addr;
    // Never sent anything.
    let fresh = thread::spawn(move || {
        let mut c = Conn::connect(addr);
        c.wait_close(Duration::from_secs(5))
    });
    // Idle after one answered request.
    let after_request = thread::spawn(move || {
        let mut c = Conn::connect(addr);
        assert_eq!(c.metadata("ten"), 10);
        c.wait_close(Duration::from_secs(5))
    });
    // Idle in the middle of a request line (the request deadline is 30 s).
    let mid_line = thread::spawn(move || {
        let mut c = Conn::connect(addr);
        c.send(b"get_meta");
        c.wait_close(Duration::from_secs(5))
    });
    // Busy: a request every 300 ms for 2.5 s is never idle for 1 s.
    let busy = thread::spawn(move || {
        let mut c = Conn::connect(addr);
        let begun = Instant::now();
        while begun.elapsed() < Duration::from_millis(2500) {
            c.send(b"help\r\n");
            assert_eq!(c.exact(HELP.len()), HELP);
            thread::sleep(Duration::from_millis(300));
        }
        c.quit(Duration::from_secs(2));
    });
    for (name, h) in [
        ("fresh", fresh),
        ("after a request", after_request),
        ("mid-line", mid_line),
    ] {
        let (got, closed, took) = h.join().unwrap();
        eprintln!("idle connection ({name}) closed after {took:?}");
        assert!(got.is_empty(), "{name}: unexpected bytes {:?}", show(&got));
        assert!(closed, "{name}: not closed within 5 s");
        assert!(
            took >= Duration::from_millis(800),
            "{name}: closed too early, after {took:?}"
        );
        assert!(
            took <= Duration::from_secs(3),
            "{name}: closed too late, after {took:?}"
        );
    }
    busy.join()
        .expect("a busy connection was closed by the idle timeout");
    assert!(server.log().contains("(idle timeout)"), "{}", server.log());
}

#[test]
fn request_timeout_closes_a_trickling_client() {
    let server = start(&["--request-timeout", "1"], &[]);
    let mut c = server.connect();
    let mut writer = c.stream.try_clone().unwrap();
    let begun = Instant::now();
    let trickle = thread::spawn(move || {
        for &b in b"get_file_listing\r\n" {
            if writer.write_all(&[b]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(300));
        }
    });
    let (got, closed, _) = c.wait_close(Duration::from_secs(6));
    let took = begun.elapsed();
    trickle.join().unwrap();
    eprintln!("trickling client closed after {took:?}");
    assert!(got.is_empty(), "unexpected bytes {:?}", show(&got));
    assert!(
        closed,
        "a client trickling one byte per 300 ms was not closed"
    );
    assert!(
        took >= Duration::from_millis(800),
        "closed too early: {took:?}"
    );
    assert!(took <= Duration::from_secs(3), "closed too late: {took:?}");
    assert!(
        server.log().contains("request line not completed in time"),
        "{}",
        server.log()
    );
}

#[test]
fn request_timeout_runs_per_line() {
    // Each line takes 0.6 s, the session 1.8 s: the deadline restarts per line.
    let server = start(&["--request-timeout", "1"], &[]);
    let mut c = server.connect();
    for _ in 0..3 {
        for &b in b"help\r\n" {
            c.send(&[b]);
            thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(c.exact(HELP.len()), HELP);
    }
    c.quit(Duration::from_secs(2));
}

#[test]
fn max_connections_makes_extra_clients_wait_in_the_backlog() {
    let server = start(&["--max-connections", "2"], &[]);
    let mut c1 = server.connect();
    let mut c2 = server.connect();
    for c in [&mut c1, &mut c2] {
        c.send(b"help\r\n");
        assert_eq!(c.exact(HELP.len()), HELP);
    }
    // The handshake completes through the backlog, but nobody answers.
    let mut c3 = server.connect();
    c3.send(b"help\r\n");
    c3.assert_silent(Duration::from_secs(1));
    let mut c4 = server.connect();
    c4.send(b"help\r\n");
    // One of the first two leaves: the third is served.
    c1.quit(Duration::from_secs(2));
    let begun = Instant::now();
    assert_eq!(c3.exact(HELP.len()), HELP);
    eprintln!(
        "waiting client served {:?} after a slot freed",
        begun.elapsed()
    );
    assert!(begun.elapsed() < Duration::from_secs(3));
    // Still two at a time: the fourth waits until another leaves.
    c4.assert_silent(Duration::from_millis(500));
    c2.quit(Duration::from_secs(2));
    assert_eq!(c4.exact(HELP.len()), HELP);
    c3.quit(Duration::from_secs(2));
    c4.quit(Duration::from_secs(2));
}

#[test]
fn a_stalled_reader_delays_nobody_and_stays_bounded() {
    let data = pattern(1 << 20, 21);
    // One worker thread: the stalled clients share the event loop with the
    // interactive one.
    let server = start(
        &["--threads", "1", "-q"],
        &[("big", &data), ("ten", b"0123456789")],
    );
    // Warm up every code path before the baseline.
    let mut warm = server.connect();
    assert!(warm.slice("big", 0, 1 << 20) == data);
    assert!(warm.raw_slice("big", 0, 1 << 20) == data);
    warm.quit(Duration::from_secs(2));
    let baseline = server.rss_kib();
    // Two clients ask for 1 GiB of slices each and never read.
    let mut stalled = Vec::new();
    for raw in ["", " raw"] {
        let mut c = server.connect();
        let requests = format!("get_slice big 0 {}{raw}\r\n", 1 << 20).repeat(1024);
        c.send(requests.as_bytes());
        stalled.push(c);
    }
    thread::sleep(Duration::from_millis(300));
    let mut c = server.connect();
    let mut worst = Duration::ZERO;
    let begun = Instant::now();
    let mut rounds = 0;
    while begun.elapsed() < Duration::from_secs(2) {
        let t = Instant::now();
        assert_eq!(c.listing(), ["big", "ten"]);
        assert_eq!(c.metadata("big"), 1 << 20);
        assert!(c.slice("big", 1000, 5000) == data[1000..6000]);
        assert!(c.raw_slice("big", 7, 100_000) == data[7..100_007]);
        worst = worst.max(t.elapsed());
        rounds += 1;
    }
    c.quit(Duration::from_secs(2));
    let peak = server.peak_rss_kib();
    eprintln!(
        "stalled readers: {rounds} rounds, slowest {worst:?}; RSS baseline {baseline} KiB, peak {peak} KiB (+{} KiB)",
        peak.saturating_sub(baseline)
    );
    assert!(worst < Duration::from_secs(1), "a round took {worst:?}");
    assert!(
        peak < baseline + 64 * 1024,
        "RSS grew from {baseline} KiB to {peak} KiB"
    );
    // The stalled clients get correct data once they read.
    let mut b64 = stalled.remove(0);
    assert!(b64.slice_response(1 << 20) == data);
    let mut raw = stalled.remove(0);
    raw.expect("0 OK");
    raw.expect(&format!("Content-Length: {}", 1 << 20));
    raw.expect("");
    assert!(raw.exact(1 << 20) == data);
}

#[test]
fn idle_timeout_also_ends_a_transfer_nobody_reads() {
    let server = start_with(Options::args(&["--idle-timeout", "1"]), |dir| {
        sparse_file(&dir.join("big"), 256 << 20)
    });
    let mut c = server.connect_small_rcvbuf(64 * 1024);
    c.send(format!("get_slice big 0 {} raw\r\n", 256 << 20).as_bytes());
    c.expect("0 OK");
    let stalled = Instant::now();
    assert!(
        wait_until(Duration::from_secs(5), || server
            .log()
            .contains("(idle timeout)")),
        "a connection whose client stopped reading was not closed; log: {}",
        server.log()
    );
    let took = stalled.elapsed();
    eprintln!("stalled transfer closed after {took:?}");
    assert!(
        took >= Duration::from_millis(800),
        "closed after {took:?} although the client was reading until then"
    );
    // The client sees a short transfer, then the end.
    let (rest, closed, _) = c.wait_close(Duration::from_secs(20));
    assert!(closed && (rest.len() as u64) < 256 << 20);
}

#[test]
fn the_request_deadline_restarts_for_a_line_begun_in_the_same_read() {
    // Found by the `session` fuzz target: a read that ends one line and
    // begins the next kept the first line's start, so a pipelining client
    // whose writes always end mid-line was cut after the request timeout
    // although each line took 300 ms.
    let server = start(&["--request-timeout", "1"], &[]);
    let mut c = server.connect();
    c.send(b"hel");
    let begun = Instant::now();
    let mut answered = 0;
    while begun.elapsed() < Duration::from_secs(3) {
        thread::sleep(Duration::from_millis(300));
        c.send(b"p\r\nhel");
        assert_eq!(c.exact(HELP.len()), HELP, "after {:?}", begun.elapsed());
        answered += 1;
    }
    c.send(b"p\r\n");
    assert_eq!(c.exact(HELP.len()), HELP);
    assert!(answered >= 8);
    c.quit(Duration::from_secs(2));
}
