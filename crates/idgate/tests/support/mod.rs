//! Fixtures shared by the tests that run the built `idgate serve` (and by the webhook delivery
//! benchmark, which includes this file by path): a server process that can be SIGKILLed, a
//! fresh PostgreSQL database per run, a small client of the integrator API, and a loopback
//! webhook receiver that records every delivery it gets.
//!
//! Each user takes only part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_idgate");

/// Event type every fixture here produces: cancelling a session writes exactly one.
pub const CANCELLED: &str = "verification.session.cancelled";

// ---- the server process ------------------------------------------------------------------------

/// A running `idgate serve`; SIGKILLed on drop if still running.
pub struct Node {
    child: Child,
    pub addr: SocketAddr,
    /// The API key printed on the very first start of an installation, `None` on later starts.
    pub key: Option<String>,
}

impl Node {
    /// Starts `idgate serve` on a free loopback port with `data_dir`, on `database_url` (else
    /// SQLite in the data directory) and the extra `IDGATE_*` settings in `env`. Webhooks to
    /// loopback over plain http are allowed (the receiver runs in the test); the per-key rate
    /// limiter is lifted so the load measures the server, not the limiter, and so is shedding
    /// by age (`request_queue_timeout_ms` at its maximum): a debug build on a machine busy with
    /// other work can leave a request waiting for the CPU longer than the 100 ms default, and
    /// these tests check other behaviours than load shedding. `env` can set them back.
    pub fn start(data_dir: &Path, database_url: Option<&str>, env: &[(&str, String)]) -> Self {
        Self::start_binary(Path::new(BIN), data_dir, database_url, env)
    }

    /// [`Node::start`] with another build of `idgate` (a benchmark comparing two versions).
    pub fn start_binary(
        binary: &Path,
        data_dir: &Path,
        database_url: Option<&str>,
        env: &[(&str, String)],
    ) -> Self {
        let mut command = Command::new(binary);
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--allow-private-webhooks",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .env("IDGATE_RATE_LIMIT_PER_SECOND", "1000000")
            .env("IDGATE_RATE_LIMIT_BURST", "1000000")
            .env("IDGATE_REQUEST_QUEUE_TIMEOUT_MS", "60000")
            .env_remove("IDGATE_CONFIG")
            .stdout(Stdio::piped())
            // Warnings (lease lost, claim failures) show in the test's output.
            .stderr(Stdio::inherit());
        match database_url {
            Some(url) => command.env("IDGATE_DATABASE_URL", url),
            None => command.env_remove("IDGATE_DATABASE_URL"),
        };
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn idgate serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let addr = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("serve prints its address");
            if let Some(addr) = line.strip_prefix("idgate listening on ") {
                break addr.trim().parse().expect("a socket address");
            }
        };
        let mut key = None;
        while let Ok(line) = lines.recv_timeout(Duration::from_millis(300)) {
            if let Some(printed) = line.split("store it now): ").nth(1) {
                key = Some(printed.trim().to_owned());
            }
        }
        Self { child, addr, key }
    }

    /// Deliveries this node sent successfully, from its own `/metrics`.
    pub async fn succeeded_deliveries(&self) -> u64 {
        let text = http_client()
            .get(format!("http://{}/metrics", self.addr))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text");
        prometheus_counter(
            &text,
            "idgate_webhook_deliveries_total{outcome=\"succeeded\"}",
        )
    }

    /// The server's process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown hook, no flush, no lease given back.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- PostgreSQL --------------------------------------------------------------------------------

/// `IDGATE_TEST_DATABASE_URL` when set and not empty; otherwise the test is skipped (failed
/// under CI) through `idgate_testkit`.
pub fn postgres_url() -> Option<String> {
    idgate_testkit::postgres_url()
}

