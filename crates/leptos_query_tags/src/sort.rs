//! The crate's sorts. The standard library's sorts are fast on large inputs, but each element
//! type instantiates several kilobytes of wasm: the crate's four sorts cost 4.1 KB brotli of the
//! library's wasm (docs/benchmarks.md). These are one heapsort, a few hundred bytes per element
//! type: in place, O(n log n) at worst, and fast enough for what is sorted here (a query's tags,
//! the queries an event matches, the keys of a cache).

/// Sorts `items` so that no item is `less` than one before it (not stable).
pub(crate) fn sort<T>(items: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let sift = |items: &mut [T], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            break;
        }
        if child + 1 < end && less(&items[child], &items[child + 1]) {
            child += 1;
        }
        if !less(&items[root], &items[child]) {
            break;
        }
        items.swap(root, child);
        root = child;
    };
    let len = items.len();
    for root in (0..len / 2).rev() {
        sift(items, root, len);
    }
    for end in (1..len).rev() {
        items.swap(0, end);
        sift(items, 0, end);
    }
}

/// Sorts `items` by the string `key` makes of each (computed once per item); items with equal
/// keys keep their order (stable), like `sort_by_cached_key`.
pub(crate) fn by_string_key<T>(items: &mut Vec<T>, key: impl Fn(&T) -> String) {
    let mut keyed: Vec<(String, usize, T)> = items
        .drain(..)
        .zip(0..)
        .map(|(t, i)| (key(&t), i, t))
        .collect();
    sort(&mut keyed, |a, b| (&a.0, a.1) < (&b.0, b.1));
    items.extend(keyed.into_iter().map(|(_, _, t)| t));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (no dependency): xorshift.
    fn numbers(seed: u64, len: usize, range: u64) -> Vec<u64> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % range
            })
            .collect()
    }

    #[test]
    fn sorts_like_the_standard_library_at_every_length() {
        for len in 0..70 {
            for (seed, range) in [(1, 5), (7, 1000), (42, u64::MAX)] {
                let mut ours = numbers(seed + len as u64, len, range);
                let mut std = ours.clone();
                sort(&mut ours, |a, b| a < b);
                std.sort_unstable();
                assert_eq!(ours, std, "len {len}, range {range}");
            }
        }
        let mut large = numbers(3, 10_000, 100);
        let mut std = large.clone();
        sort(&mut large, |a, b| a < b);
        std.sort_unstable();
        assert_eq!(large, std);
    }

    #[test]
    fn by_string_key_is_stable_and_keeps_every_item() {
        // (key, original position): equal keys keep their order.
        let mut items: Vec<(u64, usize)> = numbers(9, 200, 10).into_iter().zip(0..).collect();
        by_string_key(&mut items, |(k, _)| k.to_string());
        let mut expected: Vec<(u64, usize)> = numbers(9, 200, 10).into_iter().zip(0..).collect();
        expected.sort_by_key(|(k, _)| k.to_string());
        assert_eq!(items, expected);
        let mut empty: Vec<u64> = Vec::new();
        by_string_key(&mut empty, u64::to_string);
        assert!(empty.is_empty());
    }
}
