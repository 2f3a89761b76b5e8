//! Shared harness for the integration tests: start the server binary on an
//! ephemeral port in a temporary directory, talk to it over real sockets
//! with bounded waits, and look at its memory use and logs.
//!
//! Every socket made here has read and write timeouts, and every loop has a
//! deadline, so a misbehaving server fails a test instead of hanging it.

#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `name` on `PATH`, or `None` (after printing a skip line) when it may
/// be missing: with `require` set to `1` in the environment (as in CI), a
/// missing tool fails the test, naming the Debian `package`.
pub fn tool(name: &str, require: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let required = std::env::var(require).is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{name} not found on PATH, and {require}=1 (install Debian package {package})"
        );
        println!("skipped: {name} not found on PATH (Debian package {package})");
    }
    found
}

/// A port free now on 127.0.0.1, for a program that must be told its
/// port before it starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The default per-read/per-write timeout of test sockets.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// The server binary built with these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_hftp-server");

/// The server binary under test: [`BIN`], or the one `HFTP_TEST_SERVER_BIN`
/// names (to show that a test fails on another build, e.g. an older one).
pub fn server_bin() -> String {
    std::env::var("HFTP_TEST_SERVER_BIN")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| BIN.to_owned())
}

/// Whether a read failed only because its timeout passed.
pub fn read_timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The `help` response.
pub const HELP: &[u8] =
    b"0 OK\r\nget_file_listing\r\nget_metadata\r\nget_slice\r\nquit\r\nhelp\r\n\r\n";

/// How to start a server.
pub struct Options {
    /// Extra command-line arguments (after `-a ADDR -p 0 -d DIR`).
    pub args: Vec<String>,
    /// The address to listen on.
    pub address: String,
    /// Run the server as this uid/gid (only possible as root).
    pub run_as: Option<u32>,
    /// Start the server as the leader of a new session, with no
    /// controlling terminal (as a service manager starts it).
    pub setsid: bool,
    /// The server's open-files limit (soft and hard) from its start.
    pub fd_limit: Option<u64>,
    /// Serve this directory instead of the temporary one (which is still
    /// made and handed to `setup`; [`Server::dir`] and [`Server::path`]
    /// keep naming it).
    pub dir: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            args: Vec::new(),
            address: "127.0.0.1".into(),
            run_as: None,
            setsid: false,
            fd_limit: None,
            dir: None,
        }
    }
}

impl Options {
    /// Options with these extra arguments.
    pub fn args(args: &[&str]) -> Self {
        Options {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Options::default()
        }
    }
}

/// A running server; killed (SIGKILL) and reaped on drop.
pub struct Server {
    pub child: Child,
    pub pid: u32,
    pub port: u16,
    pub addr: SocketAddr,
    /// The TLS listener's address, when serving TLS.
    pub tls_addr: Option<SocketAddr>,
    /// The served directory.
    pub dir: tempfile::TempDir,
    /// Holds the stderr log, apart from the served directory.
    logdir: tempfile::TempDir,
    exited: Option<ExitStatus>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts a server serving `files` (name, content), with extra `args`.
pub fn start(args: &[&str], files: &[(&str, &[u8])]) -> Server {
    start_with(Options::args(args), |dir| {
        for (name, content) in files {
            fs::write(dir.join(name), content).unwrap();
        }
    })
}

/// Starts a server after `setup` has populated its directory.
pub fn start_with(opts: Options, setup: impl FnOnce(&Path)) -> Server {
    try_start_with(opts, setup).unwrap_or_else(|e| panic!("cannot start the server: {e}"))
}

/// Like [`start_with`], returning an error when the server does not come up.
pub fn try_start_with(opts: Options, setup: impl FnOnce(&Path)) -> Result<Server, String> {
    let dir = tempfile::tempdir().unwrap();
    let logdir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let served_dir = opts.dir.clone().unwrap_or_else(|| dir.path().to_owned());
    let log = File::create(logdir.path().join("stderr.log")).unwrap();
    let mut cmd = Command::new(server_bin());
    cmd.args(["-a", &opts.address, "-p", "0", "-d"])
        .arg(&served_dir)
        .args(&opts.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    if let Some(id) = opts.run_as {
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        cmd.uid(id).gid(id);
    }
    let (setsid, fd_limit) = (opts.setsid, opts.fd_limit);
    if setsid || fd_limit.is_some() {
        // SAFETY: only async-signal-safe calls (setsid, setrlimit) between
        // fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if setsid && libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                if let Some(n) = fd_limit {
                    let lim = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the server never blocks on stdout.
        let _ = io::copy(&mut reader, &mut io::sink());
    });
    let line = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(line) if !line.is_empty() => line,
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            let err = fs::read_to_string(logdir.path().join("stderr.log")).unwrap_or_default();
            return Err(format!("no startup line; stderr: {err}"));
        }
    };
    let line = line.trim_end();
    let prefix = "hftp-server: serving ";
    assert!(line.starts_with(prefix), "unexpected startup line {line:?}");
    let served = fs::canonicalize(&served_dir).unwrap();
    let on = line
        .strip_prefix(&format!("{prefix}{} on ", served.display()))
        .unwrap_or_else(|| panic!("unexpected startup line {line:?}"));
    // `ADDR`, `ADDR and on TLS_ADDR (TLS)` or `TLS_ADDR (TLS)`.
    let (plain, tls) = match on.strip_suffix(" (TLS)") {
        None => (on, None),
        Some(rest) => match rest.split_once(" and on ") {
            Some((plain, tls)) => (plain, Some(tls)),
            None => (rest, Some(rest)),
        },
    };
    let addr: SocketAddr = plain.parse().unwrap();
    let tls_addr = tls.map(|a| a.parse().unwrap());
    Ok(Server {
        child,
        pid,
        port: addr.port(),
        addr,
        tls_addr,
        dir,
        logdir,
        exited: None,
    })
}

