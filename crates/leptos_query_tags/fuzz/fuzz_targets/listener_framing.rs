//! Differential fuzzing of the lean listener's request framing against hyper itself.
//!
//! Each input is a byte stream built from request fragments (request lines, headers with CRLF,
//! LF, CR or mixed line ends, obs-folds, Content-Length and Transfer-Encoding in every
//! combination, bodies, chunked bodies, raw bytes) cut into writes at arbitrary points. It is
//! fed, write by write, to:
//! - the listener's `Tracker` (`src/server/serve/framing.rs`, included as it is), driven the
//!   way `lean.rs` drives it: hold at a request boundary, decide, release and follow; with
//!   hyper always idle, so that it takes a stream over whenever the framing allows;
//! - a real hyper HTTP/1.1 server connection, whose service records every request it sees
//!   (method, target, body length, whether the body arrived whole).
//!
//! The property: every request head the listener followed is a request hyper saw, at the same
//! position, with the same method, target and body length; a stream request the listener took
//! over is one hyper saw as a complete GET of the events path with no body. Anything else must
//! have made the listener hand the connection to hyper.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use libfuzzer_sys::fuzz_target;
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

#[allow(dead_code)]
#[path = "../../src/server/serve/framing.rs"]
mod framing;

use framing::{Decision, Tracker};

const EVENTS: &[u8] = b"/api/query-tags/events";

#[derive(Debug, Arbitrary)]
enum End {
    CrLf,
    Lf,
    Cr,
    CrCrLf,
}

impl End {
    fn bytes(&self) -> &'static [u8] {
        match self {
            End::CrLf => b"\r\n",
            End::Lf => b"\n",
            End::Cr => b"\r",
            End::CrCrLf => b"\r\r\n",
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Piece {
    RequestLine { method: u8, target: u8, version: u8, end: End },
    Header { name: u8, value: u8, end: End },
    Fold { end: End },
    Blank(End),
    Body(u8),
    Chunk(u8),
    Raw(Vec<u8>),
    /// A write boundary.
    Split,
    /// A whole plain stream request.
    Stream,
}

const METHODS: &[&str] = &["GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS", "G ET", "get", "PRI", ""];
const TARGETS: &[&str] = &[
    "/api/query-tags/events",
    "/api/query-tags/events?scope=global&cursor=1-2",
    "/api/query-tags/eventsx",
    "/api/query-tags/events/",
    "/hello",
    "*",
    "http://x/api/query-tags/events",
    "/a b",
    "/%FF",
    "",
];
const VERSIONS: &[&str] = &["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 ", "http/1.1", "HTTP/1.10", ""];
const NAMES: &[&str] = &[
    "Host", "Content-Length", "content-length", "Transfer-Encoding", "Connection", "Upgrade",
    "Expect", "Content-Length ", " Content-Length", "Content Length", "X-A", "Last-Event-ID", "",
];
const VALUES: &[&str] = &[
    "x", "0", "4", "5", "10", "+4", "4,4", "4, 5", "04", " 4 ", "chunked", "chunked, identity",
    "identity", "gzip, chunked", "close", "keep-alive", "Upgrade", "h2c", "100-continue",
    "99999999999999999999", "", "\u{0}", "a\tb",
];

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[i as usize % list.len()]
}

/// Renders the pieces into writes.
fn render(pieces: &[Piece]) -> Vec<Vec<u8>> {
    let mut writes = vec![Vec::new()];
    for piece in pieces {
        let out = writes.last_mut().unwrap();
        match piece {
            Piece::RequestLine { method, target, version, end } => {
                out.extend_from_slice(
                    format!("{} {} {}", pick(METHODS, *method), pick(TARGETS, *target), pick(VERSIONS, *version))
                        .as_bytes(),
                );
                out.extend_from_slice(end.bytes());
            }
            Piece::Header { name, value, end } => {
                out.extend_from_slice(format!("{}: {}", pick(NAMES, *name), pick(VALUES, *value)).as_bytes());
                out.extend_from_slice(end.bytes());
            }
            Piece::Fold { end } => {
                out.extend_from_slice(b" folded");
                out.extend_from_slice(end.bytes());
            }
            Piece::Blank(end) => out.extend_from_slice(end.bytes()),
            Piece::Body(n) => out.extend(std::iter::repeat(b'b').take(*n as usize % 16)),
            Piece::Chunk(n) => {
                let n = *n as usize % 8;
                out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                out.extend(std::iter::repeat(b'c').take(n));
                out.extend_from_slice(b"\r\n");
            }
            Piece::Raw(bytes) => out.extend_from_slice(&bytes[..bytes.len().min(64)]),
            Piece::Split => writes.push(Vec::new()),
            Piece::Stream => out.extend_from_slice(
                b"GET /api/query-tags/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
            ),
        }
    }
    writes.retain(|w| !w.is_empty());
    writes
}

/// A request as one side saw it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: Vec<u8>,
    target: Vec<u8>,
    body: u64,
}

