//! How many workers take connections: all of them while the load needs
//! them, fewer while the workers would only wake, find one or two requests
//! and sleep again.
//!
//! A worker that wakes for every other request spends more on waking (a
//! context switch, on a virtual machine an interrupt through the host)
//! than on the requests. With unpipelined clients on the same two cores,
//! two such workers answered 25 % fewer requests than one, and with three
//! busy threads on two cores a woken thread could wait a scheduler tick
//! for a core (BENCHMARKS.md). So the connections are gathered onto fewer
//! workers when the active ones are together less busy than those fewer
//! could be and do little work per wake (under [`SHORT_WAKE`]: a few
//! small requests); workers that wake seldom for much work each (large
//! slices) stay spread, since gathering them saves nothing and one worker
//! serving several large slices costs more per byte. They spread again when every
//! active worker is saturated and the machine has a core to spare (when
//! the clients run on the same cores, a second worker only takes CPU from
//! them). A spread that gathers straight back was a wrong guess: the next
//! try waits twice as long (up to [`MAX_BACKOFF`]).
//!
//! This module only decides, from load figures the workers measure; it
//! reads no clock (times are passed in) and moves nothing. The workers
//! move the connections (`worker`).

use std::time::{Duration, Instant};

/// CPU time per wake below which the active workers are mostly waking.
pub const SHORT_WAKE: Duration = Duration::from_micros(100);

/// Busy fraction of a worker's time above which it is saturated.
pub const SATURATED: f64 = 0.9;

/// Idle CPU, in cores, that the machine must have for one more worker:
/// about what waking costs a worker that finds little work (a quarter of
/// its CPU, measured), so that what it could add is worth more.
pub const SPARE: f64 = 0.3;

/// Wait before spreading again after gathering: the first time, and the
/// most it doubles to.
pub const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// See [`MIN_BACKOFF`].
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A spread that lasts this long was right: the next wrong guess starts
/// the backoff over.
pub const SETTLED: Duration = Duration::from_secs(10);

/// What the active workers did over one measuring window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Busy time of each active worker over the window, as a fraction of
    /// the window (0.0 to 1.0), summed: 1.5 is one and a half cores.
    pub busy: f64,
    /// The least busy active worker's fraction.
    pub least_busy: f64,
    /// Returns from waiting for events, all active workers together.
    pub wakes: u64,
    /// How long the window was.
    pub window: Duration,
    /// The machine's idle CPU over the window, in cores (all processes;
    /// `f64::INFINITY` when it cannot be known).
    pub idle: f64,
}

impl std::fmt::Display for Load {
    /// For the log: `busy=1.42 cores least_busy=0.31 wakes=5120 window=1.00s idle=0.55 cores`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "busy={:.2} cores least_busy={:.2} wakes={} window={:.2}s idle=",
            self.busy,
            self.least_busy,
            self.wakes,
            self.window.as_secs_f64()
        )?;
        match self.idle.is_finite() {
            true => write!(f, "{:.2} cores", self.idle),
            false => f.write_str("unknown"),
        }
    }
}

/// The decision, kept between windows.
#[derive(Debug, Clone)]
pub struct Placement {
    active: usize,
    workers: usize,
    /// When the number of active workers last changed.
    changed: Instant,
    /// When the last spread happened (cleared once it has settled).
    spread: Option<Instant>,
    backoff: Duration,
}

impl Placement {
    /// `workers` in all, every one of them active, as of `now`.
    pub fn new(workers: usize, now: Instant) -> Self {
        Placement {
            active: workers.max(1),
            workers: workers.max(1),
            changed: now,
            spread: None,
            backoff: MIN_BACKOFF,
        }
    }

    /// Workers taking connections now.
    pub fn active(&self) -> usize {
        self.active
    }

