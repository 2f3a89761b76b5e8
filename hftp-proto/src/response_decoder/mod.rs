//! The streaming response decoder a client drives (docs/PROTOCOL.md §1–§3).
//!
//! This module owns the client side of the wire format: status lines,
//! listing and help bodies, metadata size lines, base64 slices (one line or
//! several, padded or not) and raw slices (`Content-Length` header, blank
//! line, raw bytes). The client tells the decoder what it asked for
//! ([`ResponseDecoder::expect`], once per request, in order), then feeds it
//! whatever the socket delivered, split anywhere; the decoder hands back one
//! [`Event`] per call.
//!
//! Lines that arrive whole inside one input are parsed in place, without
//! copying. A line split across inputs is buffered, up to [`MAX_LINE`]
//! bytes. Slice payloads are never buffered: base64 is decoded in bulk
//! straight from the input into the caller's output buffer, keeping at most
//! three leftover characters and three decoded bytes between calls.
//!
//! The decoder follows docs/PROTOCOL.md §3 "clients should be liberal": any
//! status code and text, extra spaces around the code, bare LF line ends,
//! slices split over several base64 lines and unpadded final quanta are
//! accepted. Anything else the server sends is reported as a
//! [`ResponseError`], which is terminal.
//!
//! This file owns the decoder's types ([`Expect`], [`Event`], [`OwnedEvent`],
//! [`ResponseDecoded`], [`ResponseError`]) and the state machine of
//! [`ResponseDecoder`], which walks each response from its status line to
//! its end. Reading and parsing lines is the private `line` submodule's;
//! decoding base64 slice lines is the crate-private streaming decoder
//! beside the encoder, in [`slice`](mod@crate::slice).

use std::collections::VecDeque;

use crate::slice::decode::Base64;
use crate::Request;

use line::{
    checked_text, parse_content_length, parse_decimal, parse_status, read_line, trim_spaces,
};

mod line;
#[cfg(test)]
mod tests;

/// The longest response line (status, listing or help item, size, header)
/// the decoder accepts, in bytes, line end not counted. Only a line split
/// across inputs is buffered, and never more than this (plus one CR).
pub const MAX_LINE: usize = 64 * 1024;

/// What the client asked, so the decoder knows the shape of the answer.
///
/// ```
/// use hftp_proto::{Expect, FileName, Request, Slice};
///
/// let name = FileName::new("notes.txt")?;
/// assert_eq!(Expect::for_request(&Request::GetFileListing), Expect::Listing);
/// assert_eq!(Expect::for_request(&Request::GetMetadata { name }), Expect::Metadata);
/// let slice = Slice { name, offset: 5, size: 20, raw: false };
/// assert_eq!(Expect::for_request(&Request::GetSlice(slice)), Expect::Slice { size: 20 });
/// let raw = Slice { raw: true, ..slice };
/// assert_eq!(Expect::for_request(&Request::GetSlice(raw)), Expect::RawSlice { size: 20 });
/// # Ok::<(), hftp_proto::FileNameError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// `get_file_listing`: `0 OK`, file names, an empty line.
    Listing,
    /// `get_metadata`: `0 OK`, then a decimal size line.
    Metadata,
    /// `get_slice` (base64): `0 OK`, then base64 lines holding `size` bytes.
    Slice {
        /// The SIZE the request asked for.
        size: u64,
    },
    /// `get_slice ... raw`: `0 OK`, `Content-Length: size`, an empty line,
    /// then `size` raw bytes.
    RawSlice {
        /// The SIZE the request asked for.
        size: u64,
    },
    /// `help`: `0 OK`, command names, an empty line.
    Help,
    /// `quit`: `0 OK`, then the server closes the connection.
    Quit,
}

impl Expect {
    /// The response shape that answers `req`.
    pub fn for_request(req: &Request<'_>) -> Expect {
        match req {
            Request::GetFileListing => Expect::Listing,
            Request::GetMetadata { .. } => Expect::Metadata,
            Request::GetSlice(s) if s.raw => Expect::RawSlice { size: s.size },
            Request::GetSlice(s) => Expect::Slice { size: s.size },
            Request::Quit => Expect::Quit,
            Request::Help => Expect::Help,
        }
    }
}

