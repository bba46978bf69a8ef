//! Finding the few numbers a scenario needs in a frame without parsing its JSON: the send time
//! and sweep step inside a message body (`"<µs> <step> <padding>"`), and `"seq":N`.

/// Position of `needle` in `hay`. Searches for the needle's rarest byte (in JSON, quotes and
/// colons are everywhere and letters like `q`, `y`, `b` are not), then compares the rest by
/// hand: the markers are short and sit in the first ~200 bytes of every frame measured.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    let anchor = rarest(needle);
    let a = needle[anchor];
    // Positions where the anchor byte can be while the needle still fits.
    let (lo, hi) = (anchor, hay.len() - needle.len() + anchor);
    let mut at = lo;
    while at <= hi {
        let off = hay[at..=hi].iter().position(|&b| b == a)?;
        let start = at + off - anchor;
        if hay[start..start + needle.len()].iter().zip(needle).all(|(x, y)| x == y) {
            return Some(start);
        }
        at += off + 1;
    }
    None
}

/// Index of the needle byte least likely to occur in JSON text.
fn rarest(needle: &[u8]) -> usize {
    const COMMON_LAST: &[u8] = b"qjzxkvbygwpfmucdlhrsnioate0123456789_-,:\"";
    let rank = |b: u8| COMMON_LAST.iter().position(|&c| c == b.to_ascii_lowercase()).unwrap_or(0);
    (0..needle.len()).min_by_key(|&i| rank(needle[i])).unwrap_or(0)
}

/// The decimal number at the start of `s`, and how many bytes it took.
pub fn leading_u64(s: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    let mut n = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            break;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        n += 1;
    }
    (n > 0).then_some((v, n))
}

/// The number after `key` (for example `"seq":`).
pub fn field_u64(hay: &[u8], key: &[u8]) -> Option<u64> {
    let at = find(hay, key)? + key.len();
    leading_u64(&hay[at..]).map(|(v, _)| v)
}

/// A stamped body starts with the send time in µs and the sweep step: `"<µs> <step> ..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sent_us: u64,
    pub step: u32,
}

/// The stamp right after `marker` (where the protocol puts the body).
pub fn stamp_after(hay: &[u8], marker: &[u8]) -> Option<Stamp> {
    let at = find(hay, marker)? + marker.len();
    let (sent_us, n) = leading_u64(&hay[at..])?;
    let rest = hay.get(at + n + 1..)?;
    let (step, _) = leading_u64(rest)?;
    Some(Stamp { sent_us, step: u32::try_from(step).ok()? })
}

/// Write a body of exactly `size` bytes (at least the stamp): the stamp, a space, then padding.
pub fn write_body(out: &mut Vec<u8>, stamp: Stamp, size: usize) {
    let start = out.len();
    use std::io::Write;
    let _ = write!(out, "{} {} ", stamp.sent_us, stamp.step);
    let used = out.len() - start;
    out.resize(start + size.max(used), b'x');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_markers_anywhere_or_not_at_all() {
        assert_eq!(find(b"abcabd", b"abd"), Some(3));
        assert_eq!(find(b"\"body\":\"", b"\"body\":\""), Some(0));
        assert_eq!(find(b"abc", b"abcd"), None);
        assert_eq!(find(b"aaaa", b"ab"), None);
        assert_eq!(find(b"xxab", b"ab"), Some(2));
        assert_eq!(find(b"", b"a"), None);
        assert_eq!(find(b"abc", b""), None);
        assert_eq!(find(br#"{"seq":1,"body":"2 3"}"#, br#""body":""#), Some(9));
        assert_eq!(find(br#"bbbody"body":"#, br#""body":"#), Some(6));
        assert_eq!(find(b"yy", br#""body":""#), None);
    }

    #[test]
    fn reads_numbers_and_refuses_overflow() {
        assert_eq!(leading_u64(b"123,"), Some((123, 3)));
        assert_eq!(leading_u64(b",1"), None);
        assert_eq!(leading_u64(b"99999999999999999999999"), None);
        assert_eq!(field_u64(br#"{"id":"x","seq":42,"sender":"a"}"#, br#""seq":"#), Some(42));
    }

    #[test]
    fn a_written_body_reads_back_from_a_chinwag_event() {
        let stamp = Stamp { sent_us: 1_795_319_262_001_123, step: 3 };
        let mut body = Vec::new();
        write_body(&mut body, stamp, 100);
        assert_eq!(body.len(), 100);
        let frame = format!(
            r#"{{"type":"message","message":{{"id":"01J","conversation_id":"c","seq":7,"sender":"u1","client_msg_id":"p0-1","kind":"text","body":"{}","created_at":1}}}}"#,
            String::from_utf8(body).unwrap()
        );
        assert_eq!(stamp_after(frame.as_bytes(), br#""body":""#), Some(stamp));
        assert_eq!(field_u64(frame.as_bytes(), br#""seq":"#), Some(7));
        // A body too small for the padding is still a whole stamp.
        let mut short = Vec::new();
        write_body(&mut short, stamp, 4);
        assert_eq!(short, b"1795319262001123 3 ");
        let sio = format!(r#"42["message","{}"]"#, String::from_utf8(short).unwrap());
        assert_eq!(stamp_after(sio.as_bytes(), br#"["message",""#), Some(stamp));
        assert_eq!(stamp_after(b"42[\"message\",\"17 \"]", b"[\"message\",\""), None);
    }
}
