//! Lean event streams: the hub writes a stream straight to its socket, without hyper.
//!
//! Under hyper every connection carries fixed read and write buffers (8 KiB each), which is
//! most of what an idle SSE stream costs; a stream needs none of them. Every connection is
//! served by hyper as usual, through a [`ConnIo`](super::io::ConnIo) whose [`Follow`] follows
//! the request framing strictly ([`framing`](super::framing)). At a request boundary it holds
//! back what arrives until the request head is complete; when that head is exactly one plain
//! `GET <base>/events` and hyper has finished every earlier response, hyper is not given it: it
//! sees the client close between two requests and lets the connection go. When hyper drops the
//! connection, the socket passes to a task that sends the request through the application's
//! router (middleware, sessions, scope resolver, `ConnectInfo`) and writes the answer: the
//! stream itself, or whatever the router answered.
//!
//! "hyper has finished every earlier response" is known for certain: every head given to hyper
//! has reached the service, every response body has been dropped by hyper (it drops it after
//! encoding its end), and hyper has flushed since its last write (it flushes the IO only once
//! its own write buffer is empty).

use super::framing::{Decision, Tracker, MAX_HEADERS};
use super::Shared;
use crate::server::hub::Hub;
use crate::server::sse::{Connection, LeanStream, LeanStreamRequest, Ready};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, Response, Version};
use bytes::Bytes;
use futures::StreamExt;
use http_body::{Frame, SizeHint};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tower_service::Service;

/// What the lean listener needs from the hub.
pub(crate) struct Config {
    events_path: Box<[u8]>,
}

impl Config {
    pub(crate) fn new(hub: &Hub) -> Config {
        Config {
            events_path: format!("{}{}", hub.base_path(), crate::protocol::EVENTS_PATH)
                .into_bytes()
                .into(),
        }
    }
}

/// One connection's progress through hyper, as far as the listener needs it.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    /// Request heads given to hyper.
    passed: AtomicU64,
    /// Requests hyper has handed to the service.
    called: AtomicU64,
    /// Requests whose response body hyper has not dropped yet.
    in_flight: AtomicU64,
}

