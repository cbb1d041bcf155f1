//! Complete simulated verifications per second (issue 13): phones walking the whole mobile API —
//! handoff, hello, progress reports, the chip-authentication relay, the document, the liveness
//! challenge and burst, consent — against the server started in-process
//! (`idgate_server::testing`), on one node with SQLite and on two nodes sharing one fresh
//! PostgreSQL database (each phone alternates nodes between steps, as behind a load balancer).
//!
//! `cargo bench -p idgate --bench verify_flow`. Each backend runs twice, on a fresh server each
//! time:
//! - `real`: the built-in face engine (embedded weights), as in production;
//! - `memoised`: the same engine behind a cache keyed by the decoded image: the benchmark's bursts
//!   repeat the same frames, so after a warm-up every detection and embedding is a lookup (a
//!   fingerprint and one comparison of the pixels). What remains is the server's own work — HTTP,
//!   JSON, the store, the document checks, decoding the frames and the portrait — without the
//!   face networks. The face engine's share is the difference between the two.
//!
//! The phones are the project's own client (`idgate_phone::client`) with the passport, faces and
//! chip answers of `idgate simulate` (`idgate_phone::device`). One factory passport serves every
//! verification (same holder); each verification has its own session and attempt, and the chip
//! signs each attempt's challenges (active authentication, the chip-authentication relay) — client
//! CPU, reported apart. The sessions are created, and the bursts encoded, before the clock starts;
//! a burst is re-stamped with the challenge's nonce and the current time for each attempt.
//!
//! Also measured, on one thread with the real engine: the CPU time of one verification's face work
//! (the DG2 portrait decoded, detected and embedded; one burst decoded and judged with
//! `threads = 1`).
//!
//! Knobs (environment): `BENCH_VERIFICATIONS` (per memoised run, default 400),
//! `BENCH_REAL_VERIFICATIONS` (per real-engine run, default 12), `BENCH_PHONES` (concurrent
//! phones, default 16), `BENCH_BACKENDS` (default "sqlite postgres"; PostgreSQL needs
//! `IDGATE_TEST_DATABASE_URL`), `BENCH_ENGINES` (default "memoised real"), `BENCH_FACE_REPEATS`
//! (repeats of the single-thread face measurement, default 5). Needs the test photos
//! (`IDGATE_FACE_MODELS`, scripts/fetch-face-models.sh); prints a skip line otherwise.
//!
//! The client shares the machine (and the async runtime) with the server; the figures are those of
//! the machine and moment, recorded in docs/verify.md "Throughput" and docs/face-engine.md "Cost".
//! Nothing here asserts a number.

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

use std::collections::BTreeMap;
use std::hash::{Hash as _, Hasher as _};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use emrtd::testkit::TestPassport;
use idgate_core::{Environment, Scope};
use idgate_face::challenge::{Action, Challenge, Nonce};
use idgate_face::testkit::TestFaces;
use idgate_face::upload::BurstUpload;
use idgate_face::{BuiltinEngine, Embedding, Face, FaceEngine, FaceError, Image};
use idgate_phone::client::{DocumentUpload, HandoffAuth, MobileClient, Phase};
use idgate_phone::device as phone;
use idgate_server::testing::{Backend, Node, TestApp, TestAppBuilder};
use reqwest::Url;

/// The claims each session asks for; the phone consents to all of them.
const SHARE_FIELDS: &str = r#"{"share_fields":{
    "family_name":{"required":true,"reason":"Your contract"},
    "given_names":{"required":false,"reason":"Greeting"},
    "date_of_birth":{"required":false,"reason":"Age"},
    "document_photo":{"required":false,"reason":"Badge"}}}"#;

/// The steps, in the order a verification calls them (`phase` is the four progress reports).
const STEPS: [&str; 8] = [
    "handoff",
    "hello",
    "phase",
    "chip-authentication",
    "document",
    "liveness/challenge",
    "liveness",
    "consent",
];

struct Settings {
    memoised: usize,
    real: usize,
    phones: usize,
    backends: Vec<String>,
    engines: Vec<String>,
    face_repeats: usize,
}

