//! The trust store: CSCA certificates (ICAO 9303-12 §5.1) from certificate files and master
//! lists, the CRLs that revoke Document Signers, and DSC → CSCA chain building with link
//! certificates (ICAO 9303-12 §7.1.2: a new CSCA key is certified by the previous one).
//!
//! Loading takes bytes, never paths (this crate does no I/O); the CLI and server read files.
//! Chain results are cached per DSC fingerprint, because every passport from one issuing
//! batch carries the same DSC and its chain signature is the most expensive check.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use time::OffsetDateTime;

use super::PkiError;
use super::cert::{Certificate, pem_or_der_blocks};
use super::crl::Crl;
use super::masterlist::{MasterList, MasterListSignature};
use crate::crypto::CryptoError;
use crate::tlv::{self, Tag};

/// Longest chain of link certificates followed above the DSC's issuer.
const MAX_LINK_DEPTH: usize = 4;

/// What a trust source holds, recognised from its content (never from its file name), so that a
/// loader can add sources in dependency order: CSCA certificates, then master lists (whose
/// signers may chain to those CSCAs), then CRLs (accepted only once their CSCA is loaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// One DER certificate, or PEM holding at least one `CERTIFICATE` block.
    Certificates,
    /// An ICAO master list (CMS `ContentInfo`, ICAO 9303-12 §8).
    MasterList,
    /// One DER CRL, or PEM holding only `X509 CRL` blocks (RFC 5280 §5).
    Crl,
}

impl SourceKind {
    /// Position in the dependency order a loader adds sources in: certificates (0), master
    /// lists (1), CRLs (2).
    pub fn load_rank(self) -> u8 {
        match self {
            Self::Certificates => 0,
            Self::MasterList => 1,
            Self::Crl => 2,
        }
    }

    /// Recognises a source from its first structures.
    ///
    /// # Errors
    /// [`PkiError::Pem`] for a broken PEM block, [`PkiError::Unrecognised`] otherwise.
    pub fn of(bytes: &[u8]) -> Result<Self, PkiError> {
        let is_pem = std::str::from_utf8(bytes).is_ok_and(|t| t.contains("-----BEGIN "));
        if is_pem {
            if !pem_or_der_blocks(bytes, "CERTIFICATE")?.is_empty() {
                return Ok(Self::Certificates);
            }
            if !pem_or_der_blocks(bytes, "X509 CRL")?.is_empty() {
                return Ok(Self::Crl);
            }
            return Err(PkiError::Unrecognised);
        }
        match classify_der(bytes) {
            DerKind::ContentInfo => Ok(Self::MasterList),
            DerKind::Certificate => Ok(Self::Certificates),
            DerKind::Crl => Ok(Self::Crl),
            DerKind::Unknown => Err(PkiError::Unrecognised),
        }
    }
}

/// What one loaded source contributed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceReport {
    Certificates {
        added: usize,
        duplicates: usize,
        undecodable: usize,
    },
    MasterList(MasterListSummary),
    Crl {
        issuer: String,
        revoked: usize,
    },
}

/// A master list as loaded into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterListSummary {
    pub label: String,
    pub signature: MasterListSignature,
    /// The operator's explicit opt-in (`--trust-unverified`) made an unverified list's CSCAs
    /// trusted; recorded so that reports show it.
    pub trusted_unverified: bool,
    pub signer: Option<String>,
    pub signing_time: Option<OffsetDateTime>,
    pub certificates: usize,
    pub added: usize,
    pub undecodable: usize,
}

/// Why a DSC does not chain to the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("no CSCA in the trust store names the DSC's issuer")]
    NoIssuer,
    #[error("the DSC's signature does not verify with any matching CSCA ({0})")]
    BadSignature(CryptoError),
    /// The certificates named as the DSC's issuer may not issue certificates.
    #[error("the DSC's issuer is not a CA ({0})")]
    IssuerNotCa(super::cert::RoleError),
}

/// A verified chain, nearest first: the CSCA (or link certificate) that signed the DSC, then
/// the CSCAs above it up to a self-issued root when the store holds them.
#[derive(Debug, Clone)]
pub struct Chain {
    pub certificates: Vec<Arc<Certificate>>,
}

impl Chain {
    /// The certificate that signed the DSC.
    pub fn issuer(&self) -> Option<&Certificate> {
        self.certificates.first().map(Arc::as_ref)
    }
}

/// Revocation status of a certificate against the loaded CRLs (RFC 5280 §6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// No verified CRL of the certificate's issuer is loaded.
    NoCrl,
    Good {
        crl_this_update: OffsetDateTime,
        crl_next_update: Option<OffsetDateTime>,
    },
    Revoked {
        date: OffsetDateTime,
    },
}

