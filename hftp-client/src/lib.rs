//! A blocking HFTP (Home-made File Transfer Protocol) client.
//!
//! [`Client`] connects to a server (or wraps any `Read + Write` stream)
//! and lists files, asks their sizes and streams slices of them into any
//! `Write`, with bounded memory. The protocol work is done by
//! [`hftp_proto`]; this crate adds the I/O.
#![warn(missing_docs)]

mod client;
mod download;
mod error;

pub use client::{Client, Timeouts};
pub use download::{part_path, DownloadOptions, Downloaded, Progress};
pub use error::Error;
