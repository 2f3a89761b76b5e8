//! The checker's connection: one [`Connection`] of the library's, bounded
//! by the case's deadline, recording what it sent and received; its
//! answers gathered into [`Reply`]s, its end told apart ([`Close`]: a
//! graceful close, a reset, still open, more bytes), and its transcript
//! filed with the case when it is dropped.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hftp_client::{Connection, Direction, Error, Timeouts, Transcript};
use hftp_proto::{Event, Expect};

use super::case::Outcome;

/// Payload a transcript keeps in all, and of one run of bytes.
const KEEP_TOTAL: usize = 64 * 1024;
const KEEP_RECORD: usize = 600;

/// A transcript as a case files it: which connection, and its lines.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The connection's number in the case, from 1.
    pub connection: usize,
    /// Its transcript, rendered (see [`render`]).
    pub lines: String,
}

/// Where a probe files its transcript: its number, the case's start,
/// the case's list.
type Filing = (usize, Instant, Arc<Mutex<Vec<Recorded>>>);

/// One connection of a case.
pub struct Probe {
    conn: Connection,
    /// Where to file the transcript (None: not recording).
    file: Option<Filing>,
    deadline: Instant,
    /// How the last failed answer ended the connection.
    failed: Option<Close>,
}

/// One response, whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub text: String,
    /// Listing or help lines.
    pub items: Vec<String>,
    /// A metadata size.
    pub size: Option<u64>,
    /// Slice bytes, decoded.
    pub data: Vec<u8>,
    /// Bytes of the response on the wire.
    pub wire: u64,
}

impl Reply {
    /// The status line as a person reads it: `202 FILE NOT FOUND`.
    pub fn status(&self) -> String {
        format!("{} {}", self.code, self.text)
    }
}

/// How a connection ended, or did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Close {
    /// The server closed gracefully (FIN), this long after asked.
    Fin(Duration),
    /// The server reset the connection.
    Reset,
    /// Still open when the time was up.
    Open,
    /// The server sent more bytes instead.
    Data,
    /// Something else went wrong.
    Failed(String),
}

impl Close {
    /// In words, for a report.
    pub fn describe(&self) -> String {
        match self {
            Close::Fin(after) => format!("closed the connection after {}", secs(*after)),
            Close::Reset => "reset the connection".into(),
            Close::Open => "kept the connection open".into(),
            Close::Data => "sent more bytes instead of closing".into(),
            Close::Failed(why) => why.clone(),
        }
    }

    /// Whether the connection ended (gracefully or not).
    pub fn ended(&self) -> bool {
        matches!(self, Close::Fin(_) | Close::Reset)
    }
}

/// `1.25 s`.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

impl Probe {
    /// Connects to `addr` within the deadline, recording.
    pub fn connect(
        addr: SocketAddr,
        deadline: Instant,
        began: Instant,
        number: usize,
        recorded: &Arc<Mutex<Vec<Recorded>>>,
    ) -> Result<Probe, Outcome> {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut probe = Probe::open(addr, deadline, left)?;
        probe
            .conn
            .record_into(Transcript::with_record_limit(KEEP_TOTAL, KEEP_RECORD));
        probe.file = Some((number, began, Arc::clone(recorded)));
        Ok(probe)
    }

