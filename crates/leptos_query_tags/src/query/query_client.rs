//! [`QueryClient`], the typed face of the cache, and [`Query`], the description of one kind of
//! query (its name, fetcher, tags and settings).

use super::QueryOptions;
use crate::cache::{
    CacheOptions, Clock, EntryInspection, FetchSpec, ManualClock, Outcome, QueryCache, QueryKey,
    QueryStatus, SystemClock, Value,
};
use crate::protocol::Cursor;
use crate::tags::{Tag, TagPattern};
use futures::future::BoxFuture;
use futures::FutureExt;
use leptos::prelude::*;
use leptos::reactive::computed::ScopedFuture;
use serde::Serialize;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

type Fetcher<K, T, E> = Arc<dyn Fn(K) -> BoxFuture<'static, Result<T, E>> + Send + Sync>;
type KeyTags<K> = Arc<dyn Fn(&K) -> Vec<Tag> + Send + Sync>;
type ResultTags<K, T> = Arc<dyn Fn(&K, &T) -> Vec<Tag> + Send + Sync>;

/// One kind of query: a name, an async fetcher from a key to a `Result`, its tags and its
/// cache settings. Build it once (a function or a `static LazyLock`) and use it everywhere:
/// [`use_query`](super::use_query) in components, [`QueryClient`] methods elsewhere.
///
/// Equal keys of one query share one cache entry, so N components reading it make one request.
///
/// ```
/// use leptos::prelude::*;
/// use leptos_query_tags::prelude::*;
/// use std::time::Duration;
///
/// tag_tree! { pub mod app_tags { todos { list; by_id(id: i64); } } }
///
/// # #[derive(Clone, serde::Serialize, serde::Deserialize)] pub struct Todo { id: i64 }
/// # async fn get_todo(id: i64) -> Result<Todo, ServerFnError> { Ok(Todo { id }) }
/// fn todo_query() -> Query<i64, Todo> {
///     Query::new("todo", get_todo)
///         .tags(|id| vec![app_tags::todos::by_id(*id)])
///         .stale_time(Duration::from_secs(10))
/// }
/// ```
pub struct Query<K, T, E = ServerFnError> {
    name: Arc<str>,
    fetcher: Fetcher<K, T, E>,
    tags: Option<KeyTags<K>>,
    result_tags: Option<ResultTags<K, T>>,
    pub(crate) options: QueryOptions,
    pub(crate) placeholder: Option<PlaceholderData<K, T>>,
}

/// What a query shows while its key's data loads, as TanStack v5's `placeholderData`: never
/// cached, never sent to the server, replaced as soon as the real data arrives
/// ([`QueryResult::is_placeholder_data`](super::QueryResult::is_placeholder_data) tells which
/// is shown).
pub enum PlaceholderData<K, T> {
    /// The previous key's data (TanStack's `keepPreviousData`): a paginated list keeps showing
    /// page 1 while page 2 loads.
    KeepPrevious,
    /// A value made from the new key (a skeleton, a summary known from a list).
    FromKey(MakePlaceholder<K, T>),
}

/// Makes placeholder data from a key.
pub type MakePlaceholder<K, T> = Arc<dyn Fn(&K) -> Option<T> + Send + Sync>;

impl<K, T> PlaceholderData<K, T> {
    /// Placeholder data made from the key.
    pub fn from_fn(make: impl Fn(&K) -> Option<T> + Send + Sync + 'static) -> Self {
        PlaceholderData::FromKey(Arc::new(make))
    }
}

impl<K, T> Clone for PlaceholderData<K, T> {
    fn clone(&self) -> Self {
        match self {
            PlaceholderData::KeepPrevious => PlaceholderData::KeepPrevious,
            PlaceholderData::FromKey(make) => PlaceholderData::FromKey(make.clone()),
        }
    }
}

impl<K, T, E> Clone for Query<K, T, E> {
    fn clone(&self) -> Self {
        Query {
            name: self.name.clone(),
            fetcher: self.fetcher.clone(),
            tags: self.tags.clone(),
            result_tags: self.result_tags.clone(),
            options: self.options,
            placeholder: self.placeholder.clone(),
        }
    }
}

