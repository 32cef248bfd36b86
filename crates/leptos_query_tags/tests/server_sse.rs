//! The hub over real HTTP: a server on a free loopback port, an SSE client reading the stream.

mod support;

use axum::routing::post;
use axum::Router;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_query_tags::protocol::{Hello, Invalidation, Reset, ResetReason};
use leptos_query_tags::server::{invalidate_tags, Hub, Scope};
use leptos_query_tags::tags::TagPattern;
use std::time::Duration;
use support::{Serving, SseClient, TestServer, EVENTS};

leptos_query_tags::tag_tree! {
    mod app_tags {
        todos {
            list;
            by_id(id: i64);
        }
    }
}

/// A server function that succeeds and invalidates.
#[server]
async fn save_todo(id: i64) -> Result<(), ServerFnError> {
    invalidate_tags([app_tags::todos::by_id(id), app_tags::todos::list()])?;
    Ok(())
}

/// A server function that invalidates, then fails: nothing may be published.
#[server]
async fn fail_todo(id: i64) -> Result<(), ServerFnError> {
    invalidate_tags([app_tags::todos::by_id(id)])?;
    Err(ServerFnError::new("database is read-only"))
}

fn app(hub: &Hub) -> Router {
    let router = Router::new().route("/api/{*fn_name}", post(leptos_axum::handle_server_fns));
    hub.mount(router)
}

async fn call(server: &TestServer, path: &str, body: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn server_function_invalidation_reaches_a_subscriber_with_its_tags(serving: Serving) {
    let hub = Hub::builder().heartbeat(Duration::from_millis(100)).build();
    let server = TestServer::start(serving, &hub, app(&hub)).await;

    let mut stream = SseClient::connect(&server.url(EVENTS), None).await;
    assert_eq!(stream.status, 200);
    assert_eq!(stream.headers["content-type"], "text/event-stream");
    assert_eq!(stream.headers["cache-control"], "no-cache");
    assert_eq!(stream.headers["x-accel-buffering"], "no");
    let hello: Hello = serde_json::from_str(&stream.expect("hello").await.data).unwrap();
    assert_eq!(hello.cursor, hub.cursor());

    let response = call(&server, SaveTodo::PATH, "id=3").await;
    // The caller is told which event its write became (its own refetch stands for it).
    let timing = response
        .headers()
        .get("server-timing")
        .map(|v| v.to_str().unwrap().to_owned());
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );
    assert_eq!(
        timing,
        Some(format!("lqt-event;desc=\"{}-1\"", hub.epoch()))
    );

    let event = stream.expect("invalidate").await;
    let invalidation: Invalidation = serde_json::from_str(&event.data).unwrap();
    assert_eq!(
        invalidation.tags,
        vec![
            TagPattern::from(app_tags::todos::by_id(3)),
            TagPattern::from(app_tags::todos::list())
        ]
    );
    assert_eq!(
        event.id.as_deref(),
        Some(format!("{}-1", hub.epoch()).as_str())
    );

    // Heartbeats keep flowing while nothing happens.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let response = call(&server, SaveTodo::PATH, "id=4").await;
    assert!(response.status().is_success());
    stream.expect("invalidate").await;
    assert!(
        stream.comments >= 2,
        "heartbeat comments seen: {}",
        stream.comments
    );
}

async fn a_failing_server_function_publishes_nothing(serving: Serving) {
    let hub = Hub::default();
    let server = TestServer::start(serving, &hub, app(&hub)).await;
    let mut stream = SseClient::connect(&server.url(EVENTS), None).await;
    stream.expect("hello").await;

    let response = call(&server, FailTodo::PATH, "id=1").await;
    assert!(response.status().is_server_error());
    assert!(response.headers().get("server-timing").is_none());
    // The next success must be the first event this stream sees.
    call(&server, SaveTodo::PATH, "id=2").await;
    let invalidation: Invalidation =
        serde_json::from_str(&stream.expect("invalidate").await.data).unwrap();
    assert_eq!(
        invalidation.tags[0],
        TagPattern::from(app_tags::todos::by_id(2))
    );
    assert_eq!(hub.cursor().seq, 1, "exactly one event was published");
}

