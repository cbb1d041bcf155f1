//! Webhook delivery throughput (issue 4): deliveries per second from the built `idgate serve`
//! to a local receiver that answers `200` at once, each delivery JWE-encrypted and signed — on
//! one node with SQLite, and on two nodes sharing PostgreSQL. The ceiling is what a bare HTTP
//! client achieves against the same receiver at the same concurrency with a body of the same
//! size, measured in the same run.
//!
//! `cargo bench -p idgate --bench webhook_delivery`. Knobs (environment):
//! - `BENCH_DELIVERIES`: deliveries per scenario (default 5,000);
//! - `BENCH_CONCURRENCY`: the node's `webhook_concurrency` and the bare client's concurrency
//!   (default 64, the server's default);
//! - `BENCH_PER_ENDPOINT`: the node's `webhook_per_endpoint_concurrency` (default: the
//!   concurrency, since the one receiver is the only endpoint; the server's default is 8);
//! - `BENCH_DATABASE_URL` or `IDGATE_TEST_DATABASE_URL`: PostgreSQL server for the two-node
//!   scenario (a fresh database is created); skipped without one.
//!
//! Deliveries are seeded through the public API while the endpoint has no key (they wait as
//! `blocked_no_key`); uploading the key releases all of them at once and starts the clock.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::{Api, Node, Sink};

struct Settings {
    deliveries: usize,
    concurrency: usize,
    per_endpoint: usize,
}

impl Settings {
    fn from_env() -> Self {
        let number = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let concurrency = number("BENCH_CONCURRENCY", 64);
        Self {
            deliveries: number("BENCH_DELIVERIES", 5_000),
            concurrency,
            per_endpoint: number("BENCH_PER_ENDPOINT", concurrency),
        }
    }

    fn node_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("IDGATE_WEBHOOK_CONCURRENCY", self.concurrency.to_string()),
            (
                "IDGATE_WEBHOOK_PER_ENDPOINT_CONCURRENCY",
                self.per_endpoint.to_string(),
            ),
            ("IDGATE_WEBHOOK_POLL_INTERVAL_MS", "50".to_owned()),
        ]
    }
}

/// One measured scenario.
struct Row {
    name: String,
    deliveries: usize,
    /// Key upload to the last delivery received.
    elapsed: Duration,
    /// Key upload to every outcome recorded (nothing pending).
    recorded: Option<Duration>,
    note: String,
}

impl Row {
    fn rate(&self) -> f64 {
        self.deliveries as f64 / self.elapsed.as_secs_f64()
    }
}

