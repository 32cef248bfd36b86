//! [`use_query`]: a cached, tagged query in a component, built on a Leptos [`Resource`].

use super::query_client::{downcast, typed, use_query_client, PlaceholderData, Query, QueryClient};
use crate::cache::{FetchSpec, Listener, Notice, QueryKey, QueryStatus, Value};
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The reactive state of a query in a component, returned by [`use_query`]. `Copy`.
///
/// Read it reactively with [`data`](Self::data), [`error`](Self::error) and the status
/// methods, or `.await` it inside `Suspend` so the server streams the data and the browser
/// hydrates it without fetching again.
///
/// ```
/// use leptos::prelude::*;
/// use leptos_query_tags::prelude::*;
///
/// #[server]
/// pub async fn unread_count() -> Result<u32, ServerFnError> {
///     Ok(3)
/// }
///
/// #[component]
/// fn Inbox() -> impl IntoView {
///     let unread = use_query(&Query::new("unread", |()| unread_count()), || ());
///     // A derived view that changes only when the answer to "any?" does.
///     let any = unread.select(|count| *count > 0);
///     view! {
///         <p class:busy=move || unread.is_fetching()>
///             {move || match (unread.data(), unread.error()) {
///                 (Some(n), _) => format!("{n} unread"),
///                 (None, Some(e)) => format!("could not load: {e}"),
///                 (None, None) => "Loading…".to_owned(),
///             }}
///         </p>
///         <button on:click=move |_| unread.refetch()>"Refresh"</button>
///         <Show when=move || any.get() == Some(true)>"You have mail"</Show>
///     }
/// }
/// ```
pub struct QueryResult<T: Send + Sync + 'static, E: Send + Sync + 'static> {
    resource: Resource<Option<Result<T, E>>>,
    status: Signal<QueryStatus>,
    current: Signal<bool>,
    /// Shown while the current key loads (`None`: nothing).
    placeholder: Signal<Option<T>>,
    keep_previous: bool,
    refetch: StoredValue<Arc<dyn Fn() + Send + Sync>>,
}

impl<T: Send + Sync + 'static, E: Send + Sync + 'static> Clone for QueryResult<T, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static, E: Send + Sync + 'static> Copy for QueryResult<T, E> {}

impl<T: Send + Sync + 'static, E: Send + Sync + 'static> fmt::Debug for QueryResult<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryResult").finish_non_exhaustive()
    }
}

impl<T, E> QueryResult<T, E>
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    E: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// The data, if loaded (reactive). While a new key loads it is `None`, unless the query
    /// keeps previous data.
    pub fn data(&self) -> Option<T> {
        if !self.current.get() {
            if self.keep_previous {
                return self.resource.get().flatten().and_then(Result::ok);
            }
            return self.placeholder.get();
        }
        self.resource.get().flatten().and_then(Result::ok)
    }

    /// Whether [`data`](Self::data) is placeholder data (or the previous key's), not this
    /// key's (reactive).
    pub fn is_placeholder_data(&self) -> bool {
        !self.current.get() && self.data().is_some()
    }

    /// A view derived from the data, without refetching (TanStack's `select`): recomputed when
    /// the data changes, and it notifies only when the derived value itself changes, so a
    /// component that shows a count does not re-render when a title changes.
    ///
    /// ```
    /// use leptos::prelude::*;
    /// use leptos_query_tags::prelude::*;
    ///
    /// # async fn list_todos() -> Result<Vec<(String, bool)>, ServerFnError> { Ok(vec![]) }
    /// #[component]
    /// fn OpenCount() -> impl IntoView {
    ///     let todos = use_query(&Query::new("todos", |()| list_todos()), || ());
    ///     let open = todos.select(|todos| todos.iter().filter(|(_, done)| !done).count());
    ///     view! { <span>{move || open.get().unwrap_or(0)} " open"</span> }
    /// }
    /// ```
    pub fn select<U>(&self, select: impl Fn(&T) -> U + Send + Sync + 'static) -> Memo<Option<U>>
    where
        U: PartialEq + Send + Sync + 'static,
    {
        let this = *self;
        Memo::new(move |_| this.data().as_ref().map(&select))
    }

    /// The error of the last fetch, if it failed after its retries (reactive).
    pub fn error(&self) -> Option<E> {
        if !self.current.get() {
            return None;
        }
        self.resource.get().flatten().and_then(Result::err)
    }

    /// The cache entry's state (reactive).
    pub fn status(&self) -> QueryStatus {
        self.status.get()
    }

    /// No data yet, and loading it.
    pub fn is_loading(&self) -> bool {
        self.data().is_none() && self.error().is_none() && self.status.get().is_fetching
    }

    /// A fetch is in flight (first load or refetch).
    pub fn is_fetching(&self) -> bool {
        self.status.get().is_fetching
    }

    /// The data is stale: invalidated or older than the stale time.
    pub fn is_stale(&self) -> bool {
        self.status.get().is_stale
    }

    /// A mutation that declared it affects this query is running.
    pub fn is_mutating(&self) -> bool {
        self.status.get().pending_mutations > 0
    }

    /// Invalidates the query at its current key, so it refetches.
    pub fn refetch(&self) {
        self.refetch.with_value(|refetch| refetch());
    }

    /// The underlying resource (`None` while the query is disabled).
    pub fn resource(&self) -> Resource<Option<Result<T, E>>> {
        self.resource
    }
}

