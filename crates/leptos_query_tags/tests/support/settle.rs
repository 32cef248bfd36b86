//! Shared by the query tests: run every task that can run (spawned fetches, effects, timers
//! woken by the manual clock), then return.
//!
//! The tests run on tokio's current-thread runtime with its clock paused
//! (`#[tokio::test(start_paused = true)]`). A paused clock moves only when no task can make
//! progress: the runtime then jumps to the next timer instead of waiting. So the sleep below
//! ends exactly when the runtime is idle, after every ready task (and every tokio timer due
//! within the step) has run, on a fast machine and a slow one alike. A test that asserts that
//! *nothing* happened after `settle()` is therefore sound: there is nothing left to happen.
//! The library's own timers (stale, gc, intervals) are on the manual clock, which the tests
//! advance themselves.

/// Runs the runtime until it is idle (see the module doc). A test whose clock is not paused
/// fails here ("time is not frozen") instead of silently sleeping in real time.
pub async fn settle() {
    tokio::time::advance(std::time::Duration::ZERO).await;
    tokio::time::sleep(std::time::Duration::from_millis(15)).await;
}
