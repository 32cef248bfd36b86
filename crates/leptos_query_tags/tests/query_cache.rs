//! The query cache without a browser: a manual clock, fake fetchers that answer when the test
//! says so, and components as reactive owners.
#![allow(clippy::type_complexity)] // fake servers in tests

#[path = "support/settle.rs"]
mod settle;
use futures::channel::oneshot;
use leptos::prelude::*;
use leptos_query_tags::prelude::*;
use leptos_query_tags::query::PlaceholderData;
use settle::settle;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

tag_tree! {
    mod app_tags {
        todos {
            list;
            by_id(id: u32);
        }
        notes {
            list;
        }
    }
}

type Reply = Result<String, String>;

/// A fake server: each fetch is recorded and waits until the test answers it.
#[derive(Clone, Default)]
struct Server {
    calls: Arc<Mutex<Vec<(u32, Option<oneshot::Sender<Reply>>)>>>,
}

impl Server {
    fn query(&self, name: &str) -> Query<u32, String, String> {
        let server = self.clone();
        Query::new(name, move |key: u32| {
            let (reply, answer) = oneshot::channel();
            server.calls.lock().unwrap().push((key, Some(reply)));
            async move { answer.await.unwrap_or_else(|_| Err("dropped".into())) }
        })
    }

    /// How many fetches started.
    fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    /// Answers the latest unanswered fetch of `key`.
    fn answer_key(&self, key: u32, reply: Reply) {
        let n = self
            .calls
            .lock()
            .unwrap()
            .iter()
            .rposition(|(k, sender)| *k == key && sender.is_some())
            .expect("a fetch of that key is waiting");
        self.answer(n, reply);
    }

    /// Answers fetch number `n` (0-based).
    fn answer(&self, n: usize, reply: Reply) {
        let sender = self.calls.lock().unwrap()[n].1.take();
        let _ = sender.expect("each fetch is answered once").send(reply);
    }
}

/// Fetches that answer at once with `<key>#<n>`, n counting the fetches of that query.
fn instant(name: &str) -> (Query<u32, String, String>, Arc<Mutex<BTreeMap<u32, usize>>>) {
    let counts = Arc::new(Mutex::new(BTreeMap::new()));
    let seen = counts.clone();
    let query = Query::new(name, move |key: u32| {
        let n = {
            let mut counts = seen.lock().unwrap();
            let n = counts.entry(key).or_insert(0);
            *n += 1;
            *n
        };
        async move { Ok(format!("{key}#{n}")) }
    });
    (query, counts)
}

fn total(counts: &Arc<Mutex<BTreeMap<u32, usize>>>) -> usize {
    counts.lock().unwrap().values().sum()
}

/// A root owner with a query client on a manual clock in its context.
fn app() -> (Owner, QueryClient, leptos_query_tags::cache::ManualClock) {
    let _ = any_spawner::Executor::init_tokio();
    let owner = Owner::new();
    owner.set();
    let (client, clock) = QueryClient::with_manual_clock();
    provide_context(client.clone());
    (owner, client, clock)
}

/// A component using `query` at `key`, mounted under `parent`.
fn mount(
    parent: &Owner,
    query: &Query<u32, String, String>,
    key: u32,
) -> (Owner, QueryResult<String, String>) {
    let child = parent.child();
    let result = child.with(|| use_query(query, move || key));
    (child, result)
}

fn data(owner: &Owner, result: QueryResult<String, String>) -> Option<String> {
    owner.with(|| result.data())
}

/// `settle()` is what makes the negative asserts below sound: it returns only when no task can
/// run. A chain of 10,000 tasks, each spawning the next after a yield, is more than a fixed
/// pause covers on a slow machine; here it always completes.
#[tokio::test(start_paused = true)]
async fn settle_returns_only_when_every_task_has_run() {
    fn step(left: usize, done: Arc<std::sync::atomic::AtomicUsize>) {
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if left > 0 {
                step(left - 1, done);
            }
        });
    }
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    step(10_000, done.clone());
    settle().await;
    assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), 10_001);
}

