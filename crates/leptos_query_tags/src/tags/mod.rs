//! Tags, tag patterns and the index that matches them.
//!
//! A [`Tag`] is a path of [`Segment`]s: the branch names of a declared tree followed by the
//! leaf's arguments. `todos.by_id(3)` is `["todos","by_id",3]` on the wire. A [`TagPattern`] is
//! what an invalidation names; **a pattern matches a tag iff the pattern is a segment-wise prefix
//! of the tag**. Trees are declared with [`tag_tree!`](crate::tag_tree), which forbids a name from
//! being both a leaf and a branch at one level, so a complete leaf tag only ever matches itself.
//!
//! ```
//! use leptos_query_tags::tags::{Tag, TagPattern};
//!
//! let tag = Tag::from_segments(["todos".into(), "by_id".into(), 3.into()]);
//! assert!(TagPattern::from_segments(["todos".into()]).matches(&tag));
//! assert!(TagPattern::from(tag.clone()).matches(&tag));
//! assert!(!TagPattern::from_segments(["todos".into(), "list".into()]).matches(&tag));
//! assert_eq!(tag.to_json(), r#"["todos","by_id",3]"#);
//! ```
//!
//! What follows is `docs/tags.md`: declaring trees, matching, the wire form.
//!
#![doc = include_str!("../../docs/tags.md")]

mod index;
mod segment;
mod tree;

pub use index::TagIndex;
pub use segment::Segment;

use serde::{Deserialize, Serialize};
use std::fmt;

/// Limits applied when tags or patterns are decoded from untrusted input.
///
/// ```
/// use leptos_query_tags::tags::{DecodeLimits, TagError, TagPattern};
///
/// let strict = DecodeLimits { max_depth: 2, ..DecodeLimits::DEFAULT };
/// assert!(matches!(
///     TagPattern::decode_json(br#"["a","b","c"]"#, &strict),
///     Err(TagError::TooDeep { depth: 3, max: 2 })
/// ));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Most segments in one tag or pattern.
    pub max_depth: usize,
    /// Longest string segment, in bytes.
    pub max_segment_len: usize,
    /// Most patterns in one invalidation.
    pub max_tags_per_event: usize,
}

