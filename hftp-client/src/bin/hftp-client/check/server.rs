//! A server the checker starts itself (`--server 'CMD -p {port} -d {dir}'`):
//! a free loopback port, the command run by `sh -c` in its own process
//! group (working directory unchanged, or the target's), its output kept
//! in a file for the report, a bounded wait until it accepts, a thread
//! sampling its resident memory, and a stop that ends the whole group.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::os;

/// How often memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(25);

/// A started server.
pub struct Started {
    child: Mutex<Child>,
    pgid: u32,
    addr: SocketAddr,
    output: File,
    /// Resident bytes now, and the highest since the last reset and
    /// since the start (0: unknown).
    memory: Arc<Memory>,
    sampler: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Memory {
    now: AtomicU64,
    peak: AtomicU64,
    overall: AtomicU64,
    stop: AtomicBool,
}

/// `{port}` and `{dir}` (shell-quoted) put into `template`.
pub fn substitute(template: &str, port: u16, dir: &Path) -> Result<String, String> {
    let dir = dir
        .to_str()
        .ok_or("the fixture directory's path is not UTF-8")?;
    let quoted = shlex::try_quote(dir).map_err(|e| format!("cannot quote {dir}: {e}"))?;
    Ok(template
        .replace("{port}", &port.to_string())
        .replace("{dir}", &quoted))
}

impl Started {
    /// Runs `template` (with `{port}` and `{dir}` filled in) in `cwd` and
    /// waits up to `wait` until it accepts a connection.
    pub fn start(
        template: &str,
        cwd: Option<&Path>,
        dir: &Path,
        wait: Duration,
    ) -> Result<Started, String> {
        if !template.contains("{port}") {
            return Err("the server command has no {port}: the checker picks the port (e.g. --server 'python3 server.py -p {port} -d {dir}')".into());
        }
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        let command = substitute(template, port, dir)?;
        let output = tempfile::tempfile()
            .map_err(|e| format!("cannot make a file for the server's output: {e}"))?;
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(&command).stdin(Stdio::null());
        let out = output.try_clone().map_err(|e| e.to_string())?;
        let err = output.try_clone().map_err(|e| e.to_string())?;
        sh.stdout(out).stderr(err);
        if let Some(cwd) = cwd {
            sh.current_dir(cwd);
        }
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut sh, 0);
        let child = sh
            .spawn()
            .map_err(|e| format!("cannot run sh -c {command:?}: {e}"))?;
        let pgid = child.id();
        super::cleanup::server_started(pgid);
        let memory = Arc::new(Memory::default());
        let sampler = {
            let memory = Arc::clone(&memory);
            std::thread::spawn(move || sample(pgid, &memory))
        };
        let started = Started {
            child: Mutex::new(child),
            pgid,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            output,
            memory,
            sampler: Some(sampler),
        };
        started.wait_accepting(wait)?;
        Ok(started)
    }

    fn wait_accepting(&self, wait: Duration) -> Result<(), String> {
        let until = Instant::now() + wait;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!(
                    "the server {status} before accepting a connection{}",
                    self.output_note()
                ));
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(format!(
                    "the server did not accept a connection on {} within {} s{}",
                    self.addr,
                    wait.as_secs(),
                    self.output_note()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `exited with status 1` once the server has ended.
    pub fn exited(&self) -> Option<String> {
        let mut child = self.child.lock().ok()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(match status.code() {
                Some(code) => format!("exited with status {code}"),
                None => format!("was killed ({status})"),
            }),
            _ => None,
        }
    }

    /// Resident memory now, if measured.
    pub fn rss(&self) -> Option<u64> {
        nonzero(self.memory.now.load(Ordering::Relaxed))
    }

    /// Starts a new peak from the memory now.
    pub fn reset_peak(&self) {
        let now = self.memory.now.load(Ordering::Relaxed);
        self.memory.peak.store(now, Ordering::Relaxed);
    }

    /// The highest memory since [`reset_peak`](Self::reset_peak).
    pub fn peak(&self) -> Option<u64> {
        nonzero(self.memory.peak.load(Ordering::Relaxed))
    }

    /// The highest memory since the start.
    pub fn overall_peak(&self) -> Option<u64> {
        nonzero(self.memory.overall.load(Ordering::Relaxed))
    }

    /// The end of what the server printed, as a note for an error.
    pub fn output_note(&self) -> String {
        let tail = self.output_tail(1500);
        match tail.trim().is_empty() {
            true => String::new(),
            false => format!("; its output ends:\n{}", tail.trim_end()),
        }
    }

    /// The last `max` bytes the server printed.
    pub fn output_tail(&self, max: u64) -> String {
        let mut file = match self.output.try_clone() {
            Ok(f) => f,
            Err(_) => return String::new(),
        };
        let len = file.seek(SeekFrom::End(0)).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(max)));
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Stops the server: SIGTERM to its group, SIGKILL after 2 s.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        os::signal_group(self.pgid, false);
        let until = Instant::now() + Duration::from_secs(2);
        while self.exited().is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        os::signal_group(self.pgid, true);
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
        super::cleanup::server_stopped(self.pgid);
        self.memory.stop.store(true, Ordering::Relaxed);
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if self.sampler.is_some() {
            self.halt();
        }
    }
}

fn nonzero(v: u64) -> Option<u64> {
    (v > 0).then_some(v)
}

fn sample(pgid: u32, memory: &Memory) {
    while !memory.stop.load(Ordering::Relaxed) {
        if let Some(rss) = os::group_rss(pgid) {
            memory.now.store(rss, Ordering::Relaxed);
            memory.peak.fetch_max(rss, Ordering::Relaxed);
            memory.overall.fetch_max(rss, Ordering::Relaxed);
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
}
