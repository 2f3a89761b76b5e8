//! The server's one confined lookup: every name a client asks for is
//! resolved beneath a held handle on the served directory, never by path,
//! and nothing outside that directory is ever sized, opened, read or
//! listed.
//!
//! # What is published
//!
//! A name (always one valid component: no `/`, not `.` or `..`, no NUL,
//! 1–255 bytes; the caller checks) is published when it resolves,
//! beneath the directory, to a regular file:
//!
//! - Symlinks are followed only while they stay beneath the directory: a
//!   relative link to another name (`l -> a.txt`), into a sub-directory
//!   (`l -> sub/f`), through a `..` that stays beneath (`l -> sub/../a`),
//!   and chains of such, are followed. An absolute link (even to a file
//!   inside), or one whose resolution would go above the directory at any
//!   point, is not published. Magic links (`/proc/…/fd/…`) are never
//!   followed. At most 40 links are followed for one name (as Linux does).
//! - Whatever is not a regular file — a directory, a FIFO, a socket, a
//!   character or block device, a dangling link — is not published,
//!   whatever its permissions; neither is an outside target, whatever is
//!   there: the outside is never looked at, so `EACCES` and `ENOENT` out
//!   there cannot be told apart.
//! - The type is checked before anything that could block or change
//!   state: a FIFO or a device is never opened for reading (opening a FIFO
//!   releases a writer blocked on it; opening a tty could make it our
//!   controlling terminal).
//! - The size needs no read permission: a mode-000 regular file has a
//!   size ([`stat_beneath`]); reading it ([`open_beneath`]) then fails
//!   with [`Lookup::Io`] (`EACCES`).
//!
//! Not published is [`Lookup::NotFound`]; any other failure (`EACCES`
//! while resolving, e.g. a link into a directory without search
//! permission; `EMFILE`, `ENFILE`, `ENOMEM`, …) is [`Lookup::Io`] with the
//! error kept, so that the caller can tell `EMFILE` and retry.
//!
//! # Two paths
//!
//! - **Linux** (unless built with `--cfg hftp_portable`): one
//!   `openat2(dir, name, O_PATH, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`
//!   does the whole resolution in the kernel, then `fstat` on that
//!   `O_PATH` descriptor says what it is: opening with `O_PATH` runs no
//!   driver's open, so a FIFO or device is only looked at. To read, the
//!   same inode is opened again through a checked `/proc/self/fd` handle,
//!   without resolving the name again. A kernel without `openat2`
//!   (`ENOSYS`, Linux < 5.6) switches the process to the portable walk at
//!   run time. See `linux.rs`.
//! - **Portable** (macOS, FreeBSD, other Unix; Linux with
//!   `--cfg hftp_portable`): no `openat2`, no `O_PATH`, no `/proc`. A walk
//!   one component at a time beneath the handle, with `fstatat(…,
//!   AT_SYMLINK_NOFOLLOW)` before anything is opened, symlinks read and
//!   spliced by hand, `..` popping a stack of directories the walk opened
//!   itself (and refused at the top). See `walk.rs`.
//!
//! [`read_names`] lists the directory, [`dir_stamp`] tells when it
//! changed, [`open_root`] opens it, and [`read_nowait`] reads a file only
//! from the page cache.

#![forbid(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

#[cfg(all(target_os = "linux", not(hftp_portable)))]
mod linux;
mod walk;

#[cfg(test)]
mod tests;

/// Why a name is not served: [`Lookup::NotFound`] (not published), or
/// [`Lookup::Io`] with the error kept (`EACCES` while resolving or
/// opening, `EMFILE`/`ENFILE`/`ENOMEM`, worth a retry; `EWOULDBLOCK` when
/// another process holds a write lease, since files are opened
/// `O_NONBLOCK`).
pub use crate::files::Lookup;

/// A published file: its size, and its identity (device, inode) to tell
/// it from another file later given the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Found {
    /// Size in bytes.
    pub size: u64,
    /// The device holding it (`st_dev`).
    pub dev: u64,
    /// Its inode number (`st_ino`).
    pub ino: u64,
}

/// What a directory entry is, as its listing tells (links not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A regular file: published.
    Regular,
    /// A symlink: published only if [`stat_beneath`] says so.
    Symlink,
    /// Anything else (directory, FIFO, socket, device): not published.
    Other,
}

/// What a directory looks like at one moment, to tell that it changed:
/// device, inode, link count, modification and status-change times.
///
/// The times have the file system's granularity; a change within the same
/// clock tick as the previous one may leave the stamp as it was on file
/// systems with coarse timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    nlink: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// Opens the served directory at `path` (absolute and canonical) as the
/// handle that every lookup is made beneath.
///
/// Linux: `openat2(AT_FDCWD, path, O_PATH | O_DIRECTORY | O_CLOEXEC,
/// RESOLVE_NO_SYMLINKS)`, so no component of the path may be a symlink
/// (`ELOOP`); the handle is `O_PATH`. Portable (and Linux without
/// `openat2`): `open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
/// O_CLOEXEC)`, which checks only the last component: a parent directory
/// swapped for a symlink is followed there.
///
/// A symlink refused is `ELOOP` (Linux), or from the portable open
/// `ENOTDIR` (Linux), `ELOOP` (macOS) or `EMLINK` (FreeBSD).
pub fn open_root(path: &Path) -> io::Result<OwnedFd> {
    #[cfg(all(target_os = "linux", not(hftp_portable)))]
    {
        linux::open_root(path)
    }
    #[cfg(not(all(target_os = "linux", not(hftp_portable))))]
    {
        walk::open_root(path)
    }
}

