//! The portable lookup: a walk one component at a time beneath the
//! handle, with no `openat2`, no `O_PATH` and no `/proc`.
//!
//! Used on every Unix but Linux, on Linux when built with
//! `--cfg hftp_portable`, and at run time on Linux kernels without
//! `openat2` (it is compiled everywhere for that). Only calls that rustix
//! has on macOS and FreeBSD too: `fstatat`, `readlinkat`, `openat`,
//! `fstat`, `open`.
//!
//! For each component, from the handle:
//! - `fstatat(cur, comp, AT_SYMLINK_NOFOLLOW)` first, so that the type is
//!   known before anything is opened;
//! - a symlink is read (`readlinkat`): an absolute target is refused, a
//!   relative one has its components spliced in front of what remains,
//!   and at most [`MAX_LINKS`] are followed for one name;
//! - `..` goes back to the directory the walk came from, by a stack of the
//!   directories it opened; at the top (the handle) it is refused: never
//!   above the directory, even to come back into it (as `RESOLVE_BENEATH`
//!   does). `.` and empty components (`a//b`) are skipped;
//! - a directory is opened (`O_RDONLY | O_DIRECTORY | O_NOFOLLOW`:
//!   opening a directory has no side effects, and `O_DIRECTORY` refuses
//!   anything else before opening it) and becomes the current one;
//! - the last component must be a regular file, per its `fstatat`.
//!
//! The stack holds one descriptor per directory entered, at most
//! [`MAX_DEPTH`] (deeper is not published), so that one lookup cannot use
//! up the process's descriptors.
//!
//! Differences from the Linux path, all on the side of publishing less:
//! a directory on the way needs read permission, not only search
//! permission (`O_RDONLY`; `EACCES` is [`Lookup::Io`]); and there is a
//! window between the `fstatat` of the file and its `openat` for reading
//! (see [`open_beneath`]).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{openat, readlinkat, statat, AtFlags, FileType, Mode, OFlags};

use super::{checked, found, lookup_error, retry, Found, Lookup, MAX_LINKS};

/// The most directories the walk enters for one name.
const MAX_DEPTH: usize = 128;

/// Where a name led: the directory holding the file (`None`: the handle
/// itself), the file's name in it, and what its `fstatat` said.
struct Leaf {
    parent: Option<OwnedFd>,
    name: Vec<u8>,
    found: Found,
}

/// Resolves `name` beneath `dir` to a regular file, following symlinks
/// while they stay beneath.
fn resolve(dir: BorrowedFd<'_>, name: &str) -> Result<Leaf, Lookup> {
    // The directories entered, the current one last (none: `dir`).
    let mut stack: Vec<OwnedFd> = Vec::new();
    // The components still to resolve, the next one last. The name is one
    // component; were there a `/` in it, it would be taken apart like a
    // link's text, so that no `fstatat` ever resolves more than one.
    let mut todo: Vec<Vec<u8>> = Vec::new();
    splice(&mut todo, name.as_bytes())?;
    let mut links = 0;
    while let Some(comp) = todo.pop() {
        let last = todo.is_empty();
        match comp.as_slice() {
            // What remains is a directory (`sub/`, `sub/.`): not a file.
            b"" | b"." if last => return Err(Lookup::NotFound),
            b"" | b"." => continue,
            b".." => {
                if stack.pop().is_none() || last {
                    // Above the directory, or a directory.
                    return Err(Lookup::NotFound);
                }
                continue;
            }
            _ => {}
        }
        let cur = stack.last().map_or(dir, |fd| fd.as_fd());
        let stat = retry(|| statat(cur, comp.as_slice(), AtFlags::SYMLINK_NOFOLLOW))
            .map_err(lookup_error)?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Symlink => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Lookup::NotFound); // ELOOP
                }
                match retry(|| readlinkat(cur, comp.as_slice(), Vec::new())) {
                    Ok(target) => splice(&mut todo, target.as_bytes())?,
                    // No longer a symlink (swapped meanwhile): look again
                    // (counted as a link, so this ends).
                    Err(rustix::io::Errno::INVAL) => todo.push(comp),
                    Err(e) => return Err(lookup_error(e)),
                }
            }
            FileType::Directory if !last && stack.len() < MAX_DEPTH => {
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let fd = retry(|| openat(cur, comp.as_slice(), flags, Mode::empty()))
                    .map_err(lookup_error)?;
                stack.push(fd);
            }
            FileType::RegularFile if last => {
                let found = found(&stat).ok_or(Lookup::NotFound)?;
                return Ok(Leaf {
                    parent: stack.pop(),
                    name: comp,
                    found,
                });
            }
            // A directory as the last component, a file followed by more
            // (`a.txt/x`: ENOTDIR), a FIFO, socket or device: not published.
            _ => return Err(Lookup::NotFound),
        }
    }
    Err(Lookup::NotFound)
}

/// Puts the components of `path` (a link's text, or the name) in front of
/// those still to resolve; an absolute or empty one is not published (an
/// absolute link, even to a file inside).
fn splice(todo: &mut Vec<Vec<u8>>, path: &[u8]) -> Result<(), Lookup> {
    if path.first().is_none_or(|&b| b == b'/') {
        return Err(Lookup::NotFound);
    }
    todo.extend(path.split(|&b| b == b'/').rev().map(<[u8]>::to_vec));
    Ok(())
}

/// Portable [`super::stat_beneath`]: the size is the `fstatat` one; nothing
/// is opened but the directories on the way.
pub(super) fn stat_beneath(dir: BorrowedFd<'_>, name: &str) -> Result<Found, Lookup> {
    resolve(dir, name).map(|leaf| leaf.found)
}

/// Portable [`super::open_beneath`]: after the walk,
/// `openat(parent, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
/// O_CLOEXEC)`, then `fstat`, which must show the same regular file
/// (device, inode) as the walk's `fstatat` (else not published).
///
/// The window: a file swapped between that `fstatat` and the `openat` for
/// a FIFO or a device (by someone who can write the directory) is opened
/// before the `fstat` rejects it and it is closed: without `O_PATH` that
/// cannot be ruled out. `O_NONBLOCK` keeps the open from waiting, and
/// `O_NOCTTY` a tty from becoming the controlling terminal; nothing of it
/// is read or served. A symlink swapped in is not followed (`O_NOFOLLOW`).
pub(super) fn open_beneath(dir: BorrowedFd<'_>, name: &str) -> Result<(File, u64), Lookup> {
    let leaf = resolve(dir, name)?;
    let parent = leaf.parent.as_ref().map_or(dir, |fd| fd.as_fd());
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let file = retry(|| openat(parent, leaf.name.as_slice(), flags, Mode::empty()))
        .map_err(lookup_error)?;
    checked(file, &leaf.found)
}

/// Portable [`super::open_root`]: `open(path, O_RDONLY | O_DIRECTORY |
/// O_NOFOLLOW | O_CLOEXEC)`. Only the last component is checked for a
/// symlink; one swapped in for a parent directory is followed.
pub(super) fn open_root(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(retry(|| rustix::fs::open(path, flags, Mode::empty()))?)
}
