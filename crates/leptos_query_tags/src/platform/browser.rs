//! The browser: `Date.now()`, `setTimeout`.

use futures::channel::oneshot;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::time::Duration;
use wasm_bindgen::JsValue;

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

/// Runs `work` in a later task: at `background` priority where the browser has
/// `scheduler.postTask` (it yields to the tasks the current one started, such as the
/// responses to the refetches an event began; a busy page may put it off), else after a zero
/// timeout.
fn later(work: impl FnOnce() + 'static) {
    use wasm_bindgen::JsCast;
    let work = wasm_bindgen::closure::Closure::once_into_js(work);
    let posted = POST_TASK.with(|post| {
        post.as_ref()
            .is_some_and(|(scheduler, post, options)| post.call2(scheduler, &work, options).is_ok())
    });
    if !posted {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback(work.unchecked_ref());
        }
    }
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

thread_local! {
    /// `scheduler`, its `postTask` and `{ priority: "background" }`, looked up once per page;
    /// `None` where the browser has no `scheduler.postTask`.
    static POST_TASK: Option<(JsValue, js_sys::Function, js_sys::Object)> = {
        use wasm_bindgen::JsCast;
        let scheduler = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("scheduler"))
            .ok()
            .filter(JsValue::is_object);
        scheduler.and_then(|scheduler| {
            let post = js_sys::Reflect::get(&scheduler, &JsValue::from_str("postTask"))
                .ok()?
                .dyn_into::<js_sys::Function>()
                .ok()?;
            let options = js_sys::Object::new();
            js_sys::Reflect::set(
                &options,
                &JsValue::from_str("priority"),
                &JsValue::from_str("background"),
            )
            .ok()?;
            Some((scheduler, post, options))
        })
    };
}

/// A warning for the developer: the browser's console (no logging framework in the wasm).
pub(crate) fn warn(message: std::fmt::Arguments<'_>) {
    web_sys::console::warn_1(&message.to_string().into());
}
