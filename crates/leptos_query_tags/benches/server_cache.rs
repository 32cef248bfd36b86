//! The server cache at 100k entries: a hit, and a purge of one tag through the tag index
//! (`cargo bench -p leptos_query_tags --features server-cache --bench server_cache`).

use divan::Bencher;
use futures::executor::block_on;
use futures::FutureExt;
use leptos_query_tags::server::ServerCache;
use leptos_query_tags::tags::{Tag, TagPattern};
use std::time::Duration;

fn main() {
    divan::main();
}

const TTL: Duration = Duration::from_secs(3600);

fn tag(id: u32) -> Tag {
    Tag::from_segments(["users".into(), "by_id".into(), i64::from(id).into()])
}

/// A cache with `n` entries `k<id>`, each tagged `users.by_id.<id>`.
fn filled(n: u32) -> ServerCache {
    let cache = ServerCache::builder().max_entries(u64::from(n) * 2).build();
    block_on(async {
        for id in 0..n {
            let _ = cache
                .get_or_load(&format!("k{id}"), [tag(id)], TTL, || async move {
                    Ok::<_, ()>(format!("value {id}"))
                })
                .await;
        }
        cache.run_pending_tasks().await;
    });
    cache
}

/// A hit: the cache's own cost (the caller's tags are not built: a hit never reads them).
#[divan::bench(args = [1_000, 100_000], sample_count = 100, sample_size = 1000)]
fn hit(bencher: Bencher, n: u32) {
    let cache = filled(n);
    let keys: Vec<String> = (0..n).map(|id| format!("k{id}")).collect();
    let mut id = 0;
    bencher.bench_local(|| {
        id = (id + 7919) % n;
        // A hit completes without waiting: polled once.
        let value = cache
            .get_or_load(
                &keys[id as usize],
                std::iter::empty::<Tag>(),
                TTL,
                || async { Err::<String, ()>(()) },
            )
            .now_or_never();
        divan::black_box(value)
    });
}

/// A hit as a caller writes it, building its tag (`users.by_id.<id>`) on every call.
#[divan::bench(args = [100_000], sample_count = 100, sample_size = 1000)]
fn hit_building_tags(bencher: Bencher, n: u32) {
    let cache = filled(n);
    let keys: Vec<String> = (0..n).map(|id| format!("k{id}")).collect();
    let mut id = 0;
    bencher.bench_local(|| {
        id = (id + 7919) % n;
        let value = block_on(
            cache.get_or_load(&keys[id as usize], [tag(id)], TTL, || async {
                Err::<String, ()>(())
            }),
        );
        divan::black_box(value)
    });
}

/// Purges one entry's tag per iteration (10 000 in all, so the cache stays near `n`).
#[divan::bench(args = [1_000, 100_000], sample_count = 100, sample_size = 10)]
fn purge_one_tag(bencher: Bencher, n: u32) {
    let cache = filled(n);
    let patterns: Vec<[TagPattern; 1]> = (0..n).map(|id| [tag(id).into()]).collect();
    let mut id = 0;
    bencher.bench_local(|| {
        id = (id + 7919) % n;
        divan::black_box(cache.purge(&patterns[id as usize]))
    });
}
