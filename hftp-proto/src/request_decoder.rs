//! The streaming request decoder a server drives (docs/PROTOCOL.md §1, §2.1,
//! §2.3).
//!
//! Bytes go in in chunks of any size, split anywhere; requests and request
//! errors come out in order. A line that arrives whole inside one chunk is
//! parsed in place, without copying. A line split over several chunks is
//! *compacted* while it streams in: each element is cut down to the few
//! bytes that decide the answer (at most 17 bytes of an unknown command,
//! 256 bytes and a `/` of a file name, 21 significant digits of a number,
//! 4 bytes of the `raw` flag, one byte for all extra arguments). The
//! compacted line parses to exactly the result the whole line would, so a
//! 16 MiB request gets the answer an unbounded server would give, while the
//! decoder never holds more than [`RequestDecoder::MAX_RETAINED`] bytes.

use memchr::{memchr, memchr2};

use crate::grammar::{Arg, GRAMMAR, LONGEST_NAME};
use crate::{parse_line, Command, Request, RequestError};

/// What one call to [`RequestDecoder::decode`] did.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// How many bytes of the input were used. The caller passes the rest
    /// (`&input[consumed..]`) to the next call.
    pub consumed: usize,
    /// The next request or request error, or `None` when the input ended
    /// inside a request line (which the decoder has taken in), or when the
    /// decoder has failed.
    pub item: Option<Result<Request<'a>, RequestError>>,
}

/// Streaming decoder of request lines, for servers.
///
/// Feed it whatever the socket delivered; it hands back one request (or
/// error) per call together with how much input it used. After a fatal
/// error ([`RequestError::is_fatal`]) it discards all further input: the
/// server answers the error and closes.
///
/// ```
/// use hftp_proto::{Request, RequestDecoder, RequestError};
///
/// let mut decoder = RequestDecoder::new();
/// let mut requests = Vec::new();
/// // One request split across reads, then two pipelined in one read.
/// for chunk in [&b"get_meta"[..], b"data notes.txt\r", b"\nhelp\r\nverdura\r\n"] {
///     let mut input = chunk;
///     while !input.is_empty() {
///         let step = decoder.decode(input);
///         input = &input[step.consumed..];
///         match step.item {
///             Some(Ok(req)) => requests.push(req.to_string()),
///             Some(Err(err)) => requests.push(err.status().to_string()),
///             None => break,
///         }
///     }
/// }
/// assert_eq!(requests, ["get_metadata notes.txt", "help", "200 NO SUCH COMMAND"]);
/// ```
#[derive(Debug, Clone)]
pub struct RequestDecoder {
    max_line: usize,
    state: State,
    /// Content bytes of the current partial line (CRLF not counted).
    len: usize,
    /// The last byte of the partial line was a CR.
    pending_cr: bool,
    /// The first byte outside 0x20–0x7E in the partial line.
    bad_byte: Option<u8>,
    compact: Compactor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between lines.
    Idle,
    /// Inside a line that started in an earlier chunk.
    InLine,
    /// A fatal error was reported; input is discarded.
    Failed,
}

impl Default for RequestDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestDecoder {
    /// The default hard limit on a request line, CRLF not counted: 16 MiB.
    pub const DEFAULT_MAX_LINE: usize = 16 * 1024 * 1024;

    /// The most bytes the decoder ever holds, whatever it is fed
    /// (docs/PROTOCOL.md §2.3 allows 64 KiB; this decoder needs far less).
    pub const MAX_RETAINED: usize = 64 * 1024;

    /// A decoder with the default hard limit.
    pub fn new() -> Self {
        Self::with_max_line(Self::DEFAULT_MAX_LINE)
    }

    /// A decoder whose request lines may be at most `max_line` bytes long
    /// (CRLF not counted); longer lines are answered with `101`.
    pub fn with_max_line(max_line: usize) -> Self {
        RequestDecoder {
            max_line,
            state: State::Idle,
            len: 0,
            pending_cr: false,
            bad_byte: None,
            compact: Compactor::default(),
        }
    }

