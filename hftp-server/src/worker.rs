//! A worker thread: one mio event loop that accepts connections from the
//! shared listener (within the global connection limit), drives each
//! connection on readiness, checks timeouts, hands connections to and takes
//! them from other workers as [`crate::placement`] decides, and winds down
//! on shutdown.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use tracing::{debug, info, trace, warn};

use crate::config::Config;
use crate::connection::{Closed, Connection, Ctx};
use crate::placement::{Load, Placement};
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
    /// Workers taking connections now: `0..active` (see [`Placement`]).
    pub active_workers: AtomicUsize,
    /// One per worker, by index: what it measured, and connections handed
    /// to it by other workers.
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
    pub inbox: Mutex<Vec<Connection>>,
}

/// How long the placement measures load before deciding.
const PLACEMENT_WINDOW: Duration = Duration::from_millis(200);

/// The machine's idle and total CPU time so far, in clock ticks summed
/// over all cores, from the first line of `/proc/stat`.
fn machine_cpu() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .map(|n| n.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is
    // already in user and nice).
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
    let total = ticks.iter().take(8).sum();
    Some((idle, total))
}

/// The CPU time this thread has used.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
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
    let workers = shared.wakers.len();
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
        wakes: 0,
        controller: (index == 0).then(|| Controller::new(workers, Instant::now())),
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
        worker.wakes += 1;
        for event in events.iter() {
            match event.token() {
                LISTENER => worker.accept(now),
                WAKE => {
                    worker.adopt(now);
                    worker.rebalance();
                    worker.accept(now);
                }
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
            worker.adopt(now);
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
    /// Returns from `poll`, published at each sweep.
    wakes: u64,
    /// Worker 0 decides how many workers are active.
    controller: Option<Controller>,
}

/// Worker 0's placement state: the decision, and the figures of the last
/// window's start.
struct Controller {
    placement: Placement,
    window_start: Instant,
    /// Per worker: CPU ns and wakes at the window's start.
    last: Vec<(u64, u64)>,
    /// The machine's idle and total CPU ticks at the window's start.
    machine: Option<(u64, u64)>,
    cores: f64,
}

impl Controller {
    fn new(workers: usize, now: Instant) -> Self {
        Controller {
            placement: Placement::new(workers, now),
            window_start: now,
            last: Vec::new(),
            machine: machine_cpu(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
        }
    }
}

impl Worker {
    /// Accepts while the connection limit allows; past it, clients wait in
    /// the listen backlog until a connection closes.
    fn accept(&mut self, now: Instant) {
        if self.listener.is_none() {
            return;
        }
        self.accept_stalled = false;
        loop {
            // Take a client only while this worker is active and holds no
            // more than its share of all connections: every worker is told
            // of every new client, and the first to wake would otherwise
            // take them all. A worker over its share (or not active) wakes
            // the others, one of which is active and at or under its share,
            // so no client is left waiting. Only an active worker retries on
            // its tick: an inactive one has no share to wait for, and the
            // active ones retry their own refusals.
            let active = self.shared.active_workers.load(Ordering::Relaxed);
            let inactive = self.index >= active;
            if inactive || self.conns.len() * active > self.shared.active.load(Ordering::Acquire) {
                self.accept_stalled = !inactive;
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
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
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
            let conn = Connection::new(stream, peer, &self.shared.config, now);
            if self.watch(conn).is_some() {
                info!("Connected by: {peer}");
                self.publish_count();
            }
        }
    }

    /// Registers `conn` on this worker's event loop and keeps it; returns
    /// its key. When it cannot be watched it is closed (and no longer
    /// counted).
    fn watch(&mut self, mut conn: Connection) -> Option<usize> {
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if let Err(e) = self.poll.registry().register(
            conn.stream_mut(),
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!("cannot watch a connection from {}: {e}", conn.peer());
            self.shared.active.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        entry.insert(conn);
        Some(key)
    }

    fn publish_count(&self) {
        self.shared.workers[self.index]
            .connections
            .store(self.conns.len(), Ordering::Relaxed);
    }

    /// Registers the connections other workers handed to this one, and
    /// drives each (its socket may have become ready in between).
    fn adopt(&mut self, now: Instant) {
        let handed = std::mem::take(&mut *self.inbox(self.index));
        if handed.is_empty() {
            return;
        }
        for mut conn in handed {
            conn.note_event(true, false);
            if let Some(key) = self.watch(conn) {
                self.drive(key, now);
            }
        }
        self.publish_count();
    }

    /// Worker `i`'s inbox.
    fn inbox(&self, i: usize) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // A worker that panicked holding the lock left a valid Vec.
        self.shared.workers[i]
            .inbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hands connections to other workers as the number of active workers
    /// asks: all of them when this worker is not active, or those above
    /// its share to the active worker holding the fewest.
    fn rebalance(&mut self) {
        if self.shutdown_deadline.is_some() || self.conns.is_empty() {
            return;
        }
        let active = self.shared.active_workers.load(Ordering::Relaxed);
        let counts: Vec<usize> = self
            .shared
            .workers
            .iter()
            .map(|w| w.connections.load(Ordering::Relaxed))
            .collect();
        let mut moves: Vec<(usize, usize)> = Vec::new();
        if self.index >= active {
            for (n, (key, _)) in self.conns.iter().enumerate() {
                moves.push((key, n % active));
            }
        } else {
            let share = counts.iter().sum::<usize>().div_ceil(active);
            let Some((to, &fewest)) = counts[..active].iter().enumerate().min_by_key(|c| *c.1)
            else {
                return;
            };
            // A margin of one, so that two workers never pass one
            // connection back and forth.
            if to == self.index || self.conns.len() <= share + 1 || fewest >= share {
                return;
            }
            let excess = (self.conns.len() - share).min(share - fewest);
            // Every other connection by recent progress, so that the busy
            // ones are split too, not only counted: with thousands idle, a
            // plain half could leave every busy one here.
            let mut by_progress: Vec<(Instant, usize)> = self
                .conns
                .iter()
                .map(|(key, conn)| (conn.last_progress(), key))
                .collect();
            by_progress.sort_unstable_by_key(|&(at, _)| std::cmp::Reverse(at));
            moves.extend(
                by_progress
                    .iter()
                    .step_by(2)
                    .take(excess)
                    .map(|&(_, key)| (key, to)),
            );
        }
        let mut woken = vec![false; self.shared.workers.len()];
        for (key, to) in moves {
            let mut conn = self.conns.remove(key);
            let _ = self.poll.registry().deregister(conn.stream_mut());
            self.inbox(to).push(conn);
            woken[to] = true;
        }
        self.publish_count();
        for (to, woken) in woken.into_iter().enumerate() {
            if woken {
                let _ = self.shared.wakers[to].wake();
            }
        }
    }

    /// Publishes this worker's load figures; on worker 0, once a window
    /// has passed, decides how many workers are active and wakes the
    /// others when that changes.
    fn measure(&mut self) {
        // Read now, with the CPU time: the loop's `now` is from before the
        // events were handled, which can take long under load.
        let now = Instant::now();
        let me = &self.shared.workers[self.index];
        me.cpu_ns
            .store(thread_cpu().as_nanos() as u64, Ordering::Relaxed);
        me.wakes.store(self.wakes, Ordering::Relaxed);
        let Some(controller) = self.controller.as_mut() else {
            return;
        };
        let window = now.duration_since(controller.window_start);
        if window < PLACEMENT_WINDOW {
            return;
        }
        let figures: Vec<(u64, u64)> = self
            .shared
            .workers
            .iter()
            .map(|w| {
                (
                    w.cpu_ns.load(Ordering::Relaxed),
                    w.wakes.load(Ordering::Relaxed),
                )
            })
            .collect();
        let workers = figures.len();
        let machine = machine_cpu();
        let idle = match (machine, controller.machine) {
            (Some((idle, total)), Some((idle0, total0))) if total > total0 => {
                idle.saturating_sub(idle0) as f64 / (total - total0) as f64 * controller.cores
            }
            _ => f64::INFINITY,
        };
        let placement = &mut controller.placement;
        if controller.last.len() == workers {
            let active = placement.active();
            let mut load = Load {
                busy: 0.0,
                least_busy: f64::MAX,
                wakes: 0,
                window,
                idle,
            };
            for (now_f, last_f) in figures.iter().zip(&controller.last).take(active) {
                let busy = now_f.0.saturating_sub(last_f.0) as f64 / window.as_nanos() as f64;
                load.busy += busy;
                load.least_busy = load.least_busy.min(busy);
                load.wakes += now_f.1.saturating_sub(last_f.1);
            }
            let decided = placement.decide(load, now);
            trace!("placement window: {active} active, {load:?}");
            if decided != active {
                debug!("{decided} of {workers} workers active (load {load:?})");
                self.shared.active_workers.store(decided, Ordering::Relaxed);
                for (i, waker) in self.shared.wakers.iter().enumerate() {
                    if i != self.index {
                        let _ = waker.wake();
                    }
                }
            }
        }
        controller.last = figures;
        controller.machine = machine;
        controller.window_start = now;
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
        self.publish_count();
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
        if !self.shared.shutdown.load(Ordering::Relaxed) {
            self.measure();
            self.rebalance();
        }
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
        self.adopt(now);
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
