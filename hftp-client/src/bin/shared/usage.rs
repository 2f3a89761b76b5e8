//! A clap error as one line, for the binaries of this package (each
//! includes this file with `#[path]`): the message without clap's usage
//! block and tips, then where to look for more.

/// `unexpected argument '--x' found (see --help)`: the message of `err`
/// without the `error: ` prefix, its usage block and tips, joined into
/// one line. `help` is where to look for more (`--help`, or `help` in the
/// shell). A missing subcommand is reported as such, naming `commands`.
pub fn one_line(err: &clap::Error, help: &str, commands: &clap::Command) -> String {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let names: Vec<&str> = commands
            .get_subcommands()
            .map(|c| c.get_name())
            .filter(|name| *name != "help")
            .collect();
        return format!("a command is needed: {} (see {help})", names.join(", "));
    }
    let text = err.render().to_string();
    let mut parts = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if line.is_empty() || line.starts_with("tip:") {
            continue;
        }
        parts.push(line.strip_prefix("error: ").unwrap_or(line));
    }
    let message = parts.join(" ");
    match message.is_empty() {
        true => format!("invalid command line (see {help})"),
        false => format!("{message} (see {help})"),
    }
}
