//! `hftp-client`: list, inspect and download files from an HFTP server.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use hftp_client::{Client, Error};

/// List, inspect and download files from an HFTP server.
///
/// Exit codes: 0 success, 1 usage error, 2 the server refused a request
/// (e.g. file not found), 3 connection, I/O or protocol failure.
#[derive(Debug, Parser)]
#[command(name = "hftp-client", version)]
struct Args {
    /// Server host name or address.
    #[arg(
        short = 'H',
        long,
        env = "HFTP_HOST",
        default_value = "127.0.0.1",
        global = true
    )]
    host: String,
    /// Server port.
    #[arg(short, long, env = "HFTP_PORT", default_value_t = 19500, global = true)]
    port: u16,
    /// Seconds to wait for the connection and for each read or write.
    #[arg(long, default_value_t = 30.0, value_name = "SECS", global = true)]
    timeout: f64,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List the files the server publishes.
    Ls,
    /// Print the size of each file.
    Stat {
        /// Files to look up.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Download a file.
    Get {
        /// The file to download.
        file: String,
        /// Where to write it (default: the file's name, in this directory).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Use the `raw` extension instead of base64.
        #[arg(long)]
        raw: bool,
    },
    /// Write a file, or a byte range of it, to standard output.
    Cat {
        /// The file to print.
        file: String,
        /// First byte to print.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// How many bytes to print (default: to the end of the file).
        #[arg(long)]
        size: Option<u64>,
    },
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
            let text = e.render().to_string();
            let line = text.lines().next().unwrap_or_default();
            eprintln!(
                "hftp-client: {} (see --help)",
                line.strip_prefix("error: ").unwrap_or(line)
            );
            return ExitCode::from(1);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err((context, err)) => {
            eprintln!("hftp-client: {context}: {err}");
            ExitCode::from(match err {
                Error::Server { .. } => 2,
                Error::InvalidName(_) => 1,
                _ => 3,
            })
        }
    }
}

type Failure = (String, Error);

fn run(args: &Args) -> Result<(), Failure> {
    let addr = format!("{}:{}", bracket_v6(&args.host), args.port);
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .unwrap_or(Duration::from_secs(30));
    let mut client =
        Client::connect(&addr, Some(timeout)).map_err(|e| (format!("connect to {addr}"), e))?;
    match &args.command {
        Cmd::Ls => {
            let names = client.list().map_err(|e| ("ls".to_owned(), e))?;
            let mut out = io::stdout().lock();
            for name in names {
                writeln!(out, "{name}").map_err(|e| ("ls".to_owned(), e.into()))?;
            }
        }
        Cmd::Stat { files } => {
            for file in files {
                let size = client
                    .metadata(file)
                    .map_err(|e| (format!("stat {file}"), e))?;
                println!("{file}\t{size}");
            }
        }
        Cmd::Get { file, output, raw } => {
            let ctx = || format!("get {file}");
            let size = client.metadata(file).map_err(|e| (ctx(), e))?;
            let dest = output.clone().unwrap_or_else(|| PathBuf::from(file));
            let mut part = dest.clone().into_os_string();
            part.push(".part");
            let part = PathBuf::from(part);
            let result = (|| {
                let mut w = BufWriter::new(File::create(&part)?);
                match raw {
                    true => client.raw_slice_to(file, 0, size, &mut w)?,
                    false => client.slice_to(file, 0, size, &mut w)?,
                }
                w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                fs::rename(&part, &dest)?;
                Ok::<(), Error>(())
            })();
            result.map_err(|e| (ctx(), e))?;
        }
        Cmd::Cat { file, offset, size } => {
            let ctx = || format!("cat {file}");
            let size = match size {
                Some(size) => *size,
                None => {
                    let total = client.metadata(file).map_err(|e| (ctx(), e))?;
                    total.saturating_sub(*offset)
                }
            };
            let mut out = io::stdout().lock();
            client
                .slice_to(file, *offset, size, &mut out)
                .map_err(|e| (ctx(), e))?;
            out.flush().map_err(|e| (ctx(), e.into()))?;
        }
    }
    let _ = client.quit();
    Ok(())
}

/// `::1` must be written `[::1]` before a port is appended.
fn bracket_v6(host: &str) -> String {
    match host.contains(':') && !host.starts_with('[') {
        true => format!("[{host}]"),
        false => host.to_owned(),
    }
}
