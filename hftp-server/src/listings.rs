//! Shared listing snapshots: one sorted listing of the served directory,
//! built once off the event loop and shared by every connection that
//! lists (each sends it from its own offset, straight from the shared
//! bytes, under its output bound).
//!
//! Each listing request checks the snapshot first, off the loop: one
//! `fstat` of the directory, and one lookup per symlink among its entries
//! (where a symlink leads can change without the directory changing); the
//! directory is read again only if it changed. So a listing is never
//! older than the request (a test suite that adds a file and lists at
//! once sees it), and never older than one second in any case. A
//! directory modified just before it was read may change again within the
//! same file-system timestamp tick: such a snapshot is never trusted by
//! its stamp, and is read again at the next request. Requests that arrive
//! while a snapshot is being built or checked wait for that one.
//!
//! Memory: one snapshot, whatever the number of connections; work per
//! listing after the first: a check (a few system calls on a pool thread)
//! and a clone of a shared buffer.

use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::files::Listing;
use crate::published::{Published, Scan};

/// A directory modified less than this before it was read may change
/// again with the same timestamp (file-system timestamps are taken from a
/// clock that ticks every few milliseconds).
const TIMESTAMP_TICK: Duration = Duration::from_millis(50);

/// The shared snapshot, and who waits for the next one. `W` is how a
/// waiter is told (the server's route back to a connection).
#[derive(Debug)]
pub struct Listings<W> {
    state: Mutex<State<W>>,
}

#[derive(Debug)]
struct State<W> {
    current: Option<Snapshot>,
    /// When the build or check under way began.
    building: Option<Instant>,
    waiters: Vec<(W, Instant)>,
}

#[derive(Debug, Clone)]
struct Snapshot {
    listing: Listing,
    /// What the check compares (the names themselves are in `listing`).
    scan: Scan,
    /// Whether the directory's stamp can vouch for it.
    settled: bool,
}

/// What to do about a listing request.
#[derive(Debug)]
pub enum Ask {
    /// Wait: a build under way will answer.
    Wait,
    /// Wait, and start a build: call [`Listings::build`] off the loop.
    Build,
}

impl<W> Default for Listings<W> {
    fn default() -> Self {
        Listings {
            state: Mutex::new(State {
                current: None,
                building: None,
                waiters: Vec::new(),
            }),
        }
    }
}

