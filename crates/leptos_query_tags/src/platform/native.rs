//! A native process: the monotonic clock, tokio timers (with `ssr`).

use futures::future::BoxFuture;
use futures::FutureExt;
use std::time::Duration;

/// Retries of a failed fetch by default: none, a server render should fail fast.
pub(crate) const DEFAULT_RETRY: u32 = 0;

/// Monotonic time since the first call.
pub(crate) fn now() -> Duration {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(std::time::Instant::now).elapsed()
}

/// A tokio timer.
#[cfg(feature = "ssr")]
pub(crate) fn sleep(duration: Duration) -> BoxFuture<'static, ()> {
    tokio::time::sleep(duration).boxed()
}

/// Without a runtime feature there is no timer to wait on: retries go at once.
#[cfg(not(feature = "ssr"))]
pub(crate) fn sleep(_: Duration) -> BoxFuture<'static, ()> {
    futures::future::ready(()).boxed()
}

/// Runs `work` at once: there is no later task to wait for outside the browser (`_until` is
/// not waited for).
pub(crate) fn after(
    _until: impl std::future::Future<Output = ()> + 'static,
    work: impl FnOnce() + 'static,
) {
    work();
}

/// A warning for the developer, through `tracing`.
pub(crate) fn warn(message: std::fmt::Arguments<'_>) {
    tracing::warn!("{message}");
}
