//! The provider that keeps queries live: one event stream per page, fed into the
//! [`QueryClient`] through its tag index.

use crate::protocol::{Cursor, DEFAULT_BASE_PATH};
use crate::query::{QueryClient, QueryOptions};
use crate::tags::TagPattern;
use futures::FutureExt;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// How long an event's record waits for the refetches it started (see
/// `QueryTagsClient::record_event`).
pub(crate) const LOG_WAIT_MS: u64 = 1_000;

/// State of the browser's connection to the hub, as honest as the browser lets it be.
///
/// In a tab that follows another tab's stream (see [`QueryTagsClient::is_leader`]) this is the
/// state of the leader's stream, which this tab's events come through.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Not started: on the server, or before hydration.
    Idle,
    /// Opening the stream for the first time.
    Connecting,
    /// The hub said hello; invalidations arrive live.
    Open,
    /// The stream broke; the client waits before its next attempt. Events are not lost: the
    /// reconnection resumes from the last event id, or the hub sends `reset`.
    Reconnecting {
        /// Which attempt comes next (1 for the first retry).
        attempt: u32,
        /// When it starts: milliseconds since the UNIX epoch (`Date.now()`), for a countdown.
        next_retry: u64,
    },
    /// The browser says it is offline; the client reconnects when it is back online.
    Offline,
    /// The hub refused the stream (`401`, `403`, `429`, ...). The client tries again later,
    /// slowly (in case the session or the limits change).
    Failed {
        /// The HTTP status of the refusal.
        status: u16,
        /// The hub's machine-readable reason (`error` of its JSON body, such as
        /// `forbidden_scope`), or the status text when the body was not the hub's.
        reason: String,
    },
}

impl ConnectionState {
    /// A short lower-case name (`idle`, `connecting`, `open`, `reconnecting`, `offline`,
    /// `failed`).
    pub fn as_str(&self) -> &'static str {
        match self {
            ConnectionState::Idle => "idle",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Open => "open",
            ConnectionState::Reconnecting { .. } => "reconnecting",
            ConnectionState::Offline => "offline",
            ConnectionState::Failed { .. } => "failed",
        }
    }

    /// Whether invalidations arrive live now.
    pub fn is_open(&self) -> bool {
        matches!(self, ConnectionState::Open)
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionState::Failed { status, reason } => write!(f, "failed ({status} {reason})"),
            ConnectionState::Reconnecting { attempt, .. } => {
                write!(f, "reconnecting (attempt {attempt})")
            }
            other => f.write_str(other.as_str()),
        }
    }
}

/// How an event reached this tab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOrigin {
    /// This tab's own stream (it is the leader, or streams alone).
    Stream,
    /// Relayed by the leader tab.
    Relay,
    /// Sent by the leader to catch this tab up (it joined, or came back from the back/forward
    /// cache).
    CatchUp,
}

/// One event a tab applied, as the event log of [`QueryTagsClient::event_log`] keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The event's id (`None` if the hub sent none).
    pub id: Option<Cursor>,
    /// `invalidate` or `reset`.
    pub kind: &'static str,
    /// The patterns of an `invalidate` (empty for a `reset`, which matches everything).
    pub tags: Vec<TagPattern>,
    /// The cached queries it matched, by key, and whether each was refetched at once (in use)
    /// or will be when next used.
    pub matched: Vec<(String, bool)>,
    /// How it arrived.
    pub origin: EventOrigin,
    /// When: milliseconds since the UNIX epoch.
    pub at_ms: u64,
}

