//! What Linux says about a process: CPU time from `/proc/PID/stat`
//! (user + system), resident memory from `/proc/PID/status` (`VmRSS`,
//! `VmHWM`), and a monitor that samples the server's memory during a run;
//! and about the machine (`/proc/cpuinfo`, the kernel release), so that a
//! figure can be told apart from the host it ran on.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

/// How often the monitor samples VmRSS.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// CPU time (user + system) a process has used, in seconds; `pid` None is
/// this process.
pub fn cpu_seconds(pid: Option<u32>) -> io::Result<f64> {
    stat_cpu_seconds(&proc_path(pid, "stat"))
}

/// CPU seconds of each thread of `pid`, by thread id, with its name.
pub fn thread_cpu_seconds(pid: u32) -> io::Result<BTreeMap<u32, (String, f64)>> {
    let mut threads = BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let entry = entry?;
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        // A thread may end between the listing and the reads.
        let dir = entry.path();
        let (Ok(name), Ok(cpu)) = (
            std::fs::read_to_string(dir.join("comm")),
            stat_cpu_seconds(&dir.join("stat").to_string_lossy()),
        ) else {
            continue;
        };
        threads.insert(tid, (name.trim_end().to_owned(), cpu));
    }
    Ok(threads)
}

/// utime + stime of a `stat` file, in seconds.
fn stat_cpu_seconds(path: &str) -> io::Result<f64> {
    let text = std::fs::read_to_string(path)?;
    // The command name (field 2) is in parentheses and may hold spaces:
    // count fields from the last ')'. utime and stime are fields 14, 15.
    let rest = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or_else(|| bad("stat"))?;
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let mut tick = || -> io::Result<u64> {
        fields
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| bad("stat"))
    };
    let ticks = tick()? + tick()?;
    Ok(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// A `kB` line of `/proc/PID/status` (`VmRSS`, `VmHWM`), in KiB.
pub fn status_kib(pid: Option<u32>, field: &str) -> io::Result<u64> {
    let text = std::fs::read_to_string(proc_path(pid, "status"))?;
    text.lines()
        .find_map(|line| {
            let value = line.strip_prefix(field)?.strip_prefix(':')?;
            value.trim().strip_suffix("kB")?.trim().parse().ok()
        })
        .ok_or_else(|| bad(field))
}

/// The machine a measurement ran on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// `model name` of the first CPU, with its family/model/stepping
    /// (`AMD EPYC (family 23 model 1 stepping 2)`); "unknown" off Linux.
    pub cpu: String,
    /// `cpu MHz` of the first CPU as the kernel reports it (0 if absent).
    pub mhz: f64,
    /// Whether the CPU has AVX2 (the base64 code path that matters here).
    pub avx2: bool,
    /// Cores this process may run on.
    pub cores: usize,
    /// The kernel release (`uname -r`), "unknown" off Linux.
    pub kernel: String,
}

impl Machine {
    /// One line: `AMD EPYC (family 23 model 1 stepping 2), 2 cores, 1996 MHz, AVX2, Linux 6.18`.
    pub fn summary(&self) -> String {
        format!(
            "{}, {} cores, {:.0} MHz, {}, Linux {}",
            self.cpu,
            self.cores,
            self.mhz,
            if self.avx2 { "AVX2" } else { "no AVX2" },
            self.kernel
        )
    }
}

/// Describes this machine from `/proc/cpuinfo` and the kernel release.
pub fn machine() -> Machine {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    // The first CPU's block.
    let first = info.split("\n\n").next().unwrap_or_default();
    let field = |key: &str| {
        first.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_owned())
        })
    };
    let name = field("model name").unwrap_or_else(|| "unknown".to_owned());
    let cpu = match (field("cpu family"), field("model"), field("stepping")) {
        (Some(f), Some(m), Some(s)) => format!("{name} (family {f} model {m} stepping {s})"),
        _ => name,
    };
    Machine {
        cpu,
        mhz: field("cpu MHz").and_then(|v| v.parse().ok()).unwrap_or(0.0),
        avx2: field("flags").is_some_and(|f| f.split(' ').any(|flag| flag == "avx2")),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_owned(), |r| r.trim().to_owned()),
    }
}

fn proc_path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected format of /proc {what}"),
    )
}

