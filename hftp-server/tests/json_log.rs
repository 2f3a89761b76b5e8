//! `--log-format json`: every log line is one JSON object, the request
//! events carry their fields, and connection events their peer.

mod common;

use std::time::Duration;

use common::wait_until;
use serde_json::Value;

#[test]
fn json_log_lines_parse_and_carry_the_request_fields() {
    let server = common::start(&["--log-format", "json", "-v"], &[("a", b"hello world")]);
    let mut c = server.connect();
    let peer = c.stream.local_addr().unwrap().to_string();
    assert_eq!(c.raw_slice("a", 2, 4), b"llo ");
    c.send(b"bogus\r\n");
    assert!(c.line_str().starts_with("200 "));
    c.quit(Duration::from_secs(20));
    assert!(
        wait_until(Duration::from_secs(20), || server
            .log()
            .contains("Closing connection")),
        "{}",
        server.log()
    );
    let log = server.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    for line in &lines {
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    let answered: Vec<&Value> = lines
        .iter()
        .map(|l| &l["fields"])
        .filter(|f| {
            f["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Answered"))
        })
        .collect();
    assert_eq!(answered.len(), 3, "{log}");
    let slice = answered[0];
    assert_eq!(slice["peer"], peer.as_str());
    assert_eq!(slice["request"], "get_slice a 2 4 raw");
    assert_eq!(slice["status"], 0);
    assert_eq!(slice["bytes"], 4);
    let ms = slice["duration_ms"].as_f64().expect("a duration");
    assert!((0.0..20_000.0).contains(&ms), "{ms}");
    assert_eq!(answered[1]["status"], 200);
    assert_eq!(answered[1]["bytes"], 0);
    assert_eq!(answered[2]["request"], "quit");
    for message in ["Connected by: ", "Closing connection "] {
        let event = lines
            .iter()
            .map(|l| &l["fields"])
            .find(|f| {
                f["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(message))
            })
            .unwrap_or_else(|| panic!("no {message:?} in {log}"));
        assert_eq!(event["peer"], peer.as_str(), "{event}");
        assert!(event["message"].as_str().unwrap().contains(&peer));
    }
}
