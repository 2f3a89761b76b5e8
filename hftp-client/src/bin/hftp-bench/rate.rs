//! `rate`: requests per second and latency under a request mix.
//!
//! A few client threads each drive many non-blocking connections from one
//! mio event loop. Every connection keeps P requests in flight: after each
//! read it tops the pipeline up again, the new requests written in one
//! `write`. Each connection is opened with `hftp_client`'s one connect
//! and driven by its sans-IO `Pipeline` (the protocol driver of every
//! client in the workspace), which decodes every response, borrowed, no
//! allocation per response. Each is checked against what its request must
//! get (status code, and the size, byte count or item count of the body);
//! a response that does not match counts as wrong, a connection that
//! breaks as failed. The pipeline's window puts at most
//! `Pipeline::WINDOW` bytes of unanswered requests on the wire, so a P
//! beyond that (about a thousand `get_metadata`) is held to it.
//!
//! Latency runs from the write that carried a request to the read that
//! completed its response, so with pipelining it includes the wait behind
//! the requests ahead. Only responses completed within the duration count.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use hftp_client::{Pipeline, RequestId, Timeouts};
use hftp_proto::{Event, Expect, FileName, Request, Slice};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use serde::Serialize;

use crate::args::RateArgs;
use crate::latency::{Latencies, LatencySummary};
use crate::mix::{Kind, Mix};
use crate::proc::{self, ServerUsage};
use crate::report::{self, thousands, Report};
use crate::{probe, BoxError};

/// Bytes read from a socket at a time.
const READ_BUF: usize = 256 * 1024;
/// Room for decoded slice bytes (only counted, not kept).
const DATA_BUF: usize = 64 * 1024;
/// A name no server should publish, for the 202 error request.
const MISSING: &str = "hftp-bench-no-such-file";

/// The result of a `rate` run.
#[derive(Debug, Clone, Serialize)]
pub struct RateReport {
    /// `"rate"`.
    pub command: &'static str,
    /// The server.
    pub server: String,
    /// Connections opened.
    pub connections: u32,
    /// Requests in flight per connection.
    pub pipeline: u32,
    /// Client threads.
    pub threads: u32,
    /// The request mix, every kind with its weight.
    pub mix: String,
    /// The file metadata and slice requests named (if any).
    pub file: Option<String>,
    /// Seconds measured.
    pub seconds: f64,
    /// Responses completed within the duration (verified + wrong).
    pub responses: u64,
    /// Responses that matched what their request must get.
    pub verified: u64,
    /// Of the verified, the expected refusals of `error` requests.
    pub refusals: u64,
    /// Responses that did not match (wrong status, size or shape).
    pub wrong: u64,
    /// Connections that broke (closed by the server, protocol error).
    pub failed_connections: u64,
    /// Fewest responses one connection got (fairness: compare with the
    /// mean, responses / connections).
    pub per_connection_min: u64,
    /// Most responses one connection got.
    pub per_connection_max: u64,
    /// The first wrong response or failure, described.
    pub first_problem: Option<String>,
    /// Responses per second.
    pub requests_per_second: f64,
    /// Response bytes received per second, decimal MB/s.
    pub received_mb_per_second: f64,
    /// Latency percentiles.
    pub latency: LatencySummary,
    /// CPU seconds this client used during the run.
    pub client_cpu_seconds: f64,
    /// The server's CPU and memory (with --server-pid).
    pub server_usage: Option<ServerUsage>,
}

impl Report for RateReport {
    fn title(&self) -> String {
        format!(
            "rate: {} connections x pipeline {}, mix {}, {} thread(s), {:.1} s against {}",
            self.connections, self.pipeline, self.mix, self.threads, self.seconds, self.server
        )
    }

    fn rows(&self) -> Vec<(String, String)> {
        self.rows_with_prefix("")
    }

    fn clean(&self) -> bool {
        self.wrong == 0 && self.failed_connections == 0 && self.verified > 0
    }
}

