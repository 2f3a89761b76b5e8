//! The strict tier: the rest of docs/PROTOCOL.md §1–§3, above all the
//! rules it marks *decided* — framing (bare CR), the order of checks,
//! argument forms, long lines, every response shape (sizes, slices,
//! raw, help), quit and fatal errors ignoring what follows, the
//! lingering close, and the example exchange of §1.

use std::time::Duration;

use hftp_proto::Expect;

use super::super::case::{ensure, Case, Checked, Ctx, Needs, Outcome};
use super::super::fixtures::{bar, FOO};
use super::super::model::Tier::Strict;
use super::super::probe::Close;
use super::{fatal_close, listing, ok, slice_is, status, status_of, status_or, STATUS};

pub fn cases() -> Vec<Case> {
    vec![
        // §1: the example, fragmentation, pipelining.
        Case::new("1/example/exchange", Strict, "the example exchange of §1 gives those bytes (metadata 41, slice Y2Fsb3IgcXVlIGhhY2UgaG95LCA=)", example).needs(Needs::Dir),
        Case::new("1/fragmentation/byte-per-segment", Strict, "a request written one byte at a time is answered", byte_segments).needs(Needs::Dir),
        Case::new("1/fragmentation/split-crlf", Strict, "a request split between CR and LF is answered", split_crlf),
        Case::new("1/pipelining/in-order", Strict, "100 requests sent at once are answered in order", pipelined).needs(Needs::Dir),
        Case::new("1/commands/case-sensitive-200", Strict, "commands are lowercase: QUIT is answered 200", |ctx| status(ctx, "QUIT", 200)),
        // §2, §2.1: framing and which status wins.
        Case::new("2.1/framing/bare-cr", Strict, "a bare CR is answered 100 (decided: bare CR counts)", |ctx| status_of(ctx, b"get_file_listing\rx\r\n", 100, &[101])),
        Case::new("2.1/framing/lf-alone-100", Strict, "a line ended by LF alone is answered 100", |ctx| status_of(ctx, b"get_file_listing\n", 100, &[])),
        Case::new("2.1/framing/cr-after-bad-byte-100", Strict, "a bare CR after a byte outside 0x20-0x7E is answered 100 (framing first)", |ctx| status_of(ctx, b"get\x01\rx\r\n", 100, &[101])),
        Case::new("2.1/framing/control-byte-101", Strict, "a control byte in a line is answered 101", |ctx| status_of(ctx, b"get_file_listing\x01\r\n", 101, &[])),
        Case::new("2.1/framing/high-byte-101", Strict, "a byte above 0x7E is answered 101", |ctx| status_of(ctx, b"get_metadata \xc3\xb1\r\n", 101, &[])),
        Case::new("2.1/framing/nul-101", Strict, "a NUL byte in a line is answered 101", |ctx| status_of(ctx, b"quit\x00\r\n", 101, &[])),
        Case::new("2.1/framing/empty-line-101", Strict, "an empty line is answered 101", |ctx| status_of(ctx, b"\r\n", 101, &[])),
        Case::new("2.1/order/leading-space-200", Strict, "\" quit\" (an empty first element) is answered 200", |ctx| status_or(ctx, " quit", 200, &[201])),
        Case::new("2.1/order/unknown-before-arity-200", Strict, "an unknown command with arguments is answered 200", |ctx| status(ctx, "verdura a b c", 200)),
        Case::new("2.1/order/double-space-201", Strict, "a double space between elements is answered 201", |ctx| status_or(ctx, "get_metadata  x", 201, &[202])),
        Case::new("2.1/order/trailing-space-201", Strict, "a trailing space is answered 201", |ctx| status_or(ctx, "get_file_listing ", 201, &[])),
        Case::new("2.1/order/arity-before-file-201", Strict, "too many arguments to get_metadata of a missing file is 201, not 202", |ctx| status(ctx, "get_metadata does_not_exist extra", 201)),
        Case::new("2.1/order/form-before-file-201", Strict, "get_slice of a missing file with a malformed OFFSET is 201", |ctx| status(ctx, "get_slice does_not_exist x 1", 201)),
        Case::new("2.1/order/file-before-range-202", Strict, "get_slice of a missing file with a huge SIZE is 202, not 203", |ctx| status(ctx, "get_slice does_not_exist 0 99999999999", 202)),
        Case::new("2.1/order/listing-arguments-201", Strict, "get_file_listing with an argument is answered 201", |ctx| status(ctx, "get_file_listing x", 201)),
        Case::new("2.1/order/slice-arity-201", Strict, "get_slice with two arguments is answered 201", |ctx| status(ctx, "get_slice bar 0", 201)),
        // §2.2: argument forms.
        Case::new("2.2/filename/traversal-201", Strict, "get_metadata ../etc/passwd is answered 201 (decided: / is not in a FILENAME)", |ctx| status_or(ctx, "get_metadata ../etc/passwd", 201, &[202])),
        Case::new("2.2/filename/slash-201", Strict, "a FILENAME holding / is answered 201", |ctx| status_or(ctx, "get_metadata a/b", 201, &[202])),
        Case::new("2.2/filename/dot-201", Strict, "the FILENAME . is answered 201", |ctx| status_or(ctx, "get_metadata .", 201, &[202])),
        Case::new("2.2/filename/dot-dot-201", Strict, "the FILENAME .. is answered 201", |ctx| status_or(ctx, "get_metadata ..", 201, &[202])),
        Case::new("2.2/filename/too-long-202", Strict, "a well-formed FILENAME of 300 bytes is answered 202", |ctx| status_or(ctx, &format!("get_metadata {}", "n".repeat(300)), 202, &[201, 199])),
        Case::new("2.2/number/negative-201", Strict, "OFFSET -1 is answered 201", |ctx| number(ctx, "-1", "1", 201, &[203])),
        Case::new("2.2/number/plus-201", Strict, "OFFSET +1 is answered 201", |ctx| number(ctx, "+1", "1", 201, &[0])),
        Case::new("2.2/number/hex-201", Strict, "SIZE 0x10 is answered 201", |ctx| number(ctx, "0", "0x10", 201, &[])),
        Case::new("2.2/number/exponent-201", Strict, "SIZE 1e3 is answered 201", |ctx| number(ctx, "0", "1e3", 201, &[])),
        Case::new("2.2/number/huge-203", Strict, "an OFFSET past 2^64 is out of range: 203", |ctx| number(ctx, "99999999999999999999999", "1", 203, &[201])),
        Case::new("2.2/number/overflowing-sum-203", Strict, "OFFSET 1 with SIZE 2^64-1 is 203 (no overflow)", |ctx| number(ctx, "1", "18446744073709551615", 203, &[201])),
        Case::new("2.2/number/leading-zeros", Strict, "OFFSET 007 is offset 7", leading_zeros).needs(Needs::Dir),
        Case::new("2.2/raw/other-token-201", Strict, "a fifth get_slice element other than raw is answered 201", |ctx| number(ctx, "0", "1 RAW", 201, &[])),
        // §2.3: long lines.
        Case::new("2.3/long-line/slice-name-5-mib-201", Strict, "get_slice <5 MiB name> x 1 is answered 201", long_slice_name).takes(20),
        Case::new("2.3/long-line/hard-limit", Strict, "a line past the server's hard limit is answered 101 (reports where the limit is)", hard_limit).alone().takes(30),
        // §2: fatal errors.
        Case::new("2/fatal/ignores-rest", Strict, "after a fatal status nothing more is answered", fatal_ignores_rest),
        Case::new("2/fatal/lingering-close", Strict, "a fatal status reaches the client although unread requests follow it (lingering close)", lingering),
        // §3: responses.
        Case::new("3/get_file_listing/sorted", Strict, "names are listed sorted bytewise (decided)", sorted).needs(Needs::Dir).alone(),
        Case::new("3/get_file_listing/published-only", Strict, "sub-directories, FIFOs, names with spaces, absolute and dangling symlinks are not listed; a relative symlink to a file inside is", published_only).needs(Needs::Dir).alone(),
        Case::new("3/get_metadata/directory-202", Strict, "get_metadata of a sub-directory is answered 202", directory).needs(Needs::Dir).alone(),
        Case::new("3/get_slice/size-zero", Strict, "SIZE 0 gives 0 OK and an empty line", size_zero).needs(Needs::Dir),
        Case::new("3/get_slice/offset-at-end", Strict, "OFFSET = file size with SIZE 0 is valid", offset_at_end).needs(Needs::Dir),
        Case::new("3/get_slice/past-end-203", Strict, "OFFSET + SIZE past the end is answered 203", past_end).needs(Needs::Dir),
        Case::new("3/get_slice/padding", Strict, "a slice is standard base64 with = padding (1 byte: 4 characters)", padding).needs(Needs::Dir),
        Case::new("3/get_slice/one-line", Strict, "a slice is sent on one line (several lines: reported)", one_line).needs(Needs::Dir),
        Case::new("3/get_slice/raw", Strict, "get_slice ... raw gives Content-Length, an empty line and the raw bytes", raw).needs(Needs::Dir),
        Case::new("3/get_slice/missing-202", Strict, "get_slice of a missing file is answered 202", |ctx| status(ctx, "get_slice does_not_exist 0 1", 202)),
        Case::new("3/help/commands", Strict, "help lists the five commands", help),
        Case::new("3/quit/ignores-rest", Strict, "what follows quit is ignored", quit_ignores_rest),
    ]
}

