//! The course's conformance suite, one Rust test per Python test: the
//! server must pass it unchanged (docs/PROTOCOL.md preamble).

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn quit_answers_ok_and_closes_within_half_a_second() {
    let server = start(&[], &[]);
    let c = server.connect();
    c.quit(Duration::from_millis(500));
}

#[test]
fn listing_of_three_files() {
    let server = start(
        &[],
        &[("foo.txt", b"foo"), ("Bar.bin", b"\x00\x01"), ("_baz", b"")],
    );
    let mut c = server.connect();
    // Bytewise order: uppercase < '_' < lowercase.
    assert_eq!(c.listing(), ["Bar.bin", "_baz", "foo.txt"]);
    c.quit(Duration::from_secs(2));
}

#[test]
fn listing_of_1000_files_sorted_bytewise() {
    let prefixes = ["file_", "File-", "_x", "Z", "a.b.", "~", "0"];
    let mut names: Vec<String> = (0..1000)
        .map(|i| format!("{}{}", prefixes[i % prefixes.len()], (i * 7919) % 100_003))
        .collect();
    let server = start_with(Options::default(), |dir| {
        for name in &names {
            std::fs::write(dir.join(name), name.as_bytes()).unwrap();
        }
    });
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut c = server.connect();
    let listed = c.listing();
    assert_eq!(listed.len(), 1000);
    assert_eq!(listed, names);
    c.quit(Duration::from_secs(2));
}

#[test]
fn metadata_of_a_123459_byte_file() {
    let data = pattern(123_459, 1);
    let server = start(&[], &[("data.bin", &data)]);
    let mut c = server.connect();
    assert_eq!(c.metadata("data.bin"), 123_459);
    c.quit(Duration::from_secs(2));
}

#[test]
fn metadata_of_an_empty_file() {
    let server = start(&[], &[("empty", b"")]);
    let mut c = server.connect();
    assert_eq!(c.metadata("empty"), 0);
    // The only valid slice of an empty file.
    c.send(b"get_slice empty 0 0\r\n");
    c.expect("0 OK");
    c.expect("");
    c.quit(Duration::from_secs(2));
}

#[test]
fn full_slice_decodes_to_the_file() {
    let data = pattern(123_459, 2);
    let server = start(&[], &[("data.bin", &data)]);
    let mut c = server.connect();
    assert_eq!(c.slice("data.bin", 0, data.len() as u64), data);
    c.quit(Duration::from_secs(2));
}

#[test]
fn partial_slices_decode_to_the_right_bytes() {
    let data = pattern(100_003, 3);
    let server = start(&[], &[("data.bin", &data)]);
    let mut c = server.connect();
    let n = data.len() as u64;
    for (offset, size) in [
        (0, 1),
        (1, 1),
        (1, 2),
        (2, 3),
        (5, 20),
        (1000, 98_304),
        (3, 98_305),
        (n - 1, 1),
        (n - 7, 7),
    ] {
        let got = c.slice("data.bin", offset, size);
        assert_eq!(
            got,
            &data[offset as usize..(offset + size) as usize],
            "slice {offset} {size}"
        );
    }
    // SIZE 0 is an empty line, also at OFFSET = size.
    for offset in [0, 17, n] {
        c.send(format!("get_slice data.bin {offset} 0\r\n").as_bytes());
        c.expect("0 OK");
        c.expect("");
    }
    c.quit(Duration::from_secs(2));
}

#[test]
fn bare_lf_inside_a_command_is_100_bad_eol() {
    let server = start(&[], &[]);
    assert_fatal(&server, b"qui\nt\n", "100 BAD EOL");
}

#[test]
fn unknown_command_is_200_and_not_fatal() {
    let server = start(&[], &[]);
    let mut c = server.connect();
    c.send(b"verdura\r\n");
    c.expect("200 NO SUCH COMMAND");
    c.quit(Duration::from_secs(2));
}

#[test]
fn quit_with_arguments_is_201() {
    let server = start(&[], &[]);
    let mut c = server.connect();
    c.send(b"quit passing extra arguments!\r\n");
    c.expect("201 INVALID ARGUMENTS FOR COMMAND");
    c.quit(Duration::from_secs(2));
}

