//! [`use_mutation`]: a server function that changes data, with optimistic updates that roll
//! back on error and a pending state on the queries it affects.

use super::query_client::{downcast, use_query_client, Query, QueryClient};
use crate::cache::{QueryKey, Value};
use crate::tags::TagPattern;
use futures::future::BoxFuture;
use futures::FutureExt;
use leptos::prelude::*;
use serde::Serialize;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

type Run<I, O, E> = Arc<dyn Fn(I) -> BoxFuture<'static, Result<O, E>> + Send + Sync>;
type Affects<I> = Arc<dyn Fn(&I) -> Vec<TagPattern> + Send + Sync>;
type Invalidates<I, O> = Arc<dyn Fn(&I, &O) -> Vec<TagPattern> + Send + Sync>;
type OptimisticFn<I> = Arc<dyn Fn(&Optimistic, &I) + Send + Sync>;

/// What a mutation does, built before [`use_mutation`] turns it into a [`Mutation`].
///
/// ```
/// use leptos::prelude::*;
/// use leptos_query_tags::prelude::*;
///
/// tag_tree! { pub mod app_tags { todos { list; } } }
///
/// # async fn list_todos() -> Result<Vec<String>, ServerFnError> { Ok(vec![]) }
/// # async fn add_todo(title: String) -> Result<(), ServerFnError> { Ok(()) }
/// fn todos_query() -> Query<(), Vec<String>> {
///     Query::new("todos", |()| list_todos()).tags(|_| vec![app_tags::todos::list()])
/// }
///
/// #[component]
/// fn AddButton() -> impl IntoView {
///     let add = use_mutation(
///         MutationOptions::new(|title: String| add_todo(title))
///             // The list shows a pending state while this runs.
///             .affects(|_| vec![app_tags::todos::list().into()])
///             // Shown at once; rolled back if the server says no.
///             .optimistic(|cache, title| {
///                 cache.update(&todos_query(), &(), |todos| todos.push(title.clone()));
///             }),
///     );
///     view! { <button on:click=move |_| add.dispatch("Buy oat milk".into())>"Add"</button> }
/// }
/// ```
pub struct MutationOptions<I, O, E = ServerFnError> {
    run: Run<I, O, E>,
    affects: Option<Affects<I>>,
    invalidates: Option<Invalidates<I, O>>,
    optimistic: Option<OptimisticFn<I>>,
}

impl<I, O, E> fmt::Debug for MutationOptions<I, O, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutationOptions")
            .field("affects", &self.affects.is_some())
            .field("invalidates", &self.invalidates.is_some())
            .field("optimistic", &self.optimistic.is_some())
            .finish_non_exhaustive()
    }
}

impl<I, O, E> MutationOptions<I, O, E>
where
    I: Clone + Send + Sync + 'static,
    O: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// A mutation that runs `run`, typically a `#[server]` function that calls
    /// `invalidate_tags` (the hub then refetches every browser's matching queries).
    pub fn new<Fut>(run: impl Fn(I) -> Fut + Send + Sync + 'static) -> Self
    where
        Fut: Future<Output = Result<O, E>> + Send + 'static,
    {
        MutationOptions {
            run: Arc::new(move |input| run(input).boxed()),
            affects: None,
            invalidates: None,
            optimistic: None,
        }
    }

    /// The queries this mutation affects: while it runs, queries with a tag these patterns
    /// match report [`is_mutating`](super::QueryResult::is_mutating).
    pub fn affects(
        mut self,
        patterns: impl Fn(&I) -> Vec<TagPattern> + Send + Sync + 'static,
    ) -> Self {
        self.affects = Some(Arc::new(patterns));
        self
    }

    /// Tags to invalidate in this browser when the mutation succeeds. With a hub the server's
    /// `invalidate_tags` already reaches every browser, this one included; this is for apps
    /// without one, or for queries only this client has.
    pub fn invalidates(
        mut self,
        patterns: impl Fn(&I, &O) -> Vec<TagPattern> + Send + Sync + 'static,
    ) -> Self {
        self.invalidates = Some(Arc::new(patterns));
        self
    }

    /// Writes to the cache at once, before the server answers. If the mutation fails, every
    /// write is rolled back (unless newer data replaced it meanwhile); either way the written
    /// queries are invalidated afterwards, so they end on the server's truth.
    pub fn optimistic(mut self, update: impl Fn(&Optimistic, &I) + Send + Sync + 'static) -> Self {
        self.optimistic = Some(Arc::new(update));
        self
    }
}

/// The cache as an optimistic update sees it: writes are recorded so they can be rolled back.
pub struct Optimistic {
    client: QueryClient,
    journal: Mutex<Vec<(QueryKey, Option<Value>, Value)>>,
}

impl fmt::Debug for Optimistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Optimistic").finish_non_exhaustive()
    }
}

