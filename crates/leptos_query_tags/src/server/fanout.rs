//! Per-scope fan-out: an event reaches, and wakes, only the streams that may receive it.
//!
//! Global events go to every stream that receives the global scope: one `broadcast` channel
//! carries them (one write per event, however many streams read it). Every other scope (a
//! user's, a tenant's) reaches its streams through their [`Inbox`]es: a bounded queue plus a
//! waker per stream, indexed by scope, so that delivering such an event costs one push per
//! stream of its scope, whatever the number of other streams, and a stream's bound counts only
//! its own scopes' events. Frames are serialized once by the hub; queues hold `Bytes` clones.
//!
//! Deliveries happen under the hub's log lock, in id order. A stream merges its two sources by
//! id, reading the broadcast channel while it holds its inbox's lock: whatever it sees in one
//! source, every earlier event of the other is already visible (see [`Subscriber::try_next`]).
//! A stream registered under the log lock sees each event either in its replay backlog or
//! live, never both, never neither.

use crate::protocol::Scope;
use bytes::Bytes;
use futures::task::AtomicWaker;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use tokio::sync::broadcast;

/// An event as delivered: its sequence number (for merging) and its frame.
type Delivered = (u64, Bytes);

/// What a stream finds next.
#[derive(Debug, PartialEq)]
pub(crate) enum Next {
    /// An event frame.
    Frame(Bytes),
    /// Time for a heartbeat comment.
    Heartbeat,
    /// The stream fell more than its bound behind: what it missed is gone.
    Lagged,
    /// The hub is shutting down.
    Closed,
    /// The hub lost its event history (the shared log's epoch changed): `reset`, then the end.
    Reset,
    /// Nothing yet.
    Empty,
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Delivered>,
    heartbeat: bool,
    lagged: bool,
    closed: bool,
    reset: bool,
}

impl Queue {
    fn is_ready(&self) -> bool {
        !self.frames.is_empty() || self.heartbeat || self.lagged || self.closed || self.reset
    }
}

/// One stream's queue of non-global events, heartbeats and the end.
#[derive(Debug)]
pub(crate) struct Inbox {
    queue: Mutex<Queue>,
    waker: AtomicWaker,
    capacity: usize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section below leaves its data consistent; a panic elsewhere cannot leave
    // half an update behind.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inbox {
    fn update(&self, change: impl FnOnce(&mut Queue)) {
        change(&mut lock(&self.queue));
        self.waker.wake();
    }

    fn push(&self, event: &Delivered) {
        self.update(|queue| {
            if queue.lagged || queue.closed {
                return;
            }
            if queue.frames.len() >= self.capacity {
                // Dropped at once: a lagging stream holds no backlog while it is reset.
                queue.frames = VecDeque::new();
                queue.lagged = true;
            } else {
                queue.frames.push_back(event.clone());
            }
        });
    }

    /// Ready once the inbox holds something; does not take it.
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        if lock(&self.queue).is_ready() {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // Re-check: a push between the first look and the registration woke no one.
        if lock(&self.queue).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    by_scope: HashMap<Scope, HashMap<u64, Arc<Inbox>>>,
    all: HashMap<u64, Arc<Inbox>>,
}

/// The open streams, by scope.
#[derive(Debug)]
pub(crate) struct Fanout {
    registry: Mutex<Registry>,
    global: broadcast::Sender<Delivered>,
    capacity: usize,
}

/// A stream's registration: its inbox and, if it receives global events, its receiver of them.
/// Unregisters when dropped.
#[derive(Debug)]
pub(crate) struct Subscriber {
    id: u64,
    inbox: Arc<Inbox>,
    global: Option<broadcast::Receiver<Delivered>>,
    /// A global event read but not delivered yet (an earlier inbox event goes first).
    peeked: Option<Delivered>,
    /// The global receiver lagged.
    lagged: bool,
    scopes: Arc<[Scope]>,
    fanout: Weak<Fanout>,
}

impl Subscriber {
    /// The next thing for the stream, without waiting. Events come in id order across both
    /// sources: the global receiver is read while the inbox's lock is held, and the hub
    /// delivers under one lock, so an event seen in either source has every earlier event of
    /// the other already visible.
    pub(crate) fn try_next(&mut self) -> Next {
        let mut queue = lock(&self.inbox.queue);
        if queue.reset {
            // What is still queued belongs to the lost history.
            return Next::Reset;
        }
        if queue.lagged || self.lagged {
            return Next::Lagged;
        }
        if self.peeked.is_none() {
            if let Some(global) = &mut self.global {
                match global.try_recv() {
                    Ok(event) => self.peeked = Some(event),
                    Err(broadcast::error::TryRecvError::Lagged(_)) => {
                        self.lagged = true;
                        return Next::Lagged;
                    }
                    Err(_) => {}
                }
            }
        }
        let inbox_first = match (&self.peeked, queue.frames.front()) {
            (Some((global, _)), Some((private, _))) => private < global,
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (None, None) => {
                if queue.closed {
                    return Next::Closed;
                }
                if std::mem::take(&mut queue.heartbeat) {
                    return Next::Heartbeat;
                }
                return Next::Empty;
            }
        };
        let (_, frame) = if inbox_first {
            let event = queue.frames.pop_front().unwrap_or_default();
            if queue.frames.is_empty() {
                // An idle stream keeps no buffer.
                queue.frames = VecDeque::new();
            }
            event
        } else {
            self.peeked.take().unwrap_or_default()
        };
        Next::Frame(frame)
    }

