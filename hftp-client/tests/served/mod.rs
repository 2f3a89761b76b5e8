//! Our server run in-process on a temporary directory, for the tests that
//! talk to it: the library's (`download.rs`) and the command line's
//! (through `common`).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use hftp_server::{RunningServer, Server, ServerOptions};
use tempfile::TempDir;

/// `notes.txt` of the protocol's example.
pub const NOTES: &[u8] = b"!Que calor que hace hoy, pinta una birra!";

/// Bytes that are not text: every byte value, in a pattern that does not
/// repeat with a short period.
pub fn binary(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// Our server, serving a temporary directory.
pub struct Served {
    pub dir: TempDir,
    server: RunningServer,
}

impl Served {
    /// Serves `files` (name, contents).
    pub fn new(files: &[(&str, &[u8])]) -> Self {
        Served::with_options(files, ServerOptions::default())
    }

    /// Serves `files` with `options` (their address and directory
    /// replaced by a free loopback port and a temporary directory).
    pub fn with_options(files: &[(&str, &[u8])], options: ServerOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents).unwrap();
        }
        let server = Server::bind(ServerOptions {
            address: "127.0.0.1:0".parse().unwrap(),
            directory: dir.path().to_path_buf(),
            threads: 2,
            ..options
        })
        .unwrap()
        .spawn()
        .unwrap();
        Served { dir, server }
    }

    /// The protocol example's file, a 1536-byte binary file, a 0-byte and
    /// a 1-byte file.
    pub fn standard() -> Self {
        Served::new(&[
            ("notes.txt", NOTES),
            ("photo.jpg", &binary(1536)),
            ("empty", b""),
            ("one", b"1"),
        ])
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The connections the server holds now.
    pub fn open_connections(&self) -> usize {
        self.server.connections_per_worker().iter().sum()
    }

    pub fn port(&self) -> u16 {
        self.server.local_addr().port()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn contents(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }
}