impl Server {
    /// A path inside the served directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A new client connection.
    pub fn connect(&self) -> Conn {
        Conn::connect(self.addr)
    }

    /// A new client connection whose receive buffer is small (set before
    /// connecting, which also turns off receive-buffer autotuning), so that
    /// a slow reader really holds the server back.
    pub fn connect_small_rcvbuf(&self, bytes: usize) -> Conn {
        Conn::connect_small_rcvbuf(self.addr, bytes)
    }

    /// Sends `request`, shuts down the write side, returns all the server sent.
    pub fn exchange(&self, request: &[u8]) -> Vec<u8> {
        let mut c = self.connect();
        c.send(request);
        c.shutdown_write();
        c.read_to_end()
            .unwrap_or_else(|e| panic!("reading the whole response to {:?}: {e}", show(request)))
    }

    /// What the server logged on stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.logdir.path().join("stderr.log")).unwrap_or_default()
    }

    /// The server's resident set size, in KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid, "VmRSS")
    }

    /// The server's peak resident set size so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        proc_status_kib(self.pid, "VmHWM")
    }

    /// Sends a signal to the server.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on the pid of our own, not yet reaped, child.
        assert_eq!(unsafe { libc::kill(self.pid as libc::pid_t, signal) }, 0);
    }

    /// Whether the server is still running.
    pub fn running(&mut self) -> bool {
        if self.exited.is_some() {
            return false;
        }
        match self.child.try_wait().unwrap() {
            Some(status) => {
                self.exited = Some(status);
                false
            }
            None => true,
        }
    }

    /// Waits up to `timeout` for the server to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if !self.running() {
                return self.exited;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Asserts the server is alive and answers a `help` on a new connection.
    pub fn assert_alive(&mut self) {
        assert!(
            self.running(),
            "the server exited: {:?}\n{}",
            self.exited,
            self.log()
        );
        let mut c = self.connect();
        c.send(b"help\r\n");
        assert_eq!(c.exact(HELP.len()), HELP);
    }
}