/// The server's resources over one measurement.
#[derive(Debug, Clone, Serialize)]
pub struct ServerUsage {
    /// The process observed.
    pub pid: u32,
    /// CPU seconds (user + system) it used during the measurement.
    pub cpu_seconds: f64,
    /// VmRSS when the measurement started, KiB.
    pub rss_kib_start: u64,
    /// Highest VmRSS sampled (every 20 ms) during the measurement, KiB.
    pub rss_kib_peak: u64,
    /// VmRSS when the measurement ended, KiB.
    pub rss_kib_end: u64,
    /// VmHWM (the peak over the process's whole life) at the end, KiB.
    pub hwm_kib: u64,
    /// CPU seconds of each thread that used any during the measurement
    /// (shows how evenly the server spread the load over its workers).
    pub threads: Vec<ThreadUsage>,
}

/// One server thread's CPU time during a measurement.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadUsage {
    /// The thread's name (`comm`).
    pub name: String,
    /// CPU seconds (user + system).
    pub cpu_seconds: f64,
}

/// Samples a process's memory on a thread of its own while a measurement
/// runs, and its CPU time at both ends.
pub struct Monitor {
    pid: u32,
    cpu_start: f64,
    threads_start: BTreeMap<u32, (String, f64)>,
    rss_start: u64,
    stop: Arc<AtomicBool>,
    sampler: JoinHandle<u64>,
}

impl Monitor {
    /// Starts watching `pid`; fails when the process cannot be read.
    pub fn start(pid: u32) -> io::Result<Monitor> {
        let cpu_start = cpu_seconds(Some(pid))?;
        let threads_start = thread_cpu_seconds(pid)?;
        let rss_start = status_kib(Some(pid), "VmRSS")?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let sampler = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                let mut peak = rss_start;
                while !flag.load(Ordering::Relaxed) {
                    if let Ok(rss) = status_kib(Some(pid), "VmRSS") {
                        peak = peak.max(rss);
                    }
                    std::thread::sleep(SAMPLE_EVERY);
                }
                peak
            })?;
        Ok(Monitor {
            pid,
            cpu_start,
            threads_start,
            rss_start,
            stop,
            sampler,
        })
    }

    /// Stops sampling and reports.
    pub fn finish(self) -> io::Result<ServerUsage> {
        let cpu_end = cpu_seconds(Some(self.pid))?;
        let threads = thread_cpu_seconds(self.pid)?
            .into_iter()
            .filter_map(|(tid, (name, cpu))| {
                let before = self.threads_start.get(&tid).map_or(0.0, |t| t.1);
                let used = cpu - before;
                (used > 0.0).then_some(ThreadUsage {
                    name,
                    cpu_seconds: used,
                })
            })
            .collect();
        let rss_end = status_kib(Some(self.pid), "VmRSS")?;
        self.stop.store(true, Ordering::Relaxed);
        let peak = self.sampler.join().unwrap_or(0);
        Ok(ServerUsage {
            pid: self.pid,
            cpu_seconds: cpu_end - self.cpu_start,
            rss_kib_start: self.rss_start,
            rss_kib_peak: peak.max(rss_end),
            rss_kib_end: rss_end,
            hwm_kib: status_kib(Some(self.pid), "VmHWM")?,
            threads,
        })
    }
}

/// Starts a monitor when a pid was given.
pub fn monitor(pid: Option<u32>) -> io::Result<Option<Monitor>> {
    pid.map(Monitor::start).transpose()
}

/// Finishes an optional monitor.
pub fn finish(monitor: Option<Monitor>) -> io::Result<Option<ServerUsage>> {
    monitor.map(Monitor::finish).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(cpu_seconds(None).unwrap() >= 0.0);
        assert!(status_kib(None, "VmRSS").unwrap() > 0);
        // A quiet process: this one runs other tests on other threads,
        // and the kernel's RSS figures, summed lazily from per-CPU
        // counters, can then disagree by a little from one read to the next.
        let mut quiet = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let monitor = Monitor::start(quiet.id()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let usage = monitor.finish().unwrap();
        let _ = quiet.kill();
        let _ = quiet.wait();
        assert!(usage.rss_kib_start > 0);
        assert!(usage.rss_kib_peak >= usage.rss_kib_start);
        assert!(usage.hwm_kib >= usage.rss_kib_end);
    }
}
