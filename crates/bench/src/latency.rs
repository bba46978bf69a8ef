//! Latency histograms (HdrHistogram, microseconds, 3 significant digits) and their summary.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency recorded exactly; anything above is recorded as this (one minute).
const MAX_US: u64 = 60_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// Record one latency; clock steps backwards count as 0 µs... which the histogram stores as 1.
pub fn record(h: &mut Histogram<u64>, sent_us: u64, received_us: u64) {
    h.saturating_record(received_us.saturating_sub(sent_us).max(1));
}

/// Percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

pub fn summary(h: &Histogram<u64>) -> Summary {
    if h.is_empty() {
        return Summary::default();
    }
    Summary {
        count: h.len(),
        p50_us: h.value_at_quantile(0.5),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        max_us: h.max(),
        mean_us: (h.mean() * 10.0).round() / 10.0,
    }
}

/// `p50 1.23 ms, p99 …` for the human summary.
pub fn human(s: &Summary) -> String {
    let ms = |us: u64| us as f64 / 1000.0;
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        ms(s.p50_us),
        ms(s.p99_us),
        ms(s.p999_us),
        ms(s.max_us)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = histogram();
        for v in 1..=10_000u64 {
            record(&mut h, 1_000_000, 1_000_000 + v);
        }
        let s = summary(&h);
        assert_eq!(s.count, 10_000);
        // Three significant digits: within 0.1 %.
        assert!((4995..=5005).contains(&s.p50_us), "{s:?}");
        assert!((9890..=9910).contains(&s.p99_us), "{s:?}");
        assert!((9980..=10_010).contains(&s.p999_us), "{s:?}");
        assert!((9995..=10_010).contains(&s.max_us), "{s:?}");
    }

    #[test]
    fn backwards_clocks_and_huge_values_are_clamped() {
        let mut h = histogram();
        record(&mut h, 10, 5);
        record(&mut h, 0, u64::MAX);
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 1);
        assert!(h.max() >= MAX_US);
        assert_eq!(summary(&histogram()), Summary::default());
    }
}
