//! [`QueryOptions`]: the settings of a query, each one optional, layered from the built-in
//! defaults, through the client's defaults, to the query's own.

use crate::cache::CacheOptions;
use std::time::Duration;

/// Query settings, each one optional. Set on a [`QueryClient`](super::QueryClient) (with
/// [`with_defaults`](super::QueryClient::with_defaults), or the provider's `defaults`
/// property) they are the defaults of every query in that client; set on a
/// [`Query`](super::Query) they override those for that query. What neither sets is
/// [`CacheOptions::default`] (TanStack Query's `defaultOptions.queries`, then the query's own).
///
/// ```
/// use leptos_query_tags::prelude::*;
/// use leptos_query_tags::query::QueryOptions;
/// use std::time::Duration;
///
/// // Every query of this client: 2 retries, kept 10 minutes when unused ...
/// let client = QueryClient::new()
///     .with_defaults(QueryOptions::new().retry(2).gc_time(Duration::from_secs(600)));
/// // ... except where a query says otherwise.
/// # use leptos::prelude::ServerFnError;
/// # async fn stats() -> Result<u32, ServerFnError> { Ok(1) }
/// let stats = Query::new("stats", |()| stats()).retry(0);
///
/// let options = client.options_of(&stats);
/// assert_eq!(options.retry, 0);
/// assert_eq!(options.gc_time, Duration::from_secs(600));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryOptions {
    stale_time: Option<Duration>,
    gc_time: Option<Duration>,
    retry: Option<u32>,
    refetch_on_window_focus: Option<bool>,
    refetch_on_reconnect: Option<bool>,
    fresh_while_live: Option<bool>,
    refetch_interval: Option<Option<Duration>>,
}

impl QueryOptions {
    /// No setting: everything comes from the layer below.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long fetched data is served without a refetch (built-in default 0). Setting it also
    /// turns [`fresh_while_live`](Self::fresh_while_live) off at this layer: call that after it
    /// to have both.
    pub fn stale_time(mut self, stale_time: Duration) -> Self {
        self.stale_time = Some(stale_time);
        self.fresh_while_live = Some(false);
        self
    }

    /// Whether a query with tags stays fresh until invalidated while the hub's event stream is
    /// open (built-in default true; see the guide's "Settings for live queries").
    pub fn fresh_while_live(mut self, fresh: bool) -> Self {
        self.fresh_while_live = Some(fresh);
        self
    }

    /// How long an unused entry stays cached (built-in default 5 minutes).
    pub fn gc_time(mut self, gc_time: Duration) -> Self {
        self.gc_time = Some(gc_time);
        self
    }

    /// Retries after a failure, with exponential backoff (built-in default 3 in the browser, 0
    /// on the server).
    pub fn retry(mut self, retries: u32) -> Self {
        self.retry = Some(retries);
        self
    }

    /// Whether a stale query in use refetches when the window regains focus (built-in default
    /// true).
    pub fn refetch_on_window_focus(mut self, refetch: bool) -> Self {
        self.refetch_on_window_focus = Some(refetch);
        self
    }

    /// Whether a stale query in use refetches when the browser comes back online (built-in
    /// default true).
    pub fn refetch_on_reconnect(mut self, refetch: bool) -> Self {
        self.refetch_on_reconnect = Some(refetch);
        self
    }

    /// Refetch a query in use every `interval`, fresh or not, while the page is visible
    /// (TanStack's `refetchInterval` with `refetchIntervalInBackground: false`); `None` turns a
    /// lower layer's interval off. Built-in default: no interval. For data the hub cannot know
    /// about (it changes by itself); data your server functions change needs none.
    pub fn refetch_interval(mut self, interval: Option<Duration>) -> Self {
        super::use_query::link_interval_timer();
        self.refetch_interval = Some(interval.filter(|d| !d.is_zero()));
        self
    }

    /// These settings, with `below`'s where these have none.
    pub fn or(self, below: QueryOptions) -> QueryOptions {
        QueryOptions {
            stale_time: self.stale_time.or(below.stale_time),
            gc_time: self.gc_time.or(below.gc_time),
            retry: self.retry.or(below.retry),
            refetch_on_window_focus: self
                .refetch_on_window_focus
                .or(below.refetch_on_window_focus),
            refetch_on_reconnect: self.refetch_on_reconnect.or(below.refetch_on_reconnect),
            fresh_while_live: self.fresh_while_live.or(below.fresh_while_live),
            refetch_interval: self.refetch_interval.or(below.refetch_interval),
        }
    }

    /// The complete settings: these, over the built-in defaults.
    pub fn resolve(self) -> CacheOptions {
        let base = CacheOptions::default();
        CacheOptions {
            stale_time: self.stale_time.unwrap_or(base.stale_time),
            gc_time: self.gc_time.unwrap_or(base.gc_time),
            retry: self.retry.unwrap_or(base.retry),
            refetch_on_window_focus: self
                .refetch_on_window_focus
                .unwrap_or(base.refetch_on_window_focus),
            refetch_on_reconnect: self
                .refetch_on_reconnect
                .unwrap_or(base.refetch_on_reconnect),
            fresh_while_live: self.fresh_while_live.unwrap_or(base.fresh_while_live),
            refetch_interval: self.refetch_interval.unwrap_or(base.refetch_interval),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_resolve_query_over_client_over_built_in() {
        let client = QueryOptions::new()
            .retry(2)
            .stale_time(Duration::from_secs(30))
            .refetch_interval(Some(Duration::from_secs(5)));
        let query = QueryOptions::new()
            .retry(0)
            .fresh_while_live(true)
            .refetch_interval(None);
        let resolved = query.or(client).resolve();
        assert_eq!(resolved.retry, 0, "the query's own");
        assert_eq!(resolved.stale_time, Duration::from_secs(30), "the client's");
        assert!(
            resolved.fresh_while_live,
            "set after stale_time, at a higher layer"
        );
        assert_eq!(resolved.refetch_interval, None, "turned off by the query");
        assert_eq!(
            resolved.gc_time,
            CacheOptions::default().gc_time,
            "built in"
        );
        // The client's stale_time alone turns live freshness off for its queries.
        assert!(!QueryOptions::new().or(client).resolve().fresh_while_live);
        assert_eq!(
            QueryOptions::new().or(client).resolve().refetch_interval,
            Some(Duration::from_secs(5))
        );
        assert_eq!(QueryOptions::new().resolve(), CacheOptions::default());
    }
}
