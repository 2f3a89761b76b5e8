//! `hftp-client check`: a conformance checker and grader for any HFTP
//! server, in the spirit of h2spec and Autobahn|Testsuite. Every rule of
//! docs/PROTOCOL.md and every robustness promise of its §4 is a case
//! with a stable ID; each failure is explained with the exact bytes
//! exchanged.
//!
//! Modules: `args` (its command line), `model` (tiers, verdicts, results:
//! also the JSON format), `case` (what a case is, its outcome and
//! context), `probe` (the checker's recording connection), `fixtures`
//! (the files served), `server` (a server the checker starts), `os`
//! (system calls), `cleanup` (what a stopped check leaves), `cases` (every case, by tier), `run` (one target),
//! `class` (a targets file), `report` (console, JSON, JUnit, Gradescope,
//! CSV, HTML).

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

pub mod args;
mod case;
mod cases;
mod class;
mod cleanup;
mod fixtures;
pub mod model;
mod os;
mod probe;
mod report;
mod run;
mod server;

pub use args::CheckArgs;

use case::{Case, ServerTimeouts};
use model::Tier;
use run::{Plan, Target};

/// A case failed.
pub const FAILED: u8 = 1;
/// The check could not run.
pub const COULD_NOT_RUN: u8 = 2;

/// Runs `check`; `host` and `port` are the global options (the address
/// when none is given).
pub fn run(args: &CheckArgs, host: &str, port: u16) -> ExitCode {
    match check(args, host, port) {
        Ok(code) => ExitCode::from(code),
        Err(why) => {
            // One line on stderr; what the server printed, if anything,
            // on stdout before it.
            let (line, output) = match why.split_once("; its output ends:\n") {
                Some((line, output)) => (line, Some(output)),
                None => (why.as_str(), None),
            };
            if let Some(output) = output {
                println!("the server's output ends:\n{output}");
            }
            eprintln!("hftp-client check: {line}");
            ExitCode::from(COULD_NOT_RUN)
        }
    }
}

fn check(args: &CheckArgs, host: &str, port: u16) -> Result<u8, String> {
    let cases = select(args)?;
    cleanup::install();
    let mut stdout = anstream::AutoStream::new(std::io::stdout(), color(&args.color));
    if args.list {
        for c in &cases {
            let _ = writeln!(
                stdout,
                "{:<44} {:<7} {}",
                c.id,
                c.tier.name(),
                c.requirement
            );
        }
        return Ok(0);
    }
    if args.weights.is_some() && args.gradescope.is_none() {
        return Err("--weights applies to --gradescope, which is not given".into());
    }
    let weights = match &args.weights {
        Some(path) => Some(report::gradescope::Weights::load(path)?),
        None => None,
    };
    let plan = Plan {
        cases,
        case_timeout: args.case_timeout.max(std::time::Duration::from_millis(100)),
        jobs: args.jobs as usize,
        timeouts: ServerTimeouts {
            idle: args.idle_timeout,
            request: args.request_timeout,
        },
        start_timeout: args.start_timeout,
        time_limit: (!args.time_limit.is_zero()).then_some(args.time_limit),
    };
    if let Some(path) = &args.targets {
        return grade(args, &plan, path);
    }
    let target = match &args.server {
        Some(template) => Target::Command {
            template: template.clone(),
            cwd: None,
        },
        None => {
            let shown = match &args.address {
                Some(a) => a.clone(),
                None if host.contains(':') => format!("[{host}]:{port}"),
                None => format!("{host}:{port}"),
            };
            Target::Address {
                addr: resolve(&shown)?,
                shown,
                dir: args.dir.clone(),
            }
        }
    };
    let name = match &target {
        Target::Address { shown, .. } => shown.clone(),
        Target::Command { .. } => "server".into(),
    };
    let _ = writeln!(
        stdout,
        "checking {} ({} cases)",
        describe(&target),
        plan.cases.len()
    );
    let _ = stdout.flush();
    let out = std::sync::Mutex::new(&mut stdout);
    let report = run::run(&name, &target, &plan, &|r| {
        let mut out = out.lock().expect("stdout");
        report::console::line(&mut **out, r);
        let _ = out.flush();
    });
    let could_not_run = report.results.is_empty() && report.error.is_some();
    if !could_not_run {
        report::console::details(&mut stdout, &report, &rerun_hint());
    }
    if let Some(path) = &args.json {
        report::to_file(path, |out| report::json(&report, out))?;
    }
    if let Some(path) = &args.junit {
        report::to_file(path, |out| {
            report::junit::write(std::slice::from_ref(&report), out)
        })?;
    }
    if let Some(path) = &args.gradescope {
        let weights = weights.unwrap_or_default();
        report::to_file(path, |out| {
            report::gradescope::write(&report, &weights, out)
        })?;
    }
    if let Some(path) = &args.html {
        report::to_file(path, |out| {
            report::html::write(std::slice::from_ref(&report), out)
        })?;
    }
    if let (true, Some(e)) = (could_not_run, &report.error) {
        return Err(e.clone());
    }
    Ok(if report.failed() { FAILED } else { 0 })
}

