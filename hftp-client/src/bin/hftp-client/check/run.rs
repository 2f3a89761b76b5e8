//! Running the cases against one target: the fixtures and the started
//! server set up and torn down, each case given its time, cases that may
//! share the server run `-j` at a time and the others alone, skips for
//! what a case needs and the target lacks, a server that died noticed,
//! and the results gathered into a [`TargetReport`] in list order.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::case::{Case, Ctx, Needs, Outcome, ServerTimeouts};
use super::fixtures::Fixtures;
use super::model::{CaseResult, TargetReport, Verdict};
use super::server::Started;

/// What to check.
#[derive(Debug, Clone)]
pub enum Target {
    /// A running server, and perhaps the directory it publishes.
    Address {
        addr: SocketAddr,
        shown: String,
        dir: Option<PathBuf>,
    },
    /// A server command to start (`{port}`, `{dir}`), in `cwd`.
    Command {
        template: String,
        cwd: Option<PathBuf>,
    },
}

/// How to run the cases.
#[derive(Clone)]
pub struct Plan {
    pub cases: Vec<Case>,
    pub case_timeout: Duration,
    pub jobs: usize,
    pub timeouts: ServerTimeouts,
    pub start_timeout: Duration,
    /// The whole target's time.
    pub time_limit: Option<Duration>,
}

/// Runs `plan` against `target`, calling `done` with each result as it
/// is known (in list order).
pub fn run(
    name: &str,
    target: &Target,
    plan: &Plan,
    done: &(dyn Fn(&CaseResult) + Sync),
) -> TargetReport {
    let began = Instant::now();
    let shown = match target {
        Target::Address { shown, .. } => shown.clone(),
        Target::Command { template, .. } => template.clone(),
    };
    let mut report = TargetReport {
        name: name.to_string(),
        target: shown,
        results: Vec::new(),
        error: None,
        peak_rss: None,
        millis: 0,
    };
    let fail = |mut report: TargetReport, why: String| {
        report.error = Some(why);
        report.millis = began.elapsed().as_millis() as u64;
        report
    };
    let fixtures = match target {
        Target::Address { dir: None, .. } => None,
        Target::Address { dir: Some(dir), .. } => match Fixtures::shared(dir) {
            Ok(f) => Some(f),
            Err(e) => {
                return fail(
                    report,
                    format!("cannot write the fixtures into {}: {e}", dir.display()),
                )
            }
        },
        Target::Command { .. } => match Fixtures::owned() {
            Ok(f) => Some(f),
            Err(e) => return fail(report, format!("cannot make the fixture directory: {e}")),
        },
    };
    let started = match target {
        Target::Command { template, cwd } => {
            let dir = fixtures.as_ref().expect("owned fixtures").dir();
            match Started::start(template, cwd.as_deref(), dir, plan.start_timeout) {
                Ok(s) => Some(s),
                Err(why) => return fail(report, why),
            }
        }
        Target::Address { .. } => None,
    };
    let addr = match (target, &started) {
        (Target::Address { addr, .. }, _) => *addr,
        (_, Some(s)) => s.addr(),
        _ => unreachable!("a command target is started"),
    };
    let until = plan.time_limit.map(|t| began + t);
    let env = Env {
        addr,
        fixtures: fixtures.as_ref(),
        started: started.as_ref(),
        plan,
        until,
        died: Mutex::new(None),
    };
    report.results = run_all(&env, done);
    report.error = env.died.into_inner().unwrap_or(None);
    if let Some(s) = &started {
        report.peak_rss = s.overall_peak();
    }
    if let Some(s) = started {
        s.stop();
    }
    drop(fixtures);
    report.millis = began.elapsed().as_millis() as u64;
    report
}

/// What every case of one target shares.
struct Env<'a> {
    addr: SocketAddr,
    fixtures: Option<&'a Fixtures>,
    started: Option<&'a Started>,
    plan: &'a Plan,
    until: Option<Instant>,
    /// Set once the started server is found dead.
    died: Mutex<Option<String>>,
}

