//! The document checks of docs/verify.md, each failure code reached by its real cause with
//! factory passports, the chip answering through the virtual chip as a relaying phone would.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::active::Challenge;
use emrtd::chip_auth::ClientInstructions;
use emrtd::pki::TrustStore;
use emrtd::testkit::{
    AaConfig, Algo, CaConfig, Failure, Holder, TestPassport, TestPassportBuilder,
};
use idgate_core::session::FailureCode;
use idgate_verify::document::{
    CheckStatus, CloneDetection, DocumentPolicy, DocumentUpload, DocumentVerdict, Freshness,
    PendingChipAuth, check_document, document_digest, start_chip_authentication,
};
use time::{Date, Month, OffsetDateTime};

fn build(b: TestPassportBuilder) -> TestPassport {
    b.build().unwrap()
}

fn upload(p: &TestPassport) -> DocumentUpload {
    DocumentUpload {
        com: Some(p.com.clone()),
        dg1: p.dg1.clone(),
        dg2: p.dg2.clone(),
        sod: p.sod.clone(),
        dg14: p.dg14.clone(),
        dg15: p.dg15.clone(),
        ..DocumentUpload::default()
    }
}

fn trust(p: &TestPassport) -> TrustStore {
    let mut store = TrustStore::new();
    store.add_certificate_der(&p.csca_der).unwrap();
    store
}

/// Runs chip authentication as the server and a relaying phone do: the server starts it for
/// `dg14`, the chip answers the relayed APDUs, the answer goes into the upload.
fn relay_chip_authentication(
    chip_of: &TestPassport,
    dg14: &[u8],
    up: &mut DocumentUpload,
) -> PendingChipAuth {
    let (vault, instructions) = start_chip_authentication(dg14).unwrap();
    let relayed = ClientInstructions {
        ephemeral_public_key: Vec::new(),
        mse_apdu: instructions.mse_apdu,
        general_authenticate_apdu: instructions.general_authenticate_apdu,
        protected_command_apdu: instructions.protected_command_apdu,
    };
    up.ca_response = Some(chip_of.chip.chip_authenticate(&relayed).unwrap());
    PendingChipAuth::from_vault_bytes(&vault).unwrap()
}

/// The whole document step: the phone answers the challenge when the chip has an AA key and
/// relays chip authentication when asked to and DG14 announces it.
fn verify(p: &TestPassport, policy: DocumentPolicy, relay_ca: bool) -> DocumentVerdict {
    let mut up = upload(p);
    let challenge = Challenge::issue().unwrap();
    if p.chip.supports_active_authentication() {
        up.aa_signature = Some(p.chip.internal_authenticate(challenge.bytes()).unwrap());
    }
    let chip_auth = match (&p.dg14, relay_ca && p.chip.supports_chip_authentication()) {
        (Some(dg14), true) => Some(relay_chip_authentication(p, dg14, &mut up)),
        _ => None,
    };
    check_document(
        &up,
        &trust(p),
        &policy,
        Freshness {
            aa_challenge: challenge,
            chip_auth,
        },
        OffsetDateTime::now_utc(),
    )
}

fn required() -> DocumentPolicy {
    DocumentPolicy {
        clone_detection: CloneDetection::Required,
        allow_expired_documents: false,
    }
}

