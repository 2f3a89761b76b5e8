//! `limits`: what this machine does without HFTP, the yardstick for the
//! other figures — which machine it is (CPU, cores, kernel), plain TCP
//! throughput over loopback between two threads of this process (one
//! writes, one reads, large buffers) and the CPU it costs, the speed of
//! base64-simd (the crate `hftp-proto` encodes and decodes slices with)
//! on one core, and request/response round trips over C loopback
//! connections against a trivial answering thread (the yardstick for
//! `rate`: same message sizes as `get_metadata`, no parsing, no files).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use base64_simd::{Out, STANDARD};
use serde::Serialize;

use crate::args::LimitsArgs;
use crate::proc::{self, Machine};
use crate::report::{gbps, thousands, Report};
use crate::BoxError;

/// The result of a `limits` run.
#[derive(Debug, Clone, Serialize)]
pub struct LimitsReport {
    /// `"limits"`.
    pub command: &'static str,
    /// The machine: the figures below are its own, and differ from host
    /// to host (compare ratios to them, not figures across machines).
    pub machine: Machine,
    /// Bytes per write/read and per encode/decode call.
    pub buffer_bytes: u64,
    /// Seconds per measurement.
    pub seconds_each: f64,
    /// TCP loopback, one connection, one writer and one reader thread,
    /// decimal GB/s.
    pub tcp_loopback_gb_per_second: f64,
    /// CPU seconds (both threads, user + system) that moving 1 GB over
    /// loopback cost: what a byte on the wire costs the machine, whoever
    /// pays it.
    pub tcp_loopback_cpu_seconds_per_gb: f64,
    /// base64 encoding, GB/s of input (payload) on one core.
    pub base64_encode_gb_per_second: f64,
    /// base64 decoding, GB/s of output (payload) on one core.
    pub base64_decode_gb_per_second: f64,
    /// The implementation base64-simd picked on this CPU.
    pub base64_note: &'static str,
    /// Connections of the round-trip measurements.
    pub echo_connections: u32,
    /// Round trips per second with one request in flight per connection:
    /// a `get_metadata`-sized line out, an 18-byte answer back.
    pub echo_requests_per_second: f64,
    /// The same with 32 requests in flight per connection.
    pub echo_requests_per_second_pipelined: f64,
}

impl Report for LimitsReport {
    fn title(&self) -> String {
        format!(
            "limits: {} byte buffers, {:.1} s per measurement",
            self.buffer_bytes, self.seconds_each
        )
    }

    fn rows(&self) -> Vec<(String, String)> {
        vec![
            ("machine".to_owned(), self.machine.summary()),
            (
                "TCP loopback, 2 threads".to_owned(),
                format!(
                    "{:.3} GB/s ({:.2} CPU s per GB)",
                    self.tcp_loopback_gb_per_second, self.tcp_loopback_cpu_seconds_per_gb
                ),
            ),
            (
                "base64 encode (payload)".to_owned(),
                format!("{:.3} GB/s", self.base64_encode_gb_per_second),
            ),
            (
                "base64 decode (payload)".to_owned(),
                format!("{:.3} GB/s", self.base64_decode_gb_per_second),
            ),
            (
                format!(
                    "TCP round trips, {} conns, pipeline 1",
                    self.echo_connections
                ),
                format!(
                    "{}/s",
                    thousands(self.echo_requests_per_second.round() as u64)
                ),
            ),
            (
                format!(
                    "TCP round trips, {} conns, pipeline 32",
                    self.echo_connections
                ),
                format!(
                    "{}/s",
                    thousands(self.echo_requests_per_second_pipelined.round() as u64)
                ),
            ),
        ]
    }
}

/// Measures.
pub fn run(args: &LimitsArgs) -> Result<LimitsReport, BoxError> {
    let buffer = args.buffer as usize;
    let (tcp, tcp_cpu) = tcp_loopback(buffer, args.duration)?;
    let (encode, decode) = base64(buffer, args.duration);
    let echo_single = echo(args.connections as usize, 1, args.duration)?;
    let echo_pipelined = echo(args.connections as usize, 32, args.duration)?;
    Ok(LimitsReport {
        command: "limits",
        machine: proc::machine(),
        buffer_bytes: args.buffer,
        seconds_each: args.duration.as_secs_f64(),
        tcp_loopback_gb_per_second: tcp,
        tcp_loopback_cpu_seconds_per_gb: tcp_cpu,
        base64_encode_gb_per_second: encode,
        base64_decode_gb_per_second: decode,
        base64_note: "base64-simd 0.8, runtime CPU detection (AVX2 / SSE4.1 / NEON / fallback)",
        echo_connections: args.connections,
        echo_requests_per_second: echo_single,
        echo_requests_per_second_pipelined: echo_pipelined,
    })
}

/// One connection over 127.0.0.1: this thread writes `buffer`-byte
/// buffers for `duration`, another reads them; GB/s the reader got, and
/// the CPU seconds per GB this process spent meanwhile (it runs nothing
/// else then).
fn tcp_loopback(buffer: usize, duration: Duration) -> Result<(f64, f64), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = std::thread::Builder::new()
        .name("limits-reader".into())
        .spawn(move || -> std::io::Result<(u64, Instant)> {
            let (mut stream, _) = listener.accept()?;
            let mut buf = vec![0u8; buffer];
            let mut total = 0u64;
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => return Ok((total, Instant::now())),
                    Ok(n) => total += n as u64,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        })?;
    let mut stream = TcpStream::connect(addr)?;
    let payload: Vec<u8> = (0..buffer).map(|i| (i * 31 + 7) as u8).collect();
    let cpu_start = proc::cpu_seconds(None)?;
    let start = Instant::now();
    let deadline = start + duration;
    while Instant::now() < deadline {
        stream.write_all(&payload)?;
    }
    stream.shutdown(Shutdown::Write)?;
    let (total, end) = reader.join().map_err(|_| "the reader thread panicked")??;
    let cpu = proc::cpu_seconds(None)? - cpu_start;
    Ok((
        gbps(total, (end - start).as_secs_f64()),
        cpu / (total as f64 / 1e9).max(1e-12),
    ))
}

