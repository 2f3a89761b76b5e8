//! `hftp-client check` run as a process over real loopback sockets:
//! against our server (every case passes, or is INFO where the protocol
//! is open), against the course-shaped Python server of
//! `tests/fixtures/course_server.py` with one typical student mistake at
//! a time (exactly the cases about that mistake change verdict), against
//! fakes that never answer or drop pipelined requests (bounded in time),
//! its exit codes, and grading a class into JSON, CSV and HTML.

mod served;
#[path = "check/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use served::Served;
use support::{check, python, verdicts, Dropping, Silent};

/// Our server, serving a directory the checker writes its fixtures into.
fn ours() -> Served {
    Served::with_options(
        &[("unrelated.txt", b"not the checker's")],
        hftp_server::ServerOptions {
            idle_timeout: Duration::from_secs(2),
            // Longer than the case sending a byte a second takes.
            request_timeout: Duration::from_secs(8),
            ..Default::default()
        },
    )
}

#[test]
fn our_server_passes_every_case_it_can_be_given() {
    let served = ours();
    let dir = served.dir.path().to_str().unwrap().to_owned();
    let addr = served.addr().to_string();
    let run = check(&[
        &addr,
        "--dir",
        &dir,
        "--idle-timeout",
        "2",
        "--request-timeout",
        "8",
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    for (id, verdict) in verdicts(&run.report) {
        match verdict.as_str() {
            "pass" => {}
            // The protocol leaves the limit open; we report where ours is.
            "info" => assert_eq!(id, "2.3/long-line/hard-limit", "{}", run.stdout),
            // Memory is measured only of a server the checker started.
            "skip" => assert!(id.starts_with("4/memory/"), "{id} skipped:\n{}", run.stdout),
            other => panic!("{id}: {other}\n{}", run.stdout),
        }
    }
    // The fixtures are gone; what was there is untouched.
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, ["unrelated.txt"]);
    assert!(run.stdout.contains(" passed, 0 failed, "), "{}", run.stdout);
}

#[test]
fn without_a_directory_the_cases_that_need_files_are_skipped_with_the_way_to_run_them() {
    let served = ours();
    let addr = served.addr().to_string();
    let run = check(&[&addr, "--tier", "course"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let v = verdicts(&run.report);
    assert_eq!(v["3/get_metadata/sizes"], "skip");
    assert_eq!(v["2/status/unknown-200"], "pass");
    assert!(run.stdout.contains("pass --dir DIR"), "{}", run.stdout);
}

/// The cases that changed verdict between two runs, with the new verdict.
fn changed(
    base: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    now.iter()
        .filter(|(id, v)| base.get(*id) != Some(v))
        .map(|(id, v)| (id.clone(), v.clone()))
        .collect()
}

/// The slow cases (load, memory, timing) left out of the mistake runs.
const QUICK: &[&str] = &[
    "--skip",
    "1/fragmentation/byte-per-second",
    "--skip",
    "4/concurrency",
    "--skip",
    "4/memory",
    "--skip",
    "4/slow",
    "--skip",
    "4/vanishing",
    "--skip",
    "4/confinement/symlink-swap",
    "--skip",
    "3/get_slice/33-mb",
    "--skip",
    "3/get_slice/shrink",
];

#[test]
fn each_student_mistake_changes_exactly_its_own_cases() {
    let base = python(&["--threaded"], QUICK);
    let base_v = verdicts(&base.report);
    assert_eq!(
        base.code, 0,
        "the correct Python server fails:\n{}",
        base.stdout
    );
    // A flag of the Python server, and each case it changes with the
    // verdicts it may change to.
    type Changes = &'static [(&'static str, &'static [&'static str])];
    let mistakes: &[(&str, Changes)] = &[
        (
            "--bare-cr-101",
            &[
                ("2.1/framing/bare-cr", &["non-strict"]),
                ("2.1/framing/cr-after-bad-byte-100", &["non-strict"]),
            ],
        ),
        (
            "--accept-lf",
            &[
                ("2.1/framing/lf-alone-100", &["fail"]),
                ("2/status/lf-inside-100", &["fail"]),
            ],
        ),
        (
            "--split-whitespace",
            &[
                ("2.1/order/double-space-201", &["fail"]),
                ("2.1/order/leading-space-200", &["fail"]),
                ("2.1/order/trailing-space-201", &["fail"]),
            ],
        ),
        (
            "--int-args",
            &[
                ("2.2/number/plus-201", &["fail"]),
                ("2.2/number/negative-201", &["non-strict"]),
            ],
        ),
        (
            "--no-range-check",
            &[
                ("2.2/number/huge-203", &["fail"]),
                ("2.2/number/overflowing-sum-203", &["fail"]),
                ("3/get_slice/past-end-203", &["fail"]),
            ],
        ),
        (
            "--traversal",
            &[
                ("2.2/filename/traversal-201", &["non-strict"]),
                ("2.2/filename/slash-201", &["non-strict"]),
                ("2.2/filename/dot-201", &["non-strict"]),
                ("2.2/filename/dot-dot-201", &["non-strict"]),
                ("4/confinement/dot-dot-name", &["fail"]),
            ],
        ),
        ("--multiline-slice", &[("3/get_slice/one-line", &["info"])]),
        (
            "--no-close-on-quit",
            &[
                ("3/quit/close", &["fail"]),
                ("3/quit/ignores-rest", &["fail"]),
                ("3/quit/session", &["fail"]),
            ],
        ),
        // The status may or may not outrun the reset.
        (
            "--reset-on-fatal",
            &[
                ("2/fatal/lingering-close", &["info", "fail"]),
                ("2.3/long-line/hard-limit", &["fail", "info"]),
            ],
        ),
        ("--no-help", &[("3/help/commands", &["fail"])]),
    ];
    for (flag, want) in mistakes {
        let run = python(&["--threaded", flag], QUICK);
        let got = changed(&base_v, &verdicts(&run.report));
        for (id, verdict) in &got {
            let allowed = want
                .iter()
                .find(|(w, _)| w == id)
                .map(|(_, v)| *v)
                .unwrap_or(&[]);
            assert!(
                allowed.contains(&verdict.as_str()),
                "{flag}: {id} became {verdict}\n{}",
                run.stdout
            );
        }
        for (id, allowed) in *want {
            let now = &verdicts(&run.report)[*id];
            assert!(
                allowed.contains(&now.as_str()) && (got.contains_key(*id) || base_v[*id] == *now),
                "{flag}: {id} is {now}\n{}",
                run.stdout
            );
        }
        let fails = want.iter().any(|(_, v)| v.contains(&"fail"));
        assert_eq!(
            run.code,
            i32::from(fails && got.values().any(|v| v == "fail")),
            "{flag}\n{}",
            run.stdout
        );
    }
}

