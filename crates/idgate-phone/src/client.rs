//! A typed client of the mobile API (docs/verify.md "HTTP surface"): the routes a phone app calls
//! between the handoff and consent. The simulation ([`crate::simulation`]: `idgate simulate` and
//! the server's test-mode simulation) drives it with factory passports; `idgate kiosk` drives it
//! with a chip on a PC/SC reader.
//!
//! The client only carries bytes and reports what the server answered: every call returns a
//! [`Reply`] with the HTTP status, the time it took and either the decoded `data` or the server's
//! error envelope. It decides nothing; the server runs every check. It never logs request bodies
//! (chip files and selfies are personal data).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use idgate_face::challenge::{Action, Challenge, Nonce};
use idgate_face::upload::BurstUpload;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest a single call may take: a liveness upload runs the face engine on the server, seconds
/// on a debug build.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a call got no answer from the server at all (an answer with an error status is a
/// [`Reply`] carrying an [`ApiError`]).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request could not be sent or the response not read.
    #[error("{method} {path}: {source}")]
    Transport {
        method: Method,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    /// The response is not the documented envelope.
    #[error("{method} {path} answered {status} with an unexpected body: {reason}")]
    Decode {
        method: Method,
        path: String,
        status: u16,
        reason: String,
    },
    /// The server address cannot carry the API's paths.
    #[error("invalid server URL: {0}")]
    Url(String),
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Client(String),
}

/// The error object of the response envelope (docs/api.md "Errors").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    /// Stable, machine-readable code, e.g. `SESSION_CANCELLED`.
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub hint: Option<String>,
}

/// One exchange: the status, the round-trip time and the outcome.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    pub status: u16,
    pub elapsed: Duration,
    pub result: Result<T, ApiError>,
}

/// The server answered a step with its error envelope ([`Reply::into_data`]).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{step}: the server answered {status} {}: {}", error.code, error.message)]
pub struct StepRefused {
    /// The step, as the simulation names it (`handoff`, `document`, …).
    pub step: String,
    pub status: u16,
    pub error: ApiError,
}

impl<T> Reply<T> {
    /// The data, or the server's error naming `step`.
    ///
    /// # Errors
    /// When the server answered with an error envelope.
    pub fn into_data(self, step: &str) -> Result<T, StepRefused> {
        self.result.map_err(|error| StepRefused {
            step: step.to_owned(),
            status: self.status,
            error,
        })
    }
}

/// How a handoff is authorized (docs/verify.md: the browser's cancel token, or an integrator key
/// of the session's organization with scope `sessions:write`).
#[derive(Clone)]
pub enum HandoffAuth {
    CancelToken(String),
    ApiKey(String),
}

impl std::fmt::Debug for HandoffAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::CancelToken(_) => "CancelToken(<redacted>)",
            Self::ApiKey(_) => "ApiKey(<redacted>)",
        })
    }
}

/// The attempt a handoff created, and its bearer token: from the handoff's answer, or from the
/// payload of its deep link ([`Handoff::from_payload`]) on the device that continues it.
#[derive(Clone, Deserialize)]
pub struct Handoff {
    pub attempt_id: String,
    pub token: String,
    /// RFC 3339; the token must be used (hello) before then. Not in the deep link's payload.
    #[serde(default)]
    pub token_expires_at: Option<String>,
    /// `idgate://verify?d=<payload>`, carrying the server, the attempt and its token, for the
    /// client that continues the attempt (the phone that scans the QR code, or the hosted page
    /// after a kiosk's document step). Not in the payload itself.
    #[serde(default)]
    pub deep_link: Option<String>,
}

/// The deep link's payload: base64url (no padding) of `{"v":1,"server","attempt_id","token"}`
/// (docs/verify.md "HTTP surface", the handoff route).
#[derive(Deserialize)]
struct HandoffPayload {
    v: u8,
    server: String,
    attempt_id: String,
    token: String,
}

/// Why a deep link or its payload cannot be used. Never carries the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("not a deep link `idgate://verify?d=…` nor its base64url payload")]
    Encoding,
    #[error("the payload is not the handoff's JSON object")]
    Json,
    #[error("payload version {0} is not supported (this client reads version 1)")]
    Version(u8),
    #[error("the payload's server is not an http(s) URL")]
    Server,
    #[error("the payload's attempt id is malformed")]
    AttemptId,
}

/// Longest payload accepted: the server's is about 200 characters; a cap keeps a pasted file
/// from being decoded whole.
const MAX_PAYLOAD_LEN: usize = 4096;

