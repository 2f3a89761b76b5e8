//! Property tests of `hftp-proto`: request round trips, fragmentation
//! independence of the streaming decoder, its bounded memory, the
//! equivalence of compacted long lines with the unbounded parser, and the
//! incremental base64 slice encoder against an independent reference.

use hftp_proto::slice::encode_line;
use hftp_proto::{
    parse_line, FileName, Request, RequestDecoder, RequestError, Slice, SliceEncoder,
};
use proptest::prelude::*;
use proptest::sample::Index;

/// `cases` cases, or `PROPTEST_CASES` when set (for longer runs).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        // Do not write regression files into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The design bound on the decoder's memory (well under `MAX_RETAINED`).
const DESIGN_RETAINED: usize = 512;

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// An owned request, from which a borrowing [`Request`] is built.
#[derive(Debug, Clone)]
enum OwnedReq {
    Listing,
    Meta(String),
    Slice(String, u64, u64, bool),
    Quit,
    Help,
}

impl OwnedReq {
    fn as_request(&self) -> Request<'_> {
        fn name(n: &str) -> FileName<'_> {
            FileName::new(n).expect("strategy makes valid names")
        }
        match self {
            OwnedReq::Listing => Request::GetFileListing,
            OwnedReq::Meta(n) => Request::GetMetadata {
                name: FileName::new(n).expect("valid name"),
            },
            OwnedReq::Slice(n, offset, size, raw) => Request::GetSlice(Slice {
                name: name(n),
                offset: *offset,
                size: *size,
                raw: *raw,
            }),
            OwnedReq::Quit => Request::Quit,
            OwnedReq::Help => Request::Help,
        }
    }
}

fn name_byte() -> impl Strategy<Value = u8> {
    // 0x21-0x7E without '/' (0x2F).
    prop_oneof![0x21u8..=0x2e, 0x30u8..=0x7e]
}

/// Valid file names of 1..=255 bytes, biased towards short ones and the
/// 255-byte maximum.
fn file_name() -> impl Strategy<Value = String> {
    let bytes = prop_oneof![
        4 => prop::collection::vec(name_byte(), 1..=12),
        2 => prop::collection::vec(name_byte(), 1..=255),
        1 => prop::collection::vec(name_byte(), 255..=255),
        1 => prop::collection::vec(prop_oneof![Just(b'.'), name_byte()], 1..=4),
    ];
    bytes
        .prop_filter("not . or ..", |v| v != b"." && v != b"..")
        .prop_map(|v| String::from_utf8(v).expect("ASCII"))
}

fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => any::<u64>(),
        3 => 0u64..1000,
        1 => Just(0u64),
        1 => Just(u64::MAX),
        1 => (u64::MAX - 1000)..=u64::MAX,
    ]
}

fn request() -> impl Strategy<Value = OwnedReq> {
    prop_oneof![
        1 => Just(OwnedReq::Listing),
        1 => Just(OwnedReq::Quit),
        1 => Just(OwnedReq::Help),
        3 => file_name().prop_map(OwnedReq::Meta),
        4 => (file_name(), number(), number(), any::<bool>())
            .prop_map(|(n, o, s, r)| OwnedReq::Slice(n, o, s, r)),
    ]
}

/// How a byte stream is cut into the inputs of successive `decode` calls.
#[derive(Debug, Clone)]
enum Chunking {
    /// Cut at these points (indices into the stream).
    Points(Vec<Index>),
    /// Chunks of these sizes, cycled.
    Sizes(Vec<usize>),
}

fn chunking() -> impl Strategy<Value = Chunking> {
    prop_oneof![
        prop::collection::vec(any::<Index>(), 0..12).prop_map(Chunking::Points),
        prop::collection::vec(1usize..=5, 1..6).prop_map(Chunking::Sizes),
        prop::collection::vec(1usize..=200, 1..6).prop_map(Chunking::Sizes),
    ]
}

