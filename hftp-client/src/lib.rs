//! A blocking HFTP (Home-made File Transfer Protocol) client.
//!
//! [`Client`] connects to a server (or wraps any `Read + Write` stream)
//! and lists files, asks their sizes and streams slices of them into any
//! `Write`, with bounded memory. The protocol work is done by
//! [`hftp_proto`]; this crate adds the I/O. [`Client::download`] fetches
//! whole files, resumably and over parallel connections.
//!
//! # Cargo features
//!
//! The package also holds two binaries, each behind a feature; both are
//! on by default, so that `cargo install hftp-client` builds them:
//!
//! - `cli`: the `hftp-client` command-line tool (clap, clap_complete,
//!   indicatif, rustyline, bytesize);
//! - `bench`: the `hftp-bench` load generator (clap, mio, rustix,
//!   hdrhistogram, serde, serde_json, base64-simd).
//!
//! The library needs neither: it depends only on `hftp-proto` and
//! `thiserror`. Use `default-features = false` for the library alone:
//!
//! ```toml
//! [dependencies]
//! hftp-client = { version = "0.1", default-features = false }
//! ```
#![warn(missing_docs)]

mod client;
mod download;
mod error;

pub use client::{Client, Timeouts};
pub use download::{part_path, DownloadOptions, Downloaded, Progress};
pub use error::Error;
