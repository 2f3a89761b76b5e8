//! The command line as a person meets it: `hftp-client` in a
//! pseudo-terminal (100×30), checked by the final screen a VT100 parser
//! makes of its output — what is left after bars are drawn and cleared,
//! prompts redrawn and lines erased.

mod common;
#[path = "common/terminal.rs"]
mod terminal;

// One file per part of the interface.
#[path = "terminal/completions.rs"]
mod completions;
#[path = "terminal/get.rs"]
mod get;
#[path = "terminal/shell.rs"]
mod shell;

use common::Served;
use terminal::{command, Terminal};

/// `hftp-client -p PORT --timeout 5 ARGS...` in a terminal, in `dir`.
pub fn client(port: u16, dir: &std::path::Path, args: &[&str]) -> Terminal {
    let mut all = vec![
        "-p".to_owned(),
        port.to_string(),
        "--timeout".into(),
        "5".into(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    Terminal::spawn(command(env!("CARGO_BIN_EXE_hftp-client"), &all, dir))
}
