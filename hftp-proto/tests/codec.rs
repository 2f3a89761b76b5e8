//! The tokio codecs (feature `tokio-codec`) against the sans-IO decoders
//! they wrap: the same results however the bytes arrive, the same memory
//! bound, and responses encoded byte for byte as `Response::encode` does.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use hftp_proto::codec::{
    CodecError, RequestCodec, ResponseCodec, ResponseFrame, ServerFrame, SlicePart,
};
use hftp_proto::{
    Event, Expect, FileName, Request, RequestDecoder, Response, ResponseDecoder, ResponseError,
    Slice, SliceError, Status,
};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::{Decoder, Encoder, Framed, FramedRead};

const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------
// Requests: RequestCodec gives exactly what RequestDecoder gives
// ---------------------------------------------------------------------------

/// What decoding produced: each item's `Debug` (an `OwnedRequest` shows as
/// the `Request` it holds), and the decoder's state at the end.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    items: Vec<String>,
    failed: bool,
    in_line: bool,
}

fn decoder(max_line: Option<usize>) -> RequestDecoder {
    max_line.map_or_else(RequestDecoder::new, RequestDecoder::with_max_line)
}

fn codec(max_line: Option<usize>) -> RequestCodec {
    max_line.map_or_else(RequestCodec::new, RequestCodec::with_max_line)
}

/// The reference: a `RequestDecoder` fed the whole input.
fn reference(max_line: Option<usize>, input: &[u8]) -> Outcome {
    let mut dec = decoder(max_line);
    let mut items = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let step = dec.decode(rest);
        rest = &rest[step.consumed..];
        match step.item {
            Some(item) => items.push(format!("{item:?}")),
            None => break,
        }
    }
    Outcome {
        items,
        failed: dec.has_failed(),
        in_line: dec.in_line(),
    }
}

/// The codec fed `chunks` appended one by one to its read buffer, decoding
/// all it can after each, as `FramedRead` does; then the end of input.
fn through_codec<'c>(
    max_line: Option<usize>,
    chunks: impl IntoIterator<Item = &'c [u8]>,
) -> Outcome {
    let mut codec = codec(max_line);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            items.push(format!("{item:?}"));
        }
        // Everything the decoder took in left the buffer.
        assert!(buf.is_empty(), "{} bytes left in the buffer", buf.len());
        assert!(codec.decoder().retained() <= RequestDecoder::MAX_RETAINED);
    }
    let (failed, in_line) = (codec.decoder().has_failed(), codec.decoder().in_line());
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    Outcome {
        items,
        failed,
        in_line,
    }
}

fn line(s: &str) -> Vec<u8> {
    format!("{s}\r\n").into_bytes()
}

