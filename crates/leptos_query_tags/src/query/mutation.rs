//! [`use_mutation`]: a server function that changes data, with optimistic updates that roll
//! back on error and a pending state on the queries it affects.

use super::query_client::{downcast, use_query_client, Query, QueryClient};
use crate::cache::{QueryKey, Value};
use crate::tags::TagPattern;
use futures::future::BoxFuture;
use leptos::prelude::*;
use serde::Serialize;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

type Run<I, O, E> = Arc<dyn Fn(I) -> BoxFuture<'static, Result<O, E>> + Send + Sync>;
type Affects<I> = Arc<dyn Fn(&I) -> Vec<TagPattern> + Send + Sync>;
type Invalidates<I, O> = Arc<dyn Fn(&I, &O) -> Vec<TagPattern> + Send + Sync>;
type OptimisticFn<I> = Arc<dyn Fn(&Optimistic, &I) + Send + Sync>;
type OnSuccess<I, O> = Arc<dyn Fn(&I, &O) + Send + Sync>;
type OnError<I, E> = Arc<dyn Fn(&I, &E) + Send + Sync>;
type OnSettled<I, O, E> = Arc<dyn Fn(&I, Result<&O, &E>) + Send + Sync>;

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
///             .affects(|_| vec![app_tags::todos::list()])
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
    on_success: Option<OnSuccess<I, O>>,
    on_error: Option<OnError<I, E>>,
    on_settled: Option<OnSettled<I, O, E>>,
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
        Fut: Future<Output = Result<O, E>> + super::MaybeSend + 'static,
    {
        MutationOptions {
            run: Arc::new(move |input| super::maybe_send::boxed(run(input))),
            affects: None,
            invalidates: None,
            optimistic: None,
            on_success: None,
            on_error: None,
            on_settled: None,
        }
    }

    /// The queries this mutation affects: while it runs, queries with a tag these patterns
    /// match report [`is_mutating`](super::QueryResult::is_mutating).
    ///
    /// Takes tags or patterns alike: `.affects(|_| vec![app_tags::todos::list()])`.
    pub fn affects<P: Into<TagPattern>>(
        mut self,
        patterns: impl Fn(&I) -> Vec<P> + Send + Sync + 'static,
    ) -> Self {
        self.affects = Some(Arc::new(move |input| {
            patterns(input).into_iter().map(Into::into).collect()
        }));
        self
    }

    /// Tags to invalidate in this browser when the mutation succeeds. With a hub the server's
    /// `invalidate_tags` already reaches every browser, this one included; this is for apps
    /// without one, or for queries only this client has.
    pub fn invalidates<P: Into<TagPattern>>(
        mut self,
        patterns: impl Fn(&I, &O) -> Vec<P> + Send + Sync + 'static,
    ) -> Self {
        self.invalidates = Some(Arc::new(move |input, output| {
            patterns(input, output)
                .into_iter()
                .map(Into::into)
                .collect()
        }));
        self
    }

    /// Runs after a successful run, once the cache has settled (optimistic writes kept, the
    /// written queries refetching), before [`on_settled`](Self::on_settled).
    pub fn on_success(mut self, callback: impl Fn(&I, &O) + Send + Sync + 'static) -> Self {
        self.on_success = Some(Arc::new(callback));
        self
    }

    /// Runs after a failed run, once optimistic writes are rolled back, before
    /// [`on_settled`](Self::on_settled).
    pub fn on_error(mut self, callback: impl Fn(&I, &E) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(callback));
        self
    }

    /// Runs after every run, last, with its result.
    pub fn on_settled(
        mut self,
        callback: impl Fn(&I, Result<&O, &E>) + Send + Sync + 'static,
    ) -> Self {
        self.on_settled = Some(Arc::new(callback));
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
        self.client.cache().set_data(
            &cache_key,
            written.clone(),
            &self.client.spec_of(query, key),
        );
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
        // Each written query once, in the order of the writes.
        let mut keys: Vec<QueryKey> = Vec::new();
        for (key, _, _) in journal {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
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

/// Where [`Mutation::mutate_async`] waits for its run's result.
type Reply<O, E> = Arc<Mutex<Option<futures::channel::oneshot::Sender<Result<O, E>>>>>;

/// One run: its input, and who waits for its result.
struct Call<I, O, E> {
    input: I,
    reply: Option<Reply<O, E>>,
}

impl<I: Clone, O, E> Clone for Call<I, O, E> {
    fn clone(&self) -> Self {
        Call {
            input: self.input.clone(),
            reply: self.reply.clone(),
        }
    }
}

/// The state of a mutation, as TanStack Query v5 names it (next to the booleans).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MutationStatus {
    /// Not run yet.
    Idle,
    /// A run is in progress.
    Pending,
    /// The latest run failed.
    Error,
    /// The latest run succeeded.
    Success,
}

/// A mutation in a component, returned by [`use_mutation`]: dispatch it, read its state.
/// `Copy`.
///
/// ```
/// use leptos::prelude::*;
/// use leptos_query_tags::prelude::*;
///
/// #[server]
/// pub async fn rename(name: String) -> Result<String, ServerFnError> {
///     Ok(name)
/// }
///
/// #[component]
/// fn Rename() -> impl IntoView {
///     let save = use_mutation(MutationOptions::new(|name: String| rename(name)));
///     view! {
///         <button on:click=move |_| save.dispatch("Ada".into()) disabled=move || save.pending()>
///             "Save"
///         </button>
///         {move || match save.status() {
///             MutationStatus::Idle => "",
///             MutationStatus::Pending => "Saving…",
///             MutationStatus::Success => "Saved",
///             MutationStatus::Error => "Not saved",
///         }}
///         {move || save.error().map(|e| e.to_string())}
///     }
/// }
/// ```
pub struct Mutation<I: 'static, O: 'static, E: 'static> {
    action: Action<Call<I, O, E>, Result<O, E>>,
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
        self.action.dispatch(Call { input, reply: None });
    }

    /// Runs the mutation with `input` and resolves with its result (after the callbacks ran),
    /// like TanStack's `mutateAsync`. The mutation's reactive state follows this run as it
    /// follows [`dispatch`](Self::dispatch)ed ones.
    ///
    /// ```
    /// use leptos::prelude::*;
    /// use leptos_query_tags::prelude::*;
    ///
    /// # async fn save(title: String) -> Result<u32, ServerFnError> { Ok(7) }
    /// #[component]
    /// fn Save() -> impl IntoView {
    ///     let save = use_mutation(MutationOptions::new(|title: String| save(title)));
    ///     let on_click = move |_| {
    ///         leptos::task::spawn_local(async move {
    ///             match save.mutate_async("Buy milk".into()).await {
    ///                 Ok(id) => leptos::logging::log!("saved as {id}"),
    ///                 Err(e) => leptos::logging::log!("not saved: {e}"),
    ///             }
    ///         });
    ///     };
    ///     view! { <button on:click=on_click>"Save"</button> }
    /// }
    /// ```
    pub fn mutate_async(&self, input: I) -> impl Future<Output = Result<O, E>> + Send + 'static
    where
        E: From<MutationCancelled>,
    {
        let (reply, answer) = futures::channel::oneshot::channel();
        self.action.dispatch(Call {
            input,
            reply: Some(Arc::new(Mutex::new(Some(reply)))),
        });
        async move {
            answer
                .await
                .unwrap_or_else(|_| Err(MutationCancelled.into()))
        }
    }

    /// TanStack's status: idle, pending, error or success (reactive).
    pub fn status(&self) -> MutationStatus {
        if self.action.pending().get() {
            return MutationStatus::Pending;
        }
        match self.action.value().with(|v| v.as_ref().map(Result::is_ok)) {
            None => MutationStatus::Idle,
            Some(true) => MutationStatus::Success,
            Some(false) => MutationStatus::Error,
        }
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
}