#[tokio::test(start_paused = true)]
async fn n_components_with_one_key_make_one_request() {
    let (owner, client, _) = app();
    let server = Server::default();
    let query = server.query("todo");
    let components: Vec<_> = (0..5).map(|_| mount(&owner, &query, 1)).collect();
    let other = mount(&owner, &query, 2);
    settle().await;
    assert_eq!(server.count(), 2, "one fetch per key, not per component");

    server.answer(0, Ok("one".into()));
    server.answer(1, Ok("two".into()));
    settle().await;
    for (child, result) in &components {
        assert_eq!(data(child, *result).as_deref(), Some("one"));
    }
    assert_eq!(data(&other.0, other.1).as_deref(), Some("two"));

    // fetch_query joins a fetch in flight as well.
    assert_eq!(client.invalidate_all(), 2);
    let (a, b, ()) = futures::join!(
        client.fetch_query(&query, 3),
        client.fetch_query(&query, 3),
        async {
            settle().await;
            assert_eq!(
                server.count(),
                5,
                "two refetches for the mounted keys, one fetch for key 3"
            );
            server.answer_key(3, Ok("three".into()));
        }
    );
    assert_eq!((a, b), (Ok("three".into()), Ok("three".into())));
}

#[tokio::test(start_paused = true)]
async fn an_invalidation_during_a_fetch_wins_over_its_result_with_one_trailing_fetch() {
    let (owner, client, _) = app();
    let server = Server::default();
    let query = server
        .query("todo")
        .tags(|id| vec![app_tags::todos::by_id(*id)]);
    let (child, todo) = mount(&owner, &query, 7);
    settle().await;
    server.answer(0, Ok("v1".into()));
    settle().await;
    assert_eq!(data(&child, todo).as_deref(), Some("v1"));

    // A refetch is in flight when more changes are announced: a burst.
    client.invalidate(&[app_tags::todos::by_id(7).into()]);
    settle().await;
    assert_eq!(server.count(), 2);
    for _ in 0..5 {
        client.invalidate(&[app_tags::todos::by_id(7).into()]);
        settle().await;
    }
    assert_eq!(
        server.count(),
        2,
        "the fetch in flight is left to finish: no request per event"
    );

    // It answers with data read before the later changes: it cannot settle the entry, its
    // observers wait for the one trailing fetch that starts at once.
    server.answer(1, Ok("v2 (read before the change)".into()));
    settle().await;
    let status = client.query_status(&query, &7).unwrap();
    assert!(
        status.is_invalidated && status.is_fetching,
        "the in-flight result must not clear the invalidation: {status:?}"
    );
    assert_eq!(server.count(), 3);
    assert_eq!(data(&child, todo).as_deref(), Some("v1"));

    server.answer(2, Ok("v3".into()));
    settle().await;
    assert_eq!(data(&child, todo).as_deref(), Some("v3"));
    let status = client.query_status(&query, &7).unwrap();
    assert!(!status.is_invalidated && !status.is_fetching);
    assert_eq!(server.count(), 3);
    let seen = client.cache().inspect_key(&query.key(&7)).unwrap();
    assert_eq!((seen.invalidations, seen.fetches), (6, 3));
}

#[tokio::test(start_paused = true)]
async fn a_reader_waiting_on_a_fetch_older_than_an_invalidation_gets_data_from_after_it() {
    let (owner, client, _) = app();
    let server = Server::default();
    let query = server
        .query("todo")
        .tags(|id| vec![app_tags::todos::by_id(*id)]);
    let (_child, _todo) = mount(&owner, &query, 7);
    settle().await;
    // The first fetch is in flight; someone awaits the query (as a mutation's refetch does).
    let reader = {
        let (client, query) = (client.clone(), query.clone());
        tokio::spawn(async move { client.fetch_query(&query, 7).await })
    };
    settle().await;
    client.invalidate(&[app_tags::todos::by_id(7).into()]);
    settle().await;
    server.answer(0, Ok("read before the change".into()));
    settle().await;
    assert_eq!(server.count(), 2, "one trailing fetch");
    server.answer(1, Ok("after".into()));
    assert_eq!(reader.await.unwrap(), Ok("after".into()));
}

