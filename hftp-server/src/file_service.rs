//! The event loop's side of the sessions' file-system requests: answers
//! at once what needs no waiting (on a local file system, a lookup the
//! kernel's caches answer; file bytes already in the page cache),
//! joins a listing request to the shared snapshot's next check, hands
//! everything else to the
//! [`Pool`], and routes each reply back to the worker and connection that
//! asked, waking that worker.
//!
//! Nothing here blocks: the only file-system calls made on the loop are
//! ones the kernel refuses rather than wait for: a lookup from its caches
//! on a local file system, not crossing a mount
//! ([`Published::size_cached`]), and a read from the page cache
//! ([`sys::read_nowait`]).

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::files::{FileReply, FileRequest, Listing, Lookup};
use crate::listings::{Ask, Listings};
use crate::metrics::{FileOp, Metrics};
use crate::pool::Pool;
use crate::published::Published;
use crate::shared::Shared;
use crate::sys;

/// Where a reply goes: worker, slab key, and connection generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The worker's index.
    pub worker: usize,
    /// The connection's slab key on that worker.
    pub key: usize,
    /// The connection's generation (see [`crate::timers`]).
    pub id: u64,
}

/// A reply made on a pool thread, owned, on its way to a worker.
#[derive(Debug)]
pub enum Reply {
    /// A listing.
    Listing(Listing),
    /// A size.
    Size(u64),
    /// An opened file and its size.
    Opened(Arc<File>, u64),
    /// Bytes read.
    Data(Vec<u8>),
    /// Not a published file.
    NotFound,
    /// The file system failed, or did not answer in time.
    Failed(io::Error),
}

impl Reply {
    /// Hands the reply to `f` as a session takes it.
    pub fn with<R>(self, f: impl FnOnce(FileReply<'_, Arc<File>>) -> R) -> R {
        match self {
            Reply::Listing(listing) => f(FileReply::Listing(listing)),
            Reply::Size(size) => f(FileReply::Size(size)),
            Reply::Opened(file, size) => f(FileReply::Opened { file, size }),
            Reply::Data(data) => f(FileReply::Data(&data)),
            Reply::NotFound => f(FileReply::NotFound),
            Reply::Failed(e) => f(FileReply::Failed(e)),
        }
    }
}

impl From<Lookup> for Reply {
    fn from(lookup: Lookup) -> Self {
        match lookup {
            Lookup::NotFound => Reply::NotFound,
            Lookup::Io(e) => Reply::Failed(e),
        }
    }
}

/// A reply and where it goes.
#[derive(Debug)]
pub struct Completion {
    /// The connection that asked.
    pub route: Route,
    /// What it is told.
    pub reply: Reply,
}

/// What became of a request.
#[derive(Debug)]
pub enum Started<'a> {
    /// Answered at once.
    Done(FileReply<'a, Arc<File>>),
    /// The reply will come as a [`Completion`] to the asking worker.
    Pending,
}

/// Runs the sessions' file-system requests (see the module docs). Shared
/// by all workers.
#[derive(Debug)]
pub struct FileService {
    published: Arc<Published>,
    pool: Pool,
    listings: Arc<Listings<Route>>,
    /// How long a request may take before its session gives up on it.
    timeout: Duration,
    /// Where the work on the pool is timed.
    metrics: Arc<Metrics>,
}

impl Drop for FileService {
    /// The server is gone: its pool threads may go too.
    fn drop(&mut self) {
        self.pool.close();
    }
}

/// How long a pool thread waits before retrying an open that failed for
/// lack of descriptors.
const FD_RETRY: Duration = Duration::from_millis(10);

impl FileService {
    /// A service over `published` running its work on `pool`, timing it
    /// in `metrics`.
    pub fn new(published: Published, pool: Pool, timeout: Duration, metrics: Arc<Metrics>) -> Self {
        FileService {
            published: Arc::new(published),
            pool,
            listings: Arc::default(),
            timeout,
            metrics,
        }
    }

