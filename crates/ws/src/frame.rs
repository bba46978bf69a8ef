//! RFC 6455 frame layout: opcodes, server-side frame encoding, and client-payload unmasking.
//!
//! Server frames are never masked (§5.1), so encoding is a 2–10 byte header followed by the
//! payload. The `encode_*` functions return ready-to-write bytes, meant to be built once and
//! shared: a broadcast is encoded once and the same `Bytes` handed to every recipient.

use bytes::{BufMut, Bytes, BytesMut};

/// FIN bit of the first header byte: this frame ends its message.
pub(crate) const FIN: u8 = 0x80;
/// RSV1–3 bits of the first header byte; non-zero only with a negotiated extension, and this crate
/// negotiates none.
pub(crate) const RSV: u8 = 0x70;
/// MASK bit of the second header byte; every client frame must set it (§5.1).
pub(crate) const MASKED: u8 = 0x80;

/// Largest control-frame payload (§5.5). Also the largest ping payload [`WebSocket::ping`](crate::WebSocket::ping) accepts.
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Largest close reason: a control payload less the 2-byte code. Longer reasons are cut at a
/// character boundary.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;
/// Longest server frame header: 2 bytes plus an 8-byte extended length (no mask key).
pub(crate) const MAX_SERVER_HEADER: usize = 10;
/// Longest client frame header: 2 bytes, an 8-byte extended length, and the 4-byte mask key.
pub(crate) const MAX_CLIENT_HEADER: usize = 14;

/// Frame opcodes (§5.2). The reserved ones are not representable: parsing them is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpCode {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

impl OpCode {
    pub(crate) fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    pub(crate) fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// A final, unmasked server frame header for `len` payload bytes: the bytes and how many are used.
pub(crate) fn server_header(opcode: OpCode, len: usize) -> ([u8; MAX_SERVER_HEADER], usize) {
    let mut head = [0u8; MAX_SERVER_HEADER];
    head[0] = FIN | opcode as u8;
    // The shortest length encoding, as §5.2 requires of senders.
    let used = if len <= 125 {
        head[1] = len as u8;
        2
    } else if let Ok(len16) = u16::try_from(len) {
        head[1] = 126;
        head[2..4].copy_from_slice(&len16.to_be_bytes());
        4
    } else {
        head[1] = 127;
        head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (head, used)
}

fn encode_into(dst: &mut BytesMut, opcode: OpCode, payload: &[u8]) {
    let (head, used) = server_header(opcode, payload.len());
    dst.reserve(used + payload.len());
    dst.put_slice(&head[..used]);
    dst.put_slice(payload);
}

fn encode(opcode: OpCode, payload: &[u8]) -> Bytes {
    // Exactly sized, so the frame holds no slack while it sits in a queue.
    let mut dst = BytesMut::with_capacity(MAX_SERVER_HEADER + payload.len());
    encode_into(&mut dst, opcode, payload);
    dst.freeze()
}

/// A complete text frame. `payload` must be UTF-8; it is not checked (the server encodes JSON).
pub fn encode_text(payload: &[u8]) -> Bytes {
    encode(OpCode::Text, payload)
}

/// A complete binary frame.
pub fn encode_binary(payload: &[u8]) -> Bytes {
    encode(OpCode::Binary, payload)
}

/// Appends a complete text frame to `dst`, to concatenate several frames into one shared buffer
/// that goes out in one write.
pub fn encode_text_into(dst: &mut BytesMut, payload: &[u8]) {
    encode_into(dst, OpCode::Text, payload);
}

/// Appends a complete binary frame to `dst`.
pub fn encode_binary_into(dst: &mut BytesMut, payload: &[u8]) {
    encode_into(dst, OpCode::Binary, payload);
}

/// A complete Close frame with `code` and `reason`. A reason over [`MAX_CLOSE_REASON`] bytes is cut
/// at the last character boundary that fits, so the frame is always valid.
pub fn encode_close(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    // Terminates: index 0 is always a boundary.
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = reason.get(..end).unwrap_or_default();
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
    encode(OpCode::Close, &payload[..2 + reason.len()])
}

/// A ping or pong frame; `None` if `payload` is over [`MAX_CONTROL_PAYLOAD`].
pub(crate) fn encode_control(opcode: OpCode, payload: &[u8]) -> Option<Bytes> {
    (payload.len() <= MAX_CONTROL_PAYLOAD).then(|| encode(opcode, payload))
}

/// XORs `data` with the client's mask key, `offset` bytes into the frame's payload (§5.3).
///
/// Works a machine word at a time: this runs over every received payload byte.
pub(crate) fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut key = mask;
    key.rotate_left(offset % 4);
    let wide = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut words = data.chunks_exact_mut(8);
    for word in words.by_ref() {
        if let Ok(word) = <&mut [u8; 8]>::try_from(word) {
            *word = (u64::from_ne_bytes(*word) ^ wide).to_ne_bytes();
        }
    }
    // The remainder starts a multiple of 8 (so of 4) bytes in: the rotated key lines up again.
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths_use_the_shortest_form() {
        for (len, used, second) in
            [(0, 2, 0u8), (125, 2, 125), (126, 4, 126), (65535, 4, 126), (65536, 10, 127)]
        {
            let (head, n) = server_header(OpCode::Binary, len);
            assert_eq!((n, head[1]), (used, second), "len {len}");
            assert_eq!(head[0], 0x82);
        }
        let (head, _) = server_header(OpCode::Text, 65536);
        assert_eq!(&head[2..10], &65536u64.to_be_bytes());
    }

    #[test]
    fn close_reason_is_cut_at_a_char_boundary() {
        let long = "é".repeat(100); // 200 bytes
        let frame = encode_close(1000, &long);
        let payload = &frame[2..];
        assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
        assert_eq!(payload.len(), 2 + 122);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
        assert_eq!(&encode_close(4001, "x")[..], &[0x88, 3, 0x0f, 0xa1, b'x']);
    }

    #[test]
    fn mask_is_position_aware() {
        let mask = [1, 2, 3, 4];
        let plain: Vec<u8> = (0..37).collect();
        let mut whole = plain.clone();
        apply_mask(&mut whole, mask, 0);
        for split in 0..plain.len() {
            let mut parts = plain.clone();
            let (a, b) = parts.split_at_mut(split);
            apply_mask(a, mask, 0);
            apply_mask(b, mask, split);
            assert_eq!(parts, whole, "split at {split}");
        }
        for (i, b) in whole.iter().enumerate() {
            assert_eq!(*b, plain[i] ^ mask[i % 4]);
        }
    }
}
