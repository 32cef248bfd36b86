//! Cache operations with many cached queries: lookup, write, and invalidation through the
//! tag index (`cargo bench -p leptos_query_tags --bench query_cache`).

use divan::Bencher;
use leptos::prelude::ServerFnError;
use leptos_query_tags::prelude::*;
use leptos_query_tags::tags::Segment;

fn main() {
    divan::main();
}

fn todo_query() -> Query<u32, String> {
    Query::new("todo", |id: u32| async move {
        Ok::<_, ServerFnError>(format!("todo {id}"))
    })
    .tags(|id| {
        vec![Tag::from_segments([
            Segment::from("todos"),
            Segment::from(i64::from(*id)),
        ])]
    })
}

/// A client with `n` cached todos, each tagged `todos.<id>`.
fn cached(n: u32) -> (QueryClient, Query<u32, String>) {
    let client = QueryClient::new();
    let query = todo_query();
    for id in 0..n {
        client.set_query_data(&query, &id, format!("todo {id}"));
    }
    (client, query)
}

#[divan::bench(args = [1_000, 10_000, 100_000])]
fn lookup(bencher: Bencher, n: u32) {
    let (client, query) = cached(n);
    let mut id = 0;
    bencher.bench_local(|| {
        id = (id + 7919) % n;
        divan::black_box(client.get_query_data(&query, &id))
    });
}

#[divan::bench(args = [1_000, 10_000, 100_000])]
fn set_query_data(bencher: Bencher, n: u32) {
    let (client, query) = cached(n);
    let mut id = 0;
    bencher.bench_local(|| {
        id = (id + 7919) % n;
        client.set_query_data(&query, &id, String::from("changed"));
    });
}

#[divan::bench(args = [1_000, 10_000, 100_000])]
fn invalidate_one_of(bencher: Bencher, n: u32) {
    let (client, _) = cached(n);
    let mut id = 0u32;
    bencher.bench_local(|| {
        id = (id + 7919) % n;
        let pattern =
            TagPattern::from_segments([Segment::from("todos"), Segment::from(i64::from(id))]);
        divan::black_box(client.invalidate(&[pattern]))
    });
}

#[divan::bench(args = [1_000, 10_000])]
fn invalidate_all_by_prefix(bencher: Bencher, n: u32) {
    let (client, _) = cached(n);
    let pattern = TagPattern::from_segments([Segment::from("todos")]);
    bencher.bench_local(|| divan::black_box(client.invalidate(std::slice::from_ref(&pattern))));
}
