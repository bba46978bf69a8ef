//! Frame encoding and decoding: `encode_text` of a typical `message` event, and the decoder
//! reading a buffer of many masked client frames through the public `WebSocket::recv` path
//! (an in-memory stream stands in for the socket, so only framing, unmasking and UTF-8 checks
//! are timed). Run with `cargo bench -p chinwag-ws`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use chinwag_ws::{Config, Message, WebSocket, encode_text};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A `send` frame as a client writes it (about 200 bytes).
fn send_payload(i: usize) -> String {
    format!(
        r#"{{"type":"send","id":{i},"conversation_id":"01JD3Y8K6Q2M5V7W9X0Z1A2B3C","client_msg_id":"dev-7f3a-{i}","body":"Is the bike still for sale? I could pick it up on Saturday morning."}}"#
    )
}

/// A `message` event as the server sends it (about 300 bytes).
fn message_event() -> Vec<u8> {
    br#"{"type":"message","message":{"id":"01JD3Y9A7B8C9D0E1F2G3H4J5K","conversation_id":"01JD3Y8K6Q2M5V7W9X0Z1A2B3C","seq":4242,"sender":"alice","client_msg_id":"dev-7f3a-99","kind":"text","body":"Is the bike still for sale? I could pick it up on Saturday morning.","created_at":1795319262001}}"#.to_vec()
}

/// A masked client text frame, as a browser puts it on the wire.
fn masked_text(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = vec![0x81];
    match payload.len() {
        n if n <= 125 => out.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// Reads hand out the buffer in socket-sized pieces; writes go nowhere.
struct MemStream {
    data: Bytes,
    at: usize,
}

impl AsyncRead for MemStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = buf.remaining().min(self.data.len() - self.at).min(64 * 1024);
        let at = self.at;
        buf.put_slice(&self.data[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for MemStream {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_encode");
    let event = message_event();
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode_text_message_event", |b| b.iter(|| encode_text(&event)));
    let big = vec![b'x'; 16 * 1024];
    g.bench_function("encode_text_16KiB", |b| b.iter(|| encode_text(&big)));
    g.finish();
}

fn decode(c: &mut Criterion) {
    const FRAMES: usize = 1000;
    let mut wire = Vec::new();
    for i in 0..FRAMES {
        let key = [(i as u8).wrapping_mul(31), 0x5a, 0xc3, (i >> 8) as u8];
        wire.extend_from_slice(&masked_text(send_payload(i).as_bytes(), key));
    }
    let wire = Bytes::from(wire);
    let mut g = c.benchmark_group("ws_decode");
    g.throughput(Throughput::Elements(FRAMES as u64));
    g.bench_function("decode_1000_masked_send_frames", |b| {
        b.iter_batched(
            || WebSocket::new(MemStream { data: wire.clone(), at: 0 }, Config::default()),
            |mut ws| {
                let mut cx = Context::from_waker(Waker::noop());
                let mut bytes = 0;
                for _ in 0..FRAMES {
                    match ws.poll_recv(&mut cx) {
                        Poll::Ready(Ok(Message::Text(t))) => bytes += t.len(),
                        other => panic!("unexpected {other:?}"),
                    }
                }
                bytes
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, encode, decode);
criterion_main!(benches);
