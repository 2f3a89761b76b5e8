//! `Client::download` over real loopback sockets against our server run
//! in-process: whole files in base64 and raw, empty and one-byte files,
//! parallel connections, resume after a connection cut mid-slice (a
//! cutting proxy between client and server), resume of a parallel
//! download, refusals, and offsets past 4 GiB on a sparse file.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use hftp_client::{part_path, Client, DownloadOptions, Error, Progress, Server, Timeouts};
use served::Served;

mod served;

fn connect(addr: SocketAddr) -> Client {
    Client::connect_with(addr, Timeouts::uniform(Some(Duration::from_secs(20)))).unwrap()
}

/// The server at `addr`, for downloads over several connections.
fn server(addr: SocketAddr) -> Server {
    Server::new(addr, Timeouts::uniform(Some(Duration::from_secs(20)))).unwrap()
}

/// Bytes that differ at every position and between seeds.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(seed as u32 % 31) as u8
                ^ seed
        })
        .collect()
}

fn no_progress(_: Progress) {}

/// A proxy to `target` that forwards each connection until `limit` bytes
/// have gone from the server to the client, then cuts both sides.
fn cutting_proxy(target: SocketAddr, limit: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut server) = TcpStream::connect(target) else {
                return;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
            });
            thread::spawn(move || {
                let mut buf = vec![0; 16 * 1024];
                let mut sent = 0;
                while sent < limit {
                    let want = buf.len().min(limit - sent);
                    match server.read(&mut buf[..want]) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if client.write_all(&buf[..n]).is_err() {
                                break;
                            }
                            sent += n;
                        }
                    }
                }
                let _ = client.shutdown(std::net::Shutdown::Both);
                let _ = server.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    addr
}

#[test]
fn a_known_size_is_taken_instead_of_asked_and_checked_at_the_end() {
    let data = pattern(100_000, 9);
    let served = Served::new(&[("f", &data)]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("f");
    let mut client = connect(served.addr());
    // The right size: the same file as when it is asked.
    let options = DownloadOptions {
        size: Some(data.len() as u64),
        ..DownloadOptions::default()
    };
    let done = client.download("f", &dest, &options, &no_progress).unwrap();
    assert_eq!(done.size, data.len() as u64);
    assert_eq!(fs::read(&dest).unwrap(), data);
    // A size that is wrong (stale) fetches that many bytes, then the
    // check at the end refuses the result: nothing is renamed into place.
    fs::remove_file(&dest).unwrap();
    let options = DownloadOptions {
        size: Some(data.len() as u64 - 1),
        ..DownloadOptions::default()
    };
    let err = client
        .download("f", &dest, &options, &no_progress)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Changed { before, now, .. } if *before + 1 == *now),
        "{err}"
    );
    assert!(!dest.exists());
    // A name that cannot be sent is refused before anything is asked.
    let options = DownloadOptions {
        size: Some(1),
        ..DownloadOptions::default()
    };
    let err = client
        .download("../f", &dest, &options, &no_progress)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidName(_)), "{err}");
}

#[test]
fn whole_files_in_base64_and_raw_are_identical() {
    let big = pattern((5 << 20) + 7, 3);
    let server = Served::new(&[("big.bin", &big), ("one", b"!"), ("empty", b"")]);
    let out = tempfile::tempdir().unwrap();
    for raw in [false, true] {
        for (name, data) in [("big.bin", &big[..]), ("one", b"!"), ("empty", b"")] {
            let dest = out.path().join(format!("{name}.{raw}"));
            let options = DownloadOptions {
                raw,
                chunk_size: 1 << 20,
                ..DownloadOptions::default()
            };
            let seen = Mutex::new(Vec::new());
            let done = connect(server.addr())
                .download(name, &dest, &options, &|p| seen.lock().unwrap().push(p))
                .unwrap();
            assert_eq!(done.size, data.len() as u64);
            assert_eq!(done.resumed_from, 0);
            assert!(fs::read(&dest).unwrap() == data, "{name} raw={raw} differs");
            assert!(!part_path(&dest).exists(), ".part left behind");
            let seen = seen.into_inner().unwrap();
            assert_eq!(seen.first().unwrap().done, 0);
            assert_eq!(
                seen.last().unwrap(),
                &Progress {
                    done: data.len() as u64,
                    total: data.len() as u64
                }
            );
            assert!(seen.windows(2).all(|w| w[0].done <= w[1].done));
        }
    }
}

