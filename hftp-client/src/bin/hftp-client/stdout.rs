//! Standard output that tells a closed pipe (`hftp-client cat f | head`)
//! apart from a broken connection, so the first ends quietly.
//!
//! Rust ignores `SIGPIPE`, so writing to a closed pipe and writing to a
//! socket the server closed both fail with `BrokenPipe`; errors from this
//! writer carry a marker that [`is_closed`] recognises.

use std::fmt;
use std::io::{self, BufWriter, StdoutLock, Write};

/// The marker inside the `io::Error` of a write to a closed standard output.
#[derive(Debug)]
struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for Closed {}

/// Whether `err` came from writing to a closed standard output.
pub fn is_closed(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|inner| inner.is::<Closed>())
}

/// Buffered standard output (locked) whose broken-pipe errors are marked.
pub struct Stdout(BufWriter<StdoutLock<'static>>);

impl Stdout {
    /// Locks standard output.
    pub fn new() -> Self {
        Stdout(BufWriter::with_capacity(64 * 1024, io::stdout().lock()))
    }
}

fn mark(err: io::Error) -> io::Error {
    match err.kind() {
        io::ErrorKind::BrokenPipe => io::Error::new(io::ErrorKind::BrokenPipe, Closed),
        _ => err,
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(mark)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf).map_err(mark)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(mark)
    }
}
