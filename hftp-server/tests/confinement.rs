//! Confinement (docs/PROTOCOL.md §3, §4): nothing outside the served directory is
//! ever sized, listed or read, and special files are never opened.
//!
//! A name is published only if it resolves, beneath the served directory,
//! to a regular file: symlinks are followed only while they stay beneath
//! (an absolute one, even to inside, is not published). Anything else — a
//! FIFO, a socket, a device, a directory, a dangling link, a link leaving
//! the directory whatever is there and whether or not it is readable — is
//! `202` to `get_metadata` and `get_slice`, absent from the listing, and
//! never `199` or a close. A regular file without read permission has a
//! size and is listed; only `get_slice` of it is `199` (fatal).
//!
//! Each check of a name that must not be published runs on a connection of
//! its own followed by `get_metadata` of a good file, so one run reports
//! every name that is answered otherwise (and shows that the connection
//! stays usable after each `202`).

mod common;

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const E202: &str = "202 FILE NOT FOUND";
const E199: &str = "199 INTERNAL SERVER ERROR";

/// The good file every served directory here holds.
const GOOD: &str = "a.txt";
const GOOD_CONTENT: &[u8] = b"inside";

/// An outside directory: a sibling of the served one (both in the
/// temporary directory), so that `../NAME/...` from the served directory
/// leads into it. Removed on drop.
struct Outside {
    dir: tempfile::TempDir,
}

impl Outside {
    fn new() -> Outside {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        Outside { dir }
    }

    /// Its absolute path.
    fn abs(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The same, relative to a served directory beside it.
    fn rel(&self, served: &Path, name: &str) -> String {
        assert_eq!(
            served.parent(),
            self.dir.path().parent(),
            "precondition: the outside directory is a sibling of the served one"
        );
        let own = self.dir.path().file_name().unwrap().to_str().unwrap();
        format!("../{own}/{name}")
    }
}

/// Enough `..` from a directory in the temporary directory to reach `/`
/// (more are harmless), then `abs` without its leading `/`.
fn up_to_root(abs: &str) -> String {
    format!("{}{}", "../".repeat(12), abs.trim_start_matches('/'))
}

/// The three lookups of a name: its size, a base64 slice, a raw slice.
fn lookups(name: &str) -> [String; 3] {
    [
        format!("get_metadata {name}"),
        format!("get_slice {name} 0 1"),
        format!("get_slice {name} 0 0 raw"),
    ]
}

/// Sends `request` then `get_metadata a.txt` on a new connection, shuts
/// down the write side, and returns what came before the server closed
/// (within 5 s), marked when it did not close.
fn ask(server: &Server, request: &str) -> String {
    let mut c = server.connect();
    c.send(format!("{request}\r\nget_metadata {GOOD}\r\n").as_bytes());
    c.shutdown_write();
    let (got, closed, _) = c.wait_close(Duration::from_secs(5));
    let mut out = show(&got);
    if !closed {
        out.push_str(" (and no close within 5 s)");
    }
    out
}

/// What [`ask`] returns when `request` is answered `status` and the
/// connection stays usable.
fn usable_after(status: &str) -> String {
    show(format!("{status}\r\n0 OK\r\n{}\r\n", GOOD_CONTENT.len()).as_bytes())
}

/// Every lookup of each of `names` must be `202`, the connection usable
/// after it; returns one line per request answered otherwise.
fn not_found_failures(server: &Server, names: &[&str]) -> Vec<String> {
    let want = usable_after(E202);
    let mut failures = Vec::new();
    for name in names {
        for request in lookups(name) {
            let got = ask(server, &request);
            if got != want {
                failures.push(format!("{request:?} answered {got:?}, want {want:?}"));
            }
        }
    }
    failures
}

/// A failure line when the listing is not `want`.
fn listing_failure(server: &Server, want: &[&str]) -> Option<String> {
    let mut c = server.connect();
    let got = c.listing();
    (got != want).then(|| format!("get_file_listing gave {got:?}, want {want:?}"))
}

/// Panics with every failure, one per line.
fn assert_none(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} finding(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// Runs the server as nobody when root (so that file permissions apply to
/// it); `None` when the tests do not run as root.
fn as_nobody() -> Option<Options> {
    if !is_root() {
        return None;
    }
    Some(Options {
        run_as: Some(65534),
        ..Options::default()
    })
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_encoded_bytes()).unwrap()
}

fn mkfifo(path: &Path) {
    // SAFETY: mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path(path).as_ptr(), 0o666) }, 0);
}

/// A thread blocked in a blocking `open(fifo, O_WRONLY)`: the open returns
/// only once someone opens the FIFO for reading, and then the thread says
/// so on a channel.
struct BlockedWriter {
    fifo: PathBuf,
    released: mpsc::Receiver<()>,
}

impl BlockedWriter {
    /// Starts the writer and waits until it is blocked in the open.
    fn new(fifo: &Path) -> BlockedWriter {
        let (tx, released) = mpsc::channel();
        let (tid_tx, tid_rx) = mpsc::channel();
        let path = fifo.to_path_buf();
        thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            let _ = tid_tx.send(unsafe { libc::gettid() });
            let file = OpenOptions::new().write(true).open(&path);
            let _ = tx.send(());
            drop(file);
        });
        let tid = tid_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        // Blocked means: inside the openat system call, not running.
        let blocked = format!("{} ", libc::SYS_openat);
        assert!(
            wait_until(Duration::from_secs(5), || {
                fs::read_to_string(format!("/proc/self/task/{tid}/syscall"))
                    .is_ok_and(|s| s.starts_with(&blocked))
            }),
            "precondition: the writer of {} never blocked in open",
            fifo.display()
        );
        BlockedWriter {
            fifo: fifo.to_path_buf(),
            released,
        }
    }

    /// Whether the writer's open returned within `within`.
    fn was_released(&self, within: Duration) -> bool {
        self.released.recv_timeout(within).is_ok()
    }
}

