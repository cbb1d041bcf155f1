//! Building and running the application: the router with its layers, the listener, the
//! background tasks and graceful shutdown (stop accepting, finish in-flight requests, stop tasks).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, header};
use axum::middleware::{from_fn, from_fn_with_state};
use idgate_core::{Clock, SystemClock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Config;
use crate::error::DocsBase;
use crate::extract::MAX_BODY_BYTES;
use crate::limits::{ConnectionLimits, RequestLimits, buffer_body, descriptor_limit, shed_load};
use crate::middleware::{catch_panic, finish_error_bodies};
use crate::rate_limit::KeyRateLimiter;
use crate::secrets::{SecretsError, ServerSecrets};
use crate::state::{AppServices, AppState, SharedStore};
use crate::telemetry::{metrics_handle, record_request_metrics};
use crate::{data_dir, openapi, sweeper};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("cannot create or check the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create or restrict the database file {path}: {source}")]
    DatabaseFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Store(#[source] idgate_store::StoreError),
    /// The face settings or engine could not be loaded (`face_config`).
    #[error("cannot load the face engine: {0}")]
    Face(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A configured, bound, not yet serving application.
pub struct App {
    state: AppState,
    listener: TcpListener,
    local_addr: SocketAddr,
    sweep_interval: Duration,
    delivery: crate::delivery::DeliverySettings,
    /// Off only in tests of other behaviours that inspect deliveries without a worker racing them.
    run_delivery_worker: bool,
    /// Deadlines, the connection bound and load shedding ([`crate::limits`]).
    limits: ConnectionLimits,
}

impl App {
    /// Checks (or creates) the data directory, loads (or creates) the secrets, opens and
    /// migrates the store, and binds the listener.
    pub async fn build(config: &Config) -> Result<Self, StartError> {
        data_dir::prepare(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let secrets = ServerSecrets::load_or_create(&config.data_dir)?;
        let store = open_store(config).await?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let public_url = config.effective_public_url(local_addr);
        let docs_base = config.effective_docs_base_url(&public_url);
        let state = AppState::new(AppServices {
            store,
            secrets: Arc::new(secrets),
            limiter: Arc::new(KeyRateLimiter::new(
                config.rate_limit_per_second,
                config.rate_limit_burst,
            )),
            clock: Arc::new(SystemClock),
            public_url: public_url.into(),
            self_url: self_url(local_addr).into(),
            docs_base: DocsBase(docs_base.into()),
            metrics: metrics_handle(),
            allow_private_webhooks: config.allow_private_webhooks,
            verification: Arc::new(verification(config)?),
            simulations: Arc::new(crate::simulation::Simulations::new(
                idgate_phone::device::photos_dir(config.test_faces_dir.clone()),
            )),
            status_hub: crate::status_hub::StatusHub::new(config.stream_settings()),
        });
        Ok(Self {
            state,
            listener,
            local_addr,
            sweep_interval: Duration::from_millis(config.sweep_interval_ms),
            delivery: config.delivery_settings(),
            run_delivery_worker: true,
            limits: config.connection_limits(descriptor_limit()),
        })
    }

    /// Replaces the clock (tests drive expiry with a controllable clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.state.store.use_clock(clock.clone());
        self.state.services_mut().clock = clock;
        self
    }

    /// Replaces the end-user flow's services (tests run the face checks on their own engine).
    pub fn with_verification(mut self, verification: crate::verification::Verification) -> Self {
        self.state.services_mut().verification = Arc::new(verification);
        self
    }

    /// Replaces the delivery worker's settings (tests shorten polls and retries).
    pub fn with_delivery_settings(mut self, settings: crate::delivery::DeliverySettings) -> Self {
        self.delivery = settings;
        self
    }

    /// Runs without the delivery worker: deliveries stay as the store left them (tests of the
    /// management API observe statuses without a worker changing them underneath).
    pub fn without_delivery_worker(mut self) -> Self {
        self.run_delivery_worker = false;
        self
    }

    /// The address actually bound (meaningful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The HTTP limits in effect (the connection bound resolved from the descriptor limit).
    pub fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    /// Serves until `shutdown` completes, then ends the status streams, stops accepting, lets
    /// in-flight requests finish and stops the sweeper before returning.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tasks, stop_rx) = watch::channel(false);
        let sweeper = tokio::spawn(sweeper::run(
            self.state.store.clone(),
            self.state.clock.clone(),
            self.state.limiter.clone(),
            self.sweep_interval,
            stop_rx.clone(),
        ));
        // The status streams' one subscription, taken before serving so that no stream opened
        // afterwards misses an announcement. Without it streams still see every change, at
        // their next heartbeat.
        let status_hub = self.state.status_hub.clone();
        match self.state.store.subscribe().await {
            Ok(changes) => {
                tokio::spawn(status_hub.clone().run(changes, stop_rx.clone()));
            }
            Err(error) => tracing::error!(
                %error,
                "cannot subscribe to committed changes; status streams fall back to their heartbeat re-read"
            ),
        }
        // Streams end when shutdown starts, not at the drain timeout: an open stream is a
        // request in flight that would otherwise never finish.
        let shutdown = async move {
            shutdown.await;
            status_hub.close();
        };
        let delivery = if self.run_delivery_worker {
            tokio::spawn(crate::delivery::run(
                self.state.clone(),
                self.delivery,
                stop_rx,
            ))
        } else {
            tokio::spawn(async { Ok(()) })
        };
        let docs_base = self.state.docs_base.0.clone();
        // The test-mode simulations stop when shutdown begins: their calls to this node would
        // be refused from then on anyway.
        let simulations = self.state.simulations.clone();
        let shutdown = async move {
            shutdown.await;
            simulations.stop();
        };
        let request_limits = RequestLimits::new(&self.limits, docs_base.clone());
        // Outermost first: the body is in before the request competes for a slot.
        let router = build_router(self.state)
            .layer(from_fn_with_state(request_limits.clone(), shed_load))
            .layer(from_fn_with_state(request_limits, buffer_body));
        let served =
            crate::listener::serve(self.listener, router, self.limits, &docs_base, shutdown).await;
        let _ = stop_tasks.send(true);
        if let Err(error) = sweeper.await {
            tracing::warn!(%error, "expiry sweeper ended abnormally");
        }
        match delivery.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "webhook delivery worker could not start"),
            Err(error) => tracing::warn!(%error, "webhook delivery worker ended abnormally"),
        }
        served
    }
}

