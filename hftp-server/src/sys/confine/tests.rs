//! Tests of the confined lookup. On the Linux fast path every lookup is
//! also made by the portable walk, which must give the same answer; built
//! with `--cfg hftp_portable`, the walk is the public path.

use super::*;

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

/// Whether the Linux fast path is the public one.
const LINUX: bool = cfg!(all(target_os = "linux", not(hftp_portable)));

const A: &[u8] = b"hello";
const F: &[u8] = b"in sub!";
const SECRET: &[u8] = b"top secret, keep out";

/// A served directory `root` (holding `a.txt` and `sub/f`) beside an
/// `outside` directory (holding `secret`), in a fresh temporary directory
/// `base`; `dir` is the handle on `root`.
struct Fixture {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
    dir: OwnedFd,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let base = fs::canonicalize(tmp.path()).unwrap();
    let root = base.join("root");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("a.txt"), A).unwrap();
    fs::create_dir(root.join("sub")).unwrap();
    fs::write(root.join("sub/f"), F).unwrap();
    fs::create_dir(base.join("outside")).unwrap();
    fs::write(base.join("outside/secret"), SECRET).unwrap();
    let dir = open_root(&root).unwrap();
    Fixture {
        _tmp: tmp,
        base,
        root,
        dir,
    }
}

impl Fixture {
    fn fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// A symlink `root/name -> target`.
    fn link(&self, name: &str, target: impl AsRef<Path>) {
        symlink(target, self.root.join(name)).unwrap();
    }
}

/// A lookup's outcome, comparable.
#[derive(Debug, PartialEq, Eq)]
enum Seen<T> {
    Ok(T),
    NotFound,
    Io(i32),
}

fn seen<T>(result: Result<T, Lookup>) -> Seen<T> {
    match result {
        Ok(t) => Seen::Ok(t),
        Err(Lookup::NotFound) => Seen::NotFound,
        Err(Lookup::Io(e)) => Seen::Io(e.raw_os_error().unwrap_or(-1)),
    }
}

fn seen_stat(result: Result<Found, Lookup>) -> Seen<u64> {
    seen(result.map(|found| found.size))
}

/// The contents of the opened file, checked against the size returned.
fn seen_open(result: Result<(File, u64), Lookup>) -> Seen<Vec<u8>> {
    seen(result.map(|(mut file, size)| {
        let mut data = Vec::new();
        file.read_to_end(&mut data).unwrap();
        assert_eq!(data.len() as u64, size);
        data
    }))
}

/// `name` sized and opened, by the public functions and, on the Linux
/// fast path, by the walk too, which must agree.
fn lookup(dir: BorrowedFd<'_>, name: &str) -> (Seen<u64>, Seen<Vec<u8>>) {
    let stat = seen_stat(stat_beneath(dir, name));
    let open = seen_open(open_beneath(dir, name));
    if LINUX {
        let walked = seen_stat(walk::stat_beneath(dir, name));
        assert_eq!(walked, stat, "the walk's size of {name:?}");
        let walked = seen_open(walk::open_beneath(dir, name));
        assert_eq!(walked, open, "the walk's open of {name:?}");
    }
    (stat, open)
}

/// The contents of the file published as `name`, `None` if it is not
/// published (both ways); anything else fails the test.
fn published(f: &Fixture, name: &str) -> Option<Vec<u8>> {
    match lookup(f.fd(), name) {
        (Seen::Ok(size), Seen::Ok(data)) => {
            assert_eq!(size, data.len() as u64, "{name:?}");
            Some(data)
        }
        (Seen::NotFound, Seen::NotFound) => None,
        other => panic!("{name:?}: {other:?}"),
    }
}

fn assert_published(f: &Fixture, cases: &[(&str, &[u8])]) {
    for &(name, want) in cases {
        assert_eq!(published(f, name).as_deref(), Some(want), "{name:?}");
    }
}

fn assert_not_published(f: &Fixture, names: &[&str]) {
    for name in names {
        assert_eq!(published(f, name), None, "{name:?}");
    }
}

fn make_fifo(dir: BorrowedFd<'_>, name: &str) {
    #[cfg(not(target_vendor = "apple"))]
    rustix::fs::mkfifoat(dir, name, Mode::from_raw_mode(0o644)).unwrap();
    #[cfg(target_vendor = "apple")]
    {
        let path = rustix::fs::getpath(dir).unwrap();
        let path = Path::new(OsStr::from_bytes(path.to_bytes())).join(name);
        assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
    }
}

