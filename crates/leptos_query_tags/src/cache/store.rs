//! The cache proper: entries keyed by [`QueryKey`], their fetches, freshness and observers.
//!
//! Values are stored type-erased (`Arc<dyn Any>`); the typed face is
//! [`QueryClient`](crate::query::QueryClient). Everything here is plain Rust with no reactive
//! dependency: observers are callbacks, time comes from a [`Clock`].

use super::clock::Clock;
use crate::tags::{Tag, TagIndex, TagPattern};
use futures::channel::oneshot;
use futures::future::{AbortHandle, Abortable, BoxFuture};
use serde::Serialize;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A cached value or error, type-erased.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;
/// Runs one fetch attempt.
pub(crate) type FetchFn = Arc<dyn Fn() -> BoxFuture<'static, Result<Value, Value>> + Send + Sync>;
/// Tags derived from a fetched value.
pub(crate) type ResultTagsFn = Arc<dyn Fn(&Value) -> Vec<Tag> + Send + Sync>;
/// Told about changes to an entry it observes.
pub(crate) type Listener = Arc<dyn Fn(Notice) + Send + Sync>;

/// Identifies one cached query: the query's name and its key, serialized to JSON.
///
/// Two uses of the same query name with equal keys share one entry, one fetch and one value.
///
/// ```
/// use leptos_query_tags::cache::QueryKey;
///
/// let a = QueryKey::new::<String>("todo", &(7, "full"));
/// assert_eq!(a, QueryKey::new::<String>("todo", &(7, "full")));
/// assert_ne!(a, QueryKey::new::<String>("todo", &(8, "full")));
/// assert_ne!(a, QueryKey::new::<u32>("todo", &(7, "full")));
/// assert_eq!(a.to_string(), r#"todo[7,"full"]"#);
/// ```
/// The types of the query are part of its identity, so two queries that happen to share a name
/// but not their types never read each other's values.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct QueryKey {
    name: Arc<str>,
    key: Arc<str>,
    types: TypeId,
}

impl QueryKey {
    /// The key of `name` at `key`, for values of type `V`. A key that does not serialize (a map
    /// with non-string keys, say) is a programming error: it is reported (`tracing` on the
    /// server, the console in the browser) and all such keys of that query share one entry.
    pub fn new<V: 'static>(name: &str, key: &impl Serialize) -> Self {
        let key = serde_json::to_string(key).unwrap_or_else(|error| {
            crate::platform::warn(format_args!(
                "leptos_query_tags: a key of query `{name}` does not serialize ({error})"
            ));
            "\"<unserializable key>\"".to_owned()
        });
        QueryKey {
            name: name.into(),
            key: key.into(),
            types: TypeId::of::<V>(),
        }
    }

    /// The query's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key, as JSON.
    pub fn key_json(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for QueryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name, self.key)
    }
}

impl fmt::Debug for QueryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QueryKey({self})")
    }
}

/// Settings of a cached query. Defaults follow TanStack Query where it is right for Leptos.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheOptions {
    /// How long fetched data counts as fresh: a fresh query is served from the cache without a
    /// fetch. Default 0 (always refetch on mount; tags keep data live in between).
    pub stale_time: Duration,
    /// How long an entry no component uses stays cached. Default 5 minutes.
    pub gc_time: Duration,
    /// Retries after a failed fetch, with exponential backoff (1 s, 2 s, 4 s … at most 30 s).
    /// Default 3 in the browser, 0 on the server (a server render should fail fast).
    pub retry: u32,
    /// Refetch stale active queries when the window regains focus. Default true.
    pub refetch_on_window_focus: bool,
    /// Refetch stale active queries when the browser comes back online. Default true.
    pub refetch_on_reconnect: bool,
    /// While the hub's event stream is open ([`QueryCache::set_live`]), a query with tags stays
    /// fresh until an invalidation says otherwise: the hub tells this browser about every change,
    /// so refetching on mount or window focus would only repeat what it has. When the stream is
    /// not open, `stale_time` applies again. Default true; setting a `stale_time` on a query
    /// turns it off for that query (turn it back on after, to have both).
    pub fresh_while_live: bool,
    /// Refetch a query in use every this long, fresh or not, while the page is visible
    /// ([`QueryCache::set_visible`]). Default none.
    pub refetch_interval: Option<Duration>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            stale_time: Duration::ZERO,
            gc_time: Duration::from_secs(5 * 60),
            retry: crate::platform::DEFAULT_RETRY,
            refetch_on_window_focus: true,
            refetch_on_reconnect: true,
            fresh_while_live: true,
            refetch_interval: None,
        }
    }
}

