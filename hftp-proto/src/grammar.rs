//! The request grammar as one table (docs/PROTOCOL.md §1, §2.2): for each
//! [`Command`], its name on the wire and the kinds of its arguments, in
//! order.
//!
//! This module owns that table, [`GRAMMAR`]. Everything that needs to know
//! which arguments a command takes reads it: the command names and the
//! arity checks ([`Command::name`], [`Command::from_name`],
//! [`Command::min_args`], [`Command::max_args`]), the nom grammar of
//! [`parse_line`](crate::parse_line), and the compactor with which the
//! [`RequestDecoder`](crate::RequestDecoder) cuts a long request line down
//! to the bytes that decide its answer.

use crate::{ArgumentError, Command};

/// What one argument of a command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arg {
    /// `FILENAME`: a file name (§2.2).
    FileName,
    /// `1*DIGIT`: a decimal number, saturating at `u64::MAX`.
    Number(Number),
    /// The keyword `raw`, which may be left out; only ever last.
    Raw,
}

/// Which number a [`Arg::Number`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Number {
    /// `OFFSET`, the first byte of a slice.
    Offset,
    /// `SIZE`, the length of a slice.
    Size,
}

impl Arg {
    /// Whether the argument may be left out.
    pub(crate) const fn is_optional(self) -> bool {
        matches!(self, Arg::Raw)
    }
}

impl Number {
    /// What is wrong with the arguments when this one is not a number.
    pub(crate) const fn error(self) -> ArgumentError {
        match self {
            Number::Offset => ArgumentError::Offset,
            Number::Size => ArgumentError::Size,
        }
    }
}

/// The grammar of one command: `name *( SP arg )`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Syntax {
    /// The command.
    pub(crate) command: Command,
    /// Its name on the wire (case-sensitive).
    pub(crate) name: &'static str,
    /// Its arguments, in order; optional ones only at the end.
    pub(crate) args: &'static [Arg],
}

/// Every command's grammar, in the order of [`Command::ALL`] and of the
/// `Command` variants: `GRAMMAR[cmd as usize]` is `cmd`'s (checked at
/// compile time below).
pub(crate) const GRAMMAR: [Syntax; Command::ALL.len()] = [
    Syntax {
        command: Command::GetFileListing,
        name: "get_file_listing",
        args: &[],
    },
    Syntax {
        command: Command::GetMetadata,
        name: "get_metadata",
        args: &[Arg::FileName],
    },
    Syntax {
        command: Command::GetSlice,
        name: "get_slice",
        args: &[
            Arg::FileName,
            Arg::Number(Number::Offset),
            Arg::Number(Number::Size),
            Arg::Raw,
        ],
    },
    Syntax {
        command: Command::Quit,
        name: "quit",
        args: &[],
    },
    Syntax {
        command: Command::Help,
        name: "help",
        args: &[],
    },
];

/// The most arguments any command takes.
pub(crate) const MAX_ARGS: usize = {
    let mut max = 0;
    let mut i = 0;
    while i < GRAMMAR.len() {
        if GRAMMAR[i].args.len() > max {
            max = GRAMMAR[i].args.len();
        }
        i += 1;
    }
    max
};

/// The length of the longest command name.
pub(crate) const LONGEST_NAME: usize = {
    let mut max = 0;
    let mut i = 0;
    while i < GRAMMAR.len() {
        if GRAMMAR[i].name.len() > max {
            max = GRAMMAR[i].name.len();
        }
        i += 1;
    }
    max
};

// The table is indexed by command, and optional arguments come last.
const _: () = {
    let mut i = 0;
    while i < GRAMMAR.len() {
        assert!(GRAMMAR[i].command as usize == i);
        assert!(Command::ALL[i] as usize == i);
        let args = GRAMMAR[i].args;
        let mut j = 1;
        while j < args.len() {
            assert!(!args[j - 1].is_optional() || args[j].is_optional());
            j += 1;
        }
        i += 1;
    }
};

impl Command {
    /// The command's entry in [`GRAMMAR`].
    pub(crate) const fn syntax(self) -> Syntax {
        GRAMMAR[self as usize]
    }

    /// The kinds of the command's arguments, in order.
    pub(crate) const fn args(self) -> &'static [Arg] {
        self.syntax().args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_arities_follow_the_table() {
        let arity: Vec<(&str, usize, usize)> = Command::ALL
            .iter()
            .map(|c| (c.name(), c.min_args(), c.max_args()))
            .collect();
        assert_eq!(
            arity,
            [
                ("get_file_listing", 0, 0),
                ("get_metadata", 1, 1),
                ("get_slice", 3, 4),
                ("quit", 0, 0),
                ("help", 0, 0),
            ]
        );
        for c in Command::ALL {
            assert_eq!(Command::from_name(c.name().as_bytes()), Some(c));
        }
        assert_eq!((MAX_ARGS, LONGEST_NAME), (4, 16));
    }
}
