//! WebSocket upgrades with request headers of the test's choosing (`Origin`, `Cookie`), for tests
//! of what the server accepts before the first frame.

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::WAIT;

/// An open client socket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Open `url` with extra request headers. A refused upgrade is returned, not panicked on: a
/// `tungstenite::Error::Http` carries the server's HTTP response (see [`refused_status`]).
pub async fn open_with_headers(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = url.into_client_request()?;
    for (name, value) in headers {
        let name: tokio_tungstenite::tungstenite::http::HeaderName =
            name.parse().expect("header name");
        req.headers_mut().insert(name, HeaderValue::from_str(value).expect("header value"));
    }
    let connect = tokio_tungstenite::connect_async_with_config(req, None, true);
    let (ws, _) = tokio::time::timeout(WAIT, connect).await.expect("connect timed out")?;
    Ok(ws)
}

/// The HTTP status and body of a refused upgrade; panics if the upgrade failed some other way.
pub fn refused_status(e: &tokio_tungstenite::tungstenite::Error) -> (u16, String) {
    match e {
        tokio_tungstenite::tungstenite::Error::Http(res) => {
            let body = res.body().as_deref().map(|b| String::from_utf8_lossy(b).into_owned());
            (res.status().as_u16(), body.unwrap_or_default())
        }
        other => panic!("expected an HTTP refusal of the upgrade, got {other}"),
    }
}

/// A peer that upgrades, authenticates with `token`, and then never reads, answers or closes:
/// what a crashed device or a cut network looks like to the server. Built by hand (no library
/// would stay this silent); the returned socket holds whatever the server sends.
pub async fn silent_peer(addr: std::net::SocketAddr, token: &str) -> TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut raw = TcpStream::connect(addr).await.expect("connect");
    let handshake = format!(
        "GET /v1/ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    raw.write_all(handshake.as_bytes()).await.expect("handshake");
    let auth = serde_json::json!({"type": "auth", "token": token}).to_string();
    raw.write_all(&masked_text_frame(auth.as_bytes())).await.expect("auth frame");
    raw
}

/// A client text frame (masked, as RFC 6455 requires of clients).
fn masked_text_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(n).expect("frame under 64 KiB").to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}
