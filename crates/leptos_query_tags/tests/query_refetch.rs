//! The provider's path without a browser: what an `invalidate` or `reset` event does to the
//! queries of a page (the browser runtime calls exactly these methods).

#[path = "support/settle.rs"]
mod settle;
use leptos::prelude::*;
use leptos_query_tags::prelude::*;
use settle::settle;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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

fn counting(name: &str, counter: &Arc<AtomicUsize>) -> Query<i64, usize> {
    let counter = counter.clone();
    Query::new(name, move |_: i64| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Ok(n) }
    })
}

/// A reactive owner on the tokio executor with both clients in its context, as the provider
/// sets them up.
fn with_clients() -> (Owner, QueryTagsClient) {
    let _ = any_spawner::Executor::init_tokio();
    let owner = Owner::new();
    owner.set();
    let queries = QueryClient::new();
    provide_context(queries.clone());
    let client = QueryTagsClient::new("/api/query-tags", queries);
    provide_context(client.clone());
    (owner, client)
}

#[tokio::test(start_paused = true)]
async fn events_refetch_exactly_the_matching_queries() {
    let (owner, client) = with_clients();
    let counters: [Arc<AtomicUsize>; 3] = Default::default();
    let todo = counting("todo", &counters[0]).tags(|id| vec![app_tags::todos::by_id(*id)]);
    let list = counting("list", &counters[1]).tags(|_| vec![app_tags::todos::list()]);
    let notes = counting("notes", &counters[2]).tags(|_| vec![app_tags::notes::list()]);
    let results = owner.with(|| {
        [
            use_query(&todo, || 3),
            use_query(&list, || 0),
            use_query(&notes, || 0),
        ]
    });
    let seen = || -> Vec<usize> {
        results
            .iter()
            .map(|r| owner.with(|| r.data().unwrap()))
            .collect()
    };
    settle().await;
    assert_eq!(seen(), [1, 1, 1]);
    assert_eq!(client.queries().len(), 3);

    // by_id(3) reaches the todo only.
    assert_eq!(client.invalidate(&[app_tags::todos::by_id(3).into()]), 1);
    settle().await;
    assert_eq!(seen(), [2, 1, 1]);

    // A subtree pattern named twice in one event still refetches each query once.
    assert_eq!(
        client.invalidate(&[app_tags::todos::all(), app_tags::todos::all()]),
        2
    );
    settle().await;
    assert_eq!(seen(), [3, 2, 1]);

    // Non-matching patterns do nothing; `reset` refetches everything.
    assert_eq!(client.invalidate(&[app_tags::todos::by_id(4).into()]), 0);
    assert_eq!(client.invalidate_all(), 3);
    settle().await;
    assert_eq!(seen(), [4, 3, 2]);
    let fetched: Vec<usize> = counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(
        fetched,
        [4, 3, 2],
        "no fetch beyond those the events asked for"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unmounted_query_is_not_refetched_until_used_again() {
    let (owner, client) = with_clients();
    let fetches = Arc::new(AtomicUsize::new(0));
    let notes = counting("notes", &fetches).tags(|_| vec![app_tags::notes::list()]);
    let child = owner.child();
    let result = child.with(|| use_query(&notes, || 1));
    settle().await;
    assert_eq!(child.with(|| result.data()), Some(1));
    drop(child);
    assert_eq!(
        client.invalidate(&[app_tags::notes::all()]),
        1,
        "still cached, now stale"
    );
    settle().await;
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "no refetch for a query nobody shows"
    );
    let again = owner.with(|| use_query(&notes, || 1));
    settle().await;
    assert_eq!(owner.with(|| again.data()), Some(2));
}
