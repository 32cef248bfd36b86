//! [`ServerCache`]: a tagged cache for expensive loads on the server, purged by the same
//! invalidations that reach the browsers (Next.js's `revalidateTag`, pushed to every browser at
//! once as well).

use crate::tags::{Tag, TagIndex, TagPattern};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type Value = Arc<dyn Any + Send + Sync>;

/// A cache key: the caller's string and the value's type (one string may hold two types).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    key: Arc<str>,
    ty: TypeId,
}

/// One cached value. `valid` turns false when a purge reaches it, before or after it is stored,
/// so a value loaded across a purge is never served.
struct Slot {
    value: Value,
    ttl: Duration,
    /// When the entry expires (the store expires it then too, lazily).
    expires: Instant,
    weight: u32,
    valid: AtomicBool,
}

/// What a lookup found.
enum Peek<T> {
    Hit(T),
    Stale,
    Absent,
}

/// Loads in flight: their tags, and whether a purge reached them while they loaded.
struct Loading {
    tags: Vec<Tag>,
    purged: Arc<AtomicBool>,
}

/// The slot each stored key holds now, by type then by key string: a hit looks a key up by
/// `&str`, without building a [`Key`].
#[derive(Default)]
struct Slots(HashMap<TypeId, HashMap<Arc<str>, Arc<Slot>>>);

impl Slots {
    fn get(&self, key: &str, ty: TypeId) -> Option<&Arc<Slot>> {
        self.0.get(&ty)?.get(key)
    }

    fn insert(&mut self, key: &Key, slot: Arc<Slot>) {
        self.0
            .entry(key.ty)
            .or_default()
            .insert(key.key.clone(), slot);
    }

    fn remove(&mut self, key: &Key) -> Option<Arc<Slot>> {
        let by_key = self.0.get_mut(&key.ty)?;
        let slot = by_key.remove(&key.key);
        if by_key.is_empty() {
            self.0.remove(&key.ty);
        }
        slot
    }

    fn values(&self) -> impl Iterator<Item = &Arc<Slot>> {
        self.0.values().flat_map(HashMap::values)
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

#[derive(Default)]
struct Index {
    tags: TagIndex<Key>,
    /// The slot each indexed key holds now.
    slots: Slots,
    loading: HashMap<Key, Loading>,
}

struct Inner {
    store: moka::future::Cache<Key, Arc<Slot>>,
    index: Arc<Mutex<Index>>,
    /// Entries weigh their JSON size (`max_bytes`), else 1.
    by_bytes: bool,
    hits: AtomicU64,
    misses: AtomicU64,
    purged: AtomicU64,
    clears: AtomicU64,
}

/// A cache for expensive loads on the server (in server functions and SSR resources), whose
/// entries carry tags and are purged by the invalidations the hub publishes.
///
/// - **Purged when the event is published**: [`invalidate_tags`](super::invalidate_tags) in a
///   server function purges the matching entries once the function has returned `Ok`, before
///   the response is sent, so the render that follows sees fresh data (read-your-writes). With
///   the `redis` backend every instance purges when the event reaches it, and a `reset` (lost
///   history) clears the cache.
/// - **One load per key**: concurrent misses of one key wait for a single load.
/// - **Never stale across a purge**: a load that was in flight when a purge reached its tags
///   is returned to its callers but not served to later ones.
/// - **Bounded**: by entries (default 10 000) or by bytes (the JSON size of the values), with
///   a time to live per entry; stored in [`moka`](https://docs.rs/moka).
///
/// ```
/// use leptos_query_tags::prelude::*;
/// use leptos_query_tags::server::ServerCache;
/// use std::time::Duration;
///
/// tag_tree! { pub mod app_tags { users { by_id(id: i64); } } }
///
/// # async fn demo() {
/// let cache = ServerCache::builder().max_entries(1_000).build();
/// let hub = Hub::builder().server_cache(cache.clone()).build();
///
/// let load = || async { Ok::<_, String>(42_u64) }; // an expensive query
/// let stats = cache
///     .get_or_load("stats:7", [app_tags::users::by_id(7)], Duration::from_secs(300), load)
///     .await;
/// assert_eq!(stats, Ok(42));
/// assert_eq!(cache.stats().misses, 1);
///
/// // The same call again is a hit; an invalidation of user 7 purges it.
/// let _ = cache.get_or_load("stats:7", [app_tags::users::by_id(7)], Duration::from_secs(300), load).await;
/// assert_eq!(cache.stats().hits, 1);
/// hub.invalidate_tags([app_tags::users::by_id(7)]).unwrap();
/// assert_eq!(cache.stats().purged, 1);
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo());
/// ```
#[derive(Clone)]
pub struct ServerCache {
    inner: Arc<Inner>,
}

impl fmt::Debug for ServerCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCache")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Builds a [`ServerCache`].
#[derive(Clone, Debug)]
pub struct ServerCacheBuilder {
    max_entries: u64,
    max_bytes: Option<u64>,
}

impl Default for ServerCacheBuilder {
    fn default() -> Self {
        ServerCacheBuilder {
            max_entries: 10_000,
            max_bytes: None,
        }
    }
}

impl ServerCacheBuilder {
    /// Most entries kept (default 10 000); beyond, the least useful are evicted.
    pub fn max_entries(mut self, entries: u64) -> Self {
        self.max_entries = entries;
        self.max_bytes = None;
        self
    }

