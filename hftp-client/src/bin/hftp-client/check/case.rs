//! What a case is: its ID, tier, requirement, what it needs to run and how
//! long it may take; what it concludes ([`Outcome`]); and the context it
//! runs in ([`Ctx`]: the server's address, the fixtures, the started
//! server, the deadline, and the transcripts of its connections).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::fixtures::Fixtures;
use super::model::{Tier, Verdict};
use super::probe::{Probe, Recorded};
use super::server::Started;

/// What a case needs besides an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Needs {
    /// Only the address.
    #[default]
    Address,
    /// The served directory (fixtures).
    Dir,
    /// A server the checker started (memory is measured).
    Started,
    /// The server's idle timeout (`--idle-timeout`).
    IdleTimeout,
    /// The server's request deadline (`--request-timeout`).
    RequestTimeout,
}

/// One check of one rule.
#[derive(Clone, Copy)]
pub struct Case {
    /// Stable ID: the section it checks, a topic, a name.
    pub id: &'static str,
    /// Its tier.
    pub tier: Tier,
    /// The rule, in one line.
    pub requirement: &'static str,
    /// What it needs to run.
    pub needs: Needs,
    /// It changes the served directory, measures memory or time, or
    /// loads the server: it runs alone, never beside another case.
    pub alone: bool,
    /// Its own time limit, when longer than `--case-timeout`.
    pub timeout: Option<Duration>,
    /// The check itself.
    pub run: fn(&mut Ctx) -> Checked,
}

impl Case {
    /// A case of `tier` that needs only the address, runs beside others
    /// and takes the default time.
    pub const fn new(
        id: &'static str,
        tier: Tier,
        requirement: &'static str,
        run: fn(&mut Ctx) -> Checked,
    ) -> Case {
        Case {
            id,
            tier,
            requirement,
            needs: Needs::Address,
            alone: false,
            timeout: None,
            run,
        }
    }

    /// The same case, needing `needs`.
    pub const fn needs(self, needs: Needs) -> Case {
        Case { needs, ..self }
    }

    /// The same case, run alone.
    pub const fn alone(self) -> Case {
        Case {
            alone: true,
            ..self
        }
    }

    /// The same case, allowed `secs` seconds.
    pub const fn takes(self, secs: u64) -> Case {
        Case {
            timeout: Some(Duration::from_secs(secs)),
            ..self
        }
    }
}

/// What a case concluded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    /// What the rule expects.
    pub expected: String,
    /// What happened (or what was found, or why not run).
    pub actual: String,
}

impl Outcome {
    /// The rule held.
    pub fn pass() -> Outcome {
        Outcome {
            verdict: Verdict::Pass,
            expected: String::new(),
            actual: String::new(),
        }
    }

    /// The rule was broken.
    pub fn fail(expected: impl Into<String>, actual: impl Into<String>) -> Outcome {
        Outcome {
            verdict: Verdict::Fail,
            expected: expected.into(),
            actual: actual.into(),
        }
    }

    /// A decided rule was broken in a way the course allows.
    pub fn non_strict(expected: impl Into<String>, actual: impl Into<String>) -> Outcome {
        Outcome {
            verdict: Verdict::NonStrict,
            expected: expected.into(),
            actual: actual.into(),
        }
    }

    /// Behaviour the protocol leaves open, as found.
    pub fn info(found: impl Into<String>) -> Outcome {
        Outcome {
            verdict: Verdict::Info,
            expected: String::new(),
            actual: found.into(),
        }
    }

    /// Not run, and why.
    pub fn skip(why: impl Into<String>) -> Outcome {
        Outcome {
            verdict: Verdict::Skip,
            expected: String::new(),
            actual: why.into(),
        }
    }
}

/// A case's conclusion: `Err` ends it early (with `?`), as a failure or
/// a skip.
pub type Checked = Result<Outcome, Outcome>;

/// Fails unless `holds`.
pub fn ensure(
    holds: bool,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> Result<(), Outcome> {
    match holds {
        true => Ok(()),
        false => Err(Outcome::fail(expected, actual)),
    }
}

/// The server's timeouts, when the user gave them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerTimeouts {
    pub idle: Option<Duration>,
    pub request: Option<Duration>,
}

/// Everything a case may use.
pub struct Ctx<'a> {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// The served directory, when the checker may write there.
    pub fixtures: Option<&'a Fixtures>,
    /// The server process, when the checker started it.
    pub started: Option<&'a Started>,
    /// The server's timeouts, when given.
    pub timeouts: ServerTimeouts,
    /// When the case must be over.
    pub deadline: Instant,
    /// When the case began (transcript times are relative to it).
    pub began: Instant,
    /// The transcripts of the case's connections, filed as they close.
    pub recorded: Arc<Mutex<Vec<Recorded>>>,
    /// How many connections the case opened (to label transcripts).
    opened: usize,
}

impl<'a> Ctx<'a> {
    /// A context for a case allowed `limit`.
    pub fn new(
        addr: SocketAddr,
        fixtures: Option<&'a Fixtures>,
        started: Option<&'a Started>,
        timeouts: ServerTimeouts,
        limit: Duration,
    ) -> Ctx<'a> {
        let began = Instant::now();
        Ctx {
            addr,
            fixtures,
            started,
            timeouts,
            deadline: began + limit,
            began,
            recorded: Arc::default(),
            opened: 0,
        }
    }

    /// A new connection to the server, recording its transcript.
    pub fn connect(&mut self) -> Result<Probe, Outcome> {
        self.opened += 1;
        Probe::connect(
            self.addr,
            self.deadline,
            self.began,
            self.opened,
            &self.recorded,
        )
    }

    /// A new connection that records nothing and reads little at a time
    /// (for cases that open hundreds).
    pub fn connect_quietly(&mut self, timeout: Duration) -> Result<Probe, Outcome> {
        self.opened += 1;
        Probe::connect_quietly(self.addr, self.deadline, timeout)
    }

    /// The fixtures, or a skip saying how to get them.
    pub fn dir(&self) -> Result<&'a Fixtures, Outcome> {
        self.fixtures.ok_or_else(|| {
            Outcome::skip("needs the served directory: pass --dir DIR (the directory this server publishes) or start it with --server")
        })
    }

    /// A fixture's name as published (`foo`, or `hftpcheck-foo` in a
    /// directory the checker shares).
    pub fn name(&self, base: &str) -> Result<String, Outcome> {
        Ok(self.dir()?.name(base))
    }

    /// Time left before the deadline.
    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}
