//! A session's queue of bytes waiting for the socket, and the bound that
//! makes the session stop producing (and stop reading requests) while the
//! client does not read.
//!
//! One buffer with a sent prefix: bytes the socket took are dropped from
//! the front before anything is appended, so the queue holds only unsent
//! bytes plus, at most, what was appended since the last write. Producers
//! append only while fewer than [`HIGH_WATER`] bytes are waiting, and
//! append at most [`MAX_APPEND`] at a time, so the queue never holds more
//! than [`MAX_QUEUED`] whatever the socket accepts per write.

/// While this much is waiting, nothing more is produced (backpressure,
/// docs/PROTOCOL.md §4).
pub const HIGH_WATER: usize = 128 * 1024;

/// The most one producer step appends: a base64 chunk of the file
/// ([`crate::session::FILE_CHUNK`] bytes, encoded, plus its line end).
pub const MAX_APPEND: usize = crate::session::FILE_CHUNK / 3 * 4 + 8;

/// The most a queue ever holds: the high-water mark plus one append.
pub const MAX_QUEUED: usize = HIGH_WATER + MAX_APPEND;

/// Capacity kept once the queue empties while nothing is in flight; more
/// is released, so that an idle connection costs little memory.
const KEEP_CAPACITY: usize = 4 * 1024;

/// Bytes queued for one connection.
#[derive(Debug, Default)]
pub struct Output {
    buf: Vec<u8>,
    /// How much of `buf` the socket has taken already.
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

    /// Whether producers must wait for the socket.
    pub fn is_full(&self) -> bool {
        self.len() >= HIGH_WATER
    }

    /// The bytes waiting, oldest first.
    pub fn unsent(&self) -> &[u8] {
        &self.buf[self.sent..]
    }

    /// The socket took `n` of the waiting bytes.
    pub fn consume(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.buf.len());
        if self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
        }
    }

    /// The vector to append to, with the sent prefix dropped first.
    pub fn append(&mut self) -> &mut Vec<u8> {
        if self.sent > 0 {
            self.buf.drain(..self.sent);
            self.sent = 0;
        }
        &mut self.buf
    }

    /// Releases the capacity beyond a few KiB once everything is sent.
    /// Called when nothing is in flight: an idle connection costs little
    /// memory, while a slice reuses one buffer instead of allocating and
    /// freeing (and page-faulting) one per chunk.
    pub fn release(&mut self) {
        if self.is_empty() && self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
    }

    /// Bytes of memory held by the buffer.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_writes_drop_the_sent_prefix_before_appending() {
        let mut out = Output::default();
        out.append().extend_from_slice(&[7u8; HIGH_WATER]);
        assert!(out.is_full());
        out.consume(1000);
        assert_eq!(out.len(), HIGH_WATER - 1000);
        assert!(!out.is_full());
        // The old code appended behind the sent bytes and kept them all.
        out.append().extend_from_slice(&[8u8; 10]);
        assert_eq!(out.len(), HIGH_WATER - 990);
        assert_eq!(out.unsent().len(), out.len());
        assert_eq!(out.unsent()[out.len() - 1], 8);
        out.consume(usize::MAX);
        assert!(out.is_empty());
        assert!(out.capacity() >= HIGH_WATER, "kept for the next chunk");
        out.release();
        assert_eq!(out.capacity(), 0);
    }
}
