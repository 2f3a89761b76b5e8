//! The open-files limit (`RLIMIT_NOFILE`, on every Unix), for the
//! descriptor budget.

use rustix::process::{getrlimit, setrlimit, Resource};

/// The soft open-files limit now; `None` when unlimited.
pub fn open_files() -> Option<u64> {
    getrlimit(Resource::Nofile).current
}

/// Raises the soft open-files limit to the hard one; returns the soft
/// limit after (`None`: unlimited).
pub fn raise_open_files() -> Option<u64> {
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if setrlimit(Resource::Nofile, limit).is_err() {
            // macOS refuses more than OPEN_MAX with an unlimited maximum.
            let mut capped = getrlimit(Resource::Nofile);
            capped.current = Some(capped.current.unwrap_or(0).max(10_240));
            let _ = setrlimit(Resource::Nofile, capped);
        }
    }
    open_files()
}

/// Whether `e` says the process (`EMFILE`) or the system (`ENFILE`) is
/// out of file descriptors: worth waiting for one.
pub fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_limit_is_read() {
        let limit = super::open_files();
        assert!(limit.is_none_or(|n| n >= 3), "{limit:?}");
    }
}
