//! Status codes (docs/PROTOCOL.md §2): their numbers, their texts and which
//! of them are fatal.
//!
//! Every response starts with a status line `CODE SP TEXT CRLF`. Clients key
//! on the code only; [`Status::text`] is the text the reference server sends.

use std::fmt;

/// One of the eight status codes HFTP defines.
///
/// ```
/// use hftp_proto::Status;
///
/// assert_eq!(Status::FileNotFound.code(), 202);
/// assert_eq!(Status::FileNotFound.text(), "FILE NOT FOUND");
/// assert!(!Status::FileNotFound.is_fatal());
/// assert!(Status::BadEol.is_fatal());
/// assert_eq!(Status::from_code(101), Some(Status::BadRequest));
/// assert_eq!(Status::Ok.status_line(), b"0 OK\r\n");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// `0 OK`: success.
    Ok,
    /// `100 BAD EOL`: a CR or LF that is not part of a CRLF pair. Fatal.
    BadEol,
    /// `101 BAD REQUEST`: an empty line, a byte outside 0x20–0x7E, or a line
    /// longer than the server's hard limit. Fatal.
    BadRequest,
    /// `199 INTERNAL SERVER ERROR`: the server failed while serving a valid
    /// request (permission denied, I/O error). Fatal.
    InternalServerError,
    /// `200 NO SUCH COMMAND`: the first element is not a known command.
    NoSuchCommand,
    /// `201 INVALID ARGUMENTS FOR COMMAND`: wrong number of arguments, or an
    /// argument of the wrong form.
    InvalidArguments,
    /// `202 FILE NOT FOUND`: no such published file.
    FileNotFound,
    /// `203 OFFSET EXCEEDS FILE SIZE`: OFFSET + SIZE is larger than the file.
    OffsetExceedsFileSize,
}

impl Status {
    /// Every status, in ascending order of code.
    pub const ALL: [Status; 8] = [
        Status::Ok,
        Status::BadEol,
        Status::BadRequest,
        Status::InternalServerError,
        Status::NoSuchCommand,
        Status::InvalidArguments,
        Status::FileNotFound,
        Status::OffsetExceedsFileSize,
    ];

    /// The numeric code sent on the wire.
    pub const fn code(self) -> u16 {
        match self {
            Status::Ok => 0,
            Status::BadEol => 100,
            Status::BadRequest => 101,
            Status::InternalServerError => 199,
            Status::NoSuchCommand => 200,
            Status::InvalidArguments => 201,
            Status::FileNotFound => 202,
            Status::OffsetExceedsFileSize => 203,
        }
    }

    /// The text the reference implementation sends after the code.
    pub const fn text(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadEol => "BAD EOL",
            Status::BadRequest => "BAD REQUEST",
            Status::InternalServerError => "INTERNAL SERVER ERROR",
            Status::NoSuchCommand => "NO SUCH COMMAND",
            Status::InvalidArguments => "INVALID ARGUMENTS FOR COMMAND",
            Status::FileNotFound => "FILE NOT FOUND",
            Status::OffsetExceedsFileSize => "OFFSET EXCEEDS FILE SIZE",
        }
    }

    /// The complete status line, CRLF included, as the server sends it.
    pub const fn status_line(self) -> &'static [u8] {
        match self {
            Status::Ok => b"0 OK\r\n",
            Status::BadEol => b"100 BAD EOL\r\n",
            Status::BadRequest => b"101 BAD REQUEST\r\n",
            Status::InternalServerError => b"199 INTERNAL SERVER ERROR\r\n",
            Status::NoSuchCommand => b"200 NO SUCH COMMAND\r\n",
            Status::InvalidArguments => b"201 INVALID ARGUMENTS FOR COMMAND\r\n",
            Status::FileNotFound => b"202 FILE NOT FOUND\r\n",
            Status::OffsetExceedsFileSize => b"203 OFFSET EXCEEDS FILE SIZE\r\n",
        }
    }

    /// Whether the server closes the connection after sending this status
    /// (the 1xx codes).
    pub const fn is_fatal(self) -> bool {
        is_fatal_code(self.code())
    }

    /// The status with this code, if HFTP defines one.
    pub const fn from_code(code: u16) -> Option<Status> {
        Some(match code {
            0 => Status::Ok,
            100 => Status::BadEol,
            101 => Status::BadRequest,
            199 => Status::InternalServerError,
            200 => Status::NoSuchCommand,
            201 => Status::InvalidArguments,
            202 => Status::FileNotFound,
            203 => Status::OffsetExceedsFileSize,
            _ => return None,
        })
    }
}

/// Whether a status code, known or not, is fatal: HFTP makes every 1xx code
/// fatal, so a client can tell even for codes this crate does not know.
///
/// ```
/// assert!(hftp_proto::status::is_fatal_code(150));
/// assert!(!hftp_proto::status::is_fatal_code(250));
/// ```
pub const fn is_fatal_code(code: u16) -> bool {
    code >= 100 && code <= 199
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_agree_with_code_and_text() {
        for s in Status::ALL {
            assert_eq!(s.status_line(), format!("{s}\r\n").as_bytes());
            assert_eq!(Status::from_code(s.code()), Some(s));
            assert_eq!(s.is_fatal(), (100..200).contains(&s.code()));
        }
        assert_eq!(Status::from_code(1), None);
        assert_eq!(Status::from_code(204), None);
    }
}
