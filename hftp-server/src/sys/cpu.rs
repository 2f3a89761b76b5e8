//! CPU time: this thread's (`clock_gettime`, on every Unix) and the
//! machine's (Linux `/proc/stat`; unknown elsewhere), for the placement's
//! measurements.

use std::time::Duration;

/// The CPU time this thread has used.
pub fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The machine's idle and total CPU time so far, in clock ticks summed
/// over all cores, from the first line of `/proc/stat`; `None` elsewhere.
pub fn machine_cpu() -> Option<(u64, u64)> {
    if cfg!(not(all(target_os = "linux", not(hftp_portable)))) {
        return None;
    }
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .map(|n| n.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is
    // already in user and nice).
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
    let total = ticks.iter().take(8).sum();
    Some((idle, total))
}
