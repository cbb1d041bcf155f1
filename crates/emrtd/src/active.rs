//! Active Authentication, verifier side (ICAO 9303-11 §6.1).
//!
//! The chip proves it is not a copy by signing a challenge chosen by the verifier with a private
//! key that never leaves the chip; the matching public key is in DG15, which passive
//! authentication has already bound to the document signer. This module owns only the signature
//! check: it takes the DG15 `SubjectPublicKeyInfo`, the challenge the server issued, the chip's
//! signature and, for ECDSA, the signature algorithm DG14's `ActiveAuthenticationInfo` names, and
//! answers with the mechanism that verified or the precise reason it did not. It never sees MRZ
//! data and performs public-key operations only.
//!
//! Two mechanisms exist:
//! - **RSA** with the ISO/IEC 9796-2 digital signature scheme 1, partial message recovery: the
//!   chip chooses a nonce `M1`, and signs `0x6A ‖ M1 ‖ H(M1 ‖ challenge) ‖ trailer`; the verifier
//!   recovers `M1` and recomputes the hash. The trailer `0xBC` means SHA-1 (ISO/IEC 9796-2 §8.1.2,
//!   implicit), `ID ‖ 0xCC` names the hash by its ISO/IEC 10118-3 identifier.
//! - **ECDSA** over the curve of the DG15 key with a plain `r ‖ s` signature (BSI TR-03111
//!   §5.2.1), hash taken from DG14 (ICAO 9303-11 §6.1.2: DG14 is required for ECDSA AA).
//!
//! Freshness belongs to the server (`docs/verify.md`, trust policy): a chip's signature proves
//! nothing if the challenge was chosen by the client or replayed. So the live path starts from a
//! [`Challenge`] only the verifier can mint ([`Challenge::issue`], 8 bytes from the operating
//! system's generator); it is neither `Clone` nor constructible from client bytes, and
//! [`Challenge::verify`] consumes it, so one challenge checks one answer:
//!
//! ```no_run
//! # fn send_to_phone(_: &[u8]) {}
//! # fn answer_from_phone() -> Vec<u8> { Vec::new() }
//! # let dg15_spki: &[u8] = &[];
//! use emrtd::active::Challenge;
//! let challenge = Challenge::issue().expect("OS random generator");
//! send_to_phone(challenge.bytes());          // relayed to the chip's INTERNAL AUTHENTICATE
//! let signature = answer_from_phone();
//! let mechanism = challenge.verify(dg15_spki, &signature, None); // consumes the challenge
//! # let _ = mechanism;
//! ```
//!
//! [`verify_recorded`] checks *recorded* evidence (a challenge and a signature captured
//! elsewhere, for audits) and, by its name, claims nothing about freshness.

use der::asn1::ObjectIdentifier;
use num_bigint::BigUint;
use rsa::traits::PublicKeyParts;
use subtle::ConstantTimeEq;

use crate::crypto::ecdsa_sig::{self, EcdsaSignature};
use crate::crypto::hash::HashAlgorithm;
use crate::crypto::rsa_sig::rsa_public_op;
use crate::crypto::{CryptoError, PublicKey, SignatureAlgorithm};

/// Length of the challenge sent with INTERNAL AUTHENTICATE (ICAO 9303-11 §6.1.1: 8 bytes).
pub const CHALLENGE_LEN: usize = 8;

/// Largest RSA modulus accepted for an AA key, in bits. DG15 keys in circulation are 1024–3072
/// bits; the cap bounds the cost of the public operation on untrusted input.
pub const MAX_RSA_BITS: usize = 4096;

/// `id-AA` (ICAO 9303-11 §9.2.8): the protocol OID of DG14's `ActiveAuthenticationInfo`.
pub const ID_AA: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.136.1.1.5");

