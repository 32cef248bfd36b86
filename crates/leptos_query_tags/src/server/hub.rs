//! The [`Hub`]: event log, replay ring and fan-out to every open stream.

use super::backend::{HubLink, LogEntry, SharedLog};
use super::error::{HubError, InvalidateError};
use super::fanout::{Fanout, Subscriber};
use crate::protocol::{event, sse, Cursor, Invalidation, ResetReason, Scope, DEFAULT_BASE_PATH};
use crate::tags::{DecodeLimits, TagPattern};
use bytes::Bytes;
use futures::future::BoxFuture;
use http::request::Parts;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type ResolveFn = dyn Fn(&Parts) -> BoxFuture<'static, Vec<Scope>> + Send + Sync;

/// Decides, from a stream request, the scopes that connection may receive.
#[derive(Clone)]
pub(crate) struct ScopeResolver(Arc<ResolveFn>);

impl fmt::Debug for ScopeResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScopeResolver(..)")
    }
}

/// Builds a [`Hub`]. Every setting has a default suited to one server process.
///
/// ```
/// use leptos_query_tags::server::Hub;
/// use std::time::Duration;
///
/// let hub = Hub::builder()
///     .base_path("/live")                     // endpoints at /live/events, ...
///     .heartbeat(Duration::from_secs(20))     // below your proxy's idle timeout
///     .replay_capacity(4096)                  // events kept for reconnecting browsers
///     .max_streams_per_client(32)             // 429 beyond, per client address
///     .build();
/// assert_eq!(hub.base_path(), "/live");
/// ```
#[derive(Debug, Clone)]
pub struct HubBuilder {
    base_path: String,
    heartbeat: Duration,
    retry: Duration,
    replay_capacity: usize,
    queue_capacity: usize,
    limits: DecodeLimits,
    max_connections: usize,
    max_connections_per_scope: usize,
    max_streams_per_client: Option<usize>,
    publish_secret: Option<Arc<str>>,
    max_publish_body: usize,
    resolver: Option<ScopeResolver>,
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    prometheus_endpoint: bool,
    /// Redis URL and key prefix, when the log is shared.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    redis: Option<(String, String)>,
    #[cfg_attr(not(feature = "server-cache"), allow(dead_code))]
    server_cache: CacheSlot,
    js_client: bool,
}

/// Where the builder keeps the server cache it was given: nothing without `server-cache`.
#[cfg(feature = "server-cache")]
type CacheSlot = Option<super::ServerCache>;
#[cfg(not(feature = "server-cache"))]
type CacheSlot = ();

impl Default for HubBuilder {
    fn default() -> Self {
        HubBuilder {
            base_path: DEFAULT_BASE_PATH.to_owned(),
            heartbeat: Duration::from_secs(15),
            retry: Duration::from_secs(2),
            replay_capacity: 1024,
            queue_capacity: 256,
            limits: DecodeLimits::DEFAULT,
            max_connections: 10_000,
            max_connections_per_scope: 64,
            max_streams_per_client: None,
            publish_secret: None,
            max_publish_body: 64 * 1024,
            resolver: None,
            prometheus_endpoint: false,
            redis: None,
            js_client: true,
            server_cache: CacheSlot::default(),
        }
    }
}