#[tokio::test(start_paused = true)]
async fn an_inactive_entry_fetched_across_an_invalidation_stays_stale() {
    let (owner, client, _) = app();
    let server = Server::default();
    let query = server
        .query("todo")
        .tags(|id| vec![app_tags::todos::by_id(*id)]);
    let prefetch = {
        let (client, query) = (client.clone(), query.clone());
        tokio::spawn(async move { client.fetch_query(&query, 1).await })
    };
    settle().await;
    assert_eq!(client.invalidate(&[app_tags::todos::all()]), 1);
    settle().await;
    assert_eq!(server.count(), 1, "nobody uses it: no refetch now");
    server.answer(0, Ok("before".into()));
    assert_eq!(prefetch.await.unwrap(), Ok("before".into()));
    assert!(client.query_status(&query, &1).unwrap().is_invalidated);

    // The next use refetches.
    let (child, todo) = mount(&owner, &query, 1);
    settle().await;
    assert_eq!(server.count(), 2);
    server.answer(1, Ok("after".into()));
    settle().await;
    assert_eq!(data(&child, todo).as_deref(), Some("after"));
}

#[tokio::test(start_paused = true)]
async fn invalidations_in_one_tick_coalesce_into_one_refetch_per_query() {
    let (owner, client, _) = app();
    let (query, counts) = instant("todo");
    let query = query.tags(|id| vec![app_tags::todos::by_id(*id), app_tags::todos::list()]);
    let (notes, note_counts) = instant("notes");
    let notes = notes.tags(|_| vec![app_tags::notes::list()]);
    let mounted = [
        mount(&owner, &query, 1),
        mount(&owner, &query, 2),
        mount(&owner, &notes, 1),
    ];
    settle().await;
    assert_eq!((total(&counts), total(&note_counts)), (2, 1));

    for _ in 0..10 {
        client.invalidate(&[app_tags::todos::list().into()]);
        client.invalidate(&[app_tags::todos::all(), app_tags::todos::by_id(1).into()]);
    }
    settle().await;
    assert_eq!(*counts.lock().unwrap(), BTreeMap::from([(1, 2), (2, 2)]));
    assert_eq!(
        total(&note_counts),
        1,
        "a query no pattern matches does not refetch"
    );
    assert_eq!(data(&mounted[0].0, mounted[0].1).as_deref(), Some("1#2"));
    assert_eq!(data(&mounted[1].0, mounted[1].1).as_deref(), Some("2#2"));
}

#[tokio::test(start_paused = true)]
async fn unused_entries_are_marked_stale_and_refetch_on_their_next_mount() {
    let (owner, client, clock) = app();
    let (query, counts) = instant("todo");
    let query = query.tags(|id| vec![app_tags::todos::by_id(*id)]);
    let (child, _) = mount(&owner, &query, 1);
    settle().await;
    drop(child);
    assert_eq!(client.invalidate(&[app_tags::todos::all()]), 1);
    settle().await;
    assert_eq!(total(&counts), 1, "not refetched while unused");
    assert!(client.query_status(&query, &1).unwrap().is_stale);

    clock.advance(Duration::from_secs(1));
    let (child, todo) = mount(&owner, &query, 1);
    settle().await;
    assert_eq!(total(&counts), 2);
    assert_eq!(data(&child, todo).as_deref(), Some("1#2"));
}

#[tokio::test(start_paused = true)]
async fn gc_removes_unused_entries_after_gc_time() {
    let (owner, client, clock) = app();
    let (query, _) = instant("todo");
    let query = query.gc_time(Duration::from_secs(60));
    let (child, _) = mount(&owner, &query, 1);
    let (other, _) = mount(&owner, &query, 2);
    settle().await;
    assert_eq!(client.len(), 2);
    drop(child);
    clock.advance(Duration::from_secs(59));
    settle().await;
    assert_eq!(client.len(), 2, "kept until gc time has passed");
    clock.advance(Duration::from_secs(1));
    settle().await;
    assert_eq!(client.len(), 1, "the unused entry went; the used one stays");
    assert_eq!(client.get_query_data(&query, &1), None);
    assert!(client.get_query_data(&query, &2).is_some());
    drop(other);
    clock.advance(Duration::from_secs(60));
    settle().await;
    assert!(client.is_empty());
}

