//! The built `idgate serve` driven past its capacity (issue 17): more requests than it can
//! serve and more connections than its bound. Prints, per route and offered load, what the
//! clients got: accepted requests (`200`/`201`) with their p50/p99/max latency, shed requests
//! (`503 OVERLOADED` on a kept connection), refused connections (`503 OVERLOADED` and closed,
//! over `max_connections`), requests that got no answer in time, and the server's peak memory.
//!
//! `cargo bench -p idgate --bench overload` (or `scripts/overload-bench.sh`). Each figure is
//! taken twice, on a fresh server each time:
//! - `limits`: the defaults of docs/connection-limits.md, except `max_connections`, set below
//!   the client's connection count so that bound is exercised too;
//! - `unbounded`: the limits switched off as far as configuration goes (`max_connections` and
//!   `max_concurrent_requests` at their maximum, a 60 s queue timeout): every connection is
//!   served and every request waits for its turn, as before issue 17.
//!
//! The load is open-loop: request `i` is due at `start + i / rate` whatever happened to the
//! earlier ones, and its latency counts from that moment, so time spent waiting for a client
//! connection counts too, as a user would see it. A due request takes an idle keep-alive
//! connection, else opens a new one while fewer than `BENCH_CONNECTIONS` are open, else waits
//! for one in the order it was due. A request not answered `BENCH_TIMEOUT_S` after it was due is
//! given up, as a client would ("no answer"). The rate is a multiple of the capacity measured
//! first on the same route (closed loop, 64 keep-alive connections, limits on). The "server p99"
//! column counts from when the request was written on an open connection: the server's part.
//!
//! Knobs (environment): `BENCH_SECONDS` (offered load per run, default 10), `BENCH_LOADS`
//! (multiples of capacity, default "1 2 4"), `BENCH_CONNECTIONS` (default 8192),
//! `BENCH_MAX_CONNECTIONS` (the server's bound in `limits`, default 512), `BENCH_TIMEOUT_S`
//! (default 30), `BENCH_ROUTES` ("get post", default both), `BENCH_MODES` ("limits unbounded"),
//! `BENCH_BIN` (another build of `idgate` to drive, e.g. one from before a change; default: the
//! one this benchmark was built with), `BENCH_CAPACITY_GET` / `BENCH_CAPACITY_POST` (the capacity
//! in requests per second instead of measuring it, so two builds get the same offered load).
//!
//! The client runs on one thread of the same machine as the server; the figures are those of
//! the machine and moment, not targets. Nothing here asserts a number.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "benchmark code: a failed unwrap or index is the benchmark failing"
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::Node;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const SESSION_BODY: &str =
    r#"{"share_fields":{"age_over_18":{"required":true,"reason":"Age check."}}}"#;

struct Settings {
    seconds: u64,
    loads: Vec<f64>,
    connections: usize,
    max_connections: usize,
    timeout: Duration,
    routes: Vec<String>,
    modes: Vec<String>,
}

impl Settings {
    fn from_env() -> Self {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let words = |name: &str, default: &str| -> Vec<String> {
            var(name, default)
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        Self {
            seconds: var("BENCH_SECONDS", "10").parse().expect("BENCH_SECONDS"),
            loads: words("BENCH_LOADS", "1 2 4")
                .iter()
                .map(|load| load.parse().expect("BENCH_LOADS"))
                .collect(),
            connections: var("BENCH_CONNECTIONS", "8192")
                .parse()
                .expect("BENCH_CONNECTIONS"),
            max_connections: var("BENCH_MAX_CONNECTIONS", "512")
                .parse()
                .expect("BENCH_MAX_CONNECTIONS"),
            timeout: Duration::from_secs(
                var("BENCH_TIMEOUT_S", "30")
                    .parse()
                    .expect("BENCH_TIMEOUT_S"),
            ),
            routes: words("BENCH_ROUTES", "get post"),
            modes: words("BENCH_MODES", "limits unbounded"),
        }
    }

    fn server_env(&self, mode: &str) -> Vec<(&'static str, String)> {
        match mode {
            "limits" => vec![
                ("IDGATE_MAX_CONNECTIONS", self.max_connections.to_string()),
                // The default (docs/connection-limits.md); the test fixture lifts it.
                ("IDGATE_REQUEST_QUEUE_TIMEOUT_MS", "100".to_owned()),
            ],
            "unbounded" => vec![
                ("IDGATE_MAX_CONNECTIONS", "1000000".to_owned()),
                ("IDGATE_MAX_CONCURRENT_REQUESTS", "100000".to_owned()),
                ("IDGATE_REQUEST_QUEUE_TIMEOUT_MS", "60000".to_owned()),
            ],
            other => panic!("unknown mode {other:?} (limits, unbounded)"),
        }
    }
}

/// What one request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// `2xx`: the server did the work.
    Accepted,
    /// `503 OVERLOADED` on a connection the server keeps: shed by the request limits.
    Shed,
    /// `503 OVERLOADED` with `connection: close`: the connection was over `max_connections`.
    Refused,
    /// Any other answer (a `408` or `503 HANDLER_TIMEOUT`, say).
    Other,
    /// No answer within the client's timeout, or the connection failed.
    Failed,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    outcome: Outcome,
    /// From the moment the request was due (open loop) to the end of its response.
    latency: Duration,
    /// From when it was written to the server to the end of its response: the server's part.
    served_in: Duration,
}

