//! The Gradescope autograder report (`results.json`), for a class whose
//! servers are graded by `hftp-client check`.
//!
//! Each case is one Gradescope test worth the points a [`Weights`] file
//! gives it: PASS, INFO and NON-STRICT earn them all (the output of a
//! NON-STRICT case says what was not strict), FAIL earns none and shows
//! what was expected, what the server did and the bytes exchanged. SKIP
//! cases are left out, so they cost nothing. A check that could not run
//! shows first, as a test `check could not run` worth nothing, with why.
//!
//! A weights file is TOML, case IDs or ID prefixes to points; the longest
//! prefix that matches an ID wins, and an ID no key matches is worth 1:
//!
//! ```toml
//! "2.1/" = 2                      # every case of section 2.1
//! "3/get_slice/size-zero" = 5     # this one case
//! "" = 0                          # anything else (a new default)
//! ```
//!
//! Prefixes are plain string prefixes: `"2.1"` would match `2.10/...`
//! too, which `"2.1/"` does not.

use std::io;
use std::path::Path;

use serde::Serialize;

use crate::check::model::{CaseResult, TargetReport, Verdict};

/// Points per case ID or ID prefix, read from a TOML file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Weights {
    /// (prefix, points), longest prefix first.
    prefixes: Vec<(String, f64)>,
}

impl Weights {
    /// What a case no key matches is worth.
    pub const DEFAULT_POINTS: f64 = 1.0;

    /// Reads a weights file; the error names the file and what is wrong.
    pub fn load(path: impl AsRef<Path>) -> Result<Weights, String> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read the weights file: {e}", path.display()))?;
        Weights::parse(&text, &path.display().to_string())
    }

    /// Reads weights from `text`; `origin` (the file's name) starts any
    /// error.
    pub fn parse(text: &str, origin: &str) -> Result<Weights, String> {
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| format!("{origin}: not a weights file: {}", e.to_string().trim_end()))?;
        let mut prefixes = Vec::with_capacity(table.len());
        for (key, value) in table {
            let points = match value {
                toml::Value::Integer(n) => n as f64,
                toml::Value::Float(x) => x,
                toml::Value::Table(_) => {
                    return Err(format!(
                        "{origin}: `{key}` is a table, not points; a case ID with dots must be quoted, as in \"2.1/\" = 2"
                    ))
                }
                other => {
                    return Err(format!(
                        "{origin}: `{key}`: points must be a number, not a {} ({other})",
                        other.type_str()
                    ))
                }
            };
            if !points.is_finite() || points < 0.0 {
                return Err(format!(
                    "{origin}: `{key}`: points must be a number of at least 0, not {points}"
                ));
            }
            prefixes.push((key, points));
        }
        // Longest first, so the first match is the longest.
        prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(Weights { prefixes })
    }

    /// What the case `id` is worth: the points of the longest key that
    /// starts it, or [`Weights::DEFAULT_POINTS`].
    pub fn points(&self, id: &str) -> f64 {
        self.prefixes
            .iter()
            .find(|(prefix, _)| id.starts_with(prefix.as_str()))
            .map_or(Weights::DEFAULT_POINTS, |&(_, points)| points)
    }
}

/// The whole `results.json`.
#[derive(Debug, Serialize)]
struct Results {
    score: f64,
    visibility: &'static str,
    stdout_visibility: &'static str,
    tests: Vec<Test>,
}

/// One test of `results.json`.
#[derive(Debug, Serialize)]
struct Test {
    score: f64,
    max_score: f64,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    number: Option<String>,
    output: String,
    visibility: &'static str,
    status: &'static str,
}

/// Writes `report`, scored by `weights`, as Gradescope's `results.json`.
pub fn write(report: &TargetReport, weights: &Weights, out: &mut dyn io::Write) -> io::Result<()> {
    let results = results(report, weights);
    serde_json::to_writer_pretty(&mut *out, &results)?;
    out.write_all(b"\n")
}

