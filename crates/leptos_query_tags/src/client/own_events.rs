//! How a tab learns which events its own writes became: the hub names them in the response's
//! `Server-Timing` header ([`crate::protocol::event_ids_header`]) and the browser exposes that
//! to the page as `PerformanceResourceTiming.serverTiming`. A `PerformanceObserver` in
//! `js/runtime.js` collects them (it sees every response, however full the resource timing
//! buffer is); a mutation asks for the ids of the responses that started after it did.
//!
//! Where the browser exposes nothing (no `PerformanceObserver`, or an insecure context: browsers
//! show `serverTiming` to secure contexts only, `localhost` included), no id is found and the
//! tab refetches once more than needed: correct, just not minimal.

use super::runtime::{events_since, observe_events, performance_now};
use crate::protocol::{Cursor, EVENT_TIMING_METRIC};
use crate::query::QueryClient;
use std::sync::Arc;

/// Starts observing responses (once per page) and gives `queries` the probe.
pub(crate) fn install(queries: &QueryClient) {
    if observe_events(EVENT_TIMING_METRIC) {
        queries.set_event_probe(Arc::new(performance_now), Arc::new(own_events_since));
    }
}

/// The event ids of responses whose requests started at or after `since`.
fn own_events_since(since: f64) -> Vec<Cursor> {
    events_since(since)
        .iter()
        .filter_map(|id| id.as_string()?.parse().ok())
        .collect()
}
