//! One client connection as a worker holds it: the socket, its readiness
//! as the event loop last reported it, and the sans-IO [`Session`]; and
//! the I/O that carries out what the session asks for: reads, writes, raw
//! file ranges, shutting the write side, probing the send queue, closing.
//!
//! When the connection owes a PROXY protocol header, the first reads go
//! to its [`HeaderReader`] until the header is complete; the bytes after
//! it go to the session, and the worker is told (see
//! [`Conn::take_header_done`]) so that it admits the real address.
//!
//! No protocol decision is made here: when to read, what to send, when to
//! time out and how to close are the session's.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;

use crate::file_service::{Reply, Route, Started};
use crate::files::{FileReply, FileRequest};
use crate::proxy::{HeaderReader, Invalid, Progress};
use crate::session::{Close, Session, SessionConfig, Transmit};
use crate::shared::Shared;
use crate::sys;
use crate::timers::{Armed, Timers};

/// Why a connection ended.
#[derive(Debug)]
pub enum Ended {
    /// The session closed it.
    Closed(Close),
    /// The socket failed (reset by the peer, ...).
    Io(io::Error),
    /// Its PROXY protocol header was missing, malformed, oversized or late.
    Proxy(Invalid),
    /// The address its PROXY header named holds `--max-connections-per-ip`
    /// connections already.
    OverLimit,
}

impl Ended {
    /// Whether this end resets the connection instead of closing it.
    pub fn resets(&self) -> bool {
        matches!(
            self,
            Ended::Closed(Close { abort: true, .. }) | Ended::OverLimit
        )
    }
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Closed(close) => write!(f, "{}", close.reason),
            Ended::Io(e) => write!(f, "I/O error: {e}"),
            Ended::Proxy(why) => write!(f, "{why}"),
            Ended::OverLimit => write!(f, "past --max-connections-per-ip"),
        }
    }
}

/// The buffers a worker lends the connection it drives.
pub struct Buffers {
    /// Socket reads land here.
    pub read: Box<[u8]>,
    /// File reads made on the loop (from the page cache) land here.
    pub file: Box<[u8]>,
}

/// A client connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    session: Session<Arc<File>>,
    /// Generation number: tells this connection from a later one in the
    /// same slab slot (see [`crate::timers`]).
    pub id: u64,
    /// Its place in the worker's timers.
    pub armed: Armed,
    /// The socket may hold unread bytes. Cleared by a read that comes back
    /// short or `WouldBlock` (the socket was drained), set again by the
    /// next readable event: edge-triggered epoll reports every arrival
    /// after a drain, so the read that would only say `WouldBlock` is
    /// never made.
    readable: bool,
    /// The peer's end was reported closed (or in error): a short read no
    /// longer means "wait for an event", since no event will follow the
    /// one that reported the close.
    read_closed: bool,
    /// The socket may take more bytes; cleared by `WouldBlock`.
    writable: bool,
    /// The PROXY header still to be read, if the connection owes one.
    header: Option<HeaderReader>,
    /// The header was complete in the last turn: the worker has yet to
    /// admit [`Conn::peer`].
    header_done: bool,
    /// The address the per-address limit counts this connection under
    /// (`None`: not counted yet).
    pub counted: Option<IpAddr>,
}

