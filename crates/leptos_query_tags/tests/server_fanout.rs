//! Per-scope fan-out over real HTTP: other scopes' events neither wake a stream nor count
//! against its queue bound.

mod support;

use axum::Router;
use leptos_query_tags::protocol::Scope;
use leptos_query_tags::server::Hub;
use leptos_query_tags::tags::Tag;
use support::{header_scopes, Serving, SseClient, TestServer, EVENTS};

async fn other_scopes_events_do_not_count_against_a_streams_bound(serving: Serving) {
    const QUEUE: usize = 8;
    let hub = Hub::builder()
        .scope_resolver(header_scopes)
        .queue_capacity(QUEUE)
        .build();
    let server = TestServer::start(serving, &hub, hub.mount(Router::new())).await;
    let mut quiet = SseClient::connect_with(&server.url(EVENTS), &[("x-user", "quiet")]).await;
    quiet.expect("hello").await;

    // Many more events than the bound, all for another user, published back to back: on this
    // single-threaded test runtime the quiet stream cannot run in between.
    let busy = Scope::keyed("user", "busy").unwrap();
    for i in 0..(QUEUE as i64 * 20) {
        hub.invalidate_tags_in(
            busy.clone(),
            [Tag::from_segments(["busy".into(), i.into()])],
        )
        .unwrap();
    }
    hub.invalidate_tags_in(
        Scope::keyed("user", "quiet").unwrap(),
        [Tag::from_segments(["mine".into()])],
    )
    .unwrap();
    let mine = hub.cursor();

    // The quiet stream gets its own event, not a `reset` (lagged).
    let event = quiet.expect("invalidate").await;
    assert_eq!(event.id.as_deref(), Some(mine.to_string().as_str()));
    assert!(event.data.contains("mine"), "{event:?}");

    // Nobody received the busy user's events: nobody was woken for them.
    let stats = hub.stats();
    assert_eq!(stats.events_published, QUEUE as u64 * 20 + 1);
    assert_eq!(stats.events_delivered, 1);
    assert_eq!(stats.resets.lagged, 0);
    assert_eq!(stats.streams, 1);
    assert_eq!(stats.streams_per_scope["user:quiet"], 1);
}

on_every_server!(other_scopes_events_do_not_count_against_a_streams_bound);
