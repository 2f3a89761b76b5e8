//! The request-line grammar (docs/PROTOCOL.md §1, §2.1, §2.2), written with
//! nom.
//!
//! [`parse_line`] takes one complete request line without its CRLF and
//! applies the order of checks of §2.1 (framing, command, arity and form,
//! then the one file check that needs no file system: a name too long to
//! exist). It is zero-copy: the request borrows from the line.

use nom::bytes::complete::{tag, take_while};
use nom::character::complete::{char, digit1};
use nom::combinator::{all_consuming, value};
use nom::multi::fold_many0;
use nom::sequence::preceded;
use nom::{IResult, Parser};

use crate::grammar::{Arg, Number, GRAMMAR, MAX_ARGS};
use crate::{ArgumentError, Command, FileName, FileNameError, Request, RequestError, Slice};

/// Elements kept by the grammar: the command, up to [`MAX_ARGS`] arguments
/// and one more, which is enough to tell that there are too many.
const KEPT: usize = MAX_ARGS + 2;

/// The space-separated elements of a line.
struct Elements<'a> {
    items: [&'a [u8]; KEPT],
    /// How many elements there are in all (saturating).
    count: usize,
    any_empty: bool,
}

impl<'a> Elements<'a> {
    fn new(first: &'a [u8]) -> Self {
        let mut e = Elements {
            items: [&[]; KEPT],
            count: 0,
            any_empty: false,
        };
        e.push(first);
        e
    }

    fn push(&mut self, item: &'a [u8]) {
        if self.count < KEPT {
            self.items[self.count] = item;
        }
        self.count = self.count.saturating_add(1);
        self.any_empty |= item.is_empty();
    }

    fn args(&self) -> &[&'a [u8]] {
        &self.items[1..self.count.min(KEPT)]
    }
}

/// `element = *( %x21-7E )`; empty elements are parsed here and reported
/// as an error later, after the command check.
fn element(i: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while(|b| b != b' ').parse(i)
}

/// `line = element *( SP element )`
fn elements(i: &[u8]) -> IResult<&[u8], Elements<'_>> {
    let (i, first) = element(i)?;
    fold_many0(
        preceded(char(' '), element),
        move || Elements::new(first),
        |mut acc, e| {
            acc.push(e);
            acc
        },
    )
    .parse(i)
}

/// `command = "get_file_listing" / "get_metadata" / "get_slice" / "quit" / "help"`:
/// the whole element is one of the names in [`GRAMMAR`].
fn command(i: &[u8]) -> IResult<&[u8], Command> {
    GRAMMAR
        .iter()
        .find_map(|syntax| {
            all_consuming(value(
                syntax.command,
                tag::<_, _, nom::error::Error<&[u8]>>(syntax.name),
            ))
            .parse(i)
            .ok()
        })
        .ok_or(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Tag,
        )))
}

