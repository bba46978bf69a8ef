use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::CloseFrame;
use crate::test_frames::{MASK, client_frame, close, raw_frame, text};

fn decoder() -> Decoder {
    Decoder::new(&Config::default())
}

fn limited(max_message_bytes: usize, max_fragments: usize) -> Decoder {
    Decoder::new(&Config { max_message_bytes, max_fragments, ..Config::default() })
}

/// Feeds `input` in the given chunks, re-feeding what an event left unconsumed, and collects
/// events until the first error.
fn run_chunks(decoder: &mut Decoder, chunks: &[&[u8]]) -> (Vec<Event>, Option<WsError>) {
    let mut events = Vec::new();
    for chunk in chunks {
        let mut pos = 0;
        while pos < chunk.len() {
            match decoder.decode(&chunk[pos..]) {
                Ok((used, event)) => {
                    assert!(used > 0 || event.is_some(), "no progress");
                    pos += used;
                    events.extend(event);
                }
                Err(e) => return (events, Some(e)),
            }
        }
    }
    (events, None)
}

fn run(decoder: &mut Decoder, input: &[u8]) -> (Vec<Event>, Option<WsError>) {
    run_chunks(decoder, &[input])
}

fn only_error(input: &[u8]) -> WsError {
    match run(&mut decoder(), input) {
        (_, Some(e)) => e,
        (events, None) => panic!("expected an error, got {events:?}"),
    }
}

fn text_event(s: &str) -> Event {
    Event::Message(Message::Text(Bytes::copy_from_slice(s.as_bytes())))
}

fn binary_event(b: &[u8]) -> Event {
    Event::Message(Message::Binary(Bytes::copy_from_slice(b)))
}

#[test]
fn unfragmented_text_and_binary() {
    let mut input = text("hello");
    input.extend(client_frame(true, 0x2, &[0, 1, 2, 255]));
    input.extend(text(""));
    let (events, err) = run(&mut decoder(), &input);
    assert!(err.is_none());
    assert_eq!(events, vec![text_event("hello"), binary_event(&[0, 1, 2, 255]), text_event("")]);
}

#[test]
fn every_length_encoding_boundary() {
    for len in [0usize, 1, 125, 126, 127, 65535, 65536] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let frame = client_frame(true, 0x2, &payload);
        let expected_header = match len {
            0..=125 => 2,
            126..=65535 => 4,
            _ => 10,
        } + 4;
        assert_eq!(frame.len(), expected_header + len);
        let (events, err) = run(&mut decoder(), &frame);
        assert!(err.is_none(), "len {len}: {err:?}");
        assert_eq!(events, vec![binary_event(&payload)], "len {len}");
    }
}

#[test]
fn message_over_the_limit_fails_at_its_header() {
    let frame = client_frame(true, 0x2, &vec![7; 65537]);
    let mut dec = decoder();
    // Only the header (2 + 8 + 4 bytes) is needed to refuse it.
    assert!(matches!(run(&mut dec, &frame[..14]).1, Some(WsError::TooBig)));
    // The limit is inclusive and counts the whole message across fragments.
    let mut dec = limited(10, 64);
    let mut input = client_frame(false, 0x1, b"12345");
    input.extend(client_frame(true, 0x0, b"67890"));
    assert_eq!(run(&mut dec, &input).0, vec![text_event("1234567890")]);
    let mut input = client_frame(false, 0x1, b"12345");
    input.extend(client_frame(true, 0x0, b"678901"));
    assert!(matches!(run(&mut limited(10, 64), &input).1, Some(WsError::TooBig)));
}

#[test]
fn fragment_count_limit() {
    let build = |n: usize| {
        let mut input = Vec::new();
        for i in 0..n {
            let opcode = if i == 0 { 0x2 } else { 0x0 };
            input.extend(client_frame(i + 1 == n, opcode, b"x"));
        }
        input
    };
    let (events, err) = run(&mut decoder(), &build(64));
    assert!(err.is_none());
    assert_eq!(events, vec![binary_event(&[b'x'; 64])]);
    assert!(matches!(run(&mut decoder(), &build(65)).1, Some(WsError::TooBig)));
}

