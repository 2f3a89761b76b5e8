//! The `hftp-client` command line, run as a process over real loopback
//! sockets: against our server (in-process, on a temp directory) and
//! against fake servers that misbehave on purpose.

mod common;

use std::fs;
use std::io::Read;
use std::time::Duration;

use common::{binary, closed_port, hftp, hftp_with_file_limit, Fake, Reply, Served, NOTES};

// ---------------------------------------------------------------- ls, stat

#[test]
fn ls_lists_names() {
    let served = Served::standard();
    let out = hftp(served.port(), &["ls"]).run();
    out.ok();
    assert_eq!(out.stdout_text(), "empty\nnotes.txt\none\nphoto.jpg\n");
}

#[test]
fn ls_long_and_human() {
    let served = Served::standard();
    let out = hftp(served.port(), &["ls", "-l"]).run();
    out.ok();
    assert_eq!(
        out.stdout_text(),
        "   0  empty\n  41  notes.txt\n   1  one\n1536  photo.jpg\n"
    );
    let out = hftp(served.port(), &["ls", "-l", "-h"]).run();
    out.ok();
    assert_eq!(
        out.stdout_text(),
        "  0B  empty\n 41B  notes.txt\n  1B  one\n1.5K  photo.jpg\n"
    );
    // -h is not help here, but --help still is.
    let out = hftp(served.port(), &["ls", "--help"]).run();
    out.ok();
    assert!(out.stdout_text().contains("--human-readable"));
}

#[test]
fn stat_reports_each_file_and_goes_on_after_a_missing_one() {
    let served = Served::standard();
    let out = hftp(served.port(), &["stat", "notes.txt", "nope", "photo.jpg"]).run();
    assert_eq!(
        out.failed(2),
        "hftp-client: stat nope: file not found on server (202)"
    );
    assert_eq!(out.stdout_text(), "notes.txt\t41\nphoto.jpg\t1536\n");

    let out = hftp(served.port(), &["stat", "-h", "photo.jpg", "empty"]).run();
    out.ok();
    assert_eq!(out.stdout_text(), "photo.jpg\t1.5K\nempty\t0B\n");
}

#[test]
fn stat_of_a_name_that_cannot_be_sent_is_a_usage_error() {
    let served = Served::standard();
    let out = hftp(served.port(), &["stat", "../etc/passwd"]).run();
    let line = out.failed(1);
    assert!(line.starts_with("hftp-client: stat ../etc/passwd: invalid file name"));
}

#[test]
fn host_may_carry_the_port_and_may_be_a_name() {
    let served = Served::standard();
    // -p names a closed port: the one in -H HOST:PORT wins.
    let at = format!("127.0.0.1:{}", served.port());
    let out = hftp(closed_port(), &["-H", &at, "ls"]).run();
    out.ok();
    assert_eq!(out.stdout_text(), "empty\nnotes.txt\none\nphoto.jpg\n");
    // A host name, resolved; and [ADDRESS]:PORT for IPv4 too.
    let out = hftp(served.port(), &["-H", "localhost", "stat", "one"]).run();
    out.ok();
    let bracketed = format!("[127.0.0.1]:{}", served.port());
    let out = hftp(closed_port(), &["-H", &bracketed, "stat", "one"]).run();
    out.ok();
    assert_eq!(out.stdout_text(), "one\t1\n");
}

#[test]
fn a_malformed_host_is_a_usage_error() {
    for bad in ["host:port", "127.0.0.1:70000", "[::1", ":19500"] {
        let out = hftp(closed_port(), &["-H", bad, "ls"]).run();
        let line = out.failed(1);
        assert!(line.contains(bad) || line.contains("empty"), "{line}");
    }
}

// --------------------------------------------------------------------- cat