impl<T, E> IntoFuture for QueryResult<T, E>
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    E: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type Output = Result<T, E>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

    /// Waits for the data (tracked, for `Suspend`). A disabled query never resolves: use
    /// [`data`](QueryResult::data) to render without suspending.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.resource.await {
                Some(result) => result,
                None => std::future::pending().await,
            }
        })
    }
}

/// Uses a query at a reactive key: cached, deduplicated, kept live by tags.
///
/// Components that use the same query at the same key share one entry and one request. The
/// query refetches when an invalidation matches its tags (once per tick, however many
/// arrive), when its key changes, and (if stale) on window focus and reconnect. On the server
/// its data is fetched during the render and streamed; hydration reads it without a second
/// fetch.
///
/// ```
/// use leptos::prelude::*;
/// use leptos_query_tags::prelude::*;
///
/// tag_tree! { pub mod app_tags { todos { list; } } }
///
/// # async fn list_todos() -> Result<Vec<String>, ServerFnError> { Ok(vec![]) }
/// fn todos_query() -> Query<(), Vec<String>> {
///     Query::new("todos", |()| list_todos()).tags(|_| vec![app_tags::todos::list()])
/// }
///
/// #[component]
/// fn Todos() -> impl IntoView {
///     let todos = use_query(&todos_query(), || ());
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
pub fn use_query<K, T, E>(
    query: &Query<K, T, E>,
    key: impl Fn() -> K + Send + Sync + 'static,
) -> QueryResult<T, E>
where
    K: PartialEq + Serialize + Clone + Send + Sync + 'static,
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    E: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    use_query_when(query, move || Some(key()))
}