#[test]
fn a_regular_file_is_published_with_its_size_and_identity() {
    let f = fixture();
    assert_published(&f, &[("a.txt", A)]);
    let meta = fs::metadata(f.root.join("a.txt")).unwrap();
    let found = stat_beneath(f.fd(), "a.txt").unwrap();
    let want = Found {
        size: A.len() as u64,
        dev: meta.dev(),
        ino: meta.ino(),
    };
    assert_eq!(found, want);
    let longest = "n".repeat(255);
    fs::write(f.root.join(&longest), b"long name").unwrap();
    f.link("to_longest", &longest);
    assert_published(
        &f,
        &[(&longest, b"long name"), ("to_longest", b"long name")],
    );
    assert_not_published(&f, &["missing", "A.TXT"]);
}

#[test]
fn relative_links_that_stay_beneath_are_followed() {
    let f = fixture();
    f.link("to_a", "a.txt");
    f.link("to_sub_f", "sub/f");
    f.link("chain1", "chain2");
    f.link("chain2", "chain3");
    f.link("chain3", "to_sub_f");
    f.link("dot", "./a.txt");
    f.link("slashes", "sub//./f");
    // A `..` that stays beneath is fine, as with RESOLVE_BENEATH.
    f.link("down_up", "sub/../a.txt");
    symlink("../a.txt", f.root.join("sub/up")).unwrap();
    f.link("via_sub_up", "sub/up");
    // A link to a directory, on the way to a file.
    f.link("dir_link", "sub");
    f.link("through_dir_link", "dir_link/f");
    f.link("through_dir_link_up", "dir_link/../to_a");
    assert_published(
        &f,
        &[
            ("to_a", A),
            ("to_sub_f", F),
            ("chain1", F),
            ("dot", A),
            ("slashes", F),
            ("down_up", A),
            ("via_sub_up", A),
            ("through_dir_link", F),
            ("through_dir_link_up", A),
        ],
    );
}

#[test]
fn forty_links_are_followed_for_one_name_but_not_forty_one() {
    let f = fixture();
    // Following n{k} takes k + 1 links.
    f.link("n0", "a.txt");
    for i in 1..41 {
        f.link(&format!("n{i}"), format!("n{}", i - 1));
    }
    assert_published(&f, &[("n39", A)]);
    assert_not_published(&f, &["n40"]);
}