impl Handoff {
    /// The server and attempt a deep link `idgate://verify?d=…` (or its bare `d=` payload)
    /// hands over. The attempt id is checked before it goes into a path.
    ///
    /// # Errors
    /// A malformed link, encoding, JSON, version, server or attempt id.
    pub fn from_payload(input: &str) -> Result<(Url, Self), PayloadError> {
        let input = input.trim();
        let payload = match Url::parse(input) {
            Ok(url) if url.scheme() == "idgate" => url
                .query_pairs()
                .find(|(name, _)| name == "d")
                .map(|(_, value)| value.into_owned())
                .ok_or(PayloadError::Encoding)?,
            _ => input.to_owned(),
        };
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(PayloadError::Encoding);
        }
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('=').as_bytes())
            .map_err(|_| PayloadError::Encoding)?;
        let parsed: HandoffPayload =
            serde_json::from_slice(&json).map_err(|_| PayloadError::Json)?;
        if parsed.v != 1 {
            return Err(PayloadError::Version(parsed.v));
        }
        let server = Url::parse(&parsed.server).map_err(|_| PayloadError::Server)?;
        if server.cannot_be_a_base() || !matches!(server.scheme(), "http" | "https") {
            return Err(PayloadError::Server);
        }
        let valid_id = parsed.attempt_id.strip_prefix("va_").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if !valid_id {
            return Err(PayloadError::AttemptId);
        }
        Ok((
            server,
            Self {
                attempt_id: parsed.attempt_id,
                token: parsed.token,
                token_expires_at: None,
                deep_link: Some(format!("idgate://verify?d={payload}")),
            },
        ))
    }
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("attempt_id", &self.attempt_id)
            .field("token", &"<redacted>")
            .field("token_expires_at", &self.token_expires_at)
            .field("deep_link", &self.deep_link.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// The document checks the session requires.
#[derive(Debug, Clone, Deserialize)]
pub struct RequiredChecks {
    /// `required`, `when_supported` or `off` (docs/verify.md "Document checks", 5).
    pub clone_detection: String,
    pub allow_expired_documents: bool,
}

/// Whether the server will run chip authentication through this client.
#[derive(Debug, Clone, Deserialize)]
pub struct ChipAuthSupport {
    pub supported: bool,
}

/// The answer to `hello`: the share request, the checks, and a fresh active-authentication
/// challenge.
#[derive(Debug, Clone, Deserialize)]
pub struct Hello {
    pub session_id: String,
    pub attempt_id: String,
    /// `test` or `live`.
    pub environment: String,
    pub phase: String,
    /// Claim key → `{required, reason, …}`, as the integrator requested them.
    pub share_fields: BTreeMap<String, Value>,
    pub required_checks: RequiredChecks,
    /// 8 bytes for INTERNAL AUTHENTICATE (ICAO 9303-11 §6.1).
    #[serde(with = "b64")]
    pub active_authentication_challenge: Vec<u8>,
    pub chip_authentication: ChipAuthSupport,
}

/// The progress phases a client reports for the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    MrzScanning,
    NfcReading,
    SelfieCapturing,
    ReviewingConsent,
}

/// The APDUs to relay to the chip for chip authentication, in the order of
/// `emrtd::chip_auth` "The relay".
#[derive(Debug, Clone, Deserialize)]
pub struct ChipAuthInstructions {
    #[serde(with = "b64")]
    pub mse_apdu: Vec<u8>,
    #[serde(default, with = "b64_opt")]
    pub general_authenticate_apdu: Option<Vec<u8>>,
    #[serde(with = "b64")]
    pub protected_command_apdu: Vec<u8>,
}

impl From<ChipAuthInstructions> for emrtd::chip_auth::ClientInstructions {
    fn from(i: ChipAuthInstructions) -> Self {
        Self {
            // The chip reads the ephemeral key from the MSE / General Authenticate APDUs; the
            // relay does not need it separately.
            ephemeral_public_key: Vec::new(),
            mse_apdu: i.mse_apdu,
            general_authenticate_apdu: i.general_authenticate_apdu,
            protected_command_apdu: i.protected_command_apdu,
        }
    }
}

