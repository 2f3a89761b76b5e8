//! `stat [-h] FILE...`: one `NAME<TAB>SIZE` line per file; a file the
//! server refuses gets an error line, and the others are still looked up.

use std::io::{Read, Write};

use hftp_client::Client;

use crate::args::StatArgs;
use crate::fail::{Failure, Worst, REFUSED};
use crate::size;
use crate::stdout::Stdout;

/// Runs `stat`: exit 2 at the end if the server refused any file, 3 at
/// once if the connection fails.
pub fn run<S: Read + Write>(client: &mut Client<S>, args: &StatArgs) -> Result<(), Failure> {
    let mut out = Stdout::new();
    let mut worst = Worst::default();
    for file in &args.files {
        let context = crate::fail::subject("stat", file);
        match client.metadata(file) {
            Ok(bytes) => {
                let shown = match args.human {
                    true => size::short(bytes),
                    false => bytes.to_string(),
                };
                writeln!(out, "{file}\t{shown}").map_err(|e| Failure::io(&context, &e))?;
            }
            Err(e) => {
                let failure = Failure::from_error(&context, &e);
                if failure.code() != REFUSED && failure.code() != crate::fail::USAGE {
                    return Err(failure);
                }
                out.flush().map_err(|e| Failure::io(&context, &e))?;
                worst.report(&failure);
            }
        }
    }
    out.flush().map_err(|e| Failure::io("stat", &e))?;
    worst.result()
}
