//! Test harness (feature `testing`): the real application on `127.0.0.1:0` against a fresh
//! store — a SQLite file in a temporary directory, or a fresh PostgreSQL database created on the
//! server named by `IDGATE_TEST_DATABASE_URL` and dropped when the app is — with one
//! organization and an all-scopes key. API tests run every behaviour once per [`Backend`]
//! through [`on_each_backend`].
//!
//! The fixtures themselves (the fresh database, the loopback client, the webhook receiver) are
//! the workspace's one copy in `idgate-testkit`; this module is only the server-specific glue.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test support (feature `testing`): a failure here is the test failing"
)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use idgate_core::{
    ApiKey, Clock, Environment, OrgId, Organization, Scope, Scopes, SystemClock, Timestamp,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use idgate_testkit::postgres::FreshDatabase;

use crate::{App, AppState, Config};

/// A storage backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; PostgreSQL when `IDGATE_TEST_DATABASE_URL` is set (under CI it must be).
pub fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if idgate_testkit::postgres_url().is_some() {
        backends.push(Backend::Postgres);
    }
    backends
}

/// Runs `test` against a fresh app on every available backend, naming the backend on failure.
pub async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    on_each_backend_with(TestAppBuilder::default(), test).await;
}

/// [`on_each_backend`] with non-default settings.
pub async fn on_each_backend_with<F, Fut>(builder: TestAppBuilder, test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in backends() {
        eprintln!("--- backend: {backend:?}");
        let app = builder.clone().spawn(backend).await;
        test(app).await;
    }
}

/// A clock that follows the wall clock plus an adjustable offset, so tests can move past
/// `expires_at` without waiting.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset_ms: AtomicI64,
}

