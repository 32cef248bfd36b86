//! Queries in Leptos components: a cache shared by the page, kept live by tags.
//!
//! This layer is isomorphic: it renders on the server (queries resolve during SSR and their
//! data streams to the browser) and hydrates in the browser, where the provider opens the
//! event stream and each invalidation refetches the queries it matches.
//!
//! | item | job |
//! |---|---|
//! | [`Query`] | one kind of query: name, fetcher, tags, settings |
//! | [`QueryOptions`] | settings: a client's defaults, a query's overrides |
//! | [`use_query`] / [`QueryResult`] | a query in a component, on a Leptos `Resource` |
//! | [`InfiniteQuery`] / [`use_infinite_query`] | pages loaded one after another, refetched in order |
//! | [`use_mutation`] / [`MutationOptions`] | a change, optimistic update, pending state |
//! | [`QueryClient`] | the cache: prefetch, get / set data, invalidate, cancel |
//! | `Local` | (`csr`) data that is not `Send`: browser objects as query data |
//!
//! The provider that keeps these queries live ([`QueryTagsProvider`](crate::client::QueryTagsProvider))
//! and the browser runtime behind it are in [`client`](crate::client); this module knows
//! neither the browser runtime nor the server.

mod infinite;
#[cfg(any(feature = "csr", test))]
mod local;
mod maybe_send;
mod mutation;
mod options;
mod query_client;
mod use_query;

pub use infinite::{use_infinite_query, InfiniteQuery, InfiniteQueryResult, Pages};
#[cfg(any(feature = "csr", test))]
#[cfg_attr(docsrs, doc(cfg(feature = "csr")))]
pub use local::Local;
pub use maybe_send::MaybeSend;
pub use mutation::{
    mutation_on, use_mutation, Mutation, MutationCancelled, MutationOptions, MutationStatus,
    Optimistic,
};
pub use options::QueryOptions;
pub use query_client::{use_query_client, MakePlaceholder, PlaceholderData, Query, QueryClient};
pub use use_query::{use_query, use_query_when, QueryResult};
