//! Codec throughput: `cargo bench -p hftp-proto --bench codec`.
//!
//! Targets (one core): request decoding ≥ 5 M requests/s, slice encoding
//! ≥ 5 GB/s and slice decoding ≥ 4 GB/s of payload.
//!
//! * `request_decoder`: a 64 KiB buffer of pipelined, realistic requests,
//!   decoded whole (the fast in-place path) and fed in 7-byte and 1-byte
//!   chunks (every line split, the compacting slow path). Throughput is
//!   in requests.
//! * `slice_encoder`: a 1 MiB payload encoded to its base64 line, fed in
//!   64 KiB chunks (as a server reading the file would), into a `Vec` and
//!   into a fixed buffer; plus the one-shot `encode_line` for reference.
//! * `slice_decoder`: the `0 OK` + base64 line of a 1 MiB payload fed in
//!   64 KiB chunks to a `ResponseDecoder` writing into a 64 KiB buffer; the
//!   raw form of the same slice for reference (a plain copy).
//!
//! Throughput in bytes is always the payload, not the base64 text.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use hftp_proto::{Event, Expect, RequestDecoder, Response, ResponseDecoder, SliceEncoder};

const KIB: usize = 1024;
const PAYLOAD: usize = 1024 * KIB;
const CHUNK: usize = 64 * KIB;

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
}

/// Up to 64 KiB of whole, valid request lines; returns them and their count.
fn request_buffer() -> (Vec<u8>, usize) {
    const MIX: [&[u8]; 8] = [
        b"get_metadata notes.txt\r\n",
        b"get_slice photo.jpg 1024 4096\r\n",
        b"get_file_listing\r\n",
        b"get_slice holidays-2024-video.mp4 104857600 65536 raw\r\n",
        b"get_metadata quarterly_report_final_v3.pdf\r\n",
        b"get_slice notes.txt 5 20\r\n",
        b"help\r\n",
        b"get_slice photo.jpg 0 1048576\r\n",
    ];
    let mut buf = Vec::with_capacity(CHUNK);
    let mut count = 0;
    for line in MIX.iter().cycle() {
        if buf.len() + line.len() > CHUNK {
            break;
        }
        buf.extend_from_slice(line);
        count += 1;
    }
    (buf, count)
}

/// Feeds every chunk to the decoder the way a server does; returns the
/// number of requests decoded.
fn decode_requests<'a>(
    decoder: &mut RequestDecoder,
    chunks: impl Iterator<Item = &'a [u8]>,
) -> usize {
    let mut n = 0;
    for chunk in chunks {
        let mut input = chunk;
        while !input.is_empty() {
            let step = decoder.decode(input);
            input = &input[step.consumed..];
            match step.item {
                Some(item) => {
                    black_box(&item);
                    n += 1;
                }
                None => break,
            }
        }
    }
    n
}

fn request_decoder(c: &mut Criterion) {
    let (buf, count) = request_buffer();
    // Sanity: every line decodes to a request, in every chunking.
    for size in [buf.len(), 7, 1] {
        let mut decoder = RequestDecoder::new();
        let mut ok = 0;
        for chunk in buf.chunks(size) {
            let mut input = chunk;
            while !input.is_empty() {
                let step = decoder.decode(input);
                input = &input[step.consumed..];
                match step.item {
                    Some(Ok(_)) => ok += 1,
                    Some(Err(e)) => panic!("benchmark request rejected: {e}"),
                    None => break,
                }
            }
        }
        assert_eq!(ok, count);
    }

    let mut group = c.benchmark_group("request_decoder");
    configure(&mut group);
    group.throughput(Throughput::Elements(count as u64));
    for (name, size) in [
        ("pipelined_64KiB", buf.len()),
        ("chunks_7B", 7),
        ("chunks_1B", 1),
    ] {
        let mut decoder = RequestDecoder::new();
        group.bench_function(name, |b| {
            b.iter(|| decode_requests(&mut decoder, black_box(&buf).chunks(size)));
        });
    }
    group.finish();
}

