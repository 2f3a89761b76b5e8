//! HFTP over TLS, over real sockets against the server binary, with
//! certificates made at test time: byte-exact downloads (base64 and raw),
//! the client refusing a wrong name and an expired certificate, a plain
//! client on the TLS port, slow TLS peers held to the same bounds as plain
//! ones, the limits through TLS, and reloading the certificate on SIGHUP.

#[path = "tls/certs.rs"]
mod certs;
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use certs::{exact, line, send, Ca};
use common::{start_with, Options, Server};

/// 3 MiB of varied bytes.
fn big() -> Vec<u8> {
    (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// A server on a fresh directory holding `files`, serving TLS with
/// `leaf` beside plain HFTP, with `args` added.
fn start_tls(
    leaf: &certs::Leaf,
    args: &[&str],
    files: &[(&str, &[u8])],
) -> (Server, tempfile::TempDir) {
    let keys = tempfile::tempdir().unwrap();
    let (cert, key) = leaf.write(keys.path());
    let mut all: Vec<String> = vec![
        "--tls-port".into(),
        "0".into(),
        "--tls-cert".into(),
        cert.display().to_string(),
        "--tls-key".into(),
        key.display().to_string(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let server = start_with(
        Options {
            args: all,
            ..Options::default()
        },
        |dir| {
            for (name, content) in files {
                std::fs::write(dir.join(name), content).unwrap();
            }
        },
    );
    (server, keys)
}

#[test]
fn a_download_over_tls_is_byte_exact_in_both_modes() {
    let ca = Ca::new();
    let data = big();
    let (server, _keys) = start_tls(
        &ca.leaf(&["localhost", "127.0.0.1"]),
        &[],
        &[("big", &data)],
    );
    let tls_addr = server.tls_addr.expect("a TLS listener");
    assert_ne!(tls_addr, server.addr, "plain and TLS side by side");

    let mut tls = certs::connect(tls_addr, "localhost", ca.client_config()).unwrap();
    send(&mut tls, b"get_file_listing\r\nget_metadata big\r\n");
    assert_eq!(line(&mut tls), b"0 OK\r\n");
    assert_eq!(line(&mut tls), b"big\r\n");
    assert_eq!(line(&mut tls), b"\r\n");
    assert_eq!(line(&mut tls), b"0 OK\r\n");
    assert_eq!(line(&mut tls), format!("{}\r\n", data.len()).as_bytes());

    // Base64: one line.
    send(
        &mut tls,
        format!("get_slice big 7 {}\r\n", data.len() - 7).as_bytes(),
    );
    assert_eq!(line(&mut tls), b"0 OK\r\n");
    let encoded = line(&mut tls);
    let decoded = base64_simd::STANDARD
        .decode_to_vec(&encoded[..encoded.len() - 2])
        .unwrap();
    assert!(decoded == data[7..], "the base64 slice differs");

    // Raw, then quit: a close_notify and a clean end.
    send(
        &mut tls,
        format!("get_slice big 0 {} raw\r\nquit\r\n", data.len()).as_bytes(),
    );
    assert_eq!(line(&mut tls), b"0 OK\r\n");
    assert_eq!(
        line(&mut tls),
        format!("Content-Length: {}\r\n", data.len()).as_bytes()
    );
    assert_eq!(line(&mut tls), b"\r\n");
    assert!(exact(&mut tls, data.len()) == data, "the raw slice differs");
    assert_eq!(line(&mut tls), b"0 OK\r\n");
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest)
        .expect("closed with a close_notify");
    assert!(rest.is_empty(), "nothing after quit's answer: {rest:?}");

    // The IP address is a name the certificate holds too.
    let mut by_ip = certs::connect(tls_addr, "127.0.0.1", ca.client_config()).unwrap();
    send(&mut by_ip, b"get_metadata big\r\n");
    assert_eq!(line(&mut by_ip), b"0 OK\r\n");
    // Plain HFTP is still served beside it.
    assert_eq!(
        server.exchange(b"get_metadata big\r\n"),
        format!("0 OK\r\n{}\r\n", data.len()).as_bytes()
    );
    assert!(
        server.log().contains("(TLS)"),
        "TLS connections are marked in the log"
    );
}

#[test]
fn a_wrong_name_an_expired_certificate_and_another_ca_are_refused() {
    let ca = Ca::new();
    let (server, _keys) = start_tls(&ca.leaf(&["localhost"]), &[], &[]);
    let tls_addr = server.tls_addr.unwrap();
    let err = certs::connect(tls_addr, "other.example", ca.client_config()).expect_err("refused");
    assert!(format!("{err:?}").contains("NotValidForName"), "{err:?}");
    let err =
        certs::connect(tls_addr, "localhost", Ca::new().client_config()).expect_err("refused");
    assert!(format!("{err:?}").contains("UnknownIssuer"), "{err:?}");

    let (expired, _keys) = start_tls(&ca.expired_leaf(), &[], &[]);
    let err = certs::connect(expired.tls_addr.unwrap(), "localhost", ca.client_config())
        .expect_err("refused");
    assert!(format!("{err:?}").contains("Expired"), "{err:?}");
    // Either server is still serving.
    let mut fine = certs::connect(tls_addr, "localhost", ca.client_config()).unwrap();
    send(&mut fine, b"help\r\n");
    assert_eq!(line(&mut fine), b"0 OK\r\n");
}

#[test]
fn a_plain_client_on_the_tls_port_gets_a_clean_close() {
    let ca = Ca::new();
    let (mut server, _keys) = start_tls(&ca.leaf(&["localhost"]), &[], &[("notes.txt", b"hello")]);
    let mut plain = TcpStream::connect(server.tls_addr.unwrap()).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    plain
        .write_all(b"get_file_listing\r\nget_metadata notes.txt\r\n")
        .unwrap();
    let mut got = Vec::new();
    // A FIN (read gives 0), not a reset and not a hang.
    let end = plain.read_to_end(&mut got);
    assert!(end.is_ok(), "a graceful close, got {end:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // What came is a TLS alert record (type 21), never an HFTP answer.
    assert!(got.is_empty() || got[0] == 21, "{got:?}");
    assert!(!got.windows(4).any(|w| w == b"0 OK"));
    server.assert_alive();
}

#[test]
fn a_handshake_never_finished_and_a_line_never_finished_end_at_the_request_timeout() {
    let ca = Ca::new();
    let (server, _keys) = start_tls(
        &ca.leaf(&["localhost"]),
        &["--request-timeout", "1", "--idle-timeout", "30"],
        &[],
    );
    let tls_addr = server.tls_addr.unwrap();
    // The first bytes of a ClientHello record, and then nothing.
    let mut stalled = TcpStream::connect(tls_addr).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let end = stalled.read_to_end(&mut got);
    let took = started.elapsed();
    assert!(end.is_ok(), "a graceful close, got {end:?}");
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
    assert!(server.log().contains("TLS handshake not completed in time"));

    // A request line begun inside TLS and never ended: the same deadline.
    let mut slow = certs::connect(tls_addr, "localhost", ca.client_config()).unwrap();
    send(&mut slow, b"get_file_li");
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let took = started.elapsed();
    assert!(
        rest.is_empty(),
        "no status for a line never ended: {rest:?}"
    );
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
}

#[test]
fn a_tls_client_that_stops_reading_is_bounded_and_delays_nobody() {
    let ca = Ca::new();
    let big = vec![b'x'; 64 << 20];
    let (mut server, _keys) = start_tls(
        &ca.leaf(&["localhost"]),
        &["--idle-timeout", "2"],
        &[("big", &big)],
    );
    let tls_addr = server.tls_addr.unwrap();
    let before = server.rss_kib();
    let mut stalled = certs::connect(tls_addr, "localhost", ca.client_config()).unwrap();
    send(
        &mut stalled,
        format!("get_slice big 0 {}\r\n", big.len()).as_bytes(),
    );
    let mut raw = certs::connect(tls_addr, "localhost", ca.client_config()).unwrap();
    send(
        &mut raw,
        format!("get_slice big 0 {} raw\r\n", big.len()).as_bytes(),
    );
    // Served meanwhile, at once.
    let started = Instant::now();
    let mut other = certs::connect(tls_addr, "localhost", ca.client_config()).unwrap();
    send(&mut other, b"get_file_listing\r\n");
    assert_eq!(line(&mut other), b"0 OK\r\n");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_millis(500));
    let grown = server.rss_kib().saturating_sub(before);
    assert!(
        grown < 16 << 10,
        "memory grew by {grown} KiB for two stalled readers"
    );
    // Closed by the idle timeout, not served forever: reading now drains
    // what the buffers held, then ends.
    for conn in [&mut stalled, &mut raw] {
        let started = Instant::now();
        let mut sink = vec![0; 1 << 16];
        loop {
            match conn.get_mut().read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) => panic!("{e}"),
            }
            assert!(started.elapsed() < Duration::from_secs(20), "never closed");
        }
    }
    assert!(server.log().contains("idle timeout"), "{}", server.log());
    server.assert_alive();
}

#[test]
fn the_limits_hold_through_tls() {
    let ca = Ca::new();
    let (server, _keys) = start_tls(
        &ca.leaf(&["localhost"]),
        &["--max-request-bytes", "1K"],
        &[("notes.txt", b"hello")],
    );
    let mut tls =
        certs::connect(server.tls_addr.unwrap(), "localhost", ca.client_config()).unwrap();
    let long = vec![b'a'; 4096];
    send(&mut tls, &long);
    assert_eq!(&line(&mut tls)[..4], b"101 ");
    // A fatal status: then a close_notify and the end.
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest).expect("a clean TLS close");
    assert!(rest.is_empty(), "{rest:?}");
    let mut next =
        certs::connect(server.tls_addr.unwrap(), "localhost", ca.client_config()).unwrap();
    send(
        &mut next,
        b"get_slice notes.txt 0 9\r\nget_metadata missing.txt\r\n",
    );
    assert_eq!(&line(&mut next)[..4], b"203 ");
    assert_eq!(&line(&mut next)[..4], b"202 ");
}