impl<W> Listings<W> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<W>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A listing request from `waiter` at `now`. Waiters that have waited
    /// `give_up` (their requests' deadline) are forgotten, and a build
    /// that has run that long is taken as stuck: another is started.
    pub fn ask(&self, waiter: W, now: Instant, give_up: Duration) -> Ask {
        let mut state = self.lock();
        state.waiters.retain(|(_, since)| now < *since + give_up);
        state.waiters.push((waiter, now));
        if state.building.is_some_and(|began| now < began + give_up) {
            return Ask::Wait;
        }
        state.building = Some(now);
        Ask::Build
    }

    /// Builds (or checks) the snapshot from `published`, on a thread that
    /// may block; returns the listing (or why there is none), the waiters
    /// to give it to (those that asked before it began), and whether
    /// others asked meanwhile: then the caller builds again for them.
    pub fn build(&self, published: &Published) -> (io::Result<Listing>, Vec<W>, bool) {
        let began = Instant::now();
        let previous = self.lock().current.clone();
        let result = match previous {
            Some(snapshot)
                if snapshot.settled
                    && matches!(published.unchanged_since(&snapshot.scan), Ok(true)) =>
            {
                Ok(snapshot)
            }
            _ => Self::scan(published),
        };
        let mut state = self.lock();
        let (served, later): (Vec<_>, Vec<_>) = std::mem::take(&mut state.waiters)
            .into_iter()
            .partition(|(_, since)| *since <= began);
        let again = !later.is_empty();
        state.waiters = later;
        state.building = again.then(Instant::now);
        let result = result.map(|snapshot| {
            let listing = snapshot.listing.clone();
            state.current = Some(snapshot);
            listing
        });
        (result, served.into_iter().map(|(w, _)| w).collect(), again)
    }

    fn scan(published: &Published) -> io::Result<Snapshot> {
        let wall = SystemTime::now();
        let mut scan = published.scan()?;
        let listing = Listing::from_names(&scan.names);
        scan.names = Vec::new();
        let settled = !scan.stamp.modified_within(TIMESTAMP_TICK, wall);
        Ok(Snapshot {
            listing,
            scan,
            settled,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn listed(listings: &Listings<u32>, published: &Published, waiter: u32) -> Listing {
        assert!(matches!(
            listings.ask(waiter, Instant::now(), Duration::from_secs(10)),
            Ask::Build
        ));
        let (listing, waiters, again) = listings.build(published);
        assert_eq!(waiters, [waiter]);
        assert!(!again);
        listing.unwrap()
    }

    #[test]
    fn one_snapshot_is_shared_until_the_directory_changes() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b"), b"").unwrap();
        fs::write(dir.path().join("a"), b"").unwrap();
        let published = Published::new(dir.path()).unwrap();
        let listings = Listings::default();
        let first = listed(&listings, &published, 1);
        assert_eq!(first.as_bytes(), b"a\r\nb\r\n\r\n");
        // Requests while a check is under way wait for it: one build.
        let now = Instant::now();
        assert!(matches!(
            listings.ask(2, now, Duration::from_secs(10)),
            Ask::Build
        ));
        assert!(matches!(
            listings.ask(3, now, Duration::from_secs(10)),
            Ask::Wait
        ));
        std::thread::sleep(TIMESTAMP_TICK * 2);
        let (again, waiters, more) = listings.build(&published);
        assert_eq!(waiters, [2, 3]);
        assert!(!more);
        let again = again.unwrap();
        assert_eq!(again, first);
        // Built once, then shared: the same bytes, not a copy.
        let later = listed(&listings, &published, 4);
        assert_eq!(later.as_bytes().as_ptr(), again.as_bytes().as_ptr());
        fs::write(dir.path().join("c"), b"").unwrap();
        let changed = listed(&listings, &published, 5);
        assert_eq!(changed.as_bytes(), b"a\r\nb\r\nc\r\n\r\n");
    }

    #[test]
    fn a_symlink_whose_target_appears_is_listed_though_the_directory_did_not_change() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("sub/f", dir.path().join("link")).unwrap();
        let published = Published::new(dir.path()).unwrap();
        let listings = Listings::default();
        std::thread::sleep(TIMESTAMP_TICK * 2);
        assert_eq!(listed(&listings, &published, 1).as_bytes(), b"\r\n");
        fs::write(dir.path().join("sub/f"), b"x").unwrap();
        assert_eq!(listed(&listings, &published, 2).as_bytes(), b"link\r\n\r\n");
    }

    #[test]
    fn a_request_that_comes_during_a_build_gets_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let published = Published::new(dir.path()).unwrap();
        let listings = Listings::default();
        let give_up = Duration::from_secs(10);
        assert!(matches!(
            listings.ask(1, Instant::now(), give_up),
            Ask::Build
        ));
        // Asked after the build began (dated later than it): not served
        // by it, whose reading may predate a change the asker made.
        assert!(matches!(
            listings.ask(2, Instant::now() + Duration::from_secs(1), give_up),
            Ask::Wait
        ));
        let (_, waiters, again) = listings.build(&published);
        assert_eq!(waiters, [1]);
        assert!(again, "another build for the later request");
        std::thread::sleep(Duration::from_millis(1100));
        let (_, waiters, again) = listings.build(&published);
        assert_eq!(waiters, [2]);
        assert!(!again);
    }

    #[test]
    fn a_stuck_build_is_replaced_after_the_give_up_time_and_old_waiters_are_dropped() {
        let listings: Listings<u32> = Listings::default();
        let t0 = Instant::now();
        let give_up = Duration::from_secs(10);
        assert!(matches!(listings.ask(1, t0, give_up), Ask::Build));
        assert!(matches!(
            listings.ask(2, t0 + Duration::from_secs(5), give_up),
            Ask::Wait
        ));
        // The first build never returns: past the give-up time another
        // starts, and the first waiter is forgotten.
        assert!(matches!(
            listings.ask(3, t0 + Duration::from_secs(11), give_up),
            Ask::Build
        ));
        let waiters: Vec<u32> = listings.lock().waiters.iter().map(|w| w.0).collect();
        assert_eq!(waiters, [2, 3]);
    }
}
