//! Signature algorithm identifiers (RFC 5280 §4.1.1.2, RFC 4055 §3.1, RFC 5758 §3.2,
//! BSI TR-03111 §5.2.1) as they appear in certificates, SignerInfos and master lists.

use der::oid::ObjectIdentifier;

use super::CryptoError;
use super::asn1;
use super::hash::HashAlgorithm;

/// RSASSA-PSS parameters (RFC 4055 §3.1 / RFC 8017 Appendix A.2.3), with the RFC defaults
/// (SHA-1, MGF1-SHA-1, salt 20, trailer 1) filled in for absent fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PssParams {
    pub hash: HashAlgorithm,
    pub mgf1_hash: HashAlgorithm,
    pub salt_len: usize,
    /// `trailerField`; only 1 (`0xBC`) is defined.
    pub trailer_field: u32,
}

/// How a verifier must process a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5 (RFC 8017 §8.2). `hash` is `None` for a bare `rsaEncryption` OID used
    /// as a signature algorithm, which several issuers put in SignerInfos (the hash then comes
    /// from the SignerInfo's `digestAlgorithm`, RFC 5652 §5.3 / RFC 3370 §3.2).
    RsaPkcs1v15 { hash: Option<HashAlgorithm> },
    /// RSASSA-PSS (RFC 8017 §8.1).
    RsaPss(PssParams),
    /// ECDSA with a DER `ECDSA-Sig-Value` (X9.62, RFC 5758 §3.2). `hash` is `None` for a bare
    /// `id-ecPublicKey` OID in a SignerInfo.
    Ecdsa { hash: Option<HashAlgorithm> },
    /// ECDSA with the plain `r‖s` encoding (BSI TR-03111 §5.2.1, `ecdsa-plain-*`).
    EcdsaPlain { hash: HashAlgorithm },
}

pub mod oid {
    use der::oid::ObjectIdentifier;
    pub const RSA_ENCRYPTION: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
    pub const SHA1_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
    pub const SHA224_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.14");
    pub const SHA256_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
    pub const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
    pub const MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
    pub const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    pub const ECDSA_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");
    pub const ECDSA_SHA224: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.1");
    pub const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
    pub const ECDSA_PLAIN_SHA1: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("0.4.0.127.0.7.1.1.4.1.1");
    pub const ECDSA_PLAIN_SHA224: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("0.4.0.127.0.7.1.1.4.1.2");
    pub const ECDSA_PLAIN_SHA256: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("0.4.0.127.0.7.1.1.4.1.3");
    pub const ECDSA_PLAIN_SHA384: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("0.4.0.127.0.7.1.1.4.1.4");
    pub const ECDSA_PLAIN_SHA512: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("0.4.0.127.0.7.1.1.4.1.5");
}

impl SignatureAlgorithm {
    /// Decodes a whole DER `AlgorithmIdentifier` SEQUENCE.
    ///
    /// # Errors
    /// See [`Self::from_oid`].
    pub fn from_der(der_bytes: &[u8]) -> Result<Self, CryptoError> {
        let content = asn1::exact(der_bytes, 0x30)?;
        let (oid, params) = asn1::algorithm_identifier(content)?;
        Self::from_oid(&oid, params)
    }

    /// Maps an algorithm OID and its raw DER parameters.
    ///
    /// # Errors
    /// [`CryptoError::UnsupportedAlgorithm`] for an unknown OID, [`CryptoError::Malformed`] or
    /// [`CryptoError::UnsupportedHash`] for bad PSS parameters.
    pub fn from_oid(oid: &ObjectIdentifier, params: Option<&[u8]>) -> Result<Self, CryptoError> {
        use HashAlgorithm::*;
        let rsa = |h| Ok(Self::RsaPkcs1v15 { hash: Some(h) });
        let ec = |h| Ok(Self::Ecdsa { hash: Some(h) });
        let plain = |h| Ok(Self::EcdsaPlain { hash: h });
        match *oid {
            oid::RSA_ENCRYPTION => Ok(Self::RsaPkcs1v15 { hash: None }),
            oid::SHA1_WITH_RSA => rsa(Sha1),
            oid::SHA224_WITH_RSA => rsa(Sha224),
            oid::SHA256_WITH_RSA => rsa(Sha256),
            oid::SHA384_WITH_RSA => rsa(Sha384),
            oid::SHA512_WITH_RSA => rsa(Sha512),
            oid::RSASSA_PSS => Ok(Self::RsaPss(decode_pss_params(params)?)),
            oid::EC_PUBLIC_KEY => Ok(Self::Ecdsa { hash: None }),
            oid::ECDSA_SHA1 => ec(Sha1),
            oid::ECDSA_SHA224 => ec(Sha224),
            oid::ECDSA_SHA256 => ec(Sha256),
            oid::ECDSA_SHA384 => ec(Sha384),
            oid::ECDSA_SHA512 => ec(Sha512),
            oid::ECDSA_PLAIN_SHA1 => plain(Sha1),
            oid::ECDSA_PLAIN_SHA224 => plain(Sha224),
            oid::ECDSA_PLAIN_SHA256 => plain(Sha256),
            oid::ECDSA_PLAIN_SHA384 => plain(Sha384),
            oid::ECDSA_PLAIN_SHA512 => plain(Sha512),
            _ => Err(CryptoError::UnsupportedAlgorithm(oid.to_string())),
        }
    }

