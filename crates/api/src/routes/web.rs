//! The web app and the JavaScript SDK, compiled into the binary: `GET /` is the app, `/sdk/…`
//! the SDK as one ES module. Served by the router's fallback for `GET` and `HEAD` (these are
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

/// Every file the server serves outside the API. A new file of the app is listed here.
const ASSETS: &[Asset] = &[
    asset!("/", "text/html; charset=utf-8", "app/index.html"),
    asset!("/app.css", "text/css; charset=utf-8", "app/app.css"),
    asset!("/app.js", JS, "app/app.js"),
    asset!("/view.js", JS, "app/view.js"),
    asset!("/sw.js", JS, "app/sw.js"),
    asset!("/icon.svg", "image/svg+xml", "app/icon.svg"),
    asset!("/sdk/chinwag.js", JS, "sdk/chinwag.js"),
    asset!("/sdk/chinwag.d.ts", "text/plain; charset=utf-8", "sdk/chinwag.d.ts"),
];

/// The app loads only its own files and talks only to its own origin: no inline script, no
/// third-party anything. `connect-src 'self'` covers same-origin `ws:`/`wss:` (CSP level 3).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The router's fallback: an embedded file for `GET`/`HEAD`, else `404 not_found`.
pub async fn asset_or_not_found(req: Request) -> Response {
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
}
