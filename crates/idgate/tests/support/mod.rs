//! Glue of the tests that run the built `idgate serve` (and of the webhook delivery benchmark,
//! which includes this file by path): a server process that can be SIGKILLed and a small client
//! of the integrator API. The fixtures every crate shares — a fresh PostgreSQL database per test,
//! a private cluster to kill, the loopback webhook receiver, the receiver key pair, the HTTP
//! client — are `idgate_testkit`'s, re-exported here.
//!
//! Each user takes only part of it, hence the `dead_code` and `unused_imports` allowances.
#![allow(dead_code, unused_imports)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use idgate_testkit::http::client as http_client;
pub use idgate_testkit::keys::receiver_key;
pub use idgate_testkit::postgres::{FreshDatabase, PrivatePostgres};
pub use idgate_testkit::postgres_url;
pub use idgate_testkit::receiver::Sink;
use serde_json::{Value, json};

pub mod flow;

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

    /// [`Node::start`] logging at debug level, in JSON, to the file `log` (a test reads it).
    pub fn start_logging(data_dir: &Path, env: &[(&str, String)], log: &Path) -> Self {
        let file = std::fs::File::create(log).expect("log file");
        Self::spawn(
            Path::new(BIN),
            data_dir,
            None,
            env,
            Stdio::from(file),
            "debug",
        )
    }

    /// [`Node::start`] with another build of `idgate` (a benchmark comparing two versions).
    pub fn start_binary(
        binary: &Path,
        data_dir: &Path,
        database_url: Option<&str>,
        env: &[(&str, String)],
    ) -> Self {
        // Warnings (lease lost, claim failures) show in the test's output.
        Self::spawn(
            binary,
            data_dir,
            database_url,
            env,
            Stdio::inherit(),
            "warn",
        )
    }

    fn spawn(
        binary: &Path,
        data_dir: &Path,
        database_url: Option<&str>,
        env: &[(&str, String)],
        stderr: Stdio,
        log_level: &str,
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
            .env("RUST_LOG", log_level)
            .env("IDGATE_RATE_LIMIT_PER_SECOND", "1000000")
            .env("IDGATE_RATE_LIMIT_BURST", "1000000")
            .env("IDGATE_REQUEST_QUEUE_TIMEOUT_MS", "60000")
            .env_remove("IDGATE_CONFIG")
            .stdout(Stdio::piped())
            .stderr(stderr);
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

// ---- the integrator API ------------------------------------------------------------------------

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
            base: idgate_testkit::http::base_url(addr),
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