    /// The hard limit on a request line, in bytes.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Whether a request line has started but not ended: the server's
    /// request deadline runs while this is true.
    pub fn in_line(&self) -> bool {
        self.state == State::InLine
    }

    /// Whether a fatal error has been reported.
    pub fn has_failed(&self) -> bool {
        self.state == State::Failed
    }

    /// How many bytes of memory the decoder holds for the partial line.
    /// Never more than [`RequestDecoder::MAX_RETAINED`].
    pub fn retained(&self) -> usize {
        self.compact.buf.capacity()
    }

    /// Decodes the next request from `input`. See [`Decoded`].
    pub fn decode<'a>(&'a mut self, input: &'a [u8]) -> Decoded<'a> {
        match self.state {
            State::Failed => Decoded {
                consumed: input.len(),
                item: None,
            },
            State::InLine => self.continue_line(input),
            State::Idle => self.start_line(input),
        }
    }

    /// Fast path: a line starting at `input[0]`, parsed in place when whole.
    fn start_line<'a>(&'a mut self, input: &'a [u8]) -> Decoded<'a> {
        if input.is_empty() {
            return Decoded {
                consumed: 0,
                item: None,
            };
        }
        let window = &input[..input.len().min(self.max_line.saturating_add(1))];
        match memchr2(b'\r', b'\n', window) {
            Some(p) if window[p] == b'\n' => self.fail(p + 1, RequestError::BadEol),
            Some(p) if p + 1 < input.len() => {
                if input[p + 1] != b'\n' {
                    return self.fail(p + 2, RequestError::BadEol);
                }
                let item = parse_line(&input[..p]);
                if matches!(&item, Err(e) if e.is_fatal()) {
                    self.state = State::Failed;
                }
                Decoded {
                    consumed: p + 2,
                    item: Some(item),
                }
            }
            Some(_) => self.begin_partial(input),
            None if window.len() > self.max_line => self.fail(
                window.len(),
                RequestError::LineTooLong {
                    limit: self.max_line,
                },
            ),
            None => self.begin_partial(input),
        }
    }

    fn begin_partial<'a>(&'a mut self, input: &'a [u8]) -> Decoded<'a> {
        self.state = State::InLine;
        self.len = 0;
        self.pending_cr = false;
        self.bad_byte = None;
        self.compact.reset();
        self.continue_line(input)
    }

    fn fail(&mut self, consumed: usize, err: RequestError) -> Decoded<'static> {
        self.state = State::Failed;
        self.compact.release();
        Decoded {
            consumed,
            item: Some(Err(err)),
        }
    }

    /// Slow path: the rest of a line that began in an earlier chunk.
    fn continue_line<'a>(&'a mut self, input: &'a [u8]) -> Decoded<'a> {
        if input.is_empty() {
            return Decoded {
                consumed: 0,
                item: None,
            };
        }
        if self.pending_cr {
            return match input[0] {
                b'\n' => self.finish_line(1),
                _ => self.fail(1, RequestError::BadEol),
            };
        }
        // Content bytes this line may still take before it is too long.
        let room = self.max_line - self.len;
        let window = &input[..input.len().min(room.saturating_add(1))];
        let end = memchr2(b'\r', b'\n', window);
        self.take_content(&window[..end.unwrap_or(window.len())]);
        match end {
            None if window.len() > room => self.fail(
                window.len(),
                RequestError::LineTooLong {
                    limit: self.max_line,
                },
            ),
            // No terminator and still room: the window is the whole input.
            None => Decoded {
                consumed: window.len(),
                item: None,
            },
            Some(p) if window[p] == b'\n' => self.fail(p + 1, RequestError::BadEol),
            Some(p) => match input.get(p + 1) {
                None => {
                    self.pending_cr = true;
                    Decoded {
                        consumed: input.len(),
                        item: None,
                    }
                }
                Some(b'\n') => self.finish_line(p + 2),
                Some(_) => self.fail(p + 2, RequestError::BadEol),
            },
        }
    }

    /// Takes in content bytes (no CR or LF) of the partial line.
    fn take_content(&mut self, content: &[u8]) {
        self.len += content.len();
        if self.bad_byte.is_some() {
            return;
        }
        match content.iter().position(|&b| !(0x20..=0x7e).contains(&b)) {
            Some(i) => {
                self.bad_byte = Some(content[i]);
                self.compact.release();
            }
            None => self.compact.push(content),
        }
    }

    fn finish_line(&mut self, consumed: usize) -> Decoded<'_> {
        self.state = State::Idle;
        self.pending_cr = false;
        let item = if let Some(b) = self.bad_byte {
            Err(RequestError::InvalidByte(b))
        } else if self.len == 0 {
            Err(RequestError::EmptyLine)
        } else {
            self.compact.finish();
            parse_line(&self.compact.buf)
        };
        if matches!(&item, Err(e) if e.is_fatal()) {
            self.state = State::Failed;
        }
        Decoded {
            consumed,
            item: Some(item),
        }
    }
}

