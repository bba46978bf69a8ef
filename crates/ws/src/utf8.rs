//! Incremental UTF-8 validation of a text message while its bytes arrive.
//!
//! Validating as bytes arrive (instead of once the message is complete) fails a bad message as
//! soon as the first impossible byte is in, however the peer splits it into frames or TCP
//! segments, and never scans a byte twice (at most 3 bytes of an incomplete sequence are re-read).

use crate::WsError;

/// Validates `buf[*valid..]`, moving `*valid` past every complete code point.
///
/// A sequence cut off at the end of `buf` is left for the next call; a byte that can never start
/// or continue a valid sequence is an error at once (`std` checks the exact second-byte ranges, so
/// overlong forms, surrogates and code points above U+10FFFF fail on their first bad byte).
pub(crate) fn advance(buf: &[u8], valid: &mut usize) -> Result<(), WsError> {
    let Some(unchecked) = buf.get(*valid..) else {
        return Err(WsError::InvalidUtf8);
    };
    match std::str::from_utf8(unchecked) {
        Ok(_) => {
            *valid = buf.len();
            Ok(())
        }
        Err(e) if e.error_len().is_none() => {
            *valid += e.valid_up_to();
            Ok(())
        }
        Err(_) => Err(WsError::InvalidUtf8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(chunks: &[&[u8]]) -> Result<usize, usize> {
        let mut buf = Vec::new();
        let mut valid = 0;
        for (i, chunk) in chunks.iter().enumerate() {
            buf.extend_from_slice(chunk);
            advance(&buf, &mut valid).map_err(|_| i)?;
        }
        Ok(valid)
    }

    #[test]
    fn carries_incomplete_sequences() {
        let text = "κόσμε€𝄞".as_bytes();
        for split in 0..=text.len() {
            let (a, b) = text.split_at(split);
            assert_eq!(feed(&[a, b]), Ok(text.len()));
        }
        // A lone lead byte is incomplete, not (yet) invalid.
        assert_eq!(feed(&[b"a\xe2\x82"]), Ok(1));
    }

    #[test]
    fn fails_fast_on_the_first_impossible_byte() {
        // 0x110000 in UTF-8 form: invalid on its second byte, before the rest arrives.
        assert_eq!(feed(&[b"ok", b"\xf4\x90"]), Err(1));
        // A surrogate half.
        assert_eq!(feed(&[b"\xed\xa0"]), Err(0));
        assert_eq!(feed(&[b"\xff"]), Err(0));
        assert_eq!(feed(&[b"\xc0"]), Err(0)); // overlong lead byte
    }
}
