//! Response encoders for servers (docs/PROTOCOL.md §3): status lines, listing
//! and help bodies, metadata, the `raw` slice header, and whole responses.
//!
//! The base64 slice line is streamed with [`SliceEncoder`](crate::SliceEncoder)
//! (module [`slice`](mod@crate::slice)); everything else is small and written
//! here in one call.

use bytes::BufMut;

use crate::request::put_decimal;
use crate::{Command, FileName, Status};

/// Appends a status line, e.g. `202 FILE NOT FOUND\r\n`.
pub fn encode_status<B: BufMut>(status: Status, dst: &mut B) {
    dst.put_slice(status.status_line());
}

/// Appends one line of a listing or help body: the name and CRLF.
pub fn encode_item<B: BufMut>(name: &str, dst: &mut B) {
    dst.put_slice(name.as_bytes());
    dst.put_slice(b"\r\n");
}

/// Appends the empty line that ends a listing or help body.
pub fn encode_end<B: BufMut>(dst: &mut B) {
    dst.put_slice(b"\r\n");
}

/// Appends the body of a metadata response: the size in decimal and CRLF.
pub fn encode_size<B: BufMut>(size: u64, dst: &mut B) {
    put_decimal(dst, size);
    dst.put_slice(b"\r\n");
}

/// Appends the header that precedes a `raw` slice's bytes (after `0 OK`):
/// `Content-Length: SIZE`, CRLF, and an empty line.
pub fn encode_raw_header<B: BufMut>(size: u64, dst: &mut B) {
    dst.put_slice(b"Content-Length:");
    dst.put_u8(b' ');
    put_decimal(dst, size);
    dst.put_slice(b"\r\n\r\n");
}

/// A complete response, for servers that hold it whole (slices of modest
/// size) and for tests. Large slices are better streamed with
/// [`SliceEncoder`](crate::SliceEncoder) after `encode_status(Status::Ok)`.
///
/// ```
/// use hftp_proto::{FileName, Response, Status};
///
/// let names = [FileName::new("notes.txt")?, FileName::new("photo.jpg")?];
/// let mut wire = Vec::new();
/// Response::Listing(&names).encode(&mut wire);
/// Response::Metadata(41).encode(&mut wire);
/// Response::Slice(b"calor que hace hoy, ").encode(&mut wire);
/// Response::Status(Status::FileNotFound).encode(&mut wire);
/// assert_eq!(
///     wire,
///     b"0 OK\r\nnotes.txt\r\nphoto.jpg\r\n\r\n\
///       0 OK\r\n41\r\n\
///       0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n\
///       202 FILE NOT FOUND\r\n"
/// );
/// # Ok::<(), hftp_proto::FileNameError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response<'a> {
    /// A status line alone: every error, and the `0 OK` that answers `quit`.
    Status(Status),
    /// `get_file_listing`: `0 OK`, one name a line, an empty line.
    Listing(&'a [FileName<'a>]),
    /// `get_metadata`: `0 OK` and the size.
    Metadata(u64),
    /// `get_slice`: `0 OK` and the bytes as one base64 line.
    Slice(&'a [u8]),
    /// `get_slice ... raw`: `0 OK`, the `Content-Length` header, the bytes.
    RawSlice(&'a [u8]),
    /// `help`: `0 OK`, one command name a line, an empty line.
    Help,
}

impl Response<'_> {
    /// Appends the whole response to `dst`.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        let encoded: Result<(), std::convert::Infallible> = self.encode_with(dst, |data, dst| {
            crate::slice::encode_line(data, dst);
            Ok(())
        });
        let Ok(()) = encoded;
    }

    /// Appends the whole response to any buffer, the base64 line of a
    /// slice written by `base64_line` (the one part that needs more than
    /// `BufMut`).
    pub(crate) fn encode_with<B: BufMut, E>(
        &self,
        dst: &mut B,
        base64_line: impl FnOnce(&[u8], &mut B) -> Result<(), E>,
    ) -> Result<(), E> {
        match *self {
            Response::Status(status) => encode_status(status, dst),
            Response::Listing(names) => {
                encode_status(Status::Ok, dst);
                for name in names {
                    encode_item(name.as_str(), dst);
                }
                encode_end(dst);
            }
            Response::Metadata(size) => {
                encode_status(Status::Ok, dst);
                encode_size(size, dst);
            }
            Response::Slice(data) => {
                encode_status(Status::Ok, dst);
                base64_line(data, dst)?;
            }
            Response::RawSlice(data) => {
                encode_status(Status::Ok, dst);
                encode_raw_header(data.len() as u64, dst);
                dst.put_slice(data);
            }
            Response::Help => {
                encode_status(Status::Ok, dst);
                for cmd in Command::ALL {
                    encode_item(cmd.name(), dst);
                }
                encode_end(dst);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_each_shape() {
        let enc = |r: Response| {
            let mut v = Vec::new();
            r.encode(&mut v);
            v
        };
        assert_eq!(enc(Response::Status(Status::Ok)), b"0 OK\r\n");
        assert_eq!(enc(Response::Listing(&[])), b"0 OK\r\n\r\n");
        assert_eq!(enc(Response::Metadata(0)), b"0 OK\r\n0\r\n");
        assert_eq!(
            enc(Response::Metadata(u64::MAX)),
            b"0 OK\r\n18446744073709551615\r\n"
        );
        assert_eq!(enc(Response::Slice(b"")), b"0 OK\r\n\r\n");
        assert_eq!(
            enc(Response::RawSlice(b"a\r\nb")),
            b"0 OK\r\nContent-Length: 4\r\n\r\na\r\nb"
        );
        assert_eq!(
            enc(Response::Help),
            b"0 OK\r\nget_file_listing\r\nget_metadata\r\nget_slice\r\nquit\r\nhelp\r\n\r\n"
        );
    }
}