    /// Connects within `timeout`, recording nothing, reading 4 KiB at a
    /// time.
    pub fn connect_quietly(
        addr: SocketAddr,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Probe, Outcome> {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut probe = Probe::open(addr, deadline, timeout.min(left))?;
        probe.conn.set_read_size(4096);
        Ok(probe)
    }

    fn open(addr: SocketAddr, deadline: Instant, within: Duration) -> Result<Probe, Outcome> {
        let within = within.max(Duration::from_millis(1));
        let stream = TcpStream::connect_timeout(&addr, within).map_err(|e| {
            Outcome::fail(
                format!("the server accepts a connection on {addr}"),
                format!("cannot connect: {e}"),
            )
        })?;
        let _ = stream.set_nodelay(true);
        let mut conn = Connection::over(stream.into(), Timeouts::uniform(None));
        conn.set_deadline(Some(deadline));
        Ok(Probe {
            conn,
            file: None,
            deadline,
            failed: None,
        })
    }

    /// Queues `bytes`, which draw one answer of the `expect` shape per
    /// entry, and writes them.
    pub fn send(&mut self, bytes: &[u8], expects: &[Expect]) -> Result<(), Outcome> {
        self.conn
            .send_bytes(bytes, expects.iter().copied())
            .and_then(|_| self.conn.flush())
            .map(drop)
            .map_err(|e| Outcome::fail("the server reads the request", describe(&e)))
    }

    /// Sends `bytes` one write at a time, `pause` apart, the last one
    /// drawing `expects`.
    pub fn send_slowly(
        &mut self,
        bytes: &[u8],
        pause: Duration,
        expects: &[Expect],
    ) -> Result<(), Outcome> {
        for (i, b) in bytes.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(pause);
            }
            let draws = if i + 1 == bytes.len() { expects } else { &[] };
            self.send(std::slice::from_ref(b), draws)?;
        }
        Ok(())
    }

    /// The next answer, whole; slice bytes go to `data` as they come.
    pub fn reply_into(&mut self, data: &mut dyn FnMut(&[u8])) -> Result<Reply, String> {
        let before = self.conn.pipeline().bytes_received();
        let mut reply = Reply::default();
        let mut out = vec![0; 256 * 1024];
        loop {
            match self.conn.next_event(&mut out) {
                Ok(None) => return Err("(the checker expected no answer: a bug)".into()),
                Ok(Some((_, event))) => match event {
                    Event::Status { code, text } => {
                        reply.code = code;
                        reply.text = text.to_owned();
                    }
                    Event::Item(item) => reply.items.push(item.to_owned()),
                    Event::Size(size) => reply.size = Some(size),
                    Event::Data(n) => data(&out[..n]),
                    Event::End => break,
                },
                Err(e) => {
                    self.failed = Some(match &e {
                        Error::Io(io) if is_reset(io) => Close::Reset,
                        Error::Io(io) if is_timeout(io) => Close::Open,
                        Error::Closed => Close::Fin(Duration::ZERO),
                        Error::Protocol(_) => Close::Data,
                        other => Close::Failed(other.to_string()),
                    });
                    return Err(describe(&e));
                }
            }
        }
        reply.wire = self.conn.pipeline().bytes_received() - before;
        Ok(reply)
    }

    /// How the connection ended when the last answer failed: a reset,
    /// a close (`Fin`), no answer in time (`Open`), bytes that are not
    /// HFTP (`Data`).
    pub fn failure(&self) -> Option<&Close> {
        self.failed.as_ref()
    }

    /// The next answer, whole, slice bytes kept.
    pub fn reply(&mut self) -> Result<Reply, String> {
        let mut data = Vec::new();
        let mut reply = self.reply_into(&mut |d| data.extend_from_slice(d))?;
        reply.data = data;
        Ok(reply)
    }

    /// Sends `bytes` (one request, answered in the `expect` shape) and
    /// returns the answer; no answer fails the case.
    pub fn ask(&mut self, bytes: &[u8], expect: Expect) -> Result<Reply, Outcome> {
        self.send(bytes, &[expect])?;
        self.reply()
            .map_err(|actual| Outcome::fail(format!("an answer to \"{}\"", show(bytes)), actual))
    }

    /// Waits at most `within` for the server to close its side.
    pub fn close(&mut self, within: Duration) -> Close {
        let asked = Instant::now();
        let until = (asked + within).min(self.deadline);
        self.conn.set_deadline(Some(until));
        let got = self.conn.wait_close();
        self.conn.set_deadline(Some(self.deadline));
        match got {
            Ok(()) => Close::Fin(asked.elapsed()),
            Err(Error::Io(e)) if is_reset(&e) => Close::Reset,
            Err(Error::Io(e)) if is_timeout(&e) => Close::Open,
            Err(Error::Protocol(_)) => Close::Data,
            Err(e) => Close::Failed(describe(&e)),
        }
    }

    /// Waits at most `within` for the server to close, without reading
    /// (the connection stays usable when it does not): `Open`, or how it
    /// ended, or `Data` when bytes wait to be read.
    pub fn peek_close(&mut self, within: Duration) -> Close {
        let asked = Instant::now();
        let stream = self.conn.get_ref().tcp();
        let _ = stream.set_read_timeout(Some(within.max(Duration::from_millis(1))));
        let got = stream.peek(&mut [0]);
        let _ = stream.set_read_timeout(None);
        match got {
            Ok(0) => Close::Fin(asked.elapsed()),
            Ok(_) => Close::Data,
            Err(e) if is_reset(&e) => Close::Reset,
            Err(e) if is_timeout(&e) => Close::Open,
            Err(e) => Close::Failed(e.to_string()),
        }
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        self.conn.get_ref().tcp()
    }

    /// The connection underneath.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Some((number, began, recorded)) = &self.file {
            if let Some(transcript) = self.conn.transcript() {
                let lines = render(transcript, *began);
                if let Ok(mut all) = recorded.lock() {
                    all.push(Recorded {
                        connection: *number,
                        lines,
                    });
                }
            }
        }
    }
}

/// A transcript as reports show it: one line per run of bytes, with its
/// time since the case began, `>` sent, `<` received, the bytes escaped.
pub fn render(transcript: &Transcript, began: Instant) -> String {
    let mut text = String::new();
    for r in transcript.records() {
        let at = r.at.saturating_duration_since(began).as_secs_f64();
        let arrow = match r.direction {
            Direction::Sent => '>',
            Direction::Received => '<',
        };
        if r.is_close() {
            text.push_str(&format!("{at:7.3}s {arrow} (closed)\n"));
            continue;
        }
        text.push_str(&format!("{at:7.3}s {arrow} \"{}\"", show(&r.bytes)));
        if r.omitted > 0 {
            text.push_str(&format!(" … +{} bytes", r.omitted));
        }
        text.push('\n');
    }
    text
}

/// Bytes as an escaped string: `quit\r\n`.
pub fn show(bytes: &[u8]) -> String {
    const SHOWN: usize = 120;
    let head = &bytes[..bytes.len().min(SHOWN)];
    let mut s = head.escape_ascii().to_string();
    if bytes.len() > SHOWN {
        s.push_str(&format!("… ({} bytes)", bytes.len()));
    }
    s
}

/// A failure of the connection in words.
pub fn describe(e: &Error) -> String {
    match e {
        Error::Io(io) if is_timeout(io) => "no answer before the case's time limit".into(),
        Error::Io(io) if is_reset(io) => "the server reset the connection".into(),
        Error::Closed => "the server closed the connection without a complete answer".into(),
        Error::Protocol(p) => format!("the answer is not HFTP: {p}"),
        Error::Broken(why) => format!("the connection had failed earlier: {why}"),
        other => other.to_string(),
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}
