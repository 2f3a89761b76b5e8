//! `ls [-l] [-h]`: the names of the files the server publishes, with
//! `-l` their sizes too (`SIZE  NAME`, sizes right-aligned).

use std::io::{Read, Write};

use hftp_client::Client;

use crate::args::LsArgs;
use crate::fail::{Failure, Worst};
use crate::size;
use crate::stdout::Stdout;

/// Runs `ls`. A file that vanishes between the listing and its size is
/// reported and skipped (exit 2 at the end).
pub fn run<S: Read + Write>(client: &mut Client<S>, args: &LsArgs) -> Result<(), Failure> {
    let names = client.list().map_err(|e| Failure::from_error("ls", &e))?;
    print(client, names, args)
}

/// Prints `names` (just listed), asking for their sizes with `-l`.
pub fn print<S: Read + Write>(
    client: &mut Client<S>,
    names: Vec<String>,
    args: &LsArgs,
) -> Result<(), Failure> {
    let mut out = Stdout::new();
    let write_err = |e: std::io::Error| Failure::io("ls", &e);
    if !args.long {
        for name in &names {
            writeln!(out, "{name}").map_err(write_err)?;
        }
        return out.flush().map_err(write_err);
    }
    let mut worst = Worst::default();
    let mut rows = Vec::with_capacity(names.len());
    for name in names {
        match client.metadata(&name) {
            Ok(bytes) => {
                let shown = match args.human {
                    true => size::short(bytes),
                    false => bytes.to_string(),
                };
                rows.push((shown, name));
            }
            Err(e) => {
                let failure = Failure::from_error(format!("ls {name}"), &e);
                if failure.code() != crate::fail::REFUSED {
                    return Err(failure);
                }
                worst.report(&failure);
            }
        }
    }
    let width = rows.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
    for (shown, name) in rows {
        writeln!(out, "{shown:>width$}  {name}").map_err(write_err)?;
    }
    out.flush().map_err(write_err)?;
    worst.result()
}
