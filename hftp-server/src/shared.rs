//! What all workers of one server share: the settings, the file service,
//! the connection count against the global limit, the shutdown flag, each
//! worker's waker, load figures, inbox of connections and of file
//! replies, and how many workers take connections now.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard};

use mio::Waker;

use crate::config::Config;
use crate::conn::Conn;
use crate::file_service::{Completion, FileService};
use crate::metrics::Metrics;
use crate::peers::Peers;
use crate::tls::Tls;

/// What all workers share.
#[derive(Debug)]
pub struct Shared {
    /// The served directory, absolute and without symlinks (each worker
    /// has its own view of it).
    pub root: PathBuf,
    /// Limits and timeouts.
    pub config: Config,
    /// Where the sessions' file-system requests go.
    pub files: FileService,
    /// Connections per client address.
    pub peers: Peers,
    /// The TLS configuration, when a TLS listener is served.
    pub tls: Option<Tls>,
    /// What `/metrics` shows.
    pub metrics: Arc<Metrics>,
    /// Connections served at once: the configured maximum, or fewer as
    /// the open-files limit allows (see [`crate::budget`]).
    pub connection_limit: AtomicUsize,
    /// The open-files limit the budget was made for (`u64::MAX`: none).
    pub open_files: AtomicU64,
    /// Connections open across all workers.
    pub active: AtomicUsize,
    /// One per worker, by index: wakes that worker to try accepting, adopt
    /// connections handed to it, or notice shutdown.
    pub wakers: Vec<Waker>,
    /// Set by SIGINT/SIGTERM.
    pub shutdown: Arc<AtomicBool>,
    /// Workers taking connections now: `0..active_workers` (see
    /// [`crate::placement`]).
    pub active_workers: AtomicUsize,
    /// When not 0, the number of active workers is held at this instead of
    /// following the load (a test hook; see `RunningServer`).
    pub forced_workers: AtomicUsize,
    /// One per worker, by index.
    pub workers: Vec<WorkerShare>,
}

/// What one worker shares with the others.
#[derive(Debug, Default)]
pub struct WorkerShare {
    /// Connections it holds (a snapshot, for balancing).
    pub connections: AtomicUsize,
    /// Its thread's CPU time so far, in nanoseconds.
    pub cpu_ns: AtomicU64,
    /// Returns from waiting for events so far.
    pub wakes: AtomicU64,
    /// Connections handed to it, to register on its event loop.
    pub inbox: Mutex<Vec<Conn>>,
    /// Replies to its connections' file-system requests.
    pub completions: Mutex<Vec<Completion>>,
}

impl Shared {
    /// Worker `i`'s inbox.
    pub fn inbox(&self, i: usize) -> MutexGuard<'_, Vec<Conn>> {
        // A worker that panicked holding the lock left a valid Vec.
        self.workers[i]
            .inbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hands a file-system reply to the worker it is for, waking it if it
    /// had none waiting (it takes them all at once).
    pub fn deliver(&self, completion: Completion) {
        let worker = completion.route.worker;
        let mut completions = self.workers[worker]
            .completions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        completions.push(completion);
        let first = completions.len() == 1;
        drop(completions);
        if first {
            let _ = self.wakers[worker].wake();
        }
    }

    /// The file-system replies waiting for worker `i`.
    pub fn take_completions(&self, i: usize) -> Vec<Completion> {
        std::mem::take(
            &mut *self.workers[i]
                .completions
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Wakes every worker.
    pub fn wake_all(&self) {
        self.wake_others(usize::MAX);
    }

    /// Wakes every worker but `except`.
    pub fn wake_others(&self, except: usize) {
        for (i, waker) in self.wakers.iter().enumerate() {
            if i != except {
                let _ = waker.wake();
            }
        }
    }
}
