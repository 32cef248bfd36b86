//! [`HubListener`]: writes the event stream straight to the socket; axum serves the rest.
//!
//! Under `axum::serve` every connection carries hyper's fixed read and write buffers (8 KiB
//! each), which is most of what an idle SSE stream costs. A stream needs none of them: after
//! its request head it only ever writes small frames.
//!
//! Every connection is served by axum (hyper) as usual, through a [`HubIo`] that follows the
//! HTTP/1.1 request framing of what the client sends: where each request head starts and ends,
//! and how long its body is. When a complete request head at a request boundary is a plain
//! `GET <base>/events` (HTTP/1.1, no body, nothing pipelined after it), hyper is not given it:
//! it sees the client close between two requests, as after any keep-alive exchange, and lets
//! the connection go. The hub then passes the request through the application's router (so its
//! middleware, sessions and scope resolver see it as usual) and writes the stream to the socket
//! with a small loop that holds no buffer between events. Browsers send their `EventSource`
//! request on an idle keep-alive connection more often than not, so this has to work on any
//! request of a connection, not only the first.
//!
//! Whatever the tracking cannot follow with certainty (chunked request bodies, upgrades,
//! HTTP/2, HTTP/1.0, malformed or very large heads) switches the connection to plain
//! pass-through for good: hyper serves it exactly as without the listener.

use super::sse::{Connection, LeanStream, LeanStreamRequest, Ready};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, Response, Version};
use axum::Router;
use bytes::Bytes;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tower_service::Service;

/// Largest request head the listener follows; a longer one switches the connection to
/// pass-through (hyper answers it).
const MAX_HEAD: usize = 16 * 1024;
/// Most request headers the listener parses.
const MAX_HEADERS: usize = 64;
/// Largest error body (a JSON error, or whatever a middleware answered) written for a stream
/// request that was refused.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A listener for `axum::serve` that writes the hub's event streams to their sockets itself:
/// about 3 KiB of memory per open stream instead of the ~20 KiB of a stream served by hyper.
///
/// Made by [`Hub::listener`](super::Hub::listener); see there.
pub struct HubListener {
    listener: TcpListener,
    shared: Arc<Shared>,
}

struct Shared {
    app: Router,
    events_target: Bytes,
}

impl std::fmt::Debug for HubListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubListener")
            .field("listener", &self.listener)
            .field(
                "events_target",
                &String::from_utf8_lossy(&self.shared.events_target),
            )
            .finish_non_exhaustive()
    }
}

impl HubListener {
    pub(crate) fn new(listener: TcpListener, app: Router, events_path: &str) -> HubListener {
        HubListener {
            listener,
            shared: Arc::new(Shared {
                app,
                events_target: Bytes::from(format!("GET {events_path}")),
            }),
        }
    }
}

