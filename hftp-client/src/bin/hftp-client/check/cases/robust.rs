//! The robust tier: docs/PROTOCOL.md §4 and the §3 promises that only an
//! attacker tests — confinement against symlinks (swapped in a loop
//! too), special files, a thousand clients at once, stalled readers and
//! senders and vanishing clients not delaying others, bounded memory
//! under long lines, big slices and unread pipelines, the idle and
//! request timeouts, a file shrinking mid-slice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hftp_proto::Expect;

use super::super::case::{ensure, Case, Checked, Ctx, Needs, Outcome};
use super::super::fixtures::Made;
use super::super::fixtures::{FOO, OUTSIDE};
use super::super::model::Tier::Robust;
use super::super::os;
use super::super::probe::{secs, Close, Probe};
use super::{listing, ok, STATUS};

/// How long another client may wait while one misbehaves.
const OTHERS_WITHIN: Duration = Duration::from_secs(1);

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("4/confinement/absolute-symlink", Robust, "an absolute symlink to a file outside is not listed, sized or read (202)", |ctx| escape(ctx, false)).needs(Needs::Dir).alone(),
        Case::new("4/confinement/relative-symlink", Robust, "a relative symlink leaving the directory is not listed, sized or read (202)", |ctx| escape(ctx, true)).needs(Needs::Dir).alone(),
        Case::new("4/confinement/dot-dot-name", Robust, "a name through .. never reaches the file outside (201; 202 allowed)", dot_dot_name).needs(Needs::Dir),
        Case::new("4/confinement/symlink-swap", Robust, "a symlink swapped in a loop between a file inside and one outside never serves the outside", swap).needs(Needs::Dir).alone().takes(10),
        Case::new("4/special/fifo-202", Robust, "a FIFO is answered 202 at once, never opened (the server does not hang)", fifo).needs(Needs::Dir).alone().takes(5),
        Case::new("4/concurrency/1000-clients", Robust, "1,000 clients connected at once are all answered", thousand).alone().takes(60),
        Case::new("4/slow-reader/others-served", Robust, "a client that asks for a big slice and never reads does not delay another", stalled_reader).needs(Needs::Dir).alone().takes(10),
        Case::new("4/slow-sender/others-served", Robust, "a client that stops in the middle of a line does not delay another", stalled_sender).alone().takes(5),
        Case::new("4/vanishing/reset-mid-slice", Robust, "a client that resets in the middle of a slice leaves the server serving", vanishing).needs(Needs::Dir).alone().takes(10),
        Case::new("4/memory/long-lines", Robust, "40 clients sending 5 MiB lines at once grow the server by at most 40 x 64 KiB + 8 MiB", long_lines).needs(Needs::Started).alone().takes(60),
        Case::new("4/memory/big-slice", Robust, "a 64 MiB slice grows the server by at most 16 MiB (slices are streamed)", big_slice_memory).needs(Needs::Started).alone().takes(60),
        Case::new("4/memory/unread-pipeline", Robust, "requests pipelined without reading their answers grow the server by at most 16 MiB", unread_pipeline).needs(Needs::Started).alone().takes(30),
        Case::new("4/timeouts/idle", Robust, "a connection doing nothing is closed after the idle timeout, not before", idle).needs(Needs::IdleTimeout).alone().takes(300),
        Case::new("4/timeouts/request", Robust, "a line trickled a byte at a time is cut off at the request deadline", request_deadline).needs(Needs::RequestTimeout).alone().takes(300),
        Case::new("3/get_slice/shrink-mid-slice", Robust, "a file shrinking mid-slice resets the connection (decided)", shrink).needs(Needs::Dir).alone().takes(20),
    ]
}

/// `name` is not listed, and is 202 for get_metadata and get_slice.
fn not_published(ctx: &mut Ctx, name: &str) -> Checked {
    let mut p = ctx.connect()?;
    let names = listing(&mut p)?;
    ensure(
        !names.iter().any(|n| n == name),
        format!("{name} not listed"),
        format!("{name} is listed"),
    )?;
    let r = p.ask(
        format!("get_metadata {name}\r\n").as_bytes(),
        Expect::Metadata,
    )?;
    ensure(
        r.code == 202,
        format!("get_metadata {name} answered 202"),
        format!(
            "answered {} {}",
            r.status(),
            r.size.map(|s| format!("(size {s})")).unwrap_or_default()
        ),
    )?;
    let size = OUTSIDE.len() as u64;
    let r = p.ask(
        format!("get_slice {name} 0 {size}\r\n").as_bytes(),
        Expect::Slice { size },
    )?;
    if r.data == OUTSIDE {
        return Err(Outcome::fail(
            format!("get_slice {name} answered 202"),
            "it served the file outside the directory",
        ));
    }
    ensure(
        r.code == 202,
        format!("get_slice {name} answered 202"),
        format!("answered {}", r.status()),
    )?;
    Ok(Outcome::pass())
}

