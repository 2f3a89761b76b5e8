//! The streaming base64 decoder of slice bodies, for the client side
//! ([`ResponseDecoder`](crate::ResponseDecoder), docs/PROTOCOL.md §3,
//! `get_slice`).
//!
//! This module owns the base64 lines of a slice response: the alphabet
//! table, the per-line state machine (padding, unpadded last quanta, CR LF
//! or bare LF, a slice split over several lines) and the bulk SIMD decoding
//! of runs of whole quanta straight from the input into the caller's
//! buffer. Between calls it keeps at most three characters of a partial
//! quantum and three decoded bytes that did not fit in the output.

use base64_simd::{Out, STANDARD};
use memchr::memchr3;

use crate::ResponseError;

/// Marks a byte outside the base64 alphabet in [`B64_TABLE`].
const INVALID: u8 = 0xff;

/// Standard base64 alphabet: byte -> sextet, or [`INVALID`].
static B64_TABLE: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Where the decoder is inside the current base64 line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading base64 characters.
    Data,
    /// Got `XX=`: one more `=` must follow.
    Pad,
    /// The line's last quantum is complete with padding: only the line end
    /// may follow.
    AfterPad,
    /// Got a CR: LF must follow.
    Cr,
}

/// State of a base64 slice body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Base64 {
    /// The SIZE requested.
    size: u64,
    /// Bytes not decoded yet.
    remaining: u64,
    /// Sextets of the current incomplete quantum.
    quad: [u8; 4],
    quad_len: u8,
    phase: Phase,
    /// The current line has at least one base64 character.
    line_has_chars: bool,
    /// Decoded bytes that did not fit in `out`: `spill[spill_pos..spill_len]`.
    spill: [u8; 3],
    spill_pos: u8,
    spill_len: u8,
    /// The line that completes the slice has been consumed.
    finished: bool,
}

impl Base64 {
    /// The decoder of a slice of `size` bytes.
    pub(crate) fn new(size: u64) -> Self {
        Base64 {
            size,
            remaining: size,
            quad: [0; 4],
            quad_len: 0,
            phase: Phase::Data,
            line_has_chars: false,
            spill: [0; 3],
            spill_pos: 0,
            spill_len: 0,
            finished: false,
        }
    }

