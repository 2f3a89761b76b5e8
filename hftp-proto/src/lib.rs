//! Sans-IO implementation of HFTP, the Home-made File Transfer Protocol.
//!
//! HFTP is the line-oriented file transfer protocol of university
//! networking courses: a server publishes the regular files of one
//! directory; clients list them (`get_file_listing`), ask their size
//! (`get_metadata`) and download byte ranges (`get_slice`, base64 or raw).
//! The protocol is specified in the repository's `docs/PROTOCOL.md`.
//!
//! This crate does no I/O: no sockets, no files, no clocks. Bytes go in,
//! requests, responses and events come out; you drive it from blocking
//! code, an event loop or an async runtime alike.
//!
//! | module | for | what |
//! |---|---|---|
//! | [`request_decoder`] | servers | [`RequestDecoder`]: streaming, fragmentation-proof, bounded-memory request decoding |
//! | [`parse`] | both | [`parse_line`]: the nom grammar of one request line |
//! | [`request`] | both | [`Request`], [`Command`], [`Slice`]; encoding requests |
//! | [`filename`] | both | [`FileName`] validation |
//! | [`status`] | both | [`Status`]: codes, texts, fatality |
//! | [`error`] | servers | [`RequestError`]: what was wrong, and its status code |
//! | [`response`] | servers | response encoders, [`Response`] |
//! | [`slice`](mod@slice) | servers | [`SliceEncoder`]: incremental SIMD base64 slice lines |
//! | [`response_decoder`] | clients | [`ResponseDecoder`]: streaming response decoding, slices straight into your buffer |
//! | `codec` | both | feature `tokio-codec`: tokio-util codecs, `RequestCodec` and `ResponseCodec`, for `Framed` |
//!
//! # A minimal blocking server
//!
//! The loop a server runs for each connection: read, decode every request
//! the bytes complete, answer each in order, close after a fatal error.
//! (This toy serves no files; `hftp-server` is the real one.)
//!
//! ```
//! use std::io::{Read, Write};
//! use hftp_proto::{Request, RequestDecoder, Response, Status};
//!
//! fn serve(mut conn: impl Read + Write) -> std::io::Result<()> {
//!     let mut decoder = RequestDecoder::new();
//!     let mut buf = [0u8; 4096];
//!     let mut out = Vec::new();
//!     loop {
//!         let n = conn.read(&mut buf)?;
//!         if n == 0 {
//!             return Ok(()); // the client closed
//!         }
//!         let mut input = &buf[..n];
//!         while !input.is_empty() {
//!             let step = decoder.decode(input);
//!             input = &input[step.consumed..];
//!             out.clear();
//!             match step.item {
//!                 None => break, // the rest of a request is still to come
//!                 Some(Ok(Request::Quit)) => {
//!                     conn.write_all(Status::Ok.status_line())?;
//!                     return Ok(());
//!                 }
//!                 Some(Ok(Request::Help)) => Response::Help.encode(&mut out),
//!                 Some(Ok(Request::GetFileListing)) => Response::Listing(&[]).encode(&mut out),
//!                 Some(Ok(_)) => Response::Status(Status::FileNotFound).encode(&mut out),
//!                 Some(Err(err)) => {
//!                     conn.write_all(err.status().status_line())?;
//!                     if err.is_fatal() {
//!                         return Ok(());
//!                     }
//!                 }
//!             }
//!             conn.write_all(&out)?;
//!         }
//!     }
//! }
//!
//! // Drive it with an in-memory connection; a real server passes a TcpStream.
//! struct Conn { input: std::io::Cursor<Vec<u8>>, output: Vec<u8> }
//! impl Read for Conn {
//!     fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> { self.input.read(buf) }
//! }
//! impl Write for Conn {
//!     fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> { self.output.write(buf) }
//!     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! }
//! let mut conn = Conn {
//!     input: std::io::Cursor::new(b"get_file_listing\r\nverdura\r\nget_metadata a b\r\nquit\r\n".to_vec()),
//!     output: Vec::new(),
//! };
//! serve(&mut conn)?;
//! assert_eq!(
//!     conn.output,
//!     b"0 OK\r\n\r\n200 NO SUCH COMMAND\r\n201 INVALID ARGUMENTS FOR COMMAND\r\n0 OK\r\n"
//! );
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # A client exchange
//!
//! A client writes request lines, tells the decoder what each one asks for,
//! and reads events; slice bytes land straight in the caller's buffer.
//! (The server's bytes are inline here; a real client reads a socket.)
//!
//! ```
//! use hftp_proto::{Event, Expect, FileName, Request, ResponseDecoder, Slice};
//!
//! let name = FileName::new("notes.txt")?;
//! let requests = [
//!     Request::GetFileListing,
//!     Request::GetMetadata { name },
//!     Request::GetSlice(Slice { name, offset: 5, size: 20, raw: false }),
//! ];
//! let mut wire = Vec::new();
//! let mut decoder = ResponseDecoder::new();
//! for request in &requests {
//!     request.encode(&mut wire); // what the client sends
//!     decoder.expect(Expect::for_request(request));
//! }
//! assert_eq!(wire, b"get_file_listing\r\nget_metadata notes.txt\r\nget_slice notes.txt 5 20\r\n");
//!
//! let mut input: &[u8] = b"0 OK\r\nnotes.txt\r\n\r\n0 OK\r\n41\r\n0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n";
//! let (mut names, mut size, mut slice) = (Vec::new(), None, Vec::new());
//! let mut out = [0u8; 64];
//! while decoder.pending() > 0 {
//!     let step = decoder.decode(input, &mut out)?;
//!     input = &input[step.consumed..];
//!     match step.event {
//!         Some(Event::Status { code, text }) => assert_eq!((code, text), (0, "OK")),
//!         Some(Event::Item(name)) => names.push(name.to_owned()),
//!         Some(Event::Size(n)) => size = Some(n),
//!         Some(Event::Data(n)) => slice.extend_from_slice(&out[..n]),
//!         Some(Event::End) => {}
//!         None => break, // a real client reads more here
//!     }
//! }
//! assert_eq!(names, ["notes.txt"]);
//! assert_eq!(size, Some(41));
//! assert_eq!(slice, b"calor que hace hoy, ");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "tokio-codec")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-codec")))]
pub mod codec;
pub mod error;
pub mod filename;
mod grammar;
pub mod parse;
pub mod request;
pub mod request_decoder;
pub mod response;
pub mod response_decoder;
pub mod slice;
pub mod status;

pub use error::{ArgumentError, RequestError};
pub use filename::{FileName, FileNameError, MAX_FILE_NAME_LEN};
pub use parse::parse_line;
pub use request::{Command, Request, Slice};
pub use request_decoder::{Decoded, RequestDecoder};
pub use response::Response;
pub use response_decoder::{
    Event, Expect, OwnedEvent, ResponseDecoded, ResponseDecoder, ResponseError,
};
pub use slice::{SliceEncoder, SliceError};
pub use status::Status;
