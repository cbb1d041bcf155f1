//! The document checks of one attempt (docs/verify.md "Document checks"), in their order: data,
//! passive authentication, active authentication, chip authentication, anti-cloning. The first
//! failure decides the attempt's `failure_code`; the checks after it are `not_performed`.
//!
//! The client is never trusted: it uploads the raw chip files and the chip's answers, and every
//! verdict is computed here. The two chip-liveness proofs start from state only the server
//! mints ([`Freshness`]: the active-authentication challenge, the chip-authentication session),
//! restored by the caller from the attempt's vault and consumed by [`check_document`].
//!
//! The [`DocumentChecks`] record is shown to integrators as the attempt's `checks`: statuses,
//! algorithm and authority names, reasons and accepted field deviations. It never carries a
//! name, a document number, a date of the holder or any MRZ character (docs/verify.md
//! "Privacy").

use emrtd::active::Challenge;
use emrtd::chip_auth::{ChipAuthError, ChipAuthParams, ChipAuthSession};
use emrtd::lds::{self, LdsError};
use emrtd::mrz::{MrzError, MrzFormat};
use emrtd::passive::{self, PassiveReport, Status as PassiveStatus, Verdict};
use emrtd::pki::TrustStore;
use emrtd::sod::Sod;
use idgate_core::session::FailureCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// The operator's clone-detection policy (docs/verify.md "Document checks", step 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloneDetection {
    /// A document is accepted only when active or chip authentication passed.
    Required,
    /// Active and chip authentication run when the chip supports them and the client relayed
    /// them; a chip that supports neither is accepted.
    #[default]
    WhenSupported,
    /// Step 5 never fails. Active authentication still runs when DG15 is signed: a chip that
    /// answers wrongly is not accepted by switching the policy off.
    Off,
}

/// The policy switches of the document checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DocumentPolicy {
    pub clone_detection: CloneDetection,
    /// Accept a document past its date of expiry (recorded as a deviation of the data check).
    pub allow_expired_documents: bool,
}

/// What the mobile client uploaded for the document step (docs/verify.md, `PUT …/document`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DocumentUpload {
    pub com: Option<Vec<u8>>,
    pub dg1: Vec<u8>,
    pub dg2: Vec<u8>,
    pub sod: Vec<u8>,
    pub dg14: Option<Vec<u8>>,
    pub dg15: Option<Vec<u8>>,
    /// EF.CardSecurity (PACE chips); kept with the upload, not checked: nothing of it is
    /// needed by the checks above.
    pub card_security: Option<Vec<u8>>,
    /// The chip's answer to INTERNAL AUTHENTICATE over the server's challenge.
    pub aa_signature: Option<Vec<u8>>,
    /// The chip's protected response to the chip-authentication probe, unchanged.
    pub ca_response: Option<Vec<u8>>,
}

impl std::fmt::Debug for DocumentUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DocumentUpload([redacted])")
    }
}

/// Server-issued, single-use state of this attempt (restored from the attempt's vault by the
/// caller), consumed by [`check_document`].
#[derive(Debug)]
pub struct Freshness {
    pub aa_challenge: Challenge,
    pub chip_auth: Option<PendingChipAuth>,
}

/// A chip-authentication session started by [`start_chip_authentication`], bound to the chip
/// key it was started for: a response proves possession of *that* key, so it counts only when
/// the uploaded DG14 announces the same key (otherwise a genuine chip could vouch for a clone's
/// files).
pub struct PendingChipAuth {
    session: ChipAuthSession,
    chip_key_sha256: [u8; 32],
}

impl std::fmt::Debug for PendingChipAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingChipAuth")
            .field("protocol", &self.session.protocol().name())
            .finish_non_exhaustive()
    }
}

const PENDING_MAGIC: &[u8; 4] = b"IGC1";

