//! What a [`Session`](crate::session::Session) needs of the served
//! directory, and how it asks for it without doing any I/O itself.
//!
//! - [`FileRequest`] is what a session asks for (a listing, a size, an
//!   open, a read) and [`FileReply`] what it is told back: the caller does
//!   the file-system work wherever it likes (the server does it on a pool
//!   of blocking threads, off its event loop) and may take its time; the
//!   session waits, and gives up after its file-system deadline.
//! - [`Files`] is a directory that can answer those requests synchronously
//!   and [`perform`] answers one request from it; [`MemoryFiles`] is an
//!   in-memory directory for tests and fuzzing.
//! - [`Listing`] is a listing's encoded body, cheap to clone: the server
//!   shares one snapshot between every connection that lists.
//!
//! The server's own directory is the published directory on disk, served
//! through a pool of threads that may block.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;

use bytes::Bytes;
use hftp_proto::response::{encode_end, encode_item};
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

/// What a session asks of the served directory (see
/// [`Session::poll_file_request`](crate::session::Session::poll_file_request)).
#[derive(Debug)]
#[non_exhaustive]
pub enum FileRequest<'a, F> {
    /// The listing (`get_file_listing`): answer [`FileReply::Listing`].
    List,
    /// The size of a published file (`get_metadata`): answer
    /// [`FileReply::Size`] or [`FileReply::NotFound`].
    Size(FileName<'a>),
    /// Open a published file for a slice: answer [`FileReply::Opened`] or
    /// [`FileReply::NotFound`].
    Open(FileName<'a>),
    /// Read up to `len` bytes of an opened file from `offset`: answer
    /// [`FileReply::Data`] (empty: the file ended there).
    Read {
        /// The file, as [`FileReply::Opened`] gave it.
        file: &'a F,
        /// Where to read.
        offset: u64,
        /// At most this many bytes (at least one).
        len: usize,
    },
    /// The next bytes of a raw slice, made only when nothing else is
    /// waiting to be sent: put up to `len` bytes of the file from `offset`
    /// on the socket yourself (e.g. with `sendfile`) and answer
    /// [`FileReply::Sent`], or read them as for [`FileRequest::Read`] and
    /// answer [`FileReply::Data`].
    Send {
        /// The file, as [`FileReply::Opened`] gave it.
        file: &'a F,
        /// Where to start.
        offset: u64,
        /// At most this many bytes (at least one).
        len: usize,
    },
}

/// The outcome of a [`FileRequest`] (see
/// [`Session::handle_file_reply`](crate::session::Session::handle_file_reply)).
#[derive(Debug)]
#[non_exhaustive]
pub enum FileReply<'a, F> {
    /// The listing.
    Listing(Listing),
    /// The file's size.
    Size(u64),
    /// The opened file and its size.
    Opened {
        /// The open file, handed back in [`FileRequest::Read`].
        file: F,
        /// Its size when opened.
        size: u64,
    },
    /// Bytes read: empty means the end of the file.
    Data(&'a [u8]),
    /// For [`FileRequest::Send`]: this many bytes were put on the socket;
    /// `0`: none now (the socket is full), ask again. (The end of the
    /// file is an empty [`FileReply::Data`].)
    Sent(usize),
    /// The name is not a published file.
    NotFound,
    /// The file system failed (answered `199`).
    Failed(io::Error),
}

impl<F> From<Lookup> for FileReply<'_, F> {
    fn from(lookup: Lookup) -> Self {
        match lookup {
            Lookup::NotFound => FileReply::NotFound,
            Lookup::Io(e) => FileReply::Failed(e),
        }
    }
}

/// A listing's body as sent after `0 OK`: one line per name, then the
/// empty line. Cloning it shares the bytes.
///
/// ```
/// use hftp_server::files::Listing;
///
/// let listing = Listing::from_names(["a.txt", "b.txt"]);
/// assert_eq!(listing.as_bytes(), b"a.txt\r\nb.txt\r\n\r\n");
/// assert_eq!(listing.names(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    body: Bytes,
    names: usize,
}

impl Listing {
    /// The listing of `names`, in the order given (a listing is sorted
    /// bytewise, docs/PROTOCOL.md §3: [`Files::list`] gives them so).
    pub fn from_names<I>(names: I) -> Listing
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut body = Vec::new();
        let mut count = 0;
        for name in names {
            encode_item(name.as_ref(), &mut body);
            count += 1;
        }
        encode_end(&mut body);
        Listing {
            body: body.into(),
            names: count,
        }
    }

    /// The bytes to send.
    pub fn as_bytes(&self) -> &[u8] {
        &self.body
    }

    /// How many names it lists.
    pub fn names(&self) -> usize {
        self.names
    }
}

/// A served directory that answers synchronously.
///
/// Names given here are always valid FILENAMEs (docs/PROTOCOL.md §2.2): no `/`,
/// not `.` or `..`.
pub trait Files {
    /// An open file, held by the session while a slice of it is sent.
    type File;

    /// The published names, sorted bytewise (docs/PROTOCOL.md §3).
    fn list(&self) -> io::Result<Vec<String>>;

    /// The size of a published file (`get_metadata`).
    fn size(&self, name: FileName<'_>) -> Result<u64, Lookup>;

    /// Opens a published file for a slice; returns it with its size.
    fn open(&self, name: FileName<'_>) -> Result<(Self::File, u64), Lookup>;

    /// Reads into `buf` from `offset`; `Ok(0)` is the end of the file.
    fn read_at(&self, file: &Self::File, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

/// Answers `request` from `files` at once, reading into `buf` (a read
/// gets at most `buf.len()` bytes).
///
/// ```
/// use hftp_server::files::{perform, FileReply, FileRequest, MemoryFiles};
/// use hftp_proto::FileName;
///
/// let dir = MemoryFiles::new();
/// dir.insert("notes.txt", b"hello".to_vec());
/// let mut buf = [0; 16];
/// let name = FileName::new("notes.txt").unwrap();
/// let FileReply::Opened { file, size } = perform(&dir, FileRequest::Open(name), &mut buf) else {
///     panic!("not opened")
/// };
/// assert_eq!(size, 5);
/// let request = FileRequest::Read { file: &file, offset: 1, len: 3 };
/// assert!(matches!(perform(&dir, request, &mut buf), FileReply::Data(b"ell")));
/// ```
pub fn perform<'b, D: Files>(
    files: &D,
    request: FileRequest<'_, D::File>,
    buf: &'b mut [u8],
) -> FileReply<'b, D::File> {
    match request {
        FileRequest::List => match files.list() {
            Ok(names) => FileReply::Listing(Listing::from_names(names)),
            Err(e) => FileReply::Failed(e),
        },
        FileRequest::Size(name) => match files.size(name) {
            Ok(size) => FileReply::Size(size),
            Err(lookup) => lookup.into(),
        },
        FileRequest::Open(name) => match files.open(name) {
            Ok((file, size)) => FileReply::Opened { file, size },
            Err(lookup) => lookup.into(),
        },
        FileRequest::Read { file, offset, len } | FileRequest::Send { file, offset, len } => {
            let want = len.min(buf.len());
            loop {
                match files.read_at(file, &mut buf[..want], offset) {
                    Ok(n) => return FileReply::Data(&buf[..n.min(want)]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return FileReply::Failed(e),
                }
            }
        }
    }
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