impl DecodeLimits {
    /// The limits the hub and the client use unless told otherwise.
    pub const DEFAULT: DecodeLimits = DecodeLimits {
        max_depth: 16,
        max_segment_len: 256,
        max_tags_per_event: 256,
    };
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a tag, a pattern or a list of them was refused.
///
/// ```
/// use leptos_query_tags::tags::{DecodeLimits, TagError, TagPattern};
///
/// let err = TagPattern::decode_json(b"[1.5]", &DecodeLimits::DEFAULT).unwrap_err();
/// assert!(matches!(err, TagError::Malformed(_)));
/// assert!(err.to_string().contains("tags take no floats"));
/// ```
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TagError {
    /// The bytes are not the JSON the encoding prescribes (or hold a float, or a nested array).
    #[error("malformed tag JSON: {0}")]
    Malformed(String),
    /// A tag has no segment at all (patterns may be empty; tags may not).
    #[error("a tag needs at least one segment")]
    EmptyTag,
    /// More segments than [`DecodeLimits::max_depth`].
    #[error("{depth} segments exceed the limit of {max}")]
    TooDeep {
        /// Segments found.
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// A string segment longer than [`DecodeLimits::max_segment_len`].
    #[error("a segment of {len} bytes exceeds the limit of {max}")]
    SegmentTooLong {
        /// Length found, in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More patterns in one event than [`DecodeLimits::max_tags_per_event`].
    #[error("{count} tags in one event exceed the limit of {max}")]
    TooManyTags {
        /// Patterns found.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An invalidation must name at least one pattern.
    #[error("an invalidation needs at least one tag")]
    NoTags,
}

fn check_segments(segments: &[Segment], limits: &DecodeLimits) -> Result<(), TagError> {
    if segments.len() > limits.max_depth {
        return Err(TagError::TooDeep {
            depth: segments.len(),
            max: limits.max_depth,
        });
    }
    for segment in segments {
        if let Segment::Str(s) = segment {
            if s.len() > limits.max_segment_len {
                return Err(TagError::SegmentTooLong {
                    len: s.len(),
                    max: limits.max_segment_len,
                });
            }
        }
    }
    Ok(())
}

/// A complete tag carried by a query: branch names, then the leaf's arguments.
///
/// Build one with the functions [`tag_tree!`](crate::tag_tree) generates, or at run time with
/// [`Tag::from_segments`] for tags only known then; both match alike.
///
/// ```
/// use leptos_query_tags::tags::{DecodeLimits, Tag};
///
/// let tag = Tag::from_segments(["todos".into(), "by_id".into(), 3.into()]);
/// assert_eq!(tag.to_string(), "todos.by_id.3");
/// assert_eq!(Tag::decode_json(tag.to_json().as_bytes(), &DecodeLimits::DEFAULT), Ok(tag));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tag(Vec<Segment>);

/// What an invalidation names: every tag it is a segment-wise prefix of.
///
/// The empty pattern matches every tag. A [`Tag`] converts into the pattern that matches exactly
/// that tag (and, since leaves are never branches, nothing else).
///
/// ```
/// use leptos_query_tags::tags::{Tag, TagPattern};
///
/// let todo_3 = Tag::from_segments(["todos".into(), "by_id".into(), 3.into()]);
/// let every_todo = TagPattern::from_segments(["todos".into(), "by_id".into()]);
/// assert!(every_todo.matches(&todo_3));
/// assert!(TagPattern::everything().matches(&todo_3));
/// assert!(TagPattern::from(todo_3.clone()).matches(&todo_3));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TagPattern(Vec<Segment>);

macro_rules! segment_path {
    ($ty:ident) => {
        impl $ty {
            /// Builds it from segments.
            ///
            /// ```
            #[doc = concat!("use leptos_query_tags::tags::{", stringify!($ty), ", Segment};")]
            #[doc = concat!("let t = ", stringify!($ty), r#"::from_segments(["todos".into(), Segment::Int(3)]);"#)]
            #[doc = r##"assert_eq!(t.to_json(), r#"["todos",3]"#);"##]
            /// ```
            pub fn from_segments(segments: impl IntoIterator<Item = Segment>) -> Self {
                Self(segments.into_iter().collect())
            }

            /// The segments, in order.
            ///
            /// ```
            #[doc = concat!("use leptos_query_tags::tags::{", stringify!($ty), ", Segment};")]
            #[doc = concat!("let t = ", stringify!($ty), r#"::from_segments(["todos".into(), true.into()]);"#)]
            /// assert_eq!(t.segments(), &[Segment::from("todos"), Segment::Bool(true)]);
            /// ```
            pub fn segments(&self) -> &[Segment] {
                &self.0
            }

            /// The canonical encoding: a compact JSON array of segments.
            ///
            /// ```
            #[doc = concat!("use leptos_query_tags::tags::", stringify!($ty), ";")]
            #[doc = concat!("let t = ", stringify!($ty), r#"::from_segments(["a".into(), 1.into(), false.into()]);"#)]
            #[doc = r##"assert_eq!(t.to_json(), r#"["a",1,false]"#);"##]
            /// ```
            pub fn to_json(&self) -> String {
                serde_json::to_string(&self.0).unwrap_or_else(|_| unreachable!("segments always serialize"))
            }

            /// Appends one segment (for building runtime tags step by step).
            ///
            /// ```
            #[doc = concat!("use leptos_query_tags::tags::", stringify!($ty), ";")]
            #[doc = concat!("let mut t = ", stringify!($ty), r#"::from_segments(["tenants".into()]);"#)]
            /// t.push(String::from("acme"));
            /// assert_eq!(t.to_string(), "tenants.acme");
            /// ```
            pub fn push(&mut self, segment: impl Into<Segment>) {
                self.0.push(segment.into());
            }

            /// Appends one segment and returns the result.
            ///
            /// ```
            #[doc = concat!("use leptos_query_tags::tags::", stringify!($ty), ";")]
            #[doc = concat!("let t = ", stringify!($ty), r#"::from_segments(["todos".into()]).with("by_id").with(3);"#)]
            #[doc = r##"assert_eq!(t.to_json(), r#"["todos","by_id",3]"#);"##]
            /// ```
            #[must_use]
            pub fn with(mut self, segment: impl Into<Segment>) -> Self {
                self.push(segment);
                self
            }
        }

        impl fmt::Display for $ty {
            /// Dotted form for logs and the debug panel: `todos.by_id.3`.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for (i, segment) in self.0.iter().enumerate() {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    write!(f, "{segment}")?;
                }
                Ok(())
            }
        }
    };
}

segment_path!(Tag);
segment_path!(TagPattern);

impl Tag {
    /// Decodes one tag from untrusted JSON, enforcing `limits`.
    ///
    /// ```
    /// use leptos_query_tags::tags::{DecodeLimits, Tag, TagError};
    ///
    /// let limits = DecodeLimits::DEFAULT;
    /// assert_eq!(Tag::decode_json(br#"["todos",3]"#, &limits).unwrap().to_string(), "todos.3");
    /// assert_eq!(Tag::decode_json(b"[]", &limits), Err(TagError::EmptyTag));
    /// ```
    pub fn decode_json(bytes: &[u8], limits: &DecodeLimits) -> Result<Tag, TagError> {
        let tag: Tag =
            serde_json::from_slice(bytes).map_err(|e| TagError::Malformed(e.to_string()))?;
        tag.validate(limits)?;
        Ok(tag)
    }

    /// Checks the tag against `limits`; a tag needs at least one segment.
    ///
    /// ```
    /// use leptos_query_tags::tags::{DecodeLimits, Tag};
    ///
    /// let long = Tag::from_segments([String::from("x").repeat(300).into()]);
    /// assert!(long.validate(&DecodeLimits::DEFAULT).is_err());
    /// ```
    pub fn validate(&self, limits: &DecodeLimits) -> Result<(), TagError> {
        if self.0.is_empty() {
            return Err(TagError::EmptyTag);
        }
        check_segments(&self.0, limits)
    }
}

impl TagPattern {
    /// The empty pattern: matches every tag.
    ///
    /// ```
    /// use leptos_query_tags::tags::{Tag, TagPattern};
    ///
    /// assert!(TagPattern::everything().matches(&Tag::from_segments(["anything".into()])));
    /// ```
    pub fn everything() -> Self {
        Self(Vec::new())
    }

    /// Whether this pattern is a segment-wise prefix of `tag`.
    ///
    /// ```
    /// use leptos_query_tags::tags::{Tag, TagPattern};
    ///
    /// let tag = Tag::from_segments(["todos".into(), "by_id".into(), 3.into()]);
    /// assert!(TagPattern::from_segments(["todos".into()]).matches(&tag));
    /// assert!(!TagPattern::from_segments(["todos".into(), "by_id".into(), "3".into()]).matches(&tag));
    /// ```
    pub fn matches(&self, tag: &Tag) -> bool {
        tag.0.starts_with(&self.0)
    }

    /// Decodes one pattern from untrusted JSON, enforcing `limits`.
    ///
    /// ```
    /// use leptos_query_tags::tags::{DecodeLimits, TagPattern};
    ///
    /// assert_eq!(TagPattern::decode_json(b"[]", &DecodeLimits::DEFAULT), Ok(TagPattern::everything()));
    /// assert!(TagPattern::decode_json(br#"["a",null]"#, &DecodeLimits::DEFAULT).is_err());
    /// ```
    pub fn decode_json(bytes: &[u8], limits: &DecodeLimits) -> Result<TagPattern, TagError> {
        let pattern: TagPattern =
            serde_json::from_slice(bytes).map_err(|e| TagError::Malformed(e.to_string()))?;
        pattern.validate(limits)?;
        Ok(pattern)
    }

    /// Checks the pattern against `limits`.
    ///
    /// ```
    /// use leptos_query_tags::tags::{DecodeLimits, TagPattern};
    ///
    /// let deep = TagPattern::from_segments((0..17).map(Into::into));
    /// assert!(deep.validate(&DecodeLimits::DEFAULT).is_err());
    /// ```
    pub fn validate(&self, limits: &DecodeLimits) -> Result<(), TagError> {
        check_segments(&self.0, limits)
    }

    /// Checks a list of patterns as one invalidation: at least one, at most
    /// [`DecodeLimits::max_tags_per_event`], each within the limits.
    ///
    /// ```
    /// use leptos_query_tags::tags::{DecodeLimits, TagError, TagPattern};
    ///
    /// assert_eq!(TagPattern::validate_list(&[], &DecodeLimits::DEFAULT), Err(TagError::NoTags));
    /// assert!(TagPattern::validate_list(&[TagPattern::everything()], &DecodeLimits::DEFAULT).is_ok());
    /// ```
    pub fn validate_list(patterns: &[TagPattern], limits: &DecodeLimits) -> Result<(), TagError> {
        if patterns.is_empty() {
            return Err(TagError::NoTags);
        }
        if patterns.len() > limits.max_tags_per_event {
            return Err(TagError::TooManyTags {
                count: patterns.len(),
                max: limits.max_tags_per_event,
            });
        }
        patterns.iter().try_for_each(|p| p.validate(limits))
    }

    /// Decodes a JSON array of patterns (one invalidation) from untrusted input.
    ///
    /// ```
    /// use leptos_query_tags::tags::{DecodeLimits, TagPattern};
    ///
    /// let list = TagPattern::decode_list_json(br#"[["todos"],["notes","list"]]"#, &DecodeLimits::DEFAULT).unwrap();
    /// assert_eq!(list.len(), 2);
    /// ```
    pub fn decode_list_json(
        bytes: &[u8],
        limits: &DecodeLimits,
    ) -> Result<Vec<TagPattern>, TagError> {
        let patterns: Vec<TagPattern> =
            serde_json::from_slice(bytes).map_err(|e| TagError::Malformed(e.to_string()))?;
        Self::validate_list(&patterns, limits)?;
        Ok(patterns)
    }
}

impl From<Tag> for TagPattern {
    fn from(tag: Tag) -> Self {
        TagPattern(tag.0)
    }
}

impl From<&Tag> for TagPattern {
    fn from(tag: &Tag) -> Self {
        TagPattern(tag.0.clone())
    }
}

impl From<&TagPattern> for TagPattern {
    fn from(pattern: &TagPattern) -> Self {
        pattern.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(json: &str) -> Tag {
        Tag::decode_json(json.as_bytes(), &DecodeLimits::DEFAULT).unwrap()
    }

    fn pattern(json: &str) -> TagPattern {
        TagPattern::decode_json(json.as_bytes(), &DecodeLimits::DEFAULT).unwrap()
    }

    #[test]
    fn prefix_rule() {
        let t = tag(r#"["todos","by_id",3]"#);
        assert!(pattern("[]").matches(&t));
        assert!(pattern(r#"["todos"]"#).matches(&t));
        assert!(pattern(r#"["todos","by_id"]"#).matches(&t));
        assert!(pattern(r#"["todos","by_id",3]"#).matches(&t));
        assert!(!pattern(r#"["todos","by_id",4]"#).matches(&t));
        assert!(
            !pattern(r#"["todos","by_id","3"]"#).matches(&t),
            "3 and \"3\" differ"
        );
        assert!(!pattern(r#"["todos","by_id",3,"x"]"#).matches(&t));
        assert!(!pattern(r#"["notes"]"#).matches(&t));
    }

    #[test]
    fn round_trip_and_display() {
        let t = Tag::from_segments(["todos".into(), "flag".into(), true.into(), (-7i64).into()]);
        assert_eq!(t.to_json(), r#"["todos","flag",true,-7]"#);
        assert_eq!(tag(&t.to_json()), t);
        assert_eq!(t.to_string(), "todos.flag.true.-7");
    }

    #[test]
    fn untrusted_input_is_refused_with_a_reason() {
        let limits = DecodeLimits::DEFAULT;
        for bad in [
            r#"["a",1.5]"#,
            r#"["a",[1]]"#,
            r#"["a",null]"#,
            r#"{"a":1}"#,
            "",
            "[",
            r#"["a",18446744073709551615]"#,
        ] {
            assert!(
                matches!(
                    TagPattern::decode_json(bad.as_bytes(), &limits),
                    Err(TagError::Malformed(_))
                ),
                "{bad} must be refused"
            );
        }
        assert_eq!(Tag::decode_json(b"[]", &limits), Err(TagError::EmptyTag));
        let deep = format!("[{}]", vec!["1"; 17].join(","));
        assert!(matches!(
            TagPattern::decode_json(deep.as_bytes(), &limits),
            Err(TagError::TooDeep { depth: 17, .. })
        ));
        let long = format!(r#"["{}"]"#, "x".repeat(257));
        assert!(matches!(
            TagPattern::decode_json(long.as_bytes(), &limits),
            Err(TagError::SegmentTooLong { len: 257, .. })
        ));
        assert_eq!(
            TagPattern::decode_list_json(b"[]", &limits),
            Err(TagError::NoTags)
        );
        let many = format!("[{}]", vec![r#"["a"]"#; 257].join(","));
        assert!(matches!(
            TagPattern::decode_list_json(many.as_bytes(), &limits),
            Err(TagError::TooManyTags { count: 257, .. })
        ));
    }
}