/// The delay before retry number `attempt` (1-based): 1 s doubling, capped at 30 s.
pub fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis((1000u64 << attempt.saturating_sub(1).min(5)).min(30_000))
}

/// A snapshot of one entry's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryStatus {
    /// Data is cached (possibly stale).
    pub has_data: bool,
    /// A fetch is in flight.
    pub is_fetching: bool,
    /// The data is stale: invalidated, older than the stale time, or absent.
    pub is_stale: bool,
    /// An invalidation arrived that no completed fetch has answered yet.
    pub is_invalidated: bool,
    /// The last fetch failed (after its retries).
    pub has_error: bool,
    /// Failed fetches since the last success.
    pub failure_count: u32,
    /// Mutations running that declared they affect this query.
    pub pending_mutations: u32,
    /// Components using the query.
    pub observers: usize,
    /// When the data was last written ([`Clock::now`]).
    pub updated_at: Option<Duration>,
}

/// What an observer is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Notice {
    /// Fetch again: the entry was invalidated, or went stale and the window regained focus.
    /// Many notices in one tick coalesce into one run (the reactive layer batches them).
    Refetch,
    /// New data was written (a fetch landed, `set_query_data`, an optimistic write or its
    /// rollback): show it, without fetching.
    Data,
    /// The window regained focus or the browser came back online and the data is stale by
    /// time: fetch again if it still is when the run starts.
    Stale,
    /// Only the status changed (fetching, pending mutations).
    Status,
}

/// How a wait on a fetch ended.
#[derive(Clone)]
pub(crate) enum Outcome {
    Data(Value),
    Failed(Value),
    /// A newer fetch replaced this one (an invalidation arrived while it was in flight).
    Superseded,
    /// [`QueryCache::cancel`] or a write of the data stopped it.
    Cancelled,
}

/// How to fetch one entry, with the tags and settings that come with it.
#[derive(Clone)]
pub(crate) struct FetchSpec {
    pub(crate) fetch: FetchFn,
    pub(crate) tags: Vec<Tag>,
    pub(crate) result_tags: Option<ResultTagsFn>,
    pub(crate) options: CacheOptions,
    /// Shows the data as JSON (set only where devtools are compiled in).
    pub(crate) to_json: Option<JsonFn>,
}

/// Writes a cached value as JSON, for devtools.
pub(crate) type JsonFn = Arc<dyn Fn(&Value) -> Option<String> + Send + Sync>;

/// One cached entry as devtools show it ([`QueryCache::inspect`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EntryInspection {
    /// The entry's key.
    pub key: QueryKey,
    /// Its tags (from the key and from the data).
    pub tags: Vec<Tag>,
    /// Its state.
    pub status: QueryStatus,
    /// Its settings.
    pub options: CacheOptions,
    /// Time until the data turns stale (`None`: stale already, or no data).
    pub stale_in: Option<Duration>,
    /// Time until an unused entry is collected (`None`: in use).
    pub gc_in: Option<Duration>,
    /// The data as JSON, where the query's data type is serializable and devtools are compiled
    /// in.
    pub data_json: Option<String>,
    /// Invalidations that reached the entry since it was created (from events and mutations).
    pub invalidations: u64,
    /// Fetches the entry started since it was created (superseded ones included).
    pub fetches: u64,
}

struct InFlight {
    seq: u64,
    /// The entry's invalidation version when the fetch started.
    version: u64,
    result_tags: Option<ResultTagsFn>,
    /// Who waits for the outcome. (One channel each rather than a `Shared` future: the same
    /// answers, and less wasm.)
    waiters: Vec<oneshot::Sender<Outcome>>,
    abort: AbortHandle,
}

/// What ends when a fetch does: its [`Outcome`] (`Cancelled` if the fetch is dropped).
pub(crate) type Wait = oneshot::Receiver<Outcome>;

impl InFlight {
    /// One more waiter.
    fn wait(&mut self) -> Wait {
        let (done, wait) = oneshot::channel();
        self.waiters.push(done);
        wait
    }

    fn end(self, outcome: Outcome) {
        self.abort.abort();
        for waiter in self.waiters {
            let _ = waiter.send(outcome.clone());
        }
    }
}

