//! The server side: [`RequestCodec`] decodes requests exactly as
//! [`RequestDecoder`] does and encodes responses, slices in bounded parts.

use std::fmt;

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::CodecError;
use crate::response::{encode_raw_header, encode_status};
use crate::{
    Command, FileName, Request, RequestDecoder, RequestError, Response, Slice, SliceEncoder,
    SliceError, Status,
};

/// A decoded request that owns its file name, so that it outlives the read
/// buffer. [`as_request`](Self::as_request) gives the borrowing
/// [`Request`] to match on.
///
/// ```
/// use hftp_proto::codec::OwnedRequest;
/// use hftp_proto::{FileName, Request};
///
/// let owned = {
///     let line = String::from("notes.txt");
///     OwnedRequest::from(Request::GetMetadata { name: FileName::new(&line)? })
/// }; // the line is gone; the request is not
/// assert!(matches!(owned.as_request(), Request::GetMetadata { name } if name.as_str() == "notes.txt"));
/// assert_eq!(owned.to_string(), "get_metadata notes.txt");
/// # Ok::<(), hftp_proto::FileNameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OwnedRequest {
    shape: Shape,
    /// The FILENAME of `get_metadata` and `get_slice` (validated); empty
    /// for the other commands.
    name: Box<str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Shape {
    GetFileListing,
    GetMetadata,
    GetSlice { offset: u64, size: u64, raw: bool },
    Quit,
    Help,
}

impl OwnedRequest {
    /// The request, borrowing the file name from `self`.
    pub fn as_request(&self) -> Request<'_> {
        match self.shape {
            Shape::GetFileListing => Request::GetFileListing,
            Shape::GetMetadata => Request::GetMetadata {
                name: self.file_name(),
            },
            Shape::GetSlice { offset, size, raw } => Request::GetSlice(Slice {
                name: self.file_name(),
                offset,
                size,
                raw,
            }),
            Shape::Quit => Request::Quit,
            Shape::Help => Request::Help,
        }
    }

    /// The command of this request.
    pub fn command(&self) -> Command {
        match self.shape {
            Shape::GetFileListing => Command::GetFileListing,
            Shape::GetMetadata => Command::GetMetadata,
            Shape::GetSlice { .. } => Command::GetSlice,
            Shape::Quit => Command::Quit,
            Shape::Help => Command::Help,
        }
    }

    fn file_name(&self) -> FileName<'_> {
        FileName::new(&self.name).expect("an OwnedRequest holds a validated file name")
    }
}

impl From<Request<'_>> for OwnedRequest {
    fn from(request: Request<'_>) -> Self {
        let (shape, name) = match request {
            Request::GetFileListing => (Shape::GetFileListing, ""),
            Request::GetMetadata { name } => (Shape::GetMetadata, name.as_str()),
            Request::GetSlice(s) => (
                Shape::GetSlice {
                    offset: s.offset,
                    size: s.size,
                    raw: s.raw,
                },
                s.name.as_str(),
            ),
            Request::Quit => (Shape::Quit, ""),
            Request::Help => (Shape::Help, ""),
        };
        OwnedRequest {
            shape,
            name: name.into(),
        }
    }
}

impl PartialEq<Request<'_>> for OwnedRequest {
    fn eq(&self, other: &Request<'_>) -> bool {
        self.as_request() == *other
    }
}

impl PartialEq<OwnedRequest> for Request<'_> {
    fn eq(&self, other: &OwnedRequest) -> bool {
        *self == other.as_request()
    }
}

/// The `Debug` of the [`Request`] it holds.
impl fmt::Debug for OwnedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.as_request(), f)
    }
}

/// The request line without its CRLF.
impl fmt::Display for OwnedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.as_request(), f)
    }
}

/// What a server sends through [`RequestCodec`]: a whole [`Response`], or
/// a part of a slice response streamed from the file. Made with `into()`
/// from either (or from a [`Status`]).
///
/// (One item type rather than an `Encoder` for each: with two, `Framed`
/// would be a `Sink` of two types, and `flush()` would need to be told
/// which.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerFrame<'a> {
    /// A whole response.
    Response(Response<'a>),
    /// A part of a slice response.
    Slice(SlicePart<'a>),
}

impl<'a> From<Response<'a>> for ServerFrame<'a> {
    fn from(response: Response<'a>) -> Self {
        ServerFrame::Response(response)
    }
}

impl<'a> From<SlicePart<'a>> for ServerFrame<'a> {
    fn from(part: SlicePart<'a>) -> Self {
        ServerFrame::Slice(part)
    }
}

impl From<Status> for ServerFrame<'_> {
    fn from(status: Status) -> Self {
        ServerFrame::Response(Response::Status(status))
    }
}

