//! The browser app: client-side rendered, talking to the REST API with `gloo-net`.

use crate::{tags, Todo};
use leptos::prelude::*;
use leptos_query_tags::prelude::*;
use leptos_query_tags::query::Local;

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

/// `GET /api/todos` parsed by the browser's own `JSON.parse`: the data is a `js_sys::Array`,
/// which is not `Send`. `Local` lets it be query data in this client-side-rendered app.
async fn todos_as_js() -> Result<Local<js_sys::Array>, String> {
    let response = gloo_net::http::Request::get("/api/todos")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let text = response.text().await.map_err(|e| e.to_string())?;
    let parsed = js_sys::JSON::parse(&text).map_err(|_| "GET /api/todos: not JSON".to_owned())?;
    Ok(Local::new(js_sys::Array::from(&parsed)))
}

/// The same list as browser objects, kept live by the same tag.
fn todos_js_query() -> Query<(), Local<js_sys::Array>, String> {
    Query::new("todos-js", |()| todos_as_js()).tags(|_| vec![tags::todos::list()])
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
                <JsCount />
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

/// How many todos the browser-side `js_sys::Array` holds.
#[component]
fn JsCount() -> impl IntoView {
    let todos = use_query(&todos_js_query(), || ());
    let count = move || todos.data().map(|todos| todos.length());
    view! {
        <p data-js-count=move || count().map(|n| n.to_string())>
            {move || count().map(|n| format!("{n} todos, as parsed by the browser"))}
        </p>
    }
}

/// The wasm module's entry point.
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
