//! Per-scope fan-out: an event reaches, and wakes, only the streams that may receive it.
//!
//! Every open stream has an [`Inbox`]: a bounded queue of frames plus a waker. The [`Fanout`]
//! indexes the inboxes by scope, so that delivering an event costs one push per stream of its
//! scope, whatever the number of other streams, and a stream's bound counts only its own
//! scopes' events. Frames are serialized once by the hub; an inbox holds `Bytes` clones.
//!
//! Deliveries happen under the hub's log lock, so every inbox sees events in id order, and a
//! stream registered under the same lock sees each event either in its replay backlog or in its
//! inbox, never both, never neither.

use crate::protocol::Scope;
use bytes::Bytes;
use futures::task::AtomicWaker;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};

/// What a stream finds in its inbox.
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
    /// Nothing yet.
    Empty,
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Bytes>,
    heartbeat: bool,
    lagged: bool,
    closed: bool,
}

/// One stream's queue.
#[derive(Debug)]
pub(crate) struct Inbox {
    queue: Mutex<Queue>,
    waker: AtomicWaker,
    capacity: usize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section below leaves its data consistent; a panic elsewhere cannot leave
    // half an update behind.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inbox {
    fn update(&self, change: impl FnOnce(&mut Queue)) {
        change(&mut lock(&self.queue));
        self.waker.wake();
    }

    fn push(&self, frame: &Bytes) {
        self.update(|queue| {
            if queue.lagged || queue.closed {
                return;
            }
            if queue.frames.len() >= self.capacity {
                // Dropped at once: a lagging stream holds no backlog while it is reset.
                queue.frames = VecDeque::new();
                queue.lagged = true;
            } else {
                queue.frames.push_back(frame.clone());
            }
        });
    }

    /// The next thing for the stream, without waiting.
    pub(crate) fn try_next(&self) -> Next {
        let mut queue = lock(&self.queue);
        if queue.lagged {
            return Next::Lagged;
        }
        if let Some(frame) = queue.frames.pop_front() {
            if queue.frames.is_empty() {
                // An idle stream keeps no buffer.
                queue.frames = VecDeque::new();
            }
            return Next::Frame(frame);
        }
        if queue.closed {
            return Next::Closed;
        }
        if std::mem::take(&mut queue.heartbeat) {
            return Next::Heartbeat;
        }
        Next::Empty
    }

    /// The next thing for the stream, waiting for it.
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Next> {
        match self.try_next() {
            Next::Empty => {}
            next => return Poll::Ready(next),
        }
        self.waker.register(cx.waker());
        // Re-check: a push between the first look and the registration woke no one.
        match self.try_next() {
            Next::Empty => Poll::Pending,
            next => Poll::Ready(next),
        }
    }
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    by_scope: HashMap<Scope, HashMap<u64, Arc<Inbox>>>,
    all: HashMap<u64, Arc<Inbox>>,
}

/// The open streams' inboxes, by scope.
#[derive(Debug, Default)]
pub(crate) struct Fanout {
    registry: Mutex<Registry>,
}

/// A stream's registration; unregisters when dropped.
#[derive(Debug)]
pub(crate) struct Subscriber {
    id: u64,
    inbox: Arc<Inbox>,
    scopes: Arc<[Scope]>,
    fanout: Weak<Fanout>,
}

