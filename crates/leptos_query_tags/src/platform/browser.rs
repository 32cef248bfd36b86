//! The browser: `Date.now()`, `setTimeout` and `scheduler.postTask` (through `js/runtime.js`).

use futures::channel::oneshot;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::time::Duration;
use wasm_bindgen::JsValue;

/// Retries of a failed fetch by default: a browser's network fails now and then.
pub(crate) const DEFAULT_RETRY: u32 = 3;

/// Wall-clock time since the UNIX epoch.
pub(crate) fn now() -> Duration {
    // `Date.now()` is whole milliseconds.
    Duration::from_millis(js_sys::Date::now() as u64)
}

/// A timer: `setTimeout` (`js/runtime.js`) calls a closure that ends the future through a
/// channel (the closure is not `Send`; the channel's receiver is).
pub(crate) fn sleep(duration: Duration) -> BoxFuture<'static, ()> {
    let millis = u32::try_from(duration.as_millis()).unwrap_or(u32::MAX);
    let (done, waited) = oneshot::channel::<()>();
    timeout(
        &wasm_bindgen::closure::Closure::once_into_js(move || {
            let _ = done.send(());
        }),
        millis,
    );
    waited.map(|_| ()).boxed()
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "/js/runtime.js")]
extern "C" {
    /// Calls `work` in a later task: at `background` priority where the browser has
    /// `scheduler.postTask` (it yields to the tasks the current one started, such as the
    /// responses to the refetches an event began; a busy page may put it off), else after a
    /// zero timeout.
    #[wasm_bindgen(js_name = later)]
    fn post_later(work: &JsValue);
    /// `setTimeout(work, ms)`.
    fn timeout(work: &JsValue, ms: u32);
}

/// Runs `work` in a later task (see `post_later`).
fn later(work: impl FnOnce() + 'static) {
    post_later(&wasm_bindgen::closure::Closure::once_into_js(work));
}

/// Runs `work` with [`later`] once `until` is over. `until` is first polled after the tasks
/// queued before it (the refetches an invalidation just started among them).
pub(crate) fn after(
    until: impl std::future::Future<Output = ()> + 'static,
    work: impl FnOnce() + 'static,
) {
    leptos::task::spawn_local(async move {
        until.await;
        later(work);
    });
}

/// A warning for the developer: the browser's console (no logging framework in the wasm).
pub(crate) fn warn(message: std::fmt::Arguments<'_>) {
    web_sys::console::warn_1(&message.to_string().into());
}