impl HubBuilder {
    /// Where the endpoints are mounted (default `/api/query-tags`). A trailing `/` is ignored.
    pub fn base_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        let trimmed = path.trim_end_matches('/');
        self.base_path = if trimmed.starts_with('/') {
            trimmed.to_owned()
        } else {
            format!("/{trimmed}")
        };
        self
    }

    /// Interval of the heartbeat comments that keep proxies from closing idle streams (default
    /// 15 s).
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = interval.max(Duration::from_millis(10));
        self
    }

    /// The reconnection delay the hub asks browsers to use (SSE `retry:`, default 2 s).
    pub fn retry(mut self, delay: Duration) -> Self {
        self.retry = delay;
        self
    }

    /// How many recent events are kept for replay to reconnecting clients (default 1024).
    pub fn replay_capacity(mut self, events: usize) -> Self {
        self.replay_capacity = events.max(1);
        self
    }

    /// How many events one connection may fall behind before it gets `reset` and is closed
    /// (default 256).
    pub fn queue_capacity(mut self, events: usize) -> Self {
        self.queue_capacity = events.max(1);
        self
    }

    /// Limits on the tags of one invalidation.
    pub fn limits(mut self, limits: DecodeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Most open streams in total (default 10,000); more are answered `429`.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// Most open streams receiving one non-global scope, say one user's (default 64); more are
    /// answered `429`.
    pub fn max_connections_per_scope(mut self, connections: usize) -> Self {
        self.max_connections_per_scope = connections;
        self
    }

    /// Most open streams from one client IP address (off by default); more are answered `429`.
    /// The address is the request's `ConnectInfo<SocketAddr>`: [`Hub::serve`] always sets it,
    /// with `axum::serve` use `into_make_service_with_connect_info::<SocketAddr>()`; requests
    /// without it are not counted. Behind a reverse proxy every client has the proxy's address,
    /// so set this to what the proxy may hold, or leave it off and limit at the proxy.
    pub fn max_streams_per_client(mut self, streams: usize) -> Self {
        self.max_streams_per_client = Some(streams);
        self
    }

    /// Turns on `POST <base>/publish` for producers outside the app (jobs, other services),
    /// guarded by `Authorization: Bearer <secret>`. Off when never called. Use a long random
    /// secret from your configuration, never from the code.
    pub fn publish_secret(mut self, secret: impl Into<String>) -> Self {
        let secret = secret.into();
        self.publish_secret = (!secret.is_empty()).then(|| Arc::from(secret));
        self
    }

    /// Serves `GET <base>/metrics`: [`Hub::stats`] in the Prometheus text format (streams, by
    /// scope kind only; events published and delivered; resets by reason; write timeouts).
    /// Aggregates only, nothing about who is connected; still, keep it off the public internet
    /// (bind it behind your proxy's internal routes). Needs the `prometheus` feature.
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    pub fn prometheus_endpoint(mut self, on: bool) -> Self {
        self.prometheus_endpoint = on;
        self
    }

    /// Shares the event log with every other instance through Redis Streams at `url`
    /// (`redis://host:6379/0`): an event published on any instance reaches the streams of all of
    /// them, with the same ids, and a browser resumes on any instance. Keys live under the hash
    /// tag `{query_tags}` (see [`redis_prefix`](Self::redis_prefix)). Needs the `redis` feature
    /// and a tokio runtime when the hub is first used. See docs/scaling.md.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        let prefix = self
            .redis
            .take()
            .map_or_else(|| "query_tags".to_owned(), |(_, prefix)| prefix);
        self.redis = Some((url.into(), prefix));
        self
    }

    /// The prefix of the Redis keys (default `query_tags`; the keys are `{prefix}:meta` and
    /// `{prefix}:stream`). Applications sharing one Redis need different prefixes.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis_prefix(mut self, prefix: impl Into<String>) -> Self {
        let url = self.redis.take().map(|(url, _)| url).unwrap_or_default();
        self.redis = Some((url, prefix.into()));
        self
    }

    /// Largest body `POST <base>/publish` accepts (default 64 KiB); larger ones get `413`.
    pub fn max_publish_body(mut self, bytes: usize) -> Self {
        self.max_publish_body = bytes;
        self
    }

    /// Decides which scopes a stream may receive, from its request (cookies, headers, and the
    /// extensions an auth layer set). Without a resolver every stream receives the global scope
    /// only. The resolver should include [`Scope::global`] for connections that may receive
    /// global events. A client may narrow the set with `?scope=`, never widen it: asking for a
    /// scope outside it is a `403`.
    ///
    /// ```
    /// use leptos_query_tags::protocol::Scope;
    /// use leptos_query_tags::server::Hub;
    ///
    /// let hub = Hub::builder()
    ///     .scope_resolver(|parts: &http::request::Parts| {
    ///         // Real apps read their session here; this one trusts a header, for brevity only.
    ///         let user = parts.headers.get("x-user").and_then(|v| v.to_str().ok()).map(str::to_owned);
    ///         async move {
    ///             let mut scopes = vec![Scope::global()];
    ///             scopes.extend(user.and_then(|u| Scope::keyed("user", u).ok()));
    ///             scopes
    ///         }
    ///     })
    ///     .build();
    /// # let _ = hub;
    /// ```
    pub fn scope_resolver<F, Fut>(mut self, resolver: F) -> Self
    where
        F: Fn(&Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Scope>> + Send + 'static,
    {
        self.resolver = Some(ScopeResolver(Arc::new(move |parts| {
            Box::pin(resolver(parts))
        })));
        self
    }

    /// Purges `cache` with every invalidation this hub publishes (when it is published: after
    /// the server function's `Ok`, before its response) and, with the `redis` backend, every
    /// one it receives from other instances; a `reset` (lost history) clears it.
    /// [`cached`](super::cached) finds it through the hub.
    #[cfg(feature = "server-cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "server-cache")))]
    pub fn server_cache(mut self, cache: super::ServerCache) -> Self {
        self.server_cache = Some(cache);
        self
    }

    /// Whether to serve the JS client for non-Leptos frontends at `<base>/client.js` (default
    /// true; an ES module of a few KiB, no dependencies: see `clients/js` in the repository).
    pub fn serve_js_client(mut self, serve: bool) -> Self {
        self.js_client = serve;
        self
    }

    /// The shared log the builder asks for: Redis (feature `redis`) or none.
    #[cfg(feature = "redis")]
    fn shared_log(&self) -> Option<Arc<dyn SharedLog>> {
        let (url, prefix) = self.redis.clone().filter(|(url, _)| !url.is_empty())?;
        Some(Arc::new(super::redis_backend::RedisBackend::new(
            url, prefix,
        )))
    }

    /// The shared log the builder asks for: none without the `redis` feature.
    #[cfg(not(feature = "redis"))]
    fn shared_log(&self) -> Option<Arc<dyn SharedLog>> {
        None
    }

    /// Creates the hub.
    pub fn build(self) -> Hub {
        let hub = Hub {
            inner: Arc::new_cyclic(|weak| Inner {
                link: Arc::new(Link(weak.clone())),
                shared: self.shared_log(),
                counts: Mutex::new(Counts::default()),
                log: Mutex::new(Log {
                    epoch: next_epoch(),
                    last_seq: 0,
                    ring: VecDeque::with_capacity(self.replay_capacity.min(4096)),
                }),
                fanout: Arc::new(Fanout::new(self.queue_capacity)),
                shutting_down: AtomicBool::new(false),
                heartbeat_started: AtomicBool::new(false),
                counters: Counters::default(),
                config: self,
            }),
        };
        // Follow the shared log from now on (inside a runtime; otherwise from first use).
        hub.start_shared();
        hub
    }
}

