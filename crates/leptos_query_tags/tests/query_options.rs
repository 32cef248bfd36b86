//! Client-wide defaults that each query overrides, and refetch intervals that pause while the
//! page is hidden: a manual clock, fetchers that count, components as reactive owners.

#[path = "support/settle.rs"]
mod settle;
use leptos::prelude::*;
use leptos_query_tags::cache::ManualClock;
use leptos_query_tags::prelude::*;
use settle::settle;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A query whose fetches answer at once and are counted.
fn counted(name: &str) -> (Query<u32, u32, String>, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let query = Query::new(name, move |key: u32| {
        let n = seen.fetch_add(1, Ordering::SeqCst) as u32 + 1;
        async move { Ok(key * 1000 + n) }
    });
    (query, count)
}

/// A root owner with a client on a manual clock, with `defaults`, in its context.
fn app(defaults: QueryOptions) -> (Owner, QueryClient, ManualClock) {
    let _ = any_spawner::Executor::init_tokio();
    let owner = Owner::new();
    owner.set();
    let (client, clock) = QueryClient::with_manual_clock();
    let client = client.with_defaults(defaults);
    provide_context(client.clone());
    (owner, client, clock)
}

/// A component using `query` at `key` under `parent`; dropping the owner's cleanup unmounts it.
fn mount(parent: &Owner, query: &Query<u32, u32, String>, key: u32) -> Owner {
    let child = parent.child();
    child.with(|| {
        let _ = use_query(query, move || key);
    });
    child
}

fn fetches(count: &AtomicUsize) -> usize {
    count.load(Ordering::SeqCst)
}

#[tokio::test(start_paused = true)]
async fn client_defaults_apply_to_every_query_and_a_query_overrides_them() {
    let (owner, client, clock) = app(QueryOptions::new().stale_time(Duration::from_secs(60)));
    let (by_default, default_fetches) = counted("by-default");
    let (own, own_fetches) = counted("own");
    let own = own.stale_time(Duration::ZERO);

    assert_eq!(
        client.options_of(&by_default).stale_time,
        Duration::from_secs(60)
    );
    assert_eq!(client.options_of(&own).stale_time, Duration::ZERO);

    let (a, b) = (mount(&owner, &by_default, 1), mount(&owner, &own, 1));
    settle().await;
    assert_eq!((fetches(&default_fetches), fetches(&own_fetches)), (1, 1));

    // Unmount both, come back 30 s later: the client's 60 s keep the first fresh; the query's
    // own 0 s make the second refetch.
    a.cleanup();
    b.cleanup();
    clock.advance(Duration::from_secs(30));
    let (_a, _b) = (mount(&owner, &by_default, 1), mount(&owner, &own, 1));
    settle().await;
    assert_eq!(
        fetches(&own_fetches),
        2,
        "the query's own stale_time refetches"
    );
    assert_eq!(
        fetches(&default_fetches),
        1,
        "the client's stale_time keeps it fresh"
    );
}

/// Records the retry setting its query client gives `query`.
#[component]
fn Probe(query: Query<u32, u32, String>, seen: Arc<AtomicUsize>) -> impl IntoView {
    seen.store(
        use_query_client().options_of(&query).retry as usize,
        Ordering::SeqCst,
    );
}

#[tokio::test(start_paused = true)]
async fn the_provider_takes_defaults() {
    let _ = any_spawner::Executor::init_tokio();
    let owner = Owner::new();
    owner.set();
    let (query, _) = counted("provided");
    let seen = Arc::new(AtomicUsize::new(0));
    let probe = seen.clone();
    owner.with(|| {
        let _view = view! {
            <QueryTagsProvider defaults=QueryOptions::new().retry(7)>
                <Probe query=query.clone() seen=probe.clone() />
            </QueryTagsProvider>
        };
    });
    assert_eq!(seen.load(Ordering::SeqCst), 7);
}

#[tokio::test(start_paused = true)]
async fn a_refetch_interval_refetches_while_visible_pauses_while_hidden_and_stops_on_unmount() {
    let (owner, client, clock) = app(QueryOptions::new());
    let (ticking, ticks) = counted("ticking");
    let ticking = ticking.refetch_interval(Some(Duration::from_secs(10)));
    let (still, still_fetches) = counted("still");

    let component = mount(&owner, &ticking, 1);
    let _other = mount(&owner, &still, 1);
    settle().await;
    assert_eq!(fetches(&ticks), 1, "the first fetch");

    for n in 2..=3 {
        clock.advance(Duration::from_secs(10));
        settle().await;
        assert_eq!(fetches(&ticks), n, "one refetch per interval");
    }

    // Hidden: the interval passes three times without a fetch ...
    client.cache().set_visible(false);
    for _ in 0..3 {
        clock.advance(Duration::from_secs(10));
        settle().await;
    }
    assert_eq!(fetches(&ticks), 3, "no refetch while the page is hidden");
    // ... and resumes when the page is visible again.
    client.cache().set_visible(true);
    clock.advance(Duration::from_secs(10));
    settle().await;
    assert_eq!(fetches(&ticks), 4);

    // Unmounted: no more refetches.
    component.cleanup();
    for _ in 0..3 {
        clock.advance(Duration::from_secs(10));
        settle().await;
    }
    assert_eq!(fetches(&ticks), 4, "the interval stops with its component");
    assert_eq!(
        fetches(&still_fetches),
        1,
        "a query without an interval never refetched"
    );
}

#[derive(Clone)]
struct RequestMarker(u32);

#[tokio::test(start_paused = true)]
async fn a_fetch_keeps_the_context_of_the_component_that_started_it_across_awaits() {
    let (owner, _client, _clock) = app(QueryOptions::new());
    provide_context(RequestMarker(7));
    // As a server function does during SSR: it reads the request's context after awaiting.
    let query = Query::new("context", |_: u32| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok::<_, String>(use_context::<RequestMarker>().map_or(0, |m| m.0))
    });
    let child = owner.child();
    let result = child.with(|| use_query(&query, || 1));
    // Another request's owner is current on this thread while the fetch's task runs.
    let elsewhere = Owner::new();
    elsewhere.set();
    provide_context(RequestMarker(99));
    settle().await;
    assert_eq!(
        child.with(|| result.data()),
        Some(7),
        "its own context, not the thread's"
    );
}

/// The bug a server render hit (the demo's My notes answered "Sign in first" about once in 50
/// renders): a fetch is shared by every component using its key, and the component that
/// started it may be disposed of (a re-render) before the fetch runs. The fetch reads its
/// context from the client's owner, not from that component's.
#[tokio::test(start_paused = true)]
async fn a_shared_fetch_keeps_the_request_context_when_the_component_that_started_it_is_gone() {
    let (owner, _client, _clock) = app(QueryOptions::new());
    provide_context(RequestMarker(7));
    let query = Query::new("shared", |_: u32| async move {
        Ok::<_, String>(use_context::<RequestMarker>().map_or(0, |m| m.0))
    });
    // The first component starts the fetch and is re-rendered away before the fetch runs.
    let first = owner.child();
    first.with(|| {
        use_query(&query, || 1);
    });
    first.cleanup();
    drop(first);
    // Its replacement joins the fetch in flight.
    let second = owner.child();
    let result = second.with(|| use_query(&query, || 1));
    settle().await;
    assert_eq!(
        second.with(|| result.data()),
        Some(7),
        "the request's context, though the starting component is gone"
    );
}
