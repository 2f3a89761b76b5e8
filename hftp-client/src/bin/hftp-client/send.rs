//! `send LINE...`: raw request lines out, raw responses back, like telnet
//! but scriptable — for testing servers.
//!
//! What the server will make of the bytes is predicted with hftp-proto's
//! own `RequestDecoder` (so `\r`, `\n` and fragments given with `-e` and
//! `-n` count as they would on a server): each request it completes
//! expects a response of the shape `Expect::for_request` gives, and each
//! request error expects a status line alone. The responses are decoded
//! with `ResponseDecoder` only to know where each one ends; the bytes are
//! copied to standard output exactly as they arrived. After a fatal
//! status (1xx) or `quit` the server closes the connection, so sending
//! stops there.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};

use hftp_proto::{Expect, Request, RequestDecoder, ResponseDecoder};

use crate::args::{Global, SendArgs};
use crate::connect;
use crate::fail::{self, Failure, FAILED, REFUSED};
use crate::stdout::Stdout;

const BUF: usize = 64 * 1024;

/// Lines to send: the label to show in messages, and the bytes.
type Lines<'a> = Box<dyn Iterator<Item = Result<(String, Vec<u8>), Failure>> + 'a>;

/// Runs `send`. Exit status: 0 once every line was answered (whatever the
/// status codes), 2 when the server closed the connection (after a fatal
/// status or `quit`) with lines left, 3 when a response was cut short, not
/// HFTP, or late past `--timeout`.
pub fn run(global: &Global, args: &SendArgs) -> Result<(), Failure> {
    let mut lines: Lines<'_> = match args.lines.is_empty() {
        true => Box::new(stdin_lines().map(|line| {
            let (label, text) = line?;
            Ok((label, prepare(&text, args)?))
        })),
        // Bad escapes are usage errors, found before connecting.
        false => {
            let lines = args
                .lines
                .iter()
                .map(|line| Ok((line.clone(), prepare(line, args)?)))
                .collect::<Result<Vec<_>, Failure>>()?;
            Box::new(lines.into_iter().map(Ok))
        }
    };
    let mut session = Session::new(connect::socket(global)?, args.pipeline);
    if args.pipeline {
        let lines: Vec<_> = lines.by_ref().collect::<Result<_, _>>()?;
        let mut all = Vec::new();
        for (label, bytes) in &lines {
            session.predict(label, bytes);
            all.extend_from_slice(bytes);
        }
        session.exchange("the lines", &all)?;
    } else {
        for line in lines.by_ref() {
            let (label, bytes) = line?;
            if session.closing.is_some() {
                session.unanswered += 1;
                continue;
            }
            session.predict(&label, &bytes);
            session.exchange(&format!("{label:?}"), &bytes)?;
        }
    }
    let _ = session.stream.shutdown(Shutdown::Write);
    match (session.closing, session.unanswered) {
        (Some((code, why)), n @ 1..) => Err(Failure::new(
            code,
            format!(
                "send: {why}; {n} line{} not answered",
                if n == 1 { "" } else { "s" }
            ),
        )),
        _ => Ok(()),
    }
}

/// A line as it goes on the wire: escapes applied (`-e`), CRLF appended
/// (unless `-n`).
fn prepare(line: &str, args: &SendArgs) -> Result<Vec<u8>, Failure> {
    let mut bytes = match args.escapes {
        true => unescape(line).map_err(|e| Failure::usage(format!("send '{line}': {e}")))?,
        false => line.as_bytes().to_vec(),
    };
    if !args.no_crlf {
        bytes.extend_from_slice(b"\r\n");
    }
    Ok(bytes)
}

/// Lines from standard input, without their line end (LF or CRLF), as
/// they come (so that `send` is usable by hand, one request at a time).
fn stdin_lines() -> impl Iterator<Item = Result<(String, String), Failure>> {
    let mut stdin = io::stdin().lock();
    std::iter::from_fn(move || {
        let mut line = Vec::new();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => None,
            Ok(_) => {
                if line.ends_with(b"\n") {
                    line.pop();
                    if line.ends_with(b"\r") {
                        line.pop();
                    }
                }
                let text = String::from_utf8_lossy(&line).into_owned();
                Some(Ok((text.clone(), text)))
            }
            Err(e) => Some(Err(Failure::io("send: reading standard input", &e))),
        }
    })
}