fn escape(ctx: &mut Ctx, relative: bool) -> Checked {
    let fixtures = ctx.dir()?;
    let target = match relative {
        true => fixtures.relative_to_dir(fixtures.outside()),
        false => fixtures.outside().to_path_buf(),
    };
    let _made = fixtures
        .make_with("escape", |p| os::symlink(&target, p))
        .map_err(|e| Outcome::skip(format!("cannot make a symlink: {e}")))?;
    not_published(ctx, &fixtures.name("escape"))
}

fn dot_dot_name(ctx: &mut Ctx) -> Checked {
    let fixtures = ctx.dir()?;
    let name = fixtures.relative_to_dir(fixtures.outside());
    let name = name.to_string_lossy();
    let mut p = ctx.connect()?;
    let size = OUTSIDE.len() as u64;
    for (line, expect) in [
        (format!("get_metadata {name}"), Expect::Metadata),
        (format!("get_slice {name} 0 {size}"), Expect::Slice { size }),
    ] {
        let r = p.ask(format!("{line}\r\n").as_bytes(), expect)?;
        if r.code == 0 {
            return Err(Outcome::fail(
                format!("\"{line}\" answered 201"),
                "it was answered 0 OK: the file outside the directory was reached",
            ));
        }
        ensure(
            matches!(r.code, 201 | 202),
            format!("\"{line}\" answered 201"),
            format!("answered {}", r.status()),
        )?;
    }
    Ok(Outcome::pass())
}

fn swap(ctx: &mut Ctx) -> Checked {
    let fixtures = ctx.dir()?;
    let link = fixtures.path("swap");
    let outside = fixtures.relative_to_dir(fixtures.outside());
    let inside = std::path::PathBuf::from(fixtures.name("foo"));
    let _made = fixtures
        .make_with("swap", |p| os::symlink(&inside, p))
        .map_err(|e| Outcome::skip(format!("cannot make a symlink: {e}")))?;
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, link) = (Arc::clone(&stop), link.clone());
        let tmp = link.with_extension("next");
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let target = if n % 2 == 0 { &outside } else { &inside };
                let _ = std::fs::remove_file(&tmp);
                if os::symlink(target, &tmp).is_ok() {
                    let _ = std::fs::rename(&tmp, &link);
                }
                n += 1;
            }
            let _ = std::fs::remove_file(&tmp);
        })
    };
    let name = fixtures.name("swap");
    let size = FOO.len() as u64;
    let line = format!("get_slice {name} 0 {size}\r\n");
    let until = Instant::now() + Duration::from_millis(1500).min(ctx.left() / 2);
    let (mut asked, mut served) = (0, 0);
    let result = (|| {
        let mut p = ctx.connect()?;
        while Instant::now() < until {
            let r = p.ask(line.as_bytes(), Expect::Slice { size })?;
            asked += 1;
            if r.code == 0 {
                served += 1;
                if r.data == OUTSIDE[..FOO.len()] {
                    return Err(Outcome::fail(
                        "only the file inside served through the link",
                        format!("request {asked} served the file outside the directory"),
                    ));
                }
                ensure(
                    r.data == FOO,
                    "the file inside",
                    super::differ(&r.data, FOO),
                )?;
            } else if super::is_fatal(r.code) {
                p = ctx.connect()?;
            }
        }
        Ok(())
    })();
    stop.store(true, Ordering::Relaxed);
    let _ = swapper.join();
    result?;
    if served == 0 {
        return Ok(Outcome::info(format!("none of {asked} requests through the link was served: nothing leaked, but the link was never followed")));
    }
    Ok(Outcome::pass())
}

