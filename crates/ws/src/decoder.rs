//! The incremental frame decoder: bytes in, complete messages and control frames out.
//!
//! It is fed whatever the socket produced (any split: one byte at a time or many frames at once)
//! and consumes every byte it is given into its own state until an event completes, so the caller
//! never has to keep an unparsed remainder of a frame. What it keeps between calls:
//! - an incomplete frame header, inline (at most 14 bytes, no allocation);
//! - the data message being reassembled, allocated as its payload arrives and handed out (not
//!   copied) as the message's `Bytes` when it completes;
//! - the payload of a control frame split across reads (at most 125 bytes), freed once handled.
//!
//! Between messages it owns no heap memory.

use bytes::Bytes;

use crate::close::parse_close_payload;
use crate::frame::{FIN, MASKED, MAX_CLIENT_HEADER, MAX_CONTROL_PAYLOAD, OpCode, RSV, apply_mask};
use crate::{Config, Message, WsError, utf8};

#[cfg(test)]
mod tests;

/// What one call to [`Decoder::decode`] can complete.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A message for the application: text, binary, pong or close.
    Message(Message),
    /// A ping; the connection answers it and does not surface it.
    Ping(Bytes),
}

pub(crate) struct Decoder {
    /// Copied from [`Config`]: checked against every data frame header.
    max_message_bytes: usize,
    max_fragments: usize,
    state: State,
    /// The data message being reassembled. `None` between messages, so an idle connection holds
    /// no payload memory.
    message: Option<Partial>,
    /// Payload of the control frame being read (at most 125 bytes). Taken, and so freed, as soon
    /// as the frame is complete.
    control: Vec<u8>,
}

enum State {
    /// Collecting a frame header. Its bytes live inline: a split header costs no allocation.
    Header { buf: [u8; MAX_CLIENT_HEADER], len: u8 },
    /// Reading the payload of the frame described here.
    Payload(Frame),
    /// A Close frame was decoded or an error returned: nothing after it is parsed (§5.5.1).
    Done,
}

impl State {
    const fn header() -> Self {
        State::Header { buf: [0; MAX_CLIENT_HEADER], len: 0 }
    }
}

#[derive(Clone, Copy)]
struct Frame {
    opcode: OpCode,
    fin: bool,
    mask: [u8; 4],
    /// Payload bytes still to come. Fits in `usize`: checked against the limits first.
    remaining: usize,
    /// Payload bytes already read, to line the mask key up with the next chunk.
    offset: usize,
}

/// A data message under reassembly.
struct Partial {
    text: bool,
    payload: Vec<u8>,
    /// Frames received so far, checked against `max_fragments`.
    fragments: usize,
    /// For text: payload bytes known to be valid UTF-8 (the rest is at most 3 bytes of an
    /// incomplete sequence).
    utf8_valid: usize,
}

