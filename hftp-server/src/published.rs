//! The published directory (docs/PROTOCOL.md §3, §4) on disk: which entries are
//! published files, listing them, and sizing and opening one by name,
//! always beneath a held handle on the directory and never by path.
//!
//! The rules live in [`crate::sys::confine`]: a name is published when it
//! resolves, beneath the directory, to a regular file; symlinks are
//! followed only while they stay beneath it. Here is the handle: held,
//! shared by every thread that does file-system work (all of it runs on
//! the [`crate::pool`], never on an event loop), and opened again from the
//! path when the directory there is another one (the course's suite
//! deletes and makes it again between tests).

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hftp_proto::FileName;

use crate::files::Lookup;
use crate::sys::confine::{self, Kind, Stamp};

/// How long a check that the handle is still the directory at the path
/// holds: a directory made again at the path is served this soon.
const RECHECK: Duration = Duration::from_millis(200);

/// The served directory: its path (absolute, with no symlinks in it) and a
/// shared handle on the directory itself.
#[derive(Debug)]
pub struct Published {
    root: PathBuf,
    handle: RwLock<Handle>,
}

#[derive(Debug)]
struct Handle {
    dir: Dir,
    /// When the path was last checked to lead to `dir`.
    checked: Option<Instant>,
}

/// The state of the handle on the served directory.
#[derive(Debug, Clone)]
enum Dir {
    /// Open, with the directory's (device, inode), and whether its file
    /// system is a local one (lookups may then be tried from the caches
    /// on an event loop).
    Open {
        fd: Arc<OwnedFd>,
        id: (u64, u64),
        local: bool,
    },
    /// The path reaches no directory without a symlink (missing, or swapped
    /// for a symlink): nothing is published.
    Gone,
    /// The path could not be opened for another reason (e.g. permission).
    Failed(io::ErrorKind),
}

impl Dir {
    fn open(root: &Path) -> Dir {
        match confine::open_root(root) {
            Ok(fd) => match confine::dir_stamp(fd.as_fd()) {
                Ok(stamp) => Dir::Open {
                    id: stamp.id(),
                    local: confine::is_local(fd.as_fd()),
                    fd: Arc::new(fd),
                },
                Err(e) => Dir::Failed(e.kind()),
            },
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                ) =>
            {
                Dir::Gone
            }
            Err(e) => Dir::Failed(e.kind()),
        }
    }
}

