//! Reaching the server named by `-H/--host` and `-p/--port`: the
//! library's [`Server`], and a [`Client`] connected to it.

use hftp_client::tls::TlsConfig;
use hftp_client::{Client, Error, Server, Timeouts};

use crate::args::Global;
use crate::fail::{self, Failure};

/// `host:port`, with an IPv6 address in brackets (`[::1]:19500`). A port
/// given in `-H HOST:PORT` wins over `-p`.
pub fn address(global: &Global) -> String {
    let (host, port) = split_host(&global.host).unwrap_or((&global.host, None));
    let port = port.unwrap_or(global.port());
    match host.contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    }
}

/// `-H`: a host name or address, optionally with a port: `localhost`,
/// `10.0.0.7:2121`, `::1`, `[::1]`, `[::1]:2121`, each optionally as
/// `hftps://...` or `hftp://...` (a `/` at the end is allowed). Returns
/// the host (without brackets) and the port, if one was given.
pub fn split_host(text: &str) -> Result<(&str, Option<u16>), String> {
    let text = match text.split_once("://") {
        Some(("hftps" | "hftp", rest)) => rest.strip_suffix('/').unwrap_or(rest),
        Some((scheme, _)) => {
            return Err(format!(
                "'{scheme}://' is not a scheme of HFTP (hftp:// or hftps://)"
            ))
        }
        None => text,
    };
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("'{p}' in '{text}' is not a port number (0-65535)"))
    };
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("'{text}' has no closing ']'"))?;
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((host, Some(port(p)?))),
                None => Err(format!("'{text}': expected [ADDRESS]:PORT")),
            },
        };
    }
    let host = match text.matches(':').count() {
        // A bare IPv6 address: no port (write [ADDRESS]:PORT for one).
        0 | 2.. => (text, None),
        _ => {
            let (host, p) = text.split_once(':').unwrap_or((text, ""));
            (host, Some(port(p)?))
        }
    };
    match host.0.is_empty() {
        true => Err("the host is empty".to_owned()),
        false => Ok(host),
    }
}

/// The value parser of `-H`: checked once, kept as typed.
pub fn parse_host(text: &str) -> Result<String, String> {
    split_host(text).map(|_| text.to_owned())
}

/// The server `-H`/`-p` name, with the `--timeout` applied to
/// connecting, reading and writing.
pub fn server(global: &Global) -> Result<Server, Failure> {
    server_with(global, Timeouts::uniform(global.timeout()))
}

/// The server `-H`/`-p` name, reached with `timeouts`, over TLS when
/// [`Global::use_tls`] says so.
pub fn server_with(global: &Global, timeouts: Timeouts) -> Result<Server, Failure> {
    let made = match global.use_tls() {
        false => Server::new(address(global), timeouts),
        true => {
            let config = match &global.ca {
                Some(file) => TlsConfig::from_ca_file(file),
                None => TlsConfig::platform(),
            }
            .map_err(|e| Failure::new(fail::FAILED, fail::describe(&e)))?;
            Server::tls(&address(global), &config, timeouts)
        }
    };
    made.map_err(|e| {
        let (host, _) = split_host(&global.host).unwrap_or((&global.host, None));
        Failure::new(
            fail::FAILED,
            format!(
                "cannot resolve the host name {host}: {}",
                fail::describe(&e)
            ),
        )
    })
}

/// A client connected to [`server`].
pub fn client(global: &Global) -> Result<Client, Failure> {
    server(global)?.connect().map_err(|e| failure(global, &e))
}

/// "cannot connect to ADDR: why", and for a refused connection what to
/// check.
pub fn failure(global: &Global, e: &Error) -> Failure {
    let refused = matches!(e, Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused);
    let hint = match refused {
        true => " (is an HFTP server running there? -H HOST[:PORT] and -p PORT pick another)",
        false => "",
    };
    Failure::new(
        fail::FAILED,
        format!(
            "cannot connect to {}: {}{hint}",
            address(global),
            fail::describe(e)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::split_host;

    #[test]
    fn hosts_with_and_without_ports() {
        assert_eq!(split_host("localhost"), Ok(("localhost", None)));
        assert_eq!(
            split_host("127.0.0.1:19501"),
            Ok(("127.0.0.1", Some(19501)))
        );
        assert_eq!(split_host("::1"), Ok(("::1", None)));
        assert_eq!(split_host("[::1]"), Ok(("::1", None)));
        assert_eq!(split_host("[fe80::1]:2121"), Ok(("fe80::1", Some(2121))));
        assert!(split_host("host:port").is_err());
        assert!(split_host("host:70000").is_err());
        assert!(split_host("[::1").is_err());
        assert!(split_host("[::1]2121").is_err());
        assert!(split_host(":2121").is_err());
        assert!(split_host("").is_err());
        assert_eq!(split_host("hftps://localhost"), Ok(("localhost", None)));
        assert_eq!(split_host("hftp://[::1]:2121/"), Ok(("::1", Some(2121))));
        assert!(split_host("http://localhost").is_err());
    }
}
