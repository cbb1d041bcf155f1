//! DG15: the active-authentication public key (ICAO 9303-10 §4.7.15, 9303-11 §6.1).
//!
//! ```text
//! 6F { SubjectPublicKeyInfo }      RFC 5280 §4.1.2.7
//! ```
//! RSA keys (rsaEncryption, RFC 8017 `RSAPublicKey`) are used with ISO/IEC 9796-2 scheme 1;
//! EC keys (id-ecPublicKey, RFC 5480) with plain ECDSA, on a named curve or with explicit
//! parameters (BSI TR-03111 §4.1.1), which several issuers use. The SPKI is kept byte for byte
//! so verification code parses the same bytes the SOD hashed.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode, Tagged};

use super::{DataGroup, LdsError};
use crate::tlv::{self, Tag};

/// rsaEncryption (RFC 8017 Appendix C).
pub const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey (RFC 5480 §2.1.1).
pub const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// The curve of an EC key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EcCurve {
    /// `namedCurve` (e.g. secp256r1 1.2.840.10045.3.1.7, brainpoolP256r1 1.3.36.3.3.2.8.1.1.7).
    Named(ObjectIdentifier),
    /// `specifiedCurve`: the DER `ECParameters` SEQUENCE (X9.62 / TR-03111 §4.1.1).
    Explicit { parameters_der: Vec<u8> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKeyKind {
    Rsa { modulus_bits: u32 },
    Ec { curve: EcCurve },
}

/// The active-authentication public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveAuthPublicKey {
    /// The DER `SubjectPublicKeyInfo` exactly as stored in DG15.
    pub spki_der: Vec<u8>,
    pub kind: PublicKeyKind,
}

/// Parses DG15 (tag 6F).
pub fn parse(bytes: &[u8]) -> Result<ActiveAuthPublicKey, LdsError> {
    let dg15 = tlv::read_exact(bytes)?;
    dg15.check_tag(DataGroup::Dg15.tag())?;
    let spki_tlv = tlv::read_exact(dg15.content)?;
    spki_tlv.check_tag(Tag::SEQUENCE)?;
    let spki = spki::SubjectPublicKeyInfoRef::from_der(spki_tlv.raw)
        .map_err(|_| LdsError::InvalidPublicKey)?;
    let kind = if spki.algorithm.oid == RSA_ENCRYPTION {
        let key = spki
            .subject_public_key
            .as_bytes()
            .ok_or(LdsError::InvalidPublicKey)?;
        PublicKeyKind::Rsa {
            modulus_bits: rsa_modulus_bits(key)?,
        }
    } else if spki.algorithm.oid == ID_EC_PUBLIC_KEY {
        let params = spki
            .algorithm
            .parameters
            .ok_or(LdsError::InvalidPublicKey)?;
        let curve = if params.tag() == der::Tag::ObjectIdentifier {
            EcCurve::Named(
                params
                    .decode_as::<ObjectIdentifier>()
                    .map_err(|_| LdsError::InvalidPublicKey)?,
            )
        } else if params.tag() == der::Tag::Sequence {
            EcCurve::Explicit {
                parameters_der: params.to_der().map_err(|_| LdsError::InvalidPublicKey)?,
            }
        } else {
            // implicitlyCA (NULL) leaves the curve undefined: nothing to verify against.
            return Err(LdsError::InvalidPublicKey);
        };
        PublicKeyKind::Ec { curve }
    } else {
        return Err(LdsError::UnsupportedPublicKeyAlgorithm {
            oid: spki.algorithm.oid.to_string(),
        });
    };
    Ok(ActiveAuthPublicKey {
        spki_der: spki_tlv.raw.to_vec(),
        kind,
    })
}

/// Bit length of the modulus of `RSAPublicKey ::= SEQUENCE { modulus INTEGER,
/// publicExponent INTEGER }` (RFC 8017 §A.1.1).
fn rsa_modulus_bits(key: &[u8]) -> Result<u32, LdsError> {
    let seq = tlv::read_exact(key)?;
    seq.check_tag(Tag::SEQUENCE)?;
    let fields = seq.children()?;
    let [modulus, exponent] = fields.as_slice() else {
        return Err(LdsError::InvalidPublicKey);
    };
    modulus.check_tag(Tag::INTEGER)?;
    exponent.check_tag(Tag::INTEGER)?;
    if modulus.content.first().is_none_or(|b| b & 0x80 != 0) {
        return Err(LdsError::InvalidPublicKey);
    }
    let significant: &[u8] = match modulus.content.iter().position(|b| *b != 0) {
        Some(i) => modulus.content.get(i..).unwrap_or_default(),
        None => return Err(LdsError::InvalidPublicKey),
    };
    let first = significant.first().copied().unwrap_or(0);
    let bits = (significant.len() - 1) * 8 + (8 - first.leading_zeros() as usize);
    u32::try_from(bits).map_err(|_| LdsError::InvalidPublicKey)
}