impl Drop for BlockedWriter {
    /// Lets the writer go: open the FIFO for reading ourselves (without
    /// blocking, in case the writer is gone already).
    fn drop(&mut self) {
        let reader = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.fifo);
        let _ = self.released.recv_timeout(Duration::from_secs(5));
        drop(reader);
    }
}

#[test]
fn fifos_inside_or_behind_symlinks_are_not_found_and_never_opened() {
    let out = Outside::new();
    mkfifo(&out.abs("fifo"));
    let server = start_with(Options::default(), |dir| {
        fs::write(dir.join(GOOD), GOOD_CONTENT).unwrap();
        mkfifo(&dir.join("fifo"));
        symlink(out.rel(dir, "fifo"), dir.join("l-fifo-rel")).unwrap();
        symlink(out.abs("fifo"), dir.join("l-fifo-abs")).unwrap();
    });
    let mut failures = Vec::new();
    for (name, fifo) in [
        ("fifo", server.path("fifo")),
        ("l-fifo-rel", out.abs("fifo")),
        ("l-fifo-abs", out.abs("fifo")),
    ] {
        // A writer of its own for each name: one a lookup released is
        // gone.
        let writer = BlockedWriter::new(&fifo);
        failures.extend(not_found_failures(&server, &[name]));
        if writer.was_released(Duration::from_millis(500)) {
            failures.push(format!(
                "the lookups of {name} opened the FIFO {} (a writer blocked in open was released)",
                fifo.display()
            ));
        }
    }
    failures.extend(listing_failure(&server, &[GOOD]));
    assert_none(failures);
}

