//! The `chinwag-bench` command line: one subcommand per scenario. Each prints one JSON line of
//! results on stdout and a short human summary on stderr.

use chinwag_bench::scenario::{durable, fanout, idle, noise};
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
        Command::Noise(a) => noise::run(a)?,
        Command::Echo(a) => return noise::echo(a),
    };
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}
