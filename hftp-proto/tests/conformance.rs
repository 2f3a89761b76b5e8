//! Table-driven conformance test of `hftp-proto` against docs/PROTOCOL.md.
//!
//! Every row is one rule or error case of the spec: a description, the bytes
//! a client sends, and the sequence of results the server-side
//! [`RequestDecoder`] must produce, each as a status code and (usually) the
//! exact [`Request`] or [`RequestError`]. Every row is run several ways —
//! the whole input in one call, one byte per call, split at every single
//! point (small rows), and in chunks of various sizes — and every way must
//! give the same sequence, while the decoder never retains more than
//! [`RequestDecoder::MAX_RETAINED`] bytes.
//!
//! The second half checks the encoders (status lines, responses, requests)
//! against the bytes the spec prescribes, including the example exchange of
//! docs/PROTOCOL.md §1.

use hftp_proto::response::{
    encode_end, encode_item, encode_raw_header, encode_size, encode_status,
};
use hftp_proto::slice::encode_line;
use hftp_proto::{
    ArgumentError, Command, Decoded, FileName, FileNameError, Request, RequestDecoder,
    RequestError, Response, Slice, SliceEncoder, Status,
};

// ---------------------------------------------------------------------------
// Rows and expectations
// ---------------------------------------------------------------------------