#[test]
fn cat_prints_files_and_ranges() {
    let photo = binary(1536);
    let served = Served::standard();
    let port = served.port();
    let out = hftp(port, &["cat", "notes.txt"]).run();
    assert_eq!(out.ok().stdout, NOTES);
    let out = hftp(port, &["cat", "notes.txt", "--offset", "5", "--size", "20"]).run();
    assert_eq!(out.ok().stdout, b"calor que hace hoy, ");
    let out = hftp(port, &["cat", "notes.txt", "--offset", "25"]).run();
    assert_eq!(out.ok().stdout, &NOTES[25..]);
    let out = hftp(port, &["cat", "photo.jpg", "--raw", "--offset", "1K"]).run();
    assert_eq!(out.ok().stdout, &photo[1024..]);
    let out = hftp(port, &["cat", "photo.jpg"]).run();
    assert_eq!(out.ok().stdout, photo);
    let out = hftp(port, &["cat", "empty"]).run();
    assert_eq!(out.ok().stdout, b"");
}

#[test]
fn cat_past_the_end_or_of_a_missing_file_is_refused() {
    let served = Served::standard();
    let out = hftp(
        served.port(),
        &["cat", "notes.txt", "--offset", "40", "--size", "2"],
    )
    .run();
    assert_eq!(
        out.failed(2),
        "hftp-client: cat notes.txt: range past the end of the file (203)"
    );
    assert_eq!(out.stdout, b"");
    let out = hftp(served.port(), &["cat", "notes.txt", "--offset", "42"]).run();
    out.failed(2);
    let out = hftp(served.port(), &["cat", "nope"]).run();
    assert_eq!(
        out.failed(2),
        "hftp-client: cat nope: file not found on server (202)"
    );
}

#[test]
fn cat_reads_a_slice_split_over_several_base64_lines() {
    let fake = Fake::new(|line| match line {
        "get_metadata notes.txt" => Reply::Send(b"0 OK\r\n41\r\n".to_vec()),
        "get_slice notes.txt 0 41" => Reply::Send(
            b"0 OK\r\nIVF1ZSBjYWxvciBx\r\ndWUgaGFjZSBob3ksIHBp\r\nbnRhIHVuYSBiaXJyYSE=\r\n"
                .to_vec(),
        ),
        "quit" => Reply::Close(b"0 OK\r\n".to_vec()),
        _ => Reply::Send(b"200 NO SUCH COMMAND\r\n".to_vec()),
    });
    let out = hftp(fake.port, &["cat", "notes.txt"]).run();
    assert_eq!(out.ok().stdout, NOTES);
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let big = binary(4 << 20);
    let served = Served::new(&[("big", &big)]);
    let mut child = hftp(served.port(), &["cat", "big"]).spawn();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 10];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(first, big[..10]);
    drop(stdout); // as `| head -c 10` does
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(stderr, "");
    assert_eq!(status.code(), Some(0));
}

// -------------------------------------------------------------------- send

#[test]
fn send_prints_raw_responses() {
    let served = Served::standard();
    let out = hftp(
        served.port(),
        &[
            "send",
            "get_file_listing",
            "get_metadata notes.txt",
            "get_slice notes.txt 5 20",
            "get_slice one 0 1 raw",
            "verdura",
            "get_metadata nope",
            "help",
        ],
    )
    .run();
    out.ok();
    assert_eq!(
        out.stdout_text(),
        "0 OK\r\nempty\r\nnotes.txt\r\none\r\nphoto.jpg\r\n\r\n\
         0 OK\r\n41\r\n\
         0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n\
         0 OK\r\nContent-Length: 1\r\n\r\n1\
         200 NO SUCH COMMAND\r\n\
         202 FILE NOT FOUND\r\n\
         0 OK\r\nget_file_listing\r\nget_metadata\r\nget_slice\r\nquit\r\nhelp\r\n\r\n"
    );
}

#[test]
fn send_reads_lines_from_stdin() {
    let served = Served::standard();
    let out = hftp(served.port(), &["send"])
        .stdin(b"get_metadata one\nget_metadata notes.txt\r\n")
        .run();
    out.ok();
    assert_eq!(out.stdout_text(), "0 OK\r\n1\r\n0 OK\r\n41\r\n");
}

