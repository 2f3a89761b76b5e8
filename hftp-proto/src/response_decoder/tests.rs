//! Unit tests of the response decoder: every response shape fed in every
//! chunking and output size, the liberal forms, the errors, the bounds on
//! retained memory, and properties over arbitrary input.

use base64_simd::STANDARD;
use proptest::prelude::*;

use super::*;
use crate::Request;

/// An event as the tests collect it, owned, and for `Data` the payload
/// bytes it counts (consecutive `Data` events merged into one).
type Seen = (OwnedEvent, Vec<u8>);

fn seen(event: OwnedEvent) -> Seen {
    (event, Vec::new())
}

fn status(code: u16, text: &str) -> Seen {
    seen(OwnedEvent::Status {
        code,
        text: text.to_owned(),
    })
}

fn item(s: &str) -> Seen {
    seen(OwnedEvent::Item(s.to_owned()))
}

fn size(n: u64) -> Seen {
    seen(OwnedEvent::Size(n))
}

fn data(d: &[u8]) -> Seen {
    (OwnedEvent::Data(d.len()), d.to_vec())
}

fn end() -> Seen {
    seen(OwnedEvent::End)
}

fn push(evs: &mut Vec<Seen>, e: Event<'_>, out: &[u8]) {
    match e.into_owned() {
        OwnedEvent::Data(n) => {
            assert!(n > 0 && n <= out.len());
            match evs.last_mut() {
                Some((OwnedEvent::Data(total), d)) => {
                    *total += n;
                    d.extend_from_slice(&out[..n]);
                }
                _ => evs.push(data(&out[..n])),
            }
        }
        event => evs.push(seen(event)),
    }
}

/// Feeds `input` in chunks of `chunk` bytes with an `out` of `out_len`
/// bytes, then drains events that need no input. Events are collected
/// into `evs` even when an error ends the run.
fn feed_into(
    dec: &mut ResponseDecoder,
    input: &[u8],
    chunk: usize,
    out_len: usize,
    evs: &mut Vec<Seen>,
) -> Result<(), ResponseError> {
    let mut out = vec![0u8; out_len];
    let mut pieces: Vec<&[u8]> = input.chunks(chunk.max(1)).collect();
    pieces.push(b"");
    for piece in pieces {
        let mut rest = piece;
        loop {
            let before = dec.retained();
            let d = dec.decode(rest, &mut out)?;
            rest = &rest[d.consumed..];
            match d.event {
                Some(e) => push(evs, e, &out),
                None if rest.is_empty() => break,
                None => assert!(d.consumed > 0, "no progress with {} bytes left", rest.len()),
            }
            assert!(before <= MAX_LINE + 1 && dec.retained() <= MAX_LINE + 1);
        }
    }
    Ok(())
}

fn feed(
    dec: &mut ResponseDecoder,
    input: &[u8],
    chunk: usize,
    out_len: usize,
) -> Result<Vec<Seen>, ResponseError> {
    let mut evs = Vec::new();
    feed_into(dec, input, chunk, out_len, &mut evs).map(|()| evs)
}

fn decoder(expects: &[Expect]) -> ResponseDecoder {
    let mut dec = ResponseDecoder::new();
    for &e in expects {
        dec.expect(e);
    }
    dec
}

/// Decodes `input` in every chunking (1, 2, 3, 7, whole) with every out
/// size (1, 2, 3, 4, 5, 64) and checks all give `want`.
fn check(expects: &[Expect], input: &[u8], want: &[Seen]) {
    for chunk in [1, 2, 3, 7, input.len().max(1)] {
        for out_len in [1, 2, 3, 4, 5, 64] {
            let mut dec = decoder(expects);
            let got = feed(&mut dec, input, chunk, out_len)
                .unwrap_or_else(|e| panic!("chunk {chunk}, out {out_len}: {e}"));
            assert_eq!(got, want, "chunk {chunk}, out {out_len}");
            assert_eq!(dec.pending(), 0);
            assert_eq!(dec.retained(), 0);
        }
    }
}

/// Decodes `input` in every chunking and out size, checks that it fails
/// with `want`, and that later calls return `want` again.
fn check_err(expects: &[Expect], input: &[u8], want: ResponseError) {
    for chunk in [1, 2, 3, 7, input.len().max(1)] {
        for out_len in [1, 2, 3, 64] {
            let mut dec = decoder(expects);
            let got = feed(&mut dec, input, chunk, out_len);
            assert_eq!(got, Err(want.clone()), "chunk {chunk}, out {out_len}");
            // Errors are terminal: the first one sticks.
            let mut out = [0u8; 4];
            assert_eq!(dec.decode(b"", &mut out), Err(want.clone()));
            assert_eq!(dec.decode(b"0 OK\r\n", &mut out), Err(want.clone()));
            assert_eq!(dec.raw_body_received(0), Err(want.clone()));
        }
    }
}

