//! Time for the query cache: what "now" is, and how to wait.
//!
//! The cache never reads the system time directly, so tests (yours and ours) can drive stale
//! time, gc time and retry backoff with a [`ManualClock`] instead of sleeping.

use futures::channel::oneshot;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A source of time for the query cache.
pub trait Clock: Send + Sync + 'static {
    /// Time elapsed since an arbitrary, fixed origin.
    fn now(&self) -> Duration;

    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The platform's clock: `performance`-free `Date.now()` and timers in the browser, the
/// monotonic clock and tokio timers on the server.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        crate::platform::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        crate::platform::sleep(duration)
    }
}

/// A clock that moves only when told to: for tests of stale time, gc time and retries.
///
/// ```
/// use leptos_query_tags::cache::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let mut nap = clock.sleep(Duration::from_secs(5));
/// clock.advance(Duration::from_secs(4));
/// assert!(futures::FutureExt::now_or_never(&mut nap).is_none());
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(futures::FutureExt::now_or_never(&mut nap), Some(()));
/// assert_eq!(clock.now(), Duration::from_secs(5));
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    inner: Arc<Mutex<ManualInner>>,
}

#[derive(Default)]
struct ManualInner {
    now: Duration,
    timers: Vec<(Duration, oneshot::Sender<()>)>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("ManualClock")
            .field("now", &inner.now)
            .field("timers", &inner.timers.len())
            .finish()
    }
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves time forward, completing every sleep that ends by then.
    pub fn advance(&self, by: Duration) {
        let due = {
            let mut inner = self.lock();
            inner.now += by;
            let now = inner.now;
            let (due, waiting) = std::mem::take(&mut inner.timers)
                .into_iter()
                .partition(|(at, _)| *at <= now);
            inner.timers = waiting;
            due
        };
        for (_, timer) in due {
            let _ = timer.send(());
        }
    }

    /// Sleeps still waiting for their time.
    pub fn pending_sleeps(&self) -> usize {
        self.lock()
            .timers
            .iter()
            .filter(|(_, t)| !t.is_canceled())
            .count()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.lock().now
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let (timer, done) = oneshot::channel();
        let mut inner = self.lock();
        if duration.is_zero() {
            return futures::future::ready(()).boxed();
        }
        let at = inner.now + duration;
        inner.timers.push((at, timer));
        done.map(|_| ()).boxed()
    }
}
