//! How a server frame becomes the bytes that go on a device's queue: encoded once, as a complete
//! WebSocket text frame, and shared by every recipient (the event stream takes the JSON back out
//! of it, see `event_stream.rs`).

use bytes::Bytes;
use chinwag_proto::frames::ServerFrame;

/// Encode a server frame as a complete WebSocket text frame.
pub fn encode_frame(frame: &ServerFrame) -> Bytes {
    chinwag_ws::encode_text(&frame.to_json())
}