/// What an element of the line decides, given the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Command,
    /// An argument the command takes, of this kind (from [`GRAMMAR`]).
    Arg(Arg),
    /// Arguments past the last one the command takes: only whether there
    /// are any, and whether any is empty, matters.
    Extra,
    /// Everything after an unknown command: the answer is `200` whatever it is.
    Ignored,
}

const KEEP_COMMAND: usize = LONGEST_NAME + 1;
const KEEP_NAME: usize = crate::filename::MAX_FILE_NAME_LEN + 1;
const KEEP_DIGITS: usize = 21; // more significant digits than u64::MAX has
const KEEP_RAW: usize = 4; // one more than "raw"
/// The compacted line's capacity: every element at its largest, with
/// separators, fits ([`longest_compacted`]: 328 bytes).
const COMPACT_CAPACITY: usize = 384;

/// The longest compacted line: for the command whose arguments keep the
/// most, its name cut to [`KEEP_COMMAND`] bytes, each argument at its
/// largest kept form, and one byte for all extra arguments, with
/// separators.
const fn longest_compacted() -> usize {
    let mut longest = 0;
    let mut i = 0;
    while i < GRAMMAR.len() {
        let args = GRAMMAR[i].args;
        let mut len = KEEP_COMMAND + 2;
        let mut j = 0;
        while j < args.len() {
            len += 1 + match args[j] {
                // The prefix, and a `/` found past it.
                Arg::FileName => KEEP_NAME + 1,
                // The significant digits, and the first non-digit.
                Arg::Number(_) => KEEP_DIGITS + 1,
                Arg::Raw => KEEP_RAW,
            };
            j += 1;
        }
        if len > longest {
            longest = len;
        }
        i += 1;
    }
    longest
}

const _: () = assert!(longest_compacted() <= COMPACT_CAPACITY);

/// Builds the compacted form of a line that streams in piece by piece.
#[derive(Debug, Clone, Default)]
struct Compactor {
    buf: Vec<u8>,
    command: Option<Command>,
    /// Index of the current element.
    elem: usize,
    /// Bytes of the current element seen so far.
    elem_len: usize,
    /// Where the current element starts in `buf`.
    elem_start: usize,
    /// Number elements: a non-zero digit has been seen.
    digits_started: bool,
    /// Number elements: how many significant digits were kept.
    digits: usize,
    /// Number elements: a non-digit has been kept.
    not_digits: bool,
    /// Name elements: a `/` past the kept prefix has been recorded.
    late_slash: bool,
    /// Where the (single, representative) extra element starts in `buf`.
    extra_start: Option<usize>,
    extra_empty: bool,
}

impl Compactor {
    fn reset(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        if buf.capacity() < COMPACT_CAPACITY {
            buf.reserve_exact(COMPACT_CAPACITY);
        }
        *self = Compactor {
            buf,
            ..Compactor::default()
        };
    }

    /// Frees the buffer: the line's outcome no longer depends on its content.
    fn release(&mut self) {
        self.buf = Vec::new();
    }

