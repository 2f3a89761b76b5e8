//! The server's Prometheus metrics: the families, made once with every
//! label set, and the cheap calls the event loops make (each an atomic
//! add on a handle made in advance: no lock, no allocation per request).
//! Served by `metrics_http`.
//!
//! Families (in the text exposition format):
//!
//! - `hftp_connections_open` (gauge), `hftp_connections_accepted_total`;
//! - `hftp_requests_total{command, status}`: requests whose answer was
//!   handed over in full (see [`RequestEvent`]);
//! - `hftp_payload_bytes_total{mode, transport}`: slice bytes sent,
//!   `mode` `base64` or `raw`, `transport` `plain` or `tls`;
//! - `hftp_slices_in_flight` (gauge);
//! - `hftp_closes_total{reason}` ([`CloseReason`]);
//! - `hftp_file_operation_seconds{operation}` (histogram): file-system
//!   work done on the pool, `lookup`, `open`, `read`, `list`.

use std::time::Duration;

use hftp_proto::Status;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::session::{Command, PayloadMode, RequestEvent};

type Labels = Vec<(&'static str, String)>;

/// Why a connection was closed, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed it.
    Peer,
    /// After `quit`.
    Quit,
    /// The idle timeout.
    Idle,
    /// A request line not completed in time.
    RequestDeadline,
    /// Refused at once: the per-address or the connection limit.
    Limit,
    /// After a fatal status.
    Fatal,
    /// A file shrank under a slice.
    Shrink,
    /// The file system did not answer in time.
    FsTimeout,
    /// The server shut down.
    Shutdown,
    /// The socket failed.
    Io,
    /// A PROXY protocol header was refused.
    Proxy,
    /// The peer broke TLS (or did not speak it).
    Tls,
    /// The TLS handshake was not done in time.
    Handshake,
}

impl CloseReason {
    const ALL: [CloseReason; 13] = [
        CloseReason::Peer,
        CloseReason::Quit,
        CloseReason::Idle,
        CloseReason::RequestDeadline,
        CloseReason::Limit,
        CloseReason::Fatal,
        CloseReason::Shrink,
        CloseReason::FsTimeout,
        CloseReason::Shutdown,
        CloseReason::Io,
        CloseReason::Proxy,
        CloseReason::Tls,
        CloseReason::Handshake,
    ];

    fn as_str(self) -> &'static str {
        match self {
            CloseReason::Peer => "peer",
            CloseReason::Quit => "quit",
            CloseReason::Idle => "idle",
            CloseReason::RequestDeadline => "request_deadline",
            CloseReason::Limit => "limit",
            CloseReason::Fatal => "fatal",
            CloseReason::Shrink => "shrink",
            CloseReason::FsTimeout => "fs_timeout",
            CloseReason::Shutdown => "shutdown",
            CloseReason::Io => "io",
            CloseReason::Proxy => "proxy",
            CloseReason::Tls => "tls_error",
            CloseReason::Handshake => "tls_handshake_deadline",
        }
    }
}

/// A file-system operation, as timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOp {
    /// A size lookup.
    Lookup,
    /// An open.
    Open,
    /// A read of an open file.
    Read,
    /// A listing built.
    List,
}

impl FileOp {
    const ALL: [FileOp; 4] = [FileOp::Lookup, FileOp::Open, FileOp::Read, FileOp::List];

    fn as_str(self) -> &'static str {
        match self {
            FileOp::Lookup => "lookup",
            FileOp::Open => "open",
            FileOp::Read => "read",
            FileOp::List => "list",
        }
    }
}

fn mode_index(mode: PayloadMode) -> usize {
    match mode {
        PayloadMode::Base64 => 0,
        PayloadMode::Raw => 1,
    }
}

fn command_index(command: Command) -> usize {
    Command::ALL
        .iter()
        .position(|&c| c == command)
        .unwrap_or(Command::ALL.len() - 1)
}

fn status_index(status: Status) -> usize {
    Status::ALL.iter().position(|&s| s == status).unwrap_or(0)
}

