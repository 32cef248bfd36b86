//! The server side of sign-in, notes and rapid fire: SQLite queries and input checks.

use super::db::Db;
use super::session::{self, Session};
use crate::app::notes::{Note, MAX_NOTE_CHARS};
use crate::app::rapid::{Burst, MAX_BURST};
use crate::app::session::{User, MAX_NAME_CHARS};
use leptos::prelude::*;

fn db() -> Result<Db, ServerFnError> {
    use_context::<Db>()
        .ok_or_else(|| ServerFnError::new("the database is not in the Leptos context"))
}

/// The signed-in user of this request, from the verified session only.
pub fn current_user() -> Option<User> {
    session::current().map(|s| User {
        id: s.user_id,
        name: s.name,
    })
}

/// Signs in with a name (passwordless, for the demo): finds or creates the user and sets the
/// sealed session cookie.
pub async fn sign_in(name: String) -> Result<User, ServerFnError> {
    let name = name.trim().to_owned();
    if name.is_empty() {
        return Err(ServerFnError::new("Type a name to sign in."));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ServerFnError::new(format!(
            "A name has at most {MAX_NAME_CHARS} characters."
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ServerFnError::new("A name cannot hold control characters."));
    }
    let key = use_context::<session::SessionKey>()
        .ok_or_else(|| ServerFnError::new("sessions are not configured"))?;
    let user = db()?
        .run(move |conn| {
            conn.execute(
                "INSERT INTO users (name) VALUES (?1) ON CONFLICT(name) DO NOTHING",
                [&name],
            )?;
            let id = conn.query_row("SELECT id FROM users WHERE name = ?1", [&name], |row| {
                row.get(0)
            })?;
            Ok(User { id, name })
        })
        .await?;
    session::set_cookie(key.sign_in_cookie(&Session {
        user_id: user.id,
        name: user.name.clone(),
    }));
    Ok(user)
}

/// Signs out: the browser drops the cookie.
pub fn sign_out() -> Result<(), ServerFnError> {
    let key = use_context::<session::SessionKey>()
        .ok_or_else(|| ServerFnError::new("sessions are not configured"))?;
    session::set_cookie(key.sign_out_cookie());
    Ok(())
}

/// The signed-in user's notes, oldest first.
pub async fn notes(user: &Session) -> Result<Vec<Note>, ServerFnError> {
    let user_id = user.user_id;
    db()?
        .run(move |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT id, body FROM notes WHERE user_id = ?1 ORDER BY id")?;
            let rows = stmt.query_map([user_id], |row| {
                Ok(Note {
                    id: row.get(0)?,
                    body: row.get(1)?,
                })
            })?;
            rows.collect()
        })
        .await
}

/// The user's note statistics, from the hub's server cache: counted again only after a change
/// to the user's notes (tag `notes.stats(<user>)`) or after ten minutes.
pub async fn note_stats(user: &Session) -> Result<crate::app::notes::NoteSummary, ServerFnError> {
    use crate::app::tags::app_tags;
    use leptos_query_tags::server::cached;
    let user_id = user.user_id;
    // Contexts are read before the first await: a fetch shared by several components runs
    // under the owner of the one that started it, which a re-render may have disposed of by
    // the time the await resumes.
    let cache =
        leptos_query_tags::server::current_hub().and_then(|hub| hub.server_cache().cloned());
    let (notes, words) = cached(
        &format!("note-stats:{user_id}"),
        [app_tags::notes::stats(user_id)],
        std::time::Duration::from_secs(600),
        || async move {
            let bodies: Vec<String> = db()?
                .run(move |conn| {
                    let mut stmt =
                        conn.prepare_cached("SELECT body FROM notes WHERE user_id = ?1")?;
                    let rows = stmt.query_map([user_id], |row| row.get(0))?;
                    rows.collect()
                })
                .await?;
            let words = bodies
                .iter()
                .map(|b| b.split_whitespace().count() as u64)
                .sum();
            Ok::<_, ServerFnError>((bodies.len() as u64, words))
        },
    )
    .await?;
    let cache = cache.map(|c| c.stats()).unwrap_or_default();
    Ok(crate::app::notes::NoteSummary {
        notes,
        words,
        cache_hits: cache.hits,
        cache_misses: cache.misses,
    })
}

