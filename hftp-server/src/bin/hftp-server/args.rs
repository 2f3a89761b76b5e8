//! The command line, declared with clap's derive API, and its value
//! parsers (seconds, sizes with suffixes, addresses or host names).

use std::path::PathBuf;

use clap::Parser;

/// Shown at the end of `--help`.
const AFTER_HELP: &str = "\
Exit codes:
  0  shut down cleanly (SIGINT or SIGTERM)
  1  usage error (bad option or value)
  3  cannot serve: the directory is missing, not a directory or cannot be
     listed, the address (or the metrics address) cannot be resolved or
     bound, the TLS certificate or key cannot be read or do not match, or
     the sockets systemd passed are not ones it serves
  130  a second SIGINT or SIGTERM during the shutdown grace: exited at once

Every failure is reported as one line on standard error.

SIGHUP reloads the TLS certificate and key (when serving TLS); a file that
cannot be used is logged and the certificate in use stays.

Every option with a value can also be set in the environment (HFTP_PORT,
HFTP_DIRECTORY, ...: see each option); the command line wins.

Socket activation: when systemd passes listening sockets (LISTEN_FDS), the
server serves them instead of binding -a/-p: one plain socket, and one
named 'tls' (FileDescriptorName=tls) for TLS (with --tls-cert and
--tls-key). Other sockets, or more of them, are refused with exit code 3.";

/// Serve the regular files of one directory over HFTP.
#[derive(Debug, Parser)]
#[command(name = "hftp-server", version, after_help = AFTER_HELP)]
pub struct Args {
    /// Address or host name to listen on: 0.0.0.0 (all IPv4 interfaces,
    /// reachable from other machines), 127.0.0.1 (this machine only), ::,
    /// ::1, localhost. A host name is resolved, and its first IPv4 address
    /// is used (else its first IPv6 one).
    #[arg(env = "HFTP_ADDRESS", short = 'a', long, default_value = "0.0.0.0", value_name = "ADDR", value_parser = parse_host)]
    pub address: String,
    /// TCP port to listen on (0 picks a free one).
    #[arg(env = "HFTP_PORT", short, long, default_value_t = 19500)]
    pub port: u16,
    /// Directory whose files are served; it must exist [default: testdata,
    /// created if missing].
    #[arg(env = "HFTP_DIRECTORY", short, long, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// Most clients served at once; more wait in the listen backlog.
    #[arg(env = "HFTP_MAX_CONNECTIONS", long, default_value_t = 10_000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// Close a connection with no progress in either direction for this
    /// long.
    #[arg(env = "HFTP_IDLE_TIMEOUT", long, default_value_t = 60.0, value_name = "SECS", value_parser = positive_secs)]
    pub idle_timeout: f64,
    /// A request line must be complete this long after its first byte.
    #[arg(env = "HFTP_REQUEST_TIMEOUT", long, default_value_t = 30.0, value_name = "SECS", value_parser = positive_secs)]
    pub request_timeout: f64,
    /// A file-system operation (lookup, open, read, listing) not done in
    /// this long answers its request 199; other clients are served
    /// meanwhile.
    #[arg(env = "HFTP_FS_TIMEOUT", long, default_value_t = 10.0, value_name = "SECS", value_parser = positive_secs)]
    pub fs_timeout: f64,
    /// After SIGINT or SIGTERM, how long responses in flight may take to
    /// finish before their connections are reset (a second signal exits at
    /// once).
    #[arg(env = "HFTP_SHUTDOWN_GRACE", long, default_value_t = 5.0, value_name = "SECS", value_parser = positive_secs)]
    pub shutdown_grace: f64,
    /// Most connections from one client address; past it, that address's
    /// new connections are closed at once. Off by default (a classroom
    /// behind one NAT shares an address); 100 is a sensible value for a
    /// public server.
    #[arg(env = "HFTP_MAX_CONNECTIONS_PER_IP", long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_ip: Option<u64>,
    /// Every connection must begin with a PROXY protocol v1 or v2 header
    /// (from HAProxy `send-proxy-v2`, ...) naming the real client, within
    /// --request-timeout; without one it is closed.
    #[arg(long)]
    pub proxy_protocol: bool,
    /// With --proxy-protocol: only connections from these networks (the
    /// load balancers) owe a header; others are served as direct clients.
    /// Comma-separated, repeatable: 10.0.0.0/8,::1/128.
    #[arg(long, value_name = "CIDR", value_delimiter = ',', value_parser = parse_net, requires = "proxy_protocol")]
    pub proxy_from: Vec<hftp_server::IpNet>,
    /// Hard limit on a request line; longer lines get 101. Takes a suffix:
    /// 4K, 16M (binary), 64KiB, 1MB (decimal) [default: 16M].
    #[arg(env = "HFTP_MAX_REQUEST_BYTES", long, value_name = "SIZE", value_parser = parse_size)]
    pub max_request_bytes: Option<usize>,
    /// Worker threads, each with its own event loop [default: one per
    /// core]. Connections are gathered onto fewer workers while the others
    /// would only wake for a request or two, and spread again when those
    /// are saturated and a core is spare.
    #[arg(env = "HFTP_THREADS", long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..1024))]
    pub threads: Option<u64>,
    /// Serve HFTP over TLS too, with this certificate chain (PEM, the
    /// server's certificate first). Reloaded on SIGHUP with the key,
    /// without dropping connections.
    #[arg(
        env = "HFTP_TLS_CERT",
        long,
        value_name = "FILE",
        requires = "tls_key",
        help_heading = "TLS"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    #[arg(
        env = "HFTP_TLS_KEY",
        long,
        value_name = "FILE",
        requires = "tls_cert",
        help_heading = "TLS"
    )]
    pub tls_key: Option<PathBuf>,
    /// TCP port of the TLS listener, on the same address as the plain one.
    #[arg(
        env = "HFTP_TLS_PORT",
        long,
        default_value_t = 19501,
        value_name = "PORT",
        help_heading = "TLS"
    )]
    pub tls_port: u16,
    /// Serve TLS only: no plain listener.
    #[arg(long, requires = "tls_cert", help_heading = "TLS")]
    pub no_plain: bool,
    /// Serve Prometheus metrics on this address (GET /metrics; port 0 picks
    /// a free one, printed on standard output). Use a private address:
    /// 127.0.0.1:9500, or an internal network's.
    #[arg(env = "HFTP_METRICS_ADDRESS", long, value_name = "ADDR:PORT")]
    pub metrics_address: Option<std::net::SocketAddr>,
    /// How log lines are written on standard error: text, or json (one
    /// object a line, with time, level and fields; with -v, each answered
    /// request has peer, request, status, bytes and duration_ms).
    #[arg(env = "HFTP_LOG_FORMAT", long, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,
    /// Log more (-v: each request and skipped directory entry, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Log less (-q: warnings only, -qq: errors only).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub quiet: u8,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// `--idle-timeout` and the others: positive seconds, fractions allowed.
fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() && v < 1e9 => Ok(v),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
    }
}

/// `--proxy-from`: a network (`10.0.0.0/8`) or one address.
fn parse_net(s: &str) -> Result<hftp_server::IpNet, String> {
    let s = s.trim();
    s.parse::<hftp_server::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(hftp_server::IpNet::from))
        .map_err(|_| format!("'{s}' is not a network (examples: 10.0.0.0/8, 192.0.2.7, ::1/128)"))
}

/// `-a`: an address or a host name, without a port.
fn parse_host(s: &str) -> Result<String, String> {
    if s.parse::<std::net::SocketAddr>().is_ok() {
        return Err(format!(
            "'{s}' holds a port: give the address alone and the port with -p"
        ));
    }
    match s.is_empty() || s.contains(char::is_whitespace) {
        true => Err(format!("'{s}' is not an address or host name")),
        false => Ok(s.to_owned()),
    }
}

/// `--max-request-bytes`: bytes, with a one-letter suffix binary (`4K`,
/// `16M`, as hftp-client's sizes) and unit names taken at their word
/// (`64KiB` binary, `1MB` decimal).
fn parse_size(text: &str) -> Result<usize, String> {
    let bad =
        || format!("'{text}' is not a size of at least 1 byte (examples: 4096, 4K, 16M, 64KiB)");
    let trimmed = text.trim();
    let spelled = match trimmed.chars().last() {
        Some(c) if "kKmMgGtT".contains(c) => format!("{trimmed}iB"),
        _ => trimmed.to_owned(),
    };
    let bytes = spelled
        .parse::<bytesize::ByteSize>()
        .map_err(|_| bad())?
        .as_u64();
    match usize::try_from(bytes) {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn definitions_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("16m"), Ok(16 << 20));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-1K").is_err());
    }

    #[test]
    fn hosts() {
        assert!(parse_host("localhost").is_ok());
        assert!(parse_host("::1").is_ok());
        assert!(parse_host("127.0.0.1:19500").is_err());
        assert!(parse_host("[::1]:19500").is_err());
        assert!(parse_host("").is_err());
    }
}
