//! The published directory (HFTP.md §3, §4): which entries are published
//! files, listing them, and opening one by name without ever leaving the
//! served directory.

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use hftp_proto::FileName;
use rustix::fs::{openat2, statx, AtFlags, FileType, Mode, OFlags, ResolveFlags, StatxFlags, CWD};
use rustix::io::Errno;

use crate::files::Files;
pub use crate::files::Lookup;

/// The served directory as one worker sees it: its path (absolute, with
/// no symlinks in it) and a handle on the directory itself.
///
/// Every lookup stays inside the directory whatever is done to the path
/// meanwhile: names hold no `/`, and the path is walked only with
/// `RESOLVE_NO_SYMLINKS`, so a served directory (or a parent of it)
/// swapped for a symlink leads nowhere. Sizes are read through the handle,
/// one component from it; the handle is opened again from the path at
/// every sweep and when a name is not found in it, so that a directory
/// deleted and made again at the same path (the course's suite does this
/// between tests) is served at once. Not `Sync`: each worker has its own.
#[derive(Debug)]
pub struct Published {
    root: PathBuf,
    dir: RefCell<Dir>,
}

/// The state of a worker's handle on the served directory.
#[derive(Debug)]
enum Dir {
    /// Not opened yet.
    Unknown,
    /// Open (`O_PATH`), with its identity (see [`identity`]).
    Open { fd: OwnedFd, id: Identity },
    /// The path reaches no directory without a symlink (missing, or swapped
    /// for a symlink): nothing is published.
    Gone,
    /// The path could not be opened for another reason (e.g. permission).
    Failed(Errno),
    /// The kernel has no `openat2` (Linux < 5.6): lookups take the careful
    /// path of [`Published::open`].
    Unsupported,
}

/// A directory's identity: its device (major, minor) and inode.
type Identity = (u32, u32, u64);

fn identity(stat: &rustix::fs::Statx) -> Identity {
    (stat.stx_dev_major, stat.stx_dev_minor, stat.stx_ino)
}

impl Dir {
    /// Opens the directory at `root` (canonical) without following any
    /// symlink on the way.
    fn open(root: &Path) -> Dir {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match openat2(CWD, root, flags, Mode::empty(), ResolveFlags::NO_SYMLINKS) {
            Ok(fd) => match statx(&fd, "", AtFlags::EMPTY_PATH, StatxFlags::INO) {
                Ok(stat) => Dir::Open {
                    fd,
                    id: identity(&stat),
                },
                Err(e) => Dir::Failed(e),
            },
            Err(Errno::NOSYS) => Dir::Unsupported,
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => Dir::Gone,
            Err(e) => Dir::Failed(e),
        }
    }

    /// Whether `self` and `other` are the same directory, still there.
    fn same_as(&self, other: &Dir) -> bool {
        match (self, other) {
            (Dir::Open { id, .. }, Dir::Open { id: other, .. }) => id == other,
            (Dir::Gone, Dir::Gone) | (Dir::Unsupported, Dir::Unsupported) => true,
            _ => false,
        }
    }
}

impl Published {
    /// Serves `dir`, creating it when it does not exist (as the course's
    /// reference server does).
    pub fn new(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let root = fs::canonicalize(dir)?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        Ok(Published::at(root))
    }