/// A DSC's chain (indexes into the store's certificates) or why there is none; cached per DSC
/// fingerprint, since one DSC signs many documents.
type ChainResult = Result<Vec<usize>, ChainError>;

/// CSCA certificates, CRLs and a chain cache.
#[derive(Debug, Default)]
pub struct TrustStore {
    certificates: Vec<Arc<Certificate>>,
    by_subject: HashMap<Vec<u8>, Vec<usize>>,
    by_key_id: HashMap<Vec<u8>, Vec<usize>>,
    fingerprints: HashSet<[u8; 32]>,
    /// Certificates loaded individually: the operator's own anchors, also accepted as master
    /// list signers' issuers.
    explicit: Vec<usize>,
    crls: Vec<Crl>,
    master_lists: Vec<MasterListSummary>,
    /// Load master lists whose signature is intact but not vouched for by a directly imported
    /// CSCA (an explicit operator opt-in, `docs/verify.md` trust policy).
    trust_unverified: bool,
    chain_cache: RwLock<HashMap<[u8; 32], ChainResult>>,
    /// Decoded Document Signer certificates by their DER, so a batch of passports from one
    /// DSC decodes it once. Only certificates that signed a SOD and chained to a CSCA enter
    /// ([`Self::remember_document_signer`]), so hostile SODs cannot fill it with junk.
    dsc_cache: RwLock<DscCache>,
}

/// The DSC decode cache, bounded in bytes of DER held.
#[derive(Debug, Default)]
struct DscCache {
    entries: HashMap<Vec<u8>, Arc<Certificate>>,
    bytes: usize,
}

/// Chain-cache entries kept before it is emptied (a bound on memory, not an LRU: DSCs
/// rotate every few months, so a full cache means a long-running process, and clearing it
/// merely costs one chain verification per DSC).
const MAX_CACHED: usize = 16_384;
/// Bytes of DSC DER (counted twice: key and decoded copy) kept in the decode cache before it
/// is emptied; 4 MiB holds about a thousand typical 1.5 KiB DSCs.
const MAX_DSC_CACHE_BYTES: usize = 4 * 1024 * 1024;