/// One step of a response, as returned by [`ResponseDecoder::decode`].
///
/// A response is `Status`, then its body events, then `End`:
///
/// ```
/// use hftp_proto::{Event, Expect, ResponseDecoder};
///
/// let mut decoder = ResponseDecoder::new();
/// decoder.expect(Expect::Metadata);
/// let mut input = &b"0 OK\r\n41\r\n"[..];
/// let mut events = Vec::new();
/// loop {
///     let step = decoder.decode(input, &mut [])?;
///     input = &input[step.consumed..];
///     match step.event {
///         Some(event @ Event::End) => { events.push(format!("{event:?}")); break; }
///         Some(event) => events.push(format!("{event:?}")),
///         None => break,
///     }
/// }
/// assert_eq!(events, ["Status { code: 0, text: \"OK\" }", "Size(41)", "End"]);
/// # Ok::<(), hftp_proto::ResponseError>(())
/// ```
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The status line of a response. `code` may be any number (clients key
    /// on the code only); `text` is what followed it, leading spaces removed.
    Status {
        /// The status code; `0` is success.
        code: u16,
        /// The text after the code (may be empty).
        text: &'a str,
    },
    /// A listing file name or a help command name (one line of a
    /// listing/help body).
    Item(&'a str),
    /// The size line of a metadata response.
    Size(u64),
    /// `n` bytes of slice payload were written to `out[..n]`.
    Data(usize),
    /// The response is complete: after the empty line ending a listing or
    /// help, after all slice bytes (and the line end of base64), after a
    /// `Size`, after a non-zero status line, after quit's `0 OK`.
    End,
}

impl Event<'_> {
    /// The event as an [`OwnedEvent`], which borrows neither the decoder
    /// nor the input: to keep it past the next call to
    /// [`ResponseDecoder::decode`]. Same as [`OwnedEvent::from`].
    pub fn into_owned(self) -> OwnedEvent {
        match self {
            Event::Status { code, text } => OwnedEvent::Status {
                code,
                text: text.to_owned(),
            },
            Event::Item(item) => OwnedEvent::Item(item.to_owned()),
            Event::Size(size) => OwnedEvent::Size(size),
            Event::Data(n) => OwnedEvent::Data(n),
            Event::End => OwnedEvent::End,
        }
    }
}

/// An [`Event`] that owns its text, made with [`Event::into_owned`] or
/// [`From`]. `Data(n)` still only counts the bytes written to `out[..n]`
/// by the call that returned it.
///
/// ```
/// use hftp_proto::{Expect, OwnedEvent, ResponseDecoder};
///
/// let mut decoder = ResponseDecoder::new();
/// decoder.expect(Expect::Listing);
/// let mut input = &b"0 OK\r\nnotes.txt\r\n\r\n"[..];
/// let mut events = Vec::new();
/// while decoder.pending() > 0 {
///     let step = decoder.decode(input, &mut [])?;
///     input = &input[step.consumed..];
///     match step.event {
///         Some(event) => events.push(event.into_owned()),
///         None => break,
///     }
/// }
/// // The events outlive the decoder and the input.
/// drop(decoder);
/// assert_eq!(
///     events,
///     [
///         OwnedEvent::Status { code: 0, text: "OK".to_owned() },
///         OwnedEvent::Item("notes.txt".to_owned()),
///         OwnedEvent::End,
///     ]
/// );
/// assert_eq!(OwnedEvent::from(hftp_proto::Event::Size(41)), OwnedEvent::Size(41));
/// # Ok::<(), hftp_proto::ResponseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedEvent {
    /// [`Event::Status`]: the status code and the text after it.
    Status {
        /// The status code; `0` is success.
        code: u16,
        /// The text after the code (may be empty).
        text: String,
    },
    /// [`Event::Item`]: a listing file name or a help command name.
    Item(String),
    /// [`Event::Size`]: the size line of a metadata response.
    Size(u64),
    /// [`Event::Data`]: `n` bytes of slice payload were written to
    /// `out[..n]`.
    Data(usize),
    /// [`Event::End`]: the response is complete.
    End,
}

impl From<Event<'_>> for OwnedEvent {
    fn from(event: Event<'_>) -> Self {
        event.into_owned()
    }
}

