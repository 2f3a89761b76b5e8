//! The streaming response decoder a client drives (HFTP.md §1–§3).
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
//! The decoder follows HFTP.md §3 "clients should be liberal": any status
//! code and text, extra spaces around the code, bare LF line ends, slices
//! split over several base64 lines and unpadded final quanta are accepted.
//! Anything else the server sends is reported as a [`ResponseError`], which
//! is terminal.

use std::collections::VecDeque;

use base64_simd::{Out, STANDARD};
use memchr::{memchr, memchr3};

use crate::Request;

/// The longest response line (status, listing or help item, size, header)
/// the decoder accepts, in bytes, line end not counted. Only a line split
/// across inputs is buffered, and never more than this (plus one CR).
pub const MAX_LINE: usize = 64 * 1024;

/// Marks a byte outside the base64 alphabet in [`B64_TABLE`].
const INVALID: u8 = 0xff;

/// Standard base64 alphabet: byte -> sextet, or [`INVALID`].
static B64_TABLE: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

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
/// one is returned, every later call returns [`ResponseError::Failed`] and
/// the connection should be closed.
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
/// assert_eq!(decoder.decode(b"", &mut out), Err(ResponseError::Failed));
/// # Ok::<(), ResponseError>(())
/// ```
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
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
    /// The decoder had already returned an error.
    #[error("the response decoder already failed; close the connection")]
    Failed,
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

#[derive(Debug, Clone, Copy, Default)]
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
    /// An error was returned.
    Failed,
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
            State::Base64(b) => usize::from(b.quad_len) + usize::from(b.spill_len - b.spill_pos),
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
            State::Failed => Err(ResponseError::Failed),
            _ => {
                self.state = State::Failed;
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

    /// One step of [`ResponseDecoder::decode`].
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
        // Every error path leaves the decoder failed; success paths restore.
        let current = std::mem::replace(state, State::Failed);
        match current {
            State::Failed => Err(ResponseError::Failed),
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
                if written == 0 && b.finished && b.spill_pos == b.spill_len {
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

/// Reads one line ending in LF (a CR before it is stripped). Returns the
/// bytes consumed and, when the line is complete, its content: borrowed from
/// `input` when the line lies there whole, else from `buf`, which then is
/// marked stale. An incomplete line is appended to `buf`.
fn read_line<'a>(
    buf: &'a mut Vec<u8>,
    stale: &mut bool,
    input: &'a [u8],
) -> Result<(usize, Option<&'a [u8]>), ResponseError> {
    const TOO_LONG: ResponseError = ResponseError::LineTooLong { limit: MAX_LINE };
    // Invariant: buf.len() <= MAX_LINE + 1, so the window is never empty.
    let window = input.len().min(MAX_LINE + 2 - buf.len());
    let Some(i) = memchr(b'\n', &input[..window]) else {
        if buf.len() + input.len() > MAX_LINE + 1 {
            return Err(TOO_LONG);
        }
        append(buf, input);
        return Ok((input.len(), None));
    };
    let line: &'a [u8] = if buf.is_empty() {
        &input[..i]
    } else {
        append(buf, &input[..i]);
        *stale = true;
        let whole: &'a Vec<u8> = buf;
        whole
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > MAX_LINE {
        return Err(TOO_LONG);
    }
    Ok((i + 1, Some(line)))
}

/// Appends to the line buffer, growing it geometrically but never past
/// `MAX_LINE + 1` bytes, so [`ResponseDecoder::retained`] stays bounded.
fn append(buf: &mut Vec<u8>, bytes: &[u8]) {
    let need = buf.len() + bytes.len();
    if need > buf.capacity() {
        let target = (buf.capacity() * 2).min(MAX_LINE + 1).max(need);
        buf.reserve_exact(target - buf.len());
    }
    buf.extend_from_slice(bytes);
}

/// The line as text: no control bytes, valid UTF-8.
fn checked_text(line: &[u8]) -> Result<&str, ResponseError> {
    if let Some(&byte) = line.iter().find(|&&b| b < 0x20 || b == 0x7f) {
        return Err(ResponseError::ControlByte { byte });
    }
    std::str::from_utf8(line).map_err(|_| ResponseError::InvalidUtf8)
}

/// `*SP 1*5DIGIT [1*SP TEXT]`, the code fitting in a u16.
fn parse_status(line: &[u8]) -> Result<(u16, &str), ResponseError> {
    let text = checked_text(line)?;
    let rest = text.trim_start_matches(' ');
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 5 {
        return Err(ResponseError::BadStatusLine);
    }
    let code = rest[..digits]
        .parse::<u16>()
        .map_err(|_| ResponseError::BadStatusLine)?;
    let after = &rest[digits..];
    if !after.is_empty() && !after.starts_with(' ') {
        return Err(ResponseError::BadStatusLine);
    }
    Ok((code, after.trim_start_matches(' ')))
}

fn trim_spaces(mut s: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' '] = s {
        s = rest;
    }
    s
}

/// One or more ASCII digits fitting in a u64.
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// `Content-Length:` (any case), optional spaces, digits, optional spaces.
fn parse_content_length(line: &[u8]) -> Option<u64> {
    const NAME: &[u8] = b"content-length:";
    if line.len() < NAME.len() || !line[..NAME.len()].eq_ignore_ascii_case(NAME) {
        return None;
    }
    parse_decimal(trim_spaces(&line[NAME.len()..]))
}

/// Where the decoder is inside the current base64 line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading base64 characters.
    Data,
    /// Got `XX=`: one more `=` must follow.
    Pad,
    /// The line's last quantum is complete with padding: only the line end
    /// may follow.
    AfterPad,
    /// Got a CR: LF must follow.
    Cr,
}

