//! The hub on a Redis event log shared by several instances (feature `redis`).
//!
//! - Publishing puts the event in a bounded **outbox**; one task per hub appends outbox events
//!   to the [`RedisLog`] in order, retrying (the connection manager reconnects) with jittered
//!   backoff while Redis is unreachable. A server function never fails because Redis is down:
//!   its write is done, its invalidation waits. When the outbox overflows, the oldest events are
//!   dropped and this instance's streams get `reset` once Redis is back.
//! - One **follower** task per hub reads the log with `XREAD BLOCK` on a connection of its own
//!   and hands every entry to the hub ([`HubLink::ingest`]), which keeps its replay ring and fans
//!   out locally, exactly as for its own events in memory. After every block that times out
//!   (2 s) it reads the log's head again: a new epoch (Redis restarted empty, or flushed), a head
//!   behind the hub's, or a gap it cannot read back, and the hub adopts the log's head and resets
//!   its streams ([`HubLink::adopt`]).
//!
//! The tasks hold the backend weakly (the hub owns it) and reach the hub through its
//! [`HubLink`]: they end once the hub is gone.

use super::backend::{HubLink, LogEntry, SharedLog};
use super::redis_log::{Read, RedisLog};
use crate::protocol::{Cursor, Scope};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::{oneshot, watch, Notify};

/// How long a follower's `XREAD` blocks before the log's head is checked again.
const BLOCK: Duration = Duration::from_secs(2);
/// Most events waiting for Redis; beyond, the oldest are dropped (and the streams reset).
const OUTBOX_CAPACITY: usize = 10_000;
/// Most events appended in one round trip.
const BATCH: usize = 256;

/// Where the hub's events go and come from.
#[derive(Debug)]
pub(crate) struct RedisBackend {
    url: String,
    prefix: String,
    outbox: Mutex<VecDeque<Outgoing>>,
    queued: std::sync::atomic::AtomicU64,
    more: Notify,
    /// Events were dropped from a full outbox: this instance's streams get `reset`.
    lost: AtomicBool,
    started: AtomicBool,
    /// Whether the hub follows the log (has adopted its head at least once).
    ready: watch::Sender<bool>,
    /// Whether Redis answered the last command.
    connected: AtomicBool,
    /// How many events the log's head was ahead of the hub at the follower's last look.
    behind: std::sync::atomic::AtomicU64,
    /// The publisher's log, for reads (set once connected).
    log: std::sync::OnceLock<RedisLog>,
}

#[derive(Debug)]
struct Outgoing {
    /// Counts every event ever queued, so that a batch is recognised in the outbox even if
    /// older events were dropped from its front meanwhile.
    number: u64,
    scope: Scope,
    data: String,
    reply: Option<oneshot::Sender<Cursor>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RedisBackend {
    pub(crate) fn new(url: String, prefix: String) -> RedisBackend {
        RedisBackend {
            url,
            prefix,
            outbox: Mutex::default(),
            queued: std::sync::atomic::AtomicU64::new(0),
            more: Notify::new(),
            lost: AtomicBool::new(false),
            started: AtomicBool::new(false),
            ready: watch::channel(false).0,
            connected: AtomicBool::new(false),
            behind: std::sync::atomic::AtomicU64::new(0),
            log: std::sync::OnceLock::new(),
        }
    }
}

impl SharedLog for RedisBackend {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn enqueue(&self, scope: Scope, data: String, reply: Option<oneshot::Sender<Cursor>>) {
        let mut outbox = lock(&self.outbox);
        if outbox.len() >= OUTBOX_CAPACITY {
            outbox.pop_front();
            if !self.lost.swap(true, Ordering::AcqRel) {
                tracing::warn!("the Redis outbox is full: dropping the oldest invalidations");
            }
        }
        let number = self.queued.fetch_add(1, Ordering::Relaxed);
        outbox.push_back(Outgoing {
            number,
            scope,
            data,
            reply,
        });
        drop(outbox);
        self.more.notify_one();
    }

    fn read_after(&self, from: Cursor) -> BoxFuture<'_, Option<Vec<LogEntry>>> {
        async move {
            match self.log.get()?.read_after(from).await {
                Ok(Read::Entries(entries)) => Some(entries),
                _ => None,
            }
        }
        .boxed()
    }

    fn lag(&self) -> (u64, usize) {
        (
            self.behind.load(Ordering::Relaxed),
            lock(&self.outbox).len(),
        )
    }

    fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    fn ready(&self, limit: Duration) -> BoxFuture<'_, ()> {
        let mut ready = self.ready.subscribe();
        async move {
            let _ = tokio::time::timeout(limit, ready.wait_for(|ready| *ready)).await;
        }
        .boxed()
    }

    /// Starts the publisher and the follower (once, inside the server's runtime).
    fn start(self: Arc<Self>, hub: Arc<dyn HubLink>) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.started.store(false, Ordering::Release);
            return;
        };
        let link = Link {
            backend: Arc::downgrade(&self),
            hub,
        };
        runtime.spawn(publisher(link.clone()));
        runtime.spawn(follower(link));
    }
}

/// What the tasks hold: the backend (weakly: the hub owns it) and the hub's link.
#[derive(Clone)]
struct Link {
    backend: Weak<RedisBackend>,
    hub: Arc<dyn HubLink>,
}

impl Link {
    fn backend(&self) -> Option<Arc<RedisBackend>> {
        self.backend.upgrade()
    }
}

/// Full-jitter exponential backoff: 50 ms doubling to 5 s.
struct Backoff(u32);

