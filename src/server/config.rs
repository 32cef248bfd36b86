//! Run-time settings: `Leptos.toml`, then environment variables on top.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings of the demo server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`
    pub server: ServerSection,
    /// `[database]`
    pub database: DatabaseSection,
    /// `[query_tags]`
    pub query_tags: QueryTagsSection,
    /// `[session]`
    pub session: SessionSection,
}

/// `[session]` in Leptos.toml: how sign-in sessions are sealed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSection {
    /// File holding the session key (128 hex digits), generated on first start when absent;
    /// `DEMO_SESSION_KEY` (the key itself) takes precedence.
    pub key_file: PathBuf,
    /// Mark the session cookie `Secure` (sent over HTTPS only): on behind TLS.
    pub secure_cookie: bool,
}

impl Default for SessionSection {
    fn default() -> Self {
        SessionSection {
            key_file: PathBuf::from("target/demo/session.key"),
            secure_cookie: false,
        }
    }
}

/// `[server]` in Leptos.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Address to listen on; `LEPTOS_SITE_ADDR` overrides it.
    pub site_addr: SocketAddr,
}

/// `[database]` in Leptos.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    /// SQLite file, created on first start; `DEMO_DATABASE_PATH` overrides it.
    pub path: PathBuf,
}

/// `[query_tags]` in Leptos.toml: the hub's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryTagsSection {
    /// Where the hub's endpoints are mounted.
    pub base_path: String,
    /// Seconds between heartbeat comments.
    pub heartbeat_secs: u64,
    /// Events kept for replay.
    pub replay_capacity: usize,
    /// Events one connection may lag behind before it is reset.
    pub queue_capacity: usize,
    /// Whether the hub writes event streams to their sockets itself (`Serve::lean_streams`).
    pub lean_streams: bool,
    /// Seconds a request head may take (also closes idle keep-alive connections).
    pub head_timeout_secs: u64,
    /// Seconds a write may wait for a client that does not read.
    pub write_timeout_secs: u64,
    /// Most open streams per client address (0: no cap).
    pub max_streams_per_client: usize,
    /// Redis shared by several instances of the demo (empty: events stay in this process).
    pub redis_url: String,
    /// Serve `GET <base>/metrics` (the hub's stats in the Prometheus text format).
    pub metrics: bool,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            site_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
        }
    }
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection {
            path: PathBuf::from("target/demo/todos.sqlite3"),
        }
    }
}

impl Default for QueryTagsSection {
    fn default() -> Self {
        QueryTagsSection {
            base_path: leptos_query_tags::protocol::DEFAULT_BASE_PATH.to_owned(),
            heartbeat_secs: 15,
            replay_capacity: 1024,
            queue_capacity: 256,
            lean_streams: true,
            head_timeout_secs: 30,
            write_timeout_secs: 30,
            max_streams_per_client: 0,
            redis_url: String::new(),
            metrics: false,
        }
    }
}

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid settings.
    #[error("invalid settings in {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: toml::de::Error,
    },
    /// An environment variable holds a bad value.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

impl Config {
    /// Reads `path` (a missing file means the defaults), then applies the environment:
    /// `LEPTOS_SITE_ADDR`, `DEMO_DATABASE_PATH`, `QUERY_TAGS_BASE_PATH`, `QUERY_TAGS_REDIS_URL`,
    /// `DEMO_SESSION_KEY_FILE`. (`DEMO_SESSION_KEY`, the key itself, is read by
    /// [`SessionKey::load`](super::session::SessionKey::load).)
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let mut config = match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|source| ConfigError::Parse {
                path: path.to_owned(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        if let Ok(value) = std::env::var("LEPTOS_SITE_ADDR") {
            config.server.site_addr =
                value
                    .parse()
                    .map_err(|e: std::net::AddrParseError| ConfigError::Env {
                        name: "LEPTOS_SITE_ADDR",
                        value: value.clone(),
                        reason: e.to_string(),
                    })?;
        }
        if let Some(value) = std::env::var_os("DEMO_DATABASE_PATH") {
            config.database.path = PathBuf::from(value);
        }
        if let Ok(value) = std::env::var("QUERY_TAGS_BASE_PATH") {
            config.query_tags.base_path = value;
        }
        if let Ok(value) = std::env::var("QUERY_TAGS_REDIS_URL") {
            config.query_tags.redis_url = value;
        }
        if let Some(value) = std::env::var_os("DEMO_SESSION_KEY_FILE") {
            config.session.key_file = PathBuf::from(value);
        }
        Ok(config)
    }

    /// The hub these settings describe; `key` opens the sessions its scope resolver reads.
    pub fn hub(&self, key: super::session::SessionKey) -> leptos_query_tags::server::Hub {
        let q = &self.query_tags;
        let builder = leptos_query_tags::server::Hub::builder()
            .base_path(q.base_path.clone())
            .heartbeat(Duration::from_secs(q.heartbeat_secs.max(1)))
            .replay_capacity(q.replay_capacity)
            .queue_capacity(q.queue_capacity)
            .scope_resolver(super::scopes::resolver(key))
            // Expensive reads (note statistics) cached under tags, purged by the same events.
            .server_cache(leptos_query_tags::server::ServerCache::builder().build());
        let builder = builder.prometheus_endpoint(q.metrics);
        // The publish endpoint is on only with a secret, and secrets come from the environment,
        // never from a file in the repository.
        let builder = match std::env::var("QUERY_TAGS_PUBLISH_SECRET") {
            Ok(secret) if !secret.is_empty() => builder.publish_secret(secret),
            _ => builder,
        };
        let builder = match q.redis_url.as_str() {
            "" => builder,
            url => builder.redis(url),
        };
        match q.max_streams_per_client {
            0 => builder.build(),
            cap => builder.max_streams_per_client(cap).build(),
        }
    }

    /// How the hub serves `app` on `listener`: the time bounds and lean streams of these
    /// settings.
    pub fn serve(
        &self,
        hub: &leptos_query_tags::server::Hub,
        listener: tokio::net::TcpListener,
        app: axum::Router,
    ) -> leptos_query_tags::server::Serve {
        let q = &self.query_tags;
        hub.serve(listener, app)
            .head_timeout(Duration::from_secs(q.head_timeout_secs.max(1)))
            .write_timeout(Duration::from_secs(q.write_timeout_secs.max(1)))
            .lean_streams(q.lean_streams)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_settings_parse() {
        let text = include_str!("../../Leptos.toml");
        let config: Config = toml::from_str(text).expect("Leptos.toml is valid");
        assert_eq!(config.server.site_addr.port(), 3000);
        assert_eq!(config.query_tags.base_path, "/api/query-tags");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<Config>("[server]\nsite_adr = \"127.0.0.1:1\"\n").is_err());
    }
}
