//! `invalidate_tags` for server functions, and the middleware that publishes their
//! invalidations only after they returned `Ok`.

use super::error::InvalidateError;
use super::hub::Hub;
use crate::protocol::Scope;
use crate::tags::TagPattern;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use std::sync::{Arc, Mutex};

/// Invalidations a request made, each with its scope, in call order.
type Batches = Vec<(Scope, Vec<TagPattern>)>;

/// Placed in every request's extensions by [`Hub::mount`]; leptos_axum hands the request parts to
/// server functions and to SSR as Leptos context, which is how `invalidate_tags` finds it.
#[derive(Clone, Debug)]
struct RequestInvalidations {
    hub: Hub,
    /// `None` once the response has left: later calls (from a streaming SSR render) publish at
    /// once.
    pending: Arc<Mutex<Option<Batches>>>,
}

impl RequestInvalidations {
    fn take(&self) -> Option<Batches> {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// One event per scope, in the order the scopes were first used, patterns in call order.
fn group_by_scope(batches: Batches) -> Batches {
    let mut grouped: Batches = Vec::new();
    for (scope, tags) in batches {
        match grouped.iter_mut().find(|(s, _)| *s == scope) {
            Some((_, all)) => all.extend(tags),
            None => grouped.push((scope, tags)),
        }
    }
    grouped
}

/// Server functions report an `Err` with this header, whatever the status (a plain form post
/// turns every answer into a redirect).
const SERVER_FN_ERROR_HEADER: &str = "serverfnerror";

/// Page loads (`GET` asking for HTML) get a [`RenderStart`](crate::protocol::RenderStart); other
/// requests need none.
fn is_page_request(request: &Request) -> bool {
    request.method() == http::Method::GET
        && request
            .headers()
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

async fn publish_after_ok(State(hub): State<Hub>, mut request: Request, next: Next) -> Response {
    if is_page_request(&request) {
        let (parts, body) = request.into_parts();
        let identity = crate::protocol::identity(&hub.allowed_scopes(&parts).await);
        request = Request::from_parts(parts, body);
        // What the page embeds for its browser runtime: the hub's position now (before the
        // render reads anything, so the browser replays whatever is published meanwhile) and
        // the user's identity.
        request
            .extensions_mut()
            .insert(crate::protocol::RenderStart {
                cursor: Some(hub.cursor()),
                identity: Some(identity),
            });
    }
    let scope = RequestInvalidations {
        hub: hub.clone(),
        pending: Arc::new(Mutex::new(Some(Vec::new()))),
    };
    request.extensions_mut().insert(scope.clone());
    // Plain axum handlers have no Leptos context: they find the request's batch here.
    let response = REQUEST.scope(scope.clone(), next.run(request)).await;
    let batches = scope.take().unwrap_or_default();
    if batches.is_empty() {
        return response;
    }
    let status = response.status();
    let ok = (status.is_success() || status.is_redirection())
        && !response.headers().contains_key(SERVER_FN_ERROR_HEADER);
    if !ok {
        tracing::debug!(%status, dropped = batches.len(), "request failed; its invalidations are dropped");
        return response;
    }
    let ids: Vec<_> = group_by_scope(batches)
        .into_iter()
        .map(|(scope, tags)| {
            let (reply, id) = tokio::sync::oneshot::channel();
            hub.submit(scope, tags, Some(reply));
            id
        })
        .collect();
    // The caller learns which events its write became, so its own refetch can stand for them
    // (no second refetch when the same events arrive on its stream). In memory the ids are
    // there at once; with Redis after one round trip, waited for a bounded time: without the
    // header the caller merely refetches once more.
    let ids = tokio::time::timeout(EVENT_ID_WAIT, futures::future::join_all(ids)).await;
    let mut response = response;
    if let Some(value) = ids
        .ok()
        .map(|ids| ids.into_iter().flatten().collect::<Vec<_>>())
        .filter(|ids| !ids.is_empty())
        .and_then(|ids| http::HeaderValue::from_str(&crate::protocol::event_ids_header(&ids)).ok())
    {
        response.headers_mut().append(
            http::header::HeaderName::from_static("server-timing"),
            value,
        );
    }
    response
}

/// How long a response waits for the ids of its events (Redis appends them).
const EVENT_ID_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

impl Hub {
    /// Adds the hub's endpoints to `router` and wraps **every route already in it** so that
    /// [`invalidate_tags`] called while handling a request is published once the response is
    /// known to be a success (dropped when a server function returns `Err`).
    ///
    /// Call it after adding your own routes (`leptos_routes…`, `fallback`): axum layers apply to
    /// the routes present when they are added.
    pub fn mount<S>(&self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        router
            .merge(super::sse::routes(self))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                publish_after_ok,
            ))
    }
}

/// The hub serving the current request, or the one provided as Leptos context.
pub fn current_hub() -> Option<Hub> {
    use leptos::prelude::use_context;
    use_context::<Hub>().or_else(|| request_invalidations().map(|r| r.hub))
}

tokio::task_local! {
    /// The invalidations of the request a plain axum handler is running for (set around the
    /// handler by [`Hub::mount`]'s layer).
    static REQUEST: RequestInvalidations;
}

/// The invalidations of the current request: from the Leptos context of a server function or
/// render, else from the request a plain axum handler is serving.
fn request_invalidations() -> Option<RequestInvalidations> {
    leptos::prelude::use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<RequestInvalidations>().cloned())
        .or_else(|| REQUEST.try_with(Clone::clone).ok())
}