impl PendingChipAuth {
    /// Restores what [`start_chip_authentication`] returned for the vault.
    ///
    /// # Errors
    /// [`DocumentError::MalformedSession`].
    pub fn from_vault_bytes(bytes: &[u8]) -> Result<Self, DocumentError> {
        let rest = bytes
            .strip_prefix(PENDING_MAGIC.as_slice())
            .ok_or(DocumentError::MalformedSession)?;
        let (digest, session) = rest
            .split_first_chunk::<32>()
            .ok_or(DocumentError::MalformedSession)?;
        Ok(Self {
            session: ChipAuthSession::from_bytes(session)
                .map_err(|_| DocumentError::MalformedSession)?,
            chip_key_sha256: *digest,
        })
    }

    fn to_vault_bytes(&self) -> Zeroizing<Vec<u8>> {
        let session = self.session.to_bytes();
        let mut out = Zeroizing::new(Vec::with_capacity(4 + 32 + session.len()));
        out.extend_from_slice(PENDING_MAGIC);
        out.extend_from_slice(&self.chip_key_sha256);
        out.extend_from_slice(&session);
        out
    }
}

/// Why chip authentication could not be started, or a stored session not restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    #[error("DG14 does not parse: {0}")]
    Dg14Malformed(LdsError),
    #[error("DG14 announces no chip authentication")]
    ChipAuthenticationNotAnnounced,
    #[error("chip authentication cannot start: {0}")]
    ChipAuth(ChipAuthError),
    #[error("the operating system's random generator is unavailable")]
    RandomUnavailable,
    #[error("the stored chip-authentication session is malformed")]
    MalformedSession,
}

/// The APDUs the client relays to the chip for chip authentication (ICAO 9303-11 §6.2; the
/// order and wrapping are those of `emrtd::chip_auth`'s module documentation). Binary fields
/// serialise as base64, like every binary field of the mobile API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChipAuthInstructions {
    /// `id-CA-…` protocol name, for the client's logs.
    pub protocol: String,
    /// MSE:Set KAT (3DES) or MSE:Set AT (AES), in plain: wrap it in the BAC/PACE channel.
    #[serde(with = "b64")]
    pub mse_apdu: Vec<u8>,
    /// General Authenticate (AES protocols only), in plain: wrap it in the BAC/PACE channel.
    #[serde(with = "b64::option", default)]
    pub general_authenticate_apdu: Option<Vec<u8>>,
    /// Already protected with the new session keys: send it unchanged and upload the chip's
    /// whole response as `ca_response`.
    #[serde(with = "b64")]
    pub protected_command_apdu: Vec<u8>,
}

/// Starts chip authentication for the uploaded DG14: parses its chip-authentication
/// parameters, generates the ephemeral key with the operating system's generator and returns
/// the state to seal in the attempt's vault ([`PendingChipAuth::from_vault_bytes`] restores it)
/// and the APDUs the client relays.
///
/// # Errors
/// [`DocumentError`] when DG14 does not parse, announces no chip authentication or has a key
/// that cannot be used, or when the OS generator fails.
pub fn start_chip_authentication(
    dg14: &[u8],
) -> Result<(Zeroizing<Vec<u8>>, ChipAuthInstructions), DocumentError> {
    let infos = lds::dg14::parse(dg14).map_err(DocumentError::Dg14Malformed)?;
    let params = ChipAuthParams::from_security_infos(&infos)
        .map_err(DocumentError::ChipAuth)?
        .ok_or(DocumentError::ChipAuthenticationNotAnnounced)?;
    // `UnwrapErr` would panic on a failing generator; probe it first to fail with an error.
    getrandom::fill(&mut [0u8; 1]).map_err(|_| DocumentError::RandomUnavailable)?;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let (session, instructions) =
        ChipAuthSession::start(&params, &mut rng).map_err(DocumentError::ChipAuth)?;
    let pending = PendingChipAuth {
        chip_key_sha256: Sha256::digest(&params.chip_public_key_spki).into(),
        session,
    };
    Ok((
        pending.to_vault_bytes(),
        ChipAuthInstructions {
            protocol: params.protocol.name(),
            mse_apdu: instructions.mse_apdu,
            general_authenticate_apdu: instructions.general_authenticate_apdu,
            protected_command_apdu: instructions.protected_command_apdu,
        },
    ))
}