impl Backoff {
    async fn sleep(&mut self) {
        let cap = Duration::from_millis(50 * (1u64 << self.0.min(7))).min(Duration::from_secs(5));
        self.0 += 1;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
        let jittered = cap.mul_f64((nanos % 1000) as f64 / 1000.0);
        tokio::time::sleep(jittered.max(Duration::from_millis(10))).await;
    }

    fn reset(&mut self) {
        self.0 = 0;
    }
}

async fn connect(link: &Link, backoff: &mut Backoff) -> Option<RedisLog> {
    loop {
        let backend = link.backend()?;
        let (url, prefix, capacity) = (
            backend.url.clone(),
            backend.prefix.clone(),
            link.hub.replay_capacity()?,
        );
        drop(backend);
        match RedisLog::connect(&url, &prefix, capacity).await {
            Ok(log) => return Some(log),
            Err(error) => {
                tracing::warn!(%error, "cannot reach Redis; retrying");
                backoff.sleep().await;
            }
        }
    }
}

async fn publisher(link: Link) {
    let mut backoff = Backoff(0);
    let Some(log) = connect(&link, &mut backoff).await else {
        return;
    };
    if let Some(backend) = link.backend() {
        let _ = backend.log.set(log.clone());
    }
    loop {
        let Some(backend) = link.backend() else {
            return;
        };
        // Up to a batch from the front of the outbox, appended in one round trip; taken off
        // the outbox only once Redis has them.
        let (numbers, batch): (Vec<u64>, Vec<(Scope, String)>) = lock(&backend.outbox)
            .iter()
            .take(BATCH)
            .map(|o| (o.number, (o.scope.clone(), o.data.clone())))
            .unzip();
        if batch.is_empty() {
            // Woken by `enqueue`; the timeout lets the task end once the hub is gone.
            let more = backend.more.notified();
            let _ = tokio::time::timeout(Duration::from_secs(1), more).await;
            continue;
        }
        match log.append_all(&batch).await {
            Ok(first) => {
                backoff.reset();
                backend.connected.store(true, Ordering::Release);
                let (lowest, highest) = (numbers[0], numbers[numbers.len() - 1]);
                let mut done = Vec::new();
                {
                    let mut outbox = lock(&backend.outbox);
                    while outbox.front().is_some_and(|o| o.number <= highest) {
                        done.extend(outbox.pop_front());
                    }
                }
                for event in done {
                    if let (Some(reply), Some(offset)) =
                        (event.reply, event.number.checked_sub(lowest))
                    {
                        let _ = reply.send(Cursor {
                            epoch: first.epoch,
                            seq: first.seq + offset,
                        });
                    }
                }
            }
            Err(error) => {
                backend.connected.store(false, Ordering::Release);
                tracing::warn!(%error, "cannot append to the Redis log; retrying");
                backoff.sleep().await;
            }
        }
    }
}

async fn follower(link: Link) {
    let mut backoff = Backoff(0);
    let hub = &link.hub;
    'connect: loop {
        let Some(log) = connect(&link, &mut backoff).await else {
            return;
        };
        let mut follower = match log.follower().await {
            Ok(follower) => follower,
            Err(error) => {
                tracing::warn!(%error, "cannot open the Redis follower connection; retrying");
                backoff.sleep().await;
                continue;
            }
        };
        loop {
            // Where the log is, against where this hub is.
            let head = match log.head().await {
                Ok(head) => head,
                Err(_) => {
                    mark(&link, false);
                    backoff.sleep().await;
                    continue 'connect;
                }
            };
            let Some(backend) = link.backend() else {
                return;
            };
            let Some(local) = hub.cursor() else { return };
            backend.connected.store(true, Ordering::Release);
            backend.behind.store(
                if head.epoch == local.epoch {
                    head.seq.saturating_sub(local.seq)
                } else {
                    0
                },
                Ordering::Relaxed,
            );
            let lost = backend.lost.swap(false, Ordering::AcqRel);
            drop(backend);
            if lost || head.epoch != local.epoch || head.seq < local.seq {
                let Some(()) = hub.adopt(head) else { return };
            } else if head.seq > local.seq {
                match log.read_after(local).await {
                    Ok(Read::Entries(entries)) => {
                        let Some(all) = ingest_all(hub.as_ref(), entries) else {
                            return;
                        };
                        if !all {
                            let Some(()) = hub.adopt(head) else { return };
                        }
                    }
                    Ok(Read::TooOld | Read::UnknownEpoch) => {
                        let Some(()) = hub.adopt(head) else { return };
                    }
                    Err(_) => {
                        mark(&link, false);
                        backoff.sleep().await;
                        continue 'connect;
                    }
                }
            }
            let Some(backend) = link.backend() else {
                return;
            };
            backend.ready.send_replace(true);
            drop(backend);
            backoff.reset();
            // Follow until a block times out, then check the head again.
            loop {
                let Some(after) = hub.cursor() else { return };
                match log.follow(&mut follower, after, BLOCK).await {
                    Ok(entries) if entries.is_empty() => break,
                    Ok(entries) => match ingest_all(hub.as_ref(), entries) {
                        None => return,
                        Some(true) => {}
                        Some(false) => break, // a gap or another epoch: the head check sorts it out
                    },
                    Err(_) => {
                        mark(&link, false);
                        backoff.sleep().await;
                        continue 'connect;
                    }
                }
            }
        }
    }
}

/// Hands `entries` to the hub in order, stopping at the first it does not take: whether it
/// took them all (`None`: the hub is gone).
fn ingest_all(hub: &dyn HubLink, entries: Vec<LogEntry>) -> Option<bool> {
    for entry in entries {
        if !hub.ingest(entry)? {
            return Some(false);
        }
    }
    Some(true)
}

fn mark(link: &Link, connected: bool) {
    if let Some(backend) = link.backend() {
        backend.connected.store(connected, Ordering::Release);
    }
}