    /// Bounds the cache by the size of its values instead (their JSON length, measured once
    /// when stored; values must be `Serialize`, which server data is anyway).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// Creates the cache.
    pub fn build(self) -> ServerCache {
        let index: Arc<Mutex<Index>> = Arc::default();
        let forget = Arc::downgrade(&index);
        let store = moka::future::Cache::builder()
            .expire_after(PerEntryTtl)
            .weigher(|_: &Key, slot: &Arc<Slot>| slot.weight)
            .max_capacity(self.max_bytes.unwrap_or(self.max_entries))
            .eviction_listener(move |key: Arc<Key>, slot: Arc<Slot>, _cause| {
                // Expired, evicted or purged: the index forgets it, unless a newer value took
                // its place meanwhile.
                if let Some(index) = forget.upgrade() {
                    let mut index = index.lock().unwrap_or_else(|p| p.into_inner());
                    if index
                        .slots
                        .get(&key.key, key.ty)
                        .is_some_and(|s| Arc::ptr_eq(s, &slot))
                    {
                        index.slots.remove(&key);
                        index.tags.remove(&key);
                    }
                }
            })
            .build();
        ServerCache {
            inner: Arc::new(Inner {
                store,
                index,
                by_bytes: self.max_bytes.is_some(),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                purged: AtomicU64::new(0),
                clears: AtomicU64::new(0),
            }),
        }
    }
}

struct PerEntryTtl;

impl moka::Expiry<Key, Arc<Slot>> for PerEntryTtl {
    fn expire_after_create(&self, _: &Key, slot: &Arc<Slot>, _: Instant) -> Option<Duration> {
        Some(slot.ttl)
    }
}

/// What a [`ServerCache`] holds and has done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerCacheStats {
    /// Values stored now (approximate: expiry and eviction run lazily).
    pub entries: u64,
    /// Reads served from the cache.
    pub hits: u64,
    /// Reads that loaded (concurrent misses of one key count once each, and load once).
    pub misses: u64,
    /// Entries and in-flight loads purged by invalidations.
    pub purged: u64,
    /// Times the whole cache was cleared (a `reset`: lost event history).
    pub clears: u64,
}