impl EventRecord {
    /// The patterns, dotted, separated by spaces (`todos.list todos.by_id.3`).
    pub fn tags_text(&self) -> String {
        self.tags
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The matched queries, comma-separated, each refetched one followed by `refetched_mark`.
    pub fn matched_text(&self, refetched_mark: &str) -> String {
        self.matched
            .iter()
            .map(|(key, refetched)| {
                if *refetched {
                    format!("{key} {refetched_mark}")
                } else {
                    key.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Counters and positions of the connection, for devtools and status displays.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    /// The hub's epoch, once known.
    pub epoch: Option<u64>,
    /// The highest event id this tab has applied.
    pub cursor: Option<Cursor>,
    /// How many times the stream was re-established after the first hello.
    pub reconnects: u32,
    /// How many `reset` events were applied.
    pub resets: u32,
    /// The identity the hub gave this user's streams (see [`crate::protocol::identity`]).
    pub identity: Option<String>,
}

/// How many events [`QueryTagsClient::event_log`] keeps.
pub const EVENT_LOG_CAPACITY: usize = 100;

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
    leader: ArcRwSignal<bool>,
    info: ArcRwSignal<ConnectionInfo>,
    last_event: ArcRwSignal<Option<Cursor>>,
    received: ArcRwSignal<u64>,
    log: ArcRwSignal<Vec<EventRecord>>,
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
                leader: ArcRwSignal::new(false),
                info: ArcRwSignal::new(ConnectionInfo::default()),
                last_event: ArcRwSignal::new(None),
                received: ArcRwSignal::new(0),
                log: ArcRwSignal::new(Vec::new()),
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

    /// Whether this tab holds the browser's event stream and relays it to the other tabs of
    /// the same user (reactive). A tab without Web Locks or `BroadcastChannel` streams alone
    /// and counts as its own leader.
    pub fn is_leader(&self) -> bool {
        self.inner.leader.get()
    }

    /// Counters and positions of the connection (reactive).
    pub fn connection_info(&self) -> ConnectionInfo {
        self.inner.info.get()
    }

    /// The id of the last event received (reactive). In the browser it (like
    /// [`events_received`](Self::events_received) and the [`event_log`](Self::event_log))
    /// moves once the refetches the event started are over (at most a second later): the
    /// data is on screen by then, and the record never delays it.
    pub fn last_event(&self) -> Option<Cursor> {
        self.inner.last_event.get()
    }

    /// How many invalidation and reset events this tab applied since the page loaded
    /// (reactive). Duplicates (the same event relayed twice) are not counted.
    pub fn events_received(&self) -> u64 {
        self.inner.received.get()
    }

    /// The last [`EVENT_LOG_CAPACITY`] events this tab applied, oldest first (reactive).
    pub fn event_log(&self) -> Vec<EventRecord> {
        self.inner.log.with(|log| log.to_vec())
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

    #[cfg_attr(not(any(feature = "hydrate", feature = "csr", test)), allow(dead_code))]
    pub(crate) fn set_state(&self, state: ConnectionState) {
        self.inner.queries.cache().set_live(state.is_open());
        if self.inner.state.with_untracked(|s| *s != state) {
            self.inner.state.set(state);
        }
    }

    #[cfg_attr(not(any(feature = "hydrate", feature = "csr", test)), allow(dead_code))]
    pub(crate) fn set_leader(&self, leader: bool) {
        if self.inner.leader.get_untracked() != leader {
            self.inner.leader.set(leader);
        }
    }

    #[cfg_attr(not(any(feature = "hydrate", feature = "csr", test)), allow(dead_code))]
    pub(crate) fn update_info(&self, update: impl FnOnce(&mut ConnectionInfo)) {
        let mut info = self.inner.info.get_untracked();
        update(&mut info);
        if self.inner.info.with_untracked(|i| *i != info) {
            self.inner.info.set(info);
        }
    }

    #[cfg_attr(not(any(feature = "hydrate", feature = "csr", test)), allow(dead_code))]
    pub(crate) fn info_untracked(&self) -> ConnectionInfo {
        self.inner.info.get_untracked()
    }

    #[cfg_attr(not(any(feature = "hydrate", feature = "csr", test)), allow(dead_code))]
    pub(crate) fn state_untracked(&self) -> ConnectionState {
        self.inner.state.get_untracked()
    }

    /// Records an applied event (its id moves [`QueryTagsClient::last_event`]) that started the
    /// refetch of `refetched`. In the browser the record lands once those refetches are over
    /// (at most [`LOG_WAIT_MS`] later), in a background task: the log and whatever shows it
    /// render after the data, never between an event's refetch and its answer.
    #[cfg_attr(not(any(feature = "hydrate", feature = "csr", test)), allow(dead_code))]
    pub(crate) fn record_event(&self, record: EventRecord, refetched: Vec<crate::cache::QueryKey>) {
        let client = self.clone();
        let cache = self.queries().cache().clone();
        // First polled after the tasks queued before it: the refetches have started by then.
        let refetches = async move {
            let fetches: Vec<_> = refetched
                .iter()
                .filter_map(|k| cache.in_flight(k))
                .collect();
            if fetches.is_empty() {
                return; // nothing to wait for: no timer either
            }
            let all = async move {
                for fetch in fetches {
                    let _ = fetch.await;
                }
            }
            .boxed();
            let cap = crate::platform::sleep(std::time::Duration::from_millis(LOG_WAIT_MS));
            futures::future::select(all, cap).await;
        };
        crate::platform::after(refetches, move || client.push_record(record));
    }

    fn push_record(&self, record: EventRecord) {
        if let Some(id) = record.id {
            self.inner.last_event.set(Some(id));
        }
        self.inner.received.update(|n| *n += 1);
        self.inner.log.update(|log| {
            if log.len() == EVENT_LOG_CAPACITY {
                log.remove(0);
            }
            log.push(record);
        });
    }
}

/// The [`QueryTagsClient`] provided by the nearest [`QueryTagsProvider`], if any.
pub fn use_query_tags() -> Option<QueryTagsClient> {
    use_context::<QueryTagsClient>()
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
    /// Settings for every query under the provider, which each `Query` overrides (TanStack's
    /// `defaultOptions.queries`): `defaults=QueryOptions::new().retry(1)`.
    #[prop(optional)]
    defaults: Option<QueryOptions>,
    children: Children,
) -> impl IntoView {
    let queries = query_client.unwrap_or_default();
    let queries = match defaults {
        Some(defaults) => queries.with_defaults(defaults),
        None => queries,
    };
    provide_context(queries.clone());
    let client = QueryTagsClient::new(
        base_path.unwrap_or_else(|| DEFAULT_BASE_PATH.to_owned()),
        queries,
    );
    provide_context(client.clone());
    // Written into the page during SSR (as text: `RenderStart`'s `Display`, less wasm than a
    // JSON decoder) and read back, not recomputed, when hydrating.
    let start = SharedValue::new_str(super::runtime::render_start).into_inner();
    // In the browser, once the page is hydrated; on the server, nothing.
    super::runtime::connect(client, start.cursor, start.identity);
    children()
}
