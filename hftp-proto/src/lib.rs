//! Sans-IO implementation of HFTP, the Home-made File Transfer Protocol.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod filename;
pub mod parse;
pub mod request;
pub mod request_decoder;
pub mod status;

pub use error::{ArgumentError, RequestError};
pub use filename::{FileName, FileNameError, MAX_FILE_NAME_LEN};
pub use parse::parse_line;
pub use request::{Command, Request, Slice};
pub use request_decoder::{Decoded, RequestDecoder};
pub use status::Status;
pub mod response;
pub mod slice;
pub use response::Response;
pub use slice::{SliceEncoder, SliceError};
