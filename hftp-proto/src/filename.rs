//! File names as HFTP accepts them (docs/PROTOCOL.md §2.2): validation, and the
//! distinction between a malformed name (`201`) and a well-formed name too
//! long to exist on any file system (`202`).

use std::fmt;

use thiserror::Error;

use crate::Status;

/// The longest file name a file system can hold, in bytes. A well-formed
/// name longer than this cannot name a published file.
pub const MAX_FILE_NAME_LEN: usize = 255;

/// A validated HFTP file name: 1 to 255 bytes of 0x21–0x7E, no `/`, and
/// neither `.` nor `..`. It borrows the bytes it was validated from.
///
/// ```
/// use hftp_proto::{FileName, FileNameError, Status};
///
/// let name = FileName::new("notes.txt").unwrap();
/// assert_eq!(name.as_str(), "notes.txt");
///
/// // Malformed names are answered with 201...
/// assert_eq!(FileName::new("../etc/passwd"), Err(FileNameError::Slash));
/// assert_eq!(FileName::new(".").unwrap_err().status(), Status::InvalidArguments);
/// // ...but a well-formed name that is merely too long cannot exist: 202.
/// let long = "x".repeat(256);
/// assert_eq!(FileName::new(&long).unwrap_err().status(), Status::FileNotFound);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileName<'a>(&'a str);

/// `a space`, `the non-ASCII byte 0xc3`, `the control byte 0x09`.
fn byte_in_words(b: u8) -> String {
    match b {
        b' ' => "a space".to_owned(),
        0x80.. => format!("the non-ASCII byte 0x{b:02x}"),
        _ => format!("the control byte 0x{b:02x}"),
    }
}

/// Why a byte string is not a valid [`FileName`].
///
/// Non-exhaustive: later versions may add variants, so a `match` on it
/// needs a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum FileNameError {
    /// The name is empty.
    #[error("the file name is empty")]
    Empty,
    /// The name holds a byte outside 0x21–0x7E (a space, a control byte or a
    /// non-ASCII byte).
    #[error("the file name holds {}; HFTP names are printable ASCII without spaces", byte_in_words(*.0))]
    InvalidByte(u8),
    /// The name holds a `/`: names never reach outside the served directory.
    #[error("the file name holds a '/'; only names directly inside the served directory can be requested")]
    Slash,
    /// The name is `.`.
    #[error("'.' is not a file name")]
    Dot,
    /// The name is `..`.
    #[error("'..' is not a file name")]
    DotDot,
    /// The name is well formed but longer than [`MAX_FILE_NAME_LEN`] bytes,
    /// so no such file can exist.
    #[error("the file name is longer than 255 bytes, so no such file can exist")]
    TooLong,
}

impl FileNameError {
    /// The status a server answers a request naming such a file with:
    /// [`Status::FileNotFound`] for [`FileNameError::TooLong`],
    /// [`Status::InvalidArguments`] otherwise.
    pub const fn status(self) -> Status {
        match self {
            FileNameError::TooLong => Status::FileNotFound,
            _ => Status::InvalidArguments,
        }
    }
}

impl<'a> FileName<'a> {
    /// Validates `name` as an HFTP file name.
    pub fn new(name: &'a str) -> Result<Self, FileNameError> {
        Self::from_bytes(name.as_bytes())
    }

    /// Validates raw bytes (as read from a request line or a directory
    /// entry) as an HFTP file name. Checks, in order: empty, a byte outside
    /// 0x21–0x7E, a `/`, `.` and `..`, then the length.
    pub fn from_bytes(name: &'a [u8]) -> Result<Self, FileNameError> {
        if name.is_empty() {
            return Err(FileNameError::Empty);
        }
        if let Some(&b) = name.iter().find(|&&b| !(0x21..=0x7e).contains(&b)) {
            return Err(FileNameError::InvalidByte(b));
        }
        if memchr::memchr(b'/', name).is_some() {
            return Err(FileNameError::Slash);
        }
        match name {
            b"." => return Err(FileNameError::Dot),
            b".." => return Err(FileNameError::DotDot),
            _ => {}
        }
        if name.len() > MAX_FILE_NAME_LEN {
            return Err(FileNameError::TooLong);
        }
        // Every byte is printable ASCII, so this cannot fail.
        std::str::from_utf8(name)
            .map(FileName)
            .map_err(|_| FileNameError::InvalidByte(0x80))
    }

    /// The name as text.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// The name as bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for FileName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for FileName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl AsRef<str> for FileName<'_> {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl AsRef<[u8]> for FileName<'_> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl<'a> TryFrom<&'a str> for FileName<'a> {
    type Error = FileNameError;

    fn try_from(name: &'a str) -> Result<Self, FileNameError> {
        FileName::new(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_order_and_statuses() {
        let cases: &[(&[u8], Result<&str, FileNameError>)] = &[
            (b"notes.txt", Ok("notes.txt")),
            (b"a", Ok("a")),
            (b"...", Ok("...")),
            (b".hidden", Ok(".hidden")),
            (b"", Err(FileNameError::Empty)),
            (b"a b", Err(FileNameError::InvalidByte(b' '))),
            (b"caf\xc3\xa9", Err(FileNameError::InvalidByte(0xc3))),
            (b"a/b", Err(FileNameError::Slash)),
            (b"../etc/passwd", Err(FileNameError::Slash)),
            (b".", Err(FileNameError::Dot)),
            (b"..", Err(FileNameError::DotDot)),
        ];
        for (input, want) in cases {
            assert_eq!(FileName::from_bytes(input).map(|n| n.as_str()), *want);
        }
        let max = "y".repeat(MAX_FILE_NAME_LEN);
        assert_eq!(FileName::new(&max).unwrap().as_str().len(), 255);
        let over = "y".repeat(MAX_FILE_NAME_LEN + 1);
        assert_eq!(FileName::new(&over), Err(FileNameError::TooLong));
        // A long name with a slash is malformed (201), not merely too long.
        let over_slash = format!("{over}/");
        assert_eq!(FileName::new(&over_slash), Err(FileNameError::Slash));
        assert_eq!(FileNameError::TooLong.status(), Status::FileNotFound);
        assert_eq!(FileNameError::Slash.status(), Status::InvalidArguments);
    }
}
