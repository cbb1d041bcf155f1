//! Passive authentication (ICAO 9303-11 §5.1, ICAO 9303-12 §4–§7): proves that the data groups
//! read from a chip are those the issuing state signed.
//!
//! Steps, each recorded as a [`Check`] (never a bare boolean):
//! 1. EF.SOD parses (CMS SignedData, BER tolerated — [`crate::sod`]);
//! 2. the hash of every supplied data group equals the LDS Security Object's entry;
//! 3. the `messageDigest` signed attribute equals the digest of the eContent (RFC 5652 §5.4);
//! 4. the SignerInfo signature verifies with the Document Signer certificate (DSC) embedded in
//!    the SOD (RFC 5652 §5.6), which must be an end-entity certificate with digitalSignature
//!    and no extended key usage of another role (ICAO 9303-12 §7.1.1);
//! 5. the DSC chains to a CSCA of the [`TrustStore`] (a CA certificate), following link
//!    certificates;
//! 6. DSC and CSCA are valid at the time of verification, the `at` the caller passes (ICAO
//!    9303-12: a DSC's validity covers the documents it signed, so an expired DSC means expired
//!    documents; a leaked old DSC key must not sign valid passports), and a `signingTime`, when
//!    present, lies inside the DSC's validity. Old files are checked by passing a past `at`;
//! 7. the DSC's country equals the CSCA's and the document's issuing state (ICAO 9303-12 §7.1.1);
//! 8. the DSC is not on a loaded CRL of its CSCA (ICAO 9303-12 §7.1.4).

use std::sync::Arc;

use time::OffsetDateTime;

use crate::crypto::HashAlgorithm;
use crate::pki::country::alpha2_for_mrz_code;
use crate::pki::masterlist::{SignerMatch, find_signer};
use crate::pki::{Certificate, ChainError, PkiError, Revocation, TrustStore};
use crate::sod::{SignerError, Sod};
use crate::tlv::{self, Tag};

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    NotApplicable,
}

/// Which check a [`Check`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    SodParse,
    DataGroupHashes,
    MessageDigest,
    DocumentSigner,
    Signature,
    Chain,
    Validity,
    Country,
    Revocation,
}

/// One check: what was checked, its status, and why (algorithm and authority names only).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub name: CheckName,
    pub status: Status,
    pub reason: String,
}

/// Per data group: does the supplied file hash to the SOD's value?
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataGroupStatus {
    Match,
    Mismatch,
    /// Listed in the SOD, not supplied by the caller.
    NotSupplied,
    /// Supplied but absent from the SOD: unsigned data.
    NotInSod,
}

/// The precise reason passive authentication failed: the first failing check, in the order of
/// the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "code")]
#[non_exhaustive]
pub enum PassiveFailure {
    #[error("EF.SOD is malformed")]
    SodMalformed,
    #[error("data group {number} does not match its hash in the SOD")]
    DataGroupHashMismatch { number: u8 },
    #[error("data group {number} is not listed in the SOD")]
    DataGroupNotInSod { number: u8 },
    #[error("the messageDigest attribute does not match the LDS Security Object")]
    MessageDigestMismatch,
    #[error("the SOD carries no usable Document Signer certificate")]
    DocumentSignerMissing,
    #[error("the SOD's signer certificate may not act as a Document Signer")]
    DocumentSignerRole,
    #[error("the SOD signature algorithm or key is not supported")]
    UnsupportedAlgorithm,
    #[error("the SOD signature does not verify with the Document Signer certificate")]
    SignatureInvalid,
    #[error("no CSCA in the trust store issued the Document Signer certificate")]
    CscaNotFound,
    #[error("the Document Signer certificate's signature does not verify with its CSCA")]
    ChainSignatureInvalid,
    #[error("the certificate that issued the Document Signer certificate is not a CA")]
    IssuerNotCa,
    #[error("the Document Signer certificate is not valid at the time of verification or signing")]
    DocumentSignerNotValid,
    #[error("the CSCA is not valid at the time of verification")]
    CscaNotValid,
    #[error("the Document Signer's country differs from the CSCA's or the issuing state")]
    CountryMismatch,
    #[error("the Document Signer certificate is revoked")]
    DocumentSignerRevoked,
}