impl RateReport {
    /// The table rows, each label prefixed (for `idle`'s two runs).
    pub fn rows_with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        let mut rows = vec![
            (
                format!("{prefix}requests/s"),
                thousands(self.requests_per_second.round() as u64),
            ),
            (
                format!("{prefix}responses"),
                format!(
                    "{} ({} verified, of which {} expected refusals; {} wrong)",
                    thousands(self.responses),
                    thousands(self.verified),
                    thousands(self.refusals),
                    thousands(self.wrong)
                ),
            ),
            (
                format!("{prefix}failed connections"),
                self.failed_connections.to_string(),
            ),
            (
                format!("{prefix}per connection min / mean / max"),
                format!(
                    "{} / {} / {} responses",
                    thousands(self.per_connection_min),
                    thousands(self.responses / u64::from(self.connections.max(1))),
                    thousands(self.per_connection_max)
                ),
            ),
        ];
        if let Some(p) = &self.first_problem {
            rows.push((format!("{prefix}first problem"), p.clone()));
        }
        rows.extend(report::latency_rows(prefix, &self.latency));
        rows.push((
            format!("{prefix}received"),
            format!("{:.1} MB/s", self.received_mb_per_second),
        ));
        rows.push((
            format!("{prefix}client CPU"),
            format!(
                "{:.2} s ({:.0}% of one core)",
                self.client_cpu_seconds,
                100.0 * self.client_cpu_seconds / self.seconds.max(1e-9)
            ),
        ));
        rows.extend(report::server_rows(
            prefix,
            self.server_usage.as_ref(),
            self.seconds,
        ));
        rows
    }
}

/// Measures: asks the server what to request, opens the connections,
/// runs the load for the duration.
pub fn run(
    addr: SocketAddr,
    args: &RateArgs,
    server_pid: Option<u32>,
) -> Result<RateReport, BoxError> {
    let workload = Arc::new(Workload::discover(addr, args)?);
    let threads = args.threads.min(args.connections);
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let mut handles = Vec::new();
    for t in 0..threads {
        // Spread the connections as evenly as possible.
        let conns = (args.connections / threads) + u32::from(t < args.connections % threads);
        let (workload, barrier) = (Arc::clone(&workload), Arc::clone(&barrier));
        let (pipeline, duration) = (args.pipeline as usize, args.duration);
        let handle = std::thread::Builder::new()
            .name(format!("rate-{t}"))
            .spawn(move || {
                let mut worker = match Worker::connect(addr, conns as usize, t) {
                    Ok(w) => w,
                    Err(e) => {
                        barrier.wait();
                        return Err(e);
                    }
                };
                barrier.wait();
                worker.run(&workload, pipeline, duration)
            })?;
        handles.push(handle);
    }
    // Every thread has connected (or failed) once the barrier opens.
    barrier.wait();
    let monitor = proc::monitor(server_pid)?;
    let cpu_start = proc::cpu_seconds(None)?;
    let started = Instant::now();
    let mut total = Tally::default();
    let mut latencies = Latencies::new();
    let mut failure = None;
    for handle in handles {
        match handle.join() {
            Ok(Ok((tally, lat))) => {
                total.add(tally);
                latencies.merge(&lat);
            }
            Ok(Err(e)) => failure = Some(e),
            Err(_) => failure = Some("a client thread panicked".to_owned()),
        }
    }
    let seconds = started
        .elapsed()
        .as_secs_f64()
        .min(args.duration.as_secs_f64());
    let client_cpu_seconds = proc::cpu_seconds(None)? - cpu_start;
    let server_usage = proc::finish(monitor)?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    Ok(RateReport {
        command: "rate",
        server: addr.to_string(),
        connections: args.connections,
        pipeline: args.pipeline,
        threads,
        mix: args.mix.to_string(),
        file: workload.file.clone(),
        seconds,
        responses: total.verified + total.wrong,
        verified: total.verified,
        refusals: total.refusals,
        wrong: total.wrong,
        failed_connections: total.failed,
        per_connection_min: total.per_conn.iter().copied().min().unwrap_or(0),
        per_connection_max: total.per_conn.iter().copied().max().unwrap_or(0),
        first_problem: total.first_problem,
        requests_per_second: (total.verified + total.wrong) as f64 / seconds,
        received_mb_per_second: total.received as f64 / seconds / 1e6,
        latency: latencies.summary(),
        client_cpu_seconds,
        server_usage,
    })
}

/// What to send and what each answer must be, decided before the run.
#[derive(Debug)]
struct Workload {
    mix: Mix,
    file: Option<String>,
    file_size: u64,
    slice_size: u64,
    listing_len: usize,
    /// Error request lines and the code each must get.
    errors: Vec<(Vec<u8>, u16)>,
}

