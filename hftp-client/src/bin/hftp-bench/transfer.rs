//! `transfer`: payload throughput downloading one file.
//!
//! The file's size is asked with `get_metadata`; the file is cut into C
//! contiguous parts, one per connection, and each connection (a thread
//! of its own, blocking I/O) downloads its part again and again until
//! the duration ends or the whole file has been downloaded `--count`
//! times. Each connection is an `hftp_client::Connection`, the driver
//! every client in the workspace runs on: every byte is decoded (base64
//! decoded; raw bodies read from the socket straight into the buffer) and
//! each slice must hold exactly the bytes asked for, so the figure is the
//! payload a real client gets. A download still running when the duration
//! ends (the connection's deadline) is cut short; its bytes so far
//! count.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use hftp_client::{Connection, Timeouts};
use hftp_proto::{Event, FileName, Request, Slice};
use serde::Serialize;

use crate::args::TransferArgs;
use crate::proc::{self, ServerUsage};
use crate::report::{self, gbps, thousands, Report};
use crate::{probe, BoxError};

/// The result of a `transfer` run.
#[derive(Debug, Clone, Serialize)]
pub struct TransferReport {
    /// `"transfer"`.
    pub command: &'static str,
    /// The server.
    pub server: String,
    /// The file downloaded.
    pub file: String,
    /// Its size, bytes.
    pub file_size: u64,
    /// `"raw"` or `"base64"`.
    pub encoding: &'static str,
    /// Whether the connections were TLS.
    pub tls: bool,
    /// Connections.
    pub connections: u32,
    /// Seconds from the first request to the last byte.
    pub seconds: f64,
    /// Payload bytes received and decoded.
    pub payload_bytes: u64,
    /// Slices (one per connection per round) complete and verified.
    pub slices_completed: u64,
    /// Whole-file equivalents downloaded (payload / file size).
    pub files_downloaded: f64,
    /// Payload throughput, decimal GB/s.
    pub payload_gb_per_second: f64,
    /// Bytes on the wire (base64 text, or raw bytes plus headers), GB/s.
    pub wire_gb_per_second: f64,
    /// CPU seconds this client used.
    pub client_cpu_seconds: f64,
    /// The server's CPU and memory (with --server-pid).
    pub server_usage: Option<ServerUsage>,
    /// Server CPU seconds per GB of payload (with --server-pid).
    pub server_cpu_seconds_per_gb: Option<f64>,
}

impl Report for TransferReport {
    fn title(&self) -> String {
        format!(
            "transfer: {} ({} bytes), {}{}, {} connection(s), {:.1} s against {}",
            self.file,
            thousands(self.file_size),
            self.encoding,
            if self.tls { " over TLS" } else { "" },
            self.connections,
            self.seconds,
            self.server
        )
    }

    fn rows(&self) -> Vec<(String, String)> {
        let mut rows = vec![
            (
                "payload".to_owned(),
                format!("{:.3} GB/s", self.payload_gb_per_second),
            ),
            (
                "on the wire".to_owned(),
                format!("{:.3} GB/s", self.wire_gb_per_second),
            ),
            (
                "downloaded".to_owned(),
                format!(
                    "{} bytes ({:.2} x the file, {} slices complete)",
                    thousands(self.payload_bytes),
                    self.files_downloaded,
                    self.slices_completed
                ),
            ),
            (
                "client CPU".to_owned(),
                format!(
                    "{:.2} s ({:.0}% of one core)",
                    self.client_cpu_seconds,
                    100.0 * self.client_cpu_seconds / self.seconds.max(1e-9)
                ),
            ),
        ];
        rows.extend(report::server_rows(
            "",
            self.server_usage.as_ref(),
            self.seconds,
        ));
        if let Some(per_gb) = self.server_cpu_seconds_per_gb {
            rows.push(("server CPU per GB".to_owned(), format!("{per_gb:.3} s")));
        }
        rows
    }
}

