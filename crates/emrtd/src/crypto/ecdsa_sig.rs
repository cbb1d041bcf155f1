//! ECDSA verification dispatch: the typed RustCrypto implementations for the curves they
//! cover (NIST P-256/384/521, brainpoolP256r1/384r1), the generic arithmetic of
//! [`super::ec`] for every other curve. Signatures come DER-encoded (X9.62 `ECDSA-Sig-Value`,
//! RFC 5758 §3.2, used by CMS and X.509) or plain `r‖s` (BSI TR-03111 §5.2.1, used by active
//! authentication, ICAO 9303-11 §6.1).

use ecdsa::EcdsaCurve;
use elliptic_curve::sec1::{FromSec1Point, ModulusSize, ToSec1Point};
use elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytesSize};
use signature::hazmat::PrehashVerifier;

use super::CryptoError;
use super::asn1;
use super::curves::{Curve, CurveId};
use super::ec;

/// An ECDSA signature as its two integers (big-endian magnitudes, no leading zeros needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcdsaSignature {
    pub r: Vec<u8>,
    pub s: Vec<u8>,
}

impl EcdsaSignature {
    /// `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`.
    ///
    /// # Errors
    /// [`CryptoError::Malformed`].
    pub fn from_der(der_bytes: &[u8]) -> Result<Self, CryptoError> {
        let content = asn1::exact(der_bytes, 0x30)?;
        let ints = asn1::children(content)?;
        let [r, s] = ints.as_slice() else {
            return Err(CryptoError::Malformed("ECDSA-Sig-Value"));
        };
        Ok(Self {
            r: asn1::unsigned(*r)?.to_vec(),
            s: asn1::unsigned(*s)?.to_vec(),
        })
    }

    /// Plain `r‖s`, each half the signature's length (BSI TR-03111 §5.2.1).
    ///
    /// # Errors
    /// [`CryptoError::Malformed`] for an empty or odd-length input.
    pub fn from_plain(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.is_empty() || !bytes.len().is_multiple_of(2) {
            return Err(CryptoError::Malformed("plain ECDSA signature length"));
        }
        let (r, s) = bytes.split_at(bytes.len() / 2);
        Ok(Self {
            r: r.to_vec(),
            s: s.to_vec(),
        })
    }

    /// `r‖s` with each integer left-padded to `len` bytes; `None` when one does not fit.
    fn to_fixed(&self, len: usize) -> Option<Vec<u8>> {
        let trim = |v: &[u8]| -> Option<Vec<u8>> {
            let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
            let v = v.get(start..)?;
            if v.len() > len {
                return None;
            }
            let mut out = vec![0u8; len - v.len()];
            out.extend_from_slice(v);
            Some(out)
        };
        Some([trim(&self.r)?, trim(&self.s)?].concat())
    }
}

fn typed<C>(point: &[u8], prehash: &[u8], sig: &EcdsaSignature) -> Result<(), CryptoError>
where
    C: EcdsaCurve + CurveArithmetic,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let key =
        ecdsa::VerifyingKey::<C>::from_sec1_bytes(point).map_err(|_| CryptoError::InvalidPoint)?;
    let len = C::FieldBytesSize::USIZE;
    let fixed = sig.to_fixed(len).ok_or(CryptoError::BadSignature)?;
    let sig = ecdsa::Signature::<C>::from_slice(&fixed).map_err(|_| CryptoError::BadSignature)?;
    key.verify_prehash(prehash, &sig)
        .map_err(|_| CryptoError::BadSignature)
}

use elliptic_curve::array::typenum::Unsigned;

/// Verifies `sig` over the hash `prehash` with the public point `point` on `curve`.
///
/// # Errors
/// [`CryptoError::InvalidPoint`] or [`CryptoError::BadSignature`].
pub fn verify_prehash(
    curve: &Curve,
    point: &[u8],
    prehash: &[u8],
    sig: &EcdsaSignature,
) -> Result<(), CryptoError> {
    match curve {
        Curve::Named(CurveId::P256) => typed::<p256::NistP256>(point, prehash, sig),
        Curve::Named(CurveId::P384) => typed::<p384::NistP384>(point, prehash, sig),
        Curve::Named(CurveId::P521) => typed::<p521::NistP521>(point, prehash, sig),
        Curve::Named(CurveId::BrainpoolP256r1) => {
            typed::<bp256::BrainpoolP256r1>(point, prehash, sig)
        }
        Curve::Named(CurveId::BrainpoolP384r1) => {
            typed::<bp384::BrainpoolP384r1>(point, prehash, sig)
        }
        other => ec::ecdsa_verify(other.params(), point, prehash, &sig.r, &sig.s),
    }
}

/// The generic implementation regardless of curve, for cross-checking the typed crates.
///
/// # Errors
/// As [`verify_prehash`].
pub fn verify_prehash_generic(
    curve: &Curve,
    point: &[u8],
    prehash: &[u8],
    sig: &EcdsaSignature,
) -> Result<(), CryptoError> {
    ec::ecdsa_verify(curve.params(), point, prehash, &sig.r, &sig.s)
}
