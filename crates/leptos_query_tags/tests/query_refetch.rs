//! The isomorphic query layer without a browser: invalidations refetch exactly the matching
//! tagged resources, once each, and unmounted queries leave the index.

use leptos::prelude::*;
use leptos_query_tags::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

tag_tree! {
    mod app_tags {
        todos {
            list;
            by_id(id: i64);
        }
        notes {
            list;
        }
    }
}

fn counting_fetcher(
    counter: &Arc<AtomicUsize>,
) -> impl Fn(i64) -> std::future::Ready<usize> + Send + Sync + 'static {
    let counter = counter.clone();
    move |_| std::future::ready(counter.fetch_add(1, Ordering::SeqCst) + 1)
}

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// A reactive owner on the tokio executor with a client in its context.
fn with_client() -> (Owner, QueryTagsClient) {
    let _ = any_spawner::Executor::init_tokio();
    let owner = Owner::new();
    owner.set();
    let client = QueryTagsClient::new("/api/query-tags");
    provide_context(client.clone());
    (owner, client)
}

#[tokio::test]
async fn invalidation_refetches_exactly_the_matching_queries() {
    // Kept alive to the end: dropping the owner would dispose the resources.
    let (_owner, client) = with_client();

    let (todo_fetches, list_fetches, note_fetches) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let todo = use_tagged_resource(
        || 3i64,
        |id| vec![app_tags::todos::by_id(*id)],
        counting_fetcher(&todo_fetches),
    );
    let list = use_tagged_resource(
        || 0i64,
        |_| vec![app_tags::todos::list()],
        counting_fetcher(&list_fetches),
    );
    let notes = use_tagged_resource(
        || 0i64,
        |_| vec![app_tags::notes::list()],
        counting_fetcher(&note_fetches),
    );
    assert_eq!((todo.await, list.await, notes.await), (1, 1, 1));
    assert_eq!(client.query_count(), 3);

    // by_id(3) reaches the todo only.
    assert_eq!(client.invalidate(&[app_tags::todos::by_id(3).into()]), 1);
    settle().await;
    assert_eq!((todo.await, list.await, notes.await), (2, 1, 1));

    // A subtree pattern named twice in one event still refetches each query once.
    assert_eq!(
        client.invalidate(&[app_tags::todos::all(), app_tags::todos::all()]),
        2
    );
    settle().await;
    assert_eq!((todo.await, list.await, notes.await), (3, 2, 1));

    // Non-matching patterns do nothing; `reset` refetches everything.
    assert_eq!(client.invalidate(&[app_tags::todos::by_id(4).into()]), 0);
    assert_eq!(client.invalidate_all(), 3);
    settle().await;
    assert_eq!((todo.await, list.await, notes.await), (4, 3, 2));
    assert_eq!(
        (
            todo_fetches.load(Ordering::SeqCst),
            list_fetches.load(Ordering::SeqCst),
            note_fetches.load(Ordering::SeqCst)
        ),
        (4, 3, 2),
        "no fetch beyond those the invalidations asked for"
    );
}

#[tokio::test]
async fn a_disposed_query_leaves_the_index() {
    let (owner, client) = with_client();

    let child = owner.child();
    let fetches = Arc::new(AtomicUsize::new(0));
    let resource = child.with(|| {
        use_tagged_resource(
            || 1i64,
            |_| vec![app_tags::notes::list()],
            counting_fetcher(&fetches),
        )
    });
    assert_eq!(resource.await, 1);
    assert_eq!(client.query_count(), 1);
    drop(child);
    assert_eq!(client.query_count(), 0, "unmounting unregisters the query");
    assert_eq!(client.invalidate(&[app_tags::notes::all()]), 0);
}
