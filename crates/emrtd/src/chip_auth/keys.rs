//! The chip's static key-agreement key from DG14: an EC point or a DH public value with its
//! group (ICAO 9303-11 §9.2.5, BSI TR-03110-3 §A.1.1).

use der::asn1::ObjectIdentifier;
use num_bigint::BigUint;
use zeroize::Zeroizing;

use super::{ChipAuthError, MAX_DH_BITS, oid};
use crate::crypto::curves::Curve;
use crate::crypto::{CryptoError, PublicKey, ec};
use crate::tlv::{self, Tag};

/// The chip's static key-agreement key.
pub(crate) enum ChipKey {
    Ec { curve: Curve, point: Vec<u8> },
    Dh { group: DhGroup, y: BigUint },
}

/// DH domain parameters (PKCS#3 `DHParameter` or X9.42 `DomainParameters`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhGroup {
    pub p: BigUint,
    pub g: BigUint,
    pub q: Option<BigUint>,
}

impl DhGroup {
    pub fn modulus_len(&self) -> usize {
        usize::try_from(self.p.bits().div_ceil(8)).unwrap_or(usize::MAX)
    }

    /// Public-key validation: `1 < y < p − 1` and, with a known `q`, `y^q ≡ 1 (mod p)`
    /// (NIST SP 800-56A §5.6.2.3.1), so a small-subgroup key is refused.
    pub fn check_public(&self, y: &BigUint) -> bool {
        let one = BigUint::from(1u8);
        if *y <= one || *y >= &self.p - &one {
            return false;
        }
        self.q.as_ref().is_none_or(|q| y.modpow(q, &self.p) == one)
    }

    /// An exponent in `[2, q − 2]` (or `[2, p − 3]` without `q`), big-endian. `num-bigint`
    /// cannot wipe its own buffers, so secrets are kept as zeroizing byte strings and converted
    /// only for the arithmetic.
    pub fn random_exponent<R: rand_core::CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> Zeroizing<Vec<u8>> {
        let bound = self
            .q
            .clone()
            .unwrap_or_else(|| &self.p - BigUint::from(1u8));
        let mut buf = Zeroizing::new(vec![
            0u8;
            usize::try_from(bound.bits().div_ceil(8)).unwrap_or(0)
                + 8
        ]);
        rng.fill_bytes(&mut buf);
        let span = &bound - BigUint::from(3u8);
        Zeroizing::new((BigUint::from_bytes_be(&buf) % span + BigUint::from(2u8)).to_bytes_be())
    }

    /// An integer as a modulus-length octet string, the encoding of DH public keys and shared
    /// secrets in ICAO 9303-11 §9.4 / TR-03110-3 §A.2.2.
    pub fn encode(&self, v: &BigUint) -> Vec<u8> {
        ec::to_fixed_be(v, self.modulus_len())
    }

    /// The X9.42 `SubjectPublicKeyInfo` for public value `y`.
    pub fn spki_der(&self, y: &BigUint) -> Vec<u8> {
        let int = |v: &BigUint| tlv::encode(Tag(0x02), &der_uint(v));
        let mut params = int(&self.p);
        params.extend(int(&self.g));
        if let Some(q) = &self.q {
            params.extend(int(q));
        }
        let mut alg = tlv::encode(Tag(0x06), oid::DH_PUBLIC_NUMBER.as_bytes());
        alg.extend(tlv::encode(Tag(0x30), &params));
        let mut bits = vec![0u8];
        bits.extend(int(y));
        let mut spki = tlv::encode(Tag(0x30), &alg);
        spki.extend(tlv::encode(Tag(0x03), &bits));
        tlv::encode(Tag(0x30), &spki)
    }
}

/// Content octets of a DER INTEGER holding the non-negative `v`.
pub(crate) fn der_uint(v: &BigUint) -> Vec<u8> {
    let mut bytes = v.to_bytes_be();
    if bytes.first().is_none_or(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    bytes
}

fn positive_int(content: &[u8]) -> Result<BigUint, ChipAuthError> {
    match content.first() {
        Some(b) if b & 0x80 == 0 => Ok(BigUint::from_bytes_be(content)),
        _ => Err(ChipAuthError::MalformedChipKey),
    }
}

impl ChipKey {
    pub(crate) fn parse(spki_der: &[u8]) -> Result<Self, ChipAuthError> {
        let bad = |_| ChipAuthError::MalformedChipKey;
        let spki = tlv::read_exact(spki_der).map_err(bad)?;
        let parts = spki.children().map_err(bad)?;
        let [alg, key] = parts.as_slice() else {
            return Err(ChipAuthError::MalformedChipKey);
        };
        let alg_parts = alg.children().map_err(bad)?;
        let alg_oid = alg_parts
            .first()
            .filter(|t| t.tag == Tag(0x06))
            .and_then(|t| ObjectIdentifier::from_bytes(t.content).ok())
            .ok_or(ChipAuthError::MalformedChipKey)?;
        if alg_oid != oid::DH_PUBLIC_NUMBER && alg_oid != oid::DH_KEY_AGREEMENT {
            return match PublicKey::from_spki_der(spki_der) {
                Ok(PublicKey::Ec { curve, point }) => Ok(Self::Ec { curve, point }),
                Ok(PublicKey::Rsa(_)) => Err(ChipAuthError::MalformedChipKey),
                Err(CryptoError::UnsupportedCurve(_) | CryptoError::InvalidCurveParameters(_)) => {
                    Err(ChipAuthError::UnsupportedDomain)
                }
                Err(_) => Err(ChipAuthError::MalformedChipKey),
            };
        }
        let params = alg_parts
            .get(1)
            .ok_or(ChipAuthError::MalformedChipKey)?
            .children()
            .map_err(bad)?;
        let (Some(p), Some(g)) = (params.first(), params.get(1)) else {
            return Err(ChipAuthError::MalformedChipKey);
        };
        let p = positive_int(p.content)?;
        let g = positive_int(g.content)?;
        // X9.42 has q third; PKCS#3's third field is a private-value length, not a group order.
        let q = match params.get(2) {
            Some(q) if alg_oid == oid::DH_PUBLIC_NUMBER => Some(positive_int(q.content)?),
            _ => None,
        };
        if p.bits() > MAX_DH_BITS || p.bits() < 512 || !p.bit(0) || g < BigUint::from(2u8) || g >= p
        {
            return Err(ChipAuthError::UnsupportedDomain);
        }
        let group = DhGroup { p, g, q };
        let y_der = key
            .content
            .split_first()
            .filter(|(unused, _)| **unused == 0)
            .map(|(_, k)| k);
        let y_tlv = y_der
            .and_then(|k| tlv::read_exact(k).ok())
            .filter(|t| t.tag == Tag(0x02));
        let y = positive_int(y_tlv.ok_or(ChipAuthError::MalformedChipKey)?.content)?;
        if !group.check_public(&y) {
            return Err(ChipAuthError::MalformedChipKey);
        }
        Ok(Self::Dh { group, y })
    }
}
