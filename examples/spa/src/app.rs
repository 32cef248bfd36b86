//! The browser app: client-side rendered, talking to the REST API with `gloo-net`.

use crate::{tags, Todo};
use leptos::prelude::*;
use leptos_query_tags::prelude::*;

/// `GET /api/todos`.
async fn list_todos() -> Result<Vec<Todo>, String> {
    let response = gloo_net::http::Request::get("/api/todos")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("GET /api/todos: {}", response.status()));
    }
    response.json().await.map_err(|e| e.to_string())
}

/// `POST /api/todos`.
async fn add_todo(title: String) -> Result<Todo, String> {
    let response = gloo_net::http::Request::post("/api/todos")
        .json(&title)
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(response.text().await.unwrap_or_else(|e| e.to_string()));
    }
    response.json().await.map_err(|e| e.to_string())
}

/// The todo list query: tagged `todos.list`, which the backend invalidates on every write.
fn todos_query() -> Query<(), Vec<Todo>, String> {
    Query::new("todos", |()| list_todos()).tags(|_| vec![tags::todos::list()])
}

/// The app: the provider opens the event stream as soon as the app mounts.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <QueryTagsProvider>
            <main>
                <h1>"Todos (SPA)"</h1>
                <Status />
                <Todos />
            </main>
        </QueryTagsProvider>
    }
}

#[component]
fn Status() -> impl IntoView {
    let live = use_query_tags();
    let state = Memo::new(move |_| match live.as_ref().map(|c| c.connection_state()) {
        Some(ConnectionState::Open) => "live",
        _ => "connecting",
    });
    view! { <p data-connection=state>{state}</p> }
}

#[component]
fn Todos() -> impl IntoView {
    let todos = use_query(&todos_query(), || ());
    let add = use_mutation(MutationOptions::new(|title: String| add_todo(title)));
    let (title, set_title) = signal(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = title.get_untracked();
        if !text.trim().is_empty() {
            add.dispatch(text);
            set_title.set(String::new());
        }
    };
    view! {
        <form on:submit=submit>
            <input aria-label="New todo" prop:value=title
                on:input=move |ev| set_title.set(event_target_value(&ev)) />
            <button type="submit">"Add"</button>
        </form>
        {move || add.error().map(|e| view! { <p role="alert">{e}</p> })}
        <ul>
            {move || todos.data().map(|todos| {
                todos.into_iter().map(|t| view! { <li>{t.title}</li> }).collect_view()
            })}
        </ul>
    }
}

/// The wasm module's entry point.
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