/// SHA-256 over every field of the upload, each length-prefixed and marked present or absent,
/// so that a retried upload of the same bytes is recognised (docs/verify.md: steps are
/// idempotent) and no two different uploads share a digest by moving bytes between fields.
pub fn document_digest(upload: &DocumentUpload) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"idgate document upload v1");
    let fields: [Option<&[u8]>; 9] = [
        upload.com.as_deref(),
        Some(&upload.dg1),
        Some(&upload.dg2),
        Some(&upload.sod),
        upload.dg14.as_deref(),
        upload.dg15.as_deref(),
        upload.card_security.as_deref(),
        upload.aa_signature.as_deref(),
        upload.ca_response.as_deref(),
    ];
    for field in fields {
        match field {
            None => h.update([0u8]),
            Some(bytes) => {
                h.update([1u8]);
                h.update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_be_bytes());
                h.update(bytes);
            }
        }
    }
    h.finalize().into()
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Passed,
    Failed,
    /// The document offers nothing to check (no DG15, no chip authentication in DG14, …).
    NotApplicable,
    /// Not run: an earlier check decided the verdict, or the client did not relay the protocol.
    NotPerformed,
}

/// Step 1: the data groups parse and the MRZ is sound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataCheck {
    pub status: CheckStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `td1`, `td2` or `td3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrz_format: Option<String>,
    /// The uploaded data groups that were parsed.
    #[serde(default)]
    pub data_groups: Vec<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deviations: Vec<String>,
}

/// A certificate named by its authority, never by a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// Step 2: passive authentication (ICAO 9303-11 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassiveAuthenticationCheck {
    pub status: CheckStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lds_hash_algorithm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_algorithm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_signer: Option<Authority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csca: Option<Authority>,
    /// Field deviations accepted (docs/verify.md "Trust policy").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deviations: Vec<String>,
}

/// Steps 3 and 4: active and chip authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChipCheck {
    pub status: CheckStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The mechanism or protocol, e.g. `ECDSA brainpoolP256r1 with SHA-256`,
    /// `id-CA-ECDH-AES-CBC-CMAC-128`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
}

/// Step 5: anti-cloning under the operator's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AntiCloningCheck {
    pub status: CheckStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub policy: CloneDetection,
}

/// The record of the document checks, shown to integrators as the attempt's `checks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentChecks {
    pub data: DataCheck,
    pub passive_authentication: PassiveAuthenticationCheck,
    pub active_authentication: ChipCheck,
    pub chip_authentication: ChipCheck,
    pub anti_cloning: AntiCloningCheck,
}

impl DocumentChecks {
    fn not_performed(policy: CloneDetection) -> Self {
        let chip = ChipCheck {
            status: CheckStatus::NotPerformed,
            reason: None,
            algorithm: None,
        };
        Self {
            data: DataCheck {
                status: CheckStatus::NotPerformed,
                reason: None,
                mrz_format: None,
                data_groups: Vec::new(),
                deviations: Vec::new(),
            },
            passive_authentication: PassiveAuthenticationCheck {
                status: CheckStatus::NotPerformed,
                reason: None,
                lds_hash_algorithm: None,
                signature_algorithm: None,
                document_signer: None,
                csca: None,
                deviations: Vec::new(),
            },
            active_authentication: chip.clone(),
            chip_authentication: chip,
            anti_cloning: AntiCloningCheck {
                status: CheckStatus::NotPerformed,
                reason: None,
                policy,
            },
        }
    }
}

/// The verdict of the document step: `failure` is `None` when the document is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentVerdict {
    pub failure: Option<FailureCode>,
    pub checks: DocumentChecks,
}

impl DocumentVerdict {
    pub fn is_accepted(&self) -> bool {
        self.failure.is_none()
    }
}