impl<K, T, E> fmt::Debug for Query<K, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Query")
            .field("name", &self.name)
            .field("options", &self.options)
            .field("placeholder", &self.placeholder.is_some())
            .finish_non_exhaustive()
    }
}

impl<K, T, E> Query<K, T, E>
where
    K: Serialize + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// A query named `name` that loads with `fetcher`, typically a `#[server]` function.
    ///
    /// The name is the first part of every cache key of this query; the key value follows it as
    /// JSON (`todos()`-style keys show as `todosnull`, `todo` at 7 as `todo7`). Two `Query`
    /// values with the same name and the same key, data and error types share cache entries
    /// (one fetch, one cached value), so use one name per kind of data, the same wherever the
    /// same data is meant (a `fn todos_query() -> Query<..>` used everywhere is the easy way).
    /// Different types never share an entry, even under one name. The name is also what
    /// devtools and the event log show. Tags, not names, decide what an invalidation reaches.
    pub fn new<Fut>(name: &str, fetcher: impl Fn(K) -> Fut + Send + Sync + 'static) -> Self
    where
        Fut: Future<Output = Result<T, E>> + super::MaybeSend + 'static,
    {
        Query {
            name: name.into(),
            fetcher: Arc::new(move |key| super::maybe_send::boxed(fetcher(key))),
            tags: None,
            result_tags: None,
            options: QueryOptions::new(),
            placeholder: None,
        }
    }

    /// Tags computed from the key: an invalidation matching one of them refetches the query.
    pub fn tags(mut self, tags: impl Fn(&K) -> Vec<Tag> + Send + Sync + 'static) -> Self {
        self.tags = Some(Arc::new(tags));
        self
    }

    /// Tags computed from the fetched data, added to the key's tags (a list query can carry the
    /// tag of every item it shows).
    pub fn tags_from_result(
        mut self,
        tags: impl Fn(&K, &T) -> Vec<Tag> + Send + Sync + 'static,
    ) -> Self {
        self.result_tags = Some(Arc::new(tags));
        self
    }

    /// How long fetched data is served without a refetch (default 0). Setting it also turns
    /// [`fresh_while_live`](Self::fresh_while_live) off for this query: call that after it to
    /// have both.
    pub fn stale_time(mut self, stale_time: Duration) -> Self {
        self.options = self.options.stale_time(stale_time);
        self
    }

    /// Whether this query, when it has tags, stays fresh until invalidated while the hub's event
    /// stream is open (default true). The hub tells the browser about every change to tagged
    /// data, so a mount or a window focus need not refetch it; when the stream is not open, the
    /// usual `stale_time` rules apply, and a reconnect that cannot replay what was missed
    /// (`reset`) refetches every query in use.
    pub fn fresh_while_live(mut self, fresh: bool) -> Self {
        self.options = self.options.fresh_while_live(fresh);
        self
    }

    /// How long an unused entry stays cached (default 5 minutes).
    pub fn gc_time(mut self, gc_time: Duration) -> Self {
        self.options = self.options.gc_time(gc_time);
        self
    }

    /// Retries after a failure, with exponential backoff (default 3 in the browser, 0 on the
    /// server).
    pub fn retry(mut self, retries: u32) -> Self {
        self.options = self.options.retry(retries);
        self
    }

    /// Whether a stale query in use refetches when the window regains focus (default true).
    pub fn refetch_on_window_focus(mut self, refetch: bool) -> Self {
        self.options = self.options.refetch_on_window_focus(refetch);
        self
    }

    /// Whether a stale query in use refetches when the browser comes back online (default
    /// true).
    pub fn refetch_on_reconnect(mut self, refetch: bool) -> Self {
        self.options = self.options.refetch_on_reconnect(refetch);
        self
    }

    /// Refetch this query while in use every `interval`, fresh or not, and only while the page
    /// is visible (TanStack's `refetchInterval`); `None` turns off an interval of the client's
    /// defaults. For data that changes by itself (prices, a clock); data your server functions
    /// change is refetched by its tags and needs none.
    ///
    /// ```
    /// use leptos_query_tags::prelude::*;
    /// use std::time::Duration;
    ///
    /// # use leptos::prelude::ServerFnError;
    /// # async fn rates() -> Result<Vec<f64>, ServerFnError> { Ok(vec![]) }
    /// let rates = Query::new("rates", |()| rates()).refetch_interval(Some(Duration::from_secs(30)));
    /// # let _ = rates;
    /// ```
    pub fn refetch_interval(mut self, interval: Option<Duration>) -> Self {
        self.options = self.options.refetch_interval(interval);
        self
    }

    /// The settings this query sets itself (those it leaves unset come from the client).
    pub fn options(&self) -> QueryOptions {
        self.options
    }

    /// Sets all of this query's own settings at once, replacing those set before.
    pub fn with_options(mut self, options: QueryOptions) -> Self {
        self.options = options;
        self
    }

    /// What to show while a key's data loads (default: nothing, `data()` is `None` until it
    /// arrives).
    ///
    /// ```
    /// use leptos::prelude::*;
    /// use leptos_query_tags::prelude::*;
    /// use leptos_query_tags::query::PlaceholderData;
    ///
    /// # async fn page(n: u32) -> Result<Vec<String>, ServerFnError> { Ok(vec![]) }
    /// // Page 1 stays on screen while page 2 loads.
    /// let pages = Query::new("page", |n: u32| page(n)).placeholder_data(PlaceholderData::KeepPrevious);
    /// // Or a value made from the key.
    /// let pages = Query::new("page", |n: u32| page(n))
    ///     .placeholder_data(PlaceholderData::from_fn(|n: &u32| Some(vec![format!("Loading page {n}…")])));
    /// # let _ = pages;
    /// ```
    pub fn placeholder_data(mut self, placeholder: PlaceholderData<K, T>) -> Self {
        self.placeholder = Some(placeholder);
        self
    }

    /// While a new key loads, keep showing the previous key's data.
    #[deprecated(
        note = "use `.placeholder_data(PlaceholderData::KeepPrevious)` (TanStack v5's name)"
    )]
    pub fn keep_previous_data(mut self, keep: bool) -> Self {
        self.placeholder = keep.then_some(PlaceholderData::KeepPrevious);
        self
    }

    /// The query's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cache key of this query at `key`.
    pub fn key(&self, key: &K) -> QueryKey {
        QueryKey::new::<(K, T, E)>(&self.name, key)
    }

    /// The tags of this query at `key` (without those derived from results).
    pub fn tags_for(&self, key: &K) -> Vec<Tag> {
        self.tags.as_ref().map(|tags| tags(key)).unwrap_or_default()
    }

    pub(crate) fn spec(&self, key: &K, defaults: QueryOptions) -> FetchSpec {
        let fetcher = self.fetcher.clone();
        let fetch_key = key.clone();
        FetchSpec {
            fetch: Arc::new(move || {
                let attempt = fetcher(fetch_key.clone());
                async move {
                    attempt
                        .await
                        .map(|value| Arc::new(value) as Value)
                        .map_err(|error| Arc::new(error) as Value)
                }
                .boxed()
            }),
            tags: self.tags_for(key),
            result_tags: self.result_tags.clone().map(|tags| {
                let key = key.clone();
                Arc::new(move |value: &Value| {
                    value
                        .downcast_ref::<T>()
                        .map(|value| tags(&key, value))
                        .unwrap_or_default()
                }) as crate::cache::ResultTagsFn
            }),
            options: self.options.or(defaults).resolve(),
            to_json: None,
        }
    }
}