/// `number = 1*DIGIT`, saturating at `u64::MAX` (see [`Slice`]).
fn number(i: &[u8]) -> Option<u64> {
    let (_, digits) = all_consuming(digit1::<_, nom::error::Error<&[u8]>>)
        .parse(i)
        .ok()?;
    Some(digits.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// `raw = "raw"`
fn raw_flag(i: &[u8]) -> bool {
    all_consuming(tag::<_, _, nom::error::Error<&[u8]>>("raw"))
        .parse(i)
        .is_ok()
}

/// Checks the framing of a line (without its CRLF): every byte in 0x20–0x7E
/// and at least one byte.
fn check_framing(line: &[u8]) -> Result<(), RequestError> {
    if let Some(pos) = line.iter().position(|&b| !(0x20..=0x7e).contains(&b)) {
        // A CR or LF anywhere in the line outranks any other bad byte.
        if memchr::memchr2(b'\r', b'\n', &line[pos..]).is_some() {
            return Err(RequestError::BadEol);
        }
        return Err(RequestError::InvalidByte(line[pos]));
    }
    if line.is_empty() {
        return Err(RequestError::EmptyLine);
    }
    Ok(())
}

/// Parses one complete request line, given without its terminating CRLF.
///
/// Applies the checks of docs/PROTOCOL.md §2.1 in order, except the hard length
/// limit (a streaming concern, see [`RequestDecoder`](crate::RequestDecoder))
/// and the checks that need the file system (existence, range, I/O).
///
/// ```
/// use hftp_proto::{parse_line, ArgumentError, Command, Request, RequestError};
///
/// let req = parse_line(b"get_slice notes.txt 5 20").unwrap();
/// let Request::GetSlice(slice) = req else { panic!() };
/// assert_eq!((slice.name.as_str(), slice.offset, slice.size, slice.raw), ("notes.txt", 5, 20, false));
///
/// assert_eq!(parse_line(b" quit"), Err(RequestError::NoSuchCommand));
/// assert_eq!(
///     parse_line(b"quit passing extra arguments!"),
///     Err(RequestError::InvalidArguments { command: Command::Quit, reason: ArgumentError::WrongCount })
/// );
/// assert_eq!(parse_line(b"qui\nt"), Err(RequestError::BadEol));
/// ```
pub fn parse_line(line: &[u8]) -> Result<Request<'_>, RequestError> {
    check_framing(line)?;
    // `elements` cannot fail: every byte is either a space or part of an element.
    let (_, elems) = elements(line).map_err(|_| RequestError::EmptyLine)?;
    let (_, cmd) = command(elems.items[0]).map_err(|_| RequestError::NoSuchCommand)?;
    let invalid = |reason| RequestError::InvalidArguments {
        command: cmd,
        reason,
    };
    if elems.any_empty {
        return Err(invalid(ArgumentError::EmptyElement));
    }
    let args = elems.args();
    let nargs = elems.count - 1;
    if nargs < cmd.min_args() || nargs > cmd.max_args() {
        return Err(invalid(ArgumentError::WrongCount));
    }
    // Each argument in the order of the grammar; the first malformed one
    // is the answer (201). A well-formed name too long to exist is 202, but
    // only once every other argument passed.
    let mut fields = Fields::default();
    let mut name_too_long = false;
    for (kind, &arg) in cmd.args().iter().zip(args) {
        match *kind {
            Arg::FileName => match FileName::from_bytes(arg) {
                Ok(name) => fields.name = Some(name),
                Err(FileNameError::TooLong) => name_too_long = true,
                Err(e) => return Err(invalid(ArgumentError::FileName(e))),
            },
            Arg::Number(which) => {
                let n = number(arg).ok_or(invalid(which.error()))?;
                match which {
                    Number::Offset => fields.offset = n,
                    Number::Size => fields.size = n,
                }
            }
            Arg::Raw if raw_flag(arg) => fields.raw = true,
            Arg::Raw => return Err(invalid(ArgumentError::RawFlag)),
        }
    }
    if name_too_long {
        return Err(RequestError::FileNameTooLong);
    }
    Ok(fields.request(cmd))
}

/// The arguments of a request line that passed the grammar, by kind.
#[derive(Default)]
struct Fields<'a> {
    name: Option<FileName<'a>>,
    offset: u64,
    size: u64,
    raw: bool,
}

impl<'a> Fields<'a> {
    /// The request of command `cmd` with these arguments.
    fn request(self, cmd: Command) -> Request<'a> {
        // The grammar gives both commands that take a name a FILENAME.
        let name = || self.name.expect("a FILENAME argument");
        match cmd {
            Command::GetFileListing => Request::GetFileListing,
            Command::Quit => Request::Quit,
            Command::Help => Request::Help,
            Command::GetMetadata => Request::GetMetadata { name: name() },
            Command::GetSlice => Request::GetSlice(Slice {
                name: name(),
                offset: self.offset,
                size: self.size,
                raw: self.raw,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_saturate_and_reject_signs() {
        assert_eq!(number(b"0"), Some(0));
        assert_eq!(number(b"007"), Some(7));
        assert_eq!(number(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(number(b"18446744073709551616"), Some(u64::MAX));
        assert_eq!(number(b"99999999999999999999999999"), Some(u64::MAX));
        for bad in [&b""[..], b"-1", b"+1", b"0x10", b"1e3", b"1 "] {
            assert_eq!(number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn raw_flag_is_exact() {
        assert!(raw_flag(b"raw"));
        assert!(!raw_flag(b"rawx"));
        assert!(!raw_flag(b"RAW"));
        assert!(!raw_flag(b"ra"));
    }
}