/// Epochs are the start time in milliseconds, made strictly increasing within one process so
/// that two hubs never share one.
fn next_epoch() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// One published event, serialized once; every connection shares its bytes.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) id: Cursor,
    pub(crate) scope: Scope,
    pub(crate) bytes: Bytes,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_scope: HashMap<Scope, usize>,
    per_client: HashMap<IpAddr, usize>,
}

/// Takes one off `key`'s count, forgetting keys that reach zero.
fn release<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

/// Holds one stream's place in the connection limits; gives it back when dropped.
#[derive(Debug)]
pub(crate) struct ConnectionPermit {
    hub: Hub,
    scopes: Arc<[Scope]>,
    /// Counted against `max_streams_per_client`.
    client: Option<IpAddr>,
}

impl ConnectionPermit {
    pub(crate) fn scopes(&self) -> &Arc<[Scope]> {
        &self.scopes
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut counts = self.hub.counts();
        counts.total = counts.total.saturating_sub(1);
        for scope in self.scopes.iter().filter(|s| !s.is_global()) {
            release(&mut counts.per_scope, scope);
        }
        if let Some(client) = &self.client {
            release(&mut counts.per_client, client);
        }
    }
}

#[derive(Debug)]
struct Log {
    /// The epoch of the ids: this process's start, or the shared log's.
    epoch: u64,
    last_seq: u64,
    ring: VecDeque<Arc<Frame>>,
}

#[derive(Debug)]
struct Inner {
    config: HubBuilder,
    /// The log shared with other instances, if any (events are ordered there, not here).
    shared: Option<Arc<dyn SharedLog>>,
    /// What the shared log's tasks hold of the hub (made once: a publish through the shared
    /// log hands it over again without allocating).
    link: Arc<Link>,
    log: Mutex<Log>,
    counts: Mutex<Counts>,
    fanout: Arc<Fanout>,
    shutting_down: AtomicBool,
    heartbeat_started: AtomicBool,
    counters: Counters,
}

/// What the hub has done since it started, for [`Hub::stats`].
#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    delivered: AtomicU64,
    reset_unknown_epoch: AtomicU64,
    reset_cursor_too_old: AtomicU64,
    reset_lagged: AtomicU64,
    write_timeouts: AtomicU64,
}

/// A snapshot of what a [`Hub`] holds and has done: for logs, health checks and metrics.
///
/// ```
/// use leptos_query_tags::server::Hub;
///
/// let hub = Hub::default();
/// hub.invalidate_tags([leptos_query_tags::tags::Tag::from_segments(["todos".into()])]).unwrap();
/// let stats = hub.stats();
/// assert_eq!((stats.streams, stats.events_published), (0, 1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct HubStats {
    /// Open event streams.
    pub streams: usize,
    /// Open event streams per scope they receive (a stream counts once per scope).
    pub streams_per_scope: std::collections::BTreeMap<String, usize>,
    /// Events published since the hub started.
    pub events_published: u64,
    /// Frames handed to streams (one event to 100 streams counts 100).
    pub events_delivered: u64,
    /// `reset` events sent, by reason.
    pub resets: ResetCounts,
    /// Connections closed because the client did not read within the write timeout
    /// ([`Serve::write_timeout`](super::Serve::write_timeout)).
    pub write_timeouts: u64,
    /// Where events are ordered and kept: `memory` (this process) or `redis` (shared).
    pub backend: &'static str,
    /// Whether the backend answered its last command (always `true` in memory).
    pub backend_connected: bool,
    /// Events the shared log was ahead of this instance at its follower's last look (0 in
    /// memory).
    pub backend_behind: u64,
    /// Events waiting to be appended to the shared log (0 in memory).
    pub backend_outbox: usize,
}

