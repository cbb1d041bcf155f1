//! ICAO CSCA master lists (ICAO 9303-12 §8): a CMS SignedData whose eContent, of type
//! `id-icao-cscaMasterList`, is `CscaMasterList ::= SEQUENCE { version INTEGER, certList SET OF
//! Certificate }`, signed by a Master List Signer certificate that its CSCA issued. A list is
//! only as trustworthy as the check of its own signature, so the result of that check is part
//! of what loading a list returns.

use time::OffsetDateTime;

use super::PkiError;
use super::cert::{Certificate, strip_sign_bytes};
use crate::sod::{SignedData, SignerIdentifier, SignerInfo, oid};
use crate::tlv::{self, Tag};

/// Upper bound on the certificates of one list (the ICAO list holds a few thousand).
const MAX_LIST_CERTIFICATES: usize = 20_000;
/// How many embedded certificates may sit between the signer and a given anchor.
const MAX_SIGNER_CHAIN: usize = 3;

/// The outcome of checking a master list's own signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterListSignature {
    /// The SignerInfo verifies with the signer certificate, and that certificate is a given
    /// anchor or chains to one.
    Verified { signer: String, anchor: String },
    /// The signature is intact with the embedded signer, but no given certificate vouches for
    /// the signer (none given, or none matches).
    Unverified {
        signer: Option<String>,
        reason: String,
    },
    /// The signature or its messageDigest is wrong: the list was altered or mis-signed.
    Invalid { reason: String },
}

impl MasterListSignature {
    pub fn is_verified(&self) -> bool {
        matches!(self, Self::Verified { .. })
    }

    /// `verified`, `unverified` or `invalid`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Verified { .. } => "verified",
            Self::Unverified { .. } => "unverified",
            Self::Invalid { .. } => "invalid",
        }
    }
}

/// A decoded master list.
#[derive(Debug, Clone)]
pub struct MasterList {
    pub certificates: Vec<Certificate>,
    /// Entries of `certList` that could not be decoded as certificates.
    pub undecodable: usize,
    pub signature: MasterListSignature,
    pub signing_time: Option<OffsetDateTime>,
    /// The Master List Signer certificate, when found.
    pub signer: Option<Certificate>,
}

/// Whether `cert` is the one a SignerIdentifier names (RFC 5652 §5.3), byte for byte except
/// for the serial's sign byte: `IssuerAndSerialNumber` carries the INTEGER's contents, and a
/// serial with its top bit set is `00 8x …` in DER while some issuers (and some certificate
/// encoders) omit the sign byte, so both sides are compared as magnitudes (X.690 §8.3.2).
pub(crate) fn matches_sid(cert: &Certificate, sid: &SignerIdentifier<'_>) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber { issuer, serial } => {
            cert.issuer_der() == *issuer && cert.serial_magnitude() == strip_sign_bytes(serial)
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            cert.subject_key_id.as_deref() == Some(ski.as_ref())
        }
    }
}

/// How the signer certificate of a SignerInfo was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerMatch {
    /// The signer identifier names the certificate (RFC 5652 §5.3).
    Identifier,
    /// Field deviation: the identifier names no candidate byte for byte (issuer RDNs in
    /// another order, a differently encoded serial); the candidate whose key verifies the
    /// signature is the signer.
    KeyVerifiesSignature,
}

/// The candidate a SignerInfo names or, failing that, the candidate whose key verifies its
/// signature (`docs/verify.md`, trust policy: passports in the field deviate from the letter).
pub(crate) fn find_signer<'c>(
    sd: &SignedData<'_>,
    si: &SignerInfo<'_>,
    candidates: impl IntoIterator<Item = &'c Certificate> + Clone,
) -> Option<(&'c Certificate, SignerMatch)> {
    if let Some(c) = candidates
        .clone()
        .into_iter()
        .find(|c| matches_sid(c, &si.sid))
    {
        return Some((c, SignerMatch::Identifier));
    }
    candidates
        .into_iter()
        .find(|c| {
            c.public_key()
                .is_ok_and(|key| sd.verify_signer(si, key).is_ok())
        })
        .map(|c| (c, SignerMatch::KeyVerifiesSignature))
}

