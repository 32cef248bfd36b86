//! SSE fan-out load generator: opens N subscribers to a server, publishes events through its
//! publish endpoint, and measures how long each event takes to reach every subscriber.
//!
//! It runs the leptos_query_tags hub (`hub_server`) and the Node peer (`peer-node/server.mjs`,
//! express 5 + better-sse) one after the other, in the same run, and prints both side by side.
//!
//! ```sh
//! cargo build --release -p sse_bench
//! (cd crates/sse_bench/peer-node && npm ci)
//! target/release/sse_load --connections 1000,10000
//! ```
//!
//! Options: `--connections 1000,10000`, `--events 100` (paced, one every `--interval-ms 100`),
//! `--burst 200` (back to back), `--targets rust,node`, `--per-user` (every subscriber has its
//! own user scope and every event goes to one random user: per-scope fan-out; the hub targets
//! only). `BENCH_HUB_SERVER=<path>` runs another build of `hub_server` (say, an older one).
//! `--instances N --redis` (hub targets): a `redis-server` of its own and N hub servers on it,
//! subscribers spread evenly over them, events published through the first; `--redis` alone runs
//! one instance on Redis.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;

const SECRET: &str = "bench-secret-0123456789";
const EVENTS_PATH: &str = "/api/query-tags/events";
const PUBLISH_PATH: &str = "/api/query-tags/publish";

struct Options {
    connections: Vec<usize>,
    events: usize,
    interval: Duration,
    burst: usize,
    targets: Vec<String>,
    per_user: bool,
    instances: usize,
    redis: bool,
}

fn options() -> Options {
    let mut o = Options {
        connections: vec![1_000, 10_000],
        events: 100,
        interval: Duration::from_millis(100),
        burst: 200,
        targets: vec![
            "rust".into(),
            "rust-hyper".into(),
            "rust-axum".into(),
            "node".into(),
        ],
        per_user: false,
        instances: 1,
        redis: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--connections" => {
                o.connections = value
                    .split(',')
                    .map(|v| v.trim().parse().expect("--connections N[,N]"))
                    .collect()
            }
            "--events" => o.events = value.parse().expect("--events N"),
            "--interval-ms" => {
                o.interval = Duration::from_millis(value.parse().expect("--interval-ms N"))
            }
            "--burst" => o.burst = value.parse().expect("--burst N"),
            "--targets" => o.targets = value.split(',').map(str::to_owned).collect(),
            "--instances" => o.instances = value.parse().expect("--instances N"),
            "--redis" => {
                o.redis = true;
                i += 1;
                continue;
            }
            "--per-user" => {
                o.per_user = true;
                i += 1;
                continue;
            }
            other => panic!("unknown option {other}; see the file's doc comment"),
        }
        i += 2;
    }
    o
}

/// Counts per event: how many subscribers have it, and when the last one got it.
struct Stats {
    start: Instant,
    hellos: AtomicUsize,
    failures: AtomicUsize,
    received: Vec<AtomicU32>,
    last_ns: Vec<AtomicU64>,
}

