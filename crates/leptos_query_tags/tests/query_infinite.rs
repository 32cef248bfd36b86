//! Infinite queries: pages in order, the next page on request, and invalidations that refetch
//! the loaded pages in order. A fake paginated server records every page fetch.

#[path = "support/settle.rs"]
mod settle;
use leptos::prelude::*;
use leptos_query_tags::prelude::*;
use leptos_query_tags::query::{use_infinite_query, InfiniteQuery, InfiniteQueryResult};
use settle::settle;
use std::sync::{Arc, Mutex};

tag_tree! {
    mod app_tags {
        items {
            list;
            by_id(id: u32);
        }
    }
}

/// One page: its items and the cursor of the next page.
type Page = (Vec<u32>, Option<usize>);

const PAGE_SIZE: usize = 2;

/// A list of items served two at a time; every fetch's cursor is recorded.
#[derive(Clone, Default)]
struct Server {
    items: Arc<Mutex<Vec<u32>>>,
    cursors: Arc<Mutex<Vec<usize>>>,
}

impl Server {
    fn with(items: impl IntoIterator<Item = u32>) -> Self {
        let server = Server::default();
        *server.items.lock().unwrap() = items.into_iter().collect();
        server
    }

    fn query(&self) -> InfiniteQuery<(), usize, Page, String> {
        let server = self.clone();
        InfiniteQuery::new(
            "items",
            0,
            move |(), cursor: usize| {
                server.cursors.lock().unwrap().push(cursor);
                let items = server.items.lock().unwrap();
                let end = (cursor + PAGE_SIZE).min(items.len());
                let page = items[cursor.min(end)..end].to_vec();
                let next = (end < items.len()).then_some(end);
                async move { Ok((page, next)) }
            },
            |last: &Page, _| last.1,
        )
        .tags(|_| vec![app_tags::items::list()])
        .page_tags(|_, (items, _)| items.iter().map(|id| app_tags::items::by_id(*id)).collect())
    }

    fn cursors(&self) -> Vec<usize> {
        self.cursors.lock().unwrap().clone()
    }
}

fn app() -> (Owner, QueryClient) {
    let _ = any_spawner::Executor::init_tokio();
    let owner = Owner::new();
    owner.set();
    let (client, _clock) = QueryClient::with_manual_clock();
    provide_context(client.clone());
    (owner, client)
}

type Items = InfiniteQueryResult<Page, usize, String>;

fn mount(parent: &Owner, query: &InfiniteQuery<(), usize, Page, String>) -> (Owner, Items) {
    let child = parent.child();
    let result = child.with(|| use_infinite_query(query, || ()));
    (child, result)
}

/// The items of each loaded page.
fn pages(owner: &Owner, result: Items) -> Vec<Vec<u32>> {
    owner.with(|| {
        result
            .data()
            .map(|p| p.pages.into_iter().map(|(items, _)| items).collect())
            .unwrap_or_default()
    })
}

#[tokio::test(start_paused = true)]
async fn pages_load_in_order_one_request_at_a_time_until_there_is_no_next_page() {
    let (owner, _client) = app();
    let server = Server::with(1..=5);
    let (component, items) = mount(&owner, &server.query());
    settle().await;
    assert_eq!(pages(&component, items), vec![vec![1, 2]]);
    assert!(component.with(|| items.has_next_page()));

    component.with(|| items.fetch_next_page());
    settle().await;
    assert_eq!(pages(&component, items), vec![vec![1, 2], vec![3, 4]]);
    assert_eq!(
        server.cursors(),
        vec![0, 2],
        "only the new page was fetched"
    );

    component.with(|| items.fetch_next_page());
    settle().await;
    assert_eq!(
        pages(&component, items),
        vec![vec![1, 2], vec![3, 4], vec![5]]
    );
    assert_eq!(
        component.with(|| items.data().unwrap().params),
        vec![0, 2, 4]
    );
    assert!(!component.with(|| items.has_next_page()));
    assert!(!component.with(|| items.is_fetching_next_page()));

    // No next page: asking fetches nothing.
    component.with(|| items.fetch_next_page());
    settle().await;
    assert_eq!(server.cursors(), vec![0, 2, 4]);
}

#[tokio::test(start_paused = true)]
async fn an_invalidation_refetches_the_loaded_pages_in_order_from_the_first() {
    let (owner, client) = app();
    let server = Server::with(1..=6);
    let (component, items) = mount(&owner, &server.query());
    settle().await;
    component.with(|| items.fetch_next_page());
    settle().await;
    assert_eq!(pages(&component, items), vec![vec![1, 2], vec![3, 4]]);

    // An item is inserted at the front; the list's tag is invalidated.
    server.items.lock().unwrap().insert(0, 0);
    client.invalidate(&[app_tags::items::list().into()]);
    settle().await;
    assert_eq!(
        server.cursors(),
        vec![0, 2, 0, 2],
        "both loaded pages, in order"
    );
    assert_eq!(
        pages(&component, items),
        vec![vec![0, 1], vec![2, 3]],
        "page 2 follows the refetched page 1: no gap, no duplicate"
    );
}

#[tokio::test(start_paused = true)]
async fn a_tag_from_any_loaded_page_refetches_them_and_an_unloaded_one_does_not() {
    let (owner, client) = app();
    let server = Server::with(1..=6);
    let (component, items) = mount(&owner, &server.query());
    settle().await;
    component.with(|| items.fetch_next_page());
    settle().await;
    assert_eq!(server.cursors(), vec![0, 2]);

    // Item 3 is on page 2.
    client.invalidate(&[app_tags::items::by_id(3).into()]);
    settle().await;
    assert_eq!(server.cursors(), vec![0, 2, 0, 2]);

    // Item 6 is on page 3, not loaded: nothing to refetch.
    client.invalidate(&[app_tags::items::by_id(6).into()]);
    settle().await;
    assert_eq!(server.cursors(), vec![0, 2, 0, 2]);
    assert_eq!(pages(&component, items), vec![vec![1, 2], vec![3, 4]]);
}

#[tokio::test(start_paused = true)]
async fn an_invalidation_with_a_next_page_request_refetches_the_pages_then_adds_the_next() {
    let (owner, client) = app();
    let server = Server::with(1..=6);
    let (component, items) = mount(&owner, &server.query());
    settle().await;
    server.items.lock().unwrap()[0] = 10;

    // In one tick: the user asks for page 2, and the hub says page 1 changed.
    component.with(|| items.fetch_next_page());
    client.invalidate(&[app_tags::items::list().into()]);
    settle().await;
    assert_eq!(
        pages(&component, items),
        vec![vec![10, 2], vec![3, 4]],
        "page 1 is refetched (not left stale) and page 2 added"
    );
    assert_eq!(server.cursors(), vec![0, 0, 2]);
}

#[tokio::test(start_paused = true)]
async fn components_share_the_pages() {
    let (owner, _client) = app();
    let server = Server::with(1..=6);
    let query = server.query();
    let (first, a) = mount(&owner, &query);
    let (second, b) = mount(&owner, &query);
    settle().await;
    assert_eq!(server.cursors(), vec![0], "one fetch for both");
    first.with(|| a.fetch_next_page());
    settle().await;
    assert_eq!(pages(&second, b), vec![vec![1, 2], vec![3, 4]]);
    assert_eq!(server.cursors(), vec![0, 2]);
}
