//! Whole-file downloads: [`Client::download`] with resume, parallel
//! connections over disjoint ranges, a chunk size, base64 or `raw`, and a
//! progress callback.
//!
//! The bytes go to `DEST.part`, which is renamed to `DEST` only once every
//! byte has arrived and its size matches the server's; a failure leaves
//! the `.part` behind for a later resume. A sequential download writes
//! `.part` strictly in order, so its length is what is done. A parallel
//! one writes ranges out of order into a pre-sized `.part` and records each
//! completed range in `DEST.part.ranges` (removed on success), which is
//! what a resume then trusts.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use hftp_proto::FileName;

use crate::client::reconnect;
use crate::{Client, Error};

/// How [`Client::download`] fetches a file.
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
    /// Connections fetching disjoint ranges at once (at least 1). Extra
    /// connections need a client made by [`Client::connect`] or
    /// [`Client::connect_with`]; others download on their own connection.
    pub connections: usize,
    /// Bytes asked for in one `get_slice` request (at least 1).
    pub chunk_size: u64,
    /// Use the `raw` extension (unencoded bytes) instead of base64.
    pub raw: bool,
    /// Flush the file to disk (`fsync`) before renaming it into place.
    pub fsync: bool,
    /// The file's size, when the caller has just asked it (with
    /// [`Client::metadata`]): saves asking again. `None` asks. Either way
    /// the size is asked once more at the end, so a file that changed on
    /// the server is not taken for complete.
    pub size: Option<u64>,
}