impl PassiveFailure {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SodMalformed => "sod_malformed",
            Self::DataGroupHashMismatch { .. } => "data_group_hash_mismatch",
            Self::DataGroupNotInSod { .. } => "data_group_not_in_sod",
            Self::MessageDigestMismatch => "message_digest_mismatch",
            Self::DocumentSignerMissing => "document_signer_missing",
            Self::DocumentSignerRole => "document_signer_role",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::SignatureInvalid => "signature_invalid",
            Self::CscaNotFound => "csca_not_found",
            Self::ChainSignatureInvalid => "chain_signature_invalid",
            Self::IssuerNotCa => "issuer_not_ca",
            Self::DocumentSignerNotValid => "document_signer_not_valid",
            Self::CscaNotValid => "csca_not_valid",
            Self::CountryMismatch => "country_mismatch",
            Self::DocumentSignerRevoked => "document_signer_revoked",
        }
    }
}

/// Overall result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Authentic,
    Failed,
}

/// Names and dates of a certificate, for reports (no key material, no personal data).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertificateSummary {
    pub subject: String,
    pub issuer: String,
    pub country: Option<String>,
    pub serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub public_key: String,
}

impl CertificateSummary {
    fn of(c: &Certificate) -> Self {
        Self {
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            country: c.country.clone(),
            serial: c.serial_hex(),
            not_before: c.not_before,
            not_after: c.not_after,
            public_key: c
                .public_key()
                .map_or_else(|e| format!("unusable ({e})"), |k| k.describe()),
        }
    }
}

/// Where the validity reference time came from: always the verifier's `at` (the time of
/// verification, or a past time the caller chose for an old file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    CallerClock,
}

/// Everything passive authentication found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PassiveReport {
    pub checks: Vec<Check>,
    pub data_groups: Vec<(u8, DataGroupStatus)>,
    pub lds_hash_algorithm: Option<String>,
    pub signature_algorithm: Option<String>,
    pub document_signer: Option<CertificateSummary>,
    pub csca: Option<CertificateSummary>,
    /// Subjects above the CSCA when link certificates were followed.
    pub chain: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub reference_time: Option<OffsetDateTime>,
    pub reference_time_source: Option<TimeSource>,
    /// The SOD's `signingTime` attribute, when present.
    #[serde(with = "time::serde::rfc3339::option")]
    pub signing_time: Option<OffsetDateTime>,
    /// Field deviations accepted (`docs/verify.md`, trust policy), in words.
    pub deviations: Vec<String>,
    /// The document's issuing state as alpha-2 (from the caller or DG1).
    pub issuing_country: Option<String>,
    failure: Option<PassiveFailure>,
}

impl PassiveReport {
    fn new() -> Self {
        Self {
            checks: Vec::new(),
            data_groups: Vec::new(),
            lds_hash_algorithm: None,
            signature_algorithm: None,
            document_signer: None,
            csca: None,
            chain: Vec::new(),
            reference_time: None,
            reference_time_source: None,
            signing_time: None,
            deviations: Vec::new(),
            issuing_country: None,
            failure: None,
        }
    }

    fn record(
        &mut self,
        name: CheckName,
        status: Status,
        reason: impl Into<String>,
        failure: Option<PassiveFailure>,
    ) {
        if status == Status::Fail && self.failure.is_none() {
            self.failure = failure;
        }
        self.checks.push(Check {
            name,
            status,
            reason: reason.into(),
        });
    }

    fn pass(&mut self, name: CheckName, reason: impl Into<String>) {
        self.record(name, Status::Pass, reason, None);
    }

