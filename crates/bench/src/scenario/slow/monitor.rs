//! `slow`'s background sampling: the server's resident memory and (Chinwag) the cut-off
//! counter `chinwag_queue_overflows_total`, and what the samples say afterwards.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::procstat::rss_bytes;
use crate::report::round;
use crate::setup::Common;
use crate::target::Target;

/// Server memory and (Chinwag) the cut-off counter, sampled in the background.
pub(super) struct Monitor {
    task: tokio::task::JoinHandle<Samples>,
    stop: watch::Sender<bool>,
    /// The latest `chinwag_queue_overflows_total` read.
    pub(super) overflows: Rc<Cell<u64>>,
}

#[derive(Default)]
pub(super) struct Samples {
    /// (time, server RSS bytes).
    rss: Vec<(Instant, u64)>,
    /// (time, `chinwag_queue_overflows_total`).
    overflows: Vec<(Instant, u64)>,
    started: Option<Instant>,
}

pub(super) struct RssSummary {
    pub(super) baseline_max: Option<u64>,
    pub(super) slow_max: Option<u64>,
    pub(super) end: Option<u64>,
}

impl Monitor {
    pub(super) fn start(common: &Common, target: Target, every_ms: u64) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let pids = common.server_pids();
        let metrics_url =
            (target == Target::Chinwag).then(|| format!("http://{}/metrics", common.addr));
        let overflows = Rc::new(Cell::new(0));
        let latest = overflows.clone();
        let task = tokio::task::spawn_local(async move {
            let http = reqwest::Client::new();
            let mut samples = Samples { started: Some(Instant::now()), ..Samples::default() };
            let mut tick = tokio::time::interval(Duration::from_millis(every_ms.max(10)));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                let now = Instant::now();
                if let Some(rss) = pids.iter().map(|&p| rss_bytes(p)).sum::<Option<u64>>()
                    && !pids.is_empty()
                {
                    samples.rss.push((now, rss));
                }
                if let Some(url) = &metrics_url
                    && let Some(v) = overflow_count(&http, url).await
                {
                    samples.overflows.push((now, v));
                    latest.set(v);
                }
            }
            samples
        });
        Monitor { task, stop, overflows }
    }

    pub(super) async fn stop(self) -> Samples {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// `chinwag_queue_overflows_total` from the server's Prometheus text.
async fn overflow_count(http: &reqwest::Client, url: &str) -> Option<u64> {
    let text = http.get(url).send().await.ok()?.text().await.ok()?;
    text.lines()
        .find(|l| l.starts_with("chinwag_queue_overflows_total"))
        .and_then(|l| l.split_ascii_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
}

impl Samples {
    /// Seconds after `frozen` at which each cut-off was first counted (one entry per cut-off).
    pub(super) fn cut_off_times(&self, frozen: Instant) -> Vec<f64> {
        let base =
            self.overflows.iter().take_while(|(t, _)| *t <= frozen).last().map_or(0, |&(_, v)| v);
        let mut out = Vec::new();
        let mut seen = base;
        for &(t, v) in &self.overflows {
            while v > seen {
                out.push(round(t.saturating_duration_since(frozen).as_secs_f64(), 2));
                seen += 1;
            }
        }
        out
    }

    pub(super) fn rss_summary(&self, frozen: Instant, recover: Instant) -> RssSummary {
        let max_in = |from: Option<Instant>, to: Instant| {
            self.rss
                .iter()
                .filter(|(t, _)| from.is_none_or(|f| *t >= f) && *t < to)
                .map(|&(_, v)| v)
                .max()
        };
        RssSummary {
            baseline_max: max_in(None, frozen),
            slow_max: max_in(Some(frozen), recover),
            end: self.rss.last().map(|&(_, v)| v),
        }
    }

    pub(super) fn since_start(&self, t: Instant) -> Option<f64> {
        self.started.map(|s| round(t.saturating_duration_since(s).as_secs_f64(), 2))
    }

    /// At most `max` (seconds since the start, bytes) pairs, evenly thinned.
    pub(super) fn thinned_rss(&self, max: usize) -> Vec<(f64, u64)> {
        let Some(start) = self.started else { return Vec::new() };
        let step = self.rss.len().div_ceil(max.max(1)).max(1);
        self.rss
            .iter()
            .step_by(step)
            .map(|&(t, v)| (round(t.saturating_duration_since(start).as_secs_f64(), 2), v))
            .collect()
    }
}
