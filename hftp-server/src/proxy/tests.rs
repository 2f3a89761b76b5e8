//! The header reader with a fake clock and byte-at-a-time input.

use super::*;
use proptest::prelude::*;

fn v2(command: u8, addresses: (SocketAddr, SocketAddr)) -> Vec<u8> {
    v2::Builder::with_addresses(0x20 | command, v2::Protocol::Stream, addresses)
        .build()
        .unwrap()
}

fn addrs() -> (SocketAddr, SocketAddr) {
    (
        "203.0.113.7:40000".parse().unwrap(),
        "192.0.2.1:19500".parse().unwrap(),
    )
}

/// Feeds `bytes` one at a time; returns the progress at the end and at
/// which byte it stopped needing more.
fn byte_at_a_time(bytes: &[u8]) -> (Progress, usize) {
    let mut reader = HeaderReader::new(Instant::now(), Duration::from_secs(1));
    for (i, b) in bytes.iter().enumerate() {
        match reader.handle_input(std::slice::from_ref(b)) {
            Progress::NeedMore => continue,
            other => return (other, i),
        }
    }
    (Progress::NeedMore, bytes.len())
}

#[test]
fn v1_tcp4_and_tcp6_byte_at_a_time() {
    let line = b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 19500\r\nlist\r\n";
    let (progress, at) = byte_at_a_time(line);
    let expected = Some("203.0.113.7:40000".parse().unwrap());
    assert_eq!(
        progress,
        Progress::Done {
            source: expected,
            used: 1
        }
    );
    assert_eq!(at, line.len() - b"list\r\n".len() - 1);

    let line = b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 19500\r\n";
    let (progress, _) = byte_at_a_time(line);
    let expected = Some("[2001:db8::7]:40000".parse().unwrap());
    assert_eq!(
        progress,
        Progress::Done {
            source: expected,
            used: 1
        }
    );
}

#[test]
fn v1_in_one_read_leaves_the_rest() {
    let mut reader = HeaderReader::new(Instant::now(), Duration::from_secs(1));
    let input = b"PROXY UNKNOWN\r\nlist\r\n";
    assert_eq!(
        reader.handle_input(input),
        Progress::Done {
            source: None,
            used: 15
        }
    );
}

#[test]
fn v2_proxy_and_local_byte_at_a_time() {
    let mut bytes = v2(0x01, addrs());
    let len = bytes.len();
    bytes.extend_from_slice(b"list\r\n");
    let (progress, at) = byte_at_a_time(&bytes);
    assert_eq!(
        progress,
        Progress::Done {
            source: Some(addrs().0),
            used: 1
        }
    );
    assert_eq!(at, len - 1);

    let local = v2(0x00, addrs());
    let (progress, _) = byte_at_a_time(&local);
    assert_eq!(
        progress,
        Progress::Done {
            source: None,
            used: 1
        }
    );
}

#[test]
fn v2_in_one_read_with_tlvs_and_bytes_after() {
    let mut bytes = v2::Builder::with_addresses(0x21, v2::Protocol::Stream, addrs())
        .write_tlv(v2::Type::NoOp, &[0; 100])
        .unwrap()
        .build()
        .unwrap();
    let len = bytes.len();
    bytes.extend_from_slice(b"list\r\n");
    let mut reader = HeaderReader::new(Instant::now(), Duration::from_secs(1));
    assert_eq!(
        reader.handle_input(&bytes),
        Progress::Done {
            source: Some(addrs().0),
            used: len
        }
    );
}

#[test]
fn missing_and_malformed_headers_are_refused() {
    let refused = |bytes: &[u8]| byte_at_a_time(bytes).0;
    assert_eq!(refused(b"list\r\n"), Progress::Invalid(Invalid::Missing));
    assert_eq!(refused(b"PROXX"), Progress::Invalid(Invalid::Missing));
    assert!(matches!(
        refused(b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"),
        Progress::Invalid(Invalid::Malformed(_))
    ));
    assert!(matches!(
        refused(b"PROXY TCP9 1.2.3.4 5.6.7.8 1 2\r\n"),
        Progress::Invalid(Invalid::Malformed(_))
    ));
    // A v2 signature with version 3.
    let mut bad = v2(0x01, addrs());
    bad[12] = 0x31;
    assert!(matches!(
        refused(&bad),
        Progress::Invalid(Invalid::Malformed(_))
    ));
    // An empty line: what a v2 header looks like to HFTP, and the reverse.
    assert_eq!(
        refused(b"\r\nlist\r\n"),
        Progress::Invalid(Invalid::Missing)
    );
}

#[test]
fn oversized_headers_are_refused_early() {
    let mut long = b"PROXY TCP4 ".to_vec();
    long.resize(MAX_V1, b'1');
    assert_eq!(
        byte_at_a_time(&long).0,
        Progress::Invalid(Invalid::Oversized(MAX_V1))
    );
    // A v2 header announcing more than the limit: refused on its 16th byte.
    let mut big = v2(0x01, addrs())[..16].to_vec();
    big[14..16].copy_from_slice(&5000u16.to_be_bytes());
    let (progress, at) = byte_at_a_time(&big);
    assert_eq!(progress, Progress::Invalid(Invalid::Oversized(MAX_HEADER)));
    assert_eq!(at, 15);
}

#[test]
fn the_deadline_comes_from_the_clock_passed_in() {
    let t0 = Instant::now();
    let mut reader = HeaderReader::new(t0, Duration::from_secs(30));
    assert_eq!(reader.poll_timeout(), t0 + Duration::from_secs(30));
    assert_eq!(reader.handle_input(b"PROXY TCP4 1.2."), Progress::NeedMore);
    assert!(!reader.handle_timeout(t0 + Duration::from_secs(29)));
    assert!(reader.handle_timeout(t0 + Duration::from_secs(30)));
    assert_eq!(reader.late(), Invalid::Late(Duration::from_secs(30)));
    assert_eq!(reader.handle_eof(), Invalid::Closed);
    assert_eq!(
        HeaderReader::new(t0, Duration::from_secs(1)).handle_eof(),
        Invalid::Missing
    );
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics_nor_holds_more_than_the_cap(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 0..8),
        v2_prefix in any::<bool>(),
    ) {
        let mut reader = HeaderReader::new(Instant::now(), Duration::from_secs(1));
        if v2_prefix {
            let _ = reader.handle_input(&v2(0x01, addrs())[..12]);
        }
        for chunk in &chunks {
            let progress = reader.handle_input(chunk);
            prop_assert!(reader.held() <= MAX_HEADER);
            match progress {
                Progress::NeedMore => {}
                Progress::Done { used, .. } => {
                    prop_assert!(used <= chunk.len());
                    break;
                }
                Progress::Invalid(_) => break,
            }
        }
    }
}
