//! Starting and stopping: graceful shutdown on SIGTERM/SIGINT, startup
//! errors, IPv6.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn sigterm_lets_the_transfer_in_flight_finish_then_exits_0() {
    let data = pattern(8 << 20, 31);
    let mut server = start(&[], &[("data", &data)]);
    let mut c = server.connect_small_rcvbuf(64 * 1024);
    c.send(format!("get_slice data 0 {} raw\r\n", data.len()).as_bytes());
    c.expect("0 OK");
    c.expect(&format!("Content-Length: {}", data.len()));
    c.expect("");
    let mut got = c.exact(1 << 20);
    server.signal(libc::SIGTERM);
    let signalled = Instant::now();
    // A client arriving during shutdown is refused: every worker closes
    // its copy of the listening socket within a tick (250 ms) of the signal.
    let addr = server.addr;
    let late = thread::spawn(move || {
        thread::sleep(Duration::from_millis(800));
        let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
            return (Vec::new(), true, "refused");
        };
        let mut c = Conn::new(stream);
        let _ = c.stream.write_all(b"help\r\n");
        let (got, closed, _) = c.wait_close(Duration::from_secs(10));
        (got, closed, "connected")
    });
    // Finish reading slowly (about 1.5 s for the remaining 7 MiB).
    while got.len() < data.len() {
        let chunk = c.read_some().unwrap();
        assert!(
            !chunk.is_empty(),
            "EOF after {} of {} bytes",
            got.len(),
            data.len()
        );
        got.extend_from_slice(&chunk);
        thread::sleep(Duration::from_millis(12));
    }
    let finished = signalled.elapsed();
    assert!(got == data, "the transfer in flight was corrupted");
    let (rest, closed, _) = c.wait_close(Duration::from_secs(6));
    assert!(
        rest.is_empty() && closed,
        "after the slice: {:?}, closed {closed}",
        show(&rest)
    );
    let status = server.wait_exit(Duration::from_secs(6).saturating_sub(signalled.elapsed()));
    let exited = signalled.elapsed();
    eprintln!("SIGTERM: transfer finished {finished:?} after the signal; exit after {exited:?}: {status:?}");
    assert!(
        status.is_some(),
        "the server did not exit within 6 s of SIGTERM"
    );
    assert!(status.unwrap().success(), "exit status {status:?}");
    let (late_got, late_closed, how) = late.join().unwrap();
    eprintln!("late client: {how}");
    assert!(
        late_got.is_empty(),
        "a client arriving after SIGTERM was served: {:?}",
        show(&late_got)
    );
    assert!(late_closed);
    assert_eq!(
        how, "refused",
        "the listening socket stayed open during shutdown"
    );
    // Gone: new connections are refused.
    assert!(TcpStream::connect_timeout(&server.addr, Duration::from_secs(2)).is_err());
}

#[test]
fn idle_connections_do_not_hold_shutdown() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut server = start(&[], &[("ten", b"0123456789")]);
        let idle = server.connect();
        let mut used = server.connect();
        assert_eq!(used.metadata("ten"), 10);
        let mut mid_line = server.connect();
        mid_line.send(b"get_meta");
        thread::sleep(Duration::from_millis(100));
        server.signal(signal);
        let signalled = Instant::now();
        let status = server.wait_exit(Duration::from_secs(6));
        let took = signalled.elapsed();
        eprintln!("signal {signal} with 3 idle connections: exit after {took:?}: {status:?}");
        assert!(status.is_some_and(|s| s.success()), "status {status:?}");
        assert!(
            took < Duration::from_secs(2),
            "idle connections held shutdown for {took:?}"
        );
        for mut c in [idle, used, mid_line] {
            let (got, closed, _) = c.wait_close(Duration::from_secs(2));
            assert!(got.is_empty() && closed);
        }
    }
}

/// Runs the binary to completion (at most 10 s) and returns its output.
fn run(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hftp-server {args:?} did not exit");
        }
        thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn port_in_use_is_one_error_line_and_a_failure_exit() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "-a",
        "127.0.0.1",
        "-p",
        &port,
        "-d",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("port in use: {:?}, stderr {stderr:?}", out.status);
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "stderr: {stderr:?}");
    assert!(lines[0].starts_with("hftp-server:"), "stderr: {stderr:?}");
}

