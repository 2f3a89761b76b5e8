//! Every OS-specific call of the server, each with a portable fallback:
//! sending a file range to a socket, how much of what was written the
//! peer has not acknowledged, resetting a connection, and the CPU-time
//! figures the placement measures.
//!
//! The Linux fast paths are used on Linux unless the crate is built with
//! `--cfg hftp_portable`, which takes the fallbacks there too so that
//! they are tested.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

/// Sends up to `len` bytes of `file` from `offset` to `socket`; returns
/// how many it took (`Ok(0)`: the file ended first). `WouldBlock` when the
/// socket is full. Linux: `sendfile`, no copy through user space.
#[cfg(all(target_os = "linux", not(hftp_portable)))]
pub fn send_file(
    socket: &impl AsFd,
    file: &File,
    offset: u64,
    len: usize,
    _scratch: &mut [u8],
) -> io::Result<usize> {
    let mut at = offset;
    loop {
        match rustix::fs::sendfile(socket, file, Some(&mut at), len) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sends up to `len` bytes of `file` from `offset` to `socket`; returns
/// how many it took (`Ok(0)`: the file ended first). `WouldBlock` when the
/// socket is full. Portable: a positional read into `scratch`, then a
/// write; bytes the socket did not take are read again next time.
#[cfg(not(all(target_os = "linux", not(hftp_portable))))]
pub fn send_file(
    socket: &impl AsFd,
    file: &File,
    offset: u64,
    len: usize,
    scratch: &mut [u8],
) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let want = len.min(scratch.len());
    let n = loop {
        match file.read_at(&mut scratch[..want], offset) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => break other?,
        }
    };
    if n == 0 {
        return Ok(0);
    }
    let socket = socket2::SockRef::from(socket);
    loop {
        match socket.send(&scratch[..n]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Bytes written to `socket` that the peer has not acknowledged yet, or
/// `None` where the OS cannot tell. Linux: `SIOCOUTQ` (`TIOCOUTQ`).
#[cfg(all(target_os = "linux", not(hftp_portable)))]
pub fn unacked(socket: &impl AsFd) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) on a socket writes one c_int through the
    // pointer, which points to a live, properly aligned c_int; the
    // descriptor is borrowed, so it stays open for the call.
    let rc = unsafe {
        libc::ioctl(
            socket.as_fd().as_raw_fd(),
            libc::TIOCOUTQ,
            &mut queued as *mut libc::c_int,
        )
    };
    (rc == 0).then(|| queued.max(0) as u64)
}

/// Bytes written to `socket` that the peer has not acknowledged yet, or
/// `None` where the OS cannot tell (here: always).
#[cfg(not(all(target_os = "linux", not(hftp_portable))))]
pub fn unacked(_socket: &impl AsFd) -> Option<u64> {
    None
}

/// Makes the next close of `socket` a reset (`SO_LINGER` 0): queued bytes
/// are dropped and the peer learns at once.
pub fn set_abortive_close(socket: &impl AsFd) {
    let _ = socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO));
}

/// The CPU time this thread has used.
pub fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The machine's idle and total CPU time so far, in clock ticks summed
/// over all cores, from the first line of `/proc/stat`; `None` elsewhere.
pub fn machine_cpu() -> Option<(u64, u64)> {
    if cfg!(not(all(target_os = "linux", not(hftp_portable)))) {
        return None;
    }
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .map(|n| n.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is
    // already in user and nice).
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
    let total = ticks.iter().take(8).sum();
    Some((idle, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (server, client)
    }

    #[test]
    fn unacked_is_zero_once_the_peer_has_everything_and_grows_while_it_cannot_take_more() {
        let (server, mut client) = pair();
        let Some(first) = unacked(&server) else {
            eprintln!("skipped: this OS does not report unacknowledged bytes");
            return;
        };
        assert_eq!(first, 0);
        (&server).write_all(b"hello").unwrap();
        let mut buf = [0; 5];
        client.read_exact(&mut buf).unwrap();
        // Acknowledged by now or very soon (loopback).
        let begun = std::time::Instant::now();
        while unacked(&server) != Some(0) {
            assert!(begun.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(1));
        }
        // A peer that reads nothing: its window fills, the rest waits.
        server.set_nonblocking(true).unwrap();
        let mut written = 0u64;
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match (&server).write(&chunk) {
                Ok(n) => written += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let queued = unacked(&server).unwrap();
        assert!(queued > 0 && queued <= written, "{queued} of {written}");
    }

    #[test]
    fn send_file_sends_the_range_and_reports_the_end_of_the_file() {
        let (server, mut client) = pair();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"0123456789").unwrap();
        let mut scratch = vec![0; 64];
        assert_eq!(send_file(&server, &file, 3, 4, &mut scratch).unwrap(), 4);
        let mut buf = [0; 4];
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"3456");
        assert_eq!(send_file(&server, &file, 10, 4, &mut scratch).unwrap(), 0);
    }

    #[test]
    fn abortive_close_resets_the_peer() {
        let (server, mut client) = pair();
        (&server).write_all(b"x").unwrap();
        set_abortive_close(&server);
        drop(server);
        let mut buf = [0; 16];
        // The byte may or may not arrive first; then the reset.
        let mut reset = false;
        for _ in 0..2 {
            match client.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
                    reset = true;
                    break;
                }
            }
        }
        assert!(reset, "a graceful close instead of a reset");
    }
}