impl Workload {
    fn discover(addr: SocketAddr, args: &RateArgs) -> Result<Workload, BoxError> {
        let mut client = probe::client(addr)?;
        let names = probe::listing(&mut client)?;
        let wants_slices = args
            .mix
            .kinds()
            .any(|k| matches!(k, Kind::Slice | Kind::Raw));
        let min_size = if wants_slices { args.slice_size } else { 0 };
        let mut file = None;
        match &args.file {
            Some(name) => {
                let size = probe::size(&mut client, name)?;
                if size < min_size {
                    return Err(format!(
                        "{name} holds {size} bytes, fewer than --slice-size {min_size}"
                    )
                    .into());
                }
                file = Some((name.clone(), size));
            }
            None => {
                for name in &names {
                    let size = probe::size(&mut client, name)?;
                    if size >= min_size {
                        file = Some((name.clone(), size));
                        break;
                    }
                }
            }
        }
        if file.is_none() && args.mix.kinds().any(Kind::needs_file) {
            return Err(format!(
                "the server publishes no file of at least {min_size} bytes for the mix {} (see --file)",
                args.mix
            )
            .into());
        }
        let mut errors = vec![
            (b"no_such_command\r\n".to_vec(), 200),
            (b"get_metadata\r\n".to_vec(), 201),
        ];
        if !names.iter().any(|n| n == MISSING) {
            errors.push((format!("get_metadata {MISSING}\r\n").into_bytes(), 202));
        }
        if let Some((name, size)) = &file {
            let name = FileName::new(name)?;
            let past_end = Request::GetSlice(Slice {
                name,
                offset: *size,
                size: 1,
                raw: false,
            });
            errors.push((past_end.to_bytes(), 203));
        }
        let (file, file_size) = match file {
            Some((name, size)) => (Some(name), size),
            None => (None, 0),
        };
        Ok(Workload {
            mix: args.mix.clone(),
            file,
            file_size,
            slice_size: args.slice_size,
            listing_len: names.len(),
            errors,
        })
    }
}

/// What a response must be.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// `0 OK` and this size.
    Size(u64),
    /// `0 OK` and this many slice bytes.
    Bytes(u64),
    /// `0 OK` and this many listing or help items.
    Items(usize),
    /// This (refusal) status code.
    Code(u16),
}

/// What the response at the head of the pipeline has shown so far.
#[derive(Debug, Default)]
struct Got {
    code: Option<u16>,
    size: Option<u64>,
    bytes: u64,
    items: usize,
}

impl Check {
    fn matches(self, got: &Got) -> bool {
        match self {
            Check::Code(code) => got.code == Some(code),
            Check::Size(size) => got.code == Some(0) && got.size == Some(size),
            Check::Bytes(n) => got.code == Some(0) && got.bytes == n,
            Check::Items(n) => got.code == Some(0) && got.items == n,
        }
    }
}

/// A request queued on a connection, and what its response must be.
#[derive(Debug)]
struct Pending {
    id: RequestId,
    check: Check,
    /// Where the request starts in the stream of bytes sent.
    start: u64,
    /// When the write that carried it began (when it was queued, until
    /// then).
    sent: Instant,
}

/// Counts of one thread (or all).
#[derive(Debug, Default)]
struct Tally {
    verified: u64,
    refusals: u64,
    wrong: u64,
    failed: u64,
    received: u64,
    /// Responses counted on each connection.
    per_conn: Vec<u64>,
    first_problem: Option<String>,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.verified += o.verified;
        self.refusals += o.refusals;
        self.wrong += o.wrong;
        self.failed += o.failed;
        self.received += o.received;
        self.per_conn.extend(o.per_conn);
        if self.first_problem.is_none() {
            self.first_problem = o.first_problem;
        }
    }

    fn problem(&mut self, what: impl FnOnce() -> String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(what());
        }
    }
}

/// One connection of the load: the socket and the `hftp_client::Pipeline`
/// that does the protocol work (requests queued, responses decoded,
/// each event tagged with its request).
struct Conn {
    stream: TcpStream,
    pipeline: Pipeline,
    /// Requests queued and not answered, oldest first.
    pending: VecDeque<Pending>,
    /// How many of `pending`, from the front, have gone out.
    written: usize,
    got: Got,
    rng: u64,
    error_turn: usize,
    alive: bool,
    /// Responses counted.
    completed: u64,
}