    fn role(&self) -> Role {
        let Some(cmd) = self.command else {
            return if self.elem == 0 {
                Role::Command
            } else {
                Role::Ignored
            };
        };
        // Element 0 is the command, so arguments start at element 1.
        match self.elem.checked_sub(1).and_then(|i| cmd.args().get(i)) {
            Some(&kind) => Role::Arg(kind),
            None => Role::Extra,
        }
    }

    /// Takes in bytes of 0x20–0x7E.
    fn push(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match memchr(b' ', bytes) {
                Some(i) => {
                    self.push_element_bytes(&bytes[..i]);
                    self.next_element();
                    bytes = &bytes[i + 1..];
                }
                None => {
                    self.push_element_bytes(bytes);
                    bytes = &[];
                }
            }
        }
    }

    fn push_element_bytes(&mut self, piece: &[u8]) {
        if piece.is_empty() {
            return;
        }
        let seen = self.elem_len;
        self.elem_len += piece.len();
        match self.role() {
            Role::Command => {
                self.keep_prefix(piece, seen, KEEP_COMMAND);
            }
            Role::Arg(Arg::Raw) => {
                self.keep_prefix(piece, seen, KEEP_RAW);
            }
            Role::Arg(Arg::FileName) => {
                let kept = self.keep_prefix(piece, seen, KEEP_NAME);
                if !self.late_slash && memchr(b'/', &piece[kept..]).is_some() {
                    self.late_slash = true;
                    self.buf.push(b'/');
                }
            }
            Role::Arg(Arg::Number(_)) => {
                for &b in piece {
                    if self.not_digits && self.digits >= KEEP_DIGITS {
                        break;
                    }
                    if !b.is_ascii_digit() {
                        if !self.not_digits {
                            self.not_digits = true;
                            self.buf.push(b);
                        }
                    } else if b != b'0' || self.digits_started {
                        self.digits_started = true;
                        if self.digits < KEEP_DIGITS {
                            self.digits += 1;
                            self.buf.push(b);
                        }
                    }
                }
            }
            Role::Extra => {
                if seen == 0 && self.extra_start == Some(self.buf.len()) {
                    self.buf.push(b'x');
                }
            }
            Role::Ignored => {}
        }
    }

    /// Keeps the part of `piece` that falls within the first `keep` bytes of
    /// the element; returns how many bytes of `piece` that was.
    fn keep_prefix(&mut self, piece: &[u8], seen: usize, keep: usize) -> usize {
        let n = keep.saturating_sub(seen).min(piece.len());
        self.buf.extend_from_slice(&piece[..n]);
        n
    }

    /// Ends the current element and starts the next one.
    fn next_element(&mut self) {
        self.end_element();
        self.elem += 1;
        self.elem_len = 0;
        self.digits_started = false;
        self.digits = 0;
        self.not_digits = false;
        self.late_slash = false;
        match self.role() {
            Role::Ignored if self.elem > 1 => {}
            Role::Extra if self.extra_start.is_some() => {}
            role => {
                self.buf.push(b' ');
                if role == Role::Extra {
                    self.extra_start = Some(self.buf.len());
                }
            }
        }
        self.elem_start = self.buf.len();
    }

    fn end_element(&mut self) {
        match self.role() {
            Role::Command => self.command = Command::from_name(&self.buf[self.elem_start..]),
            // All zeros: keep one, so "000" stays the number 0.
            Role::Arg(Arg::Number(_)) if self.elem_len > 0 && self.buf.len() == self.elem_start => {
                self.buf.push(b'0')
            }
            Role::Extra if self.elem_len == 0 => self.extra_empty = true,
            _ => {}
        }
    }

    /// Ends the line: the buffer now holds the compacted line.
    fn finish(&mut self) {
        self.end_element();
        if self.extra_empty {
            if let Some(start) = self.extra_start {
                self.buf.truncate(start);
            }
        }
        debug_assert!(self.buf.len() <= COMPACT_CAPACITY);
    }
}