#[test]
fn unix_sockets_inside_or_behind_symlinks_are_not_found() {
    let out = Outside::new();
    let _outside = UnixListener::bind(out.abs("sock")).unwrap();
    let mut inside = None;
    let server = start_with(Options::default(), |dir| {
        fs::write(dir.join(GOOD), GOOD_CONTENT).unwrap();
        inside = Some(UnixListener::bind(dir.join("sock")).unwrap());
        symlink(out.rel(dir, "sock"), dir.join("l-sock-rel")).unwrap();
        symlink(out.abs("sock"), dir.join("l-sock-abs")).unwrap();
        symlink("sock", dir.join("l-sock-in")).unwrap();
    });
    let mut failures =
        not_found_failures(&server, &["sock", "l-sock-in", "l-sock-rel", "l-sock-abs"]);
    failures.extend(listing_failure(&server, &[GOOD]));
    drop(inside);
    assert_none(failures);
}

#[test]
fn device_nodes_inside_or_behind_symlinks_are_not_found() {
    // In a session of its own, without a controlling terminal (as under a
    // service manager): /dev/tty cannot be opened there.
    let server = start_with(
        Options {
            setsid: true,
            ..Options::default()
        },
        |dir| {
            fs::write(dir.join(GOOD), GOOD_CONTENT).unwrap();
            for dev in ["null", "zero", "tty"] {
                symlink(format!("/dev/{dev}"), dir.join(format!("l-{dev}"))).unwrap();
                symlink(
                    up_to_root(&format!("/dev/{dev}")),
                    dir.join(format!("l-{dev}-rel")),
                )
                .unwrap();
            }
        },
    );
    let mut names = vec![
        "l-null",
        "l-zero",
        "l-tty",
        "l-null-rel",
        "l-zero-rel",
        "l-tty-rel",
    ];
    if is_root() {
        // A character device 1,3 (what /dev/null is) inside, readable and
        // writable by all.
        let node = server.path("null-dev");
        // SAFETY: mknod on a NUL-terminated path.
        let made = unsafe {
            libc::mknod(
                c_path(&node).as_ptr(),
                libc::S_IFCHR | 0o666,
                libc::makedev(1, 3),
            )
        };
        assert_eq!(made, 0, "mknod: {}", std::io::Error::last_os_error());
        names.push("null-dev");
    } else {
        eprintln!("skipped: a device node inside the served directory (mknod needs root)");
    }
    let mut failures = not_found_failures(&server, &names);
    failures.extend(listing_failure(&server, &[GOOD]));
    assert_none(failures);
}

/// The master side of a new pseudo-terminal, and its slave's path.
fn open_pty() -> (File, String) {
    use std::os::fd::FromRawFd;
    // SAFETY: posix_openpt/grantpt/unlockpt/ptsname_r on the descriptor
    // just opened, with a buffer of the size given.
    unsafe {
        let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(fd >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        let master = File::from_raw_fd(fd);
        assert_eq!(libc::grantpt(fd), 0);
        assert_eq!(libc::unlockpt(fd), 0);
        let mut buf = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(fd, buf.as_mut_ptr(), buf.len()), 0);
        let name = std::ffi::CStr::from_ptr(buf.as_ptr())
            .to_str()
            .unwrap()
            .to_owned();
        (master, name)
    }
}

/// Field 7 of `/proc/PID/stat`: the controlling terminal (0: none).
fn controlling_tty(pid: u32) -> i64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[4].parse().unwrap()
}

