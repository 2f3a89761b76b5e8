//! The HFTP (Home-made File Transfer Protocol) reference server as a
//! library: bind a [`Server`] on a directory, then run it on this thread
//! or in the background.
//!
//! Event-driven: one mio event loop per worker thread, non-blocking
//! sockets, a bounded output queue and at most one slice in flight per
//! connection. Modules: `server` (the public handle), `config` (limits
//! shared by the workers), `published` (the directory and confinement),
//! `connection` (one client's state machine), `output` (the bounded send
//! queue), `transfer` (streaming slices), `worker` (the event loop),
//! `placement` (how many workers take connections).
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

#![warn(missing_docs)]

mod config;
mod connection;
mod output;
mod placement;
mod published;
mod server;
mod transfer;
mod worker;

pub use server::{RunningServer, Server, ServerError, ServerOptions};