/// Runs the document checks in their order at time `at` (the time of verification: the
/// document's expiry and the certificates' validity are judged then). Consumes `freshness`:
/// the challenge and the chip-authentication session check one answer each.
pub fn check_document(
    upload: &DocumentUpload,
    trust: &TrustStore,
    policy: &DocumentPolicy,
    freshness: Freshness,
    at: OffsetDateTime,
) -> DocumentVerdict {
    let mut checks = DocumentChecks::not_performed(policy.clone_detection);
    let verdict = |checks, code| DocumentVerdict {
        failure: Some(code),
        checks,
    };

    // 1. Data.
    let (data, issuing_state) = check_data(upload, policy, at);
    let failed = data.status == CheckStatus::Failed;
    checks.data = data;
    let Some(issuing_state) = issuing_state.filter(|_| !failed) else {
        return verdict(checks, FailureCode::DocumentDataInvalid);
    };

    // 2. Passive authentication.
    let mut groups: Vec<(u8, &[u8])> = vec![(1, &upload.dg1), (2, &upload.dg2)];
    if let Some(dg14) = &upload.dg14 {
        groups.push((14, dg14));
    }
    if let Some(dg15) = &upload.dg15 {
        groups.push((15, dg15));
    }
    let report =
        passive::verify_with_issuing_state(&upload.sod, &groups, trust, at, Some(&issuing_state));
    checks.passive_authentication = passive_record(&report);
    if checks.passive_authentication.status != CheckStatus::Passed {
        return verdict(checks, FailureCode::DocumentAuthenticityFailed);
    }
    // Passive authentication passed, so every uploaded group is in the SOD and matches it.
    let dg14 = upload
        .dg14
        .as_deref()
        .and_then(|d| lds::dg14::parse(d).ok());
    let sod_lists = |n: u8| report.data_groups.iter().any(|(number, _)| *number == n);

    // 3. Active authentication.
    checks.active_authentication =
        check_active(upload, sod_lists(15), dg14.as_ref(), freshness.aa_challenge);
    if checks.active_authentication.status == CheckStatus::Failed {
        return verdict(checks, FailureCode::DocumentActiveAuthenticationFailed);
    }

    // 4. Chip authentication.
    checks.chip_authentication = check_chip(upload, dg14.as_ref(), freshness.chip_auth);
    if checks.chip_authentication.status == CheckStatus::Failed {
        return verdict(checks, FailureCode::DocumentChipAuthenticationFailed);
    }

    // 5. Anti-cloning.
    let proven = [&checks.active_authentication, &checks.chip_authentication]
        .iter()
        .any(|c| c.status == CheckStatus::Passed);
    let (status, reason) = match (proven, policy.clone_detection) {
        (true, _) => (CheckStatus::Passed, None),
        (false, CloneDetection::Required) => (
            CheckStatus::Failed,
            Some("clone detection is required and neither active nor chip authentication passed"),
        ),
        (false, CloneDetection::WhenSupported) => (
            CheckStatus::NotApplicable,
            Some("neither active nor chip authentication was performed; not required by policy"),
        ),
        (false, CloneDetection::Off) => {
            (CheckStatus::NotApplicable, Some("clone detection is off"))
        }
    };
    checks.anti_cloning.status = status;
    checks.anti_cloning.reason = reason.map(str::to_owned);
    if status == CheckStatus::Failed {
        return verdict(checks, FailureCode::DocumentAntiCloningAttestationFailed);
    }
    DocumentVerdict {
        failure: None,
        checks,
    }
}