fn example(ctx: &mut Ctx) -> Checked {
    let foo_name = ctx.name("foo")?;
    let mut p = ctx.connect()?;
    let line = format!("get_metadata {foo_name}");
    let reply = ok(
        p.ask(format!("{line}\r\n").as_bytes(), Expect::Metadata)?,
        &line,
    )?;
    ensure(
        reply.size == Some(41),
        "the size line 41",
        format!("{:?}", reply.size),
    )?;
    let line = format!("get_slice {foo_name} 5 20\r\n");
    // The exact bytes of the answer, not only what they decode to.
    p.send(line.as_bytes(), &[Expect::Slice { size: 20 }])?;
    let got = p
        .reply()
        .map_err(|a| Outcome::fail("0 OK and the slice", a))?;
    ensure(
        got.data == FOO[5..25],
        "the bytes \"calor que hace hoy, \"",
        super::differ(&got.data, &FOO[5..25]),
    )?;
    let want = b"0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n".len() as u64;
    if got.wire != want {
        return Ok(Outcome::non_strict(
            "exactly \"0 OK\\r\\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\\r\\n\"",
            format!(
                "{} bytes on the wire instead of {want} (see the transcript)",
                got.wire
            ),
        ));
    }
    Ok(Outcome::pass())
}

fn byte_segments(ctx: &mut Ctx) -> Checked {
    let foo_name = ctx.name("foo")?;
    let mut p = ctx.connect()?;
    let line = format!("get_metadata {foo_name}\r\n");
    p.send_slowly(
        line.as_bytes(),
        Duration::from_millis(5),
        &[Expect::Metadata],
    )?;
    let reply = p
        .reply()
        .map_err(|a| Outcome::fail("the request answered", a))?;
    ensure(
        reply.size == Some(FOO.len() as u64),
        "0 OK and 41",
        reply.status(),
    )?;
    Ok(Outcome::pass())
}