#[test]
fn send_escapes_and_fragments() {
    let served = Served::standard();
    // A bare LF: 100 and the server closes; the next line is never sent.
    let out = hftp(
        served.port(),
        &["send", "-e", "get_file_listing\\n", "help"],
    )
    .run();
    assert_eq!(
        out.failed(2),
        "hftp-client: send: the server closes the connection after `100 BAD EOL`; 1 line not answered"
    );
    assert_eq!(out.stdout_text(), "100 BAD EOL\r\n");
    // A byte outside 0x20-0x7E, as the last line: all lines answered.
    let out = hftp(served.port(), &["send", "-e", "help\\x01"]).run();
    out.ok();
    assert_eq!(out.stdout_text(), "101 BAD REQUEST\r\n");
    // One request in two writes, and two requests in one line.
    let out = hftp(
        served.port(),
        &[
            "send",
            "-en",
            "get_meta",
            "data one\\r\\nget_metadata notes.txt\\r\\n",
        ],
    )
    .run();
    out.ok();
    assert_eq!(out.stdout_text(), "0 OK\r\n1\r\n0 OK\r\n41\r\n");
    // A bad escape is a usage error, before any connection.
    let out = hftp(closed_port(), &["send", "-e", "\\q"]).run();
    assert!(out.failed(1).contains("unknown escape \\q"));
}

#[test]
fn send_stops_after_quit() {
    let served = Served::standard();
    let out = hftp(
        served.port(),
        &["send", "-P", "get_metadata one", "quit", "get_metadata one"],
    )
    .run();
    assert_eq!(
        out.failed(2),
        "hftp-client: send: the server closes the connection after quit; 1 line not answered"
    );
    assert_eq!(out.stdout_text(), "0 OK\r\n1\r\n0 OK\r\n");
}

#[test]
fn send_pipelines_in_one_write() {
    // This server answers only once both lines are in: a client waiting
    // for the first answer before sending the second line stalls.
    let fake = Fake::new({
        let seen = std::sync::Mutex::new(0);
        move |_| {
            let mut seen = seen.lock().unwrap();
            *seen += 1;
            match *seen {
                1 => Reply::Send(Vec::new()),
                _ => Reply::Send(b"0 OK\r\n1\r\n0 OK\r\n2\r\n".to_vec()),
            }
        }
    });
    let out = hftp(
        fake.port,
        &[
            "--timeout",
            "2",
            "send",
            "-P",
            "get_metadata a",
            "get_metadata b",
        ],
    )
    .run();
    out.ok();
    assert_eq!(out.stdout_text(), "0 OK\r\n1\r\n0 OK\r\n2\r\n");
    assert_eq!(fake.lines(), ["get_metadata a", "get_metadata b"]);
}

#[test]
fn send_reports_a_response_cut_short() {
    let fake = Fake::new(|_| Reply::Close(b"0 OK\r\nnotes.txt\r\n".to_vec()));
    let out = hftp(fake.port, &["send", "get_file_listing"]).run();
    assert_eq!(
        out.failed(3),
        "hftp-client: send: the server closed the connection in the middle of the answer to \"get_file_listing\""
    );
    assert_eq!(out.stdout_text(), "0 OK\r\nnotes.txt\r\n");
}

#[test]
fn send_shows_garbage_then_says_so() {
    let fake = Fake::new(|_| Reply::Send(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()));
    let out = hftp(fake.port, &["send", "help"]).run();
    let line = out.failed(3);
    assert!(line.contains("\"help\" is not what HFTP allows"), "{line}");
    assert_eq!(out.stdout_text(), "HTTP/1.1 400 Bad Request\r\n\r\n");
}

#[test]
fn send_gives_up_after_the_timeout() {
    let fake = Fake::new(|_| Reply::Stall);
    let out = hftp(fake.port, &["--timeout", "0.5", "send", "help"]).run();
    let line = out.failed(3);
    assert!(line.contains("timed out"), "{line}");
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
}

// --------------------------------------------------------------------- get

#[test]
fn get_one_file_here_and_with_o() {
    let served = Served::standard();
    let cwd = tempfile::tempdir().unwrap();
    let out = hftp(served.port(), &["get", "notes.txt"])
        .cwd(cwd.path())
        .run();
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(fs::read(cwd.path().join("notes.txt")).unwrap(), NOTES);
    // One plain summary line (standard error is not a terminal).
    assert_eq!(out.errors().len(), 1, "{out:#?}");
    assert!(out.stderr.starts_with("notes.txt: 41 B in "), "{out:#?}");
    assert!(!cwd.path().join("notes.txt.part").exists());

    let out = hftp(served.port(), &["-q", "get", "photo.jpg", "-o", "pic"])
        .cwd(cwd.path())
        .run();
    out.ok();
    assert_eq!(
        fs::read(cwd.path().join("pic")).unwrap(),
        served.contents("photo.jpg")
    );

    // -o naming an existing directory puts the file inside it.
    fs::create_dir(cwd.path().join("sub")).unwrap();
    let out = hftp(served.port(), &["-q", "get", "one", "-o", "sub"])
        .cwd(cwd.path())
        .run();
    out.ok();
    assert_eq!(fs::read(cwd.path().join("sub/one")).unwrap(), b"1");
}

