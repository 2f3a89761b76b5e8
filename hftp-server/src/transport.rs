//! What carries a connection's bytes between its socket and its session:
//! the socket itself, or TLS — rustls's sans-IO `ServerConnection`, fed
//! the socket's bytes and asked for the plaintext, given the session's
//! bytes and asked for records to write.
//!
//! Everything the session decides holds through TLS unchanged: it reads
//! only when it wants input, so rustls holds at most one record of
//! plaintext; what it writes is accepted only while rustls's send buffer
//! (at most [`SEND_BUFFER`] of records) has room, and that buffer drains
//! only as the socket takes bytes, so a peer that stops reading stops the
//! session's output as a plain socket would. Bytes of records that have
//! not yet made a whole record are no progress to the session (it sees
//! plaintext only): a peer trickling a record is idle. The handshake must
//! be done by a deadline (the request timeout), checked with the time
//! passed in.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Instant;

use mio::net::TcpStream;

use crate::session::TURN_BUDGET;

/// The most bytes of TLS records waiting for the socket, per connection.
pub const SEND_BUFFER: usize = 32 * 1024;

/// How a connection's bytes travel.
#[derive(Debug)]
pub enum Transport {
    /// Straight through the socket.
    Plain,
    /// Through TLS.
    Tls(Box<Tls>),
}

/// A TLS connection's state.
#[derive(Debug)]
pub struct Tls {
    conn: rustls::ServerConnection,
    /// While handshaking: when the handshake must be done.
    handshake_deadline: Option<Instant>,
    /// rustls may hold plaintext not read yet.
    plaintext: bool,
    /// A close_notify was queued: shut the socket's write side once it and
    /// everything before it are written.
    shutdown_pending: bool,
    /// A close_notify was queued (or TLS failed: an alert was).
    notified: bool,
    /// Bytes of records it may still read from the socket this turn: a
    /// peer sending records that hold no plaintext (so that the session's
    /// own budget never runs down) gets no longer turns than others.
    budget: usize,
}

/// What a read brought.
#[derive(Debug, PartialEq, Eq)]
pub enum Got {
    /// Bytes for the session, at the start of the buffer.
    Data(usize),
    /// The peer closed its side.
    Eof,
    /// Nothing for the session (the socket is drained, or the bytes read
    /// were TLS's own: handshake messages, a partial record).
    Nothing,
}

/// Why a transport failed.
#[derive(Debug)]
pub enum Failure {
    /// The socket failed.
    Io(io::Error),
    /// The peer broke TLS (or is not speaking it).
    Tls(rustls::Error),
}

/// What a write did.
#[derive(Debug, PartialEq, Eq)]
pub enum Wrote {
    /// This many of the bytes were taken.
    Took(usize),
    /// None can be taken before the TLS handshake is done.
    Held,
}

impl Transport {
    /// A TLS connection accepted at `now`, whose handshake must be done
    /// by `now + handshake_timeout`.
    pub fn tls(
        mut conn: rustls::ServerConnection,
        now: Instant,
        handshake_timeout: std::time::Duration,
    ) -> Transport {
        conn.set_buffer_limit(Some(SEND_BUFFER));
        Transport::Tls(Box::new(Tls {
            conn,
            handshake_deadline: Some(now + handshake_timeout),
            plaintext: false,
            shutdown_pending: false,
            notified: false,
            budget: TURN_BUDGET,
        }))
    }

    /// Whether bytes go straight to the socket (so that a file range can
    /// be sent to it by the kernel).
    pub fn is_plain(&self) -> bool {
        matches!(self, Transport::Plain)
    }

    /// Starts a turn (see [`crate::session::Session::begin_turn`]).
    pub fn begin_turn(&mut self) {
        if let Transport::Tls(tls) = self {
            tls.budget = TURN_BUDGET;
        }
    }

    /// Whether this turn's budget of record bytes is spent: the
    /// connection must have another turn after the others.
    pub fn turn_spent(&self) -> bool {
        matches!(self, Transport::Tls(tls) if tls.budget == 0)
    }

