//! A worker thread: one mio event loop. It accepts connections from the
//! shared listener (within the global connection limit), gives each
//! connection a turn when its socket is ready or a reply to its
//! file-system request came back, goes round the connections whose turn
//! ended on their budget before sleeping again, fires the sessions'
//! deadlines from its [`Timers`], hands connections to and takes them
//! from other workers as the [`Balancer`] plans, and winds down on
//! shutdown. It never touches the file system: the
//! [`FileService`](crate::file_service::FileService) does.
//!
//! Only the loop and the moves live here: what a connection does on its
//! turn is [`Conn`]'s, what it means is the session's, and which
//! connections move is the balancer's.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use tracing::{info, warn};

use crate::balancer::{plan_moves, Balancer};
use crate::budget;
use crate::conn::{Buffers, Conn, Ended};
use crate::file_service::Route;
use crate::proxy::HeaderReader;
use crate::session::{Close, Reason, FILE_CHUNK};
use crate::shared::Shared;
use crate::sys;
use crate::timers::Timers;
use crate::transport::Transport;

/// The token of listener `i` (the plain one first, then TLS).
const fn listener_token(i: usize) -> Token {
    Token(usize::MAX - 2 - i)
}

/// The token of each worker's waker (see [`Shared::wakers`]).
pub const WAKE: Token = Token(usize::MAX - 1);

/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// How often a worker does its housekeeping even when nothing happens:
/// notices shutdown, follows the open-files limit, retries a stalled
/// accept, measures load and rebalances.
const HOUSEKEEPING: Duration = Duration::from_millis(200);

/// Generation numbers of connections, unique across workers (a connection
/// keeps its number when it moves).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A listening socket, and whether its clients speak TLS.
#[derive(Debug)]
pub struct Listener {
    /// The socket.
    pub socket: std::net::TcpListener,
    /// Its connections are TLS.
    pub tls: bool,
}

/// A worker's listening socket.
struct Listening {
    socket: TcpListener,
    tls: bool,
}