impl Published {
    /// Serves `dir`, creating it when it does not exist (as the course's
    /// reference server does).
    pub fn new(dir: &Path) -> io::Result<Self> {
        let root = fs::canonicalize(dir).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => io::Error::new(e.kind(), "no such directory"),
            _ => e,
        })?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        // A directory that cannot be listed would answer 199 to every
        // request: refused now, with the reason.
        fs::read_dir(&root)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot list its entries: {e}")))?;
        let published = Published::at(root);
        // Opened now, while it is known to be there: the portable handle
        // is opened for reading, which a directory made search-only later
        // would refuse (the handle, once held, stays usable).
        published.dir(true);
        Ok(published)
    }

    /// The directory at `root`, a path [`Published::new`] made canonical.
    pub fn at(root: PathBuf) -> Self {
        Published {
            root,
            handle: RwLock::new(Handle {
                dir: Dir::Gone,
                checked: None,
            }),
        }
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The handle, checked against the path at most [`RECHECK`] ago (or
    /// now, with `force`).
    fn dir(&self, force: bool) -> Dir {
        let now = Instant::now();
        {
            let handle = self.handle.read().unwrap_or_else(|p| p.into_inner());
            if !force && handle.checked.is_some_and(|t| now < t + RECHECK) {
                return handle.dir.clone();
            }
        }
        let mut handle = self.handle.write().unwrap_or_else(|p| p.into_inner());
        if !force && handle.checked.is_some_and(|t| now < t + RECHECK) {
            return handle.dir.clone();
        }
        let same = match &handle.dir {
            Dir::Open { id, .. } => fs::symlink_metadata(&self.root).is_ok_and(|meta| {
                meta.is_dir() && meta.nlink() > 0 && (meta.dev(), meta.ino()) == *id
            }),
            _ => false,
        };
        if !same {
            let fresh = Dir::open(&self.root);
            // Out of descriptors, keep the old handle: the refresh must not
            // take the one a client needs.
            let starved = matches!(fresh, Dir::Failed(io::ErrorKind::OutOfMemory))
                || matches!(&fresh, Dir::Failed(_)) && matches!(handle.dir, Dir::Open { .. });
            if !starved {
                handle.dir = fresh;
            }
        }
        handle.checked = Some(now);
        handle.dir.clone()
    }

    /// The handle for a lookup: checked against the path now if there was
    /// no directory at the last check (one may be there again).
    fn current(&self) -> Dir {
        match self.dir(false) {
            Dir::Open { fd, id, local } => Dir::Open { fd, id, local },
            _ => self.dir(true),
        }
    }

    /// The handle for a listing: a deleted directory's is opened again from
    /// the path first (a name lookup learns that from a name not found; a
    /// listing cannot).
    fn for_listing(&self) -> Dir {
        match self.current() {
            Dir::Open { fd, .. } if deleted(&fd) => self.dir(true),
            dir => dir,
        }
    }

    /// Runs `lookup` beneath the handle; a name not found in a directory
    /// that was deleted (the course's suite deletes and makes it again)
    /// opens the handle again from the path and looks once more.
    fn beneath<T>(
        &self,
        lookup: impl Fn(std::os::fd::BorrowedFd<'_>) -> Result<T, Lookup>,
    ) -> Result<T, Lookup> {
        let mut forced = false;
        loop {
            let dir = if forced {
                self.dir(true)
            } else {
                self.current()
            };
            let fd = match dir {
                Dir::Open { fd, .. } => fd,
                Dir::Gone => return Err(Lookup::NotFound),
                Dir::Failed(kind) => return Err(Lookup::Io(kind.into())),
            };
            match lookup(fd.as_fd()) {
                Err(Lookup::NotFound) if !forced && deleted(&fd) => forced = true,
                other => return other,
            }
        }
    }

    /// The published file names, sorted bytewise, and the names of the
    /// symlinks among the directory's entries (published or not: what
    /// they lead to can change without the directory changing). Entries
    /// whose names are not valid FILENAMEs are left out.
    pub fn scan(&self) -> io::Result<Scan> {
        let fd = match self.for_listing() {
            Dir::Open { fd, .. } => fd,
            Dir::Gone => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "the served directory is gone",
                ))
            }
            Dir::Failed(kind) => return Err(kind.into()),
        };
        let stamp = confine::dir_stamp(fd.as_fd())?;
        let mut names = Vec::new();
        let mut symlinks = Vec::new();
        for (name, kind) in confine::read_names(fd.as_fd())? {
            let name = match FileName::from_bytes(&name) {
                Ok(name) => name,
                Err(why) => {
                    let shown = String::from_utf8_lossy(&name);
                    tracing::debug!("listing leaves out {shown:?}: {why}");
                    continue;
                }
            };
            let published = match kind {
                Kind::Regular => true,
                Kind::Symlink => {
                    let published = confine::stat_beneath(fd.as_fd(), name.as_str()).is_ok();
                    if !published {
                        tracing::debug!(
                            "listing leaves out {name}: a symlink to no regular file inside \
                             the directory"
                        );
                    }
                    symlinks.push((name.as_str().to_owned(), published));
                    published
                }
                Kind::Other => {
                    tracing::debug!(
                        "listing leaves out {name}: not a regular file (a directory, device, \
                         socket or pipe)"
                    );
                    false
                }
            };
            if published {
                names.push(name.as_str().to_owned());
            }
        }
        names.sort_unstable();
        Ok(Scan {
            names,
            symlinks,
            stamp,
        })
    }

    /// The directory's stamp now and whether each of `symlinks` is
    /// published now: if both are as a [`Scan`] found them, its listing
    /// still holds.
    pub fn unchanged_since(&self, scan: &Scan) -> io::Result<bool> {
        let Dir::Open { fd, .. } = self.for_listing() else {
            return Ok(false);
        };
        if confine::dir_stamp(fd.as_fd())? != scan.stamp {
            return Ok(false);
        }
        Ok(scan
            .symlinks
            .iter()
            .all(|(name, published)| confine::stat_beneath(fd.as_fd(), name).is_ok() == *published))
    }

    /// The size of a published file, for `get_metadata`: needs no read
    /// permission, and opens nothing for reading.
    pub fn size(&self, name: FileName<'_>) -> Result<u64, Lookup> {
        self.beneath(|dir| confine::stat_beneath(dir, name.as_str()).map(|found| found.size))
    }

    /// Opens a published file for reading; returns it with its size.
    pub fn open(&self, name: FileName<'_>) -> Result<(File, u64), Lookup> {
        self.beneath(|dir| confine::open_beneath(dir, name.as_str()))
    }

    /// [`Published::size`] on a thread that must never wait: answered
    /// from the kernel's caches, or `None` (then on a thread that may
    /// wait). Only on a local file system, with a handle checked against
    /// the path recently (the check itself is left to the pool), and not
    /// for a name missing from a deleted directory (the pool looks again
    /// in the one at the path).
    pub fn size_cached(&self, name: FileName<'_>) -> Option<Result<u64, Lookup>> {
        self.cached(|dir| confine::stat_cached(dir, name.as_str()).map(|r| r.map(|f| f.size)))
    }

    /// [`Published::open`] on a thread that must never wait, as
    /// [`Published::size_cached`].
    pub fn open_cached(&self, name: FileName<'_>) -> Option<Result<(File, u64), Lookup>> {
        self.cached(|dir| confine::open_cached(dir, name.as_str()))
    }

    fn cached<T>(
        &self,
        lookup: impl FnOnce(std::os::fd::BorrowedFd<'_>) -> Option<Result<T, Lookup>>,
    ) -> Option<Result<T, Lookup>> {
        let fd = {
            let handle = self.handle.read().unwrap_or_else(|p| p.into_inner());
            match &handle.dir {
                Dir::Open {
                    fd, local: true, ..
                } if handle.checked.is_some_and(|t| t.elapsed() < RECHECK) => Arc::clone(fd),
                _ => return None,
            }
        };
        match lookup(fd.as_fd())? {
            Err(Lookup::NotFound) if deleted(&fd) => None,
            // Out of descriptors: the pool waits for one.
            Err(Lookup::Io(e)) if crate::sys::limits::is_out_of_descriptors(&e) => None,
            other => Some(other),
        }
    }
}

