//! `chinwag-bench`: a load generator for Chinwag and the peer servers it is compared with.
//!
//! # Layout
//! - [`frame`]: client-side WebSocket framing: parse server frames in place, encode masked frames.
//! - [`scan`]: the few numbers a scenario needs (send time, sweep step, `seq`) found in a frame
//!   without parsing its JSON.
//! - [`target`]: how each server speaks (Chinwag, plain WebSocket for `ws` and uWebSockets.js,
//!   Socket.IO v4): upgrade path, publish frame, where the body is, control chatter.
//! - [`conn`]: one connection: connect from a spread source address, upgrade, read through a
//!   per-thread scratch buffer, write without blocking reads.
//! - [`setup`]: tokens (signed locally), conversations (REST), opening many connections.
//! - [`latency`], [`procstat`]: HdrHistogram summaries; server and generator CPU and memory
//!   from `/proc`.
//! - [`measure`], [`report`]: waiting out the last deliveries; figures as a run reports them
//!   (rounding, shares, MiB, CPU per unit of work) and the tally of `error` frames.
//! - [`chinwag`]: what the reconnecting scenarios speak beyond `auth` and `send`: `auth` with
//!   `resume`, `history` paging, per-conversation `seq` bookkeeping (gaps, duplicates).
//! - [`scenario`]: `fanout`, `idle` (optionally over several processes), `durable`, `slow`,
//!   `storm`, `chat`, `noise`.
//!
//! Everything runs on one current-thread runtime: one core drives every connection, tasks
//! share their counters through `Rc<RefCell<…>>`, and the harness pins the generator to one CPU
//! and the server to the other. Send times travel inside message bodies
//! (`"<µs since epoch> <step> <padding>"`), so a receiver needs no lookup table.

pub mod chinwag;
pub mod clock;
pub mod conn;
pub mod frame;
pub mod latency;
pub mod measure;
pub mod procstat;
pub mod report;
pub mod scan;
pub mod scenario;
pub mod setup;
pub mod target;

/// Run `f` on a fresh current-thread runtime with a `LocalSet` (scenario tasks are `!Send`).
pub fn run_local<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    tokio::task::LocalSet::new().block_on(&rt, f)
}