/// 1 MiB of incompressible-looking bytes.
fn payload() -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    (0..PAYLOAD)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn slice_encoder(c: &mut Criterion) {
    let data = payload();
    let mut want = Vec::new();
    hftp_proto::slice::encode_line(&data, &mut want);

    let mut group = c.benchmark_group("slice_encoder");
    configure(&mut group);
    group.throughput(Throughput::Bytes(PAYLOAD as u64));

    let mut line = Vec::with_capacity(want.len());
    let encode_vec = |line: &mut Vec<u8>| {
        line.clear();
        let mut enc = SliceEncoder::new(PAYLOAD as u64);
        for chunk in black_box(&data).chunks(CHUNK) {
            enc.encode(chunk, line).unwrap();
        }
        enc.finish(line).unwrap();
    };
    encode_vec(&mut line);
    assert_eq!(line, want);
    group.bench_function("encode_64KiB_chunks", |b| b.iter(|| encode_vec(&mut line)));

    // A server reusing one output buffer per chunk (then writing it out).
    let mut out = vec![0u8; SliceEncoder::max_output(CHUNK)];
    let encode_buf = |out: &mut [u8], sink: &mut dyn FnMut(&[u8])| {
        let mut enc = SliceEncoder::new(PAYLOAD as u64);
        for chunk in black_box(&data).chunks(CHUNK) {
            let n = enc.encode_to_slice(chunk, out).unwrap();
            sink(&out[..n]);
        }
        let n = enc.finish_to_slice(out).unwrap();
        sink(&out[..n]);
    };
    let mut check = Vec::new();
    encode_buf(&mut out, &mut |s| check.extend_from_slice(s));
    assert_eq!(check, want);
    group.bench_function("encode_to_slice_64KiB_chunks", |b| {
        b.iter(|| {
            encode_buf(&mut out, &mut |s| {
                black_box(s);
            })
        })
    });

    group.bench_function("encode_line_whole", |b| {
        b.iter(|| {
            line.clear();
            hftp_proto::slice::encode_line(black_box(&data), &mut line);
        })
    });
    group.finish();
}

/// Decodes one slice response fed in `CHUNK`-byte pieces into a `CHUNK`-byte
/// buffer; returns the payload bytes seen (and a checksum of them).
fn decode_slice(expect: Expect, wire: &[u8], out: &mut [u8]) -> (usize, u64) {
    let mut decoder = ResponseDecoder::new();
    decoder.expect(expect);
    let (mut total, mut sum) = (0, 0u64);
    for chunk in wire.chunks(CHUNK).chain([&[][..]]) {
        let mut input = chunk;
        loop {
            let step = decoder.decode(input, out).unwrap();
            input = &input[step.consumed..];
            match step.event {
                Some(Event::Data(n)) => {
                    total += n;
                    sum = sum.wrapping_add(u64::from(out[n - 1]));
                }
                Some(Event::End) => break,
                Some(_) => {}
                None if input.is_empty() => break,
                None => {}
            }
        }
    }
    assert_eq!(decoder.pending(), 0);
    (total, sum)
}

fn slice_decoder(c: &mut Criterion) {
    let data = payload();
    let mut base64 = Vec::new();
    Response::Slice(&data).encode(&mut base64);
    let mut raw = Vec::new();
    Response::RawSlice(&data).encode(&mut raw);
    let mut out = vec![0u8; CHUNK];

    let mut group = c.benchmark_group("slice_decoder");
    configure(&mut group);
    group.throughput(Throughput::Bytes(PAYLOAD as u64));
    for (name, expect, wire) in [
        (
            "base64_64KiB_chunks",
            Expect::Slice {
                size: PAYLOAD as u64,
            },
            &base64,
        ),
        (
            "raw_64KiB_chunks",
            Expect::RawSlice {
                size: PAYLOAD as u64,
            },
            &raw,
        ),
    ] {
        // Sanity: the whole payload comes out.
        let mut decoder = ResponseDecoder::new();
        decoder.expect(expect);
        let mut got = Vec::new();
        for chunk in wire.chunks(CHUNK).chain([&[][..]]) {
            let mut input = chunk;
            loop {
                let step = decoder.decode(input, &mut out).unwrap();
                input = &input[step.consumed..];
                match step.event {
                    Some(Event::Data(n)) => got.extend_from_slice(&out[..n]),
                    Some(_) => {}
                    // The raw header and blank line yield no event but
                    // leave input: only an empty rest means "need more".
                    None if input.is_empty() => break,
                    None => {}
                }
            }
        }
        assert_eq!(got, data, "{name}");
        assert_eq!(decode_slice(expect, wire, &mut out).0, PAYLOAD);

        group.bench_function(name, |b| {
            b.iter(|| decode_slice(expect, black_box(wire), &mut out))
        });
    }
    group.finish();
}

criterion_group!(benches, request_decoder, slice_encoder, slice_decoder);
criterion_main!(benches);
