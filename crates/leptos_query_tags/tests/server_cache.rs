//! The server-side tagged cache (feature `server-cache`): hits, misses, one load for
//! concurrent misses, purges by prefix, purges only after a server function's `Ok` (and before
//! its response), purges on another instance through Redis, cleared on `reset`, bounded.

mod support;
#[cfg(feature = "redis")]
#[path = "support/redis.rs"]
mod test_redis;

use axum::routing::post;
use axum::Router;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_query_tags::server::{cached, invalidate_tags, Hub, ServerCache};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{Serving, TestServer};

leptos_query_tags::tag_tree! {
    mod app_tags {
        users {
            by_id(id: i64);
        }
        todos {
            list;
        }
    }
}

const TTL: Duration = Duration::from_secs(60);

/// Counts calls of a load.
fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

/// A load that counts its calls and returns the count.
fn counting(
    calls: &Arc<AtomicUsize>,
) -> impl FnOnce() -> std::future::Ready<Result<usize, String>> {
    let calls = calls.clone();
    move || std::future::ready(Ok(calls.fetch_add(1, Ordering::SeqCst) + 1))
}

#[tokio::test]
async fn a_second_read_is_a_hit_and_errors_are_not_stored() {
    let cache = ServerCache::builder().build();
    let calls = counter();
    let tags = [app_tags::users::by_id(1)];
    assert_eq!(
        cache
            .get_or_load("a", tags.clone(), TTL, counting(&calls))
            .await,
        Ok(1)
    );
    assert_eq!(
        cache
            .get_or_load("a", tags.clone(), TTL, counting(&calls))
            .await,
        Ok(1)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));

    // One key holds one value per type: a String under "a" is another entry.
    let text = cache
        .get_or_load("a", tags.clone(), TTL, || async {
            Ok::<_, String>("text".to_owned())
        })
        .await;
    assert_eq!(text.as_deref(), Ok("text"));

    // A failed load is returned, not stored: the next read loads again.
    let failed = cache
        .get_or_load("b", tags.clone(), TTL, || async {
            Err::<usize, _>("down".to_owned())
        })
        .await;
    assert_eq!(failed, Err("down".to_owned()));
    assert_eq!(
        cache.get_or_load("b", tags, TTL, counting(&calls)).await,
        Ok(2)
    );
}

#[tokio::test]
async fn concurrent_misses_of_one_key_load_once() {
    let cache = ServerCache::builder().build();
    let calls = counter();
    let reads = (0..20).map(|_| {
        let (cache, calls) = (cache.clone(), calls.clone());
        tokio::spawn(async move {
            cache
                .get_or_load("slow", [app_tags::todos::list()], TTL, || async move {
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, String>(n)
                })
                .await
        })
    });
    let results = futures::future::join_all(reads).await;
    assert!(results.into_iter().all(|r| r.unwrap() == Ok(1)));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one load for 20 readers");
}

#[tokio::test]
async fn a_purge_reaches_the_entries_its_pattern_is_a_prefix_of() {
    let cache = ServerCache::builder().build();
    let calls = counter();
    for (key, tag) in [
        ("u1", app_tags::users::by_id(1)),
        ("u2", app_tags::users::by_id(2)),
        ("todos", app_tags::todos::list()),
    ] {
        cache
            .get_or_load(key, [tag], TTL, counting(&calls))
            .await
            .unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // `users.by_id(2)` purges one entry; `users` both; `todos` stays.
    assert_eq!(cache.purge(&[app_tags::users::by_id(2).into()]), 1);
    assert_eq!(
        cache.purge(&[app_tags::users::all()]),
        1,
        "u1 (u2 is gone already)"
    );
    for key in ["u1", "u2"] {
        cache
            .get_or_load(key, [app_tags::users::by_id(0)], TTL, counting(&calls))
            .await
            .unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5, "both users reloaded");
    cache
        .get_or_load("todos", [app_tags::todos::list()], TTL, counting(&calls))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 5, "todos was not purged");
    assert_eq!(cache.stats().purged, 2);
}

