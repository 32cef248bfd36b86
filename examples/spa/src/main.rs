//! The REST backend: `GET` and `POST /api/todos`, the hub, and the app's static files.

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use leptos_query_tags::server::{invalidate_tags, Hub};
use spa::{tags, Todo};
use std::sync::{Arc, Mutex};

type Todos = Arc<Mutex<Vec<Todo>>>;

async fn list(todos: axum::extract::State<Todos>) -> Json<Vec<Todo>> {
    Json(todos.lock().unwrap_or_else(|e| e.into_inner()).clone())
}

async fn create(
    todos: axum::extract::State<Todos>,
    Json(title): Json<String>,
) -> Result<(StatusCode, Json<Todo>), (StatusCode, String)> {
    let title = title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 200 {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "a title has 1 to 200 characters".into(),
        ));
    }
    let todo = {
        let mut todos = todos.lock().unwrap_or_else(|e| e.into_inner());
        let todo = Todo {
            id: todos.len() as u64 + 1,
            title,
        };
        todos.push(todo.clone());
        todo
    };
    // Published once this handler has answered 2xx; every open app refetches its list.
    invalidate_tags([tags::todos::list()])
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((StatusCode::CREATED, Json(todo)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The built app (index.html, pkg/): ./build.sh writes it to target/site.
    let site = std::env::var("SPA_SITE_DIR").unwrap_or_else(|_| "target/site".into());
    let addr = std::env::var("SPA_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());

    let hub = Hub::builder().build();
    let api = Router::new()
        .route("/api/todos", get(list).post(create))
        .with_state(Todos::default());
    let app = hub
        .mount(api)
        .fallback_service(tower_http::services::ServeDir::new(site));

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    hub.serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
