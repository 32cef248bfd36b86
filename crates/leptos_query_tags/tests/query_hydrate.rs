//! Server render -> hydration without a browser: the server's `SsrSharedContext` serializes
//! the query's data; a stand-in for the browser's hydration context feeds it back. The
//! browser side must show the data without fetching, and its cache must know it, so another
//! component reading the same key does not fetch either.

#[path = "support/settle.rs"]
mod settle;
use hydration_context::{
    PinnedFuture, PinnedStream, SerializedDataId, SharedContext, SsrSharedContext,
};
use leptos::error::{Error, ErrorId};
use leptos::prelude::*;
use leptos_query_tags::prelude::*;
use settle::settle;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the browser's `HydrateSharedContext` does, reading the server's buffers instead of
/// `window.__RESOLVED_RESOURCES`.
#[derive(Debug)]
struct BrowserContext {
    next: AtomicUsize,
    hydrating: AtomicBool,
    during_hydration: AtomicBool,
    resolved: HashMap<SerializedDataId, String>,
}

impl BrowserContext {
    async fn from_server(server: &SsrSharedContext) -> Self {
        BrowserContext {
            next: AtomicUsize::new(0),
            hydrating: AtomicBool::new(true),
            during_hydration: AtomicBool::new(true),
            resolved: server.consume_buffers().await.into_iter().collect(),
        }
    }
}

impl SharedContext for BrowserContext {
    fn is_browser(&self) -> bool {
        true
    }
    fn next_id(&self) -> SerializedDataId {
        SerializedDataId::new(self.next.fetch_add(1, Ordering::Relaxed))
    }
    fn write_async(&self, _: SerializedDataId, _: PinnedFuture<String>) {}
    fn read_data(&self, id: &SerializedDataId) -> Option<String> {
        self.during_hydration()
            .then(|| self.resolved.get(id).cloned())
            .flatten()
    }
    fn await_data(&self, _: &SerializedDataId) -> Option<String> {
        None
    }
    fn pending_data(&self) -> Option<PinnedStream<String>> {
        None
    }
    fn during_hydration(&self) -> bool {
        self.during_hydration.load(Ordering::Relaxed)
    }
    fn hydration_complete(&self) {
        self.during_hydration.store(false, Ordering::Relaxed)
    }
    fn get_is_hydrating(&self) -> bool {
        self.hydrating.load(Ordering::Relaxed)
    }
    fn set_is_hydrating(&self, hydrating: bool) {
        self.hydrating.store(hydrating, Ordering::Relaxed)
    }
    fn take_errors(&self) -> Vec<(SerializedDataId, ErrorId, Error)> {
        vec![]
    }
    fn errors(&self, _: &SerializedDataId) -> Vec<(ErrorId, Error)> {
        vec![]
    }
    fn seal_errors(&self, _: &SerializedDataId) {}
    fn register_error(&self, _: SerializedDataId, _: ErrorId, _: Error) {}
    fn defer_stream(&self, _: PinnedFuture<()>) {}
    fn await_deferred(&self) -> Option<PinnedFuture<()>> {
        None
    }
    fn set_incomplete_chunk(&self, _: SerializedDataId) {}
    fn get_incomplete_chunk(&self, _: &SerializedDataId) -> bool {
        false
    }
}

/// Counts fetches inside the future: Leptos builds (and drops, unpolled) the first future of
/// a hydrated resource, so a count outside it would be wrong.
fn todos(fetches: &Arc<AtomicUsize>, side: &'static str) -> Query<(), Vec<String>> {
    let fetches = fetches.clone();
    Query::new("todos", move |()| {
        let fetches = fetches.clone();
        async move {
            fetches.fetch_add(1, Ordering::SeqCst);
            Ok(vec![format!("rendered on the {side}")])
        }
    })
}

#[tokio::test(start_paused = true)]
async fn hydration_shows_the_server_data_without_a_second_fetch() {
    let _ = any_spawner::Executor::init_tokio();
    let server_fetches = Arc::new(AtomicUsize::new(0));
    let server = Arc::new(SsrSharedContext::new());
    let server_owner = Owner::new_root(Some(server.clone()));
    let on_server = server_owner.with(|| {
        provide_context(QueryClient::new());
        use_query(&todos(&server_fetches, "server"), || ())
    });
    assert_eq!(
        on_server.await,
        Ok(vec!["rendered on the server".to_owned()])
    );
    assert_eq!(server_fetches.load(Ordering::SeqCst), 1);

    let browser = Arc::new(BrowserContext::from_server(&server).await);
    assert_eq!(
        browser.resolved.len(),
        1,
        "the query's data went into the page"
    );
    let browser_owner = Owner::new_root(Some(browser.clone()));
    let browser_fetches = Arc::new(AtomicUsize::new(0));
    let query = todos(&browser_fetches, "browser");
    let (client, hydrated) = browser_owner.with(|| {
        let client = QueryClient::new();
        provide_context(client.clone());
        (client, use_query(&query, || ()))
    });
    assert_eq!(
        hydrated.await,
        Ok(vec!["rendered on the server".to_owned()])
    );
    browser.hydration_complete();
    settle().await;
    assert_eq!(
        browser_fetches.load(Ordering::SeqCst),
        0,
        "no second fetch on hydrate"
    );
    assert_eq!(
        client.get_query_data(&query, &()),
        Some(vec!["rendered on the server".to_owned()]),
        "the browser's cache holds the server's data"
    );

    // A component mounted after hydration reads the cache (fresh for its stale time).
    let query = query.stale_time(Duration::from_secs(60));
    let later = browser_owner.with(|| use_query(&query, || ()));
    settle().await;
    assert_eq!(
        browser_owner.with(|| later.data()),
        Some(vec!["rendered on the server".to_owned()])
    );
    assert_eq!(browser_fetches.load(Ordering::SeqCst), 0);

    // The control: without the server's buffers the browser fetches.
    let empty = Arc::new(BrowserContext::from_server(&SsrSharedContext::new()).await);
    let cold_owner = Owner::new_root(Some(empty));
    let cold = cold_owner.with(|| {
        provide_context(QueryClient::new());
        use_query(&todos(&browser_fetches, "browser"), || ())
    });
    assert_eq!(cold.await, Ok(vec!["rendered on the browser".to_owned()]));
    assert_eq!(browser_fetches.load(Ordering::SeqCst), 1);
}
