//! The server side: the [`Hub`] that fans invalidations out to browsers over Server-Sent Events,
//! and [`invalidate_tags`] for server functions.
//!
//! ```no_run
//! use axum::Router;
//! use leptos_query_tags::server::Hub;
//!
//! # async fn run() {
//! let hub = Hub::builder().build();
//! // Your routes first (leptos_routes, fallback, ...), then `mount`: it adds the hub's
//! // endpoints and wraps every route so that invalidations made inside a server function are
//! // published only once it has returned `Ok`.
//! let app: Router = hub.mount(Router::new());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//! axum::serve(listener, app)
//!     .with_graceful_shutdown({
//!         let hub = hub.clone();
//!         async move {
//!             let _ = tokio::signal::ctrl_c().await;
//!             hub.shutdown();
//!         }
//!     })
//!     .await
//!     .unwrap();
//! # }
//! ```

mod backend;
#[cfg(feature = "server-cache")]
mod cache;
mod context;
mod error;
mod fanout;
mod hub;
#[cfg(feature = "prometheus")]
mod metrics;
mod publish;
#[cfg(feature = "redis")]
mod redis_backend;
#[cfg(feature = "redis")]
mod redis_log;
mod serve;
mod sse;

pub use crate::protocol::Scope;
#[cfg(feature = "server-cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "server-cache")))]
pub use cache::{cached, ServerCache, ServerCacheBuilder, ServerCacheStats};
pub use context::{current_hub, invalidate_tags, invalidate_tags_in};
pub use error::{HubError, InvalidateError};
pub use hub::{Hub, HubBuilder, HubStats, ResetCounts};
pub use serve::{Serve, DEFAULT_HEAD_TIMEOUT, DEFAULT_WRITE_TIMEOUT};
