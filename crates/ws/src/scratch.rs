//! The read buffer shared by every connection polled on one thread.
//!
//! A connection reads only inside its poll function, and parses what it read before that function
//! returns, so the buffer is needed for the length of one synchronous call and never across an
//! `.await`. One buffer per runtime thread therefore serves any number of connections, and an
//! idle connection owns no read buffer at all.

use std::cell::Cell;

/// Size of the per-thread buffer: one read takes at most this much. 32 KiB keeps a 64 KiB message
/// to a few reads while costing one allocation per runtime thread, not per connection.
pub(crate) const SCRATCH_BYTES: usize = 32 * 1024;

thread_local! {
    /// Taken out while in use and put back after, so nothing is borrowed across calls. Allocated
    /// on the thread's first read.
    static SCRATCH: Cell<Option<Box<[u8]>>> = const { Cell::new(None) };
}

/// Runs `f` with the thread's read buffer.
///
/// If the buffer is already out (an I/O type that itself polls a WebSocket on the same thread) or
/// the thread is shutting down, `f` gets a fresh buffer instead: slower, never a panic.
pub(crate) fn with<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    let mut buf = SCRATCH
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_else(|| vec![0; SCRATCH_BYTES].into_boxed_slice());
    let result = f(&mut buf);
    // Fails only while the thread is being torn down; the buffer is then simply dropped.
    let _ = SCRATCH.try_with(|cell| cell.set(Some(buf)));
    result
}