fn results(report: &TargetReport, weights: &Weights) -> Results {
    let mut tests = Vec::with_capacity(report.results.len() + 1);
    if let Some(error) = &report.error {
        tests.push(Test {
            score: 0.0,
            max_score: 0.0,
            name: "check could not run".to_string(),
            number: None,
            output: error.clone(),
            visibility: "visible",
            status: "failed",
        });
    }
    for case in &report.results {
        if case.verdict == Verdict::Skip {
            continue;
        }
        let max_score = weights.points(&case.id);
        let passed = case.verdict != Verdict::Fail;
        tests.push(Test {
            score: if passed { max_score } else { 0.0 },
            max_score,
            name: format!("{} — {}", case.id, case.requirement),
            number: Some(case.id.clone()),
            output: output(case),
            visibility: "visible",
            status: if passed { "passed" } else { "failed" },
        });
    }
    Results {
        score: tests.iter().map(|t| t.score).sum(),
        visibility: "visible",
        stdout_visibility: "visible",
        tests,
    }
}

/// What a student reads under a test.
fn output(case: &CaseResult) -> String {
    let mut text = match case.verdict {
        Verdict::Pass => String::new(),
        Verdict::Fail => "FAIL: the server broke this rule.\n".to_string(),
        Verdict::NonStrict => "NON-STRICT (full points): the server broke a rule that \
             docs/PROTOCOL.md decides, in a way the course allows.\n"
            .to_string(),
        Verdict::Info => "INFO (full points): the protocol leaves this open; \
             here is what the server does.\n"
            .to_string(),
        Verdict::Skip => "SKIP\n".to_string(),
    };
    text.push_str(&case.explanation());
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::model::Tier;
    use serde_json::{json, Value};

    fn case(id: &str, verdict: Verdict) -> CaseResult {
        CaseResult::sample(id, Tier::Course, format!("rule {id}"), verdict, 3)
    }

    fn sample() -> TargetReport {
        let mut fail = case("3/get_slice/size-zero", Verdict::Fail);
        fail.expected = "OK 0".into();
        fail.actual = "ERR 400".into();
        fail.transcript = "> #0 \"get f 0 0\\r\\n\"\n< #0 \"ERR 400\\r\\n\"".into();
        let mut non_strict = case("2.1/framing/lf-only", Verdict::NonStrict);
        non_strict.expected = "CRLF line ends".into();
        non_strict.actual = "a bare LF accepted".into();
        let mut info = case("2.1/framing/long-line", Verdict::Info);
        info.actual = "lines up to 8 KiB".into();
        let mut skip = case("4/memory/peak", Verdict::Skip);
        skip.actual = "needs --server-cmd".into();
        TargetReport {
            name: "alice".into(),
            target: "127.0.0.1:7000".into(),
            results: vec![
                case("1/connect/greeting", Verdict::Pass),
                fail,
                non_strict,
                info,
                skip,
            ],
            error: None,
            peak_rss: None,
            millis: 100,
        }
    }

    fn weights() -> Weights {
        Weights::parse(
            "\"2.1/\" = 2\n\"3/get_slice/size-zero\" = 5\n\"3/\" = 0.5\n",
            "weights.toml",
        )
        .unwrap()
    }

    fn render(report: &TargetReport, weights: &Weights) -> Value {
        let mut out = Vec::new();
        write(report, weights, &mut out).unwrap();
        assert!(out.ends_with(b"}\n"));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn the_longest_prefix_wins_and_the_default_is_one() {
        let w = weights();
        assert_eq!(w.points("3/get_slice/size-zero"), 5.0);
        assert_eq!(w.points("3/get_slice/size-one"), 0.5);
        assert_eq!(w.points("2.1/framing/bare-cr"), 2.0);
        assert_eq!(w.points("2.10/other"), 1.0);
        assert_eq!(w.points("1/connect/greeting"), 1.0);
        assert_eq!(Weights::default().points("anything"), 1.0);
        let with_default = Weights::parse("\"\" = 0\n\"1/\" = 3\n", "w.toml").unwrap();
        assert_eq!(with_default.points("1/x"), 3.0);
        assert_eq!(with_default.points("2/x"), 0.0);
    }

    #[test]
    fn results_json_scores_each_verdict() {
        let results = render(&sample(), &weights());
        assert_eq!(
            results,
            json!({
                "score": 1.0 + 2.0 + 2.0,
                "visibility": "visible",
                "stdout_visibility": "visible",
                "tests": [
                    {
                        "score": 1.0, "max_score": 1.0,
                        "name": "1/connect/greeting — rule 1/connect/greeting",
                        "number": "1/connect/greeting",
                        "output": "",
                        "visibility": "visible", "status": "passed",
                    },
                    {
                        "score": 0.0, "max_score": 5.0,
                        "name": "3/get_slice/size-zero — rule 3/get_slice/size-zero",
                        "number": "3/get_slice/size-zero",
                        "output": "FAIL: the server broke this rule.\nexpected: OK 0\nactual: ERR 400\ntranscript:\n> #0 \"get f 0 0\\r\\n\"\n< #0 \"ERR 400\\r\\n\"\n",
                        "visibility": "visible", "status": "failed",
                    },
                    {
                        "score": 2.0, "max_score": 2.0,
                        "name": "2.1/framing/lf-only — rule 2.1/framing/lf-only",
                        "number": "2.1/framing/lf-only",
                        "output": "NON-STRICT (full points): the server broke a rule that docs/PROTOCOL.md decides, in a way the course allows.\nexpected: CRLF line ends\nactual: a bare LF accepted\n",
                        "visibility": "visible", "status": "passed",
                    },
                    {
                        "score": 2.0, "max_score": 2.0,
                        "name": "2.1/framing/long-line — rule 2.1/framing/long-line",
                        "number": "2.1/framing/long-line",
                        "output": "INFO (full points): the protocol leaves this open; here is what the server does.\nfound: lines up to 8 KiB\n",
                        "visibility": "visible", "status": "passed",
                    },
                ],
            })
        );
    }

    #[test]
    fn keys_come_in_gradescope_order() {
        let mut out = Vec::new();
        write(&sample(), &weights(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap();
        assert!(at("score") < at("visibility"));
        assert!(at("stdout_visibility") < at("tests"));
        assert!(at("max_score") < at("name") && at("name") < at("number"));
    }

    #[test]
    fn a_check_that_could_not_run_comes_first_worth_nothing() {
        let mut report = sample();
        report.results.truncate(1);
        report.error = Some("cannot connect to 127.0.0.1:7000: connection refused".into());
        let results = render(&report, &Weights::default());
        assert_eq!(results["score"], json!(1.0));
        let tests = results["tests"].as_array().unwrap();
        assert_eq!(tests.len(), 2);
        assert_eq!(
            tests[0],
            json!({
                "score": 0.0, "max_score": 0.0,
                "name": "check could not run",
                "output": "cannot connect to 127.0.0.1:7000: connection refused",
                "visibility": "visible", "status": "failed",
            })
        );
        assert_eq!(tests[1]["number"], json!("1/connect/greeting"));
    }

    #[test]
    fn load_reads_a_file_and_errors_name_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weights.toml");
        std::fs::write(&path, "\"2.1/\" = 2\n").unwrap();
        assert_eq!(Weights::load(&path).unwrap().points("2.1/a"), 2.0);

        let name = path.display().to_string();
        std::fs::write(&path, "\"2.1/\" = \"two\"\n").unwrap();
        let err = Weights::load(&path).unwrap_err();
        assert!(
            err.starts_with(&format!("{name}: `2.1/`: points must be a number")),
            "{err}"
        );
        assert!(err.contains("string"), "{err}");

        std::fs::write(&path, "2.1 = 2\n").unwrap();
        let err = Weights::load(&path).unwrap_err();
        assert!(err.starts_with(&format!("{name}: `2` is a table")), "{err}");
        assert!(err.contains("must be quoted"), "{err}");

        std::fs::write(&path, "\"a\" = -1\n").unwrap();
        let err = Weights::load(&path).unwrap_err();
        assert_eq!(
            err,
            format!("{name}: `a`: points must be a number of at least 0, not -1")
        );

        std::fs::write(&path, "\"a\" = \n").unwrap();
        let err = Weights::load(&path).unwrap_err();
        assert!(
            err.starts_with(&format!("{name}: not a weights file: ")),
            "{err}"
        );
        assert!(err.contains("line 1"), "{err}");

        let missing = dir.path().join("missing.toml");
        let err = Weights::load(&missing).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "{}: cannot read the weights file: ",
                missing.display()
            )),
            "{err}"
        );
    }
}
