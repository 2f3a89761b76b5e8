//! Fuzz target: the streaming request decoder (`hftp_proto::RequestDecoder`).
//!
//! Input layout (kept byte-oriented so libFuzzer's mutations stay local):
//!
//! * byte 0, bits 0–2: the hard line limit, from [`MAX_LINES`];
//! * byte 0, bits 3–5: `n`, how many chunk-length bytes follow (0: the
//!   stream is fed one byte at a time, the worst case);
//! * the next `n` bytes: chunk lengths, used cyclically (0 means "call
//!   `decode` with an empty slice, then feed one byte");
//! * the rest: the byte stream a client sent.
//!
//! Checks:
//!
//! 1. no panic (and, since fuzz builds keep debug assertions, none of the
//!    decoder's `debug_assert!`s fires);
//! 2. progress: a call that yields an item consumed at least one byte, a
//!    call that yields nothing consumed its whole input; a chunk never takes
//!    more calls than it has bytes plus one (no infinite loop);
//! 3. `retained() <= MAX_RETAINED` after every call;
//! 4. the items fed chunk by chunk are the items fed all at once (compared
//!    as `Debug` strings, since requests borrow from the decoder);
//! 5. both are the items of an independent reference model, which cuts the
//!    stream into lines and runs `parse_line` on every complete line;
//! 6. `in_line()` and `has_failed()` agree with the model at the end.
#![no_main]

use hftp_proto::{parse_line, RequestDecoder, RequestError};
use libfuzzer_sys::fuzz_target;

/// Hard limits to choose from: 0 and tiny ones exercise `LineTooLong` at
/// every position; 17, 270 and 330 sit around the compactor's kept prefixes
/// (command 17 bytes, file name 256, whole compacted line 328); the default
/// exercises compaction of arbitrarily long lines.
const MAX_LINES: [usize; 8] = [0, 1, 5, 17, 64, 270, 330, RequestDecoder::DEFAULT_MAX_LINE];

struct Outcome {
    items: Vec<String>,
    in_line: bool,
    failed: bool,
}

/// Feeds `chunks` to a fresh decoder with the usual server loop, checking
/// the progress and memory invariants on every call.
fn run<'c>(max_line: usize, chunks: impl Iterator<Item = &'c [u8]>) -> Outcome {
    let mut decoder = RequestDecoder::with_max_line(max_line);
    let mut items = Vec::new();
    for chunk in chunks {
        if chunk.is_empty() {
            let step = decoder.decode(chunk);
            assert_eq!(step.consumed, 0, "empty input consumed");
            assert!(
                step.item.is_none(),
                "item from empty input: {:?}",
                step.item
            );
            continue;
        }
        let mut input = chunk;
        let mut calls = 0usize;
        while !input.is_empty() {
            calls += 1;
            assert!(
                calls <= chunk.len() + 1,
                "no progress: {calls} calls for a chunk of {}",
                chunk.len()
            );
            let step = decoder.decode(input);
            let consumed = step.consumed;
            assert!(
                consumed <= input.len(),
                "consumed {consumed} of {}",
                input.len()
            );
            let done = match step.item {
                Some(item) => {
                    assert!(consumed > 0, "item {item:?} without consuming anything");
                    items.push(format!("{item:?}"));
                    false
                }
                None => {
                    assert_eq!(consumed, input.len(), "no item, yet input left over");
                    true
                }
            };
            assert!(
                decoder.retained() <= RequestDecoder::MAX_RETAINED,
                "retained {} > {}",
                decoder.retained(),
                RequestDecoder::MAX_RETAINED
            );
            input = &input[consumed..];
            if done {
                break;
            }
        }
    }
    Outcome {
        items,
        in_line: decoder.in_line(),
        failed: decoder.has_failed(),
    }
}

/// The reference: docs/PROTOCOL.md §1/§2.1 framing applied to the whole
/// stream at once, every complete line handed to `parse_line`.
fn model(data: &[u8], max_line: usize) -> Outcome {
    let mut items = Vec::new();
    let mut rest = data;
    let end = |items, in_line, failed| Outcome {
        items,
        in_line,
        failed,
    };
    loop {
        if rest.is_empty() {
            return end(items, false, false);
        }
        // Content bytes beyond `max_line` before any CR/LF: too long.
        let window = &rest[..rest.len().min(max_line.saturating_add(1))];
        let Some(p) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
            if window.len() > max_line {
                items.push(format!(
                    "{:?}",
                    Err::<(), _>(RequestError::LineTooLong { limit: max_line })
                ));
                return end(items, false, true);
            }
            return end(items, true, false);
        };
        let bad_eol = || format!("{:?}", Err::<(), _>(RequestError::BadEol));
        if window[p] == b'\n' {
            items.push(bad_eol());
            return end(items, false, true);
        }
        match rest.get(p + 1) {
            None => return end(items, true, false),
            Some(b'\n') => {
                let item = parse_line(&rest[..p]);
                let fatal = matches!(&item, Err(e) if e.is_fatal());
                items.push(format!("{item:?}"));
                if fatal {
                    return end(items, false, true);
                }
                rest = &rest[p + 2..];
            }
            Some(_) => {
                items.push(bad_eol());
                return end(items, false, true);
            }
        }
    }
}

/// Cuts `data` into chunks whose lengths cycle through `lens`.
fn chunks<'d>(data: &'d [u8], lens: &'d [u8]) -> impl Iterator<Item = &'d [u8]> + 'd {
    let mut pos = 0usize;
    let mut i = 0usize;
    let mut pending_empty = false;
    std::iter::from_fn(move || {
        if pending_empty {
            pending_empty = false;
        } else if pos >= data.len() {
            return None;
        } else {
            let len = lens.get(i % lens.len().max(1)).copied().unwrap_or(1) as usize;
            i += 1;
            if len == 0 {
                pending_empty = true;
                return Some(&data[..0]);
            }
            let chunk = &data[pos..(pos + len).min(data.len())];
            pos += chunk.len();
            return Some(chunk);
        }
        let chunk = &data[pos..pos + 1];
        pos += 1;
        Some(chunk)
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&cfg, rest)) = input.split_first() else {
        return;
    };
    let max_line = MAX_LINES[usize::from(cfg & 7)];
    let n = usize::from((cfg >> 3) & 7).min(rest.len());
    let (lens, data) = rest.split_at(n);

    let whole = run(max_line, std::iter::once(data));
    let split = run(max_line, chunks(data, lens));
    let want = model(data, max_line);

    assert_eq!(whole.items, want.items, "whole stream vs model");
    assert_eq!(split.items, want.items, "chunked stream {lens:?} vs model");
    for (what, got) in [("whole", &whole), ("chunked", &split)] {
        assert_eq!(got.in_line, want.in_line, "{what}: in_line");
        assert_eq!(got.failed, want.failed, "{what}: has_failed");
    }
});
