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
