//! What the session status streams cost (issue 14, docs/verify.md "Status stream"): memory per
//! open stream, and the latency from a status change's commit to its event at the client.
//!
//! `cargo bench -p idgate --bench event_streams`. The server runs in-process
//! (`idgate_server::testing`); the clients are `idgate_testkit::sse` readers on one `reqwest`
//! client in the same process, each stream on its own HTTP/1.1 connection, as browsers hold them.
//!
//! - **sqlite**: one node, `BENCH_STREAMS` streams (default 1000) over `BENCH_SESSIONS` sessions
//!   (default 200, so 5 streams each, under the default bound of 8).
//! - **postgres** (when `IDGATE_TEST_DATABASE_URL` is set): the streams on node A, the changes
//!   written through node B's store, so each event travels through `NOTIFY` and node A's `LISTEN`
//!   connection.
//!
//! `BENCH_BACKENDS` (default "sqlite postgres") picks the runs, in order; a name may repeat. The
//! first run of a process also pays for the allocator's first growth, so its memory figure is the
//! higher one: run a backend twice ("sqlite sqlite") for the figure of a warm process.
//!
//! Memory: the growth of this process's resident set (`VmRSS` of `/proc/self/status`) from before
//! the first stream opened to after every stream delivered its first event, divided by the
//! streams. It therefore counts both ends of each stream in user space — the server's connection
//! task, hyper's buffers, the stream's state and hub entry, and the client's connection and
//! reader — but not the kernel's socket buffers; with the system allocator (the `idgate` binary
//! uses mimalloc). An upper bound on the server's share.
//!
//! Latency: `BENCH_CHANGES` changes (default 200), one at a time, each to the next session in
//! turn: a store write of the phone's progress (`set_progress`, alternating values, so each is a
//! new status). Measured from the write returning (the commit done) to each of that session's
//! streams receiving the event; an event that arrives before the write has returned to the
//! caller counts as 0. The write's own duration is reported beside it.
//!
//! Nothing here asserts a number; the figures are the machine's and the moment's.

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

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use idgate_core::{AttemptId, ClientProgress, SessionId};
use idgate_server::AppState;
use idgate_server::testing::{Backend, TestApp, TestAppBuilder};
use idgate_testkit::sse::{SseItem, SseReader};
use tokio::sync::mpsc;

/// How long one change may take to reach its streams before it counts as lost.
const CHANGE_DEADLINE: Duration = Duration::from_secs(10);

/// Streams opened at once: below the server's request slots, so none is shed.
const OPEN_BATCH: usize = 50;

struct Settings {
    streams: usize,
    sessions: usize,
    changes: usize,
    backends: Vec<Backend>,
}

impl Settings {
    fn from_env() -> Self {
        let number = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let postgres = std::env::var("IDGATE_TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty());
        let names =
            std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite postgres".to_owned());
        let mut backends = Vec::new();
        for name in names.split_whitespace() {
            match name {
                "sqlite" => backends.push(Backend::Sqlite),
                "postgres" if postgres => backends.push(Backend::Postgres),
                "postgres" => eprintln!(
                    "event_streams: IDGATE_TEST_DATABASE_URL is not set; PostgreSQL skipped"
                ),
                other => panic!("BENCH_BACKENDS: unknown backend {other:?}"),
            }
        }
        Self {
            streams: number("BENCH_STREAMS", 1000),
            sessions: number("BENCH_SESSIONS", 200).max(1),
            changes: number("BENCH_CHANGES", 200),
            backends,
        }
    }
}

/// One session of the run: its id and the attempt whose progress the changes write.
struct Target {
    id: SessionId,
    attempt: AttemptId,
}

struct Figures {
    label: &'static str,
    streams: usize,
    rss_delta_kib: f64,
    latencies: Vec<Duration>,
    writes: Vec<Duration>,
    lost: usize,
}

fn rss_kib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
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
        .unwrap_or(f64::NAN)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Sessions with a bound attempt (in progress), so the phone's progress can change.
async fn targets(app: &TestApp, n: usize) -> Vec<Target> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let response = app
            .request(reqwest::Method::POST, "/v1/sessions")
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let body: serde_json::Value = response.json().await.unwrap();
        let id = SessionId::parse(body["data"]["id"].as_str().unwrap()).unwrap();
        let (_, attempt) = app
            .state
            .store
            .start_attempt(&id, app.state.clock.now())
            .await
            .unwrap();
        out.push(Target {
            id,
            attempt: attempt.id,
        });
    }
    out
}

