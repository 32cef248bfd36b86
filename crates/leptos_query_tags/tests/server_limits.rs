//! Bounded resources over real HTTP: a consumer that stops reading gets `reset` and is closed,
//! connection limits hold and give places back.

mod support;

use axum::Router;
use leptos_query_tags::protocol::{Reset, ResetReason};
use leptos_query_tags::server::Hub;
use leptos_query_tags::tags::Tag;
use std::time::Duration;
use support::{header_scopes, Serving, SseClient, TestServer, EVENTS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn tag(i: usize) -> Tag {
    // ~300 bytes per event, so that a few thousand fill the socket buffers.
    Tag::from_segments(["padding".into(), "x".repeat(250).into(), (i as i64).into()])
}

async fn a_client_that_stops_reading_gets_reset_and_is_closed(serving: Serving) {
    const QUEUE: usize = 32;
    let hub = Hub::builder().queue_capacity(QUEUE).build();
    let server = TestServer::start(serving, &hub, hub.mount(Router::new())).await;

    // A raw client that sends its request, then reads nothing for a while.
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET {EVENTS} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        server.addr
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    while hub.connections() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Far more than the socket buffers and the queue bound can hold.
    let published = 50_000;
    for i in 0..published {
        hub.invalidate_tags([tag(i)]).unwrap();
        if i % 500 == 0 {
            tokio::task::yield_now().await;
        }
    }

    // Now read everything the server sends until the response ends (the last chunk of a chunked
    // body: the connection itself may stay open for keep-alive; an EventSource reconnects when
    // the response ends).
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = vec![0u8; 64 * 1024];
        while !raw.ends_with(b"\r\n0\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed before the response ended");
            raw.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the server ends the stream of a lagged consumer");
    let text = String::from_utf8_lossy(&raw);
    let delivered = text.matches("event: invalidate").count();
    assert!(
        delivered < published,
        "the consumer could not have kept up ({delivered} delivered)"
    );
    let reset_at = text
        .find("event: reset")
        .expect("a reset event before the end");
    assert!(
        !text[reset_at..].contains("event: invalidate"),
        "nothing follows the reset"
    );
    let data = text[reset_at..]
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    let reset: Reset = serde_json::from_str(data).unwrap();
    assert_eq!(reset.reason, ResetReason::Lagged);
    assert_eq!(reset.cursor.epoch, hub.epoch());
    // The place is given back once the stream is gone.
    tokio::time::timeout(Duration::from_secs(5), async {
        while hub.connections() != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the lagged connection is released");
}

async fn connection_limits_answer_429_and_give_places_back(serving: Serving) {
    let hub = Hub::builder()
        .scope_resolver(header_scopes)
        .max_connections(3)
        .max_connections_per_scope(1)
        .heartbeat(Duration::from_millis(50))
        .build();
    let server = TestServer::start(serving, &hub, hub.mount(Router::new())).await;
    let url = server.url(EVENTS);

    let mut alice = SseClient::connect_with(&url, &[("x-user", "alice")]).await;
    alice.expect("hello").await;
    let second_alice = SseClient::connect_with(&url, &[("x-user", "alice")]).await;
    assert_eq!(second_alice.status, 429);
    assert_eq!(second_alice.headers["retry-after"], "5");
    let body: serde_json::Value = serde_json::from_str(&second_alice.body_text().await).unwrap();
    assert_eq!(body["error"], "too_many_connections_for_scope");

    let mut bob = SseClient::connect_with(&url, &[("x-user", "bob")]).await;
    bob.expect("hello").await;
    let mut anonymous = SseClient::connect(&url, None).await;
    anonymous.expect("hello").await;
    let fourth = SseClient::connect(&url, None).await;
    assert_eq!(fourth.status, 429);
    let body: serde_json::Value = serde_json::from_str(&fourth.body_text().await).unwrap();
    assert_eq!(body["error"], "too_many_connections");
    assert_eq!(hub.connections(), 3);

    // Alice closes her tab: the server notices at the next heartbeat and frees both places.
    drop(alice);
    tokio::time::timeout(Duration::from_secs(5), async {
        while hub.connections() != 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("a closed stream gives its place back");
    let mut alice_again = SseClient::connect_with(&url, &[("x-user", "alice")]).await;
    assert_eq!(alice_again.status, 200);
    alice_again.expect("hello").await;
    // The others were served throughout.
    hub.invalidate_tags([tag(1)]).unwrap();
    bob.expect("invalidate").await;
    anonymous.expect("invalidate").await;
    alice_again.expect("invalidate").await;
}

on_every_server!(
    a_client_that_stops_reading_gets_reset_and_is_closed,
    connection_limits_answer_429_and_give_places_back
);
