//! The OpenAPI document (`crates/api/src/openapi.json`, served at `/v1/openapi.json`) against the
//! router and against what a real server answers: the same routes both ways, every route served,
//! and every status and body the tests see documented, field by field.

use std::collections::BTreeSet;

use chinwag_api::{OPENAPI, ROUTES, SESSION_COOKIE, TEST_ROUTES};
use chinwag_proto::error::ErrorCode;
use chinwag_testkit::{API_KEY, Auth, Reply, TestServer, open_with_headers};
use reqwest::Method;
use serde_json::{Value, json};

const METHODS: &[&str] = &["GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"];

fn doc() -> Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is valid JSON")
}

/// `(METHOD, path)` of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            let upper = method.to_uppercase();
            if METHODS.contains(&upper.as_str()) {
                out.insert((upper, path.clone()));
            }
        }
    }
    out
}

/// Follow a `$ref` (local JSON pointers only), or return the value itself.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {r}"));
            resolve(doc, doc.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {r}")))
        }
        None => v,
    }
}

fn every_ref<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r);
            }
            map.values().for_each(|v| every_ref(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| every_ref(v, out)),
        _ => {}
    }
}

/// Check `value` against a schema, strictly: an object may carry no property its schema does not
/// name, so a renamed or undocumented field fails. Covers the JSON Schema the document uses.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        validate(doc, part, value, at, errors);
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => panic!("bad type in schema at {at}"),
        };
        let ok = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            other => panic!("unknown type {other}"),
        });
        if !ok {
            errors.push(format!("{at}: {value} is not {types:?}"));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {options:?}"));
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        errors.push(format!("{at}: {value} is not {c}"));
    }
    if let (Some(min), Some(n)) = (schema.get("minimum").and_then(Value::as_f64), value.as_f64())
        && n < min
    {
        errors.push(format!("{at}: {n} is below {min}"));
    }
    if let (Some(min), Some(s)) = (schema.get("minLength").and_then(Value::as_u64), value.as_str())
        && (s.chars().count() as u64) < min
    {
        errors.push(format!("{at}: {s:?} is shorter than {min}"));
    }
    if let Value::Object(map) = value {
        let props = schema.get("properties").and_then(Value::as_object);
        for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let name = required.as_str().unwrap();
            if !map.contains_key(name) {
                errors.push(format!("{at}: missing required `{name}`"));
            }
        }
        if let Some(props) = props {
            for (k, v) in map {
                match props.get(k) {
                    Some(s) => validate(doc, s, v, &format!("{at}.{k}"), errors),
                    None => errors.push(format!("{at}: undocumented field `{k}`")),
                }
            }
        }
    }
    if let (Some(items), Value::Array(values)) = (schema.get("items"), value) {
        for (i, v) in values.iter().enumerate() {
            validate(doc, items, v, &format!("{at}[{i}]"), errors);
        }
    }
}

/// The documented response for this reply: the status must be listed (5xx may fall to
/// `default`), and a JSON body must match its schema.
fn check(doc: &Value, method: &str, template: &str, reply: &Reply) {
    let op = &doc["paths"][template][method.to_lowercase()];
    assert!(op.is_object(), "{method} {template} is not documented");
    let status = reply.status.to_string();
    let response = match op["responses"].get(&status) {
        Some(r) => resolve(doc, r),
        None if reply.status >= 500 => resolve(doc, &op["responses"]["default"]),
        None => panic!("{method} {template} answered {status}, which is not documented: {reply:?}"),
    };
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        assert_eq!(reply.body, Value::Null, "{method} {template} {status} documents no body");
        return;
    };
    let (ctype, media) = content.iter().next().expect("a media type");
    let got = reply.header("content-type").unwrap_or("");
    let essence = |t: &str| t.split(';').next().unwrap_or("").trim().to_owned();
    assert_eq!(essence(got), essence(ctype), "{method} {template} {status}: content type");
    let mut errors = Vec::new();
    validate(doc, &media["schema"], &reply.body, "body", &mut errors);
    assert!(
        errors.is_empty(),
        "{method} {template} {status} does not match its schema:\n{}\n{reply:?}",
        errors.join("\n")
    );
}

