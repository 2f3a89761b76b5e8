//! The real HAProxy (Debian package `haproxy`) in front of two
//! `hftp-server` backends over one directory, with `send-proxy-v2` and
//! the health check of `docs/deploy/haproxy.cfg` (`tcp-check send quit`,
//! `expect string 0 OK`): listings, metadata and a four-connection
//! download through it byte-exact and spread over both backends, which
//! log the client's own address; a backend killed mid-run is taken out by
//! the check and a restarted one put back; and a backend without
//! `--proxy-protocol` answers the v2 header `101` (it begins with CRLF, an
//! empty line to HFTP).
//!
//! Without `haproxy` on `PATH` each test prints a line and passes, unless
//! `HFTP_REQUIRE_HAPROXY=1` (as in CI).

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::free_port;

/// How long anything may take under load.
const DEADLINE: Duration = Duration::from_secs(30);

fn haproxy() -> Option<PathBuf> {
    common::tool("haproxy", "HFTP_REQUIRE_HAPROXY", "haproxy")
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A process whose output goes to a file; killed on drop.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A backend serving `dir` on `port`, its log in `logs`.
fn backend(dir: &Path, port: u16, proxy: bool, logs: &Path, name: &str) -> Process {
    let log = logs.join(format!("{name}.log"));
    let mut cmd = Command::new(common::server_bin());
    cmd.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-v", "-d"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap());
    if proxy {
        cmd.args(["--proxy-protocol", "--proxy-from", "127.0.0.0/8"]);
    }
    let process = Process {
        child: cmd.spawn().unwrap(),
        log,
    };
    wait_until("the backend to listen", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    process
}

/// The deployment example's settings with these ports and fast checks.
fn config(front: u16, servers: &[(&str, u16, bool)]) -> String {
    let shipped = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/deploy/haproxy.cfg"),
    )
    .unwrap();
    // The check the shipped file makes, taken from it, so that the test
    // runs what operators copy.
    for line in [
        "tcp-check send quit\\r\\n",
        "tcp-check expect string 0\\ OK",
    ] {
        assert!(
            shipped.contains(line),
            "docs/deploy/haproxy.cfg lost {line:?}"
        );
    }
    let mut cfg = format!(
        "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 65s\n    \
         timeout server 65s\n    timeout check 1s\n\n\
         frontend hftp\n    bind 127.0.0.1:{front}\n    default_backend servers\n\n\
         backend servers\n    balance leastconn\n    option tcp-check\n    \
         tcp-check send quit\\r\\n\n    tcp-check expect string 0\\ OK\n"
    );
    for (name, port, check) in servers {
        let check = if *check {
            " check inter 200ms fall 1 rise 1"
        } else {
            ""
        };
        cfg.push_str(&format!(
            "    server {name} 127.0.0.1:{port} send-proxy-v2{check}\n"
        ));
    }
    cfg
}

fn start_haproxy(bin: &Path, cfg: &str, logs: &Path) -> Process {
    let file = logs.join("haproxy.cfg");
    fs::write(&file, cfg).unwrap();
    let log = logs.join("haproxy.log");
    let out = fs::File::create(&log).unwrap();
    let child = Command::new(bin)
        .arg("-db")
        .arg("-f")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    Process { child, log }
}

/// One exchange through `addr`: the request, then the answer to the end
/// (the request ends with `quit`). Also the client's own address.
fn exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<(Vec<u8>, SocketAddr)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let local = s.local_addr()?;
    s.write_all(request)?;
    let mut got = Vec::new();
    s.read_to_end(&mut got)?;
    Ok((got, local))
}

fn listing_ok(addr: SocketAddr) -> bool {
    matches!(
        exchange(addr, b"get_file_listing\r\nquit\r\n"),
        Ok((got, _)) if got == b"0 OK\r\nbig\r\nnotes.txt\r\n\r\n0 OK\r\n"
    )
}

fn served_dir() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..6u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    fs::write(dir.path().join("big"), &big).unwrap();
    fs::write(dir.path().join("notes.txt"), b"hello, haproxy").unwrap();
    (dir, big)
}

