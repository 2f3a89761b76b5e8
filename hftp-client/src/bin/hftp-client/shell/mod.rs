//! `shell`: an interactive session on one connection. Lists the files on
//! connect, then reads commands (`ls`, `stat`, `get`, `cat`, `help`,
//! `quit`) with rustyline — history in `~/.hftp_history`, tab completion
//! of commands and file names — or, when standard input is not a
//! terminal, line by line without prompts, greeting or listing, so that
//! it can be scripted. Lines are split with shell rules (`shlex`:
//! `stat 'with space.txt'`), a paste of several lines runs each, a
//! connection the server closed while idle is replaced before the next
//! command, and Ctrl-C cancels the running command only (`interrupt`).

use std::cell::RefCell;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::rc::Rc;

use clap::{CommandFactory, Parser};
use hftp_client::Client;
use rustyline::completion::FilenameCompleter;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Config, Editor};

use crate::args::{Global, ShellCommand, ShellLine};
use crate::fail::{self, Failure, Worst, FAILED};
use crate::stdout::Stdout;
use crate::{cat, connect, get, interrupt, ls, stat};

mod complete;

use complete::ShellHelper;

/// Runs the session. Exit status: the worst of the failed commands (0 if
/// none failed), so that a script piped in can be checked.
pub fn run(global: &Global) -> Result<(), Failure> {
    let names = Rc::new(RefCell::new(Vec::new()));
    let mut input = Input::new(Rc::clone(&names));
    let mut client = connect::client(global)?;
    let listed = client
        .list()
        .map_err(|e| Failure::from_error("shell: ls", &e))?;
    if input.interactive() && !global.quiet {
        greet(&format!(
            "connected to {}: {} file{}; type help for the commands",
            connect::address(global),
            listed.len(),
            if listed.len() == 1 { "" } else { "s" }
        ));
    }
    // A script gets only the output of its commands.
    if input.interactive() {
        print_names(&listed)?;
    }
    *names.borrow_mut() = listed;

    let mut client = Some(client);
    let mut worst = Worst::default();
    let mut pending: std::collections::VecDeque<String> = Default::default();
    loop {
        // A paste of several lines arrives as one: each runs in turn.
        let line = match pending.pop_front() {
            Some(line) => line,
            None => match input.read() {
                None => break,
                Some(text) => {
                    let text = text.map_err(|e| Failure::io("shell: reading commands", &e))?;
                    pending.extend(text.lines().map(str::to_owned));
                    continue;
                }
            },
        };
        let Some(words) = shlex::split(&line) else {
            worst.report(&Failure::usage(
                "shell: unbalanced quotes (quote a name with spaces as 'like this')",
            ));
            continue;
        };
        if words.is_empty() || words[0].starts_with('#') {
            continue;
        }
        let command = match ShellLine::try_parse_from(&words) {
            Ok(parsed) => parsed.command,
            Err(e) if !e.use_stderr() => {
                let _ = e.print();
                continue;
            }
            Err(e) => {
                let failure = Failure::usage(fail::clap_line(&e, "help"));
                worst.report(&failure);
                continue;
            }
        };
        if matches!(command, ShellCommand::Quit) {
            break;
        }
        if matches!(command, ShellCommand::Help) {
            help()?;
            continue;
        }
        // The server may have closed the connection while it was idle
        // (its idle timeout): a new one, before the command fails on it.
        if client.as_mut().is_some_and(closed_while_idle) {
            client = None;
        }
        // Reconnect after a connection failure.
        let session = match &mut client {
            Some(session) => session,
            None => match connect::client(global) {
                Ok(fresh) => client.insert(fresh),
                Err(failure) => {
                    worst.report(&failure);
                    continue;
                }
            },
        };
        let armed = interrupt::arm(session.connection().get_ref().tcp());
        let result = execute(session, global, &command, &names);
        drop(armed);
        if interrupt::interrupted() {
            // Ctrl-C: the command stopped, its connection was shut down.
            client = None;
            match result {
                // Done before Ctrl-C took effect, or `get` said so itself,
                // with how to resume.
                Ok(()) => {}
                Err(failure) if failure.code() == interrupt::EXIT => {}
                Err(_) => fail::eprint_line(format!("{}: interrupted", words[0])),
            }
            continue;
        }
        if let Err(failure) = result {
            if failure.code() == 0 {
                // Standard output was closed: nobody is listening.
                break;
            }
            worst.report(&failure);
            if failure.code() == FAILED {
                client = None;
            }
        }
    }
    input.save_history();
    if let Some(client) = client {
        let _ = client.quit();
    }
    worst.result()
}