/// Measures.
pub fn run(
    addr: SocketAddr,
    args: &TransferArgs,
    server_pid: Option<u32>,
) -> Result<TransferReport, BoxError> {
    FileName::new(&args.file)?;
    let secure = |server| match args.use_tls() {
        true => probe::tls(server, args.ca.as_deref(), args.tls_name.as_deref()),
        false => Ok(server),
    };
    let mut client = probe::client_of(&secure(probe::server(addr, probe::setup_timeouts()))?)?;
    let size = probe::size(&mut client, &args.file)?;
    drop(client);
    if size == 0 {
        return Err(format!("{} is empty: nothing to transfer", args.file).into());
    }
    let conns = u64::from(args.connections).min(size);
    // Reads wait as long as the duration allows (each connection's
    // deadline); connecting and writing as long as setup may.
    let server = secure(probe::server(
        addr,
        Timeouts {
            read: None,
            ..probe::setup_timeouts()
        },
    ))?;
    let mut streams = Vec::new();
    for _ in 0..conns {
        streams.push(probe::connection(&server)?);
    }
    let wire = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(streams.len() + 1));
    let mut handles = Vec::new();
    for (i, stream) in streams.into_iter().enumerate() {
        let i = i as u64;
        let part = Part {
            name: args.file.clone(),
            offset: size * i / conns,
            size: size * (i + 1) / conns - size * i / conns,
            raw: args.raw,
            rounds: args.count,
            buffer: args.buffer as usize,
        };
        let (barrier, wire) = (Arc::clone(&barrier), Arc::clone(&wire));
        let duration = args.duration;
        handles.push(
            std::thread::Builder::new()
                .name(format!("transfer-{i}"))
                .spawn(move || {
                    barrier.wait();
                    let deadline = Instant::now() + duration;
                    part.download(stream, deadline, &wire)
                })?,
        );
    }
    let monitor = proc::monitor(server_pid)?;
    let cpu_start = proc::cpu_seconds(None)?;
    barrier.wait();
    let started = Instant::now();
    let mut payload = 0;
    let mut slices = 0;
    let mut failure = None;
    for handle in handles {
        match handle.join() {
            Ok(done) => {
                payload += done.payload;
                slices += done.slices;
                if let Some(e) = done.error {
                    failure.get_or_insert(e);
                }
            }
            Err(_) => failure = Some("a download thread panicked".to_owned()),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let client_cpu_seconds = proc::cpu_seconds(None)? - cpu_start;
    let server_usage = proc::finish(monitor)?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    let server_cpu_seconds_per_gb = server_usage
        .as_ref()
        .map(|u| u.cpu_seconds / (payload as f64 / 1e9).max(1e-12));
    Ok(TransferReport {
        command: "transfer",
        server: addr.to_string(),
        file: args.file.clone(),
        file_size: size,
        encoding: if args.raw { "raw" } else { "base64" },
        tls: args.use_tls(),
        connections: conns as u32,
        seconds,
        payload_bytes: payload,
        slices_completed: slices,
        files_downloaded: payload as f64 / size as f64,
        payload_gb_per_second: gbps(payload, seconds),
        wire_gb_per_second: gbps(wire.load(Ordering::Relaxed), seconds),
        client_cpu_seconds,
        server_usage,
        server_cpu_seconds_per_gb,
    })
}

/// One connection's share of the file.
struct Part {
    name: String,
    offset: u64,
    size: u64,
    raw: bool,
    rounds: Option<u64>,
    buffer: usize,
}

/// What one connection did.
struct Done {
    payload: u64,
    slices: u64,
    error: Option<String>,
}

impl Part {
    fn download(&self, mut conn: Connection, deadline: Instant, wire: &AtomicU64) -> Done {
        let mut done = Done {
            payload: 0,
            slices: 0,
            error: None,
        };
        // Reads of `--buffer` bytes; inside a raw body they go from the
        // socket straight into `data`, as a zero-copy client takes them.
        conn.set_read_size(self.buffer);
        conn.set_deadline(Some(deadline));
        let mut data = vec![0u8; self.buffer];
        let name = FileName::new(&self.name).expect("checked before the run");
        let request = Request::GetSlice(Slice {
            name,
            offset: self.offset,
            size: self.size,
            raw: self.raw,
        });
        while self.rounds.is_none_or(|n| done.slices < n) && Instant::now() < deadline {
            match self.round(&mut conn, &request, &mut data, &mut done, deadline) {
                Ok(true) => done.slices += 1,
                Ok(false) => break,
                Err(e) => {
                    done.error = Some(e);
                    break;
                }
            }
        }
        wire.fetch_add(conn.pipeline().bytes_received(), Ordering::Relaxed);
        if done.error.is_none() && !conn.is_broken() {
            let (_, _, rest) = conn.into_parts();
            if !rest.is_empty() {
                done.error = Some(format!("{} bytes after the last slice", rest.len()));
            }
        }
        done
    }

    /// One slice, checked; `Ok(false)` when the deadline passed first.
    fn round(
        &self,
        conn: &mut Connection,
        request: &Request<'_>,
        data: &mut [u8],
        done: &mut Done,
        deadline: Instant,
    ) -> Result<bool, String> {
        let id = conn.send(request).map_err(|e| e.to_string())?;
        let mut got = 0u64;
        let mut code = None;
        loop {
            match conn.next_event(data) {
                Ok(Some((_, Event::Status { code: c, text }))) => {
                    if c != 0 {
                        return Err(format!("the server refused: {c} {text}"));
                    }
                    code = Some(c);
                }
                Ok(Some((_, Event::Data(k)))) => {
                    got += k as u64;
                    done.payload += k as u64;
                }
                Ok(Some((_, Event::End))) => {
                    if code != Some(0) || got != self.size {
                        return Err(format!("slice of {} bytes came with {got}", self.size));
                    }
                    return Ok(true);
                }
                Ok(Some((_, other))) => return Err(format!("unexpected {other:?}")),
                Ok(None) => return Err(format!("internal error: no response to {id}")),
                // Time's up, in the middle of the slice.
                Err(e) if e.is_timeout() && Instant::now() >= deadline => return Ok(false),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}