/// Step 1. Returns the record and, when DG1 parsed, the MRZ's issuing state for step 2.
fn check_data(
    upload: &DocumentUpload,
    policy: &DocumentPolicy,
    at: OffsetDateTime,
) -> (DataCheck, Option<String>) {
    let today = at.to_offset(time::UtcOffset::UTC).date();
    let mut record = DataCheck {
        status: CheckStatus::Failed,
        reason: None,
        mrz_format: None,
        data_groups: Vec::new(),
        deviations: Vec::new(),
    };
    let mrz = match lds::dg1::parse(&upload.dg1, today) {
        Ok(mrz) => mrz,
        Err(e) => {
            record.reason = Some(format!("DG1: {}", lds_reason(&e)));
            return (record, None);
        }
    };
    record.data_groups.push(1);
    record.mrz_format = Some(
        match mrz.format {
            MrzFormat::Td1 => "td1",
            MrzFormat::Td2 => "td2",
            MrzFormat::Td3 => "td3",
        }
        .to_owned(),
    );
    if mrz.is_expired(today) {
        if policy.allow_expired_documents {
            record
                .deviations
                .push("the document has expired; accepted by policy".to_owned());
        } else {
            record.reason = Some("the document has expired".to_owned());
            return (record, Some(mrz.issuing_state));
        }
    }
    // Data groups named in the SOD that were uploaded; without a readable SOD every uploaded
    // group (passive authentication then fails on the SOD itself).
    let listed: Option<Vec<u8>> = Sod::parse(&upload.sod)
        .ok()
        .map(|sod| sod.lds.data_group_hashes.iter().map(|h| h.number).collect());
    let in_sod = |n: u8| listed.as_ref().is_none_or(|l| l.contains(&n));
    type Parser = fn(&[u8]) -> Result<(), LdsError>;
    let optional: [(u8, Option<&[u8]>, Parser); 3] = [
        (2, Some(upload.dg2.as_slice()), |b| {
            lds::dg2::parse(b).map(drop)
        }),
        (14, upload.dg14.as_deref(), |b| {
            lds::dg14::parse(b).map(drop)
        }),
        (15, upload.dg15.as_deref(), |b| {
            lds::dg15::parse(b).map(drop)
        }),
    ];
    for (number, bytes, parse) in optional {
        let Some(bytes) = bytes.filter(|_| in_sod(number)) else {
            continue;
        };
        if let Err(e) = parse(bytes) {
            record.reason = Some(format!("DG{number}: {}", lds_reason(&e)));
            return (record, Some(mrz.issuing_state));
        }
        record.data_groups.push(number);
    }
    record.status = CheckStatus::Passed;
    (record, Some(mrz.issuing_state))
}

/// An LDS error in words free of personal data: MRZ errors name the field, never its digits
/// (a check digit is itself MRZ content).
pub(crate) fn lds_reason(e: &LdsError) -> String {
    match e {
        LdsError::Mrz(m) => match m {
            MrzError::CheckDigit { field, .. } => format!("MRZ {field} check digit is wrong"),
            MrzError::Length { found } => {
                format!("MRZ has {found} characters; TD1 has 90, TD2 72, TD3 88")
            }
            other => format!("MRZ: {other}"),
        },
        other => other.to_string(),
    }
}

fn passive_record(report: &PassiveReport) -> PassiveAuthenticationCheck {
    let authority = |c: &passive::CertificateSummary| Authority {
        subject: c.subject.clone(),
        country: c.country.clone(),
    };
    let passed = report.verdict() == Verdict::Authentic;
    let reason = (!passed).then(|| {
        let failing = report
            .checks
            .iter()
            .find(|c| c.status == PassiveStatus::Fail);
        match (report.failure(), failing) {
            (Some(f), Some(c)) => format!("{}: {}", f.code(), c.reason),
            (Some(f), None) => f.code().to_owned(),
            (None, _) => "the SOD signature or the certificate chain was not checked".to_owned(),
        }
    });
    PassiveAuthenticationCheck {
        status: if passed {
            CheckStatus::Passed
        } else {
            CheckStatus::Failed
        },
        reason,
        lds_hash_algorithm: report.lds_hash_algorithm.clone(),
        signature_algorithm: report.signature_algorithm.clone(),
        document_signer: report.document_signer.as_ref().map(authority),
        csca: report.csca.as_ref().map(authority),
        deviations: report.deviations.clone(),
    }
}

