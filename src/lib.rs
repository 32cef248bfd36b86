//! The leptos_query_tags demo: a todo list that stays live in every open tab.
//!
//! `app` is the isomorphic UI (server-rendered, then hydrated); `server` is the axum server with
//! its SQLite database (feature `ssr`); `client` is the browser entry point (feature `hydrate`).

pub mod app;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
mod client;
