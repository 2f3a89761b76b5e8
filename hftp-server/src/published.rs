//! The published directory (HFTP.md §3, §4): which entries are published
//! files, listing them, and opening one by name without ever leaving the
//! served directory.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use hftp_proto::FileName;

/// Why a file could not be opened.
#[derive(Debug)]
pub enum Lookup {
    /// Not a published file: missing, not a regular file, or resolving
    /// outside the served directory. Answered `202`.
    NotFound,
    /// The file exists but could not be opened or examined. Answered `199`.
    Io(io::Error),
}

/// The served directory, as an absolute path with no symlinks in it.
#[derive(Debug, Clone)]
pub struct Published {
    root: PathBuf,
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
        Ok(Published { root })
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The published file names, sorted bytewise. Entries whose names are
    /// not valid FILENAMEs, sub-directories, and symlinks that do not
    /// resolve to a regular file inside the directory are left out.
    pub fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            let os_name = entry.file_name();
            let Ok(name) = FileName::from_bytes(os_name.as_bytes()) else {
                continue;
            };
            let published = match entry.file_type() {
                Ok(t) if t.is_file() => true,
                Ok(t) if t.is_symlink() => self.resolves_inside(&entry.path()),
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
    /// the name, not following a final symlink. A regular file directly in
    /// the directory is published (the name holds no `/`); a symlink is
    /// published only if [`Published::open`]'s careful path says it stays
    /// inside. Reading the size needs no read permission, so a file the
    /// server cannot read still has a size here (as `os.path.getsize` in
    /// the course's reference server); `get_slice` of it answers 199.
    pub fn size(&self, name: FileName<'_>) -> Result<u64, Lookup> {
        use rustix::fs::{statx, AtFlags, FileType, StatxFlags, CWD};
        let path = self.root.join(name.as_str());
        let stat = match statx(
            CWD,
            &path,
            AtFlags::SYMLINK_NOFOLLOW,
            StatxFlags::TYPE | StatxFlags::SIZE,
        ) {
            Ok(stat) => stat,
            Err(rustix::io::Errno::NOSYS) => return self.open(name).map(|(_, size)| size),
            Err(e) => return Err(classify_open_error(e.into())),
        };
        match FileType::from_raw_mode(stat.stx_mode.into()) {
            FileType::RegularFile => Ok(stat.stx_size),
            FileType::Symlink => self.open_following(&path).map(|(_, size)| size),
            _ => Err(Lookup::NotFound),
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
        use rustix::fs::{openat2, Mode, OFlags, ResolveFlags, CWD};
        let path = self.root.join(name.as_str());
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let file = match openat2(CWD, &path, flags, Mode::empty(), ResolveFlags::NO_SYMLINKS) {
            Ok(fd) => File::from(fd),
            // A symlink on the way, or a kernel without openat2 (< 5.6).
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOSYS) => {
                return self.open_following(&path)
            }
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

    #[test]
    fn a_directory_swapped_for_a_symlink_does_not_leak() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), b"s").unwrap();
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("pub");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("a"), b"a").unwrap();
        let p = Published::new(&root).unwrap();
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
    }
}