/// Step 3: when the SOD lists DG15, the chip's signature over the server's challenge must
/// verify with the DG15 key (ICAO 9303-11 §6.1). A missing signature or a missing DG15 fails:
/// omitting them would otherwise let a copy of the files pass as a chip.
fn check_active(
    upload: &DocumentUpload,
    sod_lists_dg15: bool,
    dg14: Option<&lds::dg14::SecurityInfos>,
    challenge: Challenge,
) -> ChipCheck {
    let failed = |reason: String| ChipCheck {
        status: CheckStatus::Failed,
        reason: Some(reason),
        algorithm: None,
    };
    if !sod_lists_dg15 {
        return ChipCheck {
            status: CheckStatus::NotApplicable,
            reason: Some("the SOD lists no DG15".to_owned()),
            algorithm: None,
        };
    }
    let Some(dg15) = upload.dg15.as_deref() else {
        return failed("the SOD lists DG15 but it was not uploaded".to_owned());
    };
    let key = match lds::dg15::parse(dg15) {
        Ok(key) => key,
        Err(e) => return failed(format!("DG15: {}", lds_reason(&e))),
    };
    let Some(signature) = upload.aa_signature.as_deref() else {
        return failed("no answer to the active-authentication challenge was uploaded".to_owned());
    };
    match challenge.verify_with_dg14(&key.spki_der, signature, dg14) {
        Ok(mechanism) => ChipCheck {
            status: CheckStatus::Passed,
            reason: None,
            algorithm: Some(mechanism.name()),
        },
        Err(e) => failed(e.to_string()),
    }
}

/// Step 4: when DG14 announces chip authentication and the client relayed it, the chip's
/// protected response must verify under the session keys (ICAO 9303-11 §6.2), the session must
/// have been started for the key the uploaded DG14 announces, and the probed start of EF.COM
/// must equal the uploaded EF.COM.
fn check_chip(
    upload: &DocumentUpload,
    dg14: Option<&lds::dg14::SecurityInfos>,
    pending: Option<PendingChipAuth>,
) -> ChipCheck {
    let record = |status, reason: &str, algorithm: Option<String>| ChipCheck {
        status,
        reason: (!reason.is_empty()).then(|| reason.to_owned()),
        algorithm,
    };
    let params = match dg14.map(ChipAuthParams::from_security_infos) {
        None | Some(Ok(None)) => {
            return record(
                CheckStatus::NotApplicable,
                "DG14 announces no chip authentication",
                None,
            );
        }
        Some(Err(e)) => {
            return record(CheckStatus::Failed, &format!("DG14: {e}"), None);
        }
        Some(Ok(Some(params))) => params,
    };
    let protocol = Some(params.protocol.name());
    let (Some(pending), Some(response)) = (pending, upload.ca_response.as_deref()) else {
        return record(
            CheckStatus::NotPerformed,
            "the client did not relay chip authentication",
            protocol,
        );
    };
    let key_digest: [u8; 32] = Sha256::digest(&params.chip_public_key_spki).into();
    // Digests of a public key: an ordinary comparison leaks nothing secret.
    if key_digest != pending.chip_key_sha256 {
        return record(
            CheckStatus::Failed,
            "the session was started for another chip key than the uploaded DG14 announces",
            protocol,
        );
    }
    let protocol = Some(pending.session.protocol().name());
    match pending.session.verify_response(response) {
        Err(e) => record(CheckStatus::Failed, &e.to_string(), protocol),
        Ok(outcome) => match upload.com.as_deref() {
            Some(com) if !outcome.matches_ef_com(com) => record(
                CheckStatus::Failed,
                "the chip's EF.COM differs from the uploaded EF.COM",
                protocol,
            ),
            _ => record(CheckStatus::Passed, "", protocol),
        },
    }
}

/// Base64 (RFC 4648 §4, with padding) for the binary fields of [`ChipAuthInstructions`].
mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|_| serde::de::Error::custom("not base64"))
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            bytes: &Option<Vec<u8>>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match bytes {
                Some(b) => serializer.serialize_some(&STANDARD.encode(b)),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Vec<u8>>, D::Error> {
            Option::<String>::deserialize(deserializer)?
                .map(|t| {
                    STANDARD
                        .decode(t.as_bytes())
                        .map_err(|_| serde::de::Error::custom("not base64"))
                })
                .transpose()
        }
    }
}