fn fifo(ctx: &mut Ctx) -> Checked {
    let fixtures = ctx.dir()?;
    let _made = fixtures
        .make_with("fifo", os::fifo)
        .map_err(|e| Outcome::skip(format!("cannot make a FIFO: {e}")))?;
    let name = fixtures.name("fifo");
    let mut p = ctx.connect()?;
    p.connection()
        .set_deadline(Some(Instant::now() + Duration::from_secs(2)));
    for line in [
        format!("get_metadata {name}"),
        format!("get_slice {name} 0 1"),
    ] {
        let r = p.ask(format!("{line}\r\n").as_bytes(), STATUS)?;
        ensure(
            r.code == 202,
            format!("\"{line}\" answered 202 at once"),
            format!("answered {}", r.status()),
        )?;
    }
    drop(p);
    let mut other = ctx.connect()?;
    listing(&mut other)?;
    Ok(Outcome::pass())
}

fn thousand(ctx: &mut Ctx) -> Checked {
    const CLIENTS: usize = 1000;
    os::raise_open_files_limit();
    let mut probes = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        match ctx.connect_quietly(Duration::from_secs(3)) {
            Ok(p) => probes.push(p),
            Err(o) => {
                return Err(Outcome::fail(
                    format!("{CLIENTS} connections open at once"),
                    format!("connection {} failed ({}) with {i} open", i + 1, o.actual),
                ))
            }
        }
    }
    for p in &mut probes {
        p.send(b"get_file_listing\r\n", &[Expect::Listing])?;
    }
    let mut answered = 0;
    let mut first_failure = None;
    for p in &mut probes {
        match p.reply() {
            Ok(r) if r.code == 0 => answered += 1,
            Ok(r) => {
                first_failure.get_or_insert(format!("answered {}", r.status()));
            }
            Err(a) => {
                first_failure.get_or_insert(a);
                break;
            }
        }
    }
    ensure(
        answered == CLIENTS,
        format!("all {CLIENTS} clients answered while all are connected"),
        format!(
            "{answered} answered; then: {}",
            first_failure.unwrap_or_default()
        ),
    )?;
    Ok(Outcome::pass())
}

/// A second client gets a listing within [`OTHERS_WITHIN`].
fn other_served(ctx: &mut Ctx, while_: &str) -> Result<(), Outcome> {
    let asked = Instant::now();
    let mut other = ctx.connect()?;
    other.connection().set_deadline(Some(asked + OTHERS_WITHIN));
    let got = other.ask(b"get_file_listing\r\n", Expect::Listing);
    match got {
        Ok(r) if r.code == 0 => Ok(()),
        Ok(r) => Err(Outcome::fail(
            format!("another client served while {while_}"),
            format!("it was answered {}", r.status()),
        )),
        Err(o) => Err(Outcome::fail(
            format!(
                "another client answered within {} while {while_}",
                secs(OTHERS_WITHIN)
            ),
            o.actual,
        )),
    }
}

/// A 32 MiB file (removed when the guard drops) and a connection that
/// has asked for the whole of it.
fn big_slice_asked(ctx: &mut Ctx) -> Result<(Made, Probe), Outcome> {
    let fixtures = ctx.dir()?;
    let len = 32 << 20;
    let made = fixtures
        .make_big("big32", len, |i| i as u8)
        .map_err(|e| Outcome::skip(format!("cannot write a 32 MiB file: {e}")))?;
    let mut p = ctx.connect()?;
    let line = format!("get_slice {} 0 {len}\r\n", fixtures.name("big32"));
    p.send(line.as_bytes(), &[Expect::Slice { size: len }])?;
    Ok((made, p))
}

fn stalled_reader(ctx: &mut Ctx) -> Checked {
    let (_made, slow) = big_slice_asked(ctx)?;
    std::thread::sleep(Duration::from_millis(300));
    other_served(ctx, "one client does not read its 32 MiB slice")?;
    drop(slow);
    Ok(Outcome::pass())
}

fn stalled_sender(ctx: &mut Ctx) -> Checked {
    let mut slow = ctx.connect()?;
    slow.send(b"get_meta", &[])?;
    std::thread::sleep(Duration::from_millis(300));
    other_served(ctx, "one client stopped in the middle of a line")?;
    drop(slow);
    Ok(Outcome::pass())
}

