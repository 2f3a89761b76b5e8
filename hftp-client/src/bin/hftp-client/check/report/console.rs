//! The console report: one line per case as it finishes (coloured on a
//! terminal), then each failure and finding with its requirement,
//! expected and actual, the transcript and a rerun hint, and the closing
//! count.

use std::io::Write;

use anstyle::{AnsiColor, Style};

use super::super::model::{CaseResult, TargetReport, Verdict};

/// How a verdict is coloured.
fn style(verdict: Verdict) -> Style {
    let color = match verdict {
        Verdict::Pass => AnsiColor::Green,
        Verdict::Fail => AnsiColor::Red,
        Verdict::NonStrict => AnsiColor::Yellow,
        Verdict::Info => AnsiColor::Cyan,
        Verdict::Skip => AnsiColor::BrightBlack,
    };
    Style::new().fg_color(Some(color.into())).bold()
}

/// The line of one case: `PASS        3/quit/close  (12 ms)`.
pub fn line(out: &mut dyn Write, r: &CaseResult) {
    let s = style(r.verdict);
    let mut note = String::new();
    if r.verdict == Verdict::Skip {
        note = format!(": {}", r.actual);
    }
    let _ = writeln!(
        out,
        "{s}{:<10}{s:#} {}  ({} ms){note}",
        r.verdict.label(),
        r.id,
        r.millis
    );
}

/// Failures and findings in detail, and the count; `rerun` is the
/// command line to repeat one case, without `--only`.
pub fn details(out: &mut dyn Write, report: &TargetReport, rerun: &str) {
    for r in &report.results {
        if !matches!(
            r.verdict,
            Verdict::Fail | Verdict::NonStrict | Verdict::Info
        ) {
            continue;
        }
        let s = style(r.verdict);
        let _ = writeln!(out, "\n{s}{} {}{s:#}", r.verdict.label(), r.id);
        let _ = writeln!(out, "  requirement: {}", r.requirement);
        if !r.expected.is_empty() {
            let _ = writeln!(out, "  expected:    {}", r.expected);
        }
        let label = if r.verdict == Verdict::Info {
            "found"
        } else {
            "actual"
        };
        let _ = writeln!(
            out,
            "  {label}:{:width$}{}",
            "",
            r.actual,
            width = 12 - label.len()
        );
        if !r.transcript.is_empty() {
            let _ = writeln!(out, "  transcript (> sent, < received):");
            for l in trimmed(&r.transcript, 40) {
                let _ = writeln!(out, "    {l}");
            }
        }
        let _ = writeln!(out, "  rerun: {rerun} --only {}", r.id);
    }
    if let Some(e) = &report.error {
        let _ = writeln!(
            out,
            "\n{}error:{:#} {e}",
            style(Verdict::Fail),
            style(Verdict::Fail)
        );
    }
    let _ = writeln!(out, "\n{}", summary(report));
}

/// `45 passed, 1 failed, 2 non-strict, 3 info, 4 skipped`.
pub fn summary(report: &TargetReport) -> String {
    format!(
        "{} passed, {} failed, {} non-strict, {} info, {} skipped",
        report.count(Verdict::Pass),
        report.count(Verdict::Fail),
        report.count(Verdict::NonStrict),
        report.count(Verdict::Info),
        report.count(Verdict::Skip)
    )
}

/// At most `max` lines of `text`: the first ones and the last ones.
fn trimmed(text: &str, max: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= max {
        return lines.iter().map(|l| l.to_string()).collect();
    }
    let head = max / 2;
    let tail = max - head - 1;
    let mut out: Vec<String> = lines[..head].iter().map(|l| l.to_string()).collect();
    out.push(format!("… {} lines …", lines.len() - head - tail));
    out.extend(lines[lines.len() - tail..].iter().map(|l| l.to_string()));
    out
}
