//! The leptos_query_tags hub alone, as the benchmark's server: the stream endpoint and the
//! publish endpoint (secret from `BENCH_SECRET`), on `BENCH_ADDR` (default 127.0.0.1:0).
//! Prints `listening on http://<addr>` once ready. Served by `Hub::serve` with lean streams, or
//! by hyper under `Hub::serve` when `BENCH_SERVE=hyper`, or under plain `axum::serve` when
//! `BENCH_SERVE=axum`. With `BENCH_REDIS_URL`, the hub shares its event log through that Redis.

use leptos_query_tags::protocol::Scope;
use leptos_query_tags::server::Hub;

#[tokio::main]
async fn main() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let secret = std::env::var("BENCH_SECRET").unwrap_or_else(|_| "bench-secret".into());
    let addr = std::env::var("BENCH_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let hub = Hub::builder()
        // Global, plus `user:<x-user>` when the header is there (sse_load --per-user).
        .scope_resolver(|parts: &axum::http::request::Parts| {
            let user = parts
                .headers
                .get("x-user")
                .and_then(|v| v.to_str().ok())
                .and_then(|u| Scope::keyed("user", u).ok());
            async move {
                [Scope::global()]
                    .into_iter()
                    .chain(user)
                    .collect::<Vec<_>>()
            }
        })
        .publish_secret(secret)
        .max_connections(1_000_000)
        .queue_capacity(1024);
    let hub = match std::env::var("BENCH_REDIS_URL") {
        Ok(url) => hub.redis(url).build(),
        Err(_) => hub.build(),
    };
    let app = hub.mount(axum::Router::new());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("listening on http://{}", listener.local_addr().unwrap());
    match std::env::var("BENCH_SERVE").as_deref() {
        Ok("axum") => axum::serve(listener, app).await.expect("serve"),
        Ok("hyper") => hub.serve(listener, app).await.expect("serve"),
        _ => hub
            .serve(listener, app)
            .lean_streams(true)
            .await
            .expect("serve"),
    }
}
