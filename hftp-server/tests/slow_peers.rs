//! Peers as real networks make them, over real sockets: slow readers that
//! keep reading (never cut), readers that stop (cut after the idle
//! timeout), small send buffers at MTU 1500 (bounded memory), and a client
//! that pipelines as fast as it reads (delays nobody). docs/PROTOCOL.md §4.

mod common;

use std::io::{ErrorKind, Write};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// Reads `n` bytes at no more than `rate` bytes a second.
fn read_paced(c: &mut Conn, n: usize, rate: usize) -> Vec<u8> {
    let begun = Instant::now();
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let chunk = c.read_some().unwrap_or_else(|e| {
            panic!(
                "after {} of {n} bytes ({:?}): {e}",
                got.len(),
                begun.elapsed()
            )
        });
        assert!(!chunk.is_empty(), "EOF after {} of {n} bytes", got.len());
        got.extend_from_slice(&chunk);
        let due = Duration::from_secs_f64(got.len() as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(begun.elapsed()) {
            thread::sleep(wait);
        }
    }
    got
}

/// Whether this build of the server learns what the peer acknowledged
/// (`sys::unacked`: Linux, without `--cfg hftp_portable`). Without it a
/// write counts as progress, and a slow reader behind large buffers can
/// still look idle.
const ACKS_KNOWN: bool = cfg!(all(target_os = "linux", not(hftp_portable)));

