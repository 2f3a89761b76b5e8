//! One client connection as a worker holds it: the socket, its readiness
//! as the event loop last reported it, its [`Transport`] (plain or TLS)
//! and the sans-IO [`Session`]; and the I/O that carries out what the
//! session asks for: reads, writes, raw file ranges, shutting the write
//! side, probing the send queue, closing.
//!
//! When the connection owes a PROXY protocol header, the first reads go
//! to its [`HeaderReader`] until the header is complete; the bytes after
//! it go to the session, and the worker is told (see
//! [`Conn::take_header_done`]) so that it admits the real address.
//!
//! No protocol decision is made here: when to read, what to send, when to
//! time out and how to close are the session's.

use std::fs::File;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;

use crate::file_service::{Reply, Route, Started};
use crate::files::{FileReply, FileRequest};
use crate::metrics::{CloseReason, Metrics};
use crate::proxy::{HeaderReader, Invalid, Progress};
use crate::request_log;
use crate::session::{Close, Reason, Session, SessionConfig, Transmit};
use crate::shared::Shared;
use crate::sys;
use crate::timers::{Armed, Timers};
use crate::transport::{Failure, Got, Transport, Wrote};

/// Why a connection ended.
#[derive(Debug)]
pub enum Ended {
    /// The session closed it.
    Closed(Close),
    /// The socket failed (reset by the peer, ...).
    Io(io::Error),
    /// The peer broke TLS, or did not speak it.
    Tls(rustls::Error),
    /// The TLS handshake was not done within the request timeout.
    HandshakeTimeout,
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

