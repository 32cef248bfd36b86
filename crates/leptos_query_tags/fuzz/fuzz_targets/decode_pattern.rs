//! Decoding tag patterns from untrusted bytes: never panics, and whatever decodes stays within the
//! limits and survives a round trip.
#![no_main]

use leptos_query_tags::tags::{DecodeLimits, TagPattern};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::DEFAULT;
    if let Ok(pattern) = TagPattern::decode_json(data, &limits) {
        assert!(pattern.segments().len() <= limits.max_depth);
        let again = TagPattern::decode_json(pattern.to_json().as_bytes(), &limits).expect("re-encoded pattern decodes");
        assert_eq!(again, pattern);
    }
    if let Ok(list) = TagPattern::decode_list_json(data, &limits) {
        assert!(!list.is_empty() && list.len() <= limits.max_tags_per_event);
    }
});
