//! The wall clock, in the unit every timestamp on the wire uses. One helper for the server, the
//! store and the Rust client, so that they agree on what "now" means (and on what a clock before
//! 1970 gives: 0, rather than a failed write or a panic).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::ids::Millis;

/// Milliseconds since the Unix epoch, UTC; 0 for a clock set before 1970.
pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2020_and_moves_forward() {
        let a = super::now_millis();
        assert!(a > 1_577_836_800_000, "{a}");
        assert!(super::now_millis() >= a);
    }
}