#[test]
fn directories_and_links_to_them_are_not_published() {
    let f = fixture();
    f.link("to_sub", "sub");
    f.link("to_sub_slash", "sub/");
    f.link("to_sub_dot", "sub/.");
    f.link("to_dot", ".");
    f.link("to_sub_up", "sub/..");
    f.link("file_slash", "a.txt/");
    f.link("file_slash_dot", "a.txt/.");
    fs::create_dir(f.root.join("locked_dir")).unwrap();
    fs::set_permissions(f.root.join("locked_dir"), fs::Permissions::from_mode(0o000)).unwrap();
    let names = [
        "sub",
        "to_sub",
        "to_sub_slash",
        "to_sub_dot",
        "to_dot",
        "to_sub_up",
        "file_slash",
        "file_slash_dot",
        "locked_dir",
    ];
    assert_not_published(&f, &names);
    fs::set_permissions(f.root.join("locked_dir"), fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn absolute_links_are_not_published_even_to_a_file_inside() {
    let f = fixture();
    f.link("abs_inside", f.root.join("a.txt"));
    f.link("abs_outside", f.base.join("outside/secret"));
    f.link("chain_to_abs", "abs_inside");
    f.link("dev_null", "/dev/null");
    f.link("magic", "/proc/self/fd/0");
    f.link("proc_exe", "/proc/self/exe");
    // Followed without confinement, they do lead to files.
    assert_eq!(fs::read(f.root.join("abs_inside")).unwrap(), A);
    assert_eq!(fs::read(f.root.join("abs_outside")).unwrap(), SECRET);
    assert_not_published(
        &f,
        &[
            "abs_inside",
            "abs_outside",
            "chain_to_abs",
            "dev_null",
            "magic",
            "proc_exe",
        ],
    );
}

#[test]
fn links_that_go_above_the_directory_are_not_published() {
    let f = fixture();
    f.link("up_out", "../outside/secret");
    // Above, even to come back in.
    f.link("up_and_back", "../root/a.txt");
    f.link("down_up_up", "sub/../../outside/secret");
    symlink("../../outside/secret", f.root.join("sub/esc")).unwrap();
    f.link("via_sub_esc", "sub/esc");
    symlink("../../root/a.txt", f.root.join("sub/esc_back")).unwrap();
    f.link("via_sub_esc_back", "sub/esc_back");
    f.link("just_up", "..");
    assert_eq!(fs::read(f.root.join("up_out")).unwrap(), SECRET);
    assert_eq!(fs::read(f.root.join("up_and_back")).unwrap(), A);
    assert_not_published(
        &f,
        &[
            "up_out",
            "up_and_back",
            "down_up_up",
            "via_sub_esc",
            "via_sub_esc_back",
            "just_up",
        ],
    );
}

#[test]
fn loops_and_dangling_links_are_not_published() {
    let f = fixture();
    f.link("loop1", "loop2");
    f.link("loop2", "loop1");
    f.link("itself", "itself");
    f.link("dangling", "nothing");
    f.link("dangling_in_sub", "sub/nothing");
    f.link("dangling_dir", "nodir/f");
    f.link("through_a_file", "a.txt/f");
    assert_not_published(
        &f,
        &[
            "loop1",
            "itself",
            "dangling",
            "dangling_in_sub",
            "dangling_dir",
            "through_a_file",
        ],
    );
}

#[test]
fn a_fifo_is_never_opened_so_a_writer_blocked_on_it_stays_blocked() {
    let f = fixture();
    make_fifo(f.fd(), "fifo");
    f.link("to_fifo", "fifo");
    symlink("../fifo", f.root.join("sub/fifo_up")).unwrap();
    f.link("via_sub", "sub/fifo_up");
    let path = f.root.join("fifo");
    let (tx, rx) = mpsc::channel();
    let writer = {
        let path = path.clone();
        // Blocks in open until someone opens the FIFO for reading.
        thread::spawn(move || tx.send(fs::OpenOptions::new().write(true).open(path).is_ok()))
    };
    thread::sleep(Duration::from_millis(50));
    for _ in 0..3 {
        assert_not_published(&f, &["fifo", "to_fifo", "via_sub"]);
    }
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(300)),
        Err(mpsc::RecvTimeoutError::Timeout),
        "a lookup opened the FIFO"
    );
    // Now release it.
    let reader = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(true));
    drop(reader);
    writer.join().unwrap().unwrap();
}

#[test]
fn sockets_are_not_published() {
    let f = fixture();
    let _listener = UnixListener::bind(f.root.join("sock")).unwrap();
    f.link("to_sock", "sock");
    assert_not_published(&f, &["sock", "to_sock"]);
}

#[cfg(target_os = "linux")]
#[test]
fn devices_are_not_published() {
    use rustix::fs::{makedev, mknodat};
    let f = fixture();
    let mode = Mode::from_raw_mode(0o666);
    let devices = [
        ("null", FileType::CharacterDevice, makedev(1, 3)),
        ("tty", FileType::CharacterDevice, makedev(5, 0)),
        ("loop", FileType::BlockDevice, makedev(7, 0)),
    ];
    for (name, kind, dev) in devices {
        match mknodat(f.fd(), name, kind, mode, dev) {
            Ok(()) => {}
            Err(Errno::PERM) => {
                eprintln!("skipped: devices cannot be made here (not root, or no CAP_MKNOD)");
                return;
            }
            Err(e) => panic!("mknod {name}: {e}"),
        }
        f.link(&format!("to_{name}"), name);
    }
    assert_not_published(&f, &["null", "to_null", "tty", "to_tty", "loop", "to_loop"]);
}

