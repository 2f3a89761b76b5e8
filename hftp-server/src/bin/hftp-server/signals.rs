//! SIGINT and SIGTERM: the first starts a graceful shutdown and says so in
//! one log line; a second, during the grace, exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hftp_server::OpenConnections;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing::{info, warn};

/// The exit code after a second signal (128 + SIGINT, as shells report).
pub const FORCED: i32 = 130;

/// Watches for the signals on a thread of its own: the first sets
/// `shutdown`, the second ends the process with [`FORCED`].
pub fn watch(
    shutdown: Arc<AtomicBool>,
    open: OpenConnections,
    grace: Duration,
) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = 0;
            for signal in signals.forever() {
                seen += 1;
                let name = if signal == SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                if seen == 1 {
                    let n = open.get();
                    info!(
                        "{name}: shutting down, {n} connection{} open, waiting up to {} s \
                         for responses in flight (again to exit at once)",
                        if n == 1 { "" } else { "s" },
                        grace.as_secs_f64()
                    );
                    shutdown.store(true, Ordering::SeqCst);
                } else {
                    warn!("{name} again: exiting now, {} connections cut", open.get());
                    std::process::exit(FORCED);
                }
            }
        })?;
    Ok(())
}
