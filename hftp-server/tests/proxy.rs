//! The PROXY protocol over real sockets against the server binary, headers
//! written by hand: the address a v1 or v2 header names is the client's
//! in the log and in the per-address limit, LOCAL is served, missing,
//! malformed, oversized and late headers close the connection without a
//! status, bytes right after the header are answered, `--proxy-from`
//! serves other addresses directly, and a header before TLS.

#[path = "tls/certs.rs"]
mod certs;
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{start, start_with, Options};

/// A v2 PROXY header for a TCP/IPv4 client `src:sport` (to `dst:dport`).
fn v2(src: [u8; 4], sport: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&19500u16.to_be_bytes());
    h
}

/// A v2 LOCAL header (a health check).
fn v2_local() -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x20, 0x00, 0, 0]);
    h
}

/// What the server sends back to `bytes` until it closes (or 10 s).
fn answer(addr: std::net::SocketAddr, bytes: &[u8]) -> (Vec<u8>, Result<(), std::io::Error>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let end = s.read_to_end(&mut got).map(|_| ());
    (got, end)
}

fn wait_log(server: &common::Server, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.log().contains(what) {
        assert!(
            Instant::now() < deadline,
            "no {what:?} in:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_header_names_the_client_and_what_follows_it_is_answered() {
    let server = start(&["--proxy-protocol"], &[("a.txt", b"hello")]);
    let mut v1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 19500\r\n".to_vec();
    v1.extend_from_slice(b"get_metadata a.txt\r\nquit\r\n");
    assert_eq!(answer(server.addr, &v1).0, b"0 OK\r\n5\r\n0 OK\r\n");
    wait_log(&server, "Connected by: 203.0.113.7:40000");

    let mut v6 = b"PROXY TCP6 2001:db8::1 ::1 40001 19500\r\n".to_vec();
    v6.extend_from_slice(b"quit\r\n");
    assert_eq!(answer(server.addr, &v6).0, b"0 OK\r\n");
    wait_log(&server, "Connected by: [2001:db8::1]:40001");

    // v2, the header and the request in one write.
    let mut two = v2([198, 51, 100, 9], 41000);
    two.extend_from_slice(b"get_slice a.txt 1 3\r\nquit\r\n");
    assert_eq!(answer(server.addr, &two).0, b"0 OK\r\nZWxs\r\n0 OK\r\n");
    wait_log(&server, "Connected by: 198.51.100.9:41000");

    // v2 LOCAL: served, under the socket's own address.
    let mut local = v2_local();
    local.extend_from_slice(b"quit\r\n");
    assert_eq!(answer(server.addr, &local).0, b"0 OK\r\n");
}

#[test]
fn a_missing_malformed_or_oversized_header_closes_without_a_status() {
    let server = start(&["--proxy-protocol"], &[("a.txt", b"hello")]);
    let mut oversized = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    oversized.extend_from_slice(&[0x21, 0x11, 0x13, 0x88]); // 5000 bytes
    for (bytes, why) in [
        (b"get_file_listing\r\n".to_vec(), "no PROXY protocol header"),
        (
            b"PROXY TCP4 not-an-address 127.0.0.1 1 2\r\nquit\r\n".to_vec(),
            "PROXY",
        ),
        (oversized, "PROXY"),
    ] {
        let (got, end) = answer(server.addr, &bytes);
        assert!(got.is_empty(), "no HFTP status before HFTP began: {got:?}");
        assert!(end.is_ok(), "a graceful close: {end:?}");
        wait_log(&server, why);
    }
}

#[test]
fn a_late_header_is_closed_at_the_request_timeout() {
    let server = start(&["--proxy-protocol", "--request-timeout", "1"], &[]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(b"PROXY TCP4 203.0.113.7").unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    assert!(s.read_to_end(&mut got).is_ok());
    assert!(got.is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

#[test]
fn the_per_address_limit_counts_the_address_the_header_names() {
    let server = start(&["--proxy-protocol", "--max-connections-per-ip", "1"], &[]);
    let mut first = TcpStream::connect(server.addr).unwrap();
    first.write_all(&v2([203, 0, 113, 7], 1)).unwrap();
    first.write_all(b"help\r\n").unwrap();
    let mut buf = [0u8; 6];
    first.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"0 OK\r\n");
    // The same client address again (through the same proxy): refused.
    let mut again = v2([203, 0, 113, 7], 2);
    again.extend_from_slice(b"help\r\n");
    let (got, _) = answer(server.addr, &again);
    assert!(got.is_empty(), "{got:?}");
    // Another client through the same proxy address is served.
    let mut other = v2([203, 0, 113, 8], 3);
    other.extend_from_slice(b"quit\r\n");
    assert_eq!(answer(server.addr, &other).0, b"0 OK\r\n");
    drop(first);
}

#[test]
fn proxy_from_serves_other_addresses_directly() {
    let server = start(
        &["--proxy-protocol", "--proxy-from", "10.0.0.0/8"],
        &[("a.txt", b"hello")],
    );
    // 127.0.0.1 is not a proxy: no header owed, and one is not trusted.
    assert_eq!(
        answer(server.addr, b"get_metadata a.txt\r\nquit\r\n").0,
        b"0 OK\r\n5\r\n0 OK\r\n"
    );
    let mut v1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 19500\r\n".to_vec();
    v1.extend_from_slice(b"quit\r\n");
    let (got, _) = answer(server.addr, &v1);
    assert!(
        !got.starts_with(b"0 OK"),
        "a header from a non-proxy is HFTP bytes: {got:?}"
    );
    assert!(!server.log().contains("203.0.113.7"));
}

#[test]
fn a_header_before_tls() {
    let ca = certs::Ca::new();
    let keys = tempfile::tempdir().unwrap();
    let (cert, key) = ca.leaf(&["localhost"]).write(keys.path());
    let server = start_with(
        Options::args(&[
            "--proxy-protocol",
            "--tls-port",
            "0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]),
        |dir| std::fs::write(dir.join("a.txt"), b"hello").unwrap(),
    );
    let tls_addr = server.tls_addr.unwrap();
    // The header, then the TLS handshake on the same connection.
    let mut tcp = TcpStream::connect(tls_addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    tcp.write_all(&v2([192, 0, 2, 44], 5000)).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(ca.client_config(), name).unwrap();
    let mut tls = std::io::BufReader::new(rustls::StreamOwned::new(conn, tcp));
    certs::send(&mut tls, b"get_metadata a.txt\r\n");
    assert_eq!(certs::line(&mut tls), b"0 OK\r\n");
    assert_eq!(certs::line(&mut tls), b"5\r\n");
    wait_log(&server, "Connected by: 192.0.2.44:5000 (TLS)");
}