impl Settings {
    fn from_env() -> Self {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let number = |name: &str, default: &str| -> usize {
            var(name, default)
                .parse()
                .unwrap_or_else(|_| panic!("{name} is not a number"))
        };
        let words = |name: &str, default: &str| -> Vec<String> {
            var(name, default)
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        Self {
            memoised: number("BENCH_VERIFICATIONS", "400"),
            real: number("BENCH_REAL_VERIFICATIONS", "12"),
            phones: number("BENCH_PHONES", "16").max(1),
            backends: words("BENCH_BACKENDS", "sqlite postgres"),
            engines: words("BENCH_ENGINES", "memoised real"),
            face_repeats: number("BENCH_FACE_REPEATS", "5").max(1),
        }
    }
}

// ---- CPU clocks ----------------------------------------------------------------------------------

fn cpu(clock: rustix::time::ClockId) -> Duration {
    let t = rustix::time::clock_gettime(clock);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// CPU time of the whole process (every thread: server, client, blocking pool).
fn process_cpu() -> Duration {
    cpu(rustix::time::ClockId::ProcessCPUTime)
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    cpu(rustix::time::ClockId::ThreadCPUTime)
}

// ---- the memoising engine ------------------------------------------------------------------------

/// A cheap fingerprint of an image: its size and every 251st byte. A hit is confirmed by comparing
/// every pixel, so two images that share a fingerprint are never confused.
fn fingerprint(image: &Image) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (image.width, image.height).hash(&mut hasher);
    image
        .rgb
        .iter()
        .step_by(251)
        .for_each(|b| hasher.write_u8(*b));
    hasher.finish()
}

/// The built-in engine with its detections and embeddings remembered per image: the face networks
/// run once per distinct frame, then never again.
struct Memoised {
    inner: Arc<BuiltinEngine>,
    detected: Mutex<Vec<(u64, Image, Vec<Face>)>>,
    embedded: Mutex<Vec<(u64, Image, Face, Embedding)>>,
    misses: AtomicU64,
    hits: AtomicU64,
}

impl Memoised {
    fn new(inner: Arc<BuiltinEngine>) -> Self {
        Self {
            inner,
            detected: Mutex::new(Vec::new()),
            embedded: Mutex::new(Vec::new()),
            misses: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        }
    }
}

impl FaceEngine for Memoised {
    fn detect(&self, image: &Image) -> Result<Vec<Face>, FaceError> {
        let key = fingerprint(image);
        let known = self
            .detected
            .lock()
            .unwrap()
            .iter()
            .find(|(k, i, _)| *k == key && i == image)
            .map(|(_, _, faces)| faces.clone());
        if let Some(faces) = known {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(faces);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let faces = self.inner.detect(image)?;
        self.detected
            .lock()
            .unwrap()
            .push((key, image.clone(), faces.clone()));
        Ok(faces)
    }

    fn embed(&self, image: &Image, face: &Face) -> Result<Embedding, FaceError> {
        let key = fingerprint(image);
        let known = self
            .embedded
            .lock()
            .unwrap()
            .iter()
            .find(|(k, i, f, _)| *k == key && f == face && i == image)
            .map(|(_, _, _, e)| e.clone());
        if let Some(embedding) = known {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(embedding);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let embedding = self.inner.embed(image, face)?;
        self.embedded
            .lock()
            .unwrap()
            .push((key, image.clone(), face.clone(), embedding.clone()));
        Ok(embedding)
    }
}

/// The built-in engine with the calling thread's CPU time of each detection and embedding added up
/// (single-threaded use only: the liveness policy's `threads = 1`).
struct Metered {
    inner: Arc<BuiltinEngine>,
    detect: Mutex<(u32, Duration)>,
    embed: Mutex<(u32, Duration)>,
}

impl FaceEngine for Metered {
    fn detect(&self, image: &Image) -> Result<Vec<Face>, FaceError> {
        let started = thread_cpu();
        let faces = self.inner.detect(image);
        let mut total = self.detect.lock().unwrap();
        total.0 += 1;
        total.1 += thread_cpu() - started;
        faces
    }

    fn embed(&self, image: &Image, face: &Face) -> Result<Embedding, FaceError> {
        let started = thread_cpu();
        let embedding = self.inner.embed(image, face);
        let mut total = self.embed.lock().unwrap();
        total.0 += 1;
        total.1 += thread_cpu() - started;
        embedding
    }
}

// ---- the phones ----------------------------------------------------------------------------------

/// What every phone shares: the passport, its files, and one encoded burst per challenge.
struct Kit {
    passport: TestPassport,
    upload: DocumentUpload,
    /// `(actions, burst, the time it was stamped for)`.
    bursts: Vec<(Vec<Action>, BurstUpload, u64)>,
}

impl Kit {
    fn new(faces: &TestFaces) -> Self {
        let passport = phone::passport(faces.portrait_jpeg(), true, None).expect("passport");
        let upload = phone::document_upload(&passport);
        let now = phone::now_ms();
        let bursts = [
            vec![Action::TurnLeft, Action::TurnRight],
            vec![Action::TurnRight, Action::TurnLeft],
        ]
        .into_iter()
        .map(|actions| {
            let challenge = Challenge {
                actions: actions.clone(),
                nonce: Nonce([0; 16]),
                issued_at_ms: now,
                expires_at_ms: now + 60_000,
            };
            let burst = phone::burst(faces, &challenge, phone::Face::Live, now).expect("burst");
            (actions, burst, now)
        })
        .collect();
        Self {
            passport,
            upload,
            bursts,
        }
    }

    /// The prebuilt burst for `challenge`, re-stamped with its nonce and captured just now.
    fn burst(&self, challenge: &Challenge) -> BurstUpload {
        let (_, template, stamped) = self
            .bursts
            .iter()
            .find(|(actions, _, _)| *actions == challenge.actions)
            .unwrap_or_else(|| panic!("no burst for {:?}", challenge.actions));
        let shift = phone::now_ms().saturating_sub(*stamped);
        let mut burst = template.clone();
        burst.nonce = challenge.nonce;
        for frame in &mut burst.frames {
            frame.captured_at_ms += shift;
        }
        burst
    }
}

/// What the phones of one run measured.
#[derive(Default)]
struct Samples {
    steps: BTreeMap<&'static str, Vec<Duration>>,
    /// Thread CPU of the chip's answers (active authentication, the relay) and the burst.
    client_cpu: Duration,
}

impl Samples {
    fn merge(&mut self, other: Self) {
        for (step, mut times) in other.steps {
            self.steps.entry(step).or_default().append(&mut times);
        }
        self.client_cpu += other.client_cpu;
    }
}

/// One phone's verification of `session_id`; `clients` are the nodes, taken in turn per step.
async fn verify(
    clients: &[MobileClient],
    kit: &Kit,
    key: &str,
    session_id: &str,
    device_id: &str,
    first: usize,
    samples: &mut Samples,
) -> anyhow::Result<()> {
    let mut turn = first;
    let mut next = move || {
        turn += 1;
        &clients[turn % clients.len()]
    };
    let mut record = |step: &'static str, elapsed: Duration| {
        samples.steps.entry(step).or_default().push(elapsed);
    };
    let mut local = Duration::ZERO;

    let reply = next()
        .handoff(session_id, &HandoffAuth::ApiKey(key.to_owned()))
        .await?;
    record("handoff", reply.elapsed);
    let attempt = reply.into_data("handoff")?;
    let reply = next().hello(&attempt, device_id, "bench").await?;
    record("hello", reply.elapsed);
    let hello = reply.into_data("hello")?;
    for phase in [Phase::MrzScanning, Phase::NfcReading] {
        let reply = next().phase(&attempt, phase).await?;
        record("phase", reply.elapsed);
        reply.into_data("phase")?;
    }

    let mut upload = kit.upload.clone();
    let started = thread_cpu();
    upload.aa_signature = Some(phone::internal_authenticate(
        &kit.passport,
        &hello.active_authentication_challenge,
    )?);
    local += thread_cpu() - started;
    let dg14 = kit.passport.dg14.as_deref().expect("the passport has DG14");
    let reply = next().chip_authentication(&attempt, dg14).await?;
    record("chip-authentication", reply.elapsed);
    let instructions = reply.into_data("chip-authentication")?;
    let started = thread_cpu();
    upload.ca_response = Some(phone::chip_authenticate(&kit.passport, instructions)?);
    local += thread_cpu() - started;
    let reply = next().document(&attempt, &upload).await?;
    record("document", reply.elapsed);
    let verdict = reply.into_data("document")?;
    anyhow::ensure!(verdict.accepted(), "document rejected: {verdict:?}");

    let reply = next().phase(&attempt, Phase::SelfieCapturing).await?;
    record("phase", reply.elapsed);
    reply.into_data("phase")?;
    let reply = next().liveness_challenge(&attempt).await?;
    record("liveness/challenge", reply.elapsed);
    let challenge: Challenge = reply.into_data("liveness/challenge")?.into();
    let started = thread_cpu();
    let burst = kit.burst(&challenge);
    local += thread_cpu() - started;
    let reply = next().liveness(&attempt, &burst).await?;
    record("liveness", reply.elapsed);
    let verdict = reply.into_data("liveness")?;
    anyhow::ensure!(verdict.accepted(), "burst rejected: {verdict:?}");

    let reply = next().phase(&attempt, Phase::ReviewingConsent).await?;
    record("phase", reply.elapsed);
    reply.into_data("phase")?;
    let keys: Vec<String> = hello.share_fields.keys().cloned().collect();
    let reply = next().consent(&attempt, &keys).await?;
    record("consent", reply.elapsed);
    let outcome = reply.into_data("consent")?;
    anyhow::ensure!(
        outcome.status == "succeeded",
        "consent left {}",
        outcome.status
    );
    samples.client_cpu += local;
    Ok(())
}

/// Creates `n` test-mode sessions through the integrator API.
async fn create_sessions(app: &TestApp, key: &str, n: usize, parallel: usize) -> Vec<String> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..parallel.min(n.max(1)) {
        let next = next.clone();
        let request = app.request_as(key, reqwest::Method::POST, "/v1/sessions");
        tasks.spawn(async move {
            let mut ids = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let response = request
                    .try_clone()
                    .unwrap()
                    .header("content-type", "application/json")
                    .body(SHARE_FIELDS)
                    .send()
                    .await
                    .expect("POST /v1/sessions");
                let status = response.status();
                let body: serde_json::Value = response.json().await.unwrap();
                assert!(status.is_success(), "POST /v1/sessions: {status} {body}");
                ids.push(body["data"]["id"].as_str().unwrap().to_owned());
            }
            ids
        });
    }
    let mut ids = Vec::with_capacity(n);
    while let Some(part) = tasks.join_next().await {
        ids.extend(part.unwrap());
    }
    ids
}