    /// Decodes from `input` into `out`; returns (consumed, written). Stops at
    /// the end of the slice, when `out` is full and bytes spilled, or when
    /// the input runs out.
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, usize), ResponseError> {
        let spilled = usize::from(self.spill_len - self.spill_pos).min(out.len());
        let start = usize::from(self.spill_pos);
        out[..spilled].copy_from_slice(&self.spill[start..start + spilled]);
        self.spill_pos += spilled as u8;
        let mut n = spilled;
        if self.spill_pos < self.spill_len || self.finished {
            return Ok((0, n));
        }
        let mut pos = 0;
        while pos < input.len() {
            if self.phase == Phase::Data && self.quad_len == 0 {
                let (chars, bytes) = decode_bulk(&input[pos..], &mut out[n..], self.remaining)?;
                if chars > 0 {
                    pos += chars;
                    n += bytes;
                    self.remaining -= bytes as u64;
                    self.line_has_chars = true;
                    continue;
                }
            }
            let b = input[pos];
            pos += 1;
            self.step(b, out, &mut n)?;
            if self.finished || self.spill_pos < self.spill_len {
                break;
            }
        }
        Ok((pos, n))
    }

    /// Bytes held between calls: characters of a partial quantum, and
    /// decoded bytes not yet written out.
    pub(crate) fn retained(&self) -> usize {
        usize::from(self.quad_len) + usize::from(self.spill_len - self.spill_pos)
    }

    /// The line that completes the slice has been consumed and every
    /// decoded byte written out.
    pub(crate) fn is_done(&self) -> bool {
        self.finished && self.spill_pos == self.spill_len
    }

    /// Handles one byte of a base64 line.
    fn step(&mut self, b: u8, out: &mut [u8], n: &mut usize) -> Result<(), ResponseError> {
        match self.phase {
            Phase::Data => {
                let v = B64_TABLE[usize::from(b)];
                if v != INVALID {
                    let len = self.quad_len + 1;
                    // The fewest bytes the quantum can still decode to
                    // (a lone character needs a second one).
                    let least = [0u64, 1, 1, 2, 3][usize::from(len)];
                    if least > self.remaining {
                        return Err(ResponseError::SliceTooLong {
                            expected: self.size,
                        });
                    }
                    self.quad[usize::from(self.quad_len)] = v;
                    self.quad_len = len;
                    self.line_has_chars = true;
                    if len == 4 {
                        self.emit(out, n);
                    }
                    return Ok(());
                }
                match b {
                    b'=' => match self.quad_len {
                        2 => {
                            self.emit(out, n);
                            self.phase = Phase::Pad;
                        }
                        3 => {
                            self.emit(out, n);
                            self.phase = Phase::AfterPad;
                        }
                        _ => return Err(ResponseError::BadPadding),
                    },
                    b'\r' => {
                        self.finish_quantum(out, n)?;
                        self.phase = Phase::Cr;
                    }
                    b'\n' => {
                        self.finish_quantum(out, n)?;
                        self.line_end()?;
                    }
                    byte => return Err(ResponseError::BadBase64 { byte }),
                }
            }
            Phase::Pad => match b {
                b'=' => self.phase = Phase::AfterPad,
                _ => return Err(ResponseError::BadPadding),
            },
            Phase::AfterPad => match b {
                b'\r' => self.phase = Phase::Cr,
                b'\n' => self.line_end()?,
                b'=' => return Err(ResponseError::BadPadding),
                byte if B64_TABLE[usize::from(byte)] != INVALID => {
                    return Err(ResponseError::BadPadding)
                }
                byte => return Err(ResponseError::BadBase64 { byte }),
            },
            Phase::Cr => match b {
                b'\n' => self.line_end()?,
                _ => return Err(ResponseError::ControlByte { byte: b'\r' }),
            },
        }
        Ok(())
    }

    /// The line ends: an unpadded last quantum of 2 or 3 characters decodes.
    fn finish_quantum(&mut self, out: &mut [u8], n: &mut usize) -> Result<(), ResponseError> {
        match self.quad_len {
            0 => Ok(()),
            1 => Err(ResponseError::DanglingBase64),
            _ => {
                self.emit(out, n);
                Ok(())
            }
        }
    }

    fn line_end(&mut self) -> Result<(), ResponseError> {
        if self.remaining == 0 {
            self.finished = true;
        } else if !self.line_has_chars {
            return Err(ResponseError::SliceTooShort {
                expected: self.size,
                got: self.size - self.remaining,
            });
        }
        self.line_has_chars = false;
        self.phase = Phase::Data;
        Ok(())
    }

    /// Decodes the `quad_len` (2..=4) sextets in `quad` to `quad_len - 1`
    /// bytes, written to `out[*n..]`, and what does not fit to the spill.
    /// Callers have checked that `remaining` allows them.
    fn emit(&mut self, out: &mut [u8], n: &mut usize) {
        let [a, b, c, d] = self.quad;
        let bytes = [(a << 2) | (b >> 4), (b << 4) | (c >> 2), (c << 6) | d];
        let k = usize::from(self.quad_len) - 1;
        self.quad = [0; 4];
        self.quad_len = 0;
        self.remaining -= k as u64;
        let direct = k.min(out.len() - *n);
        out[*n..*n + direct].copy_from_slice(&bytes[..direct]);
        *n += direct;
        let spill = k - direct;
        self.spill[..spill].copy_from_slice(&bytes[direct..k]);
        self.spill_pos = 0;
        self.spill_len = spill as u8;
    }
}

/// Decodes as many whole 4-character quanta from the start of `input` into
/// `out` as fit in `out`, in `remaining` and before the first `=`, CR or LF,
/// in one bulk call. Returns (characters, bytes); (0, 0) when not even one
/// quantum qualifies.
fn decode_bulk(
    input: &[u8],
    out: &mut [u8],
    remaining: u64,
) -> Result<(usize, usize), ResponseError> {
    let by_remaining = usize::try_from(remaining / 3).unwrap_or(usize::MAX);
    let quanta = (input.len() / 4).min(out.len() / 3).min(by_remaining);
    if quanta == 0 {
        return Ok((0, 0));
    }
    let window = &input[..quanta * 4];
    let quanta = memchr3(b'=', b'\r', b'\n', window).unwrap_or(window.len()) / 4;
    if quanta == 0 {
        return Ok((0, 0));
    }
    let src = &window[..quanta * 4];
    match STANDARD.decode(src, Out::from_slice(&mut out[..quanta * 3])) {
        Ok(_) => Ok((quanta * 4, quanta * 3)),
        Err(_) => {
            let byte = src
                .iter()
                .copied()
                .find(|&b| B64_TABLE[usize::from(b)] == INVALID)
                .unwrap_or(b'=');
            Err(ResponseError::BadBase64 { byte })
        }
    }
}
