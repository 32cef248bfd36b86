//! The store on its own: entries, fetch dedup, invalidation versions, coalescing, tags from data,
//! writes, gc. A manual clock for the library's timers and a paused tokio runtime, so a wait
//! (`settle`) ends exactly when no task can run and every assert is deterministic.

use super::*;
use crate::cache::ManualClock;
use crate::tags::Segment;
use futures::FutureExt;
use tokio::task::JoinHandle;

/// How the test answers one fetch (taken once answered).
type Answer = Option<oneshot::Sender<Result<Value, Value>>>;

/// A fake server: every fetch waits until the test answers it, in call order.
#[derive(Clone, Default)]
struct Server {
    calls: Arc<Mutex<Vec<Answer>>>,
}

impl Server {
    fn fetch(&self) -> FetchFn {
        let calls = self.calls.clone();
        Arc::new(move || {
            let (answer, answered) = oneshot::channel();
            calls.lock().unwrap().push(Some(answer));
            async move {
                answered
                    .await
                    .unwrap_or_else(|_| Err(text("never answered")))
            }
            .boxed()
        })
    }

    fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    /// Answers call `i`; a call whose fetch was aborted meanwhile has no one listening.
    fn answer(&self, i: usize, result: Result<&str, &str>) {
        let answer = self.calls.lock().unwrap()[i].take().expect("answered once");
        let _ = answer.send(result.map(text).map_err(text));
    }
}

fn text(s: &str) -> Value {
    Arc::new(s.to_owned())
}

fn as_text(value: &Value) -> String {
    value.downcast_ref::<String>().expect("a String").clone()
}

fn data_of(outcome: Outcome) -> String {
    match outcome {
        Outcome::Data(value) => as_text(&value),
        Outcome::Failed(error) => panic!("failed: {}", as_text(&error)),
        Outcome::Superseded => panic!("superseded"),
        Outcome::Cancelled => panic!("cancelled"),
    }
}

