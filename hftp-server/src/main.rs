//! `hftp-server`: serves the regular files of one directory over HFTP.
//!
//! The command line over the `hftp_server` library: flags, logging and
//! signals live here; serving lives in the library (`src/lib.rs` lists
//! its modules).

#![warn(missing_docs)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use hftp_server::{Server, ServerOptions};

/// Serve the regular files of one directory over HFTP.
#[derive(Debug, Parser)]
#[command(name = "hftp-server", version)]
struct Args {
    /// Address to listen on (IPv4 or IPv6, e.g. `::`).
    #[arg(short = 'a', long, default_value = "0.0.0.0")]
    address: IpAddr,
    /// TCP port to listen on (0 picks a free one).
    #[arg(short, long, default_value_t = 19500)]
    port: u16,
    /// Directory whose files are served; created if missing.
    #[arg(short, long, default_value = "testdata")]
    directory: PathBuf,
    /// Most clients served at once; more wait in the listen backlog.
    #[arg(long, default_value_t = 10_000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Close a connection with no progress in either direction for this long.
    #[arg(long, default_value_t = 60.0, value_name = "SECS", value_parser = positive_secs)]
    idle_timeout: f64,
    /// A request line must be complete this long after its first byte.
    #[arg(long, default_value_t = 30.0, value_name = "SECS", value_parser = positive_secs)]
    request_timeout: f64,
    /// A file-system operation (lookup, open, read, listing) not done in
    /// this long answers its request 199; other clients are served
    /// meanwhile.
    #[arg(long, default_value_t = 10.0, value_name = "SECS", value_parser = positive_secs)]
    fs_timeout: f64,
    /// Most connections from one client address; past it, that address's
    /// new connections are closed at once. Off by default (a classroom
    /// behind one NAT shares an address); 100 is a sensible value for a
    /// public server.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections_per_ip: Option<u64>,
    /// Hard limit on a request line, in bytes; longer lines get 101.
    #[arg(long, default_value_t = hftp_proto::RequestDecoder::DEFAULT_MAX_LINE, value_name = "N")]
    max_request_bytes: usize,
    /// Worker threads, each with its own event loop (default: one per
    /// core). Connections are gathered onto fewer workers while the others
    /// would only wake for a request or two, and spread again when those
    /// are saturated and a core is spare.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..1024))]
    threads: Option<u64>,
    /// Log more (-v: each request, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,
    /// Log less (-q: warnings only, -qq: errors only).
    #[arg(short, long, action = clap::ArgAction::Count)]
    quiet: u8,
}

fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() && v < 1e9 => Ok(v),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
    }
}

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
            return ExitCode::from(2);
        }
    };
    init_logging(&args);
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hftp-server: {message}");
            ExitCode::FAILURE
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
    // Before binding: the connection limit is budgeted from it.
    hftp_server::raise_open_files_limit();
    let server = Server::bind(ServerOptions {
        address: SocketAddr::new(args.address, args.port),
        directory: args.directory,
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        idle_timeout: Duration::from_secs_f64(args.idle_timeout),
        request_timeout: Duration::from_secs_f64(args.request_timeout),
        max_request_bytes: args.max_request_bytes,
        threads: args.threads.map_or(0, |n| n as usize),
        fs_timeout: Duration::from_secs_f64(args.fs_timeout),
        max_connections_per_ip: args
            .max_connections_per_ip
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        ..ServerOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let shutdown = server.shutdown_flag();
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&shutdown))
            .map_err(|e| format!("cannot install a signal handler: {e}"))?;
    }
    println!(
        "hftp-server: serving {} on {}",
        server.root().display(),
        server.local_addr()
    );
    server.run().map_err(|e| e.to_string())
}
