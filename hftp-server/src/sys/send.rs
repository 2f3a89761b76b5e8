//! Sending a range of a file straight to a socket (`sendfile`, no copy
//! through user space) from an event loop, only when that cannot wait for
//! the file system: the file is on a local file system and the whole
//! range is in the page cache (`cachestat`, Linux 6.5). Elsewhere, or
//! when the kernel cannot say, nothing is sent and the caller reads the
//! bytes (from the page cache, or on a thread that may wait) and writes
//! them.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;

/// Sends up to `len` bytes of `file` from `offset` to `socket` if that
/// cannot wait for the file system; `Ok(None)` when it could (or the OS
/// cannot say): then nothing was sent. `Ok(Some(0))`: the file ends at
/// `offset`. `WouldBlock`: the socket is full.
#[cfg(all(target_os = "linux", not(hftp_portable)))]
pub fn send_cached(
    socket: &impl AsFd,
    file: &File,
    offset: u64,
    len: usize,
) -> io::Result<Option<usize>> {
    if len == 0 || !super::confine::is_local(file.as_fd()) || !linux::all_cached(file, offset, len)
    {
        return Ok(None);
    }
    let mut at = offset;
    loop {
        match rustix::fs::sendfile(socket, file, Some(&mut at), len) {
            Ok(n) => return Ok(Some(n)),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sends a range of a file to a socket if that cannot wait for the file
/// system; here the OS cannot say, so never (`Ok(None)`).
#[cfg(not(all(target_os = "linux", not(hftp_portable))))]
pub fn send_cached(
    _socket: &impl AsFd,
    _file: &File,
    _offset: u64,
    _len: usize,
) -> io::Result<Option<usize>> {
    Ok(None)
}

#[cfg(all(target_os = "linux", not(hftp_portable)))]
mod linux {
    use std::fs::File;
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// `cachestat`'s number, the same on every Linux architecture (the
    /// unified table; not in every `libc` release yet).
    const SYS_CACHESTAT: libc::c_long = 451;

    /// Set once the kernel turned out not to have `cachestat` (< 6.5).
    static NO_CACHESTAT: AtomicBool = AtomicBool::new(false);

    /// `struct cachestat_range` of `<linux/mman.h>`.
    #[repr(C)]
    struct CachestatRange {
        off: u64,
        len: u64,
    }

    /// `struct cachestat` of `<linux/mman.h>`.
    #[repr(C)]
    #[derive(Default)]
    struct Cachestat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }

    /// Whether every page of `[offset, offset + len)` of `file` (clipped to
    /// the file) is in the page cache and none is under writeback.
    pub(super) fn all_cached(file: &File, offset: u64, len: usize) -> bool {
        if NO_CACHESTAT.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(meta) = file.metadata() else {
            return false;
        };
        let end = offset.saturating_add(len as u64).min(meta.len());
        if end <= offset {
            // Nothing there: the send will say where the file ends.
            return true;
        }
        let page = rustix::param::page_size() as u64;
        let first = offset / page;
        let pages = end.div_ceil(page) - first;
        let range = CachestatRange {
            off: first * page,
            len: pages * page,
        };
        let mut stat = Cachestat::default();
        // SAFETY: cachestat(2) reads one `struct cachestat_range` and writes
        // one `struct cachestat` (both `#[repr(C)]` with the kernel's
        // layout: five and two `__u64`), through pointers to live locals
        // that outlive the call; `flags` must be 0; the descriptor is
        // borrowed from `file`, open for the call.
        let rc = unsafe {
            libc::syscall(
                SYS_CACHESTAT,
                file.as_raw_fd(),
                &range as *const CachestatRange,
                &mut stat as *mut Cachestat,
                0u32,
            )
        };
        if rc != 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                NO_CACHESTAT.store(true, Ordering::Relaxed);
            }
            return false;
        }
        stat.nr_cache >= pages && stat.nr_writeback == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_cached_range_is_sent_whole_and_the_end_of_the_file_is_zero() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        let file = File::open(&path).unwrap();
        let local = super::super::confine::is_local(file.as_fd());
        match send_cached(&server, &file, 10, 50_000).unwrap() {
            Some(n) => {
                assert!(n > 0 && n <= 50_000);
                let mut got = vec![0; n];
                client.read_exact(&mut got).unwrap();
                assert_eq!(got, data[10..10 + n]);
                assert_eq!(send_cached(&server, &file, 100_000, 10).unwrap(), Some(0));
            }
            None => assert!(
                !local || cfg!(not(all(target_os = "linux", not(hftp_portable)))),
                "a file just written on a local file system is in the page cache"
            ),
        }
    }

    #[cfg(all(target_os = "linux", not(hftp_portable)))]
    #[test]
    fn a_range_not_in_the_page_cache_is_not_sent() {
        // A sparse file's holes were never read: no pages cached.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(64 << 20).unwrap();
        drop(file);
        let file = File::open(&path).unwrap();
        if !super::super::confine::is_local(file.as_fd()) {
            eprintln!("skipped: not a local file system");
            return;
        }
        assert!(!linux::all_cached(&file, 32 << 20, 1 << 20));
        let mut buf = vec![0; 1 << 20];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut buf, 32 << 20).unwrap();
        assert!(
            linux::all_cached(&file, 32 << 20, 1 << 20),
            "read: cached now"
        );
    }
}
