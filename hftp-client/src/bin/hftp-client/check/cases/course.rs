//! The course tier: what the course statement and its official suite
//! check, case for case (quit, the listing, sizes, slices, the error
//! codes, a request sent a byte a second, pipelining, a 33 MB slice, a
//! 5 MiB name, NUL bytes, a listing of 1,000 files).

use std::time::Duration;

use hftp_proto::Expect;

use super::super::case::{ensure, Case, Checked, Ctx, Needs, Outcome};
use super::super::fixtures::{bar, FOO};
use super::super::model::Tier::Course;
use super::{listing, ok, slice_is, status};

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("3/quit/close", Course, "quit is answered 0 and the connection closed within 0.5 s", quit_close),
        Case::new("3/quit/session", Course, "a session (listing, metadata, slice) ends with quit answered 0 and closed, as the course's client does", quit_session).needs(Needs::Dir),
        Case::new("3/get_file_listing/exact", Course, "the listing is exactly the published files: bar foo_name x", listing_exact).needs(Needs::Dir),
        Case::new("3/get_metadata/sizes", Course, "get_metadata gives each file's size", sizes).needs(Needs::Dir),
        Case::new("3/get_metadata/empty-file", Course, "get_metadata of an empty file gives 0", empty_size).needs(Needs::Dir),
        Case::new("3/get_slice/whole", Course, "a slice of a whole file decodes to the file", slice_whole).needs(Needs::Dir),
        Case::new("3/get_slice/partial", Course, "four partial slices decode to exactly those bytes", slice_partial).needs(Needs::Dir),
        Case::new("2/status/lf-inside-100", Course, "qui\\nt\\n is answered 100 (BAD EOL)", |ctx| super::status_of(ctx, b"qui\nt\n", 100, &[])),
        Case::new("2/status/unknown-200", Course, "an unknown command (verdura) is answered 200", |ctx| status(ctx, "verdura", 200)),
        Case::new("2/status/quit-arguments-201", Course, "quit with arguments is answered 201", |ctx| status(ctx, "quit passing extra arguments!", 201)),
        Case::new("2/status/metadata-no-argument-201", Course, "get_metadata without a name is answered 201", |ctx| status(ctx, "get_metadata", 201)),
        Case::new("2/status/slice-bad-arguments-201", Course, "get_slice bar x x is answered 201", |ctx| status(ctx, "get_slice bar x x", 201)),
        Case::new("2/status/not-found-202", Course, "get_metadata of a missing file is answered 202", |ctx| status(ctx, "get_metadata does_not_exist", 202)),
        Case::new("1/fragmentation/byte-per-second", Course, "quit\\r\\n sent one byte per second is answered 0", byte_per_second).takes(10),
        Case::new("1/pipelining/two-listings", Course, "two get_file_listing sent at once are both answered", two_listings),
        Case::new("3/get_slice/33-mb", Course, "a 33 MB file (254 runs of 128 KiB of bytes 1..254) sliced whole is exact", big_slice).needs(Needs::Dir).alone().takes(60),
        Case::new("2.3/long-line/name-5-mib-202", Course, "get_metadata with a 5 MiB name is answered 202", long_name).takes(20),
        Case::new("3/get_slice/nul-bytes", Course, "300 bytes holding 100 NULs slice exactly", nul_bytes).needs(Needs::Dir).alone(),
        Case::new("3/get_file_listing/1000-files", Course, "with the directory recreated holding 1,000 more files, the listing is exact", thousand_files).needs(Needs::Dir).alone().takes(20),
    ]
}

fn quit_close(ctx: &mut Ctx) -> Checked {
    let mut p = ctx.connect()?;
    quit_close_on(&mut p)
}

fn quit_session(ctx: &mut Ctx) -> Checked {
    let foo_name = ctx.name("foo")?;
    let mut p = ctx.connect()?;
    listing(&mut p)?;
    let line = format!("get_metadata {foo_name}");
    ok(
        p.ask(format!("{line}\r\n").as_bytes(), Expect::Metadata)?,
        &line,
    )?;
    slice_is(&mut p, &foo_name, 0, FOO)?;
    quit_close_on(&mut p)
}

