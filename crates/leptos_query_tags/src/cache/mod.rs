//! The query cache: keyed entries, fetch dedup, freshness, invalidation by tag, and gc.
//!
//! This is the engine under [`QueryClient`](crate::query::QueryClient) and
//! [`use_query`](crate::query::use_query); it has no reactive or browser dependency, so its
//! rules are tested natively with a [`ManualClock`]:
//!
//! - **dedup**: while a fetch for a key is in flight, every reader of that key waits on it;
//! - **an invalidation wins over a fetch in flight**: each entry counts its invalidations; a
//!   fetch that started before the latest one cannot mark the entry fresh, and whoever awaits it
//!   gets the result of a fetch that starts after the invalidation (the bug of TanStack Query
//!   #8530 cannot happen);
//! - **bursts coalesce**: invalidations that arrive while a fetch is in flight let it finish and
//!   then start one trailing fetch, so N events cost at most one fetch in flight and one after
//!   it, not N cancelled requests;
//! - **inactive entries** (no component uses them) are only marked stale by an invalidation
//!   and refetch when they are next used;
//! - **gc**: an entry no one uses is removed after its gc time.

mod clock;
mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use store::{retry_delay, CacheOptions, EntryInspection, QueryCache, QueryKey, QueryStatus};
pub(crate) use store::{FetchSpec, JsonFn, Listener, Notice, Outcome, ResultTagsFn, Value};