#[test]
fn a_pty_behind_a_symlink_is_not_found_and_never_becomes_the_servers_terminal() {
    // A session leader without a controlling terminal, as under systemd:
    // opening a terminal without O_NOCTTY would make it the server's
    // controlling terminal, and its hangup would kill the server.
    let mut server = start_with(
        Options {
            setsid: true,
            ..Options::default()
        },
        |dir| fs::write(dir.join(GOOD), GOOD_CONTENT).unwrap(),
    );
    assert_eq!(controlling_tty(server.pid), 0, "precondition: no terminal");
    let (mut master, slave) = open_pty();
    symlink(&slave, server.path("l-pty")).unwrap();
    symlink(up_to_root(&slave), server.path("l-pty-rel")).unwrap();
    let mut failures = not_found_failures(&server, &["l-pty", "l-pty-rel"]);
    failures.extend(listing_failure(&server, &[GOOD]));
    let tty = controlling_tty(server.pid);
    if tty != 0 {
        failures.push(format!(
            "the lookups made {slave} the server's controlling terminal (tty_nr {tty})"
        ));
    }
    // ^C on the terminal, then its hangup.
    use std::io::Write;
    let _ = master.write_all(b"\x03");
    drop(master);
    if let Some(status) = server.wait_exit(Duration::from_secs(1)) {
        failures.push(format!(
            "the server exited when the terminal {slave} was interrupted and hung up: {status}"
        ));
    } else {
        server.assert_alive();
    }
    assert_none(failures);
}

