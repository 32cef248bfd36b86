//! One segment of a tag: a string, an integer or a boolean (never a float).

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// One segment of a [`Tag`](super::Tag) or [`TagPattern`](super::TagPattern).
///
/// Branch names are strings; leaf arguments may be strings, integers or booleans. Floats are not
/// segments: `1.0 == 1` questions have no good answer in a cache key. `3` and `"3"` are different
/// segments. A user type becomes a segment by implementing `From<MyType> for Segment`:
///
/// ```
/// use leptos_query_tags::tags::Segment;
///
/// struct UserId(u32);
/// impl From<UserId> for Segment {
///     fn from(id: UserId) -> Segment {
///         Segment::Int(id.0.into())
///     }
/// }
/// assert_eq!(Segment::from(UserId(7)), Segment::Int(7));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// `true` or `false`.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A string; branch names borrow `'static` text and cost no allocation.
    Str(Cow<'static, str>),
}

impl Segment {
    /// A string segment borrowing static text (what the tree macro uses for branch names).
    ///
    /// ```
    /// use leptos_query_tags::tags::Segment;
    ///
    /// const TODOS: Segment = Segment::from_static("todos");
    /// assert_eq!(TODOS, Segment::from(String::from("todos")));
    /// ```
    pub const fn from_static(s: &'static str) -> Segment {
        Segment::Str(Cow::Borrowed(s))
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Bool(b) => write!(f, "{b}"),
            Segment::Int(i) => write!(f, "{i}"),
            Segment::Str(s) => f.write_str(s),
        }
    }
}

impl From<&'static str> for Segment {
    fn from(s: &'static str) -> Self {
        Segment::from_static(s)
    }
}

impl From<String> for Segment {
    fn from(s: String) -> Self {
        Segment::Str(Cow::Owned(s))
    }
}

impl From<&String> for Segment {
    fn from(s: &String) -> Self {
        Segment::Str(Cow::Owned(s.clone()))
    }
}

impl From<bool> for Segment {
    fn from(b: bool) -> Self {
        Segment::Bool(b)
    }
}

macro_rules! int_segment {
    ($($t:ty),*) => {$(
        impl From<$t> for Segment {
            fn from(i: $t) -> Self {
                Segment::Int(i64::from(i))
            }
        }
    )*};
}
int_segment!(i8, i16, i32, i64, u8, u16, u32);

impl Serialize for Segment {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Segment::Bool(b) => serializer.serialize_bool(*b),
            Segment::Int(i) => serializer.serialize_i64(*i),
            Segment::Str(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for Segment {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SegmentVisitor;

        impl Visitor<'_> for SegmentVisitor {
            type Value = Segment;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tag segment: a string, an integer or a boolean")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Segment, E> {
                Ok(Segment::Bool(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Segment, E> {
                Ok(Segment::Int(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Segment, E> {
                i64::try_from(v).map(Segment::Int).map_err(|_| {
                    E::custom(format_args!("integer segment {v} is out of the i64 range"))
                })
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Segment, E> {
                Err(E::custom(format_args!(
                    "float segment {v}: tags take no floats"
                )))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Segment, E> {
                Ok(Segment::Str(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Segment, E> {
                Ok(Segment::Str(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_any(SegmentVisitor)
    }
}
