//! Compact JWE with exactly one algorithm pair: key management `RSA-OAEP-256` (RFC 7518 §4.3:
//! RSAES-OAEP, SHA-256, MGF1 with SHA-256) and content encryption `A256GCM` (RFC 7518 §5.3:
//! AES-256-GCM, 96-bit IV, 128-bit tag), in the compact serialization of RFC 7516 §7.1:
//! `B64U(header) . B64U(encrypted key) . B64U(iv) . B64U(ciphertext) . B64U(tag)`.
//!
//! Owns the byte format only. Any other `alg`/`enc`, compression (`zip`) or critical header
//! parameter (`crit`) is refused: accepting algorithm choices from the token is the classic JOSE
//! downgrade hole, and nothing here needs them. Sizes are bounded before decoding, and every
//! cryptographic failure collapses into one error so the receiver is not a padding oracle.
//!
//! Note for receivers: RSA decryption is a private-key operation, done with blinding by the
//! `rsa` crate. The sender only ever performs public-key encryption.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::RsaPrivateKey;
use serde::Deserialize;

/// `alg` of every token we produce and accept.
pub const ALG: &str = "RSA-OAEP-256";
/// `enc` of every token we produce and accept.
pub const ENC: &str = "A256GCM";
/// `cty` we set: the plaintext is one JSON event.
pub const CTY: &str = "application/json";

/// Largest token accepted for decryption. A success payload with a passport portrait is tens
/// of KiB; the cap keeps a hostile body from costing more than a bounded decode.
pub const MAX_TOKEN_LEN: usize = 4 * 1024 * 1024;
const MAX_HEADER_SEGMENT_LEN: usize = 2048;
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
const CEK_LEN: usize = 32;

/// Why a token could not be decrypted. Carries no plaintext and no key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JweError {
    #[error("token is larger than {MAX_TOKEN_LEN} bytes")]
    TooLarge,
    #[error("token is not a five-part compact JWE")]
    NotCompact,
    #[error("the {0} segment is not base64url without padding")]
    BadBase64(&'static str),
    #[error("protected header is not a JSON object with string `alg` and `enc`")]
    BadHeader,
    #[error("unsupported `alg` {0:?}, only RSA-OAEP-256 is accepted")]
    UnsupportedAlg(String),
    #[error("unsupported `enc` {0:?}, only A256GCM is accepted")]
    UnsupportedEnc(String),
    #[error("unsupported header parameter `{0}`")]
    UnsupportedParameter(&'static str),
    #[error("the initialization vector must be {IV_LEN} bytes and the tag {TAG_LEN}")]
    BadLengths,
    #[error("decryption failed: wrong key or tampered token")]
    Decryption,
    #[error("encryption failed")]
    Encryption,
}

/// The protected header fields a receiver may want before decrypting (to pick a key by `kid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kid: Option<String>,
    pub cty: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    enc: String,
    kid: Option<String>,
    cty: Option<String>,
    zip: Option<serde_json::Value>,
    crit: Option<serde_json::Value>,
}

struct Parts<'t> {
    header_b64: &'t str,
    header: Header,
    encrypted_key: Vec<u8>,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
    tag: Vec<u8>,
}

/// Reads and checks the protected header without decrypting.
pub fn header(token: &str) -> Result<Header, JweError> {
    split(token).map(|p| p.header)
}

/// Decrypts a compact JWE produced for `key`. Returns the plaintext bytes.
pub fn decrypt(token: &str, key: &RsaPrivateKey) -> Result<Vec<u8>, JweError> {
    let parts = split(token)?;
    let cek = zeroize::Zeroizing::new(
        key.decrypt(rsa::Oaep::<sha2::Sha256>::new(), &parts.encrypted_key)
            .map_err(|_| JweError::Decryption)?,
    );
    if cek.len() != CEK_LEN {
        return Err(JweError::Decryption);
    }
    let mut sealed = parts.ciphertext;
    sealed.extend_from_slice(&parts.tag);
    aead_decrypt(&cek, &parts.iv, parts.header_b64.as_bytes(), &sealed)
}