fn split_crlf(ctx: &mut Ctx) -> Checked {
    let mut p = ctx.connect()?;
    p.send(b"get_file_listing\r", &[])?;
    std::thread::sleep(Duration::from_millis(200));
    p.send(b"\n", &[Expect::Listing])?;
    let reply = p
        .reply()
        .map_err(|a| Outcome::fail("the listing answered", a))?;
    ok(reply, "get_file_listing")?;
    Ok(Outcome::pass())
}

fn pipelined(ctx: &mut Ctx) -> Checked {
    let (foo_name, bar_name) = (ctx.name("foo")?, ctx.name("bar")?);
    let mut p = ctx.connect()?;
    let mut bytes = Vec::new();
    let mut want = Vec::new();
    for i in 0..100u64 {
        let (line, expect, size) = match i % 4 {
            0 => (
                format!("get_metadata {foo_name}"),
                Expect::Metadata,
                Some(41),
            ),
            1 => (
                format!("get_metadata {bar_name}"),
                Expect::Metadata,
                Some(1000),
            ),
            2 => (
                format!("get_slice {foo_name} {} 1", i % 41),
                Expect::Slice { size: 1 },
                None,
            ),
            _ => ("verdura".to_string(), STATUS, None),
        };
        bytes.extend_from_slice(format!("{line}\r\n").as_bytes());
        want.push((line, expect, size));
    }
    let expects: Vec<Expect> = want.iter().map(|w| w.1).collect();
    p.send(&bytes, &expects)?;
    for (i, (line, _, size)) in want.iter().enumerate() {
        let reply = p
            .reply()
            .map_err(|a| Outcome::fail(format!("answer {} of 100 (to \"{line}\")", i + 1), a))?;
        let good = match i % 4 {
            0 | 1 => reply.code == 0 && reply.size == *size,
            2 => reply.code == 0 && reply.data == [FOO[i % 41]],
            _ => reply.code == 200,
        };
        ensure(
            good,
            format!("answer {} is the answer to \"{line}\"", i + 1),
            format!("it is {} {:?}", reply.status(), reply.size),
        )?;
    }
    Ok(Outcome::pass())
}

