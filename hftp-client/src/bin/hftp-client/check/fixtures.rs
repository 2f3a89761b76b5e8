//! The files the checker serves: the course's three (`bar`, `foo`, `x`)
//! in the directory it owns (or prefixed `hftpcheck-` in a directory it
//! shares with other files, removed when the check ends), files a case
//! makes for itself and removes after ([`Made`]), and a file outside the
//! served directory for the confinement cases.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// `foo`: the example file of docs/PROTOCOL.md §1 (41 bytes).
pub const FOO: &[u8] = b"!Que calor que hace hoy, pinta una birra!";

/// What the file outside the served directory holds: served, it would
/// show a confinement breach.
pub const OUTSIDE: &[u8] = b"hftpcheck: this file is OUTSIDE the served directory\n";

/// `bar`: 1,000 bytes of every value.
pub fn bar() -> Vec<u8> {
    (0..1000u32).map(|i| (i * 7 + 3) as u8).collect()
}

/// The served directory and what the checker put there.
#[derive(Debug)]
pub struct Fixtures {
    dir: PathBuf,
    /// Put before every name: empty when the checker owns the directory.
    prefix: &'static str,
    /// The file outside the served directory.
    outside: PathBuf,
    /// The directory the checker made to hold `dir` and `outside`, if it
    /// made one (removed at the end).
    root: Option<tempfile::TempDir>,
}

impl Fixtures {
    /// A fresh directory of the checker's own, holding the course files.
    pub fn owned() -> io::Result<Fixtures> {
        let root = tempfile::Builder::new().prefix("hftp-check-").tempdir()?;
        super::cleanup::dir_made(root.path().to_path_buf());
        let dir = root.path().join("served");
        fs::create_dir(&dir)?;
        let outside = root.path().join("outside.txt");
        let fixtures = Fixtures {
            dir,
            prefix: "",
            outside,
            root: Some(root),
        };
        fixtures.populate()?;
        Ok(fixtures)
    }

    /// The course files, prefixed, in a directory another server
    /// publishes (`--dir`).
    pub fn shared(dir: &Path) -> io::Result<Fixtures> {
        let meta = fs::metadata(dir)?;
        if !meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a directory",
            ));
        }
        let root = tempfile::Builder::new().prefix("hftp-check-").tempdir()?;
        super::cleanup::dir_made(root.path().to_path_buf());
        let fixtures = Fixtures {
            dir: fs::canonicalize(dir)?,
            prefix: "hftpcheck-",
            outside: root.path().join("outside.txt"),
            root: Some(root),
        };
        fixtures.populate()?;
        Ok(fixtures)
    }

    fn populate(&self) -> io::Result<()> {
        fs::write(&self.outside, OUTSIDE)?;
        self.write("foo", FOO)?;
        self.write("bar", &bar())?;
        self.write("x", b"")
    }

    /// Removes the course files and writes them again (the course's suite
    /// does this between tests, while the server runs).
    pub fn recreate(&self) -> io::Result<()> {
        for base in ["foo", "bar", "x"] {
            let _ = fs::remove_file(self.path(base));
        }
        self.populate()
    }

    /// The served directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the directory holds only what the checker put there.
    pub fn owned_dir(&self) -> bool {
        self.prefix.is_empty()
    }

    /// A fixture's published name.
    pub fn name(&self, base: &str) -> String {
        format!("{}{base}", self.prefix)
    }

    /// A fixture's path.
    pub fn path(&self, base: &str) -> PathBuf {
        self.dir.join(self.name(base))
    }

    /// The file outside the served directory.
    pub fn outside(&self) -> &Path {
        &self.outside
    }

    /// The published names among `listing` that are the checker's.
    pub fn ours(&self, listing: &[String]) -> Vec<String> {
        listing
            .iter()
            .filter(|n| n.starts_with(self.prefix))
            .cloned()
            .collect()
    }

    fn write(&self, base: &str, contents: &[u8]) -> io::Result<()> {
        fs::write(self.path(base), contents)
    }

    /// Makes file `base` with `contents`, removed when the guard drops.
    pub fn make(&self, base: &str, contents: &[u8]) -> io::Result<Made> {
        let made = Made(self.path(base));
        fs::write(&made.0, contents)?;
        Ok(made)
    }

    /// Makes file `base` of `len` bytes, byte i being `byte(i)`, written
    /// 1 MiB at a time.
    pub fn make_big(&self, base: &str, len: u64, byte: impl Fn(u64) -> u8) -> io::Result<Made> {
        let made = Made(self.path(base));
        let mut file = io::BufWriter::new(fs::File::create(&made.0)?);
        let mut chunk = Vec::with_capacity(1 << 20);
        let mut at = 0;
        while at < len {
            chunk.clear();
            let n = (len - at).min(1 << 20);
            chunk.extend((at..at + n).map(&byte));
            file.write_all(&chunk)?;
            at += n;
        }
        file.flush()?;
        Ok(made)
    }

    /// Makes whatever `make` makes at the path of `base` (a symlink, a
    /// directory, a FIFO), removed when the guard drops.
    pub fn make_with(
        &self,
        base: &str,
        make: impl FnOnce(&Path) -> io::Result<()>,
    ) -> io::Result<Made> {
        let made = Made(self.path(base));
        make(&made.0)?;
        Ok(made)
    }

    /// A relative path from the served directory to `target` (an
    /// absolute path): `../../tmp/x`.
    pub fn relative_to_dir(&self, target: &Path) -> PathBuf {
        let mut up = PathBuf::new();
        for _ in self.dir.components().skip(1) {
            up.push("..");
        }
        up.join(target.strip_prefix("/").unwrap_or(target))
    }
}

impl Drop for Fixtures {
    fn drop(&mut self) {
        if !self.owned_dir() {
            for base in ["foo", "bar", "x"] {
                let _ = fs::remove_file(self.path(base));
            }
        }
        if let Some(root) = self.root.take() {
            super::cleanup::dir_removed(root.path());
            let _ = root.close();
        }
    }
}

/// Something a case made in the served directory: removed on drop.
#[derive(Debug)]
pub struct Made(PathBuf);

impl Made {
    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        let p = &self.0;
        match fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => {
                let _ = fs::remove_dir_all(p);
            }
            Ok(_) => {
                let _ = fs::remove_file(p);
            }
            Err(_) => {}
        }
    }
}
