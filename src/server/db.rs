//! The embedded SQLite database, created with its schema on first start.

use leptos::prelude::ServerFnError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A shared connection; queries run on tokio's blocking pool.
#[derive(Clone, Debug)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS todos (
        id    INTEGER PRIMARY KEY AUTOINCREMENT,
        title TEXT    NOT NULL,
        done  BOOLEAN NOT NULL DEFAULT 0
    );
    CREATE TABLE IF NOT EXISTS users (
        id    INTEGER PRIMARY KEY AUTOINCREMENT,
        name  TEXT    NOT NULL UNIQUE
    );
    CREATE TABLE IF NOT EXISTS notes (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES users(id),
        body    TEXT    NOT NULL
    );
    CREATE INDEX IF NOT EXISTS notes_by_user ON notes(user_id, id);
    CREATE TABLE IF NOT EXISTS bursts (
        id    INTEGER PRIMARY KEY AUTOINCREMENT,
        size  INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS shots (
        burst INTEGER NOT NULL REFERENCES bursts(id),
        seq   INTEGER NOT NULL,
        PRIMARY KEY (burst, seq)
    );
";

impl Db {
    /// Opens (creating it and its folder if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Db, Box<dyn std::error::Error + Send + Sync>> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let conn =
            Connection::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "busy_timeout", 5000)?;
        // With WAL, NORMAL syncs at checkpoints, not at every commit: rapid fire's hundreds of
        // one-row transactions take milliseconds, not seconds.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ServerFnError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn)
        })
        .await
        .map_err(|e| ServerFnError::new(format!("database task failed: {e}")))?
        .map_err(|e| {
            tracing::error!(error = %e, "database error");
            ServerFnError::new("The database could not complete the request.")
        })
    }
}