/// `get_slice foo_name OFFSET SIZE` is answered `want`.
fn number(ctx: &mut Ctx, offset: &str, size: &str, want: u16, non_strict: &[u16]) -> Checked {
    // A 203 needs a file that exists; a 201 is a 201 whatever the name.
    let foo_name = match want {
        203 => ctx.name("foo")?,
        _ => ctx.fixtures.map_or("foo".into(), |f| f.name("foo")),
    };
    let line = format!("get_slice {foo_name} {offset} {size}");
    status_of(ctx, format!("{line}\r\n").as_bytes(), want, non_strict)
}

fn leading_zeros(ctx: &mut Ctx) -> Checked {
    let foo_name = ctx.name("foo")?;
    let mut p = ctx.connect()?;
    let line = format!("get_slice {foo_name} 007 02\r\n");
    let reply = p.ask(line.as_bytes(), Expect::Slice { size: 2 })?;
    if reply.code == 201 {
        return Ok(Outcome::non_strict(
            "007 is 7 (decided: leading zeros allowed)",
            "answered 201",
        ));
    }
    let reply = ok(reply, line.trim_end())?;
    ensure(
        reply.data == FOO[7..9],
        "the bytes 7 and 8 of the file",
        super::differ(&reply.data, &FOO[7..9]),
    )?;
    Ok(Outcome::pass())
}

fn long_slice_name(ctx: &mut Ctx) -> Checked {
    let mut line = b"get_slice ".to_vec();
    line.resize(line.len() + 5 * 1024 * 1024, b'a');
    line.extend_from_slice(b" x 1\r\n");
    status_of(ctx, &line, 201, &[202])
}

fn hard_limit(ctx: &mut Ctx) -> Checked {
    // Up to 64 MiB of name, 1 MiB a write, stopping once the server has
    // answered. (The answer is expected from the line end: the pipeline
    // sends nothing past its window while an answer is awaited.)
    let mut p = ctx.connect()?;
    p.send(b"get_metadata ", &[])?;
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0u64;
    let mut answered = false;
    while sent < 64 << 20 {
        if let Err(o) = p.send(&chunk, &[]) {
            return Err(Outcome::fail(
                "101 past the hard limit, or 202 below it",
                format!("after {} MiB: {}", sent >> 20, o.actual),
            ));
        }
        sent += chunk.len() as u64;
        if readable(p.stream()) {
            answered = true;
            break;
        }
    }
    let mib = sent >> 20;
    // Within the server's lingering close, if it answered, this is read
    // and discarded.
    p.send(b"\r\n", &[STATUS])?;
    match p.reply() {
        Ok(r) if r.code == 101 => {
            let _ = p.close(super::CLOSE_WITHIN);
            Ok(Outcome::info(format!(
                "a hard limit below {mib} MiB: 101 while the name was being sent"
            )))
        }
        Ok(r) if r.code == 202 && !answered => Ok(Outcome::info(
            "no hard limit up to 64 MiB: a 64 MiB name was answered 202",
        )),
        Ok(r) => Err(Outcome::fail(
            "101 past the hard limit, or 202 below it",
            format!("after {mib} MiB of name: answered {}", r.status()),
        )),
        Err(a) => Err(Outcome::fail(
            "101 past the hard limit, or 202 below it",
            format!("after {mib} MiB of name: {a}"),
        )),
    }
}

/// Whether bytes from the server wait to be read (without reading them).
fn readable(stream: &std::net::TcpStream) -> bool {
    let mut byte = [0];
    let _ = stream.set_nonblocking(true);
    let got = matches!(stream.peek(&mut byte), Ok(n) if n > 0);
    let _ = stream.set_nonblocking(false);
    got
}

fn fatal_ignores_rest(ctx: &mut Ctx) -> Checked {
    let mut p = ctx.connect()?;
    p.send(b"\x01\r\nget_file_listing\r\n", &[STATUS])?;
    let reply = p.reply().map_err(|a| Outcome::fail("101", a))?;
    ensure(
        reply.code == 101,
        "the first line answered 101",
        reply.status(),
    )?;
    fatal_close(&mut p, "101")?;
    Ok(Outcome::pass())
}

