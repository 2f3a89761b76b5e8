//! Bounded memory whatever the clients do (docs/PROTOCOL.md §2.3, §3, §4): long
//! request lines, responses never read, huge slices. Growth is measured as
//! the server's peak RSS (VmHWM) over its RSS after a warm-up, which can
//! only overstate it.

mod common;

use std::io::Write;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const MIB: u64 = 1 << 20;

/// Warms the server up (one of each response kind), returns its RSS in KiB.
fn baseline(server: &Server) -> u64 {
    let mut c = server.connect();
    let _ = c.listing();
    c.send(b"help\r\n");
    assert_eq!(c.exact(HELP.len()), HELP);
    c.send(b"get_metadata nope\r\n");
    c.expect("202 FILE NOT FOUND");
    c.quit(Duration::from_secs(2));
    server.rss_kib()
}

#[test]
fn forty_clients_sending_5_mib_request_lines_at_once() {
    let server = start(&["-q"], &[("ten", b"0123456789")]);
    let base = baseline(&server);
    let name = Arc::new(vec![b'n'; 5 << 20]);
    let clients = 40;
    let barrier = Arc::new(Barrier::new(clients));
    let begun = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let (name, barrier, addr) = (name.clone(), barrier.clone(), server.addr);
            thread::spawn(move || {
                let mut c = Conn::connect(addr);
                barrier.wait();
                // Every fourth client: a long name with a malformed number.
                let (prefix, suffix, status) = if i % 4 == 3 {
                    (
                        &b"get_slice "[..],
                        &b" x 1\r\n"[..],
                        "201 INVALID ARGUMENTS FOR COMMAND",
                    )
                } else {
                    (&b"get_metadata "[..], &b"\r\n"[..], "202 FILE NOT FOUND")
                };
                c.send(prefix);
                c.send(&name);
                c.send(suffix);
                c.expect(status);
                c.quit(Duration::from_secs(5));
            })
        })
        .collect();
    let failed = handles
        .into_iter()
        .map(|h| h.join())
        .filter(Result::is_err)
        .count();
    let peak = server.peak_rss_kib();
    eprintln!(
        "40 x 5 MiB request lines answered in {:?}; RSS baseline {base} KiB, peak {peak} KiB (+{} KiB)",
        begun.elapsed(),
        peak.saturating_sub(base)
    );
    assert_eq!(failed, 0, "{failed} clients did not get their answer");
    assert!(
        peak < base + 64 * 1024,
        "RSS grew from {base} KiB to {peak} KiB"
    );
}

#[test]
fn a_hundred_thousand_unread_responses_stay_bounded() {
    let server = start(&["-q"], &[]);
    let base = baseline(&server);
    let count = 100_000;
    let mut c = server.connect();
    let mut writer = c.stream.try_clone().unwrap();
    let requests = b"help\r\n".repeat(count);
    // The server stops reading when we stop reading: write from a thread.
    let w = thread::spawn(move || writer.write_all(&requests));
    thread::sleep(Duration::from_millis(1500));
    let stalled_peak = server.peak_rss_kib();
    eprintln!(
        "{count} unread help responses: RSS baseline {base} KiB, peak {stalled_peak} KiB (+{} KiB)",
        stalled_peak.saturating_sub(base)
    );
    assert!(
        stalled_peak < base + 64 * 1024,
        "RSS grew from {base} KiB to {stalled_peak} KiB"
    );
    // Now read them all: every one is answered, in order.
    let mut at = 0usize;
    c.stream_exact((HELP.len() * count) as u64, |chunk| {
        for &b in chunk {
            assert_eq!(b, HELP[at % HELP.len()], "response byte {at}");
            at += 1;
        }
    });
    w.join().unwrap().unwrap();
    c.quit(Duration::from_secs(2));
}

#[test]
fn a_1_gib_raw_slice_and_a_256_mib_base64_slice_stream_in_bounded_memory() {
    let server = start_with(Options::args(&["-q"]), |dir| {
        sparse_file(&dir.join("huge"), 1 << 30)
    });
    let base = baseline(&server);
    let zeros = vec![0u8; 4 << 20];
    let a_s = vec![b'A'; 4 << 20];

    // 1 GiB raw, every byte checked (sparse: all zeros).
    let mut c = server.connect();
    c.deadline = Duration::from_secs(120);
    let begun = Instant::now();
    c.send(format!("get_slice huge 0 {} raw\r\n", 1u64 << 30).as_bytes());
    c.expect("0 OK");
    c.expect(&format!("Content-Length: {}", 1u64 << 30));
    c.expect("");
    c.stream_exact(1 << 30, |chunk| {
        assert!(chunk == &zeros[..chunk.len()], "a non-zero byte")
    });
    let raw_took = begun.elapsed();
    let raw_peak = server.peak_rss_kib();

    // 256 MiB base64 on the same connection, every byte checked: 256 MiB is
    // 3k + 1 bytes, so the line is 'A's ending in "AA==".
    let size = 256 * MIB;
    let begun = Instant::now();
    c.send(format!("get_slice huge {} {size}\r\n", 5 * MIB).as_bytes());
    c.expect("0 OK");
    c.stream_exact(b64_len(size) - 4, |chunk| {
        assert!(chunk == &a_s[..chunk.len()], "a base64 byte other than 'A'")
    });
    assert_eq!(show(&c.exact(6)), "AA==\\r\\n");
    let b64_took = begun.elapsed();
    let peak = server.peak_rss_kib();
    c.quit(Duration::from_secs(2));
    eprintln!(
        "1 GiB raw slice in {raw_took:?} (RSS peak +{} KiB); 256 MiB base64 slice in {b64_took:?} (RSS peak +{} KiB); baseline {base} KiB",
        raw_peak.saturating_sub(base),
        peak.saturating_sub(base)
    );
    assert!(
        peak < base + 32 * 1024,
        "RSS grew from {base} KiB to {peak} KiB"
    );
}

/// A hundred clients that ask for a large listing and never read it cost
/// the server one shared snapshot, not a listing each (docs/PROTOCOL.md §4:
/// bounded memory per connection).
#[test]
fn a_hundred_unread_listings_share_one_snapshot() {
    const FILES: usize = 20_000;
    let server = start_with(Options::default(), |dir| {
        for i in 0..FILES {
            std::fs::File::create(
                dir.join(format!("file-{i:06}-abcdefghijklmnopqrstuvwxyz0123.dat")),
            )
            .unwrap();
        }
    });
    // One listing read whole: the snapshot exists (and the allocator has
    // what building it took).
    let mut first = server.connect();
    first.send(b"get_file_listing\r\n");
    first.expect("0 OK");
    assert_eq!(first.items().len(), FILES);
    let before = baseline(&server);
    let mut idle = Vec::new();
    for _ in 0..100 {
        let mut c = server.connect_small_rcvbuf(4096);
        c.send(b"get_file_listing\r\n");
        idle.push(c);
    }
    // Let every one of them be answered as far as its socket allows.
    thread::sleep(Duration::from_secs(3));
    let after = server.rss_kib();
    let grew = after.saturating_sub(before);
    eprintln!(
        "100 unread listings of {FILES} names: RSS {before} KiB -> {after} KiB (+{grew} KiB)"
    );
    // One listing is ~1 MiB of bytes and, built per connection, several
    // MiB of names: 100 of them would be hundreds of MiB.
    assert!(grew < 16 * 1024, "RSS grew by {grew} KiB");
    // They still get the whole listing when they read.
    let mut c = idle.remove(0);
    c.expect("0 OK");
    assert_eq!(c.items().len(), FILES);
}