fn split(token: &str) -> Result<Parts<'_>, JweError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JweError::TooLarge);
    }
    let mut segments = token.trim_ascii().split('.');
    let (Some(h), Some(k), Some(iv), Some(c), Some(t), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(JweError::NotCompact);
    };
    if h.len() > MAX_HEADER_SEGMENT_LEN {
        return Err(JweError::BadHeader);
    }
    let header_json = b64(h, "header")?;
    let raw: RawHeader = serde_json::from_slice(&header_json).map_err(|_| JweError::BadHeader)?;
    if raw.alg != ALG {
        return Err(JweError::UnsupportedAlg(raw.alg.chars().take(32).collect()));
    }
    if raw.enc != ENC {
        return Err(JweError::UnsupportedEnc(raw.enc.chars().take(32).collect()));
    }
    if raw.zip.is_some() {
        return Err(JweError::UnsupportedParameter("zip"));
    }
    if raw.crit.is_some() {
        return Err(JweError::UnsupportedParameter("crit"));
    }
    let parts = Parts {
        header_b64: h,
        header: Header {
            kid: raw.kid,
            cty: raw.cty,
        },
        encrypted_key: b64(k, "encrypted key")?,
        iv: b64(iv, "initialization vector")?,
        ciphertext: b64(c, "ciphertext")?,
        tag: b64(t, "authentication tag")?,
    };
    if parts.iv.len() != IV_LEN || parts.tag.len() != TAG_LEN {
        return Err(JweError::BadLengths);
    }
    Ok(parts)
}

fn b64(segment: &str, name: &'static str) -> Result<Vec<u8>, JweError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JweError::BadBase64(name))
}

fn aead_decrypt(cek: &[u8], iv: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, JweError> {
    use aes_gcm::aead::{Aead as _, Payload};
    use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
    let cipher = Aes256Gcm::new_from_slice(cek).map_err(|_| JweError::Decryption)?;
    let nonce = Nonce::try_from(iv).map_err(|_| JweError::BadLengths)?;
    cipher
        .decrypt(&nonce, Payload { msg: sealed, aad })
        .map_err(|_| JweError::Decryption)
}

#[cfg(feature = "sender")]
pub use sender::{encrypt, encrypt_with_rng};

#[cfg(feature = "sender")]
mod sender {
    use super::*;
    use crate::keys::RecipientKey;

    /// Encrypts `plaintext` to the integrator's key with a fresh content key and IV from the
    /// operating system CSPRNG. The protected header names the key (`kid`) so the receiver can
    /// pick the right private key during a key rotation.
    pub fn encrypt(plaintext: &[u8], recipient: &RecipientKey) -> Result<String, JweError> {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        encrypt_with_rng(plaintext, recipient, &mut rng)
    }

    /// [`encrypt`] with the randomness supplied, for deterministic tests.
    pub fn encrypt_with_rng<R: rand_core::CryptoRng + ?Sized>(
        plaintext: &[u8],
        recipient: &RecipientKey,
        rng: &mut R,
    ) -> Result<String, JweError> {
        let header =
            serde_json::json!({"alg": ALG, "enc": ENC, "kid": recipient.kid(), "cty": CTY});
        let header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());

        let mut cek = zeroize::Zeroizing::new([0u8; CEK_LEN]);
        rng.fill_bytes(cek.as_mut_slice());
        let mut iv = [0u8; IV_LEN];
        rng.fill_bytes(&mut iv);

        let encrypted_key = recipient
            .public_key()
            .encrypt(rng, rsa::Oaep::<sha2::Sha256>::new(), cek.as_slice())
            .map_err(|_| JweError::Encryption)?;

        use aes_gcm::aead::{Aead as _, Payload};
        use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
        let cipher = Aes256Gcm::new_from_slice(cek.as_slice()).map_err(|_| JweError::Encryption)?;
        let nonce = Nonce::try_from(&iv[..]).map_err(|_| JweError::Encryption)?;
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: header_b64.as_bytes(),
                },
            )
            .map_err(|_| JweError::Encryption)?;
        let (ciphertext, tag) = sealed
            .split_at_checked(sealed.len().saturating_sub(TAG_LEN))
            .ok_or(JweError::Encryption)?;

        Ok([
            header_b64.as_str(),
            &URL_SAFE_NO_PAD.encode(encrypted_key),
            &URL_SAFE_NO_PAD.encode(iv),
            &URL_SAFE_NO_PAD.encode(ciphertext),
            &URL_SAFE_NO_PAD.encode(tag),
        ]
        .join("."))
    }
}

#[cfg(test)]
#[path = "jwe_test.rs"]
mod tests;