#[test]
fn get_all_mirrors_the_server() {
    let served = Served::standard();
    let cwd = tempfile::tempdir().unwrap();
    let out = hftp(served.port(), &["get", "--all", "-O", "mirror"])
        .cwd(cwd.path())
        .run();
    assert_eq!(out.code, Some(0), "{out:#?}");
    let mirror = cwd.path().join("mirror");
    let mut names: Vec<_> = fs::read_dir(&mirror)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["empty", "notes.txt", "one", "photo.jpg"]);
    for name in names {
        assert_eq!(
            fs::read(mirror.join(&name)).unwrap(),
            served.contents(&name),
            "{name}"
        );
    }
    // A line per file, then one for all of them.
    assert_eq!(out.errors().len(), 5, "{out:#?}");
    assert!(
        out.errors()[4].starts_with("4 of 4 files: 1.5 KiB in "),
        "{out:#?}"
    );
}

#[test]
fn get_all_of_an_empty_server_says_so() {
    let served = Served::new(&[]);
    let cwd = tempfile::tempdir().unwrap();
    let out = hftp(served.port(), &["get", "--all"]).cwd(cwd.path()).run();
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(
        out.stderr,
        "hftp-client: get --all: the server lists no files\n"
    );
    assert_eq!(fs::read_dir(cwd.path()).unwrap().count(), 0);
    let out = hftp(served.port(), &["ls"]).run();
    assert_eq!(out.ok().stdout, b"");
}

#[test]
fn get_goes_on_after_a_missing_file() {
    let served = Served::standard();
    let cwd = tempfile::tempdir().unwrap();
    let out = hftp(served.port(), &["-q", "get", "nope", "one", "-O", "d"])
        .cwd(cwd.path())
        .run();
    assert_eq!(
        out.failed(2),
        "hftp-client: get nope: file not found on server (202)"
    );
    assert_eq!(fs::read(cwd.path().join("d/one")).unwrap(), b"1");
    assert!(!cwd.path().join("d/nope").exists());
    assert!(!cwd.path().join("d/nope.part").exists());
}

#[test]
fn get_continues_a_truncated_part() {
    let big = binary(300_000);
    let served = Served::new(&[("big", &big)]);
    let cwd = tempfile::tempdir().unwrap();
    let part = cwd.path().join("big.part");

    fs::write(&part, &big[..123_457]).unwrap();
    let out = hftp(served.port(), &["get", "-c", "big"])
        .cwd(cwd.path())
        .run();
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(fs::read(cwd.path().join("big")).unwrap(), big);
    assert!(!part.exists());
    assert!(out.stderr.contains("resumed after 120.6 KiB"), "{out:#?}");

    // -c trusts the .part: its bytes stay and only the rest is fetched ...
    fs::remove_file(cwd.path().join("big")).unwrap();
    fs::write(&part, vec![b'x'; 1000]).unwrap();
    let out = hftp(served.port(), &["-q", "get", "-c", "big"])
        .cwd(cwd.path())
        .run();
    out.ok();
    let got = fs::read(cwd.path().join("big")).unwrap();
    assert_eq!(got[..1000], [b'x'; 1000]);
    assert_eq!(got[1000..], big[1000..]);

    // ... and without -c the .part is started over.
    fs::remove_file(cwd.path().join("big")).unwrap();
    fs::write(&part, vec![b'x'; 1000]).unwrap();
    let out = hftp(served.port(), &["-q", "get", "big"])
        .cwd(cwd.path())
        .run();
    out.ok();
    assert_eq!(fs::read(cwd.path().join("big")).unwrap(), big);
}

