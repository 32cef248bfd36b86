//! Cost of finding the queries an invalidation matches: the `TagIndex` against a linear scan of
//! every query's tags (what the JS library does on every event).
//!
//! Run: `cargo bench -p leptos_query_tags --bench tag_matching`
//!
//! Query `i` carries `["todos","by_id",i]` and `["lists",i/100,"page"]`, so the pattern
//! `["todos","by_id",k]` matches 1 query and `["lists",g]` matches 100 (or all, below 100).

use divan::Bencher;
use leptos_query_tags::tags::{Segment, Tag, TagIndex, TagPattern};

fn main() {
    divan::main();
}

const SIZES: [usize; 4] = [10, 1_000, 10_000, 100_000];

fn tags_of(i: usize) -> Vec<Tag> {
    vec![
        Tag::from_segments(["todos".into(), "by_id".into(), Segment::Int(i as i64)]),
        Tag::from_segments([
            "lists".into(),
            Segment::Int((i / 100) as i64),
            "page".into(),
        ]),
    ]
}

fn index(n: usize) -> TagIndex<u64> {
    let mut index = TagIndex::new();
    for i in 0..n {
        index.insert(i as u64, tags_of(i));
    }
    index
}

fn all_queries(n: usize) -> Vec<(u64, Vec<Tag>)> {
    (0..n).map(|i| (i as u64, tags_of(i))).collect()
}

/// What a library without an index does per event: test every tag of every query.
fn scan(queries: &[(u64, Vec<Tag>)], pattern: &TagPattern) -> Vec<u64> {
    queries
        .iter()
        .filter(|(_, tags)| tags.iter().any(|t| pattern.matches(t)))
        .map(|(id, _)| *id)
        .collect()
}

fn one_match(n: usize) -> TagPattern {
    TagPattern::from_segments(["todos".into(), "by_id".into(), Segment::Int((n / 2) as i64)])
}

fn hundred_matches(n: usize) -> TagPattern {
    TagPattern::from_segments(["lists".into(), Segment::Int(((n / 2) / 100) as i64)])
}

#[divan::bench(args = SIZES)]
fn index_1_match(bencher: Bencher, n: usize) {
    let index = index(n);
    let pattern = one_match(n);
    assert_eq!(index.matches(&pattern).len(), 1);
    bencher.bench_local(|| index.matches(divan::black_box(&pattern)));
}

#[divan::bench(args = SIZES)]
fn scan_1_match(bencher: Bencher, n: usize) {
    let queries = all_queries(n);
    let pattern = one_match(n);
    assert_eq!(scan(&queries, &pattern).len(), 1);
    bencher.bench_local(|| scan(&queries, divan::black_box(&pattern)));
}

#[divan::bench(args = SIZES)]
fn index_100_matches(bencher: Bencher, n: usize) {
    let index = index(n);
    let pattern = hundred_matches(n);
    assert_eq!(index.matches(&pattern).len(), n.min(100));
    bencher.bench_local(|| index.matches(divan::black_box(&pattern)));
}

#[divan::bench(args = SIZES)]
fn scan_100_matches(bencher: Bencher, n: usize) {
    let queries = all_queries(n);
    let pattern = hundred_matches(n);
    assert_eq!(scan(&queries, &pattern).len(), n.min(100));
    bencher.bench_local(|| scan(&queries, divan::black_box(&pattern)));
}