    /// A worker's view of the directory at `root`, a path [`Published::new`]
    /// made canonical.
    pub fn at(root: PathBuf) -> Self {
        Published {
            root,
            dir: RefCell::new(Dir::Unknown),
        }
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Opens the handle on the directory again from its path, unless one
    /// `statx` of the path shows the same directory, still linked; returns
    /// whether the handle now is another directory than before (or none).
    /// Out of file descriptors, the old handle is kept: sizes need no
    /// descriptor of their own, and the refresh must not take the one a
    /// waiting client needs.
    pub fn refresh(&self) -> bool {
        if let Dir::Open { id, .. } = *self.dir.borrow() {
            let flags = StatxFlags::TYPE | StatxFlags::INO | StatxFlags::NLINK;
            if let Ok(stat) = statx(CWD, &self.root, AtFlags::SYMLINK_NOFOLLOW, flags) {
                let is_dir = FileType::from_raw_mode(stat.stx_mode.into()) == FileType::Directory;
                if is_dir && stat.stx_nlink > 0 && identity(&stat) == id {
                    return false;
                }
            }
        }
        let fresh = Dir::open(&self.root);
        let mut dir = self.dir.borrow_mut();
        if matches!(
            fresh,
            Dir::Failed(Errno::MFILE | Errno::NFILE | Errno::NOMEM)
        ) && matches!(*dir, Dir::Open { .. })
        {
            return false;
        }
        let changed = !dir.same_as(&fresh);
        *dir = fresh;
        changed
    }

    /// Whether the handle's directory is gone: deleted (no links left), or
    /// no handle at all. One `statx` of the handle, no path walk: a missing
    /// name costs this one call more. A directory moved away is noticed at
    /// the next sweep instead.
    fn deleted(&self) -> bool {
        let Dir::Open { fd, .. } = &*self.dir.borrow() else {
            return true;
        };
        match statx(fd, "", AtFlags::EMPTY_PATH, StatxFlags::NLINK) {
            Ok(stat) => stat.stx_nlink == 0,
            Err(_) => true,
        }
    }

    /// The published file names, sorted bytewise. Entries whose names are
    /// not valid FILENAMEs, sub-directories, and symlinks that do not
    /// resolve to a regular file inside the directory are left out. The
    /// directory is opened without following symlinks: one swapped for a
    /// symlink cannot be listed (`199`, as for a missing one).
    pub fn list(&self) -> io::Result<Vec<String>> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = match openat2(
            CWD,
            &self.root,
            flags,
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS,
        ) {
            Ok(fd) => fd,
            // Linux < 5.6: at least the directory itself is no symlink.
            Err(Errno::NOSYS) => {
                rustix::fs::open(&self.root, flags | OFlags::NOFOLLOW, Mode::empty())?
            }
            Err(e) => return Err(e.into()),
        };
        let entries = rustix::fs::Dir::read_from(&fd)?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry?;
            let Ok(name) = FileName::from_bytes(entry.file_name().to_bytes()) else {
                continue;
            };
            let file_type = match entry.file_type() {
                // The file system does not say in the entry: ask.
                FileType::Unknown => match statx(
                    &fd,
                    name.as_str(),
                    AtFlags::SYMLINK_NOFOLLOW,
                    StatxFlags::TYPE,
                ) {
                    Ok(stat) => FileType::from_raw_mode(stat.stx_mode.into()),
                    Err(_) => continue,
                },
                known => known,
            };
            let published = match file_type {
                FileType::RegularFile => true,
                FileType::Symlink => self.resolves_inside(&self.root.join(name.as_str())),
                _ => false,
            };
            if published {
                names.push(name.as_str().to_owned());
            }
        }
        names.sort_unstable();
        Ok(names)
    }

    /// Whether `path` resolves to a regular file inside the directory.
    fn resolves_inside(&self, path: &Path) -> bool {
        match fs::canonicalize(path) {
            Ok(real) => real.starts_with(&self.root) && real.is_file(),
            Err(_) => false,
        }
    }

    /// The size of a published file, for `get_metadata`: one `statx` of
    /// the name in the directory's handle, not following a final symlink.
    /// A regular file there is published (the name holds no `/`); a
    /// symlink is published only if [`Published::open`]'s careful path
    /// says it stays inside. A name not found in a directory that was
    /// deleted makes the handle open again from the path, and the name is
    /// looked up once more if that is another directory. Reading the size
    /// needs no read permission, so a file the server cannot read still
    /// has a size here (as `os.path.getsize` in the course's reference
    /// server); `get_slice` of it answers 199.
    pub fn size(&self, name: FileName<'_>) -> Result<u64, Lookup> {
        let mut looked_again = false;
        loop {
            if matches!(*self.dir.borrow(), Dir::Unknown) {
                self.refresh();
            }
            let stat = match &*self.dir.borrow() {
                Dir::Open { fd, .. } => statx(
                    fd.as_fd(),
                    name.as_str(),
                    AtFlags::SYMLINK_NOFOLLOW,
                    StatxFlags::TYPE | StatxFlags::SIZE,
                ),
                Dir::Gone => Err(Errno::NOENT),
                Dir::Failed(e) => return Err(Lookup::Io((*e).into())),
                Dir::Unsupported | Dir::Unknown => return self.open(name).map(|(_, size)| size),
            };
            return match stat {
                Ok(stat) => match FileType::from_raw_mode(stat.stx_mode.into()) {
                    FileType::RegularFile => Ok(stat.stx_size),
                    FileType::Symlink => self
                        .open_following(&self.root.join(name.as_str()))
                        .map(|(_, size)| size),
                    _ => Err(Lookup::NotFound),
                },
                Err(Errno::NOENT) if !looked_again => {
                    looked_again = true;
                    if self.deleted() && self.refresh() {
                        continue;
                    }
                    Err(Lookup::NotFound)
                }
                Err(Errno::NOSYS) => {
                    *self.dir.borrow_mut() = Dir::Unsupported;
                    self.open(name).map(|(_, size)| size)
                }
                Err(e) => Err(classify_open_error(e.into())),
            };
        }
    }

    /// Opens a published file for reading; returns it with its size.
    ///
    /// The common case costs one `openat2`, one `fstat`: a path without
    /// any symlink (`RESOLVE_NO_SYMLINKS`) under the canonical root, with
    /// a name that holds no `/`, is inside the directory. A symlink
    /// anywhere on the way (a published link, or the directory itself
    /// swapped for one) takes the careful path: open, then check where
    /// the open descriptor really is, so swapping a symlink in between
    /// cannot make the server read something else. Opening never blocks
    /// on FIFOs.
    pub fn open(&self, name: FileName<'_>) -> Result<(File, u64), Lookup> {
        let path = self.root.join(name.as_str());
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let file = match openat2(CWD, &path, flags, Mode::empty(), ResolveFlags::NO_SYMLINKS) {
            Ok(fd) => File::from(fd),
            // A symlink on the way, or a kernel without openat2 (< 5.6).
            Err(Errno::LOOP | Errno::NOSYS) => return self.open_following(&path),
            Err(e) => return Err(classify_open_error(e.into())),
        };
        let size = regular_size(&file)?;
        Ok((file, size))
    }

    /// The careful path of [`Published::open`]: follow symlinks, then
    /// check where the descriptor landed.
    fn open_following(&self, path: &Path) -> Result<(File, u64), Lookup> {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => f,
            Err(e) => return Err(classify_open_error(e)),
        };
        let size = regular_size(&file)?;
        if !self.descriptor_inside(&file, path) {
            return Err(Lookup::NotFound);
        }
        Ok((file, size))
    }

    /// Whether the open file lives inside the served directory.
    fn descriptor_inside(&self, file: &File, path: &Path) -> bool {
        use std::os::fd::AsRawFd;
        let real = fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .or_else(|_| fs::canonicalize(path));
        matches!(real, Ok(real) if real.starts_with(&self.root))
    }
}

