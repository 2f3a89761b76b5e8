//! The async client, on tokio (feature `tokio`): [`Client`],
//! [`Connection`] and [`Server`], the twins of the blocking
//! [`crate::Client`], [`crate::Connection`] and [`crate::Server`], with
//! the same operations, the same [`Error`](crate::Error) and the same
//! [`Timeouts`](crate::Timeouts), driven by the same sans-IO
//! [`Pipeline`](crate::Pipeline).
//!
//! ```no_run
//! use std::path::Path;
//! use hftp_client::{DownloadOptions, Timeouts};
//! use hftp_client::tokio::Server;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), hftp_client::Error> {
//!     let server = Server::new("127.0.0.1:19500", Timeouts::default())?;
//!     let mut client = server.connect().await?;
//!     println!("{:?}", client.list().await?);
//!     let options = DownloadOptions { resume: true, connections: 4, ..Default::default() };
//!     let done = server
//!         .download_with(&mut client, "notes.txt", Path::new("notes.txt"), &options, |_| {})
//!         .await?;
//!     println!("{} bytes", done.size);
//!     client.quit().await
//! }
//! ```

mod client;
mod connection;
mod download;
mod server;
#[cfg(feature = "tokio-tls")]
mod tls;

pub use client::Client;
pub use connection::Connection;
pub use server::Server;
#[cfg(feature = "tokio-tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-tls")))]
pub use tls::connect_tls;