fn tag(path: &[&'static str]) -> Tag {
    Tag::from_segments(path.iter().map(|s| Segment::from(*s)))
}

fn pattern(path: &[&'static str]) -> TagPattern {
    TagPattern::from(tag(path))
}

fn key(name: &str, id: u32) -> QueryKey {
    QueryKey::new::<String>(name, &id)
}

fn spec(server: &Server, tags: Vec<Tag>, options: CacheOptions) -> FetchSpec {
    FetchSpec {
        fetch: server.fetch(),
        tags,
        result_tags: None,
        options,
        to_json: None,
    }
}

fn new_cache() -> (QueryCache, Arc<ManualClock>) {
    let _ = any_spawner::Executor::init_tokio();
    let clock = Arc::new(ManualClock::new());
    (QueryCache::new(clock.clone()), clock)
}

/// Runs every task that can run: the query tests' helper (the runtime's clock is paused).
#[path = "../../tests/support/settle.rs"]
#[allow(unreachable_pub)] // `pub` for the integration tests that share it
mod settle;
use settle::settle;

/// A reader awaiting `key`, as `fetch_query` or a component's resource does.
fn read(cache: &QueryCache, key: &QueryKey, spec: &FetchSpec) -> JoinHandle<String> {
    let (cache, key, spec) = (cache.clone(), key.clone(), spec.clone());
    tokio::spawn(async move { data_of(cache.read(&key, &spec).await) })
}

/// A reader of `key` whose fetch (the server's call number `call`) is answered `value`: what
/// the reader got.
async fn read_answered(
    cache: &QueryCache,
    server: &Server,
    key: &QueryKey,
    spec: &FetchSpec,
    call: usize,
    value: &str,
) -> String {
    let reader = read(cache, key, spec);
    settle().await;
    server.answer(call, Ok(value));
    reader.await.unwrap()
}

/// A component observing `key`; returns the notices it receives.
fn observe(cache: &QueryCache, key: &QueryKey, spec: &FetchSpec) -> (u64, Arc<Mutex<Vec<Notice>>>) {
    let notices = Arc::new(Mutex::new(Vec::new()));
    let seen = notices.clone();
    let listener: Listener = Arc::new(move |notice| seen.lock().unwrap().push(notice));
    (cache.add_observer(key, spec, listener), notices)
}

fn data(cache: &QueryCache, key: &QueryKey) -> Option<String> {
    cache.data(key).as_ref().map(as_text)
}

#[tokio::test(start_paused = true)]
async fn concurrent_readers_of_one_key_share_one_fetch() {
    let (cache, _) = new_cache();
    let server = Server::default();
    let k = key("todo", 1);
    let s = spec(&server, vec![], CacheOptions::default());
    let (a, b) = (read(&cache, &k, &s), read(&cache, &k, &s));
    settle().await;
    assert_eq!(
        server.count(),
        1,
        "the second reader joined the first fetch"
    );
    assert!(cache.status(&k).unwrap().is_fetching);

    server.answer(0, Ok("one"));
    assert_eq!(a.await.unwrap(), "one");
    assert_eq!(b.await.unwrap(), "one");
    let status = cache.status(&k).unwrap();
    assert!(status.has_data && !status.is_fetching && !status.has_error);
    assert_eq!(cache.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn fresh_data_is_served_from_the_cache_until_its_stale_time() {
    let (cache, clock) = new_cache();
    let server = Server::default();
    let k = key("todo", 1);
    let options = CacheOptions {
        stale_time: Duration::from_secs(10),
        ..CacheOptions::default()
    };
    let s = spec(&server, vec![], options);
    assert_eq!(
        read_answered(&cache, &server, &k, &s, 0, "one").await,
        "one"
    );

    clock.advance(Duration::from_secs(9));
    assert_eq!(data_of(cache.read(&k, &s).await), "one");
    assert_eq!(server.count(), 1, "fresh: no fetch");

    clock.advance(Duration::from_secs(1));
    assert!(cache.status(&k).unwrap().is_stale);
    let again = read(&cache, &k, &s);
    settle().await;
    assert_eq!(server.count(), 2, "stale after 10 s: a fetch");
    server.answer(1, Ok("two"));
    assert_eq!(again.await.unwrap(), "two");
}

#[tokio::test(start_paused = true)]
async fn a_reader_after_an_invalidation_never_gets_data_from_before_it() {
    let (cache, _) = new_cache();
    let server = Server::default();
    let k = key("todo", 1);
    let s = spec(&server, vec![tag(&["todos"])], CacheOptions::default());
    let early = read(&cache, &k, &s);
    settle().await;
    assert_eq!(cache.invalidate_keys(std::slice::from_ref(&k)), 1);
    let late = read(&cache, &k, &s);
    settle().await;
    assert_eq!(
        server.count(),
        2,
        "the fetch from before the change cannot answer a reader after it"
    );

    // The old fetch was superseded: its answer lands nowhere, both readers get the new one.
    server.answer(0, Ok("before"));
    server.answer(1, Ok("after"));
    assert_eq!(early.await.unwrap(), "after");
    assert_eq!(late.await.unwrap(), "after");
    assert_eq!(data(&cache, &k).as_deref(), Some("after"));
    assert!(!cache.status(&k).unwrap().is_invalidated);
}

#[tokio::test(start_paused = true)]
async fn an_entry_in_use_invalidated_during_a_fetch_stays_stale_until_one_trailing_fetch() {
    let (cache, _) = new_cache();
    let server = Server::default();
    let k = key("todo", 1);
    let s = spec(&server, vec![tag(&["todos"])], CacheOptions::default());
    let (_, notices) = observe(&cache, &k, &s);
    let first = read(&cache, &k, &s);
    settle().await;
    for _ in 0..5 {
        cache.invalidate(&[pattern(&["todos"])]);
    }
    settle().await;
    assert_eq!(server.count(), 1, "the fetch in flight is left to finish");

    server.answer(0, Ok("before"));
    settle().await;
    assert_eq!(server.count(), 2, "five invalidations: one trailing fetch");
    let status = cache.status(&k).unwrap();
    assert!(status.has_data && status.is_invalidated && status.is_stale && status.is_fetching);
    assert_eq!(
        data(&cache, &k).as_deref(),
        Some("before"),
        "better than nothing, but stale"
    );

    server.answer(1, Ok("after"));
    assert_eq!(
        first.await.unwrap(),
        "after",
        "its reader awaited the trailing fetch"
    );
    let status = cache.status(&k).unwrap();
    assert!(!status.is_invalidated && !status.is_fetching);
    let notices = notices.lock().unwrap();
    assert_eq!(
        notices.iter().filter(|n| **n == Notice::Refetch).count(),
        5,
        "the observer hears each invalidation; the reactive layer batches them"
    );
    assert!(notices.contains(&Notice::Data));
}

#[tokio::test(start_paused = true)]
async fn a_burst_refetches_each_entry_in_use_once_and_marks_unused_ones_stale() {
    let (cache, _) = new_cache();
    let server = Server::default();
    let options = CacheOptions::default();
    let list = key("todos", 0);
    let one = key("todo", 1);
    let unused = key("todo", 2);
    let specs = [
        spec(&server, vec![tag(&["todos", "list"])], options),
        spec(&server, vec![tag(&["todos", "one"])], options),
        spec(&server, vec![tag(&["todos", "two"])], options),
    ];
    for (i, k) in [&list, &one, &unused].into_iter().enumerate() {
        read_answered(&cache, &server, k, &specs[i], i, "v1").await;
    }
    observe(&cache, &list, &specs[0]);
    observe(&cache, &one, &specs[1]);

    for _ in 0..100 {
        assert_eq!(cache.invalidate(&[pattern(&["todos"])]), 3);
    }
    settle().await;
    assert_eq!(
        server.count(),
        3 + 2,
        "one refetch per entry in use, none for the unused one"
    );
    let unused_status = cache.status(&unused).unwrap();
    assert!(unused_status.is_invalidated && !unused_status.is_fetching);
    let inspected = cache.inspect_key(&unused).unwrap();
    assert_eq!((inspected.invalidations, inspected.fetches), (100, 1));

    // Its next use fetches.
    let next = read(&cache, &unused, &specs[2]);
    settle().await;
    assert_eq!(server.count(), 6);
    server.answer(5, Ok("v2"));
    assert_eq!(next.await.unwrap(), "v2");

    // Refetched, the entries in use are queued again by the next invalidation.
    server.answer(3, Ok("v2"));
    server.answer(4, Ok("v2"));
    settle().await;
    assert_eq!(cache.invalidate(&[pattern(&["todos", "list"])]), 1);
    settle().await;
    assert_eq!(server.count(), 7, "the list refetches again");
}

#[tokio::test(start_paused = true)]
async fn invalidate_matching_says_which_entries_refetch_now() {
    let (cache, _) = new_cache();
    let server = Server::default();
    let options = CacheOptions::default();
    let (a, b, c) = (key("a", 0), key("b", 0), key("c", 0));
    let spec_a = spec(&server, vec![tag(&["todos", "list"])], options);
    cache.seed(&a, text("a"), &spec_a);
    cache.seed(
        &b,
        text("b"),
        &spec(&server, vec![tag(&["todos", "one"])], options),
    );
    cache.seed(
        &c,
        text("c"),
        &spec(&server, vec![tag(&["notes"])], options),
    );
    observe(&cache, &a, &spec_a);

    assert_eq!(
        cache.invalidate_matching(&[pattern(&["todos"])]),
        vec![(a.clone(), true), (b.clone(), false)]
    );
    assert_eq!(
        cache.invalidate_matching_except(&[pattern(&["todos"])], std::slice::from_ref(&a)),
        vec![(b.clone(), false)],
        "a query the caller already refetched is left out"
    );
    assert!(
        !cache.status(&c).unwrap().is_invalidated,
        "another tag: untouched"
    );
    assert_eq!(cache.invalidate_every().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn tags_derived_from_the_data_follow_the_data() {
    let (cache, _) = new_cache();
    let server = Server::default();
    let k = key("todo", 1);
    let mut s = spec(&server, vec![], CacheOptions::default());
    // Each value tags the entry with ["owner", <value>].
    s.result_tags = Some(Arc::new(|value: &Value| {
        vec![Tag::from_segments([
            Segment::from("owner"),
            Segment::from(as_text(value)),
        ])]
    }));
    read_answered(&cache, &server, &k, &s, 0, "ann").await;
    let owner = |name: &str| {
        TagPattern::from_segments([Segment::from("owner"), Segment::from(name.to_owned())])
    };
    assert_eq!(
        cache.tags_of(&k),
        vec![Tag::from_segments([
            Segment::from("owner"),
            Segment::from("ann")
        ])]
    );
    assert_eq!(cache.invalidate(&[owner("ann")]), 1);
    assert_eq!(cache.invalidate(&[owner("bob")]), 0);

    // A write re-derives them: the old tag no longer reaches the entry.
    cache.set_data(&k, text("bob"), &s);
    assert_eq!(cache.invalidate(&[owner("ann")]), 0);
    assert_eq!(cache.invalidate(&[owner("bob")]), 1);
}

#[tokio::test(start_paused = true)]
async fn unused_entries_are_collected_after_their_gc_time_and_leave_the_tag_index() {
    let (cache, clock) = new_cache();
    let server = Server::default();
    let k = key("todo", 1);
    let options = CacheOptions {
        gc_time: Duration::from_secs(60),
        ..CacheOptions::default()
    };
    let s = spec(&server, vec![tag(&["todos"])], options);
    let (observer, _) = observe(&cache, &k, &s);
    read_answered(&cache, &server, &k, &s, 0, "one").await;
    assert!(!cache.remove(&k), "in use: not removable");

    cache.remove_observer(&k, observer);
    clock.advance(Duration::from_secs(59));
    settle().await;
    assert_eq!(cache.len(), 1);
    assert_eq!(
        cache.inspect_key(&k).unwrap().gc_in,
        Some(Duration::from_secs(1))
    );
    clock.advance(Duration::from_secs(1));
    settle().await;
    assert_eq!(cache.len(), 0, "collected after 60 s unused");
    assert_eq!(
        cache.invalidate(&[pattern(&["todos"])]),
        0,
        "and gone from the index"
    );
}

#[tokio::test(start_paused = true)]
async fn an_entry_with_a_fetch_in_flight_is_never_collected() {
    let (cache, clock) = new_cache();
    let server = Server::default();
    let k = key("todo", 1);
    let options = CacheOptions {
        gc_time: Duration::from_secs(1),
        ..CacheOptions::default()
    };
    let s = spec(&server, vec![], options);
    let reader = read(&cache, &k, &s);
    settle().await;
    clock.advance(Duration::from_secs(5));
    assert_eq!(cache.collect_garbage(), 0);
    assert!(!cache.remove(&k), "a fetch is running");

    server.answer(0, Ok("one"));
    reader.await.unwrap();
    // Unused once its fetch ended: collected a gc time later.
    clock.advance(Duration::from_secs(1));
    settle().await;
    assert_eq!(cache.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_write_cancels_the_fetch_in_flight_and_its_readers_get_the_write() {
    let (cache, _) = new_cache();
    let server = Server::default();
    let k = key("todo", 1);
    let s = spec(&server, vec![], CacheOptions::default());
    let reader = read(&cache, &k, &s);
    settle().await;
    cache.set_data(&k, text("written"), &s);
    assert_eq!(reader.await.unwrap(), "written");
    assert!(!cache.status(&k).unwrap().is_fetching);

    // The cancelled fetch's late answer changes nothing.
    server.answer(0, Ok("late"));
    settle().await;
    assert_eq!(data(&cache, &k).as_deref(), Some("written"));
}

#[tokio::test(start_paused = true)]
async fn a_rollback_restores_only_a_write_nothing_replaced() {
    let (cache, _) = new_cache();
    let server = Server::default();
    let k = key("todo", 1);
    let s = spec(&server, vec![], CacheOptions::default());
    cache.set_data(&k, text("server"), &s);

    let optimistic = text("optimistic");
    cache.set_data(&k, optimistic.clone(), &s);
    assert!(cache.restore(&k, &optimistic, Some(text("server"))));
    assert_eq!(data(&cache, &k).as_deref(), Some("server"));

    let optimistic = text("optimistic again");
    cache.set_data(&k, optimistic.clone(), &s);
    cache.set_data(&k, text("newer"), &s);
    assert!(!cache.restore(&k, &optimistic, Some(text("server"))));
    assert_eq!(
        data(&cache, &k).as_deref(),
        Some("newer"),
        "a newer write stays"
    );
    assert!(
        !cache.restore(&key("todo", 2), &optimistic, None),
        "no such entry"
    );
}

#[tokio::test(start_paused = true)]
async fn server_data_seeds_an_entry_once_and_tells_no_one() {
    let (cache, _) = new_cache();
    let server = Server::default();
    let k = key("todo", 1);
    let s = spec(&server, vec![tag(&["todos"])], CacheOptions::default());
    let (_, notices) = observe(&cache, &k, &s);
    assert!(cache.seed(&k, text("ssr"), &s));
    assert!(!cache.seed(&k, text("again"), &s));
    assert_eq!(data(&cache, &k).as_deref(), Some("ssr"));
    assert!(
        notices.lock().unwrap().is_empty(),
        "observers already show this value"
    );
    assert_eq!(
        cache.invalidate(&[pattern(&["todos"])]),
        1,
        "seeded data is reachable by tag"
    );
    assert_eq!(server.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn tagged_entries_stay_fresh_while_the_stream_is_open() {
    let (cache, _) = new_cache();
    let server = Server::default();
    let options = CacheOptions::default();
    let (tagged, untagged, opted_out) = (key("a", 0), key("b", 0), key("c", 0));
    let tagged_spec = spec(&server, vec![tag(&["todos"])], options);
    cache.seed(&tagged, text("a"), &tagged_spec);
    cache.seed(&untagged, text("b"), &spec(&server, vec![], options));
    let no_live = CacheOptions {
        fresh_while_live: false,
        ..options
    };
    cache.seed(
        &opted_out,
        text("c"),
        &spec(&server, vec![tag(&["todos"])], no_live),
    );
    let stale = |k: &QueryKey| cache.status(k).unwrap().is_stale;

    assert!(
        stale(&tagged) && stale(&untagged) && stale(&opted_out),
        "stale_time 0"
    );
    cache.set_live(true);
    assert!(!stale(&tagged), "the hub will say when it changes");
    assert!(stale(&untagged), "no tag: no event can reach it");
    assert!(stale(&opted_out));
    assert_eq!(data_of(cache.read(&tagged, &tagged_spec).await), "a");
    assert_eq!(server.count(), 0, "served without a fetch");

    cache.invalidate(&[pattern(&["todos"])]);
    assert!(
        stale(&tagged),
        "an invalidation makes it stale, live or not"
    );
    cache.set_live(false);
    cache.set_data(&tagged, text("a2"), &tagged_spec);
    assert!(stale(&tagged), "not live: stale_time applies again");
}

#[tokio::test(start_paused = true)]
async fn focus_reruns_only_stale_entries_in_use_that_want_it() {
    let (cache, _) = new_cache();
    let server = Server::default();
    let options = CacheOptions::default();
    let no_focus = CacheOptions {
        refetch_on_window_focus: false,
        ..options
    };
    let fresh = CacheOptions {
        stale_time: Duration::from_secs(60),
        ..options
    };
    let keys = [key("a", 0), key("b", 0), key("c", 0), key("d", 0)];
    let specs = [
        spec(&server, vec![], options),
        spec(&server, vec![], no_focus),
        spec(&server, vec![], fresh),
        spec(&server, vec![], options),
    ];
    let mut heard = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        cache.set_data(k, text("v"), &specs[i]);
        // The last one is cached but not in use.
        if i < 3 {
            heard.push(observe(&cache, k, &specs[i]).1);
        }
    }
    assert_eq!(cache.rerun_stale(|o| o.refetch_on_window_focus), 1);
    assert_eq!(heard[0].lock().unwrap().as_slice(), &[Notice::Stale]);
    assert!(heard[1].lock().unwrap().is_empty() && heard[2].lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn pending_mutations_are_counted_on_the_entries_they_affect() {
    let (cache, _) = new_cache();
    let server = Server::default();
    let options = CacheOptions::default();
    let (list, note) = (key("todos", 0), key("note", 0));
    cache.seed(
        &list,
        text("l"),
        &spec(&server, vec![tag(&["todos", "list"])], options),
    );
    cache.seed(
        &note,
        text("n"),
        &spec(&server, vec![tag(&["notes"])], options),
    );
    assert_eq!(cache.mark_mutating(&[pattern(&["todos"])], 1), 1);
    assert_eq!(cache.mark_mutating(&[pattern(&["todos"])], 1), 1);
    assert_eq!(cache.status(&list).unwrap().pending_mutations, 2);
    assert_eq!(cache.status(&note).unwrap().pending_mutations, 0);
    assert!(!cache.remove(&list), "a mutation is busy with it");
    for _ in 0..3 {
        cache.mark_mutating(&[pattern(&["todos"])], -1);
    }
    assert_eq!(
        cache.status(&list).unwrap().pending_mutations,
        0,
        "never below zero"
    );
    assert!(cache.remove(&list));
    assert_eq!(cache.keys(), vec![note]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_fetch_keeps_the_previous_data_and_counts_the_failure() {
    let (cache, _) = new_cache();
    let server = Server::default();
    let k = key("todo", 1);
    let options = CacheOptions {
        retry: 0,
        ..CacheOptions::default()
    };
    let s = spec(&server, vec![], options);
    cache.set_data(&k, text("old"), &s);
    cache.invalidate_keys(std::slice::from_ref(&k));
    let (cache2, k2, s2) = (cache.clone(), k.clone(), s.clone());
    let reader = tokio::spawn(async move { cache2.read(&k2, &s2).await });
    settle().await;
    server.answer(0, Err("down"));
    match reader.await.unwrap() {
        Outcome::Failed(error) => assert_eq!(as_text(&error), "down"),
        _ => panic!("the reader gets the error"),
    }
    let status = cache.status(&k).unwrap();
    assert!(status.has_error && status.has_data && status.is_invalidated);
    assert_eq!(status.failure_count, 1);
    assert_eq!(data(&cache, &k).as_deref(), Some("old"));
}