impl Stats {
    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

/// Extracts every `["bench",<k>]` of complete frames in `buf` and records them.
fn record(frames: &[u8], stats: &Stats, saw_hello: &mut bool) {
    const MARK: &[u8] = b"[\"bench\",";
    // `event: hello` or `event:hello`: both are valid SSE (better-sse writes the latter).
    let hello = |w: &[u8]| w == b"event: hello" || w.starts_with(b"event:hello");
    if !*saw_hello && frames.windows(12).any(hello) {
        *saw_hello = true;
        stats.hellos.fetch_add(1, Ordering::SeqCst);
    }
    let now = stats.now_ns();
    let mut i = 0;
    while let Some(pos) = frames[i..].windows(MARK.len()).position(|w| w == MARK) {
        let start = i + pos + MARK.len();
        let end = start
            + frames[start..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
        if let Some(k) = std::str::from_utf8(&frames[start..end])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        {
            if k < stats.received.len() {
                stats.received[k].fetch_add(1, Ordering::SeqCst);
                stats.last_ns[k].fetch_max(now, Ordering::SeqCst);
            }
        }
        i = end;
    }
}

async fn subscriber(
    addr: SocketAddr,
    user: Option<usize>,
    stats: Arc<Stats>,
    permits: Arc<Semaphore>,
) {
    let permit = permits.acquire_owned().await.expect("semaphore");
    let mut socket = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(_) => {
            stats.failures.fetch_add(1, Ordering::SeqCst);
            return;
        }
    };
    let user = user.map_or(String::new(), |u| format!("x-user: u{u}\r\n"));
    let request = format!(
        "GET {EVENTS_PATH} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{user}\r\n"
    );
    if socket.write_all(request.as_bytes()).await.is_err() {
        stats.failures.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let mut saw_hello = false;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut permit = Some(permit);
    loop {
        let n = match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        // Frames end with a blank line; keep an incomplete tail for the next read.
        if let Some(end) = buf.windows(2).rposition(|w| w == b"\n\n") {
            record(&buf[..end + 2], &stats, &mut saw_hello);
            buf.drain(..end + 2);
        }
        if saw_hello {
            // Connected: let the next subscriber connect.
            permit.take();
        }
    }
}

/// Publishes over one keep-alive connection; returns when the server has answered.
struct Publisher {
    reader: BufReader<TcpStream>,
    addr: SocketAddr,
}

impl Publisher {
    async fn connect(addr: SocketAddr) -> Publisher {
        Publisher {
            reader: BufReader::new(TcpStream::connect(addr).await.expect("publisher connects")),
            addr,
        }
    }

    /// Publishes event `k`, to everyone or to one user's scope.
    async fn publish(&mut self, k: usize, user: Option<usize>) {
        let body = match user {
            Some(u) => format!(r#"{{"tags":[["bench",{k}]],"scope":"user:u{u}"}}"#),
            None => format!(r#"{{"tags":[["bench",{k}]]}}"#),
        };
        let request = format!(
            "POST {PUBLISH_PATH} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {SECRET}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        self.reader
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("publish request");
        let mut status = String::new();
        self.reader
            .read_line(&mut status)
            .await
            .expect("publish status");
        assert!(status.contains(" 200 "), "publish failed: {status}");
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.reader
                .read_line(&mut line)
                .await
                .expect("publish headers");
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().expect("content-length");
            }
        }
        let mut body = vec![0u8; length];
        self.reader
            .read_exact(&mut body)
            .await
            .expect("publish body");
    }
}

/// CPU time the process has used (user + system), from /proc/<pid>/stat.
fn cpu_time(pid: u32) -> Duration {
    let ticks_per_s = 100.0; // USER_HZ on Linux
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some(Duration::from_secs_f64((utime + stime) / ticks_per_s))
        })
        .unwrap_or_default()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

async fn spawn_server(target: &str, redis: Option<&str>) -> (Child, SocketAddr) {
    let mut command = match target {
        "rust" | "rust-hyper" | "rust-axum" => {
            let exe = std::env::current_exe().expect("current exe");
            let mut c = Command::new(
                std::env::var_os("BENCH_HUB_SERVER")
                    .map_or_else(|| exe.with_file_name("hub_server"), PathBuf::from),
            );
            match target {
                "rust-axum" => c.env("BENCH_SERVE", "axum"),
                "rust-hyper" => c.env("BENCH_SERVE", "hyper"),
                _ => &mut c,
            };
            c
        }
        "node" => {
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peer-node/server.mjs");
            let mut c = Command::new("node");
            c.arg(script);
            c
        }
        other => panic!("unknown target {other}"),
    };
    if let Some(url) = redis {
        command.env("BENCH_REDIS_URL", url);
    }
    let mut child = command
        .env("BENCH_ADDR", "127.0.0.1:0")
        .env("BENCH_SECRET", SECRET)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {target} server: {e}"));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("server announces its address")
        .unwrap()
        .unwrap_or_default();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("bad line {line:?}"));
    (child, addr)
}

struct Outcome {
    connected: usize,
    rss_per_conn: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    lost: usize,
    burst_rate: f64,
    cpu_per_event: Duration,
}

async fn wait_all(
    stats: &Stats,
    events: std::ops::Range<usize>,
    n: usize,
    limit: Duration,
) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let missing: usize = events
            .clone()
            .map(|k| n.saturating_sub(stats.received[k].load(Ordering::SeqCst) as usize))
            .sum();
        if missing == 0 || Instant::now() > deadline {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `redis-server` of the benchmark's own, on a free port, without persistence.
async fn start_redis() -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("sse-load-redis-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server");
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (child, format!("redis://127.0.0.1:{port}/"))
}

async fn scenario(target: &str, n: usize, o: &Options) -> Outcome {
    let mut redis = None;
    let url = if o.redis || o.instances > 1 {
        let (child, url) = start_redis().await;
        redis = Some(child);
        Some(url)
    } else {
        None
    };
    let mut servers = Vec::new();
    for _ in 0..o.instances.max(1) {
        servers.push(spawn_server(target, url.as_deref()).await);
    }
    let pids: Vec<u32> = servers.iter().map(|(c, _)| c.id().expect("pid")).collect();
    let addrs: Vec<SocketAddr> = servers.iter().map(|(_, a)| *a).collect();
    let addr = addrs[0];
    let rss_kib = |_: u32| pids.iter().map(|&p| rss_kib(p)).sum::<u64>();
    let cpu_time = |_: u32| pids.iter().map(|&p| cpu_time(p)).sum::<Duration>();
    let pid = pids[0];
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kib(pid);

    let total = o.events + o.burst;
    let stats = Arc::new(Stats {
        start: Instant::now(),
        hellos: AtomicUsize::new(0),
        failures: AtomicUsize::new(0),
        received: (0..total).map(|_| AtomicU32::new(0)).collect(),
        last_ns: (0..total).map(|_| AtomicU64::new(0)).collect(),
    });
    let permits = Arc::new(Semaphore::new(256));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let user = o.per_user.then_some(i);
            let addr = addrs[i % addrs.len()];
            tokio::spawn(subscriber(addr, user, stats.clone(), permits.clone()))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(180);
    while stats.hellos.load(Ordering::SeqCst) + stats.failures.load(Ordering::SeqCst) < n
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connected = stats.hellos.load(Ordering::SeqCst);
    // Per user: event `k` goes to one subscriber, spread over all of them.
    let user_of = |k: usize| o.per_user.then(|| (k * 7919) % n);
    let receivers = if o.per_user { 1 } else { connected };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(pid);
    let rss_per_conn =
        (rss_after.saturating_sub(rss_before) as f64 * 1024.0) / connected.max(1) as f64;

    // Paced: one event every interval; latency = publish start to the last subscriber's receipt.
    let mut publisher = Publisher::connect(addr).await;
    let mut published_ns = vec![0u64; total];
    let mut ticker = tokio::time::interval(o.interval);
    let cpu_before = cpu_time(pid);
    for (k, published) in published_ns.iter_mut().enumerate().take(o.events) {
        ticker.tick().await;
        *published = stats.now_ns();
        publisher.publish(k, user_of(k)).await;
    }
    let lost_paced = wait_all(&stats, 0..o.events, receivers, Duration::from_secs(60)).await;
    let cpu_per_event = cpu_time(pid).saturating_sub(cpu_before) / o.events.max(1) as u32;
    let mut latencies: Vec<Duration> = (0..o.events)
        .filter(|&k| stats.received[k].load(Ordering::SeqCst) as usize == receivers)
        .map(|k| {
            Duration::from_nanos(
                stats.last_ns[k]
                    .load(Ordering::SeqCst)
                    .saturating_sub(published_ns[k]),
            )
        })
        .collect();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };

