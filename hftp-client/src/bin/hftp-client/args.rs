//! The command line, declared with clap's derive API: global options, one
//! subcommand per action, and the exit codes shown by `--help`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, Subcommand};
use clap_complete::Shell;

use crate::size;

/// Shown at the end of `--help`.
const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  usage error (bad option, argument or file name)
  2  the server refused a request (e.g. 202 file not found)
  3  connection, I/O or protocol failure, or a TLS certificate refused
     (wrong host, expired, not signed by a trusted CA) or a server that
     does not speak TLS

Every failure is reported as one line on standard error.";

/// List, inspect and download files from an HFTP server.
#[derive(Debug, Parser)]
#[command(
    name = "hftp-client",
    version,
    after_help = AFTER_HELP,
    subcommand_required = true,
    disable_help_subcommand = true,
    args_override_self = true
)]
pub struct Cli {
    /// Options that apply to every command.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Which server, how patient, how chatty.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Server host name or address, optionally with a port: `localhost`,
    /// `10.0.0.7:2121`, `::1`, `[::1]:2121` (a port here wins over -p);
    /// `hftps://HOST[:PORT]` for TLS, `hftp://HOST[:PORT]` for plain.
    #[arg(
        short = 'H',
        long,
        env = "HFTP_HOST",
        default_value = "127.0.0.1",
        value_parser = crate::connect::parse_host,
        global = true,
        help_heading = "Global options"
    )]
    pub host: String,
    /// Server port [default: 19500, with TLS 19501].
    #[arg(
        short,
        long,
        env = "HFTP_PORT",
        global = true,
        help_heading = "Global options"
    )]
    pub port: Option<u16>,
    /// Connect over TLS (the certificate is checked against the host as
    /// typed, with the system's trusted CAs unless --ca is given).
    #[arg(long, global = true, help_heading = "Global options")]
    pub tls: bool,
    /// Trust only the CA certificates in this PEM file (a private CA);
    /// implies --tls.
    #[arg(long, value_name = "FILE", global = true, value_hint = clap::ValueHint::FilePath, help_heading = "Global options")]
    pub ca: Option<PathBuf>,
    /// Seconds to wait for the connection and for each read or write
    /// (0: wait forever).
    #[arg(
        long,
        value_name = "SECS",
        default_value = "30",
        value_parser = parse_timeout,
        global = true,
        help_heading = "Global options"
    )]
    pub timeout: Duration,
    /// No progress bars, summaries or notes; errors only.
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,
}

impl Global {
    /// Whether to connect over TLS: `--tls`, `--ca` or `hftps://`.
    pub fn use_tls(&self) -> bool {
        self.tls || self.ca.is_some() || self.host.starts_with("hftps://")
    }

    /// The port when `-H` names none: `-p`, or 19500 (19501 with TLS).
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.use_tls() {
            true => hftp_client::tls::DEFAULT_PORT,
            false => 19500,
        })
    }

    /// The timeout as the library wants it: `None` waits forever.
    pub fn timeout(&self) -> Option<Duration> {
        (!self.timeout.is_zero()).then_some(self.timeout)
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the files the server publishes.
    Ls(LsArgs),
    /// Print the size of each file: `NAME<TAB>SIZE`, one line per file.
    Stat(StatArgs),
    /// Download files (resumable, parallel, with progress bars).
    Get(GetArgs),
    /// Write a file, or a byte range of it, to standard output.
    Cat(CatArgs),
    /// Send raw request lines and print the raw responses (for testing servers).
    Send(SendArgs),
    /// Interactive session: ls, stat, get, cat, help, quit.
    Shell,
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Check that a server follows the protocol; grade a class of servers.
    Check(Box<crate::check::CheckArgs>),
}

/// Whether the command line's subcommand is `check` (the first word that
/// is neither an option nor the value of a global option).
pub fn is_check(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let mut args = args.into_iter().skip(1);
    while let Some(a) = args.next() {
        let a = a.to_string_lossy();
        if ["-H", "--host", "-p", "--port", "--timeout"].contains(&a.as_ref()) {
            args.next();
        } else if !a.starts_with('-') {
            return a == "check";
        }
    }
    false
}

/// `ls [-l] [-h]`.
#[derive(Debug, Clone, clap::Args)]
#[command(disable_help_flag = true)]
pub struct LsArgs {
    /// Long listing: the size of each file, then its name.
    #[arg(short = 'l', long = "long")]
    pub long: bool,
    /// With -l, sizes like 1.5M instead of bytes.
    #[arg(short = 'h', long = "human-readable")]
    pub human: bool,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// `stat [-h] FILE...`.
#[derive(Debug, Clone, clap::Args)]
#[command(disable_help_flag = true)]
pub struct StatArgs {
    /// Files to look up.
    #[arg(required = true, value_name = "FILE", add = remote_names())]
    pub files: Vec<String>,
    /// Sizes like 1.5M instead of bytes.
    #[arg(short = 'h', long = "human-readable")]
    pub human: bool,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// `get FILE... [-o OUT | -O DIR] [-c] [-j N] [--raw] [--chunk SIZE] [--all]`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Downloads are written to NAME.part and renamed to NAME once complete and of \
the server's size; an interrupted download leaves the .part for -c.
SIZE takes a suffix: 512K, 8M, 1G are binary (KiB, MiB, GiB), as are 8MiB \
and 1GiB; 8MB and 1GB are decimal.")]
pub struct GetArgs {
    /// Files to download.
    #[arg(value_name = "FILE", required_unless_present = "all", add = remote_names())]
    pub files: Vec<String>,
    /// Download every file the server lists (mirror the server).
    #[arg(short = 'a', long, conflicts_with_all = ["files", "output"])]
    pub all: bool,
    /// Write the file here (one FILE only; an existing directory receives it
    /// under its own name).
    #[arg(short, long, value_name = "OUT", conflicts_with = "output_dir", value_hint = clap::ValueHint::AnyPath)]
    pub output: Option<PathBuf>,
    /// Write the files into this directory (created if missing).
    #[arg(short = 'O', long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub output_dir: Option<PathBuf>,
    /// Resume: keep what an interrupted download left in NAME.part.
    #[arg(short = 'c', long = "continue")]
    pub resume: bool,
    /// Connections per file, each fetching its own chunks.
    #[arg(
        short = 'j',
        long = "connections",
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u16).range(1..=64)
    )]
    pub connections: u16,
    /// Use the `raw` extension (unencoded bytes) instead of base64.
    #[arg(long)]
    pub raw: bool,
    /// Bytes asked for in one request [default: 16M; with -j N, smaller so
    /// that every connection gets a share, down to 256K].
    #[arg(long, value_name = "SIZE", value_parser = parse_chunk)]
    pub chunk: Option<u64>,
    /// Flush each file to disk before renaming it into place.
    #[arg(long)]
    pub fsync: bool,
    /// Skip a file whose destination exists (by default it is replaced,
    /// and the summary says so).
    #[arg(long)]
    pub no_clobber: bool,
}