#[test]
fn fragments_reassemble_with_control_frames_between() {
    let mut input = client_frame(false, 0x1, "frag".as_bytes());
    input.extend(client_frame(true, 0x9, b"ping!"));
    input.extend(client_frame(false, 0x0, "ment".as_bytes()));
    input.extend(client_frame(true, 0xA, b"pong!"));
    input.extend(client_frame(false, 0x0, b""));
    input.extend(client_frame(true, 0x0, "ed".as_bytes()));
    let (events, err) = run(&mut decoder(), &input);
    assert!(err.is_none());
    assert_eq!(
        events,
        vec![
            Event::Ping(Bytes::from_static(b"ping!")),
            Event::Message(Message::Pong(Bytes::from_static(b"pong!"))),
            text_event("fragmented"),
        ]
    );
}

#[test]
fn unmasked_frames_are_refused() {
    assert!(matches!(only_error(&raw_frame(0x81, false, b"hi")), WsError::Protocol(_)));
    assert!(matches!(only_error(&raw_frame(0x89, false, b"")), WsError::Protocol(_)));
}

#[test]
fn reserved_bits_are_refused() {
    for rsv in [0x40, 0x20, 0x10, 0x70] {
        assert!(
            matches!(only_error(&raw_frame(0x81 | rsv, true, b"hi")), WsError::Protocol(_)),
            "rsv {rsv:#x}"
        );
    }
}

#[test]
fn reserved_opcodes_are_refused() {
    for opcode in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert!(
            matches!(only_error(&client_frame(true, opcode, b"")), WsError::Protocol(_)),
            "opcode {opcode}"
        );
    }
}

#[test]
fn control_frame_rules() {
    // 126-byte ping: refused from its first two bytes, before the payload is read.
    let long_ping = client_frame(true, 0x9, &[0; 126]);
    assert!(matches!(run(&mut decoder(), &long_ping[..2]).1, Some(WsError::Protocol(_))));
    // 125 is fine.
    let (events, err) = run(&mut decoder(), &client_frame(true, 0x9, &[1; 125]));
    assert!(err.is_none());
    assert_eq!(events, vec![Event::Ping(Bytes::from(vec![1; 125]))]);
    // Fragmented control frames.
    for opcode in [0x8, 0x9, 0xA] {
        assert!(matches!(only_error(&client_frame(false, opcode, b"")), WsError::Protocol(_)));
    }
    // A short control payload in the 126 length form is still a >125 length code.
    let mut disguised = vec![0x89, 0x80 | 126, 0, 5];
    disguised.extend_from_slice(&MASK);
    disguised.extend_from_slice(&[0; 5]);
    assert!(matches!(only_error(&disguised), WsError::Protocol(_)));
}

#[test]
fn fragment_order_rules() {
    // Continuation with nothing to continue, with and without FIN.
    assert!(matches!(only_error(&client_frame(true, 0x0, b"x")), WsError::Protocol(_)));
    assert!(matches!(only_error(&client_frame(false, 0x0, b"x")), WsError::Protocol(_)));
    // A new text or binary frame while a message is open.
    for opcode in [0x1, 0x2] {
        let mut input = client_frame(false, 0x1, b"a");
        input.extend(client_frame(true, opcode, b"b"));
        assert!(matches!(only_error(&input), WsError::Protocol(_)));
    }
}

#[test]
fn sixty_four_bit_length_with_the_top_bit_set() {
    let mut input = vec![0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1];
    input.extend_from_slice(&MASK);
    assert!(matches!(only_error(&input), WsError::Protocol(_)));
}

#[test]
fn invalid_utf8_is_refused_and_fails_fast() {
    assert!(matches!(only_error(&client_frame(true, 0x1, b"ok\xff")), WsError::InvalidUtf8));
    // Ending inside a sequence.
    assert!(matches!(only_error(&client_frame(true, 0x1, b"ok\xe2\x82")), WsError::InvalidUtf8));
    // A sequence split across fragments is fine.
    let mut input = client_frame(false, 0x1, b"\xe2\x82");
    input.extend(client_frame(true, 0x0, b"\xac"));
    assert_eq!(run(&mut decoder(), &input).0, vec![text_event("€")]);
    // Fail fast: the first fragment is already impossible, long before the message ends.
    assert!(matches!(
        only_error(&client_frame(false, 0x1, b"\xce\xba\xf4\x90")),
        WsError::InvalidUtf8
    ));
    // Fail fast inside one frame: the header and the first bad byte are enough.
    let frame = client_frame(true, 0x1, b"\xf4\x90\x80\x80 and much more text after it");
    assert!(matches!(run(&mut decoder(), &frame[..6 + 2]).1, Some(WsError::InvalidUtf8)));
    // Binary messages are not checked.
    assert_eq!(
        run(&mut decoder(), &client_frame(true, 0x2, b"\xff")).0,
        vec![binary_event(b"\xff")]
    );
}