/// What one call to [`ResponseDecoder::decode`] did.
///
/// ```
/// use hftp_proto::{Event, Expect, ResponseDecoded, ResponseDecoder};
///
/// let mut decoder = ResponseDecoder::new();
/// decoder.expect(Expect::Quit);
/// // Input that ends inside a line is taken in; no event yet.
/// assert_eq!(decoder.decode(b"0 O", &mut [])?, ResponseDecoded { consumed: 3, event: None });
/// let step = decoder.decode(b"K\r\n", &mut [])?;
/// assert_eq!(step, ResponseDecoded { consumed: 3, event: Some(Event::Status { code: 0, text: "OK" }) });
/// // End needs no input.
/// assert_eq!(decoder.decode(b"", &mut [])?.event, Some(Event::End));
/// # Ok::<(), hftp_proto::ResponseError>(())
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct ResponseDecoded<'a> {
    /// How many bytes of the input were used. The caller passes the rest
    /// (`&input[consumed..]`) to the next call.
    pub consumed: usize,
    /// The next event, or `None` when all of the input was taken in before
    /// the next event was complete (or when `out` is empty and slice bytes
    /// are next): read more, then call again.
    pub event: Option<Event<'a>>,
}

/// Why the server's output could not be decoded. Errors are terminal: once
/// [`decode`](ResponseDecoder::decode) or
/// [`raw_body_received`](ResponseDecoder::raw_body_received) returned one,
/// every later call to either returns that same first error again, and the
/// connection should be closed.
///
/// ```
/// use hftp_proto::{Expect, ResponseDecoder, ResponseError};
///
/// let mut decoder = ResponseDecoder::new();
/// decoder.expect(Expect::Slice { size: 1 });
/// let mut out = [0u8; 8];
/// decoder.decode(b"0 OK\r\n", &mut out)?;
/// let err = decoder.decode(b"QUJD\r\n", &mut out);
/// assert_eq!(err, Err(ResponseError::SliceTooLong { expected: 1 }));
/// assert_eq!(err.unwrap_err().to_string(), "the slice holds more than the 1 bytes requested");
/// // Sticky: later calls repeat the first error, whatever they are given.
/// assert_eq!(decoder.decode(b"", &mut out), Err(ResponseError::SliceTooLong { expected: 1 }));
/// assert_eq!(decoder.raw_body_received(1), Err(ResponseError::SliceTooLong { expected: 1 }));
/// # Ok::<(), ResponseError>(())
/// ```
///
/// Non-exhaustive: later versions may add variants, so a `match` on it
/// needs a wildcard arm.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseError {
    /// The server sent bytes while no response was expected (no request
    /// outstanding, or bytes after the end of the last response).
    #[error("the server sent data while no response was expected")]
    UnexpectedData,
    /// A status line that is not `CODE TEXT` with CODE 1 to 5 digits.
    #[error("malformed status line: expected `CODE TEXT` with CODE 1 to 5 digits up to 65535")]
    BadStatusLine,
    /// A response line longer than [`MAX_LINE`].
    #[error("response line longer than the limit of {limit} bytes")]
    LineTooLong {
        /// The limit, in bytes, line end not counted.
        limit: usize,
    },
    /// A control byte (0x00–0x1F or 0x7F) inside a line, including a CR not
    /// followed by LF.
    #[error("control byte 0x{byte:02x} inside a response line")]
    ControlByte {
        /// The offending byte.
        byte: u8,
    },
    /// A status, listing or help line that is not valid UTF-8.
    #[error("response line is not valid UTF-8")]
    InvalidUtf8,
    /// A metadata size line that is not a decimal number fitting in 64 bits.
    #[error("malformed size line: expected decimal digits fitting in 64 bits")]
    BadSize,
    /// A byte outside the base64 alphabet inside a slice line.
    #[error("byte 0x{byte:02x} is not base64 (alphabet A-Z a-z 0-9 + /)")]
    BadBase64 {
        /// The offending byte.
        byte: u8,
    },
    /// `=` padding somewhere else than completing the last quantum of a
    /// base64 line, or characters after it on the same line.
    #[error("misplaced base64 padding: `=` may only complete the last quantum of a line")]
    BadPadding,
    /// A base64 line whose last quantum is a single character, which cannot
    /// encode a byte.
    #[error("base64 line ends with a single character, which encodes no byte")]
    DanglingBase64,
    /// The slice holds more bytes than the request asked for.
    #[error("the slice holds more than the {expected} bytes requested")]
    SliceTooLong {
        /// The SIZE requested.
        expected: u64,
    },
    /// An empty base64 line before all requested bytes arrived.
    #[error("the slice ended after {got} of the {expected} bytes requested")]
    SliceTooShort {
        /// The SIZE requested.
        expected: u64,
        /// The bytes decoded before the empty line.
        got: u64,
    },
    /// A raw slice whose header line is not `Content-Length: N`.
    #[error("malformed raw slice header: expected `Content-Length: N`")]
    BadHeader,
    /// A raw slice whose `Content-Length` differs from the SIZE requested.
    #[error("the raw slice announces {got} bytes, but {expected} were requested")]
    BadContentLength {
        /// The SIZE requested.
        expected: u64,
        /// The length the server announced.
        got: u64,
    },
    /// A raw slice header not followed by an empty line.
    #[error("missing empty line after the Content-Length header of a raw slice")]
    MissingBlankLine,
}

