//! Lean streams (`Hub::serve(..).lean_streams(true)`): stream requests are written to the socket
//! by the hub, after going through the router's middleware; every other request is hyper's. And
//! the security probes of issue 11: whatever hyper could read differently from the listener's
//! strict framing is left to hyper, so that the lean transport answers exactly what hyper alone
//! answers.

mod support;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
#[allow(unused_imports)]
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use leptos_query_tags::protocol::Scope;
use leptos_query_tags::server::Hub;
use leptos_query_tags::tags::Tag;
use std::net::SocketAddr;
use std::time::Duration;
use support::{Serving, SseClient, TestServer, EVENTS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What an auth layer leaves in the request for the scope resolver.
#[derive(Clone)]
struct Session {
    user: String,
}

/// A stand-in auth layer: reads the `session` cookie, and marks its responses.
async fn auth(mut request: Request, next: Next) -> Response {
    let user = request
        .headers()
        .get("cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.strip_prefix("session="))
        .map(str::to_owned);
    if let Some(user) = user {
        request.extensions_mut().insert(Session { user });
    }
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert("x-auth-layer", "seen".parse().unwrap());
    response
}

fn hub() -> Hub {
    Hub::builder()
        .scope_resolver(|parts: &http::request::Parts| {
            let user = parts.extensions.get::<Session>().map(|s| s.user.clone());
            let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().is_some();
            async move {
                let mut scopes = vec![Scope::global()];
                scopes.extend(user.and_then(|u| Scope::keyed("user", u).ok()));
                // Lets the test see that the listener passes the peer address on.
                if peer {
                    scopes.push(Scope::keyed("peer", "known").unwrap());
                }
                scopes
            }
        })
        .build()
}

fn app(hub: &Hub) -> Router {
    hub.mount(Router::new().route("/hello", get(|| async { "hi" })))
        .layer(middleware::from_fn(auth))
}

fn tag(name: &'static str) -> Tag {
    Tag::from_segments([name.into()])
}

/// Reads invalidations until the global `everyone` one; returns their data.
async fn until_everyone(stream: &mut SseClient) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let event = stream.expect("invalidate").await;
        let done = event.data.contains("everyone");
        got.push(event.data);
        if done {
            return got;
        }
    }
}