/// Runs the verifications of `sessions` with `phones` concurrent phones.
async fn run_phones(
    clients: &Arc<Vec<MobileClient>>,
    kit: &Arc<Kit>,
    key: &str,
    sessions: Vec<String>,
    phones: usize,
    label: &str,
) -> Samples {
    let sessions = Arc::new(sessions);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let total = sessions.len();
    let mut tasks = tokio::task::JoinSet::new();
    for phone_no in 0..phones.min(total.max(1)) {
        let (clients, kit, sessions, next, done) = (
            clients.clone(),
            kit.clone(),
            sessions.clone(),
            next.clone(),
            done.clone(),
        );
        let key = key.to_owned();
        let device = phone::device_id(&format!("idgate-bench-{phone_no}"));
        tasks.spawn(async move {
            let mut samples = Samples::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(session) = sessions.get(i) else {
                    break;
                };
                verify(&clients, &kit, &key, session, &device, i, &mut samples)
                    .await
                    .unwrap_or_else(|e| panic!("verification {i}: {e:#}"));
                done.fetch_add(1, Ordering::Relaxed);
            }
            samples
        });
    }
    let progress = {
        let done = done.clone();
        let label = label.to_owned();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(2));
            ticker.tick().await;
            loop {
                ticker.tick().await;
                eprintln!("  … {label}: {} of {total}", done.load(Ordering::Relaxed));
            }
        })
    };
    let mut samples = Samples::default();
    while let Some(part) = tasks.join_next().await {
        samples.merge(part.unwrap());
    }
    progress.abort();
    samples
}