/// [`use_query`] with a key that may be absent: while it is `None` the query is disabled
/// (nothing is fetched; [`QueryResult::data`] is `None`).
#[track_caller]
pub fn use_query_when<K, T, E>(
    query: &Query<K, T, E>,
    key: impl Fn() -> Option<K> + Send + Sync + 'static,
) -> QueryResult<T, E>
where
    K: PartialEq + Serialize + Clone + Send + Sync + 'static,
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    E: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let client = use_query_client();
    let observer = Arc::new(Observer {
        client: client.clone(),
        current: Mutex::new(None),
        status: Watched::new(QueryStatus::default()),
        revision: ArcRwSignal::new(0),
        shown: Watched::new(None),
        notified: AtomicBool::new(false),
        stale: AtomicBool::new(false),
        detached: AtomicBool::new(false),
        // A server render is one pass: it reads each query once and never reruns it.
        on_server: Owner::current_shared_context().is_some_and(|sc| !sc.is_browser()),
    });
    let on_unmount = observer.clone();
    on_cleanup(move || on_unmount.detach());
    if let (Some(every), false, Some(timer)) = (
        client.options_of(query).refetch_interval,
        observer.on_server,
        INTERVAL_TIMER.get(),
    ) {
        timer(&observer, every);
    }

    let keys = ArcMemo::new(move |_| key());
    let source = {
        let (observer, query, keys) = (observer.clone(), query.clone(), keys.clone());
        move || {
            let key = keys.get();
            observer.attach(&query, key.as_ref());
            (key, observer.revision.get())
        }
    };
    let fetcher = {
        let (observer, query) = (observer.clone(), query.clone());
        move |(key, _): (Option<K>, u64)| {
            let (observer, query) = (observer.clone(), query.clone());
            async move {
                let key = key?;
                let cache_key = query.key(&key);
                let cache = observer.client.cache();
                // A run the cache asked for (new data, or an invalidation whose refetch may
                // have landed already) shows valid cached data without fetching; only a
                // stale-by-time run (focus, reconnect), a mount or a new key may fetch.
                let stale = observer.stale.swap(false, Ordering::AcqRel);
                if observer.notified.swap(false, Ordering::AcqRel) && !stale {
                    if let Some(value) = cache.valid_data(&cache_key) {
                        observer.shown.set(Some(cache_key));
                        return Some(Ok(downcast(&value)));
                    }
                }
                let spec = spec_of(&observer.client, &query, &key);
                loop {
                    let outcome = cache.read(&cache_key, &spec).await;
                    if let Some(result) = typed::<T, E>(outcome) {
                        observer.shown.set(Some(cache_key));
                        return Some(result);
                    }
                }
            }
        }
    };
    let resource = ArcResource::new(source, fetcher);

    // Hydration reads the server's data into the resource without a fetch; the cache learns it
    // here, so later readers of the same key do not fetch either.
    let hydrating =
        Owner::current_shared_context().is_some_and(|sc| sc.is_browser() && sc.during_hydration());
    if hydrating {
        let (observer, query, keys, hydrated) = (
            observer.clone(),
            query.clone(),
            keys.clone(),
            resource.clone(),
        );
        leptos::task::spawn(async move {
            if let (Some(Ok(data)), Some(key)) = (hydrated.await, keys.get_untracked()) {
                let cache_key = query.key(&key);
                let value: Value = Arc::new(data);
                if observer.client.cache().seed(
                    &cache_key,
                    value,
                    &spec_of(&observer.client, &query, &key),
                ) {
                    observer.shown.set(Some(cache_key));
                }
            }
        });
    }
    let resource = Resource::from(resource);

    let keep_previous = matches!(query.placeholder, Some(PlaceholderData::KeepPrevious));
    let placeholder = {
        let (keys, placeholder) = (keys.clone(), query.placeholder.clone());
        Signal::derive(move || match &placeholder {
            Some(PlaceholderData::FromKey(make)) => {
                keys.with(|key| key.as_ref().and_then(|k| make(k)))
            }
            _ => None,
        })
    };
    let current = {
        let (observer, query) = (observer.clone(), query.clone());
        Signal::derive(move || {
            match (keys.get(), observer.shown.get()) {
                (Some(key), Some(shown)) => query.key(&key) == shown,
                (None, _) => false,
                // Hydrated before the seeding effect ran: the resource holds this key's data.
                (Some(_), None) => true,
            }
        })
    };
    let refetch_observer = observer.clone();
    QueryResult {
        resource,
        status: {
            let observer = observer.clone();
            Signal::derive(move || observer.status.get())
        },
        current,
        placeholder,
        keep_previous,
        refetch: StoredValue::new(Arc::new(move || refetch_observer.refetch())),
    }
}