/// The listener's view: the heads it followed, and the stream request it took, if any.
fn listener(writes: &[Vec<u8>]) -> (Vec<Seen>, Option<Seen>) {
    let mut tracker = Tracker::new();
    let mut held = Vec::new();
    let mut heads = Vec::new();
    let record = |tracker: &mut Tracker, bytes: &[u8], heads: &mut Vec<Seen>| {
        tracker.follow(bytes, |head| {
            heads.push(Seen { method: head.method.to_vec(), target: head.target.to_vec(), body: head.body })
        });
    };
    for write in writes {
        if !tracker.following() {
            break;
        }
        if !tracker.at_boundary() {
            record(&mut tracker, write, &mut heads);
            continue;
        }
        held.extend_from_slice(write);
        // As `lean.rs` does: decide on what is held; released bytes go to hyper and are
        // followed, which may end mid-head (then reads go straight to hyper again).
        while tracker.at_boundary() && !held.is_empty() {
            match tracker.decide(&held, EVENTS, true) {
                Decision::NeedMore => break,
                Decision::Take => {
                    let framing::Parse::Complete(head) = framing::parse_head(&held) else {
                        panic!("took a head parse_head does not accept");
                    };
                    let taken = Seen { method: head.method.to_vec(), target: head.target.to_vec(), body: head.body };
                    return (heads, Some(taken));
                }
                Decision::Release => {
                    let released = std::mem::take(&mut held);
                    record(&mut tracker, &released, &mut heads);
                }
            }
        }
    }
    (heads, None)
}

/// Feeds the writes to a hyper server connection; the writes come one per read.
struct Feed {
    writes: VecDeque<Vec<u8>>,
}

impl tokio::io::AsyncRead for Feed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(write) = self.writes.front_mut() {
            let n = write.len().min(buf.remaining());
            buf.put_slice(&write[..n]);
            write.drain(..n);
            if write.is_empty() {
                self.writes.pop_front();
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Feed {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// hyper's view: every request its service was called with, and whether its body came whole.
fn hyper_sees(writes: &[Vec<u8>]) -> Vec<(Seen, bool)> {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().build().unwrap();
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let io = hyper_util_io(Feed { writes: writes.iter().cloned().collect() });
    let log = seen.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let log = log.clone();
        async move {
            let method = request.method().as_str().as_bytes().to_vec();
            let target = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str().as_bytes().to_vec())
                .unwrap_or_default();
            // Recorded at once: the body may never come (the input ends).
            let at = {
                let mut log = log.lock().unwrap();
                log.push((Seen { method, target, body: 0 }, false));
                log.len() - 1
            };
            if let Ok(collected) = request.into_body().collect().await {
                let mut log = log.lock().unwrap();
                log[at].0.body = collected.to_bytes().len() as u64;
                log[at].1 = true;
            }
            Ok::<_, std::convert::Infallible>(hyper::Response::new(Empty::<Bytes>::new()))
        }
    });
    RUNTIME.with(|runtime| {
        runtime.block_on(async {
            // Half-close: the end of the input is not an abort; hyper answers what it read.
            let _ = hyper::server::conn::http1::Builder::new()
                .half_close(true)
                .serve_connection(io, service)
                .await;
        })
    });
    let seen = seen.lock().unwrap().clone();
    seen
}

fn hyper_util_io(feed: Feed) -> hyper_util::rt::TokioIo<Feed> {
    hyper_util::rt::TokioIo::new(feed)
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(pieces) = Vec::<Piece>::arbitrary(&mut u) else { return };
    let writes = render(&pieces);
    if writes.is_empty() {
        return;
    }
    let (heads, taken) = listener(&writes);
    let hyper = hyper_sees(&writes);
    for (i, head) in heads.iter().enumerate() {
        let Some((seen, whole)) = hyper.get(i) else {
            panic!("the listener followed request {i} {head:?}, hyper never saw it; hyper saw {hyper:?}\ninput {writes:?}");
        };
        assert_eq!(
            (&seen.method, &seen.target),
            (&head.method, &head.target),
            "request {i}: listener and hyper disagree\ninput {writes:?}"
        );
        if *whole {
            assert_eq!(seen.body, head.body, "request {i}: body length\ninput {writes:?}");
        }
    }
    if let Some(taken) = taken {
        let i = heads.len();
        let Some((seen, whole)) = hyper.get(i) else {
            panic!("the listener took a stream request hyper never saw: {taken:?}; hyper saw {hyper:?}\ninput {writes:?}");
        };
        assert!(seen.body == 0 && seen.method == b"GET", "{seen:?} (whole: {whole})\ninput {writes:?}");
        assert_eq!(seen.target, taken.target, "input {writes:?}");
    }
});