/// What the client read from the chip, uploaded as is.
#[derive(Clone, Default, Serialize)]
pub struct DocumentUpload {
    #[serde(with = "b64_opt", skip_serializing_if = "Option::is_none")]
    pub com: Option<Vec<u8>>,
    #[serde(with = "b64")]
    pub dg1: Vec<u8>,
    #[serde(with = "b64")]
    pub dg2: Vec<u8>,
    #[serde(with = "b64")]
    pub sod: Vec<u8>,
    #[serde(with = "b64_opt", skip_serializing_if = "Option::is_none")]
    pub dg14: Option<Vec<u8>>,
    #[serde(with = "b64_opt", skip_serializing_if = "Option::is_none")]
    pub dg15: Option<Vec<u8>>,
    #[serde(with = "b64_opt", skip_serializing_if = "Option::is_none")]
    pub card_security: Option<Vec<u8>>,
    /// The chip's INTERNAL AUTHENTICATE response to hello's challenge.
    #[serde(with = "b64_opt", skip_serializing_if = "Option::is_none")]
    pub aa_signature: Option<Vec<u8>>,
    /// The chip's full response APDU to the protected command of the chip-authentication relay.
    #[serde(with = "b64_opt", skip_serializing_if = "Option::is_none")]
    pub ca_response: Option<Vec<u8>>,
}

impl DocumentUpload {
    /// The files a terminal read ([`emrtd::reader::Reader::read_document`]), without the chip's
    /// proofs (the caller adds them). A chip without DG1 or DG2 uploads them empty; the server's
    /// checks reject that document.
    pub fn from_files(files: &emrtd::reader::DocumentFiles) -> Self {
        let dg = |n: u8| files.data_groups.get(&n).cloned();
        Self {
            com: Some(files.com.clone()),
            dg1: dg(1).unwrap_or_default(),
            dg2: dg(2).unwrap_or_default(),
            sod: files.sod.clone(),
            dg14: dg(14),
            dg15: dg(15),
            ..Self::default()
        }
    }
}

impl std::fmt::Debug for DocumentUpload {
    /// Sizes only: the data groups are personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentUpload")
            .field("dg1", &format_args!("<{} bytes>", self.dg1.len()))
            .field("dg2", &format_args!("<{} bytes>", self.dg2.len()))
            .field("sod", &format_args!("<{} bytes>", self.sod.len()))
            .finish_non_exhaustive()
    }
}

/// The server's decision on an upload.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Verdict {
    /// `accepted` or `rejected`.
    pub verdict: String,
    pub failure_code: Option<String>,
    pub nfc_tries_left: u8,
    pub liveness_tries_left: u8,
    /// The session ended with this verdict.
    pub terminal: bool,
}

impl Verdict {
    pub fn accepted(&self) -> bool {
        self.verdict == "accepted"
    }
}

/// A liveness challenge as the server issued it.
#[derive(Debug, Clone, Deserialize)]
pub struct LivenessChallenge {
    pub actions: Vec<Action>,
    pub nonce: Nonce,
    pub issued_at_ms: u64,
    pub expires_at_ms: u64,
}

impl From<LivenessChallenge> for Challenge {
    fn from(c: LivenessChallenge) -> Self {
        Self {
            actions: c.actions,
            nonce: c.nonce,
            issued_at_ms: c.issued_at_ms,
            expires_at_ms: c.expires_at_ms,
        }
    }
}

/// The answer to consent.
#[derive(Debug, Clone, Deserialize)]
pub struct ConsentOutcome {
    pub status: String,
    pub redirect_url: Option<String>,
}

/// The public status of a session (no personal data).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionStatus {
    pub status: String,
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub progress: Option<Value>,
    #[serde(default)]
    pub nfc_tries_left: Option<u8>,
    #[serde(default)]
    pub liveness_tries_left: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The HTTP client of the mobile API (and of the simulator's one integrator call): rustls on the
/// ring provider, as the webhook sender, and a per-call timeout.
///
/// # Errors
/// When the client cannot be built (no TLS configuration).
pub fn http_client() -> Result<reqwest::Client, ClientError> {
    // reqwest is built with `rustls-no-provider`; a second install is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .user_agent(concat!("idgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ClientError::Client(e.to_string()))
}

/// A client of one server's mobile API.
#[derive(Debug, Clone)]
pub struct MobileClient {
    http: reqwest::Client,
    base: Url,
}

/// The envelope of every JSON answer.
#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
    error: Option<ApiError>,
}

