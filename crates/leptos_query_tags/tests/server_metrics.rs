//! `GET <base>/metrics` (feature `prometheus`): the hub's stats in the Prometheus text format,
//! aggregated by scope kind so that no user is named.

mod support;

use axum::Router;
use leptos_query_tags::protocol::Scope;
use leptos_query_tags::server::Hub;
use leptos_query_tags::tags::Tag;
use support::{header_scopes, Serving, SseClient, TestServer, EVENTS};

async fn metrics_show_what_the_hub_holds(serving: Serving) {
    let hub = Hub::builder()
        .scope_resolver(header_scopes)
        .prometheus_endpoint(true)
        .build();
    let server = TestServer::start(serving, &hub, hub.mount(Router::new())).await;
    let mut ada = SseClient::connect_with(&server.url(EVENTS), &[("x-user", "ada")]).await;
    let mut bob = SseClient::connect_with(&server.url(EVENTS), &[("x-user", "bob")]).await;
    ada.expect("hello").await;
    bob.expect("hello").await;
    hub.invalidate_tags([Tag::from_segments(["todos".into()])])
        .unwrap();
    hub.invalidate_tags_in(
        Scope::keyed("user", "ada").unwrap(),
        [Tag::from_segments(["notes".into()])],
    )
    .unwrap();
    ada.expect("invalidate").await;
    ada.expect("invalidate").await;
    // A cursor from another epoch: one reset.
    let mut stale = SseClient::connect(&server.url(EVENTS), Some("1-1")).await;
    stale.expect("hello").await;
    stale.expect("reset").await;

    let response = reqwest::get(server.url("/api/query-tags/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    for line in [
        "query_tags_streams 3",
        "query_tags_streams_by_scope_kind{kind=\"global\"} 3",
        "query_tags_streams_by_scope_kind{kind=\"user\"} 2",
        "query_tags_events_published_total 2",
        // The global event reached 2 streams (the stale one came later), ada's event 1.
        "query_tags_events_delivered_total 3",
        "query_tags_resets_total{reason=\"unknown_epoch\"} 1",
        "query_tags_resets_total{reason=\"lagged\"} 0",
        "query_tags_write_timeouts_total 0",
        "query_tags_backend_info{backend=\"memory\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    assert!(!text.contains("ada") && !text.contains("bob"), "{text}");

    // Off unless asked for: the application's 404.
    let plain = Hub::default();
    let server = TestServer::start(serving, &plain, plain.mount(Router::new())).await;
    let response = reqwest::get(server.url("/api/query-tags/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

on_every_server!(metrics_show_what_the_hub_holds);