/// The session's view: the published directory on disk.
impl Files for Published {
    type File = File;

    fn list(&self) -> io::Result<Vec<String>> {
        Published::list(self)
    }

    fn size(&self, name: FileName<'_>) -> Result<u64, Lookup> {
        Published::size(self, name)
    }

    fn open(&self, name: FileName<'_>) -> Result<(File, u64), Lookup> {
        Published::open(self, name)
    }

    fn read_at(&self, file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
}

/// The size of an open file, if it is a regular file (not a directory,
/// FIFO or device, which are not published).
fn regular_size(file: &File) -> Result<u64, Lookup> {
    let meta = file.metadata().map_err(Lookup::Io)?;
    if !meta.is_file() {
        return Err(Lookup::NotFound);
    }
    Ok(meta.len())
}

fn classify_open_error(e: io::Error) -> Lookup {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG | libc::EISDIR) => {
            Lookup::NotFound
        }
        _ => Lookup::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("link-in")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("link-out")).unwrap();
        std::os::unix::fs::symlink(root.join("sub"), root.join("link-dir")).unwrap();

        let p = Published::new(root).unwrap();
        assert_eq!(p.list().unwrap(), ["a.txt", "b.txt", "link-in"]);
        let name = |s| FileName::new(s).unwrap();
        assert_eq!(p.open(name("b.txt")).unwrap().1, 2);
        assert_eq!(p.open(name("link-in")).unwrap().1, 1);
        assert_eq!(p.size(name("b.txt")).unwrap(), 2);
        assert_eq!(p.size(name("link-in")).unwrap(), 1);
        for missing in ["nope", "sub", "link-out", "link-dir"] {
            assert!(
                matches!(p.open(name(missing)), Err(Lookup::NotFound)),
                "{missing}"
            );
            assert!(
                matches!(p.size(name(missing)), Err(Lookup::NotFound)),
                "{missing}"
            );
        }
    }

    /// `PARENT/pub` holding `a` (1 byte), served.
    fn served_pub() -> (tempfile::TempDir, PathBuf, Published) {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("pub");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("a"), b"a").unwrap();
        let p = Published::new(&root).unwrap();
        (parent, root, p)
    }

    #[test]
    fn a_directory_swapped_for_a_symlink_does_not_leak() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), b"s").unwrap();
        let (_parent, root, p) = served_pub();
        let name = |s| FileName::new(s).unwrap();
        assert_eq!(p.open(name("a")).unwrap().1, 1);
        // Deleted and made again (the course's suite does this between
        // tests): still served, by path.
        fs::remove_dir_all(&root).unwrap();
        fs::create_dir(&root).unwrap();
        fs::write(root.join("a"), b"aa").unwrap();
        assert_eq!(p.open(name("a")).unwrap().1, 2);
        // Swapped for a symlink to elsewhere: nothing there is served.
        fs::remove_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(outside.path(), &root).unwrap();
        assert!(matches!(p.open(name("secret")), Err(Lookup::NotFound)));
        assert!(matches!(p.size(name("secret")), Err(Lookup::NotFound)));
        assert!(p.list().is_err());
        // A directory there again: served again.
        fs::remove_file(&root).unwrap();
        fs::create_dir(&root).unwrap();
        fs::write(root.join("a"), b"aaa").unwrap();
        assert_eq!(p.size(name("a")).unwrap(), 3);
        assert_eq!(p.list().unwrap(), ["a"]);
    }

    #[test]
    fn a_directory_moved_away_is_let_go_at_the_next_refresh() {
        let (parent, root, p) = served_pub();
        let name = |s| FileName::new(s).unwrap();
        assert_eq!(p.size(name("a")).unwrap(), 1);
        fs::rename(&root, parent.path().join("old")).unwrap();
        fs::create_dir(&root).unwrap();
        fs::write(root.join("a"), b"new").unwrap();
        // Until the refresh, sizes come from the directory first served
        // (moved, but never anything outside it).
        assert_eq!(p.size(name("a")).unwrap(), 1);
        assert!(p.refresh());
        assert!(!p.refresh());
        assert_eq!(p.size(name("a")).unwrap(), 3);
    }
}
