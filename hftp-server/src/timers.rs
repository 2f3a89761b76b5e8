//! A worker's timers: when each connection's session next needs
//! [`handle_timeout`](crate::session::Session::handle_timeout), in one
//! min-heap, so that a worker wakes for the connections whose deadlines
//! come instead of sweeping all of them.
//!
//! Entries are never removed early: each names its connection by slab key
//! and a generation number, and one that no longer matches (the connection
//! closed, its slot was reused, or its deadline moved) is passed over when
//! it comes up. A connection keeps the earliest entry it has in the heap
//! ([`Timers::arm`] pushes only an earlier one), so that stale entries stay
//! few: a deadline that moves later costs nothing until the old one comes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// One connection's place in the heap.
#[derive(Debug, Default, Clone, Copy)]
pub struct Armed {
    /// The earliest entry the connection has in the heap.
    at: Option<Instant>,
}

/// The heap of deadlines.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
}

impl Timers {
    /// Makes sure the connection (`key`, generation `id`) is woken at or
    /// before `deadline`.
    pub fn arm(&mut self, armed: &mut Armed, deadline: Option<Instant>, key: usize, id: u64) {
        let Some(deadline) = deadline else { return };
        if armed.at.is_none_or(|at| deadline < at) {
            armed.at = Some(deadline);
            self.heap.push(Reverse((deadline, key, id)));
        }
    }

    /// When the earliest entry comes up.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Takes the next entry due by `now`: its key and generation. The
    /// caller checks that they still name a live connection, calls
    /// [`Timers::fired`] for it, and arms it again.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, usize, u64)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Entries in the heap, stale ones included.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

impl Armed {
    /// The entry at `at` came up: the connection has no entry before its
    /// next [`Timers::arm`] unless a later one is still in the heap, which
    /// is then stale and harmless.
    pub fn fired(&mut self, at: Instant) {
        if self.at.is_some_and(|armed| armed <= at) {
            self.at = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_come_up_in_order_and_only_earlier_deadlines_are_pushed() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut timers = Timers::default();
        let (mut a, mut b) = (Armed::default(), Armed::default());
        timers.arm(&mut a, Some(ms(30)), 1, 10);
        timers.arm(&mut b, Some(ms(20)), 2, 20);
        // Later than what a has: nothing new.
        timers.arm(&mut a, Some(ms(50)), 1, 10);
        assert_eq!(timers.len(), 2);
        // Earlier: pushed, the old one goes stale.
        timers.arm(&mut a, Some(ms(10)), 1, 10);
        assert_eq!(timers.len(), 3);
        assert_eq!(timers.next(), Some(ms(10)));
        assert_eq!(timers.pop_due(ms(5)), None);
        assert_eq!(timers.pop_due(ms(25)), Some((ms(10), 1, 10)));
        a.fired(ms(10));
        assert_eq!(timers.pop_due(ms(25)), Some((ms(20), 2, 20)));
        b.fired(ms(20));
        assert_eq!(timers.pop_due(ms(25)), None);
        // a's stale 30 ms entry comes up; a, re-armed at 50, keeps its own.
        timers.arm(&mut a, Some(ms(50)), 1, 10);
        let stale = timers.pop_due(ms(40)).unwrap();
        assert_eq!(stale, (ms(30), 1, 10));
        a.fired(stale.0);
        assert_eq!(
            a.at,
            Some(ms(50)),
            "a stale entry does not disarm a later one"
        );
        assert_eq!(timers.pop_due(ms(60)), Some((ms(50), 1, 10)));
        timers.arm(&mut a, None, 1, 10);
        assert_eq!(timers.next(), None);
    }
}
