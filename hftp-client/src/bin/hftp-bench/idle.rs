//! `idle`: what N idle connections cost the server. Opens N connections,
//! checks that the server serves each (one `help` on every one, answers
//! read back), leaves them idle, and runs the `rate` load beside them;
//! reports the rate figures, the server's memory before and with the
//! idle connections, and optionally a baseline `rate` run without them.
//!
//! The server must allow N + C connections (`--max-connections`) and its
//! idle timeout must outlast the run.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hftp_proto::{Event, Expect, ResponseDecoder};
use serde::Serialize;

use crate::args::IdleArgs;
use crate::proc;
use crate::rate::{self, RateReport};
use crate::report::{kib, thousands, Report};
use crate::{probe, BoxError};

/// How long the idle connections may take to be opened and answered.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The result of an `idle` run.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    /// `"idle"`.
    pub command: &'static str,
    /// Idle connections asked for.
    pub idle_requested: u32,
    /// Idle connections opened and answered by the server.
    pub idle_served: u32,
    /// Seconds it took to open them and get an answer on each.
    pub open_seconds: f64,
    /// Server VmRSS before the idle connections, KiB (with --server-pid).
    pub server_rss_kib_before: Option<u64>,
    /// Server VmRSS with the idle connections open, before the load, KiB.
    pub server_rss_kib_idle: Option<u64>,
    /// Server memory per idle connection, bytes.
    pub server_bytes_per_idle_connection: Option<f64>,
    /// The load without the idle connections (with --baseline).
    pub baseline: Option<RateReport>,
    /// The load beside the idle connections.
    pub rate: RateReport,
    /// rate / baseline requests per second (with --baseline).
    pub rate_ratio: Option<f64>,
}

impl Report for IdleReport {
    fn title(&self) -> String {
        format!(
            "idle: {} idle connections beside {}",
            thousands(u64::from(self.idle_requested)),
            self.rate.title()
        )
    }

    fn rows(&self) -> Vec<(String, String)> {
        let mut rows = vec![(
            "idle connections served".to_owned(),
            format!(
                "{} of {} (opened in {:.2} s)",
                thousands(u64::from(self.idle_served)),
                thousands(u64::from(self.idle_requested)),
                self.open_seconds
            ),
        )];
        if let (Some(before), Some(idle)) = (self.server_rss_kib_before, self.server_rss_kib_idle) {
            rows.push((
                "server RSS before / with idle".to_owned(),
                format!("{} / {}", kib(before), kib(idle)),
            ));
        }
        if let Some(per) = self.server_bytes_per_idle_connection {
            rows.push((
                "server memory per idle connection".to_owned(),
                format!("{:.1} KiB", per / 1024.0),
            ));
        }
        if let Some(base) = &self.baseline {
            rows.extend(base.rows_with_prefix("baseline: "));
        }
        rows.extend(self.rate.rows_with_prefix(if self.baseline.is_some() {
            "with idle: "
        } else {
            ""
        }));
        if let Some(r) = self.rate_ratio {
            rows.push((
                "with idle / baseline".to_owned(),
                format!("{:.1}%", 100.0 * r),
            ));
        }
        rows
    }

    fn clean(&self) -> bool {
        self.idle_served == self.idle_requested
            && self.rate.clean()
            && self.baseline.as_ref().is_none_or(Report::clean)
    }
}

/// Measures.
pub fn run(
    addr: SocketAddr,
    args: &IdleArgs,
    server_pid: Option<u32>,
) -> Result<IdleReport, BoxError> {
    let baseline = match args.baseline {
        true => Some(rate::run(addr, &args.rate, server_pid)?),
        false => None,
    };
    let rss = || -> Result<Option<u64>, BoxError> {
        Ok(server_pid
            .map(|pid| proc::status_kib(Some(pid), "VmRSS"))
            .transpose()?)
    };
    let before = rss()?;
    let started = Instant::now();
    let (idle, served) = open(addr, args.idle as usize)?;
    let open_seconds = started.elapsed().as_secs_f64();
    let with_idle = rss()?;
    let rate = rate::run(addr, &args.rate, server_pid)?;
    drop(idle);
    let per_connection = match (before, with_idle) {
        (Some(b), Some(i)) if served > 0 => Some((i as f64 - b as f64) * 1024.0 / served as f64),
        _ => None,
    };
    let rate_ratio = baseline
        .as_ref()
        .map(|b| rate.requests_per_second / b.requests_per_second.max(1e-9));
    Ok(IdleReport {
        command: "idle",
        idle_requested: args.idle,
        idle_served: served as u32,
        open_seconds,
        server_rss_kib_before: before,
        server_rss_kib_idle: with_idle,
        server_bytes_per_idle_connection: per_connection,
        baseline,
        rate,
        rate_ratio,
    })
}

/// Opens `n` connections, sends `help` on each and reads the answers;
/// returns the connections and how many were answered correctly.
fn open(addr: SocketAddr, n: usize) -> Result<(Vec<TcpStream>, usize), BoxError> {
    let deadline = Instant::now() + OPEN_TIMEOUT;
    let mut streams = Vec::with_capacity(n);
    for i in 0..n {
        let stream = TcpStream::connect_timeout(&addr, probe::SETUP_TIMEOUT).map_err(|e| {
            format!(
                "idle connection {} of {n}: cannot connect to {addr}: {e}{}",
                i + 1,
                if e.raw_os_error() == Some(24) {
                    " (raise the open files limit: ulimit -n)"
                } else {
                    ""
                }
            )
        })?;
        stream.set_nodelay(true)?;
        streams.push(stream);
    }
    for stream in &mut streams {
        stream.write_all(b"help\r\n")?;
    }
    let mut served = 0;
    let mut buf = [0u8; 512];
    for stream in &mut streams {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left))?;
        let mut decoder = ResponseDecoder::new();
        decoder.expect(Expect::Help);
        if answered(stream, &mut decoder, &mut buf)? {
            served += 1;
        }
    }
    Ok((streams, served))
}

/// Reads one `help` response; whether it was `0 OK` with five items.
fn answered(
    stream: &mut TcpStream,
    decoder: &mut ResponseDecoder,
    buf: &mut [u8],
) -> io::Result<bool> {
    let (mut ok, mut items) = (false, 0);
    loop {
        let n = match stream.read(buf) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(false)
            }
            Err(e) => return Err(e),
        };
        let mut rest = &buf[..n];
        loop {
            let Ok(step) = decoder.decode(rest, &mut []) else {
                return Ok(false);
            };
            rest = &rest[step.consumed..];
            match step.event {
                None => break,
                Some(Event::Status { code, .. }) => ok = code == 0,
                Some(Event::Item(_)) => items += 1,
                Some(Event::End) => return Ok(ok && items == 5),
                Some(_) => return Ok(false),
            }
        }
    }
}
