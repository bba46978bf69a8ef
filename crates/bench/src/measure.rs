//! Waiting out a run's last deliveries once sending has stopped.

use std::time::{Duration, Instant};

/// Wait until `progress()` (deliveries received, deliveries owed) shows everything arrived, for
/// at most `limit_secs`, and, with `stall`, no longer than `stall` without anything new
/// arriving. Polls every 20 ms; returns when the drain started.
pub async fn drain(
    limit_secs: f64,
    stall: Option<Duration>,
    progress: impl Fn() -> (u64, u64),
) -> Instant {
    let start = Instant::now();
    let (mut last, mut last_change) = (0, Instant::now());
    loop {
        let (got, want) = progress();
        if got >= want || start.elapsed().as_secs_f64() >= limit_secs {
            break;
        }
        if let Some(stall) = stall {
            if got != last {
                (last, last_change) = (got, Instant::now());
            } else if last_change.elapsed() >= stall {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start
}