impl axum::serve::Listener for HubListener {
    type Io = HubIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (HubIo, SocketAddr) {
        loop {
            match self.listener.accept().await {
                Ok((socket, addr)) => {
                    let io = HubIo {
                        socket: Arc::new(socket),
                        addr,
                        shared: self.shared.clone(),
                        framing: Framing::Head(Vec::new()),
                        held: Vec::new(),
                        release: Vec::new(),
                        released: None,
                    };
                    return (io, addr);
                }
                Err(error) => accept_error(error).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// What axum does on accept errors: connection errors are the peer's business; anything else
/// (say, out of file descriptors) is logged and retried after a second.
async fn accept_error(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept error");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Where the client is in its stream of requests.
#[derive(Debug)]
enum Framing {
    /// Inside a request head; holds the part seen so far (empty at a request boundary).
    Head(Vec<u8>),
    /// Inside a request body with this many bytes left.
    Body(u64),
    /// Not followed any more: everything goes to hyper.
    PassThrough,
    /// The connection now carries an event stream; hyper was told the client closed.
    Taken,
}

/// A connection as axum sees it, from a [`HubListener`].
#[derive(Debug)]
pub struct HubIo {
    socket: Arc<TcpStream>,
    addr: SocketAddr,
    shared: Arc<Shared>,
    framing: Framing,
    /// Bytes read at a request boundary and held back while they may be a stream request.
    held: Vec<u8>,
    /// Bytes read, found not to be a stream request, not yet given to hyper.
    release: Vec<u8>,
    /// Told when hyper lets go of the connection, once a stream request was taken.
    released: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared(..)")
    }
}

impl Drop for HubIo {
    fn drop(&mut self) {
        if let Some(released) = self.released.take() {
            let _ = released.send(());
        }
    }
}

impl HubIo {
    fn socket(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        Arc::get_mut(&mut self.socket)
            .map(Pin::new)
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "the event stream took over"))
    }

    /// Follows the request framing over `bytes`, which hyper is about to read.
    fn follow(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.framing {
                Framing::PassThrough | Framing::Taken => return,
                Framing::Body(left) => {
                    let n = (*left).min(bytes.len() as u64);
                    *left -= n;
                    bytes = &bytes[n as usize..];
                    if *left == 0 {
                        self.framing = Framing::Head(Vec::new());
                    }
                }
                Framing::Head(seen) => {
                    let before = seen.len();
                    seen.extend_from_slice(bytes);
                    match head_end(seen) {
                        Some(end) => {
                            let next = body_of(&seen[..end]);
                            bytes = &bytes[end - before..];
                            self.framing = next;
                        }
                        None if seen.len() > MAX_HEAD => self.framing = Framing::PassThrough,
                        None => return,
                    }
                }
            }
        }
    }

    /// At a request boundary: takes `held` as a stream request, gives it to hyper, or waits
    /// for more. `Some(true)`: taken.
    fn decide(&mut self) -> Option<bool> {
        match classify(&self.held, &self.shared.events_target) {
            Head::Incomplete => None,
            Head::Stream { len } if len == self.held.len() => Some(true),
            _ => Some(false),
        }
    }

    /// Hands the stream request in `held` to a task that serves it once hyper has let go.
    fn take_stream(&mut self) {
        self.framing = Framing::Taken;
        let (released, hyper_done) = oneshot::channel();
        self.released = Some(released);
        let head = std::mem::take(&mut self.held);
        let socket = self.socket.clone();
        let shared = self.shared.clone();
        let addr = self.addr;
        tokio::spawn(async move {
            let _ = hyper_done.await;
            // hyper has dropped its side: the socket is ours alone once the dropped `HubIo`'s
            // own reference is gone too, microseconds after it said so.
            let Some(socket) = sole_owner(socket).await else {
                return;
            };
            let Some(request) = request(&head, addr) else {
                // httparse took the head, the `http` crate did not (say, an odd header value).
                let mut socket = socket;
                let _ = socket.write_all(BAD_REQUEST).await;
                return;
            };
            drop(head);
            tracing::trace!(peer = %addr, "event stream served by the hub listener");
            let mut app = shared.app.clone();
            drop(shared);
            let response = match Service::call(&mut app, request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            drop(app);
            let _ = serve_response(socket, response).await;
        });
    }
}

const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// Waits (briefly) until `socket` has no other owner and unwraps it.
async fn sole_owner(mut socket: Arc<TcpStream>) -> Option<TcpStream> {
    for attempt in 0..1_000u32 {
        match Arc::try_unwrap(socket) {
            Ok(socket) => return Some(socket),
            Err(shared) => socket = shared,
        }
        if attempt < 100 {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    tracing::warn!("an event stream's connection was never released; closing it");
    None
}

impl AsyncRead for HubIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.release.is_empty() {
                // Bytes that turned out not to be a stream request: hyper's now.
                let n = this.release.len().min(buf.remaining());
                let given: Vec<u8> = this.release.drain(..n).collect();
                buf.put_slice(&given);
                this.follow(&given);
                if this.release.is_empty() {
                    this.release = Vec::new();
                }
                return Poll::Ready(Ok(()));
            }
            match &this.framing {
                Framing::Taken => return Poll::Ready(Ok(())), // hyper sees the client close
                Framing::Head(seen) if seen.is_empty() => {}
                _ => {
                    // Mid-request or pass-through: read straight into hyper's buffer.
                    let filled = buf.filled().len();
                    ready!(this.socket()?.poll_read(cx, buf))?;
                    this.follow(&buf.filled()[filled..]);
                    return Poll::Ready(Ok(()));
                }
            }
            // At a request boundary: hold what arrives until it is clearly a stream request
            // or clearly not.
            match this.decide() {
                Some(true) => {
                    this.take_stream();
                    return Poll::Ready(Ok(()));
                }
                Some(false) => {
                    this.release = std::mem::take(&mut this.held);
                    continue;
                }
                None => {}
            }
            let mut chunk = [0u8; 2048];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(this.socket()?.poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                if this.held.is_empty() {
                    return Poll::Ready(Ok(())); // the client closed between requests
                }
                // The client closed mid-head: hyper gets what came, then the end.
                this.release = std::mem::take(&mut this.held);
                continue;
            }
            this.held.extend_from_slice(read.filled());
        }
    }
}

/// Writes go through a shared reference: once a stream request is taken, hyper may still be
/// finishing the previous response (the stream waits until hyper lets go).
impl AsyncWrite for HubIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_shared_write(&self.socket, cx, |socket| socket.try_write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        poll_shared_write(&self.socket, cx, |socket| socket.try_write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(())) // a TCP socket has nothing to flush
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if matches!(self.framing, Framing::Taken) {
            // hyper closes its side; the stream goes on.
            return Poll::Ready(Ok(()));
        }
        self.socket()?.poll_shutdown(cx)
    }
}

