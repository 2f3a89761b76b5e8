//! The per-request log event: one `debug` event (shown with `-v`) for
//! each request whose answer went out, with the fields `peer`, `request`,
//! `status`, `bytes` and `duration_ms` (one JSON object with
//! `--log-format json`).

use std::net::SocketAddr;

use crate::session::RequestEvent;

/// `event` happened on the connection from `peer`.
pub fn answered(peer: SocketAddr, event: &RequestEvent) {
    tracing::debug!(
        peer = %peer,
        request = event.line.as_deref().unwrap_or(event.command.as_str()),
        status = event.status.code(),
        bytes = event.payload,
        duration_ms = event.duration.as_secs_f64() * 1000.0,
        "Answered {peer}"
    );
}
