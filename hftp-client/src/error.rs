//! The client's error type: what the server refused, what broke on the
//! connection, and what the server got wrong.

use std::io;

use hftp_proto::{FileNameError, ResponseError, Status};
use thiserror::Error;

/// Everything that can go wrong talking to an HFTP server.
#[derive(Debug, Error)]
pub enum Error {
    /// The server answered with a non-zero status.
    #[error("{} ({code})", describe(*code, text))]
    Server {
        /// The status code, e.g. 202.
        code: u16,
        /// The status text the server sent, e.g. `FILE NOT FOUND`.
        text: String,
    },
    /// Connecting, reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The server closed the connection before the response was complete.
    #[error("the server closed the connection in the middle of a response")]
    Closed,
    /// The server sent something that is not HFTP.
    #[error("the server broke the protocol: {0}")]
    Protocol(#[from] ResponseError),
    /// A download cannot go on from what an earlier attempt left, or the
    /// file changed on the server while it was downloaded.
    #[error("{0}")]
    Resume(String),
    /// The file name cannot be sent in a request.
    #[error("invalid file name: {0}")]
    InvalidName(#[from] FileNameError),
}

impl Error {
    /// The server's status, when this error is a refusal.
    pub fn status(&self) -> Option<Status> {
        match self {
            Error::Server { code, .. } => Status::from_code(*code),
            _ => None,
        }
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