/// Builds, binds and serves `config` until `shutdown` completes.
pub async fn serve(
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    tracing::info!(addr = %app.local_addr(), "listening");
    app.run(shutdown).await?;
    Ok(())
}

/// Where this node reaches its own API: the bound address, a wildcard one (`0.0.0.0`, `::`) as the
/// loopback address of its family, which every host can connect to.
fn self_url(bound: SocketAddr) -> String {
    let mut addr = bound;
    if addr.ip().is_unspecified() {
        let loopback: std::net::IpAddr = match bound {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        addr.set_ip(loopback);
    }
    format!("http://{addr}")
}

/// The end-user flow's services: the document policy from the configuration, and the face
/// settings from `face_config` (default: the built-in engine on its embedded weights).
fn verification(config: &Config) -> Result<crate::verification::Verification, StartError> {
    let face = match &config.face_config {
        None => idgate_face::FaceConfig::default(),
        Some(path) => figment::Figment::from(
            <figment::providers::Toml as figment::providers::Format>::file_exact(path),
        )
        .extract()
        .map_err(|e| StartError::Face(e.to_string()))?,
    };
    let engine = idgate_face::load_engine(&face).map_err(|e| StartError::Face(e.to_string()))?;
    Ok(crate::verification::Verification::new(
        idgate_verify::document::DocumentPolicy {
            clone_detection: config.clone_detection,
            allow_expired_documents: config.allow_expired_documents,
        },
        face,
        engine,
    ))
}

/// Opens the configured store and brings its schema up to date. A SQLite database file is
/// created owner-only first (and the data directory with it), see [`data_dir`].
pub async fn open_store(config: &Config) -> Result<SharedStore, StartError> {
    let url = config.effective_database_url();
    if let Some(file) = data_dir::sqlite_file(&url) {
        data_dir::ensure(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        data_dir::prepare_sqlite_files(&file)
            .map_err(|source| StartError::DatabaseFile { path: file, source })?;
    }
    // Connecting runs the migrations of the backend.
    let store = idgate_store::Store::connect(&url)
        .await
        .map_err(StartError::Store)?;
    Ok(Arc::new(store))
}

/// The full router with every layer; the state carries everything handlers need.
pub fn build_router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    // Every route comes with its OpenAPI documentation (see `openapi`).
    let (api, document) = openapi::split();
    let api = api.with_state(state.clone());
    Router::new()
        .merge(api)
        // The hosted page is for people, not integrators: HTML, outside the OpenAPI document.
        .merge(crate::page::router().with_state(state.clone()))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        // Unknown routes and axum's own 405 (which keeps its `Allow` header) get their
        // envelope from `finish_error_bodies`.
        .fallback(|| async { axum::http::StatusCode::NOT_FOUND })
        // Innermost first: panics become responses before metrics and logs see them.
        .layer(from_fn(catch_panic))
        .layer(from_fn(record_request_metrics))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
            let route = request
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or("unmatched", |path| path.as_str());
            tracing::info_span!("request", request_id = %id, method = %request.method(), route = %route)
        })
        .on_response(DefaultOnResponse::new().level(Level::INFO)))
        .layer(from_fn_with_state(state.docs_base.clone(), finish_error_bodies))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn the_node_reaches_itself_on_loopback_when_bound_to_every_address() {
        let url = |addr: &str| self_url(addr.parse().expect("address"));
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080");
        assert_eq!(url("[::]:8080"), "http://[::1]:8080");
        assert_eq!(url("10.1.2.3:9000"), "http://10.1.2.3:9000");
        assert_eq!(url("[fd00::7]:9000"), "http://[fd00::7]:9000");
    }

    #[tokio::test]
    async fn first_start_creates_an_owner_only_data_directory_and_database() {
        let parent = tempfile::tempdir().expect("tempdir");
        let config = Config {
            data_dir: parent.path().join("idgate-data"),
            listen: "127.0.0.1:0".parse().expect("address"),
            ..Config::default()
        };
        let app = App::build(&config).await.expect("built");
        assert_eq!(mode(&config.data_dir), 0o700, "data directory");
        let db = config.data_dir.join("idgate.db");
        assert_eq!(mode(&db), 0o600, "database file");
        // WAL mode: the migrations leave a -wal (and -shm) beside the database while it is open.
        for companion in ["idgate.db-wal", "idgate.db-shm"] {
            let path = config.data_dir.join(companion);
            if path.exists() {
                assert_eq!(mode(&path), 0o600, "{companion}");
            }
        }
        drop(app);
    }
}
