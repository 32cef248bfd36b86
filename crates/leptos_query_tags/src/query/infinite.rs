//! Infinite (paginated) queries: pages fetched one after another, kept in order, refetched in
//! order when an invalidation reaches any of them (TanStack Query v5's `useInfiniteQuery`).

use super::query_client::{downcast, Query, QueryClient};
use super::use_query::{use_query_when, QueryResult};
use super::QueryOptions;
use crate::cache::{QueryKey, Value};
use crate::tags::Tag;
use futures::future::BoxFuture;
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// The data of an infinite query: its pages in order, and the parameter each was fetched with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pages<T, P> {
    /// The pages, first to last.
    pub pages: Vec<T>,
    /// `params[i]` fetched `pages[i]`.
    pub params: Vec<P>,
}

type PageFetcher<K, P, T, E> = Arc<dyn Fn(K, P) -> BoxFuture<'static, Result<T, E>> + Send + Sync>;
type NextParam<T, P> = Arc<dyn Fn(&T, &[T]) -> Option<P> + Send + Sync>;
type KeyTags<K> = Arc<dyn Fn(&K) -> Vec<Tag> + Send + Sync>;
type PageTags<K, T> = Arc<dyn Fn(&K, &T) -> Vec<Tag> + Send + Sync>;

/// A paginated query: a fetcher from a key and a page parameter to one page, the first page's
/// parameter, and how to get the next parameter from the pages so far (`None`: no more pages).
/// Use it with [`use_infinite_query`].
///
/// An invalidation that matches the key's tags or any loaded page's tags refetches **every
/// loaded page, in order**, each with the parameter the refetched page before it gives (so an
/// item inserted on page 1 moves the rest along instead of leaving a gap or a duplicate).
///
/// ```
/// use leptos::prelude::*;
/// use leptos_query_tags::prelude::*;
/// use leptos_query_tags::query::{use_infinite_query, InfiniteQuery};
/// use serde::{Deserialize, Serialize};
///
/// tag_tree! { pub mod app_tags { posts { list; by_id(id: i64); } } }
///
/// #[derive(Clone, Serialize, Deserialize)]
/// pub struct Post { id: i64, title: String }
///
/// #[derive(Clone, Serialize, Deserialize)]
/// pub struct Page { posts: Vec<Post>, next: Option<i64> }
///
/// #[server]
/// pub async fn posts_after(cursor: i64) -> Result<Page, ServerFnError> {
///     Ok(Page { posts: vec![], next: None })
/// }
///
/// fn posts_query() -> InfiniteQuery<(), i64, Page> {
///     InfiniteQuery::new("posts", 0, |(), cursor| posts_after(cursor), |last: &Page, _| last.next)
///         .tags(|_| vec![app_tags::posts::list()])
///         .page_tags(|_, page| page.posts.iter().map(|p| app_tags::posts::by_id(p.id)).collect())
/// }
///
/// #[component]
/// fn Posts() -> impl IntoView {
///     let posts = use_infinite_query(&posts_query(), || ());
///     view! {
///         <ul>
///             {move || posts.data().map(|pages| {
///                 pages.pages.into_iter().flat_map(|page| page.posts)
///                     .map(|post| view! { <li>{post.title}</li> }).collect_view()
///             })}
///         </ul>
///         <Show when=move || posts.has_next_page()>
///             <button on:click=move |_| posts.fetch_next_page() disabled=move || posts.is_fetching_next_page()>
///                 "More"
///             </button>
///         </Show>
///     }
/// }
/// ```
pub struct InfiniteQuery<K, P, T, E = ServerFnError> {
    name: Arc<str>,
    initial: P,
    fetch: PageFetcher<K, P, T, E>,
    next: NextParam<T, P>,
    tags: Option<KeyTags<K>>,
    page_tags: Option<PageTags<K, T>>,
    options: QueryOptions,
    /// Next pages asked for, by cache entry: the invalidation count the request itself makes.
    requests: Arc<Mutex<HashMap<QueryKey, u64>>>,
}

impl<K, P: Clone, T, E> Clone for InfiniteQuery<K, P, T, E> {
    fn clone(&self) -> Self {
        InfiniteQuery {
            name: self.name.clone(),
            initial: self.initial.clone(),
            fetch: self.fetch.clone(),
            next: self.next.clone(),
            tags: self.tags.clone(),
            page_tags: self.page_tags.clone(),
            options: self.options,
            requests: self.requests.clone(),
        }
    }
}

impl<K, P, T, E> fmt::Debug for InfiniteQuery<K, P, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfiniteQuery")
            .field("name", &self.name)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<K, P, T, E> InfiniteQuery<K, P, T, E>