#[test]
fn example_exchange_of_the_protocol_doc() {
    let wire = b"0 OK\r\nnotes.txt\r\nphoto.jpg\r\n\r\n\
                 0 OK\r\n41\r\n\
                 0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n\
                 0 OK\r\n";
    let expects = [
        Expect::Listing,
        Expect::Metadata,
        Expect::Slice { size: 20 },
        Expect::Quit,
    ];
    let want = [
        status(0, "OK"),
        item("notes.txt"),
        item("photo.jpg"),
        end(),
        status(0, "OK"),
        size(41),
        end(),
        status(0, "OK"),
        data(b"calor que hace hoy, "),
        end(),
        status(0, "OK"),
        end(),
    ];
    check(&expects, wire, &want);
}

#[test]
fn help_and_empty_listing() {
    let wire = b"0 OK\r\nget_file_listing\r\nget_metadata\r\nget_slice\r\nquit\r\nhelp\r\n\r\n\
                 0 OK\r\n\r\n";
    let want = [
        status(0, "OK"),
        item("get_file_listing"),
        item("get_metadata"),
        item("get_slice"),
        item("quit"),
        item("help"),
        end(),
        status(0, "OK"),
        end(),
    ];
    check(&[Expect::Help, Expect::Listing], wire, &want);
}

#[test]
fn error_statuses_end_the_response() {
    let expects = [
        Expect::Listing,
        Expect::Metadata,
        Expect::Slice { size: 9 },
        Expect::RawSlice { size: 9 },
        Expect::Help,
        Expect::Metadata,
        Expect::Quit,
        Expect::Metadata,
    ];
    let wire = b"200 NO SUCH COMMAND\r\n201 INVALID ARGUMENTS FOR COMMAND\r\n\
                 202 FILE NOT FOUND\r\n203 OFFSET EXCEEDS FILE SIZE\r\n\
                 199 INTERNAL SERVER ERROR\r\n100 BAD EOL\r\n101 BAD REQUEST\r\n\
                 65535 WHATEVER\r\n";
    let mut want = Vec::new();
    for (code, text) in [
        (200, "NO SUCH COMMAND"),
        (201, "INVALID ARGUMENTS FOR COMMAND"),
        (202, "FILE NOT FOUND"),
        (203, "OFFSET EXCEEDS FILE SIZE"),
        (199, "INTERNAL SERVER ERROR"),
        (100, "BAD EOL"),
        (101, "BAD REQUEST"),
        (65535, "WHATEVER"),
    ] {
        want.push(status(code, text));
        want.push(end());
    }
    check(&expects, wire, &want);
}

#[test]
fn liberal_status_lines() {
    let cases: &[(&[u8], u16, &str)] = &[
        (b"0 OK\r\n", 0, "OK"),
        (b"0 OK\n", 0, "OK"),
        (b"0  OK\r\n", 0, "OK"),
        (b" 0 OK\r\n", 0, "OK"),
        (b"0\r\n", 0, ""),
        (b"0 \n", 0, ""),
        (b"00000 OK\r\n", 0, "OK"),
        (b"0 all good, gracias \r\n", 0, "all good, gracias "),
        (b"0 \xc3\xb1and\xc3\xba\r\n", 0, "\u{f1}and\u{fa}"),
        (b"202\r\n", 202, ""),
        (b"7 x\r\n", 7, "x"),
    ];
    for &(line, code, text) in cases {
        let want = [status(code, text), end()];
        check(&[Expect::Quit], line, &want);
    }
}

