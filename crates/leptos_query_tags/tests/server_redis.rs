//! Several hubs on one Redis (feature `redis`): the same events, with the same ids, in the same
//! order on every instance; resume anywhere; every failure ends in a `reset`, never silence.

mod support;
#[path = "support/redis.rs"]
mod test_redis;

use axum::Router;
use leptos_query_tags::protocol::{Reset, ResetReason, Scope};
use leptos_query_tags::server::Hub;
use leptos_query_tags::tags::Tag;
use proptest::prelude::*;
use std::time::Duration;
use support::{header_scopes, Serving, SseClient, TestServer, EVENTS};
use test_redis::TestRedis;

struct Instance {
    hub: Hub,
    server: TestServer,
}

async fn instances(redis: &TestRedis, n: usize, replay: usize) -> Vec<Instance> {
    let mut out = Vec::new();
    for _ in 0..n {
        let hub = Hub::builder()
            .scope_resolver(header_scopes)
            .replay_capacity(replay)
            .redis(redis.url.clone())
            .build();
        let server = TestServer::start(Serving::Hub, &hub, hub.mount(Router::new())).await;
        out.push(Instance { hub, server });
    }
    out
}

fn tag(k: usize) -> Tag {
    Tag::from_segments(["e".into(), (k as i64).into()])
}

/// Reads invalidations until the one tagged `["e", end]`; returns (id, k) of each.
async fn until(stream: &mut SseClient, end: usize) -> Vec<(String, usize)> {
    let mut got = Vec::new();
    loop {
        let event = stream.expect("invalidate").await;
        let value: serde_json::Value = serde_json::from_str(&event.data).unwrap();
        let k = value["tags"][0][1].as_u64().unwrap() as usize;
        got.push((event.id.clone().unwrap(), k));
        if k == end {
            return got;
        }
    }
}

/// Waits until `hub` has taken in the shared log up to `seq`.
async fn caught_up(hub: &Hub, seq: u64) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while hub.cursor().seq < seq {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the instance follows the log: at {}, waiting for {seq}",
            hub.cursor()
        )
    });
}

/// Subscribers on given instances for given users (each also receives global events); publishes
/// on given instances in given scopes (0: global, u: user `u-1`): every subscriber gets exactly
/// the events of its scopes, with the same dense ids, in publish order.
async fn same_events_everywhere(
    subscribers: Vec<(usize, usize)>,
    publishes: Vec<(usize, usize)>,
) -> Result<(), TestCaseError> {
    let redis = TestRedis::start().await;
    let nodes = instances(&redis, 3, 1024).await;
    let users = ["u0", "u1", "u2"];
    let mut streams = Vec::new();
    for &(i, u) in &subscribers {
        let mut stream =
            SseClient::connect_with(&nodes[i].server.url(EVENTS), &[("x-user", users[u])]).await;
        stream.expect("hello").await;
        streams.push((i, users[u], stream));
    }
    let mut published = Vec::new();
    for (k, &(i, scope)) in publishes.iter().enumerate() {
        let scope = match scope {
            0 => Scope::global(),
            u => Scope::keyed("user", users[u - 1]).unwrap(),
        };
        let id = nodes[i].hub.publish(scope.clone(), [tag(k)]).await.unwrap();
        published.push((id, scope, k));
    }
    let end = publishes.len();
    let last = nodes[end % 3]
        .hub
        .publish(Scope::global(), [tag(end)])
        .await
        .unwrap();
    published.push((last, Scope::global(), end));

    let first = published[0].0;
    for (n, (id, _, _)) in published.iter().enumerate() {
        prop_assert_eq!(
            (id.epoch, id.seq),
            (first.epoch, first.seq + n as u64),
            "dense ids"
        );
    }
    for (i, user, stream) in &mut streams {
        let expected: Vec<(String, usize)> = published
            .iter()
            .filter(|(_, scope, _)| scope.is_global() || scope.as_str() == format!("user:{user}"))
            .map(|(id, _, k)| (id.to_string(), *k))
            .collect();
        let got = until(stream, end).await;
        prop_assert_eq!(got, expected, "instance {}, user {}", i, user);
    }
    for node in &nodes {
        // An instance takes in the log asynchronously (its follower): one that serves none of
        // the streams above may be a moment behind them.
        caught_up(&node.hub, last.seq).await;
        prop_assert_eq!(node.hub.cursor(), last);
        let stats = node.hub.stats();
        prop_assert_eq!((stats.backend, stats.backend_connected), ("redis", true));
    }
    Ok(())
}

