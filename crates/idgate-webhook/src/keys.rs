//! The integrator's encryption key as uploaded: an RSA public key given as a JWK (RFC 7517
//! §4, RFC 7518 §6.3.1) or as an SPKI PEM (RFC 5280 §4.1.2.7, RFC 7468 §13). Owns parsing,
//! the strength checks done at upload time, and the RFC 7638 thumbprint used as the default
//! `kid`. Every rejection names its reason precisely, so the API can tell the integrator what
//! to fix; errors never echo the uploaded text.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs8::der::Decode as _;
use rsa::traits::PublicKeyParts as _;
use rsa::{BoxedUint, RsaPublicKey};
use serde_json::{Map, Value};
use sha2::Digest as _;

/// RFC 7518 §3.3/§4.3 and NIST SP 800-131A: RSA keys below 2048 bits are not acceptable.
pub const MIN_MODULUS_BITS: u32 = 2048;
/// Upper bound keeps one encryption cheap; 8192 is the `rsa` crate's own ceiling.
pub const MAX_MODULUS_BITS: u32 = 8192;
/// Largest public exponent accepted (the `rsa` crate's and *ring*'s bound against "RSADoS").
pub const MAX_EXPONENT: u64 = (1 << 33) - 1;
/// Bound on the uploaded text before parsing (a 8192-bit JWK is about 1.5 KiB).
pub const MAX_UPLOAD_LEN: usize = 16 * 1024;
const MAX_KID_LEN: usize = 255;

