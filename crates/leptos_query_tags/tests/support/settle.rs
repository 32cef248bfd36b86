//! Shared by the query tests: lets spawned tasks (fetches, timers woken by a manual clock) run.
//! A fixed 15 ms pause; issue 14 asks for a run-until-idle executor in its place.

/// Lets spawned tasks run: yields, a short pause, yields.
pub async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}
