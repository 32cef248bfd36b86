//! The browser runtime: one event stream per browser profile and user, shared by its tabs; an
//! honest connection state; the dispatch of events into the query cache.
//!
//! | file | job |
//! |---|---|
//! | `tab.rs` | one tab's state machine: leadership, reconnection, dispatch (no browser APIs) |
//! | `received.rs` | de-duplication by event id, the resume cursor, the catch-up log |
//! | `wire.rs` | parsed events and the messages between tabs |
//! | `browser.rs` | `EventSource`, `BroadcastChannel`, Web Locks, timers (`hydrate`, `csr`) |
//! | `own_events.rs` | which events this tab's own writes became (`Server-Timing`), so its refetch stands for them |
//!
//! The logic is plain Rust, tested natively on a fake port and the manual clock; only
//! `browser.rs` needs a browser.
#![cfg_attr(not(any(feature = "hydrate", feature = "csr")), allow(dead_code))]

mod received;
mod tab;
mod wire;

#[cfg(any(feature = "hydrate", feature = "csr"))]
mod browser;
#[cfg(any(feature = "hydrate", feature = "csr"))]
mod own_events;

#[cfg(any(feature = "hydrate", feature = "csr"))]
pub(crate) use browser::{connect, watch_window};

#[cfg(test)]
mod tests;