impl MobileClient {
    /// A client of the server at `base` (`http://host:port`, any path ignored).
    ///
    /// # Errors
    /// When the URL cannot be a base or the HTTP client cannot be built.
    pub fn new(base: &Url) -> Result<Self, ClientError> {
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::Url(format!("{base} is not an http(s) origin")));
        }
        let mut base = base.clone();
        base.set_path("/");
        base.set_query(None);
        Ok(Self {
            http: http_client()?,
            base,
        })
    }

    /// The server's origin.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `POST /v1/verify/session/{id}/handoff`: a new attempt and its bearer token.
    pub async fn handoff(
        &self,
        session_id: &str,
        auth: &HandoffAuth,
    ) -> Result<Reply<Handoff>, ClientError> {
        let path = format!("v1/verify/session/{session_id}/handoff");
        match auth {
            HandoffAuth::CancelToken(token) => {
                let body = serde_json::json!({ "cancel_token": token });
                self.call(Method::POST, &path, None, Some(&body)).await
            }
            // The body is `{}` (docs/verify.md "HTTP surface"): the route reads JSON either way.
            HandoffAuth::ApiKey(key) => {
                let body = serde_json::json!({});
                self.call(Method::POST, &path, Some(key), Some(&body)).await
            }
        }
    }

    /// `POST /v1/verify/attempts/{id}/hello`: binds the attempt to this device.
    pub async fn hello(
        &self,
        attempt: &Handoff,
        device_id: &str,
        app_version: &str,
    ) -> Result<Reply<Hello>, ClientError> {
        let body = serde_json::json!({ "device_id": device_id, "app_version": app_version });
        self.attempt_call(Method::POST, attempt, "hello", Some(&body))
            .await
    }

    /// `POST /v1/verify/attempts/{id}/phase`: a progress report (`204`).
    pub async fn phase(&self, attempt: &Handoff, phase: Phase) -> Result<Reply<()>, ClientError> {
        let body = serde_json::json!({ "phase": phase });
        self.attempt_call(Method::POST, attempt, "phase", Some(&body))
            .await
    }

    /// `POST /v1/verify/attempts/{id}/chip-authentication`: DG14 in, the APDUs to relay out.
    pub async fn chip_authentication(
        &self,
        attempt: &Handoff,
        dg14: &[u8],
    ) -> Result<Reply<ChipAuthInstructions>, ClientError> {
        let body = serde_json::json!({ "dg14": STANDARD.encode(dg14) });
        self.attempt_call(Method::POST, attempt, "chip-authentication", Some(&body))
            .await
    }

    /// `PUT /v1/verify/attempts/{id}/document`: the chip files → verdict.
    pub async fn document(
        &self,
        attempt: &Handoff,
        upload: &DocumentUpload,
    ) -> Result<Reply<Verdict>, ClientError> {
        self.attempt_call(Method::PUT, attempt, "document", Some(upload))
            .await
    }

    /// `POST /v1/verify/attempts/{id}/document/failure`: the chip could not be read (consumes an
    /// NFC try). A retry with the same `report_id` counts once.
    pub async fn document_failure(
        &self,
        attempt: &Handoff,
        reason: &str,
        report_id: &str,
    ) -> Result<Reply<Verdict>, ClientError> {
        let body = serde_json::json!({ "reason": reason, "report_id": report_id });
        self.attempt_call(Method::POST, attempt, "document/failure", Some(&body))
            .await
    }

    /// `POST /v1/verify/attempts/{id}/liveness/challenge`: a fresh challenge.
    pub async fn liveness_challenge(
        &self,
        attempt: &Handoff,
    ) -> Result<Reply<LivenessChallenge>, ClientError> {
        let body = serde_json::json!({});
        self.attempt_call(Method::POST, attempt, "liveness/challenge", Some(&body))
            .await
    }

    /// `POST /v1/verify/attempts/{id}/liveness`: the burst answering the challenge → verdict.
    pub async fn liveness(
        &self,
        attempt: &Handoff,
        burst: &BurstUpload,
    ) -> Result<Reply<Verdict>, ClientError> {
        self.attempt_call(Method::POST, attempt, "liveness", Some(burst))
            .await
    }

    /// `POST /v1/verify/attempts/{id}/consent`: the claims the person agrees to share.
    pub async fn consent(
        &self,
        attempt: &Handoff,
        selected_field_keys: &[String],
    ) -> Result<Reply<ConsentOutcome>, ClientError> {
        let body = serde_json::json!({ "selected_field_keys": selected_field_keys });
        self.attempt_call(Method::POST, attempt, "consent", Some(&body))
            .await
    }

    /// `GET /v1/verify/session/{id}/status`: the public status.
    pub async fn status(&self, session_id: &str) -> Result<Reply<SessionStatus>, ClientError> {
        let path = format!("v1/verify/session/{session_id}/status");
        self.call::<(), _>(Method::GET, &path, None, None).await
    }

    /// `POST /v1/verify/session/{id}/cancel`: the end user's one-shot cancel (`204`).
    pub async fn cancel(
        &self,
        session_id: &str,
        cancel_token: &str,
    ) -> Result<Reply<()>, ClientError> {
        let path = format!("v1/verify/session/{session_id}/cancel");
        let body = serde_json::json!({ "cancel_token": cancel_token });
        self.call(Method::POST, &path, None, Some(&body)).await
    }

    async fn attempt_call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        attempt: &Handoff,
        route: &str,
        body: Option<&B>,
    ) -> Result<Reply<T>, ClientError> {
        let path = format!("v1/verify/attempts/{}/{route}", attempt.attempt_id);
        self.call(method, &path, Some(&attempt.token), body).await
    }

    /// One request. A `2xx` decodes `data` (a body-less `204` decodes as JSON `null`, so `()`),
    /// anything else the error envelope.
    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&B>,
    ) -> Result<Reply<T>, ClientError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| ClientError::Url(format!("{path}: {e}")))?;
        let mut request = self.http.request(method.clone(), url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let transport = |source| ClientError::Transport {
            method: method.clone(),
            path: format!("/{path}"),
            source,
        };
        let started = Instant::now();
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        let elapsed = started.elapsed();
        let decode = |reason: String| ClientError::Decode {
            method: method.clone(),
            path: format!("/{path}"),
            status: status.as_u16(),
            reason,
        };
        let result = if status.is_success() {
            let data = if bytes.is_empty() || status == StatusCode::NO_CONTENT {
                serde_json::from_value(Value::Null)
            } else {
                serde_json::from_slice::<Envelope<T>>(&bytes).and_then(|envelope| {
                    match envelope.data {
                        Some(data) => Ok(data),
                        None => serde_json::from_value(Value::Null),
                    }
                })
            };
            Ok(data.map_err(|e| decode(e.to_string()))?)
        } else {
            let envelope: Envelope<Value> = serde_json::from_slice(&bytes)
                .map_err(|e| decode(format!("not the error envelope ({e})")))?;
            Err(envelope
                .error
                .ok_or_else(|| decode("an error status without an error object".into()))?)
        };
        Ok(Reply {
            status: status.as_u16(),
            elapsed,
            result,
        })
    }
}