// ---- server-side latency: the request histogram, before and after --------------------------------

/// `route → (le → count)` of `idgate_http_request_duration_seconds`, summed over methods and
/// statuses, from the Prometheus text the app renders (one registry per process).
fn request_buckets(app: &TestApp) -> BTreeMap<String, Vec<(f64, u64)>> {
    let text = app.state.metrics.render();
    let mut out: BTreeMap<String, BTreeMap<u64, (f64, u64)>> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("idgate_http_request_duration_seconds_bucket{") else {
            continue;
        };
        let Some((labels, count)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split("\",")
                .find_map(|pair| pair.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
        };
        let (Some(route), Some(le)) = (label("route"), label("le")) else {
            continue;
        };
        let le: f64 = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap_or(f64::INFINITY)
        };
        let count: u64 = count.trim().parse().unwrap_or(0);
        let entry = out
            .entry(route)
            .or_default()
            .entry(le.to_bits())
            .or_insert((le, 0));
        entry.1 += count;
    }
    out.into_iter()
        .map(|(route, buckets)| {
            let mut buckets: Vec<(f64, u64)> = buckets.into_values().collect();
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            (route, buckets)
        })
        .collect()
}

/// The upper bound of the bucket holding quantile `q` of the requests between two snapshots.
fn bucket_quantile(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> Option<f64> {
    let count = |buckets: &[(f64, u64)], le: f64| {
        buckets
            .iter()
            .find(|(l, _)| l.to_bits() == le.to_bits())
            .map_or(0, |(_, c)| *c)
    };
    let diffs: Vec<(f64, u64)> = after
        .iter()
        .map(|(le, c)| (*le, c - count(before, *le)))
        .collect();
    let total = diffs.last()?.1;
    if total == 0 {
        return None;
    }
    let target = (q * total as f64).ceil() as u64;
    diffs.iter().find(|(_, c)| *c >= target).map(|(le, _)| *le)
}

fn route_of(step: &str) -> String {
    if step == "handoff" {
        "/v1/verify/session/{id}/handoff".to_owned()
    } else {
        format!("/v1/verify/attempts/{{id}}/{step}")
    }
}

// ---- one run -------------------------------------------------------------------------------------

struct Run {
    backend: &'static str,
    engine: String,
    verifications: usize,
    elapsed: Duration,
    process_cpu: Duration,
    samples: Samples,
    /// Step → (server p50, server p99) bucket bounds in seconds.
    server: BTreeMap<&'static str, (Option<f64>, Option<f64>)>,
    memo: Option<(u64, u64)>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.verifications as f64 / self.elapsed.as_secs_f64()
    }

    fn cpu_ms_per_verification(&self) -> f64 {
        self.process_cpu.as_secs_f64() * 1000.0 / self.verifications as f64
    }
}