/// One component's registration with the cache.
/// A value that several threads read and write, with a trigger for the reactive readers.
///
/// Not an `ArcRwSignal`: a signal's read only *tries* its lock, and panics ("disposed") when a
/// write holds it. On the server the cache tells an observer from whichever thread ends a fetch
/// (and the resource's fetch sets what it shows), while the render reads on another.
struct Watched<T> {
    value: Mutex<T>,
    changed: ArcTrigger,
}

impl<T: Clone + PartialEq> Watched<T> {
    fn new(value: T) -> Self {
        Watched {
            value: Mutex::new(value),
            changed: ArcTrigger::new(),
        }
    }

    /// The value (reactive).
    fn get(&self) -> T {
        self.changed.track();
        self.value.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets the value, notifying the readers if it changed.
    fn set(&self, value: T) {
        let changed = {
            let mut shown = self.value.lock().unwrap_or_else(|p| p.into_inner());
            let changed = *shown != value;
            *shown = value;
            changed
        };
        if changed {
            self.changed.notify();
        }
    }
}

struct Observer {
    client: QueryClient,
    current: Mutex<Option<(QueryKey, u64)>>,
    /// The entry's status, as shown.
    status: Watched<QueryStatus>,
    /// Bumped to make the resource run again.
    revision: ArcRwSignal<u64>,
    /// The key whose data the resource holds.
    shown: Watched<Option<QueryKey>>,
    /// The cache asked for the next run: it may show valid cached data without a fetch.
    notified: AtomicBool,
    /// The next run was asked for because the data went stale by time: it may fetch.
    stale: AtomicBool,
    on_server: bool,
    /// The component is gone: its refetch interval stops.
    detached: AtomicBool,
}

/// The refetch interval's timer ([`refetch_every`]), set by
/// [`QueryOptions::refetch_interval`](super::QueryOptions::refetch_interval), the one way to
/// give a query an interval: an app that never sets one does not link the timer's code (its
/// wasm is that much smaller).
static INTERVAL_TIMER: OnceLock<fn(&Arc<Observer>, Duration)> = OnceLock::new();

/// Links the refetch interval's timer in (see [`INTERVAL_TIMER`]).
pub(super) fn link_interval_timer() {
    let _ = INTERVAL_TIMER.set(refetch_every);
}

/// Refetches what `observer` shows every `every` while the page is visible, until it detaches
/// (TanStack's `refetchInterval` without `refetchIntervalInBackground`). Each component with
/// an interval has its own timer; refetches of one entry that overlap share one fetch.
fn refetch_every(observer: &Arc<Observer>, every: Duration) {
    let observer = Arc::downgrade(observer);
    leptos::task::spawn(async move {
        loop {
            let clock = match observer.upgrade() {
                Some(o) if !o.detached.load(Ordering::Acquire) => o.client.cache().clock().clone(),
                _ => return,
            };
            clock.sleep(every).await;
            match observer.upgrade() {
                Some(o) if !o.detached.load(Ordering::Acquire) => {
                    if o.client.cache().is_visible() {
                        o.refetch();
                    }
                }
                _ => return,
            }
        }
    });
}

impl Observer {
    fn attach<K, T, E>(self: &Arc<Self>, query: &Query<K, T, E>, key: Option<&K>)
    where
        K: Serialize + Clone + Send + Sync + 'static,
        T: Clone + Serialize + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        let wanted = key.map(|key| (query.key(key), key));
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().map(|(k, _)| k) == wanted.as_ref().map(|(k, _)| k) {
            return;
        }
        if let Some((old, id)) = current.take() {
            self.client.cache().remove_observer(&old, id);
        }
        if let Some((cache_key, key)) = wanted {
            let weak = Arc::downgrade(self);
            let listener: Listener = Arc::new(move |notice| {
                if let Some(observer) = weak.upgrade() {
                    observer.notice(notice);
                }
            });
            let id = self.client.cache().add_observer(
                &cache_key,
                &spec_of(&self.client, query, key),
                listener,
            );
            self.status
                .set(self.client.cache().status(&cache_key).unwrap_or_default());
            *current = Some((cache_key, id));
        }
    }