/// One expected result: the status code the server answers with, and
/// optionally the exact request or error the decoder must return.
type Exp = (u16, Option<Result<Request<'static>, RequestError>>);

struct Row {
    desc: String,
    /// `None`: the default hard limit (16 MiB).
    max_line: Option<usize>,
    input: Vec<u8>,
    expect: Vec<Exp>,
}

fn row(desc: impl Into<String>, input: impl Into<Vec<u8>>, expect: Vec<Exp>) -> Row {
    Row {
        desc: desc.into(),
        max_line: None,
        input: input.into(),
        expect,
    }
}

fn row_max(
    desc: impl Into<String>,
    max_line: usize,
    input: impl Into<Vec<u8>>,
    expect: Vec<Exp>,
) -> Row {
    Row {
        desc: desc.into(),
        max_line: Some(max_line),
        input: input.into(),
        expect,
    }
}

/// A successful request (`0 OK`).
fn ok(req: Request<'static>) -> Exp {
    (0, Some(Ok(req)))
}

/// An error with its status code.
fn e(code: u16, err: RequestError) -> Exp {
    (code, Some(Err(err)))
}

/// `201` with its detail.
fn inv(command: Command, reason: ArgumentError) -> Exp {
    e(201, RequestError::InvalidArguments { command, reason })
}

fn bad_eol() -> Exp {
    e(100, RequestError::BadEol)
}

fn bad_byte(b: u8) -> Exp {
    e(101, RequestError::InvalidByte(b))
}

fn empty_line() -> Exp {
    e(101, RequestError::EmptyLine)
}

fn too_long(limit: usize) -> Exp {
    e(101, RequestError::LineTooLong { limit })
}

fn no_such_command() -> Exp {
    e(200, RequestError::NoSuchCommand)
}

fn name_too_long() -> Exp {
    e(202, RequestError::FileNameTooLong)
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn fname(s: &'static str) -> FileName<'static> {
    FileName::new(s).unwrap_or_else(|e| panic!("test bug: {s:?} is not a valid name: {e}"))
}

fn meta(name: &'static str) -> Request<'static> {
    Request::GetMetadata { name: fname(name) }
}

fn slice(name: &'static str, offset: u64, size: u64, raw: bool) -> Request<'static> {
    Request::GetSlice(Slice {
        name: fname(name),
        offset,
        size,
        raw,
    })
}

fn line(s: &str) -> Vec<u8> {
    format!("{s}\r\n").into_bytes()
}

const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------
// Running a row
// ---------------------------------------------------------------------------

/// The owned form of one decoder result: its status code and its `Debug`.
type Got = (u16, String);

fn owned(item: &Result<Request<'_>, RequestError>) -> Got {
    let code = match item {
        Ok(_) => 0,
        Err(err) => err.status().code(),
    };
    (code, format!("{item:?}"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    items: Vec<Got>,
    failed: bool,
    in_line: bool,
}

/// Feeds `chunks` to a fresh decoder, checking the API's invariants after
/// every call; returns what came out.
fn run<'c>(
    max_line: Option<usize>,
    chunks: impl IntoIterator<Item = &'c [u8]>,
    empty_calls: bool,
) -> Result<Outcome, String> {
    let mut dec = match max_line {
        Some(n) => RequestDecoder::with_max_line(n),
        None => RequestDecoder::new(),
    };
    let mut items: Vec<Got> = Vec::new();
    let mut fed = 0usize;
    for chunk in chunks {
        let mut input = chunk;
        while !input.is_empty() {
            let len = input.len();
            let step = dec.decode(input);
            let consumed = step.consumed;
            let got = step.item.as_ref().map(owned);
            if consumed > len {
                return Err(format!("consumed {consumed} of {len} bytes"));
            }
            match got {
                Some(got) => {
                    if consumed == 0 {
                        return Err(format!("item {got:?} returned with 0 bytes consumed"));
                    }
                    if let Some(last) = items.last() {
                        if (100..200).contains(&last.0) {
                            return Err(format!("item {got:?} returned after fatal {last:?}"));
                        }
                    }
                    items.push(got);
                }
                None if consumed != len => {
                    return Err(format!(
                        "no item but only {consumed} of {len} bytes consumed"
                    ));
                }
                None => {}
            }
            if dec.retained() > RequestDecoder::MAX_RETAINED {
                return Err(format!(
                    "retained {} bytes after byte {fed}",
                    dec.retained()
                ));
            }
            fed += consumed;
            input = &input[consumed..];
        }
        if empty_calls {
            let step = dec.decode(&[]);
            if step
                != (Decoded {
                    consumed: 0,
                    item: None,
                })
            {
                return Err(format!("decode(&[]) gave {step:?}"));
            }
        }
    }
    let failed = dec.has_failed();
    let last_fatal = items.last().is_some_and(|(c, _)| (100..200).contains(c));
    if failed != last_fatal {
        return Err(format!(
            "has_failed() = {failed} but last item fatal = {last_fatal}"
        ));
    }
    Ok(Outcome {
        items,
        failed,
        in_line: dec.in_line(),
    })
}

fn show(input: &[u8]) -> String {
    if input.len() <= 300 {
        format!("{:?}", String::from_utf8_lossy(input))
    } else {
        format!(
            "<{} bytes: {:?}...>",
            input.len(),
            String::from_utf8_lossy(&input[..80])
        )
    }
}

fn check_expected(row: &Row, got: &Outcome) -> Result<(), String> {
    let mismatch = || {
        let want: Vec<String> = row
            .expect
            .iter()
            .map(|(code, detail)| match detail {
                Some(d) => format!("({code}, {d:?})"),
                None => format!("({code}, _)"),
            })
            .collect();
        let want = want.join(", ");
        let got = if got.items.len() > 20 {
            format!("{} items, first {:?}", got.items.len(), &got.items[..20])
        } else {
            format!("{:?}", got.items)
        };
        format!("want [{want}]\n      got {got}")
    };
    if got.items.len() != row.expect.len() {
        return Err(mismatch());
    }
    for (g, (code, detail)) in got.items.iter().zip(&row.expect) {
        if g.0 != *code {
            return Err(mismatch());
        }
        if let Some(d) = detail {
            if g.1 != format!("{d:?}") {
                return Err(mismatch());
            }
        }
    }
    Ok(())
}

/// Runs every row every way; panics listing every failing row.
fn check_rows(rows: Vec<Row>) {
    let mut failures = Vec::new();
    for row in &rows {
        if let Err(msg) = check_row(row) {
            failures.push(format!(
                "row {:?} (input {}):\n    {msg}",
                row.desc,
                show(&row.input)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

fn check_row(row: &Row) -> Result<(), String> {
    let input = &row.input[..];
    let whole = run(row.max_line, [input], true).map_err(|m| format!("whole: {m}"))?;
    check_expected(row, &whole).map_err(|m| format!("whole: {m}"))?;
    if whole.failed && !input.is_empty() {
        // Feeding more after a fatal error changes nothing.
        let more = run(
            row.max_line,
            [input, b"help\r\n".as_slice(), b"quit\r\n".as_slice()],
            true,
        )?;
        if more != whole {
            return Err(format!(
                "input after the fatal error changed the outcome: {more:?}"
            ));
        }
    }
    // A single request line: `parse_line` on the line alone agrees.
    let crlfs = input.windows(2).filter(|w| w == b"\r\n").count();
    if row.max_line.is_none() && crlfs == 1 && input.ends_with(b"\r\n") && input.len() <= 8 * MIB {
        let parsed = vec![owned(&hftp_proto::parse_line(&input[..input.len() - 2]))];
        if parsed != whole.items {
            return Err(format!(
                "parse_line gives {parsed:?}, the decoder {:?}",
                whole.items
            ));
        }
    }
    let same = |mode: &str, out: Result<Outcome, String>| -> Result<(), String> {
        let out = out.map_err(|m| format!("{mode}: {m}"))?;
        if out != whole {
            let mut msg = format!(
                "{mode} differs from whole input:\n      whole {whole:?}\n      {mode} {out:?}"
            );
            msg.truncate(4000);
            return Err(msg);
        }
        Ok(())
    };
    let big = input.len() > 256 * 1024;
    if big {
        // The MiB rows: 64 KiB chunks (and an odd chunk size), not byte by byte.
        for size in [64 * 1024, 4093] {
            same(
                &format!("{size}-byte chunks"),
                run(row.max_line, input.chunks(size), false),
            )?;
        }
        return Ok(());
    }
    same(
        "one byte per call",
        run(row.max_line, input.chunks(1), true),
    )?;
    for size in [2, 3, 7, 64, 4096] {
        if size < input.len() {
            same(
                &format!("{size}-byte chunks"),
                run(row.max_line, input.chunks(size), false),
            )?;
        }
    }
    if input.len() <= 1024 {
        for k in 1..input.len() {
            same(
                &format!("split at {k}"),
                run(row.max_line, [&input[..k], &input[k..]], false),
            )?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// §1 requests: the examples, every command, pipelining, fragmentation
// ---------------------------------------------------------------------------

#[test]
fn requests_and_pipelining() {
    use Request::*;
    let mut rows = vec![
        row(
            "§1 example: get_file_listing",
            line("get_file_listing"),
            vec![ok(GetFileListing)],
        ),
        row(
            "§1 example: get_metadata notes.txt",
            line("get_metadata notes.txt"),
            vec![ok(meta("notes.txt"))],
        ),
        row(
            "§1 example: get_slice notes.txt 5 20",
            line("get_slice notes.txt 5 20"),
            vec![ok(slice("notes.txt", 5, 20, false))],
        ),
        row("§1 example: quit", line("quit"), vec![ok(Quit)]),
        row("§1: help", line("help"), vec![ok(Help)]),
        row(
            "§3: get_slice ... raw",
            line("get_slice notes.txt 5 20 raw"),
            vec![ok(slice("notes.txt", 5, 20, true))],
        ),
        row(
            "§3: SIZE 0",
            line("get_slice notes.txt 41 0"),
            vec![ok(slice("notes.txt", 41, 0, false))],
        ),
        row(
            "§1 example: the whole client side, pipelined in one input",
            b"get_file_listing\r\nget_metadata notes.txt\r\nget_slice notes.txt 5 20\r\nquit\r\n"
                .to_vec(),
            vec![
                ok(GetFileListing),
                ok(meta("notes.txt")),
                ok(slice("notes.txt", 5, 20, false)),
                ok(Quit),
            ],
        ),
        row(
            "§1 pipelining: two listings in one input",
            b"get_file_listing\r\nget_file_listing\r\n".to_vec(),
            vec![ok(GetFileListing), ok(GetFileListing)],
        ),
        row(
            "§1 pipelining: errors do not break the pipeline (2xx)",
            b"get_metadata a\r\nverdura\r\nhelp x\r\nget_metadata b\r\n".to_vec(),
            vec![
                ok(meta("a")),
                no_such_command(),
                inv(Command::Help, ArgumentError::WrongCount),
                ok(meta("b")),
            ],
        ),
        row("a request without its CRLF yet: nothing", "quit", vec![]),
        row("a request without its LF yet: nothing", "quit\r", vec![]),
        row(
            "a request then the start of the next",
            "help\r\nqui",
            vec![ok(Help)],
        ),
        row("no input: nothing", "", vec![]),
        row(
            "§1: anything after quit is still decoded (the server ignores it)",
            "quit\r\nhelp\r\n",
            vec![ok(Quit), ok(Help)],
        ),
        row(
            "§2.2: names may hold any of 0x21-0x7E but /",
            line("get_metadata !\"#$%&'()*+,-.0123456789:;<=>?@AZ[\\]^_`az{|}~"),
            vec![ok(meta("!\"#$%&'()*+,-.0123456789:;<=>?@AZ[\\]^_`az{|}~"))],
        ),
    ];

    // Thousands of pipelined requests in one input.
    let mut input = Vec::new();
    let mut expect = Vec::new();
    for i in 0..3000u64 {
        match i % 5 {
            0 => {
                input.extend_from_slice(b"get_file_listing\r\n");
                expect.push(ok(GetFileListing));
            }
            1 => {
                let name = leak(format!("file{i}.txt"));
                input.extend_from_slice(
                    format!("get_slice {name} {i} {} raw\r\n", i * 7).as_bytes(),
                );
                expect.push(ok(slice(name, i, i * 7, true)));
            }
            2 => {
                input.extend_from_slice(b"verdura\r\n");
                expect.push(no_such_command());
            }
            3 => {
                let name = leak(format!("n{i}"));
                input.extend_from_slice(format!("get_metadata {name}\r\n").as_bytes());
                expect.push(ok(meta(name)));
            }
            _ => {
                input.extend_from_slice(b"help\r\n");
                expect.push(ok(Help));
            }
        }
    }
    rows.push(row(
        "§1 pipelining: 3000 requests in one input",
        input,
        expect,
    ));
    check_rows(rows);
}

// ---------------------------------------------------------------------------
// §2.1 step 1: framing
// ---------------------------------------------------------------------------

#[test]
fn framing() {
    use Request::*;
    let rows = vec![
        // Bare LF.
        row("bare LF ends nothing: 100", "quit\n", vec![bad_eol()]),
        row("a lone LF: 100", "\n", vec![bad_eol()]),
        row(
            "qui\\nt\\n: one 100, then nothing",
            "qui\nt\n",
            vec![bad_eol()],
        ),
        row("LF LF: one 100", "\n\n", vec![bad_eol()]),
        row("LF then CR: 100", "quit\n\r", vec![bad_eol()]),
        row(
            "bare LF after a good request",
            "help\r\nquit\nhelp\r\n",
            vec![ok(Help), bad_eol()],
        ),
        // Bare CR (decided: it counts too).
        row(
            "bare CR followed by a letter: 100",
            "quit\rhelp\r\n",
            vec![bad_eol()],
        ),
        row("CR CR LF: 100", "quit\r\r\n", vec![bad_eol()]),
        row("CR CR LF on an empty line: 100", "\r\r\n", vec![bad_eol()]),
        row(
            "bare CR followed by a space: 100",
            "quit\r \n",
            vec![bad_eol()],
        ),
        row(
            "bare CR at the start of a line: 100",
            "\rquit\r\n",
            vec![bad_eol()],
        ),
        row(
            "bare CR after good requests",
            "help\r\nhelp\r\nhe\rlp\r\n",
            vec![ok(Help), ok(Help), bad_eol()],
        ),
        row(
            "a trailing CR is not yet an error",
            "help\r\nquit\r",
            vec![ok(Help)],
        ),
        // Empty line.
        row("empty line: 101", "\r\n", vec![empty_line()]),
        row(
            "empty line between requests: 101, then nothing",
            "help\r\n\r\nquit\r\n",
            vec![ok(Help), empty_line()],
        ),
        row(
            "empty line first: requests after it are not returned",
            "\r\nquit\r\n",
            vec![empty_line()],
        ),
        // Bytes outside 0x20-0x7E.
        row(
            "NUL byte: 101",
            line("get_metadata a\0b"),
            vec![bad_byte(0x00)],
        ),
        row(
            "DEL byte: 101",
            line("get_metadata a\x7fb"),
            vec![bad_byte(0x7f)],
        ),
        row(
            "0xFF byte: 101",
            b"get_metadata a\xffb\r\n".to_vec(),
            vec![bad_byte(0xff)],
        ),
        row(
            "0x80 byte: 101",
            b"get_metadata a\x80\r\n".to_vec(),
            vec![bad_byte(0x80)],
        ),
        row(
            "tab instead of space: 101",
            line("get_metadata\tnotes.txt"),
            vec![bad_byte(b'\t')],
        ),
        row("0x1F byte: 101", line("help\x1f"), vec![bad_byte(0x1f)]),
        row(
            "UTF-8 name: 101 with its first byte",
            line("get_metadata café"),
            vec![bad_byte(0xc3)],
        ),
        row(
            "first bad byte is reported",
            line("\x01\x02\x7f"),
            vec![bad_byte(0x01)],
        ),
        row(
            "bad byte in an unknown command: framing first",
            line("verdura \x00"),
            vec![bad_byte(0x00)],
        ),
        row("bad byte only: 101", line("\0"), vec![bad_byte(0x00)]),
        row(
            "bad byte, then requests: not returned",
            b"\0\r\nhelp\r\nquit\r\n".to_vec(),
            vec![bad_byte(0)],
        ),
        row(
            "bad byte without CRLF yet: nothing",
            b"get_metadata \xff".to_vec(),
            vec![],
        ),
        row(
            "bad byte and CR without LF yet: nothing",
            b"get_metadata \xff\r".to_vec(),
            vec![],
        ),
        row(
            "a good request before a bad byte",
            b"quit\r\n\xff\r\n".to_vec(),
            vec![ok(Quit), bad_byte(0xff)],
        ),
        // Bare CR/LF outranks a bad byte anywhere in the line.
        row(
            "bad byte then bare LF: 100",
            b"a\x00b\nquit\r\n".to_vec(),
            vec![bad_eol()],
        ),
        row(
            "bad byte then bare CR: 100",
            b"\x00\rX".to_vec(),
            vec![bad_eol()],
        ),
        row(
            "0xFF then CR CR LF: 100",
            b"get_metadata \xff\r\r\n".to_vec(),
            vec![bad_eol()],
        ),
        row(
            "bad byte, LF later in the line: 100",
            b"\x7fhelp help\n".to_vec(),
            vec![bad_eol()],
        ),
        row(
            "bad byte right before the bare LF: 100",
            b"help\x00\n".to_vec(),
            vec![bad_eol()],
        ),
        // Fatal errors end the decoding.
        row(
            "after 100 nothing is returned",
            "quit\nhelp\r\nhelp\r\nverdura\r\n",
            vec![bad_eol()],
        ),
        row(
            "after 101 nothing is returned, even other fatal errors",
            b"\r\n\n\r\n\x00\r\n".to_vec(),
            vec![empty_line()],
        ),
    ];
    check_rows(rows);
}

// ---------------------------------------------------------------------------
// §2.1 step 1: the hard limit on a line
// ---------------------------------------------------------------------------

#[test]
fn line_limit_small() {
    use Request::*;
    let rows = vec![
        row_max("exactly the limit: fine", 4, line("quit"), vec![ok(Quit)]),
        row_max(
            "one byte over the limit: 101",
            3,
            line("quit"),
            vec![too_long(3)],
        ),
        row_max(
            "too long is reported without waiting for CRLF",
            3,
            "quit",
            vec![too_long(3)],
        ),
        row_max(
            "too long: subsequent input discarded",
            3,
            "quit\r\nhelp\r\n",
            vec![too_long(3)],
        ),
        row_max("exactly the limit, no CRLF yet: nothing", 3, "qui", vec![]),
        row_max(
            "exactly the limit then CRLF: parsed",
            3,
            line("qui"),
            vec![no_such_command()],
        ),
        row_max(
            "exactly the limit then bare LF: 100",
            3,
            "qui\n",
            vec![bad_eol()],
        ),
        row_max(
            "exactly the limit then bare CR: 100",
            3,
            "qui\rX",
            vec![bad_eol()],
        ),
        row_max("exactly the limit then CR: nothing yet", 3, "qui\r", vec![]),
        row_max(
            "over the limit before the LF: 101",
            2,
            "qui\n",
            vec![too_long(2)],
        ),
        row_max(
            "bare LF before the limit: 100",
            5,
            "ab\ncdefgh",
            vec![bad_eol()],
        ),
        row_max(
            "too long beats bad bytes",
            3,
            b"\x00\x00\x00\x00".to_vec(),
            vec![too_long(3)],
        ),
        row_max(
            "bad byte within the limit: 101 bad byte",
            3,
            b"ab\x00\r\n".to_vec(),
            vec![bad_byte(0)],
        ),
        row_max("limit 0: empty line", 0, "\r\n", vec![empty_line()]),
        row_max(
            "limit 0: any content byte is too long",
            0,
            " ",
            vec![too_long(0)],
        ),
        row_max("limit 0: bare LF", 0, "\n", vec![bad_eol()]),
        row_max(
            "limit usize::MAX: no overflow",
            usize::MAX,
            "help\r\nget_metadata a\r\nquit",
            vec![ok(Help), ok(meta("a"))],
        ),
        row_max(
            "limit applies per line, not per input",
            4,
            "help\r\nquit\r\nhelp\r\nget_metadata x\r\nhelp\r\n",
            vec![ok(Help), ok(Quit), ok(Help), too_long(4)],
        ),
        row_max(
            "limit 30: a get_slice of exactly 30 bytes",
            30,
            line(&format!("get_slice a {}1 2", "0".repeat(15))),
            vec![ok(slice("a", 1, 2, false))],
        ),
        row_max(
            "limit 30: 31 bytes",
            30,
            line(&format!("get_slice a {}1 2", "0".repeat(16))),
            vec![too_long(30)],
        ),
    ];
    check_rows(rows);
}

/// §2.1 / §2.3 with the default 16 MiB limit: a line of exactly the limit is
/// answered like any other; one byte more is `101`.
#[test]
fn line_limit_default_16_mib() {
    let limit = RequestDecoder::DEFAULT_MAX_LINE;
    assert_eq!(limit, 16 * MIB);
    assert_eq!(RequestDecoder::new().max_line(), limit);
    assert_eq!(RequestDecoder::default().max_line(), limit);

    let exact_name = |extra: usize| {
        let mut v = b"get_metadata ".to_vec();
        v.resize(limit + extra, b'n');
        v
    };
    let mut exact = exact_name(0);
    exact.extend_from_slice(b"\r\nhelp\r\n");
    let mut over = exact_name(1);
    over.extend_from_slice(b"\r\nhelp\r\n");
    let mut over_no_crlf = exact_name(1);
    over_no_crlf.truncate(limit + 1);

    // A valid request of exactly 16 MiB: an offset with many leading zeros.
    let mut zeros = b"get_slice notes.txt ".to_vec();
    let tail = b"5 20";
    zeros.resize(limit - tail.len(), b'0');
    zeros.extend_from_slice(tail);
    assert_eq!(zeros.len(), limit);
    zeros.extend_from_slice(b"\r\n");

    let rows = vec![
        row(
            "16 MiB line (exactly the limit): answered, 202",
            exact,
            vec![name_too_long(), ok(Request::Help)],
        ),
        row(
            "16 MiB + 1 line: 101, nothing after",
            over,
            vec![too_long(limit)],
        ),
        row(
            "16 MiB + 1 bytes, no CRLF: 101 at once",
            over_no_crlf,
            vec![too_long(limit)],
        ),
        row(
            "16 MiB valid get_slice with leading zeros",
            zeros,
            vec![ok(slice("notes.txt", 5, 20, false))],
        ),
    ];
    check_rows(rows);
}

// ---------------------------------------------------------------------------
// §2.1 step 2: commands
// ---------------------------------------------------------------------------

#[test]
fn commands() {
    let rows = vec![
        row(
            "unknown command: 200",
            line("verdura"),
            vec![no_such_command()],
        ),
        row("uppercase QUIT: 200", line("QUIT"), vec![no_such_command()]),
        row("uppercase HELP: 200", line("HELP"), vec![no_such_command()]),
        row(
            "uppercase GET_FILE_LISTING: 200",
            line("GET_FILE_LISTING"),
            vec![no_such_command()],
        ),
        row(
            "mixed case Get_metadata: 200",
            line("Get_metadata notes.txt"),
            vec![no_such_command()],
        ),
        row(
            "uppercase GET_SLICE with arguments: 200",
            line("GET_SLICE notes.txt 5 20"),
            vec![no_such_command()],
        ),
        row(
            "leading space: empty first element: 200",
            line(" quit"),
            vec![no_such_command()],
        ),
        row("a single space: 200", line(" "), vec![no_such_command()]),
        row("only spaces: 200", line("    "), vec![no_such_command()]),
        row(
            "prefix of a command: 200",
            line("qui"),
            vec![no_such_command()],
        ),
        row(
            "command with a suffix: 200",
            line("quit2"),
            vec![no_such_command()],
        ),
        row(
            "get_file_listin: 200",
            line("get_file_listin"),
            vec![no_such_command()],
        ),
        row(
            "get_file_listingx (17 bytes): 200",
            line("get_file_listingx"),
            vec![no_such_command()],
        ),
        row(
            "get_file_listinggg: 200",
            line("get_file_listinggg"),
            vec![no_such_command()],
        ),
        row(
            "command repeated: 200",
            line("quitquitquitquitquitquit"),
            vec![no_such_command()],
        ),
        row(
            "unknown command beats empty elements",
            line("verdura  x "),
            vec![no_such_command()],
        ),
        row(
            "unknown command beats malformed arguments",
            line("get-slice ../x -1 +1 rawx"),
            vec![no_such_command()],
        ),
        row(
            "unknown command beats argument count",
            line("helpme a b c d e f g h"),
            vec![no_such_command()],
        ),
        row(
            "empty first element beats everything else",
            line(" get_slice a 0 1"),
            vec![no_such_command()],
        ),
        row(
            "long unknown command (70000 bytes): 200",
            line(&format!("{} x", "a".repeat(70_000))),
            vec![no_such_command()],
        ),
        row(
            "long known-prefix command: 200",
            line(&"get_slice".repeat(5000)),
            vec![no_such_command()],
        ),
        row(
            "unknown command followed by many long elements: 200",
            line(&format!("nope {}", "x ".repeat(40_000))),
            vec![no_such_command()],
        ),
    ];
    check_rows(rows);
}

// ---------------------------------------------------------------------------
// §2.1 step 3: arity and form; §2.2 argument forms
// ---------------------------------------------------------------------------

#[test]
fn arity_and_empty_elements() {
    use ArgumentError::*;
    use Command::*;
    let rows = vec![
        row(
            "quit with arguments: 201",
            line("quit passing extra arguments!"),
            vec![inv(Quit, WrongCount)],
        ),
        row("help x: 201", line("help x"), vec![inv(Help, WrongCount)]),
        row(
            "get_file_listing x: 201",
            line("get_file_listing x"),
            vec![inv(GetFileListing, WrongCount)],
        ),
        row(
            "get_metadata alone: 201",
            line("get_metadata"),
            vec![inv(GetMetadata, WrongCount)],
        ),
        row(
            "get_metadata with two names: 201",
            line("get_metadata a b"),
            vec![inv(GetMetadata, WrongCount)],
        ),
        row(
            "get_slice alone: 201",
            line("get_slice"),
            vec![inv(GetSlice, WrongCount)],
        ),
        row(
            "get_slice with a name only: 201",
            line("get_slice bar"),
            vec![inv(GetSlice, WrongCount)],
        ),
        row(
            "get_slice with two arguments: 201",
            line("get_slice bar 1"),
            vec![inv(GetSlice, WrongCount)],
        ),
        row(
            "get_slice with five arguments: 201",
            line("get_slice bar 1 2 raw x"),
            vec![inv(GetSlice, WrongCount)],
        ),
        row(
            "get_slice raw raw: 201",
            line("get_slice bar 1 2 raw raw"),
            vec![inv(GetSlice, WrongCount)],
        ),
        row(
            "wrong count beats malformed arguments",
            line("get_slice ../x -1 +1 rawx extra"),
            vec![inv(GetSlice, WrongCount)],
        ),
        row(
            "trailing space: 201",
            line("quit "),
            vec![inv(Quit, EmptyElement)],
        ),
        row(
            "two trailing spaces: 201",
            line("help  "),
            vec![inv(Help, EmptyElement)],
        ),
        row(
            "double space: 201",
            line("get_metadata  notes.txt"),
            vec![inv(GetMetadata, EmptyElement)],
        ),
        row(
            "trailing space after the name: 201",
            line("get_metadata notes.txt "),
            vec![inv(GetMetadata, EmptyElement)],
        ),
        row(
            "get_metadata and a space: empty, not wrong count",
            line("get_metadata "),
            vec![inv(GetMetadata, EmptyElement)],
        ),
        row(
            "empty element beats wrong count",
            line("get_slice  bar"),
            vec![inv(GetSlice, EmptyElement)],
        ),
        row(
            "empty element beats malformed arguments",
            line("get_slice ../x -1 +1  raw"),
            vec![inv(GetSlice, EmptyElement)],
        ),
        row(
            "empty element after too many arguments",
            line("quit a b c "),
            vec![inv(Quit, EmptyElement)],
        ),
        row(
            "empty element among too many arguments",
            line("quit a  b c"),
            vec![inv(Quit, EmptyElement)],
        ),
        row(
            "empty raw element: 201",
            line("get_slice a 1 2 "),
            vec![inv(GetSlice, EmptyElement)],
        ),
        row(
            "empty offset element: 201",
            line("get_slice a  1 2"),
            vec![inv(GetSlice, EmptyElement)],
        ),
        row(
            "many trailing spaces on quit",
            line(&format!("quit{}", " ".repeat(5000))),
            vec![inv(Quit, EmptyElement)],
        ),
        row(
            "many extra arguments on help",
            line(&format!("help{}", " x".repeat(5000))),
            vec![inv(Help, WrongCount)],
        ),
        row(
            "many extra arguments, one empty at the end",
            line(&format!("help{} ", " x".repeat(5000))),
            vec![inv(Help, EmptyElement)],
        ),
        row(
            "many extra arguments, one empty at the start",
            line(&format!("help {}", " x".repeat(5000))),
            vec![inv(Help, EmptyElement)],
        ),
        row(
            "many extra arguments, one empty in the middle",
            line(&format!(
                "help{}  x{}",
                " x".repeat(2000),
                " x".repeat(2000)
            )),
            vec![inv(Help, EmptyElement)],
        ),
        row(
            "get_slice with many extra arguments",
            line(&format!("get_slice a 1 2 raw{}", " raw".repeat(3000))),
            vec![inv(GetSlice, WrongCount)],
        ),
        row(
            "get_metadata with many long extra arguments",
            line(&format!(
                "get_metadata a {}",
                vec!["y".repeat(3000); 4].join(" ")
            )),
            vec![inv(GetMetadata, WrongCount)],
        ),
    ];
    check_rows(rows);
}

#[test]
fn argument_forms() {
    use ArgumentError::*;
    use Command::*;
    let rows = vec![
        // OFFSET and SIZE.
        row(
            "get_slice bar x x: 201 offset",
            line("get_slice bar x x"),
            vec![inv(GetSlice, Offset)],
        ),
        row(
            "size malformed: 201 size",
            line("get_slice bar 1 x"),
            vec![inv(GetSlice, Size)],
        ),
        row(
            "offset -1: 201",
            line("get_slice bar -1 1"),
            vec![inv(GetSlice, Offset)],
        ),
        row(
            "offset +1: 201",
            line("get_slice bar +1 1"),
            vec![inv(GetSlice, Offset)],
        ),
        row(
            "offset 0x10: 201",
            line("get_slice bar 0x10 1"),
            vec![inv(GetSlice, Offset)],
        ),
        row(
            "offset 1e3: 201",
            line("get_slice bar 1e3 1"),
            vec![inv(GetSlice, Offset)],
        ),
        row(
            "offset 1.5: 201",
            line("get_slice bar 1.5 1"),
            vec![inv(GetSlice, Offset)],
        ),
        row(
            "size -1: 201",
            line("get_slice bar 1 -1"),
            vec![inv(GetSlice, Size)],
        ),
        row(
            "size +1: 201",
            line("get_slice bar 1 +1"),
            vec![inv(GetSlice, Size)],
        ),
        row(
            "size 0x10: 201",
            line("get_slice bar 1 0x10"),
            vec![inv(GetSlice, Size)],
        ),
        row(
            "size 1e3: 201",
            line("get_slice bar 0 1e3"),
            vec![inv(GetSlice, Size)],
        ),
        row(
            "size 00x: 201",
            line("get_slice bar 0 00x"),
            vec![inv(GetSlice, Size)],
        ),
        row(
            "digits after a late non-digit",
            line("get_slice bar 1234567890123456789012345x 1"),
            vec![inv(GetSlice, Offset)],
        ),
        row(
            "long digit run with a late non-digit",
            line(&format!("get_slice bar 1 {}e3", "9".repeat(3000))),
            vec![inv(GetSlice, Size)],
        ),
        row(
            "long zero run with a late non-digit",
            line(&format!("get_slice bar {}x 1", "0".repeat(3000))),
            vec![inv(GetSlice, Offset)],
        ),
        row(
            "offset checked before size",
            line("get_slice bar -1 -1"),
            vec![inv(GetSlice, Offset)],
        ),
        row(
            "leading zeros allowed",
            line("get_slice bar 007 0042"),
            vec![ok(slice("bar", 7, 42, false))],
        ),
        row(
            "zeros are zero",
            line("get_slice bar 00 000"),
            vec![ok(slice("bar", 0, 0, false))],
        ),
        row(
            "u64::MAX",
            line("get_slice bar 18446744073709551615 18446744073709551615"),
            vec![ok(slice("bar", u64::MAX, u64::MAX, false))],
        ),
        row(
            "u64::MAX - 1 is exact",
            line("get_slice bar 18446744073709551614 1"),
            vec![ok(slice("bar", u64::MAX - 1, 1, false))],
        ),
        row(
            "u64::MAX + 1 saturates",
            line("get_slice bar 18446744073709551616 1"),
            vec![ok(slice("bar", u64::MAX, 1, false))],
        ),
        row(
            "21 digits saturate",
            line("get_slice bar 0 100000000000000000000"),
            vec![ok(slice("bar", 0, u64::MAX, false))],
        ),
        row(
            "35 nines saturate",
            line("get_slice bar 99999999999999999999999999999999999 0"),
            vec![ok(slice("bar", u64::MAX, 0, false))],
        ),
        row(
            "many leading zeros then u64::MAX - 1",
            line(&format!(
                "get_slice bar {}18446744073709551614 1",
                "0".repeat(40)
            )),
            vec![ok(slice("bar", u64::MAX - 1, 1, false))],
        ),
        row(
            "many leading zeros then 1",
            line(&format!(
                "get_slice bar {}1 {}",
                "0".repeat(60),
                "0".repeat(30)
            )),
            vec![ok(slice("bar", 1, 0, false))],
        ),
        row(
            "thousands of leading zeros then u64::MAX",
            line(&format!(
                "get_slice bar {}18446744073709551615 {}7",
                "0".repeat(5000),
                "0".repeat(5000)
            )),
            vec![ok(slice("bar", u64::MAX, 7, false))],
        ),
        row(
            "thousands of digits saturate",
            line(&format!("get_slice bar 1{} 2", "0".repeat(5000))),
            vec![ok(slice("bar", u64::MAX, 2, false))],
        ),
        // raw.
        row(
            "raw",
            line("get_slice bar 1 2 raw"),
            vec![ok(slice("bar", 1, 2, true))],
        ),
        row(
            "rawx: 201",
            line("get_slice bar 1 2 rawx"),
            vec![inv(GetSlice, RawFlag)],
        ),
        row(
            "RAW: 201",
            line("get_slice bar 1 2 RAW"),
            vec![inv(GetSlice, RawFlag)],
        ),
        row(
            "ra: 201",
            line("get_slice bar 1 2 ra"),
            vec![inv(GetSlice, RawFlag)],
        ),
        row(
            "rawraw: 201",
            line("get_slice bar 1 2 rawraw"),
            vec![inv(GetSlice, RawFlag)],
        ),
        row(
            "xraw: 201",
            line("get_slice bar 1 2 xraw"),
            vec![inv(GetSlice, RawFlag)],
        ),
        row(
            "raw followed by many w: 201",
            line(&format!("get_slice bar 1 2 raw{}", "w".repeat(3000))),
            vec![inv(GetSlice, RawFlag)],
        ),
        row(
            "size checked before raw",
            line("get_slice bar 1 x rawx"),
            vec![inv(GetSlice, Size)],
        ),
        // FILENAME.
        row(
            "../x: 201",
            line("get_metadata ../x"),
            vec![inv(GetMetadata, FileName(FileNameError::Slash))],
        ),
        row(
            "a/b: 201",
            line("get_metadata a/b"),
            vec![inv(GetMetadata, FileName(FileNameError::Slash))],
        ),
        row(
            "/: 201",
            line("get_metadata /"),
            vec![inv(GetMetadata, FileName(FileNameError::Slash))],
        ),
        row(
            "trailing /: 201",
            line("get_metadata a/"),
            vec![inv(GetMetadata, FileName(FileNameError::Slash))],
        ),
        row(
            "../etc/passwd in get_slice: 201",
            line("get_slice ../etc/passwd 0 1"),
            vec![inv(GetSlice, FileName(FileNameError::Slash))],
        ),
        row(
            ".: 201",
            line("get_metadata ."),
            vec![inv(GetMetadata, FileName(FileNameError::Dot))],
        ),
        row(
            "..: 201",
            line("get_metadata .."),
            vec![inv(GetMetadata, FileName(FileNameError::DotDot))],
        ),
        row(
            ".. in get_slice: 201",
            line("get_slice .. 0 0"),
            vec![inv(GetSlice, FileName(FileNameError::DotDot))],
        ),
        row(
            "...: a valid name",
            line("get_metadata ..."),
            vec![ok(meta("..."))],
        ),
        row(
            ".hidden: a valid name",
            line("get_metadata .hidden"),
            vec![ok(meta(".hidden"))],
        ),
        row(
            "name checked before offset",
            line("get_slice a/b x y rawx"),
            vec![inv(GetSlice, FileName(FileNameError::Slash))],
        ),
        row(
            "offset checked before raw",
            line("get_slice a x 1 rawx"),
            vec![inv(GetSlice, Offset)],
        ),
    ];
    check_rows(rows);
}

/// §2.2: a well-formed name longer than 255 bytes cannot exist: 202, but
/// only once every other check passed.
#[test]
fn file_name_lengths() {
    use ArgumentError::*;
    use Command::*;
    let n255 = leak("n".repeat(255));
    let n256 = "n".repeat(256);
    let d255 = leak(".".repeat(255));
    let rows = vec![
        row(
            "255-byte name: valid",
            line(&format!("get_metadata {n255}")),
            vec![ok(meta(n255))],
        ),
        row(
            "255 dots: a valid name",
            line(&format!("get_metadata {d255}")),
            vec![ok(meta(d255))],
        ),
        row(
            "255-byte name in get_slice raw",
            line(&format!("get_slice {n255} 0 1 raw")),
            vec![ok(slice(n255, 0, 1, true))],
        ),
        row(
            "256-byte name: 202",
            line(&format!("get_metadata {n256}")),
            vec![name_too_long()],
        ),
        row(
            "256 dots: 202",
            line(&format!("get_metadata {}", ".".repeat(256))),
            vec![name_too_long()],
        ),
        row(
            "256-byte name in get_slice: 202",
            line(&format!("get_slice {n256} 0 1")),
            vec![name_too_long()],
        ),
        row(
            "256-byte name in get_slice raw: 202",
            line(&format!("get_slice {n256} 0 1 raw")),
            vec![name_too_long()],
        ),
        row(
            "256-byte name, bad offset: 201",
            line(&format!("get_slice {n256} x 1")),
            vec![inv(GetSlice, Offset)],
        ),
        row(
            "256-byte name, bad size: 201",
            line(&format!("get_slice {n256} 1 -1")),
            vec![inv(GetSlice, Size)],
        ),
        row(
            "256-byte name, bad raw: 201",
            line(&format!("get_slice {n256} 0 1 rawx")),
            vec![inv(GetSlice, RawFlag)],
        ),
        row(
            "256-byte name, extra argument: 201",
            line(&format!("get_metadata {n256} x")),
            vec![inv(GetMetadata, WrongCount)],
        ),
        row(
            "256-byte name, trailing space: 201",
            line(&format!("get_metadata {n256} ")),
            vec![inv(GetMetadata, EmptyElement)],
        ),
        row(
            "256-byte name ending in /: 201",
            line(&format!("get_metadata {n256}/")),
            vec![inv(GetMetadata, FileName(FileNameError::Slash))],
        ),
        row(
            "3000-byte name with a / at 2000: 201",
            line(&format!(
                "get_metadata {}/{}",
                "a".repeat(2000),
                "b".repeat(999)
            )),
            vec![inv(GetMetadata, FileName(FileNameError::Slash))],
        ),
        row(
            "a 202 does not end the pipeline",
            line(&format!("get_metadata {n256}\r\nhelp")),
            vec![name_too_long(), ok(Request::Help)],
        ),
    ];
    check_rows(rows);
}

/// §2.3: long requests get the answer an unbounded server would give.
#[test]
fn long_requests_5_mib() {
    use ArgumentError::*;
    use Command::*;
    let big = "n".repeat(5 * MIB);
    let mut late_slash = "s".repeat(5 * MIB);
    late_slash.push('/');
    late_slash.push_str("tail");
    let rows = vec![
        row(
            "§2.3: get_metadata <5 MiB name>: 202",
            line(&format!("get_metadata {big}")),
            vec![name_too_long()],
        ),
        row(
            "§2.3: get_slice <5 MiB name> x 1: 201",
            line(&format!("get_slice {big} x 1")),
            vec![inv(GetSlice, Offset)],
        ),
        row(
            "get_slice <5 MiB name> 0 1: 202",
            line(&format!("get_slice {big} 0 1")),
            vec![name_too_long()],
        ),
        row(
            "get_slice <5 MiB name> 0 1 rawx: 201",
            line(&format!("get_slice {big} 0 1 rawx")),
            vec![inv(GetSlice, RawFlag)],
        ),
        row(
            "get_metadata <5 MiB name with a late />: 201",
            line(&format!("get_metadata {late_slash}")),
            vec![inv(GetMetadata, FileName(FileNameError::Slash))],
        ),
        row(
            "get_metadata <5 MiB name> x: 201",
            line(&format!("get_metadata {big} x")),
            vec![inv(GetMetadata, WrongCount)],
        ),
        row(
            "5 MiB of leading zeros: a valid offset",
            line(&format!("get_slice notes.txt {}5 20", "0".repeat(5 * MIB))),
            vec![ok(slice("notes.txt", 5, 20, false))],
        ),
        row(
            "5 MiB of spaces after quit: 201",
            line(&format!("quit{}", " ".repeat(5 * MIB))),
            vec![inv(Quit, EmptyElement)],
        ),
        row(
            "5 MiB unknown command, then requests: 200, requests",
            format!("{big}\r\nhelp\r\nget_metadata notes.txt\r\n"),
            vec![no_such_command(), ok(Request::Help), ok(meta("notes.txt"))],
        ),
    ];
    check_rows(rows);
}

// ---------------------------------------------------------------------------
// §2: status codes and texts
// ---------------------------------------------------------------------------

#[test]
fn status_lines_and_texts() {
    let table: [(Status, u16, &str, bool, &[u8]); 8] = [
        (Status::Ok, 0, "OK", false, b"0 OK\r\n"),
        (Status::BadEol, 100, "BAD EOL", true, b"100 BAD EOL\r\n"),
        (
            Status::BadRequest,
            101,
            "BAD REQUEST",
            true,
            b"101 BAD REQUEST\r\n",
        ),
        (
            Status::InternalServerError,
            199,
            "INTERNAL SERVER ERROR",
            true,
            b"199 INTERNAL SERVER ERROR\r\n",
        ),
        (
            Status::NoSuchCommand,
            200,
            "NO SUCH COMMAND",
            false,
            b"200 NO SUCH COMMAND\r\n",
        ),
        (
            Status::InvalidArguments,
            201,
            "INVALID ARGUMENTS FOR COMMAND",
            false,
            b"201 INVALID ARGUMENTS FOR COMMAND\r\n",
        ),
        (
            Status::FileNotFound,
            202,
            "FILE NOT FOUND",
            false,
            b"202 FILE NOT FOUND\r\n",
        ),
        (
            Status::OffsetExceedsFileSize,
            203,
            "OFFSET EXCEEDS FILE SIZE",
            false,
            b"203 OFFSET EXCEEDS FILE SIZE\r\n",
        ),
    ];
    assert_eq!(
        Status::ALL.to_vec(),
        table.iter().map(|t| t.0).collect::<Vec<_>>()
    );
    for (status, code, text, fatal, wire) in table {
        assert_eq!(status.code(), code, "{status:?}");
        assert_eq!(status.text(), text, "{status:?}");
        assert_eq!(status.is_fatal(), fatal, "{status:?}");
        assert_eq!(status.status_line(), wire, "{status:?}");
        assert_eq!(status.to_string(), format!("{code} {text}"));
        assert_eq!(Status::from_code(code), Some(status));
        assert_eq!(hftp_proto::status::is_fatal_code(code), fatal);
        let mut out = Vec::new();
        encode_status(status, &mut out);
        assert_eq!(out, wire);
        let mut out = Vec::new();
        Response::Status(status).encode(&mut out);
        assert_eq!(out, wire);
    }
    for code in [1, 99, 102, 198, 204, 250, 300, 999] {
        assert_eq!(Status::from_code(code), None, "{code}");
    }
    // Every 1xx code is fatal, known or not; nothing else is.
    assert!(hftp_proto::status::is_fatal_code(150));
    assert!(!hftp_proto::status::is_fatal_code(99));
    assert!(!hftp_proto::status::is_fatal_code(200));
    assert!(!hftp_proto::status::is_fatal_code(250));
}

/// Each request error maps to the code of §2.
#[test]
fn request_errors_map_to_codes() {
    let inv = RequestError::InvalidArguments {
        command: Command::GetSlice,
        reason: ArgumentError::Offset,
    };
    let table = [
        (RequestError::BadEol, Status::BadEol),
        (RequestError::InvalidByte(0), Status::BadRequest),
        (RequestError::EmptyLine, Status::BadRequest),
        (RequestError::LineTooLong { limit: 3 }, Status::BadRequest),
        (RequestError::NoSuchCommand, Status::NoSuchCommand),
        (inv, Status::InvalidArguments),
        (RequestError::FileNameTooLong, Status::FileNotFound),
    ];
    for (err, status) in table {
        assert_eq!(err.status(), status, "{err:?}");
        assert_eq!(err.is_fatal(), status.is_fatal(), "{err:?}");
    }
}

// ---------------------------------------------------------------------------
// §3: responses
// ---------------------------------------------------------------------------

fn enc(r: Response<'_>) -> Vec<u8> {
    let mut v = Vec::new();
    r.encode(&mut v);
    v
}

#[test]
fn response_shapes() {
    let names = [fname("notes.txt"), fname("photo.jpg")];
    // get_file_listing
    assert_eq!(
        enc(Response::Listing(&names)),
        b"0 OK\r\nnotes.txt\r\nphoto.jpg\r\n\r\n"
    );
    assert_eq!(enc(Response::Listing(&[])), b"0 OK\r\n\r\n");
    assert_eq!(enc(Response::Listing(&[fname("a")])), b"0 OK\r\na\r\n\r\n");
    // get_metadata
    assert_eq!(enc(Response::Metadata(41)), b"0 OK\r\n41\r\n");
    assert_eq!(enc(Response::Metadata(0)), b"0 OK\r\n0\r\n");
    assert_eq!(enc(Response::Metadata(1_000_000)), b"0 OK\r\n1000000\r\n");
    assert_eq!(
        enc(Response::Metadata(u64::MAX)),
        b"0 OK\r\n18446744073709551615\r\n"
    );
    // get_slice (base64): SIZE 0 gives an empty line.
    assert_eq!(
        enc(Response::Slice(b"calor que hace hoy, ")),
        b"0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n"
    );
    assert_eq!(enc(Response::Slice(b"")), b"0 OK\r\n\r\n");
    assert_eq!(
        enc(Response::Slice(&[0xfb, 0xff, 0xbf])),
        b"0 OK\r\n+/+/\r\n"
    );
    // get_slice raw: Content-Length, empty line, the bytes, nothing after.
    assert_eq!(
        enc(Response::RawSlice(b"calor")),
        b"0 OK\r\nContent-Length: 5\r\n\r\ncalor"
    );
    assert_eq!(
        enc(Response::RawSlice(b"")),
        b"0 OK\r\nContent-Length: 0\r\n\r\n"
    );
    assert_eq!(
        enc(Response::RawSlice(b"\r\n\0\xff")),
        b"0 OK\r\nContent-Length: 4\r\n\r\n\r\n\0\xff"
    );
    // help: the five commands in the order of §3, then an empty line.
    assert_eq!(
        enc(Response::Help),
        b"0 OK\r\nget_file_listing\r\nget_metadata\r\nget_slice\r\nquit\r\nhelp\r\n\r\n"
    );
    // quit, and every error: a status line alone.
    assert_eq!(enc(Response::Status(Status::Ok)), b"0 OK\r\n");
    assert_eq!(
        enc(Response::Status(Status::OffsetExceedsFileSize)),
        b"203 OFFSET EXCEEDS FILE SIZE\r\n"
    );

    // The pieces the streaming server uses.
    let mut v = Vec::new();
    encode_status(Status::Ok, &mut v);
    encode_item("notes.txt", &mut v);
    encode_end(&mut v);
    encode_status(Status::Ok, &mut v);
    encode_size(41, &mut v);
    encode_status(Status::Ok, &mut v);
    encode_raw_header(20, &mut v);
    assert_eq!(
        v,
        b"0 OK\r\nnotes.txt\r\n\r\n0 OK\r\n41\r\n0 OK\r\nContent-Length: 20\r\n\r\n"
    );
    let mut v = Vec::new();
    encode_raw_header(u64::MAX, &mut v);
    assert_eq!(v, b"Content-Length: 18446744073709551615\r\n\r\n");
}

/// RFC 4648 test vectors: the standard alphabet with `=` padding, no line
/// breaks, one CRLF at the end.
#[test]
fn slice_line_base64() {
    let vectors: [(&[u8], &[u8]); 7] = [
        (b"", b""),
        (b"f", b"Zg=="),
        (b"fo", b"Zm8="),
        (b"foo", b"Zm9v"),
        (b"foob", b"Zm9vYg=="),
        (b"fooba", b"Zm9vYmE="),
        (b"foobar", b"Zm9vYmFy"),
    ];
    for (data, b64) in vectors {
        let mut want = b64.to_vec();
        want.extend_from_slice(b"\r\n");
        let mut line = Vec::new();
        encode_line(data, &mut line);
        assert_eq!(line, want, "{data:?}");
        // Streamed byte by byte.
        let mut enc = SliceEncoder::new(data.len() as u64);
        let mut line = Vec::new();
        for b in data.chunks(1) {
            enc.encode(b, &mut line).unwrap();
        }
        enc.finish(&mut line).unwrap();
        assert_eq!(line, want, "{data:?}");
    }
    // No line breaks, however long the slice.
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let mut line = Vec::new();
    encode_line(&data, &mut line);
    assert_eq!(line.len(), 100_000usize.div_ceil(3) * 4 + 2);
    assert!(!line[..line.len() - 2].contains(&b'\r') && !line[..line.len() - 2].contains(&b'\n'));
}

/// §3: OFFSET + SIZE > file size is 203, computed without overflow;
/// OFFSET = file size with SIZE = 0 is valid.
#[test]
fn slice_range_rule() {
    let s = |offset, size| Slice {
        name: fname("notes.txt"),
        offset,
        size,
        raw: false,
    };
    assert!(s(5, 20).fits(41));
    assert!(s(0, 41).fits(41));
    assert!(s(41, 0).fits(41));
    assert!(!s(41, 1).fits(41));
    assert!(!s(42, 0).fits(41));
    assert!(!s(0, 42).fits(41));
    assert!(s(0, 0).fits(0));
    assert!(!s(u64::MAX, u64::MAX).fits(u64::MAX));
    assert!(!s(1, u64::MAX).fits(u64::MAX));
    assert!(s(u64::MAX, 0).fits(u64::MAX));
    assert!(!s(u64::MAX, 1).fits(41));
}

#[test]
fn request_encode_every_command() {
    let n = fname("notes.txt");
    let cases: Vec<(Request<'static>, &[u8])> = vec![
        (Request::GetFileListing, b"get_file_listing\r\n"),
        (
            Request::GetMetadata { name: n },
            b"get_metadata notes.txt\r\n",
        ),
        (
            Request::GetSlice(Slice {
                name: n,
                offset: 5,
                size: 20,
                raw: false,
            }),
            b"get_slice notes.txt 5 20\r\n",
        ),
        (
            Request::GetSlice(Slice {
                name: n,
                offset: 5,
                size: 20,
                raw: true,
            }),
            b"get_slice notes.txt 5 20 raw\r\n",
        ),
        (
            Request::GetSlice(Slice {
                name: n,
                offset: 0,
                size: 0,
                raw: false,
            }),
            b"get_slice notes.txt 0 0\r\n",
        ),
        (
            Request::GetSlice(Slice {
                name: n,
                offset: u64::MAX,
                size: 10,
                raw: false,
            }),
            b"get_slice notes.txt 18446744073709551615 10\r\n",
        ),
        (Request::Quit, b"quit\r\n"),
        (Request::Help, b"help\r\n"),
    ];
    for (req, wire) in &cases {
        assert_eq!(req.to_bytes(), *wire, "{req:?}");
        let mut v = Vec::new();
        req.encode(&mut v);
        assert_eq!(v, *wire);
        let mut b = bytes::BytesMut::new();
        req.encode(&mut b);
        assert_eq!(&b[..], *wire);
        let mut buf = [0u8; 64];
        let mut dst = &mut buf[..];
        req.encode(&mut dst);
        let left = dst.len();
        assert_eq!(&buf[..64 - left], *wire);
        assert_eq!(req.to_string().as_bytes(), &wire[..wire.len() - 2]);
        // What a client encodes, a server decodes back.
        assert_eq!(hftp_proto::parse_line(&wire[..wire.len() - 2]), Ok(*req));
        let mut dec = RequestDecoder::new();
        assert_eq!(dec.decode(wire).item, Some(Ok(*req)));
    }
    assert_eq!(
        Command::ALL.map(Command::name),
        [
            "get_file_listing",
            "get_metadata",
            "get_slice",
            "quit",
            "help"
        ]
    );
    for cmd in Command::ALL {
        assert_eq!(Command::from_name(cmd.name().as_bytes()), Some(cmd));
        assert_eq!(
            Command::from_name(cmd.name().to_uppercase().as_bytes()),
            None
        );
    }
}

/// The example exchange of docs/PROTOCOL.md §1, reproduced byte for byte: a
/// client encodes the requests, a toy server decodes them and encodes the
/// answers.
#[test]
fn spec_example_exchange() {
    let notes: &[u8] = b"!Que calor que hace hoy, pinta una birra!";
    assert_eq!(notes.len(), 41);
    let photo: &[u8] = &[0xff, 0xd8, 0xff, 0xe0];
    let files: [(&str, &[u8]); 2] = [("notes.txt", notes), ("photo.jpg", photo)];

    let n = fname("notes.txt");
    let client_requests = [
        Request::GetFileListing,
        Request::GetMetadata { name: n },
        Request::GetSlice(Slice {
            name: n,
            offset: 5,
            size: 20,
            raw: false,
        }),
        Request::Quit,
    ];
    let mut client = Vec::new();
    for r in &client_requests {
        r.encode(&mut client);
    }
    assert_eq!(
        client,
        b"get_file_listing\r\nget_metadata notes.txt\r\nget_slice notes.txt 5 20\r\nquit\r\n"
    );

    let expected_server: &[u8] = b"0 OK\r\nnotes.txt\r\nphoto.jpg\r\n\r\n\
        0 OK\r\n41\r\n\
        0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n\
        0 OK\r\n";
    assert_eq!(&notes[5..25], b"calor que hace hoy, ");

    // Serve the client bytes in every fragmentation of a few kinds.
    let serve = |chunks: Vec<&[u8]>, streamed: bool| -> Vec<u8> {
        let mut dec = RequestDecoder::new();
        let mut out = Vec::new();
        'conn: for chunk in chunks {
            let mut input = chunk;
            while !input.is_empty() {
                let step = dec.decode(input);
                input = &input[step.consumed..];
                let Some(item) = step.item else { break };
                match item.expect("valid request") {
                    Request::GetFileListing => {
                        let names: Vec<FileName> = files.iter().map(|f| fname(f.0)).collect();
                        Response::Listing(&names).encode(&mut out);
                    }
                    Request::GetMetadata { name } => {
                        let data = files.iter().find(|f| f.0 == name.as_str()).unwrap().1;
                        Response::Metadata(data.len() as u64).encode(&mut out);
                    }
                    Request::GetSlice(s) => {
                        let data = files.iter().find(|f| f.0 == s.name.as_str()).unwrap().1;
                        assert!(s.fits(data.len() as u64));
                        let bytes = &data[s.offset as usize..(s.offset + s.size) as usize];
                        if streamed {
                            encode_status(Status::Ok, &mut out);
                            let mut enc = SliceEncoder::new(s.size);
                            for c in bytes.chunks(3) {
                                enc.encode(c, &mut out).unwrap();
                            }
                            enc.finish(&mut out).unwrap();
                        } else {
                            Response::Slice(bytes).encode(&mut out);
                        }
                    }
                    Request::Quit => {
                        Response::Status(Status::Ok).encode(&mut out);
                        break 'conn;
                    }
                    Request::Help => Response::Help.encode(&mut out),
                }
            }
        }
        out
    };
    assert_eq!(serve(vec![&client], false), expected_server);
    assert_eq!(serve(client.chunks(1).collect(), true), expected_server);
    for k in 0..=client.len() {
        assert_eq!(
            serve(vec![&client[..k], &client[k..]], k % 2 == 0),
            expected_server,
            "split at {k}"
        );
    }
}