#[test]
fn parallel_connections_fetch_disjoint_ranges() {
    let data = pattern((4 << 20) + 12_345, 9);
    let served = Served::new(&[("data.bin", &data)]);
    let out = tempfile::tempdir().unwrap();
    for raw in [false, true] {
        let dest = out.path().join(format!("data.{raw}"));
        let options = DownloadOptions {
            connections: 4,
            chunk_size: 64 * 1024,
            raw,
            ..DownloadOptions::default()
        };
        let threads = Mutex::new(HashSet::new());
        let done = server(served.addr())
            .download("data.bin", &dest, &options, &|_| {
                threads.lock().unwrap().insert(thread::current().id());
            })
            .unwrap();
        assert_eq!(done.size, data.len() as u64);
        assert!(fs::read(&dest).unwrap() == data, "raw={raw}: -j 4 differs");
        let threads = threads.into_inner().unwrap().len();
        assert!(
            threads > 1,
            "raw={raw}: only {threads} connection did the work"
        );
        assert!(!part_path(&dest).exists());
        assert!(!Path::new(&format!("{}.part.ranges", dest.display())).exists());
    }
}

#[test]
fn a_download_cut_mid_slice_resumes_to_identical_bytes() {
    let data = pattern(3 << 20, 17);
    let server = Served::new(&[("data.bin", &data)]);
    // Enough for the metadata answer and about a third of the base64.
    let proxy = cutting_proxy(server.addr(), 1 << 20);
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("data.bin");
    let options = DownloadOptions::default();
    let err = connect(proxy)
        .download("data.bin", &dest, &options, &no_progress)
        .unwrap_err();
    assert!(matches!(err, Error::Closed | Error::Io(_)), "{err:?}");
    assert!(!dest.exists(), "a partial download was renamed into place");
    let kept = fs::metadata(part_path(&dest)).unwrap().len();
    assert!(kept > 0 && kept < data.len() as u64, "kept {kept}");
    assert!(fs::read(part_path(&dest)).unwrap() == data[..kept as usize]);

    let resume = DownloadOptions {
        resume: true,
        ..options.clone()
    };
    let first = Mutex::new(None);
    let done = connect(server.addr())
        .download("data.bin", &dest, &resume, &|p| {
            first.lock().unwrap().get_or_insert(p.done);
        })
        .unwrap();
    assert_eq!(done.resumed_from, kept);
    assert_eq!(first.into_inner().unwrap(), Some(kept));
    assert!(fs::read(&dest).unwrap() == data, "resumed download differs");

    // Resuming a complete file does nothing and keeps it.
    let again = connect(server.addr())
        .download("data.bin", &dest, &resume, &no_progress)
        .unwrap();
    assert_eq!(again.resumed_from, data.len() as u64);
    assert!(fs::read(&dest).unwrap() == data);
}

#[test]
fn an_interrupted_parallel_download_resumes_from_its_record() {
    let data = pattern((2 << 20) + 999, 23);
    let served = Served::new(&[("data.bin", &data)]);
    let proxy = cutting_proxy(served.addr(), 300 * 1024);
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("data.bin");
    let options = DownloadOptions {
        connections: 3,
        chunk_size: 100 * 1024,
        ..DownloadOptions::default()
    };
    server(proxy)
        .download("data.bin", &dest, &options, &no_progress)
        .unwrap_err();
    let record = format!("{}.part.ranges", dest.display());
    let text = fs::read_to_string(&record).expect("a parallel download keeps a record");
    assert!(
        text.starts_with(&format!("size {}\n", data.len())),
        "{text}"
    );
    assert!(
        text.lines().count() > 1,
        "no completed range recorded: {text}"
    );

    let resume = DownloadOptions {
        resume: true,
        ..options.clone()
    };
    let done = server(served.addr())
        .download("data.bin", &dest, &resume, &no_progress)
        .unwrap();
    assert!(done.resumed_from > 0);
    assert!(
        fs::read(&dest).unwrap() == data,
        "resumed -j 3 download differs"
    );
    assert!(!Path::new(&record).exists());

    // A sequential resume may also follow a parallel attempt.
    fs::remove_file(&dest).unwrap();
    server(proxy)
        .download("data.bin", &dest, &options, &no_progress)
        .unwrap_err();
    let single = DownloadOptions {
        resume: true,
        ..DownloadOptions::default()
    };
    connect(served.addr())
        .download("data.bin", &dest, &single, &no_progress)
        .unwrap();
    assert!(fs::read(&dest).unwrap() == data);
}