#[test]
fn slices_read_slowly_for_three_idle_timeouts_complete_byte_exact() {
    // Findings 2 and 3 of the connection-core review: a raw slice was cut
    // by the idle timeout while its reader kept reading (sendfile progress
    // was never recorded), and a base64 one could be cut too (only the
    // server's writes counted, which a large socket buffer spaces out).
    if !ACKS_KNOWN {
        eprintln!("skipped: this build cannot see what the peer acknowledged");
        return;
    }
    // Raw: 16 MiB at 4 MB/s; base64: 1 MiB (1.4 MB of text) at 400 kB/s,
    // slow enough that a large socket buffer spaces the server's writes
    // out past the idle timeout. Each takes 3.5 to 4.5 s.
    let raw_data = pattern(16 << 20, 11);
    let b64_data = pattern(1 << 20, 12);
    let server = start(
        &["--idle-timeout", "1", "-q"],
        &[("raw", &raw_data), ("b64", &b64_data)],
    );
    let mut handles = Vec::new();
    for (raw, data) in [(true, raw_data), (false, b64_data)] {
        let mut c = server.connect_small_rcvbuf(32 * 1024);
        handles.push(thread::spawn(move || {
            let begun = Instant::now();
            let name = if raw { "raw" } else { "b64" };
            if raw {
                c.send(format!("get_slice raw 0 {} raw\r\n", data.len()).as_bytes());
                c.expect("0 OK");
                c.expect(&format!("Content-Length: {}", data.len()));
                c.expect("");
                let got = read_paced(&mut c, data.len(), 4_000_000);
                assert!(got == data, "raw: the bytes differ");
            } else {
                c.send(format!("get_slice b64 0 {}\r\n", data.len()).as_bytes());
                c.expect("0 OK");
                let line = read_paced(&mut c, b64_len(data.len() as u64) as usize + 2, 400_000);
                assert!(line.ends_with(b"\r\n"));
                assert!(
                    b64_decode(&line[..line.len() - 2]) == data,
                    "base64: differs"
                );
            }
            let took = begun.elapsed();
            eprintln!("{name}: {took:?}");
            assert!(
                took >= Duration::from_secs(3),
                "too fast to show anything: {took:?}"
            );
            assert_eq!(c.metadata(name), data.len() as u64, "still open");
        }));
    }
    let failures: Vec<String> = handles
        .into_iter()
        .filter_map(|h| h.join().err())
        .map(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_reader_that_stops_is_reset_after_the_idle_timeout() {
    let server = start_with(Options::args(&["--idle-timeout", "1"]), |dir| {
        sparse_file(&dir.join("big"), 256 << 20)
    });
    for raw in ["", " raw"] {
        let mut c = server.connect_small_rcvbuf(32 * 1024);
        c.send(format!("get_slice big 0 {}{raw}\r\n", 256 << 20).as_bytes());
        c.expect("0 OK");
        read_paced(&mut c, 1 << 20, 4_000_000);
        let stopped = Instant::now();
        // Read nothing for 3 s, then see how it ended.
        thread::sleep(Duration::from_secs(3));
        let mut reset = false;
        loop {
            match c.read_some() {
                Ok(chunk) if chunk.is_empty() => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
                    reset = true;
                    break;
                }
            }
            assert!(stopped.elapsed() < Duration::from_secs(20), "never closed");
        }
        assert!(
            reset,
            "{raw:?}: closed gracefully behind bytes nobody takes"
        );
    }
    let log = server.log();
    assert_eq!(log.matches("(idle timeout), reset").count(), 2, "{log}");
}

/// Whether this process may make network namespaces with `ip`.
fn can_unshare() -> bool {
    is_root()
        && Command::new("unshare")
            .args(["-n", "ip", "link", "set", "lo", "up"])
            .status()
            .is_ok_and(|s| s.success())
}

/// Runs the test `name` of this binary again, alone, in a new network
/// namespace whose loopback has an MTU of 1500 and whose TCP send buffers
/// grow to 128 KiB at most, as on a host under memory pressure (loopback's
/// usual 64 KiB MTU and 4 MiB buffers hide what small segments and small
/// buffers do). Returns false when called inside that namespace (the
/// test body then runs); true when the test ran there, or was skipped (it
/// says so) because the machine does not allow it.
fn in_small_netns(name: &str) -> bool {
    if std::env::var_os("HFTP_IN_NETNS").is_some() {
        return false;
    }
    if !can_unshare() {
        eprintln!("skipped: needs root and `unshare`/`ip` to make a network namespace");
        return true;
    }
    let me = std::env::current_exe().unwrap();
    let status = Command::new("unshare")
        .args([
            "-n",
            "sh",
            "-c",
            "ip link set lo mtu 1500 up \
             && echo '4096 16384 131072' > /proc/sys/net/ipv4/tcp_wmem \
             && exec \"$@\"",
            "sh",
        ])
        .arg(me)
        .args([name, "--exact", "--nocapture", "--test-threads", "1"])
        .env("HFTP_IN_NETNS", "1")
        .status()
        .unwrap();
    assert!(status.success(), "{name} failed in its network namespace");
    true
}

#[test]
fn small_send_buffers_at_mtu_1500_keep_server_memory_bounded() {
    // Finding 1: after a partial write the old queue appended the next
    // chunk behind bytes already sent, so with send buffers of ~256 KB or
    // less (MTU 1500) it kept every byte of the response.
    if in_small_netns("small_send_buffers_at_mtu_1500_keep_server_memory_bounded") {
        return;
    }
    let server = start_with(Options::args(&["-q"]), |dir| {
        sparse_file(&dir.join("big"), 1 << 30)
    });
    let mut warm = server.connect();
    assert_eq!(warm.slice("big", 0, 1 << 20).len(), 1 << 20);
    warm.quit(Duration::from_secs(2));
    let baseline = server.rss_kib();
    let stop = Instant::now() + Duration::from_secs(4);
    let readers: Vec<_> = (0..20)
        .map(|i| {
            let mut c = server.connect_small_rcvbuf(16 * 1024);
            let raw = if i % 4 == 0 { " raw" } else { "" };
            c.send(format!("get_slice big 0 {}{raw}\r\n", 1u64 << 30).as_bytes());
            thread::spawn(move || {
                // 4 MB/s each: slower than the server, so that its socket
                // is always partly full when it writes.
                let begun = Instant::now();
                let mut total = 0;
                while Instant::now() < stop {
                    total += c.read_some().unwrap().len();
                    let due = Duration::from_secs_f64(total as f64 / 4e6);
                    if let Some(wait) = due.checked_sub(begun.elapsed()) {
                        thread::sleep(wait);
                    }
                }
                total
            })
        })
        .collect();
    let total: usize = readers.into_iter().map(|h| h.join().unwrap()).sum();
    let peak = server.peak_rss_kib();
    eprintln!(
        "20 readers took {} MB in 4 s; server RSS {baseline} KiB -> peak {peak} KiB",
        total / 1_000_000
    );
    assert!(total > 20 << 20, "too little moved to show anything");
    // 20 connections, each at most its queue bound (~384 KiB with its
    // read and file buffers shared): well under 48 MiB.
    assert!(
        peak < baseline + 48 * 1024,
        "RSS grew from {baseline} KiB to {peak} KiB"
    );
}

#[test]
fn a_client_pipelining_as_fast_as_it_reads_delays_nobody() {
    // Finding 5: one connection's turn lasted as long as its socket kept
    // giving requests and taking answers. A client that pipelines
    // listings of 2,000 names (much work per request byte) and reads the
    // answers as fast as they come delayed others on the same worker by
    // seconds.
    let server = start_with(Options::args(&["--threads", "1", "-q"]), |dir| {
        for i in 0..2000 {
            std::fs::write(dir.join(format!("f{i:04}")), b"").unwrap();
        }
        std::fs::write(dir.join("ten"), b"0123456789").unwrap();
    });
    let hog = std::net::TcpStream::connect(server.addr).unwrap();
    let mut hog_reader = hog.try_clone().unwrap();
    let mut hog_writer = hog;
    let stop = Instant::now() + Duration::from_secs(3);
    let writer = thread::spawn(move || {
        let _ = hog_writer.write_all(&b"get_file_listing\r\n".repeat(5000));
        hog_writer
    });
    let reader = thread::spawn(move || {
        use std::io::Read;
        let mut buf = vec![0; 1 << 20];
        let mut total = 0usize;
        hog_reader
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        while Instant::now() < stop {
            match hog_reader.read(&mut buf) {
                Ok(n) if n > 0 => total += n,
                _ => break,
            }
        }
        total
    });
    thread::sleep(Duration::from_millis(300));
    let mut c = server.connect();
    let mut worst = Duration::ZERO;
    let mut rounds = 0;
    while Instant::now() + Duration::from_millis(200) < stop {
        let t = Instant::now();
        assert_eq!(c.metadata("ten"), 10);
        worst = worst.max(t.elapsed());
        rounds += 1;
        thread::sleep(Duration::from_millis(20));
    }
    let hogged = reader.join().unwrap();
    drop(writer.join().unwrap());
    eprintln!(
        "{rounds} get_metadata beside a hog that took {} MB of listings; slowest {worst:?}",
        hogged / 1_000_000
    );
    assert!(hogged > 1_000_000, "the hog did not get going");
    assert!(worst < Duration::from_secs(1), "an answer took {worst:?}");
}
