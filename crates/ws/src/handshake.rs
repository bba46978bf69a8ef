//! The opening handshake's key proof (RFC 6455 §4.2.2).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

/// The GUID every server appends to the client's key (§1.3).
const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`:
/// base64(SHA-1(key + GUID)).
pub fn accept_key(sec_websocket_key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(sec_websocket_key);
    sha.update(WEBSOCKET_GUID);
    STANDARD.encode(sha.finalize())
}

/// Whether `key` is what §4.1 requires: the base64 encoding of 16 bytes.
#[cfg(any(feature = "axum", test))]
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    // 16 bytes encode to 24 characters; checking the length first bounds the decoding work.
    key.len() == 24 && STANDARD.decode(key).is_ok_and(|raw| raw.len() == 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn key_validation() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ")); // unpadded
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZSE=")); // 17 bytes
        assert!(!is_valid_key(b"!!!!!!!!!!!!!!!!!!!!!!=="));
        assert!(!is_valid_key(b""));
    }
}
