//! Whole-file downloads: [`Client::download`] on one connection and
//! [`Server::download`] over several, with resume, a chunk size, base64 or
//! `raw`, and a progress callback.
//!
//! The bytes go to `DEST.part`, which is renamed to `DEST` only once every
//! byte has arrived and its size matches the server's; a failure leaves
//! the `.part` behind for a later resume. A sequential download writes
//! `.part` strictly in order, so its length is what is done. A parallel
//! one writes ranges out of order into a pre-sized `.part` and records each
//! completed range in `DEST.part.ranges` (removed on success), which is
//! what a resume then trusts. That bookkeeping is in `plan.rs`, shared with
//! the async client; this file fetches the ranges, blocking.

mod plan;

use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use hftp_proto::{FileName, ResponseError};

pub use plan::part_path;
pub(crate) use plan::{local, Plan, Range, Start};

use crate::{Client, Error, Server};

/// How [`Client::download`] and [`Server::download`] fetch a file.
///
/// ```
/// use hftp_client::DownloadOptions;
///
/// let options = DownloadOptions {
///     resume: true,
///     connections: 4,
///     ..DownloadOptions::default()
/// };
/// assert_eq!(options.chunk_size, 16 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOptions {
    /// Continue from what an earlier, interrupted download left in
    /// `DEST.part` (otherwise start over).
    pub resume: bool,
    /// Connections fetching disjoint ranges at once (at least 1), for
    /// [`Server::download`]; [`Client::download`] has one connection.
    pub connections: usize,
    /// Bytes asked for in one `get_slice` request (at least 1).
    pub chunk_size: u64,
    /// Use the `raw` extension (unencoded bytes) instead of base64.
    pub raw: bool,
    /// Flush the file to disk (`fsync`) before renaming it into place.
    pub fsync: bool,
    /// The file's size, when the caller knows it (from
    /// [`Client::sizes`], say): saves asking. `None` asks first. Either
    /// way the size is asked once more at the end, so a file that changed
    /// on the server is not taken for complete.
    pub size: Option<u64>,
    /// Stops the download when set from another thread (a Ctrl-C
    /// handler, say): it ends with [`Error::Cancelled`] at its next write,
    /// and the `.part` stays for a resume. `None`: it cannot be cancelled.
    pub cancel: Option<Cancel>,
}

/// A flag that cancels downloads: clone it into [`DownloadOptions`],
/// call [`Cancel::cancel`] from any thread.
///
/// ```
/// use hftp_client::Cancel;
///
/// let cancel = Cancel::default();
/// let handle = cancel.clone();
/// std::thread::spawn(move || handle.cancel()).join().unwrap();
/// assert!(cancel.is_cancelled());
/// cancel.reset();
/// assert!(!cancel.is_cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Asks every download holding this flag to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`Cancel::cancel`] was called (since the last reset).
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Clears the flag, for the next download.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    /// `Err(Error::Cancelled)` once cancelled.
    pub(crate) fn check(this: &Option<Cancel>) -> Result<(), Error> {
        match this.as_ref().is_some_and(Cancel::is_cancelled) {
            true => Err(Error::Cancelled),
            false => Ok(()),
        }
    }
}

/// Two flags are equal when they are the same flag.
impl PartialEq for Cancel {
    fn eq(&self, other: &Cancel) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Cancel {}

impl Default for DownloadOptions {
    /// No resume, one connection, 16 MiB chunks, base64, no `fsync`, the
    /// size asked, no cancel flag.
    fn default() -> Self {
        DownloadOptions {
            resume: false,
            connections: 1,
            chunk_size: 16 << 20,
            raw: false,
            fsync: false,
            size: None,
            cancel: None,
        }
    }
}

/// How far a download is, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes in place, including those a resume found already there.
    pub done: u64,
    /// The file's size.
    pub total: u64,
}

/// What a finished download did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downloaded {
    /// The file's size.
    pub size: u64,
    /// Bytes that were already there from an earlier attempt.
    pub resumed_from: u64,
}

