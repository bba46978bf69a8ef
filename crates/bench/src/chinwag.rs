//! The parts of Chinwag's protocol that the reconnecting scenarios (`slow`, `storm`, `chat`)
//! need beyond `auth` and `send`: `auth` with `resume` positions, the `resumed` reply, paging the
//! rest with `history` when a replay stopped at its cap, and per-conversation `seq` bookkeeping
//! that counts gaps and duplicates (docs/protocol.md, "Resume" and "Detecting gaps").

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::conn::{Conn, Open};
use crate::scan;

/// The `type` of a Chinwag server frame (serde writes the tag first).
pub fn frame_type(payload: &[u8]) -> &[u8] {
    let Some(rest) = payload.strip_prefix(br#"{"type":""#) else { return b"" };
    let end = rest.iter().position(|&b| b == b'"').unwrap_or(0);
    &rest[..end]
}

/// The string value after `key` (for example `"conversation_id":"`), up to the next quote.
/// Ids never contain escaped quotes.
pub fn field_str<'a>(hay: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let at = scan::find(hay, key)? + key.len();
    let len = hay[at..].iter().position(|&b| b == b'"')?;
    Some(&hay[at..at + len])
}

/// The `message` of a `message` event: its conversation and `seq`.
pub fn message_position(payload: &[u8]) -> Option<(&[u8], u64)> {
    let conv = field_str(payload, br#""conversation_id":""#)?;
    let seq = scan::field_u64(payload, br#""seq":"#)?;
    Some((conv, seq))
}

/// An `auth` frame with a `resume` that lists `positions` (conversation id, highest `seq` held).
pub fn auth_resume_frame(token: &str, positions: &[(String, u64)]) -> Vec<u8> {
    let positions: Vec<serde_json::Value> = positions
        .iter()
        .map(|(c, s)| serde_json::json!({"conversation_id": c, "seq": s}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "type": "auth", "id": 0, "token": token, "resume": {"positions": positions}
    }))
    .expect("json")
}

/// A `history` request for the page after `after`.
pub fn history_frame(id: u64, conversation: &str, after: u64, limit: u32) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": "history", "id": id, "conversation_id": conversation, "after": after, "limit": limit
    }))
    .expect("json")
}

/// What one conversation's stream of `seq`s looked like to one device.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeqTrack {
    /// The highest `seq` held (0: none yet).
    pub last: u64,
    /// Distinct messages received.
    pub received: u64,
    /// Messages skipped over: a `seq` arrived more than one past `last`.
    pub gaps: u64,
    /// Messages received again (`seq` ≤ `last`).
    pub dups: u64,
}

impl SeqTrack {
    /// Start from a known position (messages up to `last` are held already).
    pub fn at(last: u64) -> Self {
        Self { last, ..Self::default() }
    }

    /// Count one message; returns whether it was new.
    pub fn see(&mut self, seq: u64) -> bool {
        if seq <= self.last {
            self.dups += 1;
            return false;
        }
        self.gaps += seq - self.last - 1;
        self.last = seq;
        self.received += 1;
        true
    }
}

/// The `resumed` reply: the conversations whose replay stopped at the cap, with the `seq` the
/// replay reached.
pub fn incomplete_conversations(resumed: &[u8]) -> Vec<(String, u64)> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(resumed) else { return Vec::new() };
    v["conversations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["complete"] == false)
        .filter_map(|c| Some((c["conversation_id"].as_str()?.to_owned(), c["to_seq"].as_u64()?)))
        .collect()
}