/// Whether the server closed `client`'s connection, or sent something
/// unasked, while no request was in flight: a look at the socket that
/// does not wait.
fn closed_while_idle(client: &mut Client) -> bool {
    let stream = client.connection().get_ref();
    // Over TLS the server may send records unasked (session tickets):
    // only the end of the stream counts there.
    let tls = stream.is_tls();
    let socket = stream.tcp();
    if socket.set_nonblocking(true).is_err() {
        return false;
    }
    let looked = socket.peek(&mut [0u8; 1]);
    let _ = socket.set_nonblocking(false);
    match looked {
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        // End of stream (closed), or bytes nobody asked for.
        Ok(n) => n == 0 || !tls,
    }
}

/// Runs one command on the connection.
fn execute(
    client: &mut Client,
    global: &Global,
    command: &ShellCommand,
    names: &RefCell<Vec<String>>,
) -> Result<(), Failure> {
    match command {
        ShellCommand::Ls(args) => {
            let listed = client.list().map_err(|e| Failure::from_error("ls", &e))?;
            *names.borrow_mut() = listed.clone();
            ls::print(client, listed, args)
        }
        ShellCommand::Stat(args) => stat::run(client, args),
        ShellCommand::Get(args) => get::run(client, global, args),
        ShellCommand::Cat(args) => {
            cat::run(client, args)?;
            // Keep the prompt on its own line after text without one.
            if io::stdout().is_terminal() {
                let _ = writeln!(io::stdout());
            }
            Ok(())
        }
        ShellCommand::Help | ShellCommand::Quit => Ok(()),
    }
}

fn print_names(names: &[String]) -> Result<(), Failure> {
    let mut out = Stdout::new();
    for name in names {
        writeln!(out, "{name}").map_err(|e| Failure::io("shell", &e))?;
    }
    out.flush().map_err(|e| Failure::io("shell", &e))
}

/// `help`: each command and what it does.
fn help() -> Result<(), Failure> {
    let mut out = Stdout::new();
    let line = ShellLine::command();
    let commands: Vec<_> = line.get_subcommands().collect();
    let width = commands
        .iter()
        .map(|c| c.get_name().len())
        .max()
        .unwrap_or(0);
    for command in commands {
        let about = command
            .get_about()
            .map(|a| a.to_string())
            .unwrap_or_default();
        writeln!(out, "  {:width$}  {about}", command.get_name())
            .map_err(|e| Failure::io("help", &e))?;
    }
    writeln!(out, "Each command takes --help, e.g. `get --help`.")
        .map_err(|e| Failure::io("help", &e))?;
    out.flush().map_err(|e| Failure::io("help", &e))
}

/// A line for the person at the terminal (not an error: no prefix).
fn greet(line: &str) {
    let _ = writeln!(io::stderr(), "{line}");
}

/// Where commands come from.
enum Input {
    /// A terminal: line editing, history, completion.
    Editor(Box<Editor<ShellHelper, DefaultHistory>>),
    /// A pipe or a file: plain lines.
    Lines(io::StdinLock<'static>),
}

impl Input {
    fn new(names: Rc<RefCell<Vec<String>>>) -> Self {
        if !io::stdin().is_terminal() {
            return Input::Lines(io::stdin().lock());
        }
        let config = Config::builder()
            .auto_add_history(true)
            .completion_type(CompletionType::List)
            .max_history_size(1000)
            .map(|builder| builder.build())
            .unwrap_or_default();
        match Editor::with_config(config) {
            Ok(mut editor) => {
                editor.set_helper(Some(ShellHelper {
                    names,
                    paths: FilenameCompleter::new(),
                }));
                if let Some(path) = history_path() {
                    let _ = editor.load_history(&path);
                }
                Input::Editor(Box::new(editor))
            }
            // A terminal rustyline cannot drive: plain lines still work.
            Err(_) => Input::Lines(io::stdin().lock()),
        }
    }

    fn interactive(&self) -> bool {
        matches!(self, Input::Editor(_))
    }

    /// The next command line; `None` at the end of input.
    fn read(&mut self) -> Option<io::Result<String>> {
        match self {
            Input::Lines(stdin) => {
                let mut line = String::new();
                match stdin.read_line(&mut line) {
                    Ok(0) => None,
                    Ok(_) => Some(Ok(line)),
                    Err(e) => Some(Err(e)),
                }
            }
            Input::Editor(editor) => loop {
                match editor.readline("hftp> ") {
                    Ok(line) => return Some(Ok(line)),
                    // Ctrl-C abandons the line, as in a shell.
                    Err(ReadlineError::Interrupted) => continue,
                    Err(ReadlineError::Eof) => return None,
                    Err(ReadlineError::Io(e)) => return Some(Err(e)),
                    Err(e) => return Some(Err(io::Error::other(e))),
                }
            },
        }
    }

    fn save_history(&mut self) {
        if let (Input::Editor(editor), Some(path)) = (self, history_path()) {
            let _ = editor.save_history(&path);
        }
    }
}

/// `$HOME/.hftp_history`.
fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| PathBuf::from(home).join(".hftp_history"))
}