/// The size and identity of the file published as `name` beneath `dir`.
///
/// Needs no read permission on the file and never opens it for reading
/// (a FIFO or a device found there is not opened at all).
pub fn stat_beneath(dir: BorrowedFd<'_>, name: &str) -> Result<Found, Lookup> {
    #[cfg(all(target_os = "linux", not(hftp_portable)))]
    {
        linux::stat_beneath(dir, name)
    }
    #[cfg(not(all(target_os = "linux", not(hftp_portable))))]
    {
        walk::stat_beneath(dir, name)
    }
}

/// Opens the file published as `name` beneath `dir` for reading
/// (`O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC`), with its size from an
/// `fstat` of the opened file.
///
/// The type is known before the file is opened, so no FIFO or device is
/// ever opened. A regular file without read permission is
/// `Lookup::Io(EACCES)` (while [`stat_beneath`] still gives its size).
pub fn open_beneath(dir: BorrowedFd<'_>, name: &str) -> Result<(File, u64), Lookup> {
    #[cfg(all(target_os = "linux", not(hftp_portable)))]
    {
        linux::open_beneath(dir, name)
    }
    #[cfg(not(all(target_os = "linux", not(hftp_portable))))]
    {
        walk::open_beneath(dir, name)
    }
}

/// Whether lookups beneath `dir` may be tried from the kernel's caches
/// on a thread that must never wait ([`stat_cached`], [`open_cached`]):
/// its file system is a local one (Linux: ext4, XFS, Btrfs, tmpfs, …; a
/// network or FUSE file system could make even a cached lookup wait for
/// its server). Portable: never.
pub fn is_local(dir: BorrowedFd<'_>) -> bool {
    #[cfg(all(target_os = "linux", not(hftp_portable)))]
    {
        linux::is_local(dir)
    }
    #[cfg(not(all(target_os = "linux", not(hftp_portable))))]
    {
        let _ = dir;
        false
    }
}

/// [`stat_beneath`] answered from the kernel's caches only, never waiting
/// for a device or a network (Linux: `openat2` with `RESOLVE_CACHED |
/// RESOLVE_NO_XDEV` added), for a directory [`is_local`] says is local.
/// `None` when the caches cannot say: then [`stat_beneath`], where
/// waiting is fine. Portable: always `None`.
pub fn stat_cached(dir: BorrowedFd<'_>, name: &str) -> Option<Result<Found, Lookup>> {
    #[cfg(all(target_os = "linux", not(hftp_portable)))]
    {
        linux::stat_cached(dir, name)
    }
    #[cfg(not(all(target_os = "linux", not(hftp_portable))))]
    {
        let _ = (dir, name);
        None
    }
}

/// [`open_beneath`] from the kernel's caches only, as [`stat_cached`].
pub fn open_cached(dir: BorrowedFd<'_>, name: &str) -> Option<Result<(File, u64), Lookup>> {
    #[cfg(all(target_os = "linux", not(hftp_portable)))]
    {
        linux::open_cached(dir, name)
    }
    #[cfg(not(all(target_os = "linux", not(hftp_portable))))]
    {
        let _ = (dir, name);
        None
    }
}

/// Lists the directory `dir` (which may be an `O_PATH` handle): each
/// entry's name, as raw bytes (the caller decides which names are
/// valid), and what it is, without following links. `.` and `..` are
/// left out.
///
/// The directory is opened again for reading from the handle (`openat(dir,
/// ".", O_RDONLY | O_DIRECTORY)`); where the listing does not tell an
/// entry's type (`DT_UNKNOWN`), one `fstatat(…, AT_SYMLINK_NOFOLLOW)` does
/// (an entry gone meanwhile is left out). The caller decides each
/// [`Kind::Symlink`] with [`stat_beneath`].
pub fn read_names(dir: BorrowedFd<'_>) -> io::Result<Vec<(Vec<u8>, Kind)>> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = retry(|| rustix::fs::openat(dir, ".", flags, Mode::empty()))?;
    let mut entries = Dir::new(fd)?;
    let mut names = Vec::new();
    while let Some(entry) = entries.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let kind = match entry.file_type() {
            FileType::Unknown => {
                match retry(|| rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)) {
                    Ok(stat) => kind_of(FileType::from_raw_mode(stat.st_mode)),
                    Err(Errno::NOENT) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            other => kind_of(other),
        };
        names.push((name.to_vec(), kind));
    }
    Ok(names)
}

fn kind_of(file_type: FileType) -> Kind {
    match file_type {
        FileType::RegularFile => Kind::Regular,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    }
}