/// `cat FILE [--offset N] [--size N]`.
#[derive(Debug, Clone, clap::Args)]
pub struct CatArgs {
    /// The file to print.
    #[arg(value_name = "FILE", add = remote_names())]
    pub file: String,
    /// First byte to print (suffixes as in `get --chunk`).
    #[arg(long, value_name = "N", default_value = "0", value_parser = size::parse)]
    pub offset: u64,
    /// How many bytes to print (default: to the end of the file).
    #[arg(long, value_name = "N", value_parser = size::parse)]
    pub size: Option<u64>,
    /// Use the `raw` extension instead of base64.
    #[arg(long)]
    pub raw: bool,
}

/// `send LINE...`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Each LINE is sent with CRLF appended; each response is printed exactly as it \
arrived, ending where hftp-proto's decoder says it ends. Without LINE \
arguments, lines are read from standard input. Sending stops after a fatal \
status (1xx) or quit, since the server then closes the connection.

Exit status: 0 once every line was answered, whatever the status codes; 2 \
when the server closed the connection with lines left unanswered; 3 when an \
answer was cut short, is not HFTP, or did not come within --timeout.

Examples:
  hftp-client send get_file_listing 'get_metadata notes.txt'
  hftp-client send -e 'get_file_listing\\n'          # a bare LF: 100 BAD EOL
  hftp-client send -en get_meta 'data notes.txt\\r\\n'   # one request, two writes")]
pub struct SendArgs {
    /// Request lines to send (default: read them from standard input).
    #[arg(value_name = "LINE")]
    pub lines: Vec<String>,
    /// Interpret escapes in LINE: \r \n \t \0 \\ \xHH.
    #[arg(short, long)]
    pub escapes: bool,
    /// Do not append CRLF to each LINE (with -e, write your own \r\n).
    #[arg(short = 'n', long)]
    pub no_crlf: bool,
    /// Send all lines in one write, then read every response (pipelining).
    #[arg(short = 'P', long)]
    pub pipeline: bool,
}

/// `completions SHELL`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
To load them (the shell then asks hftp-client at each Tab, so remote file \
names complete too, from the server named by -H/-p on the line, or \
HFTP_HOST/HFTP_PORT):
  bash:  echo 'source <(hftp-client completions bash)' >> ~/.bashrc
  zsh:   echo 'source <(hftp-client completions zsh)' >> ~/.zshrc   (after compinit)
  fish:  echo 'hftp-client completions fish | source' > ~/.config/fish/completions/hftp-client.fish
  elvish, PowerShell: evaluate the output in the shell's startup file.")]
pub struct CompletionsArgs {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// One line typed in `shell`: the command is the first word (clap's
/// multicall mode), with the options of the command-line subcommands.
#[derive(Debug, Parser)]
#[command(multicall = true, disable_help_subcommand = true)]
pub struct ShellLine {
    /// The command.
    #[command(subcommand)]
    pub command: ShellCommand,
}

/// The commands of `shell`.
#[derive(Debug, Subcommand)]
pub enum ShellCommand {
    /// List the files (-l: with sizes, -h: human-readable).
    Ls(LsArgs),
    /// Print the size of each file.
    Stat(StatArgs),
    /// Download files into the current directory (options as `hftp-client get`).
    Get(GetArgs),
    /// Write a file, or a byte range of it, to the screen.
    Cat(CatArgs),
    /// List these commands.
    Help,
    /// End the session.
    #[command(alias = "exit")]
    Quit,
}

/// Completes remote file names (see `completions`).
fn remote_names() -> clap_complete::engine::ArgValueCompleter {
    clap_complete::engine::ArgValueCompleter::new(crate::completions::remote_names)
}

/// `--timeout`: non-negative seconds, fractions allowed.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{text}' is not a usable timeout"))
}

/// `--chunk`: a size of at least one byte.
fn parse_chunk(text: &str) -> Result<u64, String> {
    match size::parse(text)? {
        0 => Err("the chunk size must be at least 1 byte".into()),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
        ShellLine::command().debug_assert();
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_timeout("0"), Ok(Duration::ZERO));
        assert!(parse_timeout("-1").is_err());
        assert!(parse_timeout("soon").is_err());
        assert!(parse_timeout("NaN").is_err());
    }
}