impl Conn {
    /// A connection accepted at `now`.
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        config: SessionConfig,
        id: u64,
        now: Instant,
    ) -> Self {
        Conn {
            stream,
            peer,
            session: Session::new(config, now),
            id,
            armed: Armed::default(),
            readable: true,
            read_closed: false,
            writable: true,
            header: None,
            header_done: false,
            counted: None,
        }
    }

    /// The connection must begin with a PROXY header, read by `reader`.
    pub fn expect_header(&mut self, reader: HeaderReader) {
        self.header = Some(reader);
    }

    /// Whether its PROXY header was complete in the last turn (once):
    /// [`Conn::peer`] is now the address it named.
    pub fn take_header_done(&mut self) -> bool {
        std::mem::take(&mut self.header_done)
    }

    /// The client's address: the socket's peer, or the source its PROXY
    /// header named once that is read.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The session.
    pub fn session(&self) -> &Session<Arc<File>> {
        &self.session
    }

    /// The socket, for (de)registration.
    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Notes a readiness event.
    pub fn note_event(&mut self, readable: bool, writable: bool, read_closed: bool) {
        self.readable |= readable || read_closed;
        self.read_closed |= read_closed;
        self.writable |= writable;
    }

    /// Notes that the socket may be ready either way (after a move between
    /// workers, whose events may have been lost).
    pub fn assume_ready(&mut self) {
        self.note_event(true, true, false);
    }

    /// Gives the connection one turn: does what the socket's readiness,
    /// the file system and the session allow, up to the session's turn
    /// budget. `route` is where its file replies come back. Returns why it
    /// ended, if it did.
    pub fn drive(
        &mut self,
        shared: &Arc<Shared>,
        route: Route,
        bufs: &mut Buffers,
        now: Instant,
    ) -> Option<Ended> {
        self.session.begin_turn();
        if self.header.is_some() {
            if let Err(ended) = self.read_header(bufs, now) {
                return Some(ended);
            }
            if self.header.is_some() || self.header_done {
                // Waiting for the rest, or for the worker's admission.
                return self.session.poll_close().map(Ended::Closed);
            }
        }
        loop {
            let mut moved = false;
            // File work first: lookups and reads answered at once (from
            // the kernel's caches) go out together in the next write.
            while let Some(request) = self.session.poll_file_request(now) {
                // A raw slice's bytes go straight from the page cache to
                // the socket when that cannot wait.
                if let FileRequest::Send { file, offset, len } = request {
                    if !self.writable {
                        // Nothing sent now: asked again when writable.
                        self.session.handle_file_reply(FileReply::Sent(0), now);
                        break;
                    }
                    match sys::send_cached(&self.stream, file, offset, len) {
                        Ok(Some(n)) => {
                            // 0: the file ends there (it shrank).
                            let reply = match n {
                                0 => FileReply::Data(&[]),
                                n => FileReply::Sent(n),
                            };
                            self.session.handle_file_reply(reply, now);
                            moved = true;
                            continue;
                        }
                        Ok(None) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            self.writable = false;
                            self.session.handle_file_reply(FileReply::Sent(0), now);
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                            self.session.handle_file_reply(FileReply::Sent(0), now);
                            continue;
                        }
                        Err(e) => return Some(Ended::Io(e)),
                    }
                }
                let started = shared
                    .files
                    .start(request, route, now, &mut bufs.file, shared);
                let Started::Done(reply) = started else {
                    break;
                };
                self.session.handle_file_reply(reply, now);
                moved = true;
            }
            while self.writable {
                let Some(transmit) = self.session.poll_transmit(now) else {
                    break;
                };
                let result = match transmit {
                    Transmit::Bytes(bytes) => (&self.stream).write(bytes),
                    Transmit::ShutdownWrite => {
                        let _ = self.stream.shutdown(Shutdown::Write);
                        moved = true;
                        continue;
                    }
                };
                match result {
                    Ok(n) => self.session.handle_written(n, now),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Some(Ended::Io(e)),
                }
                moved = true;
            }
            if self.readable && self.session.wants_input() {
                match (&self.stream).read(&mut bufs.read) {
                    Ok(0) => self.session.handle_eof(now),
                    Ok(n) => {
                        // A short read took all the socket held.
                        if n < bufs.read.len() && !self.read_closed {
                            self.readable = false;
                        }
                        self.session.handle_input(&bufs.read[..n], now);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Some(Ended::Io(e)),
                }
                moved = true;
            }
            if let Some(close) = self.session.poll_close() {
                return Some(Ended::Closed(close));
            }
            if !moved {
                return None;
            }
        }
    }

    /// Reads into the PROXY header while the socket has bytes; when it is
    /// complete, the bytes after it go to the session.
    fn read_header(&mut self, bufs: &mut Buffers, now: Instant) -> Result<(), Ended> {
        while self.readable {
            let Some(header) = self.header.as_mut() else {
                return Ok(());
            };
            let n = match (&self.stream).read(&mut bufs.read) {
                Ok(0) => return Err(Ended::Proxy(header.handle_eof())),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Ended::Io(e)),
            };
            if n < bufs.read.len() && !self.read_closed {
                self.readable = false;
            }
            match header.handle_input(&bufs.read[..n]) {
                Progress::NeedMore => {}
                Progress::Done { source, used } => {
                    if let Some(source) = source {
                        self.peer = source;
                    }
                    self.header = None;
                    self.header_done = true;
                    if used < n {
                        self.session.handle_input(&bufs.read[used..n], now);
                    }
                }
                Progress::Invalid(why) => return Err(Ended::Proxy(why)),
            }
        }
        Ok(())
    }

    /// The reply to the session's file-system request came, at `now`.
    pub fn handle_file_reply(&mut self, reply: Reply, now: Instant) {
        reply.with(|reply| self.session.handle_file_reply(reply, now));
    }

    /// Whether the last turn ended on the session's budget, so that it
    /// must have another once the other connections had theirs.
    pub fn turn_spent(&self) -> bool {
        self.session.turn_spent()
    }

    /// Makes sure the worker's `timers` wake this connection (slab `key`)
    /// by its session's next deadline.
    pub fn arm(&mut self, timers: &mut Timers, key: usize) {
        let mut deadline = self.session.poll_timeout();
        if let Some(header) = &self.header {
            let due = header.poll_timeout();
            deadline = Some(deadline.map_or(due, |d| d.min(due)));
        }
        timers.arm(&mut self.armed, deadline, key, self.id);
    }

    /// Handles the session's deadlines at `now`, asking the socket how much
    /// the peer has acknowledged first when the session wants to know.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Ended> {
        if let Some(header) = self.header.as_ref().filter(|h| h.handle_timeout(now)) {
            return Some(Ended::Proxy(header.late()));
        }
        if self.session.wants_send_queue(now) {
            self.session
                .handle_send_queue(sys::unacked(&self.stream), now);
        }
        self.session.handle_timeout(now);
        self.session.poll_close().map(Ended::Closed)
    }

    /// The server is shutting down.
    pub fn handle_shutdown(&mut self) {
        self.session.handle_shutdown();
    }

    /// Closes the connection as `ended` says: a reset when the session
    /// aborts it, a plain close otherwise.
    pub fn close(self, ended: &Ended) {
        if ended.resets() {
            sys::set_abortive_close(&self.stream);
        }
        drop(self.stream);
    }
}