    fn fail(&mut self, name: CheckName, reason: impl Into<String>, failure: PassiveFailure) {
        self.record(name, Status::Fail, reason, Some(failure));
    }

    fn not_applicable(&mut self, name: CheckName, reason: impl Into<String>) {
        self.record(name, Status::NotApplicable, reason, None);
    }

    /// `Authentic` only when no check failed and the signature and chain checks passed.
    pub fn verdict(&self) -> Verdict {
        let passed = |n| self.check(n).is_some_and(|c| c.status == Status::Pass);
        if self.failure.is_none() && passed(CheckName::Signature) && passed(CheckName::Chain) {
            Verdict::Authentic
        } else {
            Verdict::Failed
        }
    }

    /// The first failure, in check order.
    pub fn failure(&self) -> Option<PassiveFailure> {
        self.failure
    }

    pub fn check(&self, name: CheckName) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    pub fn status(&self, name: CheckName) -> Status {
        self.check(name).map_or(Status::NotApplicable, |c| c.status)
    }
}

/// Passive authentication with the issuing state taken from DG1 when supplied. `at` is the
/// time of verification: certificates must be valid then.
pub fn verify(
    sod: &[u8],
    data_groups: &[(u8, &[u8])],
    trust: &TrustStore,
    at: OffsetDateTime,
) -> PassiveReport {
    verify_with_issuing_state(sod, data_groups, trust, at, None)
}