#[test]
fn close_frames() {
    let close_event = |code, reason: &str| {
        Event::Message(Message::Close(Some(CloseFrame { code, reason: reason.into() })))
    };
    assert_eq!(run(&mut decoder(), &close(1000, "bye")).0, vec![close_event(1000, "bye")]);
    assert_eq!(run(&mut decoder(), &close(4999, "")).0, vec![close_event(4999, "")]);
    assert_eq!(
        run(&mut decoder(), &client_frame(true, 0x8, b"")).0,
        vec![Event::Message(Message::Close(None))]
    );
    assert!(matches!(only_error(&client_frame(true, 0x8, b"\x03")), WsError::Protocol(_)));
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        assert!(matches!(only_error(&close(code, "")), WsError::Protocol(_)), "code {code}");
    }
    assert!(matches!(
        only_error(&client_frame(true, 0x8, b"\x03\xe8\xce\xba\xff")),
        WsError::InvalidUtf8
    ));
    // Close ends parsing: what follows is consumed and ignored.
    let mut input = close(1000, "");
    input.extend(text("after"));
    input.extend(client_frame(true, 0x9, b""));
    input.extend(raw_frame(0xFF, false, b"garbage"));
    let (events, err) = run(&mut decoder(), &input);
    assert!(err.is_none());
    assert_eq!(events, vec![close_event(1000, "")]);
}

#[test]
fn close_inside_a_fragmented_message() {
    let mut input = client_frame(false, 0x1, b"half");
    input.extend(close(1001, ""));
    let mut dec = decoder();
    let (events, err) = run(&mut dec, &input);
    assert!(err.is_none());
    assert_eq!(events.len(), 1);
    assert!(dec.message.is_none(), "the half message is freed");
}

/// A stream that exercises every state: split headers of each length form, split masks, control
/// frames inside a fragmented message, payloads split across reads.
fn mixed_stream() -> (Vec<u8>, Vec<Event>) {
    let long: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let big = "é".repeat(35_000); // 70,000 bytes: the 64-bit length form, many UTF-8 splits
    let mut input = Vec::new();
    input.extend(text("hi"));
    input.extend(client_frame(false, 0x1, "κόσ".as_bytes()));
    input.extend(client_frame(true, 0x9, b"are you there"));
    input.extend(client_frame(true, 0x0, "με".as_bytes()));
    input.extend(client_frame(true, 0x2, &long));
    input.extend(client_frame(true, 0xA, b""));
    input.extend(client_frame(true, 0x1, big.as_bytes()));
    input.extend(close(1000, "done"));
    let events = vec![
        text_event("hi"),
        Event::Ping(Bytes::from_static(b"are you there")),
        text_event("κόσμε"),
        binary_event(&long),
        Event::Message(Message::Pong(Bytes::new())),
        text_event(&big),
        Event::Message(Message::Close(Some(CloseFrame { code: 1000, reason: "done".into() }))),
    ];
    (input, events)
}

fn big_decoder() -> Decoder {
    limited(1 << 20, 64)
}

#[test]
fn split_at_every_byte_boundary() {
    let (input, expected) = mixed_stream();
    // Every split point through the small frames and the big frame's header, then a stride
    // through the big payload (all of its boundaries would be 70,000 runs of 70 KB), then every
    // point through the close frame.
    let splits = (0..=input.len()).filter(|&i| i < 1_000 || i % 997 == 0 || i + 100 > input.len());
    for split in splits {
        let (a, b) = input.split_at(split);
        let (events, err) = run_chunks(&mut big_decoder(), &[a, b]);
        assert!(err.is_none(), "split {split}: {err:?}");
        assert_eq!(events, expected, "split {split}");
    }
}

