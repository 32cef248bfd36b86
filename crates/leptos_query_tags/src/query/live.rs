//! The provider that keeps queries live: one event stream per page, fed into the
//! [`QueryClient`] through its tag index.

use super::query_client::QueryClient;
use crate::protocol::{Cursor, DEFAULT_BASE_PATH};
use crate::tags::TagPattern;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// State of the browser's connection to the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Not started: on the server, or before hydration.
    Idle,
    /// Opening the stream for the first time.
    Connecting,
    /// The hub said hello; invalidations arrive live.
    Open,
    /// The stream broke; waiting to reconnect (with backoff). Events are not lost: the
    /// reconnection resumes from the last event id, or the hub sends `reset`.
    Reconnecting,
}

impl ConnectionState {
    /// A short lower-case name (`idle`, `connecting`, `open`, `reconnecting`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Idle => "idle",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Open => "open",
            ConnectionState::Reconnecting => "reconnecting",
        }
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The client side of the invalidation system, provided as Leptos context by
/// [`QueryTagsProvider`]. Cloning is cheap.
#[derive(Clone)]
pub struct QueryTagsClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    base_path: String,
    queries: QueryClient,
    state: ArcRwSignal<ConnectionState>,
    last_event: ArcRwSignal<Option<Cursor>>,
    received: ArcRwSignal<u64>,
}

impl fmt::Debug for QueryTagsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryTagsClient")
            .field("base_path", &self.inner.base_path)
            .field("queries", &self.inner.queries.len())
            .finish()
    }
}

impl QueryTagsClient {
    /// A client for the hub mounted at `base_path`, feeding `queries`.
    pub fn new(base_path: impl Into<String>, queries: QueryClient) -> Self {
        QueryTagsClient {
            inner: Arc::new(ClientInner {
                base_path: base_path.into().trim_end_matches('/').to_owned(),
                queries,
                state: ArcRwSignal::new(ConnectionState::Idle),
                last_event: ArcRwSignal::new(None),
                received: ArcRwSignal::new(0),
            }),
        }
    }

    /// The base path of the hub's endpoints.
    pub fn base_path(&self) -> &str {
        &self.inner.base_path
    }

    /// The query cache the events invalidate.
    pub fn queries(&self) -> &QueryClient {
        &self.inner.queries
    }

    /// The connection state (reactive).
    pub fn connection_state(&self) -> ConnectionState {
        self.inner.state.get()
    }

    /// The id of the last event received (reactive).
    pub fn last_event(&self) -> Option<Cursor> {
        self.inner.last_event.get()
    }

    /// How many invalidation and reset events arrived since the page loaded (reactive).
    pub fn events_received(&self) -> u64 {
        self.inner.received.get()
    }

    /// Invalidates every cached query carrying a tag one of `patterns` matches (what an
    /// `invalidate` event does). Returns how many matched.
    pub fn invalidate(&self, patterns: &[TagPattern]) -> usize {
        self.inner.queries.invalidate(patterns)
    }

    /// Invalidates every cached query (what a `reset` event does).
    pub fn invalidate_all(&self) -> usize {
        self.inner.queries.invalidate_all()
    }

    #[cfg_attr(not(any(feature = "hydrate", feature = "csr")), allow(dead_code))]
    pub(crate) fn set_state(&self, state: ConnectionState) {
        if self.inner.state.get_untracked() != state {
            self.inner.state.set(state);
        }
    }

    #[cfg_attr(not(any(feature = "hydrate", feature = "csr")), allow(dead_code))]
    pub(crate) fn record_event(&self, id: Option<Cursor>, counts: bool) {
        if id.is_some() {
            self.inner.last_event.set(id);
        }
        if counts {
            self.inner.received.update(|n| *n += 1);
        }
    }
}

/// The [`QueryTagsClient`] provided by the nearest [`QueryTagsProvider`], if any.
pub fn use_query_tags() -> Option<QueryTagsClient> {
    use_context::<QueryTagsClient>()
}

/// The cursor a server-rendered page embeds, so that its client replays every event published
/// after the render began: nothing is missed between render and connect.
fn render_cursor() -> Option<Cursor> {
    #[cfg(feature = "ssr")]
    {
        crate::server::current_hub().map(|hub| hub.cursor())
    }
    #[cfg(not(feature = "ssr"))]
    {
        None
    }
}

/// Provides a [`QueryClient`] and a [`QueryTagsClient`] to its children and, in the browser
/// only, keeps one event stream to the hub open: each invalidation refetches the cached
/// queries whose tags it matches. It also refetches stale queries in use when the window
/// regains focus or the browser comes back online.
///
/// ```
/// use leptos::prelude::*;
/// use leptos_query_tags::prelude::*;
///
/// #[component]
/// fn App() -> impl IntoView {
///     view! {
///         <QueryTagsProvider>
///             <p>"Every tagged query in here stays live."</p>
///         </QueryTagsProvider>
///     }
/// }
/// ```
#[component]
#[allow(unreachable_pub)] // a false positive on the code #[component] generates
pub fn QueryTagsProvider(
    /// Where the hub's endpoints are mounted (default `/api/query-tags`).
    #[prop(optional, into)]
    base_path: Option<String>,
    /// The query cache to use (default: a new one, per page in the browser and per request on
    /// the server).
    #[prop(optional)]
    query_client: Option<QueryClient>,
    children: Children,
) -> impl IntoView {
    let queries = query_client.unwrap_or_default();
    provide_context(queries.clone());
    let client = QueryTagsClient::new(
        base_path.unwrap_or_else(|| DEFAULT_BASE_PATH.to_owned()),
        queries,
    );
    provide_context(client.clone());
    // Serialized into the page during SSR and read back, not recomputed, when hydrating.
    let cursor = SharedValue::new(render_cursor).into_inner();
    #[cfg(any(feature = "hydrate", feature = "csr"))]
    Effect::new(move |_| {
        crate::client::connect(client.clone(), cursor);
        crate::client::watch_window(client.queries().clone());
    });
    #[cfg(not(any(feature = "hydrate", feature = "csr")))]
    let _ = (client, cursor);
    children()
}
