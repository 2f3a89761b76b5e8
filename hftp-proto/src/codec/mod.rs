//! Tokio codecs (feature `tokio-codec`): HFTP over
//! [`Framed`](tokio_util::codec::Framed) for async servers and clients.
//!
//! | type | for | decodes | encodes |
//! |---|---|---|---|
//! | [`RequestCodec`] | servers | `Result<`[`OwnedRequest`]`, `[`RequestError`](crate::RequestError)`>` | [`ServerFrame`]: a [`Response`](crate::Response) or a [`SlicePart`] |
//! | [`ResponseCodec`] | clients | [`ResponseFrame`] | [`Request`](crate::Request) (and registers its [`Expect`](crate::Expect)) |
//!
//! Both wrap the sans-IO decoders of this crate and give exactly their
//! results; they only add ownership (a decoded item outlives the read
//! buffer) and the bookkeeping of the [`BytesMut`](bytes::BytesMut) that
//! `Framed` reads into. Bytes are taken out of that buffer as the decoders
//! take them in, so it never holds a long request line: a partial line is
//! compacted inside the [`RequestDecoder`](crate::RequestDecoder) (at most
//! [`RequestDecoder::MAX_RETAINED`](crate::RequestDecoder::MAX_RETAINED)
//! bytes), not buffered. Slices go out and come in as bounded chunks.
//!
//! Driving the codecs by hand on a `BytesMut` (a server would wrap its
//! `TcpStream` in `Framed::new(stream, RequestCodec::new())`; see the
//! crate's `tokio_server` example):
//!
//! ```
//! use bytes::BytesMut;
//! use hftp_proto::codec::{ResponseFrame, RequestCodec, ResponseCodec};
//! use hftp_proto::{FileName, Request, Response};
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! // The client encodes a request; its codec now expects the answer.
//! let mut client = ResponseCodec::new();
//! let mut wire = BytesMut::new();
//! client.encode(Request::GetMetadata { name: FileName::new("notes.txt")? }, &mut wire)?;
//! assert_eq!(client.pending(), 1);
//!
//! // The server decodes it and answers.
//! let mut server = RequestCodec::new();
//! let request = server.decode(&mut wire)?.expect("a whole line").expect("a valid request");
//! assert_eq!(request, Request::GetMetadata { name: FileName::new("notes.txt")? });
//! let mut answer = BytesMut::new();
//! server.encode(Response::Metadata(41).into(), &mut answer)?;
//!
//! // The client decodes the answer.
//! let mut events = Vec::new();
//! while let Some(event) = client.decode(&mut answer)? {
//!     events.push(event);
//! }
//! assert_eq!(
//!     events,
//!     [ResponseFrame::Status { code: 0, text: "OK".into() }, ResponseFrame::Size(41), ResponseFrame::End]
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io;

use thiserror::Error;

use crate::{ResponseError, SliceError};

pub mod request;
pub mod response;

pub use request::{OwnedRequest, RequestCodec, ServerFrame, SlicePart};
pub use response::{ResponseCodec, ResponseFrame};

/// The error of every codec in this module.
///
/// Decoding requests only fails on I/O (request errors are items, answered
/// in band); decoding responses also fails on what the server sent
/// ([`CodecError::Response`], terminal); encoding fails only on misuse of
/// the slice parts. It converts into [`io::Error`] for `?` in I/O code.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Reading or writing the transport failed, or it ended inside a
    /// response.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The server's output could not be decoded; close the connection.
    #[error("bad response from the server: {0}")]
    Response(#[from] ResponseError),
    /// More or fewer slice bytes than [`SlicePart::Start`] announced.
    #[error("{0}")]
    Slice(#[from] SliceError),
    /// A [`SlicePart::Data`] or [`SlicePart::End`] without a slice started.
    #[error("slice data or end without a SlicePart::Start")]
    SliceNotStarted,
    /// A response or a new slice while a slice is unfinished.
    #[error("a slice is still in progress: send its data and SlicePart::End first")]
    SliceInProgress,
}

impl From<CodecError> for io::Error {
    fn from(err: CodecError) -> io::Error {
        match err {
            CodecError::Io(err) => err,
            err @ CodecError::Response(_) => io::Error::new(io::ErrorKind::InvalidData, err),
            err => io::Error::new(io::ErrorKind::InvalidInput, err),
        }
    }
}
