//! Ctrl-C (SIGINT) while `get` or a shell command runs: the command is
//! cancelled, not the process. The download's [`Cancel`] flag is set and
//! the connection in use is shut down, so that a read blocked on a silent
//! server returns at once; the command then reports "interrupted" (with
//! how to resume) and the shell goes on with a new connection.
//!
//! Outside a command (connecting, say), Ctrl-C ends the process as usual
//! (exit 130), except in the shell, whose line editor reads Ctrl-C as a
//! key at the prompt.

use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use hftp_client::Cancel;
use signal_hook::consts::SIGINT;
use signal_hook::iterator::Signals;

/// The exit code of a command ended by Ctrl-C (128 + SIGINT).
pub const EXIT: u8 = 130;

/// What the signal thread acts on.
struct State {
    cancel: Cancel,
    /// The connection of the command running now, if one is.
    socket: Mutex<Option<TcpStream>>,
    /// A command is running (armed).
    armed: AtomicBool,
    /// Ctrl-C with no command running ends the process.
    exit_when_idle: bool,
}

static STATE: OnceLock<State> = OnceLock::new();

/// Takes over SIGINT for the rest of the process (once; later calls do
/// nothing). `exit_when_idle`: Ctrl-C between commands exits with 130.
pub fn install(exit_when_idle: bool) {
    let state = State {
        cancel: Cancel::default(),
        socket: Mutex::new(None),
        armed: AtomicBool::new(false),
        exit_when_idle,
    };
    if STATE.set(state).is_err() {
        return;
    }
    let Ok(mut signals) = Signals::new([SIGINT]) else {
        // Ctrl-C keeps its default action: the process ends.
        return;
    };
    std::thread::spawn(move || {
        for _ in signals.forever() {
            let Some(state) = STATE.get() else { continue };
            if !state.armed.load(Ordering::SeqCst) {
                if state.exit_when_idle {
                    std::process::exit(i32::from(EXIT));
                }
                continue;
            }
            state.cancel.cancel();
            if let Some(socket) = state.socket.lock().expect("socket").as_ref() {
                let _ = socket.shutdown(Shutdown::Both);
            }
        }
    });
}

/// A command runs on `socket` until the returned guard is dropped:
/// Ctrl-C meanwhile cancels it. Clears an earlier interruption.
pub fn arm(socket: &TcpStream) -> Armed {
    if let Some(state) = STATE.get() {
        state.cancel.reset();
        *state.socket.lock().expect("socket") = socket.try_clone().ok();
        state.armed.store(true, Ordering::SeqCst);
    }
    Armed
}

/// The flag for [`hftp_client::DownloadOptions::cancel`], when Ctrl-C is
/// handled.
pub fn cancel() -> Option<Cancel> {
    STATE.get().map(|state| state.cancel.clone())
}

/// Whether Ctrl-C interrupted the command armed last.
pub fn interrupted() -> bool {
    STATE.get().is_some_and(|state| state.cancel.is_cancelled())
}

/// While it lives, Ctrl-C cancels the command (see [`arm`]).
pub struct Armed;

impl Drop for Armed {
    fn drop(&mut self) {
        if let Some(state) = STATE.get() {
            state.armed.store(false, Ordering::SeqCst);
            *state.socket.lock().expect("socket") = None;
        }
    }
}
