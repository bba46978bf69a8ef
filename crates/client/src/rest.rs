//! The few REST calls a client needs besides the socket: log in, and list conversations with
//! their unread counts. Plain HTTP (the same host and port as the WebSocket).

use chinwag_proto::error::{ErrorBody, ErrorEnvelope};
use chinwag_proto::model::Conversation;
use chinwag_proto::rest::{
    ConversationPage, CreateConversationRequest, CreateConversationResponse, LoginRequest,
    RegisterRequest, TokenResponse,
};
use serde::de::DeserializeOwned;

/// At most this many pages are followed when listing conversations (200 per page).
const MAX_PAGES: usize = 50;

/// A REST call failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The base URL is not `http://host:port`.
    #[error("invalid server URL `{0}`")]
    InvalidUrl(String),
    /// The request did not get an HTTP response.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with its error shape.
    #[error("server error {status} {}: {}", .error.code.as_str(), .error.message)]
    Server {
        /// The HTTP status.
        status: u16,
        /// The error; branch on its `code`.
        error: ErrorBody,
    },
    /// The response was not what the protocol describes.
    #[error("unexpected response ({status}): {body}")]
    Unexpected {
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
}

/// REST calls against one server.
///
/// ```no_run
/// # async fn run() -> Result<(), chinwag_client::rest::RestError> {
/// let rest = chinwag_client::rest::Rest::new("http://127.0.0.1:8080")?;
/// let login = rest.login("alice", "chinwag-demo").await?;
/// for c in rest.conversations(&login.token).await? {
///     println!("{} unread {}", c.id, c.unread);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Rest {
    http: reqwest::Client,
    base: String,
}

impl Rest {
    /// `base` is `http://host:port` (a trailing `/` is ignored).
    pub fn new(base: &str) -> Result<Self, RestError> {
        let base = base.trim_end_matches('/');
        if !base.starts_with("http://") || base.len() <= "http://".len() {
            return Err(RestError::InvalidUrl(base.to_owned()));
        }
        Ok(Self { http: reqwest::Client::new(), base: base.to_owned() })
    }

    /// The WebSocket URL of this server.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws", &self.base["http://".len()..])
    }

    /// `POST /v1/accounts/login`: a token for a built-in account.
    pub async fn login(&self, username: &str, password: &str) -> Result<TokenResponse, RestError> {
        let body = LoginRequest { username: username.into(), password: password.into() };
        self.call(self.http.post(self.url("/v1/accounts/login")).json(&body)).await
    }

    /// `POST /v1/accounts/register`: create a built-in account and log in.
    pub async fn register(
        &self,
        username: &str,
        password: &str,
        name: Option<&str>,
    ) -> Result<TokenResponse, RestError> {
        let body = RegisterRequest {
            username: username.into(),
            password: password.into(),
            name: name.map(str::to_owned),
        };
        self.call(self.http.post(self.url("/v1/accounts/register")).json(&body)).await
    }

    /// Every conversation of the user, most recent activity first, with unread counts.
    pub async fn conversations(&self, token: &str) -> Result<Vec<Conversation>, RestError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut req = self.http.get(self.url("/v1/conversations")).bearer_auth(token);
            req = req.query(&[("limit", "200")]);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c.as_str())]);
            }
            let page: ConversationPage = self.call(req).await?;
            all.extend(page.conversations);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(all)
    }

    /// `POST /v1/conversations`: create a conversation (or find the direct one).
    pub async fn create_conversation(
        &self,
        token: &str,
        request: &CreateConversationRequest,
    ) -> Result<CreateConversationResponse, RestError> {
        self.call(self.http.post(self.url("/v1/conversations")).bearer_auth(token).json(request))
            .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, RestError> {
        let res = req.send().await?;
        let status = res.status().as_u16();
        let text = res.text().await?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text)
                .map_err(|_| RestError::Unexpected { status, body: truncate(&text) });
        }
        match serde_json::from_str::<ErrorEnvelope>(&text) {
            Ok(e) => Err(RestError::Server { status, error: e.error }),
            Err(_) => Err(RestError::Unexpected { status, body: truncate(&text) }),
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}
