//! Server configuration: built-in defaults, then an optional TOML file, then `IDGATE_*`
//! environment variables (figment), so one binary runs unchanged on a laptop and in a cluster.
//!
//! This module owns the shape and defaults of the configuration and where each value may come
//! from; it does not open files other than the TOML file, and it holds no secrets (those live in
//! the data directory, see [`crate::secrets`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Environment variables read by [`Config::load`], each `IDGATE_` + the upper-cased key.
/// Listed explicitly so unrelated `IDGATE_*` variables (for example `IDGATE_TEST_DATABASE_URL`)
/// are not mistaken for configuration.
const ENV_KEYS: [&str; 31] = [
    "listen",
    "data_dir",
    "database_url",
    "public_url",
    "docs_base_url",
    "rate_limit_per_second",
    "rate_limit_burst",
    "sweep_interval_ms",
    "log_format",
    "allow_private_webhooks",
    "webhook_concurrency",
    "webhook_per_endpoint_concurrency",
    "webhook_poll_interval_ms",
    "webhook_lease_secs",
    "webhook_retry_base_ms",
    "webhook_retry_max_delay_secs",
    "webhook_retention_days",
    "header_read_timeout_ms",
    "keep_alive_timeout_ms",
    "request_body_timeout_ms",
    "handler_timeout_ms",
    "max_connections",
    "max_concurrent_requests",
    "request_queue_timeout_ms",
    "clone_detection",
    "allow_expired_documents",
    "face_config",
    "test_faces_dir",
    "sse_heartbeat_secs",
    "sse_max_streams_per_session",
    "sse_max_streams",
];

