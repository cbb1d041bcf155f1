//! X.509 certificates of the eMRTD PKI (ICAO 9303-12 §7.1: CSCA, link and Document Signer
//! certificates; RFC 5280 §4.1). Decoding uses `x509-cert`; the bytes a signature covers
//! (`tbsCertificate`) and the `SubjectPublicKeyInfo` are taken *raw* from the received
//! encoding, so a certificate that is not perfectly DER still verifies as its issuer signed it,
//! and explicit EC parameters reach [`crate::crypto`] untouched.

use der::Decode;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};

use super::PkiError;
use crate::crypto::{self, CryptoError, PublicKey, SignatureAlgorithm};
use crate::tlv::{self, Tag};

/// Upper bound on one certificate's size; real CSCAs are below 3 KiB.
const MAX_CERTIFICATE_LEN: usize = 64 * 1024;

/// `id-at-countryName` (X.520).
const COUNTRY_NAME: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("2.5.4.6");

/// `id-icao-mrtd-security-cscaMasterListSigningKey` (ICAO 9303-12 §7.1.1.3): the extended key
/// usage of a Master List Signer.
pub const EKU_MASTER_LIST_SIGNER: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("2.23.136.1.1.3");
/// `id-icao-mrtd-security-deviationListSigningKey` (ICAO 9303-12 §7.1.1.3).
pub const EKU_DEVIATION_LIST_SIGNER: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("2.23.136.1.1.8");

/// Extensions this verifier understands; a critical extension outside this list makes the
/// certificate unusable in every role (RFC 5280 §4.2: "A certificate-using system MUST reject
/// the certificate if it encounters a critical extension it does not recognize").
const KNOWN_EXTENSIONS: &[&str] = &[
    "2.5.29.14",             // subjectKeyIdentifier
    "2.5.29.15",             // keyUsage
    "2.5.29.16",             // privateKeyUsagePeriod
    "2.5.29.17",             // subjectAltName
    "2.5.29.18",             // issuerAltName
    "2.5.29.19",             // basicConstraints
    "2.5.29.31",             // cRLDistributionPoints
    "2.5.29.32",             // certificatePolicies
    "2.5.29.35",             // authorityKeyIdentifier
    "2.5.29.37",             // extKeyUsage
    "2.5.29.46",             // freshestCRL
    "1.3.6.1.5.5.7.1.1",     // authorityInfoAccess
    "2.23.136.1.1.6.1",      // ICAO nameChange (9303-12 §7.1.1.3)
    "2.23.136.1.1.6.2",      // ICAO documentTypeList (9303-12 §7.1.1.3)
    "2.16.840.1.113730.1.1", // netscape-cert-type
];