#[test]
fn tls_alone_with_no_plain() {
    let ca = Ca::new();
    let (server, _keys) = start_tls(&ca.leaf(&["localhost"]), &["--no-plain"], &[]);
    assert_eq!(server.tls_addr, Some(server.addr), "only the TLS listener");
    let mut tls = certs::connect(server.addr, "localhost", ca.client_config()).unwrap();
    send(&mut tls, b"help\r\n");
    assert_eq!(line(&mut tls), b"0 OK\r\n");
}

#[test]
fn sighup_reloads_the_certificate_and_keeps_connections_open() {
    let ca = Ca::new();
    let first = ca.leaf(&["localhost"]);
    let (server, keys) = start_tls(&first, &[], &[("notes.txt", b"hello")]);
    let tls_addr = server.tls_addr.unwrap();
    let mut old = certs::connect(tls_addr, "localhost", ca.client_config()).unwrap();
    assert_eq!(certs::peer_cert(&old), first.der);

    let second = ca.leaf(&["localhost"]);
    second.write(keys.path());
    server.signal(libc::SIGHUP);
    let wait_log = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !server.log().contains(what) {
            assert!(Instant::now() < deadline, "no {what:?} in {}", server.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_log("reloaded the TLS certificate");
    let new = certs::connect(tls_addr, "localhost", ca.client_config()).unwrap();
    assert_eq!(
        certs::peer_cert(&new),
        second.der,
        "new connections get the new one"
    );
    // The connection made before is still served.
    send(&mut old, b"get_metadata notes.txt\r\n");
    assert_eq!(line(&mut old), b"0 OK\r\n");
    assert_eq!(line(&mut old), b"5\r\n");

    // A broken file: logged, and the certificate in use stays.
    std::fs::write(keys.path().join("key.pem"), "not a key").unwrap();
    server.signal(libc::SIGHUP);
    wait_log("kept the TLS certificate in use");
    let after = certs::connect(tls_addr, "localhost", ca.client_config()).unwrap();
    assert_eq!(certs::peer_cert(&after), second.der);
}

#[test]
fn a_bad_certificate_or_key_is_one_line_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key) = ca.leaf(&["localhost"]).write(dir.path());
    let other = tempfile::tempdir().unwrap();
    let (_, other_key) = ca.leaf(&["localhost"]).write(other.path());
    for (cert, key, says) in [
        (&cert, &other_key, "does not match"),
        (&key, &key, "holds no certificate"),
        (&cert, &dir.path().join("missing.pem"), "cannot read"),
    ] {
        let out = std::process::Command::new(common::server_bin())
            .args(["-a", "127.0.0.1", "-p", "0", "--tls-port", "0", "-d"])
            .arg(dir.path())
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("hftp-server: TLS: ") && last.contains(says),
            "{stderr}"
        );
    }
    // --tls-cert without --tls-key is a usage error.
    let out = std::process::Command::new(common::server_bin())
        .args(["-p", "0", "--tls-cert"])
        .arg(&cert)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