async fn reconnecting_with_last_event_id_replays_what_was_missed(serving: Serving) {
    let hub = Hub::default();
    let server = TestServer::start(serving, &hub, app(&hub)).await;
    let first = hub
        .publish(Scope::global(), [app_tags::todos::list()])
        .await
        .unwrap();
    hub.invalidate_tags([app_tags::todos::by_id(1)]).unwrap();
    hub.invalidate_tags([app_tags::todos::by_id(2)]).unwrap();

    let mut stream = SseClient::connect(&server.url(EVENTS), Some(&first.to_string())).await;
    let hello: Hello = serde_json::from_str(&stream.expect("hello").await.data).unwrap();
    assert_eq!(hello.cursor, first);
    for id in [1, 2] {
        let event = stream.expect("invalidate").await;
        let invalidation: Invalidation = serde_json::from_str(&event.data).unwrap();
        assert_eq!(
            invalidation.tags,
            vec![TagPattern::from(app_tags::todos::by_id(id))]
        );
    }

    // The cursor parameter works the same, and Last-Event-ID wins over it.
    let url = format!("{}?cursor={}", server.url(EVENTS), hub.cursor());
    let mut stream = SseClient::connect(&url, Some(&first.to_string())).await;
    stream.expect("hello").await;
    stream.expect("invalidate").await;
}

async fn a_cursor_from_another_epoch_gets_reset_not_silence(serving: Serving) {
    let hub = Hub::default();
    let server = TestServer::start(serving, &hub, app(&hub)).await;
    let url = format!("{}?cursor=1-5", server.url(EVENTS));
    let mut stream = SseClient::connect(&url, None).await;
    stream.expect("hello").await;
    let event = stream.expect("reset").await;
    let reset: Reset = serde_json::from_str(&event.data).unwrap();
    assert_eq!(reset.reason, ResetReason::UnknownEpoch);
    assert_eq!(event.id, Some(hub.cursor().to_string()));
}

async fn malformed_resume_points_are_answered_with_400_and_json(serving: Serving) {
    let hub = Hub::default();
    let server = TestServer::start(serving, &hub, app(&hub)).await;
    for (url, header, code) in [
        (
            format!("{}?cursor=banana", server.url(EVENTS)),
            None,
            "bad_cursor",
        ),
        (server.url(EVENTS), Some("12"), "bad_last_event_id"),
        (
            format!("{}?cursor=1-1&cursor=1-2", server.url(EVENTS)),
            None,
            "bad_query",
        ),
    ] {
        let stream = SseClient::connect(&url, header).await;
        assert_eq!(stream.status, 400, "{url}");
        let body: serde_json::Value = serde_json::from_str(&stream.body_text().await).unwrap();
        assert_eq!(body["error"], code);
    }
    // Everyone else is still served.
    let mut stream = SseClient::connect(&server.url(EVENTS), None).await;
    stream.expect("hello").await;
}

async fn shutdown_ends_open_streams_and_refuses_new_ones(serving: Serving) {
    let hub = Hub::default();
    let server = TestServer::start(serving, &hub, app(&hub)).await;
    let mut stream = SseClient::connect(&server.url(EVENTS), None).await;
    stream.expect("hello").await;
    assert_eq!(hub.connections(), 1);
    hub.shutdown();
    assert_eq!(
        stream.next_event(Duration::from_secs(5)).await,
        None,
        "the stream ends cleanly"
    );
    let refused = SseClient::connect(&server.url(EVENTS), None).await;
    assert_eq!(refused.status, 503);
}

on_every_server!(
    server_function_invalidation_reaches_a_subscriber_with_its_tags,
    a_failing_server_function_publishes_nothing,
    reconnecting_with_last_event_id_replays_what_was_missed,
    a_cursor_from_another_epoch_gets_reset_not_silence,
    malformed_resume_points_are_answered_with_400_and_json,
    shutdown_ends_open_streams_and_refuses_new_ones
);
