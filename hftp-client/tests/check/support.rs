//! What the `check` tests share: running the checker (its exit code,
//! output and JSON report), the Python course server under it, and two
//! fake servers: one that never answers, one that forwards to a real
//! server and drops every request after the first of each read.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;

/// One run of `hftp-client check`.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The `--json` report (`null` when none was written).
    pub report: serde_json::Value,
}

/// `hftp-client check ARGS... --json FILE`.
pub fn check(args: &[&str]) -> Run {
    let json = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hftp-client"))
        .arg("check")
        .args(args)
        .arg("--json")
        .arg(json.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = std::fs::read_to_string(json.path()).unwrap_or_default();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        report: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    }
}

/// The checker starting the Python course server with `flags`.
pub fn python(flags: &[&str], args: &[&str]) -> Run {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/course_server.py"
    );
    let server = format!(
        "python3 {script} {} -p {{port}} -d {{dir}}",
        flags.join(" ")
    );
    check(&[&["--server", server.as_str()][..], args].concat())
}

/// Case ID to verdict (`pass`, `fail`, ...), of a JSON report.
pub fn verdicts(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {report}"))
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A server that accepts and reads, and never answers.
pub struct Silent(SocketAddr);

impl Silent {
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut buf = [0; 64 * 1024];
                    while matches!((&stream).read(&mut buf), Ok(n) if n > 0) {}
                });
            }
        });
        Silent(addr)
    }

    pub fn addr(&self) -> String {
        self.0.to_string()
    }
}

/// A proxy to a real server; with `drop`, of each read from the client
/// only the bytes up to the first line end are passed on (a server that
/// handles one request per `recv`).
pub struct Dropping(SocketAddr);

impl Dropping {
    pub fn start(upstream: SocketAddr, drop: bool) -> Dropping {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pipe(s2, c2, false));
                std::thread::spawn(move || pipe(client, server, drop));
            }
        });
        Dropping(addr)
    }

    pub fn addr(&self) -> String {
        self.0.to_string()
    }
}

/// Copies `from` to `to` until the end, then passes the end on.
fn pipe(mut from: TcpStream, mut to: TcpStream, first_line_only: bool) {
    let mut buf = vec![0; 256 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut chunk = &buf[..n];
        if first_line_only {
            if let Some(end) = chunk.windows(2).position(|w| w == b"\r\n") {
                chunk = &chunk[..end + 2];
            }
        }
        if to.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
