//! What a [`Session`](crate::session::Session) needs of the served
//! directory: the [`Files`] trait (list, size, open, read at an offset),
//! the [`Lookup`] outcome of a name, and [`MemoryFiles`], an in-memory
//! directory for tests and fuzzing.
//!
//! The server's own implementation is the published directory on disk;
//! the session never touches a file system itself, so that it can be
//! driven deterministically with a directory that exists only in memory.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;

use hftp_proto::FileName;

/// Why a name does not give a file.
#[derive(Debug)]
#[non_exhaustive]
pub enum Lookup {
    /// Not a published file: missing, not a regular file, or resolving
    /// outside the served directory. Answered `202`.
    NotFound,
    /// The file exists but could not be opened or examined. Answered `199`.
    Io(io::Error),
}

/// A served directory as a session sees it.
///
/// Names given here are always valid FILENAMEs (HFTP.md §2.2): no `/`,
/// not `.` or `..`.
pub trait Files {
    /// An open file, held by the session while a slice of it is sent.
    type File;

    /// The published names, sorted bytewise (HFTP.md §3).
    fn list(&self) -> io::Result<Vec<String>>;

    /// The size of a published file (`get_metadata`).
    fn size(&self, name: FileName<'_>) -> Result<u64, Lookup>;

    /// Opens a published file for a slice; returns it with its size.
    fn open(&self, name: FileName<'_>) -> Result<(Self::File, u64), Lookup>;

    /// Reads into `buf` from `offset`; `Ok(0)` is the end of the file.
    fn read_at(&self, file: &Self::File, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

/// A directory held in memory, for tests and fuzzing.
///
/// Files can be changed while they are open (an open file sees a
/// truncation at once, as on disk), and a name can be made to fail with
/// an I/O error.
///
/// ```
/// use hftp_server::files::{Files, MemoryFiles};
/// use hftp_proto::FileName;
///
/// let dir = MemoryFiles::new();
/// dir.insert("notes.txt", b"hello".to_vec());
/// let name = FileName::from_bytes(b"notes.txt").unwrap();
/// assert_eq!(dir.size(name).unwrap(), 5);
/// let (file, _) = dir.open(name).unwrap();
/// let mut buf = [0; 3];
/// assert_eq!(dir.read_at(&file, &mut buf, 2).unwrap(), 3);
/// assert_eq!(&buf, b"llo");
/// ```
#[derive(Debug, Default, Clone)]
pub struct MemoryFiles {
    entries: Rc<RefCell<BTreeMap<String, Entry>>>,
}

#[derive(Debug, Clone)]
enum Entry {
    File(Rc<RefCell<Vec<u8>>>),
    /// Exists, but every open fails (as a file without read permission).
    Unreadable(u64),
}

impl MemoryFiles {
    /// An empty directory.
    pub fn new() -> Self {
        MemoryFiles::default()
    }

    /// Adds or replaces a file.
    pub fn insert(&self, name: &str, content: Vec<u8>) {
        self.entries
            .borrow_mut()
            .insert(name.to_owned(), Entry::File(Rc::new(RefCell::new(content))));
    }

    /// Adds a file of `size` bytes that has a size but cannot be opened.
    pub fn insert_unreadable(&self, name: &str, size: u64) {
        self.entries
            .borrow_mut()
            .insert(name.to_owned(), Entry::Unreadable(size));
    }

    /// Cuts a file down to `len` bytes; open handles see it at once.
    pub fn truncate(&self, name: &str, len: usize) {
        if let Some(Entry::File(content)) = self.entries.borrow().get(name) {
            content.borrow_mut().truncate(len);
        }
    }

    /// Removes a name.
    pub fn remove(&self, name: &str) {
        self.entries.borrow_mut().remove(name);
    }
}

impl Files for MemoryFiles {
    type File = Rc<RefCell<Vec<u8>>>;

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.entries.borrow().keys().cloned().collect())
    }

    fn size(&self, name: FileName<'_>) -> Result<u64, Lookup> {
        match self.entries.borrow().get(name.as_str()) {
            Some(Entry::File(content)) => Ok(content.borrow().len() as u64),
            Some(Entry::Unreadable(size)) => Ok(*size),
            None => Err(Lookup::NotFound),
        }
    }

    fn open(&self, name: FileName<'_>) -> Result<(Self::File, u64), Lookup> {
        match self.entries.borrow().get(name.as_str()) {
            Some(Entry::File(content)) => {
                let size = content.borrow().len() as u64;
                Ok((Rc::clone(content), size))
            }
            Some(Entry::Unreadable(_)) => Err(Lookup::Io(io::ErrorKind::PermissionDenied.into())),
            None => Err(Lookup::NotFound),
        }
    }

    fn read_at(&self, file: &Self::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let content = file.borrow();
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(content.len());
        let n = buf.len().min(content.len() - start);
        buf[..n].copy_from_slice(&content[start..start + n]);
        Ok(n)
    }
}