    /// Takes one window's load, measured up to `now`; returns how many
    /// workers should be active from now on (at most one more or one
    /// fewer than before).
    pub fn decide(&mut self, load: Load, now: Instant) -> usize {
        if let Some(spread) = self.spread {
            if now.duration_since(spread) >= SETTLED {
                self.spread = None;
                self.backoff = MIN_BACKOFF;
            }
        }
        let fewer = (self.active - 1) as f64;
        let work_per_wake = load.window.mul_f64(load.busy) / load.wakes.max(1) as u32;
        if self.active > 1 && load.busy < fewer && work_per_wake < SHORT_WAKE {
            if self.spread.take().is_some() {
                // Spread, then gathered straight back: wait longer next time.
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
            self.active -= 1;
            self.changed = now;
        } else if self.active < self.workers
            && load.least_busy > SATURATED
            && load.idle >= SPARE
            && now.duration_since(self.changed) >= self.backoff
        {
            self.active += 1;
            self.changed = now;
            self.spread = Some(now);
        }
        self.active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(250);

    /// Runs `windows` windows of `load_for(active)` from `start`; returns
    /// the number of active workers after each.
    fn run(
        placement: &mut Placement,
        start: Instant,
        windows: u32,
        load_for: impl Fn(usize) -> Load,
    ) -> Vec<usize> {
        (1..=windows)
            .map(|i| {
                let load = load_for(placement.active());
                placement.decide(load, start + WINDOW * i)
            })
            .collect()
    }

    /// Unpipelined clients on the same cores, as measured: two workers
    /// each half busy, waking 40,000 times a second (24 µs of work a
    /// wake); one worker saturated.
    fn unpipelined(active: usize) -> Load {
        match active {
            1 => Load {
                busy: 0.99,
                least_busy: 0.99,
                wakes: 1_000,
                window: WINDOW,
                idle: 0.15,
            },
            _ => Load {
                busy: 0.95,
                least_busy: 0.47,
                wakes: 10_000,
                window: WINDOW,
                idle: 0.2,
            },
        }
    }

    /// Pipelined clients: both workers busy, 400 µs of work a wake.
    fn pipelined(active: usize) -> Load {
        match active {
            1 => Load {
                busy: 1.0,
                least_busy: 1.0,
                wakes: 500,
                window: WINDOW,
                idle: 0.65,
            },
            _ => Load {
                busy: 1.6,
                least_busy: 0.78,
                wakes: 1_000,
                window: WINDOW,
                idle: 0.05,
            },
        }
    }

    #[test]
    fn unpipelined_load_gathers_and_stays_gathered_while_no_core_is_spare() {
        let start = Instant::now();
        let mut p = Placement::new(2, start);
        let active = run(&mut p, start, 400, unpipelined);
        assert_eq!(active[0], 1, "gathers after the first window");
        assert!(active.iter().all(|&a| a == 1), "{active:?}");
    }

    #[test]
    fn a_spread_gathered_straight_back_waits_ever_longer_for_the_next() {
        // Clients elsewhere (a core to spare) that cannot keep two workers
        // busy: each spread is gathered back, and the waits double.
        let start = Instant::now();
        let mut p = Placement::new(2, start);
        let remote = |active| Load {
            idle: 1.0,
            ..unpipelined(active)
        };
        let active = run(&mut p, start, 400, remote);
        let spreads: Vec<usize> = (1..active.len())
            .filter(|&i| active[i] == 2 && active[i - 1] == 1)
            .collect();
        for &i in &spreads {
            assert_eq!(active[i + 1], 1, "window {i}");
        }
        // 0.5, 1, 2, 4, 8, 16 s, then 30 s: 100 s hold 7 or 8 spreads.
        let gaps: Vec<usize> = spreads.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{gaps:?}");
        assert!((6..=9).contains(&spreads.len()), "{spreads:?}");
    }

    #[test]
    fn pipelined_load_stays_spread_and_spreads_again_after_gathering() {
        let start = Instant::now();
        let mut p = Placement::new(2, start);
        assert!(run(&mut p, start, 40, pipelined).iter().all(|&a| a == 2));
        // Gathered by a quiet spell, it spreads again once the single
        // worker saturates, and stays spread.
        let quiet = Load {
            busy: 0.1,
            least_busy: 0.05,
            wakes: 1_000,
            window: WINDOW,
            idle: 1.8,
        };
        let later = start + WINDOW * 41;
        assert_eq!(p.decide(quiet, later), 1);
        let active = run(&mut p, later, 40, pipelined);
        let first = active.iter().position(|&a| a == 2).expect("spreads again");
        assert!(first <= 2, "{active:?}");
        assert!(active[first..].iter().all(|&a| a == 2), "{active:?}");
    }

    #[test]
    fn busy_workers_or_long_wakes_stay_spread() {
        let start = Instant::now();
        for (what, busy, least_busy, wakes) in [
            // Four large base64 slices, clients on the same cores: together
            // under one core, but 2 ms of work a wake. One worker would
            // cost more per byte and saturate (measured: 0.62 against 0.47
            // CPU s per GB).
            ("large slices", 0.94, 0.44, 118),
            // Short wakes, but more work than one worker could do.
            ("busy", 1.8, 0.88, 5_000),
        ] {
            let mut p = Placement::new(2, start);
            let load = |_| Load {
                busy,
                least_busy,
                wakes,
                window: WINDOW,
                idle: 0.0,
            };
            let active = run(&mut p, start, 40, load);
            assert!(active.iter().all(|&a| a == 2), "{what}: {active:?}");
        }
    }

    #[test]
    fn one_worker_never_changes_and_more_step_one_at_a_time() {
        let start = Instant::now();
        let mut one = Placement::new(1, start);
        assert!(run(&mut one, start, 20, pipelined).iter().all(|&a| a == 1));
        let mut four = Placement::new(4, start);
        let idle = |_| Load {
            busy: 0.0,
            least_busy: 0.0,
            wakes: 10,
            window: WINDOW,
            idle: 2.0,
        };
        assert_eq!(run(&mut four, start, 5, idle), [3, 2, 1, 1, 1]);
    }
}