fn vanishing(ctx: &mut Ctx) -> Checked {
    let (_made, gone) = big_slice_asked(ctx)?;
    let mut buf = [0u8; 64 * 1024];
    let _ = std::io::Read::read(&mut gone.stream(), &mut buf);
    os::reset_on_close(gone.stream())
        .map_err(|e| Outcome::skip(format!("cannot reset a connection: {e}")))?;
    drop(gone);
    std::thread::sleep(Duration::from_millis(100));
    other_served(ctx, "a client vanished in the middle of a slice")?;
    Ok(Outcome::pass())
}

/// Runs `load` and compares the server's peak memory with its memory
/// before, against `limit` bytes.
fn memory_bound(
    ctx: &mut Ctx,
    limit: u64,
    what: &str,
    load: impl FnOnce(&mut Ctx) -> Result<(), Outcome>,
) -> Checked {
    let started = ctx
        .started
        .ok_or_else(|| Outcome::skip("needs a server the checker starts (--server)"))?;
    std::thread::sleep(Duration::from_millis(100));
    let before = started
        .rss()
        .ok_or_else(|| Outcome::skip("the server's memory cannot be measured on this system"))?;
    started.reset_peak();
    load(ctx)?;
    std::thread::sleep(Duration::from_millis(100));
    let peak = started.peak().unwrap_or(before);
    let grew = peak.saturating_sub(before);
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / (1 << 20) as f64);
    ensure(
        grew <= limit,
        format!("{what}: the server grows by at most {}", mib(limit)),
        format!(
            "it grew by {} (from {} to {})",
            mib(grew),
            mib(before),
            mib(peak)
        ),
    )?;
    Ok(Outcome::pass())
}

fn long_lines(ctx: &mut Ctx) -> Checked {
    memory_bound(
        ctx,
        40 * 64 * 1024 + (8 << 20),
        "40 lines of 5 MiB at once",
        |ctx| {
            let mut probes = Vec::new();
            for _ in 0..40 {
                probes.push(ctx.connect_quietly(Duration::from_secs(3))?);
            }
            let threads: Vec<_> = probes
                .into_iter()
                .map(|mut p| {
                    std::thread::spawn(move || -> Result<u16, String> {
                        p.send(b"get_metadata ", &[]).map_err(|o| o.actual)?;
                        let chunk = vec![b'a'; 256 * 1024];
                        for _ in 0..20 {
                            p.send(&chunk, &[]).map_err(|o| o.actual)?;
                        }
                        p.send(b"\r\n", &[STATUS]).map_err(|o| o.actual)?;
                        p.reply().map(|r| r.code)
                    })
                })
                .collect();
            for t in threads {
                match t.join() {
                    Ok(Ok(202)) => {}
                    Ok(Ok(code)) => {
                        return Err(Outcome::fail(
                            "each 5 MiB name answered 202",
                            format!("one was answered {code}"),
                        ))
                    }
                    Ok(Err(why)) => return Err(Outcome::fail("each 5 MiB name answered 202", why)),
                    Err(_) => {
                        return Err(Outcome::fail(
                            "each 5 MiB name answered 202",
                            "a client thread panicked",
                        ))
                    }
                }
            }
            Ok(())
        },
    )
}

fn big_slice_memory(ctx: &mut Ctx) -> Checked {
    let fixtures = ctx.dir()?;
    let len = 64 << 20;
    let _made = fixtures
        .make_big("big64", len, |i| (i % 253) as u8)
        .map_err(|e| Outcome::skip(format!("cannot write a 64 MiB file: {e}")))?;
    let name = fixtures.name("big64");
    memory_bound(ctx, 16 << 20, "a 64 MiB slice", |ctx| {
        let mut p = ctx.connect_quietly(Duration::from_secs(3))?;
        p.connection().set_read_size(256 * 1024);
        let line = format!("get_slice {name} 0 {len}");
        p.send(
            format!("{line}\r\n").as_bytes(),
            &[Expect::Slice { size: len }],
        )?;
        let mut got = 0u64;
        let r = p
            .reply_into(&mut |d| got += d.len() as u64)
            .map_err(|a| Outcome::fail("the whole slice", a))?;
        ok(r, &line)?;
        ensure(got == len, "64 MiB", format!("{got} bytes"))
    })
}

