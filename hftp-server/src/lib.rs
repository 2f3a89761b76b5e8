//! The HFTP (Home-made File Transfer Protocol) reference server as a
//! library: bind a [`Server`] on a directory, then run it on this thread
//! or in the background.
//!
//! Event-driven: one mio event loop per worker thread, non-blocking
//! sockets, and a pool of blocking threads for all file-system work, so
//! that a slow or hung file system never stops a loop. Each connection's
//! protocol logic is a sans-IO [`session`] (bytes in, bytes out,
//! file-system requests out and their replies in, time passed in) that
//! the event loop drives, so that it can be tested with a fake clock, a
//! fake socket and an in-memory directory ([`files`]).
//!
//! Modules: `server` (the public handle), `config` (limits shared by the
//! workers), [`session`] (one client's protocol state machine), `output`
//! (its bounded send queue), [`files`] (what a session asks of a
//! directory), `published` (the directory on disk), `listings` (the
//! shared listing snapshot), `pool` (the file-system threads),
//! `file_service` (a loop's side of file requests: answered at once, or
//! on the pool, replies routed back), `budget` (connections and threads
//! the open-files limit allows), `peers` (the per-address limit),
//! `events` (what a session reports once an answer went out),
//! `metrics` (the Prometheus families and the calls the loops make),
//! `metrics_http` (`GET /metrics` on its own thread), `request_log` (the
//! per-request log event),
//! `conn` (a socket and its session: the I/O a session asks for),
//! `transport` (plain, or TLS between the socket and the session),
//! `tls` (the certificate, the rustls configuration, reloading),
//! `timers` (the sessions' deadlines), `worker` (the event loop),
//! `shared` (what the workers share), `placement` (how many workers take
//! connections), `balancer` (load measurement and which connections
//! move), `sys` (every OS-specific call, with portable fallbacks).
//!
//! The `hftp-server` binary is a thin command line over this crate; the
//! library exists so that programs and tests can run a server in-process:
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use std::net::TcpStream;
//! use hftp_server::{Server, ServerOptions};
//!
//! let dir = std::env::temp_dir().join(format!("hftp-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! std::fs::write(dir.join("notes.txt"), "hello")?;
//! let server = Server::bind(ServerOptions {
//!     address: "127.0.0.1:0".parse().unwrap(),
//!     directory: dir.clone(),
//!     ..ServerOptions::default()
//! })?
//! .spawn()?;
//!
//! let mut stream = TcpStream::connect(server.local_addr())?;
//! stream.write_all(b"get_metadata notes.txt\r\n")?;
//! let mut reader = BufReader::new(stream);
//! let mut line = String::new();
//! reader.read_line(&mut line)?;
//! assert_eq!(line, "0 OK\r\n");
//! line.clear();
//! reader.read_line(&mut line)?;
//! assert_eq!(line, "5\r\n");
//!
//! server.shutdown()?; // also done when `server` is dropped
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The [`session`] alone, driven by hand with a directory in memory and
//! the time passed in (what the event loop does for each connection; the
//! server does the file-system work on a pool of threads instead of with
//! [`files::perform`] here):
//!
//! ```
//! use std::time::{Duration, Instant};
//! use hftp_server::files::{perform, MemoryFiles};
//! use hftp_server::session::{Session, SessionConfig, Transmit};
//!
//! let files = MemoryFiles::new();
//! files.insert("notes.txt", b"hello".to_vec());
//! let now = Instant::now();
//! let mut session = Session::new(SessionConfig::default(), now);
//! let mut scratch = vec![0; hftp_server::session::FILE_CHUNK];
//!
//! session.begin_turn();
//! assert!(session.wants_input());
//! session.handle_input(b"get_metadata notes.txt\r\n", now);
//! // The answer needs the file's size: the session asks for it.
//! assert!(session.poll_transmit(now).is_none());
//! let request = session.poll_file_request(now).expect("a size is asked for");
//! let reply = perform(&files, request, &mut scratch);
//! session.handle_file_reply(reply, now);
//! let Some(Transmit::Bytes(bytes)) = session.poll_transmit(now) else {
//!     panic!("an answer is due");
//! };
//! assert_eq!(bytes, b"0 OK\r\n5\r\n");
//! let n = bytes.len();
//! session.handle_written(n, now);
//! assert!(session.poll_transmit(now).is_none());
//!
//! // A second on, when the session asks, the kernel says the peer took
//! // it all (nothing unacknowledged): that was its last progress.
//! let t1 = now + Duration::from_secs(1);
//! assert!(session.wants_send_queue(t1));
//! session.handle_send_queue(Some(0), t1);
//! session.handle_timeout(t1);
//! assert!(session.poll_close().is_none());
//! // Nothing more from the peer for the idle timeout (60 s): closed.
//! let later = t1 + Duration::from_secs(60);
//! assert!(!session.wants_send_queue(later));
//! session.handle_timeout(later);
//! assert!(session.poll_close().is_some());
//! ```

#![warn(missing_docs)]

mod balancer;
mod budget;
mod config;
mod conn;
mod events;
mod file_service;
pub mod files;
mod listings;
mod metrics;
mod metrics_http;
mod output;
mod peers;
mod placement;
mod pool;
mod proxy;
mod published;
mod request_log;
mod server;
pub mod session;
mod shared;
mod sys;
mod timers;
mod tls;
mod transport;
mod worker;

pub use ipnet::IpNet;
pub use proxy::ProxyOptions;
pub use server::{
    OpenConnections, RunningServer, Server, ServerError, ServerOptions, TlsOptions, TlsReloader,
};
pub use tls::TlsError;

/// Raises this process's soft open-files limit to its hard limit, and
/// returns the limit now (`None`: unlimited). Each connection takes up to
/// two descriptors; [`Server::bind`] caps the connection limit to what the
/// limit allows, so call this first. The `hftp-server` command does.
pub fn raise_open_files_limit() -> Option<u64> {
    sys::limits::raise_open_files()
}
