//! The metrics endpoint over real sockets: each counter moves by exactly
//! what known traffic makes it move, other paths are 404, and the command
//! line prints the bound address and fails with exit 3 when it cannot
//! bind.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{pattern, wait_until, Conn};
use hftp_server::{Server, ServerOptions};

/// `GET path` on `addr`: the status code and the body.
fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (code, body)
}

/// Every sample of a scrape, by name with labels as exposed.
fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let (code, body) = http_get(addr, "/metrics");
    assert_eq!(code, 200, "{body}");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn counters_move_by_exactly_the_traffic_and_other_paths_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(100_000, 7);
    std::fs::write(dir.path().join("big"), &data).unwrap();
    std::fs::write(dir.path().join("small"), b"hello").unwrap();
    let server = Server::bind(ServerOptions {
        address: "127.0.0.1:0".parse().unwrap(),
        directory: dir.path().to_owned(),
        idle_timeout: Duration::from_secs(1),
        metrics_address: Some("127.0.0.1:0".parse().unwrap()),
        ..ServerOptions::default()
    })
    .unwrap()
    .spawn()
    .unwrap();
    let metrics = server.metrics_addr().expect("metrics were asked for");
    assert_eq!(http_get(metrics, "/other").0, 404);
    assert_eq!(http_get(metrics, "/").0, 404);
    let before = scrape(metrics);

    let (n, m) = (30_001_u64, 65_537_u64);
    let mut c = Conn::connect(server.local_addr());
    assert_eq!(c.listing(), ["big", "small"]);
    assert_eq!(c.metadata("big"), 100_000);
    assert_eq!(c.metadata("small"), 5);
    assert_eq!(c.slice("big", 11, n), &data[11..11 + n as usize]);
    assert_eq!(c.raw_slice("big", 3, m), &data[3..3 + m as usize]);
    c.send(b"bogus\r\n");
    assert!(c.line_str().starts_with("200 "));
    c.quit(Duration::from_secs(20));
    // A client that sends nothing: closed after the idle timeout.
    let idle = Conn::connect(server.local_addr());
    let closes = |s: &HashMap<String, f64>, reason: &str| {
        s[&format!("hftp_closes_total{{reason=\"{reason}\"}}")]
    };
    let mut after = HashMap::new();
    assert!(
        wait_until(Duration::from_secs(30), || {
            after = scrape(metrics);
            closes(&after, "quit") > closes(&before, "quit")
                && closes(&after, "idle") > closes(&before, "idle")
        }),
        "the closes were not counted: {after:?}"
    );
    // Once more, now that nothing moves: a scrape taken while the idle
    // close was being counted can show the families on either side of it
    // (the gauge before it, the counter after).
    let after = scrape(metrics);
    drop(idle);
    let moved = |key: &str| after[key] - before[key];
    let requests = |c: &str, s: &str| {
        moved(&format!(
            "hftp_requests_total{{command=\"{c}\",status=\"{s}\"}}"
        ))
    };
    assert_eq!(moved("hftp_connections_accepted_total"), 2.0);
    assert_eq!(after["hftp_connections_open"], 0.0);
    assert_eq!(requests("get_file_listing", "0"), 1.0);
    assert_eq!(requests("get_metadata", "0"), 2.0);
    assert_eq!(requests("get_slice", "0"), 2.0);
    assert_eq!(requests("invalid", "200"), 1.0);
    assert_eq!(requests("quit", "0"), 1.0);
    assert_eq!(requests("help", "0"), 0.0);
    let payload = |mode: &str| {
        moved(&format!(
            "hftp_payload_bytes_total{{mode=\"{mode}\",transport=\"plain\"}}"
        ))
    };
    assert_eq!(payload("base64"), n as f64);
    assert_eq!(payload("raw"), m as f64);
    assert_eq!(
        moved("hftp_payload_bytes_total{mode=\"raw\",transport=\"tls\"}"),
        0.0
    );
    assert_eq!(closes(&after, "quit") - closes(&before, "quit"), 1.0);
    assert_eq!(closes(&after, "idle") - closes(&before, "idle"), 1.0);
    for reason in ["peer", "fatal", "limit", "io", "proxy", "shutdown"] {
        assert_eq!(closes(&after, reason), closes(&before, reason), "{reason}");
    }
    assert_eq!(after["hftp_slices_in_flight"], 0.0);
    server.shutdown().unwrap();
}

#[test]
fn the_command_line_prints_the_metrics_address_and_fails_with_3_when_taken() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::server_bin())
        .args([
            "-a",
            "127.0.0.1",
            "-p",
            "0",
            "--metrics-address",
            "127.0.0.1:0",
            "-d",
        ])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines
        .find_map(|l| {
            l.ok()?
                .strip_prefix("hftp-server: metrics on http://")
                .map(str::to_owned)
        })
        .expect("a metrics line");
    let addr: SocketAddr = line.strip_suffix("/metrics").unwrap().parse().unwrap();
    assert_ne!(addr.port(), 0);
    let (code, body) = http_get(addr, "/metrics");
    assert_eq!(code, 200);
    assert!(body.contains("hftp_connections_open 0"), "{body}");
    let _ = child.kill();
    let _ = child.wait();

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let out = Command::new(common::server_bin())
        .args([
            "-a",
            "127.0.0.1",
            "-p",
            "0",
            "--metrics-address",
            &taken,
            "-d",
        ])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("cannot serve metrics on {taken}")),
        "{err}"
    );
}
