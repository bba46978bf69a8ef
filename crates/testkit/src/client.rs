//! A WebSocket test client speaking Chinwag's protocol over tokio-tungstenite.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::WAIT;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How a connection ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    pub code: Option<u16>,
    pub reason: String,
}

pub struct WsClient {
    pub ws: Ws,
    /// Frames read while waiting for something else, handed out by `recv` first.
    pending: VecDeque<Value>,
    /// The `authed` reply.
    pub authed: Value,
}

impl WsClient {
    /// Open a socket without authenticating.
    pub async fn open(url: &str) -> Ws {
        let (ws, _) = tokio::time::timeout(
            WAIT,
            tokio_tungstenite::connect_async_with_config(url, None, true),
        )
        .await
        .expect("connect timed out")
        .expect("connect");
        ws
    }

    pub fn from_ws(ws: Ws) -> Self {
        Self { ws, pending: VecDeque::new(), authed: Value::Null }
    }

    /// Connect, send `auth` (with an optional resume), and wait for `authed`.
    pub async fn connect_as(url: &str, token: &str, resume: Option<Value>) -> Self {
        let mut c = Self::from_ws(Self::open(url).await);
        let mut auth = json!({"type": "auth", "id": "auth", "token": token});
        if let Some(r) = resume {
            auth["resume"] = r;
        }
        c.send(auth).await;
        let authed = c.recv().await;
        assert_eq!(authed["type"], "authed", "expected authed, got {authed}");
        c.authed = authed;
        c
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    pub async fn send_text(&mut self, s: &str) {
        self.ws.send(Message::text(s)).await.expect("send");
    }

    pub async fn send_binary(&mut self, b: Vec<u8>) {
        self.ws.send(Message::binary(b)).await.expect("send");
    }

    /// The next JSON frame (pings and pongs skipped). Panics on close or after `WAIT`.
    pub async fn recv(&mut self) -> Value {
        match self.try_recv(WAIT).await {
            Ok(Some(v)) => v,
            Ok(None) => panic!("no frame within {WAIT:?}"),
            Err(closed) => panic!("connection closed: {closed:?}"),
        }
    }

    /// The next JSON frame within `wait`; `Ok(None)` on timeout, `Err` on close.
    pub async fn try_recv(&mut self, wait: std::time::Duration) -> Result<Option<Value>, Closed> {
        if let Some(v) = self.pending.pop_front() {
            return Ok(Some(v));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(None),
                Ok(n) => n,
            };
            match next {
                Some(Ok(Message::Text(t))) => {
                    return Ok(Some(serde_json::from_str(&t).expect("server sent invalid JSON")));
                }
                Some(Ok(Message::Close(f))) => return Err(closed(f)),
                Some(Ok(Message::Binary(_))) => panic!("server sent a binary frame"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(Closed { code: None, reason: e.to_string() }),
                None => return Err(Closed { code: None, reason: "eof".into() }),
            }
        }
    }

    /// Skip frames until one of type `ty`; the skipped ones stay available to `recv`.
    pub async fn recv_type(&mut self, ty: &str) -> Value {
        let mut skipped = VecDeque::new();
        let found = loop {
            let v = self.recv().await;
            if v["type"] == ty {
                break v;
            }
            skipped.push_back(v);
        };
        skipped.extend(self.pending.drain(..));
        self.pending = skipped;
        found
    }

    /// Send a request with a fresh id and wait for the reply with that id.
    pub async fn request(&mut self, mut v: Value) -> Value {
        let id = format!("r{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
        v["id"] = json!(id);
        self.send(v).await;
        let mut skipped = VecDeque::new();
        let found = loop {
            let f = self.recv().await;
            if f["id"] == json!(id) {
                break f;
            }
            skipped.push_back(f);
        };
        skipped.extend(self.pending.drain(..));
        self.pending = skipped;
        found
    }

    /// Send a text message; returns the `ack` (or the error reply).
    pub async fn send_msg(&mut self, conversation: &str, client_msg_id: &str, body: &str) -> Value {
        self.request(json!({
            "type": "send", "conversation_id": conversation, "client_msg_id": client_msg_id, "body": body
        }))
        .await
    }

    /// Take every frame until none arrives for `quiet`; returns them. A connection opened right
    /// after a burst may still get that burst's last fan-out window live: call this first when
    /// a test needs to see what a later request brings, and nothing before it.
    pub async fn settle(&mut self, quiet: std::time::Duration) -> Vec<Value> {
        let mut taken = Vec::new();
        while let Ok(Some(v)) = self.try_recv(quiet).await {
            taken.push(v);
        }
        taken
    }

    /// Collect `message` events until `n` have arrived (other frames are dropped).
    pub async fn messages(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let v = self.recv().await;
            if v["type"] == "message" {
                out.push(v["message"].clone());
            }
        }
        out
    }

    /// Wait for the server to close the connection; frames before the close are discarded.
    pub async fn closed(&mut self) -> Closed {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => panic!("connection not closed within {WAIT:?}"),
                Ok(Some(Ok(Message::Close(f)))) => return closed(f),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => return Closed { code: None, reason: e.to_string() },
                Ok(None) => return Closed { code: None, reason: "eof".into() },
            }
        }
    }
}

fn closed(f: Option<CloseFrame>) -> Closed {
    match f {
        Some(f) => Closed { code: Some(u16::from(f.code)), reason: f.reason.to_string() },
        None => Closed { code: None, reason: String::new() },
    }
}
