//! Every OS-specific call of the server, each with a portable Unix
//! fallback, in one place:
//!
//! - [`confine`]: resolving a client's file name beneath the served
//!   directory's handle (Linux: `openat2` with `RESOLVE_BENEATH`, an
//!   `O_PATH` handle and `statx`; elsewhere: a component walk with
//!   `openat`/`fstatat`/`readlinkat`), listing it, its change stamp;
//!   and reading file bytes only if they are in the page cache (Linux
//!   `preadv2(RWF_NOWAIT)`; elsewhere: never, the pool reads);
//! - [`send`]: a file range straight to a socket (`sendfile`) when
//!   `cachestat` shows it all in the page cache of a local file system;
//!   elsewhere never (the bytes are read and written);
//! - [`socket`]: unacknowledged bytes (`SIOCOUTQ`), resetting a connection,
//!   checking a socket handed over listens (`SO_ACCEPTCONN`);
//! - [`limits`]: the open-files limit;
//! - [`cpu`]: thread and machine CPU time, for the placement.
//!
//! The Linux fast paths are used on Linux unless the crate is built with
//! `--cfg hftp_portable`, which takes the fallbacks there too, so that the
//! whole server suite runs on them (`.ci/run` does). No `/proc` is needed
//! on the portable paths.

pub mod confine;
pub mod cpu;
pub mod limits;
pub mod send;
pub mod socket;

pub use confine::read_nowait;
pub use cpu::{machine_cpu, thread_cpu};
pub use send::send_cached;
pub use socket::{not_a_tcp_listener, set_abortive_close, unacked};