/// One input of each kind of §2.1–§2.3 (and `None`: the default limit).
fn request_rows() -> Vec<(&'static str, Option<usize>, Vec<u8>)> {
    let long_name = "n".repeat(256);
    let mut rows: Vec<(&str, Option<usize>, Vec<u8>)> = vec![
        // §1: every command, pipelining, the split between CR and LF
        ("listing", None, line("get_file_listing")),
        ("metadata", None, line("get_metadata notes.txt")),
        ("slice", None, line("get_slice notes.txt 5 20")),
        ("raw slice", None, line("get_slice notes.txt 5 20 raw")),
        ("size 0", None, line("get_slice notes.txt 41 0")),
        ("leading zeros", None, line("get_slice a 007 000")),
        (
            "past u64",
            None,
            line("get_slice a 99999999999999999999999 1"),
        ),
        ("quit", None, line("quit")),
        ("help", None, line("help")),
        (
            "pipelined",
            None,
            b"get_file_listing\r\nget_metadata a\r\nhelp\r\nquit\r\n".to_vec(),
        ),
        ("partial last line", None, b"help\r\nget_meta".to_vec()),
        ("CR last", None, b"help\r".to_vec()),
        // 100
        ("bare LF", None, b"qui\nt\n".to_vec()),
        ("bare CR", None, b"quit\rx\r\n".to_vec()),
        ("CR CR LF", None, b"help\r\r\n".to_vec()),
        ("LF after a bad byte", None, b"he\x01lp\n".to_vec()),
        // 101
        ("empty line", None, b"\r\nhelp\r\n".to_vec()),
        (
            "byte outside 0x20-0x7E",
            None,
            line("get_metadata caf\u{e9}"),
        ),
        ("tab", None, b"get_metadata\ta\r\n".to_vec()),
        ("DEL", None, b"help\x7f\r\n".to_vec()),
        (
            "over a small limit",
            Some(16),
            line("get_metadata abcdefgh"),
        ),
        ("exactly a small limit", Some(16), line("get_metadata abc")),
        // 200
        ("unknown command", None, line("verdura")),
        ("empty first element", None, line(" quit")),
        ("uppercase", None, line("QUIT")),
        ("command prefix", None, line("get_file_listingx")),
        // 201
        (
            "quit with arguments",
            None,
            line("quit passing extra arguments!"),
        ),
        ("metadata without name", None, line("get_metadata")),
        ("metadata with two names", None, line("get_metadata a b")),
        ("double space", None, line("get_metadata  a")),
        ("trailing space", None, line("help ")),
        ("non-numeric", None, line("get_slice bar x x")),
        ("signed size", None, line("get_slice a 1 -1")),
        ("RAW", None, line("get_slice a 1 2 RAW")),
        (
            "slice with six elements",
            None,
            line("get_slice a 1 2 raw x"),
        ),
        ("slash", None, line("get_slice ../etc/passwd 0 1")),
        ("dot", None, line("get_metadata .")),
        ("dot dot", None, line("get_metadata ..")),
        // 202 and the mix of both
        (
            "256-byte name",
            None,
            line(&format!("get_metadata {long_name}")),
        ),
        (
            "256-byte name, bad offset",
            None,
            line(&format!("get_slice {long_name} x 1")),
        ),
        // after a fatal error nothing more
        ("after a fatal", None, b"\r\nhelp\r\nquit\r\n".to_vec()),
    ];
    // §2.3: long lines, answered as a server with unbounded buffers would.
    let big = "a".repeat(5 * MIB);
    rows.push(("5 MiB name", None, line(&format!("get_metadata {big}"))));
    rows.push((
        "5 MiB name, bad offset",
        None,
        line(&format!("get_slice {big} x 1")),
    ));
    rows.push((
        "5 MiB of extra arguments",
        None,
        line(&format!("quit {big}")),
    ));
    rows.push(("5 MiB unknown command", None, line(&big)));
    rows.push(("past a 1 MiB limit", Some(MIB), line(&big)));
    rows
}

#[test]
fn every_request_row_decodes_as_request_decoder_does() {
    for (desc, max_line, input) in request_rows() {
        let want = reference(max_line, &input);
        assert!(!want.items.is_empty() || desc.starts_with("CR"), "{desc}");
        let got = through_codec(max_line, [&input[..]]);
        assert_eq!(got, want, "{desc}: one buffer");
        if input.len() > 64 * 1024 {
            for size in [8 * 1024, 4093] {
                let got = through_codec(max_line, input.chunks(size));
                assert_eq!(got, want, "{desc}: {size}-byte chunks");
            }
            continue;
        }
        let got = through_codec(max_line, input.chunks(1));
        assert_eq!(got, want, "{desc}: byte by byte");
        for k in 1..input.len() {
            let got = through_codec(max_line, [&input[..k], &input[k..]]);
            assert_eq!(got, want, "{desc}: split at {k}");
        }
    }
}

#[test]
fn owned_requests_equal_the_requests() {
    let mut codec = RequestCodec::new();
    let mut buf = BytesMut::from(&b"get_slice notes.txt 5 20 raw\r\nhelp\r\n"[..]);
    let slice = codec.decode(&mut buf).unwrap().unwrap().unwrap();
    let want = Request::GetSlice(Slice {
        name: FileName::new("notes.txt").unwrap(),
        offset: 5,
        size: 20,
        raw: true,
    });
    assert_eq!(slice, want);
    assert_eq!(want, slice);
    assert_eq!(slice.as_request(), want);
    assert_eq!(slice.to_string(), "get_slice notes.txt 5 20 raw");
    assert_eq!(slice.command(), hftp_proto::Command::GetSlice);
    assert_eq!(slice, hftp_proto::codec::OwnedRequest::from(want));
    let help = codec.decode(&mut buf).unwrap().unwrap().unwrap();
    assert_eq!(help, Request::Help);
    assert_ne!(help, slice);
}