/// Writes with `write` once the socket is writable; what tokio's own `poll_write` does, through
/// a shared reference.
fn poll_shared_write(
    socket: &TcpStream,
    cx: &mut Context<'_>,
    write: impl Fn(&TcpStream) -> io::Result<usize>,
) -> Poll<io::Result<usize>> {
    loop {
        ready!(socket.poll_write_ready(cx))?;
        match write(socket) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            done => return Poll::Ready(done),
        }
    }
}

/// The end of the request head in `seen` (just past its blank line), if it is there.
fn head_end(seen: &[u8]) -> Option<usize> {
    seen.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// What follows a complete request head: its body, or pass-through when the listener cannot
/// be certain where the next request starts.
fn body_of(head: &[u8]) -> Framing {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => framing_after(&request),
        _ => Framing::PassThrough,
    }
}

/// What follows the parsed head `request`: see [`body_of`].
fn framing_after(request: &httparse::Request<'_, '_>) -> Framing {
    if request.version != Some(1) || request.method == Some("CONNECT") {
        return Framing::PassThrough;
    }
    let mut length = 0u64;
    for h in request.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding")
            || h.name.eq_ignore_ascii_case("upgrade")
        {
            return Framing::PassThrough;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                Some(n) if length == 0 || length == n => length = n,
                _ => return Framing::PassThrough,
            }
        }
    }
    if length == 0 {
        Framing::Head(Vec::new())
    } else {
        Framing::Body(length)
    }
}

/// What the first bytes of a request say.
#[derive(Debug, PartialEq)]
enum Head {
    /// Not a stream request (or one the listener leaves to hyper).
    Other,
    /// Could still become a stream request: read more.
    Incomplete,
    /// A complete stream request head of `len` bytes.
    Stream { len: usize },
}

fn classify(read: &[u8], events_target: &[u8]) -> Head {
    let n = read.len().min(events_target.len());
    if read[..n] != events_target[..n] {
        return Head::Other;
    }
    if read.len() <= events_target.len() {
        return Head::Incomplete;
    }
    if !matches!(read[events_target.len()], b' ' | b'?') {
        return Head::Other;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(read) {
        Ok(httparse::Status::Partial) if read.len() < MAX_HEAD => Head::Incomplete,
        Ok(httparse::Status::Complete(len)) => {
            // A request with a body, or one asking to switch protocols or to be told to go on,
            // is not a plain stream request: hyper knows what to do with those.
            let no_body = matches!(framing_after(&request), Framing::Head(_));
            let expects = request
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("expect"));
            if no_body && !expects {
                Head::Stream { len }
            } else {
                Head::Other
            }
        }
        _ => Head::Other,
    }
}

/// Turns a complete, plain stream request head into a request for the router.
fn request(read: &[u8], addr: SocketAddr) -> Option<Request<Body>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    parsed.parse(read).ok()?;
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

/// Writes the router's answer to a stream request: the stream itself when the hub accepted it,
/// else the (error) response as it is.
async fn serve_response(mut socket: TcpStream, response: Response<Body>) -> io::Result<()> {
    let (mut parts, body) = response.into_parts();
    let stream = parts
        .extensions
        .remove::<LeanStream>()
        .and_then(LeanStream::take);
    let body = match stream {
        Some(_) => Bytes::new(),
        None => axum::body::to_bytes(body, MAX_ERROR_BODY)
            .await
            .unwrap_or_default(),
    };
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
    // The stream is the last response on this connection: it ends when the stream ends.
    head.extend_from_slice(b"connection: close\r\n");
    match stream {
        Some(mut stream) => {
            head.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
            socket.write_all(&head).await?;
            drop(head);
            stream_to(&mut socket, &mut stream).await
        }
        None => {
            head.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
            head.extend_from_slice(&body);
            socket.write_all(&head).await?;
            socket.shutdown().await
        }
    }
}

