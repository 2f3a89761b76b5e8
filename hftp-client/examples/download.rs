//! Downloads one file from an HFTP server, blocking, over parallel
//! connections, resuming what an interrupted run left.
//!
//! ```text
//! cargo run -p hftp-client --example download -- 127.0.0.1:19500 notes.txt [CONNECTIONS]
//! ```

use std::path::Path;

use hftp_client::{DownloadOptions, Server, Timeouts};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(name)) = (args.next(), args.next()) else {
        eprintln!("usage: download HOST:PORT NAME [CONNECTIONS]");
        std::process::exit(1);
    };
    let connections = args.next().and_then(|n| n.parse().ok()).unwrap_or(4);
    if let Err(e) = download(&addr, &name, connections) {
        eprintln!("download: {e}");
        std::process::exit(3);
    }
}

fn download(addr: &str, name: &str, connections: usize) -> Result<(), hftp_client::Error> {
    let server = Server::new(addr, Timeouts::default())?;
    let options = DownloadOptions {
        resume: true,
        connections,
        ..DownloadOptions::default()
    };
    let done = server.download(name, Path::new(name), &options, &|p| {
        eprint!("\r{} / {} bytes", p.done, p.total);
    })?;
    eprintln!(
        "\r{name}: {} bytes ({} were already there)",
        done.size, done.resumed_from
    );
    Ok(())
}