#[test]
fn bad_status_lines() {
    for line in [
        &b"OK\r\n"[..],
        b"\r\n",
        b"\n",
        b"   \r\n",
        b"0OK\r\n",
        b"-1 X\r\n",
        b"+0 OK\r\n",
        b"123456 X\r\n",
        b"65536 X\r\n",
        b"99999\r\n",
    ] {
        check_err(&[Expect::Listing], line, ResponseError::BadStatusLine);
    }
    check_err(
        &[Expect::Quit],
        b"0 O\tK\r\n",
        ResponseError::ControlByte { byte: b'\t' },
    );
    check_err(
        &[Expect::Quit],
        b"0 O\rK\r\n",
        ResponseError::ControlByte { byte: b'\r' },
    );
    check_err(
        &[Expect::Quit],
        b"0 OK\r\r\n",
        ResponseError::ControlByte { byte: b'\r' },
    );
    check_err(
        &[Expect::Quit],
        b"0 O\x7fK\r\n",
        ResponseError::ControlByte { byte: 0x7f },
    );
    check_err(&[Expect::Quit], b"0 \xff\r\n", ResponseError::InvalidUtf8);
}

#[test]
fn items_must_be_text() {
    let ok = b"0 OK\r\n\xc3\xb1and\xc3\xba.txt\r\nwith space\r\n\r\n";
    let want = [
        status(0, "OK"),
        item("\u{f1}and\u{fa}.txt"),
        item("with space"),
        end(),
    ];
    check(&[Expect::Listing], ok, &want);
    check_err(
        &[Expect::Listing],
        b"0 OK\r\na\x00b\r\n",
        ResponseError::ControlByte { byte: 0 },
    );
    check_err(
        &[Expect::Help],
        b"0 OK\r\n\xc3\r\n",
        ResponseError::InvalidUtf8,
    );
}

#[test]
fn line_too_long() {
    let long = |n: usize, end: &[u8]| {
        let mut v = b"0 OK\r\n".to_vec();
        v.extend(std::iter::repeat_n(b'a', n));
        v.extend_from_slice(end);
        v
    };
    let err = ResponseError::LineTooLong { limit: MAX_LINE };
    // The longest line accepted, ending in CRLF or LF, split or whole.
    for end in [&b"\r\n"[..], b"\n"] {
        let mut wire = long(MAX_LINE, end);
        wire.extend_from_slice(b"\r\n");
        for chunk in [1000, wire.len()] {
            let mut dec = decoder(&[Expect::Listing]);
            let evs = feed(&mut dec, &wire, chunk, 8).unwrap();
            assert_eq!(evs[1], item(&"a".repeat(MAX_LINE)));
            assert_eq!(evs.len(), 3);
        }
    }
    for wire in [
        long(MAX_LINE + 1, b"\r\n"),
        long(MAX_LINE + 1, b"\n"),
        long(3 * MAX_LINE, b""),
    ] {
        for chunk in [1000, 4096, wire.len()] {
            let mut dec = decoder(&[Expect::Listing]);
            assert_eq!(feed(&mut dec, &wire, chunk, 8), Err(err.clone()));
        }
    }
    // A status line too.
    let mut dec = decoder(&[Expect::Quit]);
    assert_eq!(feed(&mut dec, &vec![b'0'; MAX_LINE + 5], 100, 8), Err(err));
}

#[test]
fn metadata_sizes() {
    let cases: &[(&[u8], u64)] = &[
        (b"0 OK\r\n0\r\n", 0),
        (b"0 OK\r\n41\n", 41),
        (b"0 OK\r\n 41 \r\n", 41),
        (b"0 OK\r\n18446744073709551615\r\n", u64::MAX),
        (b"0 OK\r\n000123\r\n", 123),
    ];
    for &(wire, n) in cases {
        check(
            &[Expect::Metadata],
            wire,
            &[status(0, "OK"), size(n), end()],
        );
    }
    for wire in [
        &b"0 OK\r\n\r\n"[..],
        b"0 OK\r\nabc\r\n",
        b"0 OK\r\n-1\r\n",
        b"0 OK\r\n4 1\r\n",
        b"0 OK\r\n0x10\r\n",
        b"0 OK\r\n18446744073709551616\r\n",
    ] {
        check_err(&[Expect::Metadata], wire, ResponseError::BadSize);
    }
}