/// `quit` on `p`: 0 and closed within 0.5 s.
fn quit_close_on(p: &mut super::Probe) -> Checked {
    let reply = p.ask(b"quit\r\n", Expect::Quit)?;
    ensure(
        reply.code == 0,
        "quit answered 0 OK",
        format!("answered {}", reply.status()),
    )?;
    match p.close(Duration::from_millis(500)) {
        c if c.ended() => Ok(Outcome::pass()),
        other => Err(Outcome::fail(
            "the connection closed within 0.5 s of 0 OK",
            format!("the server {}", other.describe()),
        )),
    }
}

fn listing_exact(ctx: &mut Ctx) -> Checked {
    let fixtures = ctx.dir()?;
    let mut p = ctx.connect()?;
    let names = listing(&mut p)?;
    let want: Vec<String> = ["bar", "foo", "x"]
        .iter()
        .map(|b| fixtures.name(b))
        .collect();
    let got = fixtures.ours(&names);
    let mut sorted = got.clone();
    sorted.sort();
    if sorted != want {
        return Err(Outcome::fail(
            format!("the listing holds {}", want.join(" ")),
            format!("it holds {}", got.join(" ")),
        ));
    }
    Ok(Outcome::pass())
}

fn sizes(ctx: &mut Ctx) -> Checked {
    let (foo_name, bar_name) = (ctx.name("foo")?, ctx.name("bar")?);
    let mut p = ctx.connect()?;
    for (name, size) in [(foo_name, FOO.len() as u64), (bar_name, bar().len() as u64)] {
        let line = format!("get_metadata {name}");
        let reply = ok(
            p.ask(format!("{line}\r\n").as_bytes(), Expect::Metadata)?,
            &line,
        )?;
        ensure(
            reply.size == Some(size),
            format!("\"{line}\" gives {size}"),
            format!("it gives {:?}", reply.size),
        )?;
    }
    Ok(Outcome::pass())
}

fn empty_size(ctx: &mut Ctx) -> Checked {
    let x = ctx.name("x")?;
    let mut p = ctx.connect()?;
    let line = format!("get_metadata {x}");
    let reply = ok(
        p.ask(format!("{line}\r\n").as_bytes(), Expect::Metadata)?,
        &line,
    )?;
    ensure(
        reply.size == Some(0),
        format!("\"{line}\" gives 0"),
        format!("it gives {:?}", reply.size),
    )?;
    Ok(Outcome::pass())
}

fn slice_whole(ctx: &mut Ctx) -> Checked {
    let (foo_name, bar_name) = (ctx.name("foo")?, ctx.name("bar")?);
    let mut p = ctx.connect()?;
    slice_is(&mut p, &foo_name, 0, FOO)?;
    slice_is(&mut p, &bar_name, 0, &bar())?;
    Ok(Outcome::pass())
}

fn slice_partial(ctx: &mut Ctx) -> Checked {
    let name = ctx.name("bar")?;
    let bar = bar();
    let mut p = ctx.connect()?;
    for (offset, size) in [(0, 1), (1, 2), (100, 333), (998, 2)] {
        slice_is(&mut p, &name, offset as u64, &bar[offset..offset + size])?;
    }
    Ok(Outcome::pass())
}

fn byte_per_second(ctx: &mut Ctx) -> Checked {
    let mut p = ctx.connect()?;
    p.send_slowly(b"quit\r\n", Duration::from_secs(1), &[Expect::Quit])?;
    let reply = p
        .reply()
        .map_err(|a| Outcome::fail("quit answered 0 OK", a))?;
    ensure(
        reply.code == 0,
        "quit answered 0 OK",
        format!("answered {}", reply.status()),
    )?;
    Ok(Outcome::pass())
}

