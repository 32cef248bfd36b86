//! The server side of the todo server functions: SQLite queries and input checks.

use super::db::Db;
use crate::app::todos::{Todo, MAX_TITLE_CHARS};
use leptos::prelude::*;

fn db() -> Result<Db, ServerFnError> {
    use_context::<Db>()
        .ok_or_else(|| ServerFnError::new("the database is not in the Leptos context"))
}

/// All todos, oldest first. The server function is a `GET`: no HTTP cache may keep its
/// answer (only the query cache, which invalidations reach, may). Only its own answer: a page
/// rendered on the server calls this too, and a page answered `no-store` would be kept out of
/// the browser's back/forward cache.
pub async fn list() -> Result<Vec<Todo>, ServerFnError> {
    use leptos::server_fn::ServerFn;
    let called = use_context::<http::request::Parts>()
        .is_some_and(|request| request.uri.path() == crate::app::todos::ListTodos::PATH);
    if let (true, Some(response)) = (called, use_context::<leptos_axum::ResponseOptions>()) {
        response.insert_header(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
    }
    db()?
        .run(|conn| {
            let mut stmt = conn.prepare_cached("SELECT id, title, done FROM todos ORDER BY id")?;
            let rows = stmt.query_map([], |row| {
                Ok(Todo {
                    id: row.get(0)?,
                    title: row.get(1)?,
                    done: row.get(2)?,
                })
            })?;
            rows.collect()
        })
        .await
}

/// Adds a todo after checking its title.
pub async fn add(title: String) -> Result<Todo, ServerFnError> {
    let title = title.trim().to_owned();
    if title.is_empty() {
        return Err(ServerFnError::new("A todo needs a title."));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(ServerFnError::new(format!(
            "A title has at most {MAX_TITLE_CHARS} characters."
        )));
    }
    db()?
        .run(move |conn| {
            conn.execute("INSERT INTO todos (title, done) VALUES (?1, 0)", [&title])?;
            Ok(Todo {
                id: conn.last_insert_rowid(),
                title,
                done: false,
            })
        })
        .await
}

/// Flips `done`; an unknown id is an error.
pub async fn toggle(id: i64) -> Result<(), ServerFnError> {
    let changed = db()?
        .run(move |conn| conn.execute("UPDATE todos SET done = NOT done WHERE id = ?1", [id]))
        .await?;
    found(changed, id)
}

/// Deletes a todo; an unknown id is an error.
pub async fn delete(id: i64) -> Result<(), ServerFnError> {
    let changed = db()?
        .run(move |conn| conn.execute("DELETE FROM todos WHERE id = ?1", [id]))
        .await?;
    found(changed, id)
}

fn found(changed: usize, id: i64) -> Result<(), ServerFnError> {
    if changed == 0 {
        Err(ServerFnError::new(format!(
            "There is no todo {id} (deleted elsewhere?)."
        )))
    } else {
        Ok(())
    }
}
