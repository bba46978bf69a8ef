//! The connection over real TCP sockets (and in-memory pipes where a tiny buffer is the point):
//! the client side is written by hand from `test_frames`, so every byte on the wire is known.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use super::*;
use crate::test_frames::{client_frame, close, raw_frame, text};
use crate::{encode_binary, encode_text};

const SHORT: Duration = Duration::from_millis(200);

async fn tcp_pair(config: Config) -> (WebSocket<TcpStream>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (WebSocket::new(server, config), client)
}

/// Reads one unmasked server frame: (first header byte, payload).
async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    r.read_exact(&mut head).await.unwrap();
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let len = match head[1] & 0x7F {
        126 => r.read_u16().await.unwrap() as usize,
        127 => r.read_u64().await.unwrap() as usize,
        n => n as usize,
    };
    let mut payload = vec![0; len];
    r.read_exact(&mut payload).await.unwrap();
    (head[0], payload)
}

async fn assert_eof<R: AsyncRead + Unpin>(r: &mut R) {
    let mut rest = Vec::new();
    let read = timeout(Duration::from_secs(2), r.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0))), "expected EOF, got {read:?} {rest:?}");
}

fn assert_idle<S>(ws: &WebSocket<S>) {
    assert_eq!(ws.leftover.capacity(), 0, "leftover freed");
    assert_eq!(ws.out.capacity(), 0, "write queue freed");
    assert!(ws.decoder.is_idle(), "decoder holds nothing");
}

#[tokio::test]
async fn text_round_trip_and_idle_memory() {
    let (mut ws, mut client) = tcp_pair(Config::default()).await;
    client.write_all(&text("hello")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Message::Text(Bytes::from_static(b"hello")));
    ws.send_text(b"world").await.unwrap();
    assert_eq!(read_frame(&mut client).await, (0x81, b"world".to_vec()));
    ws.send_binary(&[1, 2, 3]).await.unwrap();
    assert_eq!(read_frame(&mut client).await, (0x82, vec![1, 2, 3]));
    assert_idle(&ws);
}

#[tokio::test]
async fn several_messages_in_one_read_come_out_in_order() {
    let (mut ws, mut client) = tcp_pair(Config::default()).await;
    let mut burst = text("one");
    burst.extend(client_frame(true, 0x9, b"p"));
    burst.extend(client_frame(true, 0x2, b"two"));
    burst.extend(client_frame(false, 0x1, b"thr"));
    burst.extend(client_frame(true, 0x0, b"ee"));
    client.write_all(&burst).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Message::Text(Bytes::from_static(b"one")));
    assert_eq!(ws.recv().await.unwrap(), Message::Binary(Bytes::from_static(b"two")));
    assert_eq!(ws.recv().await.unwrap(), Message::Text(Bytes::from_static(b"three")));
    assert_eq!(read_frame(&mut client).await, (0x8A, b"p".to_vec()));
    assert_idle(&ws);
}

