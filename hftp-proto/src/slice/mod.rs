//! The base64 slice line (docs/PROTOCOL.md §3, `get_slice`), encoded
//! incrementally.
//!
//! This module owns base64 slices both ways: the encoder servers use
//! ([`SliceEncoder`], [`encode_line`]) here, and the streaming decoder
//! behind [`ResponseDecoder`](crate::ResponseDecoder) in the crate-private
//! `decode` submodule.
//!
//! A server streams a slice from the file in chunks of whatever size its
//! reads return; [`SliceEncoder`] turns them into one base64 line (standard
//! alphabet, `=` padding, no line breaks, CRLF at the end) that is
//! byte-for-byte the line encoding the whole slice at once would give. It
//! carries at most two bytes between chunks and encodes the rest with a SIMD
//! base64 implementation.

use base64_simd::{Out, STANDARD};
use thiserror::Error;

pub(crate) mod decode;

/// Misuse of a [`SliceEncoder`]: more or fewer bytes than the slice holds.
///
/// Non-exhaustive: later versions may add variants, so a `match` on it
/// needs a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SliceError {
    /// A chunk would take the slice past the size it announced.
    #[error("chunk of {chunk} bytes exceeds the {remaining} bytes left in the slice")]
    TooMuchData {
        /// The size of the chunk offered.
        chunk: usize,
        /// The bytes the slice still expected.
        remaining: u64,
    },
    /// The slice was finished before all its bytes were encoded.
    #[error("slice finished with {missing} bytes still missing")]
    Incomplete {
        /// The bytes that were never supplied.
        missing: u64,
    },
    /// The output buffer is smaller than [`SliceEncoder::max_output`].
    #[error("output buffer of {got} bytes is smaller than the {needed} bytes needed")]
    OutputTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
}

/// Incremental encoder of one base64 slice line.
///
/// ```
/// use hftp_proto::SliceEncoder;
///
/// let data = b"calor que hace hoy, ";
/// let mut enc = SliceEncoder::new(data.len() as u64);
/// let mut line = Vec::new();
/// for chunk in data.chunks(7) {
///     enc.encode(chunk, &mut line)?;
/// }
/// enc.finish(&mut line)?;
/// assert_eq!(line, b"Y2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n");
/// # Ok::<(), hftp_proto::SliceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SliceEncoder {
    remaining: u64,
    carry: [u8; 2],
    carry_len: usize,
}

impl SliceEncoder {
    /// An encoder for a slice of `size` bytes.
    pub const fn new(size: u64) -> Self {
        SliceEncoder {
            remaining: size,
            carry: [0; 2],
            carry_len: 0,
        }
    }

    /// Payload bytes still to be fed.
    pub const fn remaining(&self) -> u64 {
        self.remaining
    }

    /// The most output bytes [`SliceEncoder::encode_to_slice`] writes for a
    /// chunk of `chunk_len` bytes; [`SliceEncoder::finish_to_slice`] writes at
    /// most [`SliceEncoder::MAX_FINISH`].
    pub const fn max_output(chunk_len: usize) -> usize {
        chunk_len.div_ceil(3) * 4
    }

    /// The most bytes the end of the line takes: a padded group and CRLF.
    pub const MAX_FINISH: usize = 6;

