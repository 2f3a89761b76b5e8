//! `hftp-client check`'s command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use super::model::Tier;

/// Shown at the end of `check --help`.
pub const AFTER_HELP: &str = "\
Examples:
  hftp-client check 127.0.0.1:19500                 cases that need no files
  hftp-client check 127.0.0.1:19500 --dir served/   all but the memory cases
  hftp-client check --server 'python3 server.py -p {port} -d {dir}'
  hftp-client check --targets class.toml --html report.html

Exit codes:
  0  no case failed
  1  a case failed
  2  the check could not run (bad arguments, the server would not start)";

/// Check that an HFTP server follows docs/PROTOCOL.md; grade a class.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct CheckArgs {
    /// The server to check: HOST:PORT (default: -H and -p).
    #[arg(value_name = "HOST:PORT", conflicts_with_all = ["server", "targets"])]
    pub address: Option<String>,
    /// The directory that server publishes: fixtures are written there
    /// (named hftpcheck-*) and removed after.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["server", "targets"])]
    pub dir: Option<PathBuf>,
    /// Start the server with this command ({port} and {dir} are filled
    /// in), check it and stop it.
    #[arg(long, value_name = "CMD", conflicts_with = "targets")]
    pub server: Option<String>,
    /// Grade every target of a TOML file (see the README).
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// List the cases and exit.
    #[arg(long)]
    pub list: bool,
    /// Run only the cases with this ID or ID prefix (repeatable).
    #[arg(long, value_name = "ID", action = clap::ArgAction::Append)]
    pub only: Vec<String>,
    /// Leave out the cases with this ID or ID prefix (repeatable).
    #[arg(long, value_name = "ID", action = clap::ArgAction::Append)]
    pub skip: Vec<String>,
    /// Run only cases of these tiers (repeatable; default all).
    #[arg(long, value_enum, action = clap::ArgAction::Append)]
    pub tier: Vec<TierArg>,
    /// Seconds each case may take (cases that need longer say so).
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = secs)]
    pub case_timeout: Duration,
    /// Cases run at once where they cannot disturb each other; with
    /// --targets, targets checked at once.
    #[arg(short = 'j', long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// The server's idle timeout, to check it.
    #[arg(long, value_name = "SECS", value_parser = secs)]
    pub idle_timeout: Option<Duration>,
    /// The server's request deadline, to check it.
    #[arg(long, value_name = "SECS", value_parser = secs)]
    pub request_timeout: Option<Duration>,
    /// Seconds a started server has to accept its first connection.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = secs)]
    pub start_timeout: Duration,
    /// Seconds each target may take in all (0: no limit).
    #[arg(long, value_name = "SECS", default_value = "600", value_parser = secs)]
    pub time_limit: Duration,
    /// Write the results as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the results as JUnit XML (for CI).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Gradescope results.json.
    #[arg(long, value_name = "FILE")]
    pub gradescope: Option<PathBuf>,
    /// Points per case ID or ID prefix for --gradescope (TOML).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Write one self-contained HTML report.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// With --targets: where each target's JSON and summary.csv go.
    #[arg(long, value_name = "DIR", default_value = "check-results")]
    pub out: PathBuf,
    /// Colour: auto (on a terminal), always, never.
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
}

/// `--tier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TierArg {
    Course,
    Strict,
    Robust,
}

impl TierArg {
    pub fn tier(self) -> Tier {
        match self {
            TierArg::Course => Tier::Course,
            TierArg::Strict => Tier::Strict,
            TierArg::Robust => Tier::Robust,
        }
    }
}

fn secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.0..=86_400.0).contains(&v) {
        return Err(format!("{s} is out of range (0 to 86400 seconds)"));
    }
    Ok(Duration::from_secs_f64(v))
}
