//! HFTP over TLS, over real loopback sockets: certificates made at test
//! time (`tls/certs.rs`), an in-test TLS terminator (`tls/terminator.rs`)
//! in front of our plain server run in-process. Downloads byte-exact
//! through the library and the `hftp-client` binary (`get`, `get -j 4`),
//! and each certificate failure refused with its own message and exit 3.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use hftp_client::tls::{self, TlsConfig, TlsError};
use hftp_client::{Client, DownloadOptions, Error, Server, Timeouts};
use served::Served;

#[path = "tls/certs.rs"]
mod certs;
mod served;
#[path = "tls/terminator.rs"]
mod terminator;

use certs::Ca;

fn timeouts() -> Timeouts {
    Timeouts::uniform(Some(Duration::from_secs(20)))
}

/// Our server with a 3 MiB binary file and `notes.txt`, behind a TLS
/// terminator presenting `leaf`; returns both (the served one to keep).
fn tls_served(leaf: &certs::Leaf) -> (Served, SocketAddr) {
    let served = Served::new(&[
        ("big.bin", &served::binary(3 << 20)),
        ("notes.txt", served::NOTES),
    ]);
    let addr = terminator::terminate(leaf.server_config(), served.addr());
    (served, addr)
}

fn ca_config(ca: &Ca) -> TlsConfig {
    TlsConfig::from_ca_pem(ca.pem.as_bytes()).unwrap()
}