/// Reconnect as a returning device: connect from `source`, upgrade, send `auth` with `resume`
/// positions, and read until `resumed`. Every `message` event goes to `on_message` (payload,
/// time read, and whether it was replayed: `false` for live events that follow `resumed` in
/// the same read); the conversations needing `history` paging are returned.
pub async fn reconnect(
    server: SocketAddr,
    source: IpAddr,
    token: &str,
    positions: &[(String, u64)],
    limit: Duration,
    on_message: &mut impl FnMut(&[u8], u64, bool),
) -> io::Result<(Conn, Vec<(String, u64)>)> {
    let opening = async {
        let mut conn = Conn::connect(server, source, "/v1/ws").await?;
        conn.queue_text(&auth_resume_frame(token, positions));
        conn.flush().await?;
        let done: RefCell<Option<Vec<(String, u64)>>> = RefCell::new(None);
        let failure: RefCell<Option<String>> = RefCell::new(None);
        let mut on_text = |payload: &[u8], now: u64, _out: &mut Vec<u8>| match frame_type(payload) {
            b"message" => on_message(payload, now, done.borrow().is_none()),
            b"resumed" => *done.borrow_mut() = Some(incomplete_conversations(payload)),
            b"error" => {
                *failure.borrow_mut() = Some(String::from_utf8_lossy(payload).into_owned());
            }
            _ => {}
        };
        conn.read_carried(&mut on_text)?;
        while done.borrow().is_none() && failure.borrow().is_none() {
            if conn.read(&mut on_text).await? == Open::No {
                return Err(io::Error::other(format!(
                    "closed while resuming (code {:?})",
                    conn.close_code
                )));
            }
            conn.flush().await?;
        }
        if let Some(f) = failure.take() {
            return Err(io::Error::other(format!("refused: {f}")));
        }
        Ok((conn, done.take().unwrap_or_default()))
    };
    tokio::time::timeout(limit, opening).await.map_err(|_| io::Error::other("resume timed out"))?
}

/// Page `conversation` forward from `after` with `history` until nothing is left, handing every
/// message to `on_message`, and live `message` events that arrive meanwhile to `on_live`.
/// Returns the number of pages.
pub async fn page_history(
    conn: &mut Conn,
    conversation: &str,
    mut after: u64,
    on_message: &mut impl FnMut(u64, &[u8], u64),
    on_live: &mut impl FnMut(&[u8], u64),
) -> io::Result<u32> {
    let mut pages = 0;
    let mut id = 1_000_000;
    loop {
        id += 1;
        conn.queue_text(&history_frame(id, conversation, after, 200));
        conn.flush().await?;
        let reply: RefCell<Option<Vec<u8>>> = RefCell::new(None);
        let mut on_text = |payload: &[u8], now: u64, _out: &mut Vec<u8>| match frame_type(payload) {
            b"history" | b"error" => *reply.borrow_mut() = Some(payload.to_vec()),
            b"message" => on_live(payload, now),
            _ => {}
        };
        while reply.borrow().is_none() {
            if conn.read(&mut on_text).await? == Open::No {
                return Err(io::Error::other("closed while paging history"));
            }
            conn.flush().await?;
        }
        pages += 1;
        let reply = reply.take().unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(&reply).map_err(io::Error::other)?;
        if v["type"] == "error" {
            return Err(io::Error::other(format!("history refused: {v}")));
        }
        let now = crate::clock::now_us();
        for m in v["messages"].as_array().into_iter().flatten() {
            let seq = m["seq"].as_u64().unwrap_or(0);
            after = after.max(seq);
            on_message(seq, m["body"].as_str().unwrap_or("").as_bytes(), now);
        }
        if v["has_more"] != true {
            return Ok(pages);
        }
    }
}

/// Highest `seq` per conversation, as a resume position list.
pub fn positions(tracks: &HashMap<String, SeqTrack>) -> Vec<(String, u64)> {
    tracks.iter().map(|(c, t)| (c.clone(), t.last)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_types_fields_and_positions() {
        let m = br#"{"type":"message","message":{"id":"01J","conversation_id":"c9","seq":7,"body":"1 2 x"}}"#;
        assert_eq!(frame_type(m), b"message");
        assert_eq!(frame_type(b"[]"), b"");
        assert_eq!(message_position(m), Some((&b"c9"[..], 7)));
        let r = br#"{"type":"resumed","id":0,"cursor":1,"conversations":[{"conversation_id":"a","from_seq":1,"to_seq":1001,"last_seq":5000,"complete":false},{"conversation_id":"b","from_seq":3,"to_seq":4,"last_seq":4,"complete":true}],"unavailable":[]}"#;
        assert_eq!(frame_type(r), b"resumed");
        assert_eq!(incomplete_conversations(r), vec![("a".to_owned(), 1001)]);
        let auth: serde_json::Value =
            serde_json::from_slice(&auth_resume_frame("t", &[("a".into(), 4)])).unwrap();
        assert_eq!(auth["resume"]["positions"][0]["seq"], 4);
    }

    #[test]
    fn seq_tracking_counts_gaps_and_duplicates() {
        let mut t = SeqTrack::at(3);
        assert!(t.see(4));
        assert!(!t.see(4));
        assert!(t.see(7));
        assert_eq!((t.last, t.received, t.gaps, t.dups), (7, 2, 2, 1));
    }
}
