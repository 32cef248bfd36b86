//! `invalidate_tags` in plain axum handlers (a REST backend, no Leptos server functions): held
//! until the response, published once after a 2xx, dropped after a 4xx or 5xx.

mod support;

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use leptos_query_tags::protocol::Invalidation;
use leptos_query_tags::server::{invalidate_tags, Hub};
use leptos_query_tags::tags::TagPattern;
use support::{Serving, SseClient, TestServer, EVENTS};

leptos_query_tags::tag_tree! {
    mod app_tags {
        todos {
            list;
            by_id(id: i64);
        }
    }
}

/// `POST /api/todos`: creates a todo (201) and invalidates the list and the new todo.
async fn create_todo(Json(id): Json<i64>) -> Result<(StatusCode, Json<i64>), StatusCode> {
    invalidate_tags([app_tags::todos::list()]).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    invalidate_tags([app_tags::todos::by_id(id)]).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok((StatusCode::CREATED, Json(id)))
}

/// `POST /api/rejected`: invalidates, then refuses the input (422).
async fn rejected() -> StatusCode {
    let _ = invalidate_tags([app_tags::todos::list()]);
    StatusCode::UNPROCESSABLE_ENTITY
}

/// `POST /api/broken`: invalidates, then fails (500).
async fn broken() -> StatusCode {
    let _ = invalidate_tags([app_tags::todos::list()]);
    StatusCode::INTERNAL_SERVER_ERROR
}

fn app(hub: &Hub) -> Router {
    hub.mount(
        Router::new()
            .route("/api/todos", post(create_todo))
            .route("/api/rejected", post(rejected))
            .route("/api/broken", post(broken)),
    )
}

async fn post_json(server: &TestServer, path: &str, body: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn a_rest_handler_publishes_once_after_a_2xx_and_nothing_after_a_4xx_or_5xx(
    serving: Serving,
) {
    let hub = Hub::default();
    let server = TestServer::start(serving, &hub, app(&hub)).await;
    let mut stream = SseClient::connect(&server.url(EVENTS), None).await;
    stream.expect("hello").await;

    assert_eq!(post_json(&server, "/api/rejected", "").await.status(), 422);
    assert_eq!(post_json(&server, "/api/broken", "").await.status(), 500);
    let response = post_json(&server, "/api/todos", "7").await;
    assert_eq!(response.status(), 201);
    assert!(
        response.headers().contains_key("server-timing"),
        "the caller learns its event id"
    );

    // The first event this stream sees is the 201's: both calls of the handler, in one event.
    let event = stream.expect("invalidate").await;
    let invalidation: Invalidation = serde_json::from_str(&event.data).unwrap();
    assert_eq!(
        invalidation.tags,
        vec![
            TagPattern::from(app_tags::todos::list()),
            TagPattern::from(app_tags::todos::by_id(7))
        ]
    );
    assert_eq!(
        hub.cursor().seq,
        1,
        "published once; the failures published nothing"
    );
}

on_every_server!(a_rest_handler_publishes_once_after_a_2xx_and_nothing_after_a_4xx_or_5xx);

#[tokio::test]
async fn the_hub_serves_the_js_client_unless_told_not_to() {
    for (serve, expected) in [(true, 200), (false, 404)] {
        let hub = Hub::builder().serve_js_client(serve).build();
        let server = TestServer::start(Serving::Hub, &hub, app(&hub)).await;
        let response = reqwest::get(server.url("/api/query-tags/client.js"))
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
        if serve {
            assert_eq!(
                response.headers()["content-type"],
                "text/javascript; charset=utf-8"
            );
            let body = response.text().await.unwrap();
            assert!(body.contains("export class QueryTagsClient"));
            assert!(body.contains("export function connectQueryClient"));
        }
    }
}