    /// Hands TLS bytes read from the socket by an earlier stage (what
    /// followed a PROXY header in the same read).
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Failure> {
        let Transport::Tls(tls) = self else {
            return Ok(());
        };
        while !bytes.is_empty() {
            tls.conn.read_tls(&mut bytes).map_err(Failure::Io)?;
            let state = tls.conn.process_new_packets().map_err(|e| {
                tls.notified = true;
                Failure::Tls(e)
            })?;
            tls.plaintext = state.plaintext_bytes_to_read() > 0 || state.peer_has_closed();
        }
        Ok(())
    }

    /// Whether a read may bring bytes without the socket being readable.
    pub fn holds_input(&self) -> bool {
        match self {
            Transport::Plain => false,
            Transport::Tls(tls) => tls.plaintext,
        }
    }

    /// Reads once for the session into `buf`. `readable` is the socket's
    /// readiness, cleared when it turns out drained; `read_closed`: the
    /// peer's end was reported closed (a short read then still leaves
    /// bytes to read).
    pub fn read(
        &mut self,
        stream: &TcpStream,
        buf: &mut [u8],
        readable: &mut bool,
        read_closed: bool,
    ) -> Result<Got, Failure> {
        match self {
            Transport::Plain => match (&*stream).read(buf) {
                Ok(0) => Ok(Got::Eof),
                Ok(n) => {
                    // A short read took all the socket held.
                    if n < buf.len() && !read_closed {
                        *readable = false;
                    }
                    Ok(Got::Data(n))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *readable = false;
                    Ok(Got::Nothing)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Got::Nothing),
                Err(e) => Err(Failure::Io(e)),
            },
            Transport::Tls(tls) => tls.read(stream, buf, readable),
        }
    }

    /// Hands `bytes` of the session's to the socket, or to TLS.
    pub fn write(&mut self, stream: &TcpStream, bytes: &[u8]) -> io::Result<Wrote> {
        match self {
            Transport::Plain => (&*stream).write(bytes).map(Wrote::Took),
            Transport::Tls(tls) => tls.write(stream, bytes),
        }
    }

    /// Writes what TLS has waiting (handshake messages, records, alerts);
    /// whether anything was written. `WouldBlock`: the socket is full.
    pub fn flush(&mut self, stream: &TcpStream) -> io::Result<bool> {
        match self {
            Transport::Plain => Ok(false),
            Transport::Tls(tls) => tls.flush(stream),
        }
    }

    /// Ends the session's output: the socket's write side is shut (with
    /// TLS, after a close_notify and whatever was queued before it).
    pub fn shutdown_write(&mut self, stream: &TcpStream) {
        match self {
            Transport::Plain => {
                let _ = stream.shutdown(Shutdown::Write);
            }
            Transport::Tls(tls) => {
                if !tls.notified {
                    tls.conn.send_close_notify();
                    tls.notified = true;
                }
                tls.shutdown_pending = true;
                let _ = tls.flush(stream);
            }
        }
    }

    /// Before a graceful close: a TLS peer is told (a close_notify, or
    /// the alert for what went wrong), as far as the socket takes it now.
    pub fn finish(&mut self, stream: &TcpStream) {
        if let Transport::Tls(tls) = self {
            if !tls.notified {
                tls.conn.send_close_notify();
                tls.notified = true;
            }
            let _ = tls.flush(stream);
        }
    }

    /// When the handshake must be done, while it is not.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Transport::Plain => None,
            Transport::Tls(tls) => tls.handshake_deadline,
        }
    }

    /// Whether the handshake is overdue at `now`.
    pub fn handshake_overdue(&self, now: Instant) -> bool {
        self.poll_timeout().is_some_and(|deadline| now >= deadline)
    }
}

