//! The envelope an event crosses between nodes in: a small binary header (who published it, the
//! topic, what the hub acts on) followed by the [`EncodedEvent`](crate::EncodedEvent) exactly as
//! the publisher serialized it. Decoding never panics: anything malformed is a [`WireError`].
//!
//! Version 1, all integers big-endian, strings as a `u16` length and UTF-8 bytes:
//!
//! ```text
//! u8 version (1) · u64 origin node · u8 topic (0 conversation, 1 user) · str tenant · str id
//! · u8 kind (0 message + u64 seq, 1 joined + str conversation, 2 left + str conversation,
//!   3 other, 4 resync) · u8 skip (0, or 1 + str user) · payload (the rest)
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use chinwag_proto::ids::{ConversationId, TenantId, UserId};

use crate::{EncodedEvent, Event, EventKind, Topic};

/// The envelope version this build writes and reads.
pub const VERSION: u8 = 1;

/// Why bytes from another node are not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The envelope ended before its header did.
    #[error("event envelope truncated")]
    Truncated,
    /// Written by a build with another envelope version.
    #[error("event envelope version {0} is not {VERSION}")]
    Version(u8),
    /// A tag byte with no meaning.
    #[error("event envelope has an unknown {what} tag {tag}")]
    Tag {
        /// Which tag.
        what: &'static str,
        /// Its value.
        tag: u8,
    },
    /// A string that is not UTF-8.
    #[error("event envelope has a string that is not UTF-8")]
    Utf8,
    /// A string longer than the envelope can say.
    #[error("an id of {0} bytes does not fit an event envelope")]
    TooLong(usize),
}

impl Event {
    /// The envelope of this event as published by node `origin`.
    pub fn to_wire(&self, origin: u64) -> Result<Bytes, WireError> {
        let mut b = BytesMut::with_capacity(64 + self.payload.len());
        b.put_u8(VERSION);
        b.put_u64(origin);
        match &self.topic {
            Topic::Conversation(tenant, conversation) => {
                b.put_u8(0);
                put_str(&mut b, tenant.as_str())?;
                put_str(&mut b, conversation.as_str())?;
            }
            Topic::User(tenant, user) => {
                b.put_u8(1);
                put_str(&mut b, tenant.as_str())?;
                put_str(&mut b, user.as_str())?;
            }
        }
        match &self.kind {
            EventKind::Message { seq } => {
                b.put_u8(0);
                b.put_u64(*seq);
            }
            EventKind::Joined(c) => {
                b.put_u8(1);
                put_str(&mut b, c.as_str())?;
            }
            EventKind::Left(c) => {
                b.put_u8(2);
                put_str(&mut b, c.as_str())?;
            }
            EventKind::Other => b.put_u8(3),
            EventKind::Resync => b.put_u8(4),
        }
        match &self.skip_user {
            None => b.put_u8(0),
            Some(u) => {
                b.put_u8(1);
                put_str(&mut b, u.as_str())?;
            }
        }
        b.extend_from_slice(self.payload.bytes());
        Ok(b.freeze())
    }

    /// The event in `wire` and the node that published it. The payload shares `wire`'s bytes.
    pub fn from_wire(wire: &Bytes) -> Result<(u64, Event), WireError> {
        let mut r = Reader { wire, at: 0 };
        let version = r.u8()?;
        if version != VERSION {
            return Err(WireError::Version(version));
        }
        let origin = r.u64()?;
        let topic = match r.u8()? {
            0 => Topic::Conversation(TenantId::new(r.str()?), ConversationId::new(r.str()?)),
            1 => Topic::User(TenantId::new(r.str()?), UserId::new(r.str()?)),
            tag => return Err(WireError::Tag { what: "topic", tag }),
        };
        let kind = match r.u8()? {
            0 => EventKind::Message { seq: r.u64()? },
            1 => EventKind::Joined(ConversationId::new(r.str()?)),
            2 => EventKind::Left(ConversationId::new(r.str()?)),
            3 => EventKind::Other,
            4 => EventKind::Resync,
            tag => return Err(WireError::Tag { what: "kind", tag }),
        };
        let skip_user = match r.u8()? {
            0 => None,
            1 => Some(UserId::new(r.str()?)),
            tag => return Err(WireError::Tag { what: "skip", tag }),
        };
        let payload = EncodedEvent::from_json(wire.slice(r.at..));
        Ok((origin, Event { topic, kind, skip_user, payload }))
    }
}

fn put_str(b: &mut BytesMut, s: &str) -> Result<(), WireError> {
    let len = u16::try_from(s.len()).map_err(|_| WireError::TooLong(s.len()))?;
    b.put_u16(len);
    b.extend_from_slice(s.as_bytes());
    Ok(())
}

struct Reader<'a> {
    wire: &'a Bytes,
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], WireError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.wire.len());
        let end = end.ok_or(WireError::Truncated)?;
        let taken = &self.wire[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes(b.try_into().map_err(|_| WireError::Truncated)?))
    }

    fn str(&mut self) -> Result<String, WireError> {
        let len = self.take(2)?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        let s = self.take(len)?;
        std::str::from_utf8(s).map(str::to_owned).map_err(|_| WireError::Utf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Vec<Event> {
        let t = TenantId::from("acme");
        let c = || Topic::Conversation(t.clone(), "c:1/é".into());
        let payload = EncodedEvent::from_json(r#"{"type":"message","body":"hi\nthere"}"#);
        vec![
            Event {
                topic: c(),
                kind: EventKind::Message { seq: u64::MAX },
                skip_user: None,
                payload: payload.clone(),
            },
            Event {
                topic: Topic::User(t.clone(), "bob".into()),
                kind: EventKind::Joined("c9".into()),
                skip_user: None,
                payload: payload.clone(),
            },
            Event {
                topic: Topic::User(t.clone(), "bob".into()),
                kind: EventKind::Left("c9".into()),
                skip_user: None,
                payload: EncodedEvent::default(),
            },
            Event { topic: c(), kind: EventKind::Other, skip_user: Some("ann".into()), payload },
            Event {
                topic: c(),
                kind: EventKind::Resync,
                skip_user: None,
                payload: EncodedEvent::default(),
            },
        ]
    }

    #[test]
    fn every_event_comes_back_as_it_went_with_its_origin() {
        for event in events() {
            let wire = event.to_wire(0xfeed).unwrap();
            let (origin, back) = Event::from_wire(&wire).unwrap();
            assert_eq!((origin, &back), (0xfeed, &event));
        }
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        for event in events() {
            let wire = event.to_wire(7).unwrap();
            let header = wire.len() - event.payload.len();
            for cut in 0..header {
                let err = Event::from_wire(&wire.slice(..cut)).unwrap_err();
                assert_eq!(err, WireError::Truncated, "cut at {cut}");
            }
            for at in 0..header {
                for byte in [0u8, 4, 0x7f, 0xff] {
                    let mut bad = wire.to_vec();
                    bad[at] = byte;
                    // Any answer but a panic: an error, or another well-formed event.
                    let _ = Event::from_wire(&Bytes::from(bad));
                }
            }
        }
        let mut other = events()[0].to_wire(7).unwrap().to_vec();
        other[0] = 2;
        assert_eq!(Event::from_wire(&Bytes::from(other)), Err(WireError::Version(2)));
        let long = Event {
            topic: Topic::User("t".into(), UserId::new("x".repeat(70_000))),
            ..events()[2].clone()
        };
        assert_eq!(long.to_wire(1), Err(WireError::TooLong(70_000)));
    }
}