impl Optimistic {
    /// The cached data of a query.
    pub fn get<K, T, E>(&self, query: &Query<K, T, E>, key: &K) -> Option<T>
    where
        K: Serialize + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        self.client.get_query_data(query, key)
    }

    /// Writes a query's data, to be rolled back if the mutation fails.
    pub fn set<K, T, E>(&self, query: &Query<K, T, E>, key: &K, data: T)
    where
        K: Serialize + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        let cache_key = query.key(key);
        let previous = self.client.cache().data(&cache_key);
        let written: Value = Arc::new(data);
        self.client
            .cache()
            .set_data(&cache_key, written.clone(), &query.spec(key));
        self.journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((cache_key, previous, written));
    }

    /// Changes a query's cached data in place (nothing if none is cached); returns whether it
    /// did.
    pub fn update<K, T, E>(
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
        match self.client.cache().data(&query.key(key)) {
            Some(value) => {
                let mut data: T = downcast(&value);
                update(&mut data);
                self.set(query, key, data);
                true
            }
            None => false,
        }
    }

    /// Ends the optimistic writes: rolled back on failure; either way the written queries end on
    /// the server's truth. `own` are the events the write became: if this tab applied them all
    /// already, their refetch (which began after the write) is the truth and none is added;
    /// otherwise the written queries refetch now and those events, when they arrive, skip them.
    fn settle(self, failed: bool, own: &[crate::protocol::Cursor]) {
        let journal = self.journal.into_inner().unwrap_or_else(|p| p.into_inner());
        let cache = self.client.cache();
        if failed {
            for (key, previous, written) in journal.iter().rev() {
                cache.restore(key, written, previous.clone());
            }
        }
        let mut keys: Vec<QueryKey> = journal.into_iter().map(|(key, _, _)| key).collect();
        keys.sort_by_cached_key(QueryKey::to_string);
        keys.dedup();
        if !failed && !own.is_empty() {
            if own.iter().all(|id| self.client.was_applied(*id)) {
                return;
            }
            for id in own.iter().filter(|id| !self.client.was_applied(**id)) {
                self.client.cover(*id, keys.clone());
            }
        }
        cache.invalidate_keys(&keys);
    }
}

/// A mutation in a component, returned by [`use_mutation`]: dispatch it, read its state.
/// `Copy`.
pub struct Mutation<I: 'static, O: 'static, E: 'static> {
    action: Action<I, Result<O, E>>,
}

impl<I: 'static, O: 'static, E: 'static> Clone for Mutation<I, O, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I: 'static, O: 'static, E: 'static> Copy for Mutation<I, O, E> {}

impl<I: 'static, O: 'static, E: 'static> fmt::Debug for Mutation<I, O, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutation").finish_non_exhaustive()
    }
}

impl<I, O, E> Mutation<I, O, E>
where
    I: Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// Runs the mutation with `input`.
    pub fn dispatch(&self, input: I) {
        self.action.dispatch(input);
    }

    /// Whether a run is in progress (reactive).
    pub fn pending(&self) -> bool {
        self.action.pending().get()
    }

    /// The result of the latest run (reactive).
    pub fn value(&self) -> Option<Result<O, E>> {
        self.action.value().get()
    }

    /// The error of the latest run, if it failed (reactive).
    pub fn error(&self) -> Option<E> {
        self.value().and_then(Result::err)
    }

    /// How many runs completed (reactive).
    pub fn version(&self) -> usize {
        self.action.version().get()
    }

    /// The underlying Leptos action.
    pub fn action(&self) -> Action<I, Result<O, E>> {
        self.action
    }
}

/// Turns [`MutationOptions`] into a [`Mutation`] bound to the [`QueryClient`] in context.
pub fn use_mutation<I, O, E>(options: MutationOptions<I, O, E>) -> Mutation<I, O, E>
where
    I: Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    mutation_on(use_query_client(), options)
}

/// [`use_mutation`] on an explicit client.
pub fn mutation_on<I, O, E>(
    client: QueryClient,
    options: MutationOptions<I, O, E>,
) -> Mutation<I, O, E>
where
    I: Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    let options = Arc::new(options);
    let action = Action::new(move |input: &I| {
        let (client, options, input) = (client.clone(), options.clone(), input.clone());
        async move {
            // Dropped on every way out, a cancelled run included.
            let _pending = options
                .affects
                .as_ref()
                .map(|affects| PendingMark::new(client.clone(), affects(&input)));
            let optimistic = options.optimistic.as_ref().map(|update| {
                let optimistic = Optimistic {
                    client: client.clone(),
                    journal: Mutex::new(Vec::new()),
                };
                update(&optimistic, &input);
                optimistic
            });
            let started = client.probe_now();
            let result = (options.run)(input.clone()).await;
            // The events the server says this write became (browser only, and only where the
            // browser exposes the response's Server-Timing).
            let own = match (started, &result) {
                (Some(started), Ok(_)) => client.events_since(started),
                _ => Vec::new(),
            };
            if let Some(optimistic) = optimistic {
                optimistic.settle(result.is_err(), &own);
            }
            if let (Ok(output), Some(invalidates)) = (&result, &options.invalidates) {
                client.invalidate(&invalidates(&input, output));
            }
            result
        }
    });
    Mutation { action }
}

/// Marks the affected queries pending for as long as it lives.
struct PendingMark {
    client: QueryClient,
    patterns: Vec<TagPattern>,
}

impl PendingMark {
    fn new(client: QueryClient, patterns: Vec<TagPattern>) -> Self {
        client.cache().mark_mutating(&patterns, 1);
        PendingMark { client, patterns }
    }
}

impl Drop for PendingMark {
    fn drop(&mut self) {
        self.client.cache().mark_mutating(&self.patterns, -1);
    }
}