#[test]
fn base64_slices() {
    let ok = |size: u64, body: &[u8], payload: &[u8]| {
        let mut wire = b"0 OK\r\n".to_vec();
        wire.extend_from_slice(body);
        let mut want = vec![status(0, "OK"), data(payload), end()];
        if payload.is_empty() {
            want.remove(1);
        }
        check(&[Expect::Slice { size }], &wire, &want);
    };
    ok(0, b"\r\n", b"");
    ok(0, b"\n", b"");
    ok(1, b"QQ==\r\n", b"A");
    ok(2, b"QUI=\r\n", b"AB");
    ok(3, b"QUJD\r\n", b"ABC");
    ok(3, b"QUJD\n", b"ABC");
    // Unpadded tails.
    ok(1, b"QQ\r\n", b"A");
    ok(2, b"QUI\r\n", b"AB");
    ok(5, b"QUJDREU\r\n", b"ABCDE");
    ok(4, b"QUJDRA\n", b"ABCD");
    // Non-canonical trailing bits are tolerated.
    ok(1, b"QR==\r\n", b"A");
    // Split over several lines, each decodable on its own.
    ok(6, b"QUJD\r\nREVG\r\n", b"ABCDEF");
    ok(6, b"QQ==\r\nQkM=\r\nREVG\r\n", b"ABCDEF");
    ok(6, b"QQ\r\nQkM\nREVG\r\n", b"ABCDEF");
    ok(
        20,
        b"Y2Fsb3Ig\r\ncXVlIGhhY2Ug\r\naG95LCA=\r\n",
        b"calor que hace hoy, ",
    );
    // Every byte value.
    let all: Vec<u8> = (0..=255).collect();
    let mut body = STANDARD.encode_to_string(&all).into_bytes();
    body.extend_from_slice(b"\r\n");
    ok(256, &body, &all);
}

#[test]
fn base64_errors() {
    let err = |size: u64, body: &[u8], want: ResponseError| {
        let mut wire = b"0 OK\r\n".to_vec();
        wire.extend_from_slice(body);
        check_err(&[Expect::Slice { size }], &wire, want);
    };
    err(3, b"QU*D\r\n", ResponseError::BadBase64 { byte: b'*' });
    err(3, b"QUJD \r\n", ResponseError::BadBase64 { byte: b' ' });
    err(
        30,
        b"QUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJD-UJD\r\n",
        ResponseError::BadBase64 { byte: b'-' },
    );
    err(3, b"QUJD\r\r\n", ResponseError::ControlByte { byte: b'\r' });
    err(3, b"QU\rJD\r\n", ResponseError::ControlByte { byte: b'\r' });
    err(2, b"QQ==QQ==\r\n", ResponseError::BadPadding);
    err(1, b"QQ=\r\n", ResponseError::BadPadding);
    err(1, b"Q===\r\n", ResponseError::BadPadding);
    err(1, b"=\r\n", ResponseError::BadPadding);
    err(2, b"QUI==\r\n", ResponseError::BadPadding);
    err(1, b"QQ=A\r\n", ResponseError::BadPadding);
    err(4, b"QUJDR\r\n", ResponseError::DanglingBase64);
    err(1, b"Q\r\n", ResponseError::DanglingBase64);
    err(0, b"QUJD\r\n", ResponseError::SliceTooLong { expected: 0 });
    err(2, b"QUJD\r\n", ResponseError::SliceTooLong { expected: 2 });
    err(
        3,
        b"QUJDQQ==\r\n",
        ResponseError::SliceTooLong { expected: 3 },
    );
    err(1, b"QUI=\r\n", ResponseError::SliceTooLong { expected: 1 });
    err(
        40,
        b"QUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJD\r\n",
        ResponseError::SliceTooLong { expected: 40 },
    );
    err(
        3,
        b"\r\n",
        ResponseError::SliceTooShort {
            expected: 3,
            got: 0,
        },
    );
    err(
        6,
        b"QUJD\r\n\r\n",
        ResponseError::SliceTooShort {
            expected: 6,
            got: 3,
        },
    );
    // A slice that stops early runs into the next response's status.
    let mut dec = decoder(&[Expect::Slice { size: 6 }, Expect::Quit]);
    let got = feed(&mut dec, b"0 OK\r\nQUJD\r\n0 OK\r\n", 64, 64);
    assert_eq!(got, Err(ResponseError::BadBase64 { byte: b' ' }));
}

/// Drives `dec` over `wire` the way a zero-copy client does: input goes
/// through `decode` in chunks of `chunk` bytes, except that inside a raw
/// body at most `direct` bytes at a time are taken straight from the
/// wire and reported with `raw_body_received`.
fn feed_direct(
    dec: &mut ResponseDecoder,
    wire: &[u8],
    chunk: usize,
    direct: usize,
) -> Result<Vec<Seen>, ResponseError> {
    let mut evs = Vec::new();
    let mut out = [0u8; 64];
    let mut at = 0;
    loop {
        if let Some(left) = dec.raw_body_remaining() {
            let k = (left as usize).min(direct).min(wire.len() - at);
            if k == 0 {
                return Ok(evs);
            }
            dec.raw_body_received(k)?;
            let direct_data = Event::Data(k);
            push(&mut evs, direct_data, &wire[at..at + k]);
            at += k;
            continue;
        }
        let end = (at + chunk).min(wire.len());
        let step = dec.decode(&wire[at..end], &mut out)?;
        at += step.consumed;
        match step.event {
            Some(e) => push(&mut evs, e, &out),
            None if at == wire.len() => return Ok(evs),
            None => {}
        }
    }
}