/// `\r \n \t \0 \\ \xHH` → bytes.
fn unescape(line: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(line.len());
    let mut bytes = line.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        out.push(match bytes.next() {
            Some(b'r') => b'\r',
            Some(b'n') => b'\n',
            Some(b't') => b'\t',
            Some(b'0') => 0,
            Some(b'\\') => b'\\',
            Some(b'x') => {
                let hex = [bytes.next(), bytes.next()];
                let digits = match hex {
                    [Some(a), Some(b)] => [a, b],
                    _ => return Err("\\x needs two hex digits".into()),
                };
                std::str::from_utf8(&digits)
                    .ok()
                    .and_then(|d| u8::from_str_radix(d, 16).ok())
                    .ok_or_else(|| "\\x needs two hex digits".to_owned())?
            }
            Some(other) => {
                return Err(format!(
                    "unknown escape \\{} (known: \\r \\n \\t \\0 \\\\ \\xHH)",
                    other.escape_ascii()
                ))
            }
            None => return Err("a lone \\ at the end (write \\\\ for a backslash)".into()),
        });
    }
    Ok(out)
}

/// A response still to come.
struct Pending {
    /// The line (as given) that asked for it.
    label: String,
    /// A `quit` or a fatal error: the server closes after answering.
    closes: bool,
}

/// One connection and what is expected on it.
struct Session {
    stream: TcpStream,
    /// What the server makes of the bytes sent so far.
    requests: RequestDecoder,
    /// Where each response ends.
    responses: ResponseDecoder,
    pending: VecDeque<Pending>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Decoded slice bytes (not used: the raw bytes are printed).
    scratch: Box<[u8]>,
    out: Stdout,
    /// Set once the server is about to close: the exit code and why.
    closing: Option<(u8, String)>,
    /// `-P`: every line was sent before the first response was read.
    pipelined: bool,
    /// Lines not sent, or sent but not answered, because of `closing`.
    unanswered: usize,
    /// A request ahead of the closing one was predicted: lines after it
    /// are not answered.
    predicted_close: bool,
}