/// The hash a chip applies to the challenge, from DG14's
/// `ActiveAuthenticationInfo.signatureAlgorithm` (BSI TR-03111 §5.2.1 `ecdsa-plain-*`, or the
/// X9.62 `ecdsa-with-*` / PKCS#1 `sha*WithRSAEncryption` OIDs some issuers write instead).
/// `None` for an OID that names no digest.
pub fn hash_from_signature_algorithm(oid: &ObjectIdentifier) -> Option<HashAlgorithm> {
    SignatureAlgorithm::from_oid(oid, None)
        .ok()
        .and_then(|alg| alg.hash())
}

/// The BSI TR-03111 plain-signature OID for `hash`, as a chip's DG14 announces it.
pub fn ecdsa_plain_oid(hash: HashAlgorithm) -> ObjectIdentifier {
    use crate::crypto::algorithm::oid;
    match hash {
        HashAlgorithm::Sha1 => oid::ECDSA_PLAIN_SHA1,
        HashAlgorithm::Sha224 => oid::ECDSA_PLAIN_SHA224,
        HashAlgorithm::Sha256 => oid::ECDSA_PLAIN_SHA256,
        HashAlgorithm::Sha384 => oid::ECDSA_PLAIN_SHA384,
        HashAlgorithm::Sha512 => oid::ECDSA_PLAIN_SHA512,
    }
}

/// ISO/IEC 10118-3 hash-function identifier carried before the `0xCC` trailer
/// (ISO/IEC 9796-2 §8.1.2, Table 3).
pub fn iso9796_hash_id(hash: HashAlgorithm) -> u8 {
    match hash {
        HashAlgorithm::Sha1 => 0x33,
        HashAlgorithm::Sha256 => 0x34,
        HashAlgorithm::Sha512 => 0x35,
        HashAlgorithm::Sha384 => 0x36,
        HashAlgorithm::Sha224 => 0x38,
    }
}

pub(crate) fn hash_from_iso9796_id(id: u8) -> Option<HashAlgorithm> {
    Some(match id {
        0x33 => HashAlgorithm::Sha1,
        0x34 => HashAlgorithm::Sha256,
        0x35 => HashAlgorithm::Sha512,
        0x36 => HashAlgorithm::Sha384,
        0x38 => HashAlgorithm::Sha224,
        _ => return None,
    })
}

/// What a successful active authentication used, recorded in the attempt's check report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AaMechanism {
    /// RSA with ISO/IEC 9796-2 scheme 1.
    RsaIso9796_2 {
        modulus_bits: usize,
        hash: HashAlgorithm,
    },
    /// ECDSA with a plain `r ‖ s` signature.
    Ecdsa { curve: String, hash: HashAlgorithm },
}

impl AaMechanism {
    /// A short human-readable name, free of personal data, for check reports.
    pub fn name(&self) -> String {
        match self {
            Self::RsaIso9796_2 { modulus_bits, hash } => {
                format!("RSA-{modulus_bits} ISO/IEC 9796-2 scheme 1 with {hash}")
            }
            Self::Ecdsa { curve, hash } => format!("ECDSA {curve} with {hash}"),
        }
    }
}

/// Why an active-authentication signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AaError {
    #[error("the challenge must be {CHALLENGE_LEN} bytes")]
    ChallengeLength,
    #[error("the operating system's random generator is unavailable")]
    RandomUnavailable,
    #[error("DG15 public key is not a valid SubjectPublicKeyInfo")]
    MalformedPublicKey,
    #[error("DG15 public key algorithm {0} is not RSA or EC")]
    UnsupportedKeyAlgorithm(String),
    #[error("RSA modulus larger than {MAX_RSA_BITS} bits")]
    RsaKeyTooLarge,
    #[error("elliptic curve of the DG15 key is not supported")]
    UnsupportedCurve,
    #[error("ECDSA active authentication needs the signature algorithm from DG14")]
    MissingSignatureAlgorithm,
    #[error("DG14 signature algorithm {0} is not an ECDSA algorithm")]
    UnsupportedSignatureAlgorithm(String),
    #[error("signature length does not match the key")]
    SignatureLength,
    #[error("signature representative is not smaller than the modulus")]
    SignatureOutOfRange,
    #[error(
        "recovered message does not start with the ISO/IEC 9796-2 partial-recovery header 0x6A"
    )]
    BadHeader,
    #[error("recovered message has no ISO/IEC 9796-2 trailer (0xBC or 0x..CC)")]
    BadTrailer,
    #[error("ISO/IEC 9796-2 trailer names an unsupported hash (identifier 0x{0:02X})")]
    UnsupportedHashId(u8),
    #[error("ISO/IEC 9796-2 trailer names {found}, DG14 announces {announced}")]
    HashMismatchWithDg14 {
        found: HashAlgorithm,
        announced: HashAlgorithm,
    },
    #[error("recovered message too short for the hash")]
    MessageTooShort,
    #[error("hash over the recovered message and the challenge does not match")]
    HashMismatch,
    #[error("ECDSA signature does not verify")]
    EcdsaInvalid,
}