pub(crate) fn downcast<V: Clone + 'static>(value: &Value) -> V {
    value
        .downcast_ref::<V>()
        .cloned()
        .expect("a QueryKey carries the value's type, so entries hold values of that type")
}

/// The typed result of a wait on the cache; `None` only if the fetch was cancelled and
/// nothing is cached.
pub(crate) fn typed<T: Clone + 'static, E: Clone + 'static>(
    outcome: Outcome,
) -> Option<Result<T, E>> {
    match outcome {
        Outcome::Data(value) => Some(Ok(downcast(&value))),
        Outcome::Failed(error) => Some(Err(downcast(&error))),
        Outcome::Superseded | Outcome::Cancelled => None,
    }
}

/// The query cache of one app (one page load in the browser, one request on the server), in
/// Leptos context. [`QueryTagsProvider`](crate::client::QueryTagsProvider) provides one; cloning is
/// cheap and clones share the cache.
///
/// Use it outside components: prefetch, read and write cached data, invalidate.
///
/// ```
/// use leptos::prelude::ServerFnError;
/// use leptos_query_tags::prelude::*;
///
/// # async fn demo() {
/// let count = Query::new("count", |step: u32| async move { Ok::<_, ServerFnError>(step * 10) });
/// let client = QueryClient::new();
/// # let _ = any_spawner::Executor::init_futures_executor();
/// assert_eq!(client.fetch_query(&count, 2).await, Ok(20));
/// client.set_query_data(&count, &2, 21);
/// assert_eq!(client.get_query_data(&count, &2), Some(21));
/// # }
/// # futures::executor::block_on(demo());
/// ```
#[derive(Clone, Debug)]
pub struct QueryClient {
    cache: QueryCache,
    own: Arc<Mutex<OwnEvents>>,
    defaults: QueryOptions,
    /// Fetches run under this owner (a child of the one the client was made under: the
    /// provider's): a fetch is shared by every component using its key and outlives the one
    /// that started it, so it must not read its context from that component's owner, which a
    /// re-render may dispose of before the fetch runs (a server function would then miss the
    /// request and answer "not signed in"). `None` for a client made outside a reactive owner:
    /// fetches then run under the starting component's owner.
    owner: Option<Owner>,
}

