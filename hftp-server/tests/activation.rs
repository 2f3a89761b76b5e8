//! Socket activation against the real component: `systemd-socket-activate`
//! (Debian package `systemd`) listens, and execs the server with the socket
//! (`LISTEN_FDS`) when the first client connects; and the shipped units
//! (`docs/deploy/`) pass `systemd-analyze verify`.
//!
//! Each test prints a line and passes when the tool is missing, unless
//! `HFTP_REQUIRE_SYSTEMD=1` (as in CI), where a missing tool fails it.

#[path = "tls/certs.rs"]
mod certs;
mod common;

use std::fs;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// How long the server may take to come up or go down under load.
const DEADLINE: Duration = Duration::from_secs(30);

/// `name` (from Debian package `systemd`) on `PATH`, or `None`.
fn tool(name: &str) -> Option<PathBuf> {
    common::tool(name, "HFTP_REQUIRE_SYSTEMD", "systemd")
}

/// `systemd-socket-activate` listening on a free port, ready to exec the
/// server with `args` on the first connection; its (and then the
/// server's) output in files.
struct Activated {
    child: Child,
    addr: SocketAddr,
    _logs: tempfile::TempDir,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Activated {
    fn start(tool: &Path, extra: &[&str], args: &[&str]) -> Activated {
        let logs = tempfile::tempdir().unwrap();
        let (stdout, stderr) = (logs.path().join("stdout"), logs.path().join("stderr"));
        for _ in 0..5 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let mut child = Command::new(tool)
                .args(extra)
                .arg("-l")
                .arg(addr.to_string())
                .arg(server_bin())
                .args(args)
                .stdin(Stdio::null())
                .stdout(fs::File::create(&stdout).unwrap())
                .stderr(fs::File::create(&stderr).unwrap())
                .spawn()
                .unwrap();
            let listening = format!("Listening on {addr}");
            let up = wait_until(DEADLINE, || {
                read(&stderr).contains(&listening) || child.try_wait().unwrap().is_some()
            });
            if up && read(&stderr).contains(&listening) {
                return Activated {
                    child,
                    addr,
                    _logs: logs,
                    stdout,
                    stderr,
                };
            }
            // The port was taken meanwhile: another.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("systemd-socket-activate did not listen: {}", read(&stderr));
    }

    fn stdout(&self) -> String {
        read(&self.stdout)
    }

    fn stderr(&self) -> String {
        read(&self.stderr)
    }

    /// Its exit status within the deadline.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the server did not exit; stderr: {}", self.stderr());
    }

    /// SIGTERM (a graceful shutdown), and its exit status.
    fn stop(&mut self) -> ExitStatus {
        // SAFETY: kill has no memory preconditions; the pid is our child's.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.wait_exit()
    }
}

impl Drop for Activated {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// A served directory with one file.
fn directory() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), b"hello, systemd").unwrap();
    dir
}

/// Two clients one after the other, each a listing and a slice: the
/// server keeps serving the socket it was handed.
fn two_clients(addr: SocketAddr) {
    for _ in 0..2 {
        let mut c = Conn::connect(addr);
        assert_eq!(c.listing(), ["notes.txt"]);
        assert_eq!(c.slice("notes.txt", 7, 7), b"systemd");
        c.quit(DEADLINE);
    }
}

#[test]
fn the_socket_from_systemd_is_served_to_one_client_then_another() {
    let Some(tool) = tool("systemd-socket-activate") else {
        return;
    };
    let dir = directory();
    let mut server = Activated::start(&tool, &[], &["-d", dir.path().to_str().unwrap()]);
    two_clients(server.addr);
    let served = fs::canonicalize(dir.path()).unwrap();
    assert_eq!(
        server.stdout().lines().next().unwrap_or_default(),
        format!(
            "hftp-server: serving {} on {} (socket from systemd)",
            served.display(),
            server.addr
        )
    );
    assert!(
        !server.stderr().contains("ignored"),
        "no -a/-p, no warning: {}",
        server.stderr()
    );
    assert!(server.stop().success(), "{}", server.stderr());
}

#[test]
fn a_port_given_too_is_ignored_with_one_warning() {
    let Some(tool) = tool("systemd-socket-activate") else {
        return;
    };
    let dir = directory();
    let other = free_port();
    let mut server = Activated::start(
        &tool,
        &[],
        &[
            "-d",
            dir.path().to_str().unwrap(),
            "-p",
            &other.to_string(),
            "-a",
            "127.0.0.1",
        ],
    );
    two_clients(server.addr);
    let log = server.stderr();
    assert_eq!(
        log.matches("-a and -p ignored: serving the socket systemd passed")
            .count(),
        1,
        "{log}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", other)).is_err(),
        "the -p port was bound too"
    );
    assert!(server.stop().success(), "{log}");
}

#[test]
fn a_datagram_socket_is_refused_with_one_line_and_exit_3() {
    let Some(tool) = tool("systemd-socket-activate") else {
        return;
    };
    let dir = directory();
    let mut server = Activated::start(
        &tool,
        &["--datagram"],
        &["-d", dir.path().to_str().unwrap()],
    );
    // A datagram makes systemd-socket-activate exec the server.
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(b"x", server.addr)
        .unwrap();
    assert_eq!(server.wait_exit().code(), Some(3), "{}", server.stderr());
    let ours: Vec<String> = server
        .stderr()
        .lines()
        .filter(|l| l.starts_with("hftp-server:"))
        .map(str::to_owned)
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert!(
        ours[0].contains("cannot be served") && ours[0].contains("ListenStream="),
        "{ours:?}"
    );
}