/// A fresh active-authentication challenge, minted by the verifier and consumed by the one
/// check of the chip's answer (see the module documentation). A second check with the same
/// challenge does not compile:
///
/// ```compile_fail
/// let challenge = emrtd::active::Challenge::issue().unwrap();
/// let _ = challenge.verify(&[], &[], None);
/// let _ = challenge.verify(&[], &[], None); // use of moved value
/// ```
#[derive(Debug)]
pub struct Challenge([u8; CHALLENGE_LEN]);

impl Challenge {
    /// Draws 8 random bytes from the operating system (ICAO 9303-11 §6.1.1: RND.IFD).
    ///
    /// # Errors
    /// [`AaError::RandomUnavailable`] when the operating system has no random bytes to give.
    pub fn issue() -> Result<Self, AaError> {
        let mut bytes = [0u8; CHALLENGE_LEN];
        getrandom::fill(&mut bytes).map_err(|_| AaError::RandomUnavailable)?;
        Ok(Self(bytes))
    }

    /// The bytes to send to the chip with INTERNAL AUTHENTICATE.
    pub fn bytes(&self) -> &[u8; CHALLENGE_LEN] {
        &self.0
    }

    /// The bytes to keep in the server's own encrypted attempt vault between issuing the
    /// challenge and receiving the answer; [`Self::restore`] reads them back.
    pub fn to_vault_bytes(&self) -> [u8; CHALLENGE_LEN] {
        self.0
    }

    /// Restores a challenge written by [`Self::to_vault_bytes`]. Only for the server's own
    /// vault: bytes that came from a client are not a challenge this server issued.
    ///
    /// # Errors
    /// [`AaError::ChallengeLength`].
    pub fn restore(vault_bytes: &[u8]) -> Result<Self, AaError> {
        vault_bytes
            .try_into()
            .map(Self)
            .map_err(|_| AaError::ChallengeLength)
    }

    /// Verifies the chip's answer to this challenge and consumes it (ICAO 9303-11 §6.1); see
    /// [`verify_recorded`] for the arguments.
    ///
    /// # Errors
    /// As [`verify_recorded`].
    pub fn verify(
        self,
        dg15_spki_der: &[u8],
        signature: &[u8],
        signature_algorithm: Option<&ObjectIdentifier>,
    ) -> Result<AaMechanism, AaError> {
        verify_recorded(dg15_spki_der, &self.0, signature, signature_algorithm)
    }

    /// [`Self::verify`] with the signature algorithm taken from a parsed DG14
    /// ([`signature_algorithm_of`]).
    ///
    /// # Errors
    /// As [`verify_recorded`].
    pub fn verify_with_dg14(
        self,
        dg15_spki_der: &[u8],
        signature: &[u8],
        dg14: Option<&crate::lds::dg14::SecurityInfos>,
    ) -> Result<AaMechanism, AaError> {
        let oid = dg14.and_then(signature_algorithm_of);
        self.verify(dg15_spki_der, signature, oid.as_ref())
    }
}