fn lingering(ctx: &mut Ctx) -> Checked {
    let mut p = ctx.connect()?;
    let mut bytes = b"\x01\r\n".to_vec();
    for _ in 0..4096 {
        bytes.extend_from_slice(b"get_file_listing\r\n");
    }
    p.send(&bytes, &[STATUS])?;
    std::thread::sleep(Duration::from_millis(200));
    match p.reply() {
        Ok(r) if r.code == 101 => match p.close(super::CLOSE_WITHIN) {
            Close::Fin(_) => Ok(Outcome::pass()),
            Close::Reset => Ok(Outcome::info("the status arrived, then a reset (no lingering close: a slower link may lose the status)")),
            other => Err(Outcome::fail("the connection closed after 101", format!("the server {}", other.describe()))),
        },
        Ok(r) => Err(Outcome::fail("101", format!("answered {}", r.status()))),
        Err(a) => Err(Outcome::fail("the 101 status line reaches the client before the close", a)),
    }
}

fn sorted(ctx: &mut Ctx) -> Checked {
    let fixtures = ctx.dir()?;
    let bases = ["Zeta", "alpha", "_under", "1digit", "Alpha~", "a.b", "a-b"];
    let mut made = Vec::new();
    for b in bases {
        made.push(
            fixtures
                .make(b, b"x")
                .map_err(|e| Outcome::skip(e.to_string()))?,
        );
    }
    let mut p = ctx.connect()?;
    let got = fixtures.ours(&listing(&mut p)?);
    let mut want = got.clone();
    want.sort();
    if got != want {
        return Ok(Outcome::non_strict(
            format!("sorted bytewise: {}", want.join(" ")),
            format!("listed {}", got.join(" ")),
        ));
    }
    Ok(Outcome::pass())
}

fn published_only(ctx: &mut Ctx) -> Checked {
    let fixtures = ctx.dir()?;
    let os = super::super::os::symlink;
    let skip = |e: std::io::Error| Outcome::skip(format!("cannot make the special files: {e}"));
    let mut made = Vec::new();
    made.push(
        fixtures
            .make_with("subdir", |p| std::fs::create_dir(p))
            .map_err(skip)?,
    );
    made.push(
        fixtures
            .make_with("fifo", super::super::os::fifo)
            .map_err(skip)?,
    );
    made.push(fixtures.make("with space", b"x").map_err(skip)?);
    let inside = fixtures.path("foo");
    made.push(
        fixtures
            .make_with("abs-link", |p| os(&inside, p))
            .map_err(skip)?,
    );
    made.push(
        fixtures
            .make_with("dangling", |p| {
                os(std::path::Path::new("no-such-target"), p)
            })
            .map_err(skip)?,
    );
    let target = std::path::PathBuf::from(fixtures.name("foo"));
    made.push(
        fixtures
            .make_with("rel-link", |p| os(&target, p))
            .map_err(skip)?,
    );
    let mut p = ctx.connect()?;
    let got = fixtures.ours(&listing(&mut p)?);
    let names: Vec<String> = ["subdir", "fifo", "with space", "abs-link", "dangling"]
        .iter()
        .map(|b| fixtures.name(b))
        .filter(|n| got.contains(n))
        .collect();
    if !names.is_empty() {
        let absolute_only = names == [fixtures.name("abs-link")];
        let expected = "only regular files, and relative symlinks to them, listed";
        let actual = format!("also listed: {}", names.join(", "));
        return match absolute_only {
            true => Ok(Outcome::non_strict(
                format!("{expected} (decided: an absolute symlink is not published)"),
                actual,
            )),
            false => Err(Outcome::fail(expected, actual)),
        };
    }
    if !got.contains(&fixtures.name("rel-link")) {
        return Ok(Outcome::info(
            "a relative symlink to a file inside is not listed",
        ));
    }
    Ok(Outcome::pass())
}

fn directory(ctx: &mut Ctx) -> Checked {
    let fixtures = ctx.dir()?;
    let _made = fixtures
        .make_with("subdir", |p| std::fs::create_dir(p))
        .map_err(|e| Outcome::skip(e.to_string()))?;
    status(
        ctx,
        &format!("get_metadata {}", fixtures.name("subdir")),
        202,
    )
}

