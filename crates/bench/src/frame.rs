//! Client-side WebSocket framing (RFC 6455), only what a load generator needs: parse the
//! server's unmasked frames in place (no copy, no allocation) and encode masked client frames.
//! Fragmented messages are not reassembled: a scenario sees the first fragment (where the
//! timestamp is) and counts the message once; every server measured here sends whole frames.

use std::cell::Cell;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Largest frame payload accepted from a server (sanity bound, far above every scenario).
pub const MAX_PAYLOAD: u64 = 16 << 20;

/// One complete frame, borrowed from the read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub opcode: u8,
    pub fin: bool,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// A server must not mask its frames.
    Masked,
    /// Over [`MAX_PAYLOAD`].
    TooLarge(u64),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Masked => f.write_str("the server sent a masked frame"),
            Self::TooLarge(n) => write!(f, "the server sent a frame of {n} bytes"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Parse one frame at the start of `buf`: `Ok(None)` while it is incomplete, else the frame and
/// the number of bytes it took.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    let [b0, b1, ..] = *buf else { return Ok(None) };
    if b1 & 0x80 != 0 {
        return Err(FrameError::Masked);
    }
    let (len, header) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => (u64::from_be_bytes(b.try_into().expect("8 bytes")), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if len > MAX_PAYLOAD {
        return Err(FrameError::TooLarge(len));
    }
    let end = header + len as usize;
    match buf.get(header..end) {
        Some(payload) => Ok(Some((Frame { opcode: b0 & 0x0f, fin: b0 & 0x80 != 0, payload }, end))),
        None => Ok(None),
    }
}

/// Append a complete masked client frame to `out`.
pub fn encode_masked(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let key = mask_key();
    out.push(0x80 | opcode);
    let n = payload.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else if n <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key);
}

/// XOR `buf` with the repeated 4-byte `key`, eight bytes at a time.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes((&*c).try_into().expect("8 bytes")) ^ wide;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    // Chunks of 8 keep the key phase, so the remainder starts at key[0] again.
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

thread_local! {
    /// xorshift64 state: mask keys need to vary, not to be secret, in a load generator.
    static RNG: Cell<u64> = const { Cell::new(0x9E37_79B9_7F4A_7C15) };
}

fn mask_key() -> [u8; 4] {
    RNG.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x as u32).to_ne_bytes()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0x80 | opcode];
        let n = payload.len();
        if n < 126 {
            v.push(n as u8);
        } else if n <= 0xffff {
            v.push(126);
            v.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            v.push(127);
            v.extend_from_slice(&(n as u64).to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn parses_every_length_form_and_waits_for_the_rest() {
        for n in [0usize, 5, 125, 126, 1000, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let wire = server_frame(OP_TEXT, &payload);
            for cut in [0, 1, wire.len() / 2, wire.len() - 1] {
                if cut < wire.len() {
                    assert_eq!(parse(&wire[..cut]).unwrap(), None, "n={n} cut={cut}");
                }
            }
            let mut twice = wire.clone();
            twice.extend_from_slice(&wire);
            let (f, used) = parse(&twice).unwrap().unwrap();
            assert_eq!(
                (f.opcode, f.fin, f.payload, used),
                (OP_TEXT, true, &payload[..], wire.len())
            );
        }
    }

    #[test]
    fn refuses_masked_and_huge_frames() {
        assert_eq!(parse(&[0x81, 0x85, 1, 2, 3, 4, 0]), Err(FrameError::Masked));
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&(MAX_PAYLOAD + 1).to_be_bytes());
        assert_eq!(parse(&huge), Err(FrameError::TooLarge(MAX_PAYLOAD + 1)));
    }

    #[test]
    fn masked_frames_unmask_to_the_payload() {
        for n in [0usize, 3, 8, 13, 125, 126, 300, 70000] {
            let payload: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
            let mut out = Vec::new();
            encode_masked(&mut out, OP_TEXT, &payload);
            assert_eq!(out[0], 0x81);
            assert_eq!(out[1] & 0x80, 0x80, "client frames are masked");
            let (len, header) = match out[1] & 0x7f {
                126 => (u16::from_be_bytes([out[2], out[3]]) as usize, 4),
                127 => (u64::from_be_bytes(out[2..10].try_into().unwrap()) as usize, 10),
                n => (n as usize, 2),
            };
            assert_eq!(len, n);
            let key: [u8; 4] = out[header..header + 4].try_into().unwrap();
            let mut body = out[header + 4..].to_vec();
            // The reference: byte by byte.
            for (i, b) in body.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
            assert_eq!(body, payload);
        }
    }
}
