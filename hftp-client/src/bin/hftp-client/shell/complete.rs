//! Tab completion in the shell: command names first, then for `stat`,
//! `get` and `cat` the file names last listed, their options (from the
//! clap definition), and local paths after `-o`/`-O`.

use std::cell::RefCell;
use std::rc::Rc;

use clap::CommandFactory;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use crate::args::ShellLine;

/// Commands that take file names, for completion.
const FILE_COMMANDS: [&str; 3] = ["stat", "get", "cat"];

/// Options whose value is a local path.
const PATH_OPTIONS: [&str; 4] = ["-o", "--output", "-O", "--output-dir"];

/// Tab completion: command names first, then file names after `stat`,
/// `get` and `cat`.
pub struct ShellHelper {
    /// The file names the server listed last.
    pub names: Rc<RefCell<Vec<String>>>,
    /// Local paths, after `-o` and `-O`.
    pub paths: FilenameCompleter,
}

impl ShellHelper {
    /// Where the word being completed starts, and its candidates (for
    /// everything but local paths).
    fn candidates(&self, line: &str) -> (usize, Vec<String>) {
        let start = line.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &line[start..];
        let first = line.split_whitespace().next().unwrap_or_default();
        let found = if line[..start].trim().is_empty() {
            ShellLine::command()
                .get_subcommands()
                .flat_map(|c| {
                    std::iter::once(c.get_name().to_owned())
                        .chain(c.get_all_aliases().map(str::to_owned))
                })
                .filter(|name| name.starts_with(word))
                .collect()
        } else if word.starts_with('-') {
            options(first)
                .into_iter()
                .filter(|option| option.starts_with(word))
                .collect()
        } else if FILE_COMMANDS.contains(&first) {
            self.names
                .borrow()
                .iter()
                .filter(|name| name.starts_with(word))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        (start, found)
    }
}

/// The options of shell command `name`: `--long` names, then `-s` ones.
fn options(name: &str) -> Vec<String> {
    let line = ShellLine::command();
    let Some(command) = line.get_subcommands().find(|c| c.get_name() == name) else {
        return Vec::new();
    };
    let args: Vec<_> = command
        .get_arguments()
        .filter(|a| !a.is_positional())
        .collect();
    let long = args
        .iter()
        .filter_map(|a| a.get_long())
        .map(|l| format!("--{l}"));
    let short = args
        .iter()
        .filter_map(|a| a.get_short())
        .map(|s| format!("-{s}"));
    long.chain(short).collect()
}

/// Whether the word before the one being completed takes a local path.
fn after_path_option(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    let previous = match line.ends_with(char::is_whitespace) {
        true => words.last(),
        false => words.len().checked_sub(2).and_then(|i| words.get(i)),
    };
    previous.is_some_and(|w| PATH_OPTIONS.contains(w))
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        if after_path_option(&line[..pos]) {
            return self.paths.complete(line, pos, ctx);
        }
        let (start, found) = self.candidates(&line[..pos]);
        let pairs = found
            .into_iter()
            .map(|name| Pair {
                display: name.clone(),
                replacement: format!("{name} "),
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> ShellHelper {
        let names = vec![
            "notes.txt".to_owned(),
            "photo.jpg".to_owned(),
            "nuts".to_owned(),
        ];
        ShellHelper {
            names: Rc::new(RefCell::new(names)),
            paths: FilenameCompleter::new(),
        }
    }

    #[test]
    fn completes_commands_then_files() {
        let h = helper();
        assert_eq!(h.candidates("g"), (0, vec!["get".to_owned()]));
        assert_eq!(h.candidates("  st"), (2, vec!["stat".to_owned()]));
        assert_eq!(h.candidates("e"), (0, vec!["exit".to_owned()]));
        assert_eq!(
            h.candidates("get n"),
            (4, vec!["notes.txt".to_owned(), "nuts".to_owned()])
        );
        assert_eq!(
            h.candidates("get notes.txt p"),
            (14, vec!["photo.jpg".to_owned()])
        );
        assert_eq!(h.candidates("ls n"), (3, vec![]));
    }

    #[test]
    fn completes_options_and_knows_when_a_path_is_wanted() {
        let h = helper();
        let (start, found) = h.candidates("get --con");
        assert_eq!(start, 4);
        assert_eq!(found, ["--continue", "--connections"]);
        assert_eq!(h.candidates("ls --l").1, ["--long"]);
        assert!(h.candidates("get -").1.contains(&"-O".to_owned()));
        assert!(after_path_option("get notes.txt -o "));
        assert!(after_path_option("get -O mir"));
        assert!(!after_path_option("get -c no"));
        assert!(!after_path_option("get -o x "));
        assert_eq!(h.candidates("ls n"), (3, vec![]));
    }
}