/// State of a base64 slice body.
#[derive(Debug, Clone, Copy)]
struct Base64 {
    /// The SIZE requested.
    size: u64,
    /// Bytes not decoded yet.
    remaining: u64,
    /// Sextets of the current incomplete quantum.
    quad: [u8; 4],
    quad_len: u8,
    phase: Phase,
    /// The current line has at least one base64 character.
    line_has_chars: bool,
    /// Decoded bytes that did not fit in `out`: `spill[spill_pos..spill_len]`.
    spill: [u8; 3],
    spill_pos: u8,
    spill_len: u8,
    /// The line that completes the slice has been consumed.
    finished: bool,
}

impl Base64 {
    fn new(size: u64) -> Self {
        Base64 {
            size,
            remaining: size,
            quad: [0; 4],
            quad_len: 0,
            phase: Phase::Data,
            line_has_chars: false,
            spill: [0; 3],
            spill_pos: 0,
            spill_len: 0,
            finished: false,
        }
    }

    /// Decodes from `input` into `out`; returns (consumed, written). Stops at
    /// the end of the slice, when `out` is full and bytes spilled, or when
    /// the input runs out.
    fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), ResponseError> {
        let spilled = usize::from(self.spill_len - self.spill_pos).min(out.len());
        let start = usize::from(self.spill_pos);
        out[..spilled].copy_from_slice(&self.spill[start..start + spilled]);
        self.spill_pos += spilled as u8;
        let mut n = spilled;
        if self.spill_pos < self.spill_len || self.finished {
            return Ok((0, n));
        }
        let mut pos = 0;
        while pos < input.len() {
            if self.phase == Phase::Data && self.quad_len == 0 {
                let (chars, bytes) = decode_bulk(&input[pos..], &mut out[n..], self.remaining)?;
                if chars > 0 {
                    pos += chars;
                    n += bytes;
                    self.remaining -= bytes as u64;
                    self.line_has_chars = true;
                    continue;
                }
            }
            let b = input[pos];
            pos += 1;
            self.step(b, out, &mut n)?;
            if self.finished || self.spill_pos < self.spill_len {
                break;
            }
        }
        Ok((pos, n))
    }

    /// Handles one byte of a base64 line.
    fn step(&mut self, b: u8, out: &mut [u8], n: &mut usize) -> Result<(), ResponseError> {
        match self.phase {
            Phase::Data => {
                let v = B64_TABLE[usize::from(b)];
                if v != INVALID {
                    let len = self.quad_len + 1;
                    // The fewest bytes the quantum can still decode to
                    // (a lone character needs a second one).
                    let least = [0u64, 1, 1, 2, 3][usize::from(len)];
                    if least > self.remaining {
                        return Err(ResponseError::SliceTooLong {
                            expected: self.size,
                        });
                    }
                    self.quad[usize::from(self.quad_len)] = v;
                    self.quad_len = len;
                    self.line_has_chars = true;
                    if len == 4 {
                        self.emit(out, n);
                    }
                    return Ok(());
                }
                match b {
                    b'=' => match self.quad_len {
                        2 => {
                            self.emit(out, n);
                            self.phase = Phase::Pad;
                        }
                        3 => {
                            self.emit(out, n);
                            self.phase = Phase::AfterPad;
                        }
                        _ => return Err(ResponseError::BadPadding),
                    },
                    b'\r' => {
                        self.finish_quantum(out, n)?;
                        self.phase = Phase::Cr;
                    }
                    b'\n' => {
                        self.finish_quantum(out, n)?;
                        self.line_end()?;
                    }
                    byte => return Err(ResponseError::BadBase64 { byte }),
                }
            }
            Phase::Pad => match b {
                b'=' => self.phase = Phase::AfterPad,
                _ => return Err(ResponseError::BadPadding),
            },
            Phase::AfterPad => match b {
                b'\r' => self.phase = Phase::Cr,
                b'\n' => self.line_end()?,
                b'=' => return Err(ResponseError::BadPadding),
                byte if B64_TABLE[usize::from(byte)] != INVALID => {
                    return Err(ResponseError::BadPadding)
                }
                byte => return Err(ResponseError::BadBase64 { byte }),
            },
            Phase::Cr => match b {
                b'\n' => self.line_end()?,
                _ => return Err(ResponseError::ControlByte { byte: b'\r' }),
            },
        }
        Ok(())
    }

    /// The line ends: an unpadded last quantum of 2 or 3 characters decodes.
    fn finish_quantum(&mut self, out: &mut [u8], n: &mut usize) -> Result<(), ResponseError> {
        match self.quad_len {
            0 => Ok(()),
            1 => Err(ResponseError::DanglingBase64),
            _ => {
                self.emit(out, n);
                Ok(())
            }
        }
    }

    fn line_end(&mut self) -> Result<(), ResponseError> {
        if self.remaining == 0 {
            self.finished = true;
        } else if !self.line_has_chars {
            return Err(ResponseError::SliceTooShort {
                expected: self.size,
                got: self.size - self.remaining,
            });
        }
        self.line_has_chars = false;
        self.phase = Phase::Data;
        Ok(())
    }

    /// Decodes the `quad_len` (2..=4) sextets in `quad` to `quad_len - 1`
    /// bytes, written to `out[*n..]`, and what does not fit to the spill.
    /// Callers have checked that `remaining` allows them.
    fn emit(&mut self, out: &mut [u8], n: &mut usize) {
        let [a, b, c, d] = self.quad;
        let bytes = [(a << 2) | (b >> 4), (b << 4) | (c >> 2), (c << 6) | d];
        let k = usize::from(self.quad_len) - 1;
        self.quad = [0; 4];
        self.quad_len = 0;
        self.remaining -= k as u64;
        let direct = k.min(out.len() - *n);
        out[*n..*n + direct].copy_from_slice(&bytes[..direct]);
        *n += direct;
        let spill = k - direct;
        self.spill[..spill].copy_from_slice(&bytes[direct..k]);
        self.spill_pos = 0;
        self.spill_len = spill as u8;
    }
}

