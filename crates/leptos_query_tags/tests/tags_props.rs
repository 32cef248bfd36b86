//! Property tests of the tags module: the index agrees with a naive prefix scan, the encoding
//! round-trips, and decoding never panics on arbitrary input.

use leptos_query_tags::tags::{DecodeLimits, Segment, Tag, TagIndex, TagPattern};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// Segments from a small alphabet, so that random tags and patterns share prefixes often.
fn small_segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        prop::sample::select(vec!["a", "b", "c"]).prop_map(Segment::from),
        (0i64..3).prop_map(Segment::Int),
        any::<bool>().prop_map(Segment::Bool),
        // "1" the string must never match 1 the integer.
        Just(Segment::from("1")),
    ]
}

fn small_tag() -> impl Strategy<Value = Tag> {
    prop::collection::vec(small_segment(), 1..5).prop_map(Tag::from_segments)
}

fn small_pattern() -> impl Strategy<Value = TagPattern> {
    prop::collection::vec(small_segment(), 0..5).prop_map(TagPattern::from_segments)
}

/// Any segment the encoding allows.
fn any_segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        any::<i64>().prop_map(Segment::Int),
        any::<bool>().prop_map(Segment::Bool),
        ".{0,40}".prop_map(Segment::from),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, Vec<Tag>),
    Remove(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..40, prop::collection::vec(small_tag(), 0..4)).prop_map(|(k, t)| Op::Insert(k, t)),
        1 => (0u8..40).prop_map(Op::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn index_agrees_with_a_naive_prefix_scan(ops in prop::collection::vec(op(), 1..80), patterns in prop::collection::vec(small_pattern(), 1..12)) {
        let mut index = TagIndex::new();
        let mut naive: BTreeMap<u8, Vec<Tag>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(key, tags) => {
                    index.insert(key, tags.clone());
                    naive.insert(key, tags);
                }
                Op::Remove(key) => {
                    index.remove(&key);
                    naive.remove(&key);
                }
            }
        }
        prop_assert_eq!(index.len(), naive.len());
        for pattern in &patterns {
            let got: Vec<u8> = index.matches(pattern);
            let got_set: BTreeSet<u8> = got.iter().copied().collect();
            prop_assert_eq!(got.len(), got_set.len(), "a key is reported once");
            let want: BTreeSet<u8> = naive
                .iter()
                .filter(|(_, tags)| tags.iter().any(|t| pattern.matches(t)))
                .map(|(k, _)| *k)
                .collect();
            prop_assert_eq!(got_set, want, "pattern {}", pattern);
        }
        let any: BTreeSet<u8> = index.matches_any(&patterns).into_iter().collect();
        let want_any: BTreeSet<u8> = naive
            .iter()
            .filter(|(_, tags)| tags.iter().any(|t| patterns.iter().any(|p| p.matches(t))))
            .map(|(k, _)| *k)
            .collect();
        prop_assert_eq!(any, want_any);
    }

    #[test]
    fn removing_every_key_leaves_an_empty_index(entries in prop::collection::vec((0u8..30, prop::collection::vec(small_tag(), 0..4)), 0..40)) {
        let mut index = TagIndex::new();
        for (key, tags) in &entries {
            index.insert(*key, tags.clone());
        }
        for (key, _) in &entries {
            index.remove(key);
        }
        prop_assert!(index.is_empty());
        prop_assert!(index.matches(&TagPattern::everything()).is_empty());
    }

    #[test]
    fn encoding_round_trips(segments in prop::collection::vec(any_segment(), 1..16)) {
        let tag = Tag::from_segments(segments);
        let json = tag.to_json();
        let limits = DecodeLimits { max_segment_len: 1024, ..DecodeLimits::DEFAULT };
        prop_assert_eq!(Tag::decode_json(json.as_bytes(), &limits).unwrap(), tag.clone());
        let pattern = TagPattern::from(tag.clone());
        prop_assert_eq!(TagPattern::decode_json(pattern.to_json().as_bytes(), &limits).unwrap(), pattern.clone());
        prop_assert!(pattern.matches(&tag));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let limits = DecodeLimits::DEFAULT;
        let _ = TagPattern::decode_json(&bytes, &limits);
        let _ = TagPattern::decode_list_json(&bytes, &limits);
        let _ = Tag::decode_json(&bytes, &limits);
    }

    #[test]
    fn decoding_json_shaped_noise_never_panics(text in r#"[\[\]{}",:0-9.eE+\-a-z ]{0,64}"#) {
        let limits = DecodeLimits::DEFAULT;
        if let Ok(pattern) = TagPattern::decode_json(text.as_bytes(), &limits) {
            // Whatever decodes is within the limits and re-encodes to something that decodes alike.
            prop_assert!(pattern.segments().len() <= limits.max_depth);
            prop_assert_eq!(TagPattern::decode_json(pattern.to_json().as_bytes(), &limits).unwrap(), pattern);
        }
        let _ = TagPattern::decode_list_json(text.as_bytes(), &limits);
    }
}
