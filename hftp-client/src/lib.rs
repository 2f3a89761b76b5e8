//! HFTP (Home-made File Transfer Protocol) clients, blocking and async.
//!
//! [`Client`] connects to a server (or wraps any `Read + Write` stream)
//! and lists files, asks their sizes and streams slices of them into any
//! `Write`, with bounded memory. [`Client::download`] and
//! [`Server::download`] fetch whole files, resumably, the latter over
//! parallel connections. The protocol work is done by [`hftp_proto`].
//!
//! # Quick start
//!
//! List a server's files, ask a size, read a byte range, download a file:
//!
//! ```
//! # // An in-process server on a temporary directory stands in for
//! # // `hftp-server`, so that this example runs as a test.
//! # let dir = tempfile::tempdir()?;
//! # std::fs::write(dir.path().join("notes.txt"), "!Que calor que hace hoy, pinta una birra!")?;
//! # let running = hftp_server::Server::bind(hftp_server::ServerOptions {
//! #     address: "127.0.0.1:0".parse()?,
//! #     directory: dir.path().to_path_buf(),
//! #     ..Default::default()
//! # })?.spawn()?;
//! # let address = running.local_addr().to_string();
//! # let address = address.as_str(); // e.g. "127.0.0.1:19500"
//! # let out = tempfile::tempdir()?;
//! # let dest = out.path().join("notes.txt");
//! use hftp_client::{Client, DownloadOptions};
//!
//! let mut client = Client::connect(address)?;
//! assert_eq!(client.list()?, ["notes.txt"]);
//! assert_eq!(client.metadata("notes.txt")?, 41);
//!
//! let mut word = Vec::new();
//! client.slice_to("notes.txt", 5, 5, &mut word)?;
//! assert_eq!(word, b"calor");
//!
//! // To `dest.part`, renamed to `dest` once complete.
//! let done = client.download("notes.txt", &dest, &DownloadOptions::default(), &|_| {})?;
//! assert_eq!(done.size, 41);
//! client.quit()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Server`] is "where the server is" (addresses and [`Timeouts`]), for
//! downloads over several connections ([`Server::download`]) and for
//! opening more clients.
//!
//! # TLS
//!
//! With the `tls` feature, [`tls::connect`] and [`Server::tls`] reach a
//! server over TLS; every client works over it unchanged (the
//! connection's [`Stream`] is plain TCP or TLS):
//!
//! ```no_run
//! # #[cfg(feature = "tls")] {
//! use hftp_client::tls::TlsConfig;
//! use hftp_client::{Client, Server, Timeouts};
//!
//! // The system's trusted CAs; TlsConfig::from_ca_file("ca.pem") for a private CA.
//! let config = TlsConfig::platform()?;
//! let server = Server::tls("files.example:19501", &config, Timeouts::default())?;
//! let mut client: Client = server.connect()?;
//! println!("{:?}", client.list()?);
//! # }
//! # Ok::<(), hftp_client::Error>(())
//! ```
//!
//! Every client here runs on one driver: the sans-IO [`Pipeline`]
//! (requests queued at any depth, events tagged with their request, a
//! [`Transcript`] on demand), driven by the blocking [`Connection`] or by
//! the async one in `hftp_client::tokio` (feature `tokio`).
//!
//! # Cargo features
//!
//! - `tokio` (off by default): `hftp_client::tokio::Client`,
//!   the same operations async, on tokio;
//! - `tls` (off by default in the library): [`tls`], connections over
//!   TLS (rustls on ring, the platform's roots or a private CA);
//!   `tokio-tls` adds `hftp_client::tokio::connect_tls`;
//! - `cli` (on): the `hftp-client` command-line tool (clap, clap_complete,
//!   indicatif, rustyline, bytesize);
//! - `bench` (on): the `hftp-bench` load generator (clap, mio, rustix,
//!   hdrhistogram, serde, serde_json, base64-simd).
//!
//! The library needs none of them: it depends only on `hftp-proto` and
//! `thiserror`. Use `default-features = false` for the library alone:
//!
//! ```toml
//! [dependencies]
//! hftp-client = { version = "0.1", default-features = false }
//! ```
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's examples are compiled and run as doctests (the async one
// needs the `tokio` feature).
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod client;
mod connect;
mod connection;
mod download;
mod error;
mod pipeline;
mod server;
mod stream;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;
mod transcript;

pub use client::Client;
pub use connect::{connect, Timeouts};
pub use connection::Connection;
pub use download::{part_path, Cancel, DownloadOptions, Downloaded, Progress};
pub use error::Error;
pub use pipeline::{Pipeline, Received, RequestId};
pub use server::Server;
pub use stream::Stream;
pub use transcript::{Direction, Record, Transcript};
