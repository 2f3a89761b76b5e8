//! `hftp-server`: serves the regular files of one directory over HFTP.
//!
//! This is the first, thread-per-connection version of the server; the
//! event-driven one replaces `session` (see the project's issue tracker).

#![warn(missing_docs)]

mod published;
mod session;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tracing::{info, warn};

use crate::published::Published;
use crate::session::Limits;

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
    /// Close a connection that sends nothing for this many seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    idle_timeout: u64,
    /// Hard limit on a request line, in bytes; longer lines get 101.
    #[arg(long, default_value_t = hftp_proto::RequestDecoder::DEFAULT_MAX_LINE, value_name = "N")]
    max_request_bytes: usize,
    /// Log more (-v: each request, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,
    /// Log less (-q: warnings only, -qq: errors only).
    #[arg(short, long, action = clap::ArgAction::Count)]
    quiet: u8,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(&args);
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hftp-server: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(args: &Args) {
    let level = match (args.verbose, args.quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v > 1 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

fn run(args: Args) -> Result<(), String> {
    let published = Published::new(&args.directory)
        .map_err(|e| format!("cannot serve directory {}: {e}", args.directory.display()))?;
    let addr = SocketAddr::new(args.address, args.port);
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("hftp-server: serving {} on {local}", published.root().display());
    let limits = Arc::new(Limits {
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        max_request_bytes: args.max_request_bytes,
    });
    let published = Arc::new(published);
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                warn!("accept failed: {e}");
                continue;
            }
        };
        let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
        info!("Connected by: {peer}");
        let (published, limits) = (Arc::clone(&published), Arc::clone(&limits));
        let spawned = std::thread::Builder::new().name(format!("conn {peer}")).spawn(move || {
            let reason = session::serve(stream, &published, &limits);
            info!("Closing connection {peer} ({reason})");
        });
        if let Err(e) = spawned {
            warn!("cannot start a thread for a connection: {e}");
        }
    }
    Ok(())
}