impl<S: Read + Write> Client<S> {
    /// Downloads the whole of `name` into the file `dest`, on this
    /// connection (`options.connections` is not used; see
    /// [`Server::download`] for parallel connections).
    ///
    /// Writes `dest.part` (see [`part_path`]) and renames it to `dest`
    /// once complete and of the server's size. With `options.resume`, what
    /// an interrupted download left is kept and only the rest is fetched;
    /// a `dest` already complete and no `.part` means nothing to do.
    /// `progress` is called as bytes land.
    ///
    /// On error the `.part` stays for a later resume; a connection error
    /// leaves this client broken.
    ///
    /// ```no_run
    /// use std::path::Path;
    /// use hftp_client::{Client, DownloadOptions};
    ///
    /// let mut client = Client::connect("127.0.0.1:19500")?;
    /// let options = DownloadOptions { resume: true, ..Default::default() };
    /// let done = client.download("big.iso", Path::new("big.iso"), &options, &|p| {
    ///     eprint!("\r{} / {} bytes", p.done, p.total);
    /// })?;
    /// eprintln!("\n{} bytes ({} were already there)", done.size, done.resumed_from);
    /// # Ok::<(), hftp_client::Error>(())
    /// ```
    pub fn download(
        &mut self,
        name: &str,
        dest: &Path,
        options: &DownloadOptions,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<Downloaded, Error> {
        run(self, None, name, dest, options, progress)
    }
}

/// A download with `first` as its first connection and, when `more` is
/// given, up to `options.connections - 1` more from there.
pub(crate) fn run<S: Read + Write>(
    first: &mut Client<S>,
    more: Option<&Server>,
    name: &str,
    dest: &Path,
    options: &DownloadOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Downloaded, Error> {
    // An invalid name is refused before anything is sent.
    let total = match options.size {
        Some(size) => {
            FileName::new(name)?;
            size
        }
        None => first.metadata(name)?,
    };
    let wanted = match more {
        Some(_) => options.connections,
        None => 1,
    };
    let (plan, connections) = match Plan::start(name, dest, total, options, wanted, progress)? {
        Start::Done(done) => return Ok(done),
        Start::Fetch { plan, connections } => (plan, connections),
    };
    let job = Job {
        name,
        raw: options.raw,
        plan: &plan,
        done: AtomicU64::new(plan.resumed_from),
        progress,
        failed: AtomicBool::new(false),
        cancel: &options.cancel,
    };
    match more {
        Some(server) if connections > 1 => std::thread::scope(|scope| {
            let job = &job;
            let helpers: Vec<_> = (1..connections)
                .map(|_| {
                    scope.spawn(move || match server.connect() {
                        // A server at its connection limit: the other
                        // connections do the work.
                        Err(_) => Ok(()),
                        Ok(mut client) => {
                            let result = job.run(&mut client);
                            if result.is_ok() {
                                let _ = client.quit();
                            }
                            result
                        }
                    })
                })
                .collect();
            let mut result = job.run(first);
            for helper in helpers {
                let helper = helper.join().unwrap_or_else(|_| {
                    Err(Error::Io(io::Error::other("a download thread panicked")))
                });
                if result.is_ok() {
                    result = helper;
                }
            }
            result
        }),
        _ => job.run(first),
    }
    .map_err(|e| shrunk(first, name, total, e))?;
    let now = first.metadata(name)?;
    plan.finish(dest, name, now, options.fsync)
}

/// A slice refused `203` (past the end) means the file shrank on the
/// server since its size was asked: [`Error::Changed`], when the size
/// asked again says so; otherwise `err` as it was.
fn shrunk<S: Read + Write>(client: &mut Client<S>, name: &str, total: u64, err: Error) -> Error {
    if !matches!(err, Error::Server { code: 203, .. }) {
        return err;
    }
    match client.metadata(name) {
        Ok(now) if now != total => Error::Changed {
            name: name.to_owned(),
            before: total,
            now,
        },
        _ => err,
    }
}

/// The shared state of one download's connections.
struct Job<'a> {
    name: &'a str,
    raw: bool,
    plan: &'a Plan,
    done: AtomicU64,
    progress: &'a (dyn Fn(Progress) + Sync),
    /// Set when a connection fails: the others stop after their range.
    failed: AtomicBool,
    /// Checked before each range and each write.
    cancel: &'a Option<Cancel>,
}

impl Job<'_> {
    /// Fetches ranges from the queue on `client` until it is empty or a
    /// connection has failed.
    fn run<S: Read + Write>(&self, client: &mut Client<S>) -> Result<(), Error> {
        while !self.failed.load(Ordering::Relaxed) {
            let Some(range) = self.plan.next_range() else {
                return Ok(());
            };
            if let Err(e) = Cancel::check(self.cancel).and_then(|()| self.fetch(client, range)) {
                self.failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    }

    fn fetch<S: Read + Write>(&self, client: &mut Client<S>, range: Range) -> Result<(), Error> {
        let mut out = At {
            job: self,
            pos: range.offset,
            failed: None,
        };
        let fetched = match self.raw {
            true => client.raw_slice_to(self.name, range.offset, range.len, &mut out),
            false => client.slice_to(self.name, range.offset, range.len, &mut out),
        };
        if let Some(source) = out.failed.take() {
            // The `.part` refused the bytes: an error about that file.
            return Err(local("write to", &self.plan.part)(source));
        }
        Cancel::check(self.cancel)?;
        fetched?;
        short_range(range, out.pos - range.offset)?;
        self.plan.completed(range)
    }
}

/// A range that got fewer bytes than it asked is a protocol error (the
/// decoder holds slices to their size; this is a safeguard).
pub(crate) fn short_range(range: Range, got: u64) -> Result<(), Error> {
    match got == range.len {
        true => Ok(()),
        false => Err(Error::Protocol(ResponseError::SliceTooShort {
            expected: range.len,
            got,
        })),
    }
}

/// A `Write` that puts bytes at a position of the `.part` file and
/// reports progress.
struct At<'a, 'j> {
    job: &'j Job<'a>,
    pos: u64,
    /// Why writing to the `.part` failed, if it did.
    failed: Option<io::Error>,
}

impl Write for At<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if Cancel::check(self.job.cancel).is_err() {
            return Err(io::Error::other("cancelled"));
        }
        if let Err(e) = self.job.plan.file.write_all_at(buf, self.pos) {
            let kind = e.kind();
            self.failed = Some(e);
            return Err(io::Error::new(kind, "the .part file refused the bytes"));
        }
        self.pos += buf.len() as u64;
        let done = self.job.done.fetch_add(buf.len() as u64, Ordering::Relaxed) + buf.len() as u64;
        (self.job.progress)(Progress {
            done,
            total: self.job.plan.total,
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
