//! Sockets: how much of what was written the peer has not acknowledged
//! (Linux `SIOCOUTQ`; unknown elsewhere), resetting a connection, and
//! whether a socket handed over is a listening TCP one.

use std::os::fd::AsFd;
use std::time::Duration;

/// Bytes written to `socket` that the peer has not acknowledged yet, or
/// `None` where the OS cannot tell. Linux: `SIOCOUTQ` (`TIOCOUTQ`).
#[cfg(all(target_os = "linux", not(hftp_portable)))]
pub fn unacked(socket: &impl AsFd) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) on a socket writes one c_int through the
    // pointer, which points to a live, properly aligned c_int; the
    // descriptor is borrowed, so it stays open for the call.
    let rc = unsafe {
        libc::ioctl(
            socket.as_fd().as_raw_fd(),
            libc::TIOCOUTQ,
            &mut queued as *mut libc::c_int,
        )
    };
    (rc == 0).then(|| queued.max(0) as u64)
}

/// Bytes written to `socket` that the peer has not acknowledged yet, or
/// `None` where the OS cannot tell (here: always).
#[cfg(not(all(target_os = "linux", not(hftp_portable))))]
pub fn unacked(_socket: &impl AsFd) -> Option<u64> {
    None
}

/// Makes the next close of `socket` a reset (`SO_LINGER` 0): queued bytes
/// are dropped and the peer learns at once.
pub fn set_abortive_close(socket: &impl AsFd) {
    let _ = socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO));
}

/// Why `socket` cannot be served as a listening TCP socket, or `None`
/// when it can. Whether it listens is asked (`SO_ACCEPTCONN`) where the
/// OS tells; elsewhere a bound stream socket is taken on trust.
pub fn not_a_tcp_listener(socket: &impl AsFd) -> Option<String> {
    let socket = socket2::SockRef::from(socket);
    match socket.r#type() {
        Ok(t) if t == socket2::Type::STREAM => {}
        Ok(_) => return Some("it is not a stream (TCP) socket".into()),
        Err(e) => return Some(format!("it is not a socket ({e})")),
    }
    match socket.local_addr().map(|a| a.as_socket()) {
        Ok(Some(_)) => {}
        Ok(None) => return Some("it is not an IPv4 or IPv6 socket".into()),
        Err(e) => return Some(format!("its address is unknown ({e})")),
    }
    match listening(&socket) {
        Some(false) => Some("it is not listening (no listen() was called on it)".into()),
        _ => None,
    }
}

#[cfg(any(target_os = "android", target_os = "freebsd", target_os = "linux"))]
fn listening(socket: &socket2::SockRef<'_>) -> Option<bool> {
    socket.is_listener().ok()
}

#[cfg(not(any(target_os = "android", target_os = "freebsd", target_os = "linux")))]
fn listening(_socket: &socket2::SockRef<'_>) -> Option<bool> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{self, Read, Write};
    use std::net::{TcpListener, TcpStream};

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (server, client)
    }

    #[test]
    fn unacked_is_zero_once_the_peer_has_everything_and_grows_while_it_cannot_take_more() {
        let (server, mut client) = pair();
        let Some(first) = unacked(&server) else {
            eprintln!("skipped: this OS does not report unacknowledged bytes");
            return;
        };
        assert_eq!(first, 0);
        (&server).write_all(b"hello").unwrap();
        let mut buf = [0; 5];
        client.read_exact(&mut buf).unwrap();
        // Acknowledged by now or very soon (loopback).
        let begun = std::time::Instant::now();
        while unacked(&server) != Some(0) {
            assert!(begun.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(1));
        }
        // A peer that reads nothing: its window fills, the rest waits.
        server.set_nonblocking(true).unwrap();
        let mut written = 0u64;
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match (&server).write(&chunk) {
                Ok(n) => written += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let queued = unacked(&server).unwrap();
        assert!(queued > 0 && queued <= written, "{queued} of {written}");
    }

    #[test]
    fn abortive_close_resets_the_peer() {
        let (server, mut client) = pair();
        (&server).write_all(b"x").unwrap();
        set_abortive_close(&server);
        drop(server);
        let mut buf = [0; 16];
        // The byte may or may not arrive first; then the reset.
        let mut reset = false;
        for _ in 0..2 {
            match client.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
                    reset = true;
                    break;
                }
            }
        }
        assert!(reset, "a graceful close instead of a reset");
    }

    #[test]
    fn a_listener_is_accepted_and_other_sockets_are_refused_with_the_reason() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(not_a_tcp_listener(&listener), None);
        let (_, client) = pair();
        if cfg!(target_os = "linux") {
            let why = not_a_tcp_listener(&client).expect("a connected stream is refused");
            assert!(why.contains("not listening"), "{why}");
        }
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let why = not_a_tcp_listener(&udp).expect("a datagram socket is refused");
        assert!(why.contains("not a stream"), "{why}");
        let file = tempfile::tempfile().unwrap();
        let why = not_a_tcp_listener(&file).expect("a file is refused");
        assert!(why.contains("not a socket"), "{why}");
    }
}
