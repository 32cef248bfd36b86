//! The browser runtime and the provider that keeps queries live: one event stream per browser
//! profile and user, shared by its tabs; an honest connection state; the dispatch of events
//! into the query cache.
//!
//! | file | job |
//! |---|---|
//! | `live.rs` | [`QueryTagsProvider`], [`QueryTagsClient`]: connection state, event log, the cursor a page starts from |
//! | `tab.rs` | one tab's state machine: leadership, reconnection, dispatch (no browser APIs) |
//! | `received.rs` | de-duplication by event id, the resume cursor, the catch-up log |
//! | `wire.rs` | events read from the fields their data decodes to, and the messages between tabs |
//! | `browser.rs` | `EventSource`, `BroadcastChannel`, Web Locks, timers, `JSON.parse` of event data (`hydrate`, `csr`) |
//! | `native.rs` | the same entry points where there is no browser (server, tests): nothing to run; event data decoded with `serde_json` |
//! | `own_events.rs` | which events this tab's own writes became (`Server-Timing`), so its refetch stands for them |
//!
//! The logic is plain Rust, tested natively on a fake port and the manual clock; only
//! `browser.rs` needs a browser, and which of `browser.rs` and `native.rs` runs is chosen here,
//! once. This module uses [`query`](crate::query); `query` does not know it.
#![cfg_attr(not(any(feature = "hydrate", feature = "csr")), allow(dead_code))]

mod live;
mod received;
mod tab;
mod wire;

#[cfg(any(feature = "hydrate", feature = "csr"))]
#[path = "browser.rs"]
mod runtime;
#[cfg(not(any(feature = "hydrate", feature = "csr")))]
#[path = "native.rs"]
mod runtime;

#[cfg(any(feature = "hydrate", feature = "csr"))]
mod own_events;

pub use live::{
    use_query_tags, ConnectionInfo, ConnectionState, EventOrigin, EventRecord, QueryTagsClient,
    QueryTagsProvider, EVENT_LOG_CAPACITY,
};

#[cfg(test)]
mod tests;
