//! How a tab learns which events its own writes became: the hub names them in the response's
//! `Server-Timing` header ([`crate::protocol::event_ids_header`]) and the browser exposes that
//! to the page as `PerformanceResourceTiming.serverTiming`. A `PerformanceObserver` collects
//! them (it sees every response, however full the resource timing buffer is); a mutation asks
//! for the ids of the responses that started after it did.
//!
//! Where the browser exposes nothing (no `PerformanceObserver`, or an insecure context: browsers
//! show `serverTiming` to secure contexts only, `localhost` included), no id is found and the
//! tab refetches once more than needed: correct, just not minimal.

use crate::protocol::{Cursor, EVENT_TIMING_METRIC};
use crate::query::QueryClient;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{
    PerformanceObserver, PerformanceObserverEntryList, PerformanceObserverInit,
    PerformanceResourceTiming, PerformanceServerTiming,
};

/// Responses with event ids, kept for this long (ms): a mutation reads them at once.
const KEEP_MS: f64 = 60_000.0;

struct Observed {
    observer: PerformanceObserver,
    _callback: Closure<dyn FnMut(PerformanceObserverEntryList)>,
    /// (request start, event ids), oldest first.
    seen: VecDeque<(f64, Vec<Cursor>)>,
}

thread_local! {
    static OBSERVED: RefCell<Option<Observed>> = const { RefCell::new(None) };
}

fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

fn record(entries: &js_sys::Array, seen: &mut VecDeque<(f64, Vec<Cursor>)>) {
    for entry in entries.iter() {
        let Ok(timing) = entry.dyn_into::<PerformanceResourceTiming>() else {
            continue;
        };
        let ids: Vec<Cursor> = timing
            .server_timing()
            .iter()
            .filter_map(|t| t.dyn_into::<PerformanceServerTiming>().ok())
            .filter(|t| t.name() == EVENT_TIMING_METRIC)
            .filter_map(|t| t.description().parse().ok())
            .collect();
        if !ids.is_empty() {
            seen.push_back((timing.start_time(), ids));
        }
    }
    let horizon = now() - KEEP_MS;
    while seen.front().is_some_and(|(at, _)| *at < horizon) {
        seen.pop_front();
    }
}

/// Starts observing responses (once per page) and gives `queries` the probe.
pub(crate) fn install(queries: &QueryClient) {
    let started = OBSERVED.with(|cell| {
        if cell.borrow().is_some() {
            return true;
        }
        let callback = Closure::<dyn FnMut(PerformanceObserverEntryList)>::new(
            |list: PerformanceObserverEntryList| {
                OBSERVED.with(|cell| {
                    if let Some(observed) = cell.borrow_mut().as_mut() {
                        record(&list.get_entries(), &mut observed.seen);
                    }
                });
            },
        );
        let Ok(observer) = PerformanceObserver::new(callback.as_ref().unchecked_ref()) else {
            return false;
        };
        let types = js_sys::Array::of1(&"resource".into());
        observer.observe(&PerformanceObserverInit::new(&types));
        *cell.borrow_mut() = Some(Observed {
            observer,
            _callback: callback,
            seen: VecDeque::new(),
        });
        true
    });
    if started {
        queries.set_event_probe(Arc::new(now), Arc::new(events_since));
    }
}

/// The event ids of responses whose requests started at or after `since`.
fn events_since(since: f64) -> Vec<Cursor> {
    OBSERVED.with(|cell| {
        let mut cell = cell.borrow_mut();
        let Some(observed) = cell.as_mut() else {
            return Vec::new();
        };
        // Entries the observer has not delivered yet.
        let pending = observed.observer.take_records();
        record(&pending, &mut observed.seen);
        observed
            .seen
            .iter()
            .filter(|(at, _)| *at >= since)
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect()
    })
}