impl ServerCache {
    /// A builder with the defaults (10 000 entries).
    pub fn builder() -> ServerCacheBuilder {
        ServerCacheBuilder::default()
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        self.inner.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value cached under `key`, else what `load` returns, stored under `key` with `tags`
    /// for `ttl` (an `Err` is returned and not stored). Concurrent calls for one key share one
    /// load. `key` names the data in full (`"stats:user:7"`); one key holds one value per type.
    pub async fn get_or_load<T, E, F, Fut, I>(
        &self,
        key: &str,
        tags: I,
        ttl: Duration,
        load: F,
    ) -> Result<T, E>
    where
        T: Clone + serde::Serialize + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        I: IntoIterator,
        I::Item: Into<Tag>,
    {
        let ty = TypeId::of::<T>();
        // A hit builds nothing: no key, no tags.
        let mut peeked = self.peek::<T>(key, ty);
        if let Peek::Hit(value) = peeked {
            return Ok(value);
        }
        let key = Key {
            key: key.into(),
            ty,
        };
        let tags: Vec<Tag> = tags.into_iter().map(Into::into).collect();
        let loader = Mutex::new(Some(load));
        loop {
            match peeked {
                Peek::Hit(value) => return Ok(value),
                // Expired or purged, maybe still in the store: dropped, so it loads anew.
                Peek::Stale => self.inner.store.invalidate(&key).await,
                Peek::Absent => {}
            }
            let ran = AtomicBool::new(false);
            let init = async {
                ran.store(true, Ordering::Release);
                let load = loader
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
                    .expect("the load runs at most once: a value is returned after it");
                self.load(key.clone(), tags.clone(), ttl, load).await
            };
            let slot = self
                .inner
                .store
                .try_get_with(key.clone(), init)
                .await
                .map_err(|error| (*error).clone())?;
            // Another caller's load that a purge overtook, stored after this call began: not
            // served; drop it and look again (this call's own load is returned even then).
            if ran.load(Ordering::Acquire) || slot.valid.load(Ordering::Acquire) {
                return Ok(slot
                    .value
                    .downcast_ref::<T>()
                    .cloned()
                    .expect("a key carries its value's type"));
            }
            self.inner.store.invalidate(&key).await;
            peeked = self.peek::<T>(&key.key, ty);
        }
    }

    /// What the index holds for `key`: a valid value (counted as a hit), a stale slot, or
    /// nothing.
    ///
    /// Served from the index, which holds every stored slot until the store evicts it: one
    /// lock and one hash lookup by `&str` (the store's own read path costs about twice as
    /// much). The store still bounds memory and expires entries; an expired or purged slot is a
    /// miss here.
    fn peek<T: Clone + 'static>(&self, key: &str, ty: TypeId) -> Peek<T> {
        let Some(slot) = self.index().slots.get(key, ty).cloned() else {
            return Peek::Absent;
        };
        if !slot.valid.load(Ordering::Acquire) || Instant::now() >= slot.expires {
            return Peek::Stale;
        }
        match slot.value.downcast_ref::<T>() {
            Some(value) => {
                self.inner.hits.fetch_add(1, Ordering::Relaxed);
                Peek::Hit(value.clone())
            }
            None => Peek::Absent,
        }
    }