#[test]
fn a_socket_named_tls_asks_for_the_certificate_options() {
    let Some(tool) = tool("systemd-socket-activate") else {
        return;
    };
    let dir = directory();
    let mut server = Activated::start(
        &tool,
        &["--fdname=tls"],
        &["-d", dir.path().to_str().unwrap()],
    );
    let _client = std::net::TcpStream::connect(server.addr).unwrap();
    assert_eq!(server.wait_exit().code(), Some(3), "{}", server.stderr());
    assert!(
        server
            .stderr()
            .lines()
            .any(|l| l == "hftp-server: the inherited socket 'tls' needs --tls-cert and --tls-key"),
        "{}",
        server.stderr()
    );
}

#[test]
fn a_plain_socket_and_one_named_tls_are_both_served() {
    let Some(tool) = tool("systemd-socket-activate") else {
        return;
    };
    let dir = directory();
    let ca = certs::Ca::new();
    let keys = tempfile::tempdir().unwrap();
    let (cert, key) = ca.leaf(&["localhost"]).write(keys.path());
    let tls_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    // The first -l is fd 3 (named tls), the plain one fd 4.
    let mut server = Activated::start(
        &tool,
        &["-l", &tls_addr.to_string(), "--fdname=tls:hftp"],
        &[
            "-d",
            dir.path().to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    two_clients(server.addr);
    let mut tls = certs::connect(tls_addr, "localhost", ca.client_config()).unwrap();
    certs::send(&mut tls, b"get_slice notes.txt 7 7\r\n");
    assert_eq!(certs::line(&mut tls), b"0 OK\r\n");
    assert_eq!(certs::line(&mut tls), b"c3lzdGVtZA==\r\n");
    let served = fs::canonicalize(dir.path()).unwrap();
    assert_eq!(
        server.stdout().lines().next().unwrap_or_default(),
        format!(
            "hftp-server: serving {} on {} and on {tls_addr} (TLS) (socket from systemd)",
            served.display(),
            server.addr
        )
    );
    assert!(server.stop().success(), "{}", server.stderr());
}

#[test]
fn the_shipped_units_pass_systemd_analyze_verify() {
    let Some(analyze) = tool("systemd-analyze") else {
        return;
    };
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/deploy");
    let units = tempfile::tempdir().unwrap();
    // `verify` checks that ExecStart's binary exists: the built one.
    let service = read(&deploy.join("hftp-server.service"));
    let line = "ExecStart=/usr/local/bin/hftp-server";
    assert_eq!(
        service.matches(line).count(),
        1,
        "one ExecStart, as shipped"
    );
    let service = service.replace(line, &format!("ExecStart={}", server_bin()));
    fs::write(units.path().join("hftp-server.service"), service).unwrap();
    fs::copy(
        deploy.join("hftp-server.socket"),
        units.path().join("hftp-server.socket"),
    )
    .unwrap();
    let out = Command::new(analyze)
        .current_dir(units.path())
        .args([
            "verify",
            "--man=no",
            "./hftp-server.socket",
            "./hftp-server.service",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed: {said}"
    );
    // An unknown or misspelt key is only a warning for `verify`: none.
    let ours: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("hftp-server."))
        .collect();
    assert!(ours.is_empty(), "systemd-analyze verify warned: {ours:?}");
}

#[test]
fn the_library_serves_a_listener_handed_over_and_refuses_a_socket_that_does_not_listen() {
    use hftp_server::{Server, ServerError, ServerOptions};
    let dir = directory();
    let options = || ServerOptions {
        directory: dir.path().to_owned(),
        threads: 1,
        ..ServerOptions::default()
    };
    // Blocking, as a listener usually is: the server makes it non-blocking.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::from_listener(listener, options())
        .unwrap()
        .spawn()
        .unwrap();
    assert_eq!(server.local_addr(), addr);
    two_clients(addr);
    server.shutdown().unwrap();

    // Bound, never listen()ed.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let refused = Server::from_listener(socket.into(), options());
    if cfg!(target_os = "linux") {
        // Elsewhere whether it listens may be unknown (taken on trust).
        let Err(e @ ServerError::Listener { .. }) = refused else {
            panic!("not refused: {refused:?}");
        };
        assert_eq!(
            e.to_string(),
            "cannot serve on the socket handed over: it is not listening (no listen() was \
             called on it)"
        );
    }
}

#[test]
fn the_options_are_read_from_hftp_variables_as_the_unit_sets_them() {
    use std::io::{BufRead, BufReader};
    let dir = directory();
    let mut child = Command::new(server_bin())
        .env("HFTP_DIRECTORY", dir.path())
        .env("HFTP_ADDRESS", "127.0.0.1")
        .env("HFTP_PORT", "0")
        .env("HFTP_MAX_REQUEST_BYTES", "64")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let served = fs::canonicalize(dir.path()).unwrap();
    let prefix = format!("hftp-server: serving {} on ", served.display());
    let addr: SocketAddr = line
        .trim_end()
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("startup line {line:?}"))
        .parse()
        .unwrap();
    assert!(addr.ip().is_loopback(), "{addr}");
    let mut c = Conn::connect(addr);
    assert_eq!(c.listing(), ["notes.txt"]);
    // HFTP_MAX_REQUEST_BYTES=64: a longer line is refused.
    c.send(format!("get_metadata {}\r\n", "x".repeat(100)).as_bytes());
    let answer = c.line_str();
    assert!(answer.starts_with("101 "), "{answer:?}");
    let _ = child.kill();
    let _ = child.wait();
}