    /// How the metrics count this end.
    pub fn metrics_reason(&self) -> CloseReason {
        match self {
            Ended::Closed(close) => match close.reason {
                Reason::ByPeer => CloseReason::Peer,
                Reason::Quit => CloseReason::Quit,
                Reason::Fatal(_) => CloseReason::Fatal,
                Reason::Idle => CloseReason::Idle,
                Reason::RequestTimeout => CloseReason::RequestDeadline,
                Reason::FileShrank => CloseReason::Shrink,
                Reason::FileSystemTimeout => CloseReason::FsTimeout,
                Reason::Shutdown => CloseReason::Shutdown,
            },
            Ended::Io(_) => CloseReason::Io,
            Ended::Tls(_) => CloseReason::Tls,
            Ended::HandshakeTimeout => CloseReason::Handshake,
            Ended::Proxy(_) => CloseReason::Proxy,
            Ended::OverLimit => CloseReason::Limit,
        }
    }
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Closed(close) => write!(f, "{}", close.reason),
            Ended::Io(e) => write!(f, "I/O error: {e}"),
            Ended::Tls(e) => write!(f, "TLS error: {e}"),
            Ended::HandshakeTimeout => f.write_str("TLS handshake not completed in time"),
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
    transport: Transport,
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
    /// Whether this connection counts in the slices-in-flight gauge.
    slice_counted: bool,
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
    /// A connection accepted at `now`, its bytes carried by `transport`.
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        transport: Transport,
        config: SessionConfig,
        id: u64,
        now: Instant,
    ) -> Self {
        Conn {
            stream,
            peer,
            transport,
            session: Session::new(config, now),
            id,
            armed: Armed::default(),
            readable: true,
            read_closed: false,
            writable: true,
            slice_counted: false,
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

    /// Whether it is a TLS connection.
    pub fn is_tls(&self) -> bool {
        !self.transport.is_plain()
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
        let ended = self.turn(shared, route, bufs, now);
        self.report(&shared.metrics);
        ended
    }

    /// Reports the requests whose answers went out (metrics and the
    /// request log), and whether a slice is in flight.
    fn report(&mut self, metrics: &Metrics) {
        while let Some(event) = self.session.poll_event() {
            metrics.request(&event, !self.transport.is_plain());
            request_log::answered(self.peer, &event);
        }
        let sending = self.session.sends_slice();
        if sending != self.slice_counted {
            self.slice_counted = sending;
            metrics.slice(sending);
        }
    }

    fn turn(
        &mut self,
        shared: &Arc<Shared>,
        route: Route,
        bufs: &mut Buffers,
        now: Instant,
    ) -> Option<Ended> {
        self.session.begin_turn();
        self.transport.begin_turn();
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
                // the socket when that cannot wait (not through TLS: they
                // are read, then encrypted and written).
                let direct = self.transport.is_plain();
                if let (FileRequest::Send { file, offset, len }, true) = (&request, direct) {
                    let (file, offset, len) = (*file, *offset, *len);
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
                // What TLS has waiting first (handshake, records, alerts).
                match self.transport.flush(&self.stream) {
                    Ok(wrote) => moved |= wrote,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.writable = false;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Some(Ended::Io(e)),
                }
                let Some(transmit) = self.session.poll_transmit(now) else {
                    break;
                };
                let result = match transmit {
                    Transmit::Bytes(bytes) => self.transport.write(&self.stream, bytes),
                    Transmit::ShutdownWrite => {
                        self.transport.shutdown_write(&self.stream);
                        moved = true;
                        continue;
                    }
                };
                match result {
                    Ok(Wrote::Took(n)) => self.session.handle_written(n, now),
                    // Once the handshake is done (a read finishes it).
                    Ok(Wrote::Held) => break,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Some(Ended::Io(e)),
                }
                moved = true;
            }
            let may_read = self.readable && !self.transport.turn_spent();
            if (may_read || self.transport.holds_input()) && self.session.wants_input() {
                let got = self.transport.read(
                    &self.stream,
                    &mut bufs.read,
                    &mut self.readable,
                    self.read_closed,
                );
                match got {
                    Ok(Got::Data(n)) => self.session.handle_input(&bufs.read[..n], now),
                    Ok(Got::Eof) => self.session.handle_eof(now),
                    Ok(Got::Nothing) => {}
                    Err(Failure::Io(e)) => return Some(Ended::Io(e)),
                    Err(Failure::Tls(e)) => return Some(Ended::Tls(e)),
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
                        // The next stage's first bytes: TLS's, or HFTP's.
                        let rest = &bufs.read[used..n];
                        if self.transport.is_plain() {
                            self.session.handle_input(rest, now);
                        } else {
                            self.transport.feed(rest).map_err(|e| match e {
                                Failure::Io(e) => Ended::Io(e),
                                Failure::Tls(e) => Ended::Tls(e),
                            })?;
                        }
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
        self.session.turn_spent() || self.transport.turn_spent()
    }

    /// Makes sure the worker's `timers` wake this connection (slab `key`)
    /// by its session's next deadline.
    pub fn arm(&mut self, timers: &mut Timers, key: usize) {
        let mut deadline = match (self.session.poll_timeout(), self.transport.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
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
        if self.transport.handshake_overdue(now) {
            return Some(Ended::HandshakeTimeout);
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
    /// aborts it, a plain close otherwise (a TLS peer told first, and
    /// what it sent last read, so that the close is not a reset).
    pub fn close(mut self, ended: &Ended, metrics: &Metrics) {
        if self.slice_counted {
            metrics.slice(false);
        }
        metrics.closed(ended.metrics_reason(), true);
        if ended.resets() {
            sys::set_abortive_close(&self.stream);
        } else if !matches!(ended, Ended::Io(_) | Ended::Proxy(_)) && !self.transport.is_plain() {
            self.transport.finish(&self.stream);
            drain(&self.stream);
        }
        drop(self.stream);
    }
}

/// Reads and drops what the peer sent that was not read (at most 64 KiB,
/// without waiting): a socket closed with unread bytes is reset, and the
/// peer would lose the alert or close_notify just written.
fn drain(stream: &TcpStream) {
    use std::io::Read;
    let mut buf = [0u8; 4096];
    for _ in 0..16 {
        match (&*stream).read(&mut buf) {
            Ok(n) if n > 0 => {}
            _ => return,
        }
    }
}
