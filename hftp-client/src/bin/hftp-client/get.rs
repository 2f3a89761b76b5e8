//! `get FILE... [-o OUT | -O DIR] [-c] [-j N] [--raw] [--chunk SIZE]
//! [--all]`: downloads through the library's `Client::download`, which
//! writes `NAME.part` and renames it once complete; progress as
//! `progress` shows it.

use std::fs;
use std::path::{Path, PathBuf};

use hftp_client::{part_path, Client, DownloadOptions, Error};
use hftp_proto::FileName;

use crate::args::{GetArgs, Global};
use crate::fail::{self, Failure, Worst, FAILED};
use crate::progress::Reporter;
use crate::{connect, interrupt};

/// Chunks are never cut smaller than this to spread a file over `-j`
/// connections.
const MIN_SPLIT: u64 = 256 << 10;

/// Runs `get`. A file the server refuses is reported and skipped (exit 2
/// at the end); after a connection failure the next file gets a fresh
/// connection (exit 3 at the end). `client` may be replaced by such a
/// fresh connection.
pub fn run(client: &mut Client, global: &Global, args: &GetArgs) -> Result<(), Failure> {
    check(args)?;
    let mut worst = Worst::default();
    let names = match args.all {
        true => listed(client, &mut worst)?,
        false => args.files.clone(),
    };
    if names.is_empty() && !global.quiet {
        fail::eprint_line("get --all: the server lists no files");
    }
    if let Some(dir) = &args.output_dir {
        fs::create_dir_all(dir)
            .map_err(|e| Failure::io(format!("get: cannot create {}", dir.display()), &e))?;
    }

    // What is in the way locally is said before anything is asked.
    let names = clear_of_local_files(names, args, global, &mut worst);

    // Sizes first, all asked at once, for the total bar; refusals (202)
    // are reported here.
    let sizes = client.sizes(&names);
    let mut files = Vec::with_capacity(names.len());
    for (name, size) in names.into_iter().zip(sizes) {
        match size {
            Ok(size) => files.push((name, size)),
            Err(e) => {
                let failure = Failure::from_error(fail::subject("get", &name), &e);
                if failure.code() == FAILED {
                    return Err(failure);
                }
                worst.report(&failure);
            }
        }
    }

    let server = connect::server(global)?;
    let reporter = Reporter::new(global.quiet, files.len(), files.iter().map(|f| f.1).sum());
    let mut bytes = 0;
    for (i, (name, size)) in files.iter().enumerate() {
        let dest = destination(args, name);
        let replaces = !args.resume && dest.is_file();
        let options = DownloadOptions {
            resume: args.resume,
            connections: usize::from(args.connections),
            chunk_size: chunk_size(args, *size),
            raw: args.raw,
            fsync: args.fsync,
            // Asked just above, for the total bar.
            size: Some(*size),
            cancel: interrupt::cancel(),
        };
        let progress = reporter.file(name, *size);
        let armed = interrupt::arm(client.connection().get_ref().tcp());
        let result = server.download_with(client, name, &dest, &options, &|p| progress.update(p));
        drop(armed);
        if result.is_err() && interrupt::interrupted() {
            progress.failed();
            let mut failure = Failure::new(interrupt::EXIT, format!("get {name}: interrupted"));
            if let Some(hint) = resume_hint(&dest, &Error::Cancelled) {
                failure = failure.hint(hint);
            }
            reporter.error(&failure);
            worst.note(failure.code());
            break;
        }
        match result {
            Ok(downloaded) => {
                bytes += downloaded.size;
                progress.done(&dest, &downloaded, replaces);
            }
            Err(e) => {
                progress.failed();
                let mut failure = Failure::from_error(format!("get {name}"), &e);
                if let Some(hint) = resume_hint(&dest, &e) {
                    failure = failure.hint(hint);
                }
                reporter.error(&failure);
                worst.note(failure.code());
                // The connection may be stuck in the middle of a response;
                // a next file needs a new one.
                let more = i + 1 < files.len();
                if more && client.connection().is_broken() {
                    match server.connect().map_err(|e| connect::failure(global, &e)) {
                        Ok(fresh) => *client = fresh,
                        Err(failure) => {
                            reporter.error(&failure);
                            worst.note(failure.code());
                            break;
                        }
                    }
                }
            }
        }
    }
    reporter.finish(bytes);
    worst.result()
}