proptest! {
    // Each case starts a redis-server and three hubs: a few cases, each a different mix.
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn every_instance_delivers_the_same_events_with_the_same_ids(
        subscribers in prop::collection::vec((0..3usize, 0..3usize), 1..8),
        publishes in prop::collection::vec((0..3usize, 0..4usize), 1..50),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(same_events_everywhere(subscribers, publishes))?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_resumes_on_another_instance() {
    let redis = TestRedis::start().await;
    let nodes = instances(&redis, 3, 16).await;
    let mut first = SseClient::connect(&nodes[0].server.url(EVENTS), None).await;
    first.expect("hello").await;
    for k in 0..3 {
        nodes[0]
            .hub
            .publish(Scope::global(), [tag(k)])
            .await
            .unwrap();
    }
    let seen = until(&mut first, 2).await;
    let cursor = seen[2].0.clone();
    drop(first);

    // Five more through another instance, then the browser comes back on a third.
    let mut missed = Vec::new();
    for k in 3..8 {
        missed.push(
            nodes[1]
                .hub
                .publish(Scope::global(), [tag(k)])
                .await
                .unwrap(),
        );
    }
    caught_up(&nodes[2].hub, missed[4].seq).await;
    let mut back = SseClient::connect(&nodes[2].server.url(EVENTS), Some(&cursor)).await;
    back.expect("hello").await;
    let got = until(&mut back, 7).await;
    assert_eq!(
        got,
        missed
            .iter()
            .zip(3..)
            .map(|(id, k)| (id.to_string(), k))
            .collect::<Vec<_>>()
    );

    // An instance started after those events has none of them in its ring: it reads them back
    // from Redis, exactly.
    let late = instances(&redis, 1, 16).await;
    caught_up(&late[0].hub, missed[4].seq).await;
    let mut resumed = SseClient::connect(&late[0].server.url(EVENTS), Some(&cursor)).await;
    resumed.expect("hello").await;
    assert_eq!(
        until(&mut resumed, 7).await,
        missed
            .iter()
            .zip(3..)
            .map(|(id, k)| (id.to_string(), k))
            .collect::<Vec<_>>()
    );

    // A cursor older than what the instances keep: an explicit reset, not silence.
    for k in 8..100 {
        nodes[1]
            .hub
            .publish(Scope::global(), [tag(k)])
            .await
            .unwrap();
    }
    caught_up(&nodes[2].hub, missed[4].seq + 92).await;
    let mut stale = SseClient::connect(&nodes[2].server.url(EVENTS), Some(&cursor)).await;
    stale.expect("hello").await;
    let reset: Reset = serde_json::from_str(&stale.expect("reset").await.data).unwrap();
    assert_eq!(reset.reason, ResetReason::CursorTooOld);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_resets_every_stream() {
    let mut redis = TestRedis::start().await;
    let nodes = instances(&redis, 2, 1024).await;
    let mut streams = Vec::new();
    for node in &nodes {
        let mut stream = SseClient::connect(&node.server.url(EVENTS), None).await;
        stream.expect("hello").await;
        streams.push(stream);
    }
    nodes[0]
        .hub
        .publish(Scope::global(), [tag(0)])
        .await
        .unwrap();
    for stream in &mut streams {
        until(stream, 0).await;
    }
    let before = nodes[0].hub.epoch();

    redis.kill();
    // A server function's invalidation during the outage: queued, never an error.
    nodes[0].hub.invalidate_tags([tag(1)]).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.restart().await;

    // Every stream learns within 5 s that history was lost, and ends.
    for stream in &mut streams {
        let event = stream
            .next_event(Duration::from_secs(5))
            .await
            .expect("a reset, not the end");
        assert_eq!(event.event, "reset", "{event:?}");
        let reset: Reset = serde_json::from_str(&event.data).unwrap();
        assert_eq!(reset.reason, ResetReason::UnknownEpoch);
        assert_ne!(reset.cursor.epoch, before);
        assert_eq!(stream.next_event(Duration::from_secs(5)).await, None);
    }
    // Browsers reconnect from the reset's cursor and are live again, on the new epoch.
    for node in &nodes {
        let epoch = node.hub.epoch();
        assert_ne!(epoch, before);
    }
    let mut again = SseClient::connect(&nodes[1].server.url(EVENTS), None).await;
    again.expect("hello").await;
    nodes[0]
        .hub
        .publish(Scope::global(), [tag(2)])
        .await
        .unwrap();
    let got = until(&mut again, 2).await;
    assert_eq!(got.last().unwrap().1, 2);
    assert!(nodes[0].hub.stats().resets.unknown_epoch >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_keeps_streams_open_and_delivers_the_backlog_in_order() {
    let redis = TestRedis::start().await;
    let nodes = instances(&redis, 2, 1024).await;
    let mut stream = SseClient::connect(&nodes[1].server.url(EVENTS), None).await;
    stream.expect("hello").await;
    nodes[0]
        .hub
        .publish(Scope::global(), [tag(0)])
        .await
        .unwrap();
    until(&mut stream, 0).await;

    redis.pause(true);
    for k in 1..=5 {
        nodes[0].hub.invalidate_tags([tag(k)]).unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    redis.pause(false);

    let got = until(&mut stream, 5).await;
    assert_eq!(
        got.iter().map(|(_, k)| *k).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(nodes[1].hub.stats().resets, Default::default());
}

/// Chaos, bounded: clients keep a cached view of a shared "database", refetching what each
/// invalidation names (everything on `reset`) and reconnecting to a random instance whenever
/// their stream ends; writers bump random keys through random instances; meanwhile Redis is
/// killed and restarted empty, and instances are restarted. Once the writers stop, every
/// client's view must equal the database: no client stays stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_leaves_no_client_stale() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    const KEYS: i64 = 8;
    const CLIENTS: usize = 4;
    type Db = Arc<Mutex<HashMap<i64, u64>>>;
    let db: Db = Arc::new(Mutex::new((0..KEYS).map(|k| (k, 0)).collect()));
    let mut redis = TestRedis::start().await;

    let start_instance = |url: String| async move {
        let hub = Hub::builder().redis(url).build();
        let server = TestServer::start(Serving::Hub, &hub, hub.mount(Router::new())).await;
        Instance { hub, server }
    };
    let nodes: Arc<tokio::sync::RwLock<Vec<Instance>>> = Arc::new(tokio::sync::RwLock::new(vec![
        start_instance(redis.url.clone()).await,
        start_instance(redis.url.clone()).await,
    ]));

    // Clients: a view per key, kept fresh by the stream.
    let views: Vec<Arc<Mutex<HashMap<i64, u64>>>> = (0..CLIENTS)
        .map(|_| Arc::new(Mutex::new(db.lock().unwrap().clone())))
        .collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (c, view) in views.iter().enumerate() {
        let (view, db, nodes) = (view.clone(), db.clone(), nodes.clone());
        tasks.push(tokio::spawn(async move {
            let refetch = |keys: Option<Vec<i64>>| {
                let db = db.lock().unwrap();
                let mut view = view.lock().unwrap();
                for k in keys.unwrap_or_else(|| (0..KEYS).collect()) {
                    view.insert(k, db[&k]);
                }
            };
            let mut last: Option<String> = None;
            let mut round = c;
            // Until aborted at the end: clients go on listening while the writers settle.
            loop {
                round += 1;
                let url = {
                    let nodes = nodes.read().await;
                    nodes[round % nodes.len()].server.url(EVENTS)
                };
                let connect = match &last {
                    Some(id) => reqwest::Client::new()
                        .get(&url)
                        .header("last-event-id", id.as_str()),
                    None => reqwest::Client::new().get(&url),
                };
                let Ok(Ok(response)) =
                    tokio::time::timeout(Duration::from_secs(2), connect.send()).await
                else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                if response.status() != 200 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                // A fresh connection without a cursor may have missed events: refetch all.
                if last.is_none() {
                    refetch(None);
                }
                let mut body = response.bytes_stream();
                let mut buffer = String::new();
                use futures::StreamExt;
                while let Some(Ok(chunk)) = body.next().await {
                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buffer.find("\n\n") {
                        let block: String = buffer.drain(..end + 2).collect();
                        let field = |name: &str| {
                            block
                                .lines()
                                .find_map(|l| l.strip_prefix(name))
                                .map(str::to_owned)
                        };
                        if let Some(id) = field("id: ") {
                            last = Some(id);
                        }
                        match field("event: ").as_deref() {
                            Some("invalidate") => {
                                let data: serde_json::Value =
                                    serde_json::from_str(&field("data: ").unwrap()).unwrap();
                                let keys = data["tags"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .filter_map(|t| t[1].as_i64())
                                    .collect();
                                refetch(Some(keys));
                            }
                            Some("reset") => refetch(None),
                            _ => {}
                        }
                    }
                }
            }
        }));
    }

    // Writers: a server function's write, then its invalidation, through a random instance.
    for w in 0..2u64 {
        let (db, nodes, stop) = (db.clone(), nodes.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = w;
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let key = ((n >> 33) % KEYS as u64) as i64;
                {
                    let nodes = nodes.read().await;
                    *db.lock().unwrap().get_mut(&key).unwrap() += 1;
                    let hub = &nodes[(n >> 40) as usize % nodes.len()].hub;
                    hub.invalidate_tags([Tag::from_segments(["k".into(), key.into()])])
                        .unwrap();
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        }));
    }

    // Chaos for ~12 s: Redis killed and restarted empty twice, an instance restarted twice.
    for round in 0..4 {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        if round % 2 == 0 {
            redis.kill();
            tokio::time::sleep(Duration::from_millis(400)).await;
            redis.restart().await;
        } else {
            let replacement = start_instance(redis.url.clone()).await;
            let old = std::mem::replace(&mut nodes.write().await[round % 2], replacement);
            old.server.shutdown().await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The writers stop; a last write to every key, and Redis dies right behind them: whatever
    // Redis had appended but the instances had not followed yet is gone with it, and only a
    // `reset` can tell the clients.
    stop.store(true, std::sync::atomic::Ordering::Release);
    tokio::time::sleep(Duration::from_millis(50)).await;
    {
        let nodes = nodes.read().await;
        for key in 0..KEYS {
            *db.lock().unwrap().get_mut(&key).unwrap() += 1;
            nodes[key as usize % nodes.len()]
                .hub
                .invalidate_tags([Tag::from_segments(["k".into(), key.into()])])
                .unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(2)).await;
    redis.kill();
    redis.restart().await;

    // Settle: every view must reach the database.
    let settled = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let db = db.lock().unwrap().clone();
            let stale: Vec<usize> = views
                .iter()
                .enumerate()
                .filter(|(_, v)| *v.lock().unwrap() != db)
                .map(|(c, _)| c)
                .collect();
            if stale.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let db = db.lock().unwrap().clone();
    for (c, view) in views.iter().enumerate() {
        assert_eq!(
            *view.lock().unwrap(),
            db,
            "client {c} is stale (settled: {settled:?})"
        );
    }
    assert!(db.values().sum::<u64>() > 100, "the writers wrote: {db:?}");
    for task in tasks {
        task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflowing_outbox_resets_the_instances_streams_once_redis_is_back() {
    let redis = TestRedis::start().await;
    // A queue that cannot lag: only the lost events can reset the stream.
    let hub = Hub::builder()
        .queue_capacity(20_000)
        .redis(redis.url.clone())
        .build();
    let server = TestServer::start(Serving::Hub, &hub, hub.mount(Router::new())).await;
    let nodes = [Instance { hub, server }];
    let mut stream = SseClient::connect(&nodes[0].server.url(EVENTS), None).await;
    stream.expect("hello").await;

    redis.pause(true);
    // More than the outbox holds (10,000): the oldest are dropped, and nothing fails.
    for k in 0..10_050 {
        nodes[0].hub.invalidate_tags([tag(k)]).unwrap();
    }
    assert_eq!(nodes[0].hub.stats().backend_outbox, 10_000);
    redis.pause(false);

    // Once Redis answers: a reset (some invalidations are lost for good), then the end.
    let reset = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.next_event(Duration::from_secs(10)).await {
                Some(event) if event.event == "reset" => return event,
                Some(_) => {}
                None => panic!("the stream ended without a reset"),
            }
        }
    })
    .await
    .expect("a reset once Redis is back");
    let reset: Reset = serde_json::from_str(&reset.data).unwrap();
    assert_eq!(reset.reason, ResetReason::UnknownEpoch);
    assert_eq!(stream.next_event(Duration::from_secs(5)).await, None);
    // The rest of the outbox is published: a new stream sees the log move on.
    tokio::time::timeout(Duration::from_secs(10), async {
        while nodes[0].hub.stats().backend_outbox > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the outbox drains");
}
