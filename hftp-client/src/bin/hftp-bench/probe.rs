//! Reaching the server: the one way every subcommand connects (through
//! `hftp_client`'s `Server`, with the setup timeouts), and the setup
//! requests asked before a run (the file listing and file sizes) through
//! the `hftp_client::Client` library over one ordinary connection.

use std::net::SocketAddr;
use std::time::Duration;

use hftp_client::{Client, Connection, Server, Timeouts};

use crate::BoxError;

/// How long setup connections and requests may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The server, each connection bounded by `timeouts`.
pub fn server(addr: SocketAddr, timeouts: Timeouts) -> Server {
    Server::new(addr, timeouts).expect("a socket address resolves to itself")
}

/// Timeouts for setup: connecting, each read and write.
pub fn setup_timeouts() -> Timeouts {
    Timeouts::uniform(Some(SETUP_TIMEOUT))
}

/// A new connection to `server`, failures named for the report.
pub fn connection(server: &Server) -> Result<Connection, String> {
    server
        .connection()
        .map_err(|e| format!("cannot connect to {}: {e}", server.addrs()[0]))
}

/// A blocking client for setup requests.
pub fn client(addr: SocketAddr) -> Result<Client, BoxError> {
    client_of(&server(addr, setup_timeouts()))
}

/// A blocking client for setup requests to `server` (plain or TLS).
pub fn client_of(server: &Server) -> Result<Client, BoxError> {
    Ok(Client::from_connection(connection(server)?))
}

/// `server` over TLS when asked: `ca` (PEM) or the system's CAs, the
/// certificate checked against `name` or the address's IP.
pub fn tls(
    server: Server,
    ca: Option<&std::path::Path>,
    name: Option<&str>,
) -> Result<Server, BoxError> {
    let config = match ca {
        Some(file) => hftp_client::tls::TlsConfig::from_ca_file(file),
        None => hftp_client::tls::TlsConfig::platform(),
    }?;
    let ip = server.addrs()[0].ip().to_string();
    Ok(server.with_tls(&config, name.unwrap_or(&ip))?)
}

/// The published file names.
pub fn listing(client: &mut Client) -> Result<Vec<String>, BoxError> {
    client
        .list()
        .map_err(|e| format!("get_file_listing failed: {e}").into())
}

/// The size of `name`.
pub fn size(client: &mut Client, name: &str) -> Result<u64, BoxError> {
    client
        .metadata(name)
        .map_err(|e| format!("get_metadata {name} failed: {e}").into())
}