/// A `/proc/PID/status` field in KiB.
pub fn proc_status_kib(pid: u32, key: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in status"));
    line[key.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

/// A client connection with buffered, time-bounded reads.
pub struct Conn {
    pub stream: TcpStream,
    /// Storage; the unread bytes are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// How far `buf[start..]` was searched for LF.
    scanned: usize,
    /// Bound on each read call made through this connection.
    pub deadline: Duration,
}

impl Conn {
    /// Connects to `addr` with the default timeouts and TCP_NODELAY.
    /// A connection to `addr` whose receive buffer is small (see
    /// [`Server::connect_small_rcvbuf`]).
    pub fn connect_small_rcvbuf(addr: SocketAddr, bytes: usize) -> Conn {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(bytes).unwrap();
        socket.connect_timeout(&addr.into(), IO_TIMEOUT).unwrap();
        Conn::new(socket.into())
    }

    pub fn connect(addr: SocketAddr) -> Conn {
        Conn::new(
            TcpStream::connect_timeout(&addr, IO_TIMEOUT)
                .unwrap_or_else(|e| panic!("connect {addr}: {e}")),
        )
    }

    /// Wraps a connected stream, setting its timeouts.
    pub fn new(stream: TcpStream) -> Conn {
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: vec![0; 256 * 1024],
            start: 0,
            end: 0,
            scanned: 0,
            deadline: Duration::from_secs(60),
        }
    }

    /// Sets the timeout of each read.
    pub fn set_read_timeout(&self, t: Duration) {
        self.stream.set_read_timeout(Some(t)).unwrap();
    }

    /// Writes all of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("sending {:?}: {e}", show(bytes)));
    }

    /// Shuts down the write side.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Bytes buffered but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Reads more into the buffer; returns how many bytes came (0: EOF).
    pub fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && (self.start >= self.buf.len() / 2 || self.end == self.buf.len())
        {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Full of one unfinished item (a long line): grow.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let r = loop {
            match self.stream.read(&mut self.buf[self.end..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r,
            }
        };
        self.end += *r.as_ref().unwrap_or(&0);
        r
    }

    /// The next line, without its CRLF. Panics on EOF, timeout, or a line
    /// that ends in a bare LF.
    pub fn line(&mut self) -> Vec<u8> {
        let begun = Instant::now();
        loop {
            let from = self.start + self.scanned;
            if let Some(p) = self.buf[from..self.end].iter().position(|&b| b == b'\n') {
                let end = from + p;
                let line = self.buf[self.start..end].to_vec();
                assert!(
                    end > self.start && self.buf[end - 1] == b'\r',
                    "line not ending in CRLF: {:?}",
                    show(&line)
                );
                self.start = end + 1;
                self.scanned = 0;
                return line[..line.len() - 1].to_vec();
            }
            self.scanned = self.end - self.start;
            assert!(
                begun.elapsed() < self.deadline,
                "no complete line within {:?}",
                self.deadline
            );
            match self.fill() {
                Ok(0) => panic!(
                    "EOF inside a line; got {:?}",
                    show(&self.buf[self.start..self.end])
                ),
                Ok(_) => {}
                Err(e) => panic!(
                    "reading a line: {e}; got so far {:?}",
                    show(&self.buf[self.start..self.end])
                ),
            }
        }
    }

    /// The next line as a string.
    pub fn line_str(&mut self) -> String {
        String::from_utf8(self.line()).expect("a line that is not UTF-8")
    }

    /// Exactly `n` bytes. Panics on EOF or timeout.
    pub fn exact(&mut self, n: usize) -> Vec<u8> {
        let begun = Instant::now();
        while self.buffered() < n {
            assert!(
                begun.elapsed() < self.deadline,
                "fewer than {n} bytes within {:?}",
                self.deadline
            );
            match self.fill() {
                Ok(0) => panic!(
                    "EOF after {} of {n} bytes: {:?}",
                    self.buffered(),
                    show(&self.buf[self.start..self.end])
                ),
                Ok(_) => {}
                Err(e) => panic!("reading {n} bytes: {e} (had {})", self.buffered()),
            }
        }
        let out = self.buf[self.start..self.start + n].to_vec();
        self.consume(n);
        out
    }

    /// What is buffered, or else what one read brings (empty at EOF).
    pub fn read_some(&mut self) -> io::Result<Vec<u8>> {
        if self.buffered() == 0 {
            self.fill()?;
        }
        Ok(self.take_buffered())
    }

    /// Reads and discards exactly `n` bytes, handing each chunk to `check`.
    pub fn stream_exact(&mut self, mut n: u64, mut check: impl FnMut(&[u8])) {
        let begun = Instant::now();
        while n > 0 {
            if self.buffered() == 0 {
                assert!(
                    begun.elapsed() < self.deadline,
                    "{n} bytes still missing after {:?}",
                    self.deadline
                );
                match self.fill() {
                    Ok(0) => panic!("EOF with {n} bytes still missing"),
                    Ok(_) => {}
                    Err(e) => panic!("reading: {e} with {n} bytes still missing"),
                }
            }
            let take = (self.buffered() as u64).min(n) as usize;
            check(&self.buf[self.start..self.start + take]);
            self.consume(take);
            n -= take as u64;
        }
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.scanned = 0;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Everything until the server closes. A reset is an error.
    pub fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        let begun = Instant::now();
        loop {
            if begun.elapsed() > self.deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no EOF before the deadline",
                ));
            }
            if self.fill()? == 0 {
                return Ok(self.take_buffered());
            }
        }
    }

    /// Reads until EOF, reset or `within` passes; returns what came, whether
    /// the connection ended (EOF or reset) and how long it took.
    pub fn wait_close(&mut self, within: Duration) -> (Vec<u8>, bool, Duration) {
        let begun = Instant::now();
        loop {
            let left = within.saturating_sub(begun.elapsed());
            if left.is_zero() {
                return (self.take_buffered(), false, begun.elapsed());
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match self.fill() {
                Ok(0) => return (self.take_buffered(), true, begun.elapsed()),
                Ok(_) => {}
                Err(e) if read_timed_out(&e) => {}
                Err(_) => return (self.take_buffered(), true, begun.elapsed()),
            }
        }
    }

    fn take_buffered(&mut self) -> Vec<u8> {
        let out = self.buf[self.start..self.end].to_vec();
        self.start = 0;
        self.end = 0;
        out
    }

    /// Asserts nothing arrives for `quiet` (the connection stays open).
    pub fn assert_silent(&mut self, quiet: Duration) {
        let (got, closed, _) = self.wait_close(quiet);
        assert!(
            got.is_empty() && !closed,
            "expected silence; got {:?}, closed: {closed}",
            show(&got)
        );
        self.set_read_timeout(IO_TIMEOUT);
    }

    /// Sends `help` and reads its answer.
    pub fn exchange_help(&mut self) -> Vec<u8> {
        self.send(b"help\r\n");
        self.exact(HELP.len())
    }

    /// Asserts the next response is just this status line.
    pub fn expect(&mut self, status: &str) {
        assert_eq!(self.line_str(), status);
    }

    /// Reads a `get_file_listing`/`help` style item list (after `0 OK`).
    pub fn items(&mut self) -> Vec<String> {
        let mut items = Vec::new();
        loop {
            let line = self.line_str();
            if line.is_empty() {
                return items;
            }
            items.push(line);
        }
    }

    /// Sends `get_file_listing` and returns the names.
    pub fn listing(&mut self) -> Vec<String> {
        self.send(b"get_file_listing\r\n");
        self.expect("0 OK");
        self.items()
    }

    /// Sends `get_metadata NAME` and returns the size.
    pub fn metadata(&mut self, name: &str) -> u64 {
        self.send(format!("get_metadata {name}\r\n").as_bytes());
        self.expect("0 OK");
        self.line_str().parse().unwrap()
    }

    /// Sends a base64 `get_slice` and returns the decoded bytes.
    pub fn slice(&mut self, name: &str, offset: u64, size: u64) -> Vec<u8> {
        self.send(format!("get_slice {name} {offset} {size}\r\n").as_bytes());
        self.slice_response(size)
    }

    /// Reads a base64 slice response of `size` bytes and decodes it.
    pub fn slice_response(&mut self, size: u64) -> Vec<u8> {
        self.expect("0 OK");
        let data = b64_decode(&self.line());
        assert_eq!(data.len() as u64, size);
        data
    }

    /// Sends a raw `get_slice` and returns the bytes.
    pub fn raw_slice(&mut self, name: &str, offset: u64, size: u64) -> Vec<u8> {
        self.send(format!("get_slice {name} {offset} {size} raw\r\n").as_bytes());
        self.expect("0 OK");
        self.expect(&format!("Content-Length: {size}"));
        self.expect("");
        self.exact(size as usize)
    }

    /// Sends `quit`, expects `0 OK`, then EOF within `within`.
    pub fn quit(mut self, within: Duration) {
        self.send(b"quit\r\n");
        self.expect("0 OK");
        let (rest, closed, _) = self.wait_close(within);
        assert!(
            rest.is_empty(),
            "bytes after quit's answer: {:?}",
            show(&rest)
        );
        assert!(closed, "the server did not close within {within:?} of quit");
    }
}