/// Finds the ids of the events that the responses received since a moment became (the browser
/// runtime installs one; see [`crate::protocol::event_ids_header`]).
pub(crate) type EventProbe = Arc<dyn Fn(f64) -> Vec<Cursor> + Send + Sync>;
/// A monotonic clock in milliseconds, paired with the probe.
pub(crate) type ProbeClock = Arc<dyn Fn() -> f64 + Send + Sync>;

/// Events this client's own writes became, so that a write's refetch stands for its event:
/// one fetch per matching query in the tab that made the change.
#[derive(Default)]
struct OwnEvents {
    probe: Option<(ProbeClock, EventProbe)>,
    /// Events this tab has applied, newest last (bounded).
    applied: Vec<Cursor>,
    /// Events whose refetch a mutation already made, with the queries it refetched (bounded).
    covered: Vec<(Cursor, Vec<QueryKey>)>,
}

impl fmt::Debug for OwnEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnEvents")
            .field("probe", &self.probe.is_some())
            .field("applied", &self.applied.len())
            .field("covered", &self.covered.len())
            .finish()
    }
}

/// Most applied ids and covered events remembered. (Plain `Vec`s, whose oldest is dropped by
/// moving the rest: a few KB at most, and no `VecDeque` code in the wasm.)
const OWN_EVENTS_KEPT: usize = 256;

impl Default for QueryClient {
    fn default() -> Self {
        Self::new()
    }
}

impl QueryClient {
    /// A client on the platform clock.
    pub fn new() -> Self {
        Self::with_clock(SystemClock)
    }

    /// A client on `clock`: a [`ManualClock`] makes stale time, gc time and retries testable.
    pub fn with_clock(clock: impl Clock) -> Self {
        QueryClient {
            cache: QueryCache::new(Arc::new(clock)),
            own: Arc::default(),
            defaults: QueryOptions::new(),
            owner: Owner::current().map(|owner| owner.child()),
        }
    }

    /// This client with `defaults` for every query it runs; each [`Query`] overrides what it
    /// sets itself (see [`QueryOptions`]). In an app: `<QueryTagsProvider defaults=..>`.
    pub fn with_defaults(mut self, defaults: QueryOptions) -> Self {
        self.defaults = defaults;
        self
    }

    /// The defaults of this client's queries.
    pub fn defaults(&self) -> QueryOptions {
        self.defaults
    }