/// Every error code, by an exhaustive match: a new code fails to compile here until it is listed
/// (and so documented).
fn all_error_codes() -> Vec<ErrorCode> {
    use ErrorCode::*;
    let all = vec![
        Malformed,
        UnknownType,
        Invalid,
        TooLarge,
        Unauthenticated,
        TokenExpired,
        Forbidden,
        NotFound,
        Conflict,
        RateLimited,
        Unavailable,
        Internal,
    ];
    for c in &all {
        match c {
            Malformed | UnknownType | Invalid | TooLarge | Unauthenticated | TokenExpired
            | Forbidden | NotFound | Conflict | RateLimited | Unavailable | Internal => {}
        }
    }
    all
}

#[test]
fn the_document_is_openapi_3_1_and_self_consistent() {
    let doc = doc();
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1."), "{version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let mut refs = Vec::new();
    every_ref(&doc, &mut refs);
    assert!(refs.len() > 50, "the document is built from shared components");
    for r in refs {
        resolve(&doc, &json!({"$ref": r}));
    }

    let mut operation_ids = BTreeSet::new();
    for (method, path) in documented(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        assert!(
            operation_ids.insert(op["operationId"].as_str().expect("operationId")),
            "duplicate operationId"
        );
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('1') || s.starts_with('2')),
            "{method} {path}: a success"
        );
        let params: Vec<&Value> =
            op["parameters"].as_array().into_iter().flatten().map(|p| resolve(&doc, p)).collect();
        for segment in
            path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        {
            assert!(
                params
                    .iter()
                    .any(|p| p["in"] == "path" && p["name"] == segment && p["required"] == true),
                "{method} {path}: path parameter `{segment}` is declared"
            );
        }
        // Credentials: the server API by key, user routes by token or cookie.
        let schemes: BTreeSet<&str> = op["security"]
            .as_array()
            .expect("security")
            .iter()
            .flat_map(|s| s.as_object().unwrap().keys())
            .map(String::as_str)
            .collect();
        let expected: BTreeSet<&str> = if path.starts_with("/v1/server/") {
            ["apiKey"].into()
        } else if path.starts_with("/v1/conversations")
            || path == "/v1/me"
            || path == "/v1/presence"
            || path == "/v1/events"
        {
            ["bearerAuth", "sessionCookie"].into()
        } else if path == "/v1/ws" {
            ["sessionCookie"].into()
        } else {
            [].into()
        };
        assert_eq!(schemes, expected, "{method} {path}: security");
        // Every documented error is in the one error shape.
        for (status, response) in responses {
            let response = resolve(&doc, response);
            if status.starts_with('4') || status.starts_with('5') || status == "default" {
                let schema = &response["content"]["application/json"]["schema"];
                assert_eq!(
                    schema["$ref"], "#/components/schemas/ErrorEnvelope",
                    "{method} {path} {status}"
                );
            }
        }
    }

    let codes: Vec<Value> = all_error_codes().into_iter().map(|c| json!(c.as_str())).collect();
    assert_eq!(
        doc["components"]["schemas"]["ErrorCode"]["enum"],
        json!(codes),
        "the documented error codes"
    );
    let error = &doc["components"]["schemas"]["Error"];
    let fields: BTreeSet<&String> = error["properties"].as_object().unwrap().keys().collect();
    let body = serde_json::to_value(chinwag_proto::error::ErrorBody {
        code: ErrorCode::RateLimited,
        message: "m".into(),
        request_id: Some("r".into()),
        retry_after_ms: Some(1),
        current: Some(json!({})),
    })
    .unwrap();
    assert_eq!(
        fields,
        body.as_object().unwrap().keys().collect(),
        "the error fields as serialized"
    );

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        (&schemes["bearerAuth"]["type"], &schemes["bearerAuth"]["scheme"]),
        (&json!("http"), &json!("bearer"))
    );
    assert_eq!(
        (&schemes["sessionCookie"]["in"], &schemes["sessionCookie"]["name"]),
        (&json!("cookie"), &json!(SESSION_COOKIE))
    );
    assert_eq!(
        (&schemes["apiKey"]["in"], &schemes["apiKey"]["name"]),
        (&json!("header"), &json!("X-Api-Key"))
    );
}