/// A run started by [`Mutation::mutate_async`] was dropped before it finished (its component
/// was unmounted). Error types of mutations used with `mutate_async` convert from it;
/// `ServerFnError` does (as from any error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the mutation was cancelled before it finished")]
pub struct MutationCancelled;

/// Turns [`MutationOptions`] into a [`Mutation`] bound to the [`QueryClient`] in context.
///
/// ```
/// use leptos::prelude::*;
/// use leptos_query_tags::prelude::*;
///
/// tag_tree! { pub mod app_tags { todos { list; } } }
///
/// #[server]
/// pub async fn clear_done() -> Result<usize, ServerFnError> {
///     // ... delete the done todos, then tell every browser:
///     invalidate_tags([app_tags::todos::list()])?;
///     Ok(0)
/// }
///
/// #[component]
/// fn ClearDone() -> impl IntoView {
///     let clear = use_mutation(
///         MutationOptions::new(|()| clear_done())
///             // Queries tagged `todos.list` report `is_mutating()` while it runs.
///             .affects(|_| vec![app_tags::todos::list()])
///             .on_success(|_, removed| leptos::logging::log!("{removed} removed")),
///     );
///     view! { <button on:click=move |_| clear.dispatch(())>"Clear done"</button> }
/// }
/// ```
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
    let action = Action::new(move |call: &Call<I, O, E>| {
        let (client, options, call) = (client.clone(), options.clone(), call.clone());
        async move {
            let Call { input, reply } = call;
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
            match (&result, &options.on_success, &options.on_error) {
                (Ok(output), Some(on_success), _) => on_success(&input, output),
                (Err(error), _, Some(on_error)) => on_error(&input, error),
                _ => {}
            }
            if let Some(on_settled) = &options.on_settled {
                on_settled(&input, result.as_ref());
            }
            if let Some(sender) =
                reply.and_then(|r| r.lock().unwrap_or_else(|p| p.into_inner()).take())
            {
                let _ = sender.send(result.clone());
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