async fn run(
    settings: &Settings,
    kit: &Arc<Kit>,
    builtin: &Arc<BuiltinEngine>,
    backend: Backend,
    engine: &str,
) -> Run {
    let n = if engine == "real" {
        settings.real
    } else {
        settings.memoised
    };
    let memo = (engine == "memoised").then(|| Arc::new(Memoised::new(builtin.clone())));
    let face: Arc<dyn FaceEngine> = match &memo {
        Some(memo) => memo.clone(),
        None if engine == "real" => builtin.clone(),
        None => panic!("unknown engine {engine:?} (memoised, real)"),
    };
    let app = TestAppBuilder::default()
        .face_engine(face)
        .spawn(backend)
        .await;
    let second: Option<Node> = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(app.second_node().await),
    };
    let key = app
        .key_with(
            &[Scope::SessionsRead, Scope::SessionsWrite],
            Environment::Test,
        )
        .await;
    let mut bases = vec![app.base_url.clone()];
    bases.extend(second.as_ref().map(|node| node.base_url.clone()));
    let clients: Arc<Vec<MobileClient>> = Arc::new(
        bases
            .iter()
            .map(|base| MobileClient::new(&Url::parse(base).unwrap()).unwrap())
            .collect(),
    );
    let backend_name = match backend {
        Backend::Sqlite => "sqlite, 1 node",
        Backend::Postgres => "postgres, 2 nodes",
    };
    let label = format!("{backend_name}, {engine}");

    // Warm-up: connections, the trust store, the engine's first call, the memo's frames.
    let warm = if engine == "real" { 1 } else { 4 };
    let sessions = create_sessions(&app, &key, warm, 1).await;
    run_phones(&clients, kit, &key, sessions, 1, &label).await;

    let sessions = create_sessions(&app, &key, n, 16).await;
    eprintln!("{label}: {n} verifications, {} phones", settings.phones);
    let memo_before = memo.as_ref().map(|m| {
        (
            m.hits.load(Ordering::Relaxed),
            m.misses.load(Ordering::Relaxed),
        )
    });
    let buckets_before = request_buckets(&app);
    let cpu_before = process_cpu();
    let started = Instant::now();
    let samples = run_phones(&clients, kit, &key, sessions, settings.phones, &label).await;
    let elapsed = started.elapsed();
    let process_cpu = process_cpu() - cpu_before;
    let buckets_after = request_buckets(&app);
    let server = STEPS
        .iter()
        .map(|step| {
            let route = route_of(step);
            let q = |q| {
                buckets_after.get(&route).and_then(|after| {
                    bucket_quantile(
                        buckets_before.get(&route).map_or(&[][..], Vec::as_slice),
                        after,
                        q,
                    )
                })
            };
            (*step, (q(0.5), q(0.99)))
        })
        .collect();
    let memo = memo.as_ref().zip(memo_before).map(|(m, (hits, misses))| {
        (
            m.hits.load(Ordering::Relaxed) - hits,
            m.misses.load(Ordering::Relaxed) - misses,
        )
    });
    if let Some(node) = second {
        node.shutdown().await;
    }
    app.shutdown().await;
    Run {
        backend: backend_name,
        engine: engine.to_owned(),
        verifications: n,
        elapsed,
        process_cpu,
        samples,
        server,
        memo,
    }
}