impl ShiftedClock {
    pub fn advance_secs(&self, secs: i64) {
        self.offset_ms
            .fetch_add(secs.saturating_mul(1000), Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        SystemClock
            .now()
            .plus_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

/// Settings of a test app.
#[derive(Clone)]
pub struct TestAppBuilder {
    rate_limit_per_second: u32,
    rate_limit_burst: u32,
    sweep_interval_ms: u64,
    allow_private_webhooks: bool,
    delivery: Option<crate::delivery::DeliverySettings>,
    clone_detection: idgate_verify::document::CloneDetection,
    face_engine: Option<Arc<dyn idgate_face::FaceEngine>>,
    sse_heartbeat_secs: u64,
    sse_max_streams_per_session: u32,
}

impl Default for TestAppBuilder {
    fn default() -> Self {
        // Generous limits: tests of other behaviours must never trip the limiter.
        Self {
            rate_limit_per_second: 10_000,
            rate_limit_burst: 10_000,
            sweep_interval_ms: 200,
            allow_private_webhooks: false,
            delivery: None,
            clone_detection: idgate_verify::document::CloneDetection::default(),
            face_engine: None,
            sse_heartbeat_secs: Config::default().sse_heartbeat_secs,
            sse_max_streams_per_session: Config::default().sse_max_streams_per_session,
        }
    }
}

impl TestAppBuilder {
    pub fn rate_limit(mut self, per_second: u32, burst: u32) -> Self {
        self.rate_limit_per_second = per_second;
        self.rate_limit_burst = burst;
        self
    }

    pub fn sweep_interval_ms(mut self, ms: u64) -> Self {
        self.sweep_interval_ms = ms;
        self
    }

    /// The operator's `--allow-private-webhooks` (plain http and loopback receivers).
    pub fn allow_private_webhooks(mut self, allow: bool) -> Self {
        self.allow_private_webhooks = allow;
        self
    }

    /// Runs the face checks on `engine` instead of the built-in one (a slow engine, for example).
    pub fn face_engine(mut self, engine: Arc<dyn idgate_face::FaceEngine>) -> Self {
        self.face_engine = Some(engine);
        self
    }

    /// The operator's `clone_detection` policy.
    pub fn clone_detection(mut self, policy: idgate_verify::document::CloneDetection) -> Self {
        self.clone_detection = policy;
        self
    }

    /// Runs the delivery worker with these settings (without this call the worker is off).
    pub fn delivery(mut self, settings: crate::delivery::DeliverySettings) -> Self {
        self.delivery = Some(settings);
        self
    }

    /// The status streams' heartbeat (`sse_heartbeat_secs`) and per-session bound
    /// (`sse_max_streams_per_session`).
    pub fn status_streams(mut self, heartbeat_secs: u64, max_per_session: u32) -> Self {
        self.sse_heartbeat_secs = heartbeat_secs;
        self.sse_max_streams_per_session = max_per_session;
        self
    }

    pub async fn spawn(self, backend: Backend) -> TestApp {
        let dir = tempfile::tempdir().expect("temporary data directory");
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let server = idgate_testkit::postgres_url().expect(
                    "the PostgreSQL backend runs only when IDGATE_TEST_DATABASE_URL is set",
                );
                Some(FreshDatabase::create(&server, "idgate_test"))
            }
        };
        // The test faces are photographs: they can turn their head, not blink (see
        // `idgate_face::testkit::turn_policy`), so live-mode sessions of tests draw turns only.
        let face_config = dir.path().join("face.toml");
        std::fs::write(
            &face_config,
            "[challenge]\nmin_actions = 2\nmax_actions = 2\nallowed = [\"turn_left\", \"turn_right\"]\n",
        )
        .expect("face configuration written");
        let config = Config {
            face_config: Some(face_config),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: dir.path().to_owned(),
            database_url: database.as_ref().map(|db| db.url().to_owned()),
            rate_limit_per_second: self.rate_limit_per_second,
            rate_limit_burst: self.rate_limit_burst,
            sweep_interval_ms: self.sweep_interval_ms,
            allow_private_webhooks: self.allow_private_webhooks,
            clone_detection: self.clone_detection,
            test_faces_dir: Some(test_photos_dir()),
            sse_heartbeat_secs: self.sse_heartbeat_secs,
            sse_max_streams_per_session: self.sse_max_streams_per_session,
            ..Config::default()
        };
        let clock = Arc::new(ShiftedClock::default());
        let mut node = Node::start(
            &config,
            clock.clone(),
            self.delivery.clone(),
            self.face_engine.clone(),
        )
        .await;
        let state = node.state.clone();
        let org = create_org(&state, "Test organization").await;
        let key = create_key(&state, &org, Environment::Live, Scopes::all()).await;
        TestApp {
            backend,
            base_url: node.base_url.clone(),
            client: idgate_testkit::http::client(),
            org,
            key,
            state,
            clock,
            stop: node.stop.take(),
            server: node.server.take(),
            config,
            delivery: self.delivery,
            face_engine: self.face_engine,
            _dir: dir,
            _database: database,
        }
    }
}

/// The test photos where the tests' `TestFaces::load_default` finds them, so the server's
/// simulations use the same ones: `$IDGATE_FACE_MODELS/photos`, else the workspace's
/// `.face-models/photos` (a test's working directory is its crate, not the workspace).
fn test_photos_dir() -> std::path::PathBuf {
    match std::env::var_os(idgate_face::models::MODELS_ENV) {
        Some(dir) => std::path::PathBuf::from(dir).join("photos"),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(idgate_face::models::DEFAULT_MODELS_DIR)
            .join("photos"),
    }
}

/// A running app with one organization and an all-scopes live key.
pub struct TestApp {
    pub backend: Backend,
    pub base_url: String,
    pub client: reqwest::Client,
    pub org: OrgId,
    /// Plaintext of an all-scopes live key of [`TestApp::org`].
    pub key: String,
    pub state: AppState,
    pub clock: Arc<ShiftedClock>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    config: Config,
    delivery: Option<crate::delivery::DeliverySettings>,
    face_engine: Option<Arc<dyn idgate_face::FaceEngine>>,
    _dir: tempfile::TempDir,
    /// Dropped after the server is told to stop (fields drop in order), which ends its
    /// connections and removes the database.
    _database: Option<FreshDatabase>,
}

/// One running server process's worth of application: what [`TestApp`] and
/// [`TestApp::second_node`] start.
pub struct Node {
    pub base_url: String,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl Node {
    async fn start(
        config: &Config,
        clock: Arc<ShiftedClock>,
        delivery: Option<crate::delivery::DeliverySettings>,
        face_engine: Option<Arc<dyn idgate_face::FaceEngine>>,
    ) -> Self {
        let mut app = App::build(config)
            .await
            .expect("app starts")
            .with_clock(clock);
        if let Some(engine) = face_engine {
            let current = app.state().verification.clone();
            app = app.with_verification(crate::verification::Verification::new(
                current.policy,
                current.face.clone(),
                engine,
            ));
        }
        // The delivery worker runs in tests that ask for it (`delivery(…)`), so tests of other
        // behaviours see deliveries exactly as the store wrote them.
        let app = match delivery {
            Some(settings) => app.with_delivery_settings(settings),
            None => app.without_delivery_worker(),
        };
        let addr = app.local_addr();
        let state = app.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run(async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        Self {
            base_url: idgate_testkit::http::base_url(addr),
            state,
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Stops this node gracefully and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task ends cleanly");
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestApp {
    /// A second server process on the same database and secrets (docs/operations.md "Several
    /// nodes"), with the same clock and settings.
    pub async fn second_node(&self) -> Node {
        Node::start(
            &self.config,
            self.clock.clone(),
            self.delivery.clone(),
            self.face_engine.clone(),
        )
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The data directory (secrets, and the SQLite database on that backend).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// The Prometheus text this app serves at `/metrics`.
    ///
    /// # Panics
    /// When the app does not answer: the test fails.
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// A request with the default key.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.key)
    }

    /// A request with another key.
    pub fn request_as(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(key)
    }

    /// A new key of the test organization with exactly `scopes`.
    pub async fn key_with(&self, scopes: &[Scope], environment: Environment) -> String {
        let scopes = Scopes::new(scopes.iter().copied()).expect("at least one scope");
        create_key(&self.state, &self.org, environment, scopes).await
    }

    /// Another organization with an all-scopes key, to test tenant isolation.
    pub async fn other_org_key(&self) -> String {
        let org = create_org(&self.state, "Other organization").await;
        create_key(&self.state, &org, Environment::Live, Scopes::all()).await
    }

    /// The events stored for a session of the test organization, oldest first.
    pub async fn session_events(
        &self,
        session_id: &idgate_core::SessionId,
    ) -> idgate_store::StoreResult<Vec<idgate_core::Event>> {
        let tenant = idgate_core::Tenant {
            org_id: self.org.clone(),
            environment: Environment::Live,
        };
        self.state
            .store
            .list_session_events(&tenant, session_id)
            .await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task ends cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn create_org(state: &AppState, name: &str) -> OrgId {
    let org = Organization::new(name, state.clock.now()).expect("valid organization");
    state
        .store
        .create_organization(&org)
        .await
        .expect("organization stored");
    org.id
}

async fn create_key(
    state: &AppState,
    org: &OrgId,
    environment: Environment,
    scopes: Scopes,
) -> String {
    let (key, secret) = ApiKey::generate(org, "Test key", environment, scopes, state.clock.now())
        .expect("valid key");
    state
        .store
        .create_api_key(&key, &secret.hash(state.secrets.api_key_hash.expose()))
        .await
        .expect("key stored");
    secret.expose().to_owned()
}
