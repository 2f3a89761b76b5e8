//! The metrics endpoint: `GET /metrics` in the Prometheus text exposition
//! format on its own thread (404 for any other path, 405 for any other
//! method), one request at a time, no request body read.
//!
//! Meant for a private address (a scraper on localhost or an internal
//! network): it shares nothing with the event loops but the atomics of
//! [`Metrics`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Response, Server};

use crate::metrics::Metrics;

/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The endpoint serving; stopped when dropped.
pub struct MetricsHttp {
    server: Arc<Server>,
    local: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl MetricsHttp {
    /// Binds `address` and serves `metrics` there.
    pub fn start(address: SocketAddr, metrics: Arc<Metrics>) -> io::Result<MetricsHttp> {
        let server = Server::http(address).map_err(io::Error::other)?;
        let local = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("the metrics endpoint has no IP address"))?;
        let server = Arc::new(server);
        let serving = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || serve(&serving, &metrics))?;
        Ok(MetricsHttp {
            server,
            local,
            thread: Some(thread),
        })
    }

    /// The address bound (with the port actually bound).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl std::fmt::Debug for MetricsHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHttp")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl Drop for MetricsHttp {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers requests one at a time until unblocked.
fn serve(server: &Server, metrics: &Metrics) {
    for request in server.incoming_requests() {
        let response = match (request.method(), request.url()) {
            (Method::Get, "/metrics") => {
                let header =
                    Header::from_bytes("Content-Type", CONTENT_TYPE).expect("a valid header");
                Response::from_string(metrics.encode()).with_header(header)
            }
            (Method::Get, _) => Response::from_string("not found\n").with_status_code(404),
            _ => Response::from_string("method not allowed\n").with_status_code(405),
        };
        if let Err(e) = request.respond(response) {
            tracing::debug!("metrics: could not answer a scrape: {e}");
        }
    }
}