impl TrustStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    pub fn certificates(&self) -> impl Iterator<Item = &Certificate> {
        self.certificates.iter().map(Arc::as_ref)
    }

    /// Opt-in: master lists whose signer does not chain to a directly imported CSCA still add
    /// their CSCAs, and each such list is recorded as `trusted_unverified`. Off by default.
    pub fn set_trust_unverified_master_lists(&mut self, trust: bool) {
        self.trust_unverified = trust;
    }

    pub fn master_lists(&self) -> &[MasterListSummary] {
        &self.master_lists
    }

    pub fn crls(&self) -> &[Crl] {
        &self.crls
    }

    /// CSCA count per subject country (`??` for a certificate without `countryName`).
    pub fn count_by_country(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for c in &self.certificates {
            *out.entry(c.country.clone().unwrap_or_else(|| "??".into()))
                .or_insert(0) += 1;
        }
        out
    }

    /// Adds one certificate; `Ok(false)` when it was already present (same SHA-256 of DER).
    ///
    /// # Errors
    /// [`PkiError::Certificate`].
    pub fn add_certificate_der(&mut self, der: &[u8]) -> Result<bool, PkiError> {
        let cert = Certificate::from_der(der)?;
        Ok(self.insert(cert, true))
    }

    fn insert(&mut self, cert: Certificate, explicit: bool) -> bool {
        if !self.fingerprints.insert(*cert.fingerprint()) {
            return false;
        }
        let idx = self.certificates.len();
        self.by_subject
            .entry(cert.subject_der().to_vec())
            .or_default()
            .push(idx);
        if let Some(ski) = &cert.subject_key_id {
            self.by_key_id.entry(ski.clone()).or_default().push(idx);
        }
        if explicit {
            self.explicit.push(idx);
        }
        self.certificates.push(Arc::new(cert));
        self.clear_cache();
        true
    }

    /// Decodes a Document Signer certificate, through a cache keyed by its DER. A decoded
    /// certificate is not cached here; [`Self::remember_document_signer`] caches it once it
    /// proved to be a chained signer.
    ///
    /// # Errors
    /// [`PkiError::Certificate`].
    pub fn document_signer(&self, der: &[u8]) -> Result<Arc<Certificate>, PkiError> {
        if let Some(hit) = self
            .dsc_cache
            .read()
            .ok()
            .and_then(|c| c.entries.get(der).cloned())
        {
            return Ok(hit);
        }
        Ok(Arc::new(Certificate::from_der(der)?))
    }

    /// Caches a Document Signer certificate that signed a SOD and chained to a CSCA of this
    /// store. The cache holds at most [`MAX_DSC_CACHE_BYTES`]; when full it is emptied.
    pub fn remember_document_signer(&self, cert: &Arc<Certificate>) {
        let Ok(mut cache) = self.dsc_cache.write() else {
            return;
        };
        if cache.entries.contains_key(cert.der()) {
            return;
        }
        let cost = 2 * cert.der().len();
        if cache.bytes + cost > MAX_DSC_CACHE_BYTES {
            cache.entries.clear();
            cache.bytes = 0;
        }
        cache.bytes += cost;
        cache.entries.insert(cert.der().to_vec(), Arc::clone(cert));
    }

    /// Bytes of DER the DSC decode cache holds (for tests and metrics).
    pub fn dsc_cache_bytes(&self) -> usize {
        self.dsc_cache.read().map_or(0, |c| c.bytes)
    }

    fn clear_cache(&mut self) {
        if let Ok(mut cache) = self.chain_cache.write() {
            cache.clear();
        }
    }

    /// Loads a master list (`docs/verify.md`, trust policy). Its signature is checked against
    /// `anchors` plus every certificate loaded individually so far — never against CSCAs that
    /// arrived by a master list. Its CSCAs are added only when the signature is `Verified`:
    /// intact, by a signer with the master-list-signer extended key usage that chains to a
    /// directly imported CSCA. An `Unverified` list adds nothing and is reported as such,
    /// unless [`Self::set_trust_unverified_master_lists`] was switched on, which is recorded
    /// in the summary. An `Invalid` (altered) list is refused.
    ///
    /// # Errors
    /// [`PkiError::MasterList`], or [`PkiError::MasterListSignatureInvalid`].
    pub fn add_master_list(
        &mut self,
        label: &str,
        bytes: &[u8],
        anchors: &[&Certificate],
    ) -> Result<MasterListSummary, PkiError> {
        let mut all: Vec<&Certificate> = anchors.to_vec();
        all.extend(
            self.explicit
                .iter()
                .filter_map(|i| self.certificates.get(*i))
                .map(Arc::as_ref),
        );
        let list = MasterList::parse(bytes, &all)?;
        if let MasterListSignature::Invalid { reason } = &list.signature {
            return Err(PkiError::MasterListSignatureInvalid(reason.clone()));
        }
        let total = list.certificates.len();
        let verified = list.signature.is_verified();
        let trusted_unverified = !verified && self.trust_unverified;
        let mut added = 0;
        if verified || trusted_unverified {
            for cert in list.certificates {
                added += usize::from(self.insert(cert, false));
            }
        }
        let summary = MasterListSummary {
            label: label.to_owned(),
            trusted_unverified,
            signer: list.signer.map(|s| s.subject),
            signature: list.signature,
            signing_time: list.signing_time,
            certificates: total,
            added,
            undecodable: list.undecodable,
        };
        self.master_lists.push(summary.clone());
        Ok(summary)
    }

    /// Adds a CRL after verifying it with a CSCA of the store (RFC 5280 §6.3.3); a CRL no
    /// CSCA vouches for is refused, since honouring it would let anyone revoke a DSC.
    ///
    /// # Errors
    /// [`PkiError::Crl`] or [`PkiError::CrlUnverified`].
    pub fn add_crl_der(&mut self, der: &[u8]) -> Result<SourceReport, PkiError> {
        let crl = Crl::from_der(der)?;
        let verified = self
            .by_subject
            .get(crl.issuer_der())
            .into_iter()
            .flatten()
            .filter_map(|i| self.certificates.get(*i))
            .any(|csca| crl.verify_signed_by(csca).is_ok());
        if !verified {
            return Err(PkiError::CrlUnverified(crl.issuer.clone()));
        }
        let report = SourceReport::Crl {
            issuer: crl.issuer.clone(),
            revoked: crl.revoked.len(),
        };
        self.crls.push(crl);
        Ok(report)
    }

    /// Loads a source whose kind is recognised from its content: PEM certificates or CRLs,
    /// a DER certificate, a DER CRL, or a master list (CMS `ContentInfo`).
    ///
    /// # Errors
    /// The error of the recognised kind, or [`PkiError::Unrecognised`].
    pub fn add_source(&mut self, label: &str, bytes: &[u8]) -> Result<SourceReport, PkiError> {
        let kind = SourceKind::of(bytes)?;
        self.add_source_of_kind(label, bytes, kind)
    }

    /// Loads a source already recognised by [`SourceKind::of`] (a loader that orders many
    /// sources classifies each once). A PEM CRL source loads its first CRL.
    ///
    /// # Errors
    /// The error of `kind`'s loader, [`PkiError::Pem`], or [`PkiError::Unrecognised`] when the
    /// bytes hold nothing of that kind.
    pub fn add_source_of_kind(
        &mut self,
        label: &str,
        bytes: &[u8],
        kind: SourceKind,
    ) -> Result<SourceReport, PkiError> {
        match kind {
            SourceKind::MasterList => self
                .add_master_list(label, bytes, &[])
                .map(SourceReport::MasterList),
            SourceKind::Certificates => {
                let certs = pem_or_der_blocks(bytes, "CERTIFICATE")?;
                if certs.is_empty() {
                    return Err(PkiError::Unrecognised);
                }
                Ok(self.add_certificates(&certs))
            }
            SourceKind::Crl => {
                let crls = pem_or_der_blocks(bytes, "X509 CRL")?;
                let first = crls.first().ok_or(PkiError::Unrecognised)?;
                self.add_crl_der(first)
            }
        }
    }

    fn add_certificates(&mut self, ders: &[Vec<u8>]) -> SourceReport {
        let (mut added, mut duplicates, mut undecodable) = (0, 0, 0);
        for der in ders {
            match self.add_certificate_der(der) {
                Ok(true) => added += 1,
                Ok(false) => duplicates += 1,
                Err(_) => undecodable += 1,
            }
        }
        SourceReport::Certificates {
            added,
            duplicates,
            undecodable,
        }
    }

    /// Certificates that may have issued `cert`: same subject DER as its issuer, or a subject
    /// key identifier equal to its authority key identifier, and passing [`Certificate::names_issuer`]
    /// when names are byte-identical.
    fn issuer_candidates(&self, cert: &Certificate) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .by_subject
            .get(cert.issuer_der())
            .cloned()
            .unwrap_or_default();
        if let Some(aki) = &cert.authority_key_id {
            for i in self.by_key_id.get(aki).into_iter().flatten() {
                if !out.contains(i) {
                    out.push(*i);
                }
            }
        }
        out.retain(|i| {
            self.certificates.get(*i).is_some_and(|c| {
                c.fingerprint() != cert.fingerprint()
                    && (cert.names_issuer(c)
                        || cert.authority_key_id.is_some()
                            && cert.authority_key_id == c.subject_key_id)
            })
        });
        out
    }

    /// Builds and verifies the chain of a Document Signer certificate (ICAO 9303-12 §7.1,
    /// RFC 5280 §6.1 signature steps): the CSCA whose key verifies the DSC, then, for a link
    /// certificate, the CSCAs that certified it. Results are cached per DSC fingerprint;
    /// validity dates are *not* part of the cached result (they depend on the time of
    /// verification).
    ///
    /// # Errors
    /// [`ChainError`].
    pub fn chain_for(&self, dsc: &Certificate) -> Result<Chain, ChainError> {
        let key = *dsc.fingerprint();
        let cached = self
            .chain_cache
            .read()
            .ok()
            .and_then(|c| c.get(&key).cloned());
        let indices = match cached {
            Some(r) => r,
            None => {
                let r = self.build_chain(dsc);
                if let Ok(mut cache) = self.chain_cache.write() {
                    if cache.len() >= MAX_CACHED {
                        cache.clear();
                    }
                    cache.insert(key, r.clone());
                }
                r
            }
        }?;
        Ok(Chain {
            certificates: indices
                .iter()
                .filter_map(|i| self.certificates.get(*i).cloned())
                .collect(),
        })
    }

    fn build_chain(&self, dsc: &Certificate) -> Result<Vec<usize>, ChainError> {
        let mut candidates = self.issuer_candidates(dsc);
        if candidates.is_empty() {
            return Err(ChainError::NoIssuer);
        }
        // ICAO 9303-12 §7.1.1: only a CA certificate (CSCA or link) issues DSCs.
        let mut role_error = None;
        candidates.retain(|i| {
            self.certificates
                .get(*i)
                .is_some_and(|c| match c.check_csca_role() {
                    Ok(()) => true,
                    Err(e) => {
                        role_error.get_or_insert(e);
                        false
                    }
                })
        });
        if let (true, Some(e)) = (candidates.is_empty(), role_error) {
            return Err(ChainError::IssuerNotCa(e));
        }
        let mut last_error = CryptoError::BadSignature;
        for idx in candidates {
            let Some(csca) = self.certificates.get(idx) else {
                continue;
            };
            match dsc.verify_issued_by(csca) {
                Ok(()) => return Ok(self.follow_links(idx)),
                Err(e) => last_error = e,
            }
        }
        Err(ChainError::BadSignature(last_error))
    }

    /// From a CSCA that signed a DSC, follows link certificates towards a self-issued root.
    /// Every certificate in the store is itself a trust anchor, so a link whose issuer is not
    /// loaded still ends the chain successfully; a step is only added when its signature
    /// verifies.
    fn follow_links(&self, start: usize) -> Vec<usize> {
        let mut path = vec![start];
        let mut current = start;
        for _ in 0..MAX_LINK_DEPTH {
            let Some(cert) = self.certificates.get(current) else {
                break;
            };
            if cert.is_self_issued() {
                break;
            }
            let next = self.issuer_candidates(cert).into_iter().find(|i| {
                !path.contains(i)
                    && self.certificates.get(*i).is_some_and(|c| {
                        c.check_csca_role().is_ok() && cert.verify_issued_by(c).is_ok()
                    })
            });
            match next {
                Some(n) => {
                    path.push(n);
                    current = n;
                }
                None => break,
            }
        }
        path
    }

    /// The revocation status of `cert` against the verified CRLs of its issuer.
    pub fn revocation(&self, cert: &Certificate) -> Revocation {
        let mut status = Revocation::NoCrl;
        for crl in self
            .crls
            .iter()
            .filter(|c| c.issuer_der() == cert.issuer_der())
        {
            if let Some(date) = crl.revocation_of(cert) {
                return Revocation::Revoked { date };
            }
            status = Revocation::Good {
                crl_this_update: crl.this_update,
                crl_next_update: crl.next_update,
            };
        }
        status
    }
}