/// Decodes as many whole 4-character quanta from the start of `input` into
/// `out` as fit in `out`, in `remaining` and before the first `=`, CR or LF,
/// in one bulk call. Returns (characters, bytes); (0, 0) when not even one
/// quantum qualifies.
fn decode_bulk(
    input: &[u8],
    out: &mut [u8],
    remaining: u64,
) -> Result<(usize, usize), ResponseError> {
    let by_remaining = usize::try_from(remaining / 3).unwrap_or(usize::MAX);
    let quanta = (input.len() / 4).min(out.len() / 3).min(by_remaining);
    if quanta == 0 {
        return Ok((0, 0));
    }
    let window = &input[..quanta * 4];
    let quanta = memchr3(b'=', b'\r', b'\n', window).unwrap_or(window.len()) / 4;
    if quanta == 0 {
        return Ok((0, 0));
    }
    let src = &window[..quanta * 4];
    match STANDARD.decode(src, Out::from_slice(&mut out[..quanta * 3])) {
        Ok(_) => Ok((quanta * 4, quanta * 3)),
        Err(_) => {
            let byte = src
                .iter()
                .copied()
                .find(|&b| B64_TABLE[usize::from(b)] == INVALID)
                .unwrap_or(b'=');
            Err(ResponseError::BadBase64 { byte })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An owned event, with the payload bytes instead of their count.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Ev {
        Status(u16, String),
        Item(String),
        Size(u64),
        Data(Vec<u8>),
        End,
    }

    fn status(code: u16, text: &str) -> Ev {
        Ev::Status(code, text.to_owned())
    }

    fn item(s: &str) -> Ev {
        Ev::Item(s.to_owned())
    }

    fn data(d: &[u8]) -> Ev {
        Ev::Data(d.to_vec())
    }

    fn push(evs: &mut Vec<Ev>, e: Event<'_>, out: &[u8]) {
        let ev = match e {
            Event::Status { code, text } => status(code, text),
            Event::Item(s) => item(s),
            Event::Size(n) => Ev::Size(n),
            Event::Data(n) => {
                assert!(n > 0 && n <= out.len());
                if let Some(Ev::Data(d)) = evs.last_mut() {
                    d.extend_from_slice(&out[..n]);
                    return;
                }
                data(&out[..n])
            }
            Event::End => Ev::End,
        };
        evs.push(ev);
    }

    /// Feeds `input` in chunks of `chunk` bytes with an `out` of `out_len`
    /// bytes, then drains events that need no input. Events are collected
    /// into `evs` even when an error ends the run.
    fn feed_into(
        dec: &mut ResponseDecoder,
        input: &[u8],
        chunk: usize,
        out_len: usize,
        evs: &mut Vec<Ev>,
    ) -> Result<(), ResponseError> {
        let mut out = vec![0u8; out_len];
        let mut pieces: Vec<&[u8]> = input.chunks(chunk.max(1)).collect();
        pieces.push(b"");
        for piece in pieces {
            let mut rest = piece;
            loop {
                let before = dec.retained();
                let d = dec.decode(rest, &mut out)?;
                rest = &rest[d.consumed..];
                match d.event {
                    Some(e) => push(evs, e, &out),
                    None if rest.is_empty() => break,
                    None => assert!(d.consumed > 0, "no progress with {} bytes left", rest.len()),
                }
                assert!(before <= MAX_LINE + 1 && dec.retained() <= MAX_LINE + 1);
            }
        }
        Ok(())
    }

    fn feed(
        dec: &mut ResponseDecoder,
        input: &[u8],
        chunk: usize,
        out_len: usize,
    ) -> Result<Vec<Ev>, ResponseError> {
        let mut evs = Vec::new();
        feed_into(dec, input, chunk, out_len, &mut evs).map(|()| evs)
    }

    fn decoder(expects: &[Expect]) -> ResponseDecoder {
        let mut dec = ResponseDecoder::new();
        for &e in expects {
            dec.expect(e);
        }
        dec
    }

    /// Decodes `input` in every chunking (1, 2, 3, 7, whole) with every out
    /// size (1, 2, 3, 4, 5, 64) and checks all give `want`.
    fn check(expects: &[Expect], input: &[u8], want: &[Ev]) {
        for chunk in [1, 2, 3, 7, input.len().max(1)] {
            for out_len in [1, 2, 3, 4, 5, 64] {
                let mut dec = decoder(expects);
                let got = feed(&mut dec, input, chunk, out_len)
                    .unwrap_or_else(|e| panic!("chunk {chunk}, out {out_len}: {e}"));
                assert_eq!(got, want, "chunk {chunk}, out {out_len}");
                assert_eq!(dec.pending(), 0);
                assert_eq!(dec.retained(), 0);
            }
        }
    }

    /// Decodes `input` in every chunking and out size, checks that it fails
    /// with `want`, and that the decoder stays failed.
    fn check_err(expects: &[Expect], input: &[u8], want: ResponseError) {
        for chunk in [1, 2, 3, 7, input.len().max(1)] {
            for out_len in [1, 2, 3, 64] {
                let mut dec = decoder(expects);
                let got = feed(&mut dec, input, chunk, out_len);
                assert_eq!(got, Err(want.clone()), "chunk {chunk}, out {out_len}");
                // Errors are terminal.
                let mut out = [0u8; 4];
                assert_eq!(dec.decode(b"", &mut out), Err(ResponseError::Failed));
                assert_eq!(
                    dec.decode(b"0 OK\r\n", &mut out),
                    Err(ResponseError::Failed)
                );
            }
        }
    }

    #[test]
    fn example_exchange_of_hftp_md() {
        let wire = b"0 OK\r\nnotes.txt\r\nphoto.jpg\r\n\r\n\
                     0 OK\r\n41\r\n\
                     0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n\
                     0 OK\r\n";
        let expects = [
            Expect::Listing,
            Expect::Metadata,
            Expect::Slice { size: 20 },
            Expect::Quit,
        ];
        let want = [
            status(0, "OK"),
            item("notes.txt"),
            item("photo.jpg"),
            Ev::End,
            status(0, "OK"),
            Ev::Size(41),
            Ev::End,
            status(0, "OK"),
            data(b"calor que hace hoy, "),
            Ev::End,
            status(0, "OK"),
            Ev::End,
        ];
        check(&expects, wire, &want);
    }

    #[test]
    fn help_and_empty_listing() {
        let wire = b"0 OK\r\nget_file_listing\r\nget_metadata\r\nget_slice\r\nquit\r\nhelp\r\n\r\n\
                     0 OK\r\n\r\n";
        let want = [
            status(0, "OK"),
            item("get_file_listing"),
            item("get_metadata"),
            item("get_slice"),
            item("quit"),
            item("help"),
            Ev::End,
            status(0, "OK"),
            Ev::End,
        ];
        check(&[Expect::Help, Expect::Listing], wire, &want);
    }

    #[test]
    fn error_statuses_end_the_response() {
        let expects = [
            Expect::Listing,
            Expect::Metadata,
            Expect::Slice { size: 9 },
            Expect::RawSlice { size: 9 },
            Expect::Help,
            Expect::Metadata,
            Expect::Quit,
            Expect::Metadata,
        ];
        let wire = b"200 NO SUCH COMMAND\r\n201 INVALID ARGUMENTS FOR COMMAND\r\n\
                     202 FILE NOT FOUND\r\n203 OFFSET EXCEEDS FILE SIZE\r\n\
                     199 INTERNAL SERVER ERROR\r\n100 BAD EOL\r\n101 BAD REQUEST\r\n\
                     65535 WHATEVER\r\n";
        let mut want = Vec::new();
        for (code, text) in [
            (200, "NO SUCH COMMAND"),
            (201, "INVALID ARGUMENTS FOR COMMAND"),
            (202, "FILE NOT FOUND"),
            (203, "OFFSET EXCEEDS FILE SIZE"),
            (199, "INTERNAL SERVER ERROR"),
            (100, "BAD EOL"),
            (101, "BAD REQUEST"),
            (65535, "WHATEVER"),
        ] {
            want.push(status(code, text));
            want.push(Ev::End);
        }
        check(&expects, wire, &want);
    }

    #[test]
    fn liberal_status_lines() {
        let cases: &[(&[u8], u16, &str)] = &[
            (b"0 OK\r\n", 0, "OK"),
            (b"0 OK\n", 0, "OK"),
            (b"0  OK\r\n", 0, "OK"),
            (b" 0 OK\r\n", 0, "OK"),
            (b"0\r\n", 0, ""),
            (b"0 \n", 0, ""),
            (b"00000 OK\r\n", 0, "OK"),
            (b"0 all good, gracias \r\n", 0, "all good, gracias "),
            (b"0 \xc3\xb1and\xc3\xba\r\n", 0, "\u{f1}and\u{fa}"),
            (b"202\r\n", 202, ""),
            (b"7 x\r\n", 7, "x"),
        ];
        for &(line, code, text) in cases {
            let want = [status(code, text), Ev::End];
            check(&[Expect::Quit], line, &want);
        }
    }

    #[test]
    fn bad_status_lines() {
        for line in [
            &b"OK\r\n"[..],
            b"\r\n",
            b"\n",
            b"   \r\n",
            b"0OK\r\n",
            b"-1 X\r\n",
            b"+0 OK\r\n",
            b"123456 X\r\n",
            b"65536 X\r\n",
            b"99999\r\n",
        ] {
            check_err(&[Expect::Listing], line, ResponseError::BadStatusLine);
        }
        check_err(
            &[Expect::Quit],
            b"0 O\tK\r\n",
            ResponseError::ControlByte { byte: b'\t' },
        );
        check_err(
            &[Expect::Quit],
            b"0 O\rK\r\n",
            ResponseError::ControlByte { byte: b'\r' },
        );
        check_err(
            &[Expect::Quit],
            b"0 OK\r\r\n",
            ResponseError::ControlByte { byte: b'\r' },
        );
        check_err(
            &[Expect::Quit],
            b"0 O\x7fK\r\n",
            ResponseError::ControlByte { byte: 0x7f },
        );
        check_err(&[Expect::Quit], b"0 \xff\r\n", ResponseError::InvalidUtf8);
    }

    #[test]
    fn items_must_be_text() {
        let ok = b"0 OK\r\n\xc3\xb1and\xc3\xba.txt\r\nwith space\r\n\r\n";
        let want = [
            status(0, "OK"),
            item("\u{f1}and\u{fa}.txt"),
            item("with space"),
            Ev::End,
        ];
        check(&[Expect::Listing], ok, &want);
        check_err(
            &[Expect::Listing],
            b"0 OK\r\na\x00b\r\n",
            ResponseError::ControlByte { byte: 0 },
        );
        check_err(
            &[Expect::Help],
            b"0 OK\r\n\xc3\r\n",
            ResponseError::InvalidUtf8,
        );
    }

    #[test]
    fn line_too_long() {
        let long = |n: usize, end: &[u8]| {
            let mut v = b"0 OK\r\n".to_vec();
            v.extend(std::iter::repeat_n(b'a', n));
            v.extend_from_slice(end);
            v
        };
        let err = ResponseError::LineTooLong { limit: MAX_LINE };
        // The longest line accepted, ending in CRLF or LF, split or whole.
        for end in [&b"\r\n"[..], b"\n"] {
            let mut wire = long(MAX_LINE, end);
            wire.extend_from_slice(b"\r\n");
            for chunk in [1000, wire.len()] {
                let mut dec = decoder(&[Expect::Listing]);
                let evs = feed(&mut dec, &wire, chunk, 8).unwrap();
                assert_eq!(evs[1], Ev::Item("a".repeat(MAX_LINE)));
                assert_eq!(evs.len(), 3);
            }
        }
        for wire in [
            long(MAX_LINE + 1, b"\r\n"),
            long(MAX_LINE + 1, b"\n"),
            long(3 * MAX_LINE, b""),
        ] {
            for chunk in [1000, 4096, wire.len()] {
                let mut dec = decoder(&[Expect::Listing]);
                assert_eq!(feed(&mut dec, &wire, chunk, 8), Err(err.clone()));
            }
        }
        // A status line too.
        let mut dec = decoder(&[Expect::Quit]);
        assert_eq!(feed(&mut dec, &vec![b'0'; MAX_LINE + 5], 100, 8), Err(err));
    }

    #[test]
    fn metadata_sizes() {
        let cases: &[(&[u8], u64)] = &[
            (b"0 OK\r\n0\r\n", 0),
            (b"0 OK\r\n41\n", 41),
            (b"0 OK\r\n 41 \r\n", 41),
            (b"0 OK\r\n18446744073709551615\r\n", u64::MAX),
            (b"0 OK\r\n000123\r\n", 123),
        ];
        for &(wire, size) in cases {
            check(
                &[Expect::Metadata],
                wire,
                &[status(0, "OK"), Ev::Size(size), Ev::End],
            );
        }
        for wire in [
            &b"0 OK\r\n\r\n"[..],
            b"0 OK\r\nabc\r\n",
            b"0 OK\r\n-1\r\n",
            b"0 OK\r\n4 1\r\n",
            b"0 OK\r\n0x10\r\n",
            b"0 OK\r\n18446744073709551616\r\n",
        ] {
            check_err(&[Expect::Metadata], wire, ResponseError::BadSize);
        }
    }

    #[test]
    fn base64_slices() {
        let ok = |size: u64, body: &[u8], payload: &[u8]| {
            let mut wire = b"0 OK\r\n".to_vec();
            wire.extend_from_slice(body);
            let mut want = vec![status(0, "OK"), data(payload), Ev::End];
            if payload.is_empty() {
                want.remove(1);
            }
            check(&[Expect::Slice { size }], &wire, &want);
        };
        ok(0, b"\r\n", b"");
        ok(0, b"\n", b"");
        ok(1, b"QQ==\r\n", b"A");
        ok(2, b"QUI=\r\n", b"AB");
        ok(3, b"QUJD\r\n", b"ABC");
        ok(3, b"QUJD\n", b"ABC");
        // Unpadded tails.
        ok(1, b"QQ\r\n", b"A");
        ok(2, b"QUI\r\n", b"AB");
        ok(5, b"QUJDREU\r\n", b"ABCDE");
        ok(4, b"QUJDRA\n", b"ABCD");
        // Non-canonical trailing bits are tolerated.
        ok(1, b"QR==\r\n", b"A");
        // Split over several lines, each decodable on its own.
        ok(6, b"QUJD\r\nREVG\r\n", b"ABCDEF");
        ok(6, b"QQ==\r\nQkM=\r\nREVG\r\n", b"ABCDEF");
        ok(6, b"QQ\r\nQkM\nREVG\r\n", b"ABCDEF");
        ok(
            20,
            b"Y2Fsb3Ig\r\ncXVlIGhhY2Ug\r\naG95LCA=\r\n",
            b"calor que hace hoy, ",
        );
        // Every byte value.
        let all: Vec<u8> = (0..=255).collect();
        let mut body = STANDARD.encode_to_string(&all).into_bytes();
        body.extend_from_slice(b"\r\n");
        ok(256, &body, &all);
    }

    #[test]
    fn base64_errors() {
        let err = |size: u64, body: &[u8], want: ResponseError| {
            let mut wire = b"0 OK\r\n".to_vec();
            wire.extend_from_slice(body);
            check_err(&[Expect::Slice { size }], &wire, want);
        };
        err(3, b"QU*D\r\n", ResponseError::BadBase64 { byte: b'*' });
        err(3, b"QUJD \r\n", ResponseError::BadBase64 { byte: b' ' });
        err(
            30,
            b"QUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJD-UJD\r\n",
            ResponseError::BadBase64 { byte: b'-' },
        );
        err(3, b"QUJD\r\r\n", ResponseError::ControlByte { byte: b'\r' });
        err(3, b"QU\rJD\r\n", ResponseError::ControlByte { byte: b'\r' });
        err(2, b"QQ==QQ==\r\n", ResponseError::BadPadding);
        err(1, b"QQ=\r\n", ResponseError::BadPadding);
        err(1, b"Q===\r\n", ResponseError::BadPadding);
        err(1, b"=\r\n", ResponseError::BadPadding);
        err(2, b"QUI==\r\n", ResponseError::BadPadding);
        err(1, b"QQ=A\r\n", ResponseError::BadPadding);
        err(4, b"QUJDR\r\n", ResponseError::DanglingBase64);
        err(1, b"Q\r\n", ResponseError::DanglingBase64);
        err(0, b"QUJD\r\n", ResponseError::SliceTooLong { expected: 0 });
        err(2, b"QUJD\r\n", ResponseError::SliceTooLong { expected: 2 });
        err(
            3,
            b"QUJDQQ==\r\n",
            ResponseError::SliceTooLong { expected: 3 },
        );
        err(1, b"QUI=\r\n", ResponseError::SliceTooLong { expected: 1 });
        err(
            40,
            b"QUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJD\r\n",
            ResponseError::SliceTooLong { expected: 40 },
        );
        err(
            3,
            b"\r\n",
            ResponseError::SliceTooShort {
                expected: 3,
                got: 0,
            },
        );
        err(
            6,
            b"QUJD\r\n\r\n",
            ResponseError::SliceTooShort {
                expected: 6,
                got: 3,
            },
        );
        // A slice that stops early runs into the next response's status.
        let mut dec = decoder(&[Expect::Slice { size: 6 }, Expect::Quit]);
        let got = feed(&mut dec, b"0 OK\r\nQUJD\r\n0 OK\r\n", 64, 64);
        assert_eq!(got, Err(ResponseError::BadBase64 { byte: b' ' }));
    }

    /// Drives `dec` over `wire` the way a zero-copy client does: input goes
    /// through `decode` in chunks of `chunk` bytes, except that inside a raw
    /// body at most `direct` bytes at a time are taken straight from the
    /// wire and reported with `raw_body_received`.
    fn feed_direct(
        dec: &mut ResponseDecoder,
        wire: &[u8],
        chunk: usize,
        direct: usize,
    ) -> Result<Vec<Ev>, ResponseError> {
        let mut evs = Vec::new();
        let mut out = [0u8; 64];
        let mut at = 0;
        loop {
            if let Some(left) = dec.raw_body_remaining() {
                let k = (left as usize).min(direct).min(wire.len() - at);
                if k == 0 {
                    return Ok(evs);
                }
                dec.raw_body_received(k)?;
                let direct_data = Event::Data(k);
                push(&mut evs, direct_data, &wire[at..at + k]);
                at += k;
                continue;
            }
            let end = (at + chunk).min(wire.len());
            let step = dec.decode(&wire[at..end], &mut out)?;
            at += step.consumed;
            match step.event {
                Some(e) => push(&mut evs, e, &out),
                None if at == wire.len() => return Ok(evs),
                None => {}
            }
        }
    }

    #[test]
    fn raw_bodies_read_directly() {
        let mut wire = b"0 OK\r\nContent-Length: 20\r\n\r\ncalor que hace hoy, ".to_vec();
        wire.extend_from_slice(b"0 OK\r\n41\r\n0 OK\r\nContent-Length: 3\r\n\r\nabc");
        let want = vec![
            status(0, "OK"),
            data(b"calor que hace hoy, "),
            Ev::End,
            status(0, "OK"),
            Ev::Size(41),
            Ev::End,
            status(0, "OK"),
            data(b"abc"),
            Ev::End,
        ];
        let expects = [
            Expect::RawSlice { size: 20 },
            Expect::Metadata,
            Expect::RawSlice { size: 3 },
        ];
        for chunk in 1..wire.len() {
            for direct in [1, 2, 7, 100] {
                let mut dec = decoder(&expects);
                let got = feed_direct(&mut dec, &wire, chunk, direct);
                assert_eq!(got.as_ref(), Ok(&want), "chunk {chunk}, direct {direct}");
                assert_eq!(dec.pending(), 0);
            }
        }
    }

    #[test]
    fn raw_body_received_outside_a_body_or_past_it_fails() {
        // Before the body.
        let mut dec = decoder(&[Expect::RawSlice { size: 4 }]);
        assert_eq!(dec.raw_body_remaining(), None);
        assert_eq!(dec.raw_body_received(1), Err(ResponseError::UnexpectedData));
        assert_eq!(dec.decode(b"0 OK\r\n", &mut []), Err(ResponseError::Failed));
        // Past the body.
        let mut dec = decoder(&[Expect::RawSlice { size: 4 }]);
        let step = dec
            .decode(b"0 OK\r\nContent-Length: 4\r\n\r\n", &mut [])
            .unwrap();
        assert_eq!(step.consumed, 6);
        let step = dec.decode(b"Content-Length: 4\r\n\r\n", &mut []).unwrap();
        assert_eq!((step.consumed, step.event), (21, None));
        assert_eq!(dec.raw_body_remaining(), Some(4));
        assert_eq!(dec.raw_body_received(5), Err(ResponseError::UnexpectedData));
        assert_eq!(dec.raw_body_remaining(), None);
        assert_eq!(dec.raw_body_received(1), Err(ResponseError::Failed));
        // Zero bytes are fine, and so is the exact rest.
        let mut dec = decoder(&[Expect::RawSlice { size: 4 }]);
        dec.decode(b"0 OK\r\n", &mut []).unwrap();
        dec.decode(b"Content-Length: 4\r\n\r\n", &mut []).unwrap();
        dec.raw_body_received(0).unwrap();
        dec.raw_body_received(4).unwrap();
        assert_eq!(dec.raw_body_remaining(), None);
        assert_eq!(dec.decode(b"", &mut []).unwrap().event, Some(Event::End));
        // Other responses never have a raw body.
        let mut dec = decoder(&[Expect::Slice { size: 3 }]);
        dec.decode(b"0 OK\r\n", &mut []).unwrap();
        assert_eq!(dec.raw_body_remaining(), None);
    }

    #[test]
    fn raw_slices() {
        let want = |payload: &[u8]| {
            let mut v = vec![status(0, "OK")];
            if !payload.is_empty() {
                v.push(data(payload));
            }
            v.push(Ev::End);
            v
        };
        check(
            &[Expect::RawSlice { size: 5 }],
            b"0 OK\r\nContent-Length: 5\r\n\r\nhe\r\no",
            &want(b"he\r\no"),
        );
        check(
            &[Expect::RawSlice { size: 5 }],
            b"0 OK\r\ncontent-length:5\n\nhello",
            &want(b"hello"),
        );
        check(
            &[Expect::RawSlice { size: 3 }],
            b"0 OK\r\nCONTENT-LENGTH:   3  \r\n\r\n\0\xff\n",
            &want(b"\0\xff\n"),
        );
        check(
            &[Expect::RawSlice { size: 0 }],
            b"0 OK\r\nContent-Length: 0\r\n\r\n",
            &want(b""),
        );
        // Pipelined with what follows.
        let mut wire = b"0 OK\r\nContent-Length: 20\r\n\r\ncalor que hace hoy, ".to_vec();
        wire.extend_from_slice(b"0 OK\r\n41\r\n");
        let mut w = want(b"calor que hace hoy, ");
        w.extend([status(0, "OK"), Ev::Size(41), Ev::End]);
        check(
            &[Expect::RawSlice { size: 20 }, Expect::Metadata],
            &wire,
            &w,
        );

        let err = |size: u64, body: &[u8], want: ResponseError| {
            let mut wire = b"0 OK\r\n".to_vec();
            wire.extend_from_slice(body);
            check_err(&[Expect::RawSlice { size }], &wire, want);
        };
        err(
            5,
            b"Content-Length: 6\r\n\r\nhello!",
            ResponseError::BadContentLength {
                expected: 5,
                got: 6,
            },
        );
        err(
            5,
            b"Content-Length: 99999999999999999999\r\n",
            ResponseError::BadHeader,
        );
        err(5, b"Content-Length 5\r\n", ResponseError::BadHeader);
        err(5, b"Content-Type: 5\r\n", ResponseError::BadHeader);
        err(5, b"Content-Length: x5\r\n", ResponseError::BadHeader);
        err(5, b"\r\n", ResponseError::BadHeader);
        err(
            5,
            b"Content-Length: 5\r\nX: y\r\n\r\nhello",
            ResponseError::MissingBlankLine,
        );
        err(
            5,
            b"Content-Length: 5\r\nhello",
            ResponseError::MissingBlankLine,
        );
    }

    #[test]
    fn pipelined_in_one_input() {
        let expects = [
            Expect::Slice { size: 3 },
            Expect::Metadata,
            Expect::RawSlice { size: 2 },
            Expect::Help,
            Expect::Slice { size: 0 },
            Expect::Quit,
        ];
        let wire = b"0 OK\r\nQUJD\r\n202 FILE NOT FOUND\r\n0 OK\r\nContent-Length: 2\r\n\r\nxy\
                     0 OK\r\nquit\r\n\r\n0 OK\r\n\r\n0 OK\r\n";
        let want = [
            status(0, "OK"),
            data(b"ABC"),
            Ev::End,
            status(202, "FILE NOT FOUND"),
            Ev::End,
            status(0, "OK"),
            data(b"xy"),
            Ev::End,
            status(0, "OK"),
            item("quit"),
            Ev::End,
            status(0, "OK"),
            Ev::End,
            status(0, "OK"),
            Ev::End,
        ];
        check(&expects, wire, &want);
        // One call per event, in order, each borrowing the single input.
        let mut dec = decoder(&expects);
        let mut out = [0u8; 8];
        let mut rest = &wire[..];
        let mut events = 0;
        while dec.pending() > 0 {
            let d = dec.decode(rest, &mut out).unwrap();
            rest = &rest[d.consumed..];
            assert!(d.event.is_some() || d.consumed > 0);
            events += usize::from(d.event.is_some());
        }
        assert_eq!(events, want.len());
        assert!(rest.is_empty());
    }

    #[test]
    fn unexpected_data_and_failed() {
        let mut dec = ResponseDecoder::new();
        let mut out = [0u8; 4];
        assert_eq!(
            dec.decode(b"", &mut out),
            Ok(ResponseDecoded {
                consumed: 0,
                event: None
            })
        );
        assert_eq!(
            dec.decode(b"0 OK\r\n", &mut out),
            Err(ResponseError::UnexpectedData)
        );
        assert_eq!(dec.decode(b"", &mut out), Err(ResponseError::Failed));
        dec.expect(Expect::Quit);
        assert_eq!(
            dec.decode(b"0 OK\r\n", &mut out),
            Err(ResponseError::Failed)
        );
        // Bytes after the last expected response.
        check_err(
            &[Expect::Quit],
            b"0 OK\r\nextra",
            ResponseError::UnexpectedData,
        );
        check_err(&[], b"x", ResponseError::UnexpectedData);
    }

    #[test]
    fn zero_length_out() {
        let mut dec = decoder(&[Expect::Slice { size: 3 }]);
        let r = dec.decode(b"0 OK\r\nQUJD\r\n", &mut []).unwrap();
        assert_eq!(r.consumed, 6);
        // No room: the quantum is decoded into the spill, nothing written.
        let r = dec.decode(b"QUJD\r\n", &mut []).unwrap();
        assert_eq!(
            r,
            ResponseDecoded {
                consumed: 4,
                event: None
            }
        );
        assert_eq!(dec.retained(), 3);
        let mut out = [0u8; 2];
        assert_eq!(
            dec.decode(b"\r\n", &mut out).unwrap().event,
            Some(Event::Data(2))
        );
        assert_eq!(&out, b"AB");
        let r = dec.decode(b"\r\n", &mut out).unwrap();
        assert_eq!(
            r,
            ResponseDecoded {
                consumed: 2,
                event: Some(Event::Data(1))
            }
        );
        assert_eq!(out[0], b'C');
        assert_eq!(dec.decode(b"", &mut out).unwrap().event, Some(Event::End));
        assert_eq!(dec.pending(), 0);
    }

    #[test]
    fn retained_is_bounded_and_reported() {
        let mut dec = decoder(&[Expect::Listing]);
        let mut out = [0u8; 1];
        dec.decode(b"0 OK\r\nnotes", &mut out).unwrap();
        assert_eq!(dec.retained(), 0);
        dec.decode(b"notes", &mut out).unwrap();
        assert_eq!(dec.retained(), 5);
        let d = dec.decode(b".txt\r\n", &mut out).unwrap();
        assert_eq!(d.event, Some(Event::Item("notes.txt")));
        // The item borrows the buffer; it is freed on the next call.
        assert_eq!(dec.retained(), 10);
        let d = dec.decode(b"\r\n", &mut out).unwrap();
        assert_eq!(d.event, Some(Event::End));
        assert_eq!(dec.retained(), 0);
    }

    #[test]
    fn expect_for_request() {
        use crate::{FileName, Slice};
        let name = FileName::new("a").unwrap();
        let slice = Slice {
            name,
            offset: 0,
            size: 7,
            raw: false,
        };
        assert_eq!(Expect::for_request(&Request::Help), Expect::Help);
        assert_eq!(Expect::for_request(&Request::Quit), Expect::Quit);
        assert_eq!(
            Expect::for_request(&Request::GetSlice(slice)),
            Expect::Slice { size: 7 }
        );
        let raw = Slice { raw: true, ..slice };
        assert_eq!(
            Expect::for_request(&Request::GetSlice(raw)),
            Expect::RawSlice { size: 7 }
        );
    }

    /// Bulk decoding speed; run with
    /// `cargo test --release -p hftp-proto --lib throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn throughput() {
        let payload: Vec<u8> = (0..64u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut wire = b"0 OK\r\n".to_vec();
        wire.extend_from_slice(STANDARD.encode_to_string(&payload).as_bytes());
        wire.extend_from_slice(b"\r\n");
        for (chunk, out_len) in [
            (256 << 10, 64 << 10),
            (1 << 20, 1 << 20),
            (64 << 10, 256 << 10),
        ] {
            let mut out = vec![0u8; out_len];
            let start = std::time::Instant::now();
            let rounds = 5;
            for _ in 0..rounds {
                let mut dec = decoder(&[Expect::Slice {
                    size: payload.len() as u64,
                }]);
                let mut total = 0;
                for piece in wire.chunks(chunk) {
                    let mut rest = piece;
                    while !rest.is_empty() {
                        let d = dec.decode(rest, &mut out).unwrap();
                        rest = &rest[d.consumed..];
                        if let Some(Event::Data(n)) = d.event {
                            total += n;
                        }
                    }
                }
                assert_eq!(total, payload.len());
                assert_eq!(dec.decode(b"", &mut out).unwrap().event, Some(Event::End));
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "chunk {chunk}, out {out_len}: {:.2} GB/s of payload",
                (rounds * payload.len()) as f64 / secs / 1e9
            );
        }
    }

    fn any_expect() -> impl Strategy<Value = Expect> {
        let size = prop_oneof![0u64..8, 0u64..300, Just(u64::MAX)];
        prop_oneof![
            Just(Expect::Listing),
            Just(Expect::Metadata),
            Just(Expect::Help),
            Just(Expect::Quit),
            size.clone().prop_map(|size| Expect::Slice { size }),
            size.prop_map(|size| Expect::RawSlice { size }),
        ]
    }

    proptest! {
        #[test]
        fn slices_round_trip(
            payload in proptest::collection::vec(any::<u8>(), 0..5000),
            splits in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
            unpadded in any::<bool>(),
            bare_lf in any::<bool>(),
            chunks in proptest::collection::vec(1usize..700, 1..8),
            out_len in prop_oneof![1usize..8, 1usize..5000],
        ) {
            // Cut the payload into 1..4 non-empty pieces, one line each.
            let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(payload.len().max(1))).collect();
            cuts.retain(|&c| c > 0 && c < payload.len());
            cuts.sort_unstable();
            cuts.dedup();
            let mut wire = b"0 OK\r\n".to_vec();
            let mut last = 0;
            for end in cuts.into_iter().chain([payload.len()]) {
                let mut line = STANDARD.encode_to_string(&payload[last..end]);
                if unpadded {
                    line = line.trim_end_matches('=').to_owned();
                }
                wire.extend_from_slice(line.as_bytes());
                wire.extend_from_slice(if bare_lf { b"\n" } else { b"\r\n" });
                last = end;
            }
            wire.extend_from_slice(b"0 OK\r\n");

            let mut dec = decoder(&[Expect::Slice { size: payload.len() as u64 }, Expect::Quit]);
            let mut out = vec![0u8; out_len];
            let mut got = Vec::new();
            let mut events = Vec::new();
            let mut rest = &wire[..];
            let mut i = 0;
            while !rest.is_empty() || dec.pending() > 0 {
                prop_assert!(i < 100_000, "no termination");
                let n = chunks[i % chunks.len()].min(rest.len());
                i += 1;
                let mut piece = &rest[..n];
                loop {
                    let d = dec.decode(piece, &mut out).unwrap();
                    piece = &piece[d.consumed..];
                    match d.event {
                        Some(Event::Data(k)) => got.extend_from_slice(&out[..k]),
                        Some(e) => events.push(format!("{e:?}")),
                        None if piece.is_empty() => break,
                        None => prop_assert!(d.consumed > 0, "livelock"),
                    }
                    // Base64 state (3 chars, 3 bytes) plus a split status line.
                    prop_assert!(dec.retained() <= 3 + 3 + 8);
                }
                prop_assert!(piece.is_empty());
                rest = &rest[n..];
            }
            prop_assert_eq!(got, payload);
            prop_assert_eq!(events, ["Status { code: 0, text: \"OK\" }", "End", "Status { code: 0, text: \"OK\" }", "End"]);
        }

        #[test]
        fn arbitrary_input_never_panics(
            expects in proptest::collection::vec(any_expect(), 0..4),
            prefix in any::<bool>(),
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            alphabet in proptest::collection::vec(
                prop::sample::select(b"QUJD=\r\n 0OK:Content-Length:5\xff".to_vec()), 0..200),
            chunk in 1usize..64,
            out_len in 1usize..16,
        ) {
            let mut input = if prefix { b"0 OK\r\n".to_vec() } else { Vec::new() };
            input.extend_from_slice(&alphabet);
            input.extend_from_slice(&bytes);
            let mut dec = decoder(&expects);
            let mut out = vec![0u8; out_len];
            // Calls are bounded: each consumes input or emits an event, and
            // events that consume nothing are bounded per response.
            let cap = 4 * input.len() + 8 * expects.len() + 16;
            let mut calls = 0;
            'outer: for piece in input.chunks(chunk) {
                let mut rest = piece;
                loop {
                    calls += 1;
                    prop_assert!(calls <= cap, "no termination");
                    match dec.decode(rest, &mut out) {
                        Err(_) => {
                            prop_assert_eq!(dec.decode(b"x", &mut out), Err(ResponseError::Failed));
                            break 'outer;
                        }
                        Ok(d) => {
                            prop_assert!(d.consumed <= rest.len());
                            if let Some(Event::Data(n)) = d.event {
                                prop_assert!(n >= 1 && n <= out_len);
                            }
                            let idle = d.event.is_none() && d.consumed == 0;
                            rest = &rest[d.consumed..];
                            if idle {
                                prop_assert!(rest.is_empty(), "livelock");
                                break;
                            }
                        }
                    }
                    prop_assert!(dec.retained() <= MAX_LINE + 1);
                }
            }
        }
    }
}
