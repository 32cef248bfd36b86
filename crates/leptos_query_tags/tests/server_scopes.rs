//! Scope isolation over real HTTP, as a property: random scoped events across 50+ users; every
//! connection receives exactly the events of its scopes, in order — nothing from anyone else,
//! nothing lost.

mod support;

use axum::Router;
use leptos_query_tags::protocol::{Invalidation, Scope};
use leptos_query_tags::server::Hub;
use leptos_query_tags::tags::{Tag, TagPattern};
use proptest::prelude::*;
use support::{header_scopes, Serving, SseClient, TestServer, EVENTS};

const USERS: usize = 52;

fn scope_of(user: Option<usize>) -> Scope {
    match user {
        Some(u) => Scope::keyed("user", u).unwrap(),
        None => Scope::global(),
    }
}

/// Publishes `events` (None: global) and checks what each user's stream received.
async fn run(serving: Serving, events: Vec<Option<usize>>) -> Result<(), TestCaseError> {
    let hub = Hub::builder()
        .scope_resolver(header_scopes)
        .queue_capacity(1024)
        .build();
    let server = TestServer::start(serving, &hub, hub.mount(Router::new())).await;

    let mut streams = Vec::new();
    for user in 0..USERS {
        let mut stream =
            SseClient::connect_with(&server.url(EVENTS), &[("x-user", &user.to_string())]).await;
        prop_assert_eq!(stream.status, 200);
        stream.expect("hello").await;
        streams.push(stream);
    }
    // A user who narrows to their own scope only, and an anonymous (global-only) stream.
    let narrowed_url = format!("{}?scope=user:0", server.url(EVENTS));
    let mut narrowed = SseClient::connect_with(&narrowed_url, &[("x-user", "0")]).await;
    prop_assert_eq!(narrowed.status, 200);
    narrowed.expect("hello").await;
    let mut anonymous = SseClient::connect(&server.url(EVENTS), None).await;
    anonymous.expect("hello").await;

    // Each event's tag names its index, so that order and identity are checked, not just counts.
    for (i, user) in events.iter().enumerate() {
        let tag = Tag::from_segments(["event".into(), (i as i64).into()]);
        hub.invalidate_tags_in(scope_of(*user), [tag]).unwrap();
    }
    let end = Tag::from_segments(["end".into()]);
    hub.invalidate_tags([end.clone()]).unwrap();
    hub.invalidate_tags_in(scope_of(Some(0)), [end.clone()])
        .unwrap();

    async fn received(stream: &mut SseClient, end: &Tag) -> Vec<(Scope, TagPattern)> {
        let mut got = Vec::new();
        loop {
            let event = stream.expect("invalidate").await;
            let inv: Invalidation = serde_json::from_str(&event.data).unwrap();
            if inv.tags[0] == TagPattern::from(end) {
                return got;
            }
            got.push((inv.scope, inv.tags[0].clone()));
        }
    }
    let expected = |filter: &dyn Fn(Option<usize>) -> bool| -> Vec<(Scope, TagPattern)> {
        events
            .iter()
            .enumerate()
            .filter(|(_, u)| filter(**u))
            .map(|(i, u)| {
                (
                    scope_of(*u),
                    TagPattern::from_segments(["event".into(), (i as i64).into()]),
                )
            })
            .collect()
    };

    for (user, stream) in streams.iter_mut().enumerate() {
        let got = received(stream, &end).await;
        let want = expected(&|u| u.is_none() || u == Some(user));
        prop_assert!(
            got.iter()
                .all(|(s, _)| s.is_global() || *s == scope_of(Some(user))),
            "user {} saw another user's event",
            user
        );
        prop_assert_eq!(got, want, "user {}", user);
    }
    let got = received(&mut anonymous, &end).await;
    prop_assert_eq!(got, expected(&|u| u.is_none()), "anonymous");
    // The narrowed stream skips global events, including the global `end`: it ends on its own.
    let got = received(&mut narrowed, &end).await;
    prop_assert_eq!(got, expected(&|u| u == Some(0)), "narrowed to user:0");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn no_event_reaches_a_connection_outside_its_scopes(
        events in prop::collection::vec(prop::option::weighted(0.8, 0..USERS), 1..120)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(run(Serving::Axum, events.clone()))?;
        #[cfg(feature = "lean-streams")]
        runtime.block_on(run(Serving::Lean, events.clone()))?;
        runtime.block_on(run(Serving::Hub, events))?;
    }
}

async fn asking_for_a_scope_one_may_not_have_is_403_with_json(serving: Serving) {
    let hub = Hub::builder().scope_resolver(header_scopes).build();
    let server = TestServer::start(serving, &hub, hub.mount(Router::new())).await;
    let url = format!("{}?scope=user:7", server.url(EVENTS));
    for headers in [&[("x-user", "8")][..], &[][..]] {
        let refused = SseClient::connect_with(&url, headers).await;
        assert_eq!(refused.status, 403);
        let body: serde_json::Value = serde_json::from_str(&refused.body_text().await).unwrap();
        assert_eq!(body["error"], "forbidden_scope");
        assert!(body["message"].as_str().unwrap().contains("user:7"));
    }
    let mut allowed = SseClient::connect_with(&url, &[("x-user", "7")]).await;
    assert_eq!(allowed.status, 200);
    allowed.expect("hello").await;
}

on_every_server!(asking_for_a_scope_one_may_not_have_is_403_with_json);
