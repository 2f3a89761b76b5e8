//! The sans-IO heart of every client connection: requests queued in
//! order, the bytes to send, responses decoded into events tagged with the
//! request they answer, a flow-control window, the broken flag, and the
//! optional transcript. No sockets and no clocks: the drivers
//! ([`Connection`](crate::Connection), the tokio client, `hftp-bench`'s
//! event loop) do the I/O and pass the time in.
//!
//! **Window.** Requests are handed out for sending only while the requests
//! sent and not yet answered take fewer than [`Pipeline::WINDOW`] bytes
//! (a request already begun is always finished). A server that stops
//! reading until its answers are taken, as servers with bounded memory do,
//! then always has room for what was sent, so a blocking driver that
//! writes everything it is handed and then reads cannot deadlock however
//! deep the pipeline.

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use hftp_proto::{Event, Expect, Request, ResponseDecoder};

use crate::transcript::{Direction, Transcript};
use crate::Error;

/// Identifies one request on its connection: numbered from 0 in the order
/// queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What one call to [`Pipeline::handle_input`] did.
#[derive(Debug, PartialEq, Eq)]
pub struct Received<'a> {
    /// Bytes of the input used; pass the rest to the next call.
    pub consumed: usize,
    /// The next event and the request it belongs to, or `None` when the
    /// whole input was taken in before an event was complete.
    pub event: Option<(RequestId, Event<'a>)>,
}

/// An event with its text moved out to a buffer of the driver's, so that
/// the driver's read loop holds no borrow of its input across reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tag {
    Status(u16),
    Item,
    Size(u64),
    Data(usize),
    End,
}

impl Tag {
    /// The tag of `event`; its text, if any, goes to `text`.
    pub(crate) fn of(event: Event<'_>, text: &mut String) -> Tag {
        match event {
            Event::Status { code, text: t } => {
                text.clear();
                text.push_str(t);
                Tag::Status(code)
            }
            Event::Item(item) => {
                text.clear();
                text.push_str(item);
                Tag::Item
            }
            Event::Size(size) => Tag::Size(size),
            Event::Data(n) => Tag::Data(n),
            Event::End => Tag::End,
        }
    }

    /// The event again, its text borrowed from `text`.
    pub(crate) fn event(self, text: &str) -> Event<'_> {
        match self {
            Tag::Status(code) => Event::Status { code, text },
            Tag::Item => Event::Item(text),
            Tag::Size(size) => Event::Size(size),
            Tag::Data(n) => Event::Data(n),
            Tag::End => Event::End,
        }
    }
}

/// A run of queued bytes drawing `responses` responses.
#[derive(Debug)]
struct Unit {
    /// Absolute positions in the stream of bytes sent.
    start: u64,
    end: u64,
    responses: usize,
    /// The id of its first response (the transcript files its bytes
    /// under it).
    first: Option<RequestId>,
    /// Its expectations were given to the decoder (its first byte went).
    registered: bool,
}

/// A response expected, registered with the decoder.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: RequestId,
    /// Where the unit that asked for it starts (for the window).
    unit_start: u64,
}