#[test]
fn genuine_passports_of_every_family_are_accepted_with_both_chip_proofs() {
    for algo in [
        Algo::RsaPkcs1v15,
        Algo::RsaPss,
        Algo::EcdsaP256,
        Algo::EcdsaBrainpoolP384,
        Algo::EcdsaExplicitBrainpoolP256,
    ] {
        let p = build(TestPassport::builder().algorithm(algo));
        let v = verify(&p, required(), true);
        assert_eq!(v.failure, None, "{algo:?}: {:?}", v.checks);
        let c = &v.checks;
        assert_eq!(c.data.status, CheckStatus::Passed);
        assert_eq!(c.data.mrz_format.as_deref(), Some("td3"));
        assert_eq!(c.data.data_groups, [1, 2, 14, 15]);
        assert_eq!(c.passive_authentication.status, CheckStatus::Passed);
        let dsc = c.passive_authentication.document_signer.as_ref().unwrap();
        assert_eq!(dsc.country.as_deref(), Some("NL"));
        assert!(dsc.subject.contains("document signer"), "{}", dsc.subject);
        assert!(c.passive_authentication.signature_algorithm.is_some());
        assert_eq!(c.active_authentication.status, CheckStatus::Passed);
        assert!(c.active_authentication.algorithm.is_some());
        assert_eq!(c.chip_authentication.status, CheckStatus::Passed);
        assert!(
            c.chip_authentication
                .algorithm
                .as_deref()
                .unwrap()
                .starts_with("id-CA-ECDH-")
        );
        assert_eq!(c.anti_cloning.status, CheckStatus::Passed);
    }
}

#[test]
fn a_td1_identity_card_is_accepted() {
    let p = build(TestPassport::builder().td1());
    let v = verify(&p, DocumentPolicy::default(), true);
    assert_eq!(v.failure, None, "{:?}", v.checks);
    assert_eq!(v.checks.data.mrz_format.as_deref(), Some("td1"));
}

#[test]
fn a_wrong_mrz_check_digit_is_invalid_data_and_stops_the_checks() {
    let p = build(TestPassport::builder().failure(Failure::BadMrzCheckDigit));
    let v = verify(&p, DocumentPolicy::default(), true);
    assert_eq!(v.failure, Some(FailureCode::DocumentDataInvalid));
    // The reason names the field, never its digits (a check digit is MRZ content).
    assert_eq!(
        v.checks.data.reason.as_deref(),
        Some("DG1: MRZ document number check digit is wrong")
    );
    for status in [
        v.checks.passive_authentication.status,
        v.checks.active_authentication.status,
        v.checks.chip_authentication.status,
        v.checks.anti_cloning.status,
    ] {
        assert_eq!(status, CheckStatus::NotPerformed);
    }
}

fn expired_holder() -> Holder {
    Holder {
        date_of_expiry: Date::from_calendar_date(2025, Month::January, 31).unwrap(),
        ..Holder::default()
    }
}

#[test]
fn an_expired_document_is_invalid_data_unless_the_policy_accepts_it() {
    let p = build(TestPassport::builder().holder(expired_holder()));
    let v = verify(&p, DocumentPolicy::default(), true);
    assert_eq!(v.failure, Some(FailureCode::DocumentDataInvalid));
    assert_eq!(
        v.checks.data.reason.as_deref(),
        Some("the document has expired")
    );

    let lenient = DocumentPolicy {
        allow_expired_documents: true,
        ..DocumentPolicy::default()
    };
    let v = verify(&p, lenient, true);
    assert_eq!(v.failure, None, "{:?}", v.checks);
    assert_eq!(v.checks.data.status, CheckStatus::Passed);
    assert_eq!(v.checks.data.deviations.len(), 1);
}

#[test]
fn an_unparseable_signed_data_group_is_invalid_data() {
    let p = build(TestPassport::builder());
    let mut up = upload(&p);
    up.dg15 = Some(vec![0x6F, 0x03, 0x30, 0x01, 0x00]);
    let v = check_document(
        &up,
        &trust(&p),
        &DocumentPolicy::default(),
        Freshness {
            aa_challenge: Challenge::issue().unwrap(),
            chip_auth: None,
        },
        OffsetDateTime::now_utc(),
    );
    assert_eq!(v.failure, Some(FailureCode::DocumentDataInvalid));
    assert!(v.checks.data.reason.as_deref().unwrap().starts_with("DG15"));
}

