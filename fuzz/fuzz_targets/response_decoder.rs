//! Fuzz target: the streaming response decoder (`hftp_proto::ResponseDecoder`).
//!
//! Each input is decoded (with `arbitrary`) into:
//!
//! * a sequence of expectations and a raw byte stream (what a hostile or
//!   broken server may send);
//! * a sequence of well-formed responses, encoded with `Response::encode`
//!   (or, for some slices, in the liberal forms docs/PROTOCOL.md §3 asks
//!   clients to accept: several base64 lines, no padding, bare LF), plus a
//!   few byte edits to apply to that encoding;
//! * chunk lengths and `out` buffer sizes, used cyclically;
//! * whether the chunked runs take raw slice bodies the zero-copy way
//!   (`raw_body_remaining` / `raw_body_received`, bytes straight from the
//!   chunk) instead of through `decode`.
//!
//! Checks:
//!
//! 1. no panic, for the raw stream, the valid encoding and the edited
//!    encoding;
//! 2. every call returns `consumed <= input.len()`, `Data(n)` with
//!    `1 <= n <= out.len()`, and `retained() <= MAX_LINE + 1`; a call on
//!    non-empty input consumes or returns an event; the number of calls is
//!    bounded by the input size (termination); errors are sticky (later
//!    calls return the first error again);
//! 3. the same stream fed whole (64 KiB `out`) and chunked gives the same
//!    events and the same error (payload before an error may be cut at a
//!    different point, so then it is only checked to be a prefix);
//! 4. round trip: the valid encoding decodes to exactly the responses it was
//!    built from, with nothing retained and nothing pending afterwards.
#![no_main]

use arbitrary::Arbitrary;
use hftp_proto::response_decoder::MAX_LINE;
use hftp_proto::{Expect, FileName, OwnedEvent, Response, ResponseDecoder, ResponseError, Status};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Size {
    Small(u8),
    Medium(u16),
    Any(u64),
}