async fn streams_go_through_the_routers_middleware(serving: Serving) {
    let hub = hub();
    let server = TestServer::start(serving, &hub, app(&hub)).await;

    let mut alice =
        SseClient::connect_with(&server.url(EVENTS), &[("cookie", "session=alice")]).await;
    let mut bob = SseClient::connect_with(&server.url(EVENTS), &[("cookie", "session=bob")]).await;
    for stream in [&alice, &bob] {
        assert_eq!(stream.status, 200);
        assert_eq!(stream.headers["content-type"], "text/event-stream");
        assert_eq!(stream.headers["x-auth-layer"], "seen");
        assert!(stream.headers.contains_key("date"));
        // hyper keeps the connection open; the listener writes the stream itself, as the
        // connection's last response.
        if serving == Serving::Lean {
            assert_eq!(stream.headers["connection"], "close");
            assert_eq!(stream.headers["transfer-encoding"], "chunked");
        } else {
            assert!(!stream.headers.contains_key("connection"));
        }
    }
    alice.expect("hello").await;
    bob.expect("hello").await;

    // The resolver saw the layer's session: each user gets their own events only.
    hub.invalidate_tags_in(Scope::keyed("user", "alice").unwrap(), [tag("for-alice")])
        .unwrap();
    hub.invalidate_tags_in(Scope::keyed("user", "bob").unwrap(), [tag("for-bob")])
        .unwrap();
    hub.invalidate_tags_in(Scope::keyed("peer", "known").unwrap(), [tag("peer")])
        .unwrap();
    hub.invalidate_tags([tag("everyone")]).unwrap();
    let alice_got = until_everyone(&mut alice).await;
    let bob_got = until_everyone(&mut bob).await;
    assert!(alice_got[0].contains("for-alice") && bob_got[0].contains("for-bob"));
    assert!(alice_got.iter().all(|e| !e.contains("for-bob")));
    assert!(bob_got.iter().all(|e| !e.contains("for-alice")));
    // Under `Hub::serve` the request carries the peer address (`ConnectInfo`) like axum's
    // `into_make_service_with_connect_info` would; plain `axum::serve` does not set it.
    let peer_seen = alice_got.iter().any(|e| e.contains("\"peer\""));
    assert_eq!(peer_seen, serving != Serving::Axum);
    assert_eq!(alice_got.len(), if peer_seen { 3 } else { 2 });

    // A refused stream request gets the router's answer, middleware header included.
    let refused = SseClient::connect_with(
        &format!("{}?scope=user:bob", server.url(EVENTS)),
        &[("cookie", "session=alice")],
    )
    .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.headers["x-auth-layer"], "seen");
    let body: serde_json::Value = serde_json::from_str(&refused.body_text().await).unwrap();
    assert_eq!(body["error"], "forbidden_scope");

    // Closing a stream gives its place back at once.
    drop(bob);
    tokio::time::timeout(Duration::from_secs(5), async {
        while hub.connections() != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the closed stream is noticed");
}

/// Reads from `socket` into `seen` until it contains `needle` (within 5 s).
async fn read_until(socket: &mut TcpStream, seen: &mut String, needle: &str) {
    let mut buf = vec![0u8; 4096];
    tokio::time::timeout(Duration::from_secs(5), async {
        while !seen.contains(needle) {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} in {seen}"));
}

/// Sends `request` raw and reads the whole answer (until the server closes, or 500 ms of
/// silence).
async fn raw(server: &TestServer, request: &[u8]) -> String {
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    read_all(&mut socket).await
}

async fn read_all(socket: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_millis(500), socket.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the listener (not hyper) wrote the stream response in `answer`.
fn lean_stream(answer: &str) -> bool {
    answer.contains("text/event-stream") && answer.contains("connection: close\r\n")
}

// Two worker threads: the takeover hands the socket from hyper's task to the stream's task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_else_is_served_by_hyper_on_the_same_listener() {
    let hub = hub();
    let server = TestServer::start(Serving::Lean, &hub, app(&hub)).await;
    let client = reqwest::Client::new();

    // Other routes, other methods on the stream path, unknown paths: hyper answers.
    let hello = client.get(server.url("/hello")).send().await.unwrap();
    assert_eq!(hello.status(), 200);
    assert_eq!(hello.text().await.unwrap(), "hi");
    let post = client.post(server.url(EVENTS)).send().await.unwrap();
    assert_eq!(post.status(), 405);
    let unknown = client
        .get(server.url("/api/query-tags/eventsx"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // The same keep-alive connection, now asking for the stream (what browsers do): the
    // listener takes it over from hyper.
    let response = client.get(server.url(EVENTS)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["connection"],
        "close",
        "written by the listener"
    );
    drop(response);

    // On one raw keep-alive connection: a POST whose body looks exactly like a stream request
    // is a body (hyper answers the POST), a GET with a body is hyper's, and only then a real
    // stream request at a request boundary is taken over.
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    let decoy = "GET /api/query-tags/events HTTP/1.1\r\nHost: x\r\n\r\n";
    let requests = [
        format!(
            "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{decoy}",
            decoy.len()
        ),
        "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
        decoy.to_owned(),
    ];
    let mut seen = String::new();
    for (request, expect) in requests
        .iter()
        .zip(["HTTP/1.1 405", "\r\n\r\nhi", "event: hello"])
    {
        socket.write_all(request.as_bytes()).await.unwrap();
        read_until(&mut socket, &mut seen, expect).await;
    }
    assert_eq!(seen.matches("HTTP/1.1 ").count(), 3, "{seen}");
    let stream_head = &seen[seen.rfind("HTTP/1.1 ").unwrap()..];
    assert!(stream_head.starts_with("HTTP/1.1 200 OK\r\n"), "{seen}");
    assert!(
        lean_stream(stream_head),
        "the stream is the listener's: {seen}"
    );
    hub.invalidate_tags([tag("after-takeover")]).unwrap();
    let published = hub.cursor();
    read_until(&mut socket, &mut seen, "after-takeover").await; // the taken-over stream is live
    assert!(seen.contains(&format!("id: {published}")));

    // HTTP/1.0 and a request with a body are left to hyper.
    let answer = raw(&server, b"GET /api/query-tags/events HTTP/1.0\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert!(answer.contains("event: hello"));
    let answer = raw(
        &server,
        b"GET /api/query-tags/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!lean_stream(&answer), "served by hyper: {answer}");

    // A head longer than the listener follows goes to hyper, which serves it (and refuses
    // really large ones).
    let long = format!(
        "GET /api/query-tags/events HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let answer = raw(&server, long.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!lean_stream(&answer), "served by hyper: {answer}");
    let huge = format!(
        "GET /api/query-tags/events HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let answer = raw(&server, huge.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // A head arriving in pieces, slowly, is still a stream the listener writes.
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    for piece in [
        &b"GET /api/query-"[..],
        b"tags/events?scope=global HTT",
        b"P/1.1\r\nHost: x\r\n",
        b"\r\n",
    ] {
        socket.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let mut seen = String::new();
    read_until(&mut socket, &mut seen, "event: hello").await;
    assert!(seen.starts_with("HTTP/1.1 200 OK\r\n"), "{seen}");
    assert!(lean_stream(&seen), "{seen}");

    // A connection that closes without a word costs nothing and breaks nothing.
    drop(TcpStream::connect(server.addr).await.unwrap());
    let hello = client.get(server.url("/hello")).send().await.unwrap();
    assert_eq!(hello.text().await.unwrap(), "hi");
}

// ---- The security probes -------------------------------------------------------------------

/// A stream request, as a browser's `EventSource` sends it.
const STREAM: &str =
    "GET /api/query-tags/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n";

/// The status codes of every response in `answer`, in order.
fn statuses(answer: &str) -> Vec<u16> {
    answer
        .match_indices("HTTP/1.")
        .filter_map(|(at, _)| answer.get(at + 9..at + 12)?.parse().ok())
        .collect()
}

/// A server for the probes: `/hello` (GET), `/big` (GET, 256 KiB), `/slow` (GET, 64 KiB after
/// 10 ms, like a server-rendered page), `/echo` (POST, reads its body like a server function
/// and answers 500 unless it is `ok`), and the hub.
async fn probe_server(serving: Serving, hub: &Hub) -> TestServer {
    let app = hub.mount(
        Router::new()
            .route("/hello", get(|| async { "hi" }))
            .route("/big", get(|| async { "b".repeat(256 * 1024) }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    "s".repeat(64 * 1024)
                }),
            )
            .route(
                "/echo",
                axum::routing::post(|body: String| async move {
                    if body == "ok" {
                        (http::StatusCode::OK, "ok")
                    } else {
                        (
                            http::StatusCode::INTERNAL_SERVER_ERROR,
                            "cannot read the body",
                        )
                    }
                }),
            ),
    );
    TestServer::start(serving, hub, app).await
}

/// A stream opened before a probe, to check that the probe broke nothing for anyone else.
async fn bystander(server: &TestServer) -> SseClient {
    let mut stream = SseClient::connect(&server.url(EVENTS), None).await;
    stream.expect("hello").await;
    stream
}

async fn still_live(hub: &Hub, bystander: &mut SseClient, name: &'static str) {
    hub.invalidate_tags([tag(name)]).unwrap();
    let event = bystander.expect("invalidate").await;
    assert!(event.data.contains(name), "{event:?}");
}

/// Sends `bytes` on one connection as a keep-alive client would, one write per request head
/// (or at each `\x01` when there is one), 100 ms apart (the previous listener misframed only
/// when hyper had read each part), to a server run by hyper alone (`Hub::serve`) and to one with
/// lean streams; both must answer the same responses, and no stream may be served that hyper
/// would not serve.
async fn same_answers_as_hyper(name: &'static str, bytes: &[u8]) -> Result<(), String> {
    let mut answers = Vec::new();
    for serving in [Serving::Hub, Serving::Lean] {
        let hub = hub();
        let server = probe_server(serving, &hub).await;
        let mut bystander = bystander(&server).await;
        let mut socket = TcpStream::connect(server.addr).await.unwrap();
        socket.set_nodelay(true).unwrap();
        for write in writes(bytes) {
            if socket.write_all(write).await.is_err() {
                break; // hyper closed: it will answer nothing more
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let answer = read_all(&mut socket).await;
        still_live(&hub, &mut bystander, "after-probe").await;
        answers.push((statuses(&answer), answer.contains("event: hello"), answer));
    }
    let (hyper, lean) = (&answers[0], &answers[1]);
    if (&hyper.0, hyper.1) != (&lean.0, lean.1) || lean_stream(&lean.2) {
        return Err(format!(
            "{name}: hyper alone answered {:?} (a stream: {}), with lean streams {:?} (a stream: {}, \
             written by the listener: {})",
            hyper.0,
            hyper.1,
            lean.0,
            lean.1,
            lean_stream(&lean.2)
        ));
    }
    Ok(())
}

/// `bytes` cut at each `\x01`, or else after each blank line, bare (`\n\n`) or not.
fn writes(bytes: &[u8]) -> Vec<&[u8]> {
    if bytes.contains(&1) {
        return bytes.split(|&b| b == 1).collect();
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let cut = (0..rest.len())
            .find_map(|at| {
                let tail = &rest[at..];
                (tail.starts_with(b"\n\n") || tail.starts_with(b"\n\r\n"))
                    .then(|| at + if tail[1] == b'\n' { 2 } else { 3 })
            })
            .unwrap_or(rest.len());
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_framing_is_left_to_hyper() {
    let stream_len = STREAM.len();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // Issue 11, case 1: a bare-LF head, then a POST whose body is a stream request.
        (
            "bare LF, then a body that looks like a stream request",
            format!(
                "GET /hello HTTP/1.1\nHost: x\n\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {stream_len}\r\n\r\n{STREAM}"
            )
            .into_bytes(),
        ),
        (
            "CRLF + LF head end",
            format!("GET /hello HTTP/1.1\r\nHost: x\r\n\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {stream_len}\r\n\r\n{STREAM}")
                .into_bytes(),
        ),
        // Case 2: a bare-LF POST with a 4-byte body, then a stream request.
        (
            "bare-LF POST with a body, then a stream request",
            format!("POST /echo HTTP/1.1\nHost: x\nContent-Length: 4\n\nXXXX{STREAM}").into_bytes(),
        ),
        (
            "bare-LF POST, its body alone, then a stream request",
            format!("POST /echo HTTP/1.1\nHost: x\nContent-Length: 4\n\n\x01XXXX\x01{STREAM}").into_bytes(),
        ),
        (
            "bare-LF POST to a route that does not read bodies, then a stream request",
            format!("POST /hello HTTP/1.1\nHost: x\nContent-Length: 4\n\n\x01XXXX\x01{STREAM}").into_bytes(),
        ),
        (
            "bare-LF POST, its body, a request, then a stream request",
            format!("POST /echo HTTP/1.1\nHost: x\nContent-Length: 4\n\n\x01XXXX\x01GET /hello HTTP/1.1\r\nHost: x\r\n\r\n\x01{STREAM}").into_bytes(),
        ),
        (
            "Content-Length and Transfer-Encoding",
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{STREAM}").into_bytes(),
        ),
        (
            "two Content-Lengths",
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: {stream_len}\r\n\r\n{STREAM}").into_bytes(),
        ),
        (
            "Transfer-Encoding: chunked, identity",
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{STREAM}").into_bytes(),
        ),
        (
            "chunked body holding a stream request",
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{stream_len:x}\r\n{STREAM}\r\n0\r\n\r\n{STREAM}").into_bytes(),
        ),
        (
            "obs-fold",
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n Content-Length: {stream_len}\r\n\r\n{STREAM}").into_bytes(),
        ),
        (
            "64 KiB+ head",
            format!("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n{STREAM}", "a".repeat(65 * 1024)).into_bytes(),
        ),
        (
            "HTTP/1.0",
            format!("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n{STREAM}").into_bytes(),
        ),
        (
            "Expect: 100-continue",
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {stream_len}\r\n\r\n{STREAM}").into_bytes(),
        ),
        (
            "Upgrade: h2c",
            format!("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n{STREAM}").into_bytes(),
        ),
        (
            "Connection: close, then a stream request",
            format!("GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n{STREAM}").into_bytes(),
        ),
        (
            "Upgrade on the stream request itself",
            b"GET /api/query-tags/events HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n".to_vec(),
        ),
        (
            "empty line before the request line",
            format!("\r\n{STREAM}").into_bytes(),
        ),
        (
            "absolute-form target",
            b"GET http://x/api/query-tags/events HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
    ];
    // Each case has its own servers: run them side by side.
    let differences: Vec<String> = futures::future::join_all(
        cases
            .iter()
            .map(|(name, bytes)| same_answers_as_hyper(name, bytes)),
    )
    .await
    .into_iter()
    .filter_map(Result::err)
    .collect();
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Case 1 and 2 of the issue as they were found: on one keep-alive connection, request by
/// request, the smuggled stream request is never answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_lf_requests_cannot_smuggle_a_stream() {
    let hub = hub();
    let server = probe_server(Serving::Lean, &hub).await;
    let mut bystander = bystander(&server).await;
    for first in [
        "GET /hello HTTP/1.1\nHost: x\n\n",
        "GET /hello HTTP/1.1\r\nHost: x\r\n\n",
    ] {
        let mut socket = TcpStream::connect(server.addr).await.unwrap();
        socket.write_all(first.as_bytes()).await.unwrap();
        let mut seen = String::new();
        read_until(&mut socket, &mut seen, "\r\n\r\nhi").await;
        let post = format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            STREAM.len()
        );
        socket.write_all(post.as_bytes()).await.unwrap();
        // The body on its own, once hyper waits for it: where the previous listener, a head
        // behind, saw a request boundary.
        tokio::time::sleep(Duration::from_millis(100)).await;
        socket.write_all(STREAM.as_bytes()).await.unwrap();
        seen.push_str(&read_all(&mut socket).await);
        assert_eq!(statuses(&seen), vec![200, 500], "{seen}");
        assert!(!seen.contains("event-stream"), "{seen}");
    }
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    socket
        .write_all(b"POST /echo HTTP/1.1\nHost: x\nContent-Length: 2\n\nok")
        .await
        .unwrap();
    let mut seen = String::new();
    read_until(&mut socket, &mut seen, "\r\n\r\nok").await;
    socket
        .write_all(b"POST /echo HTTP/1.1\nHost: x\nContent-Length: 4\n\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    socket.write_all(b"XXXX").await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let _ = socket.write_all(STREAM.as_bytes()).await;
    seen.push_str(&read_all(&mut socket).await);
    // hyper reads the bare-LF head, its 4-byte body, then a real stream request, and serves
    // it itself: the listener left this connection to hyper at the bare LF.
    assert_eq!(statuses(&seen), vec![200, 500, 200], "{seen}");
    assert!(!lean_stream(&seen), "{seen}");
    still_live(&hub, &mut bystander, "after-smuggling").await;
}

/// Case 3: a request and, 0-3 ms later, a stream request on the same connection. The first
/// response always arrives whole, then the stream; whoever serves it.
async fn pipelined_stream_requests_never_cut_a_response(serving: Serving) {
    let hub = hub();
    let server = probe_server(serving, &hub).await;
    let mut bystander = bystander(&server).await;
    for attempt in 0..40u64 {
        let (path, len, fill) = if attempt % 2 == 0 {
            ("/slow", 64 * 1024, b's')
        } else {
            ("/big", 256 * 1024, b'b')
        };
        let mut socket = TcpStream::connect(server.addr).await.unwrap();
        socket
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        if attempt % 4 > 0 {
            tokio::time::sleep(Duration::from_millis(attempt % 4 - 1)).await;
        }
        socket.write_all(STREAM.as_bytes()).await.unwrap();
        let mut seen = String::new();
        read_until(&mut socket, &mut seen, "event: hello").await;
        let body_at = seen.find("\r\n\r\n").expect("a head") + 4;
        assert!(seen.starts_with("HTTP/1.1 200 OK\r\n"), "{attempt}");
        assert!(seen[..body_at].contains(&format!("content-length: {len}\r\n")));
        let rest = &seen[body_at..];
        assert!(
            rest.len() > len && rest[..len].bytes().all(|b| b == fill),
            "attempt {attempt}: the first response is whole"
        );
        assert!(
            rest[len..].starts_with("HTTP/1.1 200 OK\r\n"),
            "attempt {attempt}: the stream follows right after it: {:?}",
            &rest[len..rest.len().min(len + 200)]
        );
    }
    still_live(&hub, &mut bystander, "after-pipelining").await;
}

/// Case 3, second half: after a request with `Connection: close` nothing is answered, however
/// the next request is timed.
async fn nothing_is_answered_after_connection_close(serving: Serving) {
    let hub = hub();
    let server = probe_server(serving, &hub).await;
    let mut bystander = bystander(&server).await;
    for delay_ms in [0u64, 0, 1, 2, 3] {
        let mut socket = TcpStream::connect(server.addr).await.unwrap();
        socket
            .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let _ = socket.write_all(STREAM.as_bytes()).await;
        let answer = read_all(&mut socket).await;
        assert_eq!(statuses(&answer), vec![200], "{delay_ms} ms");
        assert!(!answer.contains("event-stream"));
    }
    still_live(&hub, &mut bystander, "after-close").await;
}

/// Case 5: `HEAD` on the stream path is 405, as documented; so are other methods.
async fn head_on_the_stream_path_is_405(serving: Serving) {
    let hub = hub();
    let server = probe_server(serving, &hub).await;
    let answer = raw(
        &server,
        b"HEAD /api/query-tags/events HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("allow: get\r\n"),
        "{answer}"
    );
    let answer = raw(
        &server,
        b"DELETE /api/query-tags/events HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
}

/// Case 5: a cursor that is not UTF-8 once percent-decoded gets the hub's JSON error; raw
/// non-ASCII bytes in the target never reach the hub (hyper refuses the request line).
async fn non_utf8_query_bytes_get_a_clear_400(serving: Serving) {
    let hub = hub();
    let server = probe_server(serving, &hub).await;
    let answer = raw(
        &server,
        b"GET /api/query-tags/events?cursor=%FF%FE HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"error\":\"bad_cursor\""), "{answer}");
    let answer = raw(
        &server,
        b"GET /api/query-tags/events?cursor=\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

/// Case 5: whatever a layer answers on the stream path reaches the client whole, however
/// large; and a layer that re-encodes the stream's body is honoured.
async fn layers_answers_reach_the_client_whole(serving: Serving) {
    let hub = hub();
    let big = "e".repeat(100 * 1024);
    let app = {
        let big = big.clone();
        hub.mount(Router::new())
            .layer(middleware::from_fn(move |request: Request, next: Next| {
                let big = big.clone();
                async move {
                    match request
                        .headers()
                        .get("x-probe")
                        .map(|v| v.as_bytes().to_vec())
                    {
                        Some(v) if v == b"refuse" => Response::builder()
                            .status(401)
                            .body(axum::body::Body::from(big))
                            .unwrap(),
                        Some(v) if v == b"encode" => {
                            // A stand-in for a compression layer: says so, and wraps the body.
                            let response = next.run(request).await;
                            let (mut parts, body) = response.into_parts();
                            parts
                                .headers
                                .insert("content-encoding", "x-tagged".parse().unwrap());
                            let tagged =
                                futures::StreamExt::map(body.into_data_stream(), |chunk| {
                                    chunk.map(|bytes| {
                                        let mut out = b"[".to_vec();
                                        out.extend_from_slice(&bytes);
                                        out.push(b']');
                                        bytes::Bytes::from(out)
                                    })
                                });
                            Response::from_parts(parts, axum::body::Body::from_stream(tagged))
                        }
                        _ => next.run(request).await,
                    }
                }
            }))
    };
    let server = TestServer::start(serving, &hub, app).await;
    let refused = reqwest::Client::new()
        .get(server.url(EVENTS))
        .header("x-probe", "refuse")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let text = refused.text().await.unwrap();
    assert!(text == big, "the whole body, not {} bytes", text.len());

    let mut encoded = reqwest::Client::new()
        .get(server.url(EVENTS))
        .header("x-probe", "encode")
        .send()
        .await
        .unwrap();
    assert_eq!(encoded.headers()["content-encoding"], "x-tagged");
    let first = tokio::time::timeout(Duration::from_secs(5), encoded.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.starts_with(b"[retry: "), "{first:?}");
}

on_every_server!(
    streams_go_through_the_routers_middleware,
    pipelined_stream_requests_never_cut_a_response,
    nothing_is_answered_after_connection_close,
    head_on_the_stream_path_is_405,
    non_utf8_query_bytes_get_a_clear_400,
    layers_answers_reach_the_client_whole,
);