/// The sans-IO state of one client connection.
///
/// ```
/// use std::time::Instant;
/// use hftp_client::Pipeline;
/// use hftp_proto::{Event, FileName, Request};
///
/// let mut pipeline = Pipeline::new();
/// let name = FileName::new("notes.txt")?;
/// let first = pipeline.push(&Request::GetMetadata { name });
/// let second = pipeline.push(&Request::Quit);
/// // What a driver writes to the socket, then reports as sent.
/// let wire = pipeline.poll_transmit().to_vec();
/// assert_eq!(wire, b"get_metadata notes.txt\r\nquit\r\n");
/// pipeline.handle_transmitted(wire.len(), Instant::now());
///
/// // What the socket delivered, fed back in.
/// let mut input: &[u8] = b"0 OK\r\n41\r\n0 OK\r\n";
/// let mut events = Vec::new();
/// loop {
///     let step = pipeline.handle_input(input, &mut [], Instant::now())?;
///     input = &input[step.consumed..];
///     match step.event {
///         Some((id, event)) => events.push((id, event.into_owned())),
///         None => break,
///     }
/// }
/// use hftp_proto::OwnedEvent::*;
/// let ok = || Status { code: 0, text: "OK".into() };
/// assert_eq!(events, [(first, ok()), (first, Size(41)), (first, End), (second, ok()), (second, End)]);
/// assert_eq!(pipeline.in_flight(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Pipeline {
    decoder: ResponseDecoder,
    /// Bytes queued and not yet sent start at `out[(sent - out_base)..]`.
    out: Vec<u8>,
    out_base: u64,
    sent: u64,
    /// Units not wholly sent, in order.
    units: VecDeque<Unit>,
    /// Expectations of queued units not yet registered, in order.
    unregistered: VecDeque<(RequestId, Expect)>,
    /// Responses registered with the decoder, the one in progress first.
    in_flight: VecDeque<InFlight>,
    next_id: u64,
    transcript: Option<Transcript>,
    /// Why the connection broke, once it has.
    broken: Option<String>,
    /// Bytes taken in by the decoder or as raw bodies.
    received: u64,
}

impl Pipeline {
    /// Bytes of sent, unanswered requests beyond which no new request is
    /// handed out for sending (see the module docs). Far below the receive
    /// buffer of any TCP stack, large enough for hundreds of requests.
    pub const WINDOW: u64 = 32 * 1024;

    /// A pipeline with nothing queued.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `request`; returns its id. Nothing is sent until the driver
    /// takes [`poll_transmit`](Self::poll_transmit).
    pub fn push(&mut self, request: &Request<'_>) -> RequestId {
        let start = self.queued_end();
        request.encode(&mut self.out);
        let id = self.next_request_id();
        self.unregistered
            .push_back((id, Expect::for_request(request)));
        self.units.push_back(Unit {
            start,
            end: self.queued_end(),
            responses: 1,
            first: Some(id),
            registered: false,
        });
        id
    }

    /// Queues arbitrary bytes that draw the given responses (a tool sending
    /// what a person typed; [`push`](Self::push) for requests). Bytes that
    /// draw none (half a line) may come before the bytes that complete it.
    /// Returns the ids of the responses, in order.
    pub fn push_bytes(
        &mut self,
        bytes: &[u8],
        expects: impl IntoIterator<Item = Expect>,
    ) -> Vec<RequestId> {
        let start = self.queued_end();
        self.out.extend_from_slice(bytes);
        let mut ids = Vec::new();
        for expect in expects {
            let id = self.next_request_id();
            self.unregistered.push_back((id, expect));
            ids.push(id);
        }
        self.units.push_back(Unit {
            start,
            end: self.queued_end(),
            responses: ids.len(),
            first: ids.first().copied(),
            registered: false,
        });
        ids
    }

