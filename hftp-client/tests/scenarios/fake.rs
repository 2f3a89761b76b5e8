//! A scripted fake server: one connection, served by a list of acts (read
//! a request line, send bytes whole, split at chosen points or trickled,
//! pause, close, reset), so that a scenario controls exactly what the
//! client receives and when.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The longest a fake waits for anything (a connection, a request line,
/// the client closing): past it, the script fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(20);

/// One thing the fake does, in order.
#[derive(Debug, Clone)]
pub enum Act {
    /// Reads one request line (through its LF) and checks it is this line
    /// (CRLF not included). Reads one byte at a time, so that whatever the
    /// client sent after the line stays unread in the socket.
    Read(String),
    /// Writes these bytes in one write.
    Send(Vec<u8>),
    /// Writes these bytes in pieces cut at these offsets, pausing between
    /// pieces.
    Split {
        bytes: Vec<u8>,
        cuts: Vec<usize>,
        pause: Duration,
    },
    /// Writes these bytes one at a time, one every `every`.
    Trickle { bytes: Vec<u8>, every: Duration },
    /// Does nothing for a while.
    Pause(Duration),
    /// Closes gracefully (FIN), then waits for the client to close.
    Close,
    /// Closes at once with request bytes unread, which makes the kernel
    /// reset the connection (RST) instead of closing it.
    Reset,
}

pub fn read(line: &str) -> Act {
    Act::Read(line.to_owned())
}

pub fn send(bytes: impl AsRef<[u8]>) -> Act {
    Act::Send(bytes.as_ref().to_vec())
}

/// A fake server on an ephemeral loopback port, for one connection.
pub struct Fake {
    addr: SocketAddr,
    thread: JoinHandle<Result<(), String>>,
}

impl Fake {
    /// Listens, and plays `script` on the first connection. When the
    /// script is done the fake keeps the connection open, reading, until
    /// the client closes (so a script that ends after a request is a
    /// server that stalls); bytes the client sends then are an error.
    pub fn start(script: Vec<Act>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = thread::spawn(move || {
            let stream = accept(&listener)?;
            drop(listener);
            play(stream, &script)
        });
        Fake { addr, thread }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for the script to end (close the client first) and returns
    /// what went wrong on the server's side, if anything.
    pub fn finish(self) -> Result<(), String> {
        self.thread
            .join()
            .unwrap_or_else(|_| Err("the fake server panicked".into()))
    }
}

fn accept(listener: &TcpListener) -> Result<TcpStream, String> {
    listener.set_nonblocking(true).unwrap();
    let started = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                return Ok(stream);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if started.elapsed() > PATIENCE {
                    return Err("no client connected".into());
                }
                thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
}

fn play(mut stream: TcpStream, script: &[Act]) -> Result<(), String> {
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    for (i, act) in script.iter().enumerate() {
        let wrote = match act {
            Act::Read(want) => {
                let got = read_line(&mut stream)
                    .map_err(|e| format!("act {i}: reading {want:?}: {e}"))?;
                if got != format!("{want}\r\n").as_bytes() {
                    return Err(format!(
                        "act {i}: expected the request {want:?}, got {:?}",
                        got.escape_ascii().to_string()
                    ));
                }
                Ok(())
            }
            Act::Send(bytes) => stream.write_all(bytes),
            Act::Split { bytes, cuts, pause } => {
                let mut from = 0;
                let mut result = Ok(());
                for &cut in cuts.iter().chain([&bytes.len()]) {
                    result = stream.write_all(&bytes[from..cut]);
                    if result.is_err() {
                        break;
                    }
                    from = cut;
                    if cut < bytes.len() {
                        thread::sleep(*pause);
                    }
                }
                result
            }
            Act::Trickle { bytes, every } => {
                let mut result = Ok(());
                for byte in bytes {
                    result = stream.write_all(&[*byte]);
                    if result.is_err() {
                        break;
                    }
                    thread::sleep(*every);
                }
                result
            }
            Act::Pause(d) => {
                thread::sleep(*d);
                Ok(())
            }
            Act::Close => {
                let _ = stream.shutdown(Shutdown::Write);
                // The client closes when the scenario is over; what it sent
                // meanwhile does not matter.
                drain(&mut stream);
                return Ok(());
            }
            Act::Reset => return Ok(()),
        };
        if wrote.is_err() {
            // The client gave up (a timeout, say) and closed: what it
            // makes of that is the scenario's to check.
            return Ok(());
        }
    }
    let mut extra = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => extra.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A reset: the client went away.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => return Err(format!("after the script: {e}")),
        }
    }
    match extra.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "the client sent {:?} after the script ended",
            extra.escape_ascii().to_string()
        )),
    }
}

/// One line, byte by byte, through its LF.
fn read_line(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut line = Vec::new();
    let mut byte = [0];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => return Err(format!("the client closed after {line:?}")),
            Ok(_) => {
                line.push(byte[0]);
                if byte[0] == b'\n' {
                    return Ok(line);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn drain(stream: &mut TcpStream) {
    let mut buf = [0; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}