    /// How this client fetches `query` at `key`: with its defaults, and each attempt under the
    /// client's owner (see the `owner` field), untracked.
    pub(crate) fn spec_of<K, T, E>(&self, query: &Query<K, T, E>, key: &K) -> FetchSpec
    where
        K: Serialize + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        let mut spec = query.spec(key, self.defaults);
        if let Some(owner) = self.owner.clone() {
            let fetch = spec.fetch.clone();
            spec.fetch = Arc::new(move || {
                let attempt = owner.with(|| fetch());
                ScopedFuture {
                    owner: owner.clone(),
                    observer: None,
                    fut: attempt,
                }
                .boxed()
            });
        }
        spec
    }

    /// The settings `query` runs with in this client: its own, then the client's defaults,
    /// then the built-in ones.
    pub fn options_of<K, T, E>(&self, query: &Query<K, T, E>) -> CacheOptions {
        query.options.or(self.defaults).resolve()
    }

    fn own(&self) -> std::sync::MutexGuard<'_, OwnEvents> {
        self.own.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Installs how this client learns the events its requests became (browser runtime).
    #[cfg_attr(not(any(feature = "hydrate", feature = "csr")), allow(dead_code))]
    pub(crate) fn set_event_probe(&self, clock: ProbeClock, probe: EventProbe) {
        self.own().probe = Some((clock, probe));
    }

    /// Now, on the probe's clock (`None` without a probe).
    pub(crate) fn probe_now(&self) -> Option<f64> {
        self.own().probe.as_ref().map(|(clock, _)| clock())
    }

    /// The events the responses received since `since` became.
    pub(crate) fn events_since(&self, since: f64) -> Vec<Cursor> {
        let probe = self.own().probe.as_ref().map(|(_, probe)| probe.clone());
        probe.map(|probe| probe(since)).unwrap_or_default()
    }

    /// Records that this tab applied event `id`.
    pub(crate) fn note_applied(&self, id: Cursor) {
        let mut own = self.own();
        if own.applied.len() == OWN_EVENTS_KEPT {
            own.applied.remove(0);
        }
        own.applied.push(id);
    }

    /// Whether this tab applied event `id` already.
    pub(crate) fn was_applied(&self, id: Cursor) -> bool {
        self.own().applied.contains(&id)
    }

    /// A mutation refetched `keys` after its write became event `id`: when `id` arrives, those
    /// queries need no second refetch.
    pub(crate) fn cover(&self, id: Cursor, keys: Vec<QueryKey>) {
        let mut own = self.own();
        if own.covered.len() == OWN_EVENTS_KEPT {
            own.covered.remove(0);
        }
        own.covered.push((id, keys));
    }

    /// The queries a mutation already refetched for event `id` (once).
    pub(crate) fn take_covered(&self, id: Cursor) -> Vec<QueryKey> {
        let mut own = self.own();
        let mut keys = Vec::new();
        own.covered.retain(|(covered, k)| {
            if *covered == id {
                keys.extend(k.iter().cloned());
                false
            } else {
                true
            }
        });
        keys
    }

    /// A client on a fresh [`ManualClock`], and that clock.
    pub fn with_manual_clock() -> (Self, ManualClock) {
        let clock = ManualClock::new();
        (Self::with_clock(clock.clone()), clock)
    }

    /// The untyped cache underneath.
    pub fn cache(&self) -> &QueryCache {
        &self.cache
    }

    /// Fresh data from the cache, else fetched (joining a fetch already in flight).
    pub async fn fetch_query<K, T, E>(&self, query: &Query<K, T, E>, key: K) -> Result<T, E>
    where
        K: Serialize + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        let spec = self.spec_of(query, &key);
        let key = query.key(&key);
        loop {
            if let Some(result) = typed(self.cache.read(&key, &spec).await) {
                return result;
            }
        }
    }

    /// Loads a query into the cache unless it is fresh; errors are kept in the cache.
    pub async fn prefetch_query<K, T, E>(&self, query: &Query<K, T, E>, key: K)
    where
        K: Serialize + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        let _ = self.fetch_query(query, key).await;
    }

    /// The cached data of a query, fresh or not.
    pub fn get_query_data<K, T, E>(&self, query: &Query<K, T, E>, key: &K) -> Option<T>
    where
        K: Serialize + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        self.cache
            .data(&query.key(key))
            .map(|value| downcast(&value))
    }

    /// Writes a query's data (fresh as of now); components showing it update. A fetch in
    /// flight for it is cancelled, so it cannot overwrite this write with older data.
    pub fn set_query_data<K, T, E>(&self, query: &Query<K, T, E>, key: &K, data: T)
    where
        K: Serialize + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        self.cache
            .set_data(&query.key(key), Arc::new(data), &self.spec_of(query, key));
    }

    /// Changes a query's cached data in place; returns false (and does nothing) if none is
    /// cached.
    pub fn update_query_data<K, T, E>(
        &self,
        query: &Query<K, T, E>,
        key: &K,
        update: impl FnOnce(&mut T),
    ) -> bool
    where
        K: Serialize + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        match self.get_query_data(query, key) {
            Some(mut data) => {
                update(&mut data);
                self.set_query_data(query, key, data);
                true
            }
            None => false,
        }
    }

    /// Invalidates every query carrying a tag one of `patterns` matches: queries in use refetch
    /// (once each, however many patterns match), unused ones refetch when next used. Returns
    /// how many matched.
    pub fn invalidate(&self, patterns: &[TagPattern]) -> usize {
        self.cache.invalidate(patterns)
    }

    /// Invalidates one query at one key; returns whether it was cached.
    pub fn invalidate_query<K, T, E>(&self, query: &Query<K, T, E>, key: &K) -> bool
    where
        K: Serialize + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        self.cache.invalidate_keys(&[query.key(key)]) == 1
    }

    /// Invalidates every cached query.
    pub fn invalidate_all(&self) -> usize {
        self.cache.invalidate_all()
    }

    /// Stops the fetch in flight for a query; it keeps its previous data.
    pub fn cancel_query<K, T, E>(&self, query: &Query<K, T, E>, key: &K) -> bool
    where
        K: Serialize + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        self.cache.cancel(&query.key(key))
    }

    /// The state of a cached query.
    pub fn query_status<K, T, E>(&self, query: &Query<K, T, E>, key: &K) -> Option<QueryStatus>
    where
        K: Serialize + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        self.cache.status(&query.key(key))
    }

    /// One cached query as devtools show it: its state, its tags, and how many invalidations
    /// reached it against how many fetches it made (a burst of events costs few fetches).
    ///
    /// ```
    /// use leptos_query_tags::prelude::*;
    ///
    /// let client = QueryClient::new();
    /// let query = Query::new("count", |(): ()| async { Ok::<u32, String>(1) });
    /// client.set_query_data(&query, &(), 1);
    /// let seen = client.inspect_query(&query, &()).unwrap();
    /// assert_eq!((seen.invalidations, seen.fetches), (0, 0));
    /// ```
    pub fn inspect_query<K, T, E>(&self, query: &Query<K, T, E>, key: &K) -> Option<EntryInspection>
    where
        K: Serialize + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        self.cache.inspect_key(&query.key(key))
    }

    /// Number of cached queries.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The window regained focus: stale queries in use that want it refetch. The provider
    /// calls this in the browser.
    pub fn window_focused(&self) -> usize {
        self.cache.rerun_stale(|o| o.refetch_on_window_focus)
    }

    /// The browser came back online: stale queries in use that want it refetch. The provider
    /// calls this in the browser.
    pub fn reconnected(&self) -> usize {
        self.cache.rerun_stale(|o| o.refetch_on_reconnect)
    }
}

/// The [`QueryClient`] in context; without one, a new client is provided (with a warning:
/// wrap the app in a [`QueryTagsProvider`](crate::client::QueryTagsProvider)).
pub fn use_query_client() -> QueryClient {
    use_context::<QueryClient>().unwrap_or_else(|| {
        leptos::logging::warn!(
            "leptos_query_tags: no QueryClient in context; wrap the app in <QueryTagsProvider>"
        );
        let client = QueryClient::new();
        provide_context(client.clone());
        client
    })
}