/// An empty database named `<prefix>_<pid>_<nanos>` on the server of `base`, so a run sees only
/// its own rows.
pub fn fresh_postgres_database(base: &str, prefix: &str) -> String {
    use sqlx::Connection;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // Our own prefix and digits, not input.
    let name = format!("{prefix}_{}_{nanos}", std::process::id());
    let create = async {
        let mut admin = sqlx::PgConnection::connect(base)
            .await
            .expect("connect to the PostgreSQL server");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let _ = admin.close().await;
    };
    // Callers may or may not be inside a runtime; a thread of its own works for both.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(create)
            })
            .join()
            .expect("create database thread");
    });
    with_database_name(base, &name)
}

/// Replaces the database (the path) of a `postgres://` URL, keeping its query.
pub fn with_database_name(url: &str, name: &str) -> String {
    let (without_query, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let authority = without_query.find("://").map_or(0, |i| i + 3);
    let base = match without_query
        .get(authority..)
        .and_then(|rest| rest.find('/'))
    {
        Some(slash) => &without_query[..authority + slash],
        None => without_query,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// Where Debian's PostgreSQL 15 server binaries live (`scripts/start-postgres.sh` installs them).
const POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL cluster of one test's own, for tests that kill the database server: made and
/// started by `scripts/start-postgres.sh` in a temporary directory on a free port, shut down
/// (immediately) on drop.
pub struct PrivatePostgres {
    data_dir: std::path::PathBuf,
    port: u16,
    _parent: tempfile::TempDir,
}

impl PrivatePostgres {
    /// A new cluster, started; `None` after `idgate_testkit::missing` when the server binaries
    /// are not installed.
    pub fn start_new() -> Option<Self> {
        if !Path::new(POSTGRES_BIN).join("initdb").exists() {
            idgate_testkit::missing(
                idgate_testkit::Prereq::Postgres,
                format!("PostgreSQL server binaries not found in {POSTGRES_BIN}"),
            );
            return None;
        }
        let parent = tempfile::tempdir().expect("temporary directory");
        // The server runs as the `postgres` user when the tests run as root: let it in.
        std::fs::set_permissions(
            parent.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod the temporary directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let postgres = Self {
            data_dir: parent.path().join("pgdata"),
            port,
            _parent: parent,
        };
        postgres.start();
        Some(postgres)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the cluster (creating it the first time) and waits until it accepts connections.
    pub fn start(&self) {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/start-postgres.sh"
        );
        let status = Command::new("bash")
            .arg(script)
            .arg(&self.data_dir)
            .arg(self.port.to_string())
            .stdout(Stdio::null())
            .status()
            .expect("run scripts/start-postgres.sh");
        assert!(status.success(), "scripts/start-postgres.sh failed");
    }

    /// `pg_ctl stop -m immediate`: every server process exits at once, without a checkpoint,
    /// as after a power cut; the next start replays the write-ahead log.
    pub fn kill_immediately(&self) {
        let pg_ctl = format!(
            "'{POSTGRES_BIN}/pg_ctl' -D '{}' -m immediate -w stop",
            self.data_dir.display()
        );
        let mut command = if is_root() {
            let mut su = Command::new("su");
            su.args(["postgres", "-s", "/bin/sh", "-c", &pg_ctl]);
            su
        } else {
            let mut sh = Command::new("sh");
            sh.args(["-c", &pg_ctl]);
            sh
        };
        let _ = command.stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.kill_immediately();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

// ---- the integrator API ------------------------------------------------------------------------

/// A plain reqwest client (ring as the rustls provider; only `http://` is used here).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("reqwest client")
}

/// The integrator API of one node, with one API key.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    pub fn new(addr: SocketAddr, key: &str) -> Self {
        Self {
            client: http_client(),
            base: format!("http://{addr}"),
            key: key.to_owned(),
        }
    }

    /// Sends one request; the status and the JSON body (`null` when empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("response body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON response")
        };
        (status, value)
    }

    /// Creates a session and cancels it; the session's id once the cancel was acknowledged,
    /// `None` when either request got no answer (the server is gone).
    pub async fn try_create_and_cancel(&self) -> Option<String> {
        let created = self
            .client
            .post(format!("{}/v1/sessions", self.base))
            .bearer_auth(&self.key)
            .json(&json!({}))
            .send()
            .await
            .ok()?;
        assert!(
            created.status().is_success(),
            "create answered {}",
            created.status()
        );
        let created: Value = created.json().await.ok()?;
        let id = created["data"]["id"]
            .as_str()
            .expect("session id")
            .to_owned();
        let cancelled = self
            .client
            .post(format!("{}/v1/sessions/{id}/cancel", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .ok()?;
        assert!(
            cancelled.status().is_success(),
            "cancel answered {}",
            cancelled.status()
        );
        // The status line arrived: acknowledged, even if the body is cut off.
        Some(id)
    }

    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {value}"
        );
        value
    }

    /// Creates an endpoint subscribed to [`CANCELLED`]; its id and signing secret.
    pub async fn create_endpoint(&self, url: &str) -> (String, String) {
        let created = self
            .ok(
                reqwest::Method::POST,
                "/v1/webhooks/endpoints",
                Some(json!({"url": url, "subscribed_event_types": [CANCELLED]})),
            )
            .await;
        let id = created["data"]["id"]
            .as_str()
            .expect("endpoint id")
            .to_owned();
        let secret = created["data"]["signing_secret"]
            .as_str()
            .expect("signing secret")
            .to_owned();
        (id, secret)
    }

    /// Uploads an RSA public key (SPKI PEM) as the endpoint's active key.
    pub async fn add_key(&self, endpoint: &str, pem: &str) {
        self.ok(
            reqwest::Method::POST,
            &format!("/v1/webhooks/endpoints/{endpoint}/keys"),
            Some(json!({"pem": pem})),
        )
        .await;
    }

    /// Creates and cancels `n` sessions with `concurrency` requests in flight, so `n`
    /// [`CANCELLED`] events are written; calls `progress` with the running count now and then.
    pub async fn cancelled_sessions(
        &self,
        n: usize,
        concurrency: usize,
        progress: impl Fn(usize) + Send + Sync + 'static,
    ) {
        let next = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let progress = Arc::new(progress);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (api, next, done, progress) =
                (self.clone(), next.clone(), done.clone(), progress.clone());
            tasks.spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let created = api
                        .ok(reqwest::Method::POST, "/v1/sessions", Some(json!({})))
                        .await;
                    let id = created["data"]["id"].as_str().expect("session id");
                    api.ok(
                        reqwest::Method::POST,
                        &format!("/v1/sessions/{id}/cancel"),
                        None,
                    )
                    .await;
                    let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if finished % 500 == 0 || finished == n {
                        progress(finished);
                    }
                }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.expect("session task");
        }
    }

    /// Every item of a paginated list at `path` (which carries its own filters).
    async fn all(&self, path: &str) -> Vec<Value> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_path = match &cursor {
                Some(after) => format!("{path}{separator}limit=100&starting_after={after}"),
                None => format!("{path}{separator}limit=100"),
            };
            let page = self.ok(reqwest::Method::GET, &page_path, None).await;
            items.extend(page["data"].as_array().expect("data array").iter().cloned());
            match page["pagination"]["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }

    /// The ids of all [`CANCELLED`] events of the key's tenant.
    pub async fn cancelled_event_ids(&self) -> HashSet<String> {
        self.all(&format!("/v1/events?type={CANCELLED}"))
            .await
            .iter()
            .map(|e| e["id"].as_str().expect("event id").to_owned())
            .collect()
    }

    /// Session id → id of its [`CANCELLED`] event, for every such event of the tenant.
    pub async fn cancelled_events_by_session(&self) -> HashMap<String, String> {
        self.all(&format!("/v1/events?type={CANCELLED}"))
            .await
            .iter()
            .map(|e| {
                let field = |name: &str| e[name].as_str().expect(name).to_owned();
                (field("session_id"), field("id"))
            })
            .collect()
    }

    /// How many deliveries are in `status`.
    pub async fn count_deliveries(&self, status: &str) -> usize {
        self.all(&format!("/v1/webhooks/deliveries?status={status}"))
            .await
            .len()
    }

    /// Whether any delivery is in `status` (one small page, cheap to poll).
    pub async fn any_delivery(&self, status: &str) -> bool {
        let page = self
            .ok(
                reqwest::Method::GET,
                &format!("/v1/webhooks/deliveries?status={status}&limit=1"),
                None,
            )
            .await;
        !page["data"].as_array().expect("data array").is_empty()
    }

    /// Waits until no delivery is `pending` (every attempt recorded), or panics after `within`.
    pub async fn wait_until_none_pending(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.any_delivery("pending").await {
            assert!(
                Instant::now() < deadline,
                "deliveries still pending after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The value of a counter in a Prometheus text exposition (`name{labels} value`), 0 if absent.
pub fn prometheus_counter(text: &str, name_and_labels: &str) -> u64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name_and_labels)?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0, |v| v as u64)
}

// ---- the receiver ------------------------------------------------------------------------------

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// `webhook-id` (the event id).
    pub id: String,
    /// Headers and body, when the sink keeps them.
    pub request: Option<(HeaderMap, Bytes)>,
}

