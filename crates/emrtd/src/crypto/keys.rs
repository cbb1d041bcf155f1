//! Public keys from `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7): RSA (RFC 3279 §2.3.1,
//! also under the `id-RSASSA-PSS` OID of RFC 4055 §1.2) and EC with named or explicit
//! parameters (RFC 5480 §2, RFC 3279 §2.3.5).

use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::traits::PublicKeyParts;

use super::CryptoError;
use super::algorithm::oid;
use super::asn1;
use super::curves::{Curve, decode_ec_parameters};

/// A verification key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    Ec {
        curve: Curve,
        /// SEC1-encoded point, as found in the BIT STRING.
        point: Vec<u8>,
    },
}

impl PublicKey {
    /// Decodes a DER `SubjectPublicKeyInfo`.
    ///
    /// # Errors
    /// [`CryptoError::Malformed`], [`CryptoError::UnsupportedAlgorithm`],
    /// [`CryptoError::InvalidPublicKey`], or the curve errors of
    /// [`decode_ec_parameters`].
    pub fn from_spki_der(der_bytes: &[u8]) -> Result<Self, CryptoError> {
        let content = asn1::exact(der_bytes, 0x30)?;
        let fields = asn1::children(content)?;
        let [alg, key] = fields.as_slice() else {
            return Err(CryptoError::Malformed("SubjectPublicKeyInfo"));
        };
        if alg.tag != 0x30 || key.tag != 0x03 {
            return Err(CryptoError::Malformed("SubjectPublicKeyInfo"));
        }
        let (alg_oid, params) = asn1::algorithm_identifier(alg.content)?;
        let key_bytes = match key.content.split_first() {
            Some((0, bytes)) => bytes,
            _ => return Err(CryptoError::Malformed("subjectPublicKey BIT STRING")),
        };
        match alg_oid {
            oid::RSA_ENCRYPTION | oid::RSASSA_PSS => Self::rsa_from_pkcs1(key_bytes),
            oid::EC_PUBLIC_KEY => {
                let params = params.ok_or(CryptoError::Malformed("missing EC parameters"))?;
                let curve = decode_ec_parameters(params)?;
                // Validate the point now so a bad key fails at load time, not per signature.
                curve.params().decode_point(key_bytes)?;
                Ok(Self::Ec {
                    curve,
                    point: key_bytes.to_vec(),
                })
            }
            other => Err(CryptoError::UnsupportedAlgorithm(other.to_string())),
        }
    }

    /// Decodes a PKCS#1 `RSAPublicKey` (RFC 8017 Appendix A.1.1).
    ///
    /// # Errors
    /// [`CryptoError::InvalidPublicKey`].
    pub fn rsa_from_pkcs1(der_bytes: &[u8]) -> Result<Self, CryptoError> {
        rsa::RsaPublicKey::from_pkcs1_der(der_bytes)
            .map(Self::Rsa)
            .map_err(|_| CryptoError::InvalidPublicKey("RSAPublicKey"))
    }

    /// `RSA-2048`, `EC brainpoolP256r1`, … for reports.
    pub fn describe(&self) -> String {
        match self {
            Self::Rsa(k) => format!("RSA-{}", k.n().bits_vartime()),
            Self::Ec { curve, .. } => format!("EC {}", curve.name()),
        }
    }
}
