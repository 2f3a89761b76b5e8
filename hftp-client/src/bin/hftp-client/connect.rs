//! Reaching the server named by `-H/--host` and `-p/--port`: the
//! library's [`Server`], and a [`Client`] connected to it.

use hftp_client::{Client, Error, Server, Timeouts};

use crate::args::Global;
use crate::fail::{self, Failure};

/// `host:port`, with an IPv6 address in brackets (`[::1]:19500`).
pub fn address(global: &Global) -> String {
    let host = &global.host;
    match host.contains(':') && !host.starts_with('[') {
        true => format!("[{host}]:{}", global.port),
        false => format!("{host}:{}", global.port),
    }
}

/// The server `-H`/`-p` name, with the `--timeout` applied to
/// connecting, reading and writing.
pub fn server(global: &Global) -> Result<Server, Failure> {
    Server::new(address(global), Timeouts::uniform(global.timeout()))
        .map_err(|e| failure(global, &e))
}

/// A client connected to [`server`].
pub fn client(global: &Global) -> Result<Client, Failure> {
    server(global)?.connect().map_err(|e| failure(global, &e))
}

/// "cannot connect to ADDR: why".
pub fn failure(global: &Global, e: &Error) -> Failure {
    Failure::new(
        fail::FAILED,
        format!(
            "cannot connect to {}: {}",
            address(global),
            fail::describe(e)
        ),
    )
}