    fn next_request_id(&mut self) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        id
    }

    fn queued_end(&self) -> u64 {
        self.out_base + self.out.len() as u64
    }

    /// The bytes to send now (empty when nothing is queued or the window
    /// is full). Report what was written with
    /// [`handle_transmitted`](Self::handle_transmitted).
    pub fn poll_transmit(&self) -> &[u8] {
        let mut oldest = self.in_flight.front().map(|f| f.unit_start);
        let mut limit = self.sent;
        for unit in &self.units {
            let begun = unit.start < self.sent;
            if !begun && oldest.is_some_and(|o| unit.start - o >= Self::WINDOW) {
                break;
            }
            limit = unit.end;
            if unit.responses > 0 && oldest.is_none() {
                oldest = Some(unit.start);
            }
        }
        let from = (self.sent - self.out_base) as usize;
        let to = (limit - self.out_base) as usize;
        &self.out[from..to]
    }

    /// Whether bytes are queued that have not been sent (some perhaps held
    /// back by the window).
    pub fn has_unsent(&self) -> bool {
        self.sent < self.queued_end()
    }

    /// Reports that the first `n` bytes of
    /// [`poll_transmit`](Self::poll_transmit) were written, at `now`.
    pub fn handle_transmitted(&mut self, n: usize, now: Instant) {
        let end = self.sent + n as u64;
        debug_assert!(end <= self.queued_end());
        if let Some(transcript) = &mut self.transcript {
            let mut at = self.sent;
            for unit in &self.units {
                if at >= end {
                    break;
                }
                let upto = unit.end.min(end);
                if upto > at {
                    let from = (at - self.out_base) as usize;
                    let to = (upto - self.out_base) as usize;
                    transcript.record(Direction::Sent, unit.first, &self.out[from..to], now);
                    at = upto;
                }
            }
        }
        self.sent = end;
        for unit in self.units.iter_mut() {
            if unit.start >= end {
                break;
            }
            if !unit.registered {
                unit.registered = true;
                for _ in 0..unit.responses {
                    let (id, expect) = self
                        .unregistered
                        .pop_front()
                        .expect("every unit's expectations are queued");
                    self.decoder.expect(expect);
                    self.in_flight.push_back(InFlight {
                        id,
                        unit_start: unit.start,
                    });
                }
            }
        }
        while self.units.front().is_some_and(|u| u.end <= end) {
            self.units.pop_front();
        }
        if self.sent == self.queued_end() {
            self.out.clear();
            self.out_base = self.sent;
        } else if self.sent - self.out_base >= 64 * 1024 {
            let done = (self.sent - self.out_base) as usize;
            self.out.drain(..done);
            self.out_base = self.sent;
        }
    }

    /// Decodes from `input`, bytes received at `now`; slice payload goes
    /// to the front of `out`. Returns at most one event, tagged with its
    /// request. An error breaks the pipeline.
    pub fn handle_input<'a>(
        &'a mut self,
        input: &'a [u8],
        out: &mut [u8],
        now: Instant,
    ) -> Result<Received<'a>, Error> {
        if let Some(why) = &self.broken {
            return Err(Error::Broken(why.clone()));
        }
        let front = self.in_flight.front().map(|f| f.id);
        match self.decoder.decode(input, out) {
            Ok(step) => {
                self.received += step.consumed as u64;
                if let Some(transcript) = &mut self.transcript {
                    transcript.record(Direction::Received, front, &input[..step.consumed], now);
                }
                let event = match step.event {
                    None => None,
                    Some(event) => {
                        if event == Event::End {
                            self.in_flight.pop_front();
                        }
                        // The decoder only yields events for a registered
                        // expectation.
                        Some((front.expect("an event answers a request"), event))
                    }
                };
                Ok(Received {
                    consumed: step.consumed,
                    event,
                })
            }
            Err(e) => {
                if let Some(transcript) = &mut self.transcript {
                    transcript.record(Direction::Received, front, input, now);
                }
                self.broken = Some(e.to_string());
                Err(Error::Protocol(e))
            }
        }
    }

    /// Inside a raw slice's body: how many body bytes are still to come.
    /// A driver may read them straight into its caller's buffer and report
    /// them with [`handle_raw_body`](Self::handle_raw_body).
    pub fn raw_body_remaining(&self) -> Option<u64> {
        self.decoder.raw_body_remaining()
    }

    /// Reports raw body bytes the driver received itself (see
    /// [`raw_body_remaining`](Self::raw_body_remaining)).
    pub fn handle_raw_body(&mut self, body: &[u8], now: Instant) -> Result<(), Error> {
        if let Some(why) = &self.broken {
            return Err(Error::Broken(why.clone()));
        }
        let front = self.in_flight.front().map(|f| f.id);
        self.received += body.len() as u64;
        if let Some(transcript) = &mut self.transcript {
            transcript.record(Direction::Received, front, body, now);
        }
        self.decoder.raw_body_received(body.len()).map_err(|e| {
            self.broken = Some(e.to_string());
            Error::Protocol(e)
        })
    }

    /// The server closed its side. With a response still expected that is
    /// [`Error::Closed`], and the pipeline is broken.
    pub fn handle_eof(&mut self, now: Instant) -> Result<(), Error> {
        if let Some(why) = &self.broken {
            return Err(Error::Broken(why.clone()));
        }
        if let Some(transcript) = &mut self.transcript {
            transcript.record_close(now);
        }
        if self.in_flight.is_empty() && self.unregistered.is_empty() {
            return Ok(());
        }
        self.broken = Some(Error::Closed.to_string());
        Err(Error::Closed)
    }

    /// Marks the pipeline broken by a failure its driver saw (an I/O
    /// error, a timeout): requests and responses may no longer line up.
    pub fn fail(&mut self, why: &Error) {
        if self.broken.is_none() {
            self.broken = Some(why.to_string());
        }
    }

    /// Whether the connection failed: every later call returns
    /// [`Error::Broken`].
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// [`Error::Broken`] if the pipeline is broken.
    pub fn check(&self) -> Result<(), Error> {
        match &self.broken {
            Some(why) => Err(Error::Broken(why.clone())),
            None => Ok(()),
        }
    }

    /// Responses still to come: those of requests sent and of requests
    /// queued.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len() + self.unregistered.len()
    }

    /// Bytes sent so far (reported with
    /// [`handle_transmitted`](Self::handle_transmitted)).
    pub fn bytes_sent(&self) -> u64 {
        self.sent
    }

    /// Bytes queued so far, sent or not: read before and after a
    /// [`push`](Self::push), where that request lies in the stream of
    /// bytes sent (it has gone once [`bytes_sent`](Self::bytes_sent) is
    /// past its start).
    pub fn bytes_queued(&self) -> u64 {
        self.queued_end()
    }

    /// Bytes of responses received and decoded so far.
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// The request whose response is being decoded (the oldest sent and
    /// not answered).
    pub fn current(&self) -> Option<RequestId> {
        self.in_flight.front().map(|f| f.id)
    }

    /// Whether a response is expected that only more input can bring:
    /// registered with the decoder and not complete.
    pub fn awaits_input(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Starts recording a transcript (everything sent and received from
    /// now on, with times and request ids), keeping at most `max_bytes`
    /// of payload; see [`Transcript`].
    pub fn record(&mut self, max_bytes: usize) {
        self.record_into(Transcript::new(max_bytes));
    }

    /// Starts recording into `transcript` (made with the limits wanted,
    /// e.g. [`Transcript::with_record_limit`]).
    pub fn record_into(&mut self, transcript: Transcript) {
        self.transcript = Some(transcript);
    }

    /// The transcript recorded so far, if recording.
    pub fn transcript(&self) -> Option<&Transcript> {
        self.transcript.as_ref()
    }

    /// Stops recording and returns the transcript.
    pub fn take_transcript(&mut self) -> Option<Transcript> {
        self.transcript.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hftp_proto::{FileName, OwnedEvent, ResponseError};

    fn metadata(name: &str) -> Request<'_> {
        Request::GetMetadata {
            name: FileName::new(name).unwrap(),
        }
    }

    fn send_all(p: &mut Pipeline) -> Vec<u8> {
        let bytes = p.poll_transmit().to_vec();
        p.handle_transmitted(bytes.len(), Instant::now());
        bytes
    }

    fn events(p: &mut Pipeline, mut input: &[u8]) -> Result<Vec<(RequestId, OwnedEvent)>, Error> {
        let mut got = Vec::new();
        loop {
            let step = p.handle_input(input, &mut [0; 64], Instant::now())?;
            input = &input[step.consumed..];
            match step.event {
                Some((id, e)) => got.push((id, e.into_owned())),
                None => return Ok(got),
            }
        }
    }

    #[test]
    fn the_window_holds_back_requests_until_answers_come() {
        let mut p = Pipeline::new();
        let name = "f".repeat(200);
        let n = 1000;
        for _ in 0..n {
            p.push(&metadata(&name));
        }
        let line = format!("get_metadata {name}\r\n").len() as u64;
        let first = send_all(&mut p);
        // Requests start while fewer than WINDOW bytes are unanswered.
        let allowed = Pipeline::WINDOW.div_ceil(line);
        assert_eq!(first.len() as u64, allowed * line);
        assert!(p.poll_transmit().is_empty());
        assert!(p.has_unsent());
        // Nothing is expected of requests not sent: a stray answer beyond
        // them is refused.
        let answers = "0 OK\r\n7\r\n".repeat(allowed as usize);
        let got = events(&mut p, answers.as_bytes()).unwrap();
        assert_eq!(got.len() as u64, 3 * allowed);
        assert_eq!(got[0].0, RequestId(0));
        assert_eq!(got.last().unwrap().0, RequestId(allowed - 1));
        // Answers make room again.
        assert_eq!(send_all(&mut p).len() as u64, allowed * line);
        assert_eq!(p.in_flight(), n - allowed as usize);
    }

    #[test]
    fn a_request_begun_is_always_finished() {
        let mut p = Pipeline::new();
        p.push(&metadata("a"));
        let big = vec![b'x'; 100_000];
        p.push_bytes(&big, [Expect::Quit]);
        let wire = p.poll_transmit().to_vec();
        assert_eq!(p.bytes_queued(), wire.len() as u64);
        p.handle_transmitted(20, Instant::now());
        assert_eq!((p.bytes_sent(), p.bytes_queued()), (20, wire.len() as u64));
        // The big unit starts past the answered mark but within the
        // window, so it goes whole.
        assert_eq!(wire.len(), b"get_metadata a\r\n".len() + big.len());
        assert_eq!(p.poll_transmit().len(), wire.len() - 20);
    }

    #[test]
    fn errors_break_the_pipeline_for_good() {
        let mut p = Pipeline::new();
        p.push(&Request::Help);
        send_all(&mut p);
        let err = events(&mut p, b"zz\r\n").unwrap_err();
        assert!(matches!(err, Error::Protocol(ResponseError::BadStatusLine)));
        assert!(p.is_broken());
        assert!(matches!(events(&mut p, b""), Err(Error::Broken(_))));
        assert!(matches!(
            p.handle_eof(Instant::now()),
            Err(Error::Broken(_))
        ));
    }

    #[test]
    fn a_close_is_clean_only_with_nothing_expected() {
        let mut p = Pipeline::new();
        p.push(&Request::Quit);
        send_all(&mut p);
        assert_eq!(events(&mut p, b"0 OK\r\n").unwrap().len(), 2);
        assert!(p.handle_eof(Instant::now()).is_ok());

        let mut p = Pipeline::new();
        p.push(&Request::Help);
        send_all(&mut p);
        assert!(matches!(p.handle_eof(Instant::now()), Err(Error::Closed)));
        assert!(p.is_broken());
    }

    #[test]
    fn the_transcript_tags_bytes_with_their_request() {
        let mut p = Pipeline::new();
        p.record(1 << 20);
        let a = p.push(&metadata("a"));
        let b = p.push(&Request::Quit);
        send_all(&mut p);
        events(&mut p, b"0 OK\r\n5\r\n0 O").unwrap();
        events(&mut p, b"K\r\n").unwrap();
        let t = p.take_transcript().unwrap();
        let got: Vec<_> = t
            .records()
            .iter()
            .map(|r| (r.direction, r.request, r.bytes.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (Direction::Sent, Some(a), b"get_metadata a\r\n".to_vec()),
                (Direction::Sent, Some(b), b"quit\r\n".to_vec()),
                (Direction::Received, Some(a), b"0 OK\r\n5\r\n".to_vec()),
                (Direction::Received, Some(b), b"0 OK\r\n".to_vec()),
            ]
        );
    }
}