#[test]
fn raw_bodies_read_directly() {
    let mut wire = b"0 OK\r\nContent-Length: 20\r\n\r\ncalor que hace hoy, ".to_vec();
    wire.extend_from_slice(b"0 OK\r\n41\r\n0 OK\r\nContent-Length: 3\r\n\r\nabc");
    let want = vec![
        status(0, "OK"),
        data(b"calor que hace hoy, "),
        end(),
        status(0, "OK"),
        size(41),
        end(),
        status(0, "OK"),
        data(b"abc"),
        end(),
    ];
    let expects = [
        Expect::RawSlice { size: 20 },
        Expect::Metadata,
        Expect::RawSlice { size: 3 },
    ];
    for chunk in 1..wire.len() {
        for direct in [1, 2, 7, 100] {
            let mut dec = decoder(&expects);
            let got = feed_direct(&mut dec, &wire, chunk, direct);
            assert_eq!(got.as_ref(), Ok(&want), "chunk {chunk}, direct {direct}");
            assert_eq!(dec.pending(), 0);
        }
    }
}

#[test]
fn raw_body_received_outside_a_body_or_past_it_fails() {
    // Before the body.
    let mut dec = decoder(&[Expect::RawSlice { size: 4 }]);
    assert_eq!(dec.raw_body_remaining(), None);
    assert_eq!(dec.raw_body_received(1), Err(ResponseError::UnexpectedData));
    assert_eq!(
        dec.decode(b"0 OK\r\n", &mut []),
        Err(ResponseError::UnexpectedData)
    );
    // Past the body.
    let mut dec = decoder(&[Expect::RawSlice { size: 4 }]);
    let step = dec
        .decode(b"0 OK\r\nContent-Length: 4\r\n\r\n", &mut [])
        .unwrap();
    assert_eq!(step.consumed, 6);
    let step = dec.decode(b"Content-Length: 4\r\n\r\n", &mut []).unwrap();
    assert_eq!((step.consumed, step.event), (21, None));
    assert_eq!(dec.raw_body_remaining(), Some(4));
    assert_eq!(dec.raw_body_received(5), Err(ResponseError::UnexpectedData));
    assert_eq!(dec.raw_body_remaining(), None);
    assert_eq!(dec.raw_body_received(1), Err(ResponseError::UnexpectedData));
    // Zero bytes are fine, and so is the exact rest.
    let mut dec = decoder(&[Expect::RawSlice { size: 4 }]);
    dec.decode(b"0 OK\r\n", &mut []).unwrap();
    dec.decode(b"Content-Length: 4\r\n\r\n", &mut []).unwrap();
    dec.raw_body_received(0).unwrap();
    dec.raw_body_received(4).unwrap();
    assert_eq!(dec.raw_body_remaining(), None);
    assert_eq!(dec.decode(b"", &mut []).unwrap().event, Some(Event::End));
    // Other responses never have a raw body.
    let mut dec = decoder(&[Expect::Slice { size: 3 }]);
    dec.decode(b"0 OK\r\n", &mut []).unwrap();
    assert_eq!(dec.raw_body_remaining(), None);
}

