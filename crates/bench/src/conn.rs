//! One client WebSocket connection, built for many connections on one thread.
//!
//! Reads go through one per-thread scratch buffer (256 KiB): a connection keeps bytes of its own
//! only while a frame is incomplete (`carry`), so 10,000 idle connections cost the generator
//! almost nothing and a busy one drains its socket in as few `read` calls as possible. Writes are
//! appended to `out` and written without waiting; what the socket does not take stays in `out`
//! until it is writable again, so a connection never blocks its own reading.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

use crate::clock::now_us;
use crate::frame::{self, Frame};
use crate::target::{Kind, Target};

const SCRATCH_BYTES: usize = 256 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH_BYTES]);
}

#[derive(Debug)]
pub struct Conn {
    pub stream: TcpStream,
    /// Bytes of an incomplete frame (empty almost always).
    carry: Vec<u8>,
    /// Framed bytes waiting for the socket.
    pub out: Vec<u8>,
    /// The close code the server sent, if it closed.
    pub close_code: Option<u16>,
}

/// Whether the connection is still open after a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    Yes,
    No,
}

impl Conn {
    /// Connect from `source` (any 127.0.0.x: each source address has its own ephemeral ports) and
    /// upgrade to WebSocket at `path`.
    pub async fn connect(server: SocketAddr, source: IpAddr, path: &str) -> io::Result<Self> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        let stream = socket.connect(server).await?;
        stream.set_nodelay(true)?;
        let mut conn = Conn { stream, carry: Vec::new(), out: Vec::new(), close_code: None };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        conn.out.extend_from_slice(request.as_bytes());
        conn.flush().await?;
        let mut head = Vec::with_capacity(512);
        let end = loop {
            conn.stream.readable().await?;
            let mut chunk = [0u8; 1024];
            match conn.stream.try_read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed during the upgrade",
                    ));
                }
                Ok(n) => head.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
            if let Some(i) = crate::scan::find(&head, b"\r\n\r\n") {
                break i + 4;
            }
            if head.len() > 16 * 1024 {
                return Err(io::Error::other("upgrade response headers too long"));
            }
        };
        if !head.starts_with(b"HTTP/1.1 101") {
            let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
            return Err(io::Error::other(format!(
                "upgrade refused: {}",
                String::from_utf8_lossy(line)
            )));
        }
        conn.carry = head[end..].to_vec();
        Ok(conn)
    }

    /// Queue a text frame.
    pub fn queue_text(&mut self, payload: &[u8]) {
        frame::encode_masked(&mut self.out, frame::OP_TEXT, payload);
    }

    /// Write what is queued, waiting for the socket as needed.
    pub async fn flush(&mut self) -> io::Result<()> {
        while !self.out.is_empty() {
            self.stream.writable().await?;
            self.try_flush()?;
        }
        Ok(())
    }

    /// Write as much of what is queued as the socket takes now.
    pub fn try_flush(&mut self) -> io::Result<()> {
        let mut done = 0;
        while done < self.out.len() {
            match self.stream.try_write(&self.out[done..]) {
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        self.out.drain(..done);
        Ok(())
    }

    /// Read everything the socket has now and hand each complete text frame (with the time it
    /// was read) to `on_text`, which may queue replies in the given `out`. Pings are answered
    /// and a close frame ends the connection.
    pub fn read_now(
        &mut self,
        on_text: &mut impl FnMut(&[u8], u64, &mut Vec<u8>),
    ) -> io::Result<Open> {
        SCRATCH.with_borrow_mut(|buf| {
            loop {
                match self.stream.try_read(buf) {
                    Ok(0) => return Ok(Open::No),
                    Ok(n) => {
                        let now = now_us();
                        self.feed(&buf[..n], now, on_text)?;
                        if self.close_code.is_some() {
                            return Ok(Open::No);
                        }
                        if n < buf.len() {
                            return Ok(Open::Yes);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Open::Yes),
                    Err(e) => return Err(e),
                }
            }
        })
    }

    /// How the connection ended, as the scenarios report it: the server's close code, or `eof`.
    pub fn end_reason(&self) -> String {
        self.close_code.map_or("eof".into(), |c| c.to_string())
    }

    /// Once `readable()` has answered `ready`: [`read_now`](Self::read_now), then write any
    /// replies. `Err` says how the connection ended ([`end_reason`](Self::end_reason) or the
    /// error).
    pub fn serve_readable(
        &mut self,
        ready: io::Result<()>,
        on_text: &mut impl FnMut(&[u8], u64, &mut Vec<u8>),
    ) -> Result<(), String> {
        ready.map_err(|e| e.to_string())?;
        match self.read_now(on_text) {
            Ok(Open::Yes) => self.flush_queued(),
            Ok(Open::No) => Err(self.end_reason()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Once `writable()` has answered `ready`: write what is queued. `Err` is the error.
    pub fn serve_writable(&mut self, ready: io::Result<()>) -> Result<(), String> {
        ready.and_then(|()| self.try_flush()).map_err(|e| e.to_string())
    }

    /// [`try_flush`](Self::try_flush) if anything is queued. `Err` is the error.
    pub fn flush_queued(&mut self) -> Result<(), String> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.try_flush().map_err(|e| e.to_string())
    }

    /// Wait until readable, then [`read_now`](Self::read_now).
    pub async fn read(
        &mut self,
        on_text: &mut impl FnMut(&[u8], u64, &mut Vec<u8>),
    ) -> io::Result<Open> {
        self.stream.readable().await?;
        self.read_now(on_text)
    }

    /// Frames already received with the upgrade response, before any read.
    pub fn read_carried(
        &mut self,
        on_text: &mut impl FnMut(&[u8], u64, &mut Vec<u8>),
    ) -> io::Result<()> {
        if self.carry.is_empty() {
            return Ok(());
        }
        let carried = std::mem::take(&mut self.carry);
        self.feed(&carried, now_us(), on_text)
    }

    fn feed(
        &mut self,
        data: &[u8],
        now: u64,
        on_text: &mut impl FnMut(&[u8], u64, &mut Vec<u8>),
    ) -> io::Result<()> {
        let Conn { carry, out, close_code, .. } = self;
        if carry.is_empty() {
            let used = frames(data, now, out, close_code, on_text)?;
            if used < data.len() {
                carry.extend_from_slice(&data[used..]);
            }
        } else {
            carry.extend_from_slice(data);
            let used = frames(carry, now, out, close_code, on_text)?;
            carry.drain(..used);
            if carry.is_empty() && carry.capacity() > 64 * 1024 {
                // Do not keep a large frame's buffer for the rest of the run.
                *carry = Vec::new();
            }
        }
        Ok(())
    }

    /// Run the protocol's opening (Chinwag: `auth` → `authed`; Socket.IO: open → `40` → `40`)
    /// within `limit`.
    pub async fn ready(
        &mut self,
        target: Target,
        token: Option<&str>,
        limit: Duration,
    ) -> io::Result<()> {
        let opening = async {
            let ready = Cell::new(false);
            let failure: Cell<Option<String>> = Cell::new(None);
            match target {
                Target::Ws | Target::Uws => return Ok(()),
                Target::Chinwag => {
                    let token = token.ok_or_else(|| io::Error::other("chinwag needs a token"))?;
                    let auth = format!(r#"{{"type":"auth","id":0,"token":"{token}"}}"#);
                    self.queue_text(auth.as_bytes());
                    self.flush().await?;
                }
                Target::Socketio => {}
            }
            let mut on_text =
                |payload: &[u8], _now: u64, out: &mut Vec<u8>| match target.classify(payload) {
                    Kind::Ready => ready.set(true),
                    Kind::EngineOpen => frame::encode_masked(out, frame::OP_TEXT, b"40"),
                    Kind::EnginePing => frame::encode_masked(out, frame::OP_TEXT, b"3"),
                    Kind::Error => failure.set(Some(String::from_utf8_lossy(payload).into_owned())),
                    _ => {}
                };
            self.read_carried(&mut on_text)?;
            loop {
                if self.read(&mut on_text).await? == Open::No {
                    return Err(io::Error::other(format!(
                        "closed while opening (code {:?})",
                        self.close_code
                    )));
                }
                if let Some(f) = failure.take() {
                    return Err(io::Error::other(format!("refused: {f}")));
                }
                self.flush().await?;
                if ready.get() {
                    return Ok(());
                }
            }
        };
        tokio::time::timeout(limit, opening)
            .await
            .map_err(|_| io::Error::other("opening timed out"))?
    }
}

/// Parse the complete frames at the start of `data`; returns the bytes used.
fn frames(
    data: &[u8],
    now: u64,
    out: &mut Vec<u8>,
    close_code: &mut Option<u16>,
    on_text: &mut impl FnMut(&[u8], u64, &mut Vec<u8>),
) -> io::Result<usize> {
    let mut at = 0;
    while let Some((f, used)) = frame::parse(&data[at..]).map_err(io::Error::other)? {
        at += used;
        let Frame { opcode, fin: _, payload } = f;
        match opcode {
            frame::OP_TEXT | frame::OP_BINARY => on_text(payload, now, out),
            frame::OP_PING => frame::encode_masked(out, frame::OP_PONG, payload),
            frame::OP_CLOSE => {
                *close_code =
                    Some(payload.get(..2).map_or(1005, |c| u16::from_be_bytes([c[0], c[1]])));
                return Ok(at);
            }
            // Continuations of a fragmented message and pongs: nothing to count.
            _ => {}
        }
    }
    Ok(at)
}

/// The source address of connection `i` when spreading over `sources` addresses 127.0.0.2….
pub fn source_addr(i: usize, sources: usize) -> IpAddr {
    IpAddr::from([127, 0, 0, 2 + (i % sources.clamp(1, 250)) as u8])
}
