//! `hftp-bench`: load generator and benchmark for HFTP servers.
//!
//! Subcommands (each bounded in time, each printing a table or `--json`):
//! `rate` (requests/s and latency under a request mix), `transfer`
//! (payload throughput of one file, base64 or raw), `idle` (`rate` beside
//! N idle connections, with the server's memory) and `limits` (TCP
//! loopback and base64 speed, the yardstick). Modules: `args` (command
//! line), `mix` (request kinds and weights), `probe` (connecting through
//! `hftp_client::Server`, setup requests via `hftp_client::Client`),
//! `rate` (on `hftp_client::Pipeline`), `transfer` and `idle` (on
//! `hftp_client::Connection`), `limits`,
//! `latency` (HDR histograms), `proc` (server CPU and memory from
//! `/proc`), `report` (table and JSON output).
//!
//! Exit status: 0 when every response was as expected, 1 when the run
//! could not be made (bad arguments, no server, setup refused), 2 when
//! it ran but saw wrong responses or broken connections (the report
//! says which).

mod args;
mod idle;
mod latency;
mod limits;
mod mix;
mod probe;
mod proc;
mod rate;
mod report;
mod transfer;
#[path = "../shared/usage.rs"]
mod usage;

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use rustix::process::{getrlimit, setrlimit, Resource};

use crate::args::{Args, Command};
use crate::report::Report;

/// Errors of a run that could not be made.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line, as every other failure.
            eprintln!(
                "hftp-bench: {}",
                usage::one_line(&e, "--help", &Args::command())
            );
            return ExitCode::from(1);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("hftp-bench: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs the subcommand and prints its report; whether it was clean.
fn run(args: &Args) -> Result<bool, BoxError> {
    raise_open_files_limit();
    let addr = || resolve(&args.host, args.port);
    let pid = args.server_pid;
    match &args.command {
        Command::Rate(a) => show(&rate::run(addr()?, a, pid)?, args.json),
        Command::Transfer(a) => show(&transfer::run(addr()?, a, pid)?, args.json),
        Command::Idle(a) => show(&idle::run(addr()?, a, pid)?, args.json),
        Command::Limits(a) => show(&limits::run(a)?, args.json),
    }
}

fn show(report: &impl Report, json: bool) -> Result<bool, BoxError> {
    report::print(report, json)?;
    Ok(report.clean())
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, BoxError> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} resolves to no address").into())
}

/// Thousands of connections need thousands of descriptors: raise the soft
/// limit to the hard one (best effort).
fn raise_open_files_limit() {
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let _ = setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        );
    }
}