/// One part of a slice response streamed through [`RequestCodec`] (as a
/// [`ServerFrame`]): a
/// `Start`, `Data` parts holding exactly `size` bytes in all (of any sizes;
/// base64 is encoded as they come, carrying at most two bytes), and an
/// `End`. Between `Start` and `End` nothing else may be encoded.
///
/// ```
/// use bytes::BytesMut;
/// use hftp_proto::codec::{RequestCodec, SlicePart};
/// use tokio_util::codec::Encoder;
///
/// let mut codec = RequestCodec::new();
/// let mut out = BytesMut::new();
/// codec.encode(SlicePart::Start { size: 20, raw: false }.into(), &mut out)?;
/// for chunk in b"calor que hace hoy, ".chunks(7) {
///     codec.encode(SlicePart::Data(chunk).into(), &mut out)?;
/// }
/// codec.encode(SlicePart::End.into(), &mut out)?;
/// assert_eq!(&out[..], b"0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n");
///
/// out.clear();
/// codec.encode(SlicePart::Start { size: 4, raw: true }.into(), &mut out)?;
/// codec.encode(SlicePart::Data(b"a\r\nb").into(), &mut out)?;
/// codec.encode(SlicePart::End.into(), &mut out)?;
/// assert_eq!(&out[..], b"0 OK\r\nContent-Length: 4\r\n\r\na\r\nb");
/// # Ok::<(), hftp_proto::codec::CodecError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlicePart<'a> {
    /// `0 OK` and, for a `raw` slice, its `Content-Length` header and
    /// empty line: a slice of `size` bytes follows.
    Start {
        /// The slice's SIZE.
        size: u64,
        /// Send the bytes raw instead of as one base64 line.
        raw: bool,
    },
    /// The next bytes of the slice.
    Data(&'a [u8]),
    /// The end of the slice: the last base64 group, padded, and CRLF
    /// (nothing for a raw slice). Fails if bytes are missing.
    End,
}

impl SlicePart<'_> {
    /// The `Start` of the response to this `get_slice` (its SIZE and form).
    pub const fn start(slice: &Slice<'_>) -> SlicePart<'static> {
        SlicePart::Start {
            size: slice.size,
            raw: slice.raw,
        }
    }
}

/// The server's codec: decodes request lines exactly as [`RequestDecoder`]
/// does, answer for answer, and encodes [`ServerFrame`]s: [`Response`]s
/// and [`SlicePart`]s.
///
/// Items are `Ok(request)` or `Err(request error)`, the latter to be
/// answered with its [`status`](RequestError::status) line (and the
/// connection closed when it [is fatal](RequestError::is_fatal); the codec
/// decodes nothing more after one). Every byte the decoder takes in is
/// removed from the read buffer at once: a partial line lives compacted in
/// the decoder, so neither holds more than
/// [`RequestDecoder::MAX_RETAINED`] bytes of it, however long it grows,
/// and a line past the hard limit is answered `101` as soon as the first
/// byte past the limit arrives.
///
/// ```
/// use bytes::BytesMut;
/// use hftp_proto::codec::RequestCodec;
/// use hftp_proto::{Request, RequestError, Response};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = RequestCodec::new();
/// let mut input = BytesMut::from(&b"get_file_li"[..]);
/// assert_eq!(codec.decode(&mut input)?, None);
/// assert!(input.is_empty()); // taken in by the decoder, not kept in the buffer
/// input.extend_from_slice(b"sting\r\nverdura\r\nhelp\r\n");
/// assert_eq!(codec.decode(&mut input)?, Some(Ok(Request::GetFileListing.into())));
/// assert_eq!(codec.decode(&mut input)?, Some(Err(RequestError::NoSuchCommand)));
/// assert_eq!(codec.decode(&mut input)?, Some(Ok(Request::Help.into())));
/// assert_eq!(codec.decode(&mut input)?, None);
///
/// let mut out = BytesMut::new();
/// codec.encode(Response::Listing(&[]).into(), &mut out)?;
/// codec.encode(RequestError::NoSuchCommand.status().into(), &mut out)?;
/// assert_eq!(&out[..], b"0 OK\r\n\r\n200 NO SUCH COMMAND\r\n");
/// # Ok::<(), hftp_proto::codec::CodecError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestCodec {
    decoder: RequestDecoder,
    /// The slice being encoded, between `SlicePart::Start` and `End`.
    slice: Option<Outgoing>,
}

#[derive(Debug, Clone)]
enum Outgoing {
    Base64(SliceEncoder),
    Raw { remaining: u64 },
}

impl RequestCodec {
    /// A codec with the default hard limit on request lines
    /// ([`RequestDecoder::DEFAULT_MAX_LINE`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// A codec whose request lines may be at most `max_line` bytes long
    /// (CRLF not counted); longer lines are answered with `101`.
    pub fn with_max_line(max_line: usize) -> Self {
        RequestCodec {
            decoder: RequestDecoder::with_max_line(max_line),
            slice: None,
        }
    }