/// Largest batch of frames gathered into one write.
const MAX_BATCH: usize = 16 * 1024;

/// Writes the stream's frames as chunks until it ends (then the last chunk) or the peer leaves.
/// Frames that are ready together (a burst, a replay) leave in one write.
async fn stream_to(socket: &mut TcpStream, stream: &mut Connection) -> io::Result<()> {
    loop {
        let frame = tokio::select! {
            frame = stream.next_frame() => frame,
            gone = peer_gone(socket) => return gone,
        };
        let Some(frame) = frame else {
            socket.write_all(LAST_CHUNK).await?;
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
        socket.write_all(&batch).await?;
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
/// has no body, so whatever else the client sends is read and dropped.
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

    const TARGET: &[u8] = b"GET /api/query-tags/events";

    #[test]
    fn classifies_request_heads() {
        let c = |head: &str| classify(head.as_bytes(), TARGET);
        assert_eq!(c(""), Head::Incomplete);
        assert_eq!(c("GE"), Head::Incomplete);
        assert_eq!(c("GET /api/query-tags/even"), Head::Incomplete);
        assert_eq!(
            c("GET /api/query-tags/events HTTP/1.1\r\nHost: x\r\n"),
            Head::Incomplete
        );
        assert_eq!(
            c("GET /api/query-tags/events HTTP/1.1\r\n\r\n"),
            Head::Stream { len: 39 }
        );
        assert_eq!(
            c("GET /api/query-tags/events?scope=user:1&cursor=1-2 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1-2\r\n\r\n"),
            Head::Stream { len: 92 }
        );
        assert_eq!(
            c("POST /api/query-tags/events HTTP/1.1\r\n\r\n"),
            Head::Other
        );
        assert_eq!(c("GET / HTTP/1.1\r\n\r\n"), Head::Other);
        assert_eq!(
            c("GET /api/query-tags/eventsx HTTP/1.1\r\n\r\n"),
            Head::Other
        );
        assert_eq!(
            c("GET /api/query-tags/events/ HTTP/1.1\r\n\r\n"),
            Head::Other
        );
        assert_eq!(c("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Head::Other);
        assert_eq!(
            c("GET /api/query-tags/events HTTP/1.0\r\n\r\n"),
            Head::Other
        );
        assert_eq!(
            c("GET /api/query-tags/events HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
            Head::Other
        );
        assert_eq!(
            c("GET /api/query-tags/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Head::Other
        );
        assert_eq!(
            c("GET /api/query-tags/events HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"),
            Head::Other
        );
        assert_eq!(
            c("GET /api/query-tags/events HTTP/1.1\r\nbad header\r\n\r\n"),
            Head::Other
        );
        let huge = format!(
            "GET /api/query-tags/events HTTP/1.1\r\nx: {}\r\n",
            "a".repeat(MAX_HEAD)
        );
        assert_eq!(
            c(&huge),
            Head::Other,
            "an oversized head goes to hyper, which refuses it"
        );
    }

    #[test]
    fn follows_request_bodies() {
        assert!(matches!(body_of(b"GET / HTTP/1.1\r\n\r\n"), Framing::Head(h) if h.is_empty()));
        assert!(matches!(
            body_of(b"POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n"),
            Framing::Body(12)
        ));
        for unfollowed in [
            &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            b"CONNECT x:1 HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.0\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\n",
        ] {
            assert!(
                matches!(body_of(unfollowed), Framing::PassThrough),
                "{}",
                String::from_utf8_lossy(unfollowed)
            );
        }
    }

    #[test]
    fn chunks() {
        let mut out = Vec::new();
        push_chunk(&mut out, b": heartbeat\n\n");
        assert_eq!(out, b"d\r\n: heartbeat\n\n\r\n");
        push_chunk(&mut out, &[b'x'; 300]);
        assert_eq!(out[18..23], *b"12c\r\n");
    }
}