    /// The next thing for the stream, waiting for it. Cancel-safe.
    pub(crate) async fn next(&mut self) -> Next {
        loop {
            match self.try_next() {
                Next::Empty => {}
                next => return next,
            }
            let inbox = self.inbox.clone();
            let ready = std::future::poll_fn(|cx| inbox.poll_ready(cx));
            let mut hub_gone = false;
            match &mut self.global {
                Some(global) if self.peeked.is_none() => {
                    tokio::select! {
                        received = global.recv() => match received {
                            Ok(event) => self.peeked = Some(event),
                            Err(broadcast::error::RecvError::Lagged(_)) => self.lagged = true,
                            Err(broadcast::error::RecvError::Closed) => hub_gone = true,
                        },
                        () = ready => {}
                    }
                }
                _ => ready.await,
            }
            if hub_gone {
                // Only the inbox can say anything now.
                self.global = None;
            }
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let Some(fanout) = self.fanout.upgrade() else {
            return;
        };
        let mut registry = lock(&fanout.registry);
        registry.all.remove(&self.id);
        for scope in self.scopes.iter().filter(|s| !s.is_global()) {
            if let Some(inboxes) = registry.by_scope.get_mut(scope) {
                inboxes.remove(&self.id);
                if inboxes.is_empty() {
                    registry.by_scope.remove(scope);
                }
            }
        }
    }
}

impl Fanout {
    /// A fan-out where a stream may fall `capacity` events behind (per source).
    pub(crate) fn new(capacity: usize) -> Fanout {
        let capacity = capacity.max(1);
        Fanout {
            registry: Mutex::default(),
            global: broadcast::channel(capacity).0,
            capacity,
        }
    }

    /// Registers a stream receiving `scopes`.
    pub(crate) fn register(self: &Arc<Self>, scopes: Arc<[Scope]>) -> Subscriber {
        let inbox = Arc::new(Inbox {
            queue: Mutex::default(),
            waker: AtomicWaker::new(),
            capacity: self.capacity,
        });
        let mut registry = lock(&self.registry);
        registry.next_id += 1;
        let id = registry.next_id;
        registry.all.insert(id, inbox.clone());
        for scope in scopes.iter().filter(|s| !s.is_global()) {
            registry
                .by_scope
                .entry(scope.clone())
                .or_default()
                .insert(id, inbox.clone());
        }
        let global = scopes
            .iter()
            .any(Scope::is_global)
            .then(|| self.global.subscribe());
        Subscriber {
            id,
            inbox,
            global,
            peeked: None,
            lagged: false,
            scopes,
            fanout: Arc::downgrade(self),
        }
    }

    /// Hands event `seq` of `scope` to every stream of that scope; returns how many.
    pub(crate) fn deliver(&self, scope: &Scope, seq: u64, frame: &Bytes) -> usize {
        if scope.is_global() {
            return self.global.send((seq, frame.clone())).unwrap_or(0);
        }
        let registry = lock(&self.registry);
        let Some(inboxes) = registry.by_scope.get(scope) else {
            return 0;
        };
        let event = (seq, frame.clone());
        for inbox in inboxes.values() {
            inbox.push(&event);
        }
        inboxes.len()
    }

    /// Asks every stream to send a heartbeat.
    pub(crate) fn heartbeat(&self) {
        for inbox in lock(&self.registry).all.values() {
            inbox.update(|queue| queue.heartbeat = true);
        }
    }

