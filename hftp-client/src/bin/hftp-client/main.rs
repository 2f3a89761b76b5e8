//! `hftp-client`: list, inspect and download files from an HFTP server,
//! talk to it by hand (`send`, `shell`), in the spirit of curl and wget.
//!
//! Modules: `args` (the clap command line), `fail` (error lines and exit
//! codes), `usage` (a clap error in one line, shared with hftp-bench),
//! `connect` (reaching the server), `stdout` (a standard output whose
//! closing ends quietly), one module per command (`ls`, `stat`, `get`,
//! `cat`, `send`, `shell`), `completions` (shell completion, remote names
//! included), `interrupt` (Ctrl-C cancels the running command),
//! `progress` (bars and summary lines), `check` (the conformance
//! checker and grader) and `size` (sizes like `8M` in and
//! `1.5 MiB` out).
#![warn(missing_docs)]

mod args;
mod cat;
mod check;
mod completions;
mod connect;
mod fail;
mod get;
mod interrupt;
mod ls;
mod progress;
mod send;
mod shell;
mod size;
mod stat;
mod stdout;
#[path = "../shared/usage.rs"]
mod usage;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command, Global};
use fail::{Failure, FAILED};
use hftp_client::Client;

fn main() -> ExitCode {
    // A Tab in a shell whose completions are loaded: answered before
    // anything else writes to standard output.
    if let Some(code) = completions::answer_if_asked() {
        return code;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version; a closed standard output is no error.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) if args::is_check(std::env::args_os()) => {
            // check's exit codes are a grader's: 2 for "could not run".
            eprintln!("hftp-client: {}", fail::clap_line(&e, "check --help"));
            return ExitCode::from(check::COULD_NOT_RUN);
        }
        Err(e) => return Failure::usage(fail::clap_line(&e, "--help")).report(),
    };
    if let Command::Check(args) = &cli.command {
        return check::run(args, &cli.global.host, cli.global.port());
    }
    fail::set_timeout(cli.global.timeout());
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let global = &cli.global;
    match &cli.command {
        Command::Completions(args) => completions::run(args.shell),
        Command::Check(_) => unreachable!("check runs before"),
        Command::Send(args) => send::run(global, args),
        Command::Shell => {
            // Ctrl-C at the prompt is the line editor's; during a command
            // it cancels the command.
            interrupt::install(false);
            shell::run(global)
        }
        Command::Ls(args) => with_client(global, |client| ls::run(client, args)),
        Command::Stat(args) => with_client(global, |client| stat::run(client, args)),
        Command::Get(args) => {
            get::check(args)?;
            // Ctrl-C during a download keeps the .part and says so.
            interrupt::install(true);
            with_client(global, |client| get::run(client, global, args))
        }
        Command::Cat(args) => with_client(global, |client| cat::run(client, args)),
    }
}

/// Connects, runs `command`, and says goodbye (`quit`) on a connection in
/// a known state: after a connection failure it may be stalled or in the
/// middle of a response.
fn with_client(
    global: &Global,
    command: impl FnOnce(&mut Client) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut client = connect::client(global)?;
    let result = command(&mut client);
    if !matches!(&result, Err(f) if f.code() == FAILED) {
        let _ = client.quit();
    }
    result
}
