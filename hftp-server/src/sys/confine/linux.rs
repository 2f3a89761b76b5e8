//! The Linux lookup: the kernel resolves the name beneath the handle
//! (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`) into an
//! `O_PATH` descriptor, `fstat` says what it is, and only a regular file
//! is opened again for reading, through `/proc/self/fd`, without
//! resolving the name a second time.
//!
//! `RESOLVE_BENEATH` refuses (`EXDEV`) an absolute symlink and any `..`
//! that would leave the directory, and allows a `..` that stays beneath;
//! `O_PATH` runs no driver's open, so a FIFO or device is only looked
//! at. Kernels without `openat2` (`ENOSYS`, Linux < 5.6) switch the whole
//! process to the portable walk (`walk.rs`), once.

use std::fs::File;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use rustix::fs::{
    fstat, fstatfs, openat, openat2, FileType, Mode, OFlags, ResolveFlags, CWD, PROC_SUPER_MAGIC,
};
use rustix::io::{Errno, ReadWriteFlags};
use rustix::path::DecInt;
use rustix::process::{getpid, Pid};

use super::{checked, found, lookup_error, retry, walk, Found, Lookup};

/// Set once `openat2` turned out to be missing (`ENOSYS`): from then on
/// every lookup takes the portable walk.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// How every name is resolved beneath the directory.
const BENEATH: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

/// How a found file is opened for reading.
const READ: OFlags = OFlags::RDONLY
    .union(OFlags::NOCTTY)
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC);

/// `openat2` fails with `EAGAIN` when a rename or mount anywhere raced a
/// `..` in the path (it cannot then prove that `..` stayed beneath): it is
/// tried this many more times, then the walk decides.
const AGAIN_RETRIES: u32 = 4;

/// Linux [`super::open_root`].
pub(super) fn open_root(path: &Path) -> io::Result<OwnedFd> {
    if NO_OPENAT2.load(Ordering::Relaxed) {
        return walk::open_root(path);
    }
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    match retry(|| openat2(CWD, path, flags, Mode::empty(), ResolveFlags::NO_SYMLINKS)) {
        Ok(fd) => Ok(fd),
        Err(Errno::NOSYS) => {
            NO_OPENAT2.store(true, Ordering::Relaxed);
            walk::open_root(path)
        }
        Err(e) => Err(e.into()),
    }
}

/// `openat2(dir, name, flags, BENEATH)`; `Ok(None)`: the walk is to
/// decide instead (no `openat2`, or `EAGAIN` again and again).
fn open_beneath_with(
    dir: BorrowedFd<'_>,
    name: &str,
    flags: OFlags,
) -> Result<Option<OwnedFd>, Lookup> {
    if NO_OPENAT2.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let mut retries = 0;
    loop {
        match openat2(dir, name, flags, Mode::empty(), BENEATH) {
            Ok(fd) => return Ok(Some(fd)),
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) if retries < AGAIN_RETRIES => retries += 1,
            Err(Errno::AGAIN) => return Ok(None),
            Err(Errno::NOSYS) => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
                return Ok(None);
            }
            Err(e) => return Err(lookup_error(e)),
        }
    }
}

/// The `O_PATH` descriptor of what `name` leads to, and what it is if it
/// is a regular file; `Ok(None)`: the walk is to decide.
fn find(dir: BorrowedFd<'_>, name: &str) -> Result<Option<(OwnedFd, Found)>, Lookup> {
    let Some(fd) = open_beneath_with(dir, name, OFlags::PATH | OFlags::CLOEXEC)? else {
        return Ok(None);
    };
    let stat = retry(|| fstat(&fd)).map_err(lookup_error)?;
    let found = found(&stat).ok_or(Lookup::NotFound)?;
    Ok(Some((fd, found)))
}

/// Linux [`super::stat_beneath`]: `openat2(O_PATH)`, `fstat`.
pub(super) fn stat_beneath(dir: BorrowedFd<'_>, name: &str) -> Result<Found, Lookup> {
    match find(dir, name)? {
        Some((_, found)) => Ok(found),
        None => walk::stat_beneath(dir, name),
    }
}

