//! Helpers for the command-line tests: our server in-process on a temp
//! directory (`served`, shared with the library's tests), small fake servers that answer what a test tells them, and
//! a runner for the `hftp-client` binary that never waits forever.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[path = "../served/mod.rs"]
mod served;
#[allow(unused_imports)]
pub use served::{binary, Served, NOTES};

/// How long any one run of the binary may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// What a fake server does with one request line.
pub enum Reply {
    /// Send these bytes, keep reading.
    Send(Vec<u8>),
    /// Send these bytes, then close the connection.
    Close(Vec<u8>),
    /// Never answer (the connection stays open for a while).
    Stall,
}

/// A fake server on an ephemeral port: each connection is served on its
/// own thread, each request line (CRLF removed) answered by `handler`.
/// The lines received, on all connections, are in `log`.
pub struct Fake {
    pub port: u16,
    pub log: Arc<Mutex<Vec<String>>>,
    pub connections: Arc<Mutex<usize>>,
}

impl Fake {
    pub fn new(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let handler = Arc::new(handler);
        let (log2, connections2) = (Arc::clone(&log), Arc::clone(&connections));
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                *connections2.lock().unwrap() += 1;
                let (handler, log) = (Arc::clone(&handler), Arc::clone(&log2));
                thread::spawn(move || serve(stream, &*handler, &log));
            }
        });
        Fake {
            port,
            log,
            connections,
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, handler: &dyn Fn(&str) -> Reply, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        log.lock().unwrap().push(line.clone());
        match handler(&line) {
            Reply::Send(bytes) => {
                if writer.write_all(&bytes).is_err() {
                    return;
                }
            }
            Reply::Close(bytes) => {
                let _ = writer.write_all(&bytes);
                let _ = writer.flush();
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
            Reply::Stall => {
                thread::sleep(Duration::from_secs(30));
                return;
            }
        }
    }
}

/// A port with nothing listening on it (bound, then released).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// What a run of the binary did.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8(self.stdout.clone()).unwrap()
    }

    /// The lines of standard error.
    pub fn errors(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// Asserts the exit code and that standard error holds exactly one
    /// line, which is returned.
    pub fn failed(&self, code: i32) -> &str {
        assert_eq!(self.code, Some(code), "{self:#?}");
        assert_eq!(self.errors().len(), 1, "not one error line: {self:#?}");
        let line = self.errors()[0];
        assert!(line.starts_with("hftp-client: "), "{line}");
        line
    }

    /// Asserts success with nothing on standard error.
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "{self:#?}");
        assert_eq!(self.stderr, "", "{self:#?}");
        self
    }
}

/// A run of the binary being prepared.
pub struct Run {
    command: Command,
    stdin: Vec<u8>,
}

/// `hftp-client -p PORT --timeout 5 ARGS...`, in a fresh temp directory
/// unless `cwd` says otherwise.
pub fn hftp(port: u16, args: &[&str]) -> Run {
    run_with(Command::new(env!("CARGO_BIN_EXE_hftp-client")), port, args)
}

/// [`hftp`] under `ulimit -f BLOCKS` (512-byte blocks in POSIX `sh`; 1024
/// in bash) with `SIGXFSZ` ignored: a write that would pass the limit
/// fails with `EFBIG` ("File too large"), as on a full disk.
pub fn hftp_with_file_limit(port: u16, blocks: u64, args: &[&str]) -> Run {
    let mut command = Command::new("sh");
    command.args([
        "-c",
        r#"trap '' XFSZ; ulimit -f "$0" && exec "$@""#,
        &blocks.to_string(),
        env!("CARGO_BIN_EXE_hftp-client"),
    ]);
    run_with(command, port, args)
}

fn run_with(mut command: Command, port: u16, args: &[&str]) -> Run {
    command
        .args(["-p", &port.to_string(), "--timeout", "5"])
        .args(args)
        .env_remove("HFTP_HOST")
        .env_remove("HFTP_PORT")
        .env("HOME", "/nonexistent");
    Run {
        command,
        stdin: Vec::new(),
    }
}

impl Run {
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.command.current_dir(dir);
        self
    }

    pub fn stdin(mut self, input: &[u8]) -> Self {
        self.stdin = input.to_vec();
        self
    }

    /// Starts the process with piped standard streams.
    pub fn spawn(mut self) -> Child {
        let mut child = self
            .command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = std::mem::take(&mut self.stdin);
        thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        child
    }

    /// Runs to completion (failing the test past [`DEADLINE`]).
    pub fn run(self) -> Output {
        let started = Instant::now();
        let mut child = self.spawn();
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let out = thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        });
        let err = thread::spawn(move || {
            let mut buf = String::new();
            let _ = stderr.read_to_string(&mut buf);
            buf
        });
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!("hftp-client still running after {DEADLINE:?}");
            }
            thread::sleep(Duration::from_millis(5));
        };
        Output {
            code: status.code(),
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
            elapsed: started.elapsed(),
        }
    }
}