    /// Ends every stream with a `reset`, whatever it still had queued; returns how many.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn reset_all(&self) -> usize {
        let registry = lock(&self.registry);
        for inbox in registry.all.values() {
            inbox.update(|queue| queue.reset = true);
        }
        registry.all.len()
    }

    /// Ends every stream (after what it still has to send).
    pub(crate) fn close_all(&self) {
        for inbox in lock(&self.registry).all.values() {
            inbox.update(|queue| queue.closed = true);
        }
    }

    /// Open streams in all, and per scope.
    pub(crate) fn counts(&self) -> (usize, HashMap<Scope, usize>) {
        let registry = lock(&self.registry);
        let mut per_scope: HashMap<Scope, usize> = registry
            .by_scope
            .iter()
            .map(|(scope, inboxes)| (scope.clone(), inboxes.len()))
            .collect();
        let global = self.global.receiver_count();
        if global > 0 {
            per_scope.insert(Scope::global(), global);
        }
        (registry.all.len(), per_scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(names: &[&str]) -> Arc<[Scope]> {
        names.iter().map(|n| Scope::new(*n).unwrap()).collect()
    }

    fn frame(text: &'static str) -> Bytes {
        Bytes::from_static(text.as_bytes())
    }

    #[test]
    fn events_reach_only_their_scopes_streams_in_order() {
        let fanout = Arc::new(Fanout::new(8));
        let mut alice = fanout.register(scopes(&["global", "user:alice"]));
        let mut bob = fanout.register(scopes(&["global", "user:bob"]));
        let (global, user_alice) = (Scope::global(), Scope::new("user:alice").unwrap());
        assert_eq!(fanout.deliver(&user_alice, 1, &frame("a1")), 1);
        assert_eq!(fanout.deliver(&global, 2, &frame("g2")), 2);
        assert_eq!(fanout.deliver(&user_alice, 3, &frame("a3")), 1);
        assert_eq!(
            fanout.deliver(&Scope::new("user:carol").unwrap(), 4, &frame("c")),
            0
        );
        assert_eq!(fanout.deliver(&global, 5, &frame("g5")), 2);
        for expected in ["a1", "g2", "a3", "g5"] {
            assert_eq!(alice.try_next(), Next::Frame(frame(expected)));
        }
        assert_eq!(alice.try_next(), Next::Empty);
        assert_eq!(bob.try_next(), Next::Frame(frame("g2")));
        assert_eq!(bob.try_next(), Next::Frame(frame("g5")));
        assert_eq!(bob.try_next(), Next::Empty);
    }

    #[test]
    fn a_bound_counts_only_the_streams_own_scopes() {
        let fanout = Arc::new(Fanout::new(2));
        let mut quiet = fanout.register(scopes(&["user:quiet"]));
        let mut busy = fanout.register(scopes(&["user:busy"]));
        for seq in 0..100 {
            fanout.deliver(&Scope::new("user:busy").unwrap(), seq, &frame("b"));
        }
        assert_eq!(busy.try_next(), Next::Lagged);
        assert_eq!(quiet.try_next(), Next::Empty, "not woken, not lagged");
        fanout.deliver(&Scope::new("user:quiet").unwrap(), 100, &frame("q"));
        assert_eq!(quiet.try_next(), Next::Frame(frame("q")));
    }

    #[test]
    fn a_global_backlog_beyond_the_bound_is_lagged() {
        let fanout = Arc::new(Fanout::new(2));
        let mut slow = fanout.register(scopes(&["global"]));
        for seq in 0..10 {
            fanout.deliver(&Scope::global(), seq, &frame("g"));
        }
        assert_eq!(slow.try_next(), Next::Lagged);
    }

    #[tokio::test]
    async fn heartbeats_close_and_unregister() {
        let fanout = Arc::new(Fanout::new(4));
        let mut a = fanout.register(scopes(&["global", "user:a"]));
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), a.next()).await;
        assert!(waiting.is_err(), "nothing to say yet");
        fanout.heartbeat();
        assert_eq!(a.next().await, Next::Heartbeat);
        fanout.deliver(&Scope::global(), 1, &frame("last"));
        fanout.close_all();
        // What was sent still goes out, then the end.
        assert_eq!(a.next().await, Next::Frame(frame("last")));
        assert_eq!(a.next().await, Next::Closed);
        assert_eq!(fanout.counts().0, 1);
        drop(a);
        assert_eq!(fanout.counts(), (0, HashMap::new()));
    }
}