#[tokio::test]
async fn a_load_in_flight_when_a_purge_reaches_it_is_returned_but_not_served_again() {
    let cache = ServerCache::builder().build();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let slow = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_load("stats", [app_tags::users::by_id(7)], TTL, || async move {
                    let _ = released.await;
                    Ok::<_, String>("old")
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The data changes while the slow load runs.
    cache.purge(&[app_tags::users::by_id(7).into()]);
    release.send(()).unwrap();
    assert_eq!(
        slow.await.unwrap(),
        Ok("old"),
        "its own caller gets what it loaded"
    );
    let after = cache
        .get_or_load("stats", [app_tags::users::by_id(7)], TTL, || async {
            Ok::<_, String>("new")
        })
        .await;
    assert_eq!(after, Ok("new"), "a read after the purge loads again");
}

#[tokio::test]
async fn entries_expire_after_their_ttl_and_the_entry_bound_holds() {
    let cache = ServerCache::builder().max_entries(50).build();
    let calls = counter();
    cache
        .get_or_load(
            "short",
            [app_tags::todos::list()],
            Duration::from_millis(30),
            counting(&calls),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    cache
        .get_or_load("short", [app_tags::todos::list()], TTL, counting(&calls))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "expired, loaded again");

    for n in 0..500 {
        cache
            .get_or_load(
                &format!("k{n}"),
                [app_tags::users::by_id(n)],
                TTL,
                counting(&calls),
            )
            .await
            .unwrap();
    }
    cache.run_pending_tasks().await;
    let entries = cache.stats().entries;
    assert!(entries <= 50, "{entries} entries kept, bound 50");
    assert!(entries > 0);
}

#[tokio::test]
async fn the_byte_bound_holds() {
    let cache = ServerCache::builder().max_bytes(10_000).build();
    for n in 0..200 {
        // ~1 KB each as JSON: at most ~10 fit.
        cache
            .get_or_load(
                &format!("blob{n}"),
                [app_tags::users::by_id(n)],
                TTL,
                || async { Ok::<_, String>("x".repeat(1000)) },
            )
            .await
            .unwrap();
    }
    cache.run_pending_tasks().await;
    let entries = cache.stats().entries;
    assert!(
        (1..=10).contains(&entries),
        "{entries} blobs of ~1 KB kept under 10 KB"
    );
}

// ---- Through the hub: server functions, read-your-writes, Err publishes (and purges) nothing.

static LOADS: Mutex<Option<HashMap<i64, usize>>> = Mutex::new(None);

fn loads(user: i64) -> usize {
    LOADS
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .get(&user)
        .copied()
        .unwrap_or(0)
}

/// An expensive read: cached per user, tagged with the user.
#[server]
async fn user_stats(user: i64) -> Result<usize, ServerFnError> {
    cached(
        &format!("stats:{user}"),
        [app_tags::users::by_id(user)],
        TTL,
        || async move {
            let mut loads = LOADS.lock().unwrap();
            let n = loads
                .get_or_insert_with(HashMap::new)
                .entry(user)
                .or_insert(0);
            *n += 1;
            Ok(*n)
        },
    )
    .await
}

/// A write that succeeds: its invalidation purges the stats once it has returned Ok.
#[server]
async fn save_user(user: i64) -> Result<(), ServerFnError> {
    invalidate_tags([app_tags::users::by_id(user)])?;
    Ok(())
}

/// A write that fails after invalidating: nothing is published, nothing purged.
#[server]
async fn fail_user(user: i64) -> Result<(), ServerFnError> {
    invalidate_tags([app_tags::users::by_id(user)])?;
    Err(ServerFnError::new("read-only"))
}

async fn call(server: &TestServer, path: &str, user: i64) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("user={user}"))
        .send()
        .await
        .unwrap()
}

async fn stats_of(server: &TestServer, user: i64) -> usize {
    let response = call(server, UserStats::PATH, user).await;
    assert!(response.status().is_success());
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_server_function_purges_on_ok_before_its_response_and_not_on_err() {
    let hub = Hub::builder()
        .server_cache(ServerCache::builder().build())
        .build();
    let app =
        hub.mount(Router::new().route("/api/{*fn_name}", post(leptos_axum::handle_server_fns)));
    let server = TestServer::start(Serving::Hub, &hub, app).await;
    let user = 101;

    assert_eq!(stats_of(&server, user).await, 1);
    assert_eq!(stats_of(&server, user).await, 1, "cached");

    assert!(call(&server, FailUser::PATH, user)
        .await
        .status()
        .is_server_error());
    assert_eq!(stats_of(&server, user).await, 1, "an Err purges nothing");

    assert!(call(&server, SaveUser::PATH, user)
        .await
        .status()
        .is_success());
    // The very next request, right after the response: read-your-writes.
    assert_eq!(
        stats_of(&server, user).await,
        2,
        "purged before the response was sent"
    );
    assert_eq!(loads(user), 2);
    assert_eq!(loads(user + 1), 0);
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn an_invalidation_on_one_instance_purges_the_cache_of_another_and_a_reset_clears_it() {
    let mut redis = test_redis::TestRedis::start().await;
    let caches = [
        ServerCache::builder().build(),
        ServerCache::builder().build(),
    ];
    let hubs: Vec<Hub> = caches
        .iter()
        .map(|cache| {
            Hub::builder()
                .redis(redis.url.clone())
                .server_cache(cache.clone())
                .build()
        })
        .collect();
    // Both follow the shared log (their first look at it clears their caches, as any
    // history they might have missed is unknown).
    tokio::time::timeout(Duration::from_secs(5), async {
        while !hubs
            .iter()
            .all(|h| h.stats().backend_connected && h.epoch() == hubs[0].epoch())
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("both instances follow the shared log");
    let clears_before: Vec<u64> = caches.iter().map(|c| c.stats().clears).collect();
    let calls = counter();
    for cache in &caches {
        cache
            .get_or_load("u9", [app_tags::users::by_id(9)], TTL, counting(&calls))
            .await
            .unwrap();
        cache
            .get_or_load("todos", [app_tags::todos::list()], TTL, counting(&calls))
            .await
            .unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    // Published on instance 0: instance 1 purges when the event reaches it through Redis.
    hubs[0]
        .invalidate_tags([app_tags::users::by_id(9)])
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while caches[1].stats().purged == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("instance 1 purges within 5 s");
    let reload = caches[1]
        .get_or_load("u9", [app_tags::users::by_id(9)], TTL, counting(&calls))
        .await
        .unwrap();
    assert_eq!(reload, 5, "loaded again on instance 1");
    caches[1]
        .get_or_load("todos", [app_tags::todos::list()], TTL, counting(&calls))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 5, "the other entry stayed");

    // Redis restarted empty: history is lost, every instance resets, and clears its cache.
    redis.kill();
    redis.restart().await;
    hubs[0]
        .invalidate_tags([app_tags::users::by_id(1)])
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while caches
            .iter()
            .zip(&clears_before)
            .any(|(c, before)| c.stats().clears == *before)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("both instances clear their caches after the reset");
    caches[1]
        .get_or_load("todos", [app_tags::todos::list()], TTL, counting(&calls))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 6, "cleared: loaded again");
}
