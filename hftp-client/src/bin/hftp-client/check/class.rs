//! Grading a class: the targets file (TOML: a name plus an address or a
//! server command per target), the targets run one after another or
//! `-j` at once, each with its own time limit, and what is written: each
//! target's JSON, `summary.csv`, and the HTML report.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;

use super::model::TargetReport;
use super::report::console;
use super::run::{self, Plan, Target};

/// The targets file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Seconds each target may take, unless it says otherwise.
    time_limit: Option<f64>,
    #[serde(rename = "target", default)]
    targets: Vec<Entry>,
}

/// One target of the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    address: Option<String>,
    dir: Option<PathBuf>,
    server: Option<String>,
    /// Where the server command runs (relative to the targets file).
    cwd: Option<PathBuf>,
    time_limit: Option<f64>,
}

/// A target ready to run.
pub struct Graded {
    pub name: String,
    pub target: Target,
    pub time_limit: Option<Duration>,
}

/// Reads the targets file; errors name the file and what is wrong.
pub fn load(
    path: &Path,
    resolve: impl Fn(&str) -> Result<std::net::SocketAddr, String>,
) -> Result<Vec<Graded>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file: File =
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    if file.targets.is_empty() {
        return Err(format!("{}: no [[target]] in the file", path.display()));
    }
    let limit = |secs: Option<f64>| secs.filter(|s| *s > 0.0).map(Duration::from_secs_f64);
    let mut seen = std::collections::HashSet::new();
    let mut graded = Vec::new();
    for e in file.targets {
        if !seen.insert(e.name.clone()) {
            return Err(format!(
                "{}: two targets are named {:?}",
                path.display(),
                e.name
            ));
        }
        if e.name.is_empty() || e.name.contains(['/', '\\']) {
            return Err(format!(
                "{}: target name {:?} must be non-empty, without / (it names a file)",
                path.display(),
                e.name
            ));
        }
        let target = match (e.address, e.server) {
            (Some(a), None) => Target::Address {
                addr: resolve(&a)
                    .map_err(|why| format!("{}: target {:?}: {why}", path.display(), e.name))?,
                shown: a,
                dir: e.dir.map(|d| base.join(d)),
            },
            (None, Some(server)) => Target::Command {
                template: server,
                cwd: Some(base.join(e.cwd.unwrap_or_default())),
            },
            _ => {
                return Err(format!(
                    "{}: target {:?} needs exactly one of address and server",
                    path.display(),
                    e.name
                ))
            }
        };
        graded.push(Graded {
            name: e.name,
            target,
            time_limit: limit(e.time_limit).or(limit(file.time_limit)),
        });
    }
    Ok(graded)
}

/// Checks every target, `jobs` at a time, printing one line per target
/// as it ends; the reports in file order.
pub fn run_all(targets: &[Graded], plan: &Plan, jobs: usize) -> Vec<TargetReport> {
    let slots: Vec<Mutex<Option<TargetReport>>> =
        targets.iter().map(|_| Mutex::new(None)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, targets.len().max(1)) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(t) = targets.get(k) else { break };
                let mut plan = plan.clone();
                plan.time_limit = t.time_limit.or(plan.time_limit);
                let report = run::run(&t.name, &t.target, &plan, &|_| {});
                let mut line = format!("{:<24} {}", t.name, console::summary(&report));
                if let Some(e) = &report.error {
                    line.push_str(&format!(" — {}", e.lines().next().unwrap_or("")));
                }
                println!("{line}");
                *slots[k].lock().expect("slot") = Some(report);
            });
        }
    });
    slots
        .into_iter()
        .map(|s| s.into_inner().expect("slot").expect("ran"))
        .collect()
}
