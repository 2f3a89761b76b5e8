//! The descriptor budget: how many connections, and how many file-system
//! threads, the open-files limit (`RLIMIT_NOFILE`) allows with room to
//! spare, so that a client already served never fails for lack of a
//! descriptor: past the budget, new clients wait in the listen backlog.
//!
//! A connection takes two descriptors at most (its socket, and the file a
//! slice is sent from); a file-system thread one more while it looks a
//! name up (or reads the directory); the server keeps a fixed few (the
//! standard streams, the listener, each worker's event loop and waker,
//! the directory's handle). Pure arithmetic: the limit is read in
//! [`crate::sys`].

/// Descriptors a connection may hold at once.
pub const PER_CONNECTION: u64 = 2;

/// Descriptors kept for the server itself, beyond each worker's two.
const FIXED: u64 = 16;

/// What the limit allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Connections served at once.
    pub connections: usize,
    /// File-system threads at most.
    pub fs_threads: usize,
}

/// The budget for `wanted` connections and up to `fs_threads` threads,
/// with `workers` event loops, under an open-files limit of `limit`
/// (`None`: unlimited).
pub fn plan(limit: Option<u64>, wanted: usize, fs_threads: usize, workers: usize) -> Budget {
    let Some(limit) = limit else {
        return Budget {
            connections: wanted.max(1),
            fs_threads: fs_threads.max(1),
        };
    };
    let fixed = FIXED + 2 * workers as u64;
    let spare = limit.saturating_sub(fixed);
    // Threads get an eighth of what is left at most (and at least one).
    let threads = (spare / 8).clamp(1, fs_threads.max(1) as u64);
    let for_connections = spare.saturating_sub(threads);
    let connections = (for_connections / PER_CONNECTION).max(1);
    Budget {
        connections: wanted.clamp(1, usize::try_from(connections).unwrap_or(usize::MAX)),
        fs_threads: threads as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_low_limit_caps_connections_and_threads_and_leaves_room() {
        for limit in [20u64, 64, 256, 1024, 4096, 65_536] {
            for workers in [1, 2, 8] {
                let b = plan(Some(limit), 10_000, 64, workers);
                assert!(b.connections >= 1 && b.fs_threads >= 1);
                let used = b.connections as u64 * PER_CONNECTION
                    + b.fs_threads as u64
                    + FIXED
                    + 2 * workers as u64;
                if limit > 64 {
                    assert!(used <= limit, "{limit} {workers}: {b:?} uses {used}");
                }
            }
        }
        let b = plan(Some(64), 10_000, 64, 2);
        assert_eq!(
            b,
            Budget {
                connections: 19,
                fs_threads: 5
            }
        );
    }

    #[test]
    fn a_high_limit_or_none_keeps_what_was_asked() {
        let b = plan(Some(1 << 20), 10_000, 64, 2);
        assert_eq!(
            b,
            Budget {
                connections: 10_000,
                fs_threads: 64
            }
        );
        assert_eq!(
            plan(None, 7, 3, 2),
            Budget {
                connections: 7,
                fs_threads: 3
            }
        );
    }
}
