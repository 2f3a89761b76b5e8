//! `idle`: what N idle connections cost the server. Opens N connections,
//! checks that the server serves each (one `help` on every one, answers
//! read back through `hftp_client::Connection`), leaves them idle, and runs the `rate` load beside them;
//! reports the rate figures, the server's memory before and with the
//! idle connections, and optionally a baseline `rate` run without them.
//!
//! The server must allow N + C connections (`--max-connections`) and its
//! idle timeout must outlast the run.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hftp_client::{Connection, Error, Timeouts};
use hftp_proto::{Event, Request};
use serde::Serialize;

use crate::args::IdleArgs;
use crate::proc;
use crate::rate::{self, RateReport};
use crate::report::{kib, thousands, Report};
use crate::{probe, BoxError};

/// How long the idle connections may take to be opened and answered.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes each idle connection reads at a time (a `help` answer is 62).
const IDLE_READ: usize = 128;

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
/// returns the sockets, left idle, and how many were answered correctly.
fn open(addr: SocketAddr, n: usize) -> Result<(Vec<TcpStream>, usize), BoxError> {
    let deadline = Instant::now() + OPEN_TIMEOUT;
    // Reads wait until the deadline; connecting and writing as long as
    // setup may.
    let server = probe::server(
        addr,
        Timeouts {
            read: None,
            ..probe::setup_timeouts()
        },
    );
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut conn = server.connection().map_err(|e| {
            let emfile = matches!(&e, Error::Io(e) if e.raw_os_error() == Some(24));
            format!(
                "idle connection {} of {n}: cannot connect to {addr}: {e}{}",
                i + 1,
                if emfile {
                    " (raise the open files limit: ulimit -n)"
                } else {
                    ""
                }
            )
        })?;
        // Thousands of them: a help answer's worth of read buffer each
        // (allocated at the first read).
        conn.set_read_size(IDLE_READ);
        conns.push(conn);
    }
    for conn in &mut conns {
        conn.send(&Request::Help)?;
        conn.flush()?;
    }
    let mut served = 0;
    for conn in &mut conns {
        if Instant::now() >= deadline {
            break;
        }
        conn.set_deadline(Some(deadline));
        if answered(conn)? {
            served += 1;
        }
    }
    // Only the sockets stay open: no buffers held through the load.
    let idle = conns
        .into_iter()
        .map(|c| c.into_inner().into_tcp())
        .collect();
    Ok((idle, served))
}

/// Reads one `help` response; whether it was `0 OK` with five items. A
/// timeout, a close or a protocol error is an answer that does not count.
fn answered(conn: &mut Connection) -> Result<bool, BoxError> {
    let (mut ok, mut items) = (false, 0);
    loop {
        match conn.next_event(&mut []) {
            Ok(Some((_, Event::Status { code, .. }))) => ok = code == 0,
            Ok(Some((_, Event::Item(_)))) => items += 1,
            Ok(Some((_, Event::End))) => return Ok(ok && items == 5),
            Ok(_) => return Ok(false),
            Err(e @ Error::Io(_)) if !e.is_timeout() => return Err(e.into()),
            Err(_) => return Ok(false),
        }
    }
}