/// Whether the directory `fd` is deleted (no links left).
fn deleted(fd: &OwnedFd) -> bool {
    confine::dir_stamp(fd.as_fd()).map_or(true, |stamp| stamp.deleted())
}

/// One reading of the directory: the published names, sorted; the
/// symlinks among its entries, with whether each was published; and the
/// directory's stamp when it was read.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The published names, sorted bytewise.
    pub names: Vec<String>,
    /// Each symlink entry and whether it was published.
    pub symlinks: Vec<(String, bool)>,
    /// The directory's stamp, taken before it was read.
    pub stamp: Stamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> FileName<'_> {
        FileName::new(s).unwrap()
    }

    #[test]
    fn lists_and_confines() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), b"s").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("b.txt"), b"bb").unwrap();
        fs::write(root.join("a.txt"), b"a").unwrap();
        fs::write(root.join("with space"), b"x").unwrap();
        fs::create_dir(root.join("sub")).unwrap();
        std::os::unix::fs::symlink("a.txt", root.join("link-in")).unwrap();
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("link-abs")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("link-out")).unwrap();
        std::os::unix::fs::symlink("sub", root.join("link-dir")).unwrap();

        let p = Published::new(root).unwrap();
        assert_eq!(p.scan().unwrap().names, ["a.txt", "b.txt", "link-in"]);
        assert_eq!(p.open(name("b.txt")).unwrap().1, 2);
        assert_eq!(p.open(name("link-in")).unwrap().1, 1);
        assert_eq!(p.size(name("link-in")).unwrap(), 1);
        for missing in ["nope", "sub", "link-out", "link-dir", "link-abs"] {
            assert!(
                matches!(p.open(name(missing)), Err(Lookup::NotFound)),
                "{missing}"
            );
            assert!(
                matches!(p.size(name(missing)), Err(Lookup::NotFound)),
                "{missing}"
            );
        }
        // The cached lookups agree, where they answer.
        std::thread::sleep(Duration::from_millis(1));
        let _ = p.size(name("a.txt"));
        for (n, size) in [("a.txt", Some(1)), ("link-in", Some(1)), ("nope", None)] {
            if let Some(result) = p.size_cached(name(n)) {
                assert_eq!(result.ok(), size, "{n}");
            }
        }
    }

    #[test]
    fn a_directory_made_again_is_served_at_once_and_one_moved_away_is_let_go() {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("pub");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("a"), b"a").unwrap();
        let p = Published::new(&root).unwrap();
        assert_eq!(p.size(name("a")).unwrap(), 1);
        // Deleted and made again: served at once (a name not found in a
        // deleted directory looks again at the path).
        fs::remove_dir_all(&root).unwrap();
        fs::create_dir(&root).unwrap();
        fs::write(root.join("b"), b"bb").unwrap();
        assert_eq!(p.size(name("b")).unwrap(), 2);
        assert_eq!(p.scan().unwrap().names, ["b"]);
        // Moved away, another made: let go within the recheck time.
        fs::rename(&root, parent.path().join("old")).unwrap();
        fs::create_dir(&root).unwrap();
        fs::write(root.join("b"), b"new").unwrap();
        std::thread::sleep(RECHECK + Duration::from_millis(20));
        assert_eq!(p.size(name("b")).unwrap(), 3);
        // Swapped for a symlink to elsewhere: nothing there is served.
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), b"s").unwrap();
        fs::remove_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(outside.path(), &root).unwrap();
        std::thread::sleep(RECHECK + Duration::from_millis(20));
        assert!(matches!(p.size(name("secret")), Err(Lookup::NotFound)));
        assert!(matches!(p.open(name("secret")), Err(Lookup::NotFound)));
        assert!(p.scan().is_err());
    }
}