#[tokio::test]
async fn pings_are_answered_and_not_returned() {
    let (mut ws, mut client) = tcp_pair(Config::default()).await;
    client.write_all(&client_frame(true, 0x9, b"are you there")).await.unwrap();
    client.write_all(&client_frame(true, 0xA, b"pong payload")).await.unwrap();
    // The ping is answered inside recv, which returns the next message: the pong.
    assert_eq!(ws.recv().await.unwrap(), Message::Pong(Bytes::from_static(b"pong payload")));
    assert_eq!(read_frame(&mut client).await, (0x8A, b"are you there".to_vec()));
    // Our own pings.
    ws.ping(b"hb").await.unwrap();
    assert_eq!(read_frame(&mut client).await, (0x89, b"hb".to_vec()));
    let too_long = ws.ping(&[0; 126]).await.unwrap_err();
    assert_eq!(too_long.kind(), io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn peer_initiated_close_is_echoed_once() {
    let (mut ws, mut client) = tcp_pair(Config::default()).await;
    client.write_all(&close(4001, "bye")).await.unwrap();
    let Message::Close(Some(frame)) = ws.recv().await.unwrap() else { panic!("expected a close") };
    assert_eq!((frame.code, frame.reason.as_str()), (4001, "bye"));
    assert!(matches!(ws.recv().await, Err(WsError::Closed)));
    // Sending after the peer's Close is refused.
    assert_eq!(ws.send_text(b"late").await.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    ws.close(close::NORMAL, "ignored: the echo was already sent").await.unwrap();
    let (b0, payload) = read_frame(&mut client).await;
    assert_eq!((b0, payload), (0x88, 4001u16.to_be_bytes().to_vec()));
    assert_eof(&mut client).await;
}

#[tokio::test]
async fn empty_close_is_answered_normal() {
    let (mut ws, mut client) = tcp_pair(Config::default()).await;
    client.write_all(&client_frame(true, 0x8, b"")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Message::Close(None));
    ws.flush().await.unwrap();
    assert_eq!(read_frame(&mut client).await, (0x88, 1000u16.to_be_bytes().to_vec()));
}

#[tokio::test]
async fn server_initiated_close_waits_for_the_answer() {
    let (mut ws, client) = tcp_pair(Config::default()).await;
    let peer = tokio::spawn(async move {
        let mut client = client;
        let (b0, payload) = read_frame(&mut client).await;
        assert_eq!(b0, 0x88);
        assert_eq!(&payload[..2], &4003u16.to_be_bytes());
        assert_eq!(&payload[2..], b"token expired");
        // A late message crosses our close, then the answer.
        client.write_all(&text("crossing")).await.unwrap();
        client.write_all(&close(4003, "")).await.unwrap();
        assert_eof(&mut client).await;
    });
    let started = std::time::Instant::now();
    ws.close(4003, "token expired").await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "returned on the answer, not the timeout"
    );
    assert_eq!(ws.read, ReadState::CloseReceived);
    drop(ws);
    peer.await.unwrap();
}

#[tokio::test]
async fn close_is_bounded_when_the_peer_never_answers() {
    let config = Config { close_timeout: SHORT, ..Config::default() };
    let (mut ws, _client) = tcp_pair(config).await;
    let started = std::time::Instant::now();
    ws.close(close::GOING_AWAY, "").await.unwrap();
    let took = started.elapsed();
    assert!(took >= SHORT && took < SHORT * 3, "took {took:?}");
}

#[tokio::test]
async fn protocol_error_then_close_drains_until_the_peer_leaves() {
    let (mut ws, mut client) = tcp_pair(Config::default()).await;
    // Unmasked, followed by bytes that are no longer framed.
    client.write_all(&raw_frame(0x81, false, b"not masked")).await.unwrap();
    client.write_all(b"trailing garbage").await.unwrap();
    let err = ws.recv().await.unwrap_err();
    assert!(matches!(err, WsError::Protocol(_)));
    assert_eq!(err.close_code(), Some(1002));
    assert!(matches!(ws.recv().await, Err(WsError::Closed)));
    let peer = tokio::spawn(async move {
        assert_eq!(read_frame(&mut client).await, (0x88, 1002u16.to_be_bytes().to_vec()));
        assert_eof(&mut client).await;
        // Leaving makes the server's close return.
    });
    let started = std::time::Instant::now();
    ws.close(err.close_code().unwrap(), "").await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(900));
    peer.await.unwrap();
}

#[tokio::test]
async fn eof_is_an_abnormal_closure() {
    let (mut ws, mut client) = tcp_pair(Config::default()).await;
    client.write_all(&client_frame(false, 0x1, b"half")).await.unwrap();
    drop(client);
    match ws.recv().await {
        Err(WsError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof),
        other => panic!("{other:?}"),
    }
    assert!(ws.decoder.is_idle(), "the half message was freed");
    assert!(matches!(ws.recv().await, Err(WsError::Closed)));
}

#[tokio::test]
async fn oversized_message_is_refused_before_its_payload() {
    let (mut ws, mut client) = tcp_pair(Config::default()).await;
    let frame = client_frame(true, 0x2, &vec![0; 65_537]);
    // Only the header: the refusal must not wait for the payload.
    client.write_all(&frame[..14]).await.unwrap();
    let err = timeout(SHORT, ws.recv()).await.unwrap().unwrap_err();
    assert!(matches!(err, WsError::TooBig));
    assert_eq!(err.close_code(), Some(1009));
}

/// `recv` dropped again and again while a frame trickles in: nothing is lost or duplicated.
#[tokio::test]
async fn recv_is_cancel_safe() {
    let (mut ws, mut client) = tcp_pair(Config::default()).await;
    let payload: Vec<u8> = (0..3_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut stream = client_frame(false, 0x1, &payload[..1_000]);
    stream.extend(client_frame(true, 0x9, b"mid"));
    stream.extend(client_frame(true, 0x0, &payload[1_000..]));
    stream.extend(text("next"));
    let writer = tokio::spawn(async move {
        client.set_nodelay(true).unwrap();
        for chunk in stream.chunks(97) {
            client.write_all(chunk).await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        client
    });
    let mut received = Vec::new();
    let mut cancelled = 0;
    while received.len() < 2 {
        tokio::select! {
            message = ws.recv() => received.push(message.unwrap()),
            _ = tokio::time::sleep(Duration::from_micros(300)) => cancelled += 1,
        }
    }
    assert!(cancelled > 5, "the test did cancel recv mid-frame ({cancelled})");
    assert_eq!(
        received,
        vec![Message::Text(Bytes::from(payload)), Message::Text(Bytes::from_static(b"next"))]
    );
    let mut client = writer.await.unwrap();
    assert_eq!(read_frame(&mut client).await, (0x8A, b"mid".to_vec()));
}

/// Many frames go out in few writes, in order, from the shared buffers.
#[tokio::test]
async fn send_frames_over_tcp() {
    let (mut ws, mut client) = tcp_pair(Config::default()).await;
    assert!(ws.get_ref().is_write_vectored());
    let frames: Vec<Bytes> =
        (0..200).map(|i| encode_text(format!("frame {i}").as_bytes())).collect();
    ws.send_frames(&frames).await.unwrap();
    for i in 0..200 {
        assert_eq!(read_frame(&mut client).await, (0x81, format!("frame {i}").into_bytes()));
    }
    assert_idle(&ws);
}

/// A socket that stays full: the send is cancelled, the unsent tail stays queued, and a later
/// flush delivers every byte exactly once and in order.
#[tokio::test]
async fn send_frames_is_cancel_safe_when_the_socket_is_full() {
    let (mut ws, mut client) = tcp_pair(Config::default()).await;
    let frame = encode_binary(&[0xAB; 60_000]);
    let frames = vec![frame.clone(); 400]; // 24 MB: far more than loopback socket buffers hold
    let sent = timeout(SHORT, ws.send_frames(&frames)).await;
    assert!(sent.is_err(), "the socket should have filled up");
    let queued = ws.queued_bytes();
    assert!(queued > 0 && queued < 400 * frame.len());
    // Taken over whole: later sends queue behind it, so order holds.
    ws.queue_frames(&[encode_text(b"last")]).unwrap();
    let reader = tokio::spawn(async move {
        for _ in 0..400 {
            let (b0, payload) = read_frame(&mut client).await;
            assert_eq!(b0, 0x82);
            assert!(payload.len() == 60_000 && payload.iter().all(|&b| b == 0xAB));
        }
        assert_eq!(read_frame(&mut client).await, (0x81, b"last".to_vec()));
    });
    ws.flush().await.unwrap();
    reader.await.unwrap();
    assert_idle(&ws);
}

/// The same through a stream without vectored writes, whose buffer holds only 100 bytes.
#[tokio::test]
async fn non_vectored_stream_with_a_tiny_buffer() {
    let (server, mut client) = tokio::io::duplex(100);
    let mut ws = WebSocket::new(server, Config::default());
    let reader = tokio::spawn(async move {
        for i in 0..50 {
            assert_eq!(read_frame(&mut client).await, (0x81, format!("message {i}").into_bytes()));
        }
        client
    });
    for i in 0..50 {
        ws.send_text(format!("message {i}").as_bytes()).await.unwrap();
    }
    drop(reader.await.unwrap());
}

/// A peer that floods pings without reading: recv answers every ping but stops reading while
/// 16 pongs wait, so the queue stays bounded.
#[tokio::test]
async fn ping_flood_gets_back_pressure_and_every_pong() {
    let (server, client) = tokio::io::duplex(512);
    let mut ws = WebSocket::new(server, Config::default());
    let (mut client_rx, mut client_tx) = tokio::io::split(client);
    let writer = tokio::spawn(async move {
        for i in 0..300u32 {
            client_tx.write_all(&client_frame(true, 0x9, &i.to_be_bytes())).await.unwrap();
        }
        client_tx.write_all(&text("end")).await.unwrap();
        client_tx
    });
    // Nobody reads the pongs yet: recv must stall rather than queue 300 of them.
    assert!(timeout(SHORT, ws.recv()).await.is_err());
    assert!(ws.queued_pongs <= MAX_QUEUED_PONGS);
    assert!(ws.queued_bytes() <= usize::from(MAX_QUEUED_PONGS) * 8);
    let reader = tokio::spawn(async move {
        for i in 0..300u32 {
            assert_eq!(read_frame(&mut client_rx).await, (0x8A, i.to_be_bytes().to_vec()));
        }
    });
    assert_eq!(ws.recv().await.unwrap(), Message::Text(Bytes::from_static(b"end")));
    ws.flush().await.unwrap();
    reader.await.unwrap();
    drop(writer.await.unwrap());
}

/// Random bytes through a real connection (a pipe, so each write is a read of its own): never a
/// panic, always an orderly end.
#[tokio::test]
async fn fuzz_random_input_through_recv() {
    let mut rng = StdRng::seed_from_u64(0x5EED_0003);
    for _ in 0..300 {
        let (server, mut client) = tokio::io::duplex(64);
        let mut ws = WebSocket::new(
            server,
            Config { max_message_bytes: 512, max_fragments: 4, ..Config::default() },
        );
        let mut input: Vec<u8> = Vec::new();
        for _ in 0..rng.random_range(0..6) {
            let opcode = [0x0, 0x1, 0x2, 0x8, 0x9, 0xA][rng.random_range(0..6)];
            let payload: Vec<u8> = (0..rng.random_range(0..200)).map(|_| rng.random()).collect();
            input.extend(client_frame(rng.random_bool(0.7), opcode, &payload));
        }
        input.extend((0..rng.random_range(0..100)).map(|_| rng.random::<u8>()));
        let chunk = rng.random_range(1..40);
        let writer = tokio::spawn(async move {
            for part in input.chunks(chunk) {
                if client.write_all(part).await.is_err() {
                    return;
                }
            }
            // Keep reading (pongs, close) until the server is done, then leave.
            let mut sink = Vec::new();
            let _ = timeout(Duration::from_secs(5), async {
                let _ = client.shutdown().await;
                client.read_to_end(&mut sink).await
            })
            .await;
        });
        loop {
            match timeout(Duration::from_secs(5), ws.recv()).await.expect("recv never stalls here")
            {
                Ok(Message::Close(_)) => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        drop(ws);
        writer.await.unwrap();
    }
}

/// An idle connection is this struct and nothing on the heap (see `assert_idle`): keep it small.
#[test]
fn idle_connection_size() {
    let size = std::mem::size_of::<WebSocket<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>>();
    assert!(size <= 256, "WebSocket grew to {size} bytes");
}