#[test]
fn the_document_and_the_router_list_the_same_routes() {
    let routes: BTreeSet<(String, String)> =
        ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(routes.len(), ROUTES.len(), "ROUTES has no duplicates");
    let documented = documented(&doc());
    let undocumented: Vec<_> = routes.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&routes).collect();
    assert!(undocumented.is_empty(), "served but not documented: {undocumented:?}");
    assert!(unserved.is_empty(), "documented but not served: {unserved:?}");
    for (method, path) in TEST_ROUTES {
        assert!(
            !documented.contains(&(method.to_string(), path.to_string())),
            "test-only {path} stays undocumented"
        );
    }
}

/// A concrete path for a template: `{id}` and `{user}` filled in.
fn concrete(template: &str) -> String {
    template.replace("{id}", "01NOSUCHCONVERSATION").replace("{user}", "nobody")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served_and_no_other_method_is() {
    let server = TestServer::start().await;
    let doc = doc();
    let token = server.token("alice");

    let served = server.call(Method::GET, "/v1/openapi.json", Auth::None, None).await;
    assert_eq!((served.status, &served.body), (200, &doc), "the served document is the file");
    assert_eq!(served.header("content-type"), Some("application/json"));

    let documented = documented(&doc);
    for (method, template) in &documented {
        let auth = if template.starts_with("/v1/server/") {
            Auth::ApiKey(API_KEY)
        } else {
            Auth::Bearer(&token)
        };
        let body = matches!(method.as_str(), "POST" | "PATCH").then(|| json!({}));
        let reply = server.call(method.parse().unwrap(), &concrete(template), auth, body).await;
        let no_endpoint =
            reply.status == 404 && reply.body["error"]["message"] == "no such endpoint";
        assert!(
            !no_endpoint && reply.status != 405,
            "{method} {template} is not served: {reply:?}"
        );
        check(&doc, method, template, &reply);
    }

    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for template in paths {
        let mut allowed: Vec<&str> =
            documented.iter().filter(|(_, p)| p == template).map(|(m, _)| m.as_str()).collect();
        if allowed.contains(&"GET") {
            allowed.push("HEAD");
        }
        for method in
            ["GET", "POST", "PUT", "PATCH", "DELETE"].into_iter().filter(|m| !allowed.contains(m))
        {
            let reply = server
                .call(method.parse().unwrap(), &concrete(template), Auth::Bearer(&token), None)
                .await;
            reply.assert_error(405, "invalid");
            let allow: BTreeSet<&str> =
                reply.header("allow").unwrap_or("").split(',').map(str::trim).collect();
            assert_eq!(
                allow,
                allowed.iter().copied().collect(),
                "{method} {template}: the Allow header"
            );
        }
    }
    let reply = server.call(Method::GET, "/v1/echo", Auth::None, None).await;
    assert_eq!(
        (reply.status, &reply.body["error"]["message"]),
        (404, &json!("no such endpoint")),
        "echo is off by default"
    );
    server.stop().await;
}

/// Calls that check their reply against the document.
struct Checked<'a> {
    server: &'a TestServer,
    doc: &'a Value,
}