/// `reset` events sent, by [`ResetReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ResetCounts {
    /// The client's cursor was from another epoch (a restart) or ahead of the log.
    pub unknown_epoch: u64,
    /// The events after the client's cursor had left the replay ring.
    pub cursor_too_old: u64,
    /// The stream fell more than its queue bound behind (it was closed after the reset).
    pub lagged: u64,
}

/// What a shared log's tasks reach the hub through: a [`Hub`] that does not keep it alive.
/// (Read only by a backend's tasks: none is compiled without the `redis` feature.)
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
struct Link(std::sync::Weak<Inner>);

#[cfg_attr(not(feature = "redis"), allow(dead_code))]
impl Link {
    fn hub(&self) -> Option<Hub> {
        self.0.upgrade().map(|inner| Hub { inner })
    }
}

impl HubLink for Link {
    fn cursor(&self) -> Option<Cursor> {
        Some(self.hub()?.cursor())
    }

    fn replay_capacity(&self) -> Option<usize> {
        Some(self.hub()?.inner.config.replay_capacity)
    }

    fn ingest(&self, entry: LogEntry) -> Option<bool> {
        Some(self.hub()?.ingest(entry))
    }

    fn adopt(&self, head: Cursor) -> Option<()> {
        self.hub()?.adopt(head);
        Some(())
    }
}

/// The invalidation hub: publishes events, keeps a replay ring and serves the SSE stream.
///
/// Create one per process with [`Hub::builder`], wrap your axum router with [`Hub::mount`], and
/// call [`invalidate_tags`](super::invalidate_tags) from server functions. Cloning is cheap.
///
/// ```no_run
/// use axum::{routing::get, Router};
/// use leptos_query_tags::server::Hub;
///
/// # async fn run() -> std::io::Result<()> {
/// let hub = Hub::builder().build();
/// // Your routes (Leptos routes and server functions in an app), then the hub around them.
/// let app = hub.mount(Router::new().route("/", get(|| async { "hello" })));
///
/// // A job outside any request publishes at once.
/// let jobs = hub.clone();
/// tokio::spawn(async move {
///     let _ = jobs.invalidate_tags([leptos_query_tags::tags::Tag::from_segments(["reports".into()])]);
/// });
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// hub.serve(listener, app).await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::builder().build()
    }
}

/// What a new connection starts with.
pub(crate) struct Subscription {
    /// Where the live events arrive.
    pub(crate) subscriber: Subscriber,
    /// Events after the requested cursor, still in the ring.
    pub(crate) backlog: Vec<Bytes>,
    /// Where the stream starts (sent in `hello`).
    pub(crate) start: Cursor,
    /// Set when replay from the requested cursor is impossible.
    pub(crate) reset: Option<ResetReason>,
}

impl Hub {
    /// A builder with the default settings.
    pub fn builder() -> HubBuilder {
        HubBuilder::default()
    }

    /// The base path the endpoints are mounted under.
    pub fn base_path(&self) -> &str {
        &self.inner.config.base_path
    }

    pub(crate) fn limits(&self) -> &DecodeLimits {
        &self.inner.config.limits
    }

    pub(crate) fn heartbeat(&self) -> Duration {
        self.inner.config.heartbeat
    }

    pub(crate) fn retry(&self) -> Duration {
        self.inner.config.retry
    }

    /// The epoch of this hub's event log.
    pub fn epoch(&self) -> u64 {
        self.log().epoch
    }

