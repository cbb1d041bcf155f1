//! [`HttpEngine`]: the [`FaceEngine`] trait over HTTP, for operators who run their own detector
//! and face-recognition models (docs/face-engine.md "Engines").
//!
//! The matcher only detects faces (`POST {base}/detect`) and computes descriptors
//! (`POST {base}/embed`); comparison (L2 distance), quality measurements and the whole liveness
//! evaluation run locally, so the decision rules are the same as with the built-in engine. The
//! protocol is specified in the crate README ("HTTP matcher protocol"). Every response is checked
//! against it (68 finite landmarks, sane boxes, bounded sizes) before it reaches the liveness logic:
//! the matcher is trusted with biometrics, not with memory safety or with our thresholds.
//!
//! The client is blocking (`ureq`): the server calls engines from `spawn_blocking`, and ureq has
//! no internal async runtime, so building or dropping the engine is safe in any context.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::{
    BoundingBox, Embedding, Face, FaceEngine, FaceError, Image, LANDMARK_COUNT, Point, Quality,
};

/// Largest `/detect` or `/embed` response body read, in bytes; more is a protocol violation.
pub const MAX_RESPONSE_BYTES: u64 = 1 << 20;
/// Most faces accepted from one `/detect` answer.
pub const MAX_FACES: usize = 64;
/// Largest embedding dimension accepted from `/embed`.
pub const MAX_EMBEDDING_DIM: usize = 4096;
/// Longest accepted timeout: a stuck matcher must not hold a worker thread for long.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest error body read from a failing matcher, in bytes.
const MAX_ERROR_BYTES: u64 = 16 * 1024;

/// A bearer token for the matcher. Its `Debug` output is redacted so it never reaches logs.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ApiToken(String);

impl ApiToken {
    /// Wraps a token string.
    #[must_use]
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// A face engine backed by an external matcher over HTTP.
#[derive(Debug, Clone)]
pub struct HttpEngine {
    agent: ureq::Agent,
    base_url: String,
    timeout: Duration,
    token: Option<ApiToken>,
}

impl HttpEngine {
    /// Builds a client for the matcher at `base_url` (`http://` or `https://`, no query).
    ///
    /// `timeout` bounds each call as a whole (connect, send, receive). Redirects are not followed:
    /// a matcher that redirects is misconfigured, and following would send images elsewhere.
    ///
    /// # Errors
    /// [`FaceError::Config`] for a malformed URL, or a timeout that is zero or above
    /// [`MAX_TIMEOUT`].
    pub fn new(
        base_url: &str,
        timeout: Duration,
        token: Option<ApiToken>,
    ) -> Result<Self, FaceError> {
        let config_error = |reason: &str| {
            Err(FaceError::Config {
                reason: reason.to_owned(),
            })
        };
        let trimmed = base_url.trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"));
        match rest {
            None => return config_error("face matcher URL must start with http:// or https://"),
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                return config_error("face matcher URL has no host");
            }
            Some(rest) if rest.contains(['?', '#', ' ']) => {
                return config_error(
                    "face matcher URL must not contain a query, fragment or space",
                );
            }
            Some(_) => {}
        }
        if timeout.is_zero() || timeout > MAX_TIMEOUT {
            return config_error("face matcher timeout must be between 1 ms and 300 s");
        }
        trimmed
            .parse::<ureq::http::Uri>()
            .map_err(|_| FaceError::Config {
                reason: "face matcher URL is not a valid URI".into(),
            })?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .new_agent();
        Ok(Self {
            agent,
            base_url: trimmed.to_owned(),
            timeout,
            token,
        })
    }