where
    K: Serialize + Clone + Send + Sync + 'static,
    P: Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// An infinite query named `name` (as [`Query::new`]'s name): `fetch(key, param)` loads one
    /// page; the first page's parameter is `initial_page_param`; `next_page_param(last_page,
    /// all_pages)` gives the next one, or `None` when there are no more pages.
    pub fn new<Fut>(
        name: &str,
        initial_page_param: P,
        fetch: impl Fn(K, P) -> Fut + Send + Sync + 'static,
        next_page_param: impl Fn(&T, &[T]) -> Option<P> + Send + Sync + 'static,
    ) -> Self
    where
        Fut: Future<Output = Result<T, E>> + super::MaybeSend + 'static,
    {
        InfiniteQuery {
            name: name.into(),
            initial: initial_page_param,
            fetch: Arc::new(move |key, param| super::maybe_send::boxed(fetch(key, param))),
            next: Arc::new(next_page_param),
            tags: None,
            page_tags: None,
            options: QueryOptions::new(),
            requests: Arc::default(),
        }
    }

    /// Tags from the key (the list as a whole).
    pub fn tags(mut self, tags: impl Fn(&K) -> Vec<Tag> + Send + Sync + 'static) -> Self {
        self.tags = Some(Arc::new(tags));
        self
    }

    /// Tags from each loaded page (the items it shows): an invalidation of one of them
    /// refetches the pages.
    pub fn page_tags(mut self, tags: impl Fn(&K, &T) -> Vec<Tag> + Send + Sync + 'static) -> Self {
        self.page_tags = Some(Arc::new(tags));
        self
    }

    /// Settings (stale time, gc time, retry, intervals) as for a [`Query`]; those left unset
    /// come from the client's defaults.
    pub fn options(mut self, options: QueryOptions) -> Self {
        self.options = options;
        self
    }

    /// The cache key of the pages at `key`.
    fn cache_key(&self, key: &K) -> QueryKey {
        QueryKey::new::<(K, Pages<T, P>, E)>(&self.name, key)
    }

    /// The plain query that holds the pages in `client`'s cache: its fetcher fetches the first
    /// page, the next one (when asked for), or refetches the loaded ones in order.
    fn query_in(&self, client: &QueryClient) -> Query<K, Pages<T, P>, E> {
        let this = self.clone();
        let client = client.clone();
        let mut query = Query::new(&self.name, move |key: K| {
            let (this, client) = (this.clone(), client.clone());
            async move { this.load(&client, key).await }
        });
        if let Some(tags) = self.tags.clone() {
            query = query.tags(move |key| tags(key));
        }
        if let Some(tags) = self.page_tags.clone() {
            query = query.tags_from_result(move |key, pages: &Pages<T, P>| {
                pages
                    .pages
                    .iter()
                    .flat_map(|page| tags(key, page))
                    .collect()
            });
        }
        query.with_options(self.options)
    }

    /// One fetch of the pages at `key`.
    async fn load(&self, client: &QueryClient, key: K) -> Result<Pages<T, P>, E> {
        let cache_key = self.cache_key(&key);
        let cache = client.cache();
        let loaded: Option<Pages<T, P>> = cache.data(&cache_key).map(|v: Value| downcast(&v));
        let invalidations = cache
            .inspect_key(&cache_key)
            .map_or(0, |entry| entry.invalidations);
        let asked = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&cache_key);
        let Some(loaded) = loaded.filter(|l| !l.pages.is_empty()) else {
            return self.fetch_pages(&key, 1).await;
        };
        match asked {
            // Only the request for the next page invalidated the entry: the loaded pages are
            // as fresh as they were; fetch the next one after them.
            Some(expected) if expected == invalidations => {
                let mut pages = loaded;
                let last = pages.pages.last().expect("pages are not empty");
                if let Some(param) = (self.next)(last, &pages.pages) {
                    let page = (self.fetch)(key, param.clone()).await?;
                    pages.pages.push(page);
                    pages.params.push(param);
                }
                Ok(pages)
            }
            // Something else invalidated them (too): refetch them in order, and the next page
            // if it was asked for.
            Some(_) => self.fetch_pages(&key, loaded.pages.len() + 1).await,
            None => self.fetch_pages(&key, loaded.pages.len()).await,
        }
    }

    /// Fetches up to `count` pages from the first, each with the parameter the one before
    /// gives.
    async fn fetch_pages(&self, key: &K, count: usize) -> Result<Pages<T, P>, E> {
        let mut pages = Pages {
            pages: Vec::with_capacity(count),
            params: Vec::with_capacity(count),
        };
        let mut param = Some(self.initial.clone());
        while let Some(p) = param.take() {
            let page = (self.fetch)(key.clone(), p.clone()).await?;
            pages.pages.push(page);
            pages.params.push(p);
            if pages.pages.len() >= count {
                break;
            }
            param = (self.next)(pages.pages.last().expect("just pushed"), &pages.pages);
        }
        Ok(pages)
    }
}