fn two_listings(ctx: &mut Ctx) -> Checked {
    let mut p = ctx.connect()?;
    p.send(
        b"get_file_listing\r\nget_file_listing\r\n",
        &[Expect::Listing, Expect::Listing],
    )?;
    for n in ["first", "second"] {
        let reply = p
            .reply()
            .map_err(|a| Outcome::fail(format!("the {n} listing answered"), a))?;
        ensure(
            reply.code == 0,
            format!("the {n} listing answered 0 OK"),
            format!("answered {}", reply.status()),
        )?;
    }
    Ok(Outcome::pass())
}

fn big_slice(ctx: &mut Ctx) -> Checked {
    const RUN: u64 = 128 * 1024;
    const LEN: u64 = 254 * RUN;
    let fixtures = ctx.dir()?;
    let byte = |i: u64| (i / RUN + 1) as u8;
    let made = fixtures
        .make_big("big33", LEN, byte)
        .map_err(|e| Outcome::skip(format!("cannot write the 33 MB file: {e}")))?;
    let name = fixtures.name("big33");
    let mut p = ctx.connect()?;
    let line = format!("get_slice {name} 0 {LEN}");
    p.send(
        format!("{line}\r\n").as_bytes(),
        &[Expect::Slice { size: LEN }],
    )?;
    let (mut at, mut first_bad) = (0u64, None);
    let reply = p
        .reply_into(&mut |data| {
            for &b in data {
                if first_bad.is_none() && b != byte(at) {
                    first_bad = Some((at, b));
                }
                at += 1;
            }
        })
        .map_err(|a| {
            Outcome::fail(
                format!("\"{line}\" answered with the whole file"),
                format!("{a} ({at} bytes decoded)"),
            )
        })?;
    drop(made);
    ok(reply, &line)?;
    if let Some((i, b)) = first_bad {
        return Err(Outcome::fail(
            "the decoded slice equals the file",
            format!("byte {i} is 0x{b:02x}, not 0x{:02x}", byte(i)),
        ));
    }
    Ok(Outcome::pass())
}

fn long_name(ctx: &mut Ctx) -> Checked {
    let mut line = b"get_metadata ".to_vec();
    line.resize(line.len() + 5 * 1024 * 1024, b'a');
    line.extend_from_slice(b"\r\n");
    super::status_of(ctx, &line, 202, &[])
}

fn nul_bytes(ctx: &mut Ctx) -> Checked {
    let fixtures = ctx.dir()?;
    let contents: Vec<u8> = (0..300u32)
        .map(|i| if i % 3 == 0 { 0 } else { (i % 251) as u8 + 1 })
        .collect();
    let _made = fixtures
        .make("nuls", &contents)
        .map_err(|e| Outcome::skip(format!("cannot write the file: {e}")))?;
    let name = fixtures.name("nuls");
    let mut p = ctx.connect()?;
    slice_is(&mut p, &name, 0, &contents)?;
    Ok(Outcome::pass())
}

fn thousand_files(ctx: &mut Ctx) -> Checked {
    let fixtures = ctx.dir()?;
    fixtures
        .recreate()
        .map_err(|e| Outcome::skip(format!("cannot recreate the directory: {e}")))?;
    let mut made = Vec::new();
    let mut want: Vec<String> = ["bar", "foo", "x"]
        .iter()
        .map(|b| fixtures.name(b))
        .collect();
    for i in 0..1000 {
        let base = format!("file{i:04}");
        made.push(
            fixtures
                .make(&base, format!("{i}\n").as_bytes())
                .map_err(|e| Outcome::skip(format!("cannot write the files: {e}")))?,
        );
        want.push(fixtures.name(&base));
    }
    want.sort();
    let mut p = ctx.connect()?;
    let got = fixtures.ours(&listing(&mut p)?);
    let mut sorted = got.clone();
    sorted.sort();
    if sorted != want {
        let missing = want.iter().filter(|n| !got.contains(n)).count();
        let extra = got.iter().filter(|n| !want.contains(n)).count();
        return Err(Outcome::fail(
            format!("the listing holds the {} files", want.len()),
            format!(
                "{} names listed: {missing} missing, {extra} unexpected",
                got.len()
            ),
        ));
    }
    Ok(Outcome::pass())
}
