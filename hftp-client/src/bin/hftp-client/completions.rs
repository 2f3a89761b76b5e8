//! Shell completions, by clap_complete's dynamic engine: the script that
//! `completions SHELL` prints registers `hftp-client` itself as the
//! completer, and the shell runs `COMPLETE=SHELL hftp-client -- WORDS...`
//! for every Tab; [`answer_if_asked`] answers that before anything else
//! runs. File names come from the server the line being completed names
//! ([`remote_names`]).

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use clap_complete::env::Shells;
use clap_complete::{CompleteEnv, CompletionCandidate, Shell};
use hftp_client::Timeouts;

use crate::args::{Cli, Global};
use crate::fail::{self, Failure};
use crate::{connect, stdout};

/// The environment variable that asks for completions.
const VAR: &str = "COMPLETE";

/// How long a Tab may wait for the server: to connect, and for the listing.
const PATIENCE: Duration = Duration::from_secs(1);

/// When the shell asks (`COMPLETE=SHELL hftp-client -- WORDS...`): prints
/// the candidates and returns the exit code; `None` for an ordinary run.
/// A Tab that finds nothing to complete ends quietly (a message would land
/// in the middle of the command line); a `COMPLETE` naming no shell we
/// know is a usage error.
pub fn answer_if_asked() -> Option<ExitCode> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let tab = args.iter().any(|arg| arg == "--");
    // Read first: clap_complete removes it.
    let shell = std::env::var_os(VAR).unwrap_or_default();
    let dir = std::env::current_dir().ok();
    match CompleteEnv::with_factory(Cli::command)
        .var(VAR)
        .try_complete(args, dir.as_deref())
    {
        Ok(false) => None,
        Ok(true) => Some(ExitCode::SUCCESS),
        Err(_) if tab => Some(ExitCode::from(fail::USAGE)),
        Err(e) => Some(Failure::usage(not_completed(&shell, &e)).report()),
    }
}

/// Why `COMPLETE=value` printed nothing: usually a shell we do not know.
fn not_completed(value: &OsStr, e: &clap::Error) -> String {
    let path = std::path::Path::new(value);
    let stem = path
        .file_stem()
        .unwrap_or(path.as_os_str())
        .to_string_lossy();
    let shells = Shells::builtins();
    match shells.completer(&stem) {
        Some(_) => format!("{VAR}: {}", fail::clap_line(e, "completions --help")),
        None => {
            let mut names: Vec<_> = shells.names().collect();
            let last = names.pop().unwrap_or_default();
            format!(
                "{VAR}={}: unknown shell ({} or {last})",
                value.to_string_lossy(),
                names.join(", ")
            )
        }
    }
}

/// `completions SHELL`: the registration script on standard output, as
/// `COMPLETE=SHELL hftp-client` prints it.
pub fn run(shell: Shell) -> Result<(), Failure> {
    let name = shell.to_string();
    let shells = Shells::builtins();
    let Some(completer) = shells.completer(&name) else {
        return Err(Failure::usage(format!(
            "completions: no completions for {name}"
        )));
    };
    let mut script = Vec::new();
    let bin = Cli::command().get_name().to_owned();
    completer
        .write_registration(VAR, &bin, &bin, &program(), &mut script)
        .map_err(|e| Failure::io("completions", &e))?;
    let mut out = stdout::Stdout::new();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::io("completions", &e))
}

/// How the script calls this program: as it was called, a relative path
/// made absolute (`./target/debug/hftp-client`), a bare name left to the
/// shell's PATH — what `CompleteEnv` does.
fn program() -> String {
    let arg0 = std::env::args_os()
        .next()
        .unwrap_or_else(|| OsString::from("hftp-client"));
    let mut path = std::path::PathBuf::from(arg0);
    if path.components().count() > 1 {
        if let Ok(dir) = std::env::current_dir() {
            path = dir.join(path);
        }
    }
    path.to_string_lossy().into_owned()
}