#[test]
fn raw_slices() {
    let want = |payload: &[u8]| {
        let mut v = vec![status(0, "OK")];
        if !payload.is_empty() {
            v.push(data(payload));
        }
        v.push(end());
        v
    };
    check(
        &[Expect::RawSlice { size: 5 }],
        b"0 OK\r\nContent-Length: 5\r\n\r\nhe\r\no",
        &want(b"he\r\no"),
    );
    check(
        &[Expect::RawSlice { size: 5 }],
        b"0 OK\r\ncontent-length:5\n\nhello",
        &want(b"hello"),
    );
    check(
        &[Expect::RawSlice { size: 3 }],
        b"0 OK\r\nCONTENT-LENGTH:   3  \r\n\r\n\0\xff\n",
        &want(b"\0\xff\n"),
    );
    check(
        &[Expect::RawSlice { size: 0 }],
        b"0 OK\r\nContent-Length: 0\r\n\r\n",
        &want(b""),
    );
    // Pipelined with what follows.
    let mut wire = b"0 OK\r\nContent-Length: 20\r\n\r\ncalor que hace hoy, ".to_vec();
    wire.extend_from_slice(b"0 OK\r\n41\r\n");
    let mut w = want(b"calor que hace hoy, ");
    w.extend([status(0, "OK"), size(41), end()]);
    check(
        &[Expect::RawSlice { size: 20 }, Expect::Metadata],
        &wire,
        &w,
    );

    let err = |size: u64, body: &[u8], want: ResponseError| {
        let mut wire = b"0 OK\r\n".to_vec();
        wire.extend_from_slice(body);
        check_err(&[Expect::RawSlice { size }], &wire, want);
    };
    err(
        5,
        b"Content-Length: 6\r\n\r\nhello!",
        ResponseError::BadContentLength {
            expected: 5,
            got: 6,
        },
    );
    err(
        5,
        b"Content-Length: 99999999999999999999\r\n",
        ResponseError::BadHeader,
    );
    err(5, b"Content-Length 5\r\n", ResponseError::BadHeader);
    err(5, b"Content-Type: 5\r\n", ResponseError::BadHeader);
    err(5, b"Content-Length: x5\r\n", ResponseError::BadHeader);
    err(5, b"\r\n", ResponseError::BadHeader);
    err(
        5,
        b"Content-Length: 5\r\nX: y\r\n\r\nhello",
        ResponseError::MissingBlankLine,
    );
    err(
        5,
        b"Content-Length: 5\r\nhello",
        ResponseError::MissingBlankLine,
    );
}

#[test]
fn pipelined_in_one_input() {
    let expects = [
        Expect::Slice { size: 3 },
        Expect::Metadata,
        Expect::RawSlice { size: 2 },
        Expect::Help,
        Expect::Slice { size: 0 },
        Expect::Quit,
    ];
    let wire = b"0 OK\r\nQUJD\r\n202 FILE NOT FOUND\r\n0 OK\r\nContent-Length: 2\r\n\r\nxy\
                 0 OK\r\nquit\r\n\r\n0 OK\r\n\r\n0 OK\r\n";
    let want = [
        status(0, "OK"),
        data(b"ABC"),
        end(),
        status(202, "FILE NOT FOUND"),
        end(),
        status(0, "OK"),
        data(b"xy"),
        end(),
        status(0, "OK"),
        item("quit"),
        end(),
        status(0, "OK"),
        end(),
        status(0, "OK"),
        end(),
    ];
    check(&expects, wire, &want);
    // One call per event, in order, each borrowing the single input.
    let mut dec = decoder(&expects);
    let mut out = [0u8; 8];
    let mut rest = &wire[..];
    let mut events = 0;
    while dec.pending() > 0 {
        let d = dec.decode(rest, &mut out).unwrap();
        rest = &rest[d.consumed..];
        assert!(d.event.is_some() || d.consumed > 0);
        events += usize::from(d.event.is_some());
    }
    assert_eq!(events, want.len());
    assert!(rest.is_empty());
}

#[test]
fn unexpected_data_sticks() {
    let mut dec = ResponseDecoder::new();
    let mut out = [0u8; 4];
    assert_eq!(
        dec.decode(b"", &mut out),
        Ok(ResponseDecoded {
            consumed: 0,
            event: None
        })
    );
    assert_eq!(
        dec.decode(b"0 OK\r\n", &mut out),
        Err(ResponseError::UnexpectedData)
    );
    assert_eq!(
        dec.decode(b"", &mut out),
        Err(ResponseError::UnexpectedData)
    );
    dec.expect(Expect::Quit);
    assert_eq!(
        dec.decode(b"0 OK\r\n", &mut out),
        Err(ResponseError::UnexpectedData)
    );
    // Bytes after the last expected response.
    check_err(
        &[Expect::Quit],
        b"0 OK\r\nextra",
        ResponseError::UnexpectedData,
    );
    check_err(&[], b"x", ResponseError::UnexpectedData);
}