/// The names whose destination is free (or may be replaced): a directory
/// in the way is an error, an existing file with `--no-clobber` a note.
fn clear_of_local_files(
    names: Vec<String>,
    args: &GetArgs,
    global: &Global,
    worst: &mut Worst,
) -> Vec<String> {
    names
        .into_iter()
        .filter(|name| {
            let dest = destination(args, name);
            if dest.is_dir() {
                worst.report(&Failure::new(
                    FAILED,
                    format!(
                        "get {name}: {} is a directory; -o FILE or -O DIR writes elsewhere",
                        dest.display()
                    ),
                ));
                return false;
            }
            if args.no_clobber && !args.resume && dest.exists() {
                if !global.quiet {
                    fail::eprint_line(format!(
                        "get {name}: {} exists, not replaced (--no-clobber)",
                        dest.display()
                    ));
                }
                return false;
            }
            true
        })
        .collect()
}

/// After a failed download: how to resume it, when the `.part` holds
/// something to resume from and the failure does not rule resuming out.
pub fn resume_hint(dest: &Path, err: &Error) -> Option<String> {
    if matches!(
        err,
        Error::Changed { .. } | Error::PartTooLong { .. } | Error::BadRecord { .. }
    ) {
        return None;
    }
    let part = part_path(dest);
    let kept = fs::metadata(&part)
        .ok()
        .filter(|m| m.is_file() && m.len() > 0)?;
    Some(format!(
        "{} is kept ({}): run again with -c to resume",
        part.display(),
        crate::size::long(kept.len())
    ))
}

/// What clap cannot check: `-o` takes one file, and is not `-`.
pub fn check(args: &GetArgs) -> Result<(), Failure> {
    if args.output.as_deref() == Some(Path::new("-")) {
        return Err(Failure::usage(
            "get: -o - would write a file named '-'; use `cat FILE` for standard output",
        ));
    }
    if args.output.is_some() && args.files.len() != 1 {
        return Err(Failure::usage(
            "get: -o/--output takes exactly one FILE; use -O/--output-dir for several",
        ));
    }
    Ok(())
}

/// `--all`: the names the server lists, each checked before it becomes a
/// local path (a hostile listing could hold `../x`).
fn listed(client: &mut Client, worst: &mut Worst) -> Result<Vec<String>, Failure> {
    let names = client
        .list()
        .map_err(|e| Failure::from_error("get --all", &e))?;
    let mut valid = Vec::with_capacity(names.len());
    for name in names {
        match FileName::new(&name) {
            Ok(_) => valid.push(name),
            Err(e) => worst.report(&Failure::new(
                FAILED,
                format!("get --all: skipping {name:?}, which the server listed: {e}"),
            )),
        }
    }
    Ok(valid)
}

/// Where `name` goes: `-o` (inside it when it is a directory), `-O DIR`,
/// or the current directory.
fn destination(args: &GetArgs, name: &str) -> PathBuf {
    match (&args.output, &args.output_dir) {
        (Some(out), _) if out.is_dir() => out.join(name),
        (Some(out), _) => out.clone(),
        (None, Some(dir)) => dir.join(name),
        (None, None) => PathBuf::from(name),
    }
}

/// `--chunk` when given; otherwise 16 MiB, cut down so that `-j N`
/// connections all get a share of the file (never below 256 KiB).
fn chunk_size(args: &GetArgs, size: u64) -> u64 {
    if let Some(chunk) = args.chunk {
        return chunk;
    }
    let default = DownloadOptions::default().chunk_size;
    let connections = u64::from(args.connections);
    match connections > 1 {
        true => size.div_ceil(connections).clamp(MIN_SPLIT, default),
        false => default,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    fn get_args(line: &[&str]) -> GetArgs {
        let cli = Cli::try_parse_from([&["hftp-client", "get"], line].concat()).unwrap();
        match cli.command {
            Command::Get(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn chunks_spread_over_connections() {
        assert_eq!(chunk_size(&get_args(&["f"]), 1 << 30), 16 << 20);
        assert_eq!(chunk_size(&get_args(&["f", "-j", "4"]), 1 << 30), 16 << 20);
        assert_eq!(chunk_size(&get_args(&["f", "-j", "4"]), 8 << 20), 2 << 20);
        assert_eq!(chunk_size(&get_args(&["f", "-j", "4"]), 10), MIN_SPLIT);
        assert_eq!(
            chunk_size(&get_args(&["f", "-j", "4", "--chunk", "1K"]), 8 << 20),
            1024
        );
    }

    #[test]
    fn destinations() {
        assert_eq!(destination(&get_args(&["a"]), "a"), PathBuf::from("a"));
        assert_eq!(
            destination(&get_args(&["a", "-o", "b"]), "a"),
            PathBuf::from("b")
        );
        assert_eq!(
            destination(&get_args(&["a", "-O", "d"]), "a"),
            PathBuf::from("d/a")
        );
    }
}