#[test]
fn tampered_files_a_foreign_csca_and_a_broken_signature_fail_authenticity() {
    for (failure, code) in [
        (Failure::TamperedDg(2), "data_group_hash_mismatch"),
        (Failure::WrongCsca, "csca_not_found"),
        (Failure::BrokenSodSignature, "signature_invalid"),
        (Failure::CountryMismatch, "country_mismatch"),
    ] {
        let p = build(TestPassport::builder().failure(failure));
        let v = verify(&p, DocumentPolicy::default(), true);
        assert_eq!(
            v.failure,
            Some(FailureCode::DocumentAuthenticityFailed),
            "{failure:?}"
        );
        let reason = v.checks.passive_authentication.reason.clone().unwrap();
        assert!(reason.starts_with(code), "{failure:?}: {reason}");
        assert_eq!(
            v.checks.active_authentication.status,
            CheckStatus::NotPerformed
        );
    }
}

#[test]
fn a_passport_whose_csca_is_not_trusted_fails_authenticity() {
    let p = build(TestPassport::builder());
    let v = check_document(
        &upload(&p),
        &TrustStore::new(),
        &DocumentPolicy::default(),
        Freshness {
            aa_challenge: Challenge::issue().unwrap(),
            chip_auth: None,
        },
        OffsetDateTime::now_utc(),
    );
    assert_eq!(v.failure, Some(FailureCode::DocumentAuthenticityFailed));
    assert!(
        v.checks
            .passive_authentication
            .reason
            .as_deref()
            .unwrap()
            .starts_with("csca_not_found")
    );
}

#[test]
fn a_dg15_key_that_is_not_the_chips_fails_active_authentication() {
    for algo in [Algo::RsaPkcs1v15, Algo::EcdsaP256] {
        let p = build(
            TestPassport::builder()
                .algorithm(algo)
                .failure(Failure::WrongAaKey),
        );
        let v = verify(&p, DocumentPolicy::default(), true);
        assert_eq!(
            v.failure,
            Some(FailureCode::DocumentActiveAuthenticationFailed),
            "{algo:?}"
        );
        assert_eq!(
            v.checks.chip_authentication.status,
            CheckStatus::NotPerformed
        );
    }
}

#[test]
fn a_signed_dg15_without_an_answer_fails_active_authentication() {
    let p = build(TestPassport::builder());
    let v = check_document(
        &upload(&p),
        &trust(&p),
        &DocumentPolicy {
            clone_detection: CloneDetection::Off,
            allow_expired_documents: false,
        },
        Freshness {
            aa_challenge: Challenge::issue().unwrap(),
            chip_auth: None,
        },
        OffsetDateTime::now_utc(),
    );
    assert_eq!(
        v.failure,
        Some(FailureCode::DocumentActiveAuthenticationFailed)
    );
}

#[test]
fn an_answer_to_another_challenge_fails_active_authentication() {
    let p = build(TestPassport::builder());
    let mut up = upload(&p);
    let old = Challenge::issue().unwrap();
    up.aa_signature = Some(p.chip.internal_authenticate(old.bytes()).unwrap());
    let v = check_document(
        &up,
        &trust(&p),
        &DocumentPolicy::default(),
        Freshness {
            aa_challenge: Challenge::issue().unwrap(),
            chip_auth: None,
        },
        OffsetDateTime::now_utc(),
    );
    assert_eq!(
        v.failure,
        Some(FailureCode::DocumentActiveAuthenticationFailed)
    );
}

#[test]
fn a_dg14_key_that_is_not_the_chips_fails_chip_authentication() {
    let p = build(
        TestPassport::builder()
            .active_authentication(AaConfig::None)
            .failure(Failure::WrongCaKey),
    );
    let v = verify(&p, DocumentPolicy::default(), true);
    assert_eq!(
        v.failure,
        Some(FailureCode::DocumentChipAuthenticationFailed)
    );
    assert_eq!(
        v.checks.active_authentication.status,
        CheckStatus::NotApplicable
    );
    assert_eq!(v.checks.anti_cloning.status, CheckStatus::NotPerformed);
}

