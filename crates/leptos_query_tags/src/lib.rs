#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! | module | runs | job |
//! |---|---|---|
//! | [`tags`] | everywhere | [`Tag`](tags::Tag), [`TagPattern`](tags::TagPattern), [`tag_tree!`], the [`TagIndex`](tags::TagIndex) |
//! | [`protocol`] | everywhere | wire types: event names, ids, payloads |
//! | [`cache`] | everywhere | the query cache: dedup, freshness, invalidation by tag, gc |
//! | [`query`] | everywhere | [`use_query`](query::use_query), [`use_mutation`](query::use_mutation), [`QueryClient`](query::QueryClient) |
//! | [`client`] | everywhere; the runtime in the browser (`hydrate`, `csr`) | [`QueryTagsProvider`](client::QueryTagsProvider), the event stream shared by a browser's tabs: leadership, reconnect, resume, dispatch |
//! | [`devtools`] | browser, debug builds (`devtools`) | `<QueryTagsDevtools/>`: connection, events, cache |
//! | `server` | server (`ssr`) | the hub: SSE endpoint, replay, `invalidate_tags` |
//!
//! ```
//! leptos_query_tags::tag_tree! {
//!     pub mod app_tags {
//!         todos {
//!             list;
//!             by_id(id: i64);
//!         }
//!     }
//! }
//!
//! // Invalidating `todos` reaches the list and every todo; `by_id(3)` only todo 3.
//! assert!(app_tags::todos::all().matches(&app_tags::todos::by_id(3)));
//! assert!(!leptos_query_tags::tags::TagPattern::from(app_tags::todos::by_id(3))
//!     .matches(&app_tags::todos::list()));
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod cache;
pub mod client;
pub mod protocol;
pub mod query;
pub mod tags;

mod platform;
mod sort;

#[cfg(feature = "devtools")]
#[cfg_attr(docsrs, doc(cfg(feature = "devtools")))]
pub mod devtools;

#[cfg(feature = "ssr")]
pub mod server;

/// The guide, `docs/guide.md`: from an empty app to live queries, mutations and scopes. Every
/// Rust example in it is compiled (and run where it can run) as a doctest of this module.
// Its examples use the server side, lean streams and the server cache included, so it exists
// with those features.
#[cfg(all(any(doc, doctest), feature = "lean-streams", feature = "server-cache"))]
pub mod guide {
    #![doc = include_str!("../docs/guide.md")]
}

/// The names most applications need.
pub mod prelude {
    pub use crate::client::{use_query_tags, ConnectionState, QueryTagsClient, QueryTagsProvider};
    pub use crate::query::{
        use_mutation, use_query, use_query_client, use_query_when, Mutation, MutationOptions,
        MutationStatus, Query, QueryClient, QueryOptions, QueryResult,
    };
    #[cfg(feature = "ssr")]
    pub use crate::server::{invalidate_tags, Hub};
    pub use crate::tag_tree;
    pub use crate::tags::{Segment, Tag, TagPattern};
}
