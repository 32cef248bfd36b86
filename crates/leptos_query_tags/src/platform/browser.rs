//! The browser: `Date.now()`, `setTimeout`.

use futures::channel::oneshot;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::time::Duration;

/// Retries of a failed fetch by default: a browser's network fails now and then.
pub(crate) const DEFAULT_RETRY: u32 = 3;

/// Wall-clock time since the UNIX epoch.
pub(crate) fn now() -> Duration {
    Duration::from_secs_f64(js_sys::Date::now() / 1000.0)
}

/// A timer. gloo's timer future is not `Send`; it runs as a local task and a channel carries
/// its end, which is (the browser is single-threaded, so that is harmless).
pub(crate) fn sleep(duration: Duration) -> BoxFuture<'static, ()> {
    let millis = u32::try_from(duration.as_millis()).unwrap_or(u32::MAX);
    let (done, waited) = oneshot::channel::<()>();
    leptos::task::spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(millis).await;
        let _ = done.send(());
    });
    waited.map(|_| ()).boxed()
}

/// Runs `work` in a later task (after what the current one started, such as refetches).
pub(crate) fn later(work: impl FnOnce() + 'static) {
    gloo_timers::callback::Timeout::new(0, work).forget();
}