#[test]
fn a_genuine_chip_cannot_vouch_for_another_documents_files() {
    // The clone's files come with a chip-authentication run against a genuine chip of another
    // document: the session was started for that chip's key, not the one the clone's DG14 names.
    let clone = build(TestPassport::builder().active_authentication(AaConfig::None));
    let genuine = build(TestPassport::builder().active_authentication(AaConfig::None));
    let mut up = upload(&clone);
    let pending = relay_chip_authentication(&genuine, genuine.dg14.as_ref().unwrap(), &mut up);
    let v = check_document(
        &up,
        &trust(&clone),
        &required(),
        Freshness {
            aa_challenge: Challenge::issue().unwrap(),
            chip_auth: Some(pending),
        },
        OffsetDateTime::now_utc(),
    );
    assert_eq!(
        v.failure,
        Some(FailureCode::DocumentChipAuthenticationFailed)
    );
}

#[test]
fn chip_authentication_needs_the_chips_ef_com() {
    let p = build(TestPassport::builder().active_authentication(AaConfig::None));
    let mut up = upload(&p);
    let pending = relay_chip_authentication(&p, p.dg14.as_ref().unwrap(), &mut up);
    up.com = Some(vec![0x60, 0x02, 0x5F, 0x01]);
    let v = check_document(
        &up,
        &trust(&p),
        &DocumentPolicy::default(),
        Freshness {
            aa_challenge: Challenge::issue().unwrap(),
            chip_auth: Some(pending),
        },
        OffsetDateTime::now_utc(),
    );
    assert_eq!(
        v.failure,
        Some(FailureCode::DocumentChipAuthenticationFailed)
    );
}

fn without_chip_proofs() -> TestPassport {
    build(
        TestPassport::builder()
            .active_authentication(AaConfig::None)
            .chip_authentication(CaConfig::None),
    )
}

#[test]
fn a_chip_without_active_or_chip_authentication_fails_only_when_clone_detection_is_required() {
    let p = without_chip_proofs();
    let v = verify(&p, required(), true);
    assert_eq!(
        v.failure,
        Some(FailureCode::DocumentAntiCloningAttestationFailed)
    );
    assert_eq!(
        v.checks.active_authentication.status,
        CheckStatus::NotApplicable
    );
    assert_eq!(
        v.checks.chip_authentication.status,
        CheckStatus::NotApplicable
    );

    let v = verify(&p, DocumentPolicy::default(), true);
    assert_eq!(v.failure, None);
    assert_eq!(v.checks.anti_cloning.status, CheckStatus::NotApplicable);
    assert_eq!(v.checks.anti_cloning.policy, CloneDetection::WhenSupported);
}

#[test]
fn chip_authentication_not_relayed_leaves_required_clone_detection_unmet() {
    let p = build(TestPassport::builder().active_authentication(AaConfig::None));
    let v = verify(&p, required(), false);
    assert_eq!(
        v.checks.chip_authentication.status,
        CheckStatus::NotPerformed
    );
    assert_eq!(
        v.failure,
        Some(FailureCode::DocumentAntiCloningAttestationFailed)
    );
    // Active authentication alone satisfies the policy.
    let p = build(TestPassport::builder().chip_authentication(CaConfig::None));
    assert_eq!(verify(&p, required(), false).failure, None);
}

#[test]
fn the_checks_record_carries_no_personal_data() {
    let holder = Holder::default();
    let accepted = build(TestPassport::builder());
    let rejected = build(TestPassport::builder().failure(Failure::BadMrzCheckDigit));
    for (p, policy) in [
        (&accepted, required()),
        (&rejected, DocumentPolicy::default()),
    ] {
        let json = serde_json::to_string(&verify(p, policy, true).checks).unwrap();
        let dob = holder.date_of_birth;
        for secret in [
            holder.surname.as_str(),
            "TESTER",
            holder.given_names.as_str(),
            "ANNA",
            holder.document_number.as_str(),
            p.mrz.as_str(),
            &p.mrz[44..],
            &format!("{}", dob),
            &format!(
                "{:02}{:02}{:02}",
                dob.year() % 100,
                u8::from(dob.month()),
                dob.day()
            ),
        ] {
            assert!(!json.contains(secret), "{secret} in {json}");
        }
        let back: idgate_verify::document::DocumentChecks = serde_json::from_str(&json).unwrap();
        assert_eq!(back, verify(p, policy, true).checks);
    }
}

