//! The descriptor budget and the per-address limit (docs/PROTOCOL.md §4).
//!
//! The server caps its connection limit to what its open-files limit
//! allows, keeping descriptors in reserve for the files it opens: clients
//! past that wait in the listen backlog, and a client being served never
//! gets `199` for want of a descriptor. `--max-connections-per-ip N`: past
//! N connections from one address, that address's new connections are
//! closed at once, without a byte; other addresses are not affected.

mod common;

use std::fs;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;

/// The number of descriptors process `pid` has open.
fn open_fds(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

/// Waits (up to 10 s) until the server's descriptor count has not changed
/// for 500 ms: it took in every connection it is going to.
fn settle(server: &Server) -> usize {
    let mut last = (open_fds(server.pid), Instant::now());
    wait_until(Duration::from_secs(10), || {
        let now = open_fds(server.pid);
        if now != last.0 {
            last = (now, Instant::now());
        }
        last.1.elapsed() >= Duration::from_millis(500)
    });
    last.0
}

/// Whether the whole `help` answer has arrived on `c`, reading at most
/// once (1 ms). Panics when the server closed the connection.
fn help_arrived(c: &mut Conn, which: &str) -> bool {
    if c.buffered() < HELP.len() {
        c.set_read_timeout(Duration::from_millis(1));
        match c.fill() {
            Ok(0) => panic!("{which}: closed by the server while it waited"),
            Ok(_) => {}
            Err(e) if read_timed_out(&e) => {}
            Err(e) => panic!("{which}: {e} while it waited"),
        }
        c.set_read_timeout(IO_TIMEOUT);
    }
    c.buffered() >= HELP.len()
}

/// Sends `request` and asserts the status line is `0 OK`.
fn expect_ok(c: &mut Conn, request: &str, context: &str) {
    c.send(format!("{request}\r\n").as_bytes());
    let status = c.line_str();
    assert_eq!(status, "0 OK", "{request:?} {context}");
}

#[test]
fn a_low_open_files_limit_at_startup_never_costs_a_client_a_199() {
    const LIMIT: u64 = 64;
    const IDLE: usize = 80;
    let data = pattern(10_000, 3);
    let server = start_with(
        Options {
            fd_limit: Some(LIMIT),
            ..Options::default()
        },
        |dir| {
            fs::write(dir.join("a.txt"), &data).unwrap();
            fs::write(dir.join("b.txt"), b"b").unwrap();
        },
    );
    let mut a = server.connect();
    assert_eq!(a.metadata("a.txt"), data.len() as u64);

    // Idle clients, more than the server has descriptors for.
    let mut idle: Vec<Conn> = (0..IDLE).map(|_| server.connect()).collect();
    let fds = settle(&server);
    eprintln!("{IDLE} idle clients connected; the server holds {fds} descriptors");

    // A still gets every file and the listing.
    let context = format!(
        "with {IDLE} idle clients connected and an open-files limit of {LIMIT} from the start"
    );
    for round in 0..10 {
        let context = format!("(round {round}) {context}");
        let (offset, size) = (round * 700, 3000);
        let range = offset as usize..(offset + size) as usize;
        expect_ok(
            &mut a,
            &format!("get_slice a.txt {offset} {size}"),
            &context,
        );
        assert!(
            b64_decode(&a.line()) == data[range.clone()],
            "slice bytes {context}"
        );
        expect_ok(
            &mut a,
            &format!("get_slice a.txt {offset} {size} raw"),
            &context,
        );
        a.expect(&format!("Content-Length: {size}"));
        a.expect("");
        assert!(a.exact(size as usize) == data[range], "raw bytes {context}");
        expect_ok(&mut a, "get_file_listing", &context);
        assert_eq!(a.items(), ["a.txt", "b.txt"], "listing {context}");
        assert_eq!(a.metadata("b.txt"), 1, "{context}");
    }

    // The idle clients ask: some are served, the others wait in the
    // backlog (the server cannot hold them all).
    for c in idle.iter_mut() {
        c.send(b"help\r\n");
    }
    let mut served = vec![false; IDLE];
    let mut last = (0, Instant::now());
    wait_until(Duration::from_secs(10), || {
        for (i, c) in idle.iter_mut().enumerate() {
            served[i] = served[i] || help_arrived(c, &format!("idle client {i}"));
        }
        let now = served.iter().filter(|&&s| s).count();
        if now != last.0 {
            last = (now, Instant::now());
        }
        last.1.elapsed() >= Duration::from_millis(500)
    });
    let first = last.0;
    eprintln!("{first} of {IDLE} idle clients served, the others wait");
    assert!(
        first < IDLE,
        "precondition: the server cannot serve {IDLE} clients with {LIMIT} descriptors"
    );

    // Those served (and A) leave: the waiting ones are served in turn.
    drop(a);
    let mut waiting = Vec::new();
    for (c, served) in idle.into_iter().zip(served) {
        if !served {
            waiting.push(c);
        }
    }
    let begun = Instant::now();
    let mut got_in = None;
    let waited = wait_until(Duration::from_secs(10), || {
        for (i, c) in waiting.iter_mut().enumerate() {
            if help_arrived(c, &format!("waiting client {i}")) {
                got_in = Some(i);
                return true;
            }
        }
        false
    });
    assert!(
        waited,
        "none of the {} waiting clients was served within 10 s of {} others leaving",
        waiting.len(),
        first + 1
    );
    let i = got_in.unwrap();
    assert_eq!(waiting[i].exact(HELP.len()), HELP);
    eprintln!(
        "a waiting client was served {:?} after others left",
        begun.elapsed()
    );

    // All leave: a new client is served within a few seconds.
    drop(waiting);
    let mut c = server.connect();
    c.deadline = Duration::from_secs(5);
    c.set_read_timeout(Duration::from_secs(5));
    assert_eq!(c.exchange_help(), HELP);
    assert_eq!(c.slice("a.txt", 0, 10), data[..10]);
}

/// A connection to `addr` from `source` (any port). A server that resets
/// it at once may do so before the connect is seen complete: that error
/// is returned.
fn connect_from(source: &str, addr: SocketAddr) -> io::Result<Conn> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
    let from: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&from.into()).unwrap();
    socket.connect_timeout(&addr.into(), IO_TIMEOUT)?;
    Ok(Conn::new(socket.into()))
}