struct Entry {
    id: u64,
    data: Option<Value>,
    data_at: Option<Duration>,
    error: Option<Value>,
    failure_count: u32,
    invalidated: bool,
    /// Invalidations so far: a fetch that began at an older version carries data from before
    /// the latest change.
    version: u64,
    /// Fetches started so far.
    fetches: u64,
    fetch: Option<InFlight>,
    /// By id. (A `Vec`: an entry has few observers, and a map's code costs wasm.)
    observers: Vec<(u64, Listener)>,
    unused_since: Option<Duration>,
    options: CacheOptions,
    static_tags: Vec<Tag>,
    result_tags: Vec<Tag>,
    pending_mutations: u32,
    /// In `State::to_refetch` (so it is queued once however many invalidations reach it).
    queued: bool,
    /// How its observers fetch it, for refetches the cache starts by itself.
    spec: Option<FetchSpec>,
}

impl Entry {
    fn new(id: u64, options: CacheOptions, now: Duration) -> Self {
        Entry {
            id,
            data: None,
            data_at: None,
            error: None,
            failure_count: 0,
            invalidated: false,
            version: 0,
            fetches: 0,
            fetch: None,
            observers: Vec::new(),
            unused_since: Some(now),
            options,
            static_tags: Vec::new(),
            result_tags: Vec::new(),
            pending_mutations: 0,
            queued: false,
            spec: None,
        }
    }

    fn is_stale(&self, now: Duration, live: bool) -> bool {
        self.is_stale_after(now, &self.options, live)
    }

    /// Staleness as a reader with its own options sees it; `live`: the hub's stream is open.
    fn is_stale_after(&self, now: Duration, options: &CacheOptions, live: bool) -> bool {
        match self.data_at {
            _ if self.invalidated => true,
            Some(_)
                if self.data.is_some() && live && options.fresh_while_live && self.is_tagged() =>
            {
                false
            }
            Some(at) if self.data.is_some() => now.saturating_sub(at) >= options.stale_time,
            _ => true,
        }
    }

    /// Whether an invalidation can reach the entry (it carries a tag).
    fn is_tagged(&self) -> bool {
        !self.static_tags.is_empty() || !self.result_tags.is_empty()
    }

    fn status(&self, now: Duration, live: bool) -> QueryStatus {
        QueryStatus {
            has_data: self.data.is_some(),
            is_fetching: self.fetch.is_some(),
            is_stale: self.is_stale(now, live),
            is_invalidated: self.invalidated,
            has_error: self.error.is_some(),
            failure_count: self.failure_count,
            pending_mutations: self.pending_mutations,
            observers: self.observers.len(),
            updated_at: self.data_at,
        }
    }

    /// Stores successfully loaded or written data, with the tags derived from it.
    fn store(&mut self, value: Value, now: Duration, result_tags: Option<&ResultTagsFn>) {
        self.result_tags = result_tags.map(|tags| tags(&value)).unwrap_or_default();
        self.data = Some(value);
        self.data_at = Some(now);
        self.error = None;
        self.failure_count = 0;
    }

    /// Takes a query's settings, key tags and fetcher.
    fn adopt(&mut self, spec: &FetchSpec) {
        self.options = spec.options;
        self.static_tags.clone_from(&spec.tags);
        self.spec = Some(spec.clone());
    }

    fn listeners(&self) -> Vec<Listener> {
        self.observers.iter().map(|(_, l)| l.clone()).collect()
    }

    fn all_tags(&self) -> Vec<Tag> {
        self.static_tags
            .iter()
            .chain(&self.result_tags)
            .cloned()
            .collect()
    }
}

struct State {
    entries: HashMap<QueryKey, Entry>,
    keys: HashMap<u64, QueryKey>,
    index: TagIndex<u64>,
    next_id: u64,
    /// Invalidated entries in use, refetched together on the next tick.
    to_refetch: Vec<QueryKey>,
}

impl State {
    fn entry(&mut self, key: &QueryKey, options: CacheOptions, now: Duration) -> &mut Entry {
        if !self.entries.contains_key(key) {
            self.next_id += 1;
            let id = self.next_id;
            self.keys.insert(id, key.clone());
            self.entries
                .insert(key.clone(), Entry::new(id, options, now));
        }
        self.entries.get_mut(key).expect("inserted above")
    }

    fn reindex(&mut self, key: &QueryKey) {
        if let Some(entry) = self.entries.get(key) {
            let (id, tags) = (entry.id, entry.all_tags());
            self.index.insert(id, tags);
        }
    }

