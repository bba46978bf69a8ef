//! Close frames: the RFC 6455 status codes this crate sends, and which codes a peer may send.
//!
//! These are transport-level codes. Chinwag's own codes (4000–4999, with reconnect advice) live in
//! `chinwag-proto`; any code in 3000–4999 passes through this crate untouched.

use crate::WsError;

/// Normal closure; also the answer to a Close frame that carried no code.
pub const NORMAL: u16 = 1000;
/// The endpoint is going away (server shutdown, browser navigating away).
pub const GOING_AWAY: u16 = 1001;
/// The peer broke the WebSocket protocol ([`WsError::Protocol`]).
pub const PROTOCOL_ERROR: u16 = 1002;
/// A text message or close reason was not valid UTF-8 ([`WsError::InvalidUtf8`]).
pub const INVALID_PAYLOAD: u16 = 1007;
/// A message went over a configured limit ([`WsError::TooBig`]).
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The server hit an unexpected condition.
pub const INTERNAL_ERROR: u16 = 1011;

/// A Close frame's body: a status code and a UTF-8 reason of at most 123 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// Status code; always one [`is_valid_close_code`] accepts when received.
    pub code: u16,
    /// Human-readable reason, possibly empty. Never parse it: codes are the API.
    pub reason: String,
}

/// Whether a peer may put `code` on the wire (RFC 6455 §7.4 and the IANA registry).
///
/// Accepted: 1000–1003, 1007–1014 (1012–1014 were registered after the RFC; Chinwag itself sends
/// 1012 when draining), 3000–4999 (libraries and applications). Rejected with 1002: below 1000,
/// 1004 (reserved), 1005/1006/1015 (only ever reported locally, never sent), the unassigned rest of
/// 1016–2999, and 5000 and above.
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Parses a received Close frame's (unmasked) payload.
pub(crate) fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame>, WsError> {
    match payload {
        [] => Ok(None),
        [_] => Err(WsError::Protocol("close frame with a 1-byte payload")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(WsError::Protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
            Ok(Some(CloseFrame { code, reason: reason.to_owned() }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_code_validity_follows_the_registry() {
        for ok in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ] {
            assert!(is_valid_close_code(ok), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            assert!(!is_valid_close_code(bad), "{bad}");
        }
    }

    #[test]
    fn close_payloads() {
        assert_eq!(parse_close_payload(&[]).ok(), Some(None));
        assert!(matches!(parse_close_payload(&[3]), Err(WsError::Protocol(_))));
        assert!(matches!(parse_close_payload(&[0x03, 0xed]), Err(WsError::Protocol(_)))); // 1005
        assert!(matches!(parse_close_payload(&[0x03, 0xe8, 0xff]), Err(WsError::InvalidUtf8)));
        let frame = parse_close_payload(&[0x0f, 0xa0, b'h', b'i']).ok().flatten();
        assert_eq!(frame, Some(CloseFrame { code: 4000, reason: "hi".into() }));
    }
}
