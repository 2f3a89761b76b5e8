//! The server binary over real loopback sockets: the docs/PROTOCOL.md §1 example
//! exchange, an error, a fatal error with its lingering close.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Child, Command, Stdio};

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("notes.txt"),
        "!Que calor que hace hoy, pinta una birra!",
    )
    .unwrap();
    std::fs::write(dir.path().join("photo.jpg"), [0u8, 1, 2, 255]).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hftp-server"))
        .args(["-a", "127.0.0.1", "-p", "0", "-q", "-d"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    Server {
        child,
        port,
        _dir: dir,
    }
}

/// Sends `request`, closes the write side, returns everything the server sent.
fn exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

#[test]
fn example_exchange_from_the_protocol() {
    let server = start();
    let got = exchange(
        server.port,
        b"get_file_listing\r\nget_metadata notes.txt\r\nget_slice notes.txt 5 20\r\nquit\r\n",
    );
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "0 OK\r\nnotes.txt\r\nphoto.jpg\r\n\r\n0 OK\r\n41\r\n0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n0 OK\r\n"
    );
}

#[test]
fn errors_and_raw_slices() {
    let server = start();
    let got = exchange(
        server.port,
        b"verdura\r\nget_metadata nope\r\nget_slice photo.jpg 1 3 raw\r\nget_slice photo.jpg 2 3\r\nquit\r\n",
    );
    let mut want =
        b"200 NO SUCH COMMAND\r\n202 FILE NOT FOUND\r\n0 OK\r\nContent-Length: 3\r\n\r\n".to_vec();
    want.extend_from_slice(&[1, 2, 255]);
    want.extend_from_slice(b"203 OFFSET EXCEEDS FILE SIZE\r\n0 OK\r\n");
    assert_eq!(got, want);
}

#[test]
fn fatal_error_survives_unread_junk() {
    let server = start();
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(b"qui\nt\r\n").unwrap();
    // A megabyte the server never reads as requests.
    let _ = s.write_all(&vec![b'x'; 1 << 20]);
    let _ = s.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert_eq!(out, b"100 BAD EOL\r\n");
}