fn checked_body(body: String) -> Result<String, ServerFnError> {
    let body = body.trim().to_owned();
    if body.is_empty() {
        return Err(ServerFnError::new("A note cannot be empty."));
    }
    if body.chars().count() > MAX_NOTE_CHARS {
        return Err(ServerFnError::new(format!(
            "A note has at most {MAX_NOTE_CHARS} characters."
        )));
    }
    Ok(body)
}

/// Adds a note for the signed-in user.
pub async fn add_note(user: &Session, body: String) -> Result<Note, ServerFnError> {
    let body = checked_body(body)?;
    let user_id = user.user_id;
    db()?
        .run(move |conn| {
            conn.execute(
                "INSERT INTO notes (user_id, body) VALUES (?1, ?2)",
                rusqlite::params![user_id, body],
            )?;
            Ok(Note {
                id: conn.last_insert_rowid(),
                body,
            })
        })
        .await
}

/// Changes one of the signed-in user's notes; another user's note is "not found".
pub async fn edit_note(user: &Session, id: i64, body: String) -> Result<(), ServerFnError> {
    let body = checked_body(body)?;
    let user_id = user.user_id;
    let changed = db()?
        .run(move |conn| {
            conn.execute(
                "UPDATE notes SET body = ?1 WHERE id = ?2 AND user_id = ?3",
                rusqlite::params![body, id, user_id],
            )
        })
        .await?;
    found(changed, id)
}

/// Deletes one of the signed-in user's notes; another user's note is "not found".
pub async fn delete_note(user: &Session, id: i64) -> Result<(), ServerFnError> {
    let user_id = user.user_id;
    let changed = db()?
        .run(move |conn| {
            conn.execute(
                "DELETE FROM notes WHERE id = ?1 AND user_id = ?2",
                rusqlite::params![id, user_id],
            )
        })
        .await?;
    found(changed, id)
}

fn found(changed: usize, id: i64) -> Result<(), ServerFnError> {
    if changed == 0 {
        Err(ServerFnError::new(format!(
            "There is no note {id} of yours (deleted in another tab?)."
        )))
    } else {
        Ok(())
    }
}

/// The latest burst and the writes of it stored so far.
pub async fn latest_burst() -> Result<Option<Burst>, ServerFnError> {
    db()?
        .run(|conn| {
            use rusqlite::OptionalExtension;
            let Some((id, size)) = conn
                .query_row(
                    "SELECT id, size FROM bursts ORDER BY id DESC LIMIT 1",
                    [],
                    |row| Ok((row.get::<_, i64>(0)?, row.get::<_, u32>(1)?)),
                )
                .optional()?
            else {
                return Ok(None);
            };
            let mut stmt =
                conn.prepare_cached("SELECT seq FROM shots WHERE burst = ?1 ORDER BY seq")?;
            let seqs = stmt
                .query_map([id], |row| row.get(0))?
                .collect::<rusqlite::Result<Vec<u32>>>()?;
            Ok(Some(Burst { id, size, seqs }))
        })
        .await
}

/// Rapid fire: `size` writes, one transaction each, and after each write its own invalidation,
/// published at once (as `size` independent writers would). Returns the burst's id.
pub async fn fire(size: u32) -> Result<i64, ServerFnError> {
    if !(1..=MAX_BURST).contains(&size) {
        return Err(ServerFnError::new(format!(
            "A burst is 1 to {MAX_BURST} writes."
        )));
    }
    let hub = use_context::<leptos_query_tags::server::Hub>()
        .ok_or_else(|| ServerFnError::new("the hub is not in the Leptos context"))?;
    let db = db()?;
    let burst = db
        .run(move |conn| {
            conn.execute("INSERT INTO bursts (size) VALUES (?1)", [size])?;
            Ok(conn.last_insert_rowid())
        })
        .await?;
    db.run(move |conn| {
        let mut insert = conn.prepare_cached("INSERT INTO shots (burst, seq) VALUES (?1, ?2)")?;
        for seq in 1..=size {
            insert.execute(rusqlite::params![burst, seq])?;
            // Committed: tell every browser. Events are queued, so this does not block.
            if let Err(e) = hub.invalidate_tags([crate::app::tags::app_tags::rapid::shots()]) {
                tracing::error!(error = %e, "rapid fire: publish failed");
            }
        }
        Ok(())
    })
    .await?;
    Ok(burst)
}