impl Default for DownloadOptions {
    /// No resume, one connection, 16 MiB chunks, base64, no `fsync`, the
    /// size asked.
    fn default() -> Self {
        DownloadOptions {
            resume: false,
            connections: 1,
            chunk_size: 16 << 20,
            raw: false,
            fsync: false,
            size: None,
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

/// The file a download writes to before it is complete: `DEST.part`.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// The record of completed ranges of a parallel download: `DEST.part.ranges`.
fn ranges_path(dest: &Path) -> PathBuf {
    let mut name = part_path(dest).into_os_string();
    name.push(".ranges");
    PathBuf::from(name)
}

/// A byte range of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    offset: u64,
    len: u64,
}

impl<S: Read + Write> Client<S> {
    /// Downloads the whole of `name` into the file `dest`.
    ///
    /// Writes `dest.part` (see [`part_path`]) and renames it to `dest`
    /// once complete and of the server's size. With `options.resume`, what
    /// an interrupted download left is kept and only the rest is fetched;
    /// a `dest` already complete and no `.part` means nothing to do. With
    /// `options.connections > 1`, that many connections fetch disjoint
    /// ranges of `options.chunk_size` at once. `progress` is called as
    /// bytes land (from several threads when downloading in parallel).
    ///
    /// On error the `.part` stays for a later resume. This client's
    /// connection may then be in the middle of a response: drop it.
    ///
    /// ```no_run
    /// use std::path::Path;
    /// use hftp_client::{Client, DownloadOptions};
    ///
    /// let mut client = Client::connect("127.0.0.1:19500")?;
    /// let options = DownloadOptions { resume: true, connections: 4, ..Default::default() };
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
        // An invalid name is refused before anything is sent.
        let total = match options.size {
            Some(size) => {
                FileName::new(name)?;
                size
            }
            None => self.metadata(name)?,
        };
        let part = part_path(dest);
        let ranges = ranges_path(dest);
        if options.resume && !part.exists() {
            if let Ok(meta) = fs::metadata(dest) {
                if meta.is_file() && meta.len() == total {
                    progress(Progress { done: total, total });
                    return Ok(Downloaded {
                        size: total,
                        resumed_from: total,
                    });
                }
            }
        }
        let chunk = options.chunk_size.max(1);
        let plan = if options.resume {
            Plan::resume(&part, &ranges, total, chunk)?
        } else {
            Plan::fresh(&part, &ranges, total, chunk)?
        };
        let resumed_from = total - plan.pending.iter().map(|r| r.len).sum::<u64>();
        progress(Progress {
            done: resumed_from,
            total,
        });
        let connections = options.connections.max(1).min(plan.pending.len().max(1));
        let parallel = connections > 1 && self.peer.is_some();
        // Written out of order (this run is parallel, or resumes a parallel
        // one): completed ranges go to a record, and `.part` is sized to the
        // whole file only once the record exists, so that its length never
        // passes for what is done.
        let record = if plan.parallel {
            Some(append_record(&ranges)?)
        } else if parallel {
            Some(start_record(&ranges, total, resumed_from)?)
        } else {
            None
        };
        if record.is_some() {
            plan.file.set_len(total)?;
        }
        let job = Job {
            name,
            raw: options.raw,
            total,
            file: &plan.file,
            done: AtomicU64::new(resumed_from),
            progress,
            queue: Mutex::new(plan.pending.into()),
            record: record.map(Mutex::new),
            failed: AtomicBool::new(false),
        };
        if parallel {
            let peer = self.peer.expect("checked above");
            std::thread::scope(|scope| {
                let job = &job;
                let helpers: Vec<_> = (1..connections)
                    .map(|_| {
                        scope.spawn(move || match reconnect(peer) {
                            // A server at its connection limit: the
                            // other connections do the work.
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
                let mut result = job.run(self);
                for helper in helpers {
                    let helper = helper.join().unwrap_or_else(|_| {
                        Err(Error::Io(io::Error::other("a download thread panicked")))
                    });
                    if result.is_ok() {
                        result = helper;
                    }
                }
                result
            })?;
        } else {
            job.run(self)?;
        }
        let written = plan.file.metadata()?.len();
        if written != total {
            return Err(Error::Resume(format!(
                "{} holds {written} bytes where the server has {total}; remove it and download again",
                part.display()
            )));
        }
        let now = self.metadata(name)?;
        if now != total {
            return Err(Error::Resume(format!(
                "{name} changed size on the server during the download ({total} to {now} bytes); download it again"
            )));
        }
        if options.fsync {
            plan.file.sync_all()?;
        }
        drop(plan.file);
        fs::rename(&part, dest)?;
        remove_if_present(&ranges)?;
        Ok(Downloaded {
            size: total,
            resumed_from,
        })
    }
}

/// The `.part` file opened for writing and what is left to fetch.
struct Plan {
    file: File,
    pending: Vec<Range>,
    /// `.part` is governed by a ranges record (an earlier parallel run).
    parallel: bool,
}

impl Plan {
    /// Start over: an empty `.part`, no record.
    fn fresh(part: &Path, ranges: &Path, total: u64, chunk: u64) -> Result<Plan, Error> {
        remove_if_present(ranges)?;
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(part)?;
        Ok(Plan::new(file, total, chunk, &[], false))
    }

    /// Keep what an interrupted download left.
    fn resume(part: &Path, ranges: &Path, total: u64, chunk: u64) -> Result<Plan, Error> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(part)?;
        match File::open(ranges) {
            Ok(record) => {
                let done = read_record(record, ranges, total)?;
                Ok(Plan::new(file, total, chunk, &done, true))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let have = file.metadata()?.len();
                if have > total {
                    return Err(Error::Resume(format!(
                        "{} holds {have} bytes but the file on the server has only {total}; remove it to download again",
                        part.display()
                    )));
                }
                let done = [Range {
                    offset: 0,
                    len: have,
                }];
                Ok(Plan::new(file, total, chunk, &done, false))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// What is not in `done` (sorted, disjoint), cut into chunks.
    fn new(file: File, total: u64, chunk: u64, done: &[Range], parallel: bool) -> Plan {
        let mut pending = Vec::new();
        let mut at = 0;
        let ends = done
            .iter()
            .map(|r| (r.offset, r.offset + r.len))
            .chain([(total, total)]);
        for (start, end) in ends {
            while at < start {
                let len = chunk.min(start - at);
                pending.push(Range { offset: at, len });
                at += len;
            }
            at = at.max(end);
        }
        Plan {
            file,
            pending,
            parallel,
        }
    }
}

/// Reads a ranges record: a `size N` line, then one `OFFSET LEN` line per
/// completed range. Returns the ranges sorted and merged.
fn read_record(record: File, path: &Path, total: u64) -> Result<Vec<Range>, Error> {
    let corrupt = |why: &str| {
        Error::Resume(format!(
            "{} is not a download record ({why}); remove it and the .part to download again",
            path.display()
        ))
    };
    let mut lines = BufReader::new(record).lines();
    let size = match lines.next().transpose()? {
        Some(line) => line
            .strip_prefix("size ")
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| corrupt("no size line"))?,
        None => return Err(corrupt("empty")),
    };
    if size != total {
        return Err(Error::Resume(format!(
            "the file changed on the server since the interrupted download ({size} then, {total} now); remove {} and its .part to download again",
            path.display()
        )));
    }
    let mut done = Vec::new();
    for line in lines {
        let line = line?;
        // A line cut short by a crash is simply not counted.
        let Some((offset, len)) = line.split_once(' ') else {
            continue;
        };
        let (Ok(offset), Ok(len)) = (offset.parse::<u64>(), len.parse::<u64>()) else {
            continue;
        };
        if offset.checked_add(len).is_none_or(|end| end > total) {
            return Err(corrupt("a range past the end of the file"));
        }
        done.push(Range { offset, len });
    }
    done.sort_by_key(|r| r.offset);
    let mut merged: Vec<Range> = Vec::with_capacity(done.len());
    for r in done {
        match merged.last_mut() {
            Some(last) if r.offset <= last.offset + last.len => {
                let end = (last.offset + last.len).max(r.offset + r.len);
                last.len = end - last.offset;
            }
            _ => merged.push(r),
        }
    }
    Ok(merged)
}

/// Creates a ranges record for a download switching to parallel, with the
/// `done` bytes already at the start of `.part`.
fn start_record(path: &Path, total: u64, done: u64) -> Result<File, Error> {
    let mut record = File::create(path)?;
    let mut head = format!("size {total}\n");
    if done > 0 {
        head.push_str(&format!("0 {done}\n"));
    }
    record.write_all(head.as_bytes())?;
    Ok(record)
}

/// Opens an existing ranges record to add completed ranges to it.
fn append_record(path: &Path) -> Result<File, Error> {
    Ok(OpenOptions::new().append(true).open(path)?)
}

fn remove_if_present(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// The shared state of one download's connections.
struct Job<'a> {
    name: &'a str,
    raw: bool,
    total: u64,
    file: &'a File,
    done: AtomicU64,
    progress: &'a (dyn Fn(Progress) + Sync),
    queue: Mutex<VecDeque<Range>>,
    /// The ranges record, when `.part` is written out of order.
    record: Option<Mutex<File>>,
    /// Set when a connection fails: the others stop after their range.
    failed: AtomicBool,
}

impl Job<'_> {
    /// Fetches ranges from the queue on `client` until it is empty or a
    /// connection has failed.
    fn run<S: Read + Write>(&self, client: &mut Client<S>) -> Result<(), Error> {
        while !self.failed.load(Ordering::Relaxed) {
            let Some(range) = self.queue.lock().expect("queue").pop_front() else {
                return Ok(());
            };
            if let Err(e) = self.fetch(client, range) {
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
        };
        if self.raw {
            client.raw_slice_to(self.name, range.offset, range.len, &mut out)?;
        } else {
            client.slice_to(self.name, range.offset, range.len, &mut out)?;
        }
        if out.pos != range.offset + range.len {
            return Err(Error::Resume(format!(
                "the server sent {} bytes for a {}-byte range of {}",
                out.pos - range.offset,
                range.len,
                self.name
            )));
        }
        if let Some(record) = &self.record {
            let line = format!("{} {}\n", range.offset, range.len);
            record.lock().expect("record").write_all(line.as_bytes())?;
        }
        Ok(())
    }
}

/// A `Write` that puts bytes at a position of the `.part` file and
/// reports progress.
struct At<'a, 'j> {
    job: &'j Job<'a>,
    pos: u64,
}

impl Write for At<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.job.file.write_all_at(buf, self.pos)?;
        self.pos += buf.len() as u64;
        let done = self.job.done.fetch_add(buf.len() as u64, Ordering::Relaxed) + buf.len() as u64;
        (self.job.progress)(Progress {
            done,
            total: self.job.total,
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