    // Burst: back to back; delivered events per second until the last subscriber has the last.
    let burst_start = stats.now_ns();
    for k in o.events..total {
        publisher.publish(k, user_of(k)).await;
    }
    let lost_burst = wait_all(&stats, o.events..total, receivers, Duration::from_secs(120)).await;
    let burst_end = (o.events..total)
        .map(|k| stats.last_ns[k].load(Ordering::SeqCst))
        .max()
        .unwrap_or(burst_start);
    let delivered: u64 = (o.events..total)
        .map(|k| stats.received[k].load(Ordering::SeqCst) as u64)
        .sum();
    let burst_rate =
        delivered as f64 / ((burst_end.saturating_sub(burst_start)) as f64 / 1e9).max(1e-9);

    for task in tasks {
        task.abort();
    }
    for (mut child, _) in servers {
        let _ = child.kill().await;
    }
    if let Some(mut redis) = redis {
        let _ = redis.kill().await;
    }
    Outcome {
        connected,
        rss_per_conn,
        p50: pct(0.50),
        p99: pct(0.99),
        max: latencies.last().copied().unwrap_or_default(),
        lost: lost_paced + lost_burst,
        burst_rate,
        cpu_per_event,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let o = options();
    println!(
        "fd limit {limit}; {} paced events every {:?}, then a burst of {}",
        o.events, o.interval, o.burst
    );
    println!(
        "| server | subscribers | connected | RSS / idle connection | fan-out p50 | p99 | max | server CPU / paced event | burst delivered/s | lost |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &n in &o.connections {
        let mut results = Vec::new();
        for target in &o.targets {
            let r = scenario(target, n, &o).await;
            println!(
                "| {target} | {n} | {} | {:.0} B | {} | {} | {} | {} | {:.0} | {} |",
                r.connected,
                r.rss_per_conn,
                ms(r.p50),
                ms(r.p99),
                ms(r.max),
                ms(r.cpu_per_event),
                r.burst_rate,
                r.lost
            );
            results.push((target.clone(), r));
        }
        if let [(a, ra), others @ ..] = &results[..] {
            for (b, rb) in others {
                println!(
                    "| {b} / {a} | {n} | | {:.1}x | {:.1}x | {:.1}x | {:.1}x | {:.1}x | {:.2}x | |",
                    rb.rss_per_conn / ra.rss_per_conn.max(1.0),
                    rb.p50.as_secs_f64() / ra.p50.as_secs_f64().max(1e-9),
                    rb.p99.as_secs_f64() / ra.p99.as_secs_f64().max(1e-9),
                    rb.max.as_secs_f64() / ra.max.as_secs_f64().max(1e-9),
                    rb.cpu_per_event.as_secs_f64() / ra.cpu_per_event.as_secs_f64().max(1e-9),
                    rb.burst_rate / ra.burst_rate.max(1e-9),
                );
            }
        }
    }
}
