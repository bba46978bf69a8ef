//! How a server frame becomes bytes: serialized once as an [`EncodedEvent`] (compact JSON)
//! shared by every recipient, on this node and others; each transport frames it at its edge.
//! The WebSocket edge is here ([`ws_frame`], [`ws_encode`]); the event stream's is
//! `event_stream.rs` (one `data:` line per event).

use bytes::{Bytes, BytesMut};
use chinwag_broker::EncodedEvent;
use chinwag_proto::frames::ServerFrame;

/// Serialize a server frame once.
pub fn encode_event(frame: &ServerFrame) -> EncodedEvent {
    EncodedEvent::from_json(frame.to_json())
}

/// One encoded event as a complete WebSocket text frame.
pub fn ws_frame(event: &[u8]) -> Bytes {
    chinwag_ws::encode_text(event)
}

/// Encoded events as WebSocket text frames back to back, in one buffer (one write).
pub fn ws_frames<E: AsRef<[u8]>>(events: impl IntoIterator<Item = E>, size_hint: usize) -> Bytes {
    let mut b = BytesMut::with_capacity(size_hint);
    for e in events {
        chinwag_ws::encode_text_into(&mut b, e.as_ref());
    }
    b.freeze()
}

/// A server frame straight to a WebSocket text frame (replies, written to one device only).
pub fn ws_encode(frame: &ServerFrame) -> Bytes {
    chinwag_ws::encode_text(&frame.to_json())
}