fn cut<'d>(data: &'d [u8], how: &Chunking) -> Vec<&'d [u8]> {
    match how {
        Chunking::Points(points) => {
            let mut at: Vec<usize> = points.iter().map(|i| i.index(data.len() + 1)).collect();
            at.push(0);
            at.push(data.len());
            at.sort_unstable();
            at.dedup();
            at.windows(2).map(|w| &data[w[0]..w[1]]).collect()
        }
        Chunking::Sizes(sizes) => {
            let mut out = Vec::new();
            let mut rest = data;
            for &size in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (a, b) = rest.split_at(size.min(rest.len()));
                out.push(a);
                rest = b;
            }
            out
        }
    }
}

/// Decimal numbers around `u64::MAX` (19 to 22 digits), sometimes with
/// leading zeros: some fit, some saturate.
fn u64_boundary() -> impl Strategy<Value = String> {
    let max = u128::from(u64::MAX);
    let value = prop_oneof![
        (max - 1000)..=(max + 1000),
        (max / 10)..=(max * 60),
        any::<u64>().prop_map(u128::from),
    ];
    (value, prop_oneof![3 => Just(0usize), 1 => 1usize..30])
        .prop_map(|(v, zeros)| format!("{}{v}", "0".repeat(zeros)))
}

/// A fragment of a "request-like" stream.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let word = prop_oneof![
        Just("get_file_listing"),
        Just("get_metadata"),
        Just("get_slice"),
        Just("quit"),
        Just("help"),
        Just("raw"),
        Just("rawx"),
        Just("RAW"),
        Just("QUIT"),
        Just("verdura"),
        Just("notes.txt"),
        Just("../x"),
        Just("."),
        Just(".."),
        Just("..."),
        Just("/"),
        Just("0"),
        Just("000"),
        Just("-1"),
        Just("0x10"),
        Just("18446744073709551615"),
        Just("18446744073709551616"),
    ]
    .prop_map(|s| s.as_bytes().to_vec());
    prop_oneof![
        8 => word,
        6 => Just(b" ".to_vec()),
        1 => Just(b"  ".to_vec()),
        4 => Just(b"\r\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        1 => Just(b"\n".to_vec()),
        2 => "[0-9]{1,25}".prop_map(String::into_bytes),
        1 => "[1-9][0-9]{18,21}".prop_map(String::into_bytes),
        1 => u64_boundary().prop_map(String::into_bytes),
        2 => "[!-~]{1,12}".prop_map(String::into_bytes),
        1 => prop_oneof![0u8..0x20, 0x7fu8..=0xff].prop_map(|b| vec![b]),
        1 => (prop::sample::select(&b"0 a/.9xr\r\n\x00"[..]), 1usize..600).prop_map(|(b, n)| vec![b; n]),
    ]
}

fn request_like_stream() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(fragment(), 0..40).prop_map(|v| v.concat())
}

fn any_stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        request_like_stream(),
        request_like_stream(),
    ]
}

// ---------------------------------------------------------------------------
// Driving the decoder
// ---------------------------------------------------------------------------

type Item<'a> = Result<Request<'a>, RequestError>;

/// Feeds `chunks` to `dec`, calling `f` with every item, and checks the
/// decoder's invariants (progress, memory bound) after every call.
fn feed<'c>(
    dec: &mut RequestDecoder,
    chunks: impl IntoIterator<Item = &'c [u8]>,
    mut f: impl FnMut(&Item<'_>),
) {
    for chunk in chunks {
        let mut input = chunk;
        while !input.is_empty() {
            let len = input.len();
            let step = dec.decode(input);
            let consumed = step.consumed;
            assert!(consumed <= len);
            match &step.item {
                Some(item) => {
                    assert!(consumed > 0, "an item with no input consumed");
                    f(item);
                }
                None => assert_eq!(consumed, len, "no item, yet input left over"),
            }
            let retained = dec.retained();
            assert!(
                retained <= RequestDecoder::MAX_RETAINED,
                "retained {retained}"
            );
            assert!(retained <= DESIGN_RETAINED, "retained {retained}");
            input = &input[consumed..];
        }
    }
}