impl Checked<'_> {
    async fn call(
        &self,
        method: &str,
        template: &str,
        path: impl Into<String>,
        auth: Auth<'_>,
        body: Option<Value>,
    ) -> Reply {
        let reply = self.server.call(method.parse().unwrap(), &path.into(), auth, body).await;
        check(self.doc, method, template, &reply);
        reply
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_match_their_documented_schemas() {
    let server = TestServer::start().await;
    let doc = doc();
    let api = Checked { server: &server, doc: &doc };
    let (alice, bob) = (server.token("alice"), server.token("bob"));
    let (a, b) = (Auth::Bearer(&alice), Auth::Bearer(&bob));

    let creds = json!({"username": "carol", "password": "correct horse", "name": "Carol"});
    let r = api
        .call(
            "POST",
            "/v1/accounts/register",
            "/v1/accounts/register",
            Auth::None,
            Some(creds.clone()),
        )
        .await;
    assert_eq!(r.status, 200);
    api.call("POST", "/v1/accounts/register", "/v1/accounts/register", Auth::None, Some(creds))
        .await;
    api.call(
        "POST",
        "/v1/accounts/register",
        "/v1/accounts/register",
        Auth::None,
        Some(json!({"username": 1})),
    )
    .await;
    let login = json!({"username": "carol", "password": "correct horse"});
    let r =
        api.call("POST", "/v1/accounts/login", "/v1/accounts/login", Auth::None, Some(login)).await;
    let carol = r.body["token"].as_str().unwrap().to_owned();
    let wrong = json!({"username": "carol", "password": "wrong horse"});
    api.call("POST", "/v1/accounts/login", "/v1/accounts/login", Auth::None, Some(wrong)).await;
    api.call("POST", "/v1/accounts/logout", "/v1/accounts/logout", Auth::Cookie(&carol), None)
        .await;
    api.call("GET", "/v1/me", "/v1/me", Auth::Cookie(&carol), None).await;
    api.call("GET", "/v1/me", "/v1/me", Auth::None, None).await;

    let group = json!({"kind": "group", "members": ["bob"], "title": "Team"});
    let r = api.call("POST", "/v1/conversations", "/v1/conversations", a, Some(group)).await;
    assert_eq!(r.status, 201);
    let conv = r.body["conversation"]["id"].as_str().unwrap().to_owned();
    let direct = json!({"kind": "direct", "members": ["bob"], "subject": "item:42"});
    api.call("POST", "/v1/conversations", "/v1/conversations", a, Some(direct.clone())).await;
    let r = api.call("POST", "/v1/conversations", "/v1/conversations", a, Some(direct)).await;
    assert_eq!(r.status, 200);
    api.call(
        "POST",
        "/v1/conversations",
        "/v1/conversations",
        a,
        Some(json!({"kind": "direct", "members": []})),
    )
    .await;

    let messages = format!("/v1/conversations/{conv}/messages");
    let t_messages = "/v1/conversations/{id}/messages";
    let offer =
        json!({"client_msg_id": "c1", "kind": "offer", "body": "", "payload": {"amount": 5}});
    assert_eq!(
        api.call("POST", t_messages, messages.clone(), a, Some(offer.clone())).await.status,
        201
    );
    assert_eq!(api.call("POST", t_messages, messages.clone(), a, Some(offer)).await.status, 200);
    let text = json!({"client_msg_id": "c2", "body": "hello"});
    api.call("POST", t_messages, messages.clone(), b, Some(text)).await;
    api.call(
        "POST",
        t_messages,
        messages.clone(),
        b,
        Some(json!({"client_msg_id": "c3", "kind": "system", "body": "x"})),
    )
    .await;
    api.call(
        "POST",
        t_messages,
        messages.clone(),
        b,
        Some(json!({"client_msg_id": "c4", "body": "x".repeat(70_000)})),
    )
    .await;
    api.call("GET", t_messages, format!("{messages}?limit=1"), b, None).await;
    api.call("GET", t_messages, format!("{messages}?before=2&after=1"), b, None).await;
    api.call("GET", t_messages, format!("{messages}?limit=1000"), b, None).await;
    api.call("GET", t_messages, "/v1/conversations/01NOPE/messages", b, None).await;

    api.call("GET", "/v1/conversations", "/v1/conversations?limit=1", b, None).await;
    api.call("GET", "/v1/conversations", "/v1/conversations?limit=0", b, None).await;
    api.call("GET", "/v1/conversations", "/v1/conversations?limit=999", b, None).await;
    api.call("GET", "/v1/conversations/{id}", format!("/v1/conversations/{conv}"), b, None).await;
    api.call("GET", "/v1/conversations/{id}", "/v1/conversations/01NOPE", b, None).await;
    let read = format!("/v1/conversations/{conv}/read");
    api.call("POST", "/v1/conversations/{id}/read", read.clone(), b, Some(json!({"seq": 1}))).await;
    api.call("POST", "/v1/conversations/{id}/read", read, b, Some(json!({"seq": "x"}))).await;

    let members = format!("/v1/conversations/{conv}/members");
    let t_members = "/v1/conversations/{id}/members";
    assert_eq!(
        api.call(
            "POST",
            t_members,
            members.clone(),
            a,
            Some(json!({"user_id": "dave", "role": "admin"}))
        )
        .await
        .status,
        201
    );
    assert_eq!(
        api.call("POST", t_members, members.clone(), a, Some(json!({"user_id": "dave"})))
            .await
            .status,
        200
    );
    api.call("POST", t_members, members.clone(), b, Some(json!({"user_id": "erin"}))).await;
    let t_member = "/v1/conversations/{id}/members/{user}";
    api.call("PATCH", t_member, format!("{members}/bob"), a, Some(json!({"role": "admin"}))).await;
    api.call("PATCH", t_member, format!("{members}/alice"), a, Some(json!({"role": "member"})))
        .await;
    api.call("DELETE", t_member, format!("{members}/dave"), a, None).await;
    api.call("DELETE", t_member, format!("{members}/dave"), a, None).await;

    let key = Auth::ApiKey(API_KEY);
    api.call(
        "POST",
        "/v1/server/tokens",
        "/v1/server/tokens",
        key,
        Some(json!({"user_id": "zed", "name": "Zed"})),
    )
    .await;
    api.call(
        "POST",
        "/v1/server/tokens",
        "/v1/server/tokens",
        Auth::ApiKey("wrong-key-0123456789"),
        Some(json!({"user_id": "zed"})),
    )
    .await;
    let deal =
        json!({"as_user": "alice", "kind": "direct", "members": ["zed"], "subject": "deal:7"});
    let r = api
        .call(
            "POST",
            "/v1/server/conversations",
            "/v1/server/conversations",
            key,
            Some(deal.clone()),
        )
        .await;
    let deal_id = r.body["conversation"]["id"].as_str().unwrap().to_owned();
    api.call("POST", "/v1/server/conversations", "/v1/server/conversations", key, Some(deal)).await;
    let t_server_send = "/v1/server/conversations/{id}/messages";
    let system =
        json!({"as_user": "alice", "client_msg_id": "s1", "kind": "system", "body": "Deal closed"});
    let path = format!("/v1/server/conversations/{deal_id}/messages");
    assert_eq!(
        api.call("POST", t_server_send, path.clone(), key, Some(system.clone())).await.status,
        201
    );
    assert_eq!(api.call("POST", t_server_send, path.clone(), key, Some(system)).await.status, 200);
    api.call(
        "POST",
        t_server_send,
        path,
        key,
        Some(json!({"as_user": "mallory", "client_msg_id": "s2", "body": "x"})),
    )
    .await;

    // The list, now with previews and members of every role.
    let r = api.call("GET", "/v1/conversations", "/v1/conversations", a, None).await;
    assert!(r.body["conversations"][0]["last_message"].is_object());

    api.call("GET", "/healthz", "/healthz", Auth::None, None).await;
    api.call("GET", "/readyz", "/readyz", Auth::None, None).await;
    api.call("GET", "/metrics", "/metrics", Auth::None, None).await;
    api.call("GET", "/v1/ws", "/v1/ws", Auth::None, None).await;
    let origin = [("origin", "https://evil.example")];
    let e = open_with_headers(&server.ws_url(), &origin)
        .await
        .expect_err("a foreign origin is refused");
    assert_eq!(chinwag_testkit::refused_status(&e).0, 403);
    open_with_headers(&server.ws_url(), &[]).await.expect("101 Switching Protocols");
    server.stop().await;

    // 429, with its Retry-After.
    let server = TestServer::start_with(|c| c.limits.user_requests_per_second = 1).await;
    let token = server.token("alice");
    let mut limited = None;
    for _ in 0..10 {
        let r = server.call(Method::GET, "/v1/me", Auth::Bearer(&token), None).await;
        check(&doc, "GET", "/v1/me", &r);
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("a burst over the per-user rate is limited");
    assert!(r.body["error"]["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{r:?}");
    assert!(
        r.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)),
        "{r:?}"
    );
    server.stop().await;
}
