//! The server side's errors.

use crate::protocol::{CursorError, ErrorBody, Scope, ScopeError};
use crate::tags::TagError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Why `invalidate_tags` could not do its job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidateError {
    /// Called outside a request handled by a router from [`Hub::mount`](super::Hub::mount), and no
    /// [`Hub`](super::Hub) was provided as Leptos context either.
    #[error(
        "no leptos_query_tags Hub is reachable: wrap your router with `hub.mount(router)`, or \
         `provide_context(hub.clone())` in your Leptos route context"
    )]
    NoHub,
    /// The tags broke the hub's limits.
    #[error("invalid tags: {0}")]
    Tags(#[from] TagError),
    /// The event was queued but the hub could not tell its id (it was dropped from a full
    /// outbox while the shared log was unreachable, or the hub is gone).
    #[error("the event log is unavailable; the invalidation is not confirmed")]
    Unavailable,
}

/// An answer of the hub's endpoints other than a stream: a status and a JSON [`ErrorBody`]
/// whose `error` is [`HubError::code`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// `400 bad_cursor`: the `cursor` query parameter is not `<epoch>-<seq>`.
    #[error("the cursor query parameter is invalid: {0}")]
    BadCursor(CursorError),
    /// `400 bad_last_event_id`: the `Last-Event-ID` header is not `<epoch>-<seq>`.
    #[error("the Last-Event-ID header is invalid: {0}")]
    BadLastEventId(CursorError),
    /// `400 bad_query`: the query string could not be parsed, or repeats `cursor`.
    #[error("the query string is invalid: {0}")]
    BadQuery(String),
    /// `400 bad_scope`: a `scope` parameter is not a valid scope.
    #[error("{0}")]
    BadScope(ScopeError),
    /// `403 forbidden_scope`: the stream asked for a scope its request may not receive.
    #[error("this connection may not receive scope `{0}`")]
    ForbiddenScope(Scope),
    /// `429 too_many_connections`: the hub holds its maximum of open streams.
    #[error("the server holds its maximum of {limit} event streams; retry later")]
    TooManyConnections {
        /// The limit.
        limit: usize,
    },
    /// `429 too_many_connections_for_scope`: too many open streams receive this scope.
    #[error("scope `{scope}` already has its maximum of {limit} event streams")]
    TooManyConnectionsForScope {
        /// The scope at its limit.
        scope: Scope,
        /// The limit.
        limit: usize,
    },
    /// `429 too_many_streams_for_client`: this client address holds its maximum of streams
    /// ([`HubBuilder::max_streams_per_client`](super::HubBuilder::max_streams_per_client)).
    #[error("this client already has its maximum of {limit} event streams")]
    TooManyStreamsForClient {
        /// The limit.
        limit: usize,
    },
    /// `401 unauthorized`: the publish endpoint needs `Authorization: Bearer <secret>`.
    #[error("publishing needs `Authorization: Bearer <secret>` with the hub's publish secret")]
    Unauthorized,
    /// `415 unsupported_media_type`: the publish body must be `application/json`.
    #[error("the body must be sent as `Content-Type: application/json`")]
    UnsupportedMediaType,
    /// `413 body_too_large`: the publish body exceeds the limit.
    #[error("the body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// `400 bad_body`: the publish body is not the expected JSON.
    #[error("the body is not a valid publish request: {0}")]
    BadBody(String),
    /// `400 bad_tags`: the tags of a publish request break the hub's limits.
    #[error("invalid tags: {0}")]
    BadTags(TagError),
    /// `405 method_not_allowed`: the endpoint exists but not for this method.
    #[error("method not allowed; this endpoint accepts {allow}")]
    MethodNotAllowed {
        /// The accepted method.
        allow: &'static str,
    },
    /// `503 unavailable`: the shared event log (Redis) did not take the event in time; it is
    /// queued and may still be published.
    #[error("the event log is unavailable; the event is queued and may still be published")]
    Unavailable,
    /// `503 shutting_down`: the hub is shutting down and takes no new connection.
    #[error("the server is shutting down; reconnect later")]
    ShuttingDown,
}

impl HubError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            HubError::BadCursor(_)
            | HubError::BadLastEventId(_)
            | HubError::BadQuery(_)
            | HubError::BadScope(_)
            | HubError::BadBody(_)
            | HubError::BadTags(_) => StatusCode::BAD_REQUEST,
            HubError::Unauthorized => StatusCode::UNAUTHORIZED,
            HubError::ForbiddenScope(_) => StatusCode::FORBIDDEN,
            HubError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            HubError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            HubError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            HubError::TooManyConnections { .. }
            | HubError::TooManyConnectionsForScope { .. }
            | HubError::TooManyStreamsForClient { .. } => StatusCode::TOO_MANY_REQUESTS,
            HubError::ShuttingDown | HubError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable code in the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            HubError::BadCursor(_) => "bad_cursor",
            HubError::BadLastEventId(_) => "bad_last_event_id",
            HubError::BadQuery(_) => "bad_query",
            HubError::BadScope(_) => "bad_scope",
            HubError::ForbiddenScope(_) => "forbidden_scope",
            HubError::TooManyConnections { .. } => "too_many_connections",
            HubError::TooManyConnectionsForScope { .. } => "too_many_connections_for_scope",
            HubError::TooManyStreamsForClient { .. } => "too_many_streams_for_client",
            HubError::Unauthorized => "unauthorized",
            HubError::UnsupportedMediaType => "unsupported_media_type",
            HubError::BodyTooLarge { .. } => "body_too_large",
            HubError::BadBody(_) => "bad_body",
            HubError::BadTags(_) => "bad_tags",
            HubError::MethodNotAllowed { .. } => "method_not_allowed",
            HubError::ShuttingDown => "shutting_down",
            HubError::Unavailable => "unavailable",
        }
    }
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code().to_owned(),
            message: self.to_string(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            HubError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            HubError::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            HubError::TooManyConnections { .. }
            | HubError::TooManyConnectionsForScope { .. }
            | HubError::TooManyStreamsForClient { .. }
            | HubError::ShuttingDown
            | HubError::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        response
    }
}
