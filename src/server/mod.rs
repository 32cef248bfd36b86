//! The demo server: settings, database, router, and the server side of the server functions.

pub mod config;
pub mod db;
pub mod scopes;
pub mod session;
pub mod todos;
pub mod users;

use crate::app::{shell, App};
use axum::Router;
use config::Config;
use db::Db;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use leptos_query_tags::server::Hub;
use session::SessionKey;
use std::path::PathBuf;

/// Builds the application router: Leptos routes and server functions with the database, the
/// hub and the session key in context, static files, and the hub's endpoints around them all.
pub fn router(options: LeptosOptions, db: Db, hub: Hub, sessions: SessionKey) -> Router {
    let routes = generate_route_list(App);
    let context = {
        let (db, hub) = (db.clone(), hub.clone());
        move || {
            provide_context(db.clone());
            provide_context(hub.clone());
            provide_context(sessions.clone());
        }
    };
    let app = Router::new()
        .leptos_routes_with_context(&options, routes, context, {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler(shell));
    hub.mount(app).with_state(options)
}

/// Starts the server and serves until Ctrl-C or SIGTERM.
pub async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,leptos_query_tags=debug".into()),
        )
        .init();

    let settings_path =
        std::env::var_os("LEPTOS_TOML").map_or_else(|| PathBuf::from("Leptos.toml"), PathBuf::from);
    let config = Config::load(&settings_path)?;
    let mut options = get_configuration(None)?.leptos_options;
    options.site_addr = config.server.site_addr;

    let db = Db::open(&config.database.path)?;
    let sessions = SessionKey::load(&config.session.key_file, config.session.secure_cookie)?;
    let hub = config.hub(sessions.clone());
    let app = router(options.clone(), db, hub.clone(), sessions);

    let listener = tokio::net::TcpListener::bind(options.site_addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.site_addr))?;
    tracing::info!(database = %config.database.path.display(), "database ready");
    println!("Demo listening on http://{}", listener.local_addr()?);
    // axum::serve, plus the hub's time bounds; with lean streams the hub writes event streams
    // straight to their sockets. On the signal the hub ends its streams and `serve` returns
    // once every connection has closed.
    config
        .serve(&hub, listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: closing event streams");
        })
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
