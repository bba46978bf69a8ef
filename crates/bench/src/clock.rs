//! Wall-clock microseconds. Send times travel inside message bodies, so sender and receiver must
//! read the same clock; `CLOCK_REALTIME` through the vDSO costs a few tens of nanoseconds, and the
//! receive side reads it once per socket read, not once per frame.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}
