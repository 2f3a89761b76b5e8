//! Whole-file downloads for the async client: the same `.part` and ranges
//! record as the blocking one (`download/plan.rs`), the ranges fetched by
//! one task per connection, each writing through its own file handle.

use std::io::{self, SeekFrom};
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use hftp_proto::FileName;
use tokio::fs::File;
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinSet;

use super::{Client, Server};
use crate::download::{local, short_range, Plan, Range, Start};
use crate::{Cancel, DownloadOptions, Downloaded, Error, Progress};

type Report = Arc<dyn Fn(Progress) + Send + Sync>;

/// A download with `first` as its first connection and, with `more`, up
/// to `options.connections - 1` more, each in a task.
pub(crate) async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    first: &mut Client<S>,
    more: Option<&Server>,
    name: &str,
    dest: &Path,
    options: &DownloadOptions,
    progress: Report,
) -> Result<Downloaded, Error> {
    let total = match options.size {
        Some(size) => {
            FileName::new(name)?;
            size
        }
        None => first.metadata(name).await?,
    };
    let wanted = match more {
        Some(_) => options.connections,
        None => 1,
    };
    let (plan, connections) = match Plan::start(name, dest, total, options, wanted, &*progress)? {
        Start::Done(done) => return Ok(done),
        Start::Fetch { plan, connections } => (plan, connections),
    };
    let job = Arc::new(Job {
        name: name.to_owned(),
        raw: options.raw,
        done: AtomicU64::new(plan.resumed_from),
        plan,
        progress,
        failed: AtomicBool::new(false),
        cancel: options.cancel.clone(),
    });
    let mut tasks = JoinSet::new();
    if let Some(server) = more {
        for _ in 1..connections {
            let (job, server) = (Arc::clone(&job), server.clone());
            tasks.spawn(async move {
                match server.connect().await {
                    // A server at its connection limit: the other
                    // connections do the work.
                    Err(_) => Ok(()),
                    Ok(mut client) => {
                        let result = job.run(&mut client).await;
                        if result.is_ok() {
                            let _ = client.quit().await;
                        }
                        result
                    }
                }
            });
        }
    }
    let mut result = job.run(first).await;
    while let Some(joined) = tasks.join_next().await {
        let helper =
            joined.unwrap_or_else(|_| Err(Error::Io(io::Error::other("a download task panicked"))));
        if result.is_ok() {
            result = helper;
        }
    }
    result?;
    let now = first.metadata(name).await?;
    let job = Arc::try_unwrap(job).unwrap_or_else(|_| unreachable!("every task has ended"));
    job.plan.finish(dest, name, now, options.fsync)
}

/// The shared state of one download's connections.
struct Job {
    name: String,
    raw: bool,
    plan: Plan,
    done: AtomicU64,
    progress: Report,
    failed: AtomicBool,
    /// Checked before each range and each write.
    cancel: Option<Cancel>,
}

impl Job {
    /// Fetches ranges on `client` until none is left or a connection
    /// failed.
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        client: &mut Client<S>,
    ) -> Result<(), Error> {
        let mut file: Option<File> = None;
        while !self.failed.load(Ordering::Relaxed) {
            let Some(range) = self.plan.next_range() else {
                return Ok(());
            };
            let fetched = match Cancel::check(&self.cancel) {
                Ok(()) => self.fetch(client, &mut file, range).await,
                Err(e) => Err(e),
            };
            if let Err(e) = fetched {
                self.failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    }

    async fn fetch<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        client: &mut Client<S>,
        file: &mut Option<File>,
        range: Range,
    ) -> Result<(), Error> {
        let file = match file {
            Some(file) => file,
            None => file.insert(
                tokio::fs::OpenOptions::new()
                    .write(true)
                    .open(&self.plan.part)
                    .await
                    .map_err(local("open", &self.plan.part))?,
            ),
        };
        file.seek(SeekFrom::Start(range.offset))
            .await
            .map_err(local("seek in", &self.plan.part))?;
        let mut out = Counted {
            file,
            job: self,
            got: 0,
            failed: None,
        };
        let fetched = match self.raw {
            true => {
                client
                    .raw_slice_to(&self.name, range.offset, range.len, &mut out)
                    .await
            }
            false => {
                client
                    .slice_to(&self.name, range.offset, range.len, &mut out)
                    .await
            }
        };
        if let Some(source) = out.failed.take() {
            // The `.part` refused the bytes: an error about that file.
            return Err(local("write to", &self.plan.part)(source));
        }
        Cancel::check(&self.cancel)?;
        fetched?;
        let got = out.got;
        // Every byte is in the file before the range is recorded as done.
        file.flush()
            .await
            .map_err(local("write to", &self.plan.part))?;
        short_range(range, got)?;
        self.plan.completed(range)
    }
}

/// Writes to the `.part` handle, counting and reporting progress.
struct Counted<'f, 'j> {
    file: &'f mut File,
    job: &'j Job,
    got: u64,
    /// Why writing to the `.part` failed, if it did.
    failed: Option<io::Error>,
}

impl AsyncWrite for Counted<'_, '_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if Cancel::check(&self.job.cancel).is_err() {
            return Poll::Ready(Err(io::Error::other("cancelled")));
        }
        let poll = match Pin::new(&mut *self.file).poll_write(cx, buf) {
            Poll::Ready(Err(e)) => {
                let kind = e.kind();
                self.failed = Some(e);
                Poll::Ready(Err(io::Error::new(
                    kind,
                    "the .part file refused the bytes",
                )))
            }
            poll => poll,
        };
        if let Poll::Ready(Ok(n)) = poll {
            self.got += n as u64;
            let done = self.job.done.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
            (self.job.progress)(Progress {
                done,
                total: self.job.plan.total,
            });
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.file).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.file).poll_flush(cx)
    }
}