/// A 10 MiB line, in the 8 KiB pieces `Framed` reads: the read buffer is
/// emptied after every piece, the decoder keeps its bound, and the line is
/// answered at its end.
#[test]
fn a_10_mib_line_is_never_buffered() {
    let mut input = b"get_metadata ".to_vec();
    input.resize(10 * MIB, b'x');
    input.extend_from_slice(b"\r\nhelp\r\n");
    let mut codec = RequestCodec::new();
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut items = Vec::new();
    for piece in input.chunks(8 * 1024) {
        buf.extend_from_slice(piece);
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            items.push(item.map_err(|e| e.status()));
        }
        assert!(buf.is_empty());
        assert!(codec.decoder().retained() <= RequestDecoder::MAX_RETAINED);
    }
    assert!(
        buf.capacity() <= 8 * 1024,
        "the buffer grew to {}",
        buf.capacity()
    );
    assert_eq!(items, [Err(Status::FileNotFound), Ok(Request::Help.into())]);
}

/// Past the hard limit, `101` as soon as byte limit + 1 is in, not at the
/// line's end; nothing after.
#[test]
fn a_line_past_the_limit_is_answered_at_limit_plus_one() {
    let limit = 1000;
    let mut codec = RequestCodec::with_max_line(limit);
    let mut buf = BytesMut::new();
    for i in 0..limit + 1 {
        buf.extend_from_slice(b"a");
        let item = codec.decode(&mut buf).unwrap();
        if i < limit {
            assert_eq!(item, None, "byte {i}");
        } else {
            let err = item.unwrap().unwrap_err();
            assert_eq!(err.status(), Status::BadRequest);
        }
    }
    buf.extend_from_slice(b"aaaa\r\nhelp\r\n");
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert!(buf.is_empty() && codec.decoder().has_failed());
}

/// An `AsyncRead` of `data` in `piece`-byte reads that records the most
/// room it was ever offered (the read buffer's spare capacity).
struct Pieces<'a> {
    data: &'a [u8],
    piece: usize,
    most_room: usize,
}

impl AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.most_room = self.most_room.max(buf.remaining());
        let n = self.data.len().min(self.piece).min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(()))
    }
}

/// The same through a real `FramedRead`: its buffer never grows past its
/// initial 8 KiB (the room it offers each read), far under MAX_RETAINED.
#[tokio::test]
async fn framed_read_keeps_its_buffer_small_for_a_10_mib_line() {
    let mut input = b"get_slice ".to_vec();
    input.resize(10 * MIB, b'y');
    input.extend_from_slice(b" 0 1\r\nquit\r\n");
    let pieces = Pieces {
        data: &input,
        piece: 3000,
        most_room: 0,
    };
    let mut framed = FramedRead::new(pieces, RequestCodec::new());
    let first = framed.next().await.unwrap().unwrap();
    assert_eq!(first.unwrap_err().status(), Status::FileNotFound);
    let second = framed.next().await.unwrap().unwrap();
    assert_eq!(second.unwrap(), Request::Quit);
    assert!(framed.next().await.is_none());
    let room = framed.get_ref().most_room;
    assert!(room <= 8 * 1024, "offered {room}");
    assert!(framed.read_buffer().capacity() <= RequestDecoder::MAX_RETAINED);
}

// ---------------------------------------------------------------------------
// Responses out: the bytes of Response::encode, slices streamed in parts
// ---------------------------------------------------------------------------

fn encode_frames<'a>(
    codec: &mut RequestCodec,
    frames: impl IntoIterator<Item = ServerFrame<'a>>,
) -> Result<Vec<u8>, CodecError> {
    let mut out = BytesMut::new();
    for frame in frames {
        codec.encode(frame, &mut out)?;
    }
    Ok(out.to_vec())
}