#[test]
fn resume_refuses_leftovers_that_do_not_fit_the_file() {
    let data = pattern(1000, 5);
    let server = Served::new(&[("data.bin", &data)]);
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("data.bin");
    let resume = DownloadOptions {
        resume: true,
        ..DownloadOptions::default()
    };

    fs::write(part_path(&dest), vec![0; 2000]).unwrap();
    let err = connect(server.addr())
        .download("data.bin", &dest, &resume, &no_progress)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::PartTooLong {
                have: 2000,
                total: 1000,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("remove the .part"), "{err}");
    assert_eq!(fs::metadata(part_path(&dest)).unwrap().len(), 2000);

    fs::write(
        format!("{}.part.ranges", dest.display()),
        "size 5000\n0 10\n",
    )
    .unwrap();
    let err = connect(server.addr())
        .download("data.bin", &dest, &resume, &no_progress)
        .unwrap_err();
    assert!(err.to_string().contains("changed on the server"), "{err}");

    // Without resume, leftovers are replaced.
    let done = connect(server.addr())
        .download("data.bin", &dest, &DownloadOptions::default(), &no_progress)
        .unwrap();
    assert_eq!(done.resumed_from, 0);
    assert!(fs::read(&dest).unwrap() == data);
}

#[test]
fn refusals_leave_nothing_behind_and_keep_the_session() {
    let server = Served::new(&[("a", b"abc")]);
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("missing");
    let mut client = connect(server.addr());
    let err = client
        .download("missing", &dest, &DownloadOptions::default(), &no_progress)
        .unwrap_err();
    assert!(matches!(err, Error::Server { code: 202, .. }), "{err:?}");
    assert_eq!(err.to_string(), "file not found on server (202)");
    assert!(!dest.exists() && !part_path(&dest).exists());
    let err = client
        .download("../a", &dest, &DownloadOptions::default(), &no_progress)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidName(_)), "{err:?}");
    // The connection is still usable after a refusal.
    assert_eq!(client.list().unwrap(), ["a"]);
}

#[test]
fn offsets_past_4_gib_of_a_sparse_file() {
    const SIZE: u64 = (5 << 30) + 12_345;
    let server = Served::new(&[]);
    let tail = pattern(300_000, 29);
    let file = File::create(server.path("huge")).unwrap();
    file.set_len(SIZE).unwrap();
    file.write_all_at(&tail, SIZE - tail.len() as u64).unwrap();
    drop(file);

    // What an earlier attempt left: all but the last 300,000 bytes.
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("huge");
    File::create(part_path(&dest))
        .unwrap()
        .set_len(SIZE - tail.len() as u64)
        .unwrap();
    for raw in [false, true] {
        let options = DownloadOptions {
            resume: true,
            raw,
            chunk_size: 128 * 1024,
            ..DownloadOptions::default()
        };
        let done = connect(server.addr())
            .download("huge", &dest, &options, &no_progress)
            .unwrap();
        assert_eq!(done.size, SIZE);
        let got = File::open(&dest).unwrap();
        assert_eq!(got.metadata().unwrap().len(), SIZE);
        let mut end = vec![0; tail.len()];
        got.read_exact_at(&mut end, SIZE - tail.len() as u64)
            .unwrap();
        assert!(end == tail, "raw={raw}: the bytes past 5 GiB differ");
        // Start the second round from the same leftovers.
        fs::rename(&dest, part_path(&dest)).unwrap();
        File::options()
            .write(true)
            .open(part_path(&dest))
            .unwrap()
            .set_len(SIZE - tail.len() as u64)
            .unwrap();
    }
}
