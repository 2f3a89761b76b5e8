//! Errors in requests (docs/PROTOCOL.md §2.1–§2.3): what was wrong with a
//! request line, and the status code the server answers it with.

use thiserror::Error;

use crate::{Command, FileNameError, Status};

/// Why a request line was not a valid request. Each variant maps to exactly
/// one status code ([`RequestError::status`]); the fatal ones
/// ([`RequestError::is_fatal`]) close the connection.
///
/// ```
/// use hftp_proto::{parse_line, RequestError, Status};
///
/// let err = parse_line(b"verdura").unwrap_err();
/// assert_eq!(err, RequestError::NoSuchCommand);
/// assert_eq!(err.status(), Status::NoSuchCommand);
/// assert!(!err.is_fatal());
/// ```
///
/// Non-exhaustive: later versions may add variants, so a `match` on it
/// needs a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A CR or LF that is not part of a CRLF pair. `100`, fatal.
    #[error("a CR or LF that is not part of a CRLF pair; end every request with CR LF")]
    BadEol,
    /// A byte outside 0x20–0x7E. `101`, fatal.
    #[error("byte 0x{0:02x} in the request line; only printable ASCII and space are allowed")]
    InvalidByte(u8),
    /// An empty request line. `101`, fatal.
    #[error("empty request line")]
    EmptyLine,
    /// A request line longer than the hard limit. `101`, fatal.
    #[error("request line longer than the limit of {limit} bytes")]
    LineTooLong {
        /// The hard limit in force, in bytes (CRLF not counted).
        limit: usize,
    },
    /// The first element is not a command. `200`.
    #[error("no such command; the commands are get_file_listing, get_metadata, get_slice, quit and help")]
    NoSuchCommand,
    /// Wrong arguments for a known command. `201`.
    #[error("invalid arguments for {command}: {reason}")]
    InvalidArguments {
        /// The command the arguments were given to.
        command: Command,
        /// What was wrong with them.
        reason: ArgumentError,
    },
    /// A well-formed file name longer than 255 bytes, which no file can
    /// have. `202`.
    #[error("file name longer than 255 bytes: no such file")]
    FileNameTooLong,
}

/// What was wrong with the arguments of a known command (`201`). When
/// several things are wrong, the first in this order is reported: an empty
/// element, the number of arguments, then each argument left to right.
///
/// Non-exhaustive: later versions may add variants, so a `match` on it
/// needs a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum ArgumentError {
    /// An empty element: two spaces in a row, or a trailing space.
    #[error("empty argument (two spaces in a row or a trailing space)")]
    EmptyElement,
    /// Too many or too few arguments.
    #[error("wrong number of arguments")]
    WrongCount,
    /// FILENAME is malformed.
    #[error("{0}")]
    FileName(FileNameError),
    /// OFFSET is not a string of ASCII digits.
    #[error("OFFSET must be a string of decimal digits")]
    Offset,
    /// SIZE is not a string of ASCII digits.
    #[error("SIZE must be a string of decimal digits")]
    Size,
    /// The fifth element of `get_slice` is not `raw`.
    #[error("the optional last argument of get_slice must be exactly 'raw'")]
    RawFlag,
}

impl RequestError {
    /// The status code a server answers this error with.
    pub const fn status(&self) -> Status {
        match self {
            RequestError::BadEol => Status::BadEol,
            RequestError::InvalidByte(_)
            | RequestError::EmptyLine
            | RequestError::LineTooLong { .. } => Status::BadRequest,
            RequestError::NoSuchCommand => Status::NoSuchCommand,
            RequestError::InvalidArguments { .. } => Status::InvalidArguments,
            RequestError::FileNameTooLong => Status::FileNotFound,
        }
    }

    /// Whether the server must close the connection after answering.
    pub const fn is_fatal(&self) -> bool {
        self.status().is_fatal()
    }
}