#[test]
fn one_byte_at_a_time() {
    let (input, expected) = mixed_stream();
    let chunks: Vec<&[u8]> = input.chunks(1).collect();
    let (events, err) = run_chunks(&mut big_decoder(), &chunks);
    assert!(err.is_none());
    assert_eq!(events, expected);
}

#[test]
fn idle_decoder_holds_no_heap_memory() {
    let mut dec = decoder();
    let mut input = client_frame(false, 0x1, b"ab");
    input.extend(client_frame(true, 0x9, b"ping"));
    input.extend(client_frame(true, 0x0, b"cd"));
    let (events, _) = run(&mut dec, &input);
    assert_eq!(events.len(), 2);
    assert!(dec.message.is_none());
    assert_eq!(dec.control.capacity(), 0);
    assert!(matches!(dec.state, State::Header { len: 0, .. }));
}

#[test]
fn trickled_payload_is_not_allocated_up_front() {
    let frame = client_frame(true, 0x2, &vec![0; 60_000]);
    let mut dec = decoder();
    // Header (2 + 2 + 4) and 10 payload bytes of a frame announcing 60,000.
    let (_, err) = run(&mut dec, &frame[..18]);
    assert!(err.is_none());
    let capacity = dec.message.as_ref().map_or(0, |m| m.payload.capacity());
    assert!(capacity < 1_000, "allocated {capacity} for 10 bytes");
    // A frame that arrives whole is allocated once, at its size.
    let mut dec = decoder();
    let (events, _) = run(&mut dec, &frame);
    match &events[..] {
        [Event::Message(Message::Binary(b))] => assert_eq!(b.len(), 60_000),
        other => panic!("{other:?}"),
    }
}

/// Random bytes, random chunking: the decoder must never panic, never stall, and never hold more
/// than the limit.
#[test]
fn fuzz_random_bytes() {
    let mut rng = StdRng::seed_from_u64(0x5EED_0001);
    for _ in 0..20_000 {
        let len = rng.random_range(0..400);
        let input: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        feed_randomly(&mut rng, &input);
    }
}

/// Valid frames with random flags, lengths and bit flips: gets past the header checks far more
/// often than pure noise, into reassembly, UTF-8 and close parsing.
#[test]
fn fuzz_mutated_frames() {
    let mut rng = StdRng::seed_from_u64(0x5EED_0002);
    for _ in 0..20_000 {
        let mut input = Vec::new();
        for _ in 0..rng.random_range(1..8) {
            let opcode = [0x0, 0x1, 0x2, 0x8, 0x9, 0xA, 0x3][rng.random_range(0..7)];
            let len = [0, 1, 2, 5, 125, 126, 200, 1_500][rng.random_range(0..8)];
            let payload: Vec<u8> = if rng.random_bool(0.5) {
                (0..len).map(|_| rng.random_range(b'a'..=b'z')).collect()
            } else {
                (0..len).map(|_| rng.random()).collect()
            };
            input.extend(client_frame(rng.random_bool(0.6), opcode, &payload));
        }
        for _ in 0..rng.random_range(0..4) {
            let at = rng.random_range(0..input.len());
            input[at] ^= 1 << rng.random_range(0..8);
        }
        feed_randomly(&mut rng, &input);
    }
}

/// Limits small enough that the fuzz inputs cross them.
const FUZZ_MAX_MESSAGE: usize = 1_000;

fn feed_randomly(rng: &mut StdRng, input: &[u8]) {
    let mut dec = limited(FUZZ_MAX_MESSAGE, 8);
    let mut pos = 0;
    while pos < input.len() {
        let end = (pos + rng.random_range(1..64)).min(input.len());
        let mut chunk = &input[pos..end];
        while !chunk.is_empty() {
            match dec.decode(chunk) {
                Ok((used, event)) => {
                    assert!(used > 0 || event.is_some(), "decoder made no progress");
                    assert!(used <= chunk.len());
                    chunk = &chunk[used..];
                }
                Err(_) => return,
            }
            let held = dec.message.as_ref().map_or(0, |m| m.payload.len());
            assert!(held <= FUZZ_MAX_MESSAGE);
            assert!(dec.control.len() <= MAX_CONTROL_PAYLOAD);
        }
        pos = end;
    }
}