/// Grades every target of the targets file at `path`.
fn grade(args: &CheckArgs, plan: &Plan, path: &std::path::Path) -> Result<u8, String> {
    let targets = class::load(path, resolve)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    println!(
        "grading {} targets ({} cases each) into {}",
        targets.len(),
        plan.cases.len(),
        args.out.display()
    );
    let reports = class::run_all(&targets, plan, args.jobs as usize);
    for r in &reports {
        let file = args.out.join(format!("{}.json", r.name));
        report::to_file(&file, |out| report::json(r, out))?;
    }
    report::to_file(&args.out.join("summary.csv"), |out| {
        report::csv::write(&reports, out)
    })?;
    let html = args
        .html
        .clone()
        .unwrap_or_else(|| args.out.join("report.html"));
    report::to_file(&html, |out| report::html::write(&reports, out))?;
    if let Some(p) = &args.junit {
        report::to_file(p, |out| report::junit::write(&reports, out))?;
    }
    if let Some(p) = &args.json {
        report::to_file(p, |out| report::json(&reports, out))?;
    }
    println!(
        "wrote {} and {}",
        html.display(),
        args.out.join("summary.csv").display()
    );
    Ok(if reports.iter().any(|r| r.failed()) {
        FAILED
    } else {
        0
    })
}

/// The cases `--only`, `--skip` and `--tier` select, in list order.
fn select(args: &CheckArgs) -> Result<Vec<Case>, String> {
    let all = cases::all();
    let tiers: Vec<Tier> = args.tier.iter().map(|t| t.tier()).collect();
    for prefix in args.only.iter().chain(&args.skip) {
        if !all.iter().any(|c| c.id.starts_with(prefix.as_str())) {
            return Err(format!("no case ID starts with {prefix:?} (see --list)"));
        }
    }
    let chosen: Vec<Case> = all
        .into_iter()
        .filter(|c| tiers.is_empty() || tiers.contains(&c.tier))
        .filter(|c| args.only.is_empty() || args.only.iter().any(|p| c.id.starts_with(p.as_str())))
        .filter(|c| !args.skip.iter().any(|p| c.id.starts_with(p.as_str())))
        .collect();
    if chosen.is_empty() {
        return Err("no case left to run with these --only, --skip and --tier".into());
    }
    Ok(chosen)
}

/// `HOST:PORT` to one socket address (IPv4 first, as the server binds).
fn resolve(address: &str) -> Result<SocketAddr, String> {
    if address.starts_with("hftps://") {
        return Err(format!(
            "cannot check {address}: the checker speaks plain HFTP only (check the server's \
             plain port; HFTP inside TLS is the same protocol)"
        ));
    }
    let address = address.strip_prefix("hftp://").unwrap_or(address);
    let addrs: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {address:?} (expected HOST:PORT): {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{address} resolves to no address"))
}

fn describe(target: &Target) -> String {
    match target {
        Target::Address {
            shown,
            dir: Some(d),
            ..
        } => format!("{shown} (serving {})", d.display()),
        Target::Address { shown, .. } => shown.clone(),
        Target::Command { template, .. } => format!("the server started by `{template}`"),
    }
}

fn color(when: &str) -> anstream::ColorChoice {
    match when {
        "always" => anstream::ColorChoice::Always,
        "never" => anstream::ColorChoice::Never,
        _ => anstream::ColorChoice::Auto,
    }
}

/// This command line without its `--only`, `--skip` and `--tier`, to
/// rerun one case.
fn rerun_hint() -> String {
    let mut kept = Vec::new();
    let mut args = std::env::args().skip(1);
    kept.push("hftp-client".to_string());
    // What selects cases, and where reports go: not for a rerun.
    let dropped = [
        "--only",
        "--skip",
        "--tier",
        "--json",
        "--junit",
        "--gradescope",
        "--html",
        "--weights",
    ];
    while let Some(a) = args.next() {
        if dropped.contains(&a.as_str()) {
            args.next();
            continue;
        }
        if dropped.iter().any(|d| a.starts_with(&format!("{d}="))) {
            continue;
        }
        kept.push(shlex::try_quote(&a).map(|q| q.into_owned()).unwrap_or(a));
    }
    kept.join(" ")
}