#[test]
fn outside_targets_are_not_found_whatever_their_permissions() {
    let Some(opts) = as_nobody() else {
        eprintln!("skipped: running the server as another user (uid 65534) needs root");
        return;
    };
    let out = Outside::new();
    // Readable only by root (the server runs as nobody), and readable by all.
    fs::write(out.abs("secret"), b"outside secret").unwrap();
    fs::set_permissions(out.abs("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(out.abs("open"), b"outside, readable").unwrap();
    fs::set_permissions(out.abs("open"), fs::Permissions::from_mode(0o644)).unwrap();
    let server = start_with(opts, |dir| {
        fs::write(dir.join(GOOD), GOOD_CONTENT).unwrap();
        fs::set_permissions(dir.join(GOOD), fs::Permissions::from_mode(0o644)).unwrap();
        for target in ["secret", "open", "missing"] {
            symlink(out.abs(target), dir.join(format!("l-{target}"))).unwrap();
            symlink(out.rel(dir, target), dir.join(format!("l-{target}-rel"))).unwrap();
        }
        // Absolute, though to a file inside: not published (decided).
        symlink(dir.join(GOOD), dir.join("l-inside-abs")).unwrap();
    });
    let mut failures = not_found_failures(
        &server,
        &[
            "l-secret",
            "l-secret-rel",
            "l-open",
            "l-open-rel",
            "l-missing",
            "l-missing-rel",
            "l-inside-abs",
        ],
    );
    failures.extend(listing_failure(&server, &[GOOD]));
    assert_none(failures);
}

#[test]
fn inside_permissions_and_relative_links() {
    let Some(opts) = as_nobody() else {
        eprintln!("skipped: running the server as another user (uid 65534) needs root");
        return;
    };
    const LOCKED: &[u8] = b"you may not read this";
    let server = start_with(opts, |dir| {
        fs::write(dir.join(GOOD), GOOD_CONTENT).unwrap();
        fs::set_permissions(dir.join(GOOD), fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(dir.join("locked"), LOCKED).unwrap();
        fs::set_permissions(dir.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
        fs::create_dir(dir.join("sub")).unwrap();
        fs::set_permissions(dir.join("sub"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.join("sub/f"), b"in sub").unwrap();
        fs::set_permissions(dir.join("sub/f"), fs::Permissions::from_mode(0o644)).unwrap();
        symlink("locked", dir.join("l-locked")).unwrap();
        symlink("sub/f", dir.join("l-sub")).unwrap();
        symlink("sub/../a.txt", dir.join("l-dotdot")).unwrap();
        symlink("l-sub", dir.join("l-chain")).unwrap();
        symlink("l-loop", dir.join("l-loop")).unwrap();
        symlink("l-loop-b", dir.join("l-loop-a")).unwrap();
        symlink("l-loop-a", dir.join("l-loop-b")).unwrap();
        symlink("missing", dir.join("l-dangling")).unwrap();
        symlink("sub", dir.join("l-dir")).unwrap();
    });
    let mut failures = Vec::new();
    failures.extend(listing_failure(
        &server,
        &[GOOD, "l-chain", "l-dotdot", "l-locked", "l-sub", "locked"],
    ));
    // Sizes, with or without read permission; the connection stays usable.
    let size_of = |len: usize| {
        let good = GOOD_CONTENT.len();
        show(format!("0 OK\r\n{len}\r\n0 OK\r\n{good}\r\n").as_bytes())
    };
    for (name, len) in [
        ("locked", LOCKED.len()),
        ("l-locked", LOCKED.len()),
        ("l-sub", 6),
        ("l-dotdot", GOOD_CONTENT.len()),
        ("l-chain", 6),
    ] {
        let request = format!("get_metadata {name}");
        let got = ask(&server, &request);
        if got != size_of(len) {
            failures.push(format!(
                "{request:?} answered {got:?}, want {:?}",
                size_of(len)
            ));
        }
    }
    // Contents through relative links that stay inside.
    for (name, content) in [
        ("l-sub", &b"in sub"[..]),
        ("l-dotdot", GOOD_CONTENT),
        ("l-chain", b"in sub"),
    ] {
        let mut c = server.connect();
        if c.slice(name, 0, content.len() as u64) != content {
            failures.push(format!("get_slice {name}: wrong bytes"));
        }
        if c.raw_slice(name, 1, content.len() as u64 - 1) != content[1..] {
            failures.push(format!("get_slice {name} raw: wrong bytes"));
        }
    }
    failures.extend(not_found_failures(
        &server,
        &[
            "l-loop",
            "l-loop-a",
            "l-dangling",
            "l-dir",
            "sub",
            "missing",
        ],
    ));
    // Reading what the server may not read: 199, and nothing after it.
    for name in ["locked", "l-locked"] {
        for request in [
            format!("get_slice {name} 0 1"),
            format!("get_slice {name} 0 0 raw"),
        ] {
            let got = ask(&server, &request);
            let want = show(format!("{E199}\r\n").as_bytes());
            if got != want {
                failures.push(format!("{request:?} answered {got:?}, want {want:?}"));
            }
        }
    }
    assert_none(failures);
}

/// Makes `depth` nested directories named `name` in `top` (one `mkdirat`
/// at a time: the whole path is too long for any one system call), calls
/// `at_level(fd, level)` in each, and writes `file` with `content` in the
/// deepest.
fn deep_tree(
    top: &Path,
    name: &str,
    depth: usize,
    mut at_level: impl FnMut(&rustix::fd::OwnedFd, usize),
    file: &str,
    content: &[u8],
) {
    use rustix::fs::{mkdirat, openat, Mode, OFlags};
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut fd = openat(rustix::fs::CWD, top, dir_flags, Mode::empty()).unwrap();
    for level in 1..=depth {
        mkdirat(&fd, name, Mode::from_raw_mode(0o755)).unwrap();
        fd = openat(&fd, name, dir_flags, Mode::empty()).unwrap();
        at_level(&fd, level);
    }
    let f = openat(
        &fd,
        file,
        OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .unwrap();
    let mut f = File::from(f);
    std::io::Write::write_all(&mut f, content).unwrap();
}

#[test]
fn a_symlink_swapped_to_a_file_whose_real_path_is_too_long_never_leaks_it() {
    // An outside file whose real path is longer than PATH_MAX (4096):
    // readlink of its descriptor (/proc/self/fd/N) fails with ENAMETOOLONG.
    // It is reached through two relative symlinks, each target short
    // enough to be one.
    const DEPTH: usize = 21;
    const HALF: usize = 11;
    let name = "n".repeat(200);
    let secret = vec![b'S'; 777];
    let good = vec![b'g'; 100];
    let out = Outside::new();
    let second_half = format!("{}secret", format!("{name}/").repeat(DEPTH - HALF));
    deep_tree(
        out.dir.path(),
        &name,
        DEPTH,
        |fd, level| {
            if level == HALF {
                rustix::fs::symlinkat(second_half.as_str(), fd, "jump").unwrap();
            }
        },
        "secret",
        &secret,
    );
    symlink(
        format!("{}jump", format!("{name}/").repeat(HALF)),
        out.abs("entry"),
    )
    .unwrap();
    // Preconditions: the chain leads to the secret, and its real path
    // cannot be read back from the descriptor.
    let opened = File::open(out.abs("entry")).unwrap();
    assert_eq!(opened.metadata().unwrap().len(), 777);
    let real = fs::read_link(format!("/proc/self/fd/{}", opened.as_raw_fd()));
    assert!(
        real.is_err(),
        "precondition: the real path must be too long to read back; got {real:?}"
    );
    drop(opened);

    let mut outside_target = String::new();
    let server = start_with(Options::args(&["-q"]), |dir| {
        fs::write(dir.join("good"), &good).unwrap();
        symlink("good", dir.join("race")).unwrap();
        outside_target = out.rel(dir, "entry");
    });
    let served = server.path("");
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for (tmp, target) in [(".swap-out", outside_target.as_str()), (".swap-in", "good")]
                {
                    let _ = fs::remove_file(served.join(tmp));
                    symlink(target, served.join(tmp)).unwrap();
                    fs::rename(served.join(tmp), served.join("race")).unwrap();
                    swaps += 1;
                }
            }
            swaps
        })
    };

    // Two clients, 5 s or 20,000 requests in all, whichever comes first.
    const REQUESTS: u64 = 10_000;
    let deadline = Instant::now() + Duration::from_secs(5);
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let mut c = server.connect();
            thread::spawn(move || {
                let mut tally = Tally::default();
                for i in 0..REQUESTS {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let request = [
                        "get_slice race 0 100",
                        "get_slice race 0 777",
                        "get_metadata race",
                    ][(i % 3) as usize];
                    c.send(format!("{request}\r\n").as_bytes());
                    let status = c.line_str();
                    let answer = match status.as_str() {
                        "0 OK" => c.line(),
                        E202 | "203 OFFSET EXCEEDS FILE SIZE" => Vec::new(),
                        other => panic!("{request:?} answered {other:?}"),
                    };
                    tally.count(request, &status, &answer);
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for client in clients {
        total.add(client.join().unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    eprintln!(
        "race: {} requests, {swaps} swaps: {} inside, {} not found, {} out of range, {} leaks",
        total.requests,
        total.inside,
        total.not_found,
        total.out_of_range,
        total.leaks.len()
    );
    assert!(
        total.inside > 0 && total.not_found > 0,
        "precondition: both targets were seen ({} inside, {} not found)",
        total.inside,
        total.not_found
    );
    assert!(
        total.leaks.is_empty(),
        "{} of {} answers carried the outside secret (its bytes or its size 777), e.g. {:?}",
        total.leaks.len(),
        total.requests,
        &total.leaks[..total.leaks.len().min(3)]
    );
}

/// What the clients of the race saw.
#[derive(Default)]
struct Tally {
    requests: u64,
    inside: u64,
    not_found: u64,
    out_of_range: u64,
    leaks: Vec<String>,
}

impl Tally {
    fn count(&mut self, request: &str, status: &str, answer: &[u8]) {
        self.requests += 1;
        match status {
            E202 => self.not_found += 1,
            "0 OK" => {
                let good = if request.starts_with("get_metadata") {
                    answer == b"100"
                } else {
                    let data = b64_decode(answer);
                    data.len() == 100 && data.iter().all(|&b| b == b'g')
                };
                if good {
                    self.inside += 1;
                } else {
                    self.leaks.push(format!("{request:?} -> {}", show(answer)));
                }
            }
            _ => self.out_of_range += 1,
        }
    }

    fn add(&mut self, other: Tally) {
        self.requests += other.requests;
        self.inside += other.inside;
        self.not_found += other.not_found;
        self.out_of_range += other.out_of_range;
        self.leaks.extend(other.leaks);
    }
}