/// Decodes standard base64 (panics on invalid input).
pub fn b64_decode(text: &[u8]) -> Vec<u8> {
    base64_simd::STANDARD
        .decode_to_vec(text)
        .unwrap_or_else(|e| panic!("bad base64 ({e}) of length {}", text.len()))
}

/// Encodes standard base64.
pub fn b64_encode(data: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(data)
}

/// Length of the base64 encoding of `n` bytes.
pub fn b64_len(n: u64) -> u64 {
    n.div_ceil(3) * 4
}

/// `n` bytes of deterministic pseudo-random data (all 256 byte values).
pub fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A short printable rendering of bytes for messages.
pub fn show(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(200)];
    let mut s = String::from_utf8_lossy(cut).escape_debug().to_string();
    if bytes.len() > cut.len() {
        s.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    s
}

/// Whether this process runs as root (which bypasses file permissions).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Polls `cond` every 10 ms until it holds or `within` passes.
pub fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sets SO_LINGER 0 and closes: the kernel sends RST instead of FIN.
pub fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

/// Raises the soft open-files limit to the hard limit (servers started
/// afterwards inherit it).
pub fn raise_fd_limit() {
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The response a fatal error gets: the status line, then EOF, nothing else.
pub fn assert_fatal(server: &Server, request: &[u8], status: &str) {
    let got = server.exchange(request);
    assert_eq!(
        show(&got),
        show(format!("{status}\r\n").as_bytes()),
        "answer to {:?}",
        show(request)
    );
}

/// A file of `size` bytes of zeros that takes no disk space.
pub fn sparse_file(path: &Path, size: u64) {
    File::create(path).unwrap().set_len(size).unwrap();
}
