//! SIGINT and SIGTERM: the first starts a graceful shutdown and says so in
//! one log line; a second, during the grace, exits at once. SIGHUP, when
//! TLS is served, reloads the certificate and key.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hftp_server::{OpenConnections, TlsReloader};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing::{info, warn};

/// The exit code after a second signal (128 + SIGINT, as shells report).
pub const FORCED: i32 = 130;

/// Watches for the signals on a thread of its own: the first SIGINT or
/// SIGTERM sets `shutdown`, the second ends the process with [`FORCED`];
/// SIGHUP reloads the TLS certificate when `tls` is given (without TLS,
/// SIGHUP keeps its default action: the process ends).
pub fn watch(
    shutdown: Arc<AtomicBool>,
    open: OpenConnections,
    grace: Duration,
    tls: Option<TlsReloader>,
) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    if tls.is_some() {
        signals.add_signal(SIGHUP)?;
    }
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = 0;
            for signal in signals.forever() {
                if signal == SIGHUP {
                    if let Some(tls) = &tls {
                        reload(tls);
                    }
                    continue;
                }
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

/// Reloads the certificate and key, saying how that went in one line.
fn reload(tls: &TlsReloader) {
    match tls.reload() {
        Ok(()) => info!(
            "SIGHUP: reloaded the TLS certificate from {}; new connections get it",
            tls.cert_path().display()
        ),
        Err(e) => warn!("SIGHUP: kept the TLS certificate in use: {e}"),
    }
}