struct SinkState {
    delay: Duration,
    keep_requests: bool,
    count: AtomicUsize,
    /// Requests received and not answered yet.
    in_flight: AtomicUsize,
    arrivals: Mutex<Vec<Arrival>>,
    body_len: AtomicUsize,
}

/// A loopback webhook receiver: records each delivery when it arrives, then answers `200`
/// after `delay` (zero: at once).
#[derive(Clone)]
pub struct Sink {
    pub url: String,
    state: Arc<SinkState>,
}

async fn receive(
    State(state): State<Arc<SinkState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state.body_len.store(body.len(), Ordering::Relaxed);
    let request = state.keep_requests.then_some((headers, body));
    state
        .arrivals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Arrival { id, request });
    state.in_flight.fetch_add(1, Ordering::AcqRel);
    state.count.fetch_add(1, Ordering::Release);
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    state.in_flight.fetch_sub(1, Ordering::AcqRel);
    StatusCode::OK
}

impl Sink {
    /// Starts on a free loopback port (inside a tokio runtime).
    pub async fn start(delay: Duration, keep_requests: bool) -> Self {
        let state = Arc::new(SinkState {
            delay,
            keep_requests,
            count: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            arrivals: Mutex::new(Vec::new()),
            body_len: AtomicUsize::new(0),
        });
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    /// Requests received so far (duplicates included).
    pub fn count(&self) -> usize {
        self.state.count.load(Ordering::Acquire)
    }

    /// Requests received whose answer is still being held back (`delay`).
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::Acquire)
    }

    /// Size of the last body received.
    pub fn body_len(&self) -> usize {
        self.state.body_len.load(Ordering::Relaxed)
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.state
            .arrivals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Distinct `webhook-id`s received so far.
    pub fn distinct_ids(&self) -> HashSet<String> {
        self.state
            .arrivals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|a| a.id.clone())
            .collect()
    }

    /// Waits until `count()` reaches `n`, polling every millisecond; `false` after `within`.
    pub async fn wait_for_count(&self, n: usize, within: Duration) -> bool {
        self.wait_until(within, || self.count() >= n).await
    }

    /// Waits until `count()` reaches `n` while a request is held open, so a kill right after
    /// lands mid-send; `false` after `within`.
    pub async fn wait_for_count_mid_send(&self, n: usize, within: Duration) -> bool {
        self.wait_until(within, || self.count() >= n && self.in_flight() > 0)
            .await
    }

    async fn wait_until(&self, within: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + within;
        while !done() {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        true
    }
}

/// A fresh 2048-bit receiver key pair: the private key and its public half as SPKI PEM.
pub fn receiver_key() -> (rsa::RsaPrivateKey, String) {
    use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let private = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("RSA key generation");
    let pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("SPKI PEM");
    (private, pem)
}