fn size_zero(ctx: &mut Ctx) -> Checked {
    let foo_name = ctx.name("foo")?;
    let mut p = ctx.connect()?;
    let reply = slice_is(&mut p, &foo_name, 3, b"")?;
    ensure(
        reply.wire == b"0 OK\r\n\r\n".len() as u64,
        "\"0 OK\\r\\n\\r\\n\"",
        format!("{} bytes (see the transcript)", reply.wire),
    )?;
    Ok(Outcome::pass())
}

fn offset_at_end(ctx: &mut Ctx) -> Checked {
    let foo_name = ctx.name("foo")?;
    let mut p = ctx.connect()?;
    slice_is(&mut p, &foo_name, FOO.len() as u64, b"")?;
    Ok(Outcome::pass())
}

fn past_end(ctx: &mut Ctx) -> Checked {
    let foo_name = ctx.name("foo")?;
    status(ctx, &format!("get_slice {foo_name} 40 2"), 203)
}

fn padding(ctx: &mut Ctx) -> Checked {
    let foo_name = ctx.name("foo")?;
    let mut p = ctx.connect()?;
    let reply = slice_is(&mut p, &foo_name, 0, &FOO[..1])?;
    let want = b"0 OK\r\nIQ==\r\n".len() as u64;
    if reply.wire != want {
        return Ok(Outcome::non_strict(
            "\"0 OK\\r\\nIQ==\\r\\n\" (padded)",
            format!("{} bytes (see the transcript)", reply.wire),
        ));
    }
    Ok(Outcome::pass())
}

fn one_line(ctx: &mut Ctx) -> Checked {
    let name = ctx.name("bar")?;
    let bar = bar();
    let mut p = ctx.connect()?;
    let reply = slice_is(&mut p, &name, 0, &bar)?;
    let one = (b"0 OK\r\n".len() + bar.len().div_ceil(3) * 4 + 2) as u64;
    if reply.wire > one {
        return Ok(Outcome::info(format!("1,000 bytes sent as {} bytes of lines instead of one line of {one}: several base64 lines", reply.wire)));
    }
    Ok(Outcome::pass())
}

fn raw(ctx: &mut Ctx) -> Checked {
    let name = ctx.name("bar")?;
    let bar = bar();
    let mut p = ctx.connect()?;
    let line = format!("get_slice {name} 10 500 raw\r\n");
    let reply = p.ask(line.as_bytes(), Expect::RawSlice { size: 500 })?;
    if reply.code == 201 || reply.code == 200 {
        return Ok(Outcome::info(format!(
            "raw slices not supported (answered {})",
            reply.status()
        )));
    }
    let reply = ok(reply, line.trim_end())?;
    ensure(
        reply.data == bar[10..510],
        "the 500 raw bytes",
        super::differ(&reply.data, &bar[10..510]),
    )?;
    // Nothing after the bytes: the next answer lines up.
    ok(
        p.ask(b"get_file_listing\r\n", Expect::Listing)?,
        "get_file_listing",
    )?;
    Ok(Outcome::pass())
}

fn help(ctx: &mut Ctx) -> Checked {
    let mut p = ctx.connect()?;
    let reply = p.ask(b"help\r\n", Expect::Help)?;
    if reply.code == 200 {
        return Err(Outcome::fail(
            "help answered 0 OK and the commands",
            "answered 200: help is not implemented",
        ));
    }
    let reply = ok(reply, "help")?;
    let mut got = reply.items.clone();
    got.sort();
    let mut want = vec![
        "get_file_listing",
        "get_metadata",
        "get_slice",
        "help",
        "quit",
    ];
    want.sort();
    ensure(
        got == want,
        "get_file_listing get_metadata get_slice quit help",
        format!("listed {}", reply.items.join(" ")),
    )?;
    Ok(Outcome::pass())
}

fn quit_ignores_rest(ctx: &mut Ctx) -> Checked {
    let mut p = ctx.connect()?;
    p.send(b"quit\r\nget_file_listing\r\nverdura\r\n", &[Expect::Quit])?;
    let reply = p
        .reply()
        .map_err(|a| Outcome::fail("quit answered 0 OK", a))?;
    ensure(reply.code == 0, "quit answered 0 OK", reply.status())?;
    match p.close(super::CLOSE_WITHIN) {
        c if c.ended() => Ok(Outcome::pass()),
        other => Err(Outcome::fail(
            "nothing more after 0 OK, then the close",
            format!("the server {}", other.describe()),
        )),
    }
}
