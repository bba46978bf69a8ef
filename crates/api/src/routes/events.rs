//! `GET /v1/events`: the WebSocket session's events as server-sent events, for networks that
//! block WebSocket (`chinwag_core::event_stream`). Authenticated like REST; requests go up
//! through the REST endpoints.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chinwag_core::event_stream;
use chinwag_proto::error::ErrorCode;
use chinwag_proto::frames::{Position, ResumeRequest};
use chinwag_proto::ids::ConversationId;
use chinwag_proto::rest::EventsQuery;

use crate::auth::User;
use crate::error::{ApiError, Query};
use crate::state::AppState;

/// Most positions in one request, as for a `resume` frame.
const MAX_POSITIONS: usize = 10_000;

/// The stream. Only for clients that ask for an event stream (`Accept: text/event-stream`, as
/// `EventSource` and the SDK do); anything else gets `406`, not a response that never ends.
pub(crate) async fn stream(
    State(state): State<AppState>,
    User(who): User,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    let accepts = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"));
    if !accepts {
        let mut res =
            ApiError::new(ErrorCode::Invalid, "send `Accept: text/event-stream`").into_response();
        *res.status_mut() = StatusCode::NOT_ACCEPTABLE;
        return Ok(res);
    }
    // As for the WebSocket upgrade: a page of a foreign origin may not read anyone's events.
    if !crate::auth::origin_allowed(&headers, &state) {
        return Err(ApiError::new(ErrorCode::Forbidden, "origin not allowed"));
    }
    let resume = resume_request(q)?;
    let rx = event_stream::open(&state.node, who, resume).await?;
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok::<_, Infallible>(chunk), rx))
    });
    let mut res = Response::new(Body::from_stream(chunks));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-transform"));
    // Reverse proxies that buffer responses would hold events back.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}

/// `since` and `positions` as a resume request; neither: live events only.
fn resume_request(q: EventsQuery) -> Result<Option<ResumeRequest>, ApiError> {
    if q.since.is_none() && q.positions.is_none() {
        return Ok(None);
    }
    let mut positions = Vec::new();
    for pair in q.positions.as_deref().unwrap_or("").split(',').filter(|p| !p.is_empty()) {
        let bad = || ApiError::new(ErrorCode::Invalid, format!("position `{pair}` is not id:seq"));
        let (id, seq) = pair.rsplit_once(':').ok_or_else(bad)?;
        if id.is_empty() {
            return Err(bad());
        }
        let seq = seq.parse().map_err(|_| bad())?;
        positions.push(Position { conversation_id: ConversationId::from(id), seq });
        if positions.len() > MAX_POSITIONS {
            return Err(ApiError::new(ErrorCode::TooLarge, "at most 10000 positions"));
        }
    }
    Ok(Some(ResumeRequest { positions, since: q.since }))
}
