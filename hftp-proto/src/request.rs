//! Requests (docs/PROTOCOL.md §1): the five commands, their arguments, and
//! how a client writes them on the wire.

use std::fmt;

use bytes::BufMut;

use crate::grammar::GRAMMAR;
use crate::FileName;

/// One of the five HFTP commands.
///
/// ```
/// use hftp_proto::Command;
///
/// assert_eq!(Command::from_name(b"get_slice"), Some(Command::GetSlice));
/// assert_eq!(Command::from_name(b"GET_SLICE"), None); // case-sensitive
/// assert_eq!(Command::GetSlice.name(), "get_slice");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    /// `get_file_listing`: the names of the published files.
    GetFileListing,
    /// `get_metadata FILENAME`: the size of a file.
    GetMetadata,
    /// `get_slice FILENAME OFFSET SIZE [raw]`: a byte range of a file.
    GetSlice,
    /// `quit`: end the session.
    Quit,
    /// `help`: the names of the commands.
    Help,
}

impl Command {
    /// Every command, in the order the `help` response lists them.
    pub const ALL: [Command; 5] = [
        Command::GetFileListing,
        Command::GetMetadata,
        Command::GetSlice,
        Command::Quit,
        Command::Help,
    ];

    /// The command's name as sent on the wire.
    pub const fn name(self) -> &'static str {
        self.syntax().name
    }

    /// The command with this exact (lowercase) name.
    pub fn from_name(name: &[u8]) -> Option<Command> {
        GRAMMAR
            .iter()
            .find(|syntax| syntax.name.as_bytes() == name)
            .map(|syntax| syntax.command)
    }

    /// How many arguments the command takes at most (`get_slice`: 4, the
    /// last one being the optional `raw`).
    pub const fn max_args(self) -> usize {
        self.args().len()
    }

    /// How many arguments the command takes at least.
    pub const fn min_args(self) -> usize {
        let args = self.args();
        let mut n = 0;
        while n < args.len() && !args[n].is_optional() {
            n += 1;
        }
        n
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The arguments of a `get_slice` request.
///
/// OFFSET and SIZE are digit strings of any length on the wire; values that
/// do not fit in a `u64` are held as `u64::MAX`. That loses nothing: no file
/// is that large, so such a slice is out of range (`203`) either way.
///
/// ```
/// use hftp_proto::{FileName, Slice};
///
/// let slice = Slice { name: FileName::new("notes.txt")?, offset: 5, size: 20, raw: false };
/// assert!(slice.fits(41));
/// assert!(slice.fits(25)); // OFFSET + SIZE == file size is fine
/// assert!(!slice.fits(24)); // 203 OFFSET EXCEEDS FILE SIZE
/// # Ok::<(), hftp_proto::FileNameError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Slice<'a> {
    /// The file to read from.
    pub name: FileName<'a>,
    /// The first byte to send.
    pub offset: u64,
    /// How many bytes to send.
    pub size: u64,
    /// Whether the `raw` flag was given: the bytes follow a
    /// `Content-Length` header unencoded instead of as one base64 line.
    pub raw: bool,
}

impl Slice<'_> {
    /// Whether `[offset, offset + size)` lies inside a file of `file_size`
    /// bytes, computed without overflow. When it does not, the answer is
    /// `203 OFFSET EXCEEDS FILE SIZE`.
    pub const fn fits(&self, file_size: u64) -> bool {
        (self.offset as u128) + (self.size as u128) <= file_size as u128
    }
}

/// A parsed HFTP request. File names borrow from the bytes they were parsed
/// from (or, for a client, from the caller).
///
/// ```
/// use hftp_proto::{FileName, Request};
///
/// let req = Request::GetMetadata { name: FileName::new("notes.txt")? };
/// assert_eq!(req.to_bytes(), b"get_metadata notes.txt\r\n");
/// assert_eq!(req.to_string(), "get_metadata notes.txt");
/// # Ok::<(), hftp_proto::FileNameError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request<'a> {
    /// `get_file_listing`
    GetFileListing,
    /// `get_metadata FILENAME`
    GetMetadata {
        /// The file whose size is asked for.
        name: FileName<'a>,
    },
    /// `get_slice FILENAME OFFSET SIZE [raw]`
    GetSlice(Slice<'a>),
    /// `quit`
    Quit,
    /// `help`
    Help,
}

impl Request<'_> {
    /// The command of this request.
    pub const fn command(&self) -> Command {
        match self {
            Request::GetFileListing => Command::GetFileListing,
            Request::GetMetadata { .. } => Command::GetMetadata,
            Request::GetSlice(_) => Command::GetSlice,
            Request::Quit => Command::Quit,
            Request::Help => Command::Help,
        }
    }

    /// Appends the request line, CRLF included, to `dst`.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        dst.put_slice(self.command().name().as_bytes());
        match self {
            Request::GetMetadata { name } => {
                dst.put_u8(b' ');
                dst.put_slice(name.as_bytes());
            }
            Request::GetSlice(s) => {
                dst.put_u8(b' ');
                dst.put_slice(s.name.as_bytes());
                dst.put_u8(b' ');
                put_decimal(dst, s.offset);
                dst.put_u8(b' ');
                put_decimal(dst, s.size);
                if s.raw {
                    dst.put_slice(b" raw");
                }
            }
            Request::GetFileListing | Request::Quit | Request::Help => {}
        }
        dst.put_slice(b"\r\n");
    }

    /// The request line, CRLF included, as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(64);
        self.encode(&mut v);
        v
    }
}

/// Writes `n` in decimal.
pub(crate) fn put_decimal<B: BufMut>(dst: &mut B, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    dst.put_slice(&buf[i..]);
}

impl fmt::Display for Request<'_> {
    /// The request line without its CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.to_bytes();
        // Request lines are printable ASCII by construction.
        f.write_str(&String::from_utf8_lossy(&line[..line.len() - 2]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_command() {
        let n = FileName::new("a.bin").unwrap();
        let cases: Vec<(Request, &[u8])> = vec![
            (Request::GetFileListing, b"get_file_listing\r\n"),
            (Request::Help, b"help\r\n"),
            (Request::Quit, b"quit\r\n"),
            (Request::GetMetadata { name: n }, b"get_metadata a.bin\r\n"),
            (
                Request::GetSlice(Slice {
                    name: n,
                    offset: 0,
                    size: u64::MAX,
                    raw: false,
                }),
                b"get_slice a.bin 0 18446744073709551615\r\n",
            ),
            (
                Request::GetSlice(Slice {
                    name: n,
                    offset: 10,
                    size: 7,
                    raw: true,
                }),
                b"get_slice a.bin 10 7 raw\r\n",
            ),
        ];
        for (req, wire) in cases {
            assert_eq!(req.to_bytes(), wire);
        }
    }

    #[test]
    fn fits_does_not_overflow() {
        let s = Slice {
            name: FileName::new("f").unwrap(),
            offset: u64::MAX,
            size: u64::MAX,
            raw: false,
        };
        assert!(!s.fits(u64::MAX));
        let s = Slice {
            offset: 3,
            size: 0,
            ..s
        };
        assert!(s.fits(3));
        assert!(!s.fits(2));
    }
}
