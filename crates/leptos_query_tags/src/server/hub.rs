//! The [`Hub`]: event log, replay ring and fan-out to every open stream.

use super::error::InvalidateError;
use super::sse::frame;
use crate::protocol::{event, Cursor, Invalidation, ResetReason, DEFAULT_BASE_PATH};
use crate::tags::{DecodeLimits, TagPattern};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, watch};

/// Builds a [`Hub`]. Every setting has a default suited to one server process.
#[derive(Debug, Clone)]
pub struct HubBuilder {
    base_path: String,
    heartbeat: Duration,
    retry: Duration,
    replay_capacity: usize,
    queue_capacity: usize,
    limits: DecodeLimits,
}

impl Default for HubBuilder {
    fn default() -> Self {
        HubBuilder {
            base_path: DEFAULT_BASE_PATH.to_owned(),
            heartbeat: Duration::from_secs(15),
            retry: Duration::from_secs(2),
            replay_capacity: 1024,
            queue_capacity: 256,
            limits: DecodeLimits::DEFAULT,
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

    /// Creates the hub.
    pub fn build(self) -> Hub {
        let (tx, _) = broadcast::channel(self.queue_capacity);
        let (shutdown, _) = watch::channel(false);
        Hub {
            inner: Arc::new(Inner {
                epoch: next_epoch(),
                log: Mutex::new(Log {
                    last_seq: 0,
                    ring: VecDeque::with_capacity(self.replay_capacity.min(4096)),
                }),
                tx,
                shutdown,
                config: self,
            }),
        }
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
    pub(crate) bytes: Bytes,
}

#[derive(Debug)]
struct Log {
    last_seq: u64,
    ring: VecDeque<Arc<Frame>>,
}

#[derive(Debug)]
struct Inner {
    config: HubBuilder,
    epoch: u64,
    log: Mutex<Log>,
    tx: broadcast::Sender<Arc<Frame>>,
    shutdown: watch::Sender<bool>,
}

/// The invalidation hub: publishes events, keeps a replay ring and serves the SSE stream.
///
/// Create one per process with [`Hub::builder`], wrap your axum router with [`Hub::mount`], and
/// call [`invalidate_tags`](super::invalidate_tags) from server functions. Cloning is cheap.
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
    pub(crate) rx: broadcast::Receiver<Arc<Frame>>,
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
        self.inner.epoch
    }

    /// The id of the last published event (`seq` 0 before the first). A page rendered now can
    /// embed it so that its client replays everything published after the render.
    pub fn cursor(&self) -> Cursor {
        let last_seq = self.log().last_seq;
        Cursor {
            epoch: self.inner.epoch,
            seq: last_seq,
        }
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        // The log is consistent after every statement that mutates it; a panic elsewhere while
        // holding the lock leaves nothing half-done.
        self.inner
            .log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publishes an invalidation now, to every connected client, and returns its event id.
    ///
    /// Inside a server function prefer the free function
    /// [`invalidate_tags`](super::invalidate_tags), which waits until the function has returned
    /// `Ok`. This method is for jobs and tasks outside requests.
    pub fn invalidate_tags<I>(&self, tags: I) -> Result<Cursor, InvalidateError>
    where
        I: IntoIterator,
        I::Item: Into<TagPattern>,
    {
        let tags: Vec<TagPattern> = tags.into_iter().map(Into::into).collect();
        TagPattern::validate_list(&tags, &self.inner.config.limits)?;
        Ok(self.publish(tags))
    }

    pub(crate) fn publish(&self, tags: Vec<TagPattern>) -> Cursor {
        let data = serde_json::to_string(&Invalidation { tags })
            .unwrap_or_else(|_| unreachable!("tags always serialize"));
        let mut log = self.log();
        log.last_seq += 1;
        let id = Cursor {
            epoch: self.inner.epoch,
            seq: log.last_seq,
        };
        let frame = Arc::new(Frame {
            id,
            bytes: frame(event::INVALIDATE, Some(id), &data, None),
        });
        if log.ring.len() == self.inner.config.replay_capacity {
            log.ring.pop_front();
        }
        log.ring.push_back(frame.clone());
        // Sent under the lock, so that a subscriber registering under the same lock sees each
        // event either in the ring snapshot or on its receiver, never both, never neither.
        let _ = self.inner.tx.send(frame);
        tracing::debug!(event = %id, "published invalidation");
        id
    }

    pub(crate) fn subscribe(&self, from: Option<Cursor>) -> Subscription {
        let log = self.log();
        let rx = self.inner.tx.subscribe();
        let head = Cursor {
            epoch: self.inner.epoch,
            seq: log.last_seq,
        };
        let Some(from) = from else {
            return Subscription {
                rx,
                backlog: Vec::new(),
                start: head,
                reset: None,
            };
        };
        let reset = |reason| Subscription {
            rx: self.inner.tx.subscribe(),
            backlog: Vec::new(),
            start: head,
            reset: Some(reason),
        };
        if from.epoch != head.epoch || from.seq > head.seq {
            return reset(ResetReason::UnknownEpoch);
        }
        let oldest_kept = log.ring.front().map_or(head.seq + 1, |f| f.id.seq);
        if from.seq + 1 < oldest_kept {
            return reset(ResetReason::CursorTooOld);
        }
        let backlog = log
            .ring
            .iter()
            .filter(|f| f.id.seq > from.seq)
            .map(|f| f.bytes.clone())
            .collect();
        Subscription {
            rx,
            backlog,
            start: from,
            reset: None,
        }
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Whether [`Hub::shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// Ends every open stream cleanly and refuses new ones (503), so that browsers reconnect
    /// elsewhere or later. Call it when the server starts its graceful shutdown: axum waits for
    /// open connections, and an SSE stream never ends on its own.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Number of open streams.
    pub fn connections(&self) -> usize {
        self.inner.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::Tag;

    fn tag() -> Tag {
        Tag::from_segments(["todos".into(), "list".into()])
    }

    #[test]
    fn replay_from_a_cursor_in_the_ring() {
        let hub = Hub::builder().replay_capacity(3).build();
        let c0 = hub.cursor();
        assert_eq!(c0.seq, 0);
        let ids: Vec<_> = (0..5)
            .map(|_| hub.invalidate_tags([tag()]).unwrap())
            .collect();
        assert_eq!(
            ids.iter().map(|c| c.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );

        // Ring keeps 3, 4, 5: a client at 2 misses nothing.
        let sub = hub.subscribe(Some(ids[1]));
        assert_eq!(sub.reset, None);
        assert_eq!(sub.backlog.len(), 3);
        assert!(String::from_utf8_lossy(&sub.backlog[0]).contains(&format!("id: {}\n", ids[2])));

        // A client at 1 would miss event 2.
        assert_eq!(
            hub.subscribe(Some(ids[0])).reset,
            Some(ResetReason::CursorTooOld)
        );
        assert_eq!(
            hub.subscribe(Some(c0)).reset,
            Some(ResetReason::CursorTooOld)
        );
        // Up to date: nothing to replay.
        let sub = hub.subscribe(Some(ids[4]));
        assert_eq!((sub.reset, sub.backlog.len()), (None, 0));
    }

    #[test]
    fn foreign_or_future_cursors_reset() {
        let hub = Hub::default();
        let other = Hub::default();
        assert_ne!(hub.epoch(), other.epoch());
        assert_eq!(
            hub.subscribe(Some(other.cursor())).reset,
            Some(ResetReason::UnknownEpoch)
        );
        let ahead = Cursor {
            epoch: hub.epoch(),
            seq: 10,
        };
        assert_eq!(
            hub.subscribe(Some(ahead)).reset,
            Some(ResetReason::UnknownEpoch)
        );
        // A fresh hub with a cursor at 0 of its own epoch replays nothing and resets nothing.
        assert_eq!(hub.subscribe(Some(hub.cursor())).reset, None);
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
