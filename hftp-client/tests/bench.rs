//! `hftp-bench` end to end: each subcommand runs briefly against our
//! server, started in-process on a free port, and its `--json` report
//! must be sane (requests made, every response verified, percentiles in
//! order, the server's /proc figures read).

use std::path::Path;
use std::process::Command;

use hftp_server::{RunningServer, Server, ServerOptions};
use serde_json::Value;
use tempfile::TempDir;

/// A server over a directory holding a 3 MiB file and a small one.
fn server() -> (TempDir, RunningServer) {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..3u32 << 20).map(|i| (i * 7 + i / 251) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), big).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello\n").unwrap();
    let server = serve(dir.path());
    (dir, server)
}

fn serve(dir: &Path) -> RunningServer {
    Server::bind(ServerOptions {
        address: "127.0.0.1:0".parse().unwrap(),
        directory: dir.to_path_buf(),
        ..Default::default()
    })
    .unwrap()
    .spawn()
    .unwrap()
}

/// Runs hftp-bench with `args` against `server`, returns its JSON report.
fn bench(server: &RunningServer, args: &[&str]) -> Value {
    let port = server.local_addr().port().to_string();
    let pid = std::process::id().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_hftp-bench"))
        .args(["-p", &port, "--json", "--server-pid", &pid])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "hftp-bench {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{stdout}"))
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key} in {v}"))
}

/// Checks a `rate` report: responses made and all verified, percentiles
/// ordered, server usage read.
fn check_rate(r: &Value) {
    assert_eq!(r["command"], "rate");
    assert!(num(r, "responses") > 0.0, "{r}");
    assert_eq!(num(r, "verified"), num(r, "responses"), "{r}");
    assert_eq!(num(r, "wrong"), 0.0, "{r}");
    assert_eq!(num(r, "failed_connections"), 0.0, "{r}");
    assert!(num(r, "requests_per_second") > 0.0, "{r}");
    let l = &r["latency"];
    let p = ["p50_us", "p90_us", "p99_us", "p999_us", "max_us"].map(|k| num(l, k));
    assert!(p[0] > 0.0, "{l}");
    assert!(p.windows(2).all(|w| w[0] <= w[1]), "{l}");
    let usage = &r["server_usage"];
    assert!(
        num(usage, "rss_kib_peak") >= num(usage, "rss_kib_start"),
        "{usage}"
    );
    assert!(num(usage, "cpu_seconds") >= 0.0, "{usage}");
}

#[test]
fn rate_with_every_kind_of_request() {
    let (_dir, server) = server();
    let r = bench(
        &server,
        &[
            "rate",
            "--duration",
            "0.5",
            "-c",
            "8",
            "-P",
            "4",
            "-t",
            "2",
            "--mix",
            "metadata=2,slice,raw,listing,help,error",
            "--file",
            "big.bin",
        ],
    );
    check_rate(&r);
    assert_eq!(r["connections"], 8);
    assert_eq!(r["pipeline"], 4);
    assert_eq!(
        r["mix"],
        "metadata=2,slice=1,raw=1,listing=1,help=1,error=1"
    );
    // Error requests were sent and refused as they must be.
    assert!(num(&r, "refusals") > 0.0, "{r}");
    assert!(num(&r, "refusals") < num(&r, "verified"), "{r}");
}

#[test]
fn rate_picks_a_file_by_itself() {
    let (_dir, server) = server();
    let r = bench(&server, &["rate", "--duration", "0.3", "-c", "4"]);
    check_rate(&r);
    assert!(r["file"].is_string(), "{r}");
    assert_eq!(num(&r, "refusals"), 0.0);
}

#[test]
fn transfer_base64_and_raw() {
    let (_dir, server) = server();
    for raw in [false, true] {
        let mut args = vec![
            "transfer", "--file", "big.bin", "-c", "2", "--count", "2", "-d", "5",
        ];
        if raw {
            args.push("--raw");
        }
        let r = bench(&server, &args);
        assert_eq!(r["command"], "transfer");
        assert_eq!(r["encoding"], if raw { "raw" } else { "base64" });
        assert_eq!(num(&r, "file_size"), f64::from(3u32 << 20));
        // Two whole downloads, each in two parts, all verified.
        assert_eq!(num(&r, "payload_bytes"), f64::from(6u32 << 20), "{r}");
        assert_eq!(num(&r, "slices_completed"), 4.0, "{r}");
        assert!(num(&r, "payload_gb_per_second") > 0.0, "{r}");
        let wire = num(&r, "wire_gb_per_second") / num(&r, "payload_gb_per_second");
        if raw {
            assert!((1.0..1.01).contains(&wire), "{r}");
        } else {
            assert!((1.33..1.34).contains(&wire), "{r}");
        }
        assert!(r["server_cpu_seconds_per_gb"].is_number(), "{r}");
    }
}

#[test]
fn transfer_stops_at_the_deadline() {
    let (_dir, server) = server();
    let r = bench(&server, &["transfer", "--file", "big.bin", "-d", "0.3"]);
    assert!(num(&r, "payload_bytes") > 0.0, "{r}");
    assert!(num(&r, "seconds") < 1.5, "{r}");
}

#[test]
fn transfer_of_a_missing_file_fails_cleanly() {
    let (_dir, server) = server();
    let port = server.local_addr().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_hftp-bench"))
        .args(["-p", &port, "transfer", "--file", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("get_metadata nope failed"), "{err}");
}

#[test]
fn idle_connections_beside_the_load() {
    let (_dir, server) = server();
    let r = bench(
        &server,
        &[
            "idle",
            "-n",
            "200",
            "--baseline",
            "--duration",
            "0.3",
            "-c",
            "4",
        ],
    );
    assert_eq!(r["command"], "idle");
    assert_eq!(r["idle_served"], 200);
    check_rate(&r["rate"]);
    check_rate(&r["baseline"]);
    assert!(num(&r, "rate_ratio") > 0.0, "{r}");
    assert!(num(&r, "server_rss_kib_idle") > 0.0, "{r}");
}

#[test]
fn limits() {
    let out = Command::new(env!("CARGO_BIN_EXE_hftp-bench"))
        .args(["limits", "--json", "-d", "0.2", "--buffer", "65536"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "tcp_loopback_gb_per_second",
        "base64_encode_gb_per_second",
        "base64_decode_gb_per_second",
        "tcp_loopback_cpu_seconds_per_gb",
    ] {
        assert!(num(&r, key) > 0.0, "{r}");
    }
    // The machine the figures belong to, as /proc/cpuinfo names it.
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map(|(_, v)| v.trim())
        .unwrap();
    let machine = &r["machine"];
    let cpu = machine["cpu"].as_str().unwrap();
    assert!(cpu.starts_with(model), "{machine}");
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(machine["cores"].as_u64(), Some(cores as u64), "{machine}");
    assert!(!machine["kernel"].as_str().unwrap().is_empty(), "{machine}");
}

#[test]
fn table_output() {
    let (_dir, server) = server();
    let port = server.local_addr().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_hftp-bench"))
        .args(["-p", &port, "rate", "-d", "0.2", "-c", "2"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("rate: 2 connections x pipeline 1"),
        "{text}"
    );
    assert!(text.contains("requests/s"), "{text}");
    assert!(text.contains("latency p50 / p99 / p99.9 / max"), "{text}");
}