impl Conn {
    /// Tops the pipeline up to `depth` requests (the pipeline's window
    /// holds back what would put more than `Pipeline::WINDOW` bytes of
    /// requests on the wire).
    fn refill(&mut self, w: &Workload, depth: usize, now: Instant) {
        if self.pending.len() >= depth {
            return;
        }
        let name = w
            .file
            .as_deref()
            .map(|name| FileName::new(name).expect("validated by get_metadata"));
        while self.pending.len() < depth {
            let start = self.pipeline.bytes_queued();
            let (id, check) = self.push_request(w, name);
            self.pending.push_back(Pending {
                id,
                check,
                start,
                sent: now,
            });
        }
    }

    /// Queues one request of the mix.
    /// Queues one request of the mix (`name`: the file, when the mix has
    /// kinds that need one).
    fn push_request(&mut self, w: &Workload, name: Option<FileName<'_>>) -> (RequestId, Check) {
        let r = self.next_random();
        let file = || name.expect("a file for the mix's kinds");
        match w.mix.pick((r >> 32) as u32) {
            Kind::Metadata => {
                let name = file();
                let id = self.pipeline.push(&Request::GetMetadata { name });
                (id, Check::Size(w.file_size))
            }
            kind @ (Kind::Slice | Kind::Raw) => {
                let span = w.file_size - w.slice_size + 1;
                let offset = ((u128::from(self.next_random()) * u128::from(span)) >> 64) as u64;
                let id = self.pipeline.push(&Request::GetSlice(Slice {
                    name: file(),
                    offset,
                    size: w.slice_size,
                    raw: kind == Kind::Raw,
                }));
                (id, Check::Bytes(w.slice_size))
            }
            Kind::Listing => (
                self.pipeline.push(&Request::GetFileListing),
                Check::Items(w.listing_len),
            ),
            Kind::Help => (self.pipeline.push(&Request::Help), Check::Items(5)),
            Kind::Error => {
                let (line, code) = &w.errors[self.error_turn % w.errors.len()];
                self.error_turn += 1;
                // A refusal ends at its status line whatever was expected.
                let ids = self.pipeline.push_bytes(line, [Expect::Metadata]);
                (ids[0], Check::Code(*code))
            }
        }
    }

