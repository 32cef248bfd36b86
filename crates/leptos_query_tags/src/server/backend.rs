//! Where a hub's events are ordered beyond this process: the interface between the hub and a
//! shared log (with the `redis` feature, `redis_backend`).
//!
//! The hub holds a [`SharedLog`] and publishes into it; the log's own tasks (appending,
//! following) reach the hub only through a [`HubLink`] the hub gives them. Neither side names
//! the other's types, so the hub and a backend do not import each other, and a hub without a
//! shared log has no `#[cfg]` in its code paths: it simply holds none.

use crate::protocol::{Cursor, Scope};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// An event as a shared log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogEntry {
    pub(crate) id: Cursor,
    pub(crate) scope: Scope,
    /// The invalidation's JSON, as published.
    pub(crate) data: String,
}

/// What a shared log's tasks ask of the hub that holds the log. Every method answers `None`
/// once the hub is gone: the tasks then end. (Only a backend calls these: none is compiled
/// without the `redis` feature.)
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) trait HubLink: Send + Sync + 'static {
    /// The id of the hub's last event.
    fn cursor(&self) -> Option<Cursor>;
    /// How many events the hub replays (the log keeps at least as many).
    fn replay_capacity(&self) -> Option<usize>;
    /// Takes the log's next entry: kept and fanned out when it is the next event of the hub's
    /// epoch, `Some(false)` (nothing done) otherwise.
    fn ingest(&self, entry: LogEntry) -> Option<bool>;
    /// Continues from the log's `head` after history was lost: the hub resets its streams.
    fn adopt(&self, head: Cursor) -> Option<()>;
}

/// A log of events shared by several hubs (instances of one application).
pub(crate) trait SharedLog: Send + Sync + std::fmt::Debug + 'static {
    /// The backend's name in [`HubStats::backend`](super::HubStats::backend).
    fn name(&self) -> &'static str;
    /// Starts the log's tasks for `hub` (once; later calls do nothing). Outside a Tokio
    /// runtime nothing starts, and a later call tries again.
    fn start(self: Arc<Self>, hub: Arc<dyn HubLink>);
    /// Queues an event for the log; `reply` learns its id once appended. The hub learns of
    /// the event from the log, like every other instance.
    fn enqueue(&self, scope: Scope, data: String, reply: Option<oneshot::Sender<Cursor>>);
    /// Waits (at most `limit`) until the hub follows the log.
    fn ready(&self, limit: Duration) -> BoxFuture<'_, ()>;
    /// Every event after `from` that the log still holds; `None` when it does not hold them
    /// all (or cannot be read now).
    fn read_after(&self, from: Cursor) -> BoxFuture<'_, Option<Vec<LogEntry>>>;
    /// Events the log's head was ahead of the hub at the last look, and events waiting to be
    /// appended.
    fn lag(&self) -> (u64, usize);
    /// Whether the log answered its last command.
    fn is_connected(&self) -> bool;
}