    /// Loads `key` (once for all concurrent callers: moka runs this future for one of them).
    async fn load<T, E, F, Fut>(
        &self,
        key: Key,
        tags: Vec<Tag>,
        ttl: Duration,
        load: F,
    ) -> Result<Arc<Slot>, E>
    where
        T: serde::Serialize + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.inner.misses.fetch_add(1, Ordering::Relaxed);
        let purged = Arc::new(AtomicBool::new(false));
        self.index().loading.insert(
            key.clone(),
            Loading {
                tags: tags.clone(),
                purged: purged.clone(),
            },
        );
        let result = load().await;
        let mut index = self.index();
        index.loading.remove(&key);
        let value = result?;
        let weight = if self.inner.by_bytes {
            serde_json::to_vec(&value).map_or(u32::MAX, |json| {
                u32::try_from(json.len()).unwrap_or(u32::MAX)
            })
        } else {
            1
        };
        let slot = Arc::new(Slot {
            value: Arc::new(value),
            ttl,
            expires: Instant::now() + ttl,
            weight,
            // A purge that reached this load while it ran: its callers get the value, later
            // readers a miss.
            valid: AtomicBool::new(!purged.load(Ordering::Acquire)),
        });
        index.tags.insert(key.clone(), tags);
        index.slots.insert(&key, slot.clone());
        Ok(slot)
    }

    /// Purges every entry, and every load in flight, with a tag one of `patterns` matches.
    /// The hub calls it for each invalidation it publishes or receives; returns how many
    /// entries it purged.
    pub fn purge(&self, patterns: &[TagPattern]) -> usize {
        let keys = {
            let mut index = self.index();
            let mut purged = 0;
            for loading in index.loading.values() {
                if loading
                    .tags
                    .iter()
                    .any(|tag| patterns.iter().any(|p| p.matches(tag)))
                {
                    loading.purged.store(true, Ordering::Release);
                    purged += 1;
                }
            }
            let keys = index.tags.matches_any(patterns);
            for key in &keys {
                index.tags.remove(key);
                if let Some(slot) = index.slots.remove(key) {
                    slot.valid.store(false, Ordering::Release);
                }
            }
            self.inner
                .purged
                .fetch_add((purged + keys.len()) as u64, Ordering::Relaxed);
            keys
        };
        // The slots are invalid already (never served again); removing them from the store
        // frees their memory now rather than at expiry.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let store = self.inner.store.clone();
            let stale = keys.clone();
            runtime.spawn(async move {
                for key in stale {
                    store.invalidate(&key).await;
                }
            });
        }
        keys.len()
    }

    /// Forgets everything (the hub calls it on a `reset`: events were lost, so any entry may be
    /// stale).
    pub fn clear(&self) {
        {
            let mut index = self.index();
            for loading in index.loading.values() {
                loading.purged.store(true, Ordering::Release);
            }
            for slot in index.slots.values() {
                slot.valid.store(false, Ordering::Release);
            }
            index.slots.clear();
            index.tags = TagIndex::new();
        }
        self.inner.store.invalidate_all();
        self.inner.clears.fetch_add(1, Ordering::Relaxed);
    }

    /// What the cache holds and has done.
    pub fn stats(&self) -> ServerCacheStats {
        ServerCacheStats {
            entries: self.inner.store.entry_count(),
            hits: self.inner.hits.load(Ordering::Relaxed),
            misses: self.inner.misses.load(Ordering::Relaxed),
            purged: self.inner.purged.load(Ordering::Relaxed),
            clears: self.inner.clears.load(Ordering::Relaxed),
        }
    }

    /// Runs moka's pending maintenance (expiry, eviction, the index's cleanup) now; tests and
    /// benchmarks call it to see exact counts.
    pub async fn run_pending_tasks(&self) {
        self.inner.store.run_pending_tasks().await;
    }
}

/// [`ServerCache::get_or_load`] on the cache of the hub serving this request (set with
/// [`HubBuilder::server_cache`](super::HubBuilder::server_cache)), for server functions and
/// SSR resources. Without a hub or a cache in reach it loads every time (and says so once in
/// the log), so code using it still runs in tests and tools.
///
/// ```
/// use leptos::prelude::*;
/// use leptos_query_tags::prelude::*;
/// use leptos_query_tags::server::cached;
/// use serde::{Deserialize, Serialize};
/// use std::time::Duration;
///
/// tag_tree! { pub mod app_tags { users { by_id(id: i64); } } }
///
/// #[derive(Clone, Serialize, Deserialize)]
/// pub struct Stats { notes: u64, words: u64 }
///
/// #[server]
/// pub async fn user_stats(user: i64) -> Result<Stats, ServerFnError> {
///     // Expensive: counted once per 10 minutes, or until user's data changes.
///     cached(&format!("stats:{user}"), [app_tags::users::by_id(user)], Duration::from_secs(600), || async {
///         Ok(Stats { notes: 3, words: 120 }) // SELECT count(*) ...
///     })
///     .await
/// }
///
/// #[server]
/// pub async fn add_note(user: i64, text: String) -> Result<(), ServerFnError> {
///     // ... insert, then: purges the stats on Ok, and refetches them in every browser.
///     invalidate_tags([app_tags::users::by_id(user)])?;
///     Ok(())
/// }
/// ```
pub async fn cached<T, E, F, Fut, I>(key: &str, tags: I, ttl: Duration, load: F) -> Result<T, E>
where
    T: Clone + serde::Serialize + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    I: IntoIterator,
    I::Item: Into<Tag>,
{
    let cache = super::current_hub().and_then(|hub| hub.server_cache().cloned());
    match cache {
        Some(cache) => cache.get_or_load(key, tags, ttl, load).await,
        None => {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "leptos_query_tags: `cached` found no hub with a ServerCache (HubBuilder::server_cache): loading without caching"
                );
            });
            load().await
        }
    }
}