/// Streaming decoder of HFTP responses, for clients.
///
/// Call [`expect`](Self::expect) once per request sent, in order, then feed
/// [`decode`](Self::decode) whatever the socket delivered. Each call returns
/// at most one [`Event`] and how much input it used; slice payload is written
/// to the front of `out` (any length ≥ 1 works).
///
/// ```
/// use hftp_proto::{Event, Expect, ResponseDecoder};
///
/// let mut decoder = ResponseDecoder::new();
/// decoder.expect(Expect::Listing);
/// decoder.expect(Expect::Slice { size: 20 });
/// let wire = b"0 OK\r\nnotes.txt\r\nphoto.jpg\r\n\r\n0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n";
///
/// let (mut names, mut payload, mut ends, mut out) = (Vec::new(), Vec::new(), 0, [0u8; 16]);
/// // Fed in two reads, split mid-line.
/// for chunk in [&wire[..20], &wire[20..]] {
///     let mut input = chunk;
///     loop {
///         let step = decoder.decode(input, &mut out)?;
///         input = &input[step.consumed..];
///         match step.event {
///             Some(Event::Item(name)) => names.push(name.to_owned()),
///             Some(Event::Data(n)) => payload.extend_from_slice(&out[..n]),
///             Some(Event::End) => ends += 1,
///             Some(Event::Status { code, .. }) => assert_eq!(code, 0),
///             Some(_) => {}
///             None => break,
///         }
///     }
/// }
/// assert_eq!(names, ["notes.txt", "photo.jpg"]);
/// assert_eq!(payload, b"calor que hace hoy, ");
/// assert_eq!(ends, 2);
/// assert_eq!(decoder.pending(), 0);
/// # Ok::<(), hftp_proto::ResponseError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ResponseDecoder {
    state: State,
    /// Expected responses, the one in progress first.
    queue: VecDeque<Expect>,
    /// A line split across inputs (at most `MAX_LINE + 1` bytes).
    line: Vec<u8>,
    /// `line` holds a line already handed out; clear it on the next call.
    stale: bool,
}

#[derive(Debug, Clone, Default)]
enum State {
    /// Waiting for a status line.
    #[default]
    Idle,
    /// The response is complete; `End` is next.
    End,
    /// Inside a listing or help body.
    Items,
    /// Waiting for the size line of a metadata response.
    Size,
    /// Inside the base64 lines of a slice.
    Base64(Base64),
    /// Waiting for the `Content-Length` line of a raw slice.
    RawHeader { size: u64 },
    /// Waiting for the empty line after the header.
    RawBlank { size: u64 },
    /// Copying raw slice bytes.
    RawBody { remaining: u64 },
    /// This error was returned; every later call returns it again.
    Failed(ResponseError),
}

impl ResponseDecoder {
    /// A decoder expecting nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues the expectation for the next response (pipelining: call once
    /// per request sent, in order).
    pub fn expect(&mut self, e: Expect) {
        self.queue.push_back(e);
    }

    /// Number of responses still expected (including the one in progress).
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Bytes held internally for a partial line, partial base64 quantum or
    /// decoded bytes not yet written out. Never more than [`MAX_LINE`] + 1.
    pub fn retained(&self) -> usize {
        let line = self.line.capacity();
        let b64 = match &self.state {
            State::Base64(b) => b.retained(),
            _ => 0,
        };
        line + b64
    }

