//! X.509 certificates of the eMRTD PKI (ICAO 9303-12 §7.1: CSCA, link and Document Signer
//! certificates; RFC 5280 §4.1). Decoding uses `x509-cert`; the bytes a signature covers
//! (`tbsCertificate`) and the `SubjectPublicKeyInfo` are taken *raw* from the received
//! encoding, so a certificate that is not perfectly DER still verifies as its issuer signed it,
//! and explicit EC parameters reach [`crate::crypto`] untouched.

use der::Decode;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, SubjectKeyIdentifier};

use super::PkiError;
use crate::crypto::{self, CryptoError, PublicKey, SignatureAlgorithm};
use crate::tlv::{self, Tag};

/// Upper bound on one certificate's size; real CSCAs are below 3 KiB.
const MAX_CERTIFICATE_LEN: usize = 64 * 1024;

/// `id-at-countryName` (X.520).
const COUNTRY_NAME: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("2.5.4.6");

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
    /// `basicConstraints cA` (RFC 5280 §4.2.1.9).
    pub is_ca: bool,
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
        outer.expect(Tag::SEQUENCE).map_err(|e| bad(&e))?;
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
        let is_ca = tbs_cert
            .get_extension::<BasicConstraints>()
            .ok()
            .flatten()
            .is_some_and(|(_, bc)| bc.ca);
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
            is_ca,
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

    /// Serial number as upper-case hex, for reports.
    pub fn serial_hex(&self) -> String {
        self.serial.iter().map(|b| format!("{b:02X}")).collect()
    }
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
