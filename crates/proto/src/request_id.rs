//! What a request `id` may be, and finding it in a frame that cannot be decoded whole, so that
//! every frame with a readable `id` gets its reply with it (`docs/protocol.md`, "Requests and
//! replies").

/// Largest integer every client can hold exactly (a JavaScript number's safe range).
const MAX_SAFE_ID: u64 = (1 << 53) - 1;

/// An `id` is a string, or an integer a client can compare exactly (|id| ≤ 2^53 − 1): a larger
/// or fractional number could not be echoed back as it was sent.
pub(crate) fn check_id(id: &serde_json::Value) -> Result<(), String> {
    match id {
        serde_json::Value::String(_) => Ok(()),
        serde_json::Value::Number(n)
            if n.as_u64().is_some_and(|v| v <= MAX_SAFE_ID)
                || n.as_i64().is_some_and(|v| v.unsigned_abs() <= MAX_SAFE_ID) =>
        {
            Ok(())
        }
        serde_json::Value::Number(n) => Err(format!(
            "a numeric `id` must be an integer of at most 2^53 - 1 in size (it is echoed back \
             exactly); {n} is not: send it as a string"
        )),
        other => Err(format!("`id` must be a string or a number, not {other}")),
    }
}

/// The raw bytes of the top-level `"id"` member's value when it is a string or a number, found
/// by a flat scan that needs no nesting (so a frame too deep, or cut short after its `id`, still
/// names its request). `None` when there is no such member before the text stops making sense.
pub(crate) fn top_level_id(text: &[u8]) -> Option<&[u8]> {
    let mut at = skip_ws(text, 0);
    if text.get(at) != Some(&b'{') {
        return None;
    }
    at += 1;
    loop {
        at = skip_ws(text, at);
        if text.get(at) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(text, at)?;
        let key = &text[at + 1..key_end - 1];
        at = skip_ws(text, key_end);
        if text.get(at) != Some(&b':') {
            return None;
        }
        at = skip_ws(text, at + 1);
        let value_end = value_end(text, at)?;
        if key == b"id" {
            return match text.get(at)? {
                b'"' | b'-' | b'0'..=b'9' => Some(&text[at..value_end]),
                _ => None,
            };
        }
        at = skip_ws(text, value_end);
        match text.get(at)? {
            b',' => at += 1,
            _ => return None,
        }
    }
}

fn skip_ws(text: &[u8], mut at: usize) -> usize {
    while matches!(text.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// Just past the string that starts at `at` (a `"`).
fn string_end(text: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        match text.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// Just past the value that starts at `at`: a string, a scalar, or an array or object of any
/// depth (counted, not recursed into).
fn value_end(text: &[u8], at: usize) -> Option<usize> {
    match text.get(at)? {
        b'"' => string_end(text, at),
        b'{' | b'[' => {
            let (mut depth, mut i) = (0usize, at);
            loop {
                match text.get(i)? {
                    b'"' => {
                        i = string_end(text, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let mut i = at;
            while let Some(b) = text.get(i) {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                i += 1;
            }
            (i > at).then_some(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::error::ErrorCode;
    use crate::frames::ClientFrame;

    #[test]
    fn the_id_of_a_frame_too_deep_or_cut_short_is_still_found() {
        let deep = format!(
            r#"{{"type":"send","id":"deep-1","conversation_id":"c","client_msg_id":"k","body":"x","payload":{}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let e = ClientFrame::decode(deep.as_bytes()).unwrap_err();
        assert_eq!((e.code, e.id), (ErrorCode::Malformed, Some(serde_json::json!("deep-1"))));
        assert!(e.message.contains("recursion limit"), "{}", e.message);
        let deep_first = format!(
            r#"{{"payload":{}0{},"id":42,"type":"send"}}"#,
            "{\"a\":".repeat(300),
            "}".repeat(300)
        );
        let e = ClientFrame::decode(deep_first.as_bytes()).unwrap_err();
        assert_eq!(e.id, Some(serde_json::json!(42)), "found after a deep member: {}", e.message);
        let cut = br#"{"type":"send", "id" : "cut-7", "body":"unterminated"#;
        assert_eq!(ClientFrame::decode(cut).unwrap_err().id, Some(serde_json::json!("cut-7")));
        let escaped = br#"{"note":"a \"quoted\" id\\","id":9,"type":"x","y":[1,"]"#;
        assert_eq!(ClientFrame::decode(escaped).unwrap_err().id, Some(serde_json::json!(9)));
        for no_id in
            [&br#"{"type":"send","body":"x"#[..], b"[1", b"", b"{\"id\":{\"x\":1", b"{\"id\":"]
        {
            assert_eq!(ClientFrame::decode(no_id).unwrap_err().id, None);
        }
    }

    #[test]
    fn a_numeric_id_a_client_cannot_hold_exactly_is_refused() {
        for ok in ["0", "-7", "9007199254740991", "-9007199254740991"] {
            let frame = format!(r#"{{"type":"ping","id":{ok}}}"#);
            let f = ClientFrame::decode(frame.as_bytes()).unwrap();
            assert_eq!(f.id.unwrap().to_string(), ok);
        }
        for bad in ["9007199254740992", "123456789012345678901234567890", "1.5", "-1e300"] {
            let frame = format!(r#"{{"type":"ping","id":{bad}}}"#);
            let e = ClientFrame::decode(frame.as_bytes()).unwrap_err();
            assert_eq!((e.code, e.id.clone()), (ErrorCode::Invalid, None), "{bad}");
            assert!(e.message.contains("send it as a string"), "{}", e.message);
        }
    }
}