/// Linux [`super::open_beneath`]: `openat2(O_PATH)`, `fstat`, and only
/// for a regular file, the same inode opened again for reading through
/// `/proc/self/fd/N` (not by name), `fstat` again (same device and inode,
/// still regular; its size is the answer).
pub(super) fn open_beneath(dir: BorrowedFd<'_>, name: &str) -> Result<(File, u64), Lookup> {
    let Some((path, found)) = find(dir, name)? else {
        return walk::open_beneath(dir, name);
    };
    match reopen(&path)? {
        Some(file) => checked(file, &found),
        None => reopen_by_name(dir, name, &found),
    }
}

/// Opens the inode of the `O_PATH` descriptor `path` for reading, through
/// `/proc/self/fd`; `Ok(None)` where that cannot be used (no usable
/// procfs). `EACCES` (no read permission) is `Lookup::Io`.
fn reopen(path: &OwnedFd) -> Result<Option<OwnedFd>, Lookup> {
    let name = DecInt::from_fd(path);
    let open = |proc: BorrowedFd<'_>| retry(|| openat(proc, name.as_c_str(), READ, Mode::empty()));
    let opened = match PROC_SELF_FD.get_or_init(ProcSelfFd::open) {
        None => return Ok(None),
        Some(cached) if cached.pid == getpid() => open(cached.fd.as_fd()),
        // A child forked after the handle was opened: the cached one is
        // its parent's descriptors.
        Some(_) => match ProcSelfFd::open() {
            Some(fresh) => open(fresh.fd.as_fd()),
            None => return Ok(None),
        },
    };
    match opened {
        Ok(fd) => Ok(Some(fd)),
        // The entry is not there or not a link: procfs is not usable.
        Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::XDEV) => Ok(None),
        Err(e) => Err(lookup_error(e)),
    }
}

/// The fallback where `/proc` cannot be used: the name is resolved once
/// more, now to open it for reading, with `openat2(dir, name, O_RDONLY |
/// O_NOCTTY | O_NONBLOCK | O_CLOEXEC, RESOLVE_BENEATH |
/// RESOLVE_NO_MAGICLINKS)`, and the result must be the same regular file
/// (device, inode) as `expected`, else not published.
///
/// The window: between the `O_PATH` lookup and this one, someone who can
/// write the directory may swap the name for a FIFO or a device (inside:
/// the resolution is still beneath); it is then opened — without waiting
/// (`O_NONBLOCK`) and not as a controlling terminal (`O_NOCTTY`), but a
/// writer blocked on the FIFO is released — before the identity check
/// rejects and closes it. Nothing of it is read or served.
pub(super) fn reopen_by_name(
    dir: BorrowedFd<'_>,
    name: &str,
    expected: &Found,
) -> Result<(File, u64), Lookup> {
    match open_beneath_with(dir, name, READ)? {
        Some(file) => checked(file, expected),
        None => walk::open_beneath(dir, name),
    }
}

/// Linux's procfs has inode 1 at its root.
const PROC_ROOT_INO: u64 = 1;

/// This process's checked `/proc/self/fd`, opened on first use; `None`
/// when there is no usable procfs (then [`reopen_by_name`] is used).
static PROC_SELF_FD: OnceLock<Option<ProcSelfFd>> = OnceLock::new();

/// A handle on `/proc/<pid>/fd`, checked to be the real one, and the
/// process it was opened in.
struct ProcSelfFd {
    pid: Pid,
    fd: OwnedFd,
}

