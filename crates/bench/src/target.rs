//! The servers under test and how each one speaks: the upgrade path, what a client sends to
//! publish, where the body sits in what it receives, and which frames are control chatter.
//!
//! - `chinwag`: Chinwag's protocol (docs/protocol.md): `auth` first, `send` to a conversation,
//!   `message` events (the sending device receives its own message too), `ack` after commit.
//! - `ws`, `uws`: plain WebSocket text frames to the peers under `bench/peers/`: rooms in the
//!   upgrade URL, `{"room":R,"body":B}` sent and broadcast as is.
//! - `socketio`: Socket.IO v4 over the Engine.IO v4 WebSocket transport (no long-polling):
//!   `0{...}` open, `40` namespace connect, `2`/`3` ping/pong, `42["send",R,B]` up and
//!   `42["message",B]` down.

use std::io::Write;

use clap::ValueEnum;

use crate::scan::{self, Stamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Chinwag,
    Ws,
    Uws,
    Socketio,
}

/// What a received text frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A broadcast message (a Chinwag `message` event).
    Message,
    /// Chinwag: a send was committed.
    Ack,
    /// Chinwag: a typed error.
    Error,
    /// Chinwag: `authed`; Socket.IO: namespace connected (`40`).
    Ready,
    /// Engine.IO open packet (`0{...}`): answer with a namespace connect.
    EngineOpen,
    /// Engine.IO ping (`2`): answer `3`.
    EnginePing,
    Other,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Self::Chinwag => "chinwag",
            Self::Ws => "ws",
            Self::Uws => "uws",
            Self::Socketio => "socketio",
        }
    }

    /// The upgrade request's path; `rooms` is ignored by Chinwag (membership lives on the server).
    pub fn path(self, rooms: &str) -> String {
        match self {
            Self::Chinwag => "/v1/ws".into(),
            Self::Ws | Self::Uws => format!("/?rooms={rooms}"),
            Self::Socketio => format!("/socket.io/?EIO=4&transport=websocket&rooms={rooms}"),
        }
    }

    /// What precedes the stamped body in a received message.
    pub fn body_marker(self) -> &'static [u8] {
        match self {
            Self::Chinwag | Self::Ws | Self::Uws => br#""body":""#,
            Self::Socketio => br#"["message",""#,
        }
    }

    pub fn classify(self, payload: &[u8]) -> Kind {
        match self {
            Self::Chinwag => {
                // serde writes the `type` tag first.
                let rest = payload.strip_prefix(br#"{"type":""#).unwrap_or(b"");
                if rest.starts_with(b"message\"") {
                    Kind::Message
                } else if rest.starts_with(b"ack\"") {
                    Kind::Ack
                } else if rest.starts_with(b"error\"") {
                    Kind::Error
                } else if rest.starts_with(b"authed\"") {
                    Kind::Ready
                } else {
                    Kind::Other
                }
            }
            Self::Ws | Self::Uws => Kind::Message,
            Self::Socketio => match payload {
                [b'4', b'2', ..] if payload[2..].starts_with(br#"["message""#) => Kind::Message,
                [b'4', b'0', ..] => Kind::Ready,
                [b'0', b'{', ..] => Kind::EngineOpen,
                [b'2'] => Kind::EnginePing,
                _ => Kind::Other,
            },
        }
    }

    /// The stamp of a received message.
    pub fn stamp(self, payload: &[u8]) -> Option<Stamp> {
        scan::stamp_after(payload, self.body_marker())
    }

    /// Append the payload (not yet framed) of a publish: `room` is a Chinwag conversation id or a
    /// peer room; `request` numbers Chinwag requests and makes the `client_msg_id` unique together
    /// with `sender` (a per-run, per-connection prefix).
    pub fn write_send(
        self,
        out: &mut Vec<u8>,
        room: &str,
        sender: &str,
        request: u64,
        stamp: Stamp,
        size: usize,
    ) {
        match self {
            Self::Chinwag => {
                let _ = write!(
                    out,
                    r#"{{"type":"send","id":{request},"conversation_id":"{room}","client_msg_id":"{sender}-{request}","body":""#
                );
                scan::write_body(out, stamp, size);
                out.extend_from_slice(b"\"}");
            }
            Self::Ws | Self::Uws => {
                let _ = write!(out, r#"{{"room":"{room}","body":""#);
                scan::write_body(out, stamp, size);
                out.extend_from_slice(b"\"}");
            }
            Self::Socketio => {
                let _ = write!(out, r#"42["send","{room}",""#);
                scan::write_body(out, stamp, size);
                out.extend_from_slice(b"\"]");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_are_valid_json_and_their_body_reads_back() {
        let stamp = Stamp { sent_us: 1_700_000_000_000_000, step: 2 };
        for t in [Target::Chinwag, Target::Ws, Target::Uws, Target::Socketio] {
            let mut out = Vec::new();
            t.write_send(&mut out, "room1", "r7p0", 5, stamp, 100);
            let json = if t == Target::Socketio { &out[2..] } else { &out[..] };
            let v: serde_json::Value =
                serde_json::from_slice(json).unwrap_or_else(|e| panic!("{t:?}: {e}"));
            let body = match t {
                Target::Chinwag => {
                    assert_eq!(v["client_msg_id"], "r7p0-5");
                    assert_eq!(v["conversation_id"], "room1");
                    v["body"].as_str().unwrap().to_owned()
                }
                Target::Ws | Target::Uws => v["body"].as_str().unwrap().to_owned(),
                Target::Socketio => {
                    assert_eq!(v[0], "send");
                    v[2].as_str().unwrap().to_owned()
                }
            };
            assert_eq!(body.len(), 100);
            // What the server sends back carries the same body after the protocol's marker.
            let echoed = match t {
                Target::Socketio => format!(r#"42["message","{body}"]"#),
                _ => String::from_utf8(out.clone()).unwrap(),
            };
            if t != Target::Chinwag {
                assert_eq!(t.classify(echoed.as_bytes()), Kind::Message);
            }
            assert_eq!(t.stamp(echoed.as_bytes()), Some(stamp), "{t:?}");
        }
    }

    #[test]
    fn control_frames_are_told_apart() {
        let c = Target::Chinwag;
        assert_eq!(c.classify(br#"{"type":"message","message":{}}"#), Kind::Message);
        assert_eq!(c.classify(br#"{"type":"ack","id":1}"#), Kind::Ack);
        assert_eq!(c.classify(br#"{"type":"authed","id":1}"#), Kind::Ready);
        assert_eq!(c.classify(br#"{"type":"error","id":1}"#), Kind::Error);
        assert_eq!(c.classify(br#"{"type":"conversation"}"#), Kind::Other);
        let s = Target::Socketio;
        assert_eq!(s.classify(br#"0{"sid":"x","pingInterval":25000}"#), Kind::EngineOpen);
        assert_eq!(s.classify(b"2"), Kind::EnginePing);
        assert_eq!(s.classify(br#"40{"sid":"y"}"#), Kind::Ready);
        assert_eq!(s.classify(br#"42["message","1 2 x"]"#), Kind::Message);
        assert_eq!(s.classify(br#"42["other","1"]"#), Kind::Other);
    }
}