    fn matching(&self, patterns: &[TagPattern]) -> Vec<QueryKey> {
        self.in_creation_order(self.index.matches_any(patterns))
    }

    /// Every key, oldest entry first.
    fn all(&self) -> Vec<QueryKey> {
        self.in_creation_order(self.keys.keys().copied().collect())
    }

    fn in_creation_order(&self, mut ids: Vec<u64>) -> Vec<QueryKey> {
        crate::sort::sort(&mut ids, |a, b| a < b);
        ids.iter()
            .filter_map(|id| self.keys.get(id).cloned())
            .collect()
    }
}

/// The type-erased query cache. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct QueryCache {
    shared: Arc<CacheShared>,
}

struct CacheShared {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    seq: AtomicU64,
    observer_ids: AtomicU64,
    /// The hub's event stream is open (see [`CacheOptions::fresh_while_live`]).
    live: AtomicBool,
    /// The page is visible (see [`CacheOptions::refetch_interval`]).
    visible: AtomicBool,
}

impl fmt::Debug for QueryCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryCache")
            .field("entries", &self.len())
            .finish()
    }
}

/// Call listeners after the lock is released: they write signals, whose effects may come back.
fn tell(listeners: Vec<Listener>, notice: Notice) {
    for listener in listeners {
        listener(notice);
    }
}

impl QueryCache {
    /// Tells the cache whether the hub's event stream is open (the browser runtime does): while
    /// it is, tagged queries stay fresh until invalidated ([`CacheOptions::fresh_while_live`]).
    /// Going live or not changes no data and starts no fetch.
    ///
    /// ```
    /// use leptos_query_tags::cache::QueryCache;
    /// use leptos_query_tags::cache::SystemClock;
    /// use std::sync::Arc;
    ///
    /// let cache = QueryCache::new(Arc::new(SystemClock));
    /// assert!(!cache.is_live());
    /// cache.set_live(true);
    /// assert!(cache.is_live());
    /// ```
    pub fn set_live(&self, live: bool) {
        self.shared.live.store(live, Ordering::Relaxed);
    }

    /// Whether the hub's event stream is open, as last told by [`QueryCache::set_live`].
    pub fn is_live(&self) -> bool {
        self.shared.live.load(Ordering::Relaxed)
    }

    /// Tells the cache whether the page is visible (the browser runtime does, from the
    /// document's `visibilitychange`): [`CacheOptions::refetch_interval`] refetches only while
    /// it is. Visible until told otherwise.
    pub fn set_visible(&self, visible: bool) {
        self.shared.visible.store(visible, Ordering::Relaxed);
    }

    /// Whether the page is visible, as last told by [`QueryCache::set_visible`].
    pub fn is_visible(&self) -> bool {
        self.shared.visible.load(Ordering::Relaxed)
    }

