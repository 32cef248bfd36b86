//! Publish throughput through Redis: one hub on a `redis-server` of its own (started here on a
//! free port, no persistence), `--events N` invalidations queued back to back with
//! `invalidate_tags`; prints events per second until the hub has taken the last one back from
//! the log (appended by its publisher, read by its follower).
//!
//! ```sh
//! cargo build --release -p sse_bench && target/release/redis_publish --events 10000
//! ```

use leptos_query_tags::server::Hub;
use leptos_query_tags::tags::Tag;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let events: u64 = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
        // The hub's outbox holds 10,000: more at once would drop the oldest (and reset).
        .min(10_000);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("redis-publish-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut redis = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hub = Hub::builder()
        .redis(format!("redis://127.0.0.1:{port}/"))
        .build();
    // Wait until the hub follows the log (its epoch is Redis').
    let warm = hub
        .publish(
            leptos_query_tags::protocol::Scope::global(),
            [Tag::from_segments(["warm".into()])],
        )
        .await
        .unwrap();
    let start_seq = warm.seq;
    let started = Instant::now();
    for k in 0..events {
        hub.invalidate_tags([Tag::from_segments(["bench".into(), (k as i64).into()])])
            .unwrap();
    }
    let queued = started.elapsed();
    while hub.cursor().seq < start_seq + events {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "stuck at {}",
            hub.cursor()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    println!(
        "{events} events: queued in {:.1} ms, all appended and followed back in {:.1} ms: {:.0} events/s",
        queued.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e3,
        events as f64 / elapsed.as_secs_f64()
    );
    let _ = redis.kill();
    let _ = redis.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