impl Tls {
    fn read(
        &mut self,
        stream: &TcpStream,
        buf: &mut [u8],
        readable: &mut bool,
    ) -> Result<Got, Failure> {
        match self.conn.reader().read(buf) {
            // A close_notify.
            Ok(0) => return Ok(Got::Eof),
            Ok(n) => {
                self.plaintext = true;
                return Ok(Got::Data(n));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.plaintext = false,
            // The socket closed without a close_notify: the end of the
            // requests all the same (a server cannot be fooled by a
            // truncated request: it is incomplete).
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Got::Eof),
            Err(e) => return Err(Failure::Io(e)),
        }
        if !*readable || self.budget == 0 {
            return Ok(Got::Nothing);
        }
        match self.conn.read_tls(&mut &*stream) {
            Ok(n) => self.budget = self.budget.saturating_sub(n.max(1)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                *readable = false;
                return Ok(Got::Nothing);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Got::Nothing),
            Err(e) => return Err(Failure::Io(e)),
        }
        let state = self.conn.process_new_packets().map_err(|e| {
            // rustls queued the alert that says why.
            self.notified = true;
            Failure::Tls(e)
        })?;
        if !self.conn.is_handshaking() {
            self.handshake_deadline = None;
        }
        self.plaintext = state.plaintext_bytes_to_read() > 0 || state.peer_has_closed();
        Ok(Got::Nothing)
    }

    fn write(&mut self, stream: &TcpStream, bytes: &[u8]) -> io::Result<Wrote> {
        self.flush(stream)?;
        if self.conn.is_handshaking() {
            return Ok(Wrote::Held);
        }
        let n = self.conn.writer().write(bytes)?;
        // Out at once as far as the socket takes it; the rest when it is
        // writable again (the next write or flush says `WouldBlock`).
        match self.flush(stream) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
            _ => {}
        }
        Ok(Wrote::Took(n))
    }

    fn flush(&mut self, stream: &TcpStream) -> io::Result<bool> {
        let mut wrote = false;
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut &*stream) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => wrote = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.shutdown_pending {
            self.shutdown_pending = false;
            let _ = stream.shutdown(Shutdown::Write);
            wrote = true;
        }
        Ok(wrote)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// A TLS transport over a real socket pair, its handshake deadline
    /// timed from `now`; and the client's end.
    fn pair(
        now: Instant,
    ) -> (
        Transport,
        TcpStream,
        std::net::TcpStream,
        rustls::ClientConfig,
    ) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        let tls = crate::tls::Tls::new(&cert, &key).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(made.cert.der().clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let transport = Transport::tls(tls.accept().unwrap(), now, Duration::from_secs(5));
        (transport, TcpStream::from_std(server), client, config)
    }

    #[test]
    fn the_handshake_is_due_by_its_deadline_and_then_no_longer_timed() {
        let t0 = Instant::now();
        let (mut transport, server, client, config) = pair(t0);
        assert_eq!(transport.poll_timeout(), Some(t0 + Duration::from_secs(5)));
        assert!(!transport.handshake_overdue(t0 + Duration::from_millis(4999)));
        assert!(transport.handshake_overdue(t0 + Duration::from_secs(5)));

        // The client's side in a thread; ours driven by hand until done.
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let handshake = std::thread::spawn(move || {
            let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
            let mut client = client;
            while conn.is_handshaking() {
                conn.complete_io(&mut client).unwrap();
            }
            (conn, client)
        });
        let mut buf = [0u8; 1024];
        let started = Instant::now();
        while transport.poll_timeout().is_some() {
            let mut readable = true;
            let got = transport.read(&server, &mut buf, &mut readable, false);
            assert!(matches!(got, Ok(Got::Nothing)), "{got:?}");
            let _ = transport.flush(&server);
            assert!(started.elapsed() < Duration::from_secs(20), "no handshake");
            std::thread::sleep(Duration::from_millis(1));
        }
        // Done: no deadline, at any time.
        assert!(!transport.handshake_overdue(t0 + Duration::from_secs(3600)));
        let (mut conn, mut client) = handshake.join().unwrap();
        // Plaintext both ways.
        assert_eq!(
            transport.write(&server, b"0 OK\r\n").unwrap(),
            Wrote::Took(6)
        );
        let mut got = Vec::new();
        while got.len() < 6 {
            conn.read_tls(&mut client).unwrap();
            conn.process_new_packets().unwrap();
            let mut part = [0u8; 16];
            if let Ok(n) = conn.reader().read(&mut part) {
                got.extend_from_slice(&part[..n]);
            }
        }
        assert_eq!(got, b"0 OK\r\n");
    }
}