#[test]
fn a_sequential_server_fails_the_concurrency_cases_and_nothing_else_of_the_robust_tier() {
    let run = python(
        &[],
        &[
            "--tier",
            "robust",
            "--skip",
            "4/memory",
            "--skip",
            "4/confinement",
        ],
    );
    let v = verdicts(&run.report);
    assert_eq!(run.code, 1);
    for id in [
        "4/concurrency/1000-clients",
        "4/slow-reader/others-served",
        "4/slow-sender/others-served",
    ] {
        assert_eq!(v[id], "fail", "{id}\n{}", run.stdout);
    }
    assert_eq!(v["4/special/fifo-202"], "pass", "{}", run.stdout);
    assert_eq!(v["3/get_slice/shrink-mid-slice"], "pass", "{}", run.stdout);
}

#[test]
fn a_threaded_server_that_buffers_whole_lines_fails_the_memory_bound() {
    let run = python(&["--threaded"], &["--only", "4/memory"]);
    let v = verdicts(&run.report);
    assert_eq!(v["4/memory/long-lines"], "fail", "{}", run.stdout);
    assert_eq!(v["4/memory/big-slice"], "pass", "{}", run.stdout);
    assert!(run.stdout.contains("it grew by"), "{}", run.stdout);
}

#[test]
fn a_server_that_never_answers_fails_every_case_in_bounded_time() {
    let silent = Silent::start();
    let began = Instant::now();
    let run = check(&[
        &silent.addr(),
        "--case-timeout",
        "0.5",
        "--only",
        "2/",
        "--only",
        "3/quit",
        "--only",
        "1/pipelining",
    ]);
    let took = began.elapsed();
    assert_eq!(run.code, 1);
    let v = verdicts(&run.report);
    assert!(v.len() >= 10);
    for (id, verdict) in &v {
        // Cases that need the served directory are skipped.
        assert!(verdict == "fail" || verdict == "skip", "{id}: {verdict}");
    }
    assert!(
        took < Duration::from_secs(v.len() as u64) + Duration::from_secs(5),
        "{took:?}"
    );
    assert!(
        run.stdout
            .contains("no answer before the case's time limit"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_server_that_drops_pipelined_requests_fails_the_pipelining_cases_only() {
    let served = ours();
    let dir = served.dir.path().to_str().unwrap().to_owned();
    let args = [
        "--dir",
        &dir,
        "--tier",
        "course",
        "--tier",
        "strict",
        "--skip",
        "1/fragmentation/byte-per-second",
        "--skip",
        "2.3/long-line/hard-limit",
    ];
    let faithful = Dropping::start(served.addr(), false);
    let base = check(&[&[faithful.addr().as_str()][..], &args].concat());
    assert_eq!(base.code, 0, "{}", base.stdout);
    let dropping = Dropping::start(served.addr(), true);
    let run = check(&[&[dropping.addr().as_str()][..], &args].concat());
    let got = changed(&verdicts(&base.report), &verdicts(&run.report));
    let want: BTreeMap<String, String> = ["1/pipelining/in-order", "1/pipelining/two-listings"]
        .iter()
        .map(|id| (id.to_string(), "fail".to_string()))
        .collect();
    assert_eq!(got, want, "{}", run.stdout);
    assert!(run.stdout.contains("rerun: hftp-client"), "{}", run.stdout);
}

#[test]
fn exit_codes_say_whether_the_check_could_run() {
    let run = check(&["--tier", "everything"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("hftp-client: invalid value 'everything' for '--tier <TIER>'"),
        "{}",
        run.stderr
    );
    let run = check(&["--server", "exit 3 {port}"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("exited with status 3 before accepting"),
        "{}",
        run.stderr
    );
    let run = check(&["--server", "sleep 30 # {port}", "--start-timeout", "0.5"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("did not accept a connection"),
        "{}",
        run.stderr
    );
    let run = check(&["--only", "9/"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no case ID starts with \"9/\""),
        "{}",
        run.stderr
    );
    let run = check(&["--list"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.lines().count() > 60);
    assert!(run
        .stdout
        .lines()
        .all(|l| l.contains(" course ") || l.contains(" strict ") || l.contains(" robust ")));
}

#[test]
fn grading_a_class_writes_each_target_a_summary_and_one_html_report() {
    let served = ours();
    let work = tempfile::tempdir().unwrap();
    let script = std::fs::canonicalize("tests/fixtures/course_server.py").unwrap();
    std::fs::create_dir(work.path().join("bob")).unwrap();
    std::fs::copy(&script, work.path().join("bob/server.py")).unwrap();
    let class = format!(
        "time_limit = 60\n\
         [[target]]\nname = \"ours\"\naddress = \"{}\"\ndir = \"{}\"\n\
         [[target]]\nname = \"bob\"\nserver = \"python3 server.py --no-help -p {{port}} -d {{dir}}\"\ncwd = \"bob\"\n\
         [[target]]\nname = \"carol\"\nserver = \"python3 no-such-file.py {{port}}\"\n",
        served.addr(),
        served.dir.path().display()
    );
    std::fs::write(work.path().join("class.toml"), class).unwrap();
    let out = work.path().join("results");
    let run = check(&[
        "--targets",
        work.path().join("class.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-j",
        "3",
        "--only",
        "3/",
        "--skip",
        "3/get_slice/33-mb",
        "--skip",
        "3/get_slice/shrink",
    ]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    let reports: Vec<serde_json::Value> = ["ours", "bob", "carol"]
        .iter()
        .map(|n| serde_json::from_str(&read(&format!("{n}.json"))).unwrap())
        .collect();
    assert_eq!(
        verdicts(&reports[0])
            .values()
            .filter(|v| *v != "pass")
            .count(),
        0,
        "{}",
        run.stdout
    );
    assert_eq!(verdicts(&reports[1])["3/help/commands"], "fail");
    assert!(
        reports[2]["error"]
            .as_str()
            .unwrap()
            .contains("exited with status 2"),
        "{}",
        reports[2]
    );
    let csv = read("summary.csv");
    assert!(
        csv.starts_with("name,target,pass,fail,non-strict,info,skip,error,peak_rss\n"),
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|row| row.starts_with("ours,") && row.contains(",21,0,0,0,0,")),
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|row| row.starts_with("bob,") && row.contains(",20,1,0,0,0,")),
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|row| row.starts_with("carol,") && row.contains(",0,0,0,0,0,")),
        "{csv}"
    );
    let html = read("report.html");
    let fails = reports
        .iter()
        .map(|r| verdicts(r).values().filter(|v| *v == "fail").count())
        .sum::<usize>();
    let matrix = &html[html.find("id=\"matrix\"").unwrap()..];
    let matrix = &matrix[..matrix.find("</table>").unwrap()];
    assert_eq!(matrix.matches("data-verdict=\"fail\"").count(), fails);
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the report loads nothing from the network"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_stopped_check_stops_the_server_it_started() {
    // The marker names the server's shell in the process table.
    let marker = format!("hftp-check-test-{}", std::process::id());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/course_server.py"
    );
    let server = format!("python3 {script} -p {{port}} -d {{dir}}; : {marker}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hftp-client"))
        .args([
            "check",
            "--server",
            &server,
            "--only",
            "1/fragmentation/byte-per-second",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert!(first.starts_with("checking"), "{first}");
    let until = Instant::now() + Duration::from_secs(10);
    while !running(&marker) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(running(&marker), "the server is not running");
    // Until it accepts: the check is under way.
    std::thread::sleep(Duration::from_millis(500));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let until = Instant::now() + Duration::from_secs(5);
    while running(&marker) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!running(&marker), "the server outlived the check");
}

/// Whether a process whose command line holds `marker` runs.
#[cfg(target_os = "linux")]
fn running(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| c.windows(marker.len()).any(|w| w == marker.as_bytes()))
    })
}