/// Standard base64 (RFC 4648 §4) for binary fields.
mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|_| serde::de::Error::custom("not standard base64"))
    }
}

/// [`b64`] for optional fields (`null` or absent is `None`).
mod b64_opt {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(
        clippy::ref_option,
        reason = "serde's `with` passes the field by reference"
    )]
    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => s.serialize_str(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        text.map(|t| {
            STANDARD
                .decode(t.as_bytes())
                .map_err(|_| serde::de::Error::custom("not standard base64"))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[test]
    fn hello_decodes_its_challenge_from_base64() {
        let hello: Hello = serde_json::from_value(serde_json::json!({
            "session_id": "vs_x", "attempt_id": "va_x", "environment": "test",
            "phase": "document", "share_fields": {"family_name": {"required": false}},
            "required_checks": {"clone_detection": "when_supported", "allow_expired_documents": false},
            "active_authentication_challenge": "AQIDBAUGBwg=",
            "chip_authentication": {"supported": true}
        }))
        .unwrap();
        assert_eq!(
            hello.active_authentication_challenge,
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert!(hello.share_fields.contains_key("family_name"));
    }

    #[test]
    fn a_document_upload_omits_what_was_not_read() {
        let upload = DocumentUpload {
            dg1: vec![0x61],
            dg2: vec![0x75],
            sod: vec![0x77],
            aa_signature: Some(vec![0xFF]),
            ..DocumentUpload::default()
        };
        let json = serde_json::to_value(&upload).unwrap();
        assert_eq!(json["dg1"], "YQ==");
        assert_eq!(json["aa_signature"], "/w==");
        assert!(json.get("dg14").is_none());
        assert!(json.get("ca_response").is_none());
    }

    #[test]
    fn relay_instructions_accept_a_null_general_authenticate() {
        let ca: ChipAuthInstructions = serde_json::from_value(serde_json::json!({
            "mse_apdu": "ACJBpg==", "general_authenticate_apdu": null, "protected_command_apdu": "DLA="
        }))
        .unwrap();
        assert_eq!(ca.mse_apdu, [0x00, 0x22, 0x41, 0xA6]);
        assert!(ca.general_authenticate_apdu.is_none());
    }
}
