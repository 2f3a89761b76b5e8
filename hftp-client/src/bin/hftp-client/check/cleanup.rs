//! What a check leaves behind if it is stopped (Ctrl-C, SIGTERM, SIGHUP):
//! the servers it started run in process groups of their own, which the
//! terminal's signal does not reach, and its fixture directories. They
//! are registered here while they exist; on such a signal every started
//! server's group is killed and every fixture directory removed, then
//! the checker exits 130.

use std::path::PathBuf;
use std::sync::{Mutex, Once};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::os;

/// Started servers' process groups, and fixture directories.
static LEFT: Mutex<(Vec<u32>, Vec<PathBuf>)> = Mutex::new((Vec::new(), Vec::new()));

/// Installs the signal thread (once).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                let (groups, dirs) =
                    std::mem::take(&mut *LEFT.lock().unwrap_or_else(|e| e.into_inner()));
                for pgid in groups {
                    os::signal_group(pgid, true);
                }
                for dir in dirs {
                    let _ = std::fs::remove_dir_all(dir);
                }
                eprintln!("hftp-client check: interrupted; the servers it started are stopped");
                std::process::exit(130);
            }
        });
    });
}

/// A server's process group to kill if the check is stopped.
pub fn server_started(pgid: u32) {
    lock().0.push(pgid);
}

/// The server is stopped.
pub fn server_stopped(pgid: u32) {
    lock().0.retain(|g| *g != pgid);
}

/// A fixture directory to remove if the check is stopped.
pub fn dir_made(dir: PathBuf) {
    lock().1.push(dir);
}

/// The fixture directory is removed.
pub fn dir_removed(dir: &std::path::Path) {
    lock().1.retain(|d| d != dir);
}

fn lock() -> std::sync::MutexGuard<'static, (Vec<u32>, Vec<PathBuf>)> {
    LEFT.lock().unwrap_or_else(|e| e.into_inner())
}