#[test]
fn get_with_four_connections_and_raw() {
    let big = binary(3 << 20);
    let served = Served::new(&[("big", &big), ("empty", b""), ("one", b"1")]);
    let cwd = tempfile::tempdir().unwrap();
    for extra in [
        &["-j", "4"][..],
        &["-j", "4", "--raw"],
        &["--raw", "--chunk", "100K"],
    ] {
        let dir = cwd.path().join(extra.join(""));
        let mut args = vec![
            "-q",
            "get",
            "big",
            "empty",
            "one",
            "-O",
            dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = hftp(served.port(), &args).run();
        out.ok();
        assert_eq!(fs::read(dir.join("big")).unwrap(), big, "{extra:?}");
        assert_eq!(fs::read(dir.join("empty")).unwrap(), b"", "{extra:?}");
        assert_eq!(fs::read(dir.join("one")).unwrap(), b"1", "{extra:?}");
    }
}

/// A fake server for `get` that logs what the client asks: one file,
/// `f`, of `data`, answered in raw or base64 as asked.
fn file_server(data: &'static [u8]) -> Fake {
    Fake::new(move |line| {
        let words: Vec<&str> = line.split(' ').collect();
        match words[..] {
            ["get_metadata", "f"] => {
                Reply::Send(format!("0 OK\r\n{}\r\n", data.len()).into_bytes())
            }
            ["get_slice", "f", offset, size, ref raw @ ..] => {
                let (offset, size): (usize, usize) =
                    (offset.parse().unwrap(), size.parse().unwrap());
                let bytes = &data[offset..offset + size];
                let mut answer = b"0 OK\r\n".to_vec();
                if raw == ["raw"] {
                    answer.extend(format!("Content-Length: {size}\r\n\r\n").bytes());
                    answer.extend_from_slice(bytes);
                } else {
                    answer.extend(base64(bytes).bytes());
                    answer.extend(b"\r\n");
                }
                Reply::Send(answer)
            }
            ["quit"] => Reply::Close(b"0 OK\r\n".to_vec()),
            _ => Reply::Send(b"200 NO SUCH COMMAND\r\n".to_vec()),
        }
    })
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            match i <= chunk.len() {
                true => out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char),
                false => out.push('='),
            }
        }
    }
    out
}

#[test]
fn get_options_reach_the_wire() {
    static DATA: [u8; 1000] = [7; 1000];
    let fake = file_server(&DATA);
    let cwd = tempfile::tempdir().unwrap();
    let out = hftp(fake.port, &["-q", "get", "f", "--raw", "--chunk", "300"])
        .cwd(cwd.path())
        .run();
    out.ok();
    assert_eq!(fs::read(cwd.path().join("f")).unwrap(), DATA);
    let slices: Vec<_> = fake
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("get_slice"))
        .collect();
    assert_eq!(
        slices,
        [
            "get_slice f 0 300 raw",
            "get_slice f 300 300 raw",
            "get_slice f 600 300 raw",
            "get_slice f 900 100 raw"
        ]
    );

    // -j 4 opens four connections.
    let fake = file_server(&DATA);
    let out = hftp(fake.port, &["-q", "get", "f", "-j", "4", "--chunk", "100"])
        .cwd(cwd.path())
        .run();
    out.ok();
    assert_eq!(fs::read(cwd.path().join("f")).unwrap(), DATA);
    assert_eq!(*fake.connections.lock().unwrap(), 4);
}

#[test]
fn get_reports_a_failing_file_write_and_leaves_no_final_file() {
    // 1 MiB, and writes limited to 64 KiB (128 blocks): writing the file
    // fails with EFBIG, as on a full disk. That is the error reported, in
    // one line, for one connection and for four.
    let big = binary(1 << 20);
    let served = Served::new(&[("big", &big)]);
    for jobs in ["1", "4"] {
        let cwd = tempfile::tempdir().unwrap();
        let out = hftp_with_file_limit(served.port(), 128, &["-q", "get", "big", "-j", jobs])
            .cwd(cwd.path())
            .run();
        let line = out.failed(3);
        assert!(line.starts_with("hftp-client: get big: "), "{line}");
        assert!(line.contains("File too large"), "-j {jobs}: {line}");
        assert!(!cwd.path().join("big").exists());
    }
}