/// One request, rendered once.
#[derive(Clone)]
struct Route {
    name: &'static str,
    request: Arc<[u8]>,
}

impl Route {
    fn new(route: &str, key: &str, session_id: &str) -> Self {
        match route {
            "get" => Self {
                name: "GET /v1/sessions/{id}",
                request: format!(
                    "GET /v1/sessions/{session_id} HTTP/1.1\r\nhost: idgate\r\n\
                     authorization: Bearer {key}\r\n\r\n"
                )
                .into_bytes()
                .into(),
            },
            "post" => Self {
                name: "POST /v1/sessions",
                request: format!(
                    "POST /v1/sessions HTTP/1.1\r\nhost: idgate\r\nauthorization: Bearer {key}\r\n\
                     content-type: application/json\r\ncontent-length: {}\r\n\r\n{SESSION_BODY}",
                    SESSION_BODY.len()
                )
                .into_bytes()
                .into(),
            },
            other => panic!("unknown route {other:?} (get, post)"),
        }
    }
}

/// A parsed response: status, whether the server closes the connection, and the body.
struct Response {
    status: u16,
    close: bool,
    body: Vec<u8>,
}

/// Reads one response with a `content-length` body from `stream`.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Response> {
    buffer.clear();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let status = head.get(9..12)?.parse().ok()?;
    let header = |name: &str| {
        head.lines()
            .find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    let length: usize = header("content-length:")?.parse().ok()?;
    let close = header("connection:").is_some_and(|v| v == "close");
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some(Response {
        status,
        close,
        body: buffer[head_end..head_end + length].to_vec(),
    })
}

fn classify(response: &Response) -> Outcome {
    let overloaded =
        response.status == 503 && response.body.windows(12).any(|w| w == b"\"OVERLOADED\"");
    match response.status {
        200..=299 => Outcome::Accepted,
        503 if overloaded && response.close => Outcome::Refused,
        503 if overloaded => Outcome::Shed,
        _ => Outcome::Other,
    }
}

/// One request on `stream` (a new connection when `None`), given up at `give_up`: what came
/// back, and the connection if the server keeps it open.
async fn exchange(
    addr: SocketAddr,
    route: &Route,
    stream: Option<TcpStream>,
    due: Instant,
    give_up: Instant,
    buffer: &mut Vec<u8>,
) -> (Sample, Option<TcpStream>) {
    let mut sent = Instant::now();
    let attempt = async {
        let mut open = match stream {
            Some(open) => open,
            None => TcpStream::connect(addr).await.ok()?,
        };
        let _ = open.set_nodelay(true);
        sent = Instant::now();
        open.write_all(&route.request).await.ok()?;
        let response = read_response(&mut open, buffer).await?;
        Some((response, open))
    };
    match tokio::time::timeout_at(give_up, attempt).await {
        Ok(Some((response, open))) => (
            Sample {
                outcome: classify(&response),
                latency: due.elapsed(),
                served_in: sent.elapsed(),
            },
            (!response.close).then_some(open),
        ),
        _ => (
            Sample {
                outcome: Outcome::Failed,
                latency: due.elapsed(),
                served_in: sent.elapsed(),
            },
            None,
        ),
    }
}

/// Closed loop on `connections` keep-alive connections for `duration`: each sends its next
/// request as soon as it has the previous answer. Requests accepted per second.
async fn capacity(addr: SocketAddr, route: &Route, connections: usize, duration: Duration) -> f64 {
    let end = Instant::now() + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let route = route.clone();
        tasks.spawn(async move {
            let mut buffer = Vec::with_capacity(8192);
            let mut stream = None;
            let mut accepted = 0_usize;
            while Instant::now() < end {
                let now = Instant::now();
                let (sample, kept) = exchange(
                    addr,
                    &route,
                    stream,
                    now,
                    now + Duration::from_secs(30),
                    &mut buffer,
                )
                .await;
                accepted += usize::from(sample.outcome == Outcome::Accepted);
                stream = kept;
            }
            accepted
        });
    }
    let mut accepted = 0;
    while let Some(done) = tasks.join_next().await {
        accepted += done.expect("client connection task");
    }
    accepted as f64 / duration.as_secs_f64()
}