    fn call<Req: Serialize, Resp: for<'de> Deserialize<'de>>(
        &self,
        endpoint: &'static str,
        request: &Req,
    ) -> Result<Resp, FaceError> {
        let url = format!("{}{endpoint}", self.base_url);
        let mut builder = self.agent.post(&url).header("Accept", "application/json");
        if let Some(token) = &self.token {
            builder = builder.header("Authorization", format!("Bearer {}", token.expose()));
        }
        let body = serde_json::to_vec(request).map_err(|e| FaceError::Inference {
            reason: format!("cannot encode {endpoint} request: {e}"),
        })?;
        let mut response = builder
            .content_type("application/json")
            .send(&body[..])
            .map_err(|e| self.transport_error(endpoint, e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let code = response
                .body_mut()
                .with_config()
                .limit(MAX_ERROR_BYTES)
                .read_to_vec()
                .ok()
                .and_then(|bytes| error_code(&bytes));
            return Err(FaceError::HttpStatus {
                endpoint,
                status,
                code,
            });
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| self.transport_error(endpoint, e))?;
        serde_json::from_slice(&bytes).map_err(|e| FaceError::HttpMalformed {
            endpoint,
            // Position and category only: the body may hold biometric values.
            reason: format!(
                "invalid JSON ({:?}) at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ),
        })
    }

    fn transport_error(&self, endpoint: &'static str, error: ureq::Error) -> FaceError {
        let timeout_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        match error {
            ureq::Error::Timeout(_) => FaceError::HttpTimeout {
                endpoint,
                timeout_ms,
            },
            ureq::Error::Io(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                FaceError::HttpTimeout {
                    endpoint,
                    timeout_ms,
                }
            }
            ureq::Error::BodyExceedsLimit(limit) => FaceError::HttpMalformed {
                endpoint,
                reason: format!("response body exceeds {limit} bytes"),
            },
            other => FaceError::HttpTransport {
                endpoint,
                reason: other.to_string(),
            },
        }
    }
}

impl FaceEngine for HttpEngine {
    fn detect(&self, image: &Image) -> Result<Vec<Face>, FaceError> {
        image.validate()?;
        let response: DetectResponse = self.call(
            "/detect",
            &DetectRequest {
                image: WireImage::of(image),
            },
        )?;
        if response.faces.len() > MAX_FACES {
            return Err(malformed("/detect", format!("more than {MAX_FACES} faces")));
        }
        response
            .faces
            .into_iter()
            .map(|face| face.into_face(image))
            .collect()
    }

    fn embed(&self, image: &Image, face: &Face) -> Result<Embedding, FaceError> {
        image.validate()?;
        if face.landmarks.len() != LANDMARK_COUNT {
            return Err(FaceError::LandmarkCount {
                expected: LANDMARK_COUNT,
                found: face.landmarks.len(),
            });
        }
        let request = EmbedRequest {
            image: WireImage::of(image),
            face: WireFaceRef {
                bbox: WireBox::from(face.bbox),
                landmarks: face.landmarks.iter().map(|p| [p.x, p.y]).collect(),
            },
        };
        let response: EmbedResponse = self.call("/embed", &request)?;
        let dim = response.embedding.len();
        if dim == 0 || dim > MAX_EMBEDDING_DIM {
            return Err(malformed(
                "/embed",
                format!("embedding dimension {dim} outside 1..={MAX_EMBEDDING_DIM}"),
            ));
        }
        if !response.embedding.iter().all(|v| v.is_finite()) {
            return Err(malformed(
                "/embed",
                "embedding has non-finite values".into(),
            ));
        }
        Ok(Embedding(response.embedding))
    }
}

fn malformed(endpoint: &'static str, reason: String) -> FaceError {
    FaceError::HttpMalformed { endpoint, reason }
}

/// Pulls a safe `error.code` out of an error body: short, `[a-z0-9_.-]` only, so nothing the
/// matcher echoes (such as request content) can reach our logs.
fn error_code(body: &[u8]) -> Option<String> {
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    let code = parsed.error?.code?;
    let safe = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    safe.then_some(code)
}

#[derive(Serialize)]
struct WireImage {
    width: u32,
    height: u32,
    format: &'static str,
    data_base64: String,
}

impl WireImage {
    fn of(image: &Image) -> Self {
        Self {
            width: image.width,
            height: image.height,
            format: "rgb8",
            data_base64: base64::engine::general_purpose::STANDARD.encode(&image.rgb),
        }
    }
}

#[derive(Serialize)]
struct DetectRequest {
    image: WireImage,
}

#[derive(Serialize)]
struct EmbedRequest {
    image: WireImage,
    face: WireFaceRef,
}

#[derive(Serialize)]
struct WireFaceRef {
    #[serde(rename = "box")]
    bbox: WireBox,
    landmarks: Vec<[f32; 2]>,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
struct WireBox {
    x: f32,
    y: f32,
    width: f32,
    height: f32,
}

impl From<BoundingBox> for WireBox {
    fn from(b: BoundingBox) -> Self {
        Self {
            x: b.x,
            y: b.y,
            width: b.width,
            height: b.height,
        }
    }
}

#[derive(Deserialize)]
struct DetectResponse {
    faces: Vec<WireFace>,
}

#[derive(Deserialize)]
struct WireFace {
    #[serde(rename = "box")]
    bbox: WireBox,
    score: f32,
    landmarks: Vec<[f32; 2]>,
}

impl WireFace {
    fn into_face(self, image: &Image) -> Result<Face, FaceError> {
        let WireBox {
            x,
            y,
            width,
            height,
        } = self.bbox;
        if ![x, y, width, height].iter().all(|v| v.is_finite()) || width <= 0.0 || height <= 0.0 {
            return Err(malformed(
                "/detect",
                "face box must be finite with positive size".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.score) {
            return Err(malformed("/detect", "face score must lie in [0, 1]".into()));
        }
        if self.landmarks.len() != LANDMARK_COUNT {
            return Err(malformed(
                "/detect",
                format!(
                    "face has {} landmarks, the protocol requires {LANDMARK_COUNT}",
                    self.landmarks.len()
                ),
            ));
        }
        if !self.landmarks.iter().flatten().all(|v| v.is_finite()) {
            return Err(malformed("/detect", "landmarks must be finite".into()));
        }
        let bbox = BoundingBox {
            x,
            y,
            width,
            height,
        };
        Ok(Face {
            bbox,
            score: self.score,
            landmarks: self
                .landmarks
                .into_iter()
                .map(|[x, y]| Point { x, y })
                .collect(),
            quality: Quality::measure(image, &bbox),
        })
    }
}

#[derive(Deserialize)]
struct EmbedResponse {
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: Option<String>,
}