impl Size {
    fn get(self) -> u64 {
        match self {
            Size::Small(n) => n.into(),
            Size::Medium(n) => n.into(),
            Size::Any(n) => n,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Exp {
    Listing,
    Metadata,
    Slice(Size),
    RawSlice(Size),
    Help,
    Quit,
}

impl Exp {
    fn get(self) -> Expect {
        match self {
            Exp::Listing => Expect::Listing,
            Exp::Metadata => Expect::Metadata,
            Exp::Slice(s) => Expect::Slice { size: s.get() },
            Exp::RawSlice(s) => Expect::RawSlice { size: s.get() },
            Exp::Help => Expect::Help,
            Exp::Quit => Expect::Quit,
        }
    }
}

/// A well-formed response (and what the client expected).
#[derive(Arbitrary, Debug)]
enum Resp {
    /// A non-`0` status answering any request.
    Error {
        status: u8,
        to: Exp,
    },
    /// `0 OK` answering `quit`.
    QuitOk,
    Listing(Vec<Vec<u8>>),
    Metadata(u64),
    Slice(Vec<u8>),
    /// A base64 slice in the liberal forms: split into several lines at
    /// `cuts` (each line a whole base64 encoding), `=` stripped, LF endings.
    LiberalSlice {
        data: Vec<u8>,
        cuts: Vec<u16>,
        unpadded: bool,
        bare_lf: bool,
    },
    RawSlice(Vec<u8>),
    Help,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Chunk lengths (0 = an empty input, then one byte), used cyclically.
    chunks: Vec<u8>,
    /// `out` lengths (0 = 64 KiB), one per call, used cyclically.
    outs: Vec<u8>,
    expects: Vec<Exp>,
    responses: Vec<Resp>,
    /// Byte edits `(position, xor)` for the mutated copy of the encoding.
    edits: Vec<(u16, u8)>,
    raw: Vec<u8>,
    /// Chunked runs take raw bodies directly (zero-copy) rather than
    /// through `decode`.
    direct: bool,
}

/// An event as a run collects it, owned, and for `Data` the payload bytes
/// it counts (consecutive `Data` events merged into one).
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

struct Run {
    events: Vec<Seen>,
    error: Option<ResponseError>,
    pending: usize,
    retained: usize,
}

const BIG_OUT: usize = 64 * 1024;

/// A valid file name made of the fuzz bytes.
fn file_name(bytes: &[u8]) -> String {
    let mut s: String = bytes
        .iter()
        .take(255)
        .map(|&b| match 0x21 + b % 94 {
            b'/' => '_',
            c => char::from(c),
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        s.push('x');
    }
    s
}

fn base64(data: &[u8]) -> Vec<u8> {
    let mut line = Vec::new();
    hftp_proto::slice::encode_line(data, &mut line);
    line.truncate(line.len() - 2);
    line
}

/// Encodes `responses`; returns the wire bytes, the expectations, and the
/// events a correct decoder yields.
fn encode(responses: &[Resp]) -> (Vec<u8>, Vec<Expect>, Vec<Seen>) {
    let mut wire = Vec::new();
    let mut expects = Vec::new();
    let mut events = Vec::new();
    let ok = || status(0, "OK");
    let data = |events: &mut Vec<Seen>, d: &[u8]| {
        if !d.is_empty() {
            push_data(events, d);
        }
    };
    for r in responses {
        match r {
            Resp::Error { status: pick, to } => {
                let errors = &Status::ALL[1..];
                let s = errors[usize::from(*pick) % errors.len()];
                Response::Status(s).encode(&mut wire);
                expects.push(to.get());
                events.push(status(s.code(), s.text()));
            }
            Resp::QuitOk => {
                Response::Status(Status::Ok).encode(&mut wire);
                expects.push(Expect::Quit);
                events.push(ok());
            }
            Resp::Listing(names) => {
                let names: Vec<String> = names.iter().map(|n| file_name(n)).collect();
                let names: Vec<FileName> = names
                    .iter()
                    .map(|n| FileName::new(n).expect("valid name"))
                    .collect();
                Response::Listing(&names).encode(&mut wire);
                expects.push(Expect::Listing);
                events.push(ok());
                events.extend(
                    names
                        .iter()
                        .map(|n| seen(OwnedEvent::Item(n.as_str().to_owned()))),
                );
            }
            Resp::Metadata(n) => {
                Response::Metadata(*n).encode(&mut wire);
                expects.push(Expect::Metadata);
                events.extend([ok(), seen(OwnedEvent::Size(*n))]);
            }
            Resp::Slice(d) => {
                Response::Slice(d).encode(&mut wire);
                expects.push(Expect::Slice {
                    size: d.len() as u64,
                });
                events.push(ok());
                data(&mut events, d);
            }
            Resp::LiberalSlice {
                data: d,
                cuts,
                unpadded,
                bare_lf,
            } => {
                Response::Status(Status::Ok).encode(&mut wire);
                // Non-empty lines: cut points strictly inside the payload.
                let mut cuts: Vec<usize> = cuts
                    .iter()
                    .take(8)
                    .map(|&c| usize::from(c) % d.len().max(1))
                    .filter(|&c| c > 0)
                    .collect();
                cuts.sort_unstable();
                cuts.dedup();
                let mut last = 0;
                for end in cuts.into_iter().chain([d.len()]) {
                    let mut line = base64(&d[last..end]);
                    if *unpadded {
                        while line.last() == Some(&b'=') {
                            line.pop();
                        }
                    }
                    wire.extend_from_slice(&line);
                    wire.extend_from_slice(if *bare_lf { b"\n" } else { b"\r\n" });
                    last = end;
                }
                expects.push(Expect::Slice {
                    size: d.len() as u64,
                });
                events.push(ok());
                data(&mut events, d);
            }
            Resp::RawSlice(d) => {
                Response::RawSlice(d).encode(&mut wire);
                expects.push(Expect::RawSlice {
                    size: d.len() as u64,
                });
                events.push(ok());
                data(&mut events, d);
            }
            Resp::Help => {
                Response::Help.encode(&mut wire);
                expects.push(Expect::Help);
                events.push(ok());
                events.extend(
                    hftp_proto::Command::ALL
                        .iter()
                        .map(|c| seen(OwnedEvent::Item(c.name().to_owned()))),
                );
            }
        }
        events.push(seen(OwnedEvent::End));
    }
    (wire, expects, events)
}

/// Feeds `wire` in chunks of the given lengths (then one empty input to
/// drain events that need no input), with `out` sizes cycling through
/// `outs`, checking the per-call invariants. With `direct`, a chunk that
/// starts inside a raw body gives its body bytes straight to
/// `raw_body_received`, as a zero-copy client does.
fn feed(
    expects: &[Expect],
    wire: &[u8],
    chunks: &[u8],
    outs: &[u8],
    direct: bool,
    out_buf: &mut [u8],
) -> Run {
    let mut dec = ResponseDecoder::new();
    for &e in expects {
        dec.expect(e);
    }
    let mut events = Vec::new();
    let mut calls = 0usize;
    let mut nchunks = 0usize;
    let mut pos = 0usize;
    let mut error = None;
    let mut pending_empty = false;
    while pos < wire.len() || pending_empty {
        let chunk: &[u8] = if pending_empty {
            // After an empty input, one byte (so that lengths of 0 progress).
            pending_empty = false;
            &wire[pos..pos + 1]
        } else {
            let len = match chunks {
                [] => wire.len(),
                _ => usize::from(chunks[nchunks % chunks.len()]),
            };
            pending_empty = len == 0;
            &wire[pos..(pos + len).min(wire.len())]
        };
        nchunks += 1;
        pos += chunk.len();
        let mut chunk = chunk;
        if let (true, Some(left)) = (direct, dec.raw_body_remaining()) {
            assert!(left > 0, "a raw body with nothing left to come");
            let k = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            if let Err(e) = dec.raw_body_received(k) {
                error = Some(e);
                break;
            }
            let now = dec.raw_body_remaining();
            assert_eq!(
                now,
                (left > k as u64).then(|| left - k as u64),
                "raw body left"
            );
            if k > 0 {
                push_data(&mut events, &chunk[..k]);
            }
            chunk = &chunk[k..];
        }
        if let Err(e) = drive(&mut dec, chunk, outs, out_buf, &mut calls, &mut events) {
            error = Some(e);
            break;
        }
    }
    if error.is_none() {
        if let Err(e) = drive(&mut dec, &[], outs, out_buf, &mut calls, &mut events) {
            error = Some(e);
        }
    }
    if let Some(first) = &error {
        let again = dec.decode(b"x", &mut out_buf[..1]);
        assert_eq!(again.as_ref(), Err(first), "errors must be sticky");
        let again = dec.raw_body_received(1);
        assert_eq!(again.as_ref(), Err(first), "errors must be sticky");
    }
    let bound = 4 * wire.len() + 4 * expects.len() + 2 * nchunks + 16;
    assert!(
        calls <= bound,
        "{calls} calls for {} bytes: no termination",
        wire.len()
    );
    Run {
        events,
        error,
        pending: dec.pending(),
        retained: dec.retained(),
    }
}

/// Runs the decoder over one input until it is used up and no event is
/// left that needs no input.
fn drive(
    dec: &mut ResponseDecoder,
    chunk: &[u8],
    outs: &[u8],
    out_buf: &mut [u8],
    calls: &mut usize,
    events: &mut Vec<Seen>,
) -> Result<(), ResponseError> {
    let mut rest = chunk;
    let limit = 4 * chunk.len() + 4096;
    let mut local = 0usize;
    loop {
        local += 1;
        assert!(
            local <= limit,
            "no termination within one input of {} bytes",
            chunk.len()
        );
        let out_len = match outs.get(*calls % outs.len().max(1)) {
            None | Some(0) => BIG_OUT,
            Some(&n) => usize::from(n),
        };
        *calls += 1;
        let out = &mut out_buf[..out_len];
        let step = dec.decode(rest, out)?;
        let consumed = step.consumed;
        assert!(
            consumed <= rest.len(),
            "consumed {consumed} of {}",
            rest.len()
        );
        let ev = step.event.map(OwnedEvent::from);
        if let Some(OwnedEvent::Data(n)) = ev {
            assert!(n >= 1 && n <= out_len, "Data({n}) with out of {out_len}");
        }
        assert!(
            dec.retained() <= MAX_LINE + 1,
            "retained {} > MAX_LINE + 1",
            dec.retained()
        );
        rest = &rest[consumed..];
        match ev {
            Some(OwnedEvent::Data(n)) => push_data(events, &out[..n]),
            Some(e) => events.push(seen(e)),
            None if rest.is_empty() => return Ok(()),
            None => assert!(
                consumed > 0,
                "no event and no progress with {} bytes left",
                rest.len()
            ),
        }
    }
}

/// Appends payload, merged with the payload event before it if any.
fn push_data(events: &mut Vec<Seen>, d: &[u8]) {
    match events.last_mut() {
        Some((OwnedEvent::Data(n), prev)) => {
            *n += d.len();
            prev.extend_from_slice(d);
        }
        _ => events.push((OwnedEvent::Data(d.len()), d.to_vec())),
    }
}

/// Chunked and whole runs of the same stream must agree.
fn check_consistent(whole: &Run, split: &Run, what: &str) {
    assert_eq!(whole.error, split.error, "{what}: error, whole vs chunked");
    let strip = |r: &Run| -> Vec<Seen> {
        r.events
            .iter()
            .filter(|(e, _)| !matches!(e, OwnedEvent::Data(_)))
            .cloned()
            .collect()
    };
    assert_eq!(
        strip(whole),
        strip(split),
        "{what}: events, whole vs chunked"
    );
    if whole.error.is_none() {
        assert_eq!(
            whole.events, split.events,
            "{what}: payload, whole vs chunked"
        );
        assert_eq!(whole.pending, split.pending, "{what}: pending");
        // retained() is buffer capacity, which depends on how lines were
        // split; its bound is checked after every call instead.
        assert!(split.retained <= MAX_LINE + 1, "{what}: retained");
    } else {
        // The call that failed may have decoded payload it then dropped.
        let data = |r: &Run| -> Vec<u8> {
            r.events
                .iter()
                .flat_map(|(_, payload)| payload.iter().copied())
                .collect()
        };
        let (a, b) = (data(whole), data(split));
        let (short, long) = if a.len() <= b.len() {
            (&a, &b)
        } else {
            (&b, &a)
        };
        assert_eq!(
            &long[..short.len()],
            &short[..],
            "{what}: payload is not a common prefix"
        );
    }
}

fuzz_target!(|input: Input| {
    // One buffer for the whole process: a fresh 64 KiB per input would cost
    // more than the decoding under ASan.
    thread_local! {
        static OUT: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; BIG_OUT]);
    }
    OUT.with_borrow_mut(|out_buf| check(input, out_buf));
});

fn check(input: Input, out_buf: &mut [u8]) {
    // 1. Arbitrary bytes against arbitrary expectations.
    let expects: Vec<Expect> = input.expects.iter().take(16).map(|e| e.get()).collect();
    let whole = feed(&expects, &input.raw, &[], &[], false, out_buf);
    let split = feed(
        &expects,
        &input.raw,
        &input.chunks,
        &input.outs,
        input.direct,
        out_buf,
    );
    check_consistent(&whole, &split, "raw");

    // 2. Round trip of well-formed responses.
    let (wire, expects, want) = encode(&input.responses);
    for (chunks, outs, direct) in [
        (&[][..], &[][..], false),
        (&input.chunks[..], &input.outs[..], input.direct),
    ] {
        let run = feed(&expects, &wire, chunks, outs, direct, out_buf);
        assert_eq!(run.error, None, "valid responses rejected");
        assert_eq!(run.events, want, "round trip");
        assert_eq!(run.pending, 0, "responses left pending");
        assert_eq!(run.retained, 0, "bytes retained after the last response");
    }

    // 3. The same encoding with a few bytes changed: no panic, consistent.
    if !input.edits.is_empty() && !wire.is_empty() {
        let mut edited = wire;
        for &(at, xor) in input.edits.iter().take(4) {
            let at = usize::from(at) % edited.len();
            edited[at] ^= xor.max(1);
        }
        let whole = feed(&expects, &edited, &[], &[], false, out_buf);
        let split = feed(
            &expects,
            &edited,
            &input.chunks,
            &input.outs,
            input.direct,
            out_buf,
        );
        check_consistent(&whole, &split, "edited");
    }
}
