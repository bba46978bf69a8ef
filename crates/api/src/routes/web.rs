//! The web app and the JavaScript SDK, compiled into the binary: `GET /` is the app, `/sdk/…`
//! the SDK (ES modules: the entry `/sdk/chinwag.js` imports `/sdk/lib/*.js`; their declarations
//! beside them as `.d.ts`). Served by the router's fallback for `GET` and `HEAD` (these are
//! files, not REST routes, so they are not in `ROUTES` or the OpenAPI document); any other path
//! still answers 404 in the one error shape.
//!
//! The files are embedded with `include_bytes!` (no build step, nothing read from disk at run
//! time): `cargo run` alone serves the app on a fresh machine.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chinwag_proto::error::ErrorCode;

use crate::error::ApiError;

/// One embedded file: the path it is served at, its media type, its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $ctype:expr, $file:literal) => {
        Asset {
            path: $path,
            content_type: $ctype,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/", $file)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Every file the server serves outside the API. A new file of the app is listed here.
const ASSETS: &[Asset] = &[
    asset!("/", "text/html; charset=utf-8", "app/index.html"),
    asset!("/app.css", "text/css; charset=utf-8", "app/app.css"),
    asset!("/app.js", JS, "app/app.js"),
    asset!("/view.js", JS, "app/view.js"),
    asset!("/sw.js", JS, "app/sw.js"),
    asset!("/icon.svg", "image/svg+xml", "app/icon.svg"),
    // The SDK: its entry module, the modules it imports, and their declarations (a new module
    // of `web/sdk/lib` is listed here; a test below fails otherwise).
    asset!("/sdk/chinwag.js", JS, "sdk/chinwag.js"),
    asset!("/sdk/lib/close-codes.js", JS, "sdk/lib/close-codes.js"),
    asset!("/sdk/lib/emitter.js", JS, "sdk/lib/emitter.js"),
    asset!("/sdk/lib/errors.js", JS, "sdk/lib/errors.js"),
    asset!("/sdk/lib/event-stream.js", JS, "sdk/lib/event-stream.js"),
    asset!("/sdk/lib/history-cache.js", JS, "sdk/lib/history-cache.js"),
    asset!("/sdk/lib/http.js", JS, "sdk/lib/http.js"),
    asset!("/sdk/lib/outbox.js", JS, "sdk/lib/outbox.js"),
    asset!("/sdk/lib/quality.js", JS, "sdk/lib/quality.js"),
    asset!("/sdk/lib/receipts.js", JS, "sdk/lib/receipts.js"),
    asset!("/sdk/lib/reconnect.js", JS, "sdk/lib/reconnect.js"),
    asset!("/sdk/lib/socket-link.js", JS, "sdk/lib/socket-link.js"),
    asset!("/sdk/lib/storage.js", JS, "sdk/lib/storage.js"),
    asset!("/sdk/lib/tabs.js", JS, "sdk/lib/tabs.js"),
    asset!("/sdk/lib/typing.js", JS, "sdk/lib/typing.js"),
    asset!("/sdk/chinwag.d.ts", TEXT, "sdk/chinwag.d.ts"),
    asset!("/sdk/lib/close-codes.d.ts", TEXT, "sdk/lib/close-codes.d.ts"),
    asset!("/sdk/lib/emitter.d.ts", TEXT, "sdk/lib/emitter.d.ts"),
    asset!("/sdk/lib/errors.d.ts", TEXT, "sdk/lib/errors.d.ts"),
    asset!("/sdk/lib/event-stream.d.ts", TEXT, "sdk/lib/event-stream.d.ts"),
    asset!("/sdk/lib/history-cache.d.ts", TEXT, "sdk/lib/history-cache.d.ts"),
    asset!("/sdk/lib/http.d.ts", TEXT, "sdk/lib/http.d.ts"),
    asset!("/sdk/lib/outbox.d.ts", TEXT, "sdk/lib/outbox.d.ts"),
    asset!("/sdk/lib/quality.d.ts", TEXT, "sdk/lib/quality.d.ts"),
    asset!("/sdk/lib/receipts.d.ts", TEXT, "sdk/lib/receipts.d.ts"),
    asset!("/sdk/lib/reconnect.d.ts", TEXT, "sdk/lib/reconnect.d.ts"),
    asset!("/sdk/lib/socket-link.d.ts", TEXT, "sdk/lib/socket-link.d.ts"),
    asset!("/sdk/lib/storage.d.ts", TEXT, "sdk/lib/storage.d.ts"),
    asset!("/sdk/lib/tabs.d.ts", TEXT, "sdk/lib/tabs.d.ts"),
    asset!("/sdk/lib/typing.d.ts", TEXT, "sdk/lib/typing.d.ts"),
];

/// The app loads only its own files and talks only to its own origin: no inline script, no
/// third-party anything. `connect-src 'self'` covers same-origin `ws:`/`wss:` (CSP level 3).
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The router's fallback: an embedded file for `GET`/`HEAD`, else `404 not_found`.
pub(crate) async fn asset_or_not_found(req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path();
    let path = if path == "/index.html" { "/" } else { path };
    let found = ASSETS.iter().find(|a| a.path == path);
    let (Some(asset), true) = (found, method == Method::GET || method == Method::HEAD) else {
        return ApiError::new(ErrorCode::NotFound, "no such endpoint").into_response();
    };
    let body = if method == Method::HEAD { Body::empty() } else { Body::from(asset.bytes) };
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(asset.bytes.len()));
    // Revalidate every time: a new binary serves new files at once (the app's service worker
    // keeps its own copy for offline starts).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    if asset.path.starts_with("/sdk/") {
        // Other origins may load the SDK as a module (their pages talk to this server).
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_paths_are_unique_and_absolute() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(a.path.starts_with('/'), "{}", a.path);
            assert!(!a.path.starts_with("/v1/"), "{} would shadow the API", a.path);
            assert!(!a.bytes.is_empty(), "{} is empty", a.path);
            assert!(ASSETS[i + 1..].iter().all(|b| b.path != a.path), "{} twice", a.path);
        }
    }

    /// Every module and declaration file of `web/sdk` is served at its path under `/sdk/` with
    /// its media type: a module left out would break the SDK's imports in browsers.
    #[test]
    fn every_sdk_file_is_served() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/sdk");
        let mut dirs = vec![root.clone()];
        let mut files = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() && !path.ends_with("node_modules") {
                    dirs.push(path);
                } else if let Some(rel) = path.strip_prefix(&root).unwrap().to_str() {
                    files.push(rel.replace('\\', "/"));
                }
            }
        }
        let mut served = 0;
        for rel in files {
            let ctype = if rel.ends_with(".d.ts") {
                TEXT
            } else if rel.ends_with(".js") {
                JS
            } else {
                continue;
            };
            let path = format!("/sdk/{rel}");
            let asset = ASSETS.iter().find(|a| a.path == path);
            let asset = asset.unwrap_or_else(|| panic!("{path} is not served (add it to ASSETS)"));
            assert_eq!(asset.content_type, ctype, "{path}");
            served += 1;
        }
        let listed = ASSETS.iter().filter(|a| a.path.starts_with("/sdk/")).count();
        assert_eq!(listed, served, "every /sdk/ asset is a file of web/sdk");
    }
}