/// The owned outcome of decoding: every item's `Debug`, and the final state.
fn outcome<'c>(
    max_line: usize,
    chunks: impl IntoIterator<Item = &'c [u8]>,
) -> (Vec<String>, bool, bool) {
    let mut dec = RequestDecoder::with_max_line(max_line);
    let mut items = Vec::new();
    let mut fatal_seen = false;
    feed(&mut dec, chunks, |item| {
        assert!(!fatal_seen, "an item after a fatal error: {item:?}");
        fatal_seen = matches!(item, Err(e) if e.is_fatal());
        items.push(format!("{item:?}"));
    });
    assert_eq!(dec.has_failed(), fatal_seen);
    (items, dec.has_failed(), dec.in_line())
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    /// Every request encodes to a line that decodes back to it, however the
    /// line is fragmented.
    #[test]
    fn request_round_trip(req in request(), how in chunking()) {
        let req = req.as_request();
        let wire = req.to_bytes();
        prop_assert_eq!(parse_line(&wire[..wire.len() - 2]), Ok(req));
        for chunks in [vec![&wire[..]], cut(&wire, &how)] {
            let mut dec = RequestDecoder::new();
            let mut got = Vec::new();
            feed(&mut dec, chunks, |item| got.push(*item == Ok(req)));
            prop_assert_eq!(got, vec![true]);
            prop_assert!(!dec.in_line() && !dec.has_failed());
        }
    }

    /// Pipelined requests come back in order, however the stream is cut.
    #[test]
    fn pipelined_round_trip(reqs in prop::collection::vec(request(), 0..24), how in chunking()) {
        let reqs: Vec<Request> = reqs.iter().map(OwnedReq::as_request).collect();
        let mut wire = Vec::new();
        for r in &reqs {
            r.encode(&mut wire);
        }
        for chunks in [vec![&wire[..]], cut(&wire, &how), wire.chunks(1).collect()] {
            let mut dec = RequestDecoder::new();
            let mut i = 0;
            feed(&mut dec, chunks, |item| {
                assert_eq!(item, &Ok(reqs[i]), "request {}", i);
                i += 1;
            });
            prop_assert_eq!(i, reqs.len());
            prop_assert!(!dec.in_line() && !dec.has_failed());
        }
    }

    /// Any byte stream gives the same results whole and fragmented.
    #[test]
    fn fragmentation_independent(data in any_stream(), how in chunking()) {
        let max = RequestDecoder::DEFAULT_MAX_LINE;
        let whole = outcome(max, [&data[..]]);
        prop_assert_eq!(&outcome(max, cut(&data, &how)), &whole);
        prop_assert_eq!(&outcome(max, data.chunks(1)), &whole);
    }

    /// The decoder answers a line as `parse_line` does (whatever bytes
    /// the line holds), however it is fragmented.
    #[test]
    fn decoder_agrees_with_parse_line(data in any_stream(), how in chunking()) {
        let end = data.windows(2).position(|w| w == b"\r\n").unwrap_or(data.len());
        let line = &data[..end];
        let mut wire = line.to_vec();
        wire.extend_from_slice(b"\r\n");
        let want = format!("{:?}", parse_line(line));
        for chunks in [vec![&wire[..]], cut(&wire, &how)] {
            let (items, _, _) = outcome(RequestDecoder::DEFAULT_MAX_LINE, chunks);
            prop_assert_eq!(&items, &vec![want.clone()]);
        }
    }

    /// The same with a small hard limit on the line.
    #[test]
    fn fragmentation_independent_small_limit(data in any_stream(), max in 0usize..300, how in chunking()) {
        let whole = outcome(max, [&data[..]]);
        prop_assert_eq!(&outcome(max, cut(&data, &how)), &whole);
        prop_assert_eq!(&outcome(max, data.chunks(1)), &whole);
    }

    /// The decoder's memory stays bounded whatever it is fed (the bound is
    /// checked after every call by `feed`).
    #[test]
    fn retained_memory_is_bounded(
        data in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..4096),
            request_like_stream(),
            long_line().prop_map(|l| l.into_bytes()),
        ],
        max in prop_oneof![Just(RequestDecoder::DEFAULT_MAX_LINE), 0usize..5000],
        how in chunking(),
    ) {
        let mut dec = RequestDecoder::with_max_line(max);
        feed(&mut dec, cut(&data, &how), |_| {});
        prop_assert!(dec.retained() <= DESIGN_RETAINED);
    }
}