/// Sends `help` on a new connection from `source`; `Ok` when it is
/// answered, `Err` with what came when the server closed it first (within
/// `within`).
fn try_help(server: &Server, source: &str, within: Duration) -> Result<Conn, String> {
    let mut c = match connect_from(source, server.addr) {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
            return Err(format!("{e} after 0 bytes"))
        }
        Err(e) => panic!("connect from {source}: {e}"),
    };
    // The server may have closed it already: a failed write shows below.
    let _ = c.stream.write_all(b"help\r\n");
    let begun = Instant::now();
    loop {
        let left = within.saturating_sub(begun.elapsed());
        if left.is_zero() {
            return Err(format!(
                "{} bytes and no close within {within:?}",
                c.buffered()
            ));
        }
        c.set_read_timeout(left.max(Duration::from_millis(1)));
        match c.fill() {
            Ok(0) => return Err(format!("closed after {} bytes", c.buffered())),
            Ok(_) if c.buffered() >= HELP.len() => {
                c.set_read_timeout(IO_TIMEOUT);
                assert_eq!(c.exact(HELP.len()), HELP);
                return Ok(c);
            }
            Ok(_) => {}
            Err(e) if read_timed_out(&e) => {}
            Err(e) => return Err(format!("{e} after {} bytes", c.buffered())),
        }
    }
}

/// A connection from `source` must be closed at once, without a byte.
fn assert_refused(server: &Server, source: &str, which: &str) {
    let begun = Instant::now();
    match try_help(server, source, Duration::from_secs(2)) {
        Ok(_) => panic!("{which} from {source} was served"),
        Err(e) => assert!(e.ends_with(" after 0 bytes"), "{which} from {source}: {e}"),
    }
    eprintln!("{which} from {source} closed after {:?}", begun.elapsed());
}

#[test]
fn max_connections_per_ip_closes_the_extra_connections_of_one_address_only() {
    let server = start(&["--max-connections-per-ip", "5"], &[("a.txt", b"inside")]);
    let mut five: Vec<Conn> = (0..5)
        .map(|i| {
            try_help(&server, "127.0.0.1", Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("connection {i} of 5 from 127.0.0.1: {e}"))
        })
        .collect();
    assert_refused(&server, "127.0.0.1", "a 6th connection");
    // The five are still served, and so is another address.
    for c in five.iter_mut() {
        assert_eq!(c.metadata("a.txt"), 6);
    }
    let mut other = try_help(&server, "127.0.0.2", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("a connection from 127.0.0.2: {e}"));
    assert_eq!(other.slice("a.txt", 0, 6), b"inside");

    // One of the five leaves: once the server has seen it go, a new
    // connection from 127.0.0.1 is served, and then that address is at
    // its limit again.
    five.pop().unwrap().quit(Duration::from_secs(2));
    let mut last = String::new();
    let mut again = None;
    let served = wait_until(Duration::from_secs(5), || {
        match try_help(&server, "127.0.0.1", Duration::from_secs(1)) {
            Ok(c) => again = Some(c),
            Err(e) => last = e,
        }
        again.is_some()
    });
    assert!(
        served,
        "no new connection from 127.0.0.1 served within 5 s of one of the five leaving; last: {last}"
    );
    five.push(again.unwrap());
    assert_refused(&server, "127.0.0.1", "a 6th connection again");
    for c in five.iter_mut() {
        assert_eq!(c.exchange_help(), HELP);
    }
    assert_eq!(other.exchange_help(), HELP);
}
