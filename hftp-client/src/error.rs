//! The client's error type: what the server refused, what broke on the
//! connection, what the server got wrong, and why a download cannot go on.

use std::io;
use std::path::PathBuf;

use hftp_proto::{FileNameError, ResponseError, Status};
use thiserror::Error;

/// Everything that can go wrong talking to an HFTP server.
///
/// After an I/O error, a close or a protocol error on a connection it is
/// broken ([`Error::breaks_connection`]; see
/// [`Connection::is_broken`](crate::Connection::is_broken)) and every later
/// call on it returns [`Error::Broken`].
///
/// ```
/// use hftp_client::Error;
/// use hftp_proto::Status;
///
/// let refused = Error::Server { code: 202, text: "FILE NOT FOUND".into() };
/// assert_eq!(refused.status(), Some(Status::FileNotFound));
/// assert_eq!(refused.to_string(), "file not found on server (202)");
/// assert!(!refused.breaks_connection());
/// assert!(Error::Closed.breaks_connection());
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a non-zero status.
    #[error("{} ({code})", describe(*code, text))]
    Server {
        /// The status code, e.g. 202.
        code: u16,
        /// The status text the server sent, e.g. `FILE NOT FOUND`.
        text: String,
    },
    /// Connecting, reading or writing failed, or a timeout passed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A local file operation of a download failed: creating, writing or
    /// renaming the `.part`, its ranges record, or the destination.
    #[error("cannot {action} {}: {source}", path.display())]
    Local {
        /// What was being done: `create`, `write to`, `rename ... to`, ...
        action: String,
        /// The local path it was done to.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// The download was cancelled through its [`Cancel`](crate::Cancel)
    /// flag; the `.part` is kept for a resume. The connection is broken
    /// when it stopped in the middle of a response.
    #[error("cancelled")]
    Cancelled,
    /// The server closed the connection while a response was expected.
    #[error("the server closed the connection in the middle of a response")]
    Closed,
    /// The server sent something that is not HFTP, or not the response to
    /// what was asked (a slice shorter or longer than the range, say).
    #[error("the server broke the protocol: {0}")]
    Protocol(#[from] ResponseError),
    /// The connection failed earlier and cannot be used any more: its
    /// requests and responses may no longer line up. Open a new one.
    #[error("the connection failed earlier ({0}); open a new one")]
    Broken(String),
    /// A TLS connection could not be made: the certificate was refused,
    /// or the server did not speak TLS.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The file name cannot be sent in a request.
    #[error("invalid file name: {0}")]
    InvalidName(#[from] FileNameError),
    /// The file's size on the server changed: during the download, or
    /// since the interrupted download being resumed.
    #[error("{name} changed on the server ({before} bytes, now {now}); download it again from the start")]
    Changed {
        /// The remote file.
        name: String,
        /// Its size when the download (or the interrupted one) began.
        before: u64,
        /// Its size now.
        now: u64,
    },
    /// A `.part` file left by an earlier download holds more bytes than
    /// the file on the server, so it is not a beginning of it.
    #[error("the file changed on the server: {} holds {have} bytes but the file now has only {total}; remove the .part to download it again", part.display())]
    PartTooLong {
        /// The `.part` file.
        part: PathBuf,
        /// Its length.
        have: u64,
        /// The file's size on the server.
        total: u64,
    },
    /// The record of completed ranges of an interrupted parallel download
    /// cannot be read.
    #[error("{} is not a download record ({why}); remove it and the .part to download again", record.display())]
    BadRecord {
        /// The `.part.ranges` file.
        record: PathBuf,
        /// What is wrong with it.
        why: &'static str,
    },
    /// After every range arrived, the `.part` file's length is not the
    /// file's size (something else wrote to it meanwhile).
    #[error("{} holds {written} bytes where the server has {total}; remove it and download again", part.display())]
    Incomplete {
        /// The `.part` file.
        part: PathBuf,
        /// Its length.
        written: u64,
        /// The file's size on the server.
        total: u64,
    },
}

impl Error {
    /// The server's status, when this error is a refusal.
    pub fn status(&self) -> Option<Status> {
        match self {
            Error::Server { code, .. } => Status::from_code(*code),
            _ => None,
        }
    }

    /// Whether a connection that returned this error is broken: I/O
    /// errors and timeouts, a close, a protocol error, and
    /// [`Error::Broken`] itself. Refusals, invalid names and the local
    /// errors of a download leave it usable.
    pub fn breaks_connection(&self) -> bool {
        matches!(
            self,
            Error::Io(_) | Error::Closed | Error::Protocol(_) | Error::Broken(_) | Error::Cancelled
        )
    }

    /// Whether this is a timeout (a read, write, connect or deadline).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Io(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock))
    }
}

fn describe(code: u16, text: &str) -> String {
    match Status::from_code(code) {
        Some(Status::FileNotFound) => "file not found on server".into(),
        Some(Status::OffsetExceedsFileSize) => "range past the end of the file".into(),
        Some(Status::InvalidArguments) => "the server rejected the arguments".into(),
        Some(Status::NoSuchCommand) => "the server does not know the command".into(),
        Some(Status::InternalServerError) => "the server failed (internal server error)".into(),
        Some(Status::BadRequest) => "the server rejected the request line".into(),
        Some(Status::BadEol) => "the server rejected the line ending".into(),
        _ => format!("the server answered '{text}'"),
    }
}
