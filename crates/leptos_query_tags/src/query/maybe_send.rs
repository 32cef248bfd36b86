//! [`MaybeSend`]: `Send` where futures may move between threads (the server), nothing in the
//! browser, where wasm32 runs on one thread and `gloo-net`'s or `web-sys`'s futures are not
//! `Send`.

use futures::future::BoxFuture;
use std::future::Future;

/// `Send` on the server; implemented by every type in the browser (`wasm32`), so a query's or a
/// mutation's fetcher may return a future that holds browser objects (a `gloo-net` request, a
/// `JsFuture`) there.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: ?Sized + Send> MaybeSend for T {}

/// `Send` on the server; implemented by every type in the browser (`wasm32`), so a query's or a
/// mutation's fetcher may return a future that holds browser objects (a `gloo-net` request, a
/// `JsFuture`) there.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// Boxes a fetcher's future as the cache stores it.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn boxed<F>(future: F) -> BoxFuture<'static, F::Output>
where
    F: Future + MaybeSend + 'static,
{
    Box::pin(future)
}

/// Boxes a fetcher's future as the cache stores it. wasm32 has one thread: the wrapper's
/// `Send` is never exercised.
#[cfg(target_arch = "wasm32")]
pub(crate) fn boxed<F>(future: F) -> BoxFuture<'static, F::Output>
where
    F: Future + MaybeSend + 'static,
{
    Box::pin(send_wrapper::SendWrapper::new(future))
}