    /// The pool the work runs on.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Starts `request` for the connection at `route`; the reply is
    /// [`Started::Done`] when it needed no waiting (read into `scratch`),
    /// else it comes to `route.worker` through `shared`.
    pub fn start<'s>(
        &self,
        request: FileRequest<'_, Arc<File>>,
        route: Route,
        now: Instant,
        scratch: &'s mut [u8],
        shared: &Arc<Shared>,
    ) -> Started<'s> {
        let deadline = now + self.timeout;
        let deliver = {
            let shared = Arc::clone(shared);
            move |reply: Reply| shared.deliver(Completion { route, reply })
        };
        match request {
            // Dated now, not at the loop's wake-up: a listing must reflect
            // every change made before the request arrived.
            FileRequest::List => match self.listings.ask(route, Instant::now(), self.timeout) {
                Ask::Wait => {}
                Ask::Build => {
                    let listings = Arc::clone(&self.listings);
                    let published = Arc::clone(&self.published);
                    let shared = Arc::clone(shared);
                    let metrics = Arc::clone(&self.metrics);
                    self.pool.submit(None, deadline, move |ran| {
                        if !ran {
                            // Its waiters give up at their own deadlines;
                            // the next request starts another build.
                            return;
                        }
                        // Requests that came during a build get the next.
                        let mut again = true;
                        while again {
                            let began = Instant::now();
                            let (result, waiters, more) = listings.build(&published);
                            metrics.file_op(FileOp::List, began.elapsed());
                            again = more;
                            for route in waiters {
                                let reply = match &result {
                                    Ok(listing) => Reply::Listing(listing.clone()),
                                    Err(e) => {
                                        Reply::Failed(io::Error::new(e.kind(), e.to_string()))
                                    }
                                };
                                shared.deliver(Completion { route, reply });
                            }
                        }
                    });
                }
            },
            FileRequest::Size(name) => {
                if let Some(result) = self.published.size_cached(name) {
                    return Started::Done(match result {
                        Ok(size) => FileReply::Size(size),
                        Err(lookup) => lookup.into(),
                    });
                }
                self.lookup_on_pool(
                    name,
                    FileOp::Lookup,
                    deadline,
                    deliver,
                    |published, name| match published.size(name) {
                        Ok(size) => Reply::Size(size),
                        Err(lookup) => lookup.into(),
                    },
                );
            }
            FileRequest::Open(name) => {
                if let Some(result) = self.published.open_cached(name) {
                    return Started::Done(match result {
                        Ok((file, size)) => FileReply::Opened {
                            file: Arc::new(file),
                            size,
                        },
                        Err(lookup) => lookup.into(),
                    });
                }
                self.lookup_on_pool(
                    name,
                    FileOp::Open,
                    deadline,
                    deliver,
                    move |published, name| loop {
                        match published.open(name) {
                            Ok((file, size)) => break Reply::Opened(Arc::new(file), size),
                            // Out of descriptors (the budget leaves room, so
                            // only briefly): wait rather than fail.
                            Err(Lookup::Io(e))
                                if sys::limits::is_out_of_descriptors(&e)
                                    && Instant::now() + FD_RETRY < deadline =>
                            {
                                std::thread::sleep(FD_RETRY);
                            }
                            Err(lookup) => break lookup.into(),
                        }
                    },
                );
            }
            FileRequest::Read { file, offset, len } | FileRequest::Send { file, offset, len } => {
                let len = len.min(scratch.len());
                loop {
                    match sys::read_nowait(file, &mut scratch[..len], offset) {
                        Ok(n) => return Started::Done(FileReply::Data(&scratch[..n])),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Started::Done(FileReply::Failed(e)),
                    }
                }
                let file = Arc::clone(file);
                let metrics = Arc::clone(&self.metrics);
                self.pool.submit(None, deadline, move |ran| {
                    if !ran {
                        return deliver(timed_out());
                    }
                    let mut buf = vec![0; len];
                    let began = Instant::now();
                    let reply = loop {
                        match std::os::unix::fs::FileExt::read_at(&*file, &mut buf, offset) {
                            Ok(n) => {
                                buf.truncate(n);
                                break Reply::Data(buf);
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => break Reply::Failed(e),
                        }
                    };
                    metrics.file_op(FileOp::Read, began.elapsed());
                    deliver(reply)
                });
            }
        }
        Started::Pending
    }
}

impl FileService {
    /// Runs the lookup `work` of `name` on the pool (keyed by the name, so
    /// that one stuck name holds one thread), and hands its reply, or a
    /// time-out if it could not run, to `deliver`.
    fn lookup_on_pool(
        &self,
        name: hftp_proto::FileName<'_>,
        op: FileOp,
        deadline: Instant,
        deliver: impl FnOnce(Reply) + Send + 'static,
        work: impl FnOnce(&Published, hftp_proto::FileName<'_>) -> Reply + Send + 'static,
    ) {
        let name = name.as_str().to_owned();
        let published = Arc::clone(&self.published);
        let metrics = Arc::clone(&self.metrics);
        self.pool.submit(Some(&name.clone()), deadline, move |ran| {
            if !ran {
                return deliver(timed_out());
            }
            // Checked when the request was decoded.
            match hftp_proto::FileName::new(&name) {
                Ok(name) => {
                    let began = Instant::now();
                    let reply = work(&published, name);
                    metrics.file_op(op, began.elapsed());
                    deliver(reply)
                }
                Err(_) => deliver(Reply::NotFound),
            }
        });
    }
}

fn timed_out() -> Reply {
    Reply::Failed(io::Error::new(
        io::ErrorKind::TimedOut,
        "the file system did not answer in time",
    ))
}