/// An infinite query in a component, returned by [`use_infinite_query`]. `Copy`.
pub struct InfiniteQueryResult<T, P, E>
where
    T: Send + Sync + 'static,
    P: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    pages: QueryResult<Pages<T, P>, E>,
    has_next: Signal<bool>,
    fetch_next: StoredValue<Arc<dyn Fn() + Send + Sync>>,
    fetching_next: RwSignal<bool>,
}

impl<T, P, E> Clone for InfiniteQueryResult<T, P, E>
where
    T: Send + Sync + 'static,
    P: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, P, E> Copy for InfiniteQueryResult<T, P, E>
where
    T: Send + Sync + 'static,
    P: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
}

impl<T, P, E> fmt::Debug for InfiniteQueryResult<T, P, E>
where
    T: Send + Sync + 'static,
    P: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfiniteQueryResult")
            .finish_non_exhaustive()
    }
}

impl<T, P, E> InfiniteQueryResult<T, P, E>
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    P: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    E: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// The pages loaded so far, in order (reactive).
    pub fn data(&self) -> Option<Pages<T, P>> {
        self.pages.data()
    }

    /// Whether there is a page after the last one loaded (reactive).
    pub fn has_next_page(&self) -> bool {
        self.has_next.get()
    }

    /// Loads the page after the last one (nothing if there is none, or while one loads). An
    /// invalidation that arrives meanwhile refetches the loaded pages first, then this one.
    pub fn fetch_next_page(&self) {
        self.fetch_next.with_value(|fetch| fetch());
    }

    /// A next page is being loaded (reactive).
    pub fn is_fetching_next_page(&self) -> bool {
        self.fetching_next.get() && self.pages.is_fetching()
    }

    /// The error of the last fetch, if it failed after its retries (reactive).
    pub fn error(&self) -> Option<E> {
        self.pages.error()
    }

    /// Any fetch is in flight: the first page, a refetch or a next page (reactive).
    pub fn is_fetching(&self) -> bool {
        self.pages.is_fetching()
    }

    /// No page yet, and loading the first (reactive).
    pub fn is_loading(&self) -> bool {
        self.pages.is_loading()
    }

    /// Refetches the loaded pages, in order.
    pub fn refetch(&self) {
        self.pages.refetch()
    }

    /// The underlying query result (the pages as one value): `select`, `.await` in `Suspend`,
    /// status.
    pub fn query(&self) -> QueryResult<Pages<T, P>, E> {
        self.pages
    }
}

/// Uses an infinite query at a reactive key: the first page renders on the server and hydrates
/// like [`use_query`](super::use_query); [`fetch_next_page`](InfiniteQueryResult::fetch_next_page)
/// appends the next one; invalidations refetch the loaded pages in order. Components using the
/// same query at the same key share the pages.
#[track_caller]
pub fn use_infinite_query<K, P, T, E>(
    query: &InfiniteQuery<K, P, T, E>,
    key: impl Fn() -> K + Send + Sync + 'static,
) -> InfiniteQueryResult<T, P, E>
where
    K: PartialEq + Serialize + Clone + Send + Sync + 'static,
    P: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    E: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let client = super::use_query_client();
    let inner = query.query_in(&client);
    let key = Arc::new(key);
    let pages = use_query_when(&inner, {
        let key = key.clone();
        move || Some(key())
    });
    let has_next = {
        let next = query.next.clone();
        Signal::derive(move || {
            pages.data().is_some_and(|pages| {
                pages
                    .pages
                    .last()
                    .is_some_and(|last| next(last, &pages.pages).is_some())
            })
        })
    };
    let fetching_next = RwSignal::new(false);
    // Settles `fetching_next` when the fetch that carried the request is over.
    Effect::new_isomorphic(move |_| {
        if !pages.is_fetching() && fetching_next.get_untracked() {
            fetching_next.set(false);
        }
    });
    let fetch_next: Arc<dyn Fn() + Send + Sync> = {
        let query = query.clone();
        Arc::new(move || {
            if fetching_next.get_untracked() || !has_next.get_untracked() {
                return;
            }
            let cache_key = query.cache_key(&key());
            let cache = client.cache();
            let Some(before) = cache.inspect_key(&cache_key) else {
                return;
            };
            // The invalidation below is the request: the fetcher tells it from others by count.
            query
                .requests
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(cache_key.clone(), before.invalidations + 1);
            fetching_next.set(true);
            cache.invalidate_keys(&[cache_key]);
        })
    };
    InfiniteQueryResult {
        pages,
        has_next,
        fetch_next: StoredValue::new(fetch_next),
        fetching_next,
    }
}