impl Stamp {
    /// The directory's (device, inode).
    pub fn id(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    /// Whether the directory was deleted (no links left).
    pub fn deleted(&self) -> bool {
        self.nlink == 0
    }

    /// Whether the directory was modified (or its status changed) less
    /// than `tick` before `now` by the wall clock, or after it: a change
    /// within the same timestamp tick could leave the stamp as it is.
    pub fn modified_within(&self, tick: std::time::Duration, now: std::time::SystemTime) -> bool {
        let latest = self.mtime.max(self.ctime);
        let Ok(secs) = u64::try_from(latest.0) else {
            return false;
        };
        let at = std::time::UNIX_EPOCH
            + std::time::Duration::new(secs, u32::try_from(latest.1).unwrap_or(0));
        match now.duration_since(at) {
            Ok(ago) => ago < tick,
            Err(_) => true,
        }
    }
}

/// The [`Stamp`] of the directory `dir` now (one `fstat`).
pub fn dir_stamp(dir: BorrowedFd<'_>) -> io::Result<Stamp> {
    let stat = retry(|| rustix::fs::fstat(dir))?;
    Ok(stamp_of(&stat))
}

// The field types of `struct stat` differ between systems (e.g. `st_dev`
// is an `i32` on macOS, `st_nlink` a `u16`): the casts are needed there.
#[allow(clippy::unnecessary_cast)]
fn stamp_of(stat: &Stat) -> Stamp {
    Stamp {
        dev: stat.st_dev as u64,
        ino: stat.st_ino as u64,
        nlink: stat.st_nlink as u64,
        mtime: (stat.st_mtime as i64, stat.st_mtime_nsec as i64),
        ctime: (stat.st_ctime as i64, stat.st_ctime_nsec as i64),
    }
}

/// Reads into `buf` from `file` at `offset` only what the page cache
/// already holds, never waiting for the disk; returns how many bytes were
/// read (fewer than asked when only part is cached; 0 at the end of the
/// file). `io::ErrorKind::WouldBlock` when reading would wait, or when the
/// system or file system cannot tell: the caller then reads where waiting
/// is fine.
///
/// Linux: `preadv2(…, RWF_NOWAIT)` (`EAGAIN`, and `EOPNOTSUPP`/`ENOSYS`
/// where not supported, become `WouldBlock`). An `offset` of `u64::MAX`
/// is `InvalidInput` (`preadv2` would take it for the file position).
#[cfg(all(target_os = "linux", not(hftp_portable)))]
pub fn read_nowait(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    linux::read_nowait(file, buf, offset)
}

/// Reads into `buf` from `file` at `offset` only what the page cache
/// already holds, never waiting for the disk. Portable: the system cannot
/// tell, so always `io::ErrorKind::WouldBlock`; the caller then reads
/// where waiting is fine.
#[cfg(not(all(target_os = "linux", not(hftp_portable))))]
pub fn read_nowait(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let _ = (file, buf, offset);
    Err(io::ErrorKind::WouldBlock.into())
}

/// The most symlinks followed for one name (Linux's `MAXSYMLINKS`).
const MAX_LINKS: u32 = 40;

/// How a failed system call during a lookup is reported.
fn lookup_error(e: Errno) -> Lookup {
    match e {
        // Missing, a file where a directory was needed, too many links,
        // an escape (`RESOLVE_BENEATH`), a name too long, a directory, a
        // socket or device that cannot be opened: all just not published.
        Errno::NOENT
        | Errno::NOTDIR
        | Errno::LOOP
        | Errno::XDEV
        | Errno::NAMETOOLONG
        | Errno::ISDIR
        | Errno::NXIO
        | Errno::NODEV
        // FreeBSD's `O_NOFOLLOW` on a symlink (Linux never has it from
        // opening or looking up).
        | Errno::MLINK => Lookup::NotFound,
        // EACCES, EMFILE, ENFILE, ENOMEM and the rest: the caller sees it.
        e => Lookup::Io(e.into()),
    }
}

/// The published [`Found`] for `stat`, if it is a regular file.
#[allow(clippy::unnecessary_cast)] // see `stamp_of`
fn found(stat: &Stat) -> Option<Found> {
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return None;
    }
    Some(Found {
        size: stat.st_size as u64,
        dev: stat.st_dev as u64,
        ino: stat.st_ino as u64,
    })
}

/// `f()`, again while it fails with `EINTR`.
fn retry<T>(mut f: impl FnMut() -> rustix::io::Result<T>) -> rustix::io::Result<T> {
    loop {
        match f() {
            Err(Errno::INTR) => {}
            other => return other,
        }
    }
}

/// Checks that `file` (just opened) is still the regular file `expected`
/// that the lookup found, and returns it with its size from this `fstat`.
fn checked(file: OwnedFd, expected: &Found) -> Result<(File, u64), Lookup> {
    let stat = retry(|| rustix::fs::fstat(&file)).map_err(lookup_error)?;
    match found(&stat) {
        Some(now) if (now.dev, now.ino) == (expected.dev, expected.ino) => {
            Ok((File::from(file), now.size))
        }
        _ => Err(Lookup::NotFound),
    }
}
