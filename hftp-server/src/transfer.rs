//! The slice in flight on a connection (HFTP.md §3 `get_slice`): streamed
//! from the file with positional reads, base64-encoded incrementally, or
//! sent raw with zero-copy `sendfile`. At most one chunk is in memory.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use hftp_proto::SliceEncoder;

/// File bytes read per step of a base64 slice: a multiple of 3, so every
/// chunk is whole base64 groups.
pub const FILE_CHUNK: usize = 96 * 1024;

/// Raw bytes handed to `sendfile` per call.
const SENDFILE_CHUNK: usize = 1024 * 1024;

/// What a step of a transfer did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Some bytes were produced or sent; more remain.
    Progress,
    /// The socket is full; wait until it is writable.
    Blocked,
    /// The slice is complete.
    Done,
    /// The file ended before the promised bytes: it shrank.
    Shrank,
}

/// A slice being sent.
#[derive(Debug)]
pub struct Transfer {
    file: File,
    offset: u64,
    remaining: u64,
    /// `None` for raw slices.
    encoder: Option<SliceEncoder>,
}

impl Transfer {
    /// A slice of `size` bytes of `file` from `offset`.
    pub fn new(file: File, offset: u64, size: u64, raw: bool) -> Self {
        Transfer {
            file,
            offset,
            remaining: size,
            encoder: (!raw).then(|| SliceEncoder::new(size)),
        }
    }

    /// Whether this is a raw slice, sent straight from file to socket.
    pub fn is_raw(&self) -> bool {
        self.encoder.is_none()
    }

    /// Base64 slices: reads the next chunk of the file into `chunk` and
    /// appends its encoding (and, at the end, the line end) to `out`.
    pub fn encode_next(&mut self, chunk: &mut [u8], out: &mut Vec<u8>) -> io::Result<Step> {
        let Some(encoder) = self.encoder.as_mut() else {
            return Err(io::Error::other("encode_next on a raw slice"));
        };
        if self.remaining == 0 {
            let encoder = self.encoder.take().expect("checked above");
            encoder.finish(out).map_err(io::Error::other)?;
            return Ok(Step::Done);
        }
        let want = self.remaining.min(chunk.len() as u64) as usize;
        let n = loop {
            match self.file.read_at(&mut chunk[..want], self.offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if n == 0 {
            return Ok(Step::Shrank);
        }
        encoder.encode(&chunk[..n], out).map_err(io::Error::other)?;
        self.offset += n as u64;
        self.remaining -= n as u64;
        Ok(Step::Progress)
    }

    /// Raw slices: sends file bytes straight to the socket with `sendfile`
    /// until the slice is done or the socket is full.
    pub fn send_raw(&mut self, socket: impl std::os::fd::AsFd) -> io::Result<Step> {
        while self.remaining > 0 {
            let count = self.remaining.min(SENDFILE_CHUNK as u64) as usize;
            let mut offset = self.offset;
            match rustix::fs::sendfile(&socket, &self.file, Some(&mut offset), count) {
                Ok(0) => return Ok(Step::Shrank),
                Ok(n) => {
                    self.offset += n as u64;
                    self.remaining -= n as u64;
                }
                Err(rustix::io::Errno::AGAIN) => return Ok(Step::Blocked),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Step::Done)
    }
}