#[test]
fn responses_encode_as_response_encode_does() {
    let names = [FileName::new("a").unwrap(), FileName::new("b.txt").unwrap()];
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let responses = [
        Response::Status(Status::Ok),
        Response::Status(Status::OffsetExceedsFileSize),
        Response::Listing(&[]),
        Response::Listing(&names),
        Response::Metadata(0),
        Response::Metadata(u64::MAX),
        Response::Slice(b""),
        Response::Slice(b"c"),
        Response::Slice(b"calor que hace hoy, "),
        Response::Slice(&data),
        Response::RawSlice(b""),
        Response::RawSlice(&data),
        Response::Help,
    ];
    let mut codec = RequestCodec::new();
    for response in responses {
        let mut want = Vec::new();
        response.encode(&mut want);
        let got = encode_frames(&mut codec, [response.into()]).unwrap();
        assert_eq!(got, want, "{response:?}");
    }
    let got = encode_frames(&mut codec, [Status::FileNotFound.into()]).unwrap();
    assert_eq!(got, b"202 FILE NOT FOUND\r\n");
}

#[test]
fn streamed_slices_equal_whole_ones_for_every_chunking() {
    let data: Vec<u8> = (0..=255u8).rev().cycle().take(100).collect();
    let mut codec = RequestCodec::new();
    for raw in [false, true] {
        for len in [0, 1, 2, 3, 4, 5, 99, 100] {
            let data = &data[..len];
            let mut want = Vec::new();
            if raw {
                Response::RawSlice(data).encode(&mut want);
            } else {
                Response::Slice(data).encode(&mut want);
            }
            for chunk in 1..=7 {
                let size = len as u64;
                let mut frames = vec![SlicePart::Start { size, raw }.into()];
                frames.extend(
                    data.chunks(chunk)
                        .map(|c| ServerFrame::from(SlicePart::Data(c))),
                );
                frames.push(SlicePart::Data(&[]).into());
                frames.push(SlicePart::End.into());
                let got = encode_frames(&mut codec, frames).unwrap();
                assert_eq!(got, want, "raw {raw}, {len} bytes, chunks of {chunk}");
                assert_eq!(codec.slice_remaining(), None);
            }
            for k in 0..=len {
                let start = SlicePart::start(&Slice {
                    name: FileName::new("f").unwrap(),
                    offset: 0,
                    size: len as u64,
                    raw,
                });
                let frames = [
                    start.into(),
                    SlicePart::Data(&data[..k]).into(),
                    SlicePart::Data(&data[k..]).into(),
                    SlicePart::End.into(),
                ];
                let got = encode_frames(&mut codec, frames).unwrap();
                assert_eq!(got, want, "raw {raw}, {len} bytes, split at {k}");
            }
        }
    }
}

#[test]
fn slice_parts_out_of_order_are_errors() {
    for raw in [false, true] {
        let mut codec = RequestCodec::new();
        let start = SlicePart::Start { size: 3, raw }.into();
        let err = encode_frames(&mut codec, [SlicePart::Data(b"x").into()]).unwrap_err();
        assert!(matches!(err, CodecError::SliceNotStarted), "{err}");
        let err = encode_frames(&mut codec, [SlicePart::End.into()]).unwrap_err();
        assert!(matches!(err, CodecError::SliceNotStarted), "{err}");

        encode_frames(&mut codec, [start, SlicePart::Data(b"ab").into()]).unwrap();
        assert_eq!(codec.slice_remaining(), Some(1));
        let err = encode_frames(&mut codec, [Response::Help.into()]).unwrap_err();
        assert!(matches!(err, CodecError::SliceInProgress), "{err}");
        let err = encode_frames(&mut codec, [start]).unwrap_err();
        assert!(matches!(err, CodecError::SliceInProgress), "{err}");
        let err = encode_frames(&mut codec, [SlicePart::Data(b"cd").into()]).unwrap_err();
        assert!(
            matches!(
                err,
                CodecError::Slice(SliceError::TooMuchData {
                    chunk: 2,
                    remaining: 1
                })
            ),
            "{err}"
        );
        let err = encode_frames(&mut codec, [SlicePart::End.into()]).unwrap_err();
        assert!(
            matches!(
                err,
                CodecError::Slice(SliceError::Incomplete { missing: 1 })
            ),
            "{err}"
        );
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
    }
}

// ---------------------------------------------------------------------------
// Responses in: ResponseCodec gives exactly ResponseDecoder's events
// ---------------------------------------------------------------------------

