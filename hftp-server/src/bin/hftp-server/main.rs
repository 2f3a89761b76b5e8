//! `hftp-server`: serves the regular files of one directory over HFTP.
//!
//! The command line over the `hftp_server` library: `args` (the flags),
//! `startup` (the directory and the address, checked before serving),
//! `signals` (graceful shutdown, and a second signal to exit at once);
//! logging is set up here. Serving lives in the library (`src/lib.rs`
//! lists its modules).

#![warn(missing_docs)]

mod args;
mod signals;
mod startup;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use hftp_server::{ProxyOptions, Server, ServerError, ServerOptions};

use args::Args;

/// Exit code: the command line is wrong (as in hftp-client).
const USAGE: u8 = 1;
/// Exit code: the server cannot serve (directory, address, threads).
const FAILED: u8 = 3;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("hftp-server: {} (see --help)", first_line(&e));
            return ExitCode::from(USAGE);
        }
    };
    init_logging(&args);
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hftp-server: {message}");
            ExitCode::from(FAILED)
        }
    }
}

/// The first line of a command-line error, without clap's `error: ` prefix.
fn first_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

fn init_logging(args: &Args) {
    use std::io::IsTerminal;
    let level = match (args.verbose, args.quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v > 1 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

fn run(args: Args) -> Result<(), String> {
    let asked = args.directory.is_some();
    let directory = startup::directory(args.directory)?;
    let address = startup::address(&args.address, args.port)?;
    let grace = Duration::from_secs_f64(args.shutdown_grace);
    // Before binding: the connection limit is budgeted from it.
    hftp_server::raise_open_files_limit();
    let server = Server::bind(ServerOptions {
        address,
        directory: directory.clone(),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        idle_timeout: Duration::from_secs_f64(args.idle_timeout),
        request_timeout: Duration::from_secs_f64(args.request_timeout),
        max_request_bytes: args
            .max_request_bytes
            .unwrap_or(hftp_proto::RequestDecoder::DEFAULT_MAX_LINE),
        threads: args.threads.map_or(0, |n| n as usize),
        fs_timeout: Duration::from_secs_f64(args.fs_timeout),
        shutdown_grace: grace,
        max_connections_per_ip: args
            .max_connections_per_ip
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        proxy_protocol: args.proxy_protocol.then(|| ProxyOptions {
            from: args.proxy_from.clone(),
        }),
        ..ServerOptions::default()
    })
    .map_err(|e| match e {
        ServerError::Directory { .. } => {
            format!("{e}{}", startup::directory_advice(asked, &directory))
        }
        e => e.to_string(),
    })?;
    signals::watch(server.shutdown_flag(), server.open_connections(), grace)
        .map_err(|e| format!("cannot install a signal handler: {e}"))?;
    println!(
        "hftp-server: serving {} on {}",
        server.root().display(),
        server.local_addr()
    );
    if let Some(line) = startup::exposure(server.local_addr()) {
        println!("{line}");
    }
    server.run().map_err(|e| e.to_string())
}