// ---------------------------------------------------------------------------
// Long lines: compaction equals the unbounded parser
// ---------------------------------------------------------------------------

/// A long element: a fragment repeated 300..3000 times, with a head or tail.
fn long_element() -> impl Strategy<Value = String> {
    let n = 300usize..3000;
    prop_oneof![
        // digits with leading zeros, the significant part short or long
        (n.clone(), "[0-9]{0,25}").prop_map(|(n, d)| format!("{}{d}", "0".repeat(n))),
        (n.clone(), "[1-9][0-9]{0,3}").prop_map(|(n, d)| d.repeat(n)),
        // digits with a late non-digit
        (n.clone(), "[!-/:-~]").prop_map(|(n, c)| format!("{}{c}", "0".repeat(n))),
        (n.clone(), "[!-/:-~]", "[0-9]{0,30}")
            .prop_map(|(n, c, d)| format!("{}{c}{d}", "7".repeat(n))),
        // names, with a late '/' or none
        (n.clone(), "[!-.0-~]{1,3}").prop_map(|(n, s)| s.repeat(n)),
        (n.clone(), "[!-.0-~]{1,3}", 0usize..4000).prop_map(|(n, s, at)| {
            let mut name = s.repeat(n);
            let at = at.min(name.len());
            name.insert(at, '/');
            name
        }),
        n.clone().prop_map(|n| ".".repeat(n)),
        // long commands and long raw flags
        (
            n.clone(),
            prop::sample::select(vec![
                "quit",
                "help",
                "get_slice",
                "get_file_listing",
                "raw",
                "x"
            ])
        )
            .prop_map(|(n, s)| s.repeat(n)),
        n.clone().prop_map(|n| format!("raw{}", "w".repeat(n))),
        // many extra arguments, many spaces
        (n.clone(), "[!-~]{1,3}").prop_map(|(n, s)| vec![s; n].join(" ")),
        n.clone().prop_map(|n| " ".repeat(n)),
        (n, "[!-~]{1,3}").prop_map(|(n, s)| format!("{}{s}", " ".repeat(n))),
    ]
}

fn short_element() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "get_file_listing",
            "get_metadata",
            "get_slice",
            "quit",
            "help",
            "raw",
            "rawx",
            "RAW",
            "notes.txt",
            ".",
            "..",
            "...",
            "a/b",
            "0",
            "00",
            "-1",
            "+1",
            "0x10",
            "1e3",
            "18446744073709551615",
            "18446744073709551616",
            "get_file_listingx",
        ])
        .prop_map(String::from),
        "[0-9]{1,22}",
        "[1-9][0-9]{18,21}",
        "[!-~]{1,8}",
    ]
}

fn element() -> impl Strategy<Value = String> {
    prop_oneof![3 => short_element(), 2 => long_element()]
}

fn command_element() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec!["get_file_listing", "get_metadata", "get_slice", "quit", "help"])
            .prop_map(String::from),
        1 => short_element(),
        1 => long_element(),
    ]
}

fn join(first: String, rest: impl IntoIterator<Item = String>) -> String {
    let mut line = first;
    for a in rest {
        line.push(' ');
        line.push_str(&a);
    }
    line
}

/// A printable request line (no CRLF) with some long elements, its
/// elements in no particular order.
fn unstructured_line() -> impl Strategy<Value = String> {
    (command_element(), prop::collection::vec(element(), 0..6))
        .prop_map(|(cmd, args)| join(cmd, args))
}

