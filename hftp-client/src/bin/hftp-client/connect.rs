//! Reaching the server named by `-H/--host` and `-p/--port`: a library
//! [`Client`] for most commands, a bare socket for `send`.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};

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

/// A bare TCP connection with the same timeouts as [`client`].
pub fn socket(global: &Global) -> Result<TcpStream, Failure> {
    let addr = address(global);
    let failure = |e: io::Error| {
        Failure::new(
            fail::FAILED,
            format!("cannot connect to {addr}: {}", fail::describe_io(&e)),
        )
    };
    let timeout = global.timeout();
    let mut last = io::Error::new(
        io::ErrorKind::InvalidInput,
        "the address resolved to nothing",
    );
    for peer in addr.to_socket_addrs().map_err(failure)? {
        let stream = match timeout {
            Some(t) => TcpStream::connect_timeout(&peer, t),
            None => TcpStream::connect(peer),
        };
        match stream {
            Ok(stream) => {
                let setup = (|| {
                    stream.set_read_timeout(timeout)?;
                    stream.set_write_timeout(timeout)?;
                    stream.set_nodelay(true)
                })();
                setup.map_err(failure)?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(failure(last))
}