// ---- the face work of one verification, on one thread --------------------------------------------

struct FaceCost {
    portrait_decode: Duration,
    portrait_engine: Duration,
    burst_decode: Duration,
    liveness: Duration,
    detect: (u32, Duration),
    embed: (u32, Duration),
}

/// The CPU time of one verification's face work with the real engine, on the calling thread: the
/// median of `repeats` runs (the first, which loads nothing lazily but warms caches, is dropped).
fn face_cost(
    builtin: &Arc<BuiltinEngine>,
    faces: &TestFaces,
    dg2: &[u8],
    repeats: usize,
) -> FaceCost {
    let challenge = Challenge {
        actions: vec![Action::TurnRight, Action::TurnLeft],
        nonce: Nonce([7; 16]),
        issued_at_ms: phone::now_ms(),
        expires_at_ms: phone::now_ms() + 60_000,
    };
    let mut policy = idgate_face::FaceConfig::default().liveness;
    policy.threads = 1;
    let mut runs = Vec::new();
    for _ in 0..=repeats {
        let metered = Metered {
            inner: builtin.clone(),
            detect: Mutex::new((0, Duration::ZERO)),
            embed: Mutex::new((0, Duration::ZERO)),
        };
        // The portrait, as the liveness route reads it after a live verdict.
        let t0 = thread_cpu();
        let portrait = emrtd::lds::dg2::parse(dg2).expect("DG2").into_primary();
        let portrait = idgate_face::image::decode(&portrait.data).expect("portrait decodes");
        let t1 = thread_cpu();
        let found = metered.detect(&portrait).expect("detect");
        let face = found.first().expect("a face in the portrait");
        metered.embed(&portrait, face).expect("embed");
        let t2 = thread_cpu();
        // One burst, as the route decodes and judges it.
        let now = phone::now_ms();
        let upload = faces.live_upload(&challenge, now).expect("burst");
        let t3 = thread_cpu();
        let burst = upload.decode(now).expect("burst decodes");
        let t4 = thread_cpu();
        let verdict = metered
            .liveness(&challenge, &burst, &policy)
            .expect("liveness");
        let t5 = thread_cpu();
        assert!(
            verdict.live,
            "the live burst is live: {:?}",
            verdict.reasons
        );
        runs.push(FaceCost {
            portrait_decode: t1 - t0,
            portrait_engine: t2 - t1,
            burst_decode: t4 - t3,
            liveness: t5 - t4,
            detect: *metered.detect.lock().unwrap(),
            embed: *metered.embed.lock().unwrap(),
        });
    }
    runs.remove(0);
    let total = |c: &FaceCost| c.portrait_decode + c.portrait_engine + c.burst_decode + c.liveness;
    runs.sort_by_key(total);
    runs.swap_remove(runs.len() / 2)
}

/// Where a detection's time goes, and what a smaller detector input would save: per frame of the
/// burst, the CPU of the detector network at its default input (416 px) and at 320 px, and of the
/// landmark network; and whether the burst is still live with the detector at 320 px.
struct DetectSplit {
    detector_416: Duration,
    detector_320: Duration,
    landmarks: Duration,
    frames: usize,
    faces_found_320: usize,
    live_320: bool,
    liveness_320: Duration,
}

