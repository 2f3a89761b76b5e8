//! The project's own client library (`hftp_client::Client`) against the
//! server: listings, sizes, base64 and raw downloads, refusals.

mod common;

use std::time::Duration;

use common::*;
use hftp_client::{Client, Error, Timeouts};

fn client(server: &Server) -> Client {
    Client::connect_with(
        server.addr,
        Timeouts::uniform(Some(Duration::from_secs(20))),
    )
    .unwrap()
}

#[test]
fn downloads_with_the_client_library_match_the_files() {
    let big = pattern((3 << 20) + 1, 41);
    let small = b"!Que calor que hace hoy, pinta una birra!".to_vec();
    let server = start(
        &[],
        &[("big.bin", &big), ("notes.txt", &small), ("empty", b"")],
    );
    let mut c = client(&server);
    assert_eq!(c.list().unwrap(), ["big.bin", "empty", "notes.txt"]);
    assert_eq!(
        c.help().unwrap(),
        [
            "get_file_listing",
            "get_metadata",
            "get_slice",
            "quit",
            "help"
        ]
    );
    for (name, data) in [
        ("big.bin", &big),
        ("notes.txt", &small),
        ("empty", &Vec::new()),
    ] {
        let size = c.metadata(name).unwrap();
        assert_eq!(size, data.len() as u64);
        let mut got = Vec::new();
        c.slice_to(name, 0, size, &mut got).unwrap();
        assert!(got == *data, "{name}: base64 download differs");
        let mut got = Vec::new();
        c.raw_slice_to(name, 0, size, &mut got).unwrap();
        assert!(got == *data, "{name}: raw download differs");
    }
    // Partial ranges, including a chunked download of the whole big file.
    let mut got = Vec::new();
    c.slice_to("notes.txt", 5, 20, &mut got).unwrap();
    assert_eq!(got, b"calor que hace hoy, ");
    let mut whole = Vec::new();
    let chunk = 1_000_003u64;
    let mut offset = 0u64;
    while offset < big.len() as u64 {
        let n = chunk.min(big.len() as u64 - offset);
        if offset / chunk % 2 == 0 {
            c.slice_to("big.bin", offset, n, &mut whole).unwrap();
        } else {
            c.raw_slice_to("big.bin", offset, n, &mut whole).unwrap();
        }
        offset += n;
    }
    assert!(whole == big, "chunked download differs");
    c.quit().unwrap();
}

#[test]
fn refusals_come_back_as_errors_and_the_session_goes_on() {
    let server = start(&[], &[("ten", b"0123456789")]);
    let mut c = client(&server);
    match c.metadata("nope") {
        Err(Error::Server { code: 202, .. }) => {}
        other => panic!("expected 202, got {other:?}"),
    }
    let mut sink = Vec::new();
    match c.slice_to("ten", 5, 6, &mut sink) {
        Err(Error::Server { code: 203, .. }) => {}
        other => panic!("expected 203, got {other:?}"),
    }
    match c.raw_slice_to("ten", u64::MAX, 1, &mut sink) {
        Err(Error::Server { code: 203, .. }) => {}
        other => panic!("expected 203, got {other:?}"),
    }
    assert!(sink.is_empty());
    // Non-fatal: the connection still works.
    assert_eq!(c.metadata("ten").unwrap(), 10);
    let mut got = Vec::new();
    c.raw_slice_to("ten", 10, 0, &mut got).unwrap();
    assert!(got.is_empty());
    c.quit().unwrap();
}

#[test]
fn many_client_library_sessions_in_parallel() {
    let data = pattern(200_000, 43);
    let server = start(&["-q"], &[("data", &data)]);
    let data = std::sync::Arc::new(data);
    let handles: Vec<_> = (0..32)
        .map(|i| {
            let (addr, data) = (server.addr, data.clone());
            std::thread::spawn(move || {
                let mut c =
                    Client::connect_with(addr, Timeouts::uniform(Some(Duration::from_secs(20))))
                        .unwrap();
                for round in 0..5u64 {
                    let offset = (i * 997 + round * 31) % 100_000;
                    let mut got = Vec::new();
                    if (i + round) % 2 == 0 {
                        c.slice_to("data", offset, 50_000, &mut got).unwrap();
                    } else {
                        c.raw_slice_to("data", offset, 50_000, &mut got).unwrap();
                    }
                    assert!(got == data[offset as usize..offset as usize + 50_000]);
                }
                c.quit().unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
