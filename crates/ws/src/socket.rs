//! [`WebSocket`]: one connection's read path (socket → decoder → messages) and write path
//! (pre-encoded frames → one vectored write), over any async byte stream.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::decoder::{Decoder, Event};
use crate::frame::{self, OpCode, encode_close, encode_control};
use crate::{Config, Message, WsError, close, scratch};

#[cfg(test)]
mod tests;

/// Most buffers handed to one vectored write. Linux takes up to 1024 (`IOV_MAX`); at 64 the
/// syscall is already amortised over enough frames that the per-frame cost is user space.
const MAX_IOVECS: usize = 64;

/// Pongs that may wait in the outbound queue while the socket is full. At this many, `recv` stops
/// reading until they are written: a peer that floods pings without reading gets TCP
/// back-pressure instead of a growing queue, and every ping still gets its pong.
const MAX_QUEUED_PONGS: u8 = 16;

/// For a stream without vectored writes only: how many queued bytes are copied together so they
/// go out in one write. (TCP streams, and hyper's upgraded connection over them, are vectored.)
const COALESCE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    Open,
    /// The peer's Close frame arrived: the close handshake is its to finish by dropping TCP or
    /// ours by calling `close`.
    CloseReceived,
    /// The peer broke the protocol or the socket failed: nothing more is parsed.
    Failed,
    /// The stream ended.
    Eof,
}

/// One server-side WebSocket connection over `S` (normally hyper's upgraded TCP connection).
///
/// Reads and writes happen only inside `recv`, the send methods, `flush` and `close`; nothing
/// runs in the background and no task or channel is created. Memory held while idle: this struct
/// (248 bytes over hyper's upgraded connection) and nothing on the heap; the crate docs say when
/// buffers exist.
pub struct WebSocket<S> {
    io: S,
    decoder: Decoder,
    /// Bytes read past the last message returned: a read that carried several messages leaves
    /// the later ones here for the next `recv`, which parses them before reading again. Empty, and
    /// unallocated, otherwise.
    leftover: BytesMut,
    /// Outbound bytes the socket has not taken yet, in wire order. Only whole frames are ever
    /// appended, so it always ends on a frame boundary and a pong or Close can be appended safely.
    /// Emptied and freed as soon as the socket takes everything.
    out: VecDeque<Bytes>,
    /// Pongs appended to `out` since it was last empty (see [`MAX_QUEUED_PONGS`]).
    queued_pongs: u8,
    /// A Close frame is in `out` or written: no frame may follow it (§5.5.1).
    close_sent: bool,
    /// The write side was shut down (TCP FIN sent) by `close`.
    write_shutdown: bool,
    /// A write failed: the stream is broken, later writes fail at once.
    write_failed: bool,
    read: ReadState,
    /// From [`Config::close_timeout`].
    close_timeout: Duration,
}

impl<S> fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("read", &self.read)
            .field("queued_bytes", &self.queued_bytes())
            .field("close_sent", &self.close_sent)
            .finish_non_exhaustive()
    }
}

impl<S> WebSocket<S> {
    /// The underlying stream, e.g. to read the peer address.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Bytes queued because the socket did not take them yet. Non-zero means the peer is not
    /// keeping up right now: the input to a slow-consumer rule.
    pub fn queued_bytes(&self) -> usize {
        self.out.iter().map(Bytes::len).sum()
    }

    /// Appends pre-encoded frames to the outbound queue without writing anything; a following
    /// [`flush`](Self::flush) (or any send, or `recv`) writes them. Together with `flush` this is
    /// the fully cancel-safe way to send: once this returns, the frames belong to the connection.
    /// Costs a reference count per frame, no copy. Fails after a Close frame was sent.
    pub fn queue_frames(&mut self, frames: &[Bytes]) -> io::Result<()> {
        self.check_can_send()?;
        self.out.extend(frames.iter().filter(|f| !f.is_empty()).cloned());
        Ok(())
    }

