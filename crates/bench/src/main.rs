//! The `chinwag-bench` command line: one subcommand per scenario. Each prints one JSON line of
//! results on stdout and a short human summary on stderr.

use chinwag_bench::scenario::{chat, durable, fanout, idle, noise, slow, storm};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "chinwag-bench",
    version,
    about = "Load generator for Chinwag and its peers (see docs/benchmarks.md)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One room of N members, publish rate swept: delivered %, server CPU per delivery, latency.
    Fanout(fanout::FanoutArgs),
    /// N idle connections, each in two rooms: server memory per connection, handshakes/s.
    Idle(idle::IdleArgs),
    /// Concurrent pipelined senders, ack after commit (Chinwag): acks/s, ack latency.
    Durable(durable::DurableArgs),
    /// One room at a fixed rate, then 1 % of the members stop reading: healthy p99 against the
    /// baseline, server memory, time until the slow ones are cut off, and what they recover.
    Slow(slow::SlowArgs),
    /// N clients drop at once and reconnect within a second, resuming: time until all are live.
    Storm(storm::StormArgs),
    /// Chinwag: N users in a direct and a group conversation each, a send mix at a total rate,
    /// reconnect churn with resume: deliveries/s, latency, CPU per delivery, nothing missed.
    Chat(chat::ChatArgs),
    /// Loopback ping-pong round trips against `echo`: the latency noise floor.
    Noise(noise::NoiseArgs),
    /// A TCP echo server for `noise` (serves one client).
    Echo(noise::EchoArgs),
}

fn main() -> anyhow::Result<()> {
    let result = match Cli::parse().command {
        Command::Fanout(a) => fanout::run(a)?,
        Command::Idle(a) => idle::run(a)?,
        Command::Durable(a) => durable::run(a)?,
        Command::Slow(a) => slow::run(a)?,
        Command::Storm(a) => storm::run(a)?,
        Command::Chat(a) => chat::run(a)?,
        Command::Noise(a) => noise::run(a)?,
        Command::Echo(a) => return noise::echo(a),
    };
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}
