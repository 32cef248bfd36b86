//! [`Hub::serve`](super::Hub::serve): axum's `serve`, with every connection bounded in time.
//!
//! `axum::serve` sets no timeouts: a client may take forever to send a request head, keep an
//! idle keep-alive connection for ever, or stop reading an event stream and keep its place in
//! the hub's limits for ever. [`Serve`] serves the same router through hyper's HTTP/1.1 server
//! with:
//!
//! - a **head timeout** (hyper's `header_read_timeout`): a request head must arrive complete
//!   within it, counted from when the connection is ready for it; an idle keep-alive
//!   connection is closed once the timeout passes without a new request;
//! - a **write timeout**: a write that cannot make progress for that long (the client stopped
//!   reading) fails, and the connection is closed, freeing its event stream's place;
//! - graceful shutdown that ends the hub's streams ([`Hub::shutdown`](super::Hub::shutdown))
//!   and waits for every connection, event streams included.
//!
//! With the `lean-streams` feature, [`Serve::lean_streams`] lets the hub write event streams
//! straight to their sockets (see `lean.rs`).

#[cfg(feature = "lean-streams")]
pub(crate) mod framing;
mod io;
#[cfg_attr(feature = "lean-streams", path = "lean.rs")]
#[cfg_attr(not(feature = "lean-streams"), path = "lean_off.rs")]
mod lean;

use super::hub::Hub;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use futures::future::BoxFuture;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use io::ConnIo;
use std::convert::Infallible;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tower_service::Service;

/// Default [`Serve::head_timeout`].
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`Serve::write_timeout`].
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves an axum router with the hub's time bounds; made by [`Hub::serve`]. Await it (it runs
/// until the graceful shutdown signal, if any, has fired and every connection has ended).
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve {
    hub: Hub,
    listener: TcpListener,
    app: Router,
    options: Options,
    signal: Option<BoxFuture<'static, ()>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) head_timeout: Duration,
    pub(crate) write_timeout: Duration,
    #[cfg_attr(not(feature = "lean-streams"), allow(dead_code))]
    pub(crate) lean_streams: bool,
}

impl fmt::Debug for Serve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("options", &self.options)
            .field("graceful_shutdown", &self.signal.is_some())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// Serves `app` on `listener` like `axum::serve`, with every connection bounded in time:
    /// a head timeout (which also closes idle keep-alive connections), a write timeout (a client
    /// that stops reading is closed and its stream's place freed) and a graceful shutdown that
    /// ends the event streams. HTTP/1.1; every request carries `ConnectInfo<SocketAddr>`.
    ///
    /// ```no_run
    /// use axum::Router;
    /// use leptos_query_tags::server::Hub;
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// let hub = Hub::builder().build();
    /// let app: Router = hub.mount(Router::new());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// hub.serve(listener, app)
    ///     // On the signal: the hub ends its streams, connections finish, `serve` returns.
    ///     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; })
    ///     .await
    /// # }
    /// ```
    pub fn serve(&self, listener: TcpListener, app: Router) -> Serve {
        Serve {
            hub: self.clone(),
            listener,
            app,
            options: Options {
                head_timeout: DEFAULT_HEAD_TIMEOUT,
                write_timeout: DEFAULT_WRITE_TIMEOUT,
                lean_streams: false,
            },
            signal: None,
        }
    }
}

