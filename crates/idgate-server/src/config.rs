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
const ENV_KEYS: [&str; 10] = [
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
    /// private, link-local or unique-local ranges (webhooks.md, Security). Off by default: only
    /// for local development and tests, where the receiver runs on this machine.
    pub allow_private_webhooks: bool,
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