    /// The id of the last published event (`seq` 0 before the first). A page rendered now can
    /// embed it so that its client replays everything published after the render.
    pub fn cursor(&self) -> Cursor {
        let log = self.log();
        Cursor {
            epoch: log.epoch,
            seq: log.last_seq,
        }
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.inner
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn serves_js_client(&self) -> bool {
        self.inner.config.js_client
    }

    pub(crate) fn publish_secret(&self) -> Option<&str> {
        self.inner.config.publish_secret.as_deref()
    }

    #[cfg(feature = "prometheus")]
    pub(crate) fn prometheus_endpoint(&self) -> bool {
        self.inner.config.prometheus_endpoint
    }

    pub(crate) fn max_publish_body(&self) -> usize {
        self.inner.config.max_publish_body
    }

    /// The scopes a stream request may receive, according to the resolver.
    pub(crate) async fn allowed_scopes(&self, parts: &Parts) -> Vec<Scope> {
        match &self.inner.config.resolver {
            Some(resolver) => (resolver.0)(parts).await,
            None => vec![Scope::global()],
        }
    }

    /// Takes a place for a stream receiving `scopes` from `client` (when known), or says which
    /// limit is reached.
    pub(crate) fn admit(
        &self,
        scopes: Vec<Scope>,
        client: Option<IpAddr>,
    ) -> Result<ConnectionPermit, HubError> {
        let config = &self.inner.config;
        let mut counts = self.counts();
        if counts.total >= config.max_connections {
            return Err(HubError::TooManyConnections {
                limit: config.max_connections,
            });
        }
        for scope in scopes.iter().filter(|s| !s.is_global()) {
            if counts.per_scope.get(scope).copied().unwrap_or(0) >= config.max_connections_per_scope
            {
                return Err(HubError::TooManyConnectionsForScope {
                    scope: scope.clone(),
                    limit: config.max_connections_per_scope,
                });
            }
        }
        let client = client.filter(|_| config.max_streams_per_client.is_some());
        if let (Some(client), Some(limit)) = (&client, config.max_streams_per_client) {
            if counts.per_client.get(client).copied().unwrap_or(0) >= limit {
                return Err(HubError::TooManyStreamsForClient { limit });
            }
        }
        counts.total += 1;
        for scope in scopes.iter().filter(|s| !s.is_global()) {
            *counts.per_scope.entry(scope.clone()).or_default() += 1;
        }
        if let Some(client) = client {
            *counts.per_client.entry(client).or_default() += 1;
        }
        Ok(ConnectionPermit {
            hub: self.clone(),
            scopes: scopes.into(),
            client,
        })
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        // The log is consistent after every statement that mutates it; a panic elsewhere while
        // holding the lock leaves nothing half-done.
        self.inner
            .log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publishes an invalidation in the global scope now, to every connected client.
    ///
    /// Inside a server function prefer the free function
    /// [`invalidate_tags`](super::invalidate_tags), which waits until the function has returned
    /// `Ok`. This method is for jobs and tasks outside requests. With a shared log (Redis) the
    /// event is queued and published as soon as Redis takes it; [`Hub::publish`] waits for its id.
    pub fn invalidate_tags<I>(&self, tags: I) -> Result<(), InvalidateError>
    where
        I: IntoIterator,
        I::Item: Into<TagPattern>,
    {
        self.invalidate_tags_in(Scope::global(), tags)
    }

    /// Publishes an invalidation now to the connections allowed to receive `scope` only.
    pub fn invalidate_tags_in<I>(&self, scope: Scope, tags: I) -> Result<(), InvalidateError>
    where
        I: IntoIterator,
        I::Item: Into<TagPattern>,
    {
        let tags: Vec<TagPattern> = tags.into_iter().map(Into::into).collect();
        TagPattern::validate_list(&tags, &self.inner.config.limits)?;
        self.submit(scope, tags, None);
        Ok(())
    }

    /// Publishes an invalidation in `scope` and returns its event id once it has one (at once
    /// in memory; once Redis has appended it with a shared log).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use leptos_query_tags::server::{Hub, Scope};
    /// use leptos_query_tags::tags::Tag;
    ///
    /// let hub = Hub::default();
    /// let id = hub.publish(Scope::global(), [Tag::from_segments(["todos".into()])]).await.unwrap();
    /// assert_eq!(id, hub.cursor());
    /// # });
    /// ```
    pub async fn publish<I>(&self, scope: Scope, tags: I) -> Result<Cursor, InvalidateError>
    where
        I: IntoIterator,
        I::Item: Into<TagPattern>,
    {
        let tags: Vec<TagPattern> = tags.into_iter().map(Into::into).collect();
        TagPattern::validate_list(&tags, &self.inner.config.limits)?;
        let (reply, id) = tokio::sync::oneshot::channel();
        self.submit(scope, tags, Some(reply));
        id.await.map_err(|_| InvalidateError::Unavailable)
    }

    /// Publishes validated tags: in memory now, or through the shared log.
    pub(crate) fn submit(
        &self,
        scope: Scope,
        tags: Vec<TagPattern>,
        reply: Option<tokio::sync::oneshot::Sender<Cursor>>,
    ) {
        // Read-your-writes on this instance: purged before the response leaves.
        self.purge_server_cache(&tags);
        let invalidation = Invalidation {
            tags,
            scope: scope.clone(),
        };
        let data = serde_json::to_string(&invalidation)
            .unwrap_or_else(|_| unreachable!("tags always serialize"));
        if let Some(shared) = &self.inner.shared {
            self.start_shared();
            shared.enqueue(scope, data, reply);
            return;
        }
        let id = self.append_local(scope, &data);
        if let Some(reply) = reply {
            let _ = reply.send(id);
        }
    }

    /// Gives the event a sequence number of this hub's own and publishes it.
    fn append_local(&self, scope: Scope, data: &str) -> Cursor {
        let mut log = self.log();
        let id = Cursor {
            epoch: log.epoch,
            seq: log.last_seq + 1,
        };
        self.publish_locked(&mut log, id, scope, data);
        id
    }

    /// Keeps `id` in the ring and hands it to the streams of `scope`. Under the log lock, so
    /// that a subscriber registering under the same lock sees each event either in the ring
    /// snapshot or live, never both, never neither.
    fn publish_locked(&self, log: &mut Log, id: Cursor, scope: Scope, data: &str) {
        log.last_seq = id.seq;
        let frame = Arc::new(Frame {
            id,
            scope,
            bytes: Bytes::from(sse::frame(event::INVALIDATE, Some(id), data, None)),
        });
        if log.ring.len() == self.inner.config.replay_capacity {
            log.ring.pop_front();
        }
        let delivered = self
            .inner
            .fanout
            .deliver(&frame.scope, id.seq, &frame.bytes);
        let c = &self.inner.counters;
        c.published.fetch_add(1, Ordering::Relaxed);
        c.delivered.fetch_add(delivered as u64, Ordering::Relaxed);
        log.ring.push_back(frame);
        tracing::debug!(event = %id, "published invalidation");
    }

    /// Registers a new stream receiving `scopes`: its live receiver and its replay backlog, taken
    /// atomically.
    pub(crate) fn subscribe(&self, from: Option<Cursor>, scopes: &Arc<[Scope]>) -> Subscription {
        let log = self.log();
        let subscriber = self.inner.fanout.register(scopes.clone());
        let head = Cursor {
            epoch: log.epoch,
            seq: log.last_seq,
        };
        let oldest_kept = log.ring.front().map_or(head.seq + 1, |f| f.id.seq);
        let reset = match from {
            None => None,
            Some(from) if from.epoch != head.epoch || from.seq > head.seq => {
                Some(ResetReason::UnknownEpoch)
            }
            Some(from) if from.seq + 1 < oldest_kept => Some(ResetReason::CursorTooOld),
            Some(_) => None,
        };
        let (start, backlog) = match from {
            Some(from) if reset.is_none() => {
                let backlog = log
                    .ring
                    .iter()
                    .filter(|f| f.id.seq > from.seq && scopes.contains(&f.scope))
                    .map(|f| f.bytes.clone())
                    .collect();
                (from, backlog)
            }
            _ => (head, Vec::new()),
        };
        Subscription {
            subscriber,
            backlog,
            start,
            reset,
        }
    }

    /// One task per hub sends the heartbeat to every stream; started with the first stream
    /// (inside the server's runtime: building a hub needs none).
    pub(crate) fn start_heartbeat(&self) {
        if self.inner.heartbeat_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::downgrade(&self.inner);
        let period = self.heartbeat();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(inner) = inner.upgrade() else { return };
                if inner.shutting_down.load(Ordering::Acquire) {
                    return;
                }
                inner.fanout.heartbeat();
            }
        });
    }

    fn backend_name(&self) -> &'static str {
        self.inner
            .shared
            .as_ref()
            .map_or("memory", |shared| shared.name())
    }

    fn backend_lag(&self) -> (u64, usize) {
        self.inner
            .shared
            .as_ref()
            .map_or((0, 0), |shared| shared.lag())
    }

    fn backend_connected(&self) -> bool {
        self.inner
            .shared
            .as_ref()
            .is_none_or(|shared| shared.is_connected())
    }

    /// Starts the shared log's tasks, if the hub has a shared log (once; outside a Tokio
    /// runtime, at the next call).
    fn start_shared(&self) {
        if let Some(shared) = &self.inner.shared {
            shared.clone().start(self.inner.link.clone());
        }
    }

    /// Starts following the shared log, if any, and waits (briefly) until the hub does, so that
    /// a new stream starts on the log's epoch.
    pub(crate) async fn ready(&self) {
        if let Some(shared) = &self.inner.shared {
            self.start_shared();
            shared.ready(Duration::from_secs(2)).await;
        }
    }

    /// Completes a subscription whose cursor is older than the ring from the shared log, when
    /// it still holds every event after the cursor (an instance started after them, say): the
    /// browser then resumes exactly instead of getting `reset`. Only events up to the
    /// subscription's start: later ones reach the stream live.
    pub(crate) async fn backfill(
        &self,
        sub: &mut Subscription,
        from: Option<Cursor>,
        scopes: &Arc<[Scope]>,
    ) {
        if let (Some(shared), Some(from), Some(ResetReason::CursorTooOld)) =
            (&self.inner.shared, from, sub.reset)
        {
            let Some(read) = shared.read_after(from).await else {
                return;
            };
            let head = sub.start;
            let wanted: Vec<_> = read.into_iter().filter(|e| e.id.seq <= head.seq).collect();
            if wanted.last().map(|e| e.id) != Some(head) {
                return; // the log moved on (a new epoch): the reset stands
            }
            sub.backlog = wanted
                .into_iter()
                .filter(|e| scopes.contains(&e.scope))
                .map(|e| Bytes::from(sse::frame(event::INVALIDATE, Some(e.id), &e.data, None)))
                .collect();
            sub.start = from;
            sub.reset = None;
        }
    }

    /// Takes `entry` from the shared log: kept and fanned out when it is the next event of the
    /// hub's epoch; `false` (nothing done) otherwise.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    fn ingest(&self, entry: LogEntry) -> bool {
        let mut log = self.log();
        if entry.id.epoch != log.epoch || entry.id.seq != log.last_seq + 1 {
            return false;
        }
        self.publish_locked(&mut log, entry.id, entry.scope, &entry.data);
        drop(log);
        if let Ok(invalidation) = serde_json::from_str::<Invalidation>(&entry.data) {
            self.purge_server_cache(&invalidation.tags);
        }
        true
    }

    /// Continues from the shared log's `head` after history was lost (a new epoch, a gap, a
    /// dropped outbox): forgets the ring and ends every stream with a `reset`, so that browsers
    /// refetch and reconnect from `head`.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    fn adopt(&self, head: Cursor) {
        let mut log = self.log();
        if log.epoch == head.epoch && log.last_seq == head.seq && log.ring.is_empty() {
            return; // nothing was known: nothing is lost
        }
        let from = Cursor {
            epoch: log.epoch,
            seq: log.last_seq,
        };
        if from.seq == 0 && log.ring.is_empty() {
            // The first look at the shared log: this hub had published nothing of its own.
            tracing::debug!(%head, "following the shared event log");
        } else {
            tracing::warn!(%from, to = %head, "event history lost: resetting every stream");
        }
        log.epoch = head.epoch;
        log.last_seq = head.seq;
        log.ring.clear();
        self.clear_server_cache();
        let streams = self.inner.fanout.reset_all();
        self.inner
            .counters
            .reset_unknown_epoch
            .fetch_add(streams as u64, Ordering::Relaxed);
    }

    /// The server cache this hub purges, if it has one.
    #[cfg(feature = "server-cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "server-cache")))]
    pub fn server_cache(&self) -> Option<&super::ServerCache> {
        self.inner.config.server_cache.as_ref()
    }

    #[cfg(feature = "server-cache")]
    fn purge_server_cache(&self, tags: &[TagPattern]) {
        if let Some(cache) = self.server_cache() {
            cache.purge(tags);
        }
    }

    #[cfg(not(feature = "server-cache"))]
    fn purge_server_cache(&self, _: &[TagPattern]) {}

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    #[cfg(feature = "server-cache")]
    fn clear_server_cache(&self) {
        if let Some(cache) = self.server_cache() {
            cache.clear();
        }
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    #[cfg(not(feature = "server-cache"))]
    fn clear_server_cache(&self) {}

    /// Whether [`Hub::shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    /// Ends every open stream cleanly and refuses new ones (503), so that browsers reconnect
    /// elsewhere or later. Call it when the server starts its graceful shutdown: axum waits for
    /// open connections, and an SSE stream never ends on its own.
    pub fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        self.inner.fanout.close_all();
    }

    /// Number of open streams.
    pub fn connections(&self) -> usize {
        self.counts().total
    }

    /// What the hub holds and has done so far.
    pub fn stats(&self) -> HubStats {
        let c = &self.inner.counters;
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let (streams, per_scope) = self.inner.fanout.counts();
        HubStats {
            streams,
            streams_per_scope: per_scope
                .into_iter()
                .map(|(scope, n)| (scope.to_string(), n))
                .collect(),
            events_published: load(&c.published),
            events_delivered: load(&c.delivered),
            resets: ResetCounts {
                unknown_epoch: load(&c.reset_unknown_epoch),
                cursor_too_old: load(&c.reset_cursor_too_old),
                lagged: load(&c.reset_lagged),
            },
            write_timeouts: load(&c.write_timeouts),
            backend: self.backend_name(),
            backend_connected: self.backend_connected(),
            backend_behind: self.backend_lag().0,
            backend_outbox: self.backend_lag().1,
        }
    }

    /// Counts a `reset` sent for `reason`.
    pub(crate) fn count_reset(&self, reason: ResetReason) {
        let c = &self.inner.counters;
        let counter = match reason {
            ResetReason::UnknownEpoch => &c.reset_unknown_epoch,
            ResetReason::CursorTooOld => &c.reset_cursor_too_old,
            ResetReason::Lagged => &c.reset_lagged,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection closed by the write timeout.
    pub(crate) fn count_write_timeout(&self) {
        self.inner
            .counters
            .write_timeouts
            .fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::Tag;

    fn tag() -> Tag {
        Tag::from_segments(["todos".into(), "list".into()])
    }

    fn global() -> Arc<[Scope]> {
        Arc::from(vec![Scope::global()])
    }

    fn none() -> Arc<[Scope]> {
        Arc::from(Vec::new())
    }

    #[test]
    fn replay_from_a_cursor_in_the_ring() {
        let hub = Hub::builder().replay_capacity(3).build();
        let c0 = hub.cursor();
        assert_eq!(c0.seq, 0);
        let ids: Vec<_> = (0..5)
            .map(|_| {
                hub.invalidate_tags([tag()]).unwrap();
                hub.cursor()
            })
            .collect();
        assert_eq!(
            ids.iter().map(|c| c.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );

        // Ring keeps 3, 4, 5: a client at 2 misses nothing.
        let sub = hub.subscribe(Some(ids[1]), &global());
        assert_eq!(sub.reset, None);
        assert_eq!(sub.backlog.len(), 3);
        assert!(String::from_utf8_lossy(&sub.backlog[0]).contains(&format!("id: {}\n", ids[2])));

        // A client at 1 would miss event 2.
        assert_eq!(
            hub.subscribe(Some(ids[0]), &global()).reset,
            Some(ResetReason::CursorTooOld)
        );
        assert_eq!(
            hub.subscribe(Some(c0), &global()).reset,
            Some(ResetReason::CursorTooOld)
        );
        // Up to date: nothing to replay.
        let sub = hub.subscribe(Some(ids[4]), &global());
        assert_eq!((sub.reset, sub.backlog.len()), (None, 0));
    }

    #[test]
    fn foreign_or_future_cursors_reset() {
        let hub = Hub::default();
        let other = Hub::default();
        assert_ne!(hub.epoch(), other.epoch());
        assert_eq!(
            hub.subscribe(Some(other.cursor()), &none()).reset,
            Some(ResetReason::UnknownEpoch)
        );
        let ahead = Cursor {
            epoch: hub.epoch(),
            seq: 10,
        };
        assert_eq!(
            hub.subscribe(Some(ahead), &none()).reset,
            Some(ResetReason::UnknownEpoch)
        );
        // A fresh hub with a cursor at 0 of its own epoch replays nothing and resets nothing.
        assert_eq!(hub.subscribe(Some(hub.cursor()), &none()).reset, None);
    }

    #[test]
    fn replay_skips_other_scopes() {
        let hub = Hub::default();
        let alice = Scope::keyed("user", "alice").unwrap();
        let bob = Scope::keyed("user", "bob").unwrap();
        let start = hub.cursor();
        hub.invalidate_tags_in(alice.clone(), [tag()]).unwrap();
        hub.invalidate_tags_in(bob.clone(), [tag()]).unwrap();
        hub.invalidate_tags([tag()]).unwrap();
        let sub = hub.subscribe(Some(start), &Arc::from(vec![Scope::global(), bob]));
        let replayed: Vec<String> = sub
            .backlog
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        assert_eq!(replayed.len(), 2);
        assert!(replayed[0].contains(r#""scope":"user:bob""#));
        assert!(replayed[1].contains(r#""scope":"global""#));
        assert!(replayed.iter().all(|f| !f.contains("alice")));
    }

    #[test]
    fn permits_count_and_give_back_places() {
        let hub = Hub::builder()
            .max_connections(3)
            .max_connections_per_scope(1)
            .build();
        let alice = Scope::keyed("user", "alice").unwrap();
        let first = hub
            .admit(vec![Scope::global(), alice.clone()], None)
            .unwrap();
        assert!(matches!(
            hub.admit(vec![Scope::global(), alice.clone()], None),
            Err(HubError::TooManyConnectionsForScope { .. })
        ));
        let _g1 = hub.admit(vec![Scope::global()], None).unwrap();
        let _g2 = hub.admit(vec![Scope::global()], None).unwrap();
        assert!(matches!(
            hub.admit(vec![Scope::global()], None),
            Err(HubError::TooManyConnections { limit: 3 })
        ));
        drop(first);
        assert_eq!(hub.connections(), 2);
        assert!(hub.admit(vec![alice], None).is_ok(), "the place came back");
    }

    #[test]
    fn empty_or_oversized_invalidations_are_refused() {
        let hub = Hub::default();
        assert!(matches!(
            hub.invalidate_tags(Vec::<Tag>::new()),
            Err(InvalidateError::Tags(crate::tags::TagError::NoTags))
        ));
        let deep = Tag::from_segments((0..40).map(crate::tags::Segment::from));
        assert!(hub.invalidate_tags([deep]).is_err());
        assert_eq!(hub.cursor().seq, 0, "nothing was published");
    }
}