/// Runs worker number `index` on `poll` (whose waker is
/// `shared.wakers[index]`) until shutdown completes.
pub fn run(
    index: usize,
    poll: Poll,
    listeners: Vec<Listener>,
    shared: Arc<Shared>,
) -> io::Result<()> {
    let mut events = Events::with_capacity(1024);
    let mut listening = Vec::with_capacity(listeners.len());
    for (i, listener) in listeners.into_iter().enumerate() {
        let mut socket = TcpListener::from_std(listener.socket);
        poll.registry()
            .register(&mut socket, listener_token(i), Interest::READABLE)?;
        listening.push(Listening {
            socket,
            tls: listener.tls,
        });
    }
    let now = Instant::now();
    let mut worker = Worker {
        index,
        poll,
        listeners: listening,
        accept_stalled: false,
        conns: Slab::new(),
        timers: Timers::default(),
        ready: VecDeque::new(),
        balancer: Balancer::new(index, shared.wakers.len(), now),
        shared,
        bufs: Buffers {
            read: vec![0; READ_CHUNK].into_boxed_slice(),
            file: vec![0; FILE_CHUNK].into_boxed_slice(),
        },
        shutdown_deadline: None,
    };
    let mut next_housekeeping = now + HOUSEKEEPING;
    loop {
        let timeout = if worker.ready.is_empty() {
            let wake_at = worker
                .timers
                .next()
                .map_or(next_housekeeping, |t| t.min(next_housekeeping));
            wake_at.saturating_duration_since(Instant::now())
        } else {
            // Connections wait for another turn: only look for new events.
            Duration::ZERO
        };
        if let Err(e) = worker.poll.poll(&mut events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let now = Instant::now();
        worker.balancer.note_wake();
        for event in events.iter() {
            match event.token() {
                WAKE => {
                    worker.take_replies(now);
                    worker.adopt(now);
                    worker.rebalance();
                    worker.accept(now);
                }
                // One of the listeners (`listener_token`).
                Token(key) if key > usize::MAX - 2 - worker.listeners.len() => worker.accept(now),
                Token(key) => {
                    if let Some(conn) = worker.conns.get_mut(key) {
                        conn.note_event(
                            event.is_readable(),
                            event.is_writable(),
                            event.is_read_closed() || event.is_error(),
                        );
                        let id = conn.id;
                        worker.drive(key, id, now);
                    }
                }
            }
        }
        worker.next_turns(now);
        worker.fire_timers(now);
        if worker.shared.shutdown.load(Ordering::Relaxed) && worker.shutdown_deadline.is_none() {
            worker.begin_shutdown(now);
        }
        if now >= next_housekeeping {
            worker.housekeeping(now);
            next_housekeeping = now + HOUSEKEEPING;
        }
        if let Some(deadline) = worker.shutdown_deadline {
            worker.take_replies(now);
            worker.adopt(now);
            if worker.conns.is_empty() {
                return Ok(());
            }
            if now >= deadline {
                worker.abort_all(now);
                return Ok(());
            }
        }
    }
}

struct Worker {
    /// This worker's place in `shared.wakers`.
    index: usize,
    poll: Poll,
    /// Empty once shutdown has begun: the sockets are closed, so new
    /// clients are refused.
    listeners: Vec<Listening>,
    /// An accept failed for lack of resources (file descriptors, memory),
    /// or was left to a worker with fewer connections; the listener will
    /// not signal again for clients already waiting, so housekeeping
    /// retries.
    accept_stalled: bool,
    conns: Slab<Conn>,
    timers: Timers,
    /// Connections whose last turn ended on their budget, in the order
    /// they get their next one (slab key and generation).
    ready: VecDeque<(usize, u64)>,
    balancer: Balancer,
    shared: Arc<Shared>,
    bufs: Buffers,
    shutdown_deadline: Option<Instant>,
}

impl Worker {
    /// Accepts while the connection limit allows; past it, clients wait in
    /// the listen backlog until a connection closes.
    fn accept(&mut self, now: Instant) {
        self.accept_stalled = false;
        for i in 0..self.listeners.len() {
            if !self.accept_from(i, now) {
                return;
            }
        }
    }

    /// Accepts from listener `i` until none waits there (true), or until
    /// this worker is to take no more for now (false).
    fn accept_from(&mut self, i: usize, now: Instant) -> bool {
        loop {
            // Take a client only while this worker is active and holds no
            // more than its share of all connections: every worker is told
            // of every new client, and the first to wake would otherwise
            // take them all. A worker over its share (or not active) wakes
            // the others, one of which is active and at or under its share,
            // so no client is left waiting. Only an active worker retries on
            // its housekeeping: an inactive one has no share to wait for,
            // and the active ones retry their own refusals.
            let active = self.shared.active_workers.load(Ordering::Relaxed);
            let inactive = self.index >= active;
            if inactive || self.conns.len() * active > self.shared.active.load(Ordering::Acquire) {
                self.accept_stalled = !inactive;
                self.shared.wake_others(self.index);
                return false;
            }
            // Reserve a slot first, so workers together never exceed the limit.
            if self.shared.active.fetch_add(1, Ordering::AcqRel)
                >= self.shared.connection_limit.load(Ordering::Relaxed)
            {
                self.shared.active.fetch_sub(1, Ordering::AcqRel);
                return false;
            }
            let Some(listener) = self.listeners.get(i) else {
                self.shared.active.fetch_sub(1, Ordering::AcqRel);
                return false;
            };
            let (stream, peer) = match listener.socket.accept() {
                Ok(accepted) => accepted,
                Err(e) => {
                    self.shared.active.fetch_sub(1, Ordering::AcqRel);
                    match e.kind() {
                        io::ErrorKind::WouldBlock => return true,
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => continue,
                        _ => {
                            warn!("accept failed: {e}; retrying shortly");
                            self.accept_stalled = true;
                            return false;
                        }
                    }
                }
            };
            let tls = listener.tls;
            // A connection that owes a PROXY header is admitted under the
            // address the header names, once it is read (`drive`).
            let owes_header = self
                .shared
                .config
                .proxy
                .as_ref()
                .is_some_and(|proxy| proxy.owes_header(peer.ip()));
            if !owes_header && !self.shared.peers.admit(peer.ip(), now) {
                // Past the per-address limit: closed at once (a reset, so
                // that a flood leaves nothing behind), logged by `admit`.
                sys::set_abortive_close(&stream);
                drop(stream);
                self.shared.active.fetch_sub(1, Ordering::AcqRel);
                self.shared.metrics.accepted(false);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let transport = match self.transport(tls, now) {
                Ok(transport) => transport,
                Err(e) => {
                    warn!("cannot start TLS for {peer}: {e}");
                    if !owes_header {
                        self.shared.peers.release(peer.ip());
                    }
                    self.shared.active.fetch_sub(1, Ordering::AcqRel);
                    continue;
                }
            };
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            let config = &self.shared.config;
            let mut conn = Conn::new(stream, peer, transport, config.session(), id, now);
            if owes_header {
                conn.expect_header(HeaderReader::new(now, config.request_timeout));
            } else {
                conn.counted = Some(peer.ip());
            }
            if let Some(key) = self.watch(conn) {
                self.shared.metrics.accepted(true);
                if !owes_header {
                    info!(peer = %peer, tls, "Connected by: {peer}{}", if tls { " (TLS)" } else { "" });
                }
                self.publish_count();
                // Its first bytes may be there already: a turn after this
                // round's events. Not now: a turn can close it, a close
                // accepts the next client, and a backlog of clients that
                // close at once would recurse that deep.
                self.ready.push_back((key, id));
            }
        }
    }

    /// The transport of a connection accepted at `now` on a plain or a
    /// TLS listener.
    fn transport(&self, tls: bool, now: Instant) -> Result<Transport, rustls::Error> {
        match (&self.shared.tls, tls) {
            (Some(config), true) => Ok(Transport::tls(
                config.accept()?,
                now,
                self.shared.config.request_timeout,
            )),
            _ => Ok(Transport::Plain),
        }
    }

    /// Registers `conn` on this worker's event loop and keeps it; returns
    /// its key. When it cannot be watched it is closed (and no longer
    /// counted).
    fn watch(&mut self, mut conn: Conn) -> Option<usize> {
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if let Err(e) = self.poll.registry().register(
            conn.stream_mut(),
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!("cannot watch a connection from {}: {e}", conn.peer());
            if let Some(ip) = conn.counted {
                self.shared.peers.release(ip);
            }
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
    /// gives each a turn (its socket may have become ready in between).
    fn adopt(&mut self, now: Instant) {
        let handed = std::mem::take(&mut *self.shared.inbox(self.index));
        if handed.is_empty() {
            return;
        }
        for mut conn in handed {
            conn.assume_ready();
            if self.shutdown_deadline.is_some() {
                conn.handle_shutdown();
            }
            conn.armed = Default::default();
            let id = conn.id;
            if let Some(key) = self.watch(conn) {
                self.drive(key, id, now);
            }
        }
        self.publish_count();
    }

    /// Hands connections to other workers as the balancer plans.
    fn rebalance(&mut self) {
        if self.shutdown_deadline.is_some() || self.conns.is_empty() {
            return;
        }
        let active = self.shared.active_workers.load(Ordering::Relaxed);
        let mut counts: Vec<usize> = self
            .shared
            .workers
            .iter()
            .map(|w| w.connections.load(Ordering::Relaxed))
            .collect();
        counts[self.index] = self.conns.len();
        // A connection waiting for a file reply stays: the reply comes here.
        let conns = self
            .conns
            .iter()
            .filter(|(_, conn)| !conn.session().waits_for_files())
            .map(|(key, conn)| (key, conn.session().last_progress()));
        let moves = plan_moves(self.index, active, &counts, conns);
        if moves.is_empty() {
            return;
        }
        let mut woken = vec![false; self.shared.workers.len()];
        for (key, to) in moves {
            let mut conn = self.conns.remove(key);
            let _ = self.poll.registry().deregister(conn.stream_mut());
            self.shared.inbox(to).push(conn);
            woken[to] = true;
        }
        self.publish_count();
        for (to, woken) in woken.into_iter().enumerate() {
            if woken {
                let _ = self.shared.wakers[to].wake();
            }
        }
    }

    /// Gives connection `key` (generation `id`) a turn, then closes it,
    /// queues it for another turn, or arms its next deadline.
    fn drive(&mut self, key: usize, id: u64, now: Instant) {
        let Some(conn) = self.conns.get_mut(key).filter(|c| c.id == id) else {
            return;
        };
        let route = Route {
            worker: self.index,
            key,
            id,
        };
        if let Some(ended) = conn.drive(&self.shared, route, &mut self.bufs, now) {
            self.close(key, ended, now);
            return;
        }
        if conn.take_header_done() {
            // Its PROXY header named the client: admitted under that
            // address, then the bytes after the header are served.
            let peer = conn.peer();
            if !self.shared.peers.admit(peer.ip(), now) {
                self.close(key, Ended::OverLimit, now);
                return;
            }
            conn.counted = Some(peer.ip());
            let tls = conn.is_tls();
            info!(peer = %peer, tls, "Connected by: {peer}{}", if tls { " (TLS)" } else { "" });
            self.drive(key, id, now);
            return;
        }
        if conn.turn_spent() {
            self.ready.push_back((key, id));
        }
        conn.arm(&mut self.timers, key);
    }

    /// Hands the file-system replies that came back to their connections,
    /// each then getting a turn.
    fn take_replies(&mut self, now: Instant) {
        for completion in self.shared.take_completions(self.index) {
            let Route { key, id, .. } = completion.route;
            let Some(conn) = self.conns.get_mut(key).filter(|c| c.id == id) else {
                continue;
            };
            conn.handle_file_reply(completion.reply, now);
            self.drive(key, id, now);
        }
    }

    /// Gives one more turn to each connection whose last turn ended on its
    /// budget (those that spend it again wait for the next round, after
    /// new events).
    fn next_turns(&mut self, now: Instant) {
        for _ in 0..self.ready.len() {
            let Some((key, id)) = self.ready.pop_front() else {
                break;
            };
            self.drive(key, id, now);
        }
    }

    /// Handles the deadlines that came up by `now`.
    fn fire_timers(&mut self, now: Instant) {
        while let Some((at, key, id)) = self.timers.pop_due(now) {
            let Some(conn) = self.conns.get_mut(key).filter(|c| c.id == id) else {
                continue;
            };
            conn.armed.fired(at);
            if let Some(ended) = conn.handle_timeout(now) {
                self.close(key, ended, now);
                continue;
            }
            // A deadline may leave something to send (`199` when the file
            // system did not answer in time): a turn.
            self.drive(key, id, now);
        }
    }

    fn close(&mut self, key: usize, ended: Ended, now: Instant) {
        let mut conn = self.conns.remove(key);
        let _ = self.poll.registry().deregister(conn.stream_mut());
        match &ended {
            Ended::Closed(close) if close.reason == Reason::FileShrank => warn!(
                "{}: a file shrank while a slice of it was being sent; connection reset",
                conn.peer()
            ),
            // Once, with the socket's address (the header named none).
            Ended::Proxy(why) => warn!("{}: {why}; connection closed", conn.peer()),
            _ => {}
        }
        let reset = if ended.resets() { ", reset" } else { "" };
        let peer = conn.peer();
        info!(peer = %peer, "Closing connection {peer} ({ended}){reset}");
        let counted = conn.counted;
        conn.close(&ended, &self.shared.metrics);
        if let Some(ip) = counted {
            self.shared.peers.release(ip);
        }
        self.shared.active.fetch_sub(1, Ordering::AcqRel);
        self.publish_count();
        // A slot is free: take a client waiting in the backlog, if any.
        self.accept(now);
    }

    /// What is done every [`HOUSEKEEPING`]: follow a changed open-files
    /// limit, retry a stalled accept, measure and rebalance.
    fn housekeeping(&mut self, now: Instant) {
        self.follow_open_files_limit();
        if self.accept_stalled {
            self.accept(now);
        }
        if !self.shared.shutdown.load(Ordering::Relaxed) {
            self.balancer.measure(&self.shared);
            self.rebalance();
        }
    }

    /// Makes the connection limit follow the open-files limit when it
    /// changed (`prlimit` on a running server): one `getrlimit`, no file
    /// system.
    fn follow_open_files_limit(&self) {
        let limit = sys::limits::open_files().unwrap_or(u64::MAX);
        if self.shared.open_files.swap(limit, Ordering::Relaxed) == limit {
            return;
        }
        let budget = budget::plan(
            (limit != u64::MAX).then_some(limit),
            self.shared.config.max_connections,
            self.shared.files.pool().max_threads(),
            self.shared.workers.len(),
        );
        let before = self
            .shared
            .connection_limit
            .swap(budget.connections, Ordering::Relaxed);
        if before != budget.connections {
            info!(
                "open files limit now {limit}: at most {} connections",
                budget.connections
            );
        }
        self.shared.wake_all();
    }

    /// Stops accepting and lets connections finish what is in flight.
    fn begin_shutdown(&mut self, now: Instant) {
        self.shutdown_deadline = Some(now + self.shared.config.shutdown_grace);
        for mut listener in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut listener.socket);
        }
        self.adopt(now);
        let keys: Vec<(usize, u64)> = self.conns.iter().map(|(key, c)| (key, c.id)).collect();
        for (key, id) in keys {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.handle_shutdown();
            }
            self.drive(key, id, now);
        }
    }

    /// Resets every connection left when the shutdown grace is over:
    /// what is in flight will not be completed.
    fn abort_all(&mut self, now: Instant) {
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            let ended = Ended::Closed(Close {
                reason: Reason::Shutdown,
                abort: true,
            });
            self.close(key, ended, now);
        }
    }
}