/// Passive authentication with an explicit issuing state (the MRZ's three-letter code, or an
/// alpha-2 code), overriding DG1.
pub fn verify_with_issuing_state(
    sod_bytes: &[u8],
    data_groups: &[(u8, &[u8])],
    trust: &TrustStore,
    at: OffsetDateTime,
    issuing_state: Option<&str>,
) -> PassiveReport {
    let mut report = PassiveReport::new();
    report.issuing_country = issuing_state.and_then(alpha2_for_mrz_code).or_else(|| {
        data_groups
            .iter()
            .find(|(n, _)| *n == 1)
            .and_then(|(_, dg1)| dg1_issuing_country(dg1))
    });

    let sod = match Sod::parse(sod_bytes) {
        Ok(s) => s,
        Err(e) => {
            report.fail(
                CheckName::SodParse,
                format!("EF.SOD: {e}"),
                PassiveFailure::SodMalformed,
            );
            return report;
        }
    };
    let Some(signer) = sod.signer() else {
        report.fail(
            CheckName::SodParse,
            "no SignerInfo",
            PassiveFailure::SodMalformed,
        );
        return report;
    };
    let algorithm = signer.effective_signature_algorithm();
    report.lds_hash_algorithm = Some(sod.lds.hash_algorithm.name().to_owned());
    report.signature_algorithm = Some(algorithm.name());
    report
        .deviations
        .extend(sod.deviations.iter().map(ToString::to_string));
    let deviations = if sod.deviations.is_empty() {
        String::new()
    } else {
        format!("; accepted: {}", report.deviations.join(", "))
    };
    report.pass(
        CheckName::SodParse,
        format!(
            "LDS Security Object v{}, {} data group hashes{deviations}",
            sod.lds.version,
            sod.lds.data_group_hashes.len()
        ),
    );

    check_data_groups(&mut report, &sod, data_groups);
    check_message_digest(&mut report, &sod);

    // Locate the Document Signer certificate the SignerInfo names.
    let decoded: Vec<Result<Arc<Certificate>, PkiError>> = sod
        .dsc_candidates()
        .iter()
        .map(|der| trust.document_signer(der))
        .collect();
    let usable: Vec<&Arc<Certificate>> = decoded.iter().filter_map(|r| r.as_ref().ok()).collect();
    let found = find_signer(&sod.signed_data, signer, usable.iter().map(|c| &***c)).and_then(
        |(cert, how)| {
            usable
                .iter()
                .find(|c| c.fingerprint() == cert.fingerprint())
                .map(|c| (Arc::clone(c), how))
        },
    );
    let Some((dsc, how)) = found else {
        let reason = match decoded
            .iter()
            .enumerate()
            .find_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
        {
            Some((i, e)) => format!(
                "embedded certificate {} of {} could not be parsed ({e}); no other matches the signer identifier",
                i + 1,
                decoded.len()
            ),
            None if decoded.is_empty() => "the SOD embeds no certificate".to_owned(),
            None => format!(
                "none of the {} embedded certificates is named by the signer identifier or verifies the signature",
                decoded.len()
            ),
        };
        report.fail(
            CheckName::DocumentSigner,
            reason,
            PassiveFailure::DocumentSignerMissing,
        );
        return report;
    };
    report.document_signer = Some(CertificateSummary::of(&dsc));
    let found_by = match how {
        SignerMatch::Identifier => String::new(),
        SignerMatch::KeyVerifiesSignature => {
            let d = "the signer identifier names no embedded certificate byte for byte; the one \
                     whose key verifies the signature is the signer (field deviation)";
            report.deviations.push(d.to_owned());
            format!("; {d}")
        }
    };
    match dsc.check_document_signer_role() {
        Ok(()) => report.pass(
            CheckName::DocumentSigner,
            format!(
                "{} ({}){found_by}",
                dsc.subject,
                report
                    .document_signer
                    .as_ref()
                    .map_or("", |d| d.public_key.as_str())
            ),
        ),
        Err(e) => report.fail(
            CheckName::DocumentSigner,
            format!("{}: {e}", dsc.subject),
            PassiveFailure::DocumentSignerRole,
        ),
    }

    match dsc.public_key() {
        Err(e) => report.fail(
            CheckName::Signature,
            format!("DSC key: {e}"),
            PassiveFailure::UnsupportedAlgorithm,
        ),
        Ok(key) => match sod.signed_data.verify_signer(signer, key) {
            Ok(()) => report.pass(
                CheckName::Signature,
                format!("{algorithm} verifies with the DSC"),
            ),
            // A wrong messageDigest was already reported by its own check.
            Err(SignerError::MessageDigestMismatch | SignerError::MessageDigestMissing) => {
                report.fail(
                    CheckName::Signature,
                    "not checked: messageDigest mismatch",
                    PassiveFailure::MessageDigestMismatch,
                );
            }
            Err(SignerError::Signature(e @ crate::crypto::CryptoError::BadSignature)) => {
                report.fail(
                    CheckName::Signature,
                    format!("{algorithm}: {e}"),
                    PassiveFailure::SignatureInvalid,
                );
            }
            Err(SignerError::Signature(e)) => {
                report.fail(
                    CheckName::Signature,
                    format!("{algorithm}: {e}"),
                    PassiveFailure::UnsupportedAlgorithm,
                );
            }
        },
    }

    report.signing_time = signer.signed_attrs.as_ref().and_then(|a| a.signing_time);
    report.reference_time = Some(at);
    report.reference_time_source = Some(TimeSource::CallerClock);

    let chain = match trust.chain_for(&dsc) {
        Ok(chain) => {
            let csca = chain.issuer().map(CertificateSummary::of);
            report.chain = chain
                .certificates
                .iter()
                .skip(1)
                .map(|c| c.subject.clone())
                .collect();
            let name = csca
                .as_ref()
                .map_or_else(String::new, |c| c.subject.clone());
            report.csca = csca;
            report.pass(CheckName::Chain, format!("DSC issued by CSCA {name}"));
            Some(chain)
        }
        Err(ChainError::NoIssuer) => {
            report.fail(
                CheckName::Chain,
                format!(
                    "no CSCA named {} in the trust store ({} certificates)",
                    dsc.issuer,
                    trust.len()
                ),
                PassiveFailure::CscaNotFound,
            );
            None
        }
        Err(e @ ChainError::BadSignature(_)) => {
            report.fail(
                CheckName::Chain,
                e.to_string(),
                PassiveFailure::ChainSignatureInvalid,
            );
            None
        }
        Err(e @ ChainError::IssuerNotCa(_)) => {
            report.fail(CheckName::Chain, e.to_string(), PassiveFailure::IssuerNotCa);
            None
        }
    };
    if chain.is_some() && report.status(CheckName::DocumentSigner) == Status::Pass {
        trust.remember_document_signer(&dsc);
    }

    check_validity(
        &mut report,
        &dsc,
        chain.as_ref().and_then(|c| c.issuer()),
        at,
    );
    check_country(&mut report, &dsc, chain.as_ref().and_then(|c| c.issuer()));

    match (chain.is_some(), trust.revocation(&dsc)) {
        (false, _) => {
            report.not_applicable(CheckName::Revocation, "no trusted CSCA, no CRL to consult")
        }
        (true, Revocation::NoCrl) => {
            report.not_applicable(CheckName::Revocation, "no CRL of the CSCA is loaded")
        }
        (
            true,
            Revocation::Good {
                crl_this_update,
                crl_next_update,
            },
        ) => {
            // A CRL past its nextUpdate is still evidence, but stale (RFC 5280 §5.1.2.5): say so.
            let stale = match crl_next_update {
                Some(next) if next < at => format!("; the CRL is stale (nextUpdate {next})"),
                _ => String::new(),
            };
            report.pass(
                CheckName::Revocation,
                format!("not listed on the CSCA's CRL of {crl_this_update}{stale}"),
            );
        }
        (true, Revocation::Revoked { date }) => {
            report.fail(
                CheckName::Revocation,
                format!("revoked on {date}"),
                PassiveFailure::DocumentSignerRevoked,
            );
        }
    }
    report
}

