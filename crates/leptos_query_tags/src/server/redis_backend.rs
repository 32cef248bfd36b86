//! The hub on a Redis event log shared by several instances (feature `redis`).
//!
//! - Publishing puts the event in a bounded **outbox**; one task per hub appends outbox events
//!   to the [`RedisLog`] in order, retrying (the connection manager reconnects) with jittered
//!   backoff while Redis is unreachable. A server function never fails because Redis is down:
//!   its write is done, its invalidation waits. When the outbox overflows, the oldest events are
//!   dropped and this instance's streams get `reset` once Redis is back.
//! - One **follower** task per hub reads the log with `XREAD BLOCK` on a connection of its own
//!   and hands every entry to the hub ([`Hub::ingest`]), which keeps its replay ring and fans out
//!   locally, exactly as for its own events in memory. After every block that times out (2 s)
//!   it reads the log's head again: a new epoch (Redis restarted empty, or flushed), a head behind
//!   the hub's, or a gap it cannot read back, and the hub adopts the log's head and resets its
//!   streams ([`Hub::adopt`]).

use super::hub::Hub;
use super::redis_log::{Read, RedisLog};
use crate::protocol::{Cursor, Scope};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
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

    /// Queues an event for the log; `reply` learns its id once appended.
    pub(crate) fn enqueue(
        &self,
        scope: Scope,
        data: String,
        reply: Option<oneshot::Sender<Cursor>>,
    ) {
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

    /// Every event after `from` that the shared log still holds; `None` when it does not hold
    /// them all (or cannot be read now).
    pub(crate) async fn read_after(&self, from: Cursor) -> Option<Vec<super::redis_log::Entry>> {
        match self.log.get()?.read_after(from).await {
            Ok(Read::Entries(entries)) => Some(entries),
            _ => None,
        }
    }

    /// Events the log's head was ahead of the hub at the follower's last look, and events
    /// waiting in the outbox.
    pub(crate) fn lag(&self) -> (u64, usize) {
        (
            self.behind.load(Ordering::Relaxed),
            lock(&self.outbox).len(),
        )
    }

    /// Whether Redis answered the last command.
    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Waits (at most `limit`) until the hub follows the log.
    pub(crate) async fn ready(&self, limit: Duration) {
        let mut ready = self.ready.subscribe();
        let _ = tokio::time::timeout(limit, ready.wait_for(|ready| *ready)).await;
    }

    /// Starts the publisher and the follower (once, inside the server's runtime).
    pub(crate) fn start(&self, hub: &Hub) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.started.store(false, Ordering::Release);
            return;
        };
        runtime.spawn(publisher(hub.downgrade()));
        runtime.spawn(follower(hub.downgrade()));
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

async fn connect(hub: &super::hub::WeakHub, backoff: &mut Backoff) -> Option<RedisLog> {
    loop {
        let hub = hub.upgrade()?;
        let backend = hub.redis()?;
        let (url, prefix, capacity) = (
            backend.url.clone(),
            backend.prefix.clone(),
            hub.replay_capacity(),
        );
        drop(hub);
        match RedisLog::connect(&url, &prefix, capacity).await {
            Ok(log) => return Some(log),
            Err(error) => {
                tracing::warn!(%error, "cannot reach Redis; retrying");
                backoff.sleep().await;
            }
        }
    }
}

async fn publisher(weak: super::hub::WeakHub) {
    let mut backoff = Backoff(0);
    let Some(log) = connect(&weak, &mut backoff).await else {
        return;
    };
    if let Some(backend) = weak.upgrade().and_then(|hub| hub.redis()) {
        let _ = backend.log.set(log.clone());
    }
    loop {
        let Some(hub) = weak.upgrade() else { return };
        let Some(backend) = hub.redis() else { return };
        // Up to a batch from the front of the outbox, appended in one round trip; taken off
        // the outbox only once Redis has them.
        let (numbers, batch): (Vec<u64>, Vec<(Scope, String)>) = lock(&backend.outbox)
            .iter()
            .take(BATCH)
            .map(|o| (o.number, (o.scope.clone(), o.data.clone())))
            .unzip();
        if batch.is_empty() {
            let more = backend.more.notified();
            drop(hub);
            // Woken by `enqueue`; the timeout lets the task end once the hub is gone.
            let _ = tokio::time::timeout(Duration::from_secs(1), more).await;
            continue;
        }
        drop(hub);
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

async fn follower(weak: super::hub::WeakHub) {
    let mut backoff = Backoff(0);
    'connect: loop {
        let Some(log) = connect(&weak, &mut backoff).await else {
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
                    mark(&weak, false);
                    backoff.sleep().await;
                    continue 'connect;
                }
            };
            let Some(hub) = weak.upgrade() else { return };
            let Some(backend) = hub.redis() else { return };
            backend.connected.store(true, Ordering::Release);
            let local = hub.cursor();
            backend.behind.store(
                if head.epoch == local.epoch {
                    head.seq.saturating_sub(local.seq)
                } else {
                    0
                },
                Ordering::Relaxed,
            );
            let lost = backend.lost.swap(false, Ordering::AcqRel);
            if lost || head.epoch != local.epoch || head.seq < local.seq {
                hub.adopt(head);
            } else if head.seq > local.seq {
                drop(hub);
                match log.read_after(local).await {
                    Ok(Read::Entries(entries)) => {
                        let Some(hub) = weak.upgrade() else { return };
                        if !entries.into_iter().all(|entry| hub.ingest(entry)) {
                            hub.adopt(head);
                        }
                    }
                    Ok(Read::TooOld | Read::UnknownEpoch) => {
                        let Some(hub) = weak.upgrade() else { return };
                        hub.adopt(head);
                    }
                    Err(_) => {
                        mark(&weak, false);
                        backoff.sleep().await;
                        continue 'connect;
                    }
                }
            }
            if let Some(hub) = weak.upgrade() {
                if let Some(backend) = hub.redis() {
                    backend.ready.send_replace(true);
                }
            }
            backoff.reset();
            // Follow until a block times out, then check the head again.
            loop {
                let Some(after) = weak.upgrade().map(|hub| hub.cursor()) else {
                    return;
                };
                match log.follow(&mut follower, after, BLOCK).await {
                    Ok(entries) if entries.is_empty() => break,
                    Ok(entries) => {
                        let Some(hub) = weak.upgrade() else { return };
                        if !entries.into_iter().all(|entry| hub.ingest(entry)) {
                            break; // a gap or another epoch: the head check sorts it out
                        }
                    }
                    Err(_) => {
                        mark(&weak, false);
                        backoff.sleep().await;
                        continue 'connect;
                    }
                }
            }
        }
    }
}

fn mark(weak: &super::hub::WeakHub, connected: bool) {
    if let Some(backend) = weak.upgrade().and_then(|hub| hub.redis()) {
        backend.connected.store(connected, Ordering::Release);
    }
}