#[test]
fn a_file_without_any_permission_has_a_size() {
    let f = fixture();
    fs::write(f.root.join("locked"), b"locked away").unwrap();
    fs::set_permissions(f.root.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
    f.link("to_locked", "locked");
    for name in ["locked", "to_locked"] {
        assert_eq!(seen_stat(stat_beneath(f.fd(), name)), Seen::Ok(11));
        assert_eq!(seen_stat(walk::stat_beneath(f.fd(), name)), Seen::Ok(11));
    }
    // Opening it as root bypasses the permission: see the unprivileged
    // test for EACCES.
}

/// Runs the test `name` (in this module) again in a child process, with
/// `env` set to `value`, as `uid`/`gid` if given; checks that it passed and
/// ran `name` for real (it prints `marker`).
fn run_in_child(base: &Path, name: &str, env: &str, value: &OsStr, ids: Option<u32>, marker: &str) {
    // A copy of this test binary that the child's user can run.
    let exe = base.join("test-binary");
    fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let test = if module.is_empty() {
        name.to_owned()
    } else {
        format!("{module}::{name}")
    };
    let mut command = Command::new(&exe);
    command
        .args([&test, "--exact", "--nocapture", "--test-threads=1"])
        .env(env, value)
        .current_dir(base);
    if let Some(id) = ids {
        command.uid(id).gid(id);
    }
    // ETXTBSY: another thread of this process may have forked while the
    // copy was open for writing; that child closes it when it execs.
    let mut tries = 0;
    let output = loop {
        match command.output() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                tries += 1;
                thread::sleep(Duration::from_millis(20));
            }
            // No CAP_SETUID, or the uid is not mapped (user namespace).
            Err(e)
                if ids.is_some()
                    && matches!(e.raw_os_error(), Some(libc::EPERM | libc::EINVAL)) =>
            {
                eprintln!("skipped: cannot run a child as another user here: {e}");
                return;
            }
            other => break other.unwrap(),
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(marker),
        "child {test}: {}\n{stdout}\n{stderr}",
        output.status
    );
}

const UNPRIVILEGED_ROOT: &str = "CONFINE_TEST_UNPRIVILEGED_ROOT";
const LOCKED: &[u8] = b"no read permission";