#[test]
fn later_calls_return_the_first_error() {
    let first = ResponseError::BadStatusLine;
    let mut dec = decoder(&[Expect::Metadata, Expect::RawSlice { size: 4 }]);
    let mut out = [0u8; 8];
    assert_eq!(dec.decode(b"OK\r\n", &mut out), Err(first.clone()));
    // Input that would be fine, or an error of its own, gets the first error.
    assert_eq!(dec.decode(b"0 OK\r\n41\r\n", &mut out), Err(first.clone()));
    assert_eq!(dec.decode(b"\xff\x00", &mut out), Err(first.clone()));
    assert_eq!(dec.decode(b"", &mut out), Err(first.clone()));
    // raw_body_received outside a body would be UnexpectedData.
    assert_eq!(dec.raw_body_received(1), Err(first.clone()));
    dec.expect(Expect::Quit);
    assert_eq!(dec.decode(b"0 OK\r\n", &mut out), Err(first.clone()));
    assert_eq!(dec.raw_body_remaining(), None);

    // And the other way round: a first error from raw_body_received sticks
    // in decode, even past a body that then arrives in full.
    let mut dec = decoder(&[Expect::RawSlice { size: 4 }]);
    dec.decode(b"0 OK\r\nContent-Length: 4\r\n\r\n", &mut out)
        .unwrap();
    dec.decode(b"Content-Length: 4\r\n\r\n", &mut out).unwrap();
    assert_eq!(dec.raw_body_received(5), Err(ResponseError::UnexpectedData));
    assert_eq!(
        dec.decode(b"abcd", &mut out),
        Err(ResponseError::UnexpectedData)
    );
    assert_eq!(dec.raw_body_received(4), Err(ResponseError::UnexpectedData));
}

#[test]
fn zero_length_out() {
    let mut dec = decoder(&[Expect::Slice { size: 3 }]);
    let r = dec.decode(b"0 OK\r\nQUJD\r\n", &mut []).unwrap();
    assert_eq!(r.consumed, 6);
    // No room: the quantum is decoded into the spill, nothing written.
    let r = dec.decode(b"QUJD\r\n", &mut []).unwrap();
    assert_eq!(
        r,
        ResponseDecoded {
            consumed: 4,
            event: None
        }
    );
    assert_eq!(dec.retained(), 3);
    let mut out = [0u8; 2];
    assert_eq!(
        dec.decode(b"\r\n", &mut out).unwrap().event,
        Some(Event::Data(2))
    );
    assert_eq!(&out, b"AB");
    let r = dec.decode(b"\r\n", &mut out).unwrap();
    assert_eq!(
        r,
        ResponseDecoded {
            consumed: 2,
            event: Some(Event::Data(1))
        }
    );
    assert_eq!(out[0], b'C');
    assert_eq!(dec.decode(b"", &mut out).unwrap().event, Some(Event::End));
    assert_eq!(dec.pending(), 0);
}

#[test]
fn retained_is_bounded_and_reported() {
    let mut dec = decoder(&[Expect::Listing]);
    let mut out = [0u8; 1];
    dec.decode(b"0 OK\r\nnotes", &mut out).unwrap();
    assert_eq!(dec.retained(), 0);
    dec.decode(b"notes", &mut out).unwrap();
    assert_eq!(dec.retained(), 5);
    let d = dec.decode(b".txt\r\n", &mut out).unwrap();
    assert_eq!(d.event, Some(Event::Item("notes.txt")));
    // The item borrows the buffer; it is freed on the next call.
    assert_eq!(dec.retained(), 10);
    let d = dec.decode(b"\r\n", &mut out).unwrap();
    assert_eq!(d.event, Some(Event::End));
    assert_eq!(dec.retained(), 0);
}

#[test]
fn expect_for_request() {
    use crate::{FileName, Slice};
    let name = FileName::new("a").unwrap();
    let slice = Slice {
        name,
        offset: 0,
        size: 7,
        raw: false,
    };
    assert_eq!(Expect::for_request(&Request::Help), Expect::Help);
    assert_eq!(Expect::for_request(&Request::Quit), Expect::Quit);
    assert_eq!(
        Expect::for_request(&Request::GetSlice(slice)),
        Expect::Slice { size: 7 }
    );
    let raw = Slice { raw: true, ..slice };
    assert_eq!(
        Expect::for_request(&Request::GetSlice(raw)),
        Expect::RawSlice { size: 7 }
    );
}

fn any_expect() -> impl Strategy<Value = Expect> {
    let size = prop_oneof![0u64..8, 0u64..300, Just(u64::MAX)];
    prop_oneof![
        Just(Expect::Listing),
        Just(Expect::Metadata),
        Just(Expect::Help),
        Just(Expect::Quit),
        size.clone().prop_map(|size| Expect::Slice { size }),
        size.prop_map(|size| Expect::RawSlice { size }),
    ]
}

