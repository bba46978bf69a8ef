//! Protocol JSON: `ClientFrame::decode` of a typical `send` frame and `ServerFrame::to_json` of a
//! `message` event, the two conversions every message goes through. Run with
//! `cargo bench -p chinwag-proto`.

use chinwag_proto::frames::{ClientFrame, Request, ServerFrame};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SEND: &[u8] = br#"{"type":"send","id":42,"conversation_id":"01JD3Y8K6Q2M5V7W9X0Z1A2B3C","client_msg_id":"dev-7f3a-42","body":"Is the bike still for sale? I could pick it up on Saturday morning."}"#;

const MESSAGE: &str = r#"{"type":"message","message":{"id":"01JD3Y9A7B8C9D0E1F2G3H4J5K","conversation_id":"01JD3Y8K6Q2M5V7W9X0Z1A2B3C","seq":4242,"sender":"alice","client_msg_id":"dev-7f3a-42","kind":"text","body":"Is the bike still for sale? I could pick it up on Saturday morning.","created_at":1795319262001}}"#;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("proto");
    g.throughput(Throughput::Elements(1));
    assert!(matches!(ClientFrame::decode(SEND), Ok(ClientFrame { request: Request::Send(_), .. })));
    g.bench_function("client_frame_decode_send", |b| b.iter(|| ClientFrame::decode(SEND)));
    let event: ServerFrame = serde_json::from_str(MESSAGE).expect("a message event");
    assert!(matches!(event, ServerFrame::Message { .. }));
    g.bench_function("server_frame_encode_message", |b| b.iter(|| event.to_json()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