fn unread_pipeline(ctx: &mut Ctx) -> Checked {
    let fixtures = ctx.dir()?;
    let len = 1 << 20;
    let _made = fixtures
        .make_big("big1", len, |i| i as u8)
        .map_err(|e| Outcome::skip(format!("cannot write a file: {e}")))?;
    let line = format!("get_slice {} 0 {len}\r\n", fixtures.name("big1"));
    memory_bound(ctx, 16 << 20, "answers never read", |ctx| {
        let p = ctx.connect_quietly(Duration::from_secs(3))?;
        let stream = p
            .stream()
            .try_clone()
            .map_err(|e| Outcome::skip(e.to_string()))?;
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        let batch = line.repeat(1000);
        let until = Instant::now() + Duration::from_secs(3);
        // Writes until the server stops reading (a write times out) or 3 s.
        while Instant::now() < until {
            if std::io::Write::write_all(&mut &stream, batch.as_bytes()).is_err() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        drop(p);
        Ok(())
    })
}

fn idle(ctx: &mut Ctx) -> Checked {
    let t = ctx
        .timeouts
        .idle
        .ok_or_else(|| Outcome::skip("needs the server's idle timeout: --idle-timeout SECS"))?;
    let late = t + (t / 4).min(Duration::from_secs(1)) + Duration::from_millis(750);
    let mut p = ctx.connect()?;
    let began = Instant::now();
    let close = p.close(late);
    let after = began.elapsed();
    match close {
        Close::Fin(_) | Close::Reset if after + Duration::from_millis(100) < t => {
            Err(Outcome::fail(
                format!("closed no sooner than the idle timeout ({})", secs(t)),
                format!("closed after {}", secs(after)),
            ))
        }
        Close::Fin(_) | Close::Reset => Ok(Outcome::pass()),
        other => Err(Outcome::fail(
            format!("closed within {} of going idle", secs(late)),
            format!("the server {} for {}", other.describe(), secs(after)),
        )),
    }
}

fn request_deadline(ctx: &mut Ctx) -> Checked {
    let t = ctx.timeouts.request.ok_or_else(|| {
        Outcome::skip("needs the server's request deadline: --request-timeout SECS")
    })?;
    let mut p = ctx.connect()?;
    let began = Instant::now();
    let step = (t / 8).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let late = t + Duration::from_millis(1500);
    while began.elapsed() < late {
        if p.send(b"a", &[]).is_err() {
            break;
        }
        if !matches!(p.peek_close(step), Close::Open) {
            break;
        }
    }
    let after = began.elapsed();
    match () {
        _ if after >= late => Err(Outcome::fail(
            format!("the line cut off within {} of its first byte", secs(late)),
            format!("still open after {}", secs(after)),
        )),
        _ if after + Duration::from_millis(100) < t => Err(Outcome::fail(
            format!("cut off no sooner than the deadline ({})", secs(t)),
            format!("cut off after {}", secs(after)),
        )),
        _ => Ok(Outcome::pass()),
    }
}

fn shrink(ctx: &mut Ctx) -> Checked {
    let fixtures = ctx.dir()?;
    let len = 32u64 << 20;
    let made = fixtures
        .make_big("shrinks", len, |i| i as u8)
        .map_err(|e| Outcome::skip(format!("cannot write a 32 MiB file: {e}")))?;
    let mut p = ctx.connect()?;
    let line = format!("get_slice {} 0 {len}\r\n", fixtures.name("shrinks"));
    p.send(line.as_bytes(), &[Expect::Slice { size: len }])?;
    let mut got = 0u64;
    let mut shrunk = false;
    let path = made.path().to_path_buf();
    let result = p.reply_into(&mut |d| {
        got += d.len() as u64;
        if !shrunk && got >= 1 << 20 {
            shrunk = true;
            if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) {
                let _ = f.set_len(1 << 20);
            }
        }
    });
    match result {
        Ok(_) => Ok(Outcome::info(format!("the whole slice ({len} bytes) was sent although the file shrank to 1 MiB (read before the shrink, or sent from memory)"))),
        Err(_) if p.failure() == Some(&Close::Reset) => Ok(Outcome::pass()),
        Err(_) if matches!(p.failure(), Some(Close::Fin(_))) => Ok(Outcome::non_strict("a reset once the file shrank", format!("a graceful close after {got} bytes"))),
        Err(why) => Err(Outcome::fail("a reset once the file shrank", format!("{why} after {got} bytes"))),
    }
}
