//! Byte buffers for connections, and the pool that lets idle connections
//! hold none.
//!
//! A keep-alive connection spends most of its life idle, waiting for the
//! next request. Giving each one its own 16 KiB read buffer would make
//! 10,000 idle connections cost 160 MiB. Instead a connection takes a buffer
//! from the pool when it has bytes to hold and gives it back as soon as it
//! has none, so memory follows the connections that are busy *right now*.
//! Taking and returning are a `Vec` pop and push: no allocation in the steady
//! state.

/// Buffers kept for reuse. Bounded, so a burst of busy connections doesn't
/// pin its peak memory forever.
#[derive(Debug)]
pub struct BufferPool {
    free: Vec<Vec<u8>>,
    /// Output buffers: they grow to fit the responses of a batch, so they are
    /// kept by capacity rather than by exact size.
    free_output: Vec<Vec<u8>>,
    buffer_size: usize,
    max_free: usize,
}

/// Output buffers that grew past this (a huge pipelined batch) are freed
/// rather than pooled.
const MAX_POOLED_OUTPUT: usize = 256 * 1024;

impl BufferPool {
    /// A pool of zero-filled buffers of `buffer_size` bytes, keeping at most
    /// `max_free` of them when they are returned.
    pub fn new(buffer_size: usize, max_free: usize) -> BufferPool {
        BufferPool {
            free: Vec::new(),
            free_output: Vec::new(),
            buffer_size,
            max_free,
        }
    }

    /// A buffer of `buffer_size` bytes (its `len`, not just its capacity, so
    /// it can be read into without `unsafe`).
    pub fn take(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| vec![0; self.buffer_size])
    }

    /// Give a buffer back. Buffers of another size are dropped.
    pub fn give(&mut self, buf: Vec<u8>) {
        if buf.len() == self.buffer_size && self.free.len() < self.max_free {
            self.free.push(buf);
        }
    }

    /// An empty output buffer, with whatever capacity it had when returned.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.free_output.pop().unwrap_or_default()
    }

    /// Give an output buffer back (its contents are discarded).
    pub fn give_output(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() > 0
            && buf.capacity() <= MAX_POOLED_OUTPUT
            && self.free_output.len() < self.max_free
        {
            buf.clear();
            self.free_output.push(buf);
        }
    }

    /// Buffers currently waiting for reuse.
    #[cfg(test)]
    pub fn free_count(&self) -> usize {
        self.free.len()
    }
}

/// Bytes read from a socket and not yet consumed by the protocol:
/// `data[start..end]`. Holds no memory while empty (see the module docs).
#[derive(Debug, Default)]
pub struct InputBuffer {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl InputBuffer {
    /// The unconsumed bytes.
    pub fn unconsumed(&self) -> &[u8] {
        self.data.get(self.start..self.end).unwrap_or_default()
    }

    /// True when no bytes are waiting.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The protocol consumed `n` bytes from the front.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drop every unconsumed byte (the connection is closing).
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Room to read into, taking a buffer from the pool if none is held.
    /// Unconsumed bytes are moved to the front first, so a partial request
    /// can grow to the whole buffer. Empty when the buffer is full of
    /// unconsumed bytes.
    pub fn space(&mut self, pool: &mut BufferPool) -> &mut [u8] {
        if self.data.is_empty() {
            self.data = pool.take();
        }
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        self.data.get_mut(self.end..).unwrap_or_default()
    }

    /// `n` bytes were read into the slice [`InputBuffer::space`] returned.
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.data.len());
    }

    /// Return the memory to the pool if no bytes are waiting.
    pub fn release_if_empty(&mut self, pool: &mut BufferPool) {
        if self.is_empty() && !self.data.is_empty() {
            pool.give(std::mem::take(&mut self.data));
        }
    }

    /// Return the memory to the pool whatever it holds (closing).
    pub fn release(&mut self, pool: &mut BufferPool) {
        self.clear();
        self.release_if_empty(pool);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_into(buf: &mut InputBuffer, pool: &mut BufferPool, bytes: &[u8]) -> usize {
        let space = buf.space(pool);
        let n = bytes.len().min(space.len());
        space[..n].copy_from_slice(&bytes[..n]);
        buf.filled(n);
        n
    }

    #[test]
    fn an_empty_buffer_holds_no_memory_and_reuses_the_pooled_one() {
        let mut pool = BufferPool::new(8, 4);
        let mut buf = InputBuffer::default();
        read_into(&mut buf, &mut pool, b"abc");
        assert_eq!(buf.unconsumed(), b"abc");
        buf.consume(3);
        buf.release_if_empty(&mut pool);
        assert_eq!(pool.free_count(), 1);
        read_into(&mut buf, &mut pool, b"xy");
        assert_eq!(pool.free_count(), 0, "the pooled buffer was reused");
        assert_eq!(buf.unconsumed(), b"xy");
    }

    #[test]
    fn a_partial_request_is_moved_to_the_front_and_can_fill_the_buffer() {
        let mut pool = BufferPool::new(8, 4);
        let mut buf = InputBuffer::default();
        assert_eq!(read_into(&mut buf, &mut pool, b"12345678"), 8);
        buf.consume(5);
        assert_eq!(read_into(&mut buf, &mut pool, b"abcdefgh"), 5);
        assert_eq!(buf.unconsumed(), b"678abcde");
        assert!(buf.space(&mut pool).is_empty(), "full buffer has no space");
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_buffers() {
        let mut pool = BufferPool::new(8, 2);
        for _ in 0..5 {
            pool.give(vec![0; 8]);
        }
        pool.give(vec![0; 3]);
        assert_eq!(pool.free_count(), 2);
    }
}
