//! The face section of the server configuration ([`FaceConfig`]) and the engine it selects
//! ([`load_engine`]).
//!
//! Deserialised by the server's figment stack (defaults, TOML file, environment), so every field
//! has a default and unknown keys are refused: a typo in a threshold must not silently fall back
//! to the default. Example (TOML):
//!
//! ```toml
//! [face]
//! match_threshold = 0.5
//! engine = { kind = "http", url = "https://matcher.internal:8443", timeout_ms = 3000, token = "…" }
//! [face.challenge]
//! max_actions = 3
//! [face.liveness]
//! identity_max_distance = 0.55
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::challenge::ChallengePolicy;
use crate::http_engine::{ApiToken, HttpEngine};
use crate::liveness::LivenessPolicy;
use crate::{BuiltinEngine, FaceEngine, FaceError, Similarity, models};

/// Default largest L2 distance between the selfie and the passport portrait for a match.
/// docs/face-engine.md "Match threshold": at 0.5 no false reject among 16 same-person pairs and no
/// false accept among 418 different-person pairs with usable faces; suggested range 0.5–0.55.
pub const DEFAULT_MATCH_THRESHOLD: f32 = 0.5;

/// Default timeout of one call to an external matcher.
pub const DEFAULT_HTTP_TIMEOUT_MS: u64 = 5_000;

/// Which engine detects and embeds faces.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EngineConfig {
    /// The in-process engine on the face-api weights.
    Builtin {
        /// Directory holding the six weight files ([`models::MODEL_FILES`]); by default (`None`)
        /// the weights compiled into the binary ([`crate::models`]), so the server needs no file.
        #[serde(default)]
        models_dir: Option<PathBuf>,
    },
    /// An operator's matcher speaking the protocol in the crate README.
    Http {
        /// Base URL; `/detect` and `/embed` are appended.
        url: String,
        /// Timeout of each call, in milliseconds.
        #[serde(default = "default_timeout_ms")]
        timeout_ms: u64,
        /// Bearer token sent to the matcher, if it requires one.
        #[serde(default)]
        token: Option<ApiToken>,
    },
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig::Builtin { models_dir: None }
    }
}

fn default_timeout_ms() -> u64 {
    DEFAULT_HTTP_TIMEOUT_MS
}

fn default_match_threshold() -> f32 {
    DEFAULT_MATCH_THRESHOLD
}

/// Face matching and liveness settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceConfig {
    /// The engine.
    #[serde(default)]
    pub engine: EngineConfig,
    /// Largest L2 distance for the selfie to match the passport portrait.
    #[serde(default = "default_match_threshold")]
    pub match_threshold: f32,
    /// How challenges are drawn.
    #[serde(default)]
    pub challenge: ChallengePolicy,
    /// Liveness thresholds.
    #[serde(default)]
    pub liveness: LivenessPolicy,
}

impl Default for FaceConfig {
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            match_threshold: DEFAULT_MATCH_THRESHOLD,
            challenge: ChallengePolicy::default(),
            liveness: LivenessPolicy::default(),
        }
    }
}

impl FaceConfig {
    /// Checks the thresholds and policies (the engine is checked by [`load_engine`]).
    ///
    /// # Errors
    /// [`FaceError::Config`] or [`FaceError::InvalidPolicy`].
    pub fn validate(&self) -> Result<(), FaceError> {
        if !(self.match_threshold.is_finite()
            && self.match_threshold > 0.0
            && self.match_threshold <= 2.0)
        {
            return Err(FaceError::Config {
                reason: "match_threshold must lie in (0, 2]".into(),
            });
        }
        self.challenge.validate()?;
        self.liveness.validate()
    }

    /// Whether a selfie/portrait comparison is a match under this configuration. Decided on the
    /// distance, which is what the threshold was measured on.
    #[must_use]
    pub fn is_match(&self, similarity: &Similarity) -> bool {
        similarity.distance <= self.match_threshold
    }
}

/// Validates `config` and builds its engine, ready to share between worker threads.
///
/// Loading the built-in engine parses and checks every weight now, so a missing or damaged file in
/// a configured `models_dir` fails at server start rather than at the first verification.
///
/// # Errors
/// An invalid configuration, missing or unusable model files, or a malformed matcher URL.
pub fn load_engine(config: &FaceConfig) -> Result<Arc<dyn FaceEngine>, FaceError> {
    config.validate()?;
    match &config.engine {
        EngineConfig::Builtin { models_dir } => {
            let source = models_dir
                .as_deref()
                .map_or(models::ModelSource::Embedded, models::ModelSource::Dir);
            Ok(Arc::new(BuiltinEngine::from_source(source)?))
        }
        EngineConfig::Http {
            url,
            timeout_ms,
            token,
        } => {
            let engine = HttpEngine::new(url, Duration::from_millis(*timeout_ms), token.clone())?;
            Ok(Arc::new(engine))
        }
    }
}
