//! REST calls with a choice of credentials, and the check every error response must pass.

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::server::TestServer;

/// The credentials a REST call carries.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// The browser session cookie, `chinwag_session=<token>`.
    Cookie(&'a str),
    /// `X-Api-Key`, for the server API.
    ApiKey(&'a str),
}

/// A response: status, headers, and the body as JSON (`Null` when empty, a JSON string when it
/// is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Assert the one error shape `{"error":{"code","message","request_id",...}}` with this status
    /// and code, and that `request_id` is the response's `x-request-id`. Returns the error object.
    pub fn assert_error(&self, status: u16, code: &str) -> &Value {
        assert_eq!(
            (self.status, &self.body["error"]["code"]),
            (status, &Value::from(code)),
            "{self:?}"
        );
        let error =
            self.body["error"].as_object().unwrap_or_else(|| panic!("no error object: {self:?}"));
        assert_eq!(
            self.body.as_object().map(|o| o.len()),
            Some(1),
            "only `error` at the top: {self:?}"
        );
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "a message: {self:?}");
        let id = error
            .get("request_id")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("request_id: {self:?}"));
        assert_eq!(Some(id), self.header("x-request-id"), "request_id is the x-request-id header");
        for key in error.keys() {
            let known = ["code", "message", "request_id", "retry_after_ms", "current"];
            assert!(known.contains(&key.as_str()), "unexpected error field `{key}`: {self:?}");
        }
        &self.body["error"]
    }
}

impl TestServer {
    /// A REST call with a JSON body (or none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
    ) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let content_type = bytes.as_ref().map(|_| "application/json");
        self.call_raw(method, path, auth, content_type, bytes.unwrap_or_default()).await
    }

    /// A REST call with any body and content type.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut req = self.http.request(method, self.url(path));
        req = match auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Cookie(t) => req.header("cookie", format!("chinwag_session={t}")),
            Auth::ApiKey(k) => req.header("x-api-key", k),
        };
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if !body.is_empty() {
            req = req.body(body);
        }
        let res = req.send().await.expect("http request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply { status, headers, body }
    }
}

/// Mint a token through the server API of the server at `base` (in-process or child), with an
/// optional lifetime.
pub async fn mint_token(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    ttl_secs: Option<u64>,
) -> String {
    let mut body = serde_json::json!({"user_id": user});
    if let Some(ttl) = ttl_secs {
        body["ttl_secs"] = ttl.into();
    }
    let req = http.post(format!("{base}/v1/server/tokens")).header("x-api-key", crate::API_KEY);
    let r = json_reply(req.json(&body), "token").await;
    r["token"].as_str().unwrap_or_else(|| panic!("no token in {r}")).to_owned()
}

/// Register `username` with `password` over REST at `base` (a server's root URL); returns the
/// token the registration answers with.
pub async fn register(
    http: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> String {
    let body = serde_json::json!({"username": username, "password": password});
    let r =
        json_reply(http.post(format!("{base}/v1/accounts/register")).json(&body), "register").await;
    r["token"].as_str().unwrap_or_else(|| panic!("no token in {r}")).to_owned()
}

/// `GET` `url` as the holder of `token`; the body as JSON.
pub async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> Value {
    json_reply(http.get(url).bearer_auth(token), &format!("GET {url}")).await
}

/// One page of `conversation`'s messages after `after` (up to 200), over REST at `base` as the
/// holder of `token`: `{"messages": [...], "has_more": ...}`.
pub async fn messages_page(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    conversation: &str,
    after: u64,
) -> Value {
    let url = format!("{base}/v1/conversations/{conversation}/messages?after={after}&limit=200");
    get_json(http, &url, token).await
}

/// Every message of `conversation`, paged forward from the start with [`messages_page`].
pub async fn full_history(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    conversation: &str,
) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = messages_page(http, base, token, conversation, after).await;
        let msgs = page["messages"].as_array().unwrap_or_else(|| panic!("no messages in {page}"));
        all.extend(msgs.iter().cloned());
        if let Some(last) = msgs.last() {
            after = last["seq"].as_u64().expect("seq");
        }
        if page["has_more"] != true {
            return all;
        }
    }
}

/// Create a conversation over REST at `base` (a server's root URL) as the holder of `token`;
/// `body` is the request (`kind`, `members`, ...). Returns the new conversation's id.
pub async fn create_conversation(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    body: Value,
) -> String {
    let req = http.post(format!("{base}/v1/conversations")).bearer_auth(token).json(&body);
    let r = json_reply(req, "conversation").await;
    r["conversation"]["id"].as_str().unwrap_or_else(|| panic!("no conversation in {r}")).to_owned()
}

/// Send `req` and read the reply's body as JSON; `what` names the request in a panic.
async fn json_reply(req: reqwest::RequestBuilder, what: &str) -> Value {
    let res = req.send().await.unwrap_or_else(|e| panic!("{what} request: {e}"));
    res.json().await.unwrap_or_else(|e| panic!("{what} body: {e}"))
}