fn check_data_groups(report: &mut PassiveReport, sod: &Sod<'_>, supplied: &[(u8, &[u8])]) {
    let hash = sod.lds.hash_algorithm;
    let mut first_failure = None;
    for entry in &sod.lds.data_group_hashes {
        let status = match supplied.iter().find(|(n, _)| *n == entry.number) {
            None => DataGroupStatus::NotSupplied,
            Some((_, bytes)) if hash.digest(bytes) == entry.hash => DataGroupStatus::Match,
            Some(_) => {
                first_failure.get_or_insert(PassiveFailure::DataGroupHashMismatch {
                    number: entry.number,
                });
                DataGroupStatus::Mismatch
            }
        };
        report.data_groups.push((entry.number, status));
    }
    for (number, _) in supplied {
        if sod.lds.hash_of(*number).is_none() {
            first_failure.get_or_insert(PassiveFailure::DataGroupNotInSod { number: *number });
            report
                .data_groups
                .push((*number, DataGroupStatus::NotInSod));
        }
    }
    report.data_groups.sort_by_key(|(n, _)| *n);
    let describe = |s: DataGroupStatus| {
        report
            .data_groups
            .iter()
            .filter(|(_, st)| *st == s)
            .map(|(n, _)| format!("DG{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let matched = describe(DataGroupStatus::Match);
    match first_failure {
        Some(f) => {
            let reason = format!(
                "{}: mismatch [{}], not in SOD [{}]",
                hash.name(),
                describe(DataGroupStatus::Mismatch),
                describe(DataGroupStatus::NotInSod)
            );
            report.fail(CheckName::DataGroupHashes, reason, f);
        }
        None if matched.is_empty() => {
            report.not_applicable(CheckName::DataGroupHashes, "no data group supplied")
        }
        None => report.pass(
            CheckName::DataGroupHashes,
            format!("{} match [{matched}]", hash.name()),
        ),
    }
}

fn check_message_digest(report: &mut PassiveReport, sod: &Sod<'_>) {
    let Some(signer) = sod.signer() else { return };
    match signer
        .signed_attrs
        .as_ref()
        .map(|a| a.message_digest.as_deref())
    {
        None => report.not_applicable(
            CheckName::MessageDigest,
            "no signed attributes; the signature covers the eContent",
        ),
        Some(None) => report.fail(
            CheckName::MessageDigest,
            "messageDigest attribute missing",
            PassiveFailure::MessageDigestMismatch,
        ),
        Some(Some(expected)) => {
            let digest: HashAlgorithm = signer.digest_algorithm;
            if digest.digest(&sod.signed_data.econtent) == expected {
                report.pass(
                    CheckName::MessageDigest,
                    format!("{} of the LDS Security Object", digest.name()),
                );
            } else {
                report.fail(
                    CheckName::MessageDigest,
                    format!("{} differs", digest.name()),
                    PassiveFailure::MessageDigestMismatch,
                );
            }
        }
    }
}

fn check_validity(
    report: &mut PassiveReport,
    dsc: &Certificate,
    csca: Option<&Certificate>,
    at: OffsetDateTime,
) {
    if !dsc.valid_at(at) {
        report.fail(
            CheckName::Validity,
            format!(
                "DSC valid {} – {}, verified at {at}",
                dsc.not_before, dsc.not_after
            ),
            PassiveFailure::DocumentSignerNotValid,
        );
        return;
    }
    if let Some(signed) = report.signing_time
        && !dsc.valid_at(signed)
    {
        report.fail(
            CheckName::Validity,
            format!(
                "DSC valid {} – {}, but signingTime is {signed}",
                dsc.not_before, dsc.not_after
            ),
            PassiveFailure::DocumentSignerNotValid,
        );
        return;
    }
    match csca {
        Some(c) if !c.valid_at(at) => report.fail(
            CheckName::Validity,
            format!(
                "CSCA valid {} – {}, verified at {at}",
                c.not_before, c.not_after
            ),
            PassiveFailure::CscaNotValid,
        ),
        Some(_) => report.pass(CheckName::Validity, format!("DSC and CSCA valid at {at}")),
        None => report.pass(
            CheckName::Validity,
            format!("DSC valid at {at} (no CSCA to check)"),
        ),
    }
}

fn check_country(report: &mut PassiveReport, dsc: &Certificate, csca: Option<&Certificate>) {
    let Some(dsc_country) = dsc.country.clone() else {
        report.fail(
            CheckName::Country,
            "the DSC has no countryName",
            PassiveFailure::CountryMismatch,
        );
        return;
    };
    if let Some(csca_country) = csca.and_then(|c| c.country.clone())
        && csca_country != dsc_country
    {
        report.fail(
            CheckName::Country,
            format!("DSC country {dsc_country} differs from CSCA country {csca_country}"),
            PassiveFailure::CountryMismatch,
        );
        return;
    }
    match report.issuing_country.clone() {
        None => report.not_applicable(
            CheckName::Country,
            format!("DSC country {dsc_country}; issuing state unknown (no DG1)"),
        ),
        Some(state) if state == dsc_country => {
            report.pass(CheckName::Country, format!("{dsc_country} = issuing state"))
        }
        Some(state) => report.fail(
            CheckName::Country,
            format!("DSC country {dsc_country} differs from issuing state {state}"),
            PassiveFailure::CountryMismatch,
        ),
    }
}

/// The issuing state of a DG1 (`61 { 5F1F MRZ }`, ICAO 9303-10 §4.7.1): characters 3–5 of
/// the MRZ in every format (ICAO 9303-4/-5/-6), mapped to alpha-2.
fn dg1_issuing_country(dg1: &[u8]) -> Option<String> {
    let outer = tlv::read_exact(dg1).ok()?;
    if outer.tag != Tag(0x61) {
        return None;
    }
    let mrz = outer.child(Tag(0x5F1F)).ok()??;
    let code = std::str::from_utf8(mrz.content.get(2..5)?).ok()?;
    alpha2_for_mrz_code(code)
}