impl Serve {
    /// How long a request head may take to arrive, counted from when the connection is ready
    /// for it (default 30 s). The same bound closes idle keep-alive connections. Slower clients
    /// are disconnected.
    pub fn head_timeout(mut self, timeout: Duration) -> Self {
        self.options.head_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long a write may wait for the client to read (default 30 s). A client that stops
    /// reading (an event stream's included) is disconnected once it has, and its stream's place
    /// in the hub's limits is free again.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.options.write_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Lets the hub write event streams straight to their sockets: an idle stream then costs
    /// about 3 KiB instead of the ~20 KiB of a connection held by hyper (its 8 KiB read and
    /// write buffers). Off by default; needs the `lean-streams` feature.
    ///
    /// Stream requests still go through `app` (middleware, sessions, the scope resolver). The
    /// hub takes a connection over only at a request boundary where hyper has finished every
    /// earlier response, the stream request is exactly one plain `GET` with nothing after it,
    /// and every earlier request of the connection was framed unambiguously (CRLF only, at most
    /// one `Content-Length`, no `Transfer-Encoding`, `Upgrade`, `Expect` or `Connection: close`,
    /// origin-form target). Anything else leaves the connection to hyper for good, which serves
    /// the stream the ordinary way. Plaintext HTTP/1.1 only: behind a proxy the proxy's
    /// connection is what is taken over, which is fine as long as the proxy does not reuse one
    /// upstream connection for several clients' streams (none does: a streaming response holds
    /// its connection).
    #[cfg(feature = "lean-streams")]
    #[cfg_attr(docsrs, doc(cfg(feature = "lean-streams")))]
    pub fn lean_streams(mut self, on: bool) -> Self {
        self.options.lean_streams = on;
        self
    }

    /// Serves until `signal` completes, then shuts down gracefully: stops accepting, ends the
    /// hub's event streams ([`Hub::shutdown`]), lets in-flight requests finish and returns
    /// once every connection has closed.
    pub fn with_graceful_shutdown<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.signal = Some(Box::pin(signal));
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    async fn run(self) -> std::io::Result<()> {
        let Serve {
            hub,
            listener,
            app,
            options,
            signal,
        } = self;
        let mut signal = signal.unwrap_or_else(|| Box::pin(std::future::pending()));
        // Every connection task (and every lean stream) holds a clone of `alive`; when the
        // last is dropped, `all_done` yields `None`.
        let (alive, mut all_done) = mpsc::channel::<()>(1);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            hub: hub.clone(),
            app,
            options,
            lean: lean::Config::new(&hub),
        });
        loop {
            let (socket, addr) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        accept_error(error).await;
                        continue;
                    }
                },
                () = &mut signal => break,
            };
            tokio::spawn(serve_connection(
                socket,
                addr,
                shared.clone(),
                shutdown_rx.clone(),
                alive.clone(),
            ));
        }
        drop(listener);
        tracing::debug!("graceful shutdown: ending event streams, draining connections");
        hub.shutdown();
        let _ = shutdown_tx.send(true);
        drop(alive);
        let _ = all_done.recv().await;
        Ok(())
    }
}

impl IntoFuture for Serve {
    type Output = std::io::Result<()>;
    type IntoFuture = BoxFuture<'static, std::io::Result<()>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// What every connection of one server shares.
struct Shared {
    hub: Hub,
    app: Router,
    options: Options,
    #[cfg_attr(not(feature = "lean-streams"), allow(dead_code))]
    lean: lean::Config,
}

/// What axum does on accept errors: connection errors are the peer's business; anything else
/// (say, out of file descriptors) is logged and retried after a second.
async fn accept_error(error: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept error");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn serve_connection(
    socket: TcpStream,
    addr: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    let follow = lean::Follow::new(&shared, addr, alive.clone());
    let state = follow.as_ref().map(|f| f.state());
    let io = ConnIo::new(
        socket,
        shared.options.write_timeout,
        shared.hub.clone(),
        follow,
    );
    let service = ConnService {
        app: shared.app.clone(),
        addr,
        state,
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.options.head_timeout)
        .keep_alive(true);
    drop(shared);
    let mut conn = pin!(builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades());
    let mut shutting_down = *shutdown.borrow();
    if shutting_down {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::trace!(peer = %addr, %error, "connection ended with an error");
                }
                break;
            }
            changed = shutdown.changed(), if !shutting_down => {
                shutting_down = true;
                if changed.is_err() || *shutdown.borrow() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
    drop(alive);
}

/// The router, as hyper calls it for one connection.
#[derive(Clone)]
struct ConnService {
    app: Router,
    addr: SocketAddr,
    /// The lean listener's view of this connection, when it follows it.
    state: Option<Arc<lean::ConnState>>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.addr));
        // Counted here, synchronously: hyper calls the service as soon as it has parsed a head.
        let in_flight = self.state.as_ref().map(|state| state.request_started());
        let mut app = self.app.clone();
        Box::pin(async move {
            let response = match Service::call(&mut app, request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok(match in_flight {
                Some(in_flight) => response.map(|body| lean::count(body, in_flight)),
                None => response,
            })
        })
    }
}
