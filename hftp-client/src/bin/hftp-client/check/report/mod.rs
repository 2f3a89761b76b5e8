//! The reports: the console's, JSON (the results as they are), JUnit XML,
//! Gradescope results, a CSV summary and the HTML matrix; and writing
//! one to a file with an error a user can act on.

use std::io::{self, BufWriter, Write};
use std::path::Path;

pub mod console;
pub mod csv;
pub mod gradescope;
pub mod html;
pub mod junit;

/// Writes a report to `path` with `write`; the error names the file.
pub fn to_file(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), String> {
    let fail = |e: io::Error| format!("cannot write {}: {e}", path.display());
    let file = std::fs::File::create(path).map_err(fail)?;
    let mut out = BufWriter::new(file);
    write(&mut out).map_err(fail)?;
    out.flush().map_err(fail)
}

/// JSON of anything serialisable, pretty.
pub fn json<T: serde::Serialize>(value: &T, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}
