//! Test support: a server on a free loopback port and a small SSE client reading it over HTTP.
#![allow(dead_code)]

use futures::StreamExt;
use std::net::SocketAddr;
use std::time::Duration;

/// A server bound to 127.0.0.1:0; stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    /// Starts the graceful shutdown of a server run by `Hub::serve`.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// How a test server serves its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// `axum::serve` on a plain `TcpListener`: streams go through hyper, no time bounds.
    Axum,
    /// `Hub::serve`: hyper, with the hub's time bounds.
    Hub,
    /// `Hub::serve` with lean streams: the hub writes event streams to the socket itself.
    #[cfg(feature = "lean-streams")]
    Lean,
}

/// Runs each named `async fn(Serving)` of the file once per way of serving.
#[macro_export]
macro_rules! on_every_server {
    ($($name:ident),* $(,)?) => {
        mod axum_serve {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::support::Serving::Axum).await
            })*
        }
        mod hub_serve {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::support::Serving::Hub).await
            })*
        }
        #[cfg(feature = "lean-streams")]
        mod lean_streams {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::support::Serving::Lean).await
            })*
        }
    };
}

impl TestServer {
    pub async fn start(
        serving: Serving,
        hub: &leptos_query_tags::server::Hub,
        app: axum::Router,
    ) -> TestServer {
        Self::start_with(serving, hub, app, |serve| serve).await
    }

    /// Starts a server; `configure` adjusts `Hub::serve` (ignored under `axum::serve`).
    pub async fn start_with(
        serving: Serving,
        hub: &leptos_query_tags::server::Hub,
        app: axum::Router,
        configure: impl FnOnce(leptos_query_tags::server::Serve) -> leptos_query_tags::server::Serve,
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serve = match serving {
            Serving::Axum => {
                let task = tokio::spawn(async move {
                    axum::serve(listener, app).await.expect("server runs");
                });
                return TestServer {
                    addr,
                    task,
                    stop: None,
                };
            }
            Serving::Hub => hub.serve(listener, app),
            #[cfg(feature = "lean-streams")]
            Serving::Lean => hub.serve(listener, app).lean_streams(true),
        };
        let serve = configure(serve).with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
        let task = tokio::spawn(async move {
            serve.await.expect("server runs");
        });
        TestServer {
            addr,
            task,
            stop: Some(stop),
        }
    }

    /// Shuts a `Hub::serve` server down gracefully and waits (at most 5 s) until it returns.
    pub async fn shutdown(mut self) {
        let stop = self.stop.take().expect("a server run by Hub::serve");
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .expect("the server returns after its graceful shutdown")
            .expect("the server task ends cleanly");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One SSE event as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// Reads an `text/event-stream` response frame by frame.
pub struct SseClient {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    pub comments: usize,
}

impl SseClient {
    pub async fn connect(url: &str, last_event_id: Option<&str>) -> SseClient {
        match last_event_id {
            Some(id) => Self::connect_with(url, &[("last-event-id", id)]).await,
            None => Self::connect_with(url, &[]).await,
        }
    }

    /// The next event (comments are counted and skipped); `None` when the stream ended.
    pub async fn next_event(&mut self, within: Duration) -> Option<SseEvent> {
        tokio::time::timeout(within, self.next_inner())
            .await
            .expect("an SSE event within the time limit")
    }

    async fn next_inner(&mut self) -> Option<SseEvent> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: "message".into(),
                    ..Default::default()
                };
                let mut is_comment_only = true;
                for line in block.lines() {
                    if line.is_empty() || line.starts_with(':') {
                        continue;
                    }
                    is_comment_only = false;
                    let (field, value) = line.split_once(": ").unwrap_or((line, ""));
                    match field {
                        "id" => event.id = Some(value.to_owned()),
                        "event" => event.event = value.to_owned(),
                        "data" => event.data.push_str(value),
                        _ => {}
                    }
                }
                if is_comment_only {
                    self.comments += 1;
                    continue;
                }
                return Some(event);
            }
            match self.stream.next().await {
                Some(Ok(bytes)) => self
                    .buffer
                    .push_str(std::str::from_utf8(&bytes).expect("UTF-8 stream")),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next event that is not a heartbeat, which must be named `name`.
    pub async fn expect(&mut self, name: &str) -> SseEvent {
        let event = self
            .next_event(Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("stream ended while waiting for `{name}`"));
        assert_eq!(event.event, name, "unexpected event {event:?}");
        event
    }

    pub async fn body_text(self) -> String {
        let mut stream = self.stream;
        let mut out = Vec::new();
        while let Some(Ok(chunk)) = stream.next().await {
            out.extend_from_slice(&chunk);
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The stream endpoint under the default base path.
pub const EVENTS: &str = "/api/query-tags/events";
/// The publish endpoint under the default base path.
pub const PUBLISH: &str = "/api/query-tags/publish";

/// A resolver for tests: every connection gets the global scope, plus `user:<x-user header>`.
/// (Real applications read a session; a header keeps the tests short.)
pub fn header_scopes(
    parts: &http::request::Parts,
) -> impl std::future::Future<Output = Vec<leptos_query_tags::protocol::Scope>> + Send + 'static {
    use leptos_query_tags::protocol::Scope;
    let user = parts
        .headers
        .get("x-user")
        .and_then(|v| v.to_str().ok())
        .and_then(|u| Scope::keyed("user", u).ok());
    async move {
        let mut scopes = vec![Scope::global()];
        scopes.extend(user);
        scopes
    }
}

impl SseClient {
    /// Connects with extra request headers.
    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> SseClient {
        let mut request = reqwest::Client::new().get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("GET the stream");
        SseClient {
            status: response.status(),
            headers: response.headers().clone(),
            stream: response.bytes_stream().boxed(),
            buffer: String::new(),
            comments: 0,
        }
    }
}