/// Invalidates every query carrying a tag that one of `tags` matches, in every connected browser.
///
/// Inside a server function, or a plain axum handler (a REST `POST /api/todos`), of a request
/// routed through [`Hub::mount`], the invalidation is held back until the response is known to
/// be a success (a server function returned `Ok`; a handler answered 2xx or 3xx), so that
/// clients never refetch before the write is visible, and dropped otherwise (`Err`, 4xx, 5xx).
/// The request's invalidations are published together, once. Elsewhere
/// (an SSR render after its response started, a task with a [`Hub`] in its Leptos context) it is
/// published at once. Use [`Hub::invalidate_tags`] from jobs that have the hub at hand.
///
/// ```
/// use leptos::prelude::*;
/// use leptos_query_tags::prelude::*;
///
/// tag_tree! { mod app_tags { todos { list; by_id(id: i64); } } }
///
/// #[server]
/// pub async fn toggle_todo(id: i64) -> Result<(), ServerFnError> {
///     // ... write to the database, then:
///     invalidate_tags([app_tags::todos::by_id(id), app_tags::todos::list()])?;
///     Ok(())
/// }
/// ```
pub fn invalidate_tags<I>(tags: I) -> Result<(), InvalidateError>
where
    I: IntoIterator,
    I::Item: Into<TagPattern>,
{
    invalidate_tags_in(Scope::global(), tags)
}

/// [`invalidate_tags`] for the connections allowed to receive `scope` only (one user's, one
/// tenant's), with the same hold-until-`Ok` behaviour.
///
/// ```
/// use leptos::prelude::*;
/// use leptos_query_tags::prelude::*;
/// use leptos_query_tags::server::{invalidate_tags_in, Scope};
///
/// tag_tree! { mod app_tags { todos { list; } } }
///
/// #[server]
/// pub async fn clear_my_todos(user: String) -> Result<(), ServerFnError> {
///     let scope = Scope::keyed("user", &user)?;
///     // ... delete the user's todos, then tell that user's browsers only:
///     invalidate_tags_in(scope, [app_tags::todos::list()])?;
///     Ok(())
/// }
/// ```
pub fn invalidate_tags_in<I>(scope: Scope, tags: I) -> Result<(), InvalidateError>
where
    I: IntoIterator,
    I::Item: Into<TagPattern>,
{
    let tags: Vec<TagPattern> = tags.into_iter().map(Into::into).collect();
    if let Some(request) = request_invalidations() {
        TagPattern::validate_list(&tags, request.hub.limits())?;
        let mut pending = request.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pending) = pending.as_mut() {
            pending.push((scope, tags));
            return Ok(());
        }
        drop(pending);
        request.hub.submit(scope, tags, None);
        return Ok(());
    }
    let hub = leptos::prelude::use_context::<Hub>().ok_or(InvalidateError::NoHub)?;
    hub.invalidate_tags_in(scope, tags).map(|_| ())
}
