//! What a connection sent and received, byte for byte, with times and the
//! request each run of bytes belongs to: the record a conformance checker
//! shows when a server gets something wrong.

use std::fmt;
use std::time::Instant;

use crate::RequestId;

/// Which way bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the server.
    Sent,
    /// From the server to the client.
    Received,
}

/// One run of bytes that went the same way for the same request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When the first of these bytes went or arrived.
    pub at: Instant,
    /// Which way.
    pub direction: Direction,
    /// The request they belong to: for sent bytes, the request they carry;
    /// for received ones, the request whose response was being decoded
    /// (`None` for bytes no request was waiting for).
    pub request: Option<RequestId>,
    /// The bytes, at most the transcript's limit in all.
    pub bytes: Vec<u8>,
    /// Bytes of this run not kept because the limit was reached.
    pub omitted: u64,
}

/// The bytes a connection exchanged, in order; consecutive bytes going
/// the same way for the same request share a [`Record`]. The server
/// closing its side is a received record with no bytes.
///
/// ```
/// use std::time::Instant;
/// use hftp_client::{Direction, Pipeline};
/// use hftp_proto::Request;
///
/// let mut pipeline = Pipeline::new();
/// pipeline.record(1 << 20);
/// let id = pipeline.push(&Request::Help);
/// let n = pipeline.poll_transmit().len();
/// pipeline.handle_transmitted(n, Instant::now());
/// pipeline.handle_input(b"0 OK\r\n", &mut [], Instant::now())?;
/// let transcript = pipeline.take_transcript().unwrap();
/// let records = transcript.records();
/// assert_eq!((records[0].direction, records[0].request), (Direction::Sent, Some(id)));
/// assert_eq!(records[1].bytes, b"0 OK\r\n");
/// assert_eq!(transcript.to_string(), "> #0 \"help\\r\\n\"\n< #0 \"0 OK\\r\\n\"\n");
/// # Ok::<(), hftp_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Transcript {
    records: Vec<Record>,
    /// Payload bytes that may still be kept.
    room: usize,
    /// Payload bytes one record may keep.
    per_record: usize,
}

impl Transcript {
    /// An empty transcript keeping at most `max_bytes` of payload (the
    /// rest is counted in [`Record::omitted`]).
    pub fn new(max_bytes: usize) -> Self {
        Transcript::with_record_limit(max_bytes, usize::MAX)
    }

    /// An empty transcript keeping at most `max_bytes` of payload in all
    /// and the first `per_record` bytes of each record: a long line sent
    /// then leaves room for the answer to it.
    ///
    /// ```
    /// use std::time::Instant;
    /// use hftp_client::{Direction, Transcript};
    ///
    /// let mut transcript = Transcript::with_record_limit(1024, 4);
    /// transcript.record(Direction::Sent, None, b"get_metadata aaaaaaaa\r\n", Instant::now());
    /// transcript.record(Direction::Received, None, b"202 FILE NOT FOUND\r\n", Instant::now());
    /// assert_eq!(transcript.to_string(), "> - \"get_\" (+19 bytes not kept)\n< - \"202 \" (+16 bytes not kept)\n");
    /// ```
    pub fn with_record_limit(max_bytes: usize, per_record: usize) -> Self {
        Transcript {
            records: Vec::new(),
            room: max_bytes,
            per_record,
        }
    }

    /// The records, oldest first.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Adds bytes; empty runs are not recorded.
    pub fn record(
        &mut self,
        direction: Direction,
        request: Option<RequestId>,
        bytes: &[u8],
        at: Instant,
    ) {
        if bytes.is_empty() {
            return;
        }
        let extends = self.records.last().is_some_and(|last| {
            last.direction == direction && last.request == request && !last.is_close()
        });
        let kept = match (extends, self.records.last()) {
            (true, Some(last)) => last.bytes.len(),
            _ => 0,
        };
        let keep = bytes
            .len()
            .min(self.room)
            .min(self.per_record.saturating_sub(kept));
        self.room -= keep;
        let omitted = (bytes.len() - keep) as u64;
        match self.records.last_mut() {
            Some(last) if extends => {
                last.bytes.extend_from_slice(&bytes[..keep]);
                last.omitted += omitted;
            }
            _ => self.records.push(Record {
                at,
                direction,
                request,
                bytes: bytes[..keep].to_vec(),
                omitted,
            }),
        }
    }

    /// Records that the server closed its side.
    pub fn record_close(&mut self, at: Instant) {
        self.records.push(Record {
            at,
            direction: Direction::Received,
            request: None,
            bytes: Vec::new(),
            omitted: 0,
        });
    }
}

impl Record {
    /// Whether this record is the server's close (no bytes at all).
    pub fn is_close(&self) -> bool {
        self.bytes.is_empty() && self.omitted == 0
    }
}

impl fmt::Display for Transcript {
    /// One line per record: `>` sent, `<` received, the request, and the
    /// bytes as an escaped string (`< EOF` for the close).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.records {
            let arrow = match r.direction {
                Direction::Sent => '>',
                Direction::Received => '<',
            };
            if r.is_close() {
                writeln!(f, "{arrow} EOF")?;
                continue;
            }
            let who = r.request.map(|id| id.to_string()).unwrap_or("-".into());
            write!(f, "{arrow} {who} \"{}\"", r.bytes.escape_ascii())?;
            if r.omitted > 0 {
                write!(f, " (+{} bytes not kept)", r.omitted)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