    /// Inside the body of a raw slice (after its header and blank line): how
    /// many body bytes are still to come; `None` anywhere else.
    ///
    /// The body is the payload itself, so a client need not pass it through
    /// [`decode`](Self::decode), which copies it into `out`: it may read up
    /// to this many bytes from its connection straight into its own buffer
    /// and report them with [`raw_body_received`](Self::raw_body_received).
    ///
    /// ```
    /// use std::io::Read;
    /// use hftp_proto::{Event, Expect, ResponseDecoder};
    ///
    /// let mut decoder = ResponseDecoder::new();
    /// decoder.expect(Expect::RawSlice { size: 11 });
    /// let mut socket: &[u8] = b"0 OK\r\nContent-Length: 11\r\n\r\nhello world";
    /// let mut head = [0u8; 32];
    /// let n = socket.read(&mut head[..31])?; // the header and the first 3 body bytes
    /// let mut payload = [0u8; 11];
    /// let mut got = 0;
    /// let mut input = &head[..n];
    /// while !input.is_empty() {
    ///     let step = decoder.decode(input, &mut payload[got..])?;
    ///     input = &input[step.consumed..];
    ///     if let Some(Event::Data(k)) = step.event {
    ///         got += k;
    ///     }
    /// }
    /// assert_eq!(decoder.raw_body_remaining(), Some(8));
    /// // The rest of the body goes from the socket straight into `payload`.
    /// while let Some(left) = decoder.raw_body_remaining() {
    ///     let k = socket.read(&mut payload[got..got + left as usize])?;
    ///     decoder.raw_body_received(k)?;
    ///     got += k;
    /// }
    /// assert_eq!(&payload, b"hello world");
    /// assert_eq!(decoder.decode(b"", &mut [])?.event, Some(Event::End));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn raw_body_remaining(&self) -> Option<u64> {
        match self.state {
            State::RawBody { remaining } => Some(remaining),
            _ => None,
        }
    }

    /// Accounts for `n` bytes of a raw slice's body that the caller received
    /// itself (see [`raw_body_remaining`](Self::raw_body_remaining)). Once
    /// the whole body is in, the next [`decode`](Self::decode) returns
    /// [`Event::End`].
    ///
    /// Outside a raw body, or with `n` over what remains (bytes that are not
    /// body), this is [`ResponseError::UnexpectedData`], terminal like any
    /// decoder error.
    pub fn raw_body_received(&mut self, n: usize) -> Result<(), ResponseError> {
        match self.state {
            State::RawBody { remaining } if n as u64 <= remaining => {
                let remaining = remaining - n as u64;
                self.state = if remaining == 0 {
                    State::End
                } else {
                    State::RawBody { remaining }
                };
                Ok(())
            }
            State::Failed(ref first) => Err(first.clone()),
            _ => {
                self.state = State::Failed(ResponseError::UnexpectedData);
                Err(ResponseError::UnexpectedData)
            }
        }
    }

    /// Decodes from `input`; decoded slice bytes are written to the front of
    /// `out`. Returns at most one event and how many input bytes were used.
    ///
    /// When `input` ends inside a line, the decoder takes the bytes in and
    /// returns no event. With non-empty `input` and `out`, a call always
    /// consumes input or returns an event. Input while no response is
    /// expected is an error ([`ResponseError::UnexpectedData`]).
    pub fn decode<'a>(
        &'a mut self,
        input: &'a [u8],
        out: &mut [u8],
    ) -> Result<ResponseDecoded<'a>, ResponseError> {
        // The raw header and the blank line after it yield no event: step
        // over them here, so that `None` always means "input used up".
        let mut skipped = 0;
        while matches!(self.state, State::RawHeader { .. } | State::RawBlank { .. })
            && skipped < input.len()
        {
            let step = self.step(&input[skipped..], out)?;
            if step.consumed == 0 {
                break;
            }
            skipped += step.consumed;
        }
        let step = self.step(&input[skipped..], out)?;
        Ok(ResponseDecoded {
            consumed: skipped + step.consumed,
            event: step.event,
        })
    }

    /// One step of [`ResponseDecoder::decode`]: returns the first error
    /// again once there was one, else [`advance`]s and keeps its error.
    fn step<'a>(
        &'a mut self,
        input: &'a [u8],
        out: &mut [u8],
    ) -> Result<ResponseDecoded<'a>, ResponseError> {
        let ResponseDecoder {
            state,
            queue,
            line,
            stale,
        } = self;
        if *stale {
            // Split lines are rare (one per read boundary at most): free the
            // buffer rather than keep up to MAX_LINE bytes for good.
            *line = Vec::new();
            *stale = false;
        }
        if let State::Failed(first) = state {
            return Err(first.clone());
        }
        let result = advance(state, queue, line, stale, input, out);
        if let Err(err) = &result {
            *state = State::Failed(err.clone());
        }
        result
    }
}

