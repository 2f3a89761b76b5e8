//! Shell completions as a person meets them: bash, zsh and fish in a
//! terminal, the script of `hftp-client completions SHELL` loaded the way
//! the help says, Tab pressed, and the screen read.
//!
//! Each test types a command line with Tabs in it, then Ctrl-A and `echo `
//! in front of it and Enter: the shell prints the line as completion left
//! it, a row of its own that the typed line (behind the prompt) cannot
//! be mistaken for. A shell that is not installed skips its tests with a
//! note on standard error.

use std::path::Path;

use super::*;

/// The shells, and how to start each one bare: no startup files, a `$ `
/// prompt, emacs keys, no suggestions of its own.
#[derive(Clone, Copy, Debug)]
enum Sh {
    Bash,
    Zsh,
    Fish,
}

impl Sh {
    fn name(self) -> &'static str {
        match self {
            Sh::Bash => "bash",
            Sh::Zsh => "zsh",
            Sh::Fish => "fish",
        }
    }

    /// The arguments that start the shell interactive and bare.
    fn args(self) -> &'static [&'static str] {
        match self {
            Sh::Bash => &["--norc", "--noprofile", "-i"],
            Sh::Zsh => &["-f", "-i"],
            Sh::Fish => &[
                "--no-config",
                "-i",
                "-C",
                "function fish_prompt; echo -n '$ '; end; set -g fish_autosuggestion_enabled 0",
            ],
        }
    }

    /// The line that loads the completions, as `completions --help` says.
    fn setup(self) -> &'static str {
        match self {
            Sh::Bash => "source <(hftp-client completions bash)",
            Sh::Zsh => {
                "bindkey -e; autoload -U compinit && compinit -u; \
                 source <(hftp-client completions zsh)"
            }
            Sh::Fish => "hftp-client completions fish | source",
        }
    }
}

/// Whether `program` is on the PATH.
fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// `shell` in a terminal in `dir`, with `hftp-client` on its PATH and its
/// completions loaded; `None` (and a note) when the shell is missing.
fn start(shell: Sh, dir: &Path) -> Option<Terminal> {
    if !installed(shell.name()) {
        eprintln!(
            "skipped: {} is not installed (CI installs it)",
            shell.name()
        );
        return None;
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_hftp-client"))
        .parent()
        .unwrap()
        .to_owned();
    let mut path = vec![bin];
    path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap()));
    let mut cmd = command(shell.name(), shell.args(), dir);
    cmd.env("PATH", std::env::join_paths(path).unwrap());
    cmd.env("PS1", "$ ");
    cmd.env_remove("PROMPT_COMMAND");
    let mut term = Terminal::spawn(cmd);
    term.line(shell.setup());
    // Quoted, so that only the output is a row of its own.
    term.line("echo RE''ADY");
    term.wait_until("the completions to load", |s| {
        s.lines().any(|r| r == "READY")
    });
    Some(term)
}

/// The rows below the row `READY`: what the test's own typing made.
fn since_ready(screen: &str) -> Vec<&str> {
    let rows: Vec<&str> = screen.lines().collect();
    let at = rows
        .iter()
        .rposition(|r| *r == "READY")
        .unwrap_or_else(|| panic!("READY is gone:\n{screen}"));
    rows[at + 1..].to_vec()
}

/// Types `keys` (Tabs and all), then echoes the line completion left and
/// waits for the next prompt: returns that line.
fn completed(term: &mut Terminal, keys: &str) -> String {
    term.send(keys);
    term.send("\x01echo \r");
    let echoed = |s: &str| -> Option<String> {
        let rows = since_ready(s);
        let at = rows.iter().position(|r| r.starts_with("hftp-client"))?;
        let prompt = rows.get(at + 1)?;
        prompt.starts_with('$').then(|| rows[at].to_owned())
    };
    let screen = term.wait_until("the echoed line and a prompt", |s| echoed(s).is_some());
    echoed(&screen).unwrap()
}

/// Types `keys` (ending in Tabs) and waits for every one of `shown` to
/// appear below the command line: a list of candidates.
fn listed(term: &mut Terminal, keys: &str, shown: &[&str]) -> String {
    term.send(keys);
    term.wait_until(&format!("{shown:?} listed"), |s| {
        // The first row is the command line.
        let below = since_ready(s)
            .iter()
            .skip(1)
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        shown.iter().all(|word| below.contains(word))
    })
}

/// `hftp-client -p PORT get no<Tab>` completes `notes.txt`, a name only
/// the server knows.
fn completes_remote_names(shell: Sh) {
    let served = Served::standard();
    let dir = tempfile::tempdir().unwrap();
    let Some(mut term) = start(shell, dir.path()) else {
        return;
    };
    let port = served.port();
    let line = completed(&mut term, &format!("hftp-client -p {port} get no\t"));
    assert_eq!(
        line.trim_end(),
        format!("hftp-client -p {port} get notes.txt"),
        "{}",
        term.screen()
    );
}

#[test]
fn bash_completes_remote_file_names() {
    completes_remote_names(Sh::Bash);
}

#[test]
fn zsh_completes_remote_file_names() {
    completes_remote_names(Sh::Zsh);
}

#[test]
fn fish_completes_remote_file_names() {
    completes_remote_names(Sh::Fish);
}

/// `--host=H` and `--port=P` (bash splits these words at `=`), after the
/// subcommand, for `stat` and `cat`.
fn completes_with_the_server_named_anywhere(shell: Sh) {
    let served = Served::new(&[("alpha.txt", b"a"), ("beta.bin", b"bb")]);
    let dir = tempfile::tempdir().unwrap();
    let Some(mut term) = start(shell, dir.path()) else {
        return;
    };
    let port = served.port();
    let line = completed(
        &mut term,
        &format!("hftp-client --host=127.0.0.1 stat --port={port} al\t"),
    );
    assert_eq!(
        line.trim_end(),
        format!("hftp-client --host=127.0.0.1 stat --port={port} alpha.txt"),
        "{}",
        term.screen()
    );
}