/// Seeds `n` waiting deliveries through `api`, releases them and times their arrival.
async fn release_and_time(
    api: &Api,
    sink: &Sink,
    endpoint: &str,
    n: usize,
) -> (Duration, Duration) {
    let public_pem = support::receiver_key().public_pem.clone();
    let before = sink.count();
    let started = Instant::now();
    api.add_key(endpoint, &public_pem).await;
    let mut last_report = Instant::now();
    while sink.count() < before + n {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "only {} of {n} deliveries arrived within 10 minutes",
            sink.count() - before
        );
        if last_report.elapsed() >= Duration::from_secs(2) {
            eprintln!("  … {} of {n} delivered", sink.count() - before);
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let delivered = started.elapsed();
    api.wait_until_none_pending(Duration::from_secs(120)).await;
    (delivered, started.elapsed())
}

async fn seed(api: &Api, sink: &Sink, n: usize) -> String {
    let (endpoint, _secret) = api.create_endpoint(&sink.url).await;
    let started = Instant::now();
    api.cancelled_sessions(n, 32, move |done| {
        eprintln!(
            "  seeded {done}/{n} events ({:.0}/s)",
            done as f64 / started.elapsed().as_secs_f64()
        );
    })
    .await;
    endpoint
}

async fn one_node_sqlite(settings: &Settings, sink: &Sink) -> Row {
    eprintln!(
        "one node, SQLite: seeding {} deliveries",
        settings.deliveries
    );
    let dir = tempfile::tempdir().expect("temporary data directory");
    let node = Node::start(dir.path(), None, &settings.node_env());
    let api = Api::new(
        node.addr,
        node.key.as_deref().expect("first start prints a key"),
    );
    let endpoint = seed(&api, sink, settings.deliveries).await;
    let (delivered, recorded) = release_and_time(&api, sink, &endpoint, settings.deliveries).await;
    Row {
        name: "one node, SQLite".into(),
        deliveries: settings.deliveries,
        elapsed: delivered,
        recorded: Some(recorded),
        note: String::new(),
    }
}

async fn two_nodes_postgres(settings: &Settings, sink: &Sink, base: &str) -> Row {
    eprintln!(
        "two nodes, PostgreSQL: seeding {} deliveries",
        settings.deliveries
    );
    let database = support::FreshDatabase::create(base, "idgate_whbench");
    let url = database.url().to_owned();
    let dir = tempfile::tempdir().expect("temporary data directory");
    let env = settings.node_env();
    let first = Node::start(dir.path(), Some(&url), &env);
    let second = Node::start(dir.path(), Some(&url), &env);
    let api = Api::new(
        first.addr,
        first.key.as_deref().expect("first start prints a key"),
    );
    let endpoint = seed(&api, sink, settings.deliveries).await;
    let (delivered, recorded) = release_and_time(&api, sink, &endpoint, settings.deliveries).await;
    let shares = [
        first.succeeded_deliveries().await,
        second.succeeded_deliveries().await,
    ];
    Row {
        name: "two nodes, PostgreSQL".into(),
        deliveries: settings.deliveries,
        elapsed: delivered,
        recorded: Some(recorded),
        note: format!("per node {shares:?}"),
    }
}

/// The ceiling: `n` POSTs of `body_len` bytes from a bare reqwest client, `concurrency` at once.
async fn bare_client(settings: &Settings, sink: &Sink, body_len: usize) -> Row {
    let client = support::http_client();
    let body = bytes_of(body_len);
    let next = Arc::new(AtomicUsize::new(0));
    let n = settings.deliveries;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..settings.concurrency {
        let (client, next, body, url) =
            (client.clone(), next.clone(), body.clone(), sink.url.clone());
        tasks.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let response = client
                    .post(&url)
                    .header("content-type", "application/jose")
                    .header("webhook-id", "bare")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("bare POST");
                assert!(response.status().is_success());
                let _ = response.bytes().await;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("bare client task");
    }
    Row {
        name: "bare HTTP client (ceiling)".into(),
        deliveries: n,
        elapsed: started.elapsed(),
        recorded: None,
        note: format!("{body_len}-byte bodies"),
    }
}

fn bytes_of(len: usize) -> axum::body::Bytes {
    axum::body::Bytes::from(vec![b'x'; len])
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; this harness takes no arguments of its own.
    let settings = Settings::from_env();
    let postgres = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(support::postgres_url);
    let sink = Sink::start().await;
    sink.forget_requests();
    let mut rows = vec![one_node_sqlite(&settings, &sink).await];
    let body_len = sink.body_len();
    match &postgres {
        Some(base) => rows.push(two_nodes_postgres(&settings, &sink, base).await),
        None => eprintln!(
            "two nodes, PostgreSQL: skipped (set BENCH_DATABASE_URL or IDGATE_TEST_DATABASE_URL)"
        ),
    }
    eprintln!("bare client: {} POSTs", settings.deliveries);
    let ceiling = bare_client(&settings, &sink, body_len).await;

    println!();
    println!(
        "webhook delivery, {} deliveries per scenario, concurrency {} (per endpoint {}), receiver answers 200 at once",
        settings.deliveries, settings.concurrency, settings.per_endpoint
    );
    println!(
        "{:<28} {:>10} {:>9} {:>10} {:>10} {:>7} {:>11}  note",
        "scenario", "deliveries", "seconds", "per second", "ceiling/s", "ratio", "recorded s"
    );
    for row in rows.iter().chain(std::iter::once(&ceiling)) {
        println!(
            "{:<28} {:>10} {:>9.2} {:>10.0} {:>10.0} {:>7.2} {:>11}  {}",
            row.name,
            row.deliveries,
            row.elapsed.as_secs_f64(),
            row.rate(),
            ceiling.rate(),
            row.rate() / ceiling.rate(),
            row.recorded
                .map_or_else(|| "-".to_owned(), |d| format!("{:.2}", d.as_secs_f64())),
            row.note
        );
    }
}