proptest! {
    #[test]
    fn slices_round_trip(
        payload in proptest::collection::vec(any::<u8>(), 0..5000),
        splits in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
        unpadded in any::<bool>(),
        bare_lf in any::<bool>(),
        chunks in proptest::collection::vec(1usize..700, 1..8),
        out_len in prop_oneof![1usize..8, 1usize..5000],
    ) {
        // Cut the payload into 1..4 non-empty pieces, one line each.
        let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(payload.len().max(1))).collect();
        cuts.retain(|&c| c > 0 && c < payload.len());
        cuts.sort_unstable();
        cuts.dedup();
        let mut wire = b"0 OK\r\n".to_vec();
        let mut last = 0;
        for end in cuts.into_iter().chain([payload.len()]) {
            let mut line = STANDARD.encode_to_string(&payload[last..end]);
            if unpadded {
                line = line.trim_end_matches('=').to_owned();
            }
            wire.extend_from_slice(line.as_bytes());
            wire.extend_from_slice(if bare_lf { b"\n" } else { b"\r\n" });
            last = end;
        }
        wire.extend_from_slice(b"0 OK\r\n");

        let mut dec = decoder(&[Expect::Slice { size: payload.len() as u64 }, Expect::Quit]);
        let mut out = vec![0u8; out_len];
        let mut got = Vec::new();
        let mut events = Vec::new();
        let mut rest = &wire[..];
        let mut i = 0;
        while !rest.is_empty() || dec.pending() > 0 {
            prop_assert!(i < 100_000, "no termination");
            let n = chunks[i % chunks.len()].min(rest.len());
            i += 1;
            let mut piece = &rest[..n];
            loop {
                let d = dec.decode(piece, &mut out).unwrap();
                piece = &piece[d.consumed..];
                match d.event {
                    Some(Event::Data(k)) => got.extend_from_slice(&out[..k]),
                    Some(e) => events.push(format!("{e:?}")),
                    None if piece.is_empty() => break,
                    None => prop_assert!(d.consumed > 0, "livelock"),
                }
                // Base64 state (3 chars, 3 bytes) plus a split status line.
                prop_assert!(dec.retained() <= 3 + 3 + 8);
            }
            prop_assert!(piece.is_empty());
            rest = &rest[n..];
        }
        prop_assert_eq!(got, payload);
        prop_assert_eq!(events, ["Status { code: 0, text: \"OK\" }", "End", "Status { code: 0, text: \"OK\" }", "End"]);
    }

    #[test]
    fn arbitrary_input_never_panics(
        expects in proptest::collection::vec(any_expect(), 0..4),
        prefix in any::<bool>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        alphabet in proptest::collection::vec(
            prop::sample::select(b"QUJD=\r\n 0OK:Content-Length:5\xff".to_vec()), 0..200),
        chunk in 1usize..64,
        out_len in 1usize..16,
    ) {
        let mut input = if prefix { b"0 OK\r\n".to_vec() } else { Vec::new() };
        input.extend_from_slice(&alphabet);
        input.extend_from_slice(&bytes);
        let mut dec = decoder(&expects);
        let mut out = vec![0u8; out_len];
        // Calls are bounded: each consumes input or emits an event, and
        // events that consume nothing are bounded per response.
        let cap = 4 * input.len() + 8 * expects.len() + 16;
        let mut calls = 0;
        'outer: for piece in input.chunks(chunk) {
            let mut rest = piece;
            loop {
                calls += 1;
                prop_assert!(calls <= cap, "no termination");
                match dec.decode(rest, &mut out) {
                    Err(first) => {
                        prop_assert_eq!(dec.decode(b"x", &mut out), Err(first.clone()));
                        prop_assert_eq!(dec.raw_body_received(1), Err(first));
                        break 'outer;
                    }
                    Ok(d) => {
                        prop_assert!(d.consumed <= rest.len());
                        if let Some(Event::Data(n)) = d.event {
                            prop_assert!(n >= 1 && n <= out_len);
                        }
                        let idle = d.event.is_none() && d.consumed == 0;
                        rest = &rest[d.consumed..];
                        if idle {
                            prop_assert!(rest.is_empty(), "livelock");
                            break;
                        }
                    }
                }
                prop_assert!(dec.retained() <= MAX_LINE + 1);
            }
        }
    }
}