impl MasterList {
    /// Parses a master list and checks its signature against `anchors` (certificates the
    /// operator trusts to sign master lists, typically the issuing country's CSCA).
    ///
    /// # Errors
    /// [`PkiError::MasterList`] when the structure is not a master list.
    pub fn parse(bytes: &[u8], anchors: &[&Certificate]) -> Result<Self, PkiError> {
        let bad = |e: &dyn std::fmt::Display| PkiError::MasterList(e.to_string());
        let sd = SignedData::parse_content_info(bytes).map_err(|e| bad(&e))?;
        sd.expect_content_type(oid::CSCA_MASTER_LIST)
            .map_err(|e| bad(&e))?;
        let list = tlv::read_exact(&sd.econtent).map_err(|e| bad(&e))?;
        let fields = list
            .check_tag(Tag::SEQUENCE)
            .and_then(|l| l.children())
            .map_err(|e| bad(&e))?;
        let [_version, cert_list] = fields.as_slice() else {
            return Err(PkiError::MasterList(
                "CscaMasterList is not two fields".into(),
            ));
        };
        let entries = cert_list
            .check_tag(Tag::SET)
            .and_then(|s| s.children())
            .map_err(|e| bad(&e))?;
        if entries.len() > MAX_LIST_CERTIFICATES {
            return Err(PkiError::MasterList("too many certificates".into()));
        }
        let mut certificates = Vec::with_capacity(entries.len());
        let mut undecodable = 0;
        for entry in &entries {
            match Certificate::from_der(entry.raw) {
                Ok(c) => certificates.push(c),
                Err(_) => undecodable += 1,
            }
        }
        let embedded: Vec<Certificate> = sd
            .certificates
            .iter()
            .filter_map(|der| Certificate::from_der(der).ok())
            .collect();
        let [signer_info] = sd.signer_infos.as_slice() else {
            return Err(PkiError::MasterList(
                "a master list has exactly one SignerInfo".into(),
            ));
        };
        let (signature, signer) = check_signature(&sd, signer_info, &embedded, anchors);
        let signing_time = signer_info
            .signed_attrs
            .as_ref()
            .and_then(|a| a.signing_time);
        Ok(Self {
            certificates,
            undecodable,
            signature,
            signing_time,
            signer,
        })
    }
}

fn check_signature(
    sd: &SignedData<'_>,
    si: &SignerInfo<'_>,
    embedded: &[Certificate],
    anchors: &[&Certificate],
) -> (MasterListSignature, Option<Certificate>) {
    let found = find_signer(sd, si, embedded.iter().chain(anchors.iter().copied()));
    let Some((signer, _)) = found else {
        return (
            MasterListSignature::Unverified {
                signer: None,
                reason: "no embedded or given certificate is named by the signer identifier \
                         or verifies the signature"
                    .into(),
            },
            None,
        );
    };
    let signer = signer.clone();
    let unverified = |reason: String| MasterListSignature::Unverified {
        signer: Some(signer.subject.clone()),
        reason,
    };
    let key = match signer.public_key() {
        Ok(k) => k,
        Err(e) => {
            let reason = format!("signer key unusable: {e}");
            return (unverified(reason), Some(signer.clone()));
        }
    };
    if let Err(e) = sd.verify_signer(si, key) {
        return (
            MasterListSignature::Invalid {
                reason: e.to_string(),
            },
            Some(signer),
        );
    }
    if let Err(e) = signer.check_master_list_signer_role() {
        return (unverified(e.to_string()), Some(signer.clone()));
    }
    let result = match chain_to_anchor(&signer, embedded, anchors, 0) {
        Some(anchor) => MasterListSignature::Verified {
            signer: signer.subject.clone(),
            anchor,
        },
        None => unverified(if anchors.is_empty() {
            "no directly imported CSCA to verify the signer against".into()
        } else {
            "the signer does not chain to a directly imported CSCA".into()
        }),
    };
    (result, Some(signer))
}

/// The subject of the given anchor that `cert` is, or chains to through embedded certificates.
fn chain_to_anchor(
    cert: &Certificate,
    embedded: &[Certificate],
    anchors: &[&Certificate],
    depth: usize,
) -> Option<String> {
    // Only a CA may vouch: the anchor itself (a CSCA signing its own list directly) or a CA
    // certificate that issued `cert` (ICAO 9303-12 §7.1.1).
    if let Some(a) = anchors
        .iter()
        .find(|a| a.fingerprint() == cert.fingerprint() && depth > 0)
    {
        return Some(a.subject.clone());
    }
    if let Some(a) = anchors.iter().find(|a| {
        a.check_csca_role().is_ok() && cert.names_issuer(a) && cert.verify_issued_by(a).is_ok()
    }) {
        return Some(a.subject.clone());
    }
    if depth >= MAX_SIGNER_CHAIN || cert.is_self_issued() {
        return None;
    }
    embedded
        .iter()
        .filter(|c| {
            c.fingerprint() != cert.fingerprint()
                && c.check_csca_role().is_ok()
                && cert.names_issuer(c)
                && cert.verify_issued_by(c).is_ok()
        })
        .find_map(|c| chain_to_anchor(c, embedded, anchors, depth + 1))
}
