//! The `hftp-server` command line as an operator meets it: startup checks
//! with one clear line and exit code, the note about listening on every
//! interface, host names, size suffixes, and the shutdown signals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hftp-server");

/// Runs the server to its end (it must end by itself: a startup failure).
fn fails(cwd: &Path, args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    out
}

/// The one line on standard error, asserting the exit code.
fn one_line(out: &Output, code: i32) -> String {
    assert_eq!(out.status.code(), Some(code), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err.trim_end().to_owned()
}

/// A running server with its standard output and error read on threads.
struct Running {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Running {
    fn start(cwd: &Path, args: &[&str]) -> Running {
        let mut child = Command::new(BIN)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = |r: Box<dyn Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines() {
                    let Ok(line) = line else { return };
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
            rx
        };
        let stdout = lines(Box::new(child.stdout.take().unwrap()));
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// The next line of `rx` (20 s at most).
    fn next(rx: &mpsc::Receiver<String>) -> String {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("a line within 20 s")
    }

    /// Waits for a line on standard error containing `text`.
    fn log(&self, text: &str) -> String {
        loop {
            let line = Self::next(&self.stderr);
            if line.contains(text) {
                return line;
            }
        }
    }

    /// The port from the `serving DIR on ADDR` line.
    fn port(&self) -> (String, u16) {
        let line = Self::next(&self.stdout);
        assert!(line.starts_with("hftp-server: serving "), "{line}");
        let port = line.rsplit(':').next().unwrap().parse().unwrap();
        (line, port)
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn wait(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "still running after 20 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_file_given_as_the_directory_is_not_a_directory() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("f"), "x").unwrap();
    let line = one_line(&fails(cwd.path(), &["-p", "0", "-d", "f"]), 3);
    assert_eq!(line, "hftp-server: cannot serve f: not a directory");
}

#[test]
fn a_missing_directory_is_not_created() {
    let cwd = tempfile::tempdir().unwrap();
    let line = one_line(&fails(cwd.path(), &["-p", "0", "-d", "a/b/c"]), 3);
    assert_eq!(
        line,
        "hftp-server: cannot serve a/b/c: no such directory \
         (create it, or leave out -d to serve ./testdata)"
    );
    assert!(!cwd.path().join("a").exists());
}

#[test]
fn an_unlistable_directory_is_refused_at_startup() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let cwd = tempfile::tempdir().unwrap();
    let dir = cwd.path().join("locked");
    std::fs::create_dir(&dir).unwrap();
    let mut command = Command::new(BIN);
    command
        .args(["-p", "0", "-d", "locked"])
        .current_dir(cwd.path())
        .stdin(Stdio::null());
    if std::fs::read_dir(&dir).is_ok() && is_root() {
        // Root lists anything: the server runs as nobody, the directory
        // being root's alone.
        std::fs::set_permissions(cwd.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        command.uid(65534).gid(65534);
    } else {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let line = one_line(&command.output().unwrap(), 3);
    assert!(
        line.starts_with("hftp-server: cannot serve locked: "),
        "{line}"
    );
    assert!(line.contains("ermission denied"), "{line}");
}

/// Whether the tests run as root.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn usage_errors_are_one_line_and_exit_1() {
    let cwd = tempfile::tempdir().unwrap();
    for args in [
        &["--no-such-flag"][..],
        &["-a", "127.0.0.1:19500"],
        &["--max-request-bytes", "lots"],
        &["--idle-timeout", "0"],
    ] {
        let line = one_line(&fails(cwd.path(), args), 1);
        assert!(
            line.starts_with("hftp-server: ") && line.ends_with("(see --help)"),
            "{line}"
        );
    }
    assert!(!cwd.path().join("testdata").exists());
}

#[test]
fn the_default_directory_is_created_and_all_interfaces_are_announced() {
    let cwd = tempfile::tempdir().unwrap();
    let server = Running::start(cwd.path(), &["-p", "0"]);
    let (line, _) = server.port();
    assert!(line.contains("testdata on 0.0.0.0:"), "{line}");
    let next = Running::next(&server.stdout);
    assert!(
        next.starts_with("hftp-server: listening on all interfaces (0.0.0.0)")
            && next.ends_with("-a 127.0.0.1 keeps it to this one"),
        "{next}"
    );
    assert!(cwd.path().join("testdata").is_dir());
}

#[test]
fn host_names_and_size_suffixes_are_accepted() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir(cwd.path().join("d")).unwrap();
    let server = Running::start(
        cwd.path(),
        &[
            "-a",
            "localhost",
            "-p",
            "0",
            "-d",
            "d",
            "--max-request-bytes",
            "1K",
        ],
    );
    let (line, port) = server.port();
    assert!(line.contains(" on 127.0.0.1:"), "{line}");
    // No note about other machines for loopback: the next line is the
    // answer to a request past the limit.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&[b'a'; 1025]).unwrap();
    // 101 as soon as byte 1025 arrives (the default limit is 16 MiB).
    let mut answer = [0u8; 4];
    s.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"101 ");
    assert!(server.stdout.try_recv().is_err());
}

#[test]
fn a_shutdown_says_what_it_waits_for_and_a_second_signal_exits_at_once() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir(cwd.path().join("d")).unwrap();
    std::fs::write(cwd.path().join("d/big"), vec![7u8; 64 << 20]).unwrap();
    let mut server = Running::start(
        cwd.path(),
        &[
            "-a",
            "127.0.0.1",
            "-p",
            "0",
            "-d",
            "d",
            "--shutdown-grace",
            "60",
        ],
    );
    let (_, port) = server.port();
    // A response in flight that nobody reads: the grace would wait for it.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"get_slice big 0 60000000\r\n").unwrap();
    server.log("Connected by");
    server.signal("INT");
    let line = server.log("shutting down");
    assert!(
        line.contains("SIGINT: shutting down, 1 connection open, waiting up to 60 s"),
        "{line}"
    );
    let started = Instant::now();
    server.signal("TERM");
    let line = server.log("again");
    assert!(line.contains("SIGTERM again: exiting now"), "{line}");
    assert_eq!(server.wait(), 130);
    // Well before the 60 s grace.
    assert!(started.elapsed() < Duration::from_secs(30));
    drop(s);
}

#[test]
fn with_v_the_log_says_which_entries_the_listing_leaves_out_and_why() {
    let cwd = tempfile::tempdir().unwrap();
    let d = cwd.path().join("d");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("ok.txt"), "x").unwrap();
    std::fs::write(d.join("with space.txt"), "x").unwrap();
    std::fs::write(cwd.path().join("outside"), "secret").unwrap();
    std::os::unix::fs::symlink(cwd.path().join("outside"), d.join("out-link")).unwrap();
    let server = Running::start(cwd.path(), &["-a", "127.0.0.1", "-p", "0", "-d", "d", "-v"]);
    let (_, port) = server.port();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"get_file_listing\r\n").unwrap();
    let mut listing = [0u8; 16];
    s.read_exact(&mut listing).unwrap();
    assert_eq!(&listing, b"0 OK\r\nok.txt\r\n\r\n");
    let mut said = Vec::new();
    while said.len() < 3 {
        let line = server.log("listing leaves out");
        said.push(line.split("listing leaves out ").nth(1).unwrap().to_owned());
    }
    said.sort();
    assert_eq!(
        said,
        [
            "\"with space.txt\": the file name holds a space; HFTP names are printable ASCII without spaces",
            "out-link: a symlink to no regular file inside the directory",
            "sub: not a regular file (a directory, device, socket or pipe)",
        ]
    );
}
