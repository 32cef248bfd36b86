//! `POST <base>/publish`: invalidations from producers outside the app (jobs, other services).
//!
//! Mounted only when the hub has a publish secret. CSRF-safe because a browser never attaches an
//! `Authorization` header on its own (unlike a cookie), and a cross-site page that sets one, or a
//! JSON content type, triggers a CORS preflight that this endpoint never approves.

use super::error::HubError;
use super::hub::Hub;
use crate::protocol::{PublishRequest, PublishResponse, PUBLISH_PATH};
use crate::tags::TagPattern;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::routing::post;
use axum::{Json, Router};
use subtle::ConstantTimeEq;

pub(crate) fn route(router: Router<Hub>, hub: &Hub) -> Router<Hub> {
    router.route(
        &format!("{}{PUBLISH_PATH}", hub.base_path()),
        post(publish).fallback(|| async { HubError::MethodNotAllowed { allow: "POST" } }),
    )
}

fn authorized(headers: &HeaderMap, secret: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Constant time, so that response timing does not reveal how much of a guess was right.
    given.as_bytes().ct_eq(secret.as_bytes()).into()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

async fn publish(
    State(hub): State<Hub>,
    request: Request,
) -> Result<Json<PublishResponse>, HubError> {
    let (parts, body) = request.into_parts();
    let secret = hub.publish_secret().ok_or(HubError::Unauthorized)?;
    if !authorized(&parts.headers, secret) {
        return Err(HubError::Unauthorized);
    }
    if !is_json(&parts.headers) {
        return Err(HubError::UnsupportedMediaType);
    }
    let limit = hub.max_publish_body();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(HubError::BodyTooLarge { limit });
    }
    let bytes = axum::body::to_bytes(Body::new(body), limit)
        .await
        .map_err(|_| HubError::BodyTooLarge { limit })?;
    let request: PublishRequest =
        serde_json::from_slice(&bytes).map_err(|e| HubError::BadBody(e.to_string()))?;
    TagPattern::validate_list(&request.tags, hub.limits()).map_err(HubError::BadTags)?;
    // In memory the id is there at once; through Redis, as soon as Redis has the event.
    let id = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        hub.publish(request.scope, request.tags),
    )
    .await
    .map_err(|_| HubError::Unavailable)?
    .map_err(|_| HubError::Unavailable)?;
    Ok(Json(PublishResponse { id }))
}
