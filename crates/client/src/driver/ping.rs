//! Pings and the quality they measure: an app-level `ping` every `ping_interval`, each round
//! trip into the latency EWMA, and a connection whose pongs stay away declared dead, since a
//! half-open TCP connection may otherwise look alive for minutes.

use chinwag_proto::commands::Ping;
use chinwag_proto::frames::ClientFrame;
use tokio::time::Instant;

use super::connection::End;
use super::{Driver, with_id};
use crate::clock::now_millis;
use crate::events::Event;
use crate::quality::{Quality, QualityReport};

impl Driver {
    /// Send a ping; a connection with pings unanswered for `max_missed_pongs` intervals is dead.
    pub(super) async fn ping(&mut self) -> Option<End> {
        let every = self.shared.config.ping_interval;
        let limit = every.saturating_mul(self.shared.config.max_missed_pongs.max(1));
        if let Some((_, oldest)) = self.pings.first_key_value() {
            let waiting = oldest.elapsed();
            if waiting >= limit {
                return Some(End::Lost(format!("no pong for {waiting:?}")));
            }
            // A pong that is late already says the path is slow: count it before it arrives.
            if self.latency.rtt().is_none_or(|rtt| waiting > rtt) {
                let quality = Quality::from_rtt(waiting);
                if quality > self.last_quality {
                    // The round trip is at least this long: report it as the estimate.
                    let report = QualityReport { quality, rtt: Some(waiting) };
                    self.update_quality(report).await;
                }
            }
        }
        self.next_id += 1;
        let n = self.next_id;
        self.pings.insert(n, Instant::now());
        let frame = ClientFrame::new(None, Ping { ts: Some(now_millis()) });
        self.out.push_back(with_id(&frame, &format!("p:{n}")));
        None
    }

    pub(super) async fn on_pong(&mut self, id: Option<&str>) {
        let n = id.and_then(|s| s.strip_prefix("p:")).and_then(|n| n.parse().ok());
        if let Some(sent) = n.and_then(|n: u64| self.pings.remove(&n)) {
            // Pongs come back in order: older pings still waiting were answered too late to
            // matter; their delay is in this sample.
            self.pings.retain(|&k, _| k > n.unwrap_or(0));
            let rtt = sent.elapsed();
            self.latency.record(rtt);
            let report = self.latency.report();
            self.update_quality(report).await;
        }
    }

    pub(super) async fn update_quality(&mut self, report: QualityReport) {
        self.shared.quality.send_replace(report);
        if report.quality != self.last_quality {
            self.last_quality = report.quality;
            self.emit(Event::Quality(report)).await;
        }
    }
}
