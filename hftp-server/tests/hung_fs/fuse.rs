//! A tiny FUSE file system with a file whose lookup never ends, served by
//! talking the kernel protocol straight over `/dev/fuse` (no libfuse, no
//! fusermount: the test runs as root and calls mount(2) itself).
//!
//! The root directory holds `a.txt` (a regular file, `hello`) and the
//! regular files named in [`HANGING`], whose `LOOKUP` is never answered:
//! whoever looks one of them up waits in the kernel until the connection
//! is aborted. Entry and attribute timeouts are 0, so every path walk
//! asks the daemon again. Wire structures are those of the Linux uapi
//! header `include/uapi/linux/fuse.h`; we speak protocol 7.31 and ask for
//! `FUSE_PARALLEL_DIROPS`: without it the kernel holds a per-directory
//! mutex across each `LOOKUP` of a name not in its cache and each
//! `READDIR`, so one hung lookup would stop those in the kernel, before
//! the daemon ever sees them, whatever the server does.
//!
//! [`HungFs`]'s drop (and [`HungFs::abort`]) detaches the mount and aborts
//! the connection, so that threads stuck in it return (`ENOTCONN`), even
//! when the test panics.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The content of `a.txt`.
pub const A_TXT: &[u8] = b"hello";

/// Names whose lookup is never answered. Each hung request needs a name
/// of its own to reach the daemon: the VFS lets only one lookup of a
/// given name in a given directory run at a time (`d_alloc_parallel`), a
/// second one waits in the kernel for the first.
pub const HANGING: [&str; 2] = ["hang", "hang2"];

/// The protocol version we speak (`FUSE_KERNEL_VERSION`.minor).
pub const MAJOR: u32 = 7;
pub const MINOR: u32 = 31;

/// Opcodes (`enum fuse_opcode`).
const LOOKUP: u32 = 1;
const FORGET: u32 = 2;
const GETATTR: u32 = 3;
const OPEN: u32 = 14;
const READ: u32 = 15;
const STATFS: u32 = 17;
const RELEASE: u32 = 18;
const GETXATTR: u32 = 22;
const FLUSH: u32 = 25;
const INIT: u32 = 26;
const OPENDIR: u32 = 27;
const READDIR: u32 = 28;
const RELEASEDIR: u32 = 29;
const ACCESS: u32 = 34;
const INTERRUPT: u32 = 36;
const BATCH_FORGET: u32 = 42;

/// `FUSE_PARALLEL_DIROPS` (init flags).
const PARALLEL_DIROPS: u32 = 1 << 18;

/// Node ids: the root is `FUSE_ROOT_ID`; `a.txt`; then one per [`HANGING`].
const ROOT: u64 = 1;
const A: u64 = 2;
const FIRST_HANGING: u64 = 3;

/// `sizeof(struct fuse_in_header)`, `sizeof(struct fuse_out_header)`.
const IN_HEADER: usize = 40;
const OUT_HEADER: usize = 16;

/// The most the kernel may write in one request we accept (`max_write`);
/// the read buffer is larger than that plus a header.
const MAX_WRITE: u32 = 128 * 1024;
const BUFFER: usize = (1 << 20) + 4096;

/// What the daemon saw, shared with the test.
#[derive(Debug, Default)]
struct State {
    /// Set by the test: the daemon thread returns (closing its `/dev/fuse`
    /// descriptor, which aborts the connection).
    stop: AtomicBool,
    /// `FUSE_INIT` was answered.
    initialized: AtomicBool,
    /// `LOOKUP`s of a [`HANGING`] name seen (all unanswered).
    hang_lookups: AtomicUsize,
    /// Their request ids and names.
    hung: Mutex<Vec<(u64, String)>>,
}

/// A mounted hung file system; detached and aborted on drop.
#[derive(Debug)]
pub struct HungFs {
    state: Arc<State>,
    daemon: Option<JoinHandle<()>>,
    mounted: bool,
    /// The connection's number under `/sys/fs/fuse/connections` (the
    /// minor of the mount's device).
    connection: Option<u32>,
    /// Where it is mounted (an empty directory of our own underneath).
    /// Declared last: removed after the drop has detached the mount.
    mountpoint: tempfile::TempDir,
}