fn tls_error(result: Result<impl std::fmt::Debug, Error>) -> TlsError {
    match result {
        Err(Error::Tls(e)) => e,
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[test]
fn library_downloads_over_tls_byte_exact() {
    let ca = Ca::new("test CA");
    let (served, addr) = tls_served(&ca.leaf(&["localhost", "127.0.0.1"]));
    let config = ca_config(&ca);
    let out = tempfile::tempdir().unwrap();
    for host in [format!("localhost:{}", addr.port()), addr.to_string()] {
        let conn = tls::connect(&host, &config, timeouts()).unwrap();
        assert!(conn.get_ref().is_tls());
        let mut client = Client::from_connection(conn);
        assert_eq!(client.list().unwrap(), ["big.bin", "notes.txt"]);
        let mut word = Vec::new();
        client.slice_to("notes.txt", 5, 5, &mut word).unwrap();
        assert_eq!(word, b"calor");
        client.quit().unwrap();
    }
    // Over four parallel connections, each doing its own handshake.
    let server = Server::tls(&format!("localhost:{}", addr.port()), &config, timeouts()).unwrap();
    for raw in [false, true] {
        let dest = out.path().join(format!("big-{raw}"));
        let options = DownloadOptions {
            connections: 4,
            raw,
            ..Default::default()
        };
        server
            .download("big.bin", &dest, &options, &|_| {})
            .unwrap();
        assert!(
            std::fs::read(&dest).unwrap()
                == std::fs::read(served.dir.path().join("big.bin")).unwrap()
        );
    }
}

#[test]
fn wrong_host_is_refused_saying_which_host_the_certificate_is_for() {
    let ca = Ca::new("test CA");
    let (_served, addr) = tls_served(&ca.leaf(&["other.example"]));
    let err = tls_error(tls::connect(
        &format!("localhost:{}", addr.port()),
        &ca_config(&ca),
        timeouts(),
    ));
    assert_eq!(
        err.to_string(),
        "the server's certificate is not valid for localhost (it is for other.example)"
    );
}

#[test]
fn expired_certificate_is_refused_with_its_date() {
    let ca = Ca::new("test CA");
    let (_served, addr) = tls_served(&ca.expired_leaf(&["localhost"]));
    let err = tls_error(tls::connect(
        &format!("localhost:{}", addr.port()),
        &ca_config(&ca),
        timeouts(),
    ));
    assert_eq!(
        err.to_string(),
        "the server's certificate expired on 2020-01-01 00:00:00 UTC"
    );
}

#[test]
fn untrusted_ca_is_refused() {
    let ca = Ca::new("test CA");
    let other = Ca::new("someone else");
    let (_served, addr) = tls_served(&ca.leaf(&["localhost"]));
    let host = format!("localhost:{}", addr.port());
    let err = tls_error(tls::connect(&host, &ca_config(&other), timeouts()));
    assert!(matches!(err, TlsError::UntrustedIssuer), "{err}");
    assert!(
        err.to_string().contains("not signed by a trusted CA"),
        "{err}"
    );
    // The platform's roots do not know the private CA either.
    if let Ok(platform) = TlsConfig::platform() {
        let err = tls_error(tls::connect(&host, &platform, timeouts()));
        assert!(
            err.to_string().contains("not signed by a trusted CA"),
            "{err}"
        );
    }
}

#[test]
fn plain_server_is_said_not_to_speak_tls_without_a_hang() {
    let served = Served::standard();
    let ca = Ca::new("test CA");
    let started = Instant::now();
    let err = tls_error(tls::connect(
        &format!("localhost:{}", served.addr().port()),
        &ca_config(&ca),
        timeouts(),
    ));
    assert_eq!(
        err.to_string(),
        "the server did not speak TLS (is this the plain port?)"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}

/// Runs the binary with `args`, at most 60 s.
fn cli(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hftp-client"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn cli_gets_over_tls_with_a_private_ca() {
    let ca = Ca::new("test CA");
    let (served, addr) = tls_served(&ca.leaf(&["localhost", "127.0.0.1"]));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
    let want = std::fs::read(served.dir.path().join("big.bin")).unwrap();
    let url = format!("hftps://localhost:{}", addr.port());
    let out = cli(
        &[
            "-H", &url, "--ca", "ca.pem", "get", "big.bin", "-o", "one.bin",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(dir.path().join("one.bin")).unwrap() == want);
    let hostport = format!("127.0.0.1:{}", addr.port());
    let out = cli(
        &[
            "--tls", "-H", &hostport, "--ca", "ca.pem", "get", "-j", "4", "big.bin", "-o",
            "four.bin",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(dir.path().join("four.bin")).unwrap() == want);
    // Without --ca the private CA is not trusted.
    let out = cli(&["-H", &url, "get", "notes.txt", "-o", "n.txt"], dir.path());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not signed by a trusted CA (use --ca FILE"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cli_refuses_a_wrong_host_with_exit_3() {
    let ca = Ca::new("test CA");
    let (_served, addr) = tls_served(&ca.leaf(&["other.example"]));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
    let url = format!("hftps://localhost:{}", addr.port());
    let out = cli(
        &["-H", &url, "--ca", "ca.pem", "get", "notes.txt"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("not valid for localhost (it is for other.example)"),
        "{err}"
    );
}

#[test]
fn bench_transfers_over_tls_in_base64_and_raw() {
    let ca = Ca::new("test CA");
    let (_served, addr) = tls_served(&ca.leaf(&["localhost", "127.0.0.1"]));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
    let port = addr.port().to_string();
    for raw in [false, true] {
        let mut args = vec![
            "-p", &port, "--json", "transfer", "--file", "big.bin", "-c", "2", "--count", "1",
            "-d", "20", "--ca", "ca.pem",
        ];
        if raw {
            args.push("--raw");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_hftp-bench"))
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", stderr(&out));
        let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(r["tls"], true, "{r}");
        assert_eq!(
            r["payload_bytes"].as_f64(),
            Some(f64::from(3u32 << 20)),
            "{r}"
        );
        assert_eq!(r["slices_completed"].as_f64(), Some(2.0), "{r}");
    }
    // Not trusted without --ca: a clean failure, not a hang.
    let out = Command::new(env!("CARGO_BIN_EXE_hftp-bench"))
        .args(["-p", &port, "transfer", "--file", "big.bin", "--tls"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not signed by a trusted CA"),
        "{}",
        stderr(&out)
    );
}
