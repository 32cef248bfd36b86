//! The server side's errors.

use crate::protocol::{CursorError, ErrorBody};
use crate::tags::TagError;
use axum::http::StatusCode;
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
}

/// An answer of the hub's endpoints other than a stream: a status and a JSON [`ErrorBody`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The `cursor` query parameter is not `<epoch>-<seq>`.
    #[error("the cursor query parameter is invalid: {0}")]
    BadCursor(CursorError),
    /// The `Last-Event-ID` header is not `<epoch>-<seq>`.
    #[error("the Last-Event-ID header is invalid: {0}")]
    BadLastEventId(CursorError),
    /// The query string could not be parsed, or repeats a parameter.
    #[error("the query string is invalid: {0}")]
    BadQuery(String),
    /// The hub is shutting down and takes no new connection.
    #[error("the server is shutting down; reconnect later")]
    ShuttingDown,
}

impl HubError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            HubError::BadCursor(_) | HubError::BadLastEventId(_) | HubError::BadQuery(_) => {
                StatusCode::BAD_REQUEST
            }
            HubError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable code in the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            HubError::BadCursor(_) => "bad_cursor",
            HubError::BadLastEventId(_) => "bad_last_event_id",
            HubError::BadQuery(_) => "bad_query",
            HubError::ShuttingDown => "shutting_down",
        }
    }
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code().to_owned(),
            message: self.to_string(),
        };
        (self.status(), Json(body)).into_response()
    }
}