    fn check_can_send(&self) -> io::Result<()> {
        if self.write_failed {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "WebSocket write side failed"))
        } else if self.close_sent {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "WebSocket Close frame already sent"))
        } else {
            Ok(())
        }
    }

    /// Marks the write side broken and frees the queue; returns `err` for the caller.
    fn fail_write(&mut self, err: io::Error) -> io::Error {
        self.write_failed = true;
        self.out = VecDeque::new();
        self.queued_pongs = 0;
        err
    }

    fn fail_read(&mut self, err: WsError) -> WsError {
        self.read = match &err {
            WsError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => ReadState::Eof,
            _ => ReadState::Failed,
        };
        self.leftover = BytesMut::new();
        self.decoder.finish();
        err
    }

    fn consume_out(&mut self, mut written: usize) {
        while written > 0 {
            let Some(front) = self.out.front_mut() else {
                break;
            };
            if written >= front.len() {
                written -= front.len();
                self.out.pop_front();
            } else {
                front.advance(written);
                written = 0;
            }
        }
    }

    /// Copies the front of the queue into one buffer (non-vectored streams only).
    fn coalesce_front(&mut self) {
        if self.out.len() < 2 {
            return;
        }
        let mut merged = BytesMut::new();
        while let Some(front) = self.out.front() {
            if !merged.is_empty() && merged.len() + front.len() > COALESCE_BYTES {
                break;
            }
            merged.extend_from_slice(front);
            self.out.pop_front();
        }
        self.out.push_front(merged.freeze());
    }

    /// Turns a decoded event into what `recv` returns; answers pings and Close frames.
    fn on_event(&mut self, event: Event) -> Option<Message> {
        match event {
            Event::Ping(payload) => {
                // After our Close nothing may be sent (§5.5.1), so late pings go unanswered.
                if !self.close_sent
                    && !self.write_failed
                    && let Some(pong) = encode_control(OpCode::Pong, &payload)
                {
                    self.out.push_back(pong);
                    self.queued_pongs = self.queued_pongs.saturating_add(1);
                }
                None
            }
            Event::Message(Message::Close(frame)) => {
                self.read = ReadState::CloseReceived;
                self.leftover = BytesMut::new();
                if !self.close_sent && !self.write_failed {
                    // Echo the peer's code (§5.5.1); a Close without one is answered "normal".
                    let code = frame.as_ref().map_or(close::NORMAL, |f| f.code);
                    self.out.push_back(encode_close(code, ""));
                    self.close_sent = true;
                }
                Some(Message::Close(frame))
            }
            Event::Message(message) => Some(message),
        }
    }

    /// Feeds `input` to the decoder until it is used up, a message is ready, or enough pongs are
    /// queued that they must be written first. Returns the bytes consumed and the message.
    fn decode_some(&mut self, input: &[u8]) -> Result<(usize, Option<Message>), WsError> {
        let mut pos = 0;
        while let Some(rest) = input.get(pos..).filter(|r| !r.is_empty()) {
            let (used, event) = self.decoder.decode(rest)?;
            pos += used;
            let Some(event) = event else {
                // The decoder consumes all it is given unless an event completes.
                break;
            };
            let message = self.on_event(event);
            if message.is_some() || self.queued_pongs >= MAX_QUEUED_PONGS {
                return Ok((pos, message));
            }
        }
        Ok((pos, None))
    }

    /// Writes as much of `out` as the socket takes without waiting; `Ready(Ok)` once it is empty.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>
    where
        S: AsyncWrite + Unpin,
    {
        if self.write_failed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "WebSocket write side failed",
            )));
        }
        while !self.out.is_empty() {
            let written = if self.io.is_write_vectored() {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let mut count = 0;
                for (slot, chunk) in slices.iter_mut().zip(&self.out) {
                    *slot = IoSlice::new(chunk);
                    count += 1;
                }
                Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..count])
            } else {
                self.coalesce_front();
                match self.out.front() {
                    Some(front) => Pin::new(&mut self.io).poll_write(cx, front),
                    None => break,
                }
            };
            match ready!(written) {
                Ok(0) => return Poll::Ready(Err(self.fail_write(io::ErrorKind::WriteZero.into()))),
                Ok(n) => self.consume_out(n),
                Err(e) => return Poll::Ready(Err(self.fail_write(e))),
            }
        }
        // Drained: give the queue's memory back, so an idle connection keeps no write buffer.
        self.out = VecDeque::new();
        self.queued_pongs = 0;
        Poll::Ready(Ok(()))
    }

    /// Writes `parts` (whole frames, together) straight from the caller's buffers while the socket
    /// takes them, and queues whatever it does not take, using `own` to turn the rest of a part
    /// (from an offset) into owned bytes. Only writes directly when nothing is queued before them.
    fn start_send<T: AsRef<[u8]>>(
        &mut self,
        cx: &mut Context<'_>,
        parts: &[T],
        own: impl Fn(&T, usize) -> Bytes,
    ) -> io::Result<()>
    where
        S: AsyncWrite + Unpin,
    {
        let (mut index, mut offset) = (0, 0);
        if self.out.is_empty() && self.io.is_write_vectored() {
            loop {
                while parts.get(index).is_some_and(|p| offset >= p.as_ref().len()) {
                    index += 1;
                    offset = 0;
                }
                let Some(rest) = parts.get(index..).filter(|r| !r.is_empty()) else {
                    return Ok(());
                };
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let mut count = 0;
                for (slot, part) in slices.iter_mut().zip(rest) {
                    let bytes = part.as_ref();
                    let from = if count == 0 { offset } else { 0 };
                    *slot = IoSlice::new(bytes.get(from..).unwrap_or_default());
                    count += 1;
                }
                match Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..count]) {
                    Poll::Ready(Ok(0)) => {
                        return Err(self.fail_write(io::ErrorKind::WriteZero.into()));
                    }
                    Poll::Ready(Ok(mut n)) => {
                        while let Some(part) = parts.get(index).filter(|_| n > 0) {
                            let left = part.as_ref().len().saturating_sub(offset);
                            if n >= left {
                                n -= left;
                                index += 1;
                                offset = 0;
                            } else {
                                offset += n;
                                n = 0;
                            }
                        }
                    }
                    Poll::Ready(Err(e)) => return Err(self.fail_write(e)),
                    Poll::Pending => break,
                }
            }
        }
        for (i, part) in parts.iter().enumerate().skip(index) {
            let from = if i == index { offset } else { 0 };
            if from < part.as_ref().len() {
                self.out.push_back(own(part, from));
            }
        }
        Ok(())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Wraps an upgraded stream. The handshake must already be done (see `upgrade`, feature `axum`).
    pub fn new(io: S, config: Config) -> Self {
        Self {
            io,
            decoder: Decoder::new(&config),
            leftover: BytesMut::new(),
            out: VecDeque::new(),
            queued_pongs: 0,
            close_sent: false,
            write_shutdown: false,
            write_failed: false,
            read: ReadState::Open,
            close_timeout: config.close_timeout,
        }
    }

    /// The next message from the peer.
    ///
    /// **Cancel-safe**: made to sit in `tokio::select!` next to the outbound queue. A frame or
    /// message received in part stays in the connection and continues on the next call; nothing
    /// read is lost when the future is dropped.
    ///
    /// Pings are answered here and not returned: the pong is queued and written by this call if
    /// the socket takes it, else by the next `recv`, send, `flush` or `close`. Anything queued by
    /// sends is pushed along too. A received Close is answered (its code echoed, or 1000 if it had
    /// none), then returned; call [`close`](Self::close) next to finish the handshake.
    ///
    /// After an error or a Close, further calls return [`WsError::Closed`]. On an error with a
    /// [`close_code`](WsError::close_code), send it with `close`.
    pub async fn recv(&mut self) -> Result<Message, WsError> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The poll form of [`recv`](Self::recv), for hand-written futures.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message, WsError>> {
        loop {
            if self.read != ReadState::Open {
                return Poll::Ready(Err(WsError::Closed));
            }
            if !self.out.is_empty() && !self.write_failed {
                match self.poll_write_out(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(self.fail_read(WsError::Io(e)))),
                    // Back-pressure on a ping flood (see MAX_QUEUED_PONGS); the waker is set for
                    // writability.
                    Poll::Pending if self.queued_pongs >= MAX_QUEUED_PONGS => return Poll::Pending,
                    Poll::Pending => {}
                }
            }
            let step = if self.leftover.is_empty() {
                self.poll_read_some(cx)
            } else {
                Poll::Ready(self.decode_leftover())
            };
            match step {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(None)) => continue,
                Poll::Ready(Ok(Some(message))) => {
                    if !self.out.is_empty() && !self.write_failed {
                        // Get a pong or our Close answer out now if the socket takes it; if not,
                        // the next call (or send) will, and a failure shows on the next write.
                        let _ = self.poll_write_out(cx);
                    }
                    return Poll::Ready(Ok(message));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(self.fail_read(e))),
            }
        }
    }

    /// One read into the thread's scratch buffer, parsed before returning; bytes past a returned
    /// message are copied to `leftover`.
    fn poll_read_some(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Message>, WsError>> {
        scratch::with(|buf| {
            let mut read_buf = ReadBuf::new(buf);
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut read_buf))?;
            let input = read_buf.filled();
            if input.is_empty() {
                // TCP closed without a Close frame: an abnormal closure (1006, never sent).
                return Poll::Ready(Err(WsError::Io(io::ErrorKind::UnexpectedEof.into())));
            }
            let (used, message) = self.decode_some(input)?;
            if self.read == ReadState::Open
                && let Some(rest) = input.get(used..).filter(|r| !r.is_empty())
            {
                self.leftover = BytesMut::from(rest);
            }
            Poll::Ready(Ok(message))
        })
    }

    fn decode_leftover(&mut self) -> Result<Option<Message>, WsError> {
        let mut input = std::mem::take(&mut self.leftover);
        let (used, message) = self.decode_some(&input)?;
        input.advance(used);
        if !input.is_empty() && self.read == ReadState::Open {
            self.leftover = input;
        }
        Ok(message)
    }

    /// Sends pre-encoded frames (from [`encode_text`](crate::encode_text) and friends), written
    /// with one vectored write per 64 frames straight from the given buffers, after anything
    /// already queued.
    ///
    /// **Cancel-safe in this sense**: on its first poll the call takes the frames over whole,
    /// writing what the socket accepts and queueing the rest (a reference count per frame, no
    /// copy). If the future is dropped after that, the frames still go out, in order and never
    /// torn, with the next `recv`, send, `flush` or `close`; if it is dropped before its first
    /// poll, nothing was sent. When the caller must know which, use
    /// [`queue_frames`](Self::queue_frames) then [`flush`](Self::flush).
    pub async fn send_frames(&mut self, frames: &[Bytes]) -> io::Result<()> {
        self.send_parts(frames, |frame, from| frame.slice(from..)).await
    }

    /// Sends one text frame with `payload` (which must be UTF-8; not checked). No allocation when
    /// the socket takes it all: header and payload go out in one vectored write. Cancel-safe like
    /// [`send_frames`](Self::send_frames); an unsent rest of the payload is copied.
    pub async fn send_text(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send_payload(OpCode::Text, payload).await
    }

    /// Sends one binary frame; see [`send_text`](Self::send_text).
    pub async fn send_binary(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send_payload(OpCode::Binary, payload).await
    }

    async fn send_payload(&mut self, opcode: OpCode, payload: &[u8]) -> io::Result<()> {
        let (head, used) = frame::server_header(opcode, payload.len());
        let parts: [&[u8]; 2] = [head.get(..used).unwrap_or_default(), payload];
        self.send_parts(&parts, |part, from| {
            Bytes::copy_from_slice(part.get(from..).unwrap_or_default())
        })
        .await
    }

    /// Sends a ping (for liveness; the pong comes back from `recv` as [`Message::Pong`]). Fails
    /// with `InvalidInput` if `payload` is over 125 bytes.
    pub async fn ping(&mut self, payload: &[u8]) -> io::Result<()> {
        let frame = encode_control(OpCode::Ping, payload).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "ping payload over 125 bytes")
        })?;
        self.send_frames(&[frame]).await
    }

    async fn send_parts<T: AsRef<[u8]>>(
        &mut self,
        parts: &[T],
        own: impl Fn(&T, usize) -> Bytes,
    ) -> io::Result<()> {
        self.check_can_send()?;
        let mut handed_over = false;
        poll_fn(|cx| {
            if !handed_over {
                handed_over = true;
                self.start_send(cx, parts, &own)?;
            }
            self.poll_flush(cx)
        })
        .await
    }

    /// Writes everything queued. Cancel-safe: what is not written yet stays queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// The poll form of [`flush`](Self::flush).
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_out(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Closes the connection: queues a Close frame with `code` and `reason` (cut to 123 bytes)
    /// unless one was already sent (for example as `recv`'s answer to the peer's Close), writes
    /// everything queued, shuts the write side down (TCP FIN), then waits for the peer's Close
    /// frame, discarding any data before it; after a protocol error, when frames can no longer be
    /// trusted, it reads and discards until the peer closes TCP instead. Draining rather than
    /// dropping unread bytes keeps the kernel from answering with a reset that could destroy our
    /// Close frame in flight.
    ///
    /// Bounded by [`Config::close_timeout`] in total. Fails with `TimedOut` if even the writing
    /// did not finish in time, or with the write error; not waiting for the peer's answer is not
    /// an error. Drop the connection afterwards.
    pub async fn close(&mut self, code: u16, reason: &str) -> io::Result<()> {
        let deadline = tokio::time::Instant::now() + self.close_timeout;
        if !self.close_sent && !self.write_failed {
            self.out.push_back(encode_close(code, reason));
        }
        self.close_sent = true;
        let written = tokio::time::timeout_at(deadline, async {
            poll_fn(|cx| self.poll_flush(cx)).await?;
            if !self.write_shutdown {
                poll_fn(|cx| Pin::new(&mut self.io).poll_shutdown(cx)).await?;
                self.write_shutdown = true;
            }
            Ok::<(), io::Error>(())
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_elapsed) => return Err(self.fail_write(io::ErrorKind::TimedOut.into())),
        }
        // Running out of time here only means the peer did not answer: the close is done.
        let _ = tokio::time::timeout_at(deadline, self.await_peer_close()).await;
        Ok(())
    }

    async fn await_peer_close(&mut self) {
        while self.read == ReadState::Open {
            match self.recv().await {
                Ok(Message::Close(_)) => return,
                // Data that crossed our Close on the wire is no longer delivered.
                Ok(_) => {}
                Err(_) => break,
            }
        }
        if self.read == ReadState::Failed {
            poll_fn(|cx| self.poll_drain(cx)).await;
        }
    }

    /// Reads and discards until end of stream or a read error.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let ended = scratch::with(|buf| {
                let mut read_buf = ReadBuf::new(buf);
                match Pin::new(&mut self.io).poll_read(cx, &mut read_buf) {
                    Poll::Ready(Ok(())) => Poll::Ready(read_buf.filled().is_empty()),
                    Poll::Ready(Err(_)) => Poll::Ready(true),
                    Poll::Pending => Poll::Pending,
                }
            });
            match ended {
                Poll::Ready(true) => {
                    self.read = ReadState::Eof;
                    return Poll::Ready(());
                }
                Poll::Ready(false) => {}
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