#[test]
fn get_cut_short_mid_slice_leaves_no_final_file() {
    let fake = Fake::new(|line| match line {
        "get_metadata f" => Reply::Send(b"0 OK\r\n6\r\n".to_vec()),
        _ => Reply::Close(b"0 OK\r\nQUJD".to_vec()),
    });
    let cwd = tempfile::tempdir().unwrap();
    let out = hftp(fake.port, &["-q", "get", "f"]).cwd(cwd.path()).run();
    assert_eq!(
        out.failed(3),
        "hftp-client: get f: the server closed the connection in the middle of a response; \
         f.part is kept (3 B): run again with -c to resume"
    );
    assert!(!cwd.path().join("f").exists());
    assert!(cwd.path().join("f.part").exists());
}

#[test]
fn get_of_garbage_or_a_stall_fails_in_time() {
    let garbage = Fake::new(|_| Reply::Send(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()));
    let cwd = tempfile::tempdir().unwrap();
    let out = hftp(garbage.port, &["get", "f"]).cwd(cwd.path()).run();
    let line = out.failed(3);
    assert!(
        line.starts_with("hftp-client: get f: the server broke the protocol: "),
        "{line}"
    );
    assert!(!cwd.path().join("f").exists());

    let stall = Fake::new(|_| Reply::Stall);
    let out = hftp(stall.port, &["--timeout", "0.5", "get", "f"])
        .cwd(cwd.path())
        .run();
    assert_eq!(
        out.failed(3),
        "hftp-client: get f: timed out: no progress from the server in 0.5 s (see --timeout)"
    );
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
}

// ------------------------------------------------------------------- shell

#[test]
fn shell_reads_commands_from_a_pipe() {
    let served = Served::standard();
    let cwd = tempfile::tempdir().unwrap();
    let script =
        "ls -l\nstat notes.txt nope\n\n# a comment\nbogus\nget notes.txt -O d\nhelp\nquit\nls\n";
    let out = hftp(served.port(), &["shell"])
        .cwd(cwd.path())
        .stdin(script.as_bytes())
        .run();
    // The worst failure decides the exit code: 202 over a usage error.
    assert_eq!(out.code, Some(2), "{out:#?}");
    let stdout = out.stdout_text();
    // No listing first: a script sees only its commands' output.
    let expected_start = "\x20  0  empty\n  41  notes.txt\n   1  one\n1536  photo.jpg\n\
                          notes.txt\t41\n";
    assert!(stdout.starts_with(expected_start), "{stdout}");
    assert!(stdout.contains("  quit  End the session\n"), "{stdout}");
    // Nothing after quit.
    assert!(stdout.ends_with("`get --help`.\n"), "{stdout}");
    assert_eq!(
        &out.errors()[..2],
        [
            "hftp-client: stat nope: file not found on server (202)",
            "hftp-client: unrecognized subcommand 'bogus' (see help)"
        ]
    );
    assert!(
        out.errors()[2].starts_with("notes.txt: 41 B in "),
        "{out:#?}"
    );
    assert_eq!(fs::read(cwd.path().join("d/notes.txt")).unwrap(), NOTES);
}

#[test]
fn shell_fails_at_once_without_a_server() {
    let port = closed_port();
    let out = hftp(port, &["shell"]).stdin(b"ls\n").run();
    let line = out.failed(3);
    assert!(line.starts_with(&format!(
        "hftp-client: cannot connect to 127.0.0.1:{port}: "
    )));
}

// ----------------------------------------------------- usage and failures

#[test]
fn a_refused_connection_is_one_line_and_exit_3() {
    let port = closed_port();
    for args in [
        &["ls"][..],
        &["stat", "x"],
        &["get", "x"],
        &["cat", "x"],
        &["send", "help"],
    ] {
        let out = hftp(port, args).run();
        let line = out.failed(3);
        assert!(
            line.starts_with(&format!(
                "hftp-client: cannot connect to 127.0.0.1:{port}: "
            )),
            "{line}"
        );
        assert!(line.contains("refused"), "{line}");
        assert!(
            line.ends_with(
                "(is an HFTP server running there? -H HOST[:PORT] and -p PORT pick another)"
            ),
            "{line}"
        );
    }
}