#[test]
fn the_upload_digest_covers_every_field_and_where_its_bytes_are() {
    let p = build(TestPassport::builder());
    let a = upload(&p);
    assert_eq!(document_digest(&a), document_digest(&a.clone()));
    let mut b = a.clone();
    b.aa_signature = Some(Vec::new());
    assert_ne!(document_digest(&a), document_digest(&b));
    // The same bytes in another field are another upload.
    let mut c = a.clone();
    c.card_security = c.dg15.take();
    assert_ne!(document_digest(&a), document_digest(&c));
    let mut d = a.clone();
    d.ca_response = Some(vec![0x90, 0x00]);
    assert_ne!(document_digest(&b), document_digest(&d));
}

#[test]
fn chip_authentication_instructions_travel_as_base64() {
    let p = build(TestPassport::builder().algorithm(Algo::EcdsaP256));
    let (_, instructions) = start_chip_authentication(p.dg14.as_ref().unwrap()).unwrap();
    let json = serde_json::to_value(&instructions).unwrap();
    assert!(json["mse_apdu"].is_string());
    assert!(json["protected_command_apdu"].is_string());
    assert_eq!(
        serde_json::from_value::<idgate_verify::document::ChipAuthInstructions>(json).unwrap(),
        instructions
    );
    let rsa = build(
        TestPassport::builder()
            .algorithm(Algo::RsaPkcs1v15)
            .chip_authentication(CaConfig::None)
            .active_authentication(AaConfig::Ecdsa {
                curve: emrtd::crypto::CurveId::P256,
                hash: emrtd::crypto::HashAlgorithm::Sha256,
            }),
    );
    assert!(start_chip_authentication(rsa.dg14.as_ref().unwrap()).is_err());
}

#[test]
fn truncated_or_garbled_files_are_rejected_without_panicking() {
    // No active authentication and chip authentication not relayed: the genuine upload is
    // accepted under the default policy, so every rejection below is the damage's doing.
    let p = build(
        TestPassport::builder()
            .algorithm(Algo::EcdsaP256)
            .active_authentication(AaConfig::None),
    );
    let trust = trust(&p);
    let genuine = upload(&p);
    let check = |up: &DocumentUpload| {
        check_document(
            up,
            &trust,
            &DocumentPolicy::default(),
            Freshness {
                aa_challenge: Challenge::issue().unwrap(),
                chip_auth: None,
            },
            OffsetDateTime::now_utc(),
        )
    };
    assert_eq!(check(&genuine).failure, None);
    type Field = fn(&mut DocumentUpload) -> &mut Vec<u8>;
    let fields: [(&str, Field); 4] = [
        ("dg1", |u| &mut u.dg1),
        ("dg2", |u| &mut u.dg2),
        ("sod", |u| &mut u.sod),
        ("dg14", |u| u.dg14.as_mut().unwrap()),
    ];
    for (name, field) in fields {
        let len = field(&mut genuine.clone()).len();
        for cut in (0..len).step_by(7) {
            // A data group is hashed byte for byte; parts of the SOD are not signed (the outer
            // digestAlgorithms set, the signer identifier), so only truncation must fail there.
            let modes: &[bool] = if name == "sod" {
                &[false]
            } else {
                &[false, true]
            };
            for &garble in modes {
                let mut up = genuine.clone();
                let bytes = field(&mut up);
                if garble {
                    bytes[cut] ^= 0x5A;
                } else {
                    bytes.truncate(cut);
                }
                let v = check(&up);
                assert!(
                    v.failure.is_some(),
                    "{name} cut at {cut} (garbled: {garble})"
                );
            }
        }
    }
}
