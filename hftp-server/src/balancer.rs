//! Load measurement and the moves that follow from it: each worker
//! publishes its CPU time and wake count; worker 0 turns one window of
//! those figures (and the machine's idle CPU) into a [`Load`] for
//! [`Placement`] to decide on; [`plan_moves`] picks which connections a
//! worker hands to which other. The worker carries the moves out.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::{debug, trace};

use crate::placement::{Load, Placement};
use crate::shared::Shared;
use crate::sys;

/// How long the placement measures load before deciding.
const WINDOW: Duration = Duration::from_millis(200);

/// One worker's part in the balancing.
#[derive(Debug)]
pub struct Balancer {
    index: usize,
    /// Returns from `poll`, published at each measure.
    wakes: u64,
    /// Worker 0 decides how many workers are active.
    controller: Option<Controller>,
}

/// Worker 0's placement state: the decision, and the figures of the last
/// window's start.
#[derive(Debug)]
struct Controller {
    placement: Placement,
    window_start: Instant,
    /// Per worker: CPU ns and wakes at the window's start.
    last: Vec<(u64, u64)>,
    /// The machine's idle and total CPU ticks at the window's start.
    machine: Option<(u64, u64)>,
    cores: f64,
}

impl Balancer {
    /// Worker `index` of `workers`.
    pub fn new(index: usize, workers: usize, now: Instant) -> Self {
        Balancer {
            index,
            wakes: 0,
            controller: (index == 0).then(|| Controller {
                placement: Placement::new(workers, now),
                window_start: now,
                last: Vec::new(),
                machine: sys::machine_cpu(),
                cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
            }),
        }
    }

    /// The worker returned from waiting for events.
    pub fn note_wake(&mut self) {
        self.wakes += 1;
    }

    /// Publishes this worker's load figures; on worker 0, once a window
    /// has passed, decides how many workers are active and wakes the
    /// others when that changes (unless a test holds the number).
    pub fn measure(&mut self, shared: &Shared) {
        // Read now, with the CPU time: the loop's `now` is from before the
        // events were handled, which can take long under load.
        let now = Instant::now();
        let me = &shared.workers[self.index];
        me.cpu_ns
            .store(sys::thread_cpu().as_nanos() as u64, Ordering::Relaxed);
        me.wakes.store(self.wakes, Ordering::Relaxed);
        let Some(controller) = self.controller.as_mut() else {
            return;
        };
        let window = now.duration_since(controller.window_start);
        if window < WINDOW {
            return;
        }
        let figures: Vec<(u64, u64)> = shared
            .workers
            .iter()
            .map(|w| {
                (
                    w.cpu_ns.load(Ordering::Relaxed),
                    w.wakes.load(Ordering::Relaxed),
                )
            })
            .collect();
        let machine = sys::machine_cpu();
        let held = shared.forced_workers.load(Ordering::Relaxed) != 0;
        if controller.last.len() == figures.len() && !held {
            let idle = match (machine, controller.machine) {
                (Some((idle, total)), Some((idle0, total0))) if total > total0 => {
                    idle.saturating_sub(idle0) as f64 / (total - total0) as f64 * controller.cores
                }
                _ => f64::INFINITY,
            };
            let active = controller.placement.active();
            let load = load_of(&figures, &controller.last, active, window, idle);
            let decided = controller.placement.decide(load, now);
            trace!("placement window: {active} workers active, {load}");
            if decided != active {
                debug!("{decided} of {} workers active now ({load})", figures.len());
                shared.active_workers.store(decided, Ordering::Relaxed);
                shared.wake_others(self.index);
            }
        }
        controller.last = figures;
        controller.machine = machine;
        controller.window_start = now;
    }
}

/// The active workers' load over one window, from their figures at its
/// end and its start.
fn load_of(
    now: &[(u64, u64)],
    last: &[(u64, u64)],
    active: usize,
    window: Duration,
    idle: f64,
) -> Load {
    let mut load = Load {
        busy: 0.0,
        least_busy: f64::MAX,
        wakes: 0,
        window,
        idle,
    };
    for (now_f, last_f) in now.iter().zip(last).take(active) {
        let busy = now_f.0.saturating_sub(last_f.0) as f64 / window.as_nanos() as f64;
        load.busy += busy;
        load.least_busy = load.least_busy.min(busy);
        load.wakes += now_f.1.saturating_sub(last_f.1);
    }
    load
}

/// Which of worker `index`'s connections (key, time of last progress) go
/// to which worker, given `active` active workers and every worker's
/// connection count: all of them when this worker is not active; else
/// those above its share to the active worker holding the fewest, every
/// other one by recent progress so that the busy ones are split too, not
/// only counted (with thousands idle, a plain half could leave every busy
/// one here). A margin of one, so that two workers never pass one
/// connection back and forth.
pub fn plan_moves(
    index: usize,
    active: usize,
    counts: &[usize],
    conns: impl Iterator<Item = (usize, Instant)>,
) -> Vec<(usize, usize)> {
    let active = active.max(1);
    if index >= active {
        return conns
            .enumerate()
            .map(|(n, (key, _))| (key, n % active))
            .collect();
    }
    let mine = counts[index];
    let share = counts.iter().sum::<usize>().div_ceil(active);
    let Some((to, &fewest)) = counts[..active].iter().enumerate().min_by_key(|c| *c.1) else {
        return Vec::new();
    };
    if to == index || mine <= share + 1 || fewest >= share {
        return Vec::new();
    }
    let excess = (mine - share).min(share - fewest);
    let mut by_progress: Vec<(Instant, usize)> = conns.map(|(key, at)| (at, key)).collect();
    by_progress.sort_unstable_by_key(|&(at, _)| std::cmp::Reverse(at));
    by_progress
        .iter()
        .step_by(2)
        .take(excess)
        .map(|&(_, key)| (key, to))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inactive_worker_hands_everything_round_robin() {
        let t = Instant::now();
        let moves = plan_moves(1, 1, &[3, 3], (0..3).map(|k| (k, t)));
        assert_eq!(moves, [(0, 0), (1, 0), (2, 0)]);
    }

    #[test]
    fn an_active_worker_over_its_share_hands_every_other_busy_one() {
        let t = Instant::now();
        let at = |ms| t + Duration::from_millis(ms);
        // Six here, none there: three go, alternating by recent progress.
        let conns = [
            (10, at(1)),
            (11, at(6)),
            (12, at(2)),
            (13, at(5)),
            (14, at(3)),
            (15, at(4)),
        ];
        let moves = plan_moves(0, 2, &[6, 0], conns.into_iter());
        assert_eq!(moves, [(11, 1), (15, 1), (12, 1)]);
        // Within the margin: nothing moves.
        assert!(plan_moves(0, 2, &[4, 3], conns.into_iter().take(4)).is_empty());
    }
}