/// `ResponseDecoder`'s events for `wire` as one input (the reference),
/// payload as `Data` of everything in a row, and the error it ends in.
fn response_reference(
    expects: &[Expect],
    wire: &[u8],
) -> (Vec<ResponseFrame>, Option<ResponseError>) {
    let mut dec = ResponseDecoder::new();
    for &e in expects {
        dec.expect(e);
    }
    let mut events = Vec::new();
    let mut out = vec![0; wire.len() + 1];
    let mut input = wire;
    loop {
        let step = match dec.decode(input, &mut out) {
            Ok(step) => step,
            Err(err) => return (events, Some(err)),
        };
        input = &input[step.consumed..];
        let event = match step.event {
            None => return (events, None),
            Some(Event::Status { code, text }) => ResponseFrame::Status {
                code,
                text: text.to_owned(),
            },
            Some(Event::Item(item)) => ResponseFrame::Item(item.to_owned()),
            Some(Event::Size(n)) => ResponseFrame::Size(n),
            Some(Event::Data(n)) => ResponseFrame::Data(Bytes::copy_from_slice(&out[..n])),
            Some(Event::End) => ResponseFrame::End,
        };
        push_merged(&mut events, event);
    }
}

/// Appends an event, merging `Data` into the `Data` before it.
fn push_merged(events: &mut Vec<ResponseFrame>, event: ResponseFrame) {
    if let (Some(ResponseFrame::Data(last)), ResponseFrame::Data(more)) =
        (events.last_mut(), &event)
    {
        let mut joined = BytesMut::from(&last[..]);
        joined.extend_from_slice(more);
        *last = joined.freeze();
    } else {
        events.push(event);
    }
}

/// The codec fed `chunks`, with `Data` chunks checked and merged.
fn response_through_codec<'c>(
    requests: &[Request<'_>],
    max_chunk: usize,
    chunks: impl IntoIterator<Item = &'c [u8]>,
) -> (Vec<ResponseFrame>, Option<ResponseError>) {
    let mut codec = ResponseCodec::with_max_chunk(max_chunk);
    let mut wire = BytesMut::new();
    for &r in requests {
        codec.encode(r, &mut wire).unwrap();
    }
    let mut events = Vec::new();
    let mut buf = BytesMut::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(event)) => {
                    if let ResponseFrame::Data(d) = &event {
                        assert!(
                            !d.is_empty() && d.len() <= max_chunk,
                            "chunk of {}",
                            d.len()
                        );
                    }
                    push_merged(&mut events, event);
                }
                Ok(None) => break,
                Err(CodecError::Response(err)) => return (events, Some(err)),
                Err(err) => panic!("{err}"),
            }
        }
    }
    (events, None)
}

fn name() -> FileName<'static> {
    FileName::new("notes.txt").unwrap()
}

fn slice(offset: u64, size: u64, raw: bool) -> Request<'static> {
    Request::GetSlice(Slice {
        name: name(),
        offset,
        size,
        raw,
    })
}

