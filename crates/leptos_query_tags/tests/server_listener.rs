//! [`Hub::listener`]: stream requests are written to the socket by the hub, after going through
//! the router's middleware; every other connection is served by axum as usual.

mod support;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
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
        // hyper always writes a `date` header and keeps the connection open; the listener
        // writes the stream itself, as the connection's last response.
        match serving {
            Serving::Axum => assert!(stream.headers.contains_key("date")),
            Serving::HubListener => {
                assert!(!stream.headers.contains_key("date"));
                assert_eq!(stream.headers["connection"], "close");
                assert_eq!(stream.headers["transfer-encoding"], "chunked");
            }
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
    // Under the listener, the request carries the peer address (`ConnectInfo`) like axum's
    // `into_make_service_with_connect_info` would.
    let peer_seen = alice_got.iter().any(|e| e.contains("\"peer\""));
    assert_eq!(peer_seen, serving == Serving::HubListener);
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

/// Sends `request` raw and reads the whole answer (the server closes or the time runs out).
async fn raw(server: &TestServer, request: &[u8]) -> String {
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_millis(500), socket.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

// Two worker threads: the takeover hands the socket from hyper's task to the stream's task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_else_is_served_by_axum_on_the_same_listener() {
    let hub = hub();
    let server = TestServer::start(Serving::HubListener, &hub, app(&hub)).await;
    let client = reqwest::Client::new();

    // Other routes, other methods on the stream path, unknown paths: axum answers.
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
    assert!(
        !response.headers().contains_key("date"),
        "written by the listener"
    );
    assert_eq!(response.headers()["connection"], "close");
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
        !stream_head.contains("date: "),
        "the stream is the listener's: {seen}"
    );
    let published = hub.invalidate_tags([tag("after-takeover")]).unwrap();
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
    assert!(answer.contains("date: "), "{answer}");

    // A head longer than the listener follows goes to hyper, which serves it (and refuses
    // really large ones).
    let long = format!(
        "GET /api/query-tags/events HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let answer = raw(&server, long.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("date: "), "served by hyper: {answer}");
    let huge = format!(
        "GET /api/query-tags/events HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let answer = raw(&server, huge.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // Garbage after a matching request line: hyper answers 400.
    let answer = raw(
        &server,
        b"GET /api/query-tags/events HTTP/1.1\r\nno colon\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

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
    let mut head = vec![0u8; 4096];
    let n = socket.read(&mut head).await.unwrap();
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("connection: close\r\n") && !head.contains("date: "),
        "{head}"
    );

    // A connection that closes without a word costs nothing and breaks nothing.
    drop(TcpStream::connect(server.addr).await.unwrap());
    let hello = client.get(server.url("/hello")).send().await.unwrap();
    assert_eq!(hello.text().await.unwrap(), "hi");
}

on_both_servers!(streams_go_through_the_routers_middleware);