fn detect_split(faces: &TestFaces, repeats: usize) -> DetectSplit {
    use idgate_face::detector::{DetectorOptions, TinyFaceDetector};
    use idgate_face::landmarks::LandmarkNet;
    use idgate_face::models::ModelSource;

    let detector = TinyFaceDetector::load(ModelSource::Embedded).expect("detector");
    let landmarks = LandmarkNet::load(ModelSource::Embedded).expect("landmarks");
    let small = DetectorOptions {
        input_size: 320,
        ..DetectorOptions::default()
    };
    let now = phone::now_ms();
    let challenge = Challenge {
        actions: vec![Action::TurnRight, Action::TurnLeft],
        nonce: Nonce([7; 16]),
        issued_at_ms: now,
        expires_at_ms: now + 60_000,
    };
    let burst = faces
        .live_upload(&challenge, now)
        .expect("burst")
        .decode(now)
        .expect("burst decodes");
    let mut split = DetectSplit {
        detector_416: Duration::ZERO,
        detector_320: Duration::ZERO,
        landmarks: Duration::ZERO,
        frames: 0,
        faces_found_320: 0,
        live_320: false,
        liveness_320: Duration::ZERO,
    };
    for _ in 0..repeats {
        for frame in &burst.frames {
            let t0 = thread_cpu();
            let found = detector
                .detect(&frame.image, &DetectorOptions::default())
                .expect("detect");
            let t1 = thread_cpu();
            for d in &found {
                landmarks.predict(&frame.image, &d.bbox).expect("landmarks");
            }
            let t2 = thread_cpu();
            let found_small = detector.detect(&frame.image, &small).expect("detect");
            let t3 = thread_cpu();
            split.detector_416 += t1 - t0;
            split.landmarks += t2 - t1;
            split.detector_320 += t3 - t2;
            split.frames += 1;
            split.faces_found_320 += usize::from(found_small.len() == 1);
        }
    }
    let engine = BuiltinEngine::embedded()
        .and_then(|e| e.with_detector_options(small))
        .expect("engine at 320 px");
    let mut policy = idgate_face::FaceConfig::default().liveness;
    policy.threads = 1;
    let t0 = thread_cpu();
    let verdict = engine.liveness(&challenge, &burst, &policy);
    split.liveness_320 = thread_cpu() - t0;
    split.live_320 = verdict.is_ok_and(|v| v.live);
    split
}

// ---- output --------------------------------------------------------------------------------------

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn bound(le: Option<f64>) -> String {
    match le {
        Some(le) if le.is_finite() => format!("≤{}", le * 1000.0),
        Some(_) => ">2500".to_owned(),
        None => "-".to_owned(),
    }
}

