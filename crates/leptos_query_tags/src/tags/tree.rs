//! The `tag_tree!` macro: a typed tag tree declared once and shared by server and client.

/// Declares a typed tag tree as a module of functions.
///
/// Branches are `name { ... }`; leaves are `name;` or `name(arg: Type, ...);` where each
/// argument type converts into a [`Segment`](crate::tags::Segment) (integers, `String`,
/// `&'static str`, `bool`, or your own type with `From<YourType> for Segment`). Doc comments
/// pass through to the generated items.
///
/// For every leaf you get a function returning its [`Tag`](crate::tags::Tag); for every branch and
/// every leaf family an `all()` returning the [`TagPattern`](crate::tags::TagPattern) that
/// matches the whole subtree; and an `all()` for the whole tree. A name used twice at one level,
/// or as both a leaf and a branch, does not compile (`the name ... is defined multiple times`).
///
/// ```
/// leptos_query_tags::tag_tree! {
///     /// Tags of my application.
///     pub mod app_tags {
///         /// Everything about todos.
///         todos {
///             /// The list of todos.
///             list;
///             /// One todo.
///             by_id(id: i64);
///         }
///     }
/// }
///
/// assert_eq!(app_tags::todos::list().to_json(), r#"["todos","list"]"#);
/// assert_eq!(app_tags::todos::by_id(3).to_json(), r#"["todos","by_id",3]"#);
/// assert_eq!(app_tags::todos::by_id::all().to_json(), r#"["todos","by_id"]"#);
/// assert_eq!(app_tags::todos::all().to_json(), r#"["todos"]"#);
/// assert!(app_tags::todos::all().matches(&app_tags::todos::by_id(3)));
/// assert!(app_tags::all().matches(&app_tags::todos::list()));
/// ```
#[macro_export]
macro_rules! tag_tree {
    ($(#[$meta:meta])* $vis:vis mod $tree:ident { $($body:tt)* }) => {
        $(#[$meta])*
        // The items are `pub` so that the tree's visibility alone decides who sees them.
        #[allow(unreachable_pub)]
        $vis mod $tree {
            #[allow(unused_imports)]
            use super::*;

            /// The pattern matching every tag of this tree.
            #[allow(dead_code)]
            pub fn all() -> $crate::tags::TagPattern {
                $crate::tags::TagPattern::everything()
            }

            $crate::__tag_tree_items! { [] $($body)* }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tag_tree_items {
    ([$($path:expr),*]) => {};

    // A branch.
    ([$($path:expr),*] $(#[$meta:meta])* $name:ident { $($inner:tt)* } $($rest:tt)*) => {
        $(#[$meta])*
        pub mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[doc = concat!("The pattern matching every tag under `", stringify!($name), "`.")]
            #[allow(dead_code)]
            pub fn all() -> $crate::tags::TagPattern {
                $crate::tags::TagPattern::from_segments([
                    $($crate::tags::Segment::from_static($path),)*
                    $crate::tags::Segment::from_static(stringify!($name)),
                ])
            }

            $crate::__tag_tree_items! { [$($path,)* stringify!($name)] $($inner)* }
        }
        $crate::__tag_tree_items! { [$($path),*] $($rest)* }
    };

    // A leaf with arguments: the function, and a module of the same name for its family.
    ([$($path:expr),*] $(#[$meta:meta])* $name:ident ( $($arg:ident : $ty:ty),+ $(,)? ) ; $($rest:tt)*) => {
        $(#[$meta])*
        #[allow(dead_code)]
        pub fn $name($($arg: $ty),+) -> $crate::tags::Tag {
            $crate::tags::Tag::from_segments([
                $($crate::tags::Segment::from_static($path),)*
                $crate::tags::Segment::from_static(stringify!($name)),
                $($crate::tags::Segment::from($arg),)+
            ])
        }

        #[doc = concat!("The family of `", stringify!($name), "` tags, whatever their arguments.")]
        pub mod $name {
            #[doc = concat!("The pattern matching every `", stringify!($name), "` tag.")]
            #[allow(dead_code)]
            pub fn all() -> $crate::tags::TagPattern {
                $crate::tags::TagPattern::from_segments([
                    $($crate::tags::Segment::from_static($path),)*
                    $crate::tags::Segment::from_static(stringify!($name)),
                ])
            }
        }
        $crate::__tag_tree_items! { [$($path),*] $($rest)* }
    };

    // A leaf without arguments. The hidden module makes a branch or leaf of the same name a
    // compile error, as for leaves with arguments.
    ([$($path:expr),*] $(#[$meta:meta])* $name:ident $(())? ; $($rest:tt)*) => {
        $(#[$meta])*
        #[allow(dead_code)]
        pub fn $name() -> $crate::tags::Tag {
            $crate::tags::Tag::from_segments([
                $($crate::tags::Segment::from_static($path),)*
                $crate::tags::Segment::from_static(stringify!($name)),
            ])
        }

        #[doc(hidden)]
        pub mod $name {}
        $crate::__tag_tree_items! { [$($path),*] $($rest)* }
    };
}

#[cfg(test)]
mod tests {
    use crate::tags::{Segment, TagIndex};

    #[derive(Clone, Copy)]
    struct UserId(u32);

    impl From<UserId> for Segment {
        fn from(id: UserId) -> Segment {
            Segment::Int(id.0.into())
        }
    }

    crate::tag_tree! {
        mod tree {
            users {
                by_id(id: UserId);
                settings(id: UserId, section: &'static str);
                online;
            }
            flags {
                one(on: bool);
                deep {
                    deeper {
                        leaf(name: String);
                    }
                }
            }
        }
    }

    #[test]
    fn generated_paths() {
        assert_eq!(
            tree::users::by_id(UserId(4)).to_json(),
            r#"["users","by_id",4]"#
        );
        assert_eq!(
            tree::users::settings(UserId(4), "mail").to_json(),
            r#"["users","settings",4,"mail"]"#
        );
        assert_eq!(tree::users::online().to_json(), r#"["users","online"]"#);
        assert_eq!(tree::flags::one(true).to_json(), r#"["flags","one",true]"#);
        assert_eq!(
            tree::flags::deep::deeper::leaf("x".to_owned()).to_json(),
            r#"["flags","deep","deeper","leaf","x"]"#
        );
        assert_eq!(
            tree::flags::deep::deeper::all().to_json(),
            r#"["flags","deep","deeper"]"#
        );
        assert_eq!(
            tree::users::settings::all().to_json(),
            r#"["users","settings"]"#
        );
    }

    #[test]
    fn typed_and_runtime_tags_match_alike() {
        let mut index = TagIndex::new();
        index.insert(1, [tree::users::by_id(UserId(1))]);
        index.insert(2, [tree::users::online()]);
        let runtime = crate::tags::Tag::from_segments(["users".into(), "by_id".into(), 1.into()]);
        index.insert(3, [runtime]);
        let mut hits = index.matches(&tree::users::by_id::all());
        hits.sort();
        assert_eq!(hits, vec![1, 3]);
        let mut hits = index.matches(&tree::users::by_id(UserId(1)).into());
        hits.sort();
        assert_eq!(hits, vec![1, 3]);
        assert_eq!(index.matches(&tree::users::online().into()), vec![2]);
        assert_eq!(index.matches(&tree::all()).len(), 3);
    }
}
