//! Signature verification and elliptic-curve arithmetic used by the authentications.
//!
//! One entry point, [`verify_signature`], takes a public key (from a certificate's
//! `SubjectPublicKeyInfo`), a [`SignatureAlgorithm`] (from an `AlgorithmIdentifier`) and the
//! signed bytes, and dispatches to RSA PKCS#1 v1.5, RSA-PSS or ECDSA (ICAO 9303-12 §4.4
//! lists the algorithms a CSCA, DSC and SOD may use). [`ec`] holds the generic curve
//! arithmetic, also used for ECDH by chip authentication.

mod asn1;

pub mod algorithm;
pub mod curves;
pub mod ec;
pub mod ecdsa_sig;
pub mod hash;
pub mod keys;
pub mod rsa_sig;

pub use algorithm::{PssParams, SignatureAlgorithm};
pub use curves::{Curve, CurveId};
pub use ecdsa_sig::EcdsaSignature;
pub use hash::HashAlgorithm;
pub use keys::PublicKey;

/// Why a cryptographic operation failed. Carries OIDs and structure names, never data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    #[error("unsupported signature or key algorithm {0}")]
    UnsupportedAlgorithm(String),
    #[error("unsupported digest algorithm {0}")]
    UnsupportedHash(String),
    #[error("unsupported elliptic curve {0}")]
    UnsupportedCurve(String),
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("invalid elliptic-curve domain parameters: {0}")]
    InvalidCurveParameters(&'static str),
    #[error("invalid public key: {0}")]
    InvalidPublicKey(&'static str),
    #[error("elliptic-curve point is not on the curve or badly encoded")]
    InvalidPoint,
    #[error("private scalar out of range")]
    InvalidScalar,
    #[error("ECDH produced the point at infinity")]
    SharedSecretIsInfinity,
    #[error("the signature algorithm names no digest and none was supplied")]
    MissingHash,
    #[error("the signature algorithm does not match the key type")]
    KeyAlgorithmMismatch,
    #[error("signature does not verify")]
    BadSignature,
}

/// Verifies `signature` over `message` (hashing it with the algorithm's digest).
///
/// # Errors
/// [`CryptoError::MissingHash`] when the algorithm carries no digest (call
/// [`SignatureAlgorithm::with_default_hash`] first), [`CryptoError::KeyAlgorithmMismatch`],
/// [`CryptoError::BadSignature`] and decoding errors.
pub fn verify_signature(
    key: &PublicKey,
    algorithm: &SignatureAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let hash = algorithm.hash().ok_or(CryptoError::MissingHash)?;
    verify_prehashed(key, algorithm, &hash.digest(message), signature)
}

/// Verifies `signature` over an already computed digest of the message.
///
/// # Errors
/// As [`verify_signature`].
pub fn verify_prehashed(
    key: &PublicKey,
    algorithm: &SignatureAlgorithm,
    digest: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    match (key, algorithm) {
        (PublicKey::Rsa(k), SignatureAlgorithm::RsaPkcs1v15 { hash }) => {
            rsa_sig::verify_pkcs1v15(k, hash.ok_or(CryptoError::MissingHash)?, digest, signature)
        }
        (PublicKey::Rsa(k), SignatureAlgorithm::RsaPss(params)) => {
            rsa_sig::verify_pss(k, params, digest, signature)
        }
        (PublicKey::Ec { curve, point }, SignatureAlgorithm::Ecdsa { .. }) => {
            ecdsa_sig::verify_prehash(curve, point, digest, &EcdsaSignature::from_der(signature)?)
        }
        (PublicKey::Ec { curve, point }, SignatureAlgorithm::EcdsaPlain { .. }) => {
            ecdsa_sig::verify_prehash(
                curve,
                point,
                digest,
                &EcdsaSignature::from_plain(signature)?,
            )
        }
        _ => Err(CryptoError::KeyAlgorithmMismatch),
    }
}

#[cfg(test)]
mod tests;
