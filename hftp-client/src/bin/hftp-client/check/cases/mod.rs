//! Every case, in the order they run and are listed, and the checks they
//! share: a request answered with a status, a fatal status followed by a
//! close, a slice compared byte for byte.
//!
//! The cases live by tier: `course` (the course statement and its
//! official suite), `strict` (the rules docs/PROTOCOL.md marks
//! *decided*, and the rest of §1–§3), `robust` (§4).

use std::time::Duration;

use hftp_proto::Expect;

use super::case::{Case, Checked, Ctx, Outcome};
use super::probe::{show, Probe, Reply};

mod course;
mod robust;
mod strict;

/// All cases, course tier first.
pub fn all() -> Vec<Case> {
    let mut cases = course::cases();
    cases.extend(strict::cases());
    cases.extend(robust::cases());
    cases
}

/// An answer expected to be a status line alone (an error), or `0 OK`
/// with nothing after it.
pub const STATUS: Expect = Expect::Quit;

/// How long a server may take to close after `quit` or a fatal status.
pub const CLOSE_WITHIN: Duration = Duration::from_secs(1);

/// `line` (CRLF added) on a new connection is answered `want`; a fatal
/// status must then close the connection.
pub fn status(ctx: &mut Ctx, line: &str, want: u16) -> Checked {
    status_of(ctx, format!("{line}\r\n").as_bytes(), want, &[])
}

/// Like [`status`], with codes that are NON-STRICT instead of FAIL.
pub fn status_or(ctx: &mut Ctx, line: &str, want: u16, non_strict: &[u16]) -> Checked {
    status_of(ctx, format!("{line}\r\n").as_bytes(), want, non_strict)
}

/// `bytes` on a new connection are answered `want` (or one of
/// `non_strict`, a NON-STRICT verdict).
pub fn status_of(ctx: &mut Ctx, bytes: &[u8], want: u16, non_strict: &[u16]) -> Checked {
    let mut p = ctx.connect()?;
    let reply = p.ask(bytes, STATUS)?;
    let expected = format!("\"{}\" answered {want}", show(bytes));
    if reply.code != want && !non_strict.contains(&reply.code) {
        return Err(Outcome::fail(
            expected,
            format!("answered {}", reply.status()),
        ));
    }
    if is_fatal(want) {
        fatal_close(&mut p, &expected)?;
    } else {
        still_usable(&mut p, &expected)?;
    }
    match reply.code == want {
        true => Ok(Outcome::pass()),
        false => Ok(Outcome::non_strict(
            expected,
            format!("answered {}", reply.status()),
        )),
    }
}

/// Whether `code` closes the connection (1xx).
pub fn is_fatal(code: u16) -> bool {
    (100..200).contains(&code)
}

/// After a fatal status, the server closes (gracefully or with a reset)
/// within [`CLOSE_WITHIN`] and answers nothing more.
pub fn fatal_close(p: &mut Probe, expected: &str) -> Result<(), Outcome> {
    match p.close(CLOSE_WITHIN) {
        c if c.ended() => Ok(()),
        c => Err(Outcome::fail(
            format!("{expected}, then the connection closed (the status is fatal)"),
            format!("after the status the server {}", c.describe()),
        )),
    }
}

/// After a non-fatal status the connection still answers (`help` would
/// do, but not every server has it: a second `get_file_listing`).
pub fn still_usable(p: &mut Probe, expected: &str) -> Result<(), Outcome> {
    match p.ask(b"get_file_listing\r\n", Expect::Listing) {
        Ok(r) if r.code == 0 => Ok(()),
        Ok(r) => Err(Outcome::fail(
            format!("{expected}, the connection still usable (the status is not fatal)"),
            format!("the next get_file_listing was answered {}", r.status()),
        )),
        Err(o) => Err(Outcome::fail(
            format!("{expected}, the connection still usable (the status is not fatal)"),
            format!("the next get_file_listing: {}", o.actual),
        )),
    }
}

/// A successful answer: code 0.
pub fn ok(reply: Reply, asked: &str) -> Result<Reply, Outcome> {
    match reply.code {
        0 => Ok(reply),
        _ => Err(Outcome::fail(
            format!("\"{asked}\" answered 0 OK"),
            format!("answered {}", reply.status()),
        )),
    }
}

/// `get_slice NAME OFFSET SIZE` on `p` is `0 OK` and exactly `want`.
pub fn slice_is(p: &mut Probe, name: &str, offset: u64, want: &[u8]) -> Result<Reply, Outcome> {
    let line = format!("get_slice {name} {offset} {}", want.len());
    let expect = Expect::Slice {
        size: want.len() as u64,
    };
    let reply = ok(p.ask(format!("{line}\r\n").as_bytes(), expect)?, &line)?;
    if reply.data != want {
        return Err(Outcome::fail(
            format!(
                "\"{line}\" gives the {} bytes of the file from {offset}",
                want.len()
            ),
            differ(&reply.data, want),
        ));
    }
    Ok(reply)
}

/// Where two byte strings first differ, in words.
pub fn differ(got: &[u8], want: &[u8]) -> String {
    let at = got.iter().zip(want).position(|(a, b)| a != b);
    match at {
        Some(i) => format!(
            "{} bytes decoded, the first difference at byte {i} (0x{:02x} instead of 0x{:02x})",
            got.len(),
            got[i],
            want[i]
        ),
        None => format!("{} bytes decoded instead of {}", got.len(), want.len()),
    }
}

/// The listing on `p`, `0 OK` required.
pub fn listing(p: &mut Probe) -> Result<Vec<String>, Outcome> {
    Ok(ok(
        p.ask(b"get_file_listing\r\n", Expect::Listing)?,
        "get_file_listing",
    )?
    .items)
}
