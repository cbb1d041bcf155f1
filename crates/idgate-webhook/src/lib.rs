//! The wire format of idgate result webhooks, both sides of it.
//!
//! A delivery is an HTTP `POST` whose body is a compact JWE (RFC 7516, `RSA-OAEP-256` +
//! `A256GCM`, RFC 7518 §4.3 and §5.3) encrypted to the integrator's RSA public key, signed per
//! the [Standard Webhooks](https://www.standardwebhooks.com/) specification with the endpoint's
//! `whsec_` secret. Inside the JWE is one JSON [`Event`]. See `docs/webhooks.md` "Wire format".
//!
//! The default build is the **receiver** half, meant for integrators and for
//! `idgate webhooks listen`: verify the signature, decrypt, parse.
//!
//! ```no_run
//! use idgate_webhook::{Receiver, WebhookSecret, load_private_key_pem};
//!
//! # fn handle(headers: &http::HeaderMap, body: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw9iAi4mLahqM=")?;
//! let key = load_private_key_pem(&std::fs::read_to_string("webhook-key.pem")?)?;
//! let receiver = Receiver::new(secret, key);
//! // Answer 2xx once `open` succeeds; use `event.id` to ignore redeliveries.
//! let event = receiver.open(headers, body)?;
//! println!("{} for session {}", event.event_type(), event.metadata.verification_session_id);
//! # Ok(()) }
//! ```
//!
//! The `sender` feature adds what the server needs: parsing uploaded public keys ([`keys`]),
//! encryption ([`jwe::encrypt`]), signing ([`signature::sign`]), an SSRF-guarded HTTP client
//! ([`ssrf`]), the retry schedule ([`backoff`]) and one attempt wired from them ([`delivery`]).

#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod event;
pub mod jwe;
pub mod receiver;
pub mod secret;
pub mod signature;

#[cfg(feature = "sender")]
pub mod backoff;
#[cfg(feature = "sender")]
pub mod delivery;
#[cfg(feature = "sender")]
pub mod keys;
#[cfg(feature = "listen")]
pub mod listen;
#[cfg(feature = "sender")]
pub mod ssrf;

#[cfg(test)]
mod test_support;

pub use event::{Event, EventData, EventType};
pub use receiver::{ReceiveError, Receiver, load_private_key_pem};
pub use secret::WebhookSecret;

/// The media type of a delivery body (RFC 7515 §9.2.1 registers `application/jose` for the
/// compact serialization).
pub const CONTENT_TYPE: &str = "application/jose";

/// Compiles the README's Rust example as a doctest so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
