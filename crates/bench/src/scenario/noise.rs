//! `noise`: the loopback ping-pong floor that every latency figure sits on. One TCP connection
//! to an `echo` server (run it pinned to the server's CPU), 100-byte round trips, plain blocking
//! sockets: back to back, and with a gap between pings (sparse traffic wakes idle CPUs, which
//! is what a fan-out receiver sees between messages).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use serde_json::json;

use crate::latency;

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct NoiseArgs {
    /// The echo server (`chinwag-bench echo`).
    #[arg(long, default_value = "127.0.0.1:7999")]
    pub addr: SocketAddr,
    /// Back-to-back round trips.
    #[arg(long, default_value_t = 20_000)]
    pub count: usize,
    /// Round trips with a gap before each.
    #[arg(long, default_value_t = 2_000)]
    pub gapped: usize,
    #[arg(long, default_value_t = 1.0)]
    pub gap_ms: f64,
}

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct EchoArgs {
    #[arg(long, default_value = "127.0.0.1:7999")]
    pub listen: SocketAddr,
    /// Serve one client and exit, or exit after this long with no client.
    #[arg(long, default_value_t = 60.0)]
    pub max_secs: f64,
}

const PING: usize = 100;

pub fn run(args: NoiseArgs) -> anyhow::Result<serde_json::Value> {
    let mut s = TcpStream::connect(args.addr)
        .with_context(|| format!("connecting to the echo server at {}", args.addr))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let ping = [b'p'; PING];
    let mut pong = [0u8; PING];
    let mut round = |s: &mut TcpStream| -> anyhow::Result<u64> {
        let t = Instant::now();
        s.write_all(&ping)?;
        s.read_exact(&mut pong)?;
        Ok(t.elapsed().as_micros() as u64)
    };
    let mut tight = latency::histogram();
    for _ in 0..args.count {
        tight.saturating_record(round(&mut s)?.max(1));
    }
    let mut gapped = latency::histogram();
    for _ in 0..args.gapped {
        std::thread::sleep(Duration::from_secs_f64(args.gap_ms / 1000.0));
        gapped.saturating_record(round(&mut s)?.max(1));
    }
    let (t, g) = (latency::summary(&tight), latency::summary(&gapped));
    eprintln!("noise: loopback round trip back-to-back {}", latency::human(&t));
    eprintln!("noise: with {} ms gaps            {}", args.gap_ms, latency::human(&g));
    Ok(json!({ "scenario": "noise", "back_to_back": t, "gapped": g, "args": args }))
}

/// Echo what one client sends until it closes (or `max_secs` pass without a client).
pub fn echo(args: EchoArgs) -> anyhow::Result<()> {
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.max_secs);
    let mut s = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    anyhow::bail!("no client within {} s", args.max_secs);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e.into()),
        }
    };
    s.set_nonblocking(false)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs_f64(args.max_secs)))?;
    let mut buf = [0u8; 4096];
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) | Err(_) => return Ok(()),
            Ok(n) => n,
        };
        s.write_all(&buf[..n])?;
    }
}