    /// The request decoder inside, to ask e.g. whether a line is in
    /// progress ([`RequestDecoder::in_line`]) or a fatal error was decoded
    /// ([`RequestDecoder::has_failed`]).
    pub fn decoder(&self) -> &RequestDecoder {
        &self.decoder
    }

    /// Bytes the slice being encoded still needs before its
    /// [`SlicePart::End`]; `None` when no slice is in progress.
    pub fn slice_remaining(&self) -> Option<u64> {
        match &self.slice {
            Some(Outgoing::Base64(enc)) => Some(enc.remaining()),
            Some(Outgoing::Raw { remaining }) => Some(*remaining),
            None => None,
        }
    }
}

impl Decoder for RequestCodec {
    type Item = Result<OwnedRequest, RequestError>;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        if src.is_empty() {
            return Ok(None);
        }
        let step = self.decoder.decode(src);
        let consumed = step.consumed;
        let item = step.item.map(|r| r.map(OwnedRequest::from));
        // Without an item, this is all of `src`: a partial line is taken
        // in (compacted), or input after a fatal error discarded.
        src.advance(consumed);
        Ok(item)
    }

    /// As [`decode`](Self::decode): a last line the peer never ended gets
    /// no answer (and is not an error).
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        self.decode(src)
    }
}

impl Encoder<ServerFrame<'_>> for RequestCodec {
    type Error = CodecError;

    /// Appends a whole response (the bytes [`Response::encode`] writes) or
    /// one part of a slice response. After an error the response on the
    /// wire is broken: close the connection.
    fn encode(&mut self, frame: ServerFrame<'_>, dst: &mut BytesMut) -> Result<(), CodecError> {
        match frame {
            ServerFrame::Response(response) => self.encode_response(response, dst),
            ServerFrame::Slice(part) => self.encode_slice_part(part, dst),
        }
    }
}

impl RequestCodec {
    fn encode_response(
        &mut self,
        response: Response<'_>,
        dst: &mut BytesMut,
    ) -> Result<(), CodecError> {
        if self.slice.is_some() {
            return Err(CodecError::SliceInProgress);
        }
        response.encode_with(dst, |data, dst| {
            let mut enc = SliceEncoder::new(data.len() as u64);
            put_base64(&mut enc, data, dst)?;
            put_finish(enc, dst)
        })?;
        Ok(())
    }

    fn encode_slice_part(
        &mut self,
        part: SlicePart<'_>,
        dst: &mut BytesMut,
    ) -> Result<(), CodecError> {
        match part {
            SlicePart::Start { size, raw } => {
                if self.slice.is_some() {
                    return Err(CodecError::SliceInProgress);
                }
                encode_status(Status::Ok, dst);
                self.slice = Some(if raw {
                    encode_raw_header(size, dst);
                    Outgoing::Raw { remaining: size }
                } else {
                    Outgoing::Base64(SliceEncoder::new(size))
                });
            }
            SlicePart::Data(chunk) => match &mut self.slice {
                None => return Err(CodecError::SliceNotStarted),
                Some(Outgoing::Base64(enc)) => put_base64(enc, chunk, dst)?,
                Some(Outgoing::Raw { remaining }) => {
                    if chunk.len() as u64 > *remaining {
                        return Err(SliceError::TooMuchData {
                            chunk: chunk.len(),
                            remaining: *remaining,
                        }
                        .into());
                    }
                    *remaining -= chunk.len() as u64;
                    dst.extend_from_slice(chunk);
                }
            },
            SlicePart::End => match self.slice.take() {
                None => return Err(CodecError::SliceNotStarted),
                Some(Outgoing::Base64(enc)) => put_finish(enc, dst)?,
                Some(Outgoing::Raw { remaining: 0 }) => {}
                Some(Outgoing::Raw { remaining }) => {
                    return Err(SliceError::Incomplete { missing: remaining }.into())
                }
            },
        }
        Ok(())
    }
}

/// Appends the base64 of `chunk` (as far as whole groups go) to `dst`.
fn put_base64(enc: &mut SliceEncoder, chunk: &[u8], dst: &mut BytesMut) -> Result<(), SliceError> {
    let start = dst.len();
    dst.resize(start + SliceEncoder::max_output(chunk.len()), 0);
    let written = enc.encode_to_slice(chunk, &mut dst[start..]);
    dst.truncate(start + *written.as_ref().unwrap_or(&0));
    written.map(drop)
}

/// Appends the end of the base64 line to `dst`.
fn put_finish(enc: SliceEncoder, dst: &mut BytesMut) -> Result<(), SliceError> {
    let mut tail = [0u8; SliceEncoder::MAX_FINISH];
    let n = enc.finish_to_slice(&mut tail)?;
    dst.extend_from_slice(&tail[..n]);
    Ok(())
}
