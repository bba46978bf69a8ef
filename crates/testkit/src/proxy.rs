//! A loopback TCP proxy between clients and a server, for tests that control the network: it
//! can add latency in each direction, cut every connection at a random moment, cut them all at
//! once, and follow a server that restarted on another port.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Chunks in flight per direction of one connection; the reader waits when they are full, so a
/// slow direction slows its sender down instead of buffering without bound.
const CHUNKS_IN_FLIGHT: usize = 256;

#[derive(Debug)]
struct Settings {
    upstream: SocketAddr,
    /// Each connection is cut after a random lifetime in this range, when set.
    cut_after: Option<(Duration, Duration)>,
    /// Cancelled by `cut_all`, then replaced.
    generation: CancellationToken,
}

/// See the module documentation. Stops when dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    settings: Arc<Mutex<Settings>>,
    delay_us: Arc<AtomicU64>,
    accepted: Arc<AtomicU64>,
    cuts: Arc<AtomicU64>,
    stop: CancellationToken,
}

impl Proxy {
    /// Listen on `127.0.0.1:0` and forward to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let settings = Arc::new(Mutex::new(Settings {
            upstream,
            cut_after: None,
            generation: CancellationToken::new(),
        }));
        let proxy = Self {
            addr,
            settings,
            delay_us: Arc::new(AtomicU64::new(0)),
            accepted: Arc::new(AtomicU64::new(0)),
            cuts: Arc::new(AtomicU64::new(0)),
            stop: CancellationToken::new(),
        };
        let (settings, delay, accepted, cuts, stop) = (
            proxy.settings.clone(),
            proxy.delay_us.clone(),
            proxy.accepted.clone(),
            proxy.cuts.clone(),
            proxy.stop.clone(),
        );
        tokio::spawn(async move {
            let mut rng = seed();
            loop {
                let client = tokio::select! {
                    _ = stop.cancelled() => return,
                    a = listener.accept() => match a {
                        Ok((s, _)) => s,
                        Err(_) => continue,
                    },
                };
                accepted.fetch_add(1, Ordering::Relaxed);
                let (upstream, lifetime, generation) = {
                    let s = settings.lock().expect("proxy settings");
                    let lifetime = s.cut_after.map(|(lo, hi)| {
                        let span = hi.saturating_sub(lo).as_micros() as u64;
                        lo + Duration::from_micros(next(&mut rng) % span.max(1))
                    });
                    (s.upstream, lifetime, s.generation.clone())
                };
                let (delay, cuts, stop) = (delay.clone(), cuts.clone(), stop.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else { return };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let pumps = async {
                        tokio::join!(pump(cr, sw, delay.clone()), pump(sr, cw, delay));
                    };
                    let cut = async {
                        match lifetime {
                            Some(l) => tokio::time::sleep(l).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = pumps => {}
                        _ = cut => { cuts.fetch_add(1, Ordering::Relaxed); }
                        _ = generation.cancelled() => { cuts.fetch_add(1, Ordering::Relaxed); }
                        _ = stop.cancelled() => {}
                    }
                });
            }
        });
        proxy
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebSocket URL of the server through this proxy.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    /// Send new connections to `upstream` (the server restarted on another port).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.settings.lock().expect("proxy settings").upstream = upstream;
    }

    /// Delay every chunk by `delay` in each direction (round trips grow by twice that).
    pub fn set_delay(&self, delay: Duration) {
        self.delay_us.store(delay.as_micros() as u64, Ordering::Relaxed);
    }

    /// Cut each new connection after a random lifetime in `[lo, hi)`; `None` stops cutting.
    pub fn set_cut_after(&self, range: Option<(Duration, Duration)>) {
        self.settings.lock().expect("proxy settings").cut_after = range;
    }

    /// Cut every open connection now.
    pub fn cut_all(&self) {
        let mut s = self.settings.lock().expect("proxy settings");
        s.generation.cancel();
        s.generation = CancellationToken::new();
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections cut so far (randomly or by `cut_all`).
    pub fn cuts(&self) -> u64 {
        self.cuts.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Copy one direction, holding each chunk back by the current delay.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay_us: Arc<AtomicU64>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(CHUNKS_IN_FLIGHT);
    let reader = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let due =
                        Instant::now() + Duration::from_micros(delay_us.load(Ordering::Relaxed));
                    if tx.send((due, buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7)
}

/// SplitMix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