impl ConnState {
    pub(crate) fn request_started(self: &Arc<Self>) -> InFlight {
        self.called.fetch_add(1, Ordering::AcqRel);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// One request between the service call and hyper dropping its response body.
pub(crate) struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that counts as in flight until hyper drops it.
pub(crate) fn count(body: Body, in_flight: InFlight) -> Body {
    Body::new(Counted {
        body,
        _in_flight: in_flight,
    })
}

struct Counted {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Follows one connection's requests beside hyper (see the module docs).
pub(crate) struct Follow {
    tracker: Tracker,
    state: Arc<ConnState>,
    /// Bytes read at a request boundary and held back while they may be a stream request.
    held: Vec<u8>,
    /// Bytes found not to be a stream request, not yet given to hyper.
    release: Vec<u8>,
    /// hyper flushed after its last write.
    flushed: bool,
    /// The stream request taken over, served once hyper lets go.
    taken: Option<Vec<u8>>,
    /// hyper wrote after the takeover: it was not done after all; the stream is not served.
    abandoned: bool,
    shared: Arc<Shared>,
    addr: SocketAddr,
    alive: mpsc::Sender<()>,
}

impl Follow {
    pub(crate) fn new(
        shared: &Arc<Shared>,
        addr: SocketAddr,
        alive: mpsc::Sender<()>,
    ) -> Option<Box<Follow>> {
        shared.options.lean_streams.then(|| {
            Box::new(Follow {
                tracker: Tracker::new(),
                state: Arc::default(),
                held: Vec::new(),
                release: Vec::new(),
                flushed: true,
                taken: None,
                abandoned: false,
                shared: shared.clone(),
                addr,
                alive,
            })
        })
    }

    pub(crate) fn state(&self) -> Arc<ConnState> {
        self.state.clone()
    }

    pub(crate) fn is_taken(&self) -> bool {
        self.taken.is_some()
    }

    pub(crate) fn on_write(&mut self) -> io::Result<()> {
        if self.taken.is_some() {
            self.abandoned = true;
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after the event stream took over",
            ));
        }
        self.flushed = false;
        Ok(())
    }

    pub(crate) fn on_flush(&mut self) {
        self.flushed = true;
    }

    fn hyper_idle(&self) -> bool {
        self.flushed
            && self.state.in_flight.load(Ordering::Acquire) == 0
            && self.state.called.load(Ordering::Acquire)
                == self.state.passed.load(Ordering::Acquire)
    }

    /// Follows `bytes` as hyper gets them.
    fn give(&mut self, bytes: &[u8]) {
        let passed = &self.state.passed;
        let following = self.tracker.following();
        self.tracker.follow(bytes, |_| {
            passed.fetch_add(1, Ordering::AcqRel);
        });
        if following && !self.tracker.following() {
            tracing::trace!(peer = %self.addr, "connection left to hyper");
        }
    }

    pub(crate) fn poll_read(
        &mut self,
        socket: &mut TcpStream,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.release.is_empty() {
                let n = self.release.len().min(buf.remaining());
                let given: Vec<u8> = self.release.drain(..n).collect();
                buf.put_slice(&given);
                self.give(&given);
                if self.release.is_empty() {
                    self.release = Vec::new();
                }
                return Poll::Ready(Ok(()));
            }
            if self.taken.is_some() {
                return Poll::Ready(Ok(())); // hyper sees the client close between requests
            }
            if !self.tracker.at_boundary() {
                // Mid-request, or no longer followed: straight into hyper's buffer.
                let filled = buf.filled().len();
                ready!(Pin::new(&mut *socket).poll_read(cx, buf))?;
                if self.tracker.following() {
                    let fresh = buf.filled()[filled..].to_vec();
                    self.give(&fresh);
                }
                return Poll::Ready(Ok(()));
            }
            if !self.held.is_empty() {
                let idle = self.hyper_idle();
                match self
                    .tracker
                    .decide(&self.held, &self.shared.lean.events_path, idle)
                {
                    Decision::Take => {
                        self.taken = Some(std::mem::take(&mut self.held));
                        continue;
                    }
                    Decision::Release => {
                        self.release = std::mem::take(&mut self.held);
                        continue;
                    }
                    Decision::NeedMore => {}
                }
            }
            let mut chunk = [0u8; 2048];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut *socket).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                if self.held.is_empty() {
                    return Poll::Ready(Ok(())); // the client closed between requests
                }
                // The client closed mid-head: hyper gets what came, then the end.
                self.release = std::mem::take(&mut self.held);
                continue;
            }
            self.held.extend_from_slice(read.filled());
        }
    }

    /// hyper dropped the connection: serve the stream request that was taken over, if any.
    pub(crate) fn released(self, socket: TcpStream) {
        let Follow {
            taken,
            abandoned,
            shared,
            addr,
            alive,
            ..
        } = self;
        let Some(head) = taken.filter(|_| !abandoned) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // the runtime is going away: so is the connection
        };
        runtime.spawn(async move {
            let write_timeout = shared.options.write_timeout;
            let hub = shared.hub.clone();
            if let Err(error) = serve_taken(socket, head, addr, shared, write_timeout).await {
                if error.kind() == io::ErrorKind::TimedOut {
                    hub.count_write_timeout();
                }
            }
            drop(alive);
        });
    }
}

const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

async fn serve_taken(
    mut socket: TcpStream,
    head: Vec<u8>,
    addr: SocketAddr,
    shared: Arc<Shared>,
    write_timeout: Duration,
) -> io::Result<()> {
    let Some(request) = request(&head, addr) else {
        // The strict framing took the head; the `http` crate did not (an odd header value).
        return timed(write_timeout, socket.write_all(BAD_REQUEST)).await;
    };
    drop(head);
    tracing::trace!(peer = %addr, "event stream written by the hub");
    let mut app = shared.app.clone();
    drop(shared);
    let response = match Service::call(&mut app, request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    drop(app);
    write_response(&mut socket, response, write_timeout).await
}

/// Turns a stream request head the framing accepted into a request for the router.
fn request(head: &[u8], addr: SocketAddr) -> Option<Request<Body>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    parsed.parse(head).ok()?;
    let mut builder = Request::builder()
        .method(parsed.method?)
        .uri(parsed.path?)
        .version(Version::HTTP_11);
    for h in parsed.headers.iter() {
        builder = builder.header(h.name, h.value);
    }
    let mut request = builder.body(Body::empty()).ok()?;
    request.extensions_mut().insert(ConnectInfo(addr));
    request.extensions_mut().insert(LeanStreamRequest);
    Some(request)
}

/// Runs a write, failing it once it has waited `limit` for the client to read.
async fn timed(
    limit: Duration,
    write: impl std::future::Future<Output = io::Result<()>>,
) -> io::Result<()> {
    tokio::time::timeout(limit, write)
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read within the write timeout",
            ))
        })
}