/// The client's connections: idle keep-alive ones, and how many are open in all.
#[derive(Default)]
struct Pool {
    idle: Vec<TcpStream>,
    open: usize,
    peak: usize,
}

/// Open-loop load: request `i` is due at `start + i / rate` for `duration`. A due request
/// takes an idle keep-alive connection, else opens a new one while fewer than `connections` are
/// open, else waits for one (in the order it was due); it is given up `timeout` after it was
/// due. All samples, and the most connections the client had open at once.
async fn drive(
    addr: SocketAddr,
    route: &Route,
    rate: f64,
    connections: usize,
    duration: Duration,
    timeout: Duration,
) -> (Vec<Sample>, usize) {
    let start = Instant::now();
    let end = start + duration;
    let due = |index: usize| start + Duration::from_secs_f64(index as f64 / rate);
    let pool = Arc::new(Mutex::new(Pool::default()));
    let returned = Arc::new(tokio::sync::Notify::new());
    let samples = Arc::new(Mutex::new(Vec::new()));
    let mut waiting = std::collections::VecDeque::new();
    let mut next = 0_usize;
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let now = Instant::now();
        while due(next) <= now && due(next) < end {
            waiting.push_back(due(next));
            next += 1;
        }
        while let Some(&first) = waiting.front() {
            if now < first + timeout {
                break;
            }
            waiting.pop_front();
            samples.lock().expect("samples").push(Sample {
                outcome: Outcome::Failed,
                latency: timeout,
                served_in: Duration::ZERO,
            });
        }
        while let Some(&first) = waiting.front() {
            let stream = {
                let mut pool = pool.lock().expect("pool");
                if let Some(idle) = pool.idle.pop() {
                    Some(idle)
                } else if pool.open < connections {
                    pool.open += 1;
                    pool.peak = pool.peak.max(pool.open);
                    None
                } else {
                    break;
                }
            };
            waiting.pop_front();
            let (route, pool, returned, samples) = (
                route.clone(),
                pool.clone(),
                returned.clone(),
                samples.clone(),
            );
            tasks.spawn(async move {
                let mut buffer = Vec::new();
                let (sample, kept) =
                    exchange(addr, &route, stream, first, first + timeout, &mut buffer).await;
                samples.lock().expect("samples").push(sample);
                let mut pool = pool.lock().expect("pool");
                match kept {
                    Some(stream) => pool.idle.push(stream),
                    None => pool.open -= 1,
                }
                drop(pool);
                returned.notify_one();
            });
        }
        while let Some(done) = tasks.try_join_next() {
            done.expect("client request task");
        }
        let arrivals_over = due(next) >= end;
        if arrivals_over && waiting.is_empty() {
            break;
        }
        let mut wake = waiting
            .front()
            .map_or(end + timeout, |&first| first + timeout);
        if !arrivals_over {
            wake = wake.min(due(next));
        }
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {}
            () = returned.notified() => {}
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("client request task");
    }
    let samples = std::mem::take(&mut *samples.lock().expect("samples"));
    let peak = pool.lock().expect("pool").peak;
    (samples, peak)
}

/// The server's resident memory in MiB, from `/proc`.
fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmRSS:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Samples the server's memory every 100 ms until `stop`; the peak.
fn watch_memory(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<f64> {
    std::thread::spawn(move || {
        let mut peak = 0.0_f64;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(rss_mib(pid));
            std::thread::sleep(Duration::from_millis(100));
        }
        peak
    })
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * fraction).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(duration: Duration) -> String {
    format!("{:.0}", duration.as_secs_f64() * 1000.0)
}

/// A server on a fresh SQLite data directory, its API key, and a session to read.
async fn start_server(env: &[(&str, String)]) -> (tempfile::TempDir, Node, String, String) {
    let dir = tempfile::tempdir().expect("data directory");
    // Owner-only, as the server wants its data directory (it warns otherwise).
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod 700");
    let node = match std::env::var_os("BENCH_BIN").filter(|binary| !binary.is_empty()) {
        Some(binary) => Node::start_binary(std::path::Path::new(&binary), dir.path(), None, env),
        None => Node::start(dir.path(), None, env),
    };
    let key = node.key.clone().expect("first start prints a key");
    let mut stream = TcpStream::connect(node.addr).await.expect("connect");
    let route = Route::new("post", &key, "");
    let mut buffer = Vec::new();
    let mut id = String::new();
    // Some rows, so reads and writes do not run against an empty database.
    for _ in 0..50 {
        stream.write_all(&route.request).await.expect("create");
        let response = read_response(&mut stream, &mut buffer)
            .await
            .expect("create answered");
        assert!(
            (200..300).contains(&response.status),
            "creating a session: {}",
            response.status
        );
        let body: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON");
        id = body["data"]["id"].as_str().expect("session id").to_owned();
    }
    (dir, node, key, id)
}

