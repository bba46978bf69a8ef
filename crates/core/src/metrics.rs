//! Prometheus metrics, registered once and shared through `Arc<Metrics>` (no globals).

use chinwag_broker::presence::NodeEpoch;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

pub struct Metrics {
    registry: Registry,
    pub connections: Gauge,
    pub frames_in: Counter,
    pub frames_out: Counter,
    pub messages_stored: Counter,
    pub queue_overflows: Counter,
    /// Times this node sent devices to resume because events between nodes may have been lost:
    /// its broker connection came back, a publisher's resync notice, or a message that never came.
    pub resyncs_lost: Counter,
    pub resyncs_notice: Counter,
    pub resyncs_gap: Counter,
    /// Messages that did not arrive from other nodes in time and were read from the store.
    pub gaps_filled: Counter,
    /// Seconds from receiving a committed message at the hub to queueing it for every local device.
    pub fanout_seconds: Histogram,
    /// Seconds a store append took, as the caller saw it (includes waiting for the group commit).
    pub store_append_seconds: Histogram,
    pub http_requests: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("chinwag");
        let m = Self {
            connections: Gauge::default(),
            frames_in: Counter::default(),
            frames_out: Counter::default(),
            messages_stored: Counter::default(),
            queue_overflows: Counter::default(),
            resyncs_lost: Counter::default(),
            resyncs_notice: Counter::default(),
            resyncs_gap: Counter::default(),
            gaps_filled: Counter::default(),
            fanout_seconds: Histogram::new(exponential_buckets(1e-6, 4.0, 12)),
            store_append_seconds: Histogram::new(exponential_buckets(1e-5, 2.5, 14)),
            http_requests: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("connections", "Open WebSocket connections", m.connections.clone());
        registry.register("frames_in", "WebSocket frames received", m.frames_in.clone());
        registry.register("frames_out", "WebSocket frames sent", m.frames_out.clone());
        registry.register(
            "messages_stored",
            "Messages committed to the store",
            m.messages_stored.clone(),
        );
        registry.register(
            "queue_overflows",
            "Connections cut off as slow consumers (outbound queue overflow)",
            m.queue_overflows.clone(),
        );
        registry.register(
            "resyncs_broker_lost",
            "Times every local device was sent to resume: the broker connection came back",
            m.resyncs_lost.clone(),
        );
        registry.register(
            "resyncs_notice",
            "Times a topic's local devices were sent to resume on another node's resync notice",
            m.resyncs_notice.clone(),
        );
        registry.register(
            "resyncs_gap",
            "Times a conversation's local devices were sent to resume: a message never came",
            m.resyncs_gap.clone(),
        );
        registry.register(
            "gaps_filled",
            "Gaps in a conversation's messages from other nodes filled from the store",
            m.gaps_filled.clone(),
        );
        registry.register(
            "fanout_seconds",
            "Time to queue one event for every local device",
            m.fanout_seconds.clone(),
        );
        registry.register(
            "store_append_seconds",
            "Store append latency including group commit",
            m.store_append_seconds.clone(),
        );
        registry.register("http_requests", "HTTP requests served", m.http_requests.clone());
        Self { registry, ..m }
    }

    /// Metrics of the node `node`: as [`Metrics::new`], plus `chinwag_node_info` with the node's
    /// id and epoch as labels, so that scrapes of several nodes (and restarts) can be told apart.
    pub fn with_node(node: &NodeEpoch) -> Self {
        let mut m = Self::new();
        let info = Info::new(vec![
            ("node".to_owned(), node.node_id()),
            ("epoch".to_owned(), node.epoch.to_string()),
        ]);
        m.registry.register("node", "This node's id and epoch (its start time)", info);
        m
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