    /// The message digest this algorithm applies, if the identifier names one.
    pub fn hash(&self) -> Option<HashAlgorithm> {
        match self {
            Self::RsaPkcs1v15 { hash } | Self::Ecdsa { hash } => *hash,
            Self::RsaPss(p) => Some(p.hash),
            Self::EcdsaPlain { hash } => Some(*hash),
        }
    }

    /// Fills in the digest for the bare `rsaEncryption` / `id-ecPublicKey` forms from the
    /// SignerInfo's `digestAlgorithm` (RFC 5652 §5.3).
    #[must_use]
    pub fn with_default_hash(self, digest: HashAlgorithm) -> Self {
        match self {
            Self::RsaPkcs1v15 { hash: None } => Self::RsaPkcs1v15 { hash: Some(digest) },
            Self::Ecdsa { hash: None } => Self::Ecdsa { hash: Some(digest) },
            other => other,
        }
    }

    /// A readable name for check reports, e.g. `RSASSA-PSS SHA-256 MGF1-SHA-256 salt 32`.
    pub fn name(&self) -> String {
        let h =
            |h: &Option<HashAlgorithm>| h.map_or("(digest from SignerInfo)", HashAlgorithm::name);
        match self {
            Self::RsaPkcs1v15 { hash } => format!("RSA PKCS#1 v1.5 {}", h(hash)),
            Self::RsaPss(p) => format!(
                "RSASSA-PSS {} MGF1-{} salt {}",
                p.hash.name(),
                p.mgf1_hash.name(),
                p.salt_len
            ),
            Self::Ecdsa { hash } => format!("ECDSA {}", h(hash)),
            Self::EcdsaPlain { hash } => format!("ECDSA-plain {}", hash.name()),
        }
    }
}

impl std::fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// `RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] DEFAULT sha1, maskGenAlgorithm [1]
/// DEFAULT mgf1SHA1, saltLength [2] INTEGER DEFAULT 20, trailerField [3] INTEGER DEFAULT 1 }`
/// (RFC 4055 §3.1). Absent or NULL parameters mean all defaults.
fn decode_pss_params(params: Option<&[u8]>) -> Result<PssParams, CryptoError> {
    let mut out = PssParams {
        hash: HashAlgorithm::Sha1,
        mgf1_hash: HashAlgorithm::Sha1,
        salt_len: 20,
        trailer_field: 1,
    };
    let Some(params) = params else { return Ok(out) };
    let (tlv, rest) = asn1::next(params)?;
    if !rest.is_empty() {
        return Err(CryptoError::Malformed("RSASSA-PSS-params"));
    }
    if tlv.tag == 0x05 {
        return Ok(out);
    }
    if tlv.tag != 0x30 {
        return Err(CryptoError::Malformed("RSASSA-PSS-params"));
    }
    let mut last_tag = None;
    for field in asn1::children(tlv.content)? {
        // Fields must appear at most once and in order.
        if last_tag.is_some_and(|t| t >= field.tag) {
            return Err(CryptoError::Malformed("RSASSA-PSS-params order"));
        }
        last_tag = Some(field.tag);
        let inner = asn1::children(field.content)?;
        let [inner] = inner.as_slice() else {
            return Err(CryptoError::Malformed("RSASSA-PSS-params field"));
        };
        match field.tag {
            0xA0 => out.hash = hash_of(*inner)?,
            0xA1 => {
                if inner.tag != 0x30 {
                    return Err(CryptoError::Malformed("maskGenAlgorithm"));
                }
                let (mgf, mgf_params) = asn1::algorithm_identifier(inner.content)?;
                if mgf != oid::MGF1 {
                    return Err(CryptoError::UnsupportedAlgorithm(mgf.to_string()));
                }
                let mgf_params = mgf_params.ok_or(CryptoError::Malformed("MGF1 parameters"))?;
                out.mgf1_hash = hash_of(asn1::next(mgf_params)?.0)?;
            }
            0xA2 => {
                out.salt_len = usize::try_from(asn1::small_uint(*inner)?)
                    .map_err(|_| CryptoError::Malformed("saltLength"))?;
            }
            0xA3 => out.trailer_field = asn1::small_uint(*inner)?,
            _ => return Err(CryptoError::Malformed("RSASSA-PSS-params field")),
        }
    }
    if out.trailer_field != 1 {
        return Err(CryptoError::UnsupportedAlgorithm(format!(
            "RSASSA-PSS trailerField {}",
            out.trailer_field
        )));
    }
    Ok(out)
}

fn hash_of(alg: asn1::Der<'_>) -> Result<HashAlgorithm, CryptoError> {
    if alg.tag != 0x30 {
        return Err(CryptoError::Malformed("hash AlgorithmIdentifier"));
    }
    let (oid, _) = asn1::algorithm_identifier(alg.content)?;
    HashAlgorithm::from_oid(&oid)
}