/// Every metric of one server, with a handle for each label set.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    open: Gauge,
    accepted: Counter,
    /// By command, then status (as in [`Command::ALL`], [`Status::ALL`]).
    requests: Vec<Vec<Counter>>,
    /// By mode (base64, raw), then transport (plain, tls).
    payload: [[Counter; 2]; 2],
    slices: Gauge,
    closes: Vec<Counter>,
    file_ops: Vec<Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every family registered, every label set made (so that a scrape
    /// shows zeros rather than nothing).
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let open = Gauge::default();
        registry.register(
            "hftp_connections_open",
            "Client connections open now",
            open.clone(),
        );
        let accepted = Counter::default();
        registry.register(
            "hftp_connections_accepted",
            "Client connections accepted (including those refused at once by a limit)",
            accepted.clone(),
        );
        let family = Family::<Labels, Counter>::default();
        let requests = Command::ALL
            .iter()
            .map(|c| {
                Status::ALL
                    .iter()
                    .map(|s| {
                        family
                            .get_or_create(&vec![
                                ("command", c.as_str().to_owned()),
                                ("status", s.code().to_string()),
                            ])
                            .clone()
                    })
                    .collect()
            })
            .collect();
        registry.register(
            "hftp_requests",
            "Requests whose answer was handed to the socket in full, by command and status code",
            family,
        );
        let family = Family::<Labels, Counter>::default();
        let payload = [PayloadMode::Base64, PayloadMode::Raw].map(|m| {
            ["plain", "tls"].map(|t| {
                family
                    .get_or_create(&vec![
                        ("mode", m.as_str().to_owned()),
                        ("transport", t.to_owned()),
                    ])
                    .clone()
            })
        });
        registry.register(
            "hftp_payload_bytes",
            "File bytes sent in slices, by mode and transport",
            family,
        );
        let slices = Gauge::default();
        registry.register(
            "hftp_slices_in_flight",
            "Slices being sent now",
            slices.clone(),
        );
        let family = Family::<Labels, Counter>::default();
        let closes = CloseReason::ALL
            .iter()
            .map(|r| {
                family
                    .get_or_create(&vec![("reason", r.as_str().to_owned())])
                    .clone()
            })
            .collect();
        registry.register("hftp_closes", "Connections closed, by reason", family);
        let family = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(|| {
            // 50 µs to about 13 s.
            Histogram::new(exponential_buckets(0.000_05, 4.0, 10))
        });
        let file_ops = FileOp::ALL
            .iter()
            .map(|op| {
                family
                    .get_or_create(&vec![("operation", op.as_str().to_owned())])
                    .clone()
            })
            .collect();
        registry.register(
            "hftp_file_operation_seconds",
            "File-system operations done on the file-system threads, by operation",
            family,
        );
        Metrics {
            registry,
            open,
            accepted,
            requests,
            payload,
            slices,
            closes,
            file_ops,
        }
    }

    /// A connection was accepted; `admitted`: it is served (not refused at
    /// once by a limit), and counts as open until [`Metrics::closed`].
    pub fn accepted(&self, admitted: bool) {
        self.accepted.inc();
        if admitted {
            self.open.inc();
        } else {
            self.closes[CloseReason::Limit as usize].inc();
        }
    }

    /// A connection that was open (or refused before its session, for
    /// [`CloseReason::Proxy`]) closed.
    pub fn closed(&self, reason: CloseReason, was_open: bool) {
        if was_open {
            self.open.dec();
        }
        self.closes[reason as usize].inc();
    }

    /// A request's answer was handed over on a connection (`tls`: over
    /// TLS).
    pub fn request(&self, event: &RequestEvent, tls: bool) {
        self.requests[command_index(event.command)][status_index(event.status)].inc();
        if let Some(mode) = event.mode {
            self.payload[mode_index(mode)][usize::from(tls)].inc_by(event.payload);
        }
    }

    /// A slice began (`true`) or ended (`false`) on a connection.
    pub fn slice(&self, begun: bool) {
        if begun {
            self.slices.inc();
        } else {
            self.slices.dec();
        }
    }

    /// A file-system operation took `took`.
    pub fn file_op(&self, op: FileOp, took: Duration) {
        self.file_ops[op as usize].observe(took.as_secs_f64());
    }

    /// Every metric in the text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_set_is_shown_from_the_start_and_counts() {
        let m = Metrics::new();
        let text = m.encode();
        assert!(text.contains("hftp_requests_total{command=\"get_slice\",status=\"0\"} 0"));
        assert!(text.contains("hftp_closes_total{reason=\"proxy\"} 0"));
        m.request(
            &RequestEvent {
                command: Command::GetSlice,
                status: Status::Ok,
                payload: 7,
                mode: Some(PayloadMode::Raw),
                duration: Duration::ZERO,
                line: None,
            },
            false,
        );
        m.accepted(false);
        let text = m.encode();
        assert!(text.contains("hftp_requests_total{command=\"get_slice\",status=\"0\"} 1"));
        assert!(text.contains("hftp_payload_bytes_total{mode=\"raw\",transport=\"plain\"} 7"));
        assert!(text.contains("hftp_closes_total{reason=\"limit\"} 1"));
        assert!(text.contains("hftp_connections_open 0"));
    }
}
