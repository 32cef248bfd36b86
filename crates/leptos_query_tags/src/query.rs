//! Tagged queries in Leptos components, and the provider that keeps them live.
//!
//! This layer is isomorphic: it renders on the server (where queries resolve during SSR and
//! their data streams to the browser) and hydrates in the browser, where the provider opens the
//! event stream and refetches the queries each invalidation matches.

use crate::cache::{QueryId, QueryRegistry};
use crate::protocol::{Cursor, DEFAULT_BASE_PATH};
use crate::tags::{Tag, TagPattern};
use leptos::prelude::*;
use leptos::server::codee::string::JsonSerdeCodec;
use leptos::server::codee::{Decoder, Encoder};
use leptos::server::{FromEncodedStr, IntoEncodedString};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

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

type Refetch = Arc<dyn Fn() + Send + Sync>;

/// The client side of the invalidation system, provided as Leptos context by
/// [`QueryTagsProvider`]. Cloning is cheap.
#[derive(Clone)]
pub struct QueryTagsClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    base_path: String,
    registry: Mutex<QueryRegistry<Refetch>>,
    state: ArcRwSignal<ConnectionState>,
    last_event: ArcRwSignal<Option<Cursor>>,
    received: ArcRwSignal<u64>,
}

impl fmt::Debug for QueryTagsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryTagsClient")
            .field("base_path", &self.inner.base_path)
            .field("queries", &self.registry().len())
            .finish()
    }
}

impl QueryTagsClient {
    /// A client for the hub mounted at `base_path`.
    pub fn new(base_path: impl Into<String>) -> Self {
        QueryTagsClient {
            inner: Arc::new(ClientInner {
                base_path: base_path.into().trim_end_matches('/').to_owned(),
                registry: Mutex::new(QueryRegistry::new()),
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

    fn registry(&self) -> MutexGuard<'_, QueryRegistry<Refetch>> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
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

    /// Number of live tagged queries.
    pub fn query_count(&self) -> usize {
        self.registry().len()
    }

    /// Refetches every live query that carries a tag one of `patterns` matches, once each.
    /// Returns how many were refetched.
    pub fn invalidate(&self, patterns: &[TagPattern]) -> usize {
        let matching = self.registry().matching(patterns);
        // Refetching writes signals, whose effects may register queries: never under the lock.
        for (_, refetch) in &matching {
            refetch();
        }
        matching.len()
    }

    /// Refetches every live query (after a `reset`).
    pub fn invalidate_all(&self) -> usize {
        let all = self.registry().all();
        for (_, refetch) in &all {
            refetch();
        }
        all.len()
    }

    pub(crate) fn register(&self, refetch: Refetch) -> QueryId {
        self.registry().register(refetch)
    }

    pub(crate) fn set_tags(&self, id: QueryId, tags: Vec<Tag>) {
        self.registry().set_tags(id, tags);
    }

    pub(crate) fn unregister(&self, id: QueryId) {
        self.registry().unregister(id);
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

/// Provides a [`QueryTagsClient`] to its children and, in the browser only, keeps one event
/// stream to the hub open: each invalidation refetches the tagged queries it matches.
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
pub fn QueryTagsProvider(
    /// Where the hub's endpoints are mounted (default `/api/query-tags`).
    #[prop(optional, into)]
    base_path: Option<String>,
    children: Children,
) -> impl IntoView {
    let client = QueryTagsClient::new(base_path.unwrap_or_else(|| DEFAULT_BASE_PATH.to_owned()));
    provide_context(client.clone());
    // Serialized into the page during SSR and read back, not recomputed, when hydrating.
    let cursor = SharedValue::new(render_cursor).into_inner();
    #[cfg(any(feature = "hydrate", feature = "csr"))]
    Effect::new(move |_| crate::client::connect(client.clone(), cursor));
    #[cfg(not(any(feature = "hydrate", feature = "csr")))]
    let _ = (client, cursor);
    children()
}

/// A Leptos [`Resource`] whose query carries tags: it refetches whenever an invalidation
/// matching one of its tags arrives.
///
/// `source` and `fetcher` work as in [`Resource::new`] (the resource resolves during SSR, and
/// hydration does not fetch again); `tags` computes the query's tags from the source value.
///
/// ```
/// use leptos::prelude::*;
/// use leptos_query_tags::prelude::*;
///
/// tag_tree! { mod app_tags { todos { list; } } }
///
/// // Typically a `#[server]` function.
/// async fn list_todos() -> Result<Vec<String>, ServerFnError> {
///     Ok(vec!["Buy oat milk".into()])
/// }
///
/// #[component]
/// fn Todos() -> impl IntoView {
///     let todos = use_tagged_resource(|| (), |_| vec![app_tags::todos::list()], |_| list_todos());
///     view! {
///         <Transition fallback=|| "Loading…">
///             {move || Suspend::new(async move {
///                 todos.await.map(|todos| todos.into_iter().map(|t| view! { <li>{t}</li> }).collect_view())
///             })}
///         </Transition>
///     }
/// }
/// ```
#[track_caller]
pub fn use_tagged_resource<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    tags: impl Fn(&S) -> Vec<Tag> + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T>
where
    S: PartialEq + Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
    JsonSerdeCodec: Encoder<T> + Decoder<T>,
    <JsonSerdeCodec as Encoder<T>>::Error: fmt::Debug,
    <JsonSerdeCodec as Decoder<T>>::Error: fmt::Debug,
    <<JsonSerdeCodec as Decoder<T>>::Encoded as FromEncodedStr>::DecodingError: fmt::Debug,
    <JsonSerdeCodec as Encoder<T>>::Encoded: IntoEncodedString,
    <JsonSerdeCodec as Decoder<T>>::Encoded: FromEncodedStr,
{
    // Bumped by each matching invalidation; part of the resource's source, so a bump refetches,
    // while the server render and the hydration both start at 0 (no second fetch on hydrate).
    let invalidations = ArcRwSignal::new(0u64);
    let client = use_query_tags();
    let id = client.as_ref().map(|client| {
        let invalidations = invalidations.clone();
        let id = client.register(Arc::new(move || invalidations.update(|n| *n += 1)));
        let on_unmount = client.clone();
        on_cleanup(move || on_unmount.unregister(id));
        id
    });
    if client.is_none() {
        leptos::logging::warn!(
            "use_tagged_resource outside a <QueryTagsProvider>: the query works but will not refetch on invalidation"
        );
    }
    Resource::new(
        move || {
            let value = source();
            if let (Some(client), Some(id)) = (&client, id) {
                client.set_tags(id, tags(&value));
            }
            (value, invalidations.get())
        },
        move |(value, _)| fetcher(value),
    )
}