#[test]
fn bad_command_lines_fail() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for args in [
        &["--no-such-flag"][..],
        &["-p", "70000", "-d", d],
        &["-p", "x", "-d", d],
        &["-a", "not-an-address", "-p", "0", "-d", d],
        &["-p", "0", "-d", d, "--max-connections", "0"],
        &["-p", "0", "-d", d, "--idle-timeout", "0"],
        &["-p", "0", "-d", d, "--request-timeout", "-1"],
        &["-p", "0", "-d", d, "--threads", "0"],
        &["-p", "0", "-d", d, "-v", "-q"],
        &["extra-positional"],
    ] {
        let out = run(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
}

#[test]
fn a_file_as_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    let out = run(&["-a", "127.0.0.1", "-p", "0", "-d", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.trim_start().starts_with("hftp-server:"),
        "stderr: {stderr:?}"
    );
}

#[test]
fn ipv6_loopback() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("NOTE: no IPv6 loopback on this machine; skipping the -a ::1 test");
        return;
    }
    let server = start_with(
        Options {
            address: "::1".into(),
            ..Options::default()
        },
        |dir| {
            std::fs::write(dir.join("ten"), b"0123456789").unwrap();
        },
    );
    assert!(matches!(server.addr, SocketAddr::V6(a) if a.ip().is_loopback()));
    let mut c = server.connect();
    assert_eq!(c.listing(), ["ten"]);
    assert_eq!(c.slice("ten", 3, 4), b"3456");
    c.quit(Duration::from_secs(2));
    assert!(
        server.log().contains("Connected by: [::1]:"),
        "{}",
        server.log()
    );
}

#[test]
fn shutdown_gives_up_on_a_stalled_transfer_after_the_grace_period() {
    let mut server = start_with(Options::default(), |dir| {
        sparse_file(&dir.join("big"), 256 << 20)
    });
    let mut c = server.connect_small_rcvbuf(64 * 1024);
    c.send(format!("get_slice big 0 {} raw\r\n", 256 << 20).as_bytes());
    c.expect("0 OK");
    // Never read any more.
    thread::sleep(Duration::from_millis(200));
    server.signal(libc::SIGTERM);
    let signalled = Instant::now();
    let status = server.wait_exit(Duration::from_secs(10));
    let took = signalled.elapsed();
    eprintln!("SIGTERM with a stalled transfer: exit after {took:?}: {status:?}");
    assert!(status.is_some_and(|s| s.success()), "status {status:?}");
    assert!(
        took >= Duration::from_millis(4500),
        "the transfer in flight was cut short after {took:?}"
    );
    assert!(
        took <= Duration::from_millis(7000),
        "shutdown took {took:?}, past its 5 s grace"
    );
    // The client gets a short transfer and an end.
    c.deadline = Duration::from_secs(20);
    let (rest, closed, _) = c.wait_close(Duration::from_secs(20));
    assert!(closed && (rest.len() as u64) < 256 << 20);
}

#[test]
fn logs_connections_and_requests() {
    let server = start(&["-v"], &[("notes.txt", b"x")]);
    let mut c = server.connect();
    let local = c.stream.local_addr().unwrap();
    assert_eq!(c.metadata("notes.txt"), 1);
    c.quit(Duration::from_secs(2));
    let mut bad = server.connect();
    let bad_local = bad.stream.local_addr().unwrap();
    bad.send(b"\r\n");
    let _ = bad.read_to_end();
    let want = [
        format!("Connected by: {local}"),
        "Request: get_metadata notes.txt".to_string(),
        format!("Closing connection {local} (quit)"),
        format!("Connected by: {bad_local}"),
        format!("Closing connection {bad_local} (fatal error 101"),
    ];
    let ok = wait_until(Duration::from_secs(5), || {
        let log = server.log();
        want.iter().all(|w| log.contains(w.as_str()))
    });
    assert!(ok, "expected {want:?} in the log:\n{}", server.log());
    // Without -v, no per-request lines.
    let quiet = start(&[], &[("notes.txt", b"x")]);
    let mut c = quiet.connect();
    assert_eq!(c.metadata("notes.txt"), 1);
    c.quit(Duration::from_secs(2));
    assert!(wait_until(Duration::from_secs(5), || quiet
        .log()
        .contains("(quit)")));
    assert!(!quiet.log().contains("Request:"), "{}", quiet.log());
}
