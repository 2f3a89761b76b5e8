//! A TLS terminator for tests, until the server speaks TLS itself: a
//! thread accepting TCP, doing the rustls server side, and forwarding the
//! plaintext both ways to a plain HFTP server. It sends a close_notify
//! when the server closes, as the real server does.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// Listens on a free loopback port; each connection is terminated with
/// `config` and forwarded to `target`. Returns the port's address.
pub fn terminate(config: Arc<ServerConfig>, target: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let config = config.clone();
            thread::spawn(move || {
                let _ = forward(config, tcp, target);
            });
        }
    });
    addr
}

/// One connection: TLS on `tcp`, plaintext to `target`. One thread,
/// polling both sides with short read timeouts (a rustls stream cannot
/// be shared between threads without a lock).
fn forward(config: Arc<ServerConfig>, tcp: TcpStream, target: SocketAddr) -> io::Result<()> {
    let conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    let mut plain = TcpStream::connect(target)?;
    let tick = Some(Duration::from_millis(5));
    tls.sock.set_read_timeout(tick)?;
    plain.set_read_timeout(tick)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                plain.write_all(&buf[..n])?;
            }
            Err(e) if idle(&e) => {}
            Err(e) => return Err(e),
        }
        match plain.read(&mut buf) {
            Ok(0) => {
                tls.conn.send_close_notify();
                tls.sock.set_read_timeout(None)?;
                while tls.conn.wants_write() {
                    tls.conn.write_tls(&mut tls.sock)?;
                }
                return Ok(());
            }
            Ok(n) => {
                tls.write_all(&buf[..n])?;
                tls.flush()?;
            }
            Err(e) if idle(&e) => {}
            Err(e) => return Err(e),
        }
    }
}

fn idle(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
