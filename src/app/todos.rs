//! The Todos page: a list rendered on the server, kept live by tag invalidations.

use super::tags::app_tags;
use leptos::prelude::*;
use leptos::tachys::view::keyed::keyed;
use leptos_query_tags::prelude::*;
use serde::{Deserialize, Serialize};

/// One todo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Todo {
    /// Database id.
    pub id: i64,
    /// What to do.
    pub title: String,
    /// Whether it is done.
    pub done: bool,
}

/// Longest title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// All todos, oldest first. A read: `GET` (a browser starts a `GET` with less work than a
/// `POST` with a body; see docs/benchmarks.md).
#[server(input = leptos::server_fn::codec::GetUrl)]
pub async fn list_todos() -> Result<Vec<Todo>, ServerFnError> {
    crate::server::todos::list().await
}

/// Adds a todo; every open Todos page shows it.
#[server]
pub async fn add_todo(title: String) -> Result<Todo, ServerFnError> {
    let todo = crate::server::todos::add(title).await?;
    invalidate_tags([app_tags::todos::list()])?;
    Ok(todo)
}

/// Flips a todo between done and not done.
#[server]
pub async fn toggle_todo(id: i64) -> Result<(), ServerFnError> {
    crate::server::todos::toggle(id).await?;
    invalidate_tags([app_tags::todos::by_id(id), app_tags::todos::list()])?;
    Ok(())
}

/// Deletes a todo.
#[server]
pub async fn delete_todo(id: i64) -> Result<(), ServerFnError> {
    crate::server::todos::delete(id).await?;
    invalidate_tags([app_tags::todos::by_id(id), app_tags::todos::list()])?;
    Ok(())
}

/// The todo list, tagged `todos.list` and (from the result) `todos.by_id(id)` per todo.
pub fn todos_query() -> Query<(), Vec<Todo>> {
    Query::new("todos", |()| list_todos())
        .tags(|_| vec![app_tags::todos::list()])
        .tags_from_result(|_, todos| todos.iter().map(|t| app_tags::todos::by_id(t.id)).collect())
}

/// Ids of todos shown before the server has stored them (negative: never a database id).
fn provisional_id() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static NEXT: AtomicI64 = AtomicI64::new(-1);
    NEXT.fetch_sub(1, Ordering::Relaxed)
}

/// The Todos page.
#[component]
pub fn TodosPage() -> impl IntoView {
    let todos = use_query(&todos_query(), || ());
    let add = use_mutation(
        MutationOptions::new(|title: String| add_todo(title))
            .affects(|_| vec![app_tags::todos::list()])
            .optimistic(|cache, title: &String| {
                let todo = Todo {
                    id: provisional_id(),
                    title: title.trim().to_owned(),
                    done: false,
                };
                cache.update(&todos_query(), &(), |todos| todos.push(todo));
            }),
    );
    let toggle = use_mutation(
        MutationOptions::new(|id: i64| toggle_todo(id))
            .affects(|_| vec![app_tags::todos::list()])
            .optimistic(|cache, id: &i64| {
                cache.update(&todos_query(), &(), |todos| {
                    todos
                        .iter_mut()
                        .filter(|t| t.id == *id)
                        .for_each(|t| t.done = !t.done)
                });
            }),
    );
    let delete = use_mutation(
        MutationOptions::new(|id: i64| delete_todo(id))
            .affects(|_| vec![app_tags::todos::list()])
            .optimistic(|cache, id: &i64| {
                cache.update(&todos_query(), &(), |todos| todos.retain(|t| t.id != *id));
            }),
    );
    let (title, set_title) = signal(String::new());

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = title.get_untracked();
        if !text.trim().is_empty() {
            add.dispatch(text);
            set_title.set(String::new());
        }
    };
    let action_error = move || {
        [add.error(), toggle.error(), delete.error()]
            .into_iter()
            .flatten()
            .next()
            .map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })
    };

    view! {
        <section class="card todos" class:saving=move || todos.is_mutating()>
            <header class="card-header">
                <h1>"Todos"</h1>
                <p class="muted">"Shared by everyone. Open this page in two windows: changes appear in both."</p>
            </header>
            <form class="add-form" on:submit=on_submit>
                <input
                    type="text"
                    name="title"
                    placeholder="What needs doing?"
                    maxlength=MAX_TITLE_CHARS.to_string()
                    autocomplete="off"
                    aria-label="New todo"
                    prop:value=title
                    on:input=move |ev| set_title.set(event_target_value(&ev))
                />
                <button type="submit" disabled=move || add.pending()>"Add"</button>
            </form>
            {action_error}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match todos.await {
                        Ok(list) if list.is_empty() => {
                            view! { <p class="empty">"Nothing to do. Add a todo above."</p> }.into_any()
                        }
                        Ok(list) => {
                            let open = list.iter().filter(|t| !t.done).count();
                            view! {
                                // `aria-busy` while the list refetches (tests wait on it).
                                <ul class="todo-list" aria-busy=move || todos.is_fetching().to_string()>
                                    // Keyed by what a row shows: a refetch that changes one
                                    // todo re-renders that row only, the others keep their DOM
                                    // and listeners. `keyed`, not `<For>`: the Suspend rebuilds
                                    // this view on every refetch, and a `<For>` (a reactive
                                    // closure) would be replaced whole, creating every row again.
                                    {keyed(
                                        list,
                                        |todo| (todo.id, todo.done, todo.title.clone()),
                                        // A row holds no reactive state of its own: no owner
                                        // per row (as `<For>` makes) is needed.
                                        move |_, todo| (drop::<usize>, view! { <TodoRow todo toggle delete /> }),
                                    )}
                                </ul>
                                <p class="muted count">{format!("{open} open")}</p>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn TodoRow(
    todo: Todo,
    toggle: Mutation<i64, (), ServerFnError>,
    delete: Mutation<i64, (), ServerFnError>,
) -> impl IntoView {
    let id = todo.id;
    // A provisional row exists only in this browser until the server confirms it.
    let provisional = id < 0;
    view! {
        <li class="todo" class:done=todo.done class:provisional=provisional data-id=id.to_string()>
            <label>
                <input
                    type="checkbox"
                    checked=todo.done
                    disabled=provisional
                    on:change=move |_| toggle.dispatch(id)
                />
                <span class="title">{todo.title}</span>
            </label>
            <button
                class="delete"
                aria-label="Delete"
                title="Delete"
                disabled=provisional
                on:click=move |_| delete.dispatch(id)
            >
                "×"
            </button>
        </li>
    }
}