#[tokio::test(start_paused = true)]
async fn fresh_data_is_served_without_a_fetch_until_stale_time() {
    let (owner, client, clock) = app();
    let (query, counts) = instant("todo");
    let query = query.stale_time(Duration::from_secs(30));
    client.prefetch_query(&query, 1).await;
    assert_eq!(total(&counts), 1);
    let (child, todo) = mount(&owner, &query, 1);
    settle().await;
    assert_eq!(
        total(&counts),
        1,
        "prefetched data is fresh: no fetch on mount"
    );
    assert_eq!(data(&child, todo).as_deref(), Some("1#1"));
    assert!(!child.with(|| todo.is_stale()));

    drop(child);
    clock.advance(Duration::from_secs(30));
    let (child, todo) = mount(&owner, &query, 1);
    settle().await;
    assert_eq!(total(&counts), 2, "stale after 30 s: the mount refetches");
    assert_eq!(data(&child, todo).as_deref(), Some("1#2"));
}

#[tokio::test(start_paused = true)]
async fn failed_fetches_retry_with_exponential_backoff() {
    let (owner, client, clock) = app();
    let server = Server::default();
    let query = server.query("todo").retry(3);
    let (child, todo) = mount(&owner, &query, 1);
    settle().await;
    server.answer(0, Err("down".into()));
    settle().await;
    assert_eq!(server.count(), 1, "the retry waits 1 s");
    clock.advance(Duration::from_millis(999));
    settle().await;
    assert_eq!(server.count(), 1);
    clock.advance(Duration::from_millis(1));
    settle().await;
    assert_eq!(server.count(), 2);
    server.answer(1, Err("down".into()));
    settle().await;
    clock.advance(Duration::from_millis(1999));
    settle().await;
    assert_eq!(server.count(), 2, "then 2 s");
    clock.advance(Duration::from_millis(1));
    settle().await;
    assert_eq!(server.count(), 3);
    server.answer(2, Ok("up".into()));
    settle().await;
    assert_eq!(data(&child, todo).as_deref(), Some("up"));
    assert_eq!(child.with(|| todo.error()), None);

    // Out of retries: the error is the query's state.
    let failing = server.query("broken").retry(1);
    let (child, broken) = mount(&owner, &failing, 1);
    settle().await;
    server.answer(3, Err("no".into()));
    settle().await;
    clock.advance(Duration::from_secs(1));
    settle().await;
    server.answer(4, Err("still no".into()));
    settle().await;
    assert_eq!(child.with(|| broken.error()).as_deref(), Some("still no"));
    assert_eq!(client.query_status(&failing, &1).unwrap().failure_count, 1);
    assert_eq!(server.count(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_disabled_query_fetches_nothing_until_enabled() {
    let (owner, _client, _) = app();
    let (query, counts) = instant("todo");
    let key = RwSignal::new(None::<u32>);
    let todo = owner.with(|| use_query_when(&query, move || key.get()));
    settle().await;
    assert_eq!(total(&counts), 0);
    assert_eq!(owner.with(|| todo.data()), None);
    key.set(Some(4));
    settle().await;
    assert_eq!(total(&counts), 1);
    assert_eq!(owner.with(|| todo.data()).as_deref(), Some("4#1"));
}

#[tokio::test(start_paused = true)]
async fn placeholder_data_shows_while_a_new_key_loads_only_when_asked() {
    let (owner, client, _) = app();
    let server = Server::default();
    let cases: [(&str, Option<PlaceholderData<u32, String>>, Option<&str>); 3] = [
        ("plain", None, None),
        ("kept", Some(PlaceholderData::KeepPrevious), Some("page 1")),
        (
            "made",
            Some(PlaceholderData::from_fn(|n: &u32| {
                Some(format!("loading {n}"))
            })),
            Some("loading 2"),
        ),
    ];
    for (name, placeholder, expected) in cases {
        let mut query = server.query(name);
        if let Some(placeholder) = placeholder {
            query = query.placeholder_data(placeholder);
        }
        let page = RwSignal::new(1u32);
        let result = owner.with(|| use_query(&query, move || page.get()));
        settle().await;
        server.answer(server.count() - 1, Ok("page 1".into()));
        settle().await;
        assert_eq!(owner.with(|| result.data()).as_deref(), Some("page 1"));
        assert!(!owner.with(|| result.is_placeholder_data()));
        page.set(2);
        settle().await;
        assert_eq!(owner.with(|| result.data()).as_deref(), expected, "{name}");
        assert_eq!(
            owner.with(|| result.is_placeholder_data()),
            expected.is_some(),
            "{name}"
        );
        assert!(owner.with(|| result.is_fetching()));
        server.answer(server.count() - 1, Ok("page 2".into()));
        settle().await;
        assert_eq!(owner.with(|| result.data()).as_deref(), Some("page 2"));
        assert!(!owner.with(|| result.is_placeholder_data()));
        // A placeholder is never cached.
        assert_eq!(client.get_query_data(&query, &2).as_deref(), Some("page 2"));
    }
}

#[tokio::test(start_paused = true)]
#[allow(deprecated)]
async fn keep_previous_data_is_the_deprecated_name_of_the_keep_previous_placeholder() {
    let (owner, _client, _) = app();
    let server = Server::default();
    let query = server.query("old-name").keep_previous_data(true);
    let page = RwSignal::new(1u32);
    let result = owner.with(|| use_query(&query, move || page.get()));
    settle().await;
    server.answer(0, Ok("page 1".into()));
    settle().await;
    page.set(2);
    settle().await;
    assert_eq!(owner.with(|| result.data()).as_deref(), Some("page 1"));
}

#[tokio::test(start_paused = true)]
async fn select_derives_a_view_that_changes_only_when_the_view_does() {
    let (owner, client, _) = app();
    let server = Server::default();
    let query = server
        .query("words")
        .tags(|_| vec![app_tags::notes::list()]);
    let result = owner.with(|| use_query(&query, || 1));
    let length = owner.with(|| result.select(|text: &String| text.len()));
    let runs = Arc::new(Mutex::new(Vec::new()));
    let seen = runs.clone();
    owner.with(|| Effect::new_isomorphic(move |_| seen.lock().unwrap().push(length.get())));
    settle().await;
    server.answer(0, Ok("four".into()));
    settle().await;
    owner.with(|| client.invalidate(&[app_tags::notes::list().into()]));
    settle().await;
    server.answer(1, Ok("same".into()));
    settle().await;
    owner.with(|| client.invalidate(&[app_tags::notes::list().into()]));
    settle().await;
    server.answer(2, Ok("longer".into()));
    settle().await;
    assert_eq!(
        *runs.lock().unwrap(),
        [None, Some(4), Some(6)],
        "\"same\" has the length of \"four\": no change seen"
    );
}

#[tokio::test(start_paused = true)]
async fn tags_derived_from_the_result_route_invalidations() {
    let (owner, client, _) = app();
    let counts = Arc::new(Mutex::new(0));
    let seen = counts.clone();
    let list = Query::new("list", move |(): ()| {
        *seen.lock().unwrap() += 1;
        async move { Ok::<_, String>(vec![1u32, 2, 3]) }
    })
    .tags(|_| vec![app_tags::todos::list()])
    .tags_from_result(|_, ids: &Vec<u32>| {
        ids.iter().map(|id| app_tags::todos::by_id(*id)).collect()
    });
    let _list = owner.with(|| use_query(&list, || ()));
    settle().await;
    assert_eq!(*counts.lock().unwrap(), 1);
    assert_eq!(client.cache().tags_of(&list.key(&())).len(), 4);

    assert_eq!(client.invalidate(&[app_tags::todos::by_id(2).into()]), 1);
    settle().await;
    assert_eq!(
        *counts.lock().unwrap(),
        2,
        "todo 2 is in the list: the list refetches"
    );
    assert_eq!(client.invalidate(&[app_tags::todos::by_id(9).into()]), 0);
}

#[tokio::test(start_paused = true)]
async fn set_get_invalidate_by_key_and_cancel() {
    let (owner, client, _) = app();
    let server = Server::default();
    let query = server.query("todo");
    assert_eq!(client.get_query_data(&query, &1), None);
    assert!(!client.update_query_data(&query, &1, |_| unreachable!()));

    let (child, todo) = mount(&owner, &query, 1);
    settle().await;
    server.answer(0, Ok("server".into()));
    settle().await;
    client.set_query_data(&query, &1, "local".to_owned());
    settle().await;
    assert_eq!(
        data(&child, todo).as_deref(),
        Some("local"),
        "components show written data"
    );
    assert!(client.update_query_data(&query, &1, |s| s.push('!')));
    settle().await;
    assert_eq!(data(&child, todo).as_deref(), Some("local!"));

    // Invalidate one key: only it refetches.
    let (_other, _) = mount(&owner, &query, 2);
    settle().await;
    server.answer(1, Ok("two".into()));
    settle().await;
    assert!(client.invalidate_query(&query, &1));
    assert!(!client.invalidate_query(&query, &99));
    settle().await;
    assert_eq!(server.count(), 3);
    assert_eq!(server.calls.lock().unwrap()[2].0, 1);

    // Cancel the refetch: the entry keeps its data; a late answer changes nothing.
    assert!(client.cancel_query(&query, &1));
    assert!(!client.cancel_query(&query, &1));
    server.answer(2, Ok("late".into()));
    settle().await;
    assert_eq!(data(&child, todo).as_deref(), Some("local!"));
    assert!(!client.query_status(&query, &1).unwrap().is_fetching);

    // A write cancels a fetch in flight: it started before the write and must not undo it.
    client.invalidate_query(&query, &1);
    settle().await;
    assert_eq!(server.count(), 4);
    client.set_query_data(&query, &1, "written".to_owned());
    server.answer(3, Ok("older".into()));
    settle().await;
    assert_eq!(data(&child, todo).as_deref(), Some("written"));
}

#[tokio::test(start_paused = true)]
async fn focus_and_reconnect_refetch_stale_queries_in_use() {
    let (owner, client, clock) = app();
    let (eager, eager_counts) = instant("eager");
    let eager = eager.stale_time(Duration::from_secs(10));
    let (calm, calm_counts) = instant("calm");
    let calm = calm
        .refetch_on_window_focus(false)
        .refetch_on_reconnect(false);
    let _a = mount(&owner, &eager, 1);
    let _b = mount(&owner, &calm, 1);
    settle().await;
    assert_eq!(
        client.window_focused(),
        0,
        "calm is stale but opted out; eager is fresh"
    );
    settle().await;
    assert_eq!((total(&eager_counts), total(&calm_counts)), (1, 1));
    clock.advance(Duration::from_secs(10));
    assert_eq!(client.window_focused(), 1);
    settle().await;
    assert_eq!((total(&eager_counts), total(&calm_counts)), (2, 1));
    clock.advance(Duration::from_secs(10));
    assert_eq!(client.reconnected(), 1);
    settle().await;
    assert_eq!((total(&eager_counts), total(&calm_counts)), (3, 1));
}

#[tokio::test(start_paused = true)]
async fn tagged_queries_stay_fresh_while_the_stream_is_open_and_follow_stale_time_otherwise() {
    let (owner, client, clock) = app();
    let (live, live_counts) = instant("live");
    let live = live.tags(|id| vec![app_tags::todos::by_id(*id)]);
    let (untagged, untagged_counts) = instant("untagged");
    let (timed, timed_counts) = instant("timed");
    let timed = timed
        .tags(|_| vec![app_tags::notes::list()])
        .stale_time(Duration::from_secs(60));
    let _a = mount(&owner, &live, 1);
    let _b = mount(&owner, &untagged, 1);
    let _c = mount(&owner, &timed, 1);
    settle().await;
    assert_eq!(
        (
            total(&live_counts),
            total(&untagged_counts),
            total(&timed_counts)
        ),
        (1, 1, 1)
    );

    // The stream is open: a focus refetches only what the hub cannot keep fresh.
    client.cache().set_live(true);
    clock.advance(Duration::from_secs(1));
    assert!(!client.query_status(&live, &1).unwrap().is_stale);
    assert_eq!(
        client.window_focused(),
        1,
        "only the untagged query is stale"
    );
    settle().await;
    assert_eq!(
        (
            total(&live_counts),
            total(&untagged_counts),
            total(&timed_counts)
        ),
        (1, 2, 1)
    );
    // A second component mounting the live query is served from the cache.
    let _d = mount(&owner, &live, 1);
    settle().await;
    assert_eq!(total(&live_counts), 1);
    // An invalidation still refetches it, of course.
    client.invalidate(&[app_tags::todos::by_id(1).into()]);
    settle().await;
    assert_eq!(total(&live_counts), 2);

    // The stream is not open: the usual rules (stale time 0) again.
    client.cache().set_live(false);
    clock.advance(Duration::from_secs(1));
    assert!(client.query_status(&live, &1).unwrap().is_stale);
    assert_eq!(
        client.window_focused(),
        2,
        "the live query and the untagged one"
    );
    settle().await;
    assert_eq!(
        (
            total(&live_counts),
            total(&untagged_counts),
            total(&timed_counts)
        ),
        (3, 3, 1)
    );
    // The query with its own stale time follows it, live or not.
    client.cache().set_live(true);
    clock.advance(Duration::from_secs(60));
    assert!(client.query_status(&timed, &1).unwrap().is_stale);
}

#[tokio::test(start_paused = true)]
async fn optimistic_mutations_roll_back_on_error_and_stay_on_success() {
    let (owner, client, _) = app();
    let list = Query::new("list", |(): ()| async {
        Ok::<_, String>(vec!["a".to_owned()])
    })
    .tags(|_| vec![app_tags::todos::list()]);
    let shown = owner.with(|| use_query(&list, || ()));
    settle().await;
    assert_eq!(owner.with(|| shown.data()), Some(vec!["a".to_owned()]));

    // The server answers when the test says so.
    let server: Arc<Mutex<Vec<oneshot::Sender<Result<(), String>>>>> = Default::default();
    let gate = server.clone();
    let list_query = list.clone();
    let add = owner.with(|| {
        use_mutation(
            MutationOptions::new(move |_title: String| {
                let (reply, answer) = oneshot::channel();
                gate.lock().unwrap().push(reply);
                async move { answer.await.unwrap_or(Err("dropped".into())) }
            })
            .affects(|_| vec![app_tags::todos::list()])
            .optimistic(move |cache, title: &String| {
                cache.update(&list_query, &(), |todos| todos.push(title.clone()));
            }),
        )
    });

    add.dispatch("rejected".into());
    settle().await;
    assert_eq!(
        owner.with(|| shown.data()),
        Some(vec!["a".to_owned(), "rejected".to_owned()])
    );
    assert!(
        owner.with(|| shown.is_mutating()),
        "the list shows the mutation pending"
    );
    assert!(owner.with(|| add.pending()));
    let reply = server.lock().unwrap().remove(0);
    reply.send(Err("too long".into())).unwrap();
    settle().await;
    assert_eq!(
        owner.with(|| shown.data()),
        Some(vec!["a".to_owned()]),
        "rolled back"
    );
    assert!(!owner.with(|| shown.is_mutating()));
    assert_eq!(owner.with(|| add.error()).as_deref(), Some("too long"));

    add.dispatch("accepted".into());
    settle().await;
    let reply = server.lock().unwrap().remove(0);
    reply.send(Ok(())).unwrap();
    settle().await;
    assert_eq!(owner.with(|| add.value()), Some(Ok(())));
    assert!(!owner.with(|| shown.is_mutating()));
    // This fake endpoint stores nothing: the refetch after success shows the server's truth.
    assert_eq!(
        client.get_query_data(&list, &()),
        Some(vec!["a".to_owned()])
    );
}

#[tokio::test(start_paused = true)]
async fn a_successful_optimistic_write_is_kept_and_then_confirmed_by_a_refetch() {
    let (owner, client, _) = app();
    let stored = Arc::new(Mutex::new(vec!["a".to_owned()]));
    let fetches = Arc::new(Mutex::new(0));
    let (db, count) = (stored.clone(), fetches.clone());
    let list = Query::new("list", move |(): ()| {
        *count.lock().unwrap() += 1;
        let todos = db.lock().unwrap().clone();
        async move { Ok::<_, String>(todos) }
    });
    let shown = owner.with(|| use_query(&list, || ()));
    settle().await;

    let (db, list_query) = (stored.clone(), list.clone());
    let (release, wait) = oneshot::channel::<()>();
    let wait = Arc::new(Mutex::new(Some(wait)));
    let add = owner.with(|| {
        use_mutation(
            MutationOptions::new(move |title: String| {
                let (db, wait) = (db.clone(), wait.lock().unwrap().take());
                async move {
                    if let Some(wait) = wait {
                        let _ = wait.await;
                    }
                    db.lock().unwrap().push(title);
                    Ok::<_, String>(())
                }
            })
            .optimistic(move |cache, title: &String| {
                cache.update(&list_query, &(), |todos| todos.push(title.clone()));
            }),
        )
    });
    add.dispatch("b".into());
    settle().await;
    let both = Some(vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(
        owner.with(|| shown.data()),
        both,
        "shown before the server answers"
    );
    assert_eq!(*fetches.lock().unwrap(), 1);
    release.send(()).unwrap();
    settle().await;
    assert_eq!(owner.with(|| shown.data()), both, "kept after success");
    assert_eq!(*fetches.lock().unwrap(), 2, "and confirmed by one refetch");
    assert_eq!(client.get_query_data(&list, &()), both);
}

#[tokio::test(start_paused = true)]
async fn inspect_shows_each_entry_with_its_timers_and_remove_takes_only_unused_ones() {
    let (owner, client, clock) = app();
    let (query, _) = instant("todo");
    let query = query
        .stale_time(Duration::from_secs(10))
        .gc_time(Duration::from_secs(60))
        .tags(|key| vec![app_tags::todos::by_id(*key)]);
    let (child, _) = mount(&owner, &query, 1);
    let (other, _) = mount(&owner, &query, 2);
    settle().await;
    clock.advance(Duration::from_secs(4));
    drop(other);
    settle().await;
    let entries = client.cache().inspect();
    assert_eq!(entries.len(), 2);
    let (one, two) = (&entries[0], &entries[1]);
    assert_eq!(one.key, query.key(&1));
    assert_eq!(one.tags, vec![app_tags::todos::by_id(1)]);
    assert_eq!(one.status.observers, 1);
    assert_eq!(one.stale_in, Some(Duration::from_secs(6)));
    assert_eq!(one.gc_in, None, "in use");
    assert_eq!(two.gc_in, Some(Duration::from_secs(60)));
    // Data as JSON only where devtools are compiled in (tests are debug builds).
    if cfg!(feature = "devtools") {
        assert_eq!(one.data_json.as_deref(), Some(r#""1#1""#));
    } else {
        assert_eq!(one.data_json, None);
    }

    assert!(!client.cache().remove(&query.key(&1)), "in use: stays");
    assert!(client.cache().remove(&query.key(&2)));
    assert_eq!(client.len(), 1);
    client.invalidate(&[app_tags::todos::all()]);
    assert_eq!(client.cache().inspect()[0].stale_in, None, "invalidated");
    drop(child);
}