impl ProcSelfFd {
    /// Opens `/proc/self/fd` and checks it (what rustix's `procfs` module
    /// did before rustix 1.0 moved it out): `/proc` reached without a
    /// symlink, a procfs at its root inode; `self/fd` beneath it without a
    /// magic link or a mount crossed (so nothing is mounted over it), a
    /// directory on the same procfs.
    fn open() -> Option<Self> {
        let pid = getpid();
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let proc = openat2(
            CWD,
            "/proc",
            flags,
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .ok()?;
        let proc_stat = fstat(&proc).ok()?;
        if !is_procfs(proc.as_fd()) || proc_stat.st_ino != PROC_ROOT_INO {
            return None;
        }
        let fd = openat2(
            &proc,
            "self/fd",
            flags,
            Mode::empty(),
            BENEATH | ResolveFlags::NO_XDEV,
        )
        .ok()?;
        let stat = fstat(&fd).ok()?;
        let good = is_procfs(fd.as_fd())
            && stat.st_dev == proc_stat.st_dev
            && stat.st_ino != PROC_ROOT_INO
            && FileType::from_raw_mode(stat.st_mode) == FileType::Directory;
        good.then_some(ProcSelfFd { pid, fd })
    }
}

fn is_procfs(fd: BorrowedFd<'_>) -> bool {
    fstatfs(fd).is_ok_and(|s| s.f_type == PROC_SUPER_MAGIC)
}

/// Whether `/proc/self/fd` can be used for reopening (for tests).
#[cfg(test)]
pub(super) fn proc_self_fd_usable() -> bool {
    PROC_SELF_FD.get_or_init(ProcSelfFd::open).is_some()
}

/// Whether a fresh `/proc/self/fd` handle opens and passes the checks now
/// (for tests).
#[cfg(test)]
pub(super) fn proc_self_fd_opens() -> bool {
    ProcSelfFd::open().is_some()
}

/// Linux [`super::read_nowait`]: `preadv2(…, RWF_NOWAIT)`.
pub(super) fn read_nowait(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    if offset == u64::MAX {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    loop {
        let bufs = &mut [IoSliceMut::new(buf)];
        match rustix::io::preadv2(file, bufs, offset, ReadWriteFlags::NOWAIT) {
            Ok(n) => return Ok(n),
            Err(Errno::INTR) => {}
            // Not in the page cache (or a lease to wait for).
            Err(Errno::AGAIN) => return Err(Errno::AGAIN.into()),
            // The file system (EOPNOTSUPP) or the kernel (ENOSYS: no
            // preadv2) cannot read without waiting.
            Err(Errno::OPNOTSUPP | Errno::NOSYS) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "reads that never wait are not supported here",
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// File systems whose lookups and `fstat`s of cached entries never wait
/// for a device or a network: ext2/3/4, XFS, Btrfs, F2FS, tmpfs, ramfs,
/// overlayfs (over local layers, as containers use it), ZFS.
const LOCAL_FILE_SYSTEMS: [i64; 8] = [
    0xEF53,
    0x5846_5342,
    0x9123_683E,
    0xF2F5_2010,
    0x0102_1994,
    0x8584_58F6,
    0x794C_7630,
    0x2FC1_2FC1,
];

/// Linux [`super::is_local`]: `fstatfs` of the directory.
pub(super) fn is_local(dir: BorrowedFd<'_>) -> bool {
    #[allow(clippy::unnecessary_cast)]
    fstatfs(dir).is_ok_and(|fs| LOCAL_FILE_SYSTEMS.contains(&(fs.f_type as i64)))
}

/// How a name is resolved from the caches only: beneath, not crossing a
/// mount (another file system might be a network one), and only through
/// entries the kernel has in its lookup cache (`EAGAIN` otherwise).
const CACHED: ResolveFlags = BENEATH
    .union(ResolveFlags::NO_XDEV)
    .union(ResolveFlags::CACHED);

/// The `O_PATH` lookup of [`find`], from the caches only; `None` when the
/// caches cannot say (not cached, a mount crossed — `EXDEV`, which is
/// also what leaving the directory gives: the full lookup decides —, a
/// kernel without `RESOLVE_CACHED`).
fn find_cached(dir: BorrowedFd<'_>, name: &str) -> Option<Result<(OwnedFd, Found), Lookup>> {
    if NO_OPENAT2.load(Ordering::Relaxed) {
        return None;
    }
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    match openat2(dir, name, flags, Mode::empty(), CACHED) {
        Ok(fd) => Some(match fstat(&fd) {
            Ok(stat) => found(&stat).map(|f| (fd, f)).ok_or(Lookup::NotFound),
            Err(e) => Err(lookup_error(e)),
        }),
        Err(Errno::AGAIN | Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::INTR) => None,
        Err(e) => Some(Err(lookup_error(e))),
    }
}

/// Linux [`super::stat_cached`].
pub(super) fn stat_cached(dir: BorrowedFd<'_>, name: &str) -> Option<Result<Found, Lookup>> {
    Some(find_cached(dir, name)?.map(|(_, found)| found))
}

/// Linux [`super::open_cached`]: the reopen through `/proc/self/fd` never
/// waits (procfs is in memory, and the inode is cached); without a usable
/// procfs, `None`.
pub(super) fn open_cached(dir: BorrowedFd<'_>, name: &str) -> Option<Result<(File, u64), Lookup>> {
    let (path, found) = match find_cached(dir, name)? {
        Ok(found) => found,
        Err(e) => return Some(Err(e)),
    };
    match reopen(&path) {
        Ok(Some(file)) => Some(checked(file, &found)),
        Ok(None) => None,
        Err(e) => Some(Err(e)),
    }
}
