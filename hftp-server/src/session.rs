//! One client connection, served on its own thread with blocking I/O:
//! read, decode requests with `hftp-proto`, answer each in order, and
//! close the way HFTP.md §2 asks (a lingering close after fatal errors and
//! `quit`).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use hftp_proto::response::{encode_end, encode_item, encode_raw_header, encode_size, encode_status};
use hftp_proto::{Request, RequestDecoder, Response, Slice, SliceEncoder, Status};
use tracing::{debug, warn};

use crate::published::{Lookup, Published};

/// Per-connection limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Close a connection that sends nothing for this long.
    pub idle_timeout: Duration,
    /// The hard limit on a request line (HFTP.md §2.3).
    pub max_request_bytes: usize,
}

/// Why a connection ended.
#[derive(Debug)]
pub enum Closed {
    /// The client closed its side.
    ByPeer,
    /// The client sent `quit`.
    Quit,
    /// A fatal status was sent.
    Fatal(Status),
    /// Nothing arrived for the idle timeout.
    Idle,
    /// A file shrank while a slice of it was being sent.
    FileShrank,
    /// A socket error.
    Io(io::Error),
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closed::ByPeer => f.write_str("closed by client"),
            Closed::Quit => f.write_str("quit"),
            Closed::Fatal(s) => write!(f, "fatal error {s}"),
            Closed::Idle => f.write_str("idle timeout"),
            Closed::FileShrank => f.write_str("file shrank while a slice was sent"),
            Closed::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

/// Bytes of a file read at a time: a multiple of 3, so whole base64 groups.
const FILE_CHUNK: usize = 48 * 1024;
/// How long a lingering close waits for the client to finish sending.
const LINGER: Duration = Duration::from_secs(2);

/// What to do after answering a request.
enum Next {
    Continue,
    Close(Closed),
}

/// Serves one connection until it ends; returns why.
pub fn serve(stream: TcpStream, published: &Published, limits: &Limits) -> Closed {
    let result = Session::new(&stream, published, limits).and_then(|mut s| s.run());
    let reason = result.unwrap_or_else(Closed::Io);
    match reason {
        Closed::Quit | Closed::Fatal(_) => linger_close(&stream),
        _ => {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
    reason
}

struct Session<'a> {
    stream: &'a TcpStream,
    out: BufWriter<&'a TcpStream>,
    published: &'a Published,
    max_request_bytes: usize,
    scratch: Vec<u8>,
    file_buf: Vec<u8>,
}

impl<'a> Session<'a> {
    fn new(stream: &'a TcpStream, published: &'a Published, limits: &Limits) -> io::Result<Self> {
        stream.set_read_timeout(Some(limits.idle_timeout))?;
        stream.set_nodelay(true)?;
        Ok(Session {
            stream,
            out: BufWriter::with_capacity(64 * 1024, stream),
            published,
            max_request_bytes: limits.max_request_bytes,
            scratch: Vec::with_capacity(SliceEncoder::max_output(FILE_CHUNK)),
            file_buf: Vec::new(),
        })
    }

    fn run(&mut self) -> io::Result<Closed> {
        let mut inbuf = vec![0u8; 64 * 1024];
        let mut decoder = RequestDecoder::with_max_line(self.max_request_bytes);
        loop {
            let n = match (&*self.stream).read(&mut inbuf) {
                Ok(0) => return Ok(Closed::ByPeer),
                Ok(n) => n,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Ok(Closed::Idle)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let mut input = &inbuf[..n];
            while !input.is_empty() {
                let step = decoder.decode(input);
                input = &input[step.consumed..];
                let next = match step.item {
                    None => break,
                    Some(Ok(request)) => {
                        debug!("Request: {}", LogLine(&request.to_string()));
                        self.answer(request)?
                    }
                    Some(Err(err)) => {
                        debug!("Bad request: {err}");
                        self.out.write_all(err.status().status_line())?;
                        match err.is_fatal() {
                            true => Next::Close(Closed::Fatal(err.status())),
                            false => Next::Continue,
                        }
                    }
                };
                if let Next::Close(reason) = next {
                    self.out.flush()?;
                    return Ok(reason);
                }
            }
            self.out.flush()?;
        }
    }

    fn answer(&mut self, request: Request<'_>) -> io::Result<Next> {
        self.scratch.clear();
        match request {
            Request::GetFileListing => match self.published.list() {
                Ok(names) => {
                    encode_status(Status::Ok, &mut self.scratch);
                    for name in &names {
                        encode_item(name, &mut self.scratch);
                    }
                    encode_end(&mut self.scratch);
                }
                Err(e) => return self.internal_error(&e),
            },
            Request::GetMetadata { name } => match self.published.open(name) {
                Ok((_, size)) => {
                    encode_status(Status::Ok, &mut self.scratch);
                    encode_size(size, &mut self.scratch);
                }
                Err(Lookup::NotFound) => encode_status(Status::FileNotFound, &mut self.scratch),
                Err(Lookup::Io(e)) => return self.internal_error(&e),
            },
            Request::GetSlice(slice) => return self.send_slice(slice),
            Request::Help => Response::Help.encode(&mut self.scratch),
            Request::Quit => {
                self.out.write_all(Status::Ok.status_line())?;
                return Ok(Next::Close(Closed::Quit));
            }
        }
        self.out.write_all(&self.scratch)?;
        Ok(Next::Continue)
    }

    fn internal_error(&mut self, e: &io::Error) -> io::Result<Next> {
        warn!("I/O error while serving a request: {e}");
        self.out.write_all(Status::InternalServerError.status_line())?;
        Ok(Next::Close(Closed::Fatal(Status::InternalServerError)))
    }

    /// Streams a slice: never more than one file chunk in memory.
    fn send_slice(&mut self, slice: Slice<'_>) -> io::Result<Next> {
        let (file, size) = match self.published.open(slice.name) {
            Ok(found) => found,
            Err(Lookup::NotFound) => {
                self.out.write_all(Status::FileNotFound.status_line())?;
                return Ok(Next::Continue);
            }
            Err(Lookup::Io(e)) => return self.internal_error(&e),
        };
        if !slice.fits(size) {
            self.out.write_all(Status::OffsetExceedsFileSize.status_line())?;
            return Ok(Next::Continue);
        }
        encode_status(Status::Ok, &mut self.scratch);
        if slice.raw {
            encode_raw_header(slice.size, &mut self.scratch);
        }
        self.out.write_all(&self.scratch)?;
        let mut encoder = SliceEncoder::new(slice.size);
        let shrank = self.stream_file(&file, slice.offset, slice.size, |out, scratch, chunk| {
            if slice.raw {
                return out.write_all(chunk);
            }
            scratch.clear();
            encoder.encode(chunk, scratch).map_err(io::Error::other)?;
            out.write_all(scratch)
        })?;
        if shrank {
            warn!("{} shrank while a slice of it was being sent; closing", slice.name);
            return Ok(Next::Close(Closed::FileShrank));
        }
        if !slice.raw {
            self.scratch.clear();
            encoder.finish(&mut self.scratch).map_err(io::Error::other)?;
            self.out.write_all(&self.scratch)?;
        }
        Ok(Next::Continue)
    }

    /// Reads `[offset, offset + size)` of `file` chunk by chunk and hands
    /// each chunk to `sink`. Returns true when the file ended early.
    fn stream_file(
        &mut self,
        file: &File,
        offset: u64,
        size: u64,
        mut sink: impl FnMut(&mut BufWriter<&'a TcpStream>, &mut Vec<u8>, &[u8]) -> io::Result<()>,
    ) -> io::Result<bool> {
        if self.file_buf.is_empty() {
            self.file_buf = vec![0u8; FILE_CHUNK];
        }
        let mut done = 0u64;
        while done < size {
            let want = (size - done).min(FILE_CHUNK as u64) as usize;
            let n = match file.read_at(&mut self.file_buf[..want], offset + done) {
                Ok(0) => return Ok(true),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            sink(&mut self.out, &mut self.scratch, &self.file_buf[..n])?;
            done += n as u64;
        }
        Ok(false)
    }
}

/// A request line for the log, cut when long.
struct LogLine<'a>(&'a str);

impl std::fmt::Display for LogLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const MAX: usize = 200;
        match self.0.len() > MAX {
            true => write!(f, "{}... ({} bytes)", &self.0[..MAX], self.0.len()),
            false => f.write_str(self.0),
        }
    }
}

/// Closes so that the last status line survives (HFTP.md §2): shut down
/// the write side, then read and discard what the client still sends, for
/// a short while, before the socket is dropped.
fn linger_close(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match (&*stream).read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}