impl HungFs {
    /// Mounts a new one on a fresh temporary directory. `Err` says why
    /// this machine cannot (not root, no `/dev/fuse`, mount refused):
    /// the test is then skipped. Panics if the mount works but the file
    /// system does not come up (cleaning up first).
    pub fn mount() -> Result<HungFs, String> {
        let mountpoint = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let dev = CString::new("/dev/fuse").unwrap();
        // SAFETY: open(2) of a NUL-terminated path; the descriptor it
        // returns is owned by the OwnedFd made just below and nothing else.
        // O_CLOEXEC: the server we spawn must not hold the connection open
        // (closing our descriptor would then not abort it).
        let raw = unsafe {
            libc::open(
                dev.as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        };
        if raw < 0 {
            return Err(format!("open /dev/fuse: {}", io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a descriptor we just opened and own alone.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let target = CString::new(mountpoint.path().as_os_str().as_bytes()).unwrap();
        let source = CString::new("hftpfuse").unwrap();
        let fstype = CString::new("fuse").unwrap();
        let data = CString::new(format!(
            "fd={},rootmode=40000,user_id=0,group_id=0,allow_other",
            fd.as_raw_fd()
        ))
        .unwrap();
        // SAFETY: mount(2) with NUL-terminated strings that outlive the
        // call; `data` is the option string the fuse file system parses.
        let rc = unsafe {
            libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                data.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(format!(
                "mount -t fuse on {}: {}",
                mountpoint.path().display(),
                io::Error::last_os_error()
            ));
        }
        let state = Arc::new(State::default());
        let daemon = {
            let state = Arc::clone(&state);
            std::thread::Builder::new()
                .name("hung-fuse".into())
                .spawn(move || serve(fd, &state))
                .expect("spawning the FUSE daemon thread")
        };
        let mut fs = HungFs {
            state,
            daemon: Some(daemon),
            mounted: true,
            connection: None,
            mountpoint,
        };
        // From here on a panic drops `fs`, which unmounts and aborts.
        assert!(
            wait(Duration::from_secs(10), || fs
                .state
                .initialized
                .load(Ordering::SeqCst)),
            "the kernel sent no FUSE_INIT within 10 s"
        );
        let meta = std::fs::metadata(fs.path()).expect("stat of the FUSE mount's root");
        assert!(meta.is_dir(), "the FUSE root is not a directory");
        fs.connection = Some(libc::minor(meta.dev()));
        Ok(fs)
    }

    /// The mountpoint: the directory to serve.
    pub fn path(&self) -> &Path {
        self.mountpoint.path()
    }

    /// How many lookups of a hanging name reached the daemon.
    pub fn hang_lookups(&self) -> usize {
        self.state.hang_lookups.load(Ordering::SeqCst)
    }

    /// The names of the hung lookups, in arrival order.
    pub fn hung_names(&self) -> Vec<String> {
        let hung = self.state.hung.lock().unwrap_or_else(|e| e.into_inner());
        hung.iter().map(|(_, name)| name.clone()).collect()
    }

    /// Detaches the mount and aborts the connection: every request still
    /// waiting in it (the hung lookups) fails with `ENOTCONN`, and later
    /// ones too. Idempotent.
    pub fn abort(&mut self) {
        if self.mounted {
            self.mounted = false;
            let target = CString::new(self.path().as_os_str().as_bytes()).unwrap();
            // SAFETY: umount2(2) of a NUL-terminated path that outlives the
            // call. MNT_DETACH: the server may still hold descriptors in it.
            let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
            if rc != 0 {
                eprintln!(
                    "umount2 {}: {}",
                    self.path().display(),
                    io::Error::last_os_error()
                );
            }
        }
        // The control file system is often not mounted; closing the last
        // /dev/fuse descriptor (when the daemon thread returns) aborts too.
        if let Some(n) = self.connection.take() {
            let _ = std::fs::write(format!("/sys/fs/fuse/connections/{n}/abort"), "1");
        }
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(daemon) = self.daemon.take() {
            if daemon.join().is_err() {
                eprintln!("the FUSE daemon thread panicked");
            }
        }
    }
}

impl Drop for HungFs {
    fn drop(&mut self) {
        self.abort();
    }
}

/// Polls `cond` every 10 ms until it holds or `within` passes.
fn wait(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    while !cond() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// The daemon: reads requests and answers them until told to stop or the
/// connection ends. Returning drops `fd`, which aborts the connection.
fn serve(fd: OwnedFd, state: &State) {
    let mut buf = vec![0u8; BUFFER];
    let file = File::from(fd);
    while !state.stop.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one pollfd that lives across the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, 20) };
        if ready <= 0 {
            continue;
        }
        // SAFETY: read(2) into a buffer of `buf.len()` writable bytes.
        let n = unsafe { libc::read(file.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            match io::Error::last_os_error().raw_os_error() {
                // Nothing after all; a request interrupted before we read it.
                Some(libc::EAGAIN | libc::EINTR | libc::ENOENT) => continue,
                // Unmounted and aborted.
                Some(libc::ENODEV) => return,
                _ => {
                    eprintln!("reading /dev/fuse: {}", io::Error::last_os_error());
                    return;
                }
            }
        }
        let n = n as usize;
        if n < IN_HEADER {
            eprintln!("short FUSE request ({n} bytes)");
            continue;
        }
        let request = &buf[..n];
        if let Some(reply) = handle(request, state) {
            send(&file, &reply);
        }
    }
}

/// Writes one reply (one write(2) per reply, as the kernel requires).
fn send(file: &File, reply: &[u8]) {
    // SAFETY: write(2) of `reply.len()` readable bytes.
    let n = unsafe { libc::write(file.as_raw_fd(), reply.as_ptr().cast(), reply.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        // ENOENT: the request was interrupted meanwhile.
        if e.raw_os_error() != Some(libc::ENOENT) {
            eprintln!("writing a FUSE reply: {e}");
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// A reply: `struct fuse_out_header` (`error` is a negated errno), then
/// `payload`.
fn reply(unique: u64, error: i32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(OUT_HEADER + payload.len());
    out.extend_from_slice(&((OUT_HEADER + payload.len()) as u32).to_le_bytes());
    out.extend_from_slice(&(-error).to_le_bytes());
    out.extend_from_slice(&unique.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The answer to one request, or `None` for those that get none.
fn handle(req: &[u8], state: &State) -> Option<Vec<u8>> {
    let opcode = u32_at(req, 4);
    let unique = u64_at(req, 8);
    let nodeid = u64_at(req, 16);
    let arg = &req[IN_HEADER..];
    let ok = |payload: &[u8]| Some(reply(unique, 0, payload));
    let fail = |errno: i32| Some(reply(unique, errno, &[]));
    match opcode {
        INIT => {
            // struct fuse_init_in: major, minor, max_readahead, flags, ...
            let (major, minor) = (u32_at(arg, 0), u32_at(arg, 4));
            let max_readahead = u32_at(arg, 8);
            let offered = u32_at(arg, 12);
            if major < MAJOR {
                return fail(libc::EPROTO);
            }
            // struct fuse_init_out (64 bytes).
            let mut out = Vec::with_capacity(64);
            out.extend_from_slice(&MAJOR.to_le_bytes());
            out.extend_from_slice(
                &(if major > MAJOR {
                    MINOR
                } else {
                    minor.min(MINOR)
                })
                .to_le_bytes(),
            );
            out.extend_from_slice(&max_readahead.to_le_bytes());
            out.extend_from_slice(&(offered & PARALLEL_DIROPS).to_le_bytes());
            out.extend_from_slice(&16u16.to_le_bytes()); // max_background
            out.extend_from_slice(&12u16.to_le_bytes()); // congestion_threshold
            out.extend_from_slice(&MAX_WRITE.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes()); // time_gran
            out.resize(64, 0); // max_pages, map_alignment, flags2, unused
            state.initialized.store(true, Ordering::SeqCst);
            ok(&out)
        }
        LOOKUP => {
            let name = arg.split(|&b| b == 0).next().unwrap_or_default();
            let name = String::from_utf8_lossy(name).into_owned();
            if nodeid != ROOT {
                return fail(libc::ENOENT);
            }
            if HANGING.contains(&name.as_str()) {
                // Never answered: remember it; the caller waits until the
                // connection is aborted.
                state
                    .hung
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((unique, name));
                state.hang_lookups.fetch_add(1, Ordering::SeqCst);
                return None;
            }
            match node_of(&name) {
                Some(node) => ok(&entry_out(node)),
                None => fail(libc::ENOENT),
            }
        }
        GETATTR => match attr_of(nodeid) {
            Some(attr) => {
                // struct fuse_attr_out: attr_valid, attr_valid_nsec, dummy, attr.
                let mut out = vec![0u8; 16];
                out.extend_from_slice(&attr);
                ok(&out)
            }
            None => fail(libc::ENOENT),
        },
        OPEN | OPENDIR => {
            let is_dir = nodeid == ROOT;
            if (opcode == OPENDIR) != is_dir || attr_of(nodeid).is_none() {
                return fail(if is_dir { libc::EISDIR } else { libc::ENOTDIR });
            }
            // struct fuse_open_out: fh, open_flags, padding.
            let mut out = nodeid.to_le_bytes().to_vec();
            out.resize(16, 0);
            ok(&out)
        }
        READ => {
            // struct fuse_read_in: fh, offset, size, ...
            let (offset, size) = (u64_at(arg, 8), u32_at(arg, 16) as u64);
            let content: &[u8] = if nodeid == A { A_TXT } else { &[] };
            let start = offset.min(content.len() as u64) as usize;
            let end = (offset.saturating_add(size)).min(content.len() as u64) as usize;
            ok(&content[start..end])
        }
        READDIR => {
            let (offset, size) = (u64_at(arg, 8), u32_at(arg, 16) as usize);
            ok(&dirents(offset, size))
        }
        RELEASE | RELEASEDIR | FLUSH | ACCESS => ok(&[]),
        STATFS => {
            // struct fuse_kstatfs: blocks, bfree, bavail, files, ffree,
            // bsize, namelen, frsize, padding, spare[6].
            let mut out = vec![0u8; 40];
            out.extend_from_slice(&4096u32.to_le_bytes());
            out.extend_from_slice(&255u32.to_le_bytes());
            out.extend_from_slice(&4096u32.to_le_bytes());
            out.resize(80, 0);
            ok(&out)
        }
        GETXATTR => fail(libc::ENOSYS),
        // No reply to these. An unanswered INTERRUPT is allowed: the
        // interrupted request simply keeps waiting for its answer.
        FORGET | BATCH_FORGET | INTERRUPT => None,
        _ => fail(libc::ENOSYS),
    }
}

/// The node of a name in the root (the hanging names are never answered,
/// so they need no node).
fn node_of(name: &str) -> Option<u64> {
    (name == "a.txt").then_some(A)
}

/// `struct fuse_attr` of a node (88 bytes).
fn attr_of(nodeid: u64) -> Option<Vec<u8>> {
    let (mode, nlink, size): (u32, u32, u64) = match nodeid {
        ROOT => (0o040755, 2, 0),
        A => (0o100644, 1, A_TXT.len() as u64),
        n if (FIRST_HANGING..FIRST_HANGING + HANGING.len() as u64).contains(&n) => (0o100644, 1, 0),
        _ => return None,
    };
    let mut attr = Vec::with_capacity(88);
    attr.extend_from_slice(&nodeid.to_le_bytes()); // ino
    attr.extend_from_slice(&size.to_le_bytes());
    attr.extend_from_slice(&size.div_ceil(512).to_le_bytes()); // blocks
    attr.resize(attr.len() + 3 * 8 + 3 * 4, 0); // [amc]time, [amc]timensec
    attr.extend_from_slice(&mode.to_le_bytes());
    attr.extend_from_slice(&nlink.to_le_bytes());
    attr.extend_from_slice(&0u32.to_le_bytes()); // uid
    attr.extend_from_slice(&0u32.to_le_bytes()); // gid
    attr.extend_from_slice(&0u32.to_le_bytes()); // rdev
    attr.extend_from_slice(&4096u32.to_le_bytes()); // blksize
    attr.extend_from_slice(&0u32.to_le_bytes()); // flags
    debug_assert_eq!(attr.len(), 88);
    Some(attr)
}

/// `struct fuse_entry_out` of a node, with timeouts 0: every path walk
/// through the name asks again.
fn entry_out(nodeid: u64) -> Vec<u8> {
    // nodeid, generation, entry_valid, attr_valid, entry_valid_nsec,
    // attr_valid_nsec, attr.
    let mut out = nodeid.to_le_bytes().to_vec();
    out.resize(40, 0);
    out.extend_from_slice(&attr_of(nodeid).expect("a known node"));
    out
}

/// The root's entries from index `offset` on, as `struct fuse_dirent`s
/// (each padded to 8 bytes), as many as fit in `size` bytes.
fn dirents(offset: u64, size: usize) -> Vec<u8> {
    const DT_DIR: u32 = 4;
    const DT_REG: u32 = 8;
    let mut entries = vec![
        (ROOT, ".", DT_DIR),
        (ROOT, "..", DT_DIR),
        (A, "a.txt", DT_REG),
    ];
    for (i, name) in HANGING.iter().enumerate() {
        entries.push((FIRST_HANGING + i as u64, name, DT_REG));
    }
    let mut out = Vec::new();
    for (index, (ino, name, kind)) in entries.iter().enumerate().skip(offset as usize) {
        let len = (24 + name.len()).next_multiple_of(8);
        if out.len() + len > size {
            break;
        }
        let start = out.len();
        out.extend_from_slice(&ino.to_le_bytes());
        out.extend_from_slice(&(index as u64 + 1).to_le_bytes()); // off of the next
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.resize(start + len, 0);
    }
    out
}