#[test]
fn get_metadata_without_argument_is_201() {
    let server = start(&[], &[]);
    let mut c = server.connect();
    c.send(b"get_metadata\r\n");
    c.expect("201 INVALID ARGUMENTS FOR COMMAND");
    c.quit(Duration::from_secs(2));
}

#[test]
fn get_slice_with_non_numeric_arguments_is_201() {
    let server = start(&[], &[("bar", b"0123456789")]);
    let mut c = server.connect();
    c.send(b"get_slice bar x x\r\n");
    c.expect("201 INVALID ARGUMENTS FOR COMMAND");
    // Also for a file that does not exist: 201 is checked before 202.
    c.send(b"get_slice nope x x\r\n");
    c.expect("201 INVALID ARGUMENTS FOR COMMAND");
    c.quit(Duration::from_secs(2));
}

#[test]
fn missing_file_is_202() {
    let server = start(&[], &[("present", b"x")]);
    let mut c = server.connect();
    c.send(b"get_metadata does_not_exist\r\n");
    c.expect("202 FILE NOT FOUND");
    c.send(b"get_slice does_not_exist 0 1\r\n");
    c.expect("202 FILE NOT FOUND");
    c.send(b"get_slice does_not_exist 0 1 raw\r\n");
    c.expect("202 FILE NOT FOUND");
    c.quit(Duration::from_secs(2));
}

#[test]
fn quit_sent_one_byte_per_second() {
    let server = start(&[], &[]);
    let mut c = server.connect();
    for &b in b"quit\r\n" {
        c.send(&[b]);
        std::thread::sleep(Duration::from_secs(1));
    }
    c.expect("0 OK");
    let (rest, closed, _) = c.wait_close(Duration::from_secs(2));
    assert!(rest.is_empty() && closed);
}

#[test]
fn two_listings_in_one_send_are_both_answered() {
    let server = start(&[], &[("a", b"1"), ("b", b"2")]);
    let mut c = server.connect();
    c.send(b"get_file_listing\r\nget_file_listing\r\n");
    for _ in 0..2 {
        c.expect("0 OK");
        assert_eq!(c.items(), ["a", "b"]);
    }
    c.quit(Duration::from_secs(2));
}

#[test]
fn a_32_mib_binary_file_downloads_intact_via_base64() {
    let data = pattern(32 << 20, 4);
    let server = start(&[], &[("big.bin", &data)]);
    let mut c = server.connect();
    assert_eq!(c.metadata("big.bin"), 32 << 20);
    let begun = Instant::now();
    let got = c.slice("big.bin", 0, data.len() as u64);
    eprintln!("32 MiB base64 slice in {:?}", begun.elapsed());
    assert!(got == data, "the 32 MiB download differs from the file");
    c.quit(Duration::from_secs(2));
}

#[test]
fn a_5_mib_file_name_is_202_within_seconds() {
    let server = start(&[], &[]);
    let mut c = server.connect();
    let mut req = b"get_metadata ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 5 << 20));
    req.extend_from_slice(b"\r\n");
    let begun = Instant::now();
    c.send(&req);
    c.expect("202 FILE NOT FOUND");
    let took = begun.elapsed();
    eprintln!("5 MiB file name answered in {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // The connection is still usable.
    c.quit(Duration::from_secs(2));
}

#[test]
fn a_file_with_nul_bytes_round_trips() {
    let mut data = vec![0u8; 4096];
    for (i, b) in data.iter_mut().enumerate() {
        if i % 3 == 1 {
            *b = (i % 251) as u8;
        }
    }
    data.extend_from_slice(b"\0\0\0text\0\r\n\0");
    let server = start(&[], &[("nuls.bin", &data)]);
    let mut c = server.connect();
    assert_eq!(c.metadata("nuls.bin"), data.len() as u64);
    assert_eq!(c.slice("nuls.bin", 0, data.len() as u64), data);
    assert_eq!(c.raw_slice("nuls.bin", 0, data.len() as u64), data);
    assert_eq!(
        c.slice("nuls.bin", 4096, data.len() as u64 - 4096),
        &data[4096..]
    );
    c.quit(Duration::from_secs(2));
}
