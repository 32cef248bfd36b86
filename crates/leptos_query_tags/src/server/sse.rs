//! The SSE endpoint: `GET <base>/events`.

use super::error::HubError;
use super::fanout::{Next, Subscriber};
use super::hub::{ConnectionPermit, Hub};
use crate::protocol::{
    event, identity, sse, Cursor, Hello, ResetReason, Scope, CURSOR_PARAM, EVENTS_PATH,
    PROTOCOL_VERSION, SCOPE_PARAM,
};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One SSE frame ([`sse::frame`]) as the bytes a stream sends.
fn frame(event: &str, id: Option<Cursor>, data: &str, retry: Option<Duration>) -> Bytes {
    Bytes::from(sse::frame(event, id, data, retry))
}

pub(crate) fn routes<S>(hub: &Hub) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let router = Router::new().route(
        &format!("{}{EVENTS_PATH}", hub.base_path()),
        // `get` alone would answer HEAD with the stream's head (axum runs GET handlers for HEAD).
        get(events)
            .head(|| async { HubError::MethodNotAllowed { allow: "GET" } })
            .fallback(|| async { HubError::MethodNotAllowed { allow: "GET" } }),
    );
    let router = if hub.serves_js_client() {
        router.route(
            &format!("{}{}", hub.base_path(), crate::protocol::JS_CLIENT_PATH),
            get(js_client),
        )
    } else {
        router
    };
    let router = if hub.publish_secret().is_some() {
        super::publish::route(router, hub)
    } else {
        router
    };
    #[cfg(feature = "prometheus")]
    let router = if hub.prometheus_endpoint() {
        super::metrics::route(router, hub)
    } else {
        router
    };
    router.with_state(hub.clone())
}

/// The JS client (`clients/js/query-tags.mjs` in the repository), for frontends that are not
/// Leptos: `import { QueryTagsClient } from '/api/query-tags/client.js'`.
pub(crate) const JS_CLIENT: &str = include_str!("../../js/query-tags.mjs");