/// Responses of each shape, and some broken ones.
fn response_rows() -> Vec<(&'static str, Vec<Request<'static>>, Vec<u8>)> {
    let payload: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let mut b64 = Vec::new();
    hftp_proto::slice::encode_line(&payload, &mut b64);
    let mut raw = b"0 OK\r\nContent-Length: 3000\r\n\r\n".to_vec();
    raw.extend_from_slice(&payload);
    let mut base64 = b"0 OK\r\n".to_vec();
    base64.extend_from_slice(&b64);
    let meta = Request::GetMetadata { name: name() };
    vec![
        (
            "listing",
            vec![Request::GetFileListing],
            b"0 OK\r\nnotes.txt\r\nphoto.jpg\r\n\r\n".to_vec(),
        ),
        (
            "empty listing",
            vec![Request::GetFileListing],
            b"0 OK\r\n\r\n".to_vec(),
        ),
        ("metadata", vec![meta], b"0 OK\r\n41\r\n".to_vec()),
        (
            "help",
            vec![Request::Help],
            b"0 OK\r\nget_file_listing\r\nget_metadata\r\nget_slice\r\nquit\r\nhelp\r\n\r\n"
                .to_vec(),
        ),
        ("quit", vec![Request::Quit], b"0 OK\r\n".to_vec()),
        ("202", vec![meta], b"202 FILE NOT FOUND\r\n".to_vec()),
        (
            "203",
            vec![slice(0, 99, false)],
            b"203 OFFSET EXCEEDS FILE SIZE\r\n".to_vec(),
        ),
        (
            "base64 slice",
            vec![slice(5, 20, false)],
            b"0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n".to_vec(),
        ),
        (
            "3000-byte base64 slice",
            vec![slice(0, 3000, false)],
            base64,
        ),
        (
            "base64 slice over several lines, unpadded",
            vec![slice(5, 20, false)],
            b"0 OK\r\nY2Fsb3Ig\r\ncXVlIGhhY2UgaG95LCA\r\n".to_vec(),
        ),
        (
            "empty slice",
            vec![slice(41, 0, false)],
            b"0 OK\r\n\r\n".to_vec(),
        ),
        ("3000-byte raw slice", vec![slice(0, 3000, true)], raw),
        (
            "empty raw slice",
            vec![slice(41, 0, true)],
            b"0 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ),
        (
            "a pipeline of every shape",
            vec![
                Request::GetFileListing,
                meta,
                slice(5, 20, false),
                slice(0, 4, true),
                Request::Help,
                Request::Quit,
            ],
            [
                &b"0 OK\r\nnotes.txt\r\n\r\n0 OK\r\n41\r\n"[..],
                b"0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n",
                b"0 OK\r\nContent-Length: 4\r\n\r\na\r\nb",
                b"0 OK\r\nget_file_listing\r\nget_metadata\r\nget_slice\r\nquit\r\nhelp\r\n\r\n",
                b"0 OK\r\n",
            ]
            .concat(),
        ),
        (
            "bad base64",
            vec![slice(5, 20, false)],
            b"0 OK\r\nY2Fsb3Ig*XVl\r\n".to_vec(),
        ),
        (
            "slice too long",
            vec![slice(0, 1, false)],
            b"0 OK\r\nQUJD\r\n".to_vec(),
        ),
        (
            "wrong Content-Length",
            vec![slice(0, 4, true)],
            b"0 OK\r\nContent-Length: 5\r\n\r\nabcde".to_vec(),
        ),
        (
            "bytes after the last response",
            vec![Request::Quit],
            b"0 OK\r\nhello".to_vec(),
        ),
    ]
}

/// What must not depend on how the bytes came: everything, except how much
/// payload of a broken line the decoder hands out before it sees the error.
fn settled(
    (mut events, err): (Vec<ResponseFrame>, Option<ResponseError>),
) -> (Vec<ResponseFrame>, Option<ResponseError>) {
    if err.is_some() && matches!(events.last(), Some(ResponseFrame::Data(_))) {
        events.pop();
    }
    (events, err)
}

#[test]
fn every_response_row_decodes_as_response_decoder_does() {
    for (desc, requests, wire) in response_rows() {
        let expects: Vec<Expect> = requests.iter().map(Expect::for_request).collect();
        let want = settled(response_reference(&expects, &wire));
        assert!(!want.0.is_empty(), "{desc}");
        let run = |max_chunk, chunks: &[&[u8]]| {
            settled(response_through_codec(
                &requests,
                max_chunk,
                chunks.iter().copied(),
            ))
        };
        for max_chunk in [1, 7, 64 * 1024] {
            let got = run(max_chunk, &[&wire[..]]);
            assert_eq!(got, want, "{desc}: one buffer, chunks of {max_chunk}");
            let bytes: Vec<&[u8]> = wire.chunks(1).collect();
            let got = run(max_chunk, &bytes);
            assert_eq!(got, want, "{desc}: byte by byte, chunks of {max_chunk}");
        }
        for k in 1..wire.len() {
            let got = run(100, &[&wire[..k], &wire[k..]]);
            assert_eq!(got, want, "{desc}: split at {k}");
            let third = k / 2;
            let got = run(5, &[&wire[..third], &wire[third..k], &wire[k..]]);
            assert_eq!(got, want, "{desc}: split at {third} and {k}");
        }
    }
}

/// A raw body is handed out from the read buffer in bounded chunks; the
/// buffer is drained as they go.
#[test]
fn a_big_raw_slice_comes_in_bounded_chunks() {
    let size = 4 * MIB;
    let mut codec = ResponseCodec::with_max_chunk(16 * 1024);
    codec.expect(Expect::RawSlice { size: size as u64 });
    let mut wire = format!("0 OK\r\nContent-Length: {size}\r\n\r\n").into_bytes();
    wire.extend((0..size).map(|i| (i % 251) as u8));
    let mut buf = BytesMut::new();
    let mut got = 0;
    let mut ends = 0;
    for piece in wire.chunks(64 * 1024 + 3) {
        buf.extend_from_slice(piece);
        while let Some(event) = codec.decode(&mut buf).unwrap() {
            match event {
                ResponseFrame::Data(d) => {
                    assert!(d.len() <= 16 * 1024);
                    assert!(d
                        .iter()
                        .enumerate()
                        .all(|(i, &b)| b == ((got + i) % 251) as u8));
                    got += d.len();
                }
                ResponseFrame::End => ends += 1,
                ResponseFrame::Status { code: 0, .. } => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(buf.is_empty(), "{} bytes kept", buf.len());
    }
    assert_eq!((got, ends, codec.pending()), (size, 1, 0));
}

#[test]
fn the_end_of_input_inside_a_response_is_an_error() {
    let mut codec = ResponseCodec::new();
    codec
        .encode(Request::GetFileListing, &mut BytesMut::new())
        .unwrap();
    let mut buf = BytesMut::from(&b"0 OK\r\nnotes.txt\r\n"[..]);
    let mut events = Vec::new();
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(event)) => events.push(event),
            Ok(None) => panic!("a clean end"),
            Err(CodecError::Io(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(events.len(), 2);
    // Quit's answer needs nothing after its status line.
    let mut codec = ResponseCodec::new();
    codec.expect(Expect::Quit);
    let mut buf = BytesMut::from(&b"0 OK\r\n"[..]);
    assert!(codec.decode_eof(&mut buf).unwrap().is_some());
    assert_eq!(
        codec.decode_eof(&mut buf).unwrap(),
        Some(ResponseFrame::End)
    );
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
}

// ---------------------------------------------------------------------------
// Both ends over a real (in-memory) stream
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_client_and_a_server_framed_over_a_duplex() {
    let (client, server) = tokio::io::duplex(4096);
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let data = payload.clone();
    let server = tokio::spawn(async move {
        let mut conn = Framed::new(server, RequestCodec::new());
        while let Some(item) = conn.next().await {
            let request = item.unwrap().unwrap();
            match request.as_request() {
                Request::GetSlice(s) => {
                    conn.feed(SlicePart::start(&s).into()).await.unwrap();
                    let bytes = &data[s.offset as usize..(s.offset + s.size) as usize];
                    for chunk in bytes.chunks(10_000) {
                        conn.feed(SlicePart::Data(chunk).into()).await.unwrap();
                    }
                    conn.feed(SlicePart::End.into()).await.unwrap();
                }
                Request::Quit => {
                    conn.send(Status::Ok.into()).await.unwrap();
                    return;
                }
                _ => conn.feed(Status::FileNotFound.into()).await.unwrap(),
            }
            conn.flush().await.unwrap();
        }
    });
    let mut conn = Framed::new(client, ResponseCodec::with_max_chunk(8192));
    conn.feed(slice(1, 99_999, false)).await.unwrap();
    conn.feed(Request::GetMetadata { name: name() })
        .await
        .unwrap();
    conn.feed(slice(0, 100_000, true)).await.unwrap();
    conn.send(Request::Quit).await.unwrap();
    let mut slices = Vec::new();
    let mut statuses = Vec::new();
    while let Some(event) = conn.next().await {
        match event.unwrap() {
            ResponseFrame::Status { code, .. } => {
                statuses.push(code);
                slices.push(Vec::new());
            }
            ResponseFrame::Data(d) => {
                assert!(d.len() <= 8192);
                slices.last_mut().unwrap().extend_from_slice(&d);
            }
            _ => {}
        }
    }
    server.await.unwrap();
    assert_eq!(statuses, [0, 202, 0, 0]);
    assert_eq!(slices[0], &payload[1..]);
    assert_eq!(slices[2], payload);
    assert_eq!(conn.codec().pending(), 0);
}
