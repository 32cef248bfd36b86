//! A corpus of bad input against the real endpoints: each answered with a clear 4xx and a JSON
//! error, while an open stream keeps being served.

mod support;

use axum::http::StatusCode;
use axum::Router;
use leptos_query_tags::protocol::{Invalidation, PublishResponse, Scope};
use leptos_query_tags::server::Hub;
use reqwest::header::HeaderValue;
use support::{header_scopes, Serving, SseClient, TestServer, EVENTS, PUBLISH};

const SECRET: &str = "s3cret-for-tests-only-0123456789";

fn app(hub: &Hub) -> Router {
    // The application's own fallback answers unknown paths, as in a Leptos app.
    let router = Router::new().fallback(|| async { (StatusCode::NOT_FOUND, "no such page") });
    hub.mount(router)
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a message for humans"
    );
    (status, body["error"].as_str().unwrap().to_owned())
}

async fn bad_input_gets_4xx_and_everyone_else_is_still_served(serving: Serving) {
    let hub = Hub::builder()
        .scope_resolver(header_scopes)
        .publish_secret(SECRET)
        .max_publish_body(1024)
        .build();
    let server = TestServer::start(serving, &hub, app(&hub)).await;
    let client = reqwest::Client::new();
    let mut bystander = SseClient::connect_with(&server.url(EVENTS), &[("x-user", "1")]).await;
    bystander.expect("hello").await;

    // --- the stream endpoint ---
    for (id, code) in [
        (&b"abc"[..], "bad_last_event_id"),
        (b"1-", "bad_last_event_id"),
        (b"-1", "bad_last_event_id"),
        (b"1-2-3", "bad_last_event_id"),
        (b"99999999999999999999999-1", "bad_last_event_id"),
        (b"\xff\xfe", "bad_last_event_id"),
    ] {
        let response = client
            .get(server.url(EVENTS))
            .header("last-event-id", HeaderValue::from_bytes(id).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(response).await,
            (400, code.to_owned()),
            "Last-Event-ID {id:?}"
        );
    }
    for (query, status, code) in [
        ("cursor=", 400, "bad_cursor"),
        ("cursor=1_2", 400, "bad_cursor"),
        ("cursor=1-2&cursor=1-2", 400, "bad_query"),
        ("scope=", 400, "bad_scope"),
        ("scope=a%20b", 400, "bad_scope"),
        ("scope=%00", 400, "bad_scope"),
        (&format!("scope={}", "x".repeat(200)), 400, "bad_scope"),
        ("scope=user:2", 403, "forbidden_scope"),
        ("scope=user:1&scope=user:2", 403, "forbidden_scope"),
    ] {
        let response = client
            .get(format!("{}?{query}", server.url(EVENTS)))
            .header("x-user", "1")
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(response).await,
            (status, code.to_owned()),
            "?{query}"
        );
    }

    // --- the publish endpoint ---
    let publish = |auth: Option<&str>, content_type: &str, body: Vec<u8>| {
        let mut request = client
            .post(server.url(PUBLISH))
            .header("content-type", content_type.to_owned())
            .body(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth.to_owned());
        }
        request.send()
    };
    let bearer = format!("Bearer {SECRET}");
    let json = "application/json";
    let good = br#"{"tags":[["todos","list"]]}"#.to_vec();

    let response = publish(None, json, good.clone()).await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(error_code(response).await, (401, "unauthorized".into()));
    for auth in [
        "Bearer wrong",
        "Bearer ",
        &format!("Basic {SECRET}"),
        &format!("bearer {SECRET}"),
        &format!("Bearer {SECRET}x"),
    ] {
        let response = publish(Some(auth), json, good.clone()).await.unwrap();
        assert_eq!(
            error_code(response).await,
            (401, "unauthorized".into()),
            "{auth}"
        );
    }
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = publish(Some(&bearer), content_type, good.clone())
            .await
            .unwrap();
        assert_eq!(
            error_code(response).await,
            (415, "unsupported_media_type".into()),
            "{content_type}"
        );
    }
    let huge = format!(r#"{{"tags":[["{}"]]}}"#, "x".repeat(2000)).into_bytes();
    let response = publish(Some(&bearer), json, huge.clone()).await.unwrap();
    assert_eq!(error_code(response).await, (413, "body_too_large".into()));
    // Without a Content-Length (chunked), the limit still holds.
    let chunks = futures::stream::iter(
        huge.chunks(100)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let response = client
        .post(server.url(PUBLISH))
        .header("authorization", &bearer)
        .header("content-type", json)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (413, "body_too_large".into()),
        "chunked"
    );
    for (body, code) in [
        (&b""[..], "bad_body"),
        (b"{", "bad_body"),
        (b"[]", "bad_body"),
        (br#"{"tags":[["a",1.5]]}"#, "bad_body"),
        (br#"{"tags":[["a",null]]}"#, "bad_body"),
        (br#"{"tags":[["a"]],"extra":1}"#, "bad_body"),
        (br#"{"tags":[["a"]],"scope":"not a scope"}"#, "bad_body"),
        (br#"{"tags":"todos"}"#, "bad_body"),
        (br#"{"tags":[]}"#, "bad_tags"),
        (
            br#"{"tags":[[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]]}"#,
            "bad_tags",
        ),
    ] {
        let response = publish(Some(&bearer), json, body.to_vec()).await.unwrap();
        assert_eq!(
            error_code(response).await,
            (400, code.to_owned()),
            "{}",
            String::from_utf8_lossy(body)
        );
    }

    // --- wrong methods and unknown paths ---
    let response = client.post(server.url(EVENTS)).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "GET");
    assert_eq!(
        error_code(response).await,
        (405, "method_not_allowed".into())
    );
    let response = client.put(server.url(EVENTS)).send().await.unwrap();
    assert_eq!(
        error_code(response).await,
        (405, "method_not_allowed".into())
    );
    let response = client.get(server.url(PUBLISH)).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(
        error_code(response).await,
        (405, "method_not_allowed".into())
    );
    let response = client
        .get(server.url("/api/query-tags/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // Nothing above published anything; the bystander's stream is intact and still served.
    assert_eq!(hub.cursor().seq, 0);
    assert_eq!(hub.connections(), 1);
    let response = publish(
        Some(&format!("Bearer {SECRET}")),
        "application/json; charset=utf-8",
        br#"{"tags":[["todos","list"]],"scope":"user:1"}"#.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let published: PublishResponse = response.json().await.unwrap();
    assert_eq!(published.id, hub.cursor());
    let event = bystander.expect("invalidate").await;
    assert_eq!(event.id, Some(published.id.to_string()));
    let invalidation: Invalidation = serde_json::from_str(&event.data).unwrap();
    assert_eq!(invalidation.scope, Scope::keyed("user", 1).unwrap());
}

async fn without_a_secret_the_publish_endpoint_does_not_exist(serving: Serving) {
    let hub = Hub::default();
    let server = TestServer::start(serving, &hub, app(&hub)).await;
    let response = reqwest::Client::new()
        .post(server.url(PUBLISH))
        .header("authorization", "Bearer anything")
        .header("content-type", "application/json")
        .body(r#"{"tags":[["todos"]]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(hub.cursor().seq, 0);
}

on_every_server!(
    bad_input_gets_4xx_and_everyone_else_is_still_served,
    without_a_secret_the_publish_endpoint_does_not_exist
);