enum DerKind {
    ContentInfo,
    Certificate,
    Crl,
    Unknown,
}

/// `ContentInfo` starts with an OID; a certificate's TBS has `[0]` version, a serial, an
/// algorithm, issuer, validity…; a CRL's TBS has issuer then `thisUpdate` (a time) in third or
/// fourth position.
fn classify_der(bytes: &[u8]) -> DerKind {
    let Ok(outer) = tlv::read_exact(bytes) else {
        return DerKind::Unknown;
    };
    let Ok(children) = outer.children() else {
        return DerKind::Unknown;
    };
    match children.first() {
        Some(first) if first.tag == Tag::OID => DerKind::ContentInfo,
        Some(first) if first.tag == Tag::SEQUENCE && children.len() == 3 => {
            let Ok(tbs) = first.children() else {
                return DerKind::Unknown;
            };
            let is_time = |t: Option<&tlv::Tlv<'_>>| {
                t.is_some_and(|t| t.tag == Tag(0x17) || t.tag == Tag(0x18))
            };
            if is_time(tbs.get(2)) || is_time(tbs.get(3)) {
                DerKind::Crl
            } else {
                DerKind::Certificate
            }
        }
        _ => DerKind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/sod/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn source_kind_is_recognised_from_content_in_der_and_pem() {
        let kind = |path: &str| SourceKind::of(&fixture(path)).ok();
        assert_eq!(kind("p256/csca.der"), Some(SourceKind::Certificates));
        assert_eq!(kind("ml_csca.pem"), Some(SourceKind::Certificates));
        assert_eq!(kind("utopia.ml"), Some(SourceKind::MasterList));
        assert_eq!(kind("p256/crl_empty.der"), Some(SourceKind::Crl));
        let crl = fixture("p256/crl_revoked.der");
        let pem = der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &crl).unwrap();
        assert_eq!(SourceKind::of(pem.as_bytes()).ok(), Some(SourceKind::Crl));
    }

    #[test]
    fn a_source_of_no_known_kind_is_unrecognised() {
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(SourceKind::of(key.as_bytes()), Err(PkiError::Unrecognised));
        assert_eq!(
            SourceKind::of(b"not a certificate"),
            Err(PkiError::Unrecognised)
        );
        assert_eq!(SourceKind::of(&[]), Err(PkiError::Unrecognised));
    }

    #[test]
    fn a_crl_is_accepted_once_its_csca_is_loaded_whatever_the_order_given() {
        let crl = fixture("p256/crl_revoked.der");
        let mut store = TrustStore::new();
        assert!(matches!(
            store.add_source_of_kind("crl", &crl, SourceKind::Crl),
            Err(PkiError::CrlUnverified(_))
        ));
        store.add_source("csca", &fixture("p256/csca.der")).unwrap();
        assert!(matches!(
            store.add_source_of_kind("crl", &crl, SourceKind::Crl),
            Ok(SourceReport::Crl { revoked: 1, .. })
        ));
    }
}