impl Session {
    fn new(stream: TcpStream, pipelined: bool) -> Self {
        Session {
            stream,
            requests: RequestDecoder::new(),
            responses: ResponseDecoder::new(),
            pending: VecDeque::new(),
            buf: vec![0; BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            scratch: vec![0; BUF].into_boxed_slice(),
            out: Stdout::new(),
            closing: None,
            pipelined,
            unanswered: 0,
            predicted_close: false,
        }
    }

    /// Queues the responses that `bytes` will draw from the server.
    fn predict(&mut self, label: &str, bytes: &[u8]) {
        let mut input = bytes;
        let mut counted = false;
        loop {
            let step = self.requests.decode(input);
            input = &input[step.consumed..];
            let (expect, closes) = match step.item {
                Some(Ok(request)) => (
                    Expect::for_request(&request),
                    matches!(request, Request::Quit),
                ),
                // A request error draws its status line alone.
                Some(Err(error)) => (Expect::Quit, error.is_fatal()),
                None => break,
            };
            if self.predicted_close {
                if !counted {
                    self.unanswered += 1;
                    counted = true;
                }
                continue;
            }
            self.responses.expect(expect);
            self.pending.push_back(Pending {
                label: label.to_owned(),
                closes,
            });
            self.predicted_close = closes;
        }
    }

    /// Sends `bytes` (`what` names them in messages) and reads every
    /// response expected so far. Writing goes on in a thread while the
    /// answers are read, so that a server that stops reading until its
    /// answers are taken (as it may) cannot deadlock a long pipeline.
    fn exchange(&mut self, what: &str, bytes: &[u8]) -> Result<(), Failure> {
        let cannot_send = |e: &io::Error| {
            Failure::new(
                FAILED,
                format!("send: cannot send {what}: {}", fail::describe_io(e)),
            )
        };
        let mut writer = self.stream.try_clone().map_err(|e| cannot_send(&e))?;
        std::thread::scope(|scope| {
            let sending =
                scope.spawn(move || writer.write_all(bytes).and_then(|()| writer.flush()));
            let mut read = Ok(());
            while read.is_ok() && !self.pending.is_empty() {
                read = self.response();
            }
            if read.is_err() {
                // Unblock the writer: nothing more will be read.
                let _ = self.stream.shutdown(Shutdown::Both);
            }
            let sent = sending
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the sending thread panicked")));
            read?;
            match sent {
                // A server that closed after a fatal status or quit
                // refuses the rest: that is reported as lines not answered.
                Err(_) if self.closing.is_some() => Ok(()),
                Err(e) => Err(cannot_send(&e)),
                Ok(()) => Ok(()),
            }
        })
    }

    /// Reads the next expected response, copying it to standard output.
    fn response(&mut self) -> Result<(), Failure> {
        let label = self
            .pending
            .front()
            .map(|p| p.label.clone())
            .unwrap_or_default();
        let mut status: Option<(u16, String)> = None;
        let mut started = false;
        loop {
            let step = match self
                .responses
                .decode(&self.buf[self.start..self.end], &mut self.scratch)
            {
                Ok(step) => step,
                Err(e) => {
                    // Show what arrived, then say what is wrong with it.
                    let rest = &self.buf[self.start..self.end];
                    self.out
                        .write_all(rest)
                        .map_err(|e| Failure::io("send", &e))?;
                    self.out.flush().map_err(|e| Failure::io("send", &e))?;
                    return Err(Failure::new(
                        FAILED,
                        format!("send: the answer to {label:?} is not what HFTP allows: {e}"),
                    ));
                }
            };
            let consumed = step.consumed;
            let event = match step.event {
                None => None,
                Some(hftp_proto::Event::Status { code, text }) => {
                    status = Some((code, text.to_owned()));
                    Some(false)
                }
                Some(hftp_proto::Event::End) => Some(true),
                Some(_) => Some(false),
            };
            let bytes = &self.buf[self.start..self.start + consumed];
            self.out
                .write_all(bytes)
                .map_err(|e| Failure::io("send", &e))?;
            self.start += consumed;
            started |= consumed > 0;
            match event {
                Some(true) => break,
                Some(false) => {}
                // The input is used up: more is needed.
                None if self.start == self.end => self.fill(&label, started)?,
                None => {}
            }
        }
        self.out.flush().map_err(|e| Failure::io("send", &e))?;
        let closes = self.pending.pop_front().is_some_and(|p| p.closes);
        let (code, text) = status.unwrap_or_default();
        // Every 1xx is fatal, including codes HFTP does not define.
        let fatal = (100..200).contains(&code);
        if fatal || (closes && code == 0) {
            self.closing = Some((
                REFUSED,
                match fatal {
                    true => format!("the server closes the connection after `{code} {text}`"),
                    false => "the server closes the connection after quit".to_owned(),
                },
            ));
            // Whatever else was expected will not come.
            self.unanswered += self.pending.len();
            self.pending.clear();
        } else if closes {
            // Not the close hftp-proto predicted: this server goes on.
            if self.pipelined {
                self.closing = Some((
                    FAILED,
                    format!(
                        "hftp-proto expected the server to close the connection after {label:?}, \
                         but it answered `{code} {text}`; the answers to the lines after it cannot be told apart"
                    ),
                ));
            } else {
                self.requests = RequestDecoder::new();
                self.predicted_close = false;
            }
        }
        Ok(())
    }

    /// Reads more of the server's answer.
    fn fill(&mut self, label: &str, started: bool) -> Result<(), Failure> {
        self.out.flush().map_err(|e| Failure::io("send", &e))?;
        self.start = 0;
        self.end = 0;
        loop {
            match self.stream.read(&mut self.buf) {
                Ok(0) => {
                    return Err(Failure::new(
                        FAILED,
                        match started {
                            true => format!(
                                "send: the server closed the connection in the middle of the answer to {label:?}"
                            ),
                            false => format!(
                                "send: the server closed the connection without answering {label:?}"
                            ),
                        },
                    ))
                }
                Ok(n) => {
                    self.end = n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Failure::new(
                        FAILED,
                        format!("send: waiting for the answer to {label:?}: {}", fail::describe_io(&e)),
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(unescape(r"a\r\nb").unwrap(), b"a\r\nb");
        assert_eq!(unescape(r"\t\0\\\x7f\x41").unwrap(), b"\t\0\\\x7fA");
        assert!(unescape(r"\q").is_err());
        assert!(unescape(r"\x4").is_err());
        assert!(unescape(r"\xzz").is_err());
        assert!(unescape("\\").is_err());
    }
}
