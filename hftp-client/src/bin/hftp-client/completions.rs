//! Shell completion, by clap_complete's dynamic engine: the script that
//! `completions SHELL` prints registers `hftp-client` itself as the
//! completer, so every Tab runs `COMPLETE=SHELL hftp-client -- WORDS...`,
//! answered by [`answer`] from the clap definition (commands, options,
//! shells, local paths for `-o`/`-O`) and, for file arguments, from the
//! server named on the line being completed ([`remote_names`]).

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::CommandFactory;
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::Shells;
use clap_complete::{CompleteEnv, Shell};
use hftp_client::{Server, Timeouts};

use crate::args::Cli;
use crate::fail::Failure;
use crate::stdout;

/// The variable that asks the binary for completions.
const VAR: &str = "COMPLETE";

/// How long a Tab may wait for the server.
const PATIENCE: Duration = Duration::from_secs(1);

/// Answers a completion request and exits, when this run is one (`COMPLETE`
/// is set); otherwise returns at once. Runs before anything is written.
pub fn answer() {
    CompleteEnv::with_factory(Cli::command).var(VAR).complete();
}

/// `completions SHELL`: the registration script on standard output.
pub fn print(shell: Shell) -> Result<(), Failure> {
    let name = shell.to_string();
    let shells = Shells::builtins();
    let completer = shells
        .completer(&name)
        .ok_or_else(|| Failure::usage(format!("completions: {name} is not supported")))?;
    let mut script = Vec::new();
    completer
        .write_registration(
            VAR,
            "hftp-client",
            "hftp-client",
            &this_binary(),
            &mut script,
        )
        .map_err(|e| Failure::io("completions", &e))?;
    let mut out = stdout::Stdout::new();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::io("completions", &e))
}

/// The command the shell runs for each Tab: as this one was invoked (made
/// absolute when it was a relative path, `./target/release/hftp-client`),
/// or found on the `PATH` when it was a bare name.
fn this_binary() -> String {
    let invoked = PathBuf::from(std::env::args_os().next().unwrap_or_default());
    let path = match invoked.components().count() > 1 {
        true => std::env::current_dir()
            .map(|dir| dir.join(&invoked))
            .unwrap_or(invoked),
        false => invoked,
    };
    path.to_string_lossy().into_owned()
}

/// Remote file names starting with `current`, from the server that the
/// line being completed names (`-H`/`--host`, `-p`/`--port`, else
/// `HFTP_HOST`/`HFTP_PORT`, else the defaults). None, silently, when the
/// server cannot be reached within a second.
pub fn remote_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(prefix) = current.to_str() else {
        return Vec::new();
    };
    let (host, port) = server_on_line(&line_words());
    let address = match crate::connect::split_host(&host) {
        Ok((h, p)) if h.contains(':') => format!("[{h}]:{}", p.unwrap_or(port)),
        Ok((h, p)) => format!("{h}:{}", p.unwrap_or(port)),
        Err(_) => return Vec::new(),
    };
    let names = Server::new(address, Timeouts::uniform(Some(PATIENCE)))
        .and_then(|server| server.connect())
        .and_then(|mut client| {
            let names = client.list();
            let _ = client.quit();
            names
        });
    names
        .unwrap_or_default()
        .into_iter()
        .filter(|name| name.starts_with(prefix))
        .map(CompletionCandidate::new)
        .collect()
}

/// The words of the line being completed: what follows `--` in this
/// process's arguments (`hftp-client -- hftp-client -p 2121 get no`).
fn line_words() -> Vec<String> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let start = args
        .iter()
        .position(|a| a == "--")
        .map_or(args.len(), |i| i + 1);
    args[start..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// `-H`/`--host` and `-p`/`--port` among `words` (last one wins), in any
/// of the spellings clap accepts: `-p 2121`, `-p2121`, `--port 2121`,
/// `--port=2121`, and `--port = 2121` (bash splits words at `=`).
fn server_on_line(words: &[String]) -> (String, u16) {
    let mut host = std::env::var("HFTP_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let mut port = std::env::var("HFTP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(19500);
    let mut i = 0;
    while i < words.len() {
        let word = words[i].as_str();
        let (key, inline) = match word.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_owned())),
            _ if word.starts_with("-H") && word.len() > 2 => ("-H", Some(word[2..].to_owned())),
            _ if word.starts_with("-p") && word.len() > 2 => ("-p", Some(word[2..].to_owned())),
            _ => (word, None),
        };
        let value = |i: &mut usize| match inline.clone() {
            Some(v) if !v.is_empty() => Some(v),
            _ => {
                // `--port = 2121` as bash splits it, or `--port 2121`.
                let mut next = *i + 1;
                if words.get(next).map(String::as_str) == Some("=") {
                    next += 1;
                }
                *i = next;
                words.get(next).cloned()
            }
        };
        match key {
            "-H" | "--host" => {
                if let Some(v) = value(&mut i) {
                    host = v;
                }
            }
            "-p" | "--port" => {
                if let Some(v) = value(&mut i).and_then(|v| v.parse().ok()) {
                    port = v;
                }
            }
            _ => {}
        }
        i += 1;
    }
    (host, port)
}

#[cfg(test)]
mod tests {
    use super::server_on_line;

    fn on(line: &str) -> (String, u16) {
        let words: Vec<String> = line.split(' ').map(str::to_owned).collect();
        server_on_line(&words)
    }

    #[test]
    fn finds_the_server_in_every_spelling() {
        assert_eq!(on("hftp-client -p 2121 get no").1, 2121);
        assert_eq!(on("hftp-client -p2121 get no").1, 2121);
        assert_eq!(on("hftp-client get --port=2121 no").1, 2121);
        assert_eq!(on("hftp-client get --port = 2121 no").1, 2121);
        assert_eq!(on("hftp-client -H example.org get no").0, "example.org");
        assert_eq!(on("hftp-client --host=10.0.0.7:7 get").0, "10.0.0.7:7");
        assert_eq!(on("hftp-client -Hlocalhost get").0, "localhost");
        // A value not yet typed changes nothing.
        assert_eq!(on("hftp-client get -p").1, on("hftp-client get").1);
    }
}
