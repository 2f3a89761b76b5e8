//! A program in a pseudo-terminal, read the way a person sees it: the
//! bytes it writes go through a VT100 parser (`vt100`), and tests look at
//! the resulting screen, not at the byte stream. The terminal is 100
//! columns by 30 rows, like a tmux pane.
//!
//! The reader thread answers the cursor-position query (`ESC [ 6 n`) from
//! the parsed screen, as a real terminal does, so that line editors that
//! ask (rustyline, fish) do not wait for an answer that never comes.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};

/// Columns of the terminal.
pub const COLS: u16 = 100;
/// Rows of the terminal.
pub const ROWS: u16 = 30;
/// How long a wait for the screen may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// The cursor-position query and its length.
const DSR: &[u8] = b"\x1b[6n";

/// A child process on a pseudo-terminal, its screen parsed as it writes.
pub struct Terminal {
    /// Kept open: dropping it would hang up the terminal.
    _master: Box<dyn MasterPty + Send>,
    /// Shared with the reader thread, which answers queries through it.
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    child: Box<dyn Child + Send + Sync>,
    screen: Arc<Mutex<Screen>>,
}

/// What the reader thread keeps: the parser, and whether the program's
/// side of the terminal is closed (every process holding it ended).
struct Screen {
    parser: vt100::Parser,
    closed: bool,
    /// Every byte the program wrote, for failure messages.
    raw: Vec<u8>,
}

/// A command line to run in a terminal: `program` with `args`, in `cwd`,
/// with `TERM=xterm-256color` and `HOME` set to `home` (so that history
/// files land there).
pub fn command(program: impl AsRef<std::ffi::OsStr>, args: &[&str], cwd: &Path) -> CommandBuilder {
    let mut cmd = CommandBuilder::new(program);
    cmd.args(args);
    cmd.cwd(cwd);
    cmd.env("TERM", "xterm-256color");
    cmd.env("HOME", cwd);
    cmd.env_remove("HFTP_HOST");
    cmd.env_remove("HFTP_PORT");
    cmd.env_remove("NO_COLOR");
    cmd
}

impl Terminal {
    /// Starts `cmd` on a new 100×30 pseudo-terminal.
    pub fn spawn(cmd: CommandBuilder) -> Terminal {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pseudo-terminal");
        let child = pair.slave.spawn_command(cmd).expect("start the program");
        // Ours would keep the terminal open after the program ends.
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("terminal reader");
        let writer = Arc::new(Mutex::new(
            pair.master.take_writer().expect("terminal writer"),
        ));
        let screen = Arc::new(Mutex::new(Screen {
            parser: vt100::Parser::new(ROWS.try_into().unwrap(), COLS.try_into().unwrap(), 1000),
            closed: false,
            raw: Vec::new(),
        }));
        let shared = Arc::clone(&screen);
        let replies = Arc::clone(&writer);
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut tail: Vec<u8> = Vec::new();
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut screen = shared.lock().unwrap();
                screen.raw.extend_from_slice(&buf[..n]);
                // Feed up to each query, answer it from the screen so far.
                tail.extend_from_slice(&buf[..n]);
                let mut start = 0;
                while let Some(at) = find(&tail[start..], DSR) {
                    screen.parser.process(&tail[start..start + at]);
                    let (row, col) = screen.parser.screen().cursor_position();
                    let mut w = replies.lock().unwrap();
                    let _ = write!(w, "\x1b[{};{}R", row + 1, col + 1);
                    let _ = w.flush();
                    start += at + DSR.len();
                }
                // Keep a possible start of a query split across reads.
                let keep = partial_suffix(&tail[start..], DSR);
                let end = tail.len() - keep;
                screen.parser.process(&tail[start..end]);
                tail.drain(..end);
            }
            shared.lock().unwrap().closed = true;
        });
        Terminal {
            writer,
            _master: pair.master,
            child,
            screen,
        }
    }

    /// Types `keys` (raw bytes: `"\r"` is Enter, `"\t"` Tab, `"\x03"` Ctrl-C).
    pub fn send(&mut self, keys: &str) {
        let mut w = self.writer.lock().unwrap();
        w.write_all(keys.as_bytes())
            .expect("type into the terminal");
        w.flush().expect("type into the terminal");
    }

    /// Types `line` and Enter.
    pub fn line(&mut self, line: &str) {
        self.send(line);
        self.send("\r");
    }

    /// The visible screen: each row without trailing blanks, rows joined
    /// by newlines, trailing empty rows removed.
    pub fn screen(&self) -> String {
        let screen = self.screen.lock().unwrap();
        visible(&screen.parser)
    }

    /// The rows that scrolled off the top and the visible ones, as text.
    pub fn history(&self) -> String {
        let mut screen = self.screen.lock().unwrap();
        let parser = &mut screen.parser;
        parser.screen_mut().set_scrollback(usize::MAX);
        let back = parser.screen().scrollback();
        let mut rows: Vec<String> = Vec::new();
        // Walk the scrollback from the oldest row down to the screen.
        for offset in (1..=back).rev() {
            parser.screen_mut().set_scrollback(offset);
            rows.push(
                parser
                    .screen()
                    .rows(0, COLS)
                    .next()
                    .unwrap_or_default()
                    .trim_end()
                    .to_owned(),
            );
        }
        parser.screen_mut().set_scrollback(0);
        rows.extend(
            parser
                .screen()
                .rows(0, COLS)
                .map(|r| r.trim_end().to_owned()),
        );
        while rows.last().is_some_and(String::is_empty) {
            rows.pop();
        }
        rows.join("\n")
    }

    /// Waits until the screen satisfies `ready` and returns it; fails the
    /// test with the screen after 20 s.
    pub fn wait_until(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!(
                    "waited 20 s for {what}; the screen:\n{screen}\n-----\nbytes: {:?}",
                    self.raw()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `text` is on the screen; returns the screen.
    pub fn wait_for(&self, text: &str) -> String {
        self.wait_until(&format!("{text:?}"), |s| s.contains(text))
    }

    /// Waits for the program to end and for everything it wrote to be
    /// parsed; returns its exit code and the final screen.
    pub fn wait_exit(&mut self) -> (u32, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the program") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "the program did not end in 20 s; the screen:\n{}",
                    self.screen()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        // The program's last bytes may still be in the terminal.
        self.wait_until("the terminal to close", |_| {
            self.screen.lock().unwrap().closed
        });
        (status.exit_code(), self.screen())
    }

    /// Everything the program wrote, as a string with escapes shown.
    pub fn raw(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap().raw).into_owned()
    }

    /// The process id, for signals.
    pub fn pid(&self) -> Option<u32> {
        self.child.process_id()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn visible(parser: &vt100::Parser) -> String {
    let mut rows: Vec<String> = parser
        .screen()
        .rows(0, COLS)
        .map(|r| r.trim_end().to_owned())
        .collect();
    while rows.last().is_some_and(String::is_empty) {
        rows.pop();
    }
    rows.join("\n")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// How many bytes at the end of `data` could begin `needle`.
fn partial_suffix(data: &[u8], needle: &[u8]) -> usize {
    (1..needle.len())
        .rev()
        .find(|&n| data.len() >= n && data[data.len() - n..] == needle[..n])
        .unwrap_or(0)
}