    /// The key the component currently observes.
    fn current_key(&self) -> Option<QueryKey> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(key, _)| key.clone())
    }

    fn notice(&self, notice: Notice) {
        let key = self.current_key();
        let Some(key) = key else { return };
        let cache = self.client.cache();
        if let Some(status) = cache.status(&key) {
            self.status.set(status);
        }
        if self.on_server {
            return;
        }
        match notice {
            Notice::Refetch | Notice::Data => {
                self.notified.store(true, Ordering::Release);
                self.revision.update(|n| *n += 1);
            }
            Notice::Stale => {
                self.stale.store(true, Ordering::Release);
                self.revision.update(|n| *n += 1);
            }
            Notice::Status => {}
        }
    }

    fn refetch(&self) {
        if let Some(key) = self.current_key() {
            self.client.cache().invalidate_keys(&[key]);
        }
    }

    fn detach(&self) {
        self.detached.store(true, Ordering::Release);
        if let Some((key, id)) = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            self.client.cache().remove_observer(&key, id);
        }
    }
}

/// The query's fetch spec; where devtools are compiled in, it also shows the data as JSON.
fn spec_of<K, T, E>(client: &QueryClient, query: &Query<K, T, E>, key: &K) -> FetchSpec
where
    K: Serialize + Clone + Send + Sync + 'static,
    T: Clone + Serialize + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    let mut spec = client.spec_of(query, key);
    spec.to_json = data_as_json::<T>();
    spec
}

/// Shows a cached `T` as JSON in the devtools panel.
#[cfg(all(
    feature = "devtools",
    any(debug_assertions, feature = "devtools-always")
))]
fn data_as_json<T: Serialize + 'static>() -> Option<crate::cache::JsonFn> {
    Some(Arc::new(|value: &Value| {
        value
            .downcast_ref::<T>()
            .and_then(|value| serde_json::to_string_pretty(value).ok())
    }))
}

/// Without the devtools panel, the data is never shown as JSON (and the code is not compiled).
#[cfg(not(all(
    feature = "devtools",
    any(debug_assertions, feature = "devtools-always")
)))]
#[allow(clippy::extra_unused_type_parameters)] // the signature of the devtools version
fn data_as_json<T>() -> Option<crate::cache::JsonFn> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A server render's fetch ends on one thread while another shows the same observer's
    /// status: each waits for the other. (An `ArcRwSignal` held the status before: its read
    /// only tries the lock, and the demo's server panicked with "disposed" when a write on
    /// another thread held it.)
    #[test]
    fn the_status_is_read_and_written_from_several_threads() {
        let client = QueryClient::new();
        let query = Query::new("notes", |_: ()| async { Ok::<_, String>(1u32) });
        client.set_query_data(&query, &(), 1);
        let key = query.key(&());
        let observer = Arc::new(Observer {
            client: client.clone(),
            current: Mutex::new(Some((key.clone(), 0))),
            status: Watched::new(QueryStatus::default()),
            revision: ArcRwSignal::new(0),
            shown: Watched::new(None),
            notified: AtomicBool::new(false),
            stale: AtomicBool::new(false),
            on_server: true,
            detached: AtomicBool::new(false),
        });
        // A write in progress on another thread, held while this one reads and is told.
        let (locked, is_locked) = mpsc::channel();
        let writer = {
            let observer = observer.clone();
            std::thread::spawn(move || {
                let guard = observer.status.value.lock().unwrap();
                locked.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(200));
                drop(guard);
            })
        };
        is_locked.recv().unwrap();
        assert_eq!(observer.status.get(), QueryStatus::default());
        observer.notice(Notice::Status);
        writer.join().unwrap();
        let status = observer.status.get();
        assert!(status.has_data, "the cache's status is shown: {status:?}");
        assert_eq!(Some(status), client.cache().status(&key));
    }
}
