//! Connection quality from app-level `ping`/`pong` round trips: an EWMA of the latency, and a
//! coarse [`Quality`] that applications show ("connection poor").

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How usable the connection is, from the smoothed round-trip time. Ordered from best to
/// worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// Round trip under 100 ms.
    Excellent,
    /// Under 300 ms.
    Good,
    /// 300 ms or more, or pongs are going missing.
    Poor,
    /// No connection.
    Offline,
}

impl Quality {
    /// Round trips under this are excellent.
    pub const EXCELLENT_BELOW: Duration = Duration::from_millis(100);
    /// Round trips under this (and not excellent) are good.
    pub const GOOD_BELOW: Duration = Duration::from_millis(300);

    /// The quality of a connected socket with this smoothed round trip.
    pub fn from_rtt(rtt: Duration) -> Self {
        if rtt < Self::EXCELLENT_BELOW {
            Self::Excellent
        } else if rtt < Self::GOOD_BELOW {
            Self::Good
        } else {
            Self::Poor
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Excellent => "excellent",
            Self::Good => "good",
            Self::Poor => "poor",
            Self::Offline => "offline",
        }
    }
}

/// Quality and the latency it was derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QualityReport {
    /// The category.
    pub quality: Quality,
    /// The smoothed round trip; `None` before the first pong of a connection.
    pub rtt: Option<Duration>,
}

impl QualityReport {
    /// No connection, nothing measured.
    pub const OFFLINE: Self = Self { quality: Quality::Offline, rtt: None };
}

/// Exponentially weighted moving average of round trips.
///
/// ```
/// use std::time::Duration;
/// use chinwag_client::quality::{Latency, Quality};
///
/// let mut l = Latency::new(0.5);
/// l.record(Duration::from_millis(40));
/// l.record(Duration::from_millis(400));
/// assert_eq!(l.rtt(), Some(Duration::from_millis(220)));
/// assert_eq!(l.quality(), Quality::Good);
/// ```
#[derive(Debug, Clone)]
pub struct Latency {
    /// Weight of the newest sample, in `(0, 1]`.
    alpha: f64,
    ewma_ms: Option<f64>,
}

impl Latency {
    /// `alpha` is clamped into `(0, 1]`; 0.3 reacts within a few pings without flapping.
    pub fn new(alpha: f64) -> Self {
        let alpha = if alpha.is_finite() { alpha.clamp(0.01, 1.0) } else { 0.3 };
        Self { alpha, ewma_ms: None }
    }

    /// Add a sample; the first sample of a connection is taken as is.
    pub fn record(&mut self, rtt: Duration) -> Duration {
        let sample = rtt.as_secs_f64() * 1_000.0;
        let next = match self.ewma_ms {
            None => sample,
            Some(prev) => prev + self.alpha * (sample - prev),
        };
        self.ewma_ms = Some(next);
        Duration::from_secs_f64(next / 1_000.0)
    }

    /// Forget the history (a new connection has a new path).
    pub fn reset(&mut self) {
        self.ewma_ms = None;
    }

    /// The smoothed round trip, once there is a sample.
    pub fn rtt(&self) -> Option<Duration> {
        self.ewma_ms.map(|ms| Duration::from_micros((ms * 1_000.0).round() as u64))
    }

    /// The quality of a connected socket; `Excellent` until the first sample says otherwise.
    pub fn quality(&self) -> Quality {
        self.rtt().map(Quality::from_rtt).unwrap_or(Quality::Excellent)
    }

    /// Quality and round trip together.
    pub fn report(&self) -> QualityReport {
        QualityReport { quality: self.quality(), rtt: self.rtt() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert_eq!(Quality::from_rtt(Duration::from_millis(99)), Quality::Excellent);
        assert_eq!(Quality::from_rtt(Duration::from_millis(100)), Quality::Good);
        assert_eq!(Quality::from_rtt(Duration::from_millis(299)), Quality::Good);
        assert_eq!(Quality::from_rtt(Duration::from_millis(300)), Quality::Poor);
    }

    #[test]
    fn ewma_moves_towards_new_samples_and_back() {
        let mut l = Latency::new(0.3);
        assert_eq!(l.quality(), Quality::Excellent);
        l.record(Duration::from_millis(10));
        let mut seen = Vec::new();
        for _ in 0..15 {
            l.record(Duration::from_millis(500));
            seen.push(l.quality());
        }
        assert!(seen.contains(&Quality::Good), "passes through good: {seen:?}");
        assert_eq!(l.quality(), Quality::Poor);
        for _ in 0..20 {
            l.record(Duration::from_millis(10));
        }
        assert_eq!(l.quality(), Quality::Excellent);
        l.reset();
        assert_eq!(l.rtt(), None);
        assert_eq!(Latency::new(f64::NAN).alpha, 0.3);
    }
}
