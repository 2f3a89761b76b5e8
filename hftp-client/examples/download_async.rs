//! Downloads files from an HFTP server asynchronously: every file named
//! at once, each over parallel connections (tasks), on tokio.
//!
//! ```text
//! cargo run -p hftp-client --features tokio --example download_async -- 127.0.0.1:19500 a.txt b.txt
//! ```

use std::path::Path;

use hftp_client::tokio::Server;
use hftp_client::{DownloadOptions, Timeouts};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let Some(addr) = args.next() else {
        eprintln!("usage: download_async HOST:PORT NAME...");
        std::process::exit(1);
    };
    let server = match Server::new(addr, Timeouts::default()) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("download_async: {e}");
            std::process::exit(3);
        }
    };
    let options = DownloadOptions {
        resume: true,
        connections: 4,
        ..DownloadOptions::default()
    };
    let mut tasks = tokio::task::JoinSet::new();
    for name in args {
        let (server, options) = (server.clone(), options.clone());
        tasks.spawn(async move {
            let result = server
                .download(&name, Path::new(&name), &options, |_| {})
                .await;
            (name, result)
        });
    }
    let mut failed = false;
    while let Some(Ok((name, result))) = tasks.join_next().await {
        match result {
            Ok(done) => println!("{name}: {} bytes", done.size),
            Err(e) => {
                eprintln!("download_async: {name}: {e}");
                failed = true;
            }
        }
    }
    std::process::exit(if failed { 3 } else { 0 });
}