    /// xorshift64*: cheap, and plenty for spreading offsets and kinds.
    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Writes what the pipeline hands out until done or the socket is
    /// full, noting when each request went.
    fn flush(&mut self) -> io::Result<()> {
        loop {
            let bytes = self.pipeline.poll_transmit();
            if bytes.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            match self.stream.write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.pipeline.handle_transmitted(n, now);
                    let sent = self.pipeline.bytes_sent();
                    while let Some(p) = self.pending.get_mut(self.written) {
                        if p.start >= sent {
                            break;
                        }
                        p.sent = now;
                        self.written += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Decodes what one read delivered, checking each completed response.
    #[allow(clippy::too_many_arguments)]
    fn take(
        &mut self,
        mut input: &[u8],
        data: &mut [u8],
        now: Instant,
        counted: bool,
        tally: &mut Tally,
        latencies: &mut Latencies,
    ) -> Result<(), String> {
        loop {
            let step = self
                .pipeline
                .handle_input(input, data, now)
                .map_err(|e| e.to_string())?;
            input = &input[step.consumed..];
            let Some((id, event)) = step.event else {
                return Ok(());
            };
            match event {
                Event::Status { code, .. } => self.got.code = Some(code),
                Event::Size(size) => self.got.size = Some(size),
                Event::Data(n) => self.got.bytes += n as u64,
                Event::Item(_) => self.got.items += 1,
                Event::End => {
                    let pending = self
                        .pending
                        .pop_front()
                        .filter(|p| p.id == id)
                        .ok_or("internal error: a response to a request not asked")?;
                    self.written = self.written.saturating_sub(1);
                    let got = std::mem::take(&mut self.got);
                    if !counted {
                        continue;
                    }
                    latencies.record(now.saturating_duration_since(pending.sent));
                    self.completed += 1;
                    if pending.check.matches(&got) {
                        tally.verified += 1;
                        tally.refusals += u64::from(matches!(pending.check, Check::Code(_)));
                    } else {
                        tally.wrong += 1;
                        tally.problem(|| format!("expected {:?}, got {got:?}", pending.check));
                    }
                }
            }
        }
    }
}

/// One client thread: its connections and event loop.
struct Worker {
    poll: Poll,
    conns: Vec<Conn>,
}

impl Worker {
    fn connect(addr: SocketAddr, count: usize, thread: u32) -> Result<Worker, String> {
        let poll = Poll::new().map_err(|e| format!("cannot create a poller: {e}"))?;
        let server = probe::server(
            addr,
            Timeouts {
                read: None,
                write: None,
                ..probe::setup_timeouts()
            },
        );
        let mut conns = Vec::with_capacity(count);
        for i in 0..count {
            // Connected by the one driver, then driven from this event
            // loop: nothing was read yet, so nothing is left over.
            let (stream, pipeline, _) = probe::connection(&server)?.into_parts();
            let stream = stream.into_tcp();
            stream
                .set_nonblocking(true)
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            let mut stream = TcpStream::from_std(stream);
            poll.registry()
                .register(
                    &mut stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| format!("cannot watch a connection: {e}"))?;
            conns.push(Conn {
                stream,
                pipeline,
                pending: VecDeque::new(),
                written: 0,
                got: Got::default(),
                // Distinct non-zero seeds per connection and thread.
                rng: 0x9e37_79b9_7f4a_7c15 ^ ((u64::from(thread) << 32) | (i as u64 + 1)),
                error_turn: i,
                alive: true,
                completed: 0,
            });
        }
        Ok(Worker { poll, conns })
    }

    fn run(
        &mut self,
        w: &Workload,
        depth: usize,
        duration: Duration,
    ) -> Result<(Tally, Latencies), String> {
        let mut tally = Tally::default();
        let mut latencies = Latencies::new();
        let mut buf = vec![0u8; READ_BUF];
        let mut data = vec![0u8; DATA_BUF];
        let mut events = Events::with_capacity(1024);
        let start = Instant::now();
        let deadline = start + duration;
        for conn in &mut self.conns {
            conn.refill(w, depth, start);
            if let Err(e) = conn.flush() {
                fail(conn, &mut tally, format!("write failed: {e}"));
            }
        }
        let mut alive = self.conns.iter().filter(|c| c.alive).count();
        while alive > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if let Err(e) = self.poll.poll(&mut events, Some(deadline - now)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("poll failed: {e}"));
            }
            for event in events.iter() {
                let conn = &mut self.conns[event.token().0];
                if !conn.alive {
                    continue;
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    if let Err(e) = read_all(
                        conn,
                        &mut buf,
                        &mut data,
                        deadline,
                        &mut tally,
                        &mut latencies,
                    ) {
                        fail(conn, &mut tally, e);
                        alive -= 1;
                        continue;
                    }
                }
                conn.refill(w, depth, Instant::now());
                if let Err(e) = conn.flush() {
                    fail(conn, &mut tally, format!("write failed: {e}"));
                    alive -= 1;
                }
            }
        }
        tally.per_conn = self.conns.iter().map(|c| c.completed).collect();
        Ok((tally, latencies))
    }
}

/// Reads until the socket is drained, decoding as it goes.
fn read_all(
    conn: &mut Conn,
    buf: &mut [u8],
    data: &mut [u8],
    deadline: Instant,
    tally: &mut Tally,
    latencies: &mut Latencies,
) -> Result<(), String> {
    loop {
        match conn.stream.read(buf) {
            Ok(0) => {
                return Err(match conn.pipeline.handle_eof(Instant::now()) {
                    Ok(()) => "the server closed the connection".into(),
                    Err(e) => e.to_string(),
                })
            }
            Ok(n) => {
                let now = Instant::now();
                let counted = now < deadline;
                if counted {
                    tally.received += n as u64;
                }
                conn.take(&buf[..n], data, now, counted, tally, latencies)?;
                // A short read drained the socket; more data will raise a
                // new readiness event.
                if n < buf.len() {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
}

fn fail(conn: &mut Conn, tally: &mut Tally, why: String) {
    conn.alive = false;
    tally.failed += 1;
    tally.problem(|| why);
}
