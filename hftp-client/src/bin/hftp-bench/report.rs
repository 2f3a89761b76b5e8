//! Printing results: a two-column table for people, or one JSON object
//! (`--json`) for scripts. Each subcommand's report is a serde-serialisable
//! struct that also lists its table rows.

use std::io::{self, Write};

use serde::Serialize;

use crate::latency::LatencySummary;
use crate::proc::ServerUsage;

/// What every subcommand's result can do.
pub trait Report: Serialize {
    /// One line saying what was measured.
    fn title(&self) -> String;
    /// The figures, as (label, value) rows.
    fn rows(&self) -> Vec<(String, String)>;
    /// Whether every response was as expected (the exit status says so).
    fn clean(&self) -> bool {
        true
    }
}

/// Prints `report` to standard output as a table or as JSON.
pub fn print(report: &impl Report, json: bool) -> io::Result<()> {
    let mut out = io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
        return out.flush();
    }
    writeln!(out, "{}", report.title())?;
    let rows = report.rows();
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (label, value) in rows {
        writeln!(out, "  {label:<width$}  {value}")?;
    }
    out.flush()
}

/// Rows for latency percentiles.
pub fn latency_rows(prefix: &str, l: &LatencySummary) -> Vec<(String, String)> {
    vec![(
        format!("{prefix}latency p50 / p99 / p99.9 / max"),
        format!(
            "{} / {} / {} / {}",
            micros(l.p50_us),
            micros(l.p99_us),
            micros(l.p999_us),
            micros(l.max_us)
        ),
    )]
}

/// Rows for the server's CPU and memory, when it was watched.
pub fn server_rows(
    prefix: &str,
    usage: Option<&ServerUsage>,
    seconds: f64,
) -> Vec<(String, String)> {
    let Some(u) = usage else {
        return Vec::new();
    };
    vec![
        (
            format!("{prefix}server CPU (user+sys)"),
            format!(
                "{:.2} s ({:.0}% of one core)",
                u.cpu_seconds,
                100.0 * u.cpu_seconds / seconds.max(1e-9)
            ),
        ),
        (
            format!("{prefix}server CPU by thread"),
            if u.threads.is_empty() {
                "-".to_owned()
            } else {
                u.threads
                    .iter()
                    .map(|t| format!("{} {:.2} s", t.name, t.cpu_seconds))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
        (
            format!("{prefix}server RSS start / peak / end"),
            format!(
                "{} / {} / {}",
                kib(u.rss_kib_start),
                kib(u.rss_kib_peak),
                kib(u.rss_kib_end)
            ),
        ),
    ]
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds, printed in µs below 1 ms and in ms above.
pub fn micros(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

/// KiB as MiB.
pub fn kib(k: u64) -> String {
    format!("{:.1} MiB", k as f64 / 1024.0)
}

/// Bytes per second, decimal GB/s.
pub fn gbps(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / seconds.max(1e-9) / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(micros(12.34), "12.3 µs");
        assert_eq!(micros(2500.0), "2.50 ms");
        assert_eq!(kib(2048), "2.0 MiB");
    }
}
