//! The server's settings: what the command line decides, in one place that
//! every worker shares.

use std::time::Duration;

use crate::proxy::ProxyOptions;
use crate::session::SessionConfig;

/// Limits and timeouts every connection is held to.
#[derive(Debug, Clone)]
pub struct Config {
    /// Most connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Close a connection with no progress in either direction for this long.
    pub idle_timeout: Duration,
    /// A request line must be complete this long after its first byte.
    pub request_timeout: Duration,
    /// The hard limit on a request line (docs/PROTOCOL.md §2.3).
    pub max_request_bytes: usize,
    /// How long a shutdown lets responses in flight finish.
    pub shutdown_grace: Duration,
    /// A file-system operation not done this long after a request asked
    /// for it answers that request `199`.
    pub fs_timeout: Duration,
    /// Which connections owe a PROXY protocol header (`None`: off).
    pub proxy: Option<ProxyOptions>,
}

impl Config {
    /// What each connection's session is held to.
    pub fn session(&self) -> SessionConfig {
        let mut config = SessionConfig::new(
            self.idle_timeout,
            self.request_timeout,
            self.max_request_bytes,
        );
        config.fs_timeout = self.fs_timeout;
        config
    }
}
