//! The local side of a download, shared by the blocking and the async
//! clients: the `.part` file, the record of completed ranges, what is left
//! to fetch, and the final checks and rename. No network I/O here.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::{DownloadOptions, Downloaded, Error, Progress};

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
pub(crate) struct Range {
    pub offset: u64,
    pub len: u64,
}

/// A download under way: the `.part` file open for writing, the ranges
/// still to fetch, and where completed ranges are recorded.
#[derive(Debug)]
pub(crate) struct Plan {
    pub part: PathBuf,
    ranges: PathBuf,
    pub file: File,
    pub total: u64,
    pub resumed_from: u64,
    /// Ranges still to fetch, in order.
    pub queue: Mutex<VecDeque<Range>>,
    /// The ranges record, when `.part` is written out of order.
    record: Option<Mutex<File>>,
}

/// What [`Plan::start`] found.
pub(crate) enum Start {
    /// `dest` is already complete (a resume with nothing left).
    Done(Downloaded),
    /// Ranges are to be fetched, by up to `connections` connections.
    Fetch { plan: Plan, connections: usize },
}

impl Plan {
    /// Prepares to download a file of `total` bytes into `dest`, with up to
    /// `connections` connections (1 when no more can be opened).
    pub fn start(
        name: &str,
        dest: &Path,
        total: u64,
        options: &DownloadOptions,
        connections: usize,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<Start, Error> {
        let part = part_path(dest);
        let ranges = ranges_path(dest);
        if options.resume && !part.exists() {
            if let Ok(meta) = fs::metadata(dest) {
                if meta.is_file() && meta.len() == total {
                    progress(Progress { done: total, total });
                    return Ok(Start::Done(Downloaded {
                        size: total,
                        resumed_from: total,
                    }));
                }
            }
        }
        let chunk = options.chunk_size.max(1);
        let (file, done, out_of_order) = if options.resume {
            resume(name, &part, &ranges, total)?
        } else {
            remove_if_present(&ranges)?;
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&part)
                .map_err(local("create", &part))?;
            (file, Vec::new(), false)
        };
        let pending = pending(total, chunk, &done);
        let resumed_from = total - pending.iter().map(|r| r.len).sum::<u64>();
        progress(Progress {
            done: resumed_from,
            total,
        });
        let connections = connections.max(1).min(pending.len().max(1));
        // Written out of order (this run is parallel, or resumes a parallel
        // one): completed ranges go to a record, and `.part` is sized to the
        // whole file only once the record exists, so that its length never
        // passes for what is done.
        let record = if out_of_order {
            Some(
                OpenOptions::new()
                    .append(true)
                    .open(&ranges)
                    .map_err(local("open", &ranges))?,
            )
        } else if connections > 1 {
            Some(start_record(&ranges, total, resumed_from)?)
        } else {
            None
        };
        if record.is_some() {
            file.set_len(total).map_err(local("size", &part))?;
        }
        Ok(Start::Fetch {
            plan: Plan {
                part,
                ranges,
                file,
                total,
                resumed_from,
                queue: Mutex::new(pending.into()),
                record: record.map(Mutex::new),
            },
            connections,
        })
    }

    /// The next range to fetch.
    pub fn next_range(&self) -> Option<Range> {
        self.queue.lock().expect("queue").pop_front()
    }

    /// Records that `range` is in place.
    pub fn completed(&self, range: Range) -> Result<(), Error> {
        if let Some(record) = &self.record {
            let line = format!("{} {}\n", range.offset, range.len);
            record
                .lock()
                .expect("record")
                .write_all(line.as_bytes())
                .map_err(local("write to", &self.ranges))?;
        }
        Ok(())
    }

    /// Every range arrived and the server's size is still `now`: checks
    /// the `.part`, flushes it if asked, and renames it to `dest`.
    pub fn finish(
        self,
        dest: &Path,
        name: &str,
        now: u64,
        fsync: bool,
    ) -> Result<Downloaded, Error> {
        let written = self
            .file
            .metadata()
            .map_err(local("read the size of", &self.part))?
            .len();
        if written != self.total {
            return Err(Error::Incomplete {
                part: self.part,
                written,
                total: self.total,
            });
        }
        if now != self.total {
            return Err(Error::Changed {
                name: name.to_owned(),
                before: self.total,
                now,
            });
        }
        if fsync {
            self.file.sync_all().map_err(local("flush", &self.part))?;
        }
        drop(self.file);
        fs::rename(&self.part, dest).map_err(|source| Error::Local {
            action: format!("rename {} to", self.part.display()),
            path: dest.to_owned(),
            source,
        })?;
        remove_if_present(&self.ranges)?;
        Ok(Downloaded {
            size: self.total,
            resumed_from: self.resumed_from,
        })
    }
}

/// Opens `.part` keeping what an interrupted download left: the ranges it
/// holds, and whether they were written out of order (a record exists).
fn resume(
    name: &str,
    part: &Path,
    ranges: &Path,
    total: u64,
) -> Result<(File, Vec<Range>, bool), Error> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(part)
        .map_err(local("open", part))?;
    match File::open(ranges) {
        Ok(record) => {
            let done = read_record(record, ranges, name, total)?;
            Ok((file, done, true))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let have = file
                .metadata()
                .map_err(local("read the size of", part))?
                .len();
            if have > total {
                return Err(Error::PartTooLong {
                    part: part.to_owned(),
                    have,
                    total,
                });
            }
            let done = vec![Range {
                offset: 0,
                len: have,
            }];
            Ok((file, done, false))
        }
        Err(e) => Err(local("open", ranges)(e)),
    }
}

/// What is not in `done` (sorted, disjoint), cut into chunks.
fn pending(total: u64, chunk: u64, done: &[Range]) -> Vec<Range> {
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
    pending
}

/// Reads a ranges record: a `size N` line, then one `OFFSET LEN` line per
/// completed range. Returns the ranges sorted and merged.
fn read_record(record: File, path: &Path, name: &str, total: u64) -> Result<Vec<Range>, Error> {
    let corrupt = |why| Error::BadRecord {
        record: path.to_owned(),
        why,
    };
    let mut lines = BufReader::new(record).lines();
    let size = match lines.next().transpose().map_err(local("read", path))? {
        Some(line) => line
            .strip_prefix("size ")
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| corrupt("no size line"))?,
        None => return Err(corrupt("empty")),
    };
    if size != total {
        return Err(Error::Changed {
            name: name.to_owned(),
            before: size,
            now: total,
        });
    }
    let mut done = Vec::new();
    for line in lines {
        let line = line.map_err(local("read", path))?;
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
    let mut record = File::create(path).map_err(local("create", path))?;
    let mut head = format!("size {total}\n");
    if done > 0 {
        head.push_str(&format!("0 {done}\n"));
    }
    record
        .write_all(head.as_bytes())
        .map_err(local("write to", path))?;
    Ok(record)
}

fn remove_if_present(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(local("remove", path)(e)),
        _ => Ok(()),
    }
}

/// An I/O error about a local file: [`Error::Local`], naming the file.
pub(crate) fn local<'a>(action: &'a str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Local {
        action: action.to_owned(),
        path: path.to_owned(),
        source,
    }
}