/// The effective configuration of one server process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP listener binds to; port 0 picks a free port (the bound address is printed).
    pub listen: SocketAddr,
    /// Directory holding the SQLite database (unless `database_url` points elsewhere) and the
    /// generated server secrets.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to `sqlite://<data_dir>/idgate.db`.
    pub database_url: Option<String>,
    /// Externally visible base URL, used in `verification_url`; defaults to `http://<bound address>`.
    pub public_url: Option<String>,
    /// Base of the `docs` links in error bodies; defaults to `<public_url>/docs`.
    pub docs_base_url: Option<String>,
    /// Sustained requests per second allowed per API key.
    pub rate_limit_per_second: u32,
    /// Requests per API key allowed in a burst above the sustained rate.
    pub rate_limit_burst: u32,
    /// How often the expiry sweeper runs, in milliseconds.
    pub sweep_interval_ms: u64,
    /// `json` (default, for log shippers) or `pretty` (for a terminal).
    pub log_format: LogFormat,
    /// Lets webhook endpoints use plain `http` URLs and addresses that resolve to loopback,
    /// private, link-local or unique-local ranges (docs/webhooks.md "SSRF guard"). Off by default:
    /// only for local development and tests, where the receiver runs on this machine.
    pub allow_private_webhooks: bool,
    /// Webhook sends in flight at once in this node (docs/webhooks.md "Delivery guarantees":
    /// default 64).
    pub webhook_concurrency: u32,
    /// Webhook sends in flight at once to one endpoint, so one slow receiver cannot take every slot.
    pub webhook_per_endpoint_concurrency: u32,
    /// Fallback poll of the delivery worker (retries, other nodes' events), in milliseconds;
    /// first attempts do not wait for it (a commit wakes the worker).
    pub webhook_poll_interval_ms: u64,
    /// How long a claimed delivery is exclusive to one worker; at least 25 s
    /// ([`crate::delivery::MIN_LEASE`]: the 15 s request timeout, a 5 s margin and 5 s of
    /// queueing), so a lease never runs out mid-send. A crashed node's deliveries are re-sent
    /// after at most this long.
    pub webhook_lease_secs: u64,
    /// Ceiling of the first retry delay (full jitter, doubling per attempt), in milliseconds.
    pub webhook_retry_base_ms: u64,
    /// Longest delay between two attempts, in seconds (default 10 h).
    pub webhook_retry_max_delay_secs: u64,
    /// Days an event's payload is kept once all its deliveries are final.
    pub webhook_retention_days: u32,
    /// Time a client has to send a complete request head, counted from the connection being
    /// accepted or the first byte of a later request; then `408` and the connection is closed.
    pub header_read_timeout_ms: u64,
    /// How long a keep-alive connection may sit idle between requests before it is closed.
    pub keep_alive_timeout_ms: u64,
    /// Time a client has to send a whole request body, counted from the end of its head;
    /// then `408 REQUEST_TIMEOUT` and the connection is closed.
    pub request_body_timeout_ms: u64,
    /// Time a handler has to produce its response head; then `503 HANDLER_TIMEOUT`. Streamed
    /// bodies (an event stream) are not cut by it.
    pub handler_timeout_ms: u64,
    /// Connections held open at once; past it new connections get `503 OVERLOADED` and are
    /// closed. Unset: the process's descriptor limit minus a reserve (see [`crate::limits`]).
    pub max_connections: Option<u32>,
    /// Requests handled at once; more wait up to `request_queue_timeout_ms` for a slot, then
    /// get `503 OVERLOADED` with `Retry-After`. `/healthz`, `/readyz` and `/metrics` are exempt.
    pub max_concurrent_requests: u32,
    /// Longest a request may have been in the server (since its head, or its body's last
    /// bytes, arrived) when its handler starts; an older one, or one still without a slot by
    /// then, is shed. 0: a request gets a free slot at once or is shed.
    pub request_queue_timeout_ms: u64,
    /// Whether a document must prove it is not a clone (docs/verify.md "Document checks", 5):
    /// `required`, `when_supported` (default) or `off`.
    pub clone_detection: idgate_verify::document::CloneDetection,
    /// Accept documents past their expiry date (default false: `document_data_invalid`).
    pub allow_expired_documents: bool,
    /// A TOML file with the face settings (engine, match threshold, challenge and liveness
    /// policies; docs/face-engine.md). Unset: the built-in engine on its embedded weights with
    /// the default thresholds.
    pub face_config: Option<PathBuf>,
    /// The test photos of `scripts/fetch-face-models.sh`, which the hosted page's simulated
    /// passports of test-mode sessions show to the camera (docs/verify.md "Test passports and the
    /// simulator"). Unset: `$IDGATE_FACE_MODELS/photos`, else `./.face-models/photos`. Read when a
    /// simulation first needs them; without them only the document outcomes can be simulated.
    pub test_faces_dir: Option<PathBuf>,
    /// Seconds between two heartbeat comments of a session's status stream (docs/verify.md
    /// "Status stream"). Each heartbeat also re-reads the status, the fallback for a change whose
    /// announcement this node missed (another process on SQLite, a dropped `LISTEN`), and keeps
    /// proxies from closing a quiet stream.
    pub sse_heartbeat_secs: u64,
    /// Status streams one session may have open on this node; more are refused with
    /// `429 TOO_MANY_STREAMS`. A person has one page open, perhaps a few tabs.
    pub sse_max_streams_per_session: u32,
    /// Status streams this node keeps open at once (each holds a connection, a task and a few
    /// KiB); more are refused with `429 TOO_MANY_STREAMS`.
    pub sse_max_streams: u32,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./idgate-data"),
            database_url: None,
            public_url: None,
            docs_base_url: None,
            rate_limit_per_second: 50,
            rate_limit_burst: 100,
            sweep_interval_ms: 1000,
            log_format: LogFormat::Json,
            allow_private_webhooks: false,
            webhook_concurrency: 64,
            webhook_per_endpoint_concurrency: 8,
            webhook_poll_interval_ms: 1000,
            webhook_lease_secs: 60,
            webhook_retry_base_ms: 5000,
            webhook_retry_max_delay_secs: 10 * 3600,
            webhook_retention_days: 7,
            header_read_timeout_ms: 10_000,
            keep_alive_timeout_ms: 30_000,
            request_body_timeout_ms: 20_000,
            handler_timeout_ms: 30_000,
            clone_detection: idgate_verify::document::CloneDetection::default(),
            allow_expired_documents: false,
            face_config: None,
            test_faces_dir: None,
            max_connections: None,
            max_concurrent_requests: 256,
            request_queue_timeout_ms: 100,
            sse_heartbeat_secs: 15,
            sse_max_streams_per_session: 8,
            sse_max_streams: 10_000,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    #[error("invalid configuration: `{field}` {reason}")]
    Rule {
        field: &'static str,
        reason: &'static str,
    },
}

