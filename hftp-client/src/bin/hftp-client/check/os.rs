//! The operating-system calls the checker makes, in one place: resident
//! memory of a process group (Linux `/proc`; elsewhere `ps`), signalling
//! a process group, an abortive close (`SO_LINGER` 0), the open-files
//! limit, symlinks and FIFOs. Unix only; on other systems the cases that
//! need them are skipped.

use std::io;
use std::net::TcpStream;
use std::path::Path;

/// Resident memory of every process in group `pgid`, in bytes.
pub fn group_rss(pgid: u32) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let page = rustix::param::page_size() as u64;
        let mut total = 0;
        let mut found = false;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Fields after the command name (in parentheses): state, ppid, pgrp.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            if rest.split_ascii_whitespace().nth(2) != Some(&pgid.to_string()) {
                continue;
            }
            let Ok(statm) = std::fs::read_to_string(format!("/proc/{pid}/statm")) else {
                continue;
            };
            if let Some(pages) = statm
                .split_ascii_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
            {
                total += pages * page;
                found = true;
            }
        }
        found.then_some(total)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let out = std::process::Command::new("ps")
            .args(["-A", "-o", "pgid=,rss="])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut total = None;
        for line in text.lines() {
            let mut fields = line.split_ascii_whitespace();
            let (Some(g), Some(kib)) = (fields.next(), fields.next()) else {
                continue;
            };
            if g.parse::<u32>().ok() == Some(pgid) {
                *total.get_or_insert(0) += kib.parse::<u64>().unwrap_or(0) * 1024;
            }
        }
        total
    }
}

/// Sends SIGTERM (`kill` false) or SIGKILL to process group `pgid`.
pub fn signal_group(pgid: u32, kill: bool) {
    #[cfg(unix)]
    {
        use rustix::process::{kill_process_group, Pid, Signal};
        let signal = if kill { Signal::KILL } else { Signal::TERM };
        if let Some(pid) = Pid::from_raw(pgid as i32) {
            let _ = kill_process_group(pid, signal);
        }
    }
    #[cfg(not(unix))]
    let _ = (pgid, kill);
}

/// Makes closing `stream` send a reset (RST) instead of a FIN.
pub fn reset_on_close(stream: &TcpStream) -> io::Result<()> {
    #[cfg(unix)]
    {
        rustix::net::sockopt::set_socket_linger(stream, Some(std::time::Duration::ZERO))?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = stream;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "SO_LINGER is not set on this system",
        ))
    }
}

/// Raises the soft open-files limit to the hard one (best effort): the
/// concurrency cases open a thousand connections.
pub fn raise_open_files_limit() {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current < limit.maximum {
            let _ = setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: limit.maximum,
                    maximum: limit.maximum,
                },
            );
        }
    }
}

/// A symlink at `link` pointing to `target`.
pub fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    #[cfg(unix)]
    return std::os::unix::fs::symlink(target, link);
    #[cfg(not(unix))]
    {
        let _ = (target, link);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "symlinks are made on Unix only",
        ))
    }
}

/// A FIFO (named pipe) at `path`.
pub fn fifo(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "FIFOs are made on Unix only",
        ))
    }
}