/// Writes the router's answer: the hub's stream frame by frame when it accepted the request
/// and no layer changed the body's encoding, else the response as it is, chunked.
async fn write_response(
    socket: &mut TcpStream,
    response: Response<Body>,
    write_timeout: Duration,
) -> io::Result<()> {
    let (mut parts, body) = response.into_parts();
    let encoded = parts.headers.contains_key(header::CONTENT_ENCODING);
    let stream = parts
        .extensions
        .remove::<LeanStream>()
        .filter(|_| !encoded)
        .and_then(LeanStream::take);
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(parts.status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(
        parts
            .status
            .canonical_reason()
            .unwrap_or("Unknown")
            .as_bytes(),
    );
    head.extend_from_slice(b"\r\n");
    for (name, value) in parts.headers.iter() {
        if matches!(
            *name,
            header::CONTENT_LENGTH | header::TRANSFER_ENCODING | header::CONNECTION
        ) {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !parts.headers.contains_key(header::DATE) {
        head.extend_from_slice(b"date: ");
        head.extend_from_slice(httpdate::fmt_http_date(SystemTime::now()).as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    // The last response on this connection: it ends when its body ends.
    head.extend_from_slice(b"connection: close\r\ntransfer-encoding: chunked\r\n\r\n");
    match stream {
        Some(mut stream) => {
            drop(body);
            timed(write_timeout, socket.write_all(&head)).await?;
            drop(head);
            stream_to(socket, &mut stream, write_timeout).await
        }
        None => {
            timed(write_timeout, socket.write_all(&head)).await?;
            drop(head);
            // Whatever the router answered (an error, or a stream a layer re-encoded), as it
            // comes, with no size limit: hyper would not have one either.
            let mut data = body.into_data_stream();
            loop {
                let chunk = tokio::select! {
                    chunk = data.next() => chunk,
                    gone = peer_gone(socket) => return gone,
                };
                match chunk {
                    Some(Ok(bytes)) if bytes.is_empty() => {}
                    Some(Ok(bytes)) => {
                        let mut out = Vec::with_capacity(bytes.len() + 12);
                        push_chunk(&mut out, &bytes);
                        timed(write_timeout, socket.write_all(&out)).await?;
                    }
                    // A body that fails ends the response without its last chunk, so that the
                    // client sees it was cut; what hyper does too.
                    Some(Err(_)) => return Ok(()),
                    None => break,
                }
            }
            timed(write_timeout, socket.write_all(LAST_CHUNK)).await?;
            socket.shutdown().await
        }
    }
}

/// Largest batch of frames gathered into one write.
const MAX_BATCH: usize = 16 * 1024;

/// Writes the stream's frames as chunks until it ends (then the last chunk) or the peer leaves.
/// Frames that are ready together (a burst, a replay) leave in one write.
async fn stream_to(
    socket: &mut TcpStream,
    stream: &mut Connection,
    write_timeout: Duration,
) -> io::Result<()> {
    loop {
        let frame = tokio::select! {
            frame = stream.next_frame() => frame,
            gone = peer_gone(socket) => return gone,
        };
        let Some(frame) = frame else {
            timed(write_timeout, socket.write_all(LAST_CHUNK)).await?;
            return socket.shutdown().await;
        };
        let mut batch = Vec::with_capacity(frame.len() + 12);
        push_chunk(&mut batch, &frame);
        let mut ended = false;
        while batch.len() < MAX_BATCH {
            match stream.try_next_frame() {
                Ready::Frame(frame) => push_chunk(&mut batch, &frame),
                Ready::Nothing => break,
                Ready::End => {
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            batch.extend_from_slice(LAST_CHUNK);
        }
        timed(write_timeout, socket.write_all(&batch)).await?;
        if ended {
            return socket.shutdown().await;
        }
    }
}

const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Appends one HTTP/1.1 chunk carrying `frame`.
fn push_chunk(out: &mut Vec<u8>, frame: &[u8]) {
    out.extend_from_slice(format!("{:x}\r\n", frame.len()).as_bytes());
    out.extend_from_slice(frame);
    out.extend_from_slice(b"\r\n");
}

/// Resolves once the client has closed its side (or the connection failed). A stream request
/// has no body, and nothing after it is answered, so whatever else the client sends is read
/// and dropped.
async fn peer_gone(socket: &TcpStream) -> io::Result<()> {
    let mut scratch = [0u8; 64];
    loop {
        socket.readable().await?;
        match socket.try_read(&mut scratch) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks() {
        let mut out = Vec::new();
        push_chunk(&mut out, b": heartbeat\n\n");
        assert_eq!(out, b"d\r\n: heartbeat\n\n\r\n");
        push_chunk(&mut out, &[b'x'; 300]);
        assert_eq!(out[18..23], *b"12c\r\n");
    }
}