/// Opens `streams` streams round-robin over `targets` and waits for each one's first event;
/// each stream then reports its `status` events as (session index, arrival) on `arrivals`.
async fn open_streams(
    app: &TestApp,
    targets: &[Target],
    streams: usize,
    arrivals: &mpsc::UnboundedSender<(usize, Instant)>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let opened = Arc::new(AtomicUsize::new(0));
    let progress = {
        let opened = opened.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(2));
            ticker.tick().await;
            loop {
                ticker.tick().await;
                eprintln!("  … opened {} of {streams}", opened.load(Ordering::Relaxed));
            }
        })
    };
    let mut readers = Vec::with_capacity(streams);
    for batch in (0..streams).collect::<Vec<_>>().chunks(OPEN_BATCH) {
        let mut set = tokio::task::JoinSet::new();
        for &n in batch {
            let index = n % targets.len();
            let url = app.url(&format!("/v1/verify/session/{}/events", targets[index].id));
            let client = app.client.clone();
            set.spawn(async move {
                let response = client.get(url).send().await.unwrap();
                assert_eq!(response.status(), reqwest::StatusCode::OK);
                let mut reader = SseReader::new(response);
                // The current status, before the clock of any change starts.
                loop {
                    match reader.next().await.expect("the first event") {
                        SseItem::Event(e) if e.event.as_deref() == Some("status") => break,
                        _ => {}
                    }
                }
                (index, reader)
            });
        }
        while let Some(done) = set.join_next().await {
            let (index, mut reader) = done.unwrap();
            opened.fetch_add(1, Ordering::Relaxed);
            let arrivals = arrivals.clone();
            readers.push(tokio::spawn(async move {
                while let Some(item) = reader.next().await {
                    if let SseItem::Event(e) = item
                        && e.event.as_deref() == Some("status")
                        && arrivals.send((index, Instant::now())).is_err()
                    {
                        return;
                    }
                }
            }));
        }
    }
    progress.abort();
    readers
}

/// One change after the other, each to the next session, written through `writer`'s store.
async fn changes(
    writer: &AppState,
    targets: &[Target],
    per_session: usize,
    changes: usize,
    arrivals: &mut mpsc::UnboundedReceiver<(usize, Instant)>,
) -> (Vec<Duration>, Vec<Duration>, usize) {
    let (mut latencies, mut writes, mut lost) = (Vec::new(), Vec::new(), 0);
    let values = [ClientProgress::NfcReading, ClientProgress::SelfieCapturing];
    for change in 0..changes {
        if change > 0 && change % 50 == 0 {
            eprintln!("  … change {change} of {changes}");
        }
        let index = change % targets.len();
        let target = &targets[index];
        // Each session's first change differs from its starting progress (none).
        let progress = values[(change / targets.len()) % values.len()];
        let started = Instant::now();
        writer
            .store
            .set_progress(&target.attempt, progress, writer.clock.now())
            .await
            .unwrap();
        let committed = Instant::now();
        writes.push(committed - started);
        let mut seen = 0;
        let deadline = tokio::time::Instant::now() + CHANGE_DEADLINE;
        while seen < per_session {
            match tokio::time::timeout_at(deadline, arrivals.recv()).await {
                Ok(Some((at, arrived))) if at == index => {
                    seen += 1;
                    latencies.push(arrived.saturating_duration_since(committed));
                }
                // A heartbeat re-read never sends an unchanged status; anything else is stray.
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        lost += per_session - seen;
    }
    (latencies, writes, lost)
}

async fn run(settings: &Settings, backend: Backend) -> Figures {
    let label = match backend {
        Backend::Sqlite => "sqlite, one node",
        Backend::Postgres => "postgres, streams on node A, changes on node B",
    };
    eprintln!("event_streams: {label}");
    let app = TestAppBuilder::default().spawn(backend).await;
    let other = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(app.second_node().await),
    };
    let sessions = settings.sessions.min(settings.streams.max(1));
    let targets = targets(&app, sessions).await;
    let per_session = settings.streams / sessions;
    let streams = per_session * sessions;
    let (send, mut arrivals) = mpsc::unbounded_channel();

    let before = rss_kib();
    let readers = open_streams(&app, &targets, streams, &send).await;
    // Let the allocator and the connections settle before reading the resident set.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib();
    eprintln!(
        "  {streams} streams open ({} in the hub)",
        app.state.status_hub.open_streams()
    );

    let writer = other.as_ref().map_or(&app.state, |node| &node.state);
    let (mut latencies, mut writes, lost) = changes(
        writer,
        &targets,
        per_session,
        settings.changes,
        &mut arrivals,
    )
    .await;
    latencies.sort_unstable();
    writes.sort_unstable();

    for reader in readers {
        reader.abort();
    }
    if let Some(node) = other {
        node.shutdown().await;
    }
    app.shutdown().await;
    Figures {
        label,
        streams,
        rss_delta_kib: after - before,
        latencies,
        writes,
        lost,
    }
}

fn main() {
    let settings = Settings::from_env();
    // Both ends of every stream hold a descriptor in this process.
    if let Err(error) = idgate_server::limits::raise_descriptor_limit() {
        eprintln!("event_streams: cannot raise the descriptor limit: {error}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut all = Vec::new();
    for &backend in &settings.backends {
        all.push(runtime.block_on(run(&settings, backend)));
    }
    println!();
    println!(
        "Status streams: {} changes, one at a time; latency from the write's return to the event at the client",
        settings.changes
    );
    println!();
    println!(
        "| run | streams | RSS growth | per stream | events | lost | latency p50 | latency p99 | max | write p50 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for f in &all {
        println!(
            "| {} | {} | {:.1} MiB | {:.1} KiB | {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            f.label,
            f.streams,
            f.rss_delta_kib / 1024.0,
            f.rss_delta_kib / f.streams.max(1) as f64,
            f.latencies.len(),
            f.lost,
            ms(percentile(&f.latencies, 0.5)),
            ms(percentile(&f.latencies, 0.99)),
            ms(f.latencies.last().copied().unwrap_or_default()),
            ms(percentile(&f.writes, 0.5)),
        );
    }
}