/// Why an uploaded key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key upload is larger than {MAX_UPLOAD_LEN} bytes")]
    TooLarge,
    #[error("key is neither a JWK (JSON object) nor a PEM `-----BEGIN PUBLIC KEY-----` block")]
    UnknownFormat,
    #[error("JWK is not valid JSON object")]
    JwkNotJson,
    #[error("JWK `kty` must be \"RSA\"")]
    JwkNotRsa,
    #[error("JWK member `{0}` is missing or not a string")]
    JwkMissingMember(&'static str),
    #[error("JWK member `{0}` is not base64url without padding")]
    JwkBadBase64(&'static str),
    #[error("JWK contains private key member `{0}`; upload only the public key")]
    JwkHasPrivateKey(&'static str),
    #[error("JWK `use` must be \"enc\" when present")]
    JwkWrongUse,
    #[error("JWK `alg` must be \"RSA-OAEP-256\" when present")]
    JwkWrongAlg,
    #[error("JWK `key_ops` must allow \"encrypt\" or \"wrapKey\" when present")]
    JwkWrongKeyOps,
    #[error("`kid` must be 1..={MAX_KID_LEN} printable ASCII characters")]
    BadKid,
    #[error("PEM is not a `PUBLIC KEY` (SubjectPublicKeyInfo) block")]
    PemNotSpki,
    #[error("PEM does not contain a well-formed SubjectPublicKeyInfo")]
    PemMalformed,
    #[error("public key is not an RSA key (rsaEncryption)")]
    NotRsa,
    #[error("RSA modulus has {bits} bits; at least {MIN_MODULUS_BITS} are required")]
    ModulusTooSmall { bits: u32 },
    #[error("RSA modulus has {bits} bits; at most {MAX_MODULUS_BITS} are supported")]
    ModulusTooLarge { bits: u32 },
    #[error("RSA modulus must be odd")]
    ModulusEven,
    #[error("RSA public exponent must be odd")]
    ExponentEven,
    #[error("RSA public exponent must be at least 3")]
    ExponentTooSmall,
    #[error("RSA public exponent must be at most 2^33-1")]
    ExponentTooLarge,
    #[error("RSA key rejected: {0}")]
    Rsa(String),
}

/// A checked RSA public key to encrypt deliveries to, with the `kid` put into the JWE header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientKey {
    public_key: RsaPublicKey,
    kid: String,
    thumbprint: String,
}

impl RecipientKey {
    /// Parses an upload, telling JWK (a JSON object) and SPKI PEM apart by their first bytes.
    pub fn parse(upload: &[u8]) -> Result<Self, KeyError> {
        if upload.len() > MAX_UPLOAD_LEN {
            return Err(KeyError::TooLarge);
        }
        let trimmed = upload.trim_ascii();
        if trimmed.starts_with(b"{") {
            Self::from_jwk(trimmed)
        } else if trimmed.starts_with(b"-----BEGIN") {
            let text = std::str::from_utf8(trimmed).map_err(|_| KeyError::PemMalformed)?;
            Self::from_spki_pem(text)
        } else {
            Err(KeyError::UnknownFormat)
        }
    }

    /// Parses a public RSA JWK. `kid` is taken from the JWK when present, else the thumbprint.
    pub fn from_jwk(json: &[u8]) -> Result<Self, KeyError> {
        if json.len() > MAX_UPLOAD_LEN {
            return Err(KeyError::TooLarge);
        }
        let jwk: Map<String, Value> =
            serde_json::from_slice(json).map_err(|_| KeyError::JwkNotJson)?;
        if jwk.get("kty").and_then(Value::as_str) != Some("RSA") {
            return Err(KeyError::JwkNotRsa);
        }
        for member in ["d", "p", "q", "dp", "dq", "qi", "oth"] {
            if jwk.contains_key(member) {
                return Err(KeyError::JwkHasPrivateKey(private_member_name(member)));
            }
        }
        if jwk.get("use").is_some_and(|u| u.as_str() != Some("enc")) {
            return Err(KeyError::JwkWrongUse);
        }
        if jwk
            .get("alg")
            .is_some_and(|a| a.as_str() != Some(crate::jwe::ALG))
        {
            return Err(KeyError::JwkWrongAlg);
        }
        if let Some(ops) = jwk.get("key_ops") {
            let allows = ops.as_array().is_some_and(|ops| {
                ops.iter()
                    .any(|op| matches!(op.as_str(), Some("encrypt" | "wrapKey")))
            });
            if !allows {
                return Err(KeyError::JwkWrongKeyOps);
            }
        }
        let n = jwk_uint(&jwk, "n")?;
        let e = jwk_uint(&jwk, "e")?;
        let kid = match jwk.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(KeyError::BadKid),
        };
        Self::from_components(&n, &e, kid)
    }

    /// Parses a `-----BEGIN PUBLIC KEY-----` block (SubjectPublicKeyInfo with rsaEncryption).
    pub fn from_spki_pem(pem: &str) -> Result<Self, KeyError> {
        if pem.len() > MAX_UPLOAD_LEN {
            return Err(KeyError::TooLarge);
        }
        let (label, doc) =
            rsa::pkcs8::Document::from_pem(pem.trim()).map_err(|_| KeyError::PemMalformed)?;
        if label != "PUBLIC KEY" {
            return Err(KeyError::PemNotSpki);
        }
        Self::from_spki_der(doc.as_bytes(), None)
    }

    /// Parses DER SubjectPublicKeyInfo, for callers that already hold the binary form.
    pub fn from_spki_der(der: &[u8], kid: Option<String>) -> Result<Self, KeyError> {
        let spki = rsa::pkcs8::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|_| KeyError::PemMalformed)?;
        if spki.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
            return Err(KeyError::NotRsa);
        }
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or(KeyError::PemMalformed)?;
        let rsa_key =
            rsa::pkcs1::RsaPublicKey::<rsa::pkcs1::der::asn1::UintRef<'_>>::from_der(bits)
                .map_err(|_| KeyError::PemMalformed)?;
        Self::from_components(
            rsa_key.modulus.as_bytes(),
            rsa_key.public_exponent.as_bytes(),
            kid,
        )
    }

    /// Builds a key from big-endian modulus and exponent, applying every upload check.
    pub fn from_components(n: &[u8], e: &[u8], kid: Option<String>) -> Result<Self, KeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let n_bits = bit_length(n);
        if n_bits < MIN_MODULUS_BITS {
            return Err(KeyError::ModulusTooSmall { bits: n_bits });
        }
        if n_bits > MAX_MODULUS_BITS {
            return Err(KeyError::ModulusTooLarge { bits: n_bits });
        }
        if n.last().is_none_or(|b| b & 1 == 0) {
            return Err(KeyError::ModulusEven);
        }
        let exponent = if e.len() > 8 {
            return Err(KeyError::ExponentTooLarge);
        } else {
            e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
        };
        if exponent < 3 {
            return Err(KeyError::ExponentTooSmall);
        }
        if exponent & 1 == 0 {
            return Err(KeyError::ExponentEven);
        }
        if exponent > MAX_EXPONENT {
            return Err(KeyError::ExponentTooLarge);
        }
        if let Some(kid) = &kid {
            check_kid(kid)?;
        }
        // Public values, so variable-time decoding is fine.
        let n_uint = BoxedUint::from_be_slice_vartime(n);
        let e_uint = BoxedUint::from_be_slice_vartime(e);
        let public_key = RsaPublicKey::new_with_size_limits(
            n_uint,
            e_uint,
            MIN_MODULUS_BITS as usize..=MAX_MODULUS_BITS as usize,
        )
        .map_err(|e| KeyError::Rsa(e.to_string()))?;
        let thumbprint = thumbprint(n, e);
        Ok(Self {
            kid: kid.unwrap_or_else(|| thumbprint.clone()),
            thumbprint,
            public_key,
        })
    }

    /// The same key announced under another `kid` (for example the server's `whk_` id when
    /// the integrator gave none).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Result<Self, KeyError> {
        let kid = kid.into();
        check_kid(&kid)?;
        self.kid = kid;
        Ok(self)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// RFC 7638 JWK SHA-256 thumbprint, base64url: stable whatever format the key came in.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    pub fn modulus_bits(&self) -> u32 {
        self.public_key.n().bits_vartime()
    }

    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public_key
    }

    /// The key as a public JWK (`kty`, `n`, `e`, `kid`, `use`, `alg`), for API responses.
    pub fn to_jwk(&self) -> Value {
        serde_json::json!({
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(self.public_key.n_bytes()),
            "e": URL_SAFE_NO_PAD.encode(self.public_key.e_bytes()),
            "kid": self.kid,
            "use": "enc",
            "alg": crate::jwe::ALG,
        })
    }
}