/// Completes a remote file name: the names the server lists that start
/// with `current`. The server is the one the words being completed name
/// (`-H`/`--host`, `-p`/`--port`, with `HFTP_HOST`, `HFTP_PORT` and the
/// defaults behind them); one that does not answer within a second gives
/// no candidates, and no message.
pub fn remote_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(prefix) = current.to_str() else {
        return Vec::new();
    };
    // No server named that can be used (a bad HFTP_PORT, say): nothing.
    let Some(global) = server_named(words()) else {
        return Vec::new();
    };
    let timeouts = Timeouts {
        connect: Some(PATIENCE),
        read: Some(PATIENCE),
        write: Some(PATIENCE),
        operation: Some(PATIENCE),
    };
    let Ok(mut client) = connect::server_with(&global, timeouts)
        .and_then(|s| s.connect().map_err(|e| connect::failure(&global, &e)))
    else {
        return Vec::new();
    };
    let names = client.list().unwrap_or_default();
    let _ = client.quit();
    names
        .into_iter()
        .filter(|name| name.starts_with(prefix))
        .map(CompletionCandidate::new)
        .collect()
}

/// The words of the command line being completed: what the shell passes
/// after `--`, the program's name first.
fn words() -> Vec<OsString> {
    std::env::args_os()
        .skip_while(|arg| arg != "--")
        .skip(1)
        .collect()
}

/// The global options `words` give, parsed by clap as far as they go (the
/// line is unfinished); bash's words split `--port=N` into `--port`, `=`
/// and `N`, which are joined again first.
fn server_named(words: Vec<OsString>) -> Option<Global> {
    let mut joined: Vec<OsString> = Vec::with_capacity(words.len());
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let after_option = joined
            .last()
            .and_then(|w| w.to_str())
            .is_some_and(|w| w.starts_with("--") && !w.contains('='));
        match (word == "=" && after_option, joined.last_mut()) {
            (true, Some(last)) => {
                last.push("=");
                if let Some(value) = words.next() {
                    last.push(value);
                }
            }
            _ => joined.push(word),
        }
    }
    let matches = Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(joined)
        .ok();
    matches
        .and_then(|m| Global::from_arg_matches(&m).ok())
        .or_else(defaults)
}

/// The global options of a command line that names none; `None` when
/// even those are unusable (`HFTP_PORT=abc`, say).
fn defaults() -> Option<Global> {
    Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(["hftp-client"])
        .ok()
        .and_then(|m| Global::from_arg_matches(&m).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(words: &[&str]) -> (String, u16) {
        let global = server_named(words.iter().map(OsString::from).collect()).unwrap();
        {
            let port = global.port();
            (global.host, port)
        }
    }

    #[test]
    fn the_line_names_the_server() {
        assert_eq!(
            named(&["hftp-client", "-H", "h", "-p", "7", "get", "no"]),
            ("h".into(), 7)
        );
        assert_eq!(
            named(&["hftp-client", "get", "--host=h", "--port", "7", "no"]),
            ("h".into(), 7)
        );
        assert_eq!(
            named(&["hftp-client", "-Hh", "stat", "-p7", ""]),
            ("h".into(), 7)
        );
    }

    #[test]
    fn bash_words_split_at_equals_signs() {
        assert_eq!(
            named(&[
                "hftp-client",
                "--host",
                "=",
                "h",
                "cat",
                "--port",
                "=",
                "7",
                "n"
            ]),
            ("h".into(), 7)
        );
    }

    #[test]
    fn an_unfinished_line_falls_back_to_the_defaults() {
        assert_eq!(named(&["hftp-client", "-p"]).1, 19500);
        assert_eq!(named(&["hftp-client", "-p", "many", "get", ""]).1, 19500);
        assert_eq!(
            named(&["hftp-client", "get", ""]),
            ("127.0.0.1".into(), 19500)
        );
    }
}