async fn js_client() -> impl axum::response::IntoResponse {
    (
        [
            (http::header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        JS_CLIENT,
    )
}

/// What a stream request asks for.
#[derive(Debug, PartialEq)]
struct StreamRequest {
    from: Option<Cursor>,
    /// Empty: every scope the connection may receive.
    scopes: Vec<Scope>,
}

fn parse_stream_request(
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<StreamRequest, HubError> {
    let pairs: Vec<(String, String)> = match query {
        Some(q) => serde_urlencoded::from_str(q).map_err(|e| HubError::BadQuery(e.to_string()))?,
        None => Vec::new(),
    };
    let mut scopes = Vec::new();
    for (_, value) in pairs.iter().filter(|(k, _)| k == SCOPE_PARAM) {
        let scope = Scope::new(value.as_str()).map_err(HubError::BadScope)?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(StreamRequest {
        from: requested_cursor(headers, &pairs)?,
        scopes,
    })
}

/// Reads where the client wants to resume: `Last-Event-ID` (set by the browser on reconnect)
/// wins over the `cursor` parameter (embedded by a server-rendered page).
fn requested_cursor(
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Result<Option<Cursor>, HubError> {
    if let Some(value) = headers.get("last-event-id") {
        let text = value.to_str().map_err(|_| {
            HubError::BadLastEventId(crate::protocol::CursorError {
                input: String::from_utf8_lossy(value.as_bytes())
                    .chars()
                    .take(64)
                    .collect(),
            })
        })?;
        if !text.trim().is_empty() {
            return text
                .trim()
                .parse()
                .map(Some)
                .map_err(HubError::BadLastEventId);
        }
    }
    let mut cursors = pairs.iter().filter(|(k, _)| k == CURSOR_PARAM);
    let cursor = cursors.next();
    if cursors.next().is_some() {
        return Err(HubError::BadQuery(format!(
            "`{CURSOR_PARAM}` is given more than once"
        )));
    }
    cursor
        .map(|(_, v)| v.parse().map_err(HubError::BadCursor))
        .transpose()
}

async fn events(State(hub): State<Hub>, request: Request) -> Result<Response, HubError> {
    let (parts, _) = request.into_parts();
    let asked = parse_stream_request(&parts.headers, parts.uri.query())?;
    if hub.is_shutting_down() {
        return Err(HubError::ShuttingDown);
    }
    let allowed = hub.allowed_scopes(&parts).await;
    let identity = identity(&allowed);
    let scopes = if asked.scopes.is_empty() {
        allowed
    } else {
        if let Some(forbidden) = asked.scopes.iter().find(|s| !allowed.contains(s)) {
            return Err(HubError::ForbiddenScope(forbidden.clone()));
        }
        asked.scopes
    };
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let permit = hub.admit(scopes, client)?;
    hub.ready().await;
    hub.start_heartbeat();
    let mut sub = hub.subscribe(asked.from, permit.scopes());
    hub.backfill(&mut sub, asked.from, permit.scopes()).await;

    let mut pending = VecDeque::with_capacity(sub.backlog.len() + 2);
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        epoch: hub.epoch(),
        cursor: sub.start,
        heartbeat_ms: hub.heartbeat().as_millis() as u64,
        identity: Some(identity),
    };
    pending.push_back(frame(
        event::HELLO,
        None,
        &sse::json(&hello),
        Some(hub.retry()),
    ));
    if let Some(reason) = sub.reset {
        hub.count_reset(reason);
        pending.push_back(reset_frame(reason, sub.start));
    }
    pending.extend(sub.backlog);

    let connection = Connection {
        pending,
        _permit: permit,
        subscriber: sub.subscriber,
        closing: false,
        hub,
    };
    let mut response = if parts.extensions.get::<LeanStreamRequest>().is_some() {
        // The lean listener writes this stream to the socket itself, unless a layer re-encodes
        // the body: then it writes the body, which takes the stream from the same slot.
        let slot = LeanStream(Arc::new(Mutex::new(Some(connection))));
        let mut response = (StatusCode::OK, body(Body::Waiting(slot.clone()))).into_response();
        response.extensions_mut().insert(slot);
        response
    } else {
        (StatusCode::OK, body(Body::Open(connection))).into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// Where a stream body is: still in the lean listener's slot, or owned.
enum Body {
    Waiting(LeanStream),
    Open(Connection),
}

fn body(start: Body) -> axum::body::Body {
    axum::body::Body::from_stream(futures::stream::unfold(start, |state| async {
        let mut connection = match state {
            Body::Open(connection) => connection,
            // Empty: the listener took the stream and never polls this body.
            Body::Waiting(slot) => slot.take()?,
        };
        let frame = connection.next_frame().await?;
        Some((Ok::<_, Infallible>(frame), Body::Open(connection)))
    }))
}

fn reset_frame(reason: ResetReason, cursor: Cursor) -> Bytes {
    Bytes::from(sse::reset(reason, cursor))
}

/// Set by the lean listener (`Serve::lean_streams`) on a stream request it reads from the
/// socket: the handler then also offers it the stream itself (as a [`LeanStream`]).
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "lean-streams"), allow(dead_code))]
pub(crate) struct LeanStreamRequest;

/// An accepted stream, carried to the listener in the response's extensions.
#[derive(Clone)]
pub(crate) struct LeanStream(Arc<Mutex<Option<Connection>>>);

#[cfg_attr(not(feature = "lean-streams"), allow(dead_code))]
impl LeanStream {
    pub(crate) fn take(self) -> Option<Connection> {
        self.0.lock().ok()?.take()
    }
}

/// One open stream: what it still has to send first, then what the hub sends it.
pub(crate) struct Connection {
    pending: VecDeque<Bytes>,
    /// This stream's place in the limits.
    _permit: ConnectionPermit,
    /// Its inbox of live events, heartbeats and the end.
    subscriber: Subscriber,
    /// Set once the stream must end after `pending` drains.
    closing: bool,
    hub: Hub,
}

/// What a stream has to write next, without waiting.
#[cfg_attr(not(feature = "lean-streams"), allow(dead_code))]
pub(crate) enum Ready {
    Frame(Bytes),
    /// Nothing right now.
    Nothing,
    /// The stream has ended.
    End,
}

impl Connection {
    /// The next frame to write; `None` once the stream has ended. Cancel-safe.
    pub(crate) async fn next_frame(&mut self) -> Option<Bytes> {
        if let Some(ready) = self.owed() {
            return ready;
        }
        let next = self.subscriber.next().await;
        self.on_next(next)
    }

    /// The next frame if one is ready now: lets a writer send a burst in one write.
    #[cfg_attr(not(feature = "lean-streams"), allow(dead_code))]
    pub(crate) fn try_next_frame(&mut self) -> Ready {
        if let Some(ready) = self.owed() {
            return match ready {
                Some(frame) => Ready::Frame(frame),
                None => Ready::End,
            };
        }
        match self.subscriber.try_next() {
            Next::Empty => Ready::Nothing,
            next => match self.on_next(next) {
                Some(frame) => Ready::Frame(frame),
                None => Ready::End,
            },
        }
    }

    /// What is owed before any live event: the replay backlog, or the end after a reset.
    fn owed(&mut self) -> Option<Option<Bytes>> {
        if let Some(bytes) = self.pending.pop_front() {
            if self.pending.is_empty() {
                // An idle stream keeps no buffer.
                self.pending = VecDeque::new();
            }
            return Some(Some(bytes));
        }
        self.closing.then_some(None)
    }

    fn on_next(&mut self, next: Next) -> Option<Bytes> {
        match next {
            Next::Frame(frame) => Some(frame),
            Next::Heartbeat => Some(Bytes::from_static(sse::HEARTBEAT.as_bytes())),
            Next::Closed | Next::Empty => None,
            Next::Reset => {
                // Counted by the hub when it reset every stream.
                self.closing = true;
                Some(reset_frame(ResetReason::UnknownEpoch, self.hub.cursor()))
            }
            Next::Lagged => {
                tracing::warn!("SSE consumer lagged; sending reset and closing");
                self.hub.count_reset(ResetReason::Lagged);
                self.closing = true;
                Some(reset_frame(ResetReason::Lagged, self.hub.cursor()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_well_formed() {
        let id = Cursor { epoch: 3, seq: 4 };
        assert_eq!(
            frame(
                "invalidate",
                Some(id),
                r#"{"tags":[]}"#,
                Some(Duration::from_secs(2))
            ),
            Bytes::from_static(b"retry: 2000\nid: 3-4\nevent: invalidate\ndata: {\"tags\":[]}\n\n")
        );
    }

    #[test]
    fn stream_requests() {
        let cursor =
            |headers: &HeaderMap, q: Option<&str>| parse_stream_request(headers, q).map(|r| r.from);
        let mut headers = HeaderMap::new();
        assert_eq!(cursor(&headers, None).unwrap(), None);
        assert_eq!(
            cursor(&headers, Some("cursor=1-2")).unwrap(),
            Some(Cursor { epoch: 1, seq: 2 })
        );
        assert!(matches!(
            cursor(&headers, Some("cursor=1-2&cursor=1-3")),
            Err(HubError::BadQuery(_))
        ));
        assert!(matches!(
            cursor(&headers, Some("cursor=x")),
            Err(HubError::BadCursor(_))
        ));
        let scopes = parse_stream_request(&headers, Some("scope=user:1&scope=global&scope=user:1"))
            .unwrap()
            .scopes;
        assert_eq!(scopes, vec![Scope::new("user:1").unwrap(), Scope::global()]);
        assert!(matches!(
            parse_stream_request(&headers, Some("scope=a%20b")),
            Err(HubError::BadScope(_))
        ));
        headers.insert("last-event-id", HeaderValue::from_static("5-6"));
        assert_eq!(
            cursor(&headers, Some("cursor=1-2")).unwrap(),
            Some(Cursor { epoch: 5, seq: 6 })
        );
        headers.insert("last-event-id", HeaderValue::from_static("nope"));
        assert!(matches!(
            cursor(&headers, None),
            Err(HubError::BadLastEventId(_))
        ));
    }
}