    /// An empty cache on `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        QueryCache {
            shared: Arc::new(CacheShared {
                state: Mutex::new(State {
                    entries: HashMap::new(),
                    keys: HashMap::new(),
                    index: TagIndex::new(),
                    next_id: 0,
                    to_refetch: Vec::new(),
                }),
                clock,
                seq: AtomicU64::new(0),
                observer_ids: AtomicU64::new(0),
                live: AtomicBool::new(false),
                visible: AtomicBool::new(true),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cache's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    fn now(&self) -> Duration {
        self.shared.clock.now()
    }

    /// Number of cached entries.
    pub fn len(&self) -> usize {
        self.state().entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every cached key, in display order.
    pub fn keys(&self) -> Vec<QueryKey> {
        let mut keys: Vec<_> = self.state().entries.keys().cloned().collect();
        crate::sort::by_string_key(&mut keys, QueryKey::to_string);
        keys
    }

    /// The state of one entry.
    pub fn status(&self, key: &QueryKey) -> Option<QueryStatus> {
        let now = self.now();
        let live = self.is_live();
        self.state().entries.get(key).map(|e| e.status(now, live))
    }

    /// The tags an entry carries (static and derived from its data).
    pub fn tags_of(&self, key: &QueryKey) -> Vec<Tag> {
        self.state()
            .entries
            .get(key)
            .map(Entry::all_tags)
            .unwrap_or_default()
    }

    /// What ends when the fetch of `key` in flight does (`None`: no fetch in flight).
    #[cfg_attr(not(any(feature = "hydrate", feature = "csr")), allow(dead_code))]
    pub(crate) fn in_flight(&self, key: &QueryKey) -> Option<Wait> {
        self.state()
            .entries
            .get_mut(key)
            .and_then(|e| e.fetch.as_mut())
            .map(InFlight::wait)
    }

    pub(crate) fn data(&self, key: &QueryKey) -> Option<Value> {
        self.state().entries.get(key).and_then(|e| e.data.clone())
    }

    /// The cached data unless an invalidation is waiting for a refetch.
    pub(crate) fn valid_data(&self, key: &QueryKey) -> Option<Value> {
        self.state()
            .entries
            .get(key)
            .filter(|e| !e.invalidated)
            .and_then(|e| e.data.clone())
    }

    /// Starts a fetch for `key` unless one that began after the last invalidation is in flight;
    /// returns what to wait on. Call with the lock held.
    fn ensure_fetch(
        &self,
        state: &mut State,
        key: &QueryKey,
        spec: &FetchSpec,
    ) -> (Wait, Vec<Listener>) {
        let now = self.now();
        let entry = state.entry(key, spec.options, now);
        let retag = entry.static_tags != spec.tags;
        entry.adopt(spec);
        if let Some(fetch) = &mut entry.fetch {
            if fetch.version == entry.version {
                let waiters = fetch.wait();
                if retag {
                    state.reindex(key);
                }
                return (waiters, Vec::new());
            }
        }
        // An invalidation arrived after the running fetch started: that fetch may carry data
        // from before the change, so it must not settle the entry (TanStack Query #8530).
        if let Some(old) = entry.fetch.take() {
            old.end(Outcome::Superseded);
        }
        let seq = self.shared.seq.fetch_add(1, Ordering::Relaxed) + 1;
        entry.fetches += 1;
        let (abort, registration) = AbortHandle::new_pair();
        let mut fetch = InFlight {
            seq,
            version: entry.version,
            result_tags: spec.result_tags.clone(),
            waiters: Vec::new(),
            abort,
        };
        let waiters = fetch.wait();
        entry.fetch = Some(fetch);
        let listeners = entry.listeners();
        state.reindex(key);

        let attempts = Abortable::new(
            retrying(
                spec.fetch.clone(),
                spec.options.retry,
                self.shared.clock.clone(),
            ),
            registration,
        );
        let cache = self.clone();
        let key = key.clone();
        leptos::task::spawn(async move {
            if let Ok(result) = attempts.await {
                cache.complete(&key, seq, result);
            }
        });
        (waiters, listeners)
    }

    fn complete(&self, key: &QueryKey, seq: u64, result: Result<Value, Value>) {
        let now = self.now();
        let (fetch, listeners, notice, outcome, unused) = {
            let mut state = self.state();
            let Some(entry) = state.entries.get_mut(key) else {
                return;
            };
            if entry.fetch.as_ref().map(|f| f.seq) != Some(seq) {
                return;
            }
            let fetch = entry.fetch.take().expect("checked above");
            // Invalidated while in flight, and still in use: one trailing fetch follows at once
            // (however many invalidations arrived meanwhile), and whoever awaits this fetch
            // awaits that one instead.
            let trailing = (fetch.version != entry.version && !entry.observers.is_empty())
                .then(|| entry.spec.clone())
                .flatten();
            let outcome = match result {
                Ok(value) => {
                    // Data from before an invalidation is better than none, but stays stale.
                    if fetch.version == entry.version {
                        entry.invalidated = false;
                    }
                    entry.store(value.clone(), now, fetch.result_tags.as_ref());
                    Outcome::Data(value)
                }
                Err(error) => {
                    entry.error = Some(error.clone());
                    entry.failure_count += 1;
                    Outcome::Failed(error)
                }
            };
            let notice = match outcome {
                Outcome::Data(_) => Notice::Data,
                _ => Notice::Status,
            };
            let mut listeners = entry.listeners();
            let unused = entry.observers.is_empty().then_some(entry.options.gc_time);
            state.reindex(key);
            let outcome = match trailing {
                Some(spec) => {
                    let (_, told) = self.ensure_fetch(&mut state, key, &spec);
                    listeners.extend(told);
                    Outcome::Superseded
                }
                None => outcome,
            };
            (fetch, listeners, notice, outcome, unused)
        };
        fetch.end(outcome);
        tell(listeners, notice);
        if let Some(gc_time) = unused {
            self.schedule_gc(gc_time);
        }
    }

    /// Fresh cached data at once, else the result of the entry's current fetch (joined, or
    /// started).
    pub(crate) async fn read(&self, key: &QueryKey, spec: &FetchSpec) -> Outcome {
        loop {
            let (wait, listeners) = {
                let now = self.now();
                let live = self.is_live();
                let mut state = self.state();
                let entry = state.entry(key, spec.options, now);
                match &entry.data {
                    Some(data) if !entry.is_stale_after(now, &spec.options, live) => {
                        return Outcome::Data(data.clone())
                    }
                    _ => self.ensure_fetch(&mut state, key, spec),
                }
            };
            tell(listeners, Notice::Status);
            match wait.await.unwrap_or(Outcome::Cancelled) {
                // A fetch that started after the invalidation is in flight (or about to be).
                Outcome::Superseded => continue,
                // Cancelled: the data written meanwhile is the answer; with none, fetch again.
                Outcome::Cancelled => match self.data(key) {
                    Some(data) => return Outcome::Data(data),
                    None => continue,
                },
                outcome => return outcome,
            }
        }
    }

    /// Marks every entry a pattern matches as invalidated. Entries in use are told to run
    /// again (once, however many patterns match them); unused ones refetch on their next use.
    /// Returns how many entries matched.
    pub fn invalidate(&self, patterns: &[TagPattern]) -> usize {
        let keys = self.state().matching(patterns);
        self.invalidate_keys(&keys)
    }

    /// Invalidates every entry.
    pub fn invalidate_all(&self) -> usize {
        let keys = self.keys();
        self.invalidate_keys(&keys)
    }

    /// Invalidates the given entries; returns how many exist. Entries in use are refetched on
    /// the next tick, all together: many invalidations in one tick make one fetch per entry,
    /// and a fetch in flight that started before the invalidation is replaced.
    pub fn invalidate_keys(&self, keys: &[QueryKey]) -> usize {
        self.invalidate_reporting(keys).len()
    }

    /// Invalidates every entry a pattern matches, and says which matched and whether each is
    /// refetched now (in use) or when next used (what devtools show for an event).
    pub fn invalidate_matching(&self, patterns: &[TagPattern]) -> Vec<(QueryKey, bool)> {
        self.invalidate_matching_except(patterns, &[])
    }

    /// [`QueryCache::invalidate_matching`], leaving out `except` (queries already refetched for
    /// this change).
    pub fn invalidate_matching_except(
        &self,
        patterns: &[TagPattern],
        except: &[QueryKey],
    ) -> Vec<(QueryKey, bool)> {
        let mut keys = self.state().matching(patterns);
        keys.retain(|key| !except.contains(key));
        self.invalidate_reporting(&keys)
    }

    /// Invalidates every entry, reporting like [`QueryCache::invalidate_matching`].
    pub fn invalidate_every(&self) -> Vec<(QueryKey, bool)> {
        let keys = self.state().all();
        self.invalidate_reporting(&keys)
    }

    fn invalidate_reporting(&self, keys: &[QueryKey]) -> Vec<(QueryKey, bool)> {
        let mut listeners = Vec::new();
        let mut matched = Vec::new();
        let schedule = {
            let mut state = self.state();
            let was_idle = state.to_refetch.is_empty();
            for key in keys {
                if let Some(entry) = state.entries.get_mut(key) {
                    entry.invalidated = true;
                    entry.version += 1;
                    listeners.extend(entry.listeners());
                    let refetch = !entry.observers.is_empty() && entry.spec.is_some();
                    // Queued once each, in the order they were invalidated.
                    let queue = refetch && !entry.queued;
                    entry.queued |= queue;
                    matched.push((key.clone(), refetch));
                    if queue {
                        state.to_refetch.push(key.clone());
                    }
                }
            }
            was_idle && !state.to_refetch.is_empty()
        };
        if schedule {
            let cache = self.clone();
            leptos::task::spawn(async move { cache.refetch_invalidated() });
        }
        tell(listeners, Notice::Refetch);
        matched
    }

    /// Starts the refetches that invalidations asked for (once per entry).
    fn refetch_invalidated(&self) {
        let mut listeners = Vec::new();
        {
            let mut state = self.state();
            for key in std::mem::take(&mut state.to_refetch) {
                let Some(entry) = state.entries.get_mut(&key) else {
                    continue;
                };
                entry.queued = false;
                // A fetch in flight, even one that began before this invalidation, is left to
                // finish: when it ends, one trailing fetch starts (see `complete`). A burst of
                // events thus costs at most one fetch in flight and one after it, instead of a
                // cancelled fetch per event.
                if entry.observers.is_empty() || !entry.invalidated || entry.fetch.is_some() {
                    continue;
                }
                if let Some(spec) = entry.spec.clone() {
                    let (_, told) = self.ensure_fetch(&mut state, &key, &spec);
                    listeners.extend(told);
                }
            }
        }
        tell(listeners, Notice::Status);
    }

    /// Writes an entry's data as fresh, creating the entry if needed; the entry takes the
    /// query's settings and tags (those derived from the value included), so written data is
    /// reachable by invalidations. A fetch in flight is cancelled: it started before this
    /// write and must not overwrite it.
    pub(crate) fn set_data(&self, key: &QueryKey, value: Value, spec: &FetchSpec) {
        let now = self.now();
        let (fetch, listeners) = {
            let mut state = self.state();
            let entry = state.entry(key, spec.options, now);
            entry.adopt(spec);
            entry.store(value, now, spec.result_tags.as_ref());
            entry.invalidated = false;
            let told = (entry.fetch.take(), entry.listeners());
            state.reindex(key);
            told
        };
        if let Some(fetch) = fetch {
            fetch.end(Outcome::Cancelled);
        }
        tell(listeners, Notice::Data);
    }

    /// Puts `previous` back if the entry still holds `written`: an optimistic write is rolled
    /// back only if nothing newer replaced it meanwhile. Returns whether it was.
    pub(crate) fn restore(&self, key: &QueryKey, written: &Value, previous: Option<Value>) -> bool {
        let listeners = {
            let mut state = self.state();
            let Some(entry) = state.entries.get_mut(key) else {
                return false;
            };
            if !entry.data.as_ref().is_some_and(|d| Arc::ptr_eq(d, written)) {
                return false;
            }
            entry.data = previous;
            entry.listeners()
        };
        tell(listeners, Notice::Data);
        true
    }

    /// Writes data that arrived with the server-rendered page, unless the entry already has
    /// some. Observers are not told: they are showing exactly this value.
    pub(crate) fn seed(&self, key: &QueryKey, value: Value, spec: &FetchSpec) -> bool {
        let now = self.now();
        let mut state = self.state();
        let entry = state.entry(key, spec.options, now);
        if entry.data.is_some() {
            return false;
        }
        entry.adopt(spec);
        entry.store(value, now, spec.result_tags.as_ref());
        state.reindex(key);
        true
    }

    /// Stops the fetch in flight for `key`; the entry keeps its previous data. Returns whether
    /// a fetch was running.
    pub fn cancel(&self, key: &QueryKey) -> bool {
        let (fetch, listeners) = {
            let mut state = self.state();
            match state.entries.get_mut(key) {
                Some(entry) => (entry.fetch.take(), entry.listeners()),
                None => return false,
            }
        };
        let cancelled = fetch.is_some();
        if let Some(fetch) = fetch {
            fetch.end(Outcome::Cancelled);
        }
        tell(listeners, Notice::Status);
        cancelled
    }

    /// Registers an observer (a component using the entry); returns its id.
    pub(crate) fn add_observer(&self, key: &QueryKey, spec: &FetchSpec, listener: Listener) -> u64 {
        let id = self.shared.observer_ids.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.now();
        let mut state = self.state();
        let entry = state.entry(key, spec.options, now);
        entry.observers.push((id, listener));
        entry.unused_since = None;
        let retag = entry.static_tags != spec.tags;
        entry.adopt(spec);
        if retag {
            state.reindex(key);
        }
        id
    }

    /// Removes an observer; once an entry has none, it is collected after its gc time.
    pub(crate) fn remove_observer(&self, key: &QueryKey, id: u64) {
        let now = self.now();
        let gc_time = {
            let mut state = self.state();
            let Some(entry) = state.entries.get_mut(key) else {
                return;
            };
            let Some(at) = entry.observers.iter().position(|(o, _)| *o == id) else {
                return;
            };
            entry.observers.swap_remove(at);
            if !entry.observers.is_empty() {
                return;
            }
            entry.unused_since = Some(now);
            entry.options.gc_time
        };
        self.schedule_gc(gc_time);
    }

    fn schedule_gc(&self, gc_time: Duration) {
        let cache = Arc::downgrade(&self.shared);
        let sleep = self.shared.clock.sleep(gc_time);
        leptos::task::spawn(async move {
            sleep.await;
            if let Some(shared) = cache.upgrade() {
                QueryCache { shared }.collect_garbage();
            }
        });
    }

    /// Removes the entries no one has used for their gc time (and that no fetch or mutation
    /// is busy with). Returns how many went.
    pub fn collect_garbage(&self) -> usize {
        let now = self.now();
        let mut state = self.state();
        let expired: Vec<QueryKey> = state
            .entries
            .iter()
            .filter(|(_, e)| {
                e.observers.is_empty()
                    && e.fetch.is_none()
                    && e.pending_mutations == 0
                    && e.unused_since
                        .is_some_and(|since| now.saturating_sub(since) >= e.options.gc_time)
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in &expired {
            if let Some(entry) = state.entries.remove(key) {
                state.keys.remove(&entry.id);
                state.index.remove(&entry.id);
            }
        }
        expired.len()
    }

    /// Every cached entry, sorted by key, as devtools show it.
    pub fn inspect(&self) -> Vec<EntryInspection> {
        let state = self.state();
        let mut entries: Vec<EntryInspection> = state
            .entries
            .iter()
            .map(|(key, e)| self.inspection(key, e))
            .collect();
        crate::sort::by_string_key(&mut entries, |e| e.key.to_string());
        entries
    }

    /// One entry as devtools show it, if cached: its state, and how many invalidations reached
    /// it against how many fetches it made.
    pub fn inspect_key(&self, key: &QueryKey) -> Option<EntryInspection> {
        let state = self.state();
        state.entries.get(key).map(|e| self.inspection(key, e))
    }

    fn inspection(&self, key: &QueryKey, e: &Entry) -> EntryInspection {
        let now = self.now();
        EntryInspection {
            key: key.clone(),
            tags: e.all_tags(),
            status: e.status(now, self.is_live()),
            options: e.options,
            stale_in: e
                .data_at
                .map(|at| (at + e.options.stale_time).saturating_sub(now))
                .filter(|left| !left.is_zero() && !e.invalidated),
            gc_in: e
                .unused_since
                .filter(|_| e.observers.is_empty())
                .map(|since| (since + e.options.gc_time).saturating_sub(now)),
            data_json: e
                .spec
                .as_ref()
                .and_then(|spec| spec.to_json.as_ref())
                .zip(e.data.as_ref())
                .and_then(|(json, data)| json(data)),
            invalidations: e.version,
            fetches: e.fetches,
        }
    }

    /// Removes an entry no component uses (nor a fetch or a mutation); returns whether it did.
    /// An entry in use stays: invalidate it instead.
    pub fn remove(&self, key: &QueryKey) -> bool {
        let mut state = self.state();
        let removable = state.entries.get(key).is_some_and(|e| {
            e.observers.is_empty() && e.fetch.is_none() && e.pending_mutations == 0
        });
        if removable {
            if let Some(entry) = state.entries.remove(key) {
                state.keys.remove(&entry.id);
                state.index.remove(&entry.id);
            }
        }
        removable
    }

    /// Tells the observers of every stale entry in use to run again, where `wants` allows it
    /// (window focus, network reconnect). Returns how many were told.
    pub(crate) fn rerun_stale(&self, wants: impl Fn(&CacheOptions) -> bool) -> usize {
        let now = self.now();
        let live = self.is_live();
        let mut listeners = Vec::new();
        let mut count = 0;
        for entry in self.state().entries.values() {
            if !entry.observers.is_empty() && wants(&entry.options) && entry.is_stale(now, live) {
                count += 1;
                listeners.extend(entry.listeners());
            }
        }
        tell(listeners, Notice::Stale);
        count
    }

    /// Adds `delta` to the pending-mutation count of every entry the patterns match.
    pub(crate) fn mark_mutating(&self, patterns: &[TagPattern], delta: i32) -> usize {
        let mut listeners = Vec::new();
        let count;
        {
            let mut state = self.state();
            let keys = state.matching(patterns);
            count = keys.len();
            for key in keys {
                if let Some(entry) = state.entries.get_mut(&key) {
                    entry.pending_mutations = entry.pending_mutations.saturating_add_signed(delta);
                    listeners.extend(entry.listeners());
                }
            }
        }
        tell(listeners, Notice::Status);
        count
    }
}

/// One fetch with its retries.
async fn retrying(fetch: FetchFn, retries: u32, clock: Arc<dyn Clock>) -> Result<Value, Value> {
    let mut attempt = 0;
    loop {
        match fetch().await {
            Ok(value) => return Ok(value),
            Err(error) if attempt >= retries => return Err(error),
            Err(_) => {
                attempt += 1;
                clock.sleep(retry_delay(attempt)).await;
            }
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