#[test]
fn unprivileged_a_file_without_read_permission_is_sized_but_not_opened() {
    if let Some(root) = std::env::var_os(UNPRIVILEGED_ROOT) {
        unprivileged_checks(Path::new(&root));
        println!("unprivileged checks done");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let base = fs::canonicalize(tmp.path()).unwrap();
    let root = base.join("root");
    fs::create_dir(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(root.join("readable"), A).unwrap();
    fs::set_permissions(root.join("readable"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(root.join("locked"), LOCKED).unwrap();
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
    symlink("locked", root.join("to_locked")).unwrap();
    // A directory without search permission (for anyone but root).
    fs::create_dir(root.join("private")).unwrap();
    fs::write(root.join("private/f"), F).unwrap();
    fs::set_permissions(root.join("private"), fs::Permissions::from_mode(0o000)).unwrap();
    symlink("private/f", root.join("into_private")).unwrap();
    let root_user = rustix::process::geteuid().is_root();
    if root_user {
        let marker = "unprivileged checks done";
        let name = "unprivileged_a_file_without_read_permission_is_sized_but_not_opened";
        run_in_child(
            &base,
            name,
            UNPRIVILEGED_ROOT,
            root.as_os_str(),
            Some(65534),
            marker,
        );
    } else {
        unprivileged_checks(&root);
    }
    fs::set_permissions(root.join("private"), fs::Permissions::from_mode(0o755)).unwrap();
}

fn unprivileged_checks(root: &Path) {
    assert!(!rustix::process::geteuid().is_root());
    let dir = open_root(root).unwrap();
    let d = dir.as_fd();
    #[cfg(all(target_os = "linux", not(hftp_portable)))]
    assert!(linux::proc_self_fd_usable());
    assert_eq!(lookup(d, "readable"), (Seen::Ok(5), Seen::Ok(A.to_vec())));
    let size = LOCKED.len() as u64;
    for name in ["locked", "to_locked"] {
        assert_eq!(
            lookup(d, name),
            (Seen::Ok(size), Seen::Io(libc::EACCES)),
            "{name}"
        );
    }
    // Through a directory without search permission: cannot be decided.
    let denied = (Seen::Io(libc::EACCES), Seen::Io(libc::EACCES));
    assert_eq!(lookup(d, "into_private"), denied);
    #[cfg(all(target_os = "linux", not(hftp_portable)))]
    {
        let found = stat_beneath(d, "locked").unwrap();
        let by_name = seen_open(linux::reopen_by_name(d, "locked", &found));
        assert_eq!(by_name, Seen::Io(libc::EACCES));
    }
    #[cfg(target_os = "linux")]
    {
        // A server that dropped its privileges is not dumpable: its
        // /proc/<pid>/fd is then root's, and only its own threads may look
        // in it; the reopen must still work, from any thread.
        use rustix::process::{set_dumpable_behavior, DumpableBehavior};
        set_dumpable_behavior(DumpableBehavior::NotDumpable).unwrap();
        assert_eq!(fs::metadata("/proc/self/fd").unwrap().uid(), 0);
        thread::scope(|s| {
            let worker = s.spawn(|| lookup(d, "readable"));
            assert_eq!(worker.join().unwrap(), (Seen::Ok(5), Seen::Ok(A.to_vec())));
            #[cfg(all(target_os = "linux", not(hftp_portable)))]
            assert!(s.spawn(linux::proc_self_fd_opens).join().unwrap());
        });
        // (When run in the test process itself, not as a child.)
        set_dumpable_behavior(DumpableBehavior::Dumpable).unwrap();
    }
    let mut names: Vec<_> = read_names(d).unwrap().into_iter().map(|(n, _)| n).collect();
    names.sort();
    let want: [&[u8]; 5] = [
        b"into_private",
        b"locked",
        b"private",
        b"readable",
        b"to_locked",
    ];
    assert_eq!(names, want);
}

const EMFILE_ROOT: &str = "CONFINE_TEST_EMFILE_ROOT";

#[test]
fn out_of_descriptors_is_an_io_error_that_keeps_emfile() {
    if let Some(root) = std::env::var_os(EMFILE_ROOT) {
        emfile_checks(Path::new(&root));
        println!("emfile checks done");
        return;
    }
    // In a child: the limit is the whole process's.
    let f = fixture();
    f.link("to_sub_f", "sub/f");
    let name = "out_of_descriptors_is_an_io_error_that_keeps_emfile";
    run_in_child(
        &f.base,
        name,
        EMFILE_ROOT,
        f.root.as_os_str(),
        None,
        "emfile checks done",
    );
}

fn emfile_checks(root: &Path) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let dir = open_root(root).unwrap();
    let d = dir.as_fd();
    assert_eq!(lookup(d, "to_sub_f"), (Seen::Ok(7), Seen::Ok(F.to_vec())));
    let limit = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(64),
            maximum: limit.maximum,
        },
    )
    .unwrap();
    let mut held = Vec::new();
    loop {
        match rustix::fs::open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) {
            Ok(fd) => held.push(fd),
            Err(Errno::MFILE) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let emfile = (Seen::Io(libc::EMFILE), Seen::Io(libc::EMFILE));
    // The walk needs a descriptor for `sub`; openat2 one for any name.
    assert_eq!(lookup(d, "to_sub_f"), emfile);
    if LINUX {
        assert_eq!(seen_stat(stat_beneath(d, "a.txt")), Seen::Io(libc::EMFILE));
    }
    drop(held);
    assert_eq!(lookup(d, "to_sub_f"), (Seen::Ok(7), Seen::Ok(F.to_vec())));
}

#[test]
fn read_names_lists_every_entry_with_its_kind() {
    let f = fixture();
    f.link("to_a", "a.txt");
    f.link("dangling", "nothing");
    make_fifo(f.fd(), "fifo");
    // Not UTF-8 (but APFS takes only UTF-8 names).
    let raw: &[u8] = if cfg!(target_vendor = "apple") {
        b"raw \xc3\xa9 name"
    } else {
        b"raw \xff name"
    };
    fs::write(f.root.join(OsStr::from_bytes(raw)), b"x").unwrap();
    let mut names = read_names(f.fd()).unwrap();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let want: Vec<(Vec<u8>, Kind)> = [
        (&b"a.txt"[..], Kind::Regular),
        (b"dangling", Kind::Symlink),
        (b"fifo", Kind::Other),
        (raw, Kind::Regular),
        (b"sub", Kind::Other),
        (b"to_a", Kind::Symlink),
    ]
    .into_iter()
    .map(|(n, k)| (n.to_vec(), k))
    .collect();
    assert_eq!(names, want);
    // The caller decides each symlink with stat_beneath.
    assert_eq!(seen_stat(stat_beneath(f.fd(), "to_a")), Seen::Ok(5));
    assert_eq!(seen_stat(stat_beneath(f.fd(), "dangling")), Seen::NotFound);
}

#[test]
fn dir_stamp_changes_when_an_entry_is_added_or_removed() {
    let f = fixture();
    let before = dir_stamp(f.fd()).unwrap();
    assert_eq!(dir_stamp(f.fd()).unwrap(), before);
    // Past the file system's timestamp granularity.
    thread::sleep(Duration::from_millis(20));
    fs::write(f.root.join("new"), b"new").unwrap();
    let added = dir_stamp(f.fd()).unwrap();
    assert_ne!(added, before);
    thread::sleep(Duration::from_millis(20));
    fs::remove_file(f.root.join("new")).unwrap();
    let removed = dir_stamp(f.fd()).unwrap();
    assert_ne!(removed, added);
    assert_ne!(removed, before);
    let sub = open_root(&f.root.join("sub")).unwrap();
    assert_ne!(dir_stamp(sub.as_fd()).unwrap(), removed);
}

#[test]
fn read_nowait_reads_from_the_page_cache() {
    let f = fixture();
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(f.root.join("cached"), &data).unwrap();
    let (file, size) = open_beneath(f.fd(), "cached").unwrap();
    assert_eq!(size, data.len() as u64);
    let mut buf = vec![0; 4096];
    let read = read_nowait(&file, &mut buf, 100);
    if LINUX {
        // Just written: in the page cache.
        assert_eq!(read.unwrap(), 4096);
        assert_eq!(buf, data[100..4196]);
        assert_eq!(read_nowait(&file, &mut buf, 9_000).unwrap(), 1_000);
        assert_eq!(read_nowait(&file, &mut buf, size).unwrap(), 0);
    } else {
        assert_eq!(read.unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }
}

#[test]
fn an_opened_file_is_read_only_nonblocking_and_close_on_exec() {
    let f = fixture();
    let (mut file, _) = open_beneath(f.fd(), "a.txt").unwrap();
    let flags = rustix::fs::fcntl_getfl(&file).unwrap();
    assert_eq!(flags & OFlags::RWMODE, OFlags::RDONLY);
    assert!(flags.contains(OFlags::NONBLOCK));
    let fd_flags = rustix::io::fcntl_getfd(&file).unwrap();
    assert!(fd_flags.contains(rustix::io::FdFlags::CLOEXEC));
    assert!(file.write(b"x").is_err());
}

#[test]
fn open_root_refuses_a_symlink() {
    let f = fixture();
    symlink(&f.root, f.base.join("root_link")).unwrap();
    let err = open_root(&f.base.join("root_link")).unwrap_err();
    // Linux: ELOOP; O_NOFOLLOW | O_DIRECTORY: ENOTDIR on Linux, ELOOP on
    // macOS, EMLINK on FreeBSD.
    let refused = [libc::ELOOP, libc::ENOTDIR, libc::EMLINK];
    assert!(refused.contains(&err.raw_os_error().unwrap()), "{err}");
    let err = open_root(&f.root.join("a.txt")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
    // A symlink on the way: Linux refuses it; the portable open checks
    // only the last component.
    symlink(&f.base, f.base.join("base_link")).unwrap();
    let through = open_root(&f.base.join("base_link/root"));
    if LINUX {
        assert_eq!(through.unwrap_err().raw_os_error(), Some(libc::ELOOP));
        #[cfg(target_os = "linux")]
        assert!(rustix::fs::fcntl_getfl(&f.dir)
            .unwrap()
            .contains(OFlags::PATH));
    } else {
        let stamp = dir_stamp(through.unwrap().as_fd()).unwrap();
        assert_eq!(stamp, dir_stamp(f.fd()).unwrap());
    }
}

#[cfg(all(target_os = "linux", not(hftp_portable)))]
#[test]
fn the_reopen_by_name_fallback_refuses_a_file_swapped_meanwhile() {
    let f = fixture();
    assert!(linux::proc_self_fd_usable());
    let found = stat_beneath(f.fd(), "a.txt").unwrap();
    let opened = seen_open(linux::reopen_by_name(f.fd(), "a.txt", &found));
    assert_eq!(opened, Seen::Ok(A.to_vec()));
    // Another file renamed over it.
    fs::write(f.root.join("b.txt"), b"another one").unwrap();
    fs::rename(f.root.join("b.txt"), f.root.join("a.txt")).unwrap();
    let swapped = seen_open(linux::reopen_by_name(f.fd(), "a.txt", &found));
    assert_eq!(swapped, Seen::NotFound);
    // A FIFO renamed over it: opened without waiting (the window), and
    // refused.
    let found = stat_beneath(f.fd(), "a.txt").unwrap();
    make_fifo(f.fd(), "fifo");
    fs::rename(f.root.join("fifo"), f.root.join("a.txt")).unwrap();
    let swapped = seen_open(linux::reopen_by_name(f.fd(), "a.txt", &found));
    assert_eq!(swapped, Seen::NotFound);
}

/// Makes `levels` nested directories of 200-byte names under `from`;
/// returns the deepest (opened) and their path relative to `from`.
fn nest(from: BorrowedFd<'_>, tag: usize, levels: usize) -> (OwnedFd, String) {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut cur = from.try_clone_to_owned().unwrap();
    let mut rel = Vec::new();
    for level in 0..levels {
        let head = format!("{tag}-{level}-");
        let name = format!("{head}{}", "d".repeat(200 - head.len()));
        rustix::fs::mkdirat(&cur, name.as_str(), Mode::from_raw_mode(0o755)).unwrap();
        cur = rustix::fs::openat(&cur, name.as_str(), flags, Mode::empty()).unwrap();
        rel.push(name);
    }
    (cur, rel.join("/"))
}

#[test]
fn a_link_swapped_between_inside_and_a_long_outside_path_never_serves_the_outside() {
    let f = fixture();
    // Outside: a file whose real path is longer than PATH_MAX (4096),
    // reached through "hop" links, each short enough to be a link.
    let far = f.base.join("far");
    fs::create_dir(&far).unwrap();
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut cur = rustix::fs::open(&far, flags, Mode::empty()).unwrap();
    let mut through_hops = far.clone();
    let mut relative = PathBuf::from("../far");
    let mut real_len = far.as_os_str().len();
    for hop in 0..3 {
        let (deepest, rel) = nest(cur.as_fd(), hop, 8);
        real_len += rel.len() + 1;
        let name = format!("hop{hop}");
        rustix::fs::symlinkat(rel.as_str(), &cur, name.as_str()).unwrap();
        through_hops.push(&name);
        relative.push(&name);
        cur = deepest;
    }
    let far_data = vec![b'!'; 3333];
    let mut secret = File::from(
        rustix::fs::openat(
            &cur,
            "secret",
            OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .unwrap(),
    );
    secret.write_all(&far_data).unwrap();
    real_len += "/secret".len();
    through_hops.push("secret");
    relative.push("secret");
    assert!(real_len > 4096, "{real_len}");
    assert_eq!(fs::read(&through_hops).unwrap(), far_data);

    f.link("swapped", "a.txt");
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let dir = f.dir.try_clone().unwrap();
        // `None`: a regular file with a.txt's contents, so that a symlink
        // is also swapped for a file and back.
        let targets = [
            Some(PathBuf::from("a.txt")),
            Some(through_hops),
            None,
            Some(relative),
        ];
        thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for target in &targets {
                    match target {
                        Some(target) => rustix::fs::symlinkat(target, &dir, "swapped.new").unwrap(),
                        None => {
                            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL;
                            let mode = Mode::from_raw_mode(0o644);
                            let file =
                                rustix::fs::openat(&dir, "swapped.new", flags, mode).unwrap();
                            File::from(file).write_all(A).unwrap();
                        }
                    }
                    rustix::fs::renameat(&dir, "swapped.new", &dir, "swapped").unwrap();
                    swaps += 1;
                }
            }
            swaps
        })
    };
    let (mut inside, mut not_found, mut outside, mut errors) = (0u64, 0u64, 0u64, Vec::new());
    let mut tally = |seen: Seen<Vec<u8>>| match seen {
        Seen::Ok(data) if data == A => inside += 1,
        Seen::Ok(data) if data == far_data => outside += 1,
        Seen::Ok(data) => panic!("served {} other bytes", data.len()),
        Seen::NotFound => not_found += 1,
        Seen::Io(e) => errors.push(e),
    };
    let d = f.fd();
    let sized = |found: Found| {
        if found.size == 5 {
            A.to_vec()
        } else {
            vec![b'!'; found.size as usize]
        }
    };
    for _ in 0..20_000 {
        tally(seen(stat_beneath(d, "swapped").map(sized)));
        tally(seen_open(open_beneath(d, "swapped")));
        if LINUX {
            tally(seen(walk::stat_beneath(d, "swapped").map(sized)));
            tally(seen_open(walk::open_beneath(d, "swapped")));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    eprintln!("{swaps} swaps; published {inside}, not found {not_found}, outside {outside}");
    assert_eq!(outside, 0);
    assert!(errors.is_empty(), "{errors:?}");
}