impl Config {
    /// Layers defaults, the TOML file at `file` (if given; it must exist) and the `IDGATE_*`
    /// environment, then checks the rules serde cannot express.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed("IDGATE_").only(&ENV_KEYS));
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.rate_limit_per_second == 0 {
            return Err(ConfigError::Rule {
                field: "rate_limit_per_second",
                reason: "must be at least 1",
            });
        }
        if self.rate_limit_burst == 0 {
            return Err(ConfigError::Rule {
                field: "rate_limit_burst",
                reason: "must be at least 1",
            });
        }
        if self.sweep_interval_ms == 0 {
            return Err(ConfigError::Rule {
                field: "sweep_interval_ms",
                reason: "must be at least 1",
            });
        }
        let webhook_rules: [(&'static str, bool, &'static str); 7] = [
            (
                "webhook_concurrency",
                (1..=4096).contains(&self.webhook_concurrency),
                "must be between 1 and 4096",
            ),
            (
                "webhook_per_endpoint_concurrency",
                (1..=self.webhook_concurrency.max(1))
                    .contains(&self.webhook_per_endpoint_concurrency),
                "must be between 1 and webhook_concurrency",
            ),
            (
                "webhook_poll_interval_ms",
                (1..=1000).contains(&self.webhook_poll_interval_ms),
                "must be between 1 and 1000",
            ),
            (
                "webhook_lease_secs",
                (crate::delivery::MIN_LEASE.as_secs()..=3600).contains(&self.webhook_lease_secs),
                "must be between 25 and 3600",
            ),
            (
                "webhook_retry_base_ms",
                (100..=3_600_000).contains(&self.webhook_retry_base_ms),
                "must be between 100 and 3600000",
            ),
            (
                "webhook_retry_max_delay_secs",
                (1..=86_400).contains(&self.webhook_retry_max_delay_secs),
                "must be between 1 and 86400",
            ),
            (
                "webhook_retention_days",
                (1..=3650).contains(&self.webhook_retention_days),
                "must be between 1 and 3650",
            ),
        ];
        for (field, ok, reason) in webhook_rules {
            if !ok {
                return Err(ConfigError::Rule { field, reason });
            }
        }
        let connection_rules: [(&'static str, bool, &'static str); 7] = [
            (
                "header_read_timeout_ms",
                (10..=600_000).contains(&self.header_read_timeout_ms),
                "must be between 10 and 600000",
            ),
            (
                "keep_alive_timeout_ms",
                (10..=3_600_000).contains(&self.keep_alive_timeout_ms),
                "must be between 10 and 3600000",
            ),
            (
                "request_body_timeout_ms",
                (10..=3_600_000).contains(&self.request_body_timeout_ms),
                "must be between 10 and 3600000",
            ),
            (
                "handler_timeout_ms",
                (10..=3_600_000).contains(&self.handler_timeout_ms),
                "must be between 10 and 3600000",
            ),
            (
                "max_connections",
                self.max_connections
                    .is_none_or(|max| (1..=1_000_000).contains(&max)),
                "must be between 1 and 1000000",
            ),
            (
                "max_concurrent_requests",
                (1..=100_000).contains(&self.max_concurrent_requests),
                "must be between 1 and 100000",
            ),
            (
                "request_queue_timeout_ms",
                self.request_queue_timeout_ms <= 60_000,
                "must be at most 60000",
            ),
        ];
        for (field, ok, reason) in connection_rules {
            if !ok {
                return Err(ConfigError::Rule { field, reason });
            }
        }
        let stream_rules: [(&'static str, bool, &'static str); 3] = [
            (
                "sse_heartbeat_secs",
                (1..=300).contains(&self.sse_heartbeat_secs),
                "must be between 1 and 300",
            ),
            (
                "sse_max_streams_per_session",
                (1..=1000).contains(&self.sse_max_streams_per_session),
                "must be between 1 and 1000",
            ),
            (
                "sse_max_streams",
                (1..=1_000_000).contains(&self.sse_max_streams),
                "must be between 1 and 1000000",
            ),
        ];
        for (field, ok, reason) in stream_rules {
            if !ok {
                return Err(ConfigError::Rule { field, reason });
            }
        }
        for (field, value) in [
            ("public_url", &self.public_url),
            ("docs_base_url", &self.docs_base_url),
        ] {
            if let Some(url) = value
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(ConfigError::Rule {
                    field,
                    reason: "must be an http(s) URL",
                });
            }
        }
        Ok(())
    }

    /// The delivery worker's settings (docs/webhooks.md "Delivery guarantees"); the 3-day retry
    /// window is fixed (docs/operations.md "Configuration").
    pub fn delivery_settings(&self) -> crate::delivery::DeliverySettings {
        use std::time::Duration;
        let defaults = crate::delivery::DeliverySettings::default();
        crate::delivery::DeliverySettings {
            concurrency: self.webhook_concurrency as usize,
            per_endpoint_concurrency: self.webhook_per_endpoint_concurrency as usize,
            poll_interval: Duration::from_millis(self.webhook_poll_interval_ms),
            lease: Duration::from_secs(self.webhook_lease_secs),
            retry: idgate_webhook::backoff::RetrySchedule {
                base: Duration::from_millis(self.webhook_retry_base_ms),
                cap: Duration::from_secs(self.webhook_retry_max_delay_secs),
                ..defaults.retry
            },
            retention: Duration::from_secs(u64::from(self.webhook_retention_days) * 24 * 3600),
        }
    }

    /// The connection limits in effect; `max_connections` unset is derived from `fd_limit`, the
    /// process's current descriptor limit (`None` when it is unlimited or unknown).
    pub fn connection_limits(&self, fd_limit: Option<u64>) -> crate::limits::ConnectionLimits {
        use std::time::Duration;
        crate::limits::ConnectionLimits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            keep_alive_timeout: Duration::from_millis(self.keep_alive_timeout_ms),
            request_body_timeout: Duration::from_millis(self.request_body_timeout_ms),
            handler_timeout: Duration::from_millis(self.handler_timeout_ms),
            max_connections: self.max_connections.map_or_else(
                || crate::limits::default_max_connections(fd_limit),
                |max| max as usize,
            ),
            max_concurrent_requests: self.max_concurrent_requests as usize,
            request_queue_timeout: Duration::from_millis(self.request_queue_timeout_ms),
        }
    }

    /// The bounds and heartbeat of the session status streams (docs/verify.md "Status stream").
    pub fn stream_settings(&self) -> crate::status_hub::StreamSettings {
        crate::status_hub::StreamSettings {
            heartbeat: std::time::Duration::from_secs(self.sse_heartbeat_secs),
            max_per_session: self.sse_max_streams_per_session as usize,
            max_streams: self.sse_max_streams as usize,
        }
    }

    /// The database URL in effect: the configured one, else SQLite in the data directory.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("idgate.db").display()),
        }
    }

    /// The public base URL once the listener is bound (without a trailing slash).
    pub fn effective_public_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }

    /// The base of error `docs` links (without a trailing slash).
    pub fn effective_docs_base_url(&self, public_url: &str) -> String {
        match &self.docs_base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("{public_url}/docs"),
        }
    }
}

#[cfg(test)]
#[path = "config_test.rs"]
mod tests;
