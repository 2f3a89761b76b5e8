//! The client side: [`ResponseCodec`] encodes requests, registering what
//! each one expects, and decodes the responses with [`ResponseDecoder`]
//! into owned [`ResponseFrame`]s, slice payload as bounded [`Bytes`] chunks.

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::CodecError;
use crate::{Event, Expect, Request, ResponseDecoder};

/// One step of a response, owned: the [`Event`]s of [`ResponseDecoder`],
/// with slice payload handed out as [`Bytes`].
///
/// A response is `Status`, then its body (`Item`s, a `Size`, or `Data`
/// chunks), then `End`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResponseFrame {
    /// The status line. `code` may be any number (clients key on the code
    /// only); `text` is what followed it, leading spaces removed.
    Status {
        /// The status code; `0` is success.
        code: u16,
        /// The text after the code (may be empty).
        text: String,
    },
    /// One name of a listing or help body.
    Item(String),
    /// The size line of a metadata response.
    Size(u64),
    /// The next bytes of a slice's payload (base64 decoded; raw bytes as
    /// they came), at most [`ResponseCodec::max_chunk`] of them, never
    /// empty.
    Data(Bytes),
    /// The response is complete.
    End,
}

/// The client's codec: [`Encoder<Request>`](Encoder) writes a request
/// line and registers the response it [expects](Expect::for_request);
/// [`Decoder`] turns the server's bytes into [`ResponseFrame`]s, exactly the
/// events of a [`ResponseDecoder`].
///
/// A slice is never buffered whole: base64 is decoded into chunks of at
/// most [`max_chunk`](Self::max_chunk) bytes, and the body of a `raw` slice
/// is handed out straight from the read buffer (split off, not copied) in
/// chunks of at most that size (the codec keeps one buffer of that size to
/// decode base64 into). A [`ResponseError`](crate::ResponseError)
/// ([`CodecError::Response`]) is terminal: close the connection. So is an
/// end of input inside a response or with responses still expected
/// ([`CodecError::Io`], [`UnexpectedEof`](io::ErrorKind::UnexpectedEof)).
///
/// ```
/// use bytes::BytesMut;
/// use hftp_proto::codec::{ResponseFrame, ResponseCodec};
/// use hftp_proto::{FileName, Request, Slice};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = ResponseCodec::with_max_chunk(8);
/// let mut wire = BytesMut::new();
/// codec.encode(Request::GetFileListing, &mut wire)?;
/// let name = FileName::new("notes.txt")?;
/// codec.encode(Request::GetSlice(Slice { name, offset: 5, size: 20, raw: false }), &mut wire)?;
/// assert_eq!(&wire[..], b"get_file_listing\r\nget_slice notes.txt 5 20\r\n");
///
/// let mut input = BytesMut::from(&b"0 OK\r\nnotes.txt\r\n\r\n0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n"[..]);
/// let mut names = Vec::new();
/// let mut chunks = Vec::new();
/// while let Some(event) = codec.decode(&mut input)? {
///     match event {
///         ResponseFrame::Item(name) => names.push(name),
///         ResponseFrame::Data(chunk) => chunks.push(chunk),
///         _ => {}
///     }
/// }
/// assert_eq!(names, ["notes.txt"]);
/// assert_eq!(chunks, [&b"calor qu"[..], b"e hace h", b"oy, "]);
/// assert_eq!(codec.pending(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ResponseCodec {
    decoder: ResponseDecoder,
    max_chunk: usize,
    /// Where base64 is decoded to; its front is split off as `Data`.
    out: BytesMut,
}

impl Default for ResponseCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseCodec {
    /// The default bound on a [`ResponseFrame::Data`] chunk: 64 KiB.
    pub const DEFAULT_MAX_CHUNK: usize = 64 * 1024;

    /// A codec expecting nothing yet, with the default chunk bound.
    pub fn new() -> Self {
        Self::with_max_chunk(Self::DEFAULT_MAX_CHUNK)
    }

    /// A codec whose `Data` chunks hold at most `max_chunk` bytes (at
    /// least 1).
    pub fn with_max_chunk(max_chunk: usize) -> Self {
        ResponseCodec {
            decoder: ResponseDecoder::new(),
            max_chunk: max_chunk.max(1),
            out: BytesMut::new(),
        }
    }

    /// The bound on a `Data` chunk, in bytes.
    pub fn max_chunk(&self) -> usize {
        self.max_chunk
    }

    /// Registers the response to a request sent without this codec's
    /// encoder (see [`ResponseDecoder::expect`]).
    pub fn expect(&mut self, expect: Expect) {
        self.decoder.expect(expect);
    }

    /// Responses still expected, the one in progress included.
    pub fn pending(&self) -> usize {
        self.decoder.pending()
    }
}

impl Encoder<Request<'_>> for ResponseCodec {
    type Error = CodecError;

    /// Appends the request line and expects its response.
    fn encode(&mut self, request: Request<'_>, dst: &mut BytesMut) -> Result<(), CodecError> {
        request.encode(dst);
        self.decoder.expect(Expect::for_request(&request));
        Ok(())
    }
}

impl Decoder for ResponseCodec {
    type Item = ResponseFrame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<ResponseFrame>, CodecError> {
        loop {
            if let Some(left @ 1..) = self.decoder.raw_body_remaining() {
                // The body is the payload: split it off the read buffer.
                let n = src.len().min(self.max_chunk);
                let n = usize::try_from(left).map_or(n, |left| left.min(n));
                if n == 0 {
                    return Ok(None);
                }
                self.decoder.raw_body_received(n)?;
                return Ok(Some(ResponseFrame::Data(src.split_to(n).freeze())));
            }
            if self.out.len() < self.max_chunk.div_ceil(4) {
                // Too little room left after the chunks split off: a new
                // buffer (the old one lives on in those chunks).
                self.out = BytesMut::zeroed(self.max_chunk);
            }
            let out_len = self.out.len().min(self.max_chunk);
            let step = self.decoder.decode(src, &mut self.out[..out_len])?;
            let consumed = step.consumed;
            let event = match step.event {
                None | Some(Event::Data(0)) => None,
                Some(Event::Status { code, text }) => Some(ResponseFrame::Status {
                    code,
                    text: text.to_owned(),
                }),
                Some(Event::Item(item)) => Some(ResponseFrame::Item(item.to_owned())),
                Some(Event::Size(size)) => Some(ResponseFrame::Size(size)),
                Some(Event::Data(n)) => Some(ResponseFrame::Data(self.out.split_to(n).freeze())),
                Some(Event::End) => Some(ResponseFrame::End),
            };
            src.advance(consumed);
            // Without an event, go on while input is used: a step that
            // used the last bytes may leave an `End` that needs none.
            if event.is_some() || consumed == 0 {
                return Ok(event);
            }
        }
    }

    /// As [`decode`](Self::decode), then an
    /// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) error if the input
    /// ended inside a response or before an expected one.
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<ResponseFrame>, CodecError> {
        if let Some(event) = self.decode(src)? {
            return Ok(Some(event));
        }
        match self.decoder.pending() {
            0 => Ok(None),
            n => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the server closed the connection with {n} response(s) unfinished"),
            )
            .into()),
        }
    }
}