/// base64-simd encode and decode of `buffer` bytes, repeated for
/// `duration` each; GB/s of payload.
fn base64(buffer: usize, duration: Duration) -> (f64, f64) {
    // Pseudo-random bytes, so no shortcut applies.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let payload: Vec<u8> = (0..buffer)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut text = vec![0u8; STANDARD.encoded_length(buffer)];
    let mut decoded = vec![0u8; buffer];

    let encode = repeat(duration, || {
        let _ = STANDARD.encode(&payload, Out::from_slice(&mut text));
        buffer as u64
    });
    let decode = repeat(duration, || {
        let n = STANDARD
            .decode(&text, Out::from_slice(&mut decoded))
            .map(|d| d.len())
            .unwrap_or(0);
        n as u64
    });
    assert_eq!(decoded, payload, "base64 round trip");
    (encode, decode)
}

/// Calls `f` until `duration` has passed; GB/s of the bytes it reports.
fn repeat(duration: Duration, mut f: impl FnMut() -> u64) -> f64 {
    let start = Instant::now();
    let mut total = 0u64;
    loop {
        total += f();
        let elapsed = start.elapsed();
        if elapsed >= duration {
            return gbps(total, elapsed.as_secs_f64());
        }
    }
}

/// What the round-trip client sends: a `get_metadata` line.
const ECHO_REQUEST: &[u8] = b"get_metadata big.bin\r\n";
/// What the answering thread sends back for each line: a metadata answer.
const ECHO_RESPONSE: &[u8] = b"0 OK\r\n1073741824\r\n";

/// Round trips per second over `conns` loopback connections with `depth`
/// requests in flight on each: this thread sends request lines and counts
/// answers (one mio loop), another answers every line it reads (one mio
/// loop) — the work of `rate` minus HFTP.
fn echo(conns: usize, depth: usize, duration: Duration) -> Result<f64, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let stop = Arc::new(AtomicBool::new(false));
    let answering = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("limits-echo".into())
            .spawn(move || answer_lines(listener, &stop))?
    };
    let result = count_round_trips(addr, conns, depth, duration);
    stop.store(true, Ordering::Relaxed);
    answering
        .join()
        .map_err(|_| "the answering thread panicked")??;
    result
}

/// The answering side: for every LF read, one [`ECHO_RESPONSE`], all the
/// answers to one read in one write.
fn answer_lines(listener: TcpListener, stop: &AtomicBool) -> io::Result<()> {
    const LISTENER: Token = Token(usize::MAX);
    let mut poll = Poll::new()?;
    let mut listener = mio::net::TcpListener::from_std(listener);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        poll.poll(&mut events, Some(Duration::from_millis(20)))?;
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            stream.set_nodelay(true)?;
                            poll.registry().register(
                                &mut stream,
                                Token(conns.len()),
                                Interest::READABLE,
                            )?;
                            conns.push(stream);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            let stream = &mut conns[event.token().0];
            loop {
                let n = match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // The client closes with data in flight at the end.
                    Err(_) => break,
                };
                let lines = buf[..n].iter().filter(|&&b| b == b'\n').count();
                out.clear();
                for _ in 0..lines {
                    out.extend_from_slice(ECHO_RESPONSE);
                }
                // Answers are small and the client reads them all: the
                // socket buffer always has room.
                if stream.write_all(&out).is_err() || n < buf.len() {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// The asking side; answers per second within `duration`.
fn count_round_trips(
    addr: SocketAddr,
    conns: usize,
    depth: usize,
    duration: Duration,
) -> Result<f64, BoxError> {
    let mut poll = Poll::new()?;
    let mut streams = Vec::with_capacity(conns);
    // Answers expected on each connection, and bytes of a partial answer.
    let mut state = vec![(0usize, 0usize); conns];
    let batch = ECHO_REQUEST.repeat(depth);
    for i in 0..conns {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        let mut stream = mio::net::TcpStream::from_std(stream);
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE)?;
        streams.push(stream);
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let start = Instant::now();
    let deadline = start + duration;
    for (stream, st) in streams.iter_mut().zip(&mut state) {
        stream.write_all(&batch)?;
        st.0 = depth;
    }
    let mut answers = 0u64;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        poll.poll(&mut events, Some(deadline - now))?;
        for event in events.iter() {
            let i = event.token().0;
            let (stream, st) = (&mut streams[i], &mut state[i]);
            let mut done = 0;
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => return Err("the answering thread closed a connection".into()),
                    Ok(n) => {
                        st.1 += n;
                        done += st.1 / ECHO_RESPONSE.len();
                        st.1 %= ECHO_RESPONSE.len();
                        if n < buf.len() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if Instant::now() < deadline {
                answers += done as u64;
            }
            st.0 -= done;
            let refill = depth - st.0;
            if refill > 0 {
                stream.write_all(&batch[..refill * ECHO_REQUEST.len()])?;
                st.0 = depth;
            }
        }
    }
    Ok(answers as f64 / duration.as_secs_f64())
}
