//! Failures: the one line each prints on standard error, and the exit
//! codes (0 success, 1 usage, 2 the server refused, 3 connection, I/O or
//! protocol failure).

use std::fmt::Display;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use hftp_client::Error;

use crate::stdout;

/// Exit code: the command line is wrong.
pub const USAGE: u8 = 1;
/// Exit code: the server refused a request.
pub const REFUSED: u8 = 2;
/// Exit code: connecting, reading, writing or decoding failed.
pub const FAILED: u8 = 3;

/// The `--timeout` in force, for messages about timeouts.
static TIMEOUT: OnceLock<Option<Duration>> = OnceLock::new();

/// Records the timeout that error messages mention.
pub fn set_timeout(timeout: Option<Duration>) {
    let _ = TIMEOUT.set(timeout);
}

/// Why a command stopped: an exit code and the line to print, if any.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    line: Option<String>,
}

impl Failure {
    /// A failure with its line (without the `hftp-client: ` prefix).
    pub fn new(code: u8, line: impl Display) -> Self {
        Failure {
            code,
            line: Some(line.to_string()),
        }
    }

    /// A usage error.
    pub fn usage(line: impl Display) -> Self {
        Failure::new(USAGE, line)
    }

    /// A failure whose lines were already printed (one per failed item).
    pub fn reported(code: u8) -> Self {
        Failure { code, line: None }
    }

    /// A library error about `context` (e.g. `get notes.txt`). A closed
    /// standard output (`| head`) is no failure: it ends the command quietly.
    pub fn from_error(context: impl Display, err: &Error) -> Self {
        match err {
            Error::Io(e) if stdout::is_closed(e) => Failure::reported(0),
            _ => Failure::new(code(err), format!("{context}: {}", describe(err))),
        }
    }

    /// An I/O error about `context`.
    pub fn io(context: impl Display, err: &io::Error) -> Self {
        match stdout::is_closed(err) {
            true => Failure::reported(0),
            false => Failure::new(FAILED, format!("{context}: {}", describe_io(err))),
        }
    }

    /// Adds what to do next to the line: `LINE; HINT`.
    pub fn hint(mut self, hint: impl Display) -> Self {
        if let Some(line) = &mut self.line {
            line.push_str(&format!("; {hint}"));
        }
        self
    }

    /// The exit code.
    pub fn code(&self) -> u8 {
        self.code
    }

    /// Prints the line, if there is one, and returns the exit code.
    pub fn report(&self) -> ExitCode {
        if let Some(line) = &self.line {
            eprint_line(line);
        }
        ExitCode::from(self.code)
    }
}

/// `COMMAND NAME` for messages, with the name quoted when it holds
/// something else than printable ASCII (`stat "with space.txt"`), so that
/// its spaces or odd bytes show.
pub fn subject(command: &str, name: &str) -> String {
    match !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()) {
        true => format!("{command} {name}"),
        false => format!("{command} {name:?}"),
    }
}

/// Prints `hftp-client: LINE` on standard error, after flushing standard
/// output so that the two interleave in order.
pub fn eprint_line(line: impl Display) {
    let _ = io::stdout().flush();
    let _ = writeln!(io::stderr().lock(), "hftp-client: {line}");
}

/// The exit code for a library error.
pub fn code(err: &Error) -> u8 {
    match err {
        Error::Server { .. } => REFUSED,
        Error::InvalidName(_) => USAGE,
        _ => FAILED,
    }
}

/// A library error in words, for one line.
pub fn describe(err: &Error) -> String {
    match err {
        Error::Io(e) => describe_io(e),
        err => err.to_string(),
    }
}

/// An I/O error in words: timeouts say how long was waited.
pub fn describe_io(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            match TIMEOUT.get().copied().flatten() {
                Some(t) => format!(
                    "timed out: no progress from the server in {} s (see --timeout)",
                    t.as_secs_f64()
                ),
                None => "timed out".to_owned(),
            }
        }
        _ => err.to_string(),
    }
}

/// The worst exit code seen so far, for commands that go on after a
/// failed item and report it at the end.
#[derive(Debug, Default, Clone, Copy)]
pub struct Worst(u8);

impl Worst {
    /// Records a failure that was already reported.
    pub fn note(&mut self, code: u8) {
        self.0 = self.0.max(code);
    }

    /// Reports `failure` now and records its code.
    pub fn report(&mut self, failure: &Failure) {
        failure.report();
        self.note(failure.code);
    }

    /// `Ok` if nothing failed, else the worst code, already reported.
    pub fn result(self) -> Result<(), Failure> {
        match self.0 {
            0 => Ok(()),
            code => Err(Failure::reported(code)),
        }
    }
}

/// One line for a clap error: `unexpected argument '--x' found (see
/// --help)`. `help` is where to look for more (`--help`, or `help` in
/// the shell).
pub fn clap_line(err: &clap::Error, help: &str) -> String {
    use clap::CommandFactory;
    crate::usage::one_line(err, help, &crate::args::Cli::command())
}