#[test]
fn a_host_that_does_not_resolve_is_named() {
    let out = hftp(closed_port(), &["-H", "no-such-host.invalid", "ls"]).run();
    let line = out.failed(3);
    assert!(
        line.starts_with("hftp-client: cannot resolve the host name no-such-host.invalid: "),
        "{line}"
    );
}

#[test]
fn usage_errors_are_one_line_and_exit_1() {
    // Nothing listens there: usage errors come before any connection.
    let port = closed_port();
    let cases: &[(&[&str], &str)] = &[
        (&[], "hftp-client: a command is needed: ls, stat, get, cat, send, shell, completions, check (see --help)"),
        (&["ls", "--bogus"], "hftp-client: unexpected argument '--bogus' found (see --help)"),
        (&["stat"], "hftp-client: the following required arguments were not provided: <FILE>... (see --help)"),
        (&["get", "a", "b", "-o", "c"], "hftp-client: get: -o/--output takes exactly one FILE; use -O/--output-dir for several"),
        (&["get", "--all", "a"], "hftp-client: the argument '--all' cannot be used with '[FILE]...' (see --help)"),
        (&["get", "a", "-j", "0"], "hftp-client: invalid value '0' for '--connections <N>': 0 is not in 1..=64 (see --help)"),
        (&["get", "a", "--chunk", "8X"], "hftp-client: invalid value '8X' for '--chunk <SIZE>': '8X' is not a size (examples: 4096, 512K, 8M, 1GiB) (see --help)"),
        (&["--timeout", "soon", "ls"], "hftp-client: invalid value 'soon' for '--timeout <SECS>': 'soon' is not a number of seconds (see --help)"),
        (&["completions", "tcsh"], "hftp-client: invalid value 'tcsh' for '<SHELL>' [possible values: bash, elvish, fish, powershell, zsh] (see --help)"),
    ];
    for (args, expected) in cases {
        let out = hftp(port, args).run();
        assert_eq!(out.failed(1), *expected, "{args:?}");
        assert_eq!(out.stdout, b"", "{args:?}");
    }
}

#[test]
fn help_documents_the_exit_codes() {
    let out = hftp(closed_port(), &["--help"]).run();
    out.ok();
    let help = out.stdout_text();
    for line in [
        "0  success",
        "1  usage error",
        "2  the server refused a request",
        "3  connection, I/O or protocol failure",
    ] {
        assert!(help.contains(line), "{help}");
    }
}

#[test]
fn completions_register_the_binary_as_its_own_completer() {
    // What each shell then does with it is tested in tests/terminal.
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = hftp(closed_port(), &["completions", shell]).run();
        out.ok();
        let script = out.stdout_text();
        assert!(
            script.contains(env!("CARGO_BIN_EXE_hftp-client")),
            "{shell}: {script}"
        );
        assert!(script.contains("COMPLETE"), "{shell}: {script}");
    }
}

#[test]
fn environment_picks_the_server() {
    let served = Served::standard();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hftp-client"));
    let out = command
        .args(["stat", "one"])
        .env("HFTP_HOST", "127.0.0.1")
        .env("HFTP_PORT", served.port().to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(out.stdout, b"one\t1\n");
}

// ------------------------------------------------------- get (issue 14)

/// A server that serves one connection and dies: it answers the size of
/// `notes.txt`, starts the slice, then closes the connection and stops
/// listening, so that reconnecting is refused.
fn dying_server() -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        drop(listener);
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if line.starts_with("get_metadata") {
                writer.write_all(b"0 OK\r\n41\r\n").unwrap();
            } else if line.starts_with("get_slice") {
                let _ = writer.write_all(b"0 OK\r\nIVF1ZSBjYWxv");
                return;
            }
            line.clear();
        }
    });
    port
}

#[test]
fn a_server_that_dies_during_the_last_file_gives_one_error_line() {
    let cwd = tempfile::tempdir().unwrap();
    let out = hftp(dying_server(), &["get", "notes.txt"])
        .cwd(cwd.path())
        .run();
    let line = out.failed(3);
    assert!(
        line.starts_with("hftp-client: get notes.txt: the server closed the connection"),
        "{line}"
    );
    // What arrived is kept, and the line says how to go on.
    assert!(
        line.ends_with("; notes.txt.part is kept (9 B): run again with -c to resume"),
        "{line}"
    );
    assert_eq!(
        fs::read(cwd.path().join("notes.txt.part")).unwrap(),
        &NOTES[..9]
    );
}

