//! A worker thread: one mio event loop that accepts connections from the
//! shared listener (within the global connection limit), drives each
//! connection on readiness, checks timeouts, and winds down on shutdown.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use tracing::{info, warn};

use crate::config::Config;
use crate::connection::{Closed, Connection, Ctx};
use crate::published::Published;
use crate::transfer::FILE_CHUNK;

const LISTENER: Token = Token(usize::MAX);

/// The token of each worker's [`Waker`] (see [`Shared::wakers`]).
pub const WAKE: Token = Token(usize::MAX - 1);

/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// What all workers share.
#[derive(Debug)]
pub struct Shared {
    /// The served directory, absolute and without symlinks (each worker
    /// has its own [`Published`] view of it).
    pub root: PathBuf,
    /// Limits and timeouts.
    pub config: Config,
    /// Connections open across all workers.
    pub active: AtomicUsize,
    /// One per worker, by index: wakes that worker to try accepting.
    pub wakers: Vec<Waker>,
    /// Set by SIGINT/SIGTERM.
    pub shutdown: Arc<AtomicBool>,
}

/// Runs worker number `index` on `poll` (whose waker is
/// `shared.wakers[index]`) until shutdown completes.
pub fn run(
    index: usize,
    poll: Poll,
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
) -> io::Result<()> {
    let mut events = Events::with_capacity(1024);
    let mut listener = TcpListener::from_std(listener);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut worker = Worker {
        index,
        poll,
        listener: Some(listener),
        accept_stalled: false,
        conns: Slab::new(),
        published: Published::at(shared.root.clone()),
        shared,
        read_buf: vec![0; READ_CHUNK].into_boxed_slice(),
        file_buf: vec![0; FILE_CHUNK].into_boxed_slice(),
        shutdown_deadline: None,
    };
    let tick = worker.shared.config.tick();
    let mut next_sweep = Instant::now() + tick;
    loop {
        let timeout = next_sweep.saturating_duration_since(Instant::now());
        if let Err(e) = worker.poll.poll(&mut events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let now = Instant::now();
        for event in events.iter() {
            match event.token() {
                LISTENER | WAKE => worker.accept(now),
                Token(key) => {
                    if let Some(conn) = worker.conns.get_mut(key) {
                        conn.note_event(
                            event.is_readable(),
                            event.is_read_closed() || event.is_error(),
                        );
                    }
                    worker.drive(key, now);
                }
            }
        }
        if worker.shared.shutdown.load(Ordering::Relaxed) && worker.shutdown_deadline.is_none() {
            worker.begin_shutdown(now);
        }
        if now >= next_sweep {
            worker.sweep(now);
            next_sweep = now + tick;
        }
        if let Some(deadline) = worker.shutdown_deadline {
            if worker.conns.is_empty() {
                return Ok(());
            }
            if now >= deadline {
                worker.close_all(now);
                return Ok(());
            }
        }
    }
}

struct Worker {
    /// This worker's place in `shared.wakers`.
    index: usize,
    poll: Poll,
    /// `None` once shutdown has begun: the socket is closed, so new
    /// clients are refused.
    listener: Option<TcpListener>,
    /// An accept failed for lack of resources (file descriptors, memory),
    /// or was left to a worker with fewer connections; the listener will
    /// not signal again for clients already waiting, so the sweep retries.
    accept_stalled: bool,
    conns: Slab<Connection>,
    /// This worker's view of the served directory.
    published: Published,
    shared: Arc<Shared>,
    read_buf: Box<[u8]>,
    file_buf: Box<[u8]>,
    shutdown_deadline: Option<Instant>,
}

impl Worker {
    /// Accepts while the connection limit allows; past it, clients wait in
    /// the listen backlog until a connection closes.
    fn accept(&mut self, now: Instant) {
        let Some(listener) = self.listener.as_ref() else {
            return;
        };
        self.accept_stalled = false;
        loop {
            // Take a client only while this worker holds no more than its
            // share of all connections: every worker is told of every new
            // client, and the first to wake would otherwise take them all.
            // A worker over its share wakes the others, one of which is at
            // or under its share, so no client is left waiting.
            let workers = self.shared.wakers.len();
            if self.conns.len() * workers > self.shared.active.load(Ordering::Acquire) {
                self.accept_stalled = true;
                for (i, waker) in self.shared.wakers.iter().enumerate() {
                    if i != self.index {
                        let _ = waker.wake();
                    }
                }
                return;
            }
            // Reserve a slot first, so workers together never exceed the limit.
            if self.shared.active.fetch_add(1, Ordering::AcqRel)
                >= self.shared.config.max_connections
            {
                self.shared.active.fetch_sub(1, Ordering::AcqRel);
                return;
            }
            let (stream, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) => {
                    self.shared.active.fetch_sub(1, Ordering::AcqRel);
                    match e.kind() {
                        io::ErrorKind::WouldBlock => {}
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => continue,
                        _ => {
                            warn!("accept failed: {e}; retrying on the next tick");
                            self.accept_stalled = true;
                        }
                    }
                    return;
                }
            };
            let _ = stream.set_nodelay(true);
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            let mut conn = Connection::new(stream, peer, &self.shared.config, now);
            if let Err(e) = self.poll.registry().register(
                conn.stream_mut(),
                Token(key),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                warn!("cannot watch a new connection from {peer}: {e}");
                self.shared.active.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            info!("Connected by: {peer}");
            entry.insert(conn);
        }
    }

    fn drive(&mut self, key: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let mut ctx = Ctx {
            published: &self.published,
            read_buf: &mut self.read_buf,
            file_buf: &mut self.file_buf,
            now,
            shutting_down: self.shutdown_deadline.is_some(),
        };
        if let Some(reason) = conn.drive(&mut ctx) {
            self.close(key, reason, now);
        }
    }

    fn close(&mut self, key: usize, reason: Closed, now: Instant) {
        let mut conn = self.conns.remove(key);
        let _ = self.poll.registry().deregister(conn.stream_mut());
        info!("Closing connection {} ({reason})", conn.peer());
        drop(conn);
        self.shared.active.fetch_sub(1, Ordering::AcqRel);
        // A slot is free: take a client waiting in the backlog, if any.
        self.accept(now);
    }

    /// Closes connections whose timeouts expired, and opens the served
    /// directory again from its path (it may have been moved away).
    fn sweep(&mut self, now: Instant) {
        if self.accept_stalled {
            self.accept(now);
        }
        self.published.refresh();
        let config = &self.shared.config;
        let expired: Vec<(usize, Closed)> = self
            .conns
            .iter_mut()
            .filter_map(|(key, conn)| conn.check_timeouts(now, config).map(|reason| (key, reason)))
            .collect();
        for (key, reason) in expired {
            self.close(key, reason, now);
        }
    }

    /// Stops accepting and lets connections finish what is in flight.
    fn begin_shutdown(&mut self, now: Instant) {
        self.shutdown_deadline = Some(now + self.shared.config.shutdown_grace);
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.drive(key, now);
        }
    }

    fn close_all(&mut self, now: Instant) {
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.close(key, Closed::Shutdown, now);
        }
    }
}