/// Verifies a *recorded* answer to INTERNAL AUTHENTICATE (ICAO 9303-11 §6.1): the signature is
/// checked, freshness is not (the caller vouches for where `challenge` came from). A live
/// verification uses [`Challenge`].
///
/// `dg15_spki_der` is the `SubjectPublicKeyInfo` inside DG15 (tag `0x6F` removed).
/// `signature_algorithm` is DG14's `ActiveAuthenticationInfo.signatureAlgorithm`; it is required
/// for EC keys and, for RSA, cross-checked against the hash the ISO/IEC 9796-2 trailer names.
///
/// # Errors
/// The [`AaError`] variant names the exact reason the signature was refused.
pub fn verify_recorded(
    dg15_spki_der: &[u8],
    challenge: &[u8],
    signature: &[u8],
    signature_algorithm: Option<&ObjectIdentifier>,
) -> Result<AaMechanism, AaError> {
    if challenge.len() != CHALLENGE_LEN {
        return Err(AaError::ChallengeLength);
    }
    let key = PublicKey::from_spki_der(dg15_spki_der).map_err(|err| match err {
        CryptoError::UnsupportedAlgorithm(oid) => AaError::UnsupportedKeyAlgorithm(oid),
        CryptoError::UnsupportedCurve(_) | CryptoError::InvalidCurveParameters(_) => {
            AaError::UnsupportedCurve
        }
        _ => AaError::MalformedPublicKey,
    })?;
    match &key {
        PublicKey::Rsa(rsa_key) => {
            let announced = signature_algorithm.and_then(hash_from_signature_algorithm);
            verify_rsa_9796_2(rsa_key, challenge, signature, announced)
        }
        PublicKey::Ec { curve, point } => {
            let alg = signature_algorithm.ok_or(AaError::MissingSignatureAlgorithm)?;
            let hash = hash_from_signature_algorithm(alg)
                .ok_or_else(|| AaError::UnsupportedSignatureAlgorithm(alg.to_string()))?;
            if signature.len() != 2 * curve.params().order_len() {
                return Err(AaError::SignatureLength);
            }
            let sig =
                EcdsaSignature::from_plain(signature).map_err(|_| AaError::SignatureLength)?;
            let prehash = hash.digest(challenge);
            ecdsa_sig::verify_prehash(curve, point, &prehash, &sig).map_err(|err| match err {
                CryptoError::InvalidPoint => AaError::MalformedPublicKey,
                _ => AaError::EcdsaInvalid,
            })?;
            Ok(AaMechanism::Ecdsa {
                curve: curve.name(),
                hash,
            })
        }
    }
}

/// [`verify_recorded`] with the signature algorithm taken from a parsed DG14
/// ([`crate::lds::dg14::SecurityInfos`]), when it has an `ActiveAuthenticationInfo`.
///
/// # Errors
/// As [`verify_recorded`].
pub fn verify_recorded_with_dg14(
    dg15_spki_der: &[u8],
    challenge: &[u8],
    signature: &[u8],
    dg14: Option<&crate::lds::dg14::SecurityInfos>,
) -> Result<AaMechanism, AaError> {
    let oid = dg14.and_then(signature_algorithm_of);
    verify_recorded(dg15_spki_der, challenge, signature, oid.as_ref())
}

/// DG14's `ActiveAuthenticationInfo.signatureAlgorithm` as an OID, when DG14 has one.
pub fn signature_algorithm_of(dg14: &crate::lds::dg14::SecurityInfos) -> Option<ObjectIdentifier> {
    use crate::lds::dg14::{AaSignatureAlgorithm, HashAlgorithm as LdsHash};
    dg14.active_authentication()
        .map(|aa| match &aa.signature_algorithm {
            AaSignatureAlgorithm::EcdsaPlain(hash) => ecdsa_plain_oid(match hash {
                LdsHash::Sha1 => HashAlgorithm::Sha1,
                LdsHash::Sha224 => HashAlgorithm::Sha224,
                LdsHash::Sha256 => HashAlgorithm::Sha256,
                LdsHash::Sha384 => HashAlgorithm::Sha384,
                LdsHash::Sha512 => HashAlgorithm::Sha512,
            }),
            AaSignatureAlgorithm::Other(oid) => *oid,
        })
}