fn print(runs: &[Run], cost: &FaceCost, split: &DetectSplit, settings: &Settings) {
    println!();
    println!(
        "# verify_flow: {} phones; {} verifications per memoised run, {} per real run; {} CPUs",
        settings.phones,
        settings.memoised,
        settings.real,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!();
    println!(
        "| backend | face engine | verifications | wall s | verifications/s | process CPU ms/verification | client chip+burst CPU ms/verification | memo hits/misses |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in runs {
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {} |",
            r.backend,
            r.engine,
            r.verifications,
            r.elapsed.as_secs_f64(),
            r.rate(),
            r.cpu_ms_per_verification(),
            ms(r.samples.client_cpu) / r.verifications as f64,
            r.memo
                .map_or_else(|| "-".to_owned(), |(h, m)| format!("{h}/{m}")),
        );
    }
    println!();
    for backend in ["sqlite, 1 node", "postgres, 2 nodes"] {
        let find = |engine: &str| {
            runs.iter()
                .find(|r| r.backend == backend && r.engine == engine)
        };
        if let (Some(memo), Some(real)) = (find("memoised"), find("real")) {
            let (t_memo, t_real) = (1.0 / memo.rate(), 1.0 / real.rate());
            println!(
                "face engine's share ({backend}): {:.0} % of the wall time per verification \
                 ({:.1} of {:.1} ms), {:.0} of {:.0} ms of process CPU per verification",
                (t_real - t_memo) / t_real * 100.0,
                (t_real - t_memo) * 1000.0,
                t_real * 1000.0,
                real.cpu_ms_per_verification() - memo.cpu_ms_per_verification(),
                real.cpu_ms_per_verification(),
            );
        }
    }
    for r in runs {
        println!();
        println!(
            "{}, {} engine: per-step latency, ms (client: the mobile client's round trip; server: \
             bucket bound of idgate_http_request_duration_seconds)",
            r.backend, r.engine
        );
        println!("| step | calls | client p50 | client p99 | server p50 | server p99 |");
        println!("|---|---|---|---|---|---|");
        for step in STEPS {
            let Some(times) = r.samples.steps.get(step) else {
                continue;
            };
            let mut sorted = times.clone();
            sorted.sort_unstable();
            let (p50, p99) = r.server.get(step).copied().unwrap_or((None, None));
            println!(
                "| {step} | {} | {:.1} | {:.1} | {} | {} |",
                sorted.len(),
                ms(percentile(&sorted, 0.5)),
                ms(percentile(&sorted, 0.99)),
                bound(p50),
                bound(p99),
            );
        }
    }
    let total = cost.portrait_decode + cost.portrait_engine + cost.burst_decode + cost.liveness;
    let detect_ms = ms(cost.detect.1);
    let embed_ms = ms(cost.embed.1);
    println!();
    println!(
        "face work of one verification, real engine, one thread (CPU ms, median of {}):",
        settings.face_repeats
    );
    println!("| part | CPU ms |");
    println!("|---|---|");
    println!(
        "| DG2 parse + portrait decode | {:.1} |",
        ms(cost.portrait_decode)
    );
    println!(
        "| portrait detect + embed | {:.1} |",
        ms(cost.portrait_engine)
    );
    println!(
        "| burst decode (PNG frames) | {:.1} |",
        ms(cost.burst_decode)
    );
    println!(
        "| liveness evaluation (threads = 1) | {:.1} |",
        ms(cost.liveness)
    );
    println!("| **total** | **{:.1}** |", ms(total));
    println!(
        "| of which detect: {} calls | {detect_ms:.1} ({:.1} per call) |",
        cost.detect.0,
        detect_ms / f64::from(cost.detect.0.max(1))
    );
    println!(
        "| of which embed: {} calls | {embed_ms:.1} ({:.1} per call) |",
        cost.embed.0,
        embed_ms / f64::from(cost.embed.0.max(1))
    );
    let per_frame = |d: Duration| ms(d) / split.frames.max(1) as f64;
    println!();
    println!(
        "a detection, per burst frame (CPU ms, mean of {} frames):",
        split.frames
    );
    println!("| part | CPU ms |");
    println!("|---|---|");
    println!(
        "| detector network, 416 px input (default) | {:.1} |",
        per_frame(split.detector_416)
    );
    println!(
        "| landmark network (112 px) | {:.1} |",
        per_frame(split.landmarks)
    );
    println!(
        "| detector network, 320 px input | {:.1} (one face found in {} of {} frames) |",
        per_frame(split.detector_320),
        split.faces_found_320,
        split.frames
    );
    println!(
        "| liveness evaluation with the detector at 320 px | {:.1} (live: {}) |",
        ms(split.liveness_320),
        split.live_320
    );
}

fn main() {
    let settings = Settings::from_env();
    let photos = phone::photos_dir(None);
    let faces = match phone::load_faces(&photos) {
        Ok(faces) => faces,
        Err(e) => {
            println!("verify_flow: skipped: {e}");
            return;
        }
    };
    let builtin = Arc::new(BuiltinEngine::embedded().expect("the embedded face weights load"));
    let kit = Arc::new(Kit::new(&faces));

    eprintln!("face work of one verification, one thread …");
    let dg2 = kit.passport.dg2.clone();
    let (cost, split) = {
        let (builtin, repeats) = (builtin.clone(), settings.face_repeats);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    (
                        face_cost(&builtin, &faces, &dg2, repeats),
                        detect_split(&faces, repeats),
                    )
                })
                .join()
                .unwrap()
        })
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let runs = runtime.block_on(async {
        let mut runs = Vec::new();
        for backend in &settings.backends {
            let backend = match backend.as_str() {
                "sqlite" => Backend::Sqlite,
                "postgres" if idgate_testkit::postgres_url().is_some() => Backend::Postgres,
                "postgres" => {
                    eprintln!("postgres: skipped (IDGATE_TEST_DATABASE_URL is not set)");
                    continue;
                }
                other => panic!("unknown backend {other:?} (sqlite, postgres)"),
            };
            for engine in &settings.engines {
                runs.push(run(&settings, &kit, &builtin, backend, engine).await);
            }
        }
        runs
    });
    print(&runs, &cost, &split, &settings);
}