async fn shed_counter(addr: SocketAddr) -> u64 {
    let text = support::http_client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics");
    support::prometheus_counter(&text, "idgate_http_requests_shed_total")
}

async fn measure_capacity(settings: &Settings, route: &str) -> f64 {
    let (_dir, node, key, id) = start_server(&settings.server_env("limits")).await;
    let route = Route::new(route, &key, &id);
    capacity(node.addr, &route, 64, Duration::from_secs(3)).await
}

async fn run(settings: &Settings, mode: &str, route_name: &str, rate: f64, label: f64) {
    let (_dir, node, key, id) = start_server(&settings.server_env(mode)).await;
    let route = Route::new(route_name, &key, &id);
    let stop = Arc::new(AtomicBool::new(false));
    let rss_before = rss_mib(node.pid());
    let memory = watch_memory(node.pid(), stop.clone());
    let duration = Duration::from_secs(settings.seconds);
    let started = Instant::now();
    let (samples, peak_connections) = drive(
        node.addr,
        &route,
        rate,
        settings.connections,
        duration,
        settings.timeout,
    )
    .await;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let peak = memory.join().expect("memory watcher");
    let shed_by_server = shed_counter(node.addr).await;
    let count = |outcome| samples.iter().filter(|s| s.outcome == outcome).count();
    let mut accepted: Vec<Duration> = samples
        .iter()
        .filter(|s| s.outcome == Outcome::Accepted)
        .map(|s| s.latency)
        .collect();
    accepted.sort_unstable();
    let mut server_part: Vec<Duration> = samples
        .iter()
        .filter(|s| s.outcome == Outcome::Accepted)
        .map(|s| s.served_in)
        .collect();
    server_part.sort_unstable();
    println!(
        "{mode:<9} {label:>4}x {offered:>9.0} {served:>10.0} {p50:>7} {p99:>7} {max:>7} \
         {server_p99:>7} {shed:>7} {refused:>7} {failed:>9} {other:>5} {rss_before:>6.1} {peak:>6.1}   \
         (server counted {shed_by_server} shed; client peak {peak_connections} connections)",
        offered = samples.len() as f64 / duration.as_secs_f64(),
        served = accepted.len() as f64 / elapsed.as_secs_f64(),
        p50 = ms(percentile(&accepted, 0.50)),
        p99 = ms(percentile(&accepted, 0.99)),
        max = ms(accepted.last().copied().unwrap_or_default()),
        server_p99 = ms(percentile(&server_part, 0.99)),
        shed = count(Outcome::Shed),
        refused = count(Outcome::Refused),
        failed = count(Outcome::Failed),
        other = count(Outcome::Other),
    );
}

fn main() {
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "{} s of open-loop load per run, {} client connections, server bound {} connections \
             (limits), client timeout {} s; latency from when each request was due",
            settings.seconds,
            settings.connections,
            settings.max_connections,
            settings.timeout.as_secs()
        );
        for route_name in &settings.routes {
            let name = Route::new(route_name, "", "").name;
            let given = format!("BENCH_CAPACITY_{}", route_name.to_ascii_uppercase());
            let capacity = match std::env::var(&given).ok().and_then(|v| v.parse().ok()) {
                Some(capacity) => {
                    println!();
                    println!("{name}: capacity {capacity:.0}/s (given by {given})");
                    capacity
                }
                None => {
                    let capacity = measure_capacity(&settings, route_name).await;
                    println!();
                    println!(
                        "{name}: capacity {capacity:.0}/s (closed loop, 64 keep-alive connections, 3 s)"
                    );
                    capacity
                }
            };
            println!(
                "                                     ---- accepted, ms ----- server                                  RSS MiB"
            );
            println!(
                "mode      load  offered/s accepted/s     p50     p99     max     p99    shed refused no answer other  start  peak"
            );
            for &load in &settings.loads {
                for mode in &settings.modes {
                    run(&settings, mode, route_name, capacity * load, load).await;
                }
            }
        }
    });
}
