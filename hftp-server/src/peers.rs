//! The per-address connection limit (`--max-connections-per-ip`): how
//! many connections each client address holds, and refusing the ones past
//! the limit, with a log line at most once a second however many are
//! refused.
//!
//! Off by default: a classroom behind one NAT shares one address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often refusals are logged at most.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// Connections per address, against a limit.
#[derive(Debug, Default)]
pub struct Peers {
    limit: Option<usize>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    counts: HashMap<IpAddr, usize>,
    /// Refused since the last log line, and when that was.
    refused: u64,
    logged: Option<Instant>,
}

impl Peers {
    /// At most `limit` connections per address (`None`: no limit).
    pub fn new(limit: Option<usize>) -> Self {
        Peers {
            limit,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a new connection from `ip` at `now`, unless that address
    /// holds the limit already: then returns `false` (and logs, at most
    /// once a second, how many were refused).
    pub fn admit(&self, ip: IpAddr, now: Instant) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        let mut state = self.lock();
        let count = state.counts.entry(ip).or_default();
        if *count < limit {
            *count += 1;
            return true;
        }
        state.refused += 1;
        if state.logged.is_none_or(|t| now >= t + LOG_EVERY) {
            tracing::warn!(
                "{ip} holds {limit} connections (--max-connections-per-ip): closed {} new \
                 connection(s) past the limit",
                state.refused
            );
            state.refused = 0;
            state.logged = Some(now);
        }
        false
    }

    /// A connection from `ip` that [`Peers::admit`] counted closed.
    pub fn release(&self, ip: IpAddr) {
        if self.limit.is_none() {
            return;
        }
        let mut state = self.lock();
        if let Some(count) = state.counts.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                state.counts.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_per_address_and_frees_up() {
        let peers = Peers::new(Some(2));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let now = Instant::now();
        assert!(peers.admit(a, now) && peers.admit(a, now));
        assert!(!peers.admit(a, now));
        assert!(peers.admit(b, now));
        peers.release(a);
        assert!(peers.admit(a, now));
        assert!(!peers.admit(a, now));
        peers.release(a);
        peers.release(a);
        peers.release(b);
        assert!(
            peers.lock().counts.is_empty(),
            "no address is kept once it has none"
        );
    }

    #[test]
    fn no_limit_counts_nothing() {
        let peers = Peers::new(None);
        let a: IpAddr = "::1".parse().unwrap();
        for _ in 0..1000 {
            assert!(peers.admit(a, Instant::now()));
        }
        assert!(peers.lock().counts.is_empty());
    }
}