/// Why a certificate may not act in a role (ICAO 9303-12 §7.1.1, RFC 5280 §4.2.1.3/.9/.12).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoleError {
    #[error("{role}: unknown critical extension {oid}")]
    UnknownCriticalExtension { role: &'static str, oid: String },
    #[error("{role}: basicConstraints cA is true, an end-entity certificate is required")]
    IsCa { role: &'static str },
    #[error("{role}: not a CA (basicConstraints cA={ca}, keyCertSign {key_cert_sign})")]
    NotCa {
        role: &'static str,
        ca: &'static str,
        key_cert_sign: &'static str,
    },
    #[error("{role}: keyUsage lacks digitalSignature")]
    NoDigitalSignature { role: &'static str },
    #[error("{role}: extendedKeyUsage {oid} belongs to another role")]
    ForeignExtendedKeyUsage { role: &'static str, oid: String },
    #[error("{role}: extendedKeyUsage lacks {required}")]
    MissingExtendedKeyUsage {
        role: &'static str,
        required: &'static str,
    },
}

/// A decoded certificate with the raw pieces needed to verify it and what it signs.
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
    fingerprint: [u8; 32],
    tbs: std::ops::Range<usize>,
    subject_der: std::ops::Range<usize>,
    issuer_der: std::ops::Range<usize>,
    /// RFC 4514 rendering of the subject (the names of issuing authorities, not personal data).
    pub subject: String,
    pub issuer: String,
    /// Serial number magnitude, big-endian.
    pub serial: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// `countryName` of the subject (ICAO 9303-12 §7.1.1 makes it mandatory).
    pub country: Option<String>,
    pub issuer_country: Option<String>,
    pub subject_key_id: Option<Vec<u8>>,
    pub authority_key_id: Option<Vec<u8>>,
    /// `basicConstraints cA` (RFC 5280 §4.2.1.9); false when the extension is absent.
    pub is_ca: bool,
    /// `basicConstraints cA`, `None` when the extension is absent.
    pub basic_constraints_ca: Option<bool>,
    /// `keyUsage` bits (bit 0 digitalSignature … bit 8 decipherOnly), `None` when absent.
    pub key_usage: Option<u16>,
    /// `extKeyUsage` purposes (RFC 5280 §4.2.1.12), empty when absent.
    pub extended_key_usage: Vec<der::oid::ObjectIdentifier>,
    /// Critical extensions this verifier does not understand.
    pub unknown_critical_extensions: Vec<String>,
    public_key: Result<PublicKey, CryptoError>,
    signature_algorithm: Result<SignatureAlgorithm, CryptoError>,
    signature: Vec<u8>,
}

impl Certificate {
    /// Decodes a DER certificate. An unsupported key or signature algorithm does not fail the
    /// decoding (the certificate can still be listed and counted); it fails its verifications.
    ///
    /// # Errors
    /// [`PkiError::Certificate`] when the structure is not a certificate.
    pub fn from_der(der_bytes: &[u8]) -> Result<Self, PkiError> {
        if der_bytes.len() > MAX_CERTIFICATE_LEN {
            return Err(PkiError::Certificate("larger than 64 KiB".into()));
        }
        let bad = |e: &dyn std::fmt::Display| PkiError::Certificate(e.to_string());
        let outer = tlv::read_exact(der_bytes).map_err(|e| bad(&e))?;
        outer.check_tag(Tag::SEQUENCE).map_err(|e| bad(&e))?;
        let parts = outer.children().map_err(|e| bad(&e))?;
        let [tbs, sig_alg, sig] = parts.as_slice() else {
            return Err(PkiError::Certificate(
                "Certificate is not three fields".into(),
            ));
        };
        let offset = |s: &[u8]| {
            let start = s.as_ptr() as usize - der_bytes.as_ptr() as usize;
            start..start + s.len()
        };
        let tbs_fields = tbs.children().map_err(|e| bad(&e))?;
        let skip = usize::from(tbs_fields.first().is_some_and(|f| f.tag == Tag(0xA0)));
        let field = |i: usize| {
            tbs_fields
                .get(skip + i)
                .ok_or_else(|| PkiError::Certificate("short tbsCertificate".into()))
        };
        let issuer_tlv = field(2)?;
        let subject_tlv = field(4)?;
        let spki_tlv = field(5)?;

        let parsed = x509_cert::Certificate::from_der(der_bytes).map_err(|e| bad(&e))?;
        let tbs_cert = parsed.tbs_certificate();
        let time = |t: x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs())
                .ok()
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                .ok_or_else(|| PkiError::Certificate("validity out of range".into()))
        };
        let country = |name: &x509_cert::name::Name| {
            name.iter()
                .find(|atv| atv.oid == COUNTRY_NAME)
                .and_then(|atv| std::str::from_utf8(atv.value.value()).ok())
                .map(|c| c.trim().to_ascii_uppercase())
        };
        let subject_key_id = tbs_cert
            .get_extension::<SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .map(|(_, ski)| ski.0.as_bytes().to_vec());
        let authority_key_id = tbs_cert
            .get_extension::<AuthorityKeyIdentifier>()
            .ok()
            .flatten()
            .and_then(|(_, aki)| aki.key_identifier.map(|k| k.as_bytes().to_vec()));
        // Extensions that do not decode count as absent, as before this verifier checked roles:
        // one CSCA of the German master list carries such an encoding. The role rules below
        // never grant a role on an absent extension alone (a CSCA needs cA or keyCertSign, a
        // DSC digitalSignature, a list signer its extended key usage).
        let basic_constraints_ca = tbs_cert
            .get_extension::<BasicConstraints>()
            .ok()
            .flatten()
            .map(|(_, bc)| bc.ca);
        let key_usage = tbs_cert
            .get_extension::<KeyUsage>()
            .ok()
            .flatten()
            .map(|(_, ku)| ku.0.bits());
        let extended_key_usage = tbs_cert
            .get_extension::<ExtendedKeyUsage>()
            .ok()
            .flatten()
            .map(|(_, eku)| eku.0)
            .unwrap_or_default();
        let unknown_critical_extensions = tbs_cert
            .extensions()
            .into_iter()
            .flatten()
            .filter(|e| e.critical)
            .map(|e| e.extn_id.to_string())
            .filter(|oid| !KNOWN_EXTENSIONS.contains(&oid.as_str()))
            .collect();
        let signature = match sig.content.split_first() {
            Some((0, bits)) => bits.to_vec(),
            _ => return Err(PkiError::Certificate("signature BIT STRING".into())),
        };
        Ok(Self {
            fingerprint: Sha256::digest(der_bytes).into(),
            tbs: offset(tbs.raw),
            subject_der: offset(subject_tlv.raw),
            issuer_der: offset(issuer_tlv.raw),
            subject: tbs_cert.subject().to_string(),
            issuer: tbs_cert.issuer().to_string(),
            serial: tbs_cert.serial_number().as_bytes().to_vec(),
            not_before: time(tbs_cert.validity().not_before)?,
            not_after: time(tbs_cert.validity().not_after)?,
            country: country(tbs_cert.subject()),
            issuer_country: country(tbs_cert.issuer()),
            subject_key_id,
            authority_key_id,
            is_ca: basic_constraints_ca.unwrap_or(false),
            basic_constraints_ca,
            key_usage,
            extended_key_usage,
            unknown_critical_extensions,
            public_key: PublicKey::from_spki_der(spki_tlv.raw),
            signature_algorithm: SignatureAlgorithm::from_der(sig_alg.raw),
            signature,
            der: der_bytes.to_vec(),
        })
    }

    /// The certificate exactly as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-256 of the DER: the identity used for de-duplication and caching.
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// The DER `Name` of the subject, for exact issuer matching (RFC 5280 §7.1).
    pub fn subject_der(&self) -> &[u8] {
        self.der.get(self.subject_der.clone()).unwrap_or_default()
    }

    pub fn issuer_der(&self) -> &[u8] {
        self.der.get(self.issuer_der.clone()).unwrap_or_default()
    }

    pub fn tbs_der(&self) -> &[u8] {
        self.der.get(self.tbs.clone()).unwrap_or_default()
    }

    /// The subject public key, or why it cannot be used.
    ///
    /// # Errors
    /// The [`CryptoError`] met while decoding the `SubjectPublicKeyInfo`.
    pub fn public_key(&self) -> Result<&PublicKey, CryptoError> {
        self.public_key.as_ref().map_err(Clone::clone)
    }

    /// The algorithm the issuer signed this certificate with.
    ///
    /// # Errors
    /// The [`CryptoError`] met while decoding the `AlgorithmIdentifier`.
    pub fn signature_algorithm(&self) -> Result<&SignatureAlgorithm, CryptoError> {
        self.signature_algorithm.as_ref().map_err(Clone::clone)
    }

    /// Self-issued (subject equals issuer, RFC 5280 §3.2); a CSCA root, not a link certificate.
    pub fn is_self_issued(&self) -> bool {
        self.subject_der() == self.issuer_der()
    }

    /// Whether `issuer` may have issued this certificate: names equal and, when both key
    /// identifiers are present, AKI equals the issuer's SKI (RFC 5280 §4.2.1.1). Only a
    /// pre-filter; [`Self::verify_issued_by`] decides.
    pub fn names_issuer(&self, issuer: &Certificate) -> bool {
        if self.issuer_der() != issuer.subject_der() {
            return false;
        }
        match (&self.authority_key_id, &issuer.subject_key_id) {
            (Some(aki), Some(ski)) => aki == ski,
            _ => true,
        }
    }

    /// Verifies this certificate's signature with `issuer`'s key (RFC 5280 §6.1.3 (a)(1)).
    ///
    /// # Errors
    /// The [`CryptoError`] of the failed verification.
    pub fn verify_issued_by(&self, issuer: &Certificate) -> Result<(), CryptoError> {
        crypto::verify_signature(
            issuer.public_key()?,
            self.signature_algorithm()?,
            self.tbs_der(),
            &self.signature,
        )
    }

    /// Whether `at` lies within `[notBefore, notAfter]` (RFC 5280 §4.1.2.5).
    pub fn valid_at(&self, at: OffsetDateTime) -> bool {
        self.not_before <= at && at <= self.not_after
    }

    fn has_key_usage(&self, usage: KeyUsages) -> Option<bool> {
        let wanted = KeyUsage(usage.into()).0.bits();
        self.key_usage.map(|bits| bits & wanted != 0)
    }

    fn no_unknown_critical(&self, role: &'static str) -> Result<(), RoleError> {
        match self.unknown_critical_extensions.first() {
            Some(oid) => Err(RoleError::UnknownCriticalExtension {
                role,
                oid: oid.clone(),
            }),
            None => Ok(()),
        }
    }

    /// May this certificate issue certificates as a CSCA or link certificate (ICAO 9303-12
    /// §7.1.1: basicConstraints cA=true and keyUsage keyCertSign)?
    ///
    /// Deviation, documented (`docs/verify.md`): on the German master list of 2024-08-07,
    /// 12 of 541 CSCAs break the strict rule — 7 carry a basicConstraints without cA (an empty
    /// SEQUENCE, which DER reads as cA=false, or pathLen only) beside keyCertSign, others omit an
    /// extension. So keyUsage decides whenever it is present (keyCertSign, whatever cA says), and
    /// cA decides only when keyUsage is absent; a certificate whose keyUsage lacks keyCertSign is
    /// no CA whatever its cA (one Portuguese link certificate; the CSCAs it links are on the list
    /// themselves), and one with neither extension is no CA.
    ///
    /// # Errors
    /// [`RoleError`].
    pub fn check_csca_role(&self) -> Result<(), RoleError> {
        const ROLE: &str = "CSCA";
        self.no_unknown_critical(ROLE)?;
        let cert_sign = self.has_key_usage(KeyUsages::KeyCertSign);
        let allowed = cert_sign.unwrap_or(self.basic_constraints_ca == Some(true));
        if allowed {
            return Ok(());
        }
        let show = |v: Option<bool>| match v {
            Some(true) => "true",
            Some(false) => "false",
            None => "absent",
        };
        Err(RoleError::NotCa {
            role: ROLE,
            ca: show(self.basic_constraints_ca),
            key_cert_sign: show(cert_sign),
        })
    }

    /// May this certificate sign an EF.SOD (ICAO 9303-12 §7.1.1: an end-entity certificate
    /// with digitalSignature, and no extended key usage of another eMRTD role)?
    ///
    /// # Errors
    /// [`RoleError`].
    pub fn check_document_signer_role(&self) -> Result<(), RoleError> {
        const ROLE: &str = "Document Signer";
        self.no_unknown_critical(ROLE)?;
        if self.basic_constraints_ca == Some(true) {
            return Err(RoleError::IsCa { role: ROLE });
        }
        if self.has_key_usage(KeyUsages::DigitalSignature) != Some(true) {
            return Err(RoleError::NoDigitalSignature { role: ROLE });
        }
        if let Some(oid) = self
            .extended_key_usage
            .iter()
            .find(|o| **o == EKU_MASTER_LIST_SIGNER || **o == EKU_DEVIATION_LIST_SIGNER)
        {
            return Err(RoleError::ForeignExtendedKeyUsage {
                role: ROLE,
                oid: oid.to_string(),
            });
        }
        Ok(())
    }

    /// May this certificate sign a CSCA master list (ICAO 9303-12 §7.1.1.3: the
    /// master-list-signer extended key usage 2.23.136.1.1.3, not a CA)?
    ///
    /// # Errors
    /// [`RoleError`].
    pub fn check_master_list_signer_role(&self) -> Result<(), RoleError> {
        const ROLE: &str = "Master List Signer";
        self.no_unknown_critical(ROLE)?;
        if self.basic_constraints_ca == Some(true) {
            return Err(RoleError::IsCa { role: ROLE });
        }
        if !self.extended_key_usage.contains(&EKU_MASTER_LIST_SIGNER) {
            return Err(RoleError::MissingExtendedKeyUsage {
                role: ROLE,
                required: "id-icao-mrtd-security-cscaMasterListSigningKey (2.23.136.1.1.3)",
            });
        }
        Ok(())
    }

    /// The serial number's magnitude: the INTEGER contents without a leading 0x00 sign
    /// byte (X.690 §8.3.2), so that a serial with its top bit set compares equal whether or
    /// not an encoder kept the sign byte.
    pub fn serial_magnitude(&self) -> &[u8] {
        strip_sign_bytes(&self.serial)
    }

    /// Serial number as upper-case hex, for reports.
    pub fn serial_hex(&self) -> String {
        self.serial.iter().map(|b| format!("{b:02X}")).collect()
    }
}

/// An INTEGER's contents without leading zero bytes (keeps one byte for zero).
pub(crate) fn strip_sign_bytes(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(v.len().saturating_sub(1));
    v.get(start..).unwrap_or_default()
}

/// Splits a PEM file into its DER blocks with `label` (RFC 7468), or returns the input as a
/// single DER block when it is not PEM.
///
/// # Errors
/// [`PkiError::Pem`] for a broken PEM block.
pub fn pem_or_der_blocks(bytes: &[u8], label: &str) -> Result<Vec<Vec<u8>>, PkiError> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(vec![bytes.to_vec()]);
    };
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    if !text.contains(&begin) {
        return Ok(if text.contains("-----BEGIN ") {
            Vec::new()
        } else {
            vec![bytes.to_vec()]
        });
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let after = rest.get(start..).unwrap_or_default();
        let stop = after
            .find(&end)
            .ok_or_else(|| PkiError::Pem("unterminated block".into()))?
            + end.len();
        let block = after.get(..stop).unwrap_or_default();
        let (_, der) =
            der::pem::decode_vec(block.as_bytes()).map_err(|e| PkiError::Pem(e.to_string()))?;
        out.push(der);
        rest = after.get(stop..).unwrap_or_default();
    }
    Ok(out)
}
