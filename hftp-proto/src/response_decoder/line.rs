//! The line layer of the response decoder: finding line ends in input
//! split anywhere, buffering a line split across inputs (bounded by
//! [`MAX_LINE`]), and parsing the lines a response is made of — status
//! lines, text items, decimal sizes and the `Content-Length` header of a
//! raw slice.

use memchr::memchr;

use super::{ResponseError, MAX_LINE};

/// Reads one line ending in LF (a CR before it is stripped). Returns the
/// bytes consumed and, when the line is complete, its content: borrowed from
/// `input` when the line lies there whole, else from `buf`, which then is
/// marked stale. An incomplete line is appended to `buf`.
pub(super) fn read_line<'a>(
    buf: &'a mut Vec<u8>,
    stale: &mut bool,
    input: &'a [u8],
) -> Result<(usize, Option<&'a [u8]>), ResponseError> {
    const TOO_LONG: ResponseError = ResponseError::LineTooLong { limit: MAX_LINE };
    // Invariant: buf.len() <= MAX_LINE + 1, so the window is never empty.
    let window = input.len().min(MAX_LINE + 2 - buf.len());
    let Some(i) = memchr(b'\n', &input[..window]) else {
        if buf.len() + input.len() > MAX_LINE + 1 {
            return Err(TOO_LONG);
        }
        append(buf, input);
        return Ok((input.len(), None));
    };
    let line: &'a [u8] = if buf.is_empty() {
        &input[..i]
    } else {
        append(buf, &input[..i]);
        *stale = true;
        let whole: &'a Vec<u8> = buf;
        whole
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > MAX_LINE {
        return Err(TOO_LONG);
    }
    Ok((i + 1, Some(line)))
}

/// Appends to the line buffer, growing it geometrically but never past
/// `MAX_LINE + 1` bytes, so [`ResponseDecoder::retained`] stays bounded.
fn append(buf: &mut Vec<u8>, bytes: &[u8]) {
    let need = buf.len() + bytes.len();
    if need > buf.capacity() {
        let target = (buf.capacity() * 2).min(MAX_LINE + 1).max(need);
        buf.reserve_exact(target - buf.len());
    }
    buf.extend_from_slice(bytes);
}

/// The line as text: no control bytes, valid UTF-8.
pub(super) fn checked_text(line: &[u8]) -> Result<&str, ResponseError> {
    if let Some(&byte) = line.iter().find(|&&b| b < 0x20 || b == 0x7f) {
        return Err(ResponseError::ControlByte { byte });
    }
    std::str::from_utf8(line).map_err(|_| ResponseError::InvalidUtf8)
}

/// `*SP 1*5DIGIT [1*SP TEXT]`, the code fitting in a u16.
pub(super) fn parse_status(line: &[u8]) -> Result<(u16, &str), ResponseError> {
    let text = checked_text(line)?;
    let rest = text.trim_start_matches(' ');
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 5 {
        return Err(ResponseError::BadStatusLine);
    }
    let code = rest[..digits]
        .parse::<u16>()
        .map_err(|_| ResponseError::BadStatusLine)?;
    let after = &rest[digits..];
    if !after.is_empty() && !after.starts_with(' ') {
        return Err(ResponseError::BadStatusLine);
    }
    Ok((code, after.trim_start_matches(' ')))
}

/// `s` without leading and trailing spaces.
pub(super) fn trim_spaces(mut s: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' '] = s {
        s = rest;
    }
    s
}

/// One or more ASCII digits fitting in a u64.
pub(super) fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// `Content-Length:` (any case), optional spaces, digits, optional spaces.
pub(super) fn parse_content_length(line: &[u8]) -> Option<u64> {
    const NAME: &[u8] = b"content-length:";
    if line.len() < NAME.len() || !line[..NAME.len()].eq_ignore_ascii_case(NAME) {
        return None;
    }
    parse_decimal(trim_spaces(&line[NAME.len()..]))
}