/// A FILENAME argument: valid or not, short or long.
fn name_element() -> impl Strategy<Value = String> {
    let n = 250usize..3000;
    prop_oneof![
        3 => file_name(),
        1 => prop::sample::select(vec!["", ".", "..", "...", "a/b", "../x", "/"]).prop_map(String::from),
        1 => (250usize..=260).prop_map(|n| "n".repeat(n)),
        2 => (n.clone(), "[!-.0-~]{1,3}").prop_map(|(n, s)| s.repeat(n)),
        2 => (n.clone(), "[!-.0-~]{1,3}", 0usize..4000).prop_map(|(n, s, at)| {
            let mut name = s.repeat(n);
            name.insert(at.min(name.len()), '/');
            name
        }),
        1 => n.prop_map(|n| ".".repeat(n)),
    ]
}

/// An OFFSET or SIZE argument: valid or not, short or long.
fn number_element() -> impl Strategy<Value = String> {
    let n = 300usize..3000;
    prop_oneof![
        3 => "[0-9]{1,20}",
        3 => "[1-9][0-9]{18,21}",
        3 => u64_boundary(),
        1 => prop::sample::select(vec!["", "0", "-1", "+1", "0x10", "1e3", "18446744073709551615", "18446744073709551616"])
            .prop_map(String::from),
        2 => (n.clone(), "[0-9]{0,25}").prop_map(|(n, d)| format!("{}{d}", "0".repeat(n))),
        1 => (n.clone(), "[1-9]{1,3}").prop_map(|(n, d)| d.repeat(n)),
        1 => (n.clone(), "[!-/:-~]", "[0-9]{0,30}").prop_map(|(n, c, d)| format!("{}{c}{d}", "0".repeat(n))),
        1 => (n, "[!-/:-~]").prop_map(|(n, c)| format!("{}{c}", "1".repeat(n))),
        1 => ("[0-9]{0,30}", "[!-/:-~]", "[0-9]{0,30}").prop_map(|(a, c, b)| format!("{a}{c}{b}")),
    ]
}

/// The optional fifth element of get_slice.
fn raw_element() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("raw".to_string()),
        2 => prop::sample::select(vec!["", "r", "ra", "rawx", "RAW", "xraw", "rawraw"]).prop_map(String::from),
        1 => (1usize..3000).prop_map(|n| format!("raw{}", "w".repeat(n))),
    ]
}

/// What may follow the arguments: nothing (mostly), extra arguments or
/// spaces, short or long.
fn extras() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        6 => Just(Vec::new()),
        2 => prop::collection::vec(element(), 1..3),
        1 => (1usize..3000).prop_map(|n| vec![String::new(); n]),
        1 => (1usize..3000, "[!-~]{1,3}").prop_map(|(n, s)| vec![s; n]),
    ]
}

/// A request line (no CRLF) shaped like a real request: the right kind of
/// element in each position, each of them possibly long or malformed.
fn structured_line() -> impl Strategy<Value = String> {
    let cmd = prop::sample::select(vec!["get_file_listing", "quit", "help"]).prop_map(String::from);
    prop_oneof![
        4 => (name_element(), number_element(), number_element(), prop::option::of(raw_element()), extras())
            .prop_map(|(name, offset, size, raw, extras)| {
                join("get_slice".into(), [name, offset, size].into_iter().chain(raw).chain(extras))
            }),
        2 => (name_element(), extras()).prop_map(|(name, extras)| {
            join("get_metadata".into(), std::iter::once(name).chain(extras))
        }),
        1 => (cmd, extras()).prop_map(|(cmd, extras)| join(cmd, extras)),
    ]
}

/// A printable request line (no CRLF), often with long elements.
fn long_line() -> impl Strategy<Value = String> {
    prop_oneof![unstructured_line(), structured_line()]
}

