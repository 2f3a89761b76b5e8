//! A connection's queue of bytes waiting for the socket, and the bound
//! that makes the server stop reading from a client that does not read.

use std::io::{self, Write};

/// While more than this is queued, the connection reads no more requests
/// and produces no more slice data (backpressure, HFTP.md §4).
pub const HIGH_WATER: usize = 128 * 1024;

/// Capacity kept after the queue empties; more is released, so an idle
/// connection costs little memory.
const KEEP_CAPACITY: usize = 4 * 1024;

/// Bytes queued for one connection.
#[derive(Debug, Default)]
pub struct Output {
    buf: Vec<u8>,
    /// How much of `buf` has been written already.
    sent: usize,
}

impl Output {
    /// Bytes still to send.
    pub fn len(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// Whether everything has been sent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue is over its bound.
    pub fn is_full(&self) -> bool {
        self.len() >= HIGH_WATER
    }

    /// The vector to append to.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Writes as much as the socket takes; returns how many bytes went out.
    /// `WouldBlock` is not an error: it just ends the write.
    pub fn write_to(&mut self, w: &mut impl Write) -> io::Result<usize> {
        let mut total = 0;
        while self.sent < self.buf.len() {
            match w.write(&self.buf[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.sent == self.buf.len() {
            self.sent = 0;
            self.buf.clear();
        }
        Ok(total)
    }

    /// Bytes of memory held.
    /// Releases the capacity beyond a few KiB once everything is sent.
    /// Called when no slice is in flight: an idle connection costs little
    /// memory, while a slice reuses one buffer instead of allocating and
    /// freeing (and page-faulting) one per chunk.
    pub fn release(&mut self) {
        if self.is_empty() && self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
    }

    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `room` bytes, then would block.
    struct Limited {
        room: usize,
        got: Vec<u8>,
    }

    impl Write for Limited {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_and_release() {
        let mut out = Output::default();
        out.buf().extend_from_slice(&vec![7u8; HIGH_WATER]);
        assert!(out.is_full());
        let mut w = Limited {
            room: 1000,
            got: Vec::new(),
        };
        assert_eq!(out.write_to(&mut w).unwrap(), 1000);
        assert_eq!(out.len(), HIGH_WATER - 1000);
        assert!(!out.is_full());
        w.room = usize::MAX;
        assert_eq!(out.write_to(&mut w).unwrap(), HIGH_WATER - 1000);
        assert!(out.is_empty());
        // Kept for the next chunk of a slice, released when idle.
        assert!(out.capacity() >= HIGH_WATER);
        out.release();
        assert_eq!(out.capacity(), 0);
        assert_eq!(w.got.len(), HIGH_WATER);
    }
}
