//! `cat FILE [--offset N] [--size N]`: the bytes of a file, or of a range
//! of it, streamed to standard output.

use std::io::{Read, Write};

use hftp_client::Client;

use crate::args::CatArgs;
use crate::fail::Failure;
use crate::stdout::Stdout;

/// Runs `cat`; without `--size`, prints from the offset to the end.
pub fn run<S: Read + Write>(client: &mut Client<S>, args: &CatArgs) -> Result<(), Failure> {
    let context = crate::fail::subject("cat", &args.file);
    let fail = |e: hftp_client::Error| Failure::from_error(&context, &e);
    let size = match args.size {
        Some(size) => size,
        // An offset past the end asks for 0 bytes there: the server's 203
        // then says what is wrong.
        None => client
            .metadata(&args.file)
            .map_err(fail)?
            .saturating_sub(args.offset),
    };
    let mut out = Stdout::new();
    match args.raw {
        true => client.raw_slice_to(&args.file, args.offset, size, &mut out),
        false => client.slice_to(&args.file, args.offset, size, &mut out),
    }
    .map_err(fail)?;
    out.flush().map_err(|e| Failure::io(&context, &e))
}
