//! Every connection of `Hub::serve` is bounded in time, however it is served (hyper alone, or
//! with lean streams): a head timeout (which also closes idle keep-alive connections), a write
//! timeout that frees the place of a client that stopped reading, an optional cap of streams
//! per client address, and a graceful shutdown that ends the streams.

mod support;

use axum::routing::get;
use axum::Router;
use leptos_query_tags::protocol::Scope;
use leptos_query_tags::server::Hub;
use leptos_query_tags::tags::Tag;
use std::time::{Duration, Instant};
use support::{header_scopes, Serving, SseClient, TestServer, EVENTS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEAD_TIMEOUT: Duration = Duration::from_millis(600);
const WRITE_TIMEOUT: Duration = Duration::from_millis(600);

fn app(hub: &Hub) -> Router {
    hub.mount(Router::new().route("/hello", get(|| async { "hi" })))
}

async fn start(serving: Serving, hub: &Hub) -> TestServer {
    TestServer::start_with(serving, hub, app(hub), |serve| {
        serve
            .head_timeout(HEAD_TIMEOUT)
            .write_timeout(WRITE_TIMEOUT)
    })
    .await
}

/// Waits until the server closes `socket` (EOF or reset), reading and dropping what comes;
/// returns how long that took. Fails after `limit`.
async fn closed_within(socket: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = vec![0u8; 16 * 1024];
    tokio::time::timeout(limit, async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the server closes the connection");
    started.elapsed()
}

async fn bystander(server: &TestServer) -> SseClient {
    let mut stream = SseClient::connect(&server.url(EVENTS), None).await;
    stream.expect("hello").await;
    stream
}

async fn still_live(hub: &Hub, bystander: &mut SseClient) {
    hub.invalidate_tags([Tag::from_segments(["still-live".into()])])
        .unwrap();
    let event = bystander.expect("invalidate").await;
    assert!(event.data.contains("still-live"), "{event:?}");
}

async fn a_slow_head_is_closed_after_the_head_timeout(serving: Serving) {
    let hub = Hub::default();
    let server = start(serving, &hub).await;
    let mut bystander = bystander(&server).await;
    for head in [
        &b"GET /api/query-tags/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"[..],
        b"GET /hello HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n",
    ] {
        // One byte every 100 ms: it would take seconds to finish the head.
        let mut socket = TcpStream::connect(server.addr).await.unwrap();
        let started = Instant::now();
        let dripping = async {
            for byte in head {
                if socket.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(3), dripping)
            .await
            .expect("the server cuts the drip short");
        let elapsed = started.elapsed() + closed_within(&mut socket, Duration::from_secs(2)).await;
        assert!(elapsed >= HEAD_TIMEOUT, "{elapsed:?}");
    }
    still_live(&hub, &mut bystander).await;
}

async fn an_idle_keep_alive_connection_is_closed_after_the_head_timeout(serving: Serving) {
    let hub = Hub::default();
    let server = start(serving, &hub).await;
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    socket
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = socket.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("\r\n\r\nhi"));
    // Kept alive, then idle: closed once the head timeout has passed.
    let idle = closed_within(&mut socket, Duration::from_secs(3)).await;
    assert!(idle >= HEAD_TIMEOUT - Duration::from_millis(50), "{idle:?}");
    // A connection that never sends a byte is closed too.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    closed_within(&mut silent, Duration::from_secs(3)).await;
}

async fn a_client_that_stops_reading_is_closed_after_the_write_timeout(serving: Serving) {
    // A queue that cannot lag: only the write timeout can close the stuck stream.
    let hub = Hub::builder()
        .scope_resolver(header_scopes)
        .queue_capacity(400_000)
        .max_connections_per_scope(1)
        .build();
    let server = start(serving, &hub).await;
    let mut bystander = bystander(&server).await;

    // A client with a tiny receive buffer that sends its request and never reads again.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stuck = socket.connect(server.addr).await.unwrap();
    stuck
        .write_all(b"GET /api/query-tags/events HTTP/1.1\r\nHost: x\r\nx-user: stuck\r\n\r\n")
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while hub.connections() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the stuck stream opens");
    // Its place is taken: a second stream of the same user is refused.
    let refused = SseClient::connect_with(&server.url(EVENTS), &[("x-user", "stuck")]).await;
    assert_eq!(refused.status, 429);

    // Events for the stuck user until the socket buffers are full and the write timeout fires.
    let scope = Scope::keyed("user", "stuck").unwrap();
    let padding = "p".repeat(250);
    let started = Instant::now();
    let mut published = 0usize;
    while hub.connections() > 1 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the stuck stream is still open after {published} events"
        );
        for _ in 0..500 {
            let tag = Tag::from_segments([padding.clone().into(), (published as i64).into()]);
            hub.invalidate_tags_in(scope.clone(), [tag]).unwrap();
            published += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hub.stats().write_timeouts, 1);
    // Its place is free again, and everyone else is still served.
    let mut again = SseClient::connect_with(&server.url(EVENTS), &[("x-user", "stuck")]).await;
    assert_eq!(again.status, 200);
    again.expect("hello").await;
    still_live(&hub, &mut bystander).await;
    drop(stuck);
}

async fn streams_per_client_address_are_capped(serving: Serving) {
    let hub = Hub::builder().max_streams_per_client(2).build();
    let server = start(serving, &hub).await;
    let first = SseClient::connect(&server.url(EVENTS), None).await;
    let _second = SseClient::connect(&server.url(EVENTS), None).await;
    let third = SseClient::connect(&server.url(EVENTS), None).await;
    assert_eq!((first.status.as_u16(), third.status.as_u16()), (200, 429));
    let body: serde_json::Value = serde_json::from_str(&third.body_text().await).unwrap();
    assert_eq!(body["error"], "too_many_streams_for_client");
    drop(first);
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let next = SseClient::connect(&server.url(EVENTS), None).await;
            if next.status == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the closed stream's place comes back");
}

async fn graceful_shutdown_ends_every_stream(serving: Serving) {
    let hub = Hub::default();
    let server = start(serving, &hub).await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut stream = SseClient::connect(&server.url(EVENTS), None).await;
        stream.expect("hello").await;
        streams.push(stream);
    }
    // An idle keep-alive connection does not hold the shutdown up either.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    assert!(idle.read(&mut buf).await.unwrap() > 0);

    let started = Instant::now();
    server.shutdown().await;
    assert!(started.elapsed() < HEAD_TIMEOUT, "{:?}", started.elapsed());
    for mut stream in streams {
        assert_eq!(stream.next_event(Duration::from_secs(2)).await, None);
    }
    assert_eq!(hub.connections(), 0);
}

macro_rules! on_hub_serve {
    ($($name:ident),* $(,)?) => {
        mod hub_serve {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::support::Serving::Hub).await
            })*
        }
        #[cfg(feature = "lean-streams")]
        mod lean_streams {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::support::Serving::Lean).await
            })*
        }
    };
}

on_hub_serve!(
    a_slow_head_is_closed_after_the_head_timeout,
    an_idle_keep_alive_connection_is_closed_after_the_head_timeout,
    a_client_that_stops_reading_is_closed_after_the_write_timeout,
    streams_per_client_address_are_capped,
    graceful_shutdown_ends_every_stream,
);