impl Decoder {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            max_message_bytes: config.max_message_bytes,
            max_fragments: config.max_fragments,
            state: State::header(),
            message: None,
            control: Vec::new(),
        }
    }

    /// Consumes bytes from `input` until an event completes or `input` runs out; returns how many
    /// bytes were consumed and the event, if any. Bytes after a completed event are not consumed:
    /// the caller feeds them again. After an error, or once a Close frame was decoded, every
    /// further byte is consumed and ignored.
    pub(crate) fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), WsError> {
        let result = self.decode_inner(input);
        if result.is_err() {
            self.finish();
        }
        result
    }

    /// Whether the decoder holds no heap memory and no partial frame.
    #[cfg(test)]
    pub(crate) fn is_idle(&self) -> bool {
        let between_frames = matches!(self.state, State::Header { len: 0, .. } | State::Done);
        between_frames && self.message.is_none() && self.control.capacity() == 0
    }

    /// Stops parsing and frees what a half-received message held.
    pub(crate) fn finish(&mut self) {
        self.state = State::Done;
        self.message = None;
        self.control = Vec::new();
    }

    fn decode_inner(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), WsError> {
        let mut pos = 0;
        loop {
            let rest = input.get(pos..).unwrap_or_default();
            match &mut self.state {
                State::Done => return Ok((input.len(), None)),
                State::Header { buf, len } => {
                    let have = usize::from(*len);
                    let need = if have < 2 { 2 } else { header_len(buf[1]) };
                    let take = (need - have).min(rest.len());
                    buf[have..have + take].copy_from_slice(&rest[..take]);
                    pos += take;
                    // At most 14: fits.
                    *len = (have + take) as u8;
                    if have + take < need {
                        return Ok((pos, None));
                    }
                    let head = *buf;
                    if need == 2 {
                        // Everything but the extended length and the mask key is known: check it
                        // now, so a bad frame fails before the peer sends any more of it.
                        self.check_start(head[0], head[1])?;
                        continue;
                    }
                    let frame = self.begin_frame(&head[..need])?;
                    self.state = State::Payload(frame);
                }
                State::Payload(frame) => {
                    if frame.remaining > 0 {
                        if rest.is_empty() {
                            return Ok((pos, None));
                        }
                        let take = frame.remaining.min(rest.len());
                        let chunk = &rest[..take];
                        let at = *frame;
                        frame.remaining -= take;
                        frame.offset += take;
                        pos += take;
                        self.append(&at, chunk)?;
                        continue;
                    }
                    let frame = *frame;
                    self.state = State::header();
                    if let Some(event) = self.end_frame(&frame)? {
                        return Ok((pos, Some(event)));
                    }
                }
            }
        }
    }

    /// Checks the first two header bytes (§5.2, §5.4, §5.5).
    fn check_start(&self, b0: u8, b1: u8) -> Result<(), WsError> {
        if b0 & RSV != 0 {
            return Err(WsError::Protocol("reserved bits set without a negotiated extension"));
        }
        let opcode = OpCode::from_bits(b0 & 0x0F).ok_or(WsError::Protocol("reserved opcode"))?;
        if b1 & MASKED == 0 {
            return Err(WsError::Protocol("client frame not masked"));
        }
        let fin = b0 & FIN != 0;
        let len7 = usize::from(b1 & 0x7F);
        match opcode {
            _ if opcode.is_control() => {
                if !fin {
                    return Err(WsError::Protocol("fragmented control frame"));
                }
                if len7 > MAX_CONTROL_PAYLOAD {
                    return Err(WsError::Protocol("control frame payload over 125 bytes"));
                }
            }
            OpCode::Continuation if self.message.is_none() => {
                return Err(WsError::Protocol("continuation frame without a message to continue"));
            }
            OpCode::Text | OpCode::Binary if self.message.is_some() => {
                return Err(WsError::Protocol("new data frame inside a fragmented message"));
            }
            _ => {}
        }
        Ok(())
    }

    /// Reads the complete header (already checked by `check_start`) and applies the limits.
    fn begin_frame(&mut self, head: &[u8]) -> Result<Frame, WsError> {
        let b0 = head[0];
        let opcode = OpCode::from_bits(b0 & 0x0F).ok_or(WsError::Protocol("reserved opcode"))?;
        let len: u64 = match head[1] & 0x7F {
            126 => u64::from(u16::from_be_bytes([head[2], head[3]])),
            127 => {
                let mut wide = [0u8; 8];
                wide.copy_from_slice(&head[2..10]);
                let len = u64::from_be_bytes(wide);
                if len >> 63 != 0 {
                    return Err(WsError::Protocol("64-bit payload length with the top bit set"));
                }
                len
            }
            short => u64::from(short),
        };
        let mut mask = [0u8; 4];
        mask.copy_from_slice(&head[head.len() - 4..]);
        let frame = |remaining| Frame { opcode, fin: b0 & FIN != 0, mask, remaining, offset: 0 };

        if opcode.is_control() {
            // At most 125 (checked in `check_start`).
            let len = len as usize;
            self.control = Vec::with_capacity(len);
            return Ok(frame(len));
        }
        let so_far = self.message.as_ref().map_or(0, |m| m.payload.len());
        let fragments = self.message.as_ref().map_or(0, |m| m.fragments) + 1;
        // Checked before a single payload byte is buffered: a frame that would go over the limit
        // costs nothing.
        if fragments > self.max_fragments
            || (so_far as u64).saturating_add(len) > self.max_message_bytes as u64
        {
            return Err(WsError::TooBig);
        }
        let len = usize::try_from(len).map_err(|_| WsError::TooBig)?;
        match &mut self.message {
            Some(message) => message.fragments = fragments,
            None => {
                self.message = Some(Partial {
                    text: opcode == OpCode::Text,
                    payload: Vec::new(),
                    fragments,
                    utf8_valid: 0,
                })
            }
        }
        Ok(frame(len))
    }

    /// Unmasks a chunk of payload into the message or control buffer.
    fn append(&mut self, frame: &Frame, chunk: &[u8]) -> Result<(), WsError> {
        let target = if frame.opcode.is_control() {
            &mut self.control
        } else {
            let Some(message) = self.message.as_mut() else {
                return Err(WsError::Protocol("payload without a message"));
            };
            // `frame` is as it was before this chunk: `remaining` still counts it. A message in
            // one frame (the common case) never grows past that frame; a fragmented one may grow
            // ahead of its fragments, up to the message limit.
            let limit = if message.fragments == 1 {
                message.payload.len() + frame.remaining
            } else {
                self.max_message_bytes
            };
            reserve_payload(&mut message.payload, chunk.len(), limit);
            &mut message.payload
        };
        let start = target.len();
        target.extend_from_slice(chunk);
        apply_mask(&mut target[start..], frame.mask, frame.offset);
        if let Some(message) =
            self.message.as_mut().filter(|m| m.text && !frame.opcode.is_control())
        {
            utf8::advance(&message.payload, &mut message.utf8_valid)?;
        }
        Ok(())
    }

    /// Acts on a frame whose payload is complete.
    fn end_frame(&mut self, frame: &Frame) -> Result<Option<Event>, WsError> {
        let event = match frame.opcode {
            OpCode::Continuation | OpCode::Text | OpCode::Binary => {
                if !frame.fin {
                    return Ok(None);
                }
                let Some(message) = self.message.take() else {
                    return Err(WsError::Protocol("message end without a message"));
                };
                if !message.text {
                    Message::Binary(Bytes::from(message.payload))
                } else if message.utf8_valid == message.payload.len() {
                    Message::Text(Bytes::from(message.payload))
                } else {
                    // Ends inside a multi-byte sequence.
                    return Err(WsError::InvalidUtf8);
                }
            }
            OpCode::Ping => {
                return Ok(Some(Event::Ping(Bytes::from(std::mem::take(&mut self.control)))));
            }
            OpCode::Pong => Message::Pong(Bytes::from(std::mem::take(&mut self.control))),
            OpCode::Close => {
                let close = parse_close_payload(&self.control)?;
                self.finish();
                Message::Close(close)
            }
        };
        Ok(Some(Event::Message(event)))
    }
}

/// Length of a client header whose second byte is `b1`: 2, the extended length, the mask key.
fn header_len(b1: u8) -> usize {
    let extended = match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + extended + 4
}

/// Makes room for `now` more payload bytes, growing geometrically but not past `limit` bytes in
/// total (unless `now` itself needs more).
///
/// A peer that announces a big frame and then trickles it gets memory only as its bytes arrive,
/// and a message that arrives in one frame is allocated once at its exact size.
fn reserve_payload(payload: &mut Vec<u8>, now: usize, limit: usize) {
    if payload.capacity() - payload.len() >= now {
        return;
    }
    let needed = payload.len() + now;
    let target = (payload.capacity() * 2).min(limit).max(needed);
    payload.reserve_exact(target - payload.len());
}
