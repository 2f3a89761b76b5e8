//! What a check found, as every report writer sees it: the tiers and
//! verdicts, one [`CaseResult`] per case run, one [`TargetReport`] per
//! server checked. These are also the JSON format (`--json`), read back
//! when a class is graded.

use serde::{Deserialize, Serialize};

/// How demanding a case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// What the course statement and its official suite require.
    Course,
    /// The rules docs/PROTOCOL.md marks *decided*.
    Strict,
    /// §4: concurrency, slow and vanishing clients, memory, timeouts.
    Robust,
}

impl Tier {
    /// The tier's name, as `--tier` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Course => "course",
            Tier::Strict => "strict",
            Tier::Robust => "robust",
        }
    }
}

/// What a case concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The server did what the rule says.
    Pass,
    /// The server broke the rule.
    Fail,
    /// The server broke a decided rule in a way the course allows.
    NonStrict,
    /// Behaviour the protocol leaves open, reported as found.
    Info,
    /// Not run, with why.
    Skip,
}

impl Verdict {
    /// Every verdict, in the order reports count them.
    pub const ALL: [Verdict; 5] = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::NonStrict,
        Verdict::Info,
        Verdict::Skip,
    ];

    /// The verdict as reports print it: `PASS`, `NON-STRICT`, ...
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::NonStrict => "NON-STRICT",
            Verdict::Info => "INFO",
            Verdict::Skip => "SKIP",
        }
    }

    /// The verdict's name in JSON, CSS classes and CSV headers.
    pub fn key(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NonStrict => "non-strict",
            Verdict::Info => "info",
            Verdict::Skip => "skip",
        }
    }
}

/// One case's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// Stable ID tied to the section it checks: `2.1/framing/bare-cr`.
    pub id: String,
    /// Its tier.
    pub tier: Tier,
    /// The rule, in one line.
    pub requirement: String,
    /// What it concluded.
    pub verdict: Verdict,
    /// What the rule expects (empty for a pass).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub expected: String,
    /// What the server did instead, or what was found (INFO), or why the
    /// case did not run (SKIP).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub actual: String,
    /// The bytes exchanged, escaped, one line per run of bytes
    /// (`> #0 "quit\r\n"`); kept for failures and findings only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub transcript: String,
    /// How long the case took, in milliseconds.
    pub millis: u64,
}

/// Everything a check of one server found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    /// The target's name (its address, or the name in a targets file).
    pub name: String,
    /// What was checked: `HOST:PORT`, or the server command.
    pub target: String,
    /// The cases run, in the order listed by `--list`.
    pub results: Vec<CaseResult>,
    /// Why the check could not run or stopped early, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The highest resident memory of the server seen, in bytes, when
    /// the checker started it and could measure it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss: Option<u64>,
    /// How long the whole check took, in milliseconds.
    pub millis: u64,
}

impl CaseResult {
    /// What the case expected, what it found and the bytes exchanged, as
    /// the text of a report (`expected: ...`, `actual: ...` or `found:
    /// ...` for INFO, `transcript:`); empty parts are left out.
    pub fn explanation(&self) -> String {
        let mut text = String::new();
        if !self.expected.is_empty() {
            text.push_str(&format!("expected: {}\n", self.expected));
        }
        if !self.actual.is_empty() {
            let label = if self.verdict == Verdict::Info {
                "found"
            } else {
                "actual"
            };
            text.push_str(&format!("{label}: {}\n", self.actual));
        }
        if !self.transcript.is_empty() {
            text.push_str("transcript:\n");
            text.push_str(&self.transcript);
            if !self.transcript.ends_with('\n') {
                text.push('\n');
            }
        }
        text
    }
}

#[cfg(test)]
impl CaseResult {
    /// A result for the report writers' tests: nothing expected, found
    /// or recorded.
    pub fn sample(
        id: &str,
        tier: Tier,
        requirement: String,
        verdict: Verdict,
        millis: u64,
    ) -> CaseResult {
        CaseResult {
            id: id.to_string(),
            tier,
            requirement,
            verdict,
            expected: String::new(),
            actual: String::new(),
            transcript: String::new(),
            millis,
        }
    }
}

impl TargetReport {
    /// How many results have `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.results.iter().filter(|r| r.verdict == verdict).count()
    }

    /// Whether a case failed or the check could not run.
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.count(Verdict::Fail) > 0
    }
}