    /// Takes the chunk, returning the group completed with carried bytes
    /// and the run of whole groups; keeps the tail as the new carry.
    fn split<'c>(&mut self, chunk: &'c [u8]) -> Result<(Option<[u8; 3]>, &'c [u8]), SliceError> {
        if chunk.len() as u64 > self.remaining {
            return Err(SliceError::TooMuchData {
                chunk: chunk.len(),
                remaining: self.remaining,
            });
        }
        self.remaining -= chunk.len() as u64;
        let mut rest = chunk;
        let mut head = None;
        if self.carry_len > 0 {
            let need = 3 - self.carry_len;
            if rest.len() < need {
                self.carry[self.carry_len..self.carry_len + rest.len()].copy_from_slice(rest);
                self.carry_len += rest.len();
                return Ok((None, &[]));
            }
            let mut group = [0u8; 3];
            group[..self.carry_len].copy_from_slice(&self.carry[..self.carry_len]);
            group[self.carry_len..].copy_from_slice(&rest[..need]);
            head = Some(group);
            rest = &rest[need..];
        }
        let whole = rest.len() / 3 * 3;
        let tail = &rest[whole..];
        self.carry[..tail.len()].copy_from_slice(tail);
        self.carry_len = tail.len();
        Ok((head, &rest[..whole]))
    }

    /// Encodes a chunk of the slice, appending base64 to `dst`.
    pub fn encode(&mut self, chunk: &[u8], dst: &mut Vec<u8>) -> Result<(), SliceError> {
        let (head, body) = self.split(chunk)?;
        if let Some(group) = head {
            STANDARD.encode_append(group, dst);
        }
        STANDARD.encode_append(body, dst);
        Ok(())
    }

    /// Encodes a chunk of the slice into `out`, which must hold at least
    /// [`SliceEncoder::max_output`]`(chunk.len())` bytes; returns how many
    /// bytes were written. For servers that reuse a fixed buffer.
    pub fn encode_to_slice(&mut self, chunk: &[u8], out: &mut [u8]) -> Result<usize, SliceError> {
        let needed = Self::max_output(chunk.len());
        if out.len() < needed {
            return Err(SliceError::OutputTooSmall {
                needed,
                got: out.len(),
            });
        }
        let (head, body) = self.split(chunk)?;
        let mut n = 0;
        if let Some(group) = head {
            n += STANDARD
                .encode(&group, Out::from_slice(&mut out[..4]))
                .len();
        }
        n += STANDARD.encode(body, Out::from_slice(&mut out[n..])).len();
        Ok(n)
    }

    /// Ends the line: the padded last group and CRLF, appended to `dst`.
    /// Fails if fewer bytes were fed than the slice's size.
    pub fn finish(self, dst: &mut Vec<u8>) -> Result<(), SliceError> {
        let mut out = [0u8; Self::MAX_FINISH];
        let n = self.finish_to_slice(&mut out)?;
        dst.extend_from_slice(&out[..n]);
        Ok(())
    }

    /// Ends the line into `out` (at least [`SliceEncoder::MAX_FINISH`]
    /// bytes); returns how many bytes were written.
    pub fn finish_to_slice(self, out: &mut [u8]) -> Result<usize, SliceError> {
        if self.remaining > 0 {
            return Err(SliceError::Incomplete {
                missing: self.remaining,
            });
        }
        if out.len() < Self::MAX_FINISH {
            return Err(SliceError::OutputTooSmall {
                needed: Self::MAX_FINISH,
                got: out.len(),
            });
        }
        let n = STANDARD
            .encode(
                &self.carry[..self.carry_len],
                Out::from_slice(&mut out[..4]),
            )
            .len();
        out[n..n + 2].copy_from_slice(b"\r\n");
        Ok(n + 2)
    }
}

/// Encodes a whole slice as its base64 line, CRLF included, appended to
/// `dst`. The same bytes as feeding a [`SliceEncoder`] chunk by chunk.
///
/// ```
/// let mut line = Vec::new();
/// hftp_proto::slice::encode_line(b"calor que hace hoy, ", &mut line);
/// assert_eq!(line, b"Y2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n");
/// ```
pub fn encode_line(data: &[u8], dst: &mut Vec<u8>) {
    STANDARD.encode_append(data, dst);
    dst.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_equals_one_shot_for_every_split() {
        let data: Vec<u8> = (0..=255u8).cycle().take(50).collect();
        let mut whole = Vec::new();
        encode_line(&data, &mut whole);
        for a in 0..=data.len() {
            for b in a..=data.len() {
                let mut enc = SliceEncoder::new(data.len() as u64);
                let mut line = Vec::new();
                for chunk in [&data[..a], &data[a..b], &data[b..]] {
                    enc.encode(chunk, &mut line).unwrap();
                }
                enc.finish(&mut line).unwrap();
                assert_eq!(line, whole, "split at {a},{b}");

                let mut enc = SliceEncoder::new(data.len() as u64);
                let mut out = [0u8; 200];
                let mut n = 0;
                for chunk in [&data[..a], &data[a..b], &data[b..]] {
                    n += enc.encode_to_slice(chunk, &mut out[n..]).unwrap();
                }
                n += enc.finish_to_slice(&mut out[n..]).unwrap();
                assert_eq!(&out[..n], &whole[..]);
            }
        }
    }

    #[test]
    fn size_is_enforced() {
        let mut enc = SliceEncoder::new(3);
        assert_eq!(
            enc.encode(b"abcd", &mut Vec::new()),
            Err(SliceError::TooMuchData {
                chunk: 4,
                remaining: 3
            })
        );
        enc.encode(b"ab", &mut Vec::new()).unwrap();
        assert_eq!(
            enc.finish(&mut Vec::new()),
            Err(SliceError::Incomplete { missing: 1 })
        );
        let mut line = Vec::new();
        SliceEncoder::new(0).finish(&mut line).unwrap();
        assert_eq!(line, b"\r\n");
    }
}