/// The state machine proper: one step from `state` (never
/// [`State::Failed`]) over `input`. Success paths set the next state; error
/// paths leave a placeholder, which [`ResponseDecoder::step`] replaces.
fn advance<'a>(
    state: &mut State,
    queue: &mut VecDeque<Expect>,
    line: &'a mut Vec<u8>,
    stale: &mut bool,
    input: &'a [u8],
    out: &mut [u8],
) -> Result<ResponseDecoded<'a>, ResponseError> {
    match std::mem::take(state) {
        State::Failed(first) => Err(first),
        State::Idle => {
            let Some(&expect) = queue.front() else {
                if input.is_empty() {
                    *state = State::Idle;
                    return Ok(none(0));
                }
                return Err(ResponseError::UnexpectedData);
            };
            let (consumed, l) = read_line(line, stale, input)?;
            let Some(l) = l else {
                *state = State::Idle;
                return Ok(none(consumed));
            };
            let (code, text) = parse_status(l)?;
            *state = match (code, expect) {
                (0, Expect::Listing | Expect::Help) => State::Items,
                (0, Expect::Metadata) => State::Size,
                (0, Expect::Slice { size }) => State::Base64(Base64::new(size)),
                (0, Expect::RawSlice { size }) => State::RawHeader { size },
                _ => State::End,
            };
            Ok(event(consumed, Event::Status { code, text }))
        }
        State::End => {
            queue.pop_front();
            *state = State::Idle;
            Ok(event(0, Event::End))
        }
        State::Items => {
            let (consumed, l) = read_line(line, stale, input)?;
            match l {
                None => {
                    *state = State::Items;
                    Ok(none(consumed))
                }
                Some([]) => {
                    queue.pop_front();
                    *state = State::Idle;
                    Ok(event(consumed, Event::End))
                }
                Some(l) => {
                    let item = checked_text(l)?;
                    *state = State::Items;
                    Ok(event(consumed, Event::Item(item)))
                }
            }
        }
        State::Size => {
            let (consumed, l) = read_line(line, stale, input)?;
            let Some(l) = l else {
                *state = State::Size;
                return Ok(none(consumed));
            };
            let size = parse_decimal(trim_spaces(l)).ok_or(ResponseError::BadSize)?;
            *state = State::End;
            Ok(event(consumed, Event::Size(size)))
        }
        State::Base64(mut b) => {
            let (consumed, written) = b.decode(input, out)?;
            if written == 0 && b.is_done() {
                queue.pop_front();
                *state = State::Idle;
                return Ok(event(consumed, Event::End));
            }
            *state = State::Base64(b);
            Ok(ResponseDecoded {
                consumed,
                event: (written > 0).then_some(Event::Data(written)),
            })
        }
        State::RawHeader { size } => {
            let (consumed, l) = read_line(line, stale, input)?;
            let Some(l) = l else {
                *state = State::RawHeader { size };
                return Ok(none(consumed));
            };
            let got = parse_content_length(l).ok_or(ResponseError::BadHeader)?;
            if got != size {
                return Err(ResponseError::BadContentLength {
                    expected: size,
                    got,
                });
            }
            *state = State::RawBlank { size };
            Ok(none(consumed))
        }
        State::RawBlank { size } => {
            // Fail as soon as the line cannot be empty, rather than
            // waiting for a line end that raw bytes may never contain.
            let mut so_far = line.iter().chain(input).copied();
            match (so_far.next(), so_far.next()) {
                (None, _) | (Some(b'\n'), _) | (Some(b'\r'), None | Some(b'\n')) => {}
                _ => return Err(ResponseError::MissingBlankLine),
            }
            let (consumed, l) = read_line(line, stale, input)?;
            *state = match l {
                None => State::RawBlank { size },
                Some([]) if size == 0 => State::End,
                Some([]) => State::RawBody { remaining: size },
                Some(_) => return Err(ResponseError::MissingBlankLine),
            };
            Ok(none(consumed))
        }
        State::RawBody { remaining } => {
            let n = usize::try_from(remaining)
                .unwrap_or(usize::MAX)
                .min(input.len())
                .min(out.len());
            out[..n].copy_from_slice(&input[..n]);
            let remaining = remaining - n as u64;
            *state = if remaining == 0 {
                State::End
            } else {
                State::RawBody { remaining }
            };
            Ok(ResponseDecoded {
                consumed: n,
                event: (n > 0).then_some(Event::Data(n)),
            })
        }
    }
}

fn none(consumed: usize) -> ResponseDecoded<'static> {
    ResponseDecoded {
        consumed,
        event: None,
    }
}

fn event(consumed: usize, event: Event<'_>) -> ResponseDecoded<'_> {
    ResponseDecoded {
        consumed,
        event: Some(event),
    }
}
