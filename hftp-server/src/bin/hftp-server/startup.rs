//! What is checked before serving: the directory (only the default one is
//! created, one level), and the listening address (a host name resolved).

use std::fs;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// The directory served when `-d` is not given.
pub const DEFAULT_DIRECTORY: &str = "testdata";

/// The directory to serve: `-d DIR` as given (checked by the library when
/// it binds), or `./testdata`, created if missing.
pub fn directory(asked: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(dir) = asked {
        return Ok(dir);
    }
    let dir = PathBuf::from(DEFAULT_DIRECTORY);
    match fs::create_dir(&dir) {
        Ok(()) => {
            tracing::info!("created ./{DEFAULT_DIRECTORY}: put the files to serve there");
            Ok(dir)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(dir),
        Err(e) => Err(format!("cannot create ./{DEFAULT_DIRECTORY}: {e}")),
    }
}

/// The advice added to a directory error.
pub fn directory_advice(asked: bool, path: &Path) -> String {
    match (asked, path.exists()) {
        (true, false) => format!(" (create it, or leave out -d to serve ./{DEFAULT_DIRECTORY})"),
        _ => String::new(),
    }
}

/// `-a HOST` and `-p PORT` as one socket address: an address as given, or
/// a host name's first IPv4 address (else its first IPv6 one).
pub fn address(host: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let found: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or(found.first())
        .copied()
        .ok_or_else(|| format!("{host} resolves to no address"))
}

/// The line said when the server listens on every interface.
pub fn exposure(local: SocketAddr) -> Option<String> {
    local.ip().is_unspecified().then(|| {
        format!(
            "hftp-server: listening on all interfaces ({}): the directory is reachable from \
             other machines; -a 127.0.0.1 keeps it to this one",
            local.ip()
        )
    })
}
