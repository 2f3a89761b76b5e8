//! Listening sockets inherited from systemd (socket activation): the
//! `LISTEN_FDS`/`LISTEN_PID` protocol, read by the `listenfd` crate, and
//! the sockets' names (`LISTEN_FDNAMES`, from `FileDescriptorName=`),
//! which `listenfd` does not read, taken from the environment here.
//!
//! A socket named `tls` is meant for TLS; any other name (systemd's
//! default is the socket unit's name) is the plain HFTP socket. All three
//! variables are removed, so that no child inherits them.

use std::net::TcpListener;

use thiserror::Error;

/// The name (`FileDescriptorName=tls`) of the socket meant for TLS.
pub const TLS_NAME: &str = "tls";

/// The sockets systemd handed over, by role.
#[derive(Debug, Default)]
pub struct Inherited {
    /// The plain HFTP socket.
    pub plain: Option<TcpListener>,
    /// The socket named `tls`.
    pub tls: Option<TcpListener>,
}

/// Why the inherited sockets cannot be served.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ActivationError {
    /// More sockets than one plain and one `tls`.
    #[error(
        "systemd passed {count} sockets ({names}); hftp-server serves one plain socket and \
         at most one named 'tls' (FileDescriptorName=tls): remove the others from the socket unit"
    )]
    TooMany {
        /// How many were passed.
        count: usize,
        /// Their names, as systemd gave them.
        names: String,
    },
    /// A socket that is not a TCP one (e.g. `ListenDatagram=`).
    #[error(
        "the inherited socket '{name}' cannot be served: {reason} (use ListenStream= in the \
         socket unit)"
    )]
    NotTcp {
        /// Its name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A socket's role, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Plain,
    Tls,
}

/// The sockets systemd passed to this process, or `None` when it passed
/// none (no `LISTEN_FDS`, or one meant for another process).
pub fn take() -> Result<Option<Inherited>, ActivationError> {
    let names = std::env::var("LISTEN_FDNAMES").ok();
    // Reads LISTEN_FDS and LISTEN_PID, and removes them.
    let mut fds = listenfd::ListenFd::from_env();
    std::env::remove_var("LISTEN_FDNAMES");
    let count = fds.len();
    if count == 0 {
        return Ok(None);
    }
    let roles = classify(names.as_deref(), count)?;
    let mut inherited = Inherited::default();
    for (i, (role, name)) in roles.into_iter().enumerate() {
        let listener = fds
            .take_tcp_listener(i)
            .map_err(|e| ActivationError::NotTcp {
                name: name.clone(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| ActivationError::NotTcp {
                name: name.clone(),
                reason: "it was already taken".into(),
            })?;
        match role {
            Role::Plain => inherited.plain = Some(listener),
            Role::Tls => inherited.tls = Some(listener),
        }
    }
    Ok(Some(inherited))
}

/// Each of `count` sockets' role and name, from `LISTEN_FDNAMES` (names
/// separated by `:`; missing ones are `unknown`, as systemd says).
fn classify(names: Option<&str>, count: usize) -> Result<Vec<(Role, String)>, ActivationError> {
    let mut given = names.unwrap_or_default().split(':');
    let named: Vec<(Role, String)> = (0..count)
        .map(|_| {
            let name = given
                .next()
                .filter(|n| !n.is_empty())
                .unwrap_or("unknown")
                .to_owned();
            let role = if name == TLS_NAME {
                Role::Tls
            } else {
                Role::Plain
            };
            (role, name)
        })
        .collect();
    let plain = named.iter().filter(|(r, _)| *r == Role::Plain).count();
    if plain > 1 || count - plain > 1 {
        return Err(ActivationError::TooMany {
            count,
            names: named
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(named)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_socket_of_any_name_is_the_plain_one() {
        assert_eq!(
            classify(None, 1).unwrap(),
            [(Role::Plain, "unknown".into())]
        );
        assert_eq!(
            classify(Some("hftp-server.socket"), 1).unwrap(),
            [(Role::Plain, "hftp-server.socket".into())]
        );
    }

    #[test]
    fn a_socket_named_tls_is_the_tls_one_in_any_position() {
        assert_eq!(
            classify(Some("tls:hftp-server.socket"), 2).unwrap(),
            [
                (Role::Tls, "tls".into()),
                (Role::Plain, "hftp-server.socket".into())
            ]
        );
        assert_eq!(
            classify(Some("tls"), 1).unwrap(),
            [(Role::Tls, "tls".into())]
        );
    }

    #[test]
    fn two_plain_or_two_tls_sockets_are_one_clear_error() {
        let e = classify(Some("a:b"), 2).unwrap_err();
        assert_eq!(
            e,
            ActivationError::TooMany {
                count: 2,
                names: "a, b".into()
            }
        );
        assert!(e.to_string().contains("at most one named 'tls'"), "{e}");
        assert!(classify(Some("tls:tls"), 2).is_err());
        // Fewer names than sockets: the rest are `unknown`, two plain ones.
        assert!(classify(Some("x"), 2).is_err());
        assert!(classify(Some("x:tls:y"), 3).is_err());
    }
}
