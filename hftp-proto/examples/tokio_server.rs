//! A complete async HFTP server over one directory, on tokio and
//! `hftp_proto::codec`:
//!
//! ```text
//! cargo run -p hftp-proto --features tokio-codec --example tokio_server -- -a 127.0.0.1 -p 19500 -d DIR
//! ```
//!
//! It speaks the whole protocol (pipelining, long lines, base64 and raw
//! slices streamed in chunks, fatal errors answered then closed) and
//! passes the wire conformance suite of `hftp-server`, but it is a toy
//! next to that server: no timeouts, no connection or output limits, and
//! symlinks are never served (a file swapped for one between the check
//! and the open is not caught).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hftp_proto::codec::{RequestCodec, SlicePart};
use hftp_proto::{Command, FileName, Request, Response, Slice, Status};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

type Conn = Framed<TcpStream, RequestCodec>;

/// Slices are read and sent this many bytes at a time.
const CHUNK: usize = 64 * 1024;

#[tokio::main]
async fn main() -> io::Result<()> {
    let (mut addr, mut port, mut dir) = ("0.0.0.0".to_owned(), 19500, PathBuf::from("."));
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let usage = || io::Error::other(format!("bad {flag:?}; use -a ADDR -p PORT -d DIR"));
        let value = args.next().ok_or_else(usage)?;
        match flag.as_str() {
            "-a" => addr = value,
            "-p" => port = value.parse().map_err(|_| usage())?,
            "-d" => dir = value.into(),
            _ => return Err(usage()),
        }
    }
    let dir: Arc<Path> = std::fs::canonicalize(dir)?.into();
    let listener = TcpListener::bind((addr.as_str(), port)).await?;
    let local = listener.local_addr()?;
    println!("hftp-server: serving {} on {local}", dir.display());
    io::stdout().flush()?;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                eprintln!("Connected by: {peer}");
                let dir = Arc::clone(&dir);
                tokio::spawn(async move {
                    if let Err(e) = serve(Framed::new(stream, RequestCodec::new()), &dir).await {
                        eprintln!("{peer}: {e}");
                    }
                });
            }
            // Out of descriptors, say: try again a little later.
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Answers the requests of one connection in order, until the client
/// closes, quits or makes a fatal error.
async fn serve(mut conn: Conn, dir: &Path) -> io::Result<()> {
    while let Some(item) = conn.next().await {
        let (status, quit) = match item? {
            Ok(request) => {
                let status = answer(&mut conn, dir, request.as_request()).await?;
                (status, request.command() == Command::Quit)
            }
            Err(err) => (err.status(), false),
        };
        if status != Status::Ok {
            conn.feed(status.into()).await?;
        }
        if quit || status.is_fatal() {
            return linger(conn).await;
        }
        // Answers go out together while the next request is already in
        // (a line always ends by its LF), and before waiting for more.
        if !conn.read_buffer().contains(&b'\n') {
            conn.flush().await?;
        }
    }
    Ok(())
}

/// Queues the answer to one request; a status other than `0 OK` is for the
/// caller to send instead.
async fn answer(conn: &mut Conn, dir: &Path, request: Request<'_>) -> io::Result<Status> {
    match request {
        Request::Help => conn.feed(Response::Help.into()).await?,
        Request::Quit => conn.feed(Status::Ok.into()).await?,
        Request::GetFileListing => {
            let Ok(names) = listing(dir).await else {
                return Ok(Status::InternalServerError);
            };
            let names: Vec<_> = names.iter().filter_map(|n| FileName::new(n).ok()).collect();
            conn.feed(Response::Listing(&names).into()).await?
        }
        Request::GetMetadata { name } => match size_of(dir, name).await {
            Ok(size) => conn.feed(Response::Metadata(size).into()).await?,
            Err(status) => return Ok(status),
        },
        Request::GetSlice(slice) => return send_slice(conn, dir, slice).await,
    }
    Ok(Status::Ok)
}

/// The names of the regular files directly in `dir` that are valid HFTP
/// file names, sorted bytewise.
async fn listing(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        if let Ok(name) = entry.file_name().into_string() {
            if FileName::new(&name).is_ok() && entry.file_type().await?.is_file() {
                names.push(name);
            }
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// The size of a published file, or the status that answers the name.
async fn size_of(dir: &Path, name: FileName<'_>) -> Result<u64, Status> {
    match tokio::fs::symlink_metadata(dir.join(name.as_str())).await {
        Ok(meta) if meta.is_file() => Ok(meta.len()),
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Status::InternalServerError),
        _ => Err(Status::FileNotFound),
    }
}

/// Streams a slice, `CHUNK` bytes at a time. A file that shrinks or fails
/// midway ends the connection: the promised bytes cannot be sent.
async fn send_slice(conn: &mut Conn, dir: &Path, slice: Slice<'_>) -> io::Result<Status> {
    match size_of(dir, slice.name).await {
        Ok(size) if slice.fits(size) => {}
        Ok(_) => return Ok(Status::OffsetExceedsFileSize),
        Err(status) => return Ok(status),
    }
    let path = dir.join(slice.name.as_str());
    let Ok(mut file) = tokio::fs::File::open(path).await else {
        return Ok(Status::InternalServerError);
    };
    file.seek(io::SeekFrom::Start(slice.offset)).await?;
    conn.feed(SlicePart::start(&slice).into()).await?;
    let mut buf = vec![0; slice.size.min(CHUNK as u64) as usize];
    let mut left = slice.size;
    while left > 0 {
        let n = file
            .read(&mut buf[..left.min(CHUNK as u64) as usize])
            .await?;
        if n == 0 {
            return Err(io::Error::other("the file shrank mid-slice"));
        }
        conn.feed(SlicePart::Data(&buf[..n]).into()).await?;
        left -= n as u64;
    }
    conn.feed(SlicePart::End.into()).await?;
    Ok(Status::Ok)
}

/// After `quit` or a fatal status: send it, shut down the write side, and
/// read and drop what the client still sends (for up to 2 s), so that the
/// close is not a reset that could destroy the status line.
async fn linger(mut conn: Conn) -> io::Result<()> {
    conn.flush().await?;
    let mut stream = conn.into_inner();
    stream.shutdown().await?;
    let (mut sink, two_s) = (tokio::io::sink(), Duration::from_secs(2));
    let _ = tokio::time::timeout(two_s, tokio::io::copy(&mut stream, &mut sink)).await;
    Ok(())
}
