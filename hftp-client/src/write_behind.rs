//! Write-behind: a thread that receives and decodes hands each filled
//! buffer to a writer thread, which puts it into the file, so that
//! receiving and writing overlap instead of adding up.
//!
//! Writing into new page-cache pages costs about as much CPU as receiving
//! and decoding the base64 of the same bytes, and several times more on a
//! virtual machine whose fresh pages are faulted in by the host (see
//! BENCHMARKS.md). Done in line, a download runs at the speed of the sum;
//! done behind, at the speed of the slower half.
//!
//! Memory stays bounded: at most [`POOL`] buffers are in flight, recycled
//! between the two threads. Operations are applied in the order they were
//! handed over, so a marker (a range completed) is applied only after
//! every byte written before it.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

/// Buffers in flight between the receiving and the writing thread.
pub(crate) const POOL: usize = 4;

/// What the writer thread is asked to do, in order.
pub(crate) enum Op<'a, M> {
    /// Write `data` at byte `pos` of the file.
    Write {
        /// Where in the file.
        pos: u64,
        /// The bytes.
        data: &'a [u8],
    },
    /// Everything handed over before this is written: act on it.
    Mark(M),
}

enum Msg<M> {
    Write { pos: u64, buf: Vec<u8> },
    Mark(M),
}

/// The receiving thread's end: hands bytes and markers to the writer.
pub(crate) struct Behind<M> {
    to_writer: SyncSender<Msg<M>>,
    free: Receiver<Vec<u8>>,
    allocated: usize,
}

impl<M> Behind<M> {
    /// Queues `data` to be written at `pos`. Blocks while [`POOL`] buffers
    /// are in flight; fails once the writer has stopped (its own result
    /// says why).
    pub(crate) fn write_at(&mut self, pos: u64, data: &[u8]) -> io::Result<()> {
        let mut buf = match self.free.try_recv() {
            Ok(buf) => buf,
            Err(_) if self.allocated < POOL => {
                self.allocated += 1;
                Vec::with_capacity(data.len())
            }
            Err(_) => self.free.recv().map_err(|_| stopped())?,
        };
        buf.clear();
        buf.extend_from_slice(data);
        self.to_writer
            .send(Msg::Write { pos, buf })
            .map_err(|_| stopped())
    }

    /// Queues a marker, applied after every write queued before it.
    pub(crate) fn mark(&mut self, marker: M) -> io::Result<()> {
        self.to_writer
            .send(Msg::Mark(marker))
            .map_err(|_| stopped())
    }
}

fn stopped() -> io::Error {
    io::Error::other("the file writer stopped")
}

/// Runs `body` on this thread with a [`Behind`] whose operations `apply`
/// carries out on a writer thread, in order. Returns `body`'s result and
/// the writer's: the writer stops at its first error, after which
/// `body`'s further hand-overs fail. Everything handed over before the
/// writer stopped or `body` returned is applied before this returns.
pub(crate) fn write_behind<M, R>(
    mut apply: impl FnMut(Op<'_, M>) -> io::Result<()> + Send,
    body: impl FnOnce(&mut Behind<M>) -> R,
) -> (R, io::Result<()>)
where
    M: Send,
{
    let (to_writer, from_reader) = mpsc::sync_channel::<Msg<M>>(POOL);
    let (to_reader, free): (Sender<Vec<u8>>, _) = mpsc::channel();
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            for msg in from_reader {
                match msg {
                    Msg::Write { pos, buf } => {
                        apply(Op::Write { pos, data: &buf })?;
                        // The reader may be gone already; then the buffer
                        // is simply dropped.
                        let _ = to_reader.send(buf);
                    }
                    Msg::Mark(marker) => apply(Op::Mark(marker))?,
                }
            }
            Ok(())
        });
        let mut behind = Behind {
            to_writer,
            free,
            allocated: 0,
        };
        let result = body(&mut behind);
        // Closing the channel lets the writer finish what is queued.
        drop(behind);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the file writer panicked")));
        (result, written)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn operations_are_applied_in_order_with_bounded_buffers() {
        let mut log = Vec::new();
        let ((), written) = write_behind(
            |op| {
                match op {
                    Op::Write { pos, data } => log.push(format!("{pos}:{}", data.len())),
                    Op::Mark(m) => log.push(format!("mark {m}")),
                }
                Ok(())
            },
            |behind| {
                for i in 0..100u64 {
                    behind
                        .write_at(i * 10, &[7; 10][..(i % 10) as usize])
                        .unwrap();
                    if i % 25 == 24 {
                        behind.mark(i).unwrap();
                    }
                }
                assert!(behind.allocated <= POOL);
            },
        );
        written.unwrap();
        let mut want = Vec::new();
        for i in 0..100u64 {
            want.push(format!("{}:{}", i * 10, i % 10));
            if i % 25 == 24 {
                want.push(format!("mark {i}"));
            }
        }
        assert_eq!(log, want);
    }

    #[test]
    fn the_writers_error_stops_it_and_later_hand_overs_fail() {
        let applied = AtomicUsize::new(0);
        let (handed, written) = write_behind(
            |op: Op<'_, ()>| {
                if let Op::Write { pos: 3, .. } = op {
                    return Err(io::Error::other("disk full"));
                }
                applied.fetch_add(1, Ordering::Relaxed);
                Ok(())
            },
            |behind| {
                let mut handed = 0;
                for pos in 0..1000 {
                    if behind.write_at(pos, b"x").is_err() {
                        break;
                    }
                    handed += 1;
                }
                handed
            },
        );
        assert_eq!(written.unwrap_err().to_string(), "disk full");
        // Writes 0, 1 and 2 were applied; the writer stopped at 3, and the
        // reader was stopped within the bound of buffers in flight.
        assert_eq!(applied.load(Ordering::Relaxed), 3);
        assert!(handed < 4 + 2 * POOL, "handed {handed}");
    }
}
