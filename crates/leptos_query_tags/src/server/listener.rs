//! [`HubListener`]: serves the event stream straight from the socket, hands every other
//! connection to axum.
//!
//! Under `axum::serve` every connection carries hyper's fixed read and write buffers (8 KiB
//! each), which is most of what an idle SSE stream costs. A stream needs none of them: after
//! its request head it only ever writes small frames. The listener reads the head of each new
//! connection; when it is `GET <base>/events` over HTTP/1.1 the request still goes through the
//! application's router (so its middleware, sessions and scope resolver see it as usual), but the
//! stream is then written to the socket by a small loop that holds no buffer between events.
//! Anything else (other paths, HTTP/2, HTTP/1.0, bodies, upgrades, heads that arrive slowly)
//! is handed to axum untouched, with the bytes already read put back in front.

use super::sse::{Connection, LeanStream, LeanStreamRequest, Ready};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, Response, Version};
use axum::Router;
use bytes::Bytes;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tower_service::Service;

/// Largest request head the listener reads itself; longer ones go to axum (which answers them).
const MAX_HEAD: usize = 16 * 1024;
/// How long a new connection may take to send its request head before it goes to axum as is.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Most request headers of a stream request.
const MAX_HEADERS: usize = 64;
/// Largest error body (a JSON error, or whatever a middleware answered) written for a stream
/// request that was refused.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A listener for `axum::serve` that serves the hub's event stream itself, with a few hundred
/// bytes of memory per open stream instead of the ~20 KiB of a connection served by hyper.
///
/// Made by [`Hub::listener`](super::Hub::listener); see there.
pub struct HubListener {
    listener: TcpListener,
    app: Router,
    events_target: Bytes,
    handed_tx: mpsc::UnboundedSender<(HubIo, SocketAddr)>,
    handed_rx: mpsc::UnboundedReceiver<(HubIo, SocketAddr)>,
}

impl std::fmt::Debug for HubListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubListener")
            .field("listener", &self.listener)
            .field(
                "events_target",
                &String::from_utf8_lossy(&self.events_target),
            )
            .finish_non_exhaustive()
    }
}

impl HubListener {
    pub(crate) fn new(listener: TcpListener, app: Router, events_path: &str) -> HubListener {
        let (handed_tx, handed_rx) = mpsc::unbounded_channel();
        HubListener {
            listener,
            app,
            events_target: Bytes::from(format!("GET {events_path}")),
            handed_tx,
            handed_rx,
        }
    }
}

impl axum::serve::Listener for HubListener {
    type Io = HubIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (HubIo, SocketAddr) {
        loop {
            tokio::select! {
                Some(handed) = self.handed_rx.recv() => return handed,
                accepted = self.listener.accept() => match accepted {
                    Ok((socket, addr)) => {
                        let connection = Classify {
                            app: self.app.clone(),
                            events_target: self.events_target.clone(),
                            handed: self.handed_tx.clone(),
                        };
                        tokio::spawn(connection.run(socket, addr));
                    }
                    Err(error) => accept_error(error).await,
                },
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

/// A connection handed to axum: the bytes the listener already read, then the socket.
#[derive(Debug)]
pub struct HubIo {
    read: Bytes,
    socket: TcpStream,
}

impl AsyncRead for HubIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.socket).poll_read(cx, buf)
    }
}

impl AsyncWrite for HubIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }
}

/// What the first bytes of a connection say.
#[derive(Debug, PartialEq)]
enum Head {
    /// Not a stream request (or one the listener leaves to hyper).
    Other,
    /// Could still become a stream request: read more.
    Incomplete,
    /// A complete stream request head of this many bytes.
    Stream,
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
        Ok(httparse::Status::Complete(_)) if request.version == Some(1) => {
            // A request with a body, or one asking to switch protocols, is not a plain stream
            // request: hyper knows what to do with those.
            let plain = request.headers.iter().all(|h| {
                let name = h.name;
                !(name.eq_ignore_ascii_case("transfer-encoding")
                    || name.eq_ignore_ascii_case("upgrade")
                    || name.eq_ignore_ascii_case("expect")
                    || (name.eq_ignore_ascii_case("content-length") && h.value != b"0"))
            });
            if plain {
                Head::Stream
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

struct Classify {
    app: Router,
    events_target: Bytes,
    handed: mpsc::UnboundedSender<(HubIo, SocketAddr)>,
}

impl Classify {
    async fn run(self, mut socket: TcpStream, addr: SocketAddr) {
        let mut read = Vec::with_capacity(1024);
        let head = tokio::time::timeout(HEAD_TIMEOUT, async {
            loop {
                match classify(&read, &self.events_target) {
                    Head::Incomplete => {}
                    decided => return Ok::<_, io::Error>(decided),
                }
                if read.capacity() == read.len() {
                    read.reserve(read.len());
                }
                if tokio::io::AsyncReadExt::read_buf(&mut socket, &mut read).await? == 0 {
                    return Ok(Head::Other);
                }
            }
        })
        .await
        .unwrap_or(Ok(Head::Other));
        let request = match head {
            Ok(Head::Stream) => request(&read, addr),
            Ok(_) => None,
            Err(_) => return,
        };
        let Some(request) = request else {
            // hyper reads the request again from the start, and answers it.
            let io = HubIo {
                read: Bytes::from(read),
                socket,
            };
            let _ = self.handed.send((io, addr));
            return;
        };
        drop(read);
        let mut app = self.app;
        let response = match Service::call(&mut app, request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        drop(app);
        let _ = serve_response(socket, response).await;
    }
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
            Head::Stream
        );
        assert_eq!(
            c("GET /api/query-tags/events?scope=user:1&cursor=1-2 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1-2\r\n\r\n"),
            Head::Stream
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
    fn chunks() {
        let mut out = Vec::new();
        push_chunk(&mut out, b": heartbeat\n\n");
        assert_eq!(out, b"d\r\n: heartbeat\n\n\r\n");
        push_chunk(&mut out, &[b'x'; 300]);
        assert_eq!(out[18..23], *b"12c\r\n");
    }
}
