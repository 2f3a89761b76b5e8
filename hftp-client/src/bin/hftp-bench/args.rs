//! The command line of `hftp-bench`: global options (server address,
//! `--json`, `--server-pid`) and one argument set per subcommand.

use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand};

use crate::mix::Mix;

/// Load generator and benchmark for HFTP servers.
///
/// Every run is bounded in time and stops by itself. Figures are printed
/// as a table, or as one JSON object with `--json`.
#[derive(Debug, Parser)]
#[command(name = "hftp-bench", version)]
pub struct Args {
    /// Server host name or address.
    #[arg(short = 'H', long, default_value = "127.0.0.1", global = true)]
    pub host: String,
    /// Server port.
    #[arg(short, long, default_value_t = 19500, global = true)]
    pub port: u16,
    /// Print one JSON object instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// The server's process id: report its CPU time (user + system) and
    /// resident memory (VmRSS, sampled) during the measurement.
    #[arg(long, value_name = "PID", global = true)]
    pub server_pid: Option<u32>,
    #[command(subcommand)]
    pub command: Command,
}

/// The measurements `hftp-bench` makes.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Requests per second and latency: C connections, P requests in
    /// flight on each, a mix of request kinds.
    Rate(RateArgs),
    /// Payload throughput downloading one file, base64 or raw, split over
    /// C connections, repeated for the duration or --count times.
    Transfer(TransferArgs),
    /// Hold N idle connections open while running `rate`; reports the
    /// server's memory too (with --server-pid).
    Idle(IdleArgs),
    /// The yardstick without HFTP: TCP loopback throughput between two
    /// threads, base64 encode/decode speed (base64-simd), and round trips
    /// over C connections against a trivial answering thread.
    Limits(LimitsArgs),
}

/// Options of `rate` (and of the load `idle` runs).
#[derive(Debug, Clone, ClapArgs)]
pub struct RateArgs {
    /// Connections.
    #[arg(short, long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// Requests in flight per connection (1: no pipelining).
    #[arg(short = 'P', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub pipeline: u32,
    /// Request mix: kinds among metadata, slice, raw, listing, help, error,
    /// each optionally weighted (`metadata=8,slice=1,error=1`).
    #[arg(short, long, default_value = "metadata")]
    pub mix: Mix,
    /// Seconds to measure.
    #[arg(short, long, default_value = "5", value_parser = seconds)]
    pub duration: Duration,
    /// Client threads, each driving its share of the connections.
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,
    /// File for metadata and slice requests (default: the first file the
    /// server lists that is large enough).
    #[arg(short, long, value_name = "NAME")]
    pub file: Option<String>,
    /// Bytes per slice request (`slice`, `raw`); offsets vary over the file.
    #[arg(long, default_value_t = 1024, value_name = "BYTES")]
    pub slice_size: u64,
}

/// Options of `transfer`.
#[derive(Debug, Clone, ClapArgs)]
pub struct TransferArgs {
    /// The file to download (its size is asked with get_metadata).
    #[arg(short, long, value_name = "NAME")]
    pub file: String,
    /// Use the `raw` extension instead of base64.
    #[arg(long)]
    pub raw: bool,
    /// Connections; each downloads its share of the file.
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub connections: u32,
    /// Stop after this many seconds, even in the middle of a download.
    #[arg(short, long, default_value = "5", value_parser = seconds)]
    pub duration: Duration,
    /// Stop after downloading the whole file this many times.
    #[arg(short = 'n', long, value_name = "N")]
    pub count: Option<u64>,
    /// Bytes read from the socket at a time.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(4096..=(1 << 30)))]
    pub buffer: u64,
    /// Connect over TLS (the server's TLS port), the certificate checked
    /// against --tls-name, with the system's trusted CAs unless --ca.
    #[arg(long)]
    pub tls: bool,
    /// Trust only the CA certificates in this PEM file; implies --tls.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<std::path::PathBuf>,
    /// The name the certificate must be valid for [default: the server's
    /// IP address]; implies --tls.
    #[arg(long, value_name = "HOST")]
    pub tls_name: Option<String>,
}

impl TransferArgs {
    /// Whether to connect over TLS.
    pub fn use_tls(&self) -> bool {
        self.tls || self.ca.is_some() || self.tls_name.is_some()
    }
}

/// Options of `idle`.
#[derive(Debug, Clone, ClapArgs)]
pub struct IdleArgs {
    /// Idle connections to hold open.
    #[arg(short = 'n', long, default_value_t = 10_000, value_name = "N")]
    pub idle: u32,
    /// Run the same `rate` load first without the idle connections, and
    /// report the ratio.
    #[arg(long)]
    pub baseline: bool,
    #[command(flatten)]
    pub rate: RateArgs,
}

/// Options of `limits`.
#[derive(Debug, Clone, ClapArgs)]
pub struct LimitsArgs {
    /// Seconds for each of the five measurements.
    #[arg(short, long, default_value = "2", value_parser = seconds)]
    pub duration: Duration,
    /// Bytes per write and read (TCP) and per encode/decode call (base64).
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(3..=(1 << 30)))]
    pub buffer: u64,
    /// Connections of the round-trip measurements.
    #[arg(short, long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: u32,
}

/// A positive number of seconds, fractions allowed (`0.5`).
fn seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("'{s}' is not a number of seconds in (0, 86400]")),
    }
}