/// ISO/IEC 9796-2 digital signature scheme 1 verification with partial message recovery, the
/// non-recoverable part `M2` being the challenge (ICAO 9303-11 §6.1.1).
fn verify_rsa_9796_2(
    key: &rsa::RsaPublicKey,
    challenge: &[u8],
    signature: &[u8],
    announced: Option<HashAlgorithm>,
) -> Result<AaMechanism, AaError> {
    let modulus_bits = usize::try_from(key.n().as_ref().bits_vartime()).unwrap_or(usize::MAX);
    if modulus_bits > MAX_RSA_BITS {
        return Err(AaError::RsaKeyTooLarge);
    }
    if signature.len() != key.size() {
        return Err(AaError::SignatureLength);
    }
    let em = rsa_public_op(key, signature).map_err(|_| AaError::SignatureOutOfRange)?;
    let hash = match recover_and_check(&em, challenge, announced) {
        Ok(hash) => hash,
        // ISO/IEC 9796-2 §B.6 lets the signer send min(Σ, n − Σ); when the representative does
        // not end in the nibble 0xC the signer sent n − Σ, and n − J recovers the message.
        Err(first) if em.last().is_some_and(|b| b & 0x0F != 0x0C) => {
            let n = BigUint::from_bytes_be(&key.n().as_ref().to_be_bytes());
            let alt = n - BigUint::from_bytes_be(&em);
            let alt = be_padded(&alt.to_bytes_be(), key.size());
            recover_and_check(&alt, challenge, announced).map_err(|_| first)?
        }
        Err(first) => return Err(first),
    };
    Ok(AaMechanism::RsaIso9796_2 { modulus_bits, hash })
}

/// Left-pads a big-endian integer to `len` bytes.
fn be_padded(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len.saturating_sub(bytes.len())];
    out.extend_from_slice(bytes);
    out
}

/// Parses `0x6A ‖ M1 ‖ H ‖ trailer` and checks `H = Hash(M1 ‖ challenge)` in constant time.
fn recover_and_check(
    em: &[u8],
    challenge: &[u8],
    announced: Option<HashAlgorithm>,
) -> Result<HashAlgorithm, AaError> {
    // A modulus whose length is not a multiple of 8 leaves a leading zero byte.
    let em = match em.first() {
        Some(0) => em.get(1..).unwrap_or(&[]),
        _ => em,
    };
    if em.first() != Some(&0x6A) {
        return Err(AaError::BadHeader);
    }
    let (hash, trailer_len) = match em.last() {
        Some(0xBC) => (HashAlgorithm::Sha1, 1),
        Some(0xCC) => {
            let id = em
                .len()
                .checked_sub(2)
                .and_then(|i| em.get(i))
                .ok_or(AaError::BadTrailer)?;
            (
                hash_from_iso9796_id(*id).ok_or(AaError::UnsupportedHashId(*id))?,
                2,
            )
        }
        _ => return Err(AaError::BadTrailer),
    };
    if let Some(announced) = announced
        && announced != hash
    {
        return Err(AaError::HashMismatchWithDg14 {
            found: hash,
            announced,
        });
    }
    let digest_end = em
        .len()
        .checked_sub(trailer_len)
        .ok_or(AaError::MessageTooShort)?;
    let m1_end = digest_end
        .checked_sub(hash.output_len())
        .ok_or(AaError::MessageTooShort)?;
    if m1_end < 1 {
        return Err(AaError::MessageTooShort);
    }
    let m1 = em.get(1..m1_end).ok_or(AaError::MessageTooShort)?;
    let digest = em.get(m1_end..digest_end).ok_or(AaError::MessageTooShort)?;
    let expected = hash.digest_parts(&[m1, challenge]);
    if bool::from(expected.as_slice().ct_eq(digest)) {
        Ok(hash)
    } else {
        Err(AaError::HashMismatch)
    }
}