/// A four-connection download of `big` through `front`: the
/// `hftp-client` binary (`get -j 4`) when the workspace built it, the
/// library's parallel download otherwise.
fn get_j4(front: SocketAddr, out: &Path) -> Vec<u8> {
    let client = Path::new(&common::server_bin()).with_file_name("hftp-client");
    let dest = out.join("big");
    if client.is_file() {
        let status = Command::new(&client)
            .args(["-H", &front.to_string(), "get", "-j", "4", "big"])
            .current_dir(out)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "hftp-client get -j 4 failed: {status}");
    } else {
        eprintln!("hftp-client binary not built: the library's 4-connection download instead");
        let server = hftp_client::Server::new(front, hftp_client::Timeouts::default()).unwrap();
        // Ranges small enough that the four connections all take some.
        let options = hftp_client::DownloadOptions {
            connections: 4,
            chunk_size: 512 << 10,
            ..Default::default()
        };
        server.download("big", &dest, &options, &|_| {}).unwrap();
    }
    let got = fs::read(&dest).unwrap();
    fs::remove_file(&dest).unwrap();
    got
}

#[test]
fn two_backends_behind_haproxy_serve_byte_exact_and_survive_one_dying() {
    let Some(bin) = haproxy() else { return };
    let (dir, big) = served_dir();
    let logs = tempfile::tempdir().unwrap();
    let (pa, pb, front) = (free_port(), free_port(), free_port());
    let mut a = backend(dir.path(), pa, true, logs.path(), "a");
    let b = backend(dir.path(), pb, true, logs.path(), "b");
    let mut lb = start_haproxy(
        &bin,
        &config(front, &[("a", pa, true), ("b", pb, true)]),
        logs.path(),
    );
    let front = SocketAddr::from(([127, 0, 0, 1], front));
    wait_until("HAProxy to serve", || listing_ok(front));

    // Metadata and a listing, byte-exact, from this client's address.
    let (got, me) = exchange(
        front,
        b"get_metadata big\r\nget_slice notes.txt 7 7\r\nquit\r\n",
    )
    .unwrap();
    assert_eq!(
        got,
        format!("0 OK\r\n{}\r\n0 OK\r\naGFwcm94eQ==\r\n0 OK\r\n", big.len()).as_bytes()
    );
    // The backend that served it logged this client's own address, not
    // HAProxy's.
    let connected = format!("Connected by: {me}");
    wait_until("the client's address in a backend's log", || {
        a.log().contains(&connected) || b.log().contains(&connected)
    });

    // Four connections at once: leastconn spreads them over both.
    let out = tempfile::tempdir().unwrap();
    assert!(
        get_j4(front, out.path()) == big,
        "the download through HAProxy differs"
    );
    for backend in [&a, &b] {
        assert!(
            backend.log().contains("Request: get_slice big"),
            "a backend served no slice: {}",
            backend.log()
        );
    }
    // HAProxy's health checks are PROXY v2 LOCAL: served (and answered 0 OK).
    assert!(!lb.log().contains("is DOWN"), "{}", lb.log());

    // Backend a dies: once the check marks it down, every request succeeds.
    a.kill();
    wait_until("HAProxy to mark a down", || {
        lb.log().contains("servers/a is DOWN")
    });
    for _ in 0..20 {
        assert!(listing_ok(front), "a request failed with a down");
    }
    assert!(get_j4(front, out.path()) == big);

    // Restarted on its port, it is taken back and served again.
    let a2 = backend(dir.path(), pa, true, logs.path(), "a2");
    wait_until("HAProxy to mark a up", || {
        lb.log().contains("servers/a is UP")
    });
    wait_until("a request to reach the restarted backend", || {
        listing_ok(front) && a2.log().contains("Request: get_file_listing")
    });
    lb.kill();
}

#[test]
fn a_backend_without_proxy_protocol_answers_the_header_101() {
    let Some(bin) = haproxy() else { return };
    let (dir, _) = served_dir();
    let logs = tempfile::tempdir().unwrap();
    let (port, front) = (free_port(), free_port());
    let plain = backend(dir.path(), port, false, logs.path(), "plain");
    // No health check: it would fail on the same 101.
    let _lb = start_haproxy(&bin, &config(front, &[("plain", port, false)]), logs.path());
    let front = SocketAddr::from(([127, 0, 0, 1], front));
    let mut first = Vec::new();
    wait_until("HAProxy to forward", || {
        let Ok(mut s) = TcpStream::connect(front) else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(b"get_file_listing\r\n");
        let mut reader = BufReader::new(s);
        first.clear();
        reader.read_until(b'\n', &mut first).is_ok() && !first.is_empty()
    });
    assert!(
        first.starts_with(b"101 "),
        "{:?}",
        String::from_utf8_lossy(&first)
    );
    drop(plain);
}

#[test]
fn the_shipped_configuration_is_valid() {
    let Some(bin) = haproxy() else { return };
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/deploy/haproxy.cfg");
    let out = Command::new(bin)
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "haproxy -c: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