#[test]
fn bash_asks_the_server_named_with_equals_signs() {
    completes_with_the_server_named_anywhere(Sh::Bash);
}

#[test]
fn zsh_asks_the_server_named_with_equals_signs() {
    completes_with_the_server_named_anywhere(Sh::Zsh);
}

#[test]
fn fish_asks_the_server_named_with_equals_signs() {
    completes_with_the_server_named_anywhere(Sh::Fish);
}

/// With nothing listening, Tab completes nothing and prints nothing.
fn is_quiet_without_a_server(shell: Sh) {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut term) = start(shell, dir.path()) else {
        return;
    };
    let port = common::closed_port();
    let line = completed(&mut term, &format!("hftp-client -p {port} cat no\t\t"));
    assert_eq!(
        line.trim_end(),
        format!("hftp-client -p {port} cat no"),
        "{}",
        term.screen()
    );
    let screen = term.screen();
    assert_eq!(
        since_ready(&screen).len(),
        3,
        "the command line, the echo, a prompt and nothing else:\n{screen}"
    );
}

#[test]
fn bash_is_quiet_without_a_server() {
    is_quiet_without_a_server(Sh::Bash);
}

#[test]
fn zsh_is_quiet_without_a_server() {
    is_quiet_without_a_server(Sh::Zsh);
}

#[test]
fn fish_is_quiet_without_a_server() {
    is_quiet_without_a_server(Sh::Fish);
}

/// Options of a subcommand: `get --con<Tab>` offers `--continue` and
/// `--connections` (bash completed nothing after a subcommand: clap's
/// script tested the wrong state name for a hyphenated binary).
fn completes_options_after_a_subcommand(shell: Sh) {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut term) = start(shell, dir.path()) else {
        return;
    };
    listed(
        &mut term,
        "hftp-client get --con\t\t",
        &["--continue", "--connections"],
    );
    term.send("\x15");
    let line = completed(&mut term, "hftp-client get --conn\t");
    assert_eq!(line.trim_end(), "hftp-client get --connections");
}

#[test]
fn bash_completes_options_after_a_subcommand() {
    completes_options_after_a_subcommand(Sh::Bash);
}

#[test]
fn zsh_completes_options_after_a_subcommand() {
    completes_options_after_a_subcommand(Sh::Zsh);
}

#[test]
fn fish_completes_options_after_a_subcommand() {
    completes_options_after_a_subcommand(Sh::Fish);
}

/// `completions <Tab>` offers the shells (fish offered local files).
fn completes_shell_names(shell: Sh) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("local-file"), "").unwrap();
    let Some(mut term) = start(shell, dir.path()) else {
        return;
    };
    let screen = listed(
        &mut term,
        "hftp-client completions \t\t",
        &["bash", "fish", "zsh", "powershell"],
    );
    assert!(
        !since_ready(&screen)
            .iter()
            .any(|r| r.contains("local-file")),
        "{screen}"
    );
    term.send("\x15");
    let line = completed(&mut term, "hftp-client completions zs\t");
    assert_eq!(line.trim_end(), "hftp-client completions zsh");
}

#[test]
fn bash_completes_shell_names() {
    completes_shell_names(Sh::Bash);
}

#[test]
fn zsh_completes_shell_names() {
    completes_shell_names(Sh::Zsh);
}

#[test]
fn fish_completes_shell_names() {
    completes_shell_names(Sh::Fish);
}

/// Local paths for `-O`: a directory of the working directory.
fn completes_local_directories(shell: Sh) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("mirror")).unwrap();
    let Some(mut term) = start(shell, dir.path()) else {
        return;
    };
    let line = completed(&mut term, "hftp-client get --all -O mir\t");
    assert!(
        line.trim_end() == "hftp-client get --all -O mirror/"
            || line.trim_end() == "hftp-client get --all -O mirror",
        "{line:?}\n{}",
        term.screen()
    );
}

#[test]
fn bash_completes_local_directories() {
    completes_local_directories(Sh::Bash);
}

#[test]
fn zsh_completes_local_directories() {
    completes_local_directories(Sh::Zsh);
}

#[test]
fn fish_completes_local_directories() {
    completes_local_directories(Sh::Fish);
}

/// `COMPLETE=tcsh hftp-client`: one line that names the variable.
#[test]
fn an_unknown_shell_to_complete_for_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(env!("CARGO_BIN_EXE_hftp-client"), &[], dir.path());
    cmd.env("COMPLETE", "tcsh");
    let (code, screen) = Terminal::spawn(cmd).wait_exit();
    assert_eq!(code, 1, "{screen}");
    assert_eq!(
        screen,
        "hftp-client: COMPLETE=tcsh: unknown shell (bash, elvish, fish, powershell or zsh)"
    );
}

/// `completions --help` says how to install the script in each shell, on
/// one line each.
#[test]
fn completions_help_says_how_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let mut term = client(
        common::closed_port(),
        dir.path(),
        &["completions", "--help"],
    );
    let (code, screen) = term.wait_exit();
    assert_eq!(code, 0, "{screen}");
    let history = term.history();
    for line in [
        "bash:  echo 'source <(hftp-client completions bash)' >> ~/.bashrc",
        "zsh:   echo 'source <(hftp-client completions zsh)' >> ~/.zshrc",
        "fish:  echo 'hftp-client completions fish | source' > ~/.config/fish/completions/hftp-client.fish",
    ] {
        assert!(history.lines().any(|r| r.trim_start().starts_with(line)), "{line}\n{history}");
    }
}
