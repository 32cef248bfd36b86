//! The floor under any SSE fan-out on this machine: how long the kernel alone takes to carry
//! one small write to each of N loopback TCP connections, with the reader in another process
//! on the same cores (as `sse_load` and the servers are).
//!
//! No HTTP, no async runtime, no server: the writer process holds N accepted sockets and, each
//! round, writes 120 bytes (the size of an `invalidate` frame) to every one of them from
//! `--writers` threads (default 2: one per core) with plain blocking writes; the reader process
//! (the same program, started by it) reads them as `sse_load` does (a tokio task per
//! connection) and reports when every connection has the round's bytes. A round's latency is
//! from the first write to the reader's report: what a server with no overhead at all (no
//! HTTP, no runtime, no queues) would reach in `sse_load`.
//!
//! ```sh
//! cargo build --release -p sse_bench
//! target/release/loopback_floor --connections 1000,10000
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const FRAME: usize = 120;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The reader process: connects `n` sockets and reads them the way `sse_load` does (one tokio
/// task per connection on a two-thread runtime); prints `done` when every connection has a
/// round's frame.
fn reader(addr: SocketAddr, n: usize, rounds: usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncReadExt;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let received: Arc<Vec<AtomicUsize>> =
            Arc::new((0..rounds).map(|_| AtomicUsize::new(0)).collect());
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..n {
            let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let received = received.clone();
            let done_tx = done_tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; FRAME];
                for round in 0..rounds {
                    socket.read_exact(&mut buf).await.expect("read a frame");
                    if received[round].fetch_add(1, Ordering::SeqCst) + 1 == n {
                        let _ = done_tx.send(());
                    }
                }
            });
        }
        let stdout = std::io::stdout();
        writeln!(stdout.lock(), "connected").unwrap();
        for _ in 0..rounds {
            done_rx.recv().await;
            writeln!(stdout.lock(), "done").unwrap();
        }
    });
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn run(n: usize, writers: usize, rounds: usize) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--reader",
            &addr.to_string(),
            "--n",
            &n.to_string(),
            "--rounds",
            &rounds.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the reader");
    let mut sockets: Vec<TcpStream> = (0..n)
        .map(|_| {
            let (socket, _) = listener.accept().expect("accept");
            socket.set_nodelay(true).unwrap();
            socket
        })
        .collect();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "connected");

    // Interleave the connections across the writer threads, so that the reader (which reads in
    // connection order) is never waiting on one thread while the other is done.
    let mut shares: Vec<Vec<TcpStream>> = (0..writers).map(|_| Vec::new()).collect();
    for (i, socket) in sockets.drain(..).enumerate() {
        shares[i % writers].push(socket);
    }
    let start = Arc::new(Barrier::new(writers + 1));
    let threads: Vec<_> = shares
        .into_iter()
        .map(|mut share| {
            let start = start.clone();
            std::thread::spawn(move || {
                let frame = [b'x'; FRAME];
                for _ in 0..rounds {
                    start.wait();
                    for socket in share.iter_mut() {
                        socket.write_all(&frame).expect("write a frame");
                    }
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        start.wait();
        assert_eq!(lines.next().unwrap().unwrap(), "done");
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
    }
    for t in threads {
        t.join().unwrap();
    }
    let _ = child.wait();
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "| {n} | {writers} | {rounds} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} µs |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
        percentile(&latencies, 0.5) * 1e3 / n as f64,
    );
}

fn main() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let rounds: usize = arg("--rounds").map_or(100, |v| v.parse().expect("--rounds N"));
    if let Some(addr) = arg("--reader") {
        let n = arg("--n").unwrap().parse().unwrap();
        return reader(addr.parse().unwrap(), n, rounds);
    }
    let connections: Vec<usize> = arg("--connections")
        .unwrap_or_else(|| "1000,10000".into())
        .split(',')
        .map(|v| v.trim().parse().expect("--connections N[,N]"))
        .collect();
    let writers: usize = arg("--writers").map_or(2, |v| v.parse().expect("--writers N"));
    println!("| connections | writer threads | rounds | p50 | p99 | max | p50 per connection |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for n in connections {
        run(n, writers, rounds);
    }
}
