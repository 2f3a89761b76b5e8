//! Asking the server, before a run, what it publishes: the file listing
//! and file sizes, through the `hftp_client::Client` library over one
//! ordinary connection.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use hftp_client::Client;

use crate::BoxError;

/// How long setup connections and requests may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A blocking client for setup requests.
pub fn client(addr: SocketAddr) -> Result<Client, BoxError> {
    let stream = TcpStream::connect_timeout(&addr, SETUP_TIMEOUT)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream.set_read_timeout(Some(SETUP_TIMEOUT))?;
    stream.set_write_timeout(Some(SETUP_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(Client::new(stream))
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