proptest! {
    #![proptest_config(config(96))]

    /// A line fed in small pieces (so the decoder compacts it) gets exactly
    /// the answer `parse_line` gives the whole line; the next request
    /// follows normally.
    #[test]
    fn long_line_equivalence(line in long_line(), sizes in prop::collection::vec(1usize..=31, 1..5)) {
        let line = line.as_bytes();
        let want = format!("{:?}", parse_line(line));
        let mut wire = line.to_vec();
        wire.extend_from_slice(b"\r\nhelp\r\n");
        for chunks in [vec![&wire[..]], cut(&wire, &Chunking::Sizes(sizes.clone()))] {
            let (items, _, in_line) = outcome(RequestDecoder::DEFAULT_MAX_LINE, chunks);
            prop_assert!(!in_line);
            prop_assert_eq!(&items[0], &want);
            let fatal = parse_line(line).is_err_and(|e| e.is_fatal());
            if fatal {
                prop_assert_eq!(items.len(), 1);
            } else {
                prop_assert_eq!(&items[1..], &[format!("{:?}", Ok::<_, RequestError>(Request::Help))]);
            }
        }
    }

    /// A long line cut at arbitrary points, too.
    #[test]
    fn long_line_equivalence_points(line in long_line(), points in prop::collection::vec(any::<Index>(), 1..40)) {
        let line = line.as_bytes();
        let mut wire = line.to_vec();
        wire.extend_from_slice(b"\r\n");
        let (items, _, _) = outcome(RequestDecoder::DEFAULT_MAX_LINE, cut(&wire, &Chunking::Points(points)));
        prop_assert_eq!(items, vec![format!("{:?}", parse_line(line))]);
    }
}

// ---------------------------------------------------------------------------
// SliceEncoder against a reference base64
// ---------------------------------------------------------------------------

/// A plain, independent base64 encoder (RFC 4648, standard alphabet, `=`
/// padding) to check the SIMD one against.
fn reference_base64(data: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let b = |i: usize| u32::from(group.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

#[test]
fn reference_base64_vectors() {
    for (data, b64) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(reference_base64(data.as_bytes()), b64.as_bytes());
    }
    assert_eq!(
        reference_base64(b"calor que hace hoy, "),
        b"Y2Fsb3IgcXVlIGhhY2UgaG95LCA="
    );
    assert_eq!(reference_base64(&[0xfb, 0xff, 0xbf]), b"+/+/");
}

fn slice_data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 0..10_000),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn slice_encoder_matches_reference(data in slice_data(), how in chunking()) {
        let mut want = reference_base64(&data);
        want.extend_from_slice(b"\r\n");

        let mut line = Vec::new();
        encode_line(&data, &mut line);
        prop_assert_eq!(&line, &want);

        let chunks = cut(&data, &how);

        // encode, into a Vec.
        let mut enc = SliceEncoder::new(data.len() as u64);
        let mut line = b"prefix".to_vec();
        for (i, c) in chunks.iter().enumerate() {
            enc.encode(c, &mut line).unwrap();
            if i % 3 == 0 {
                enc.encode(&[], &mut line).unwrap();
            }
        }
        prop_assert_eq!(enc.remaining(), 0);
        enc.finish(&mut line).unwrap();
        prop_assert_eq!(&line[..6], b"prefix");
        prop_assert_eq!(&line[6..], &want[..]);

        // encode_to_slice, each call given exactly max_output bytes.
        let mut enc = SliceEncoder::new(data.len() as u64);
        let mut out = vec![0u8; want.len() + 4 * chunks.len() + SliceEncoder::MAX_FINISH];
        let mut n = 0;
        for c in &chunks {
            let room = SliceEncoder::max_output(c.len());
            n += enc.encode_to_slice(c, &mut out[n..n + room]).unwrap();
        }
        n += enc.finish_to_slice(&mut out[n..n + SliceEncoder::MAX_FINISH]).unwrap();
        prop_assert_eq!(&out[..n], &want[..]);
    }
}
