//! The receiver's one call: verify the Standard Webhooks signature (with the 5-minute
//! tolerance), decrypt the JWE, parse the event. Signature first, so an unauthenticated body
//! never reaches the RSA private key.

use std::time::Duration;

use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;

use crate::event::Event;
use crate::jwe::{self, JweError};
use crate::secret::WebhookSecret;
use crate::signature::{self, HeaderSource, SignatureError};

/// Why a delivery was not accepted. The variants map to answers: a signature problem is 401
/// (not from the sender, or replayed), the rest is 400 (authentic but unusable).
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("body is not UTF-8 text")]
    BodyNotText,
    #[error("decryption: {0}")]
    Decrypt(#[from] JweError),
    /// Position only: `serde_json` messages can quote values, and values here are personal data.
    #[error("payload is not a valid event ({kind} error at line {line}, column {column})")]
    Payload {
        kind: &'static str,
        line: usize,
        column: usize,
    },
    #[error("payload event id does not equal the `webhook-id` header")]
    IdMismatch,
}

impl ReceiveError {
    /// The HTTP status a receiver should answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Signature(_) => 401,
            _ => 400,
        }
    }
}

/// Why a private key file could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivateKeyError {
    #[error("expected a PEM `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1) block")]
    NotPem,
    #[error("the PEM block is not a valid RSA private key")]
    Invalid,
}

/// Loads the receiver's RSA private key from PKCS#8 (`openssl genpkey`) or PKCS#1 PEM.
pub fn load_private_key_pem(pem: &str) -> Result<RsaPrivateKey, PrivateKeyError> {
    let pem = pem.trim();
    if pem.contains("-----BEGIN PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs8_pem(pem).map_err(|_| PrivateKeyError::Invalid)
    } else if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs1_pem(pem).map_err(|_| PrivateKeyError::Invalid)
    } else {
        Err(PrivateKeyError::NotPem)
    }
}

/// Verifies and opens deliveries for one endpoint.
#[derive(Debug, Clone)]
pub struct Receiver {
    secrets: Vec<WebhookSecret>,
    key: RsaPrivateKey,
    tolerance: Duration,
}

impl Receiver {
    pub fn new(secret: WebhookSecret, private_key: RsaPrivateKey) -> Self {
        Self {
            secrets: vec![secret],
            key: private_key,
            tolerance: signature::DEFAULT_TOLERANCE,
        }
    }

    /// Also accept signatures under `secret`, for the 24 h overlap after a rotation.
    pub fn with_additional_secret(mut self, secret: WebhookSecret) -> Self {
        self.secrets.push(secret);
        self
    }

    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Opens a delivery, checking its timestamp against the system clock.
    pub fn open(
        &self,
        headers: &(impl HeaderSource + ?Sized),
        body: &[u8],
    ) -> Result<Event, ReceiveError> {
        #[allow(
            clippy::disallowed_methods,
            reason = "the receivers' convenience entry; open_at takes the time"
        )]
        self.open_at(
            headers,
            body,
            time::OffsetDateTime::now_utc().unix_timestamp(),
        )
    }

    /// [`Receiver::open`] with "now" given in unix seconds.
    pub fn open_at(
        &self,
        headers: &(impl HeaderSource + ?Sized),
        body: &[u8],
        now: i64,
    ) -> Result<Event, ReceiveError> {
        let verified = signature::verify_any(headers, body, &self.secrets, now, self.tolerance)?;
        let token = std::str::from_utf8(body).map_err(|_| ReceiveError::BodyNotText)?;
        let plaintext = zeroize::Zeroizing::new(jwe::decrypt(token, &self.key)?);
        let event = Event::from_json(&plaintext).map_err(|e| ReceiveError::Payload {
            kind: match e.classify() {
                serde_json::error::Category::Io => "io",
                serde_json::error::Category::Syntax => "syntax",
                serde_json::error::Category::Data => "data",
                serde_json::error::Category::Eof => "eof",
            },
            line: e.line(),
            column: e.column(),
        })?;
        if event.id.as_str() != verified.msg_id {
            return Err(ReceiveError::IdMismatch);
        }
        Ok(event)
    }
}