#[test]
fn local_errors_name_the_local_path() {
    let served = Served::standard();
    let cwd = tempfile::tempdir().unwrap();
    let out = hftp(
        served.port(),
        &["get", "notes.txt", "-o", "/nonexistent/dir/x"],
    )
    .run();
    assert_eq!(
        out.failed(3),
        "hftp-client: get notes.txt: cannot create /nonexistent/dir/x.part: No such file or directory (os error 2)"
    );
    // A directory where the file would go: said before anything is fetched.
    fs::create_dir(cwd.path().join("notes.txt")).unwrap();
    let out = hftp(served.port(), &["get", "notes.txt", "one"])
        .cwd(cwd.path())
        .run();
    assert_eq!(out.code, Some(3));
    assert_eq!(
        out.errors()[0],
        "hftp-client: get notes.txt: notes.txt is a directory; -o FILE or -O DIR writes elsewhere"
    );
    assert_eq!(fs::read(cwd.path().join("one")).unwrap(), b"1");
    assert!(!cwd.path().join("notes.txt.part").exists());
}

#[test]
fn get_over_an_existing_file_says_so_and_no_clobber_keeps_it() {
    let served = Served::standard();
    let cwd = tempfile::tempdir().unwrap();
    fs::write(cwd.path().join("notes.txt"), "mine").unwrap();
    let out = hftp(
        served.port(),
        &["--timeout", "5", "get", "--no-clobber", "notes.txt"],
    )
    .cwd(cwd.path())
    .run();
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(
        out.stderr,
        "hftp-client: get notes.txt: notes.txt exists, not replaced (--no-clobber)\n"
    );
    assert_eq!(fs::read(cwd.path().join("notes.txt")).unwrap(), b"mine");
    let out = hftp(served.port(), &["get", "notes.txt"])
        .cwd(cwd.path())
        .run();
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(
        out.stderr
            .trim_end()
            .ends_with("(replaced the existing file)"),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read(cwd.path().join("notes.txt")).unwrap(), NOTES);
}

#[test]
fn a_file_that_shrinks_during_get_is_said_to_have_changed() {
    let asked = std::sync::Mutex::new(0);
    let fake = Fake::new(move |line| match line {
        "get_metadata notes.txt" => {
            let mut asked = asked.lock().unwrap();
            *asked += 1;
            match *asked {
                1 => Reply::Send(b"0 OK\r\n41\r\n".to_vec()),
                _ => Reply::Send(b"0 OK\r\n20\r\n".to_vec()),
            }
        }
        l if l.starts_with("get_slice") => Reply::Send(b"203 BAD OFFSET\r\n".to_vec()),
        _ => Reply::Send(b"200 NO SUCH COMMAND\r\n".to_vec()),
    });
    let cwd = tempfile::tempdir().unwrap();
    let out = hftp(fake.port, &["get", "notes.txt"]).cwd(cwd.path()).run();
    assert_eq!(
        out.failed(3),
        "hftp-client: get notes.txt: notes.txt changed on the server (41 bytes, now 20); download it again from the start"
    );
}

#[test]
fn names_hftp_cannot_carry_are_quoted_with_the_reason() {
    let served = Served::standard();
    let out = hftp(served.port(), &["stat", "with space.txt"]).run();
    assert_eq!(
        out.failed(1),
        "hftp-client: stat \"with space.txt\": invalid file name: the file name holds a space; HFTP names are printable ASCII without spaces"
    );
    let out = hftp(served.port(), &["get", "caf\u{e9}"]).run();
    assert_eq!(
        out.failed(1),
        "hftp-client: get \"caf\u{e9}\": invalid file name: the file name holds the non-ASCII byte 0xc3; HFTP names are printable ASCII without spaces"
    );
}

#[test]
fn a_tab_with_an_unusable_environment_completes_nothing_quietly() {
    // What bash runs for `hftp-client get n<Tab>` with HFTP_PORT=abc.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hftp-client"))
        .args(["--", "hftp-client", "get", "n"])
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "2")
        .env("HFTP_PORT", "abc")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(out.stdout, b"", "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{out:?}");
}