impl Subscriber {
    pub(crate) fn inbox(&self) -> &Inbox {
        &self.inbox
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let Some(fanout) = self.fanout.upgrade() else {
            return;
        };
        let mut registry = lock(&fanout.registry);
        registry.all.remove(&self.id);
        for scope in self.scopes.iter() {
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
    /// Registers a stream receiving `scopes`, with room for `capacity` undelivered frames.
    pub(crate) fn register(self: &Arc<Self>, scopes: Arc<[Scope]>, capacity: usize) -> Subscriber {
        let inbox = Arc::new(Inbox {
            queue: Mutex::default(),
            waker: AtomicWaker::new(),
            capacity: capacity.max(1),
        });
        let mut registry = lock(&self.registry);
        registry.next_id += 1;
        let id = registry.next_id;
        registry.all.insert(id, inbox.clone());
        for scope in scopes.iter() {
            registry
                .by_scope
                .entry(scope.clone())
                .or_default()
                .insert(id, inbox.clone());
        }
        Subscriber {
            id,
            inbox,
            scopes,
            fanout: Arc::downgrade(self),
        }
    }

    /// Hands `frame`, an event of `scope`, to every stream of that scope; returns how many.
    pub(crate) fn deliver(&self, scope: &Scope, frame: &Bytes) -> usize {
        let registry = lock(&self.registry);
        let Some(inboxes) = registry.by_scope.get(scope) else {
            return 0;
        };
        for inbox in inboxes.values() {
            inbox.push(frame);
        }
        inboxes.len()
    }

    /// Asks every stream to send a heartbeat.
    pub(crate) fn heartbeat(&self) {
        for inbox in lock(&self.registry).all.values() {
            inbox.update(|queue| queue.heartbeat = true);
        }
    }

    /// Ends every stream (after what it still has to send).
    pub(crate) fn close_all(&self) {
        for inbox in lock(&self.registry).all.values() {
            inbox.update(|queue| queue.closed = true);
        }
    }

    /// Open streams in all, and per non-global scope.
    pub(crate) fn counts(&self) -> (usize, HashMap<Scope, usize>) {
        let registry = lock(&self.registry);
        let per_scope = registry
            .by_scope
            .iter()
            .map(|(scope, inboxes)| (scope.clone(), inboxes.len()))
            .collect();
        (registry.all.len(), per_scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn scopes(names: &[&str]) -> Arc<[Scope]> {
        names.iter().map(|n| Scope::new(*n).unwrap()).collect()
    }

    fn frame(text: &'static str) -> Bytes {
        Bytes::from_static(text.as_bytes())
    }

    #[test]
    fn events_reach_only_their_scopes_streams_in_order() {
        let fanout = Arc::new(Fanout::default());
        let alice = fanout.register(scopes(&["global", "user:alice"]), 8);
        let bob = fanout.register(scopes(&["global", "user:bob"]), 8);
        let (global, user_alice) = (Scope::global(), Scope::new("user:alice").unwrap());
        assert_eq!(fanout.deliver(&user_alice, &frame("a1")), 1);
        assert_eq!(fanout.deliver(&global, &frame("g1")), 2);
        assert_eq!(fanout.deliver(&Scope::new("user:carol").unwrap(), &frame("c")), 0);
        assert_eq!(alice.inbox().try_next(), Next::Frame(frame("a1")));
        assert_eq!(alice.inbox().try_next(), Next::Frame(frame("g1")));
        assert_eq!(alice.inbox().try_next(), Next::Empty);
        assert_eq!(bob.inbox().try_next(), Next::Frame(frame("g1")));
        assert_eq!(bob.inbox().try_next(), Next::Empty);
    }

    #[test]
    fn a_bound_counts_only_the_streams_own_scopes() {
        let fanout = Arc::new(Fanout::default());
        let quiet = fanout.register(scopes(&["user:quiet"]), 2);
        let busy = fanout.register(scopes(&["user:busy"]), 2);
        for _ in 0..100 {
            fanout.deliver(&Scope::new("user:busy").unwrap(), &frame("b"));
        }
        assert_eq!(busy.inbox().try_next(), Next::Lagged);
        assert_eq!(quiet.inbox().try_next(), Next::Empty, "not woken, not lagged");
        fanout.deliver(&Scope::new("user:quiet").unwrap(), &frame("q"));
        assert_eq!(quiet.inbox().try_next(), Next::Frame(frame("q")));
    }

    #[test]
    fn heartbeats_close_and_unregister() {
        let fanout = Arc::new(Fanout::default());
        let a = fanout.register(scopes(&["global"]), 4);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(a.inbox().poll_next(&mut cx), Poll::Pending);
        fanout.heartbeat();
        assert_eq!(a.inbox().poll_next(&mut cx), Poll::Ready(Next::Heartbeat));
        fanout.deliver(&Scope::global(), &frame("last"));
        fanout.close_all();
        // What was queued still goes out, then the end.
        assert_eq!(a.inbox().try_next(), Next::Frame(frame("last")));
        assert_eq!(a.inbox().try_next(), Next::Closed);
        assert_eq!(fanout.counts().0, 1);
        drop(a);
        assert_eq!(fanout.counts(), (0, HashMap::new()));
    }
}