/// RFC 7638 §3.2: the required members in lexicographic order, no whitespace, hashed with
/// SHA-256. `n` and `e` are the minimal big-endian encodings (RFC 7518 §6.3.1.1).
fn thumbprint(n: &[u8], e: &[u8]) -> String {
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(e),
        URL_SAFE_NO_PAD.encode(n)
    );
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
}

fn jwk_uint(jwk: &Map<String, Value>, member: &'static str) -> Result<Vec<u8>, KeyError> {
    let text = jwk
        .get(member)
        .and_then(Value::as_str)
        .ok_or(KeyError::JwkMissingMember(member))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| KeyError::JwkBadBase64(member))
}

fn private_member_name(member: &str) -> &'static str {
    match member {
        "d" => "d",
        "p" => "p",
        "q" => "q",
        "dp" => "dp",
        "dq" => "dq",
        "qi" => "qi",
        _ => "oth",
    }
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    let ok = (1..=MAX_KID_LEN).contains(&kid.len()) && kid.bytes().all(|b| b.is_ascii_graphic());
    if ok { Ok(()) } else { Err(KeyError::BadKid) }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}

fn bit_length(minimal: &[u8]) -> u32 {
    match minimal.first() {
        None => 0,
        Some(top) => {
            let len = u32::try_from(minimal.len()).unwrap_or(u32::MAX / 8);
            (len - 1)
                .saturating_mul(8)
                .saturating_add(8 - top.leading_zeros())
        }
    }
}

#[cfg(test)]
#[path = "keys_test.rs"]
mod tests;