fn run_all(env: &Env, done: &(dyn Fn(&CaseResult) + Sync)) -> Vec<CaseResult> {
    let cases = &env.plan.cases;
    let mut results: Vec<Option<CaseResult>> = vec![None; cases.len()];
    let mut i = 0;
    while i < cases.len() {
        // A run of cases that may share the server, or one alone.
        let end = match cases[i].alone || env.plan.jobs <= 1 {
            true => i + 1,
            false => (i..cases.len())
                .find(|&k| cases[k].alone)
                .unwrap_or(cases.len()),
        };
        let batch = &cases[i..end];
        let slots: Vec<Mutex<Option<CaseResult>>> =
            batch.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..env.plan.jobs.clamp(1, batch.len()) {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = batch.get(k) else { break };
                    let result = run_one(env, case);
                    *slots[k].lock().expect("slot") = Some(result);
                });
            }
        });
        for (k, slot) in slots.into_iter().enumerate() {
            let result = slot.into_inner().expect("slot").expect("every case ran");
            done(&result);
            results[i + k] = Some(result);
        }
        i = end;
    }
    results
        .into_iter()
        .map(|r| r.expect("every case ran"))
        .collect()
}

fn run_one(env: &Env, case: &Case) -> CaseResult {
    let began = Instant::now();
    let result = |outcome: Outcome, transcript: String| CaseResult {
        id: case.id.to_string(),
        tier: case.tier,
        requirement: case.requirement.to_string(),
        verdict: outcome.verdict,
        expected: outcome.expected,
        actual: outcome.actual,
        transcript,
        millis: began.elapsed().as_millis() as u64,
    };
    if let Some(why) = env.died.lock().expect("died").as_ref() {
        return result(Outcome::skip(format!("not run: {why}")), String::new());
    }
    if let Some(why) = missing(env, case) {
        return result(Outcome::skip(why), String::new());
    }
    let mut limit = case
        .timeout
        .unwrap_or(env.plan.case_timeout)
        .max(env.plan.case_timeout);
    if let Some(until) = env.until {
        let left = until.saturating_duration_since(began);
        if left < Duration::from_millis(100) {
            return result(
                Outcome::skip("the target's time limit ran out"),
                String::new(),
            );
        }
        limit = limit.min(left);
    }
    let mut ctx = Ctx::new(
        env.addr,
        env.fixtures,
        env.started,
        env.plan.timeouts,
        limit,
    );
    let mut outcome = match (case.run)(&mut ctx) {
        Ok(o) | Err(o) => o,
    };
    let recorded = std::sync::Arc::clone(&ctx.recorded);
    drop(ctx);
    if let Some(started) = env.started {
        if let Some(status) = started.exited() {
            let why = format!(
                "the server {status} during {}{}",
                case.id,
                started.output_note()
            );
            if outcome.verdict != Verdict::Skip {
                outcome.verdict = Verdict::Fail;
                if outcome.expected.is_empty() {
                    outcome.expected = "the server keeps running".into();
                }
                outcome.actual = format!("{} ({why})", outcome.actual)
                    .trim_start()
                    .to_string();
            }
            env.died.lock().expect("died").get_or_insert(why);
        }
    }
    let transcript = match outcome.verdict {
        Verdict::Pass | Verdict::Skip => String::new(),
        _ => {
            let mut all = recorded.lock().expect("recorded").clone();
            all.sort_by_key(|r| r.connection);
            let several = all.len() > 1;
            all.iter()
                .map(|r| match several {
                    true => format!("connection {}:\n{}", r.connection, r.lines),
                    false => r.lines.clone(),
                })
                .collect()
        }
    };
    result(outcome, transcript)
}

/// Why `case` cannot run against this target, if it cannot.
fn missing(env: &Env, case: &Case) -> Option<String> {
    match case.needs {
        Needs::Address => None,
        Needs::Dir if env.fixtures.is_none() => Some(
            "needs the served directory: pass --dir DIR (the directory this server publishes) or start it with --server".into(),
        ),
        Needs::Started if env.started.is_none() => Some("measures the server's memory: needs a server the checker starts (--server)".into()),
        Needs::Started if env.fixtures.is_none() => Some("needs the served directory".into()),
        Needs::IdleTimeout if env.plan.timeouts.idle.is_none() => Some("needs the server's idle timeout: --idle-timeout SECS".into()),
        Needs::RequestTimeout if env.plan.timeouts.request.is_none() => {
            Some("needs the server's request deadline: --request-timeout SECS".into())
        }
        _ => None,
    }
}
