//! Passive authentication (ICAO 9303-11 §5.1) end to end: OpenSSL-made test passports for each
//! algorithm family, each failure, and the BSI reference passport.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::passive::{self, CheckName, DataGroupStatus, PassiveFailure, Status, Verdict};
use emrtd::pki::TrustStore;
use emrtd::sod::Sod;
use time::OffsetDateTime;

fn fixture(path: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/sod/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn bsi(name: &str) -> Option<Vec<u8>> {
    idgate_testkit::read_shared_testdata(&format!("emrtd/{name}"))
}

fn store_with(family: &str) -> TrustStore {
    let mut store = TrustStore::new();
    store
        .add_certificate_der(&fixture(&format!("{family}/csca.der")))
        .expect("CSCA loads");
    store
}

struct Passport {
    sod: Vec<u8>,
    dg1: Vec<u8>,
    dg2: Vec<u8>,
}

fn passport(family: &str) -> Passport {
    Passport {
        sod: fixture(&format!("{family}/EF_SOD.bin")),
        dg1: fixture(&format!("{family}/dg1.bin")),
        dg2: fixture(&format!("{family}/dg2.bin")),
    }
}

fn verify(p: &Passport, store: &TrustStore) -> passive::PassiveReport {
    passive::verify(
        &p.sod,
        &[(1, &p.dg1), (2, &p.dg2)],
        store,
        OffsetDateTime::now_utc(),
    )
}

fn assert_authentic(family: &str, signature_algorithm: &str, key: &str) {
    let p = passport(family);
    let report = verify(&p, &store_with(family));
    assert_eq!(
        report.verdict(),
        Verdict::Authentic,
        "{family}: {report:#?}"
    );
    assert_eq!(report.failure(), None);
    for check in &report.checks {
        assert_ne!(check.status, Status::Fail, "{family}: {check:?}");
    }
    assert_eq!(
        report.data_groups,
        [
            (1, DataGroupStatus::Match),
            (2, DataGroupStatus::Match),
            (15, DataGroupStatus::NotSupplied)
        ]
    );
    assert_eq!(
        report.signature_algorithm.as_deref(),
        Some(signature_algorithm)
    );
    assert_eq!(report.issuing_country.as_deref(), Some("UT"));
    assert_eq!(report.status(CheckName::Country), Status::Pass);
    let dsc = report.document_signer.as_ref().expect("DSC summary");
    assert_eq!(dsc.country.as_deref(), Some("UT"));
    assert_eq!(dsc.public_key, key);
    assert!(
        report
            .csca
            .as_ref()
            .is_some_and(|c| c.subject.contains("CSCA Utopia"))
    );
}

#[test]
fn rsa_pss_passport_under_rsa_4096_csca_is_authentic() {
    assert_authentic("rsa", "RSASSA-PSS SHA-256 MGF1-SHA-256 salt 32", "RSA-2048");
}

#[test]
fn ecdsa_p256_passport_is_authentic() {
    assert_authentic("p256", "ECDSA SHA-256", "EC NIST P-256");
}

#[test]
fn brainpool_p384_explicit_parameters_passport_is_authentic() {
    assert_authentic("bp384", "ECDSA SHA-384", "EC brainpoolP384r1");
}

#[test]
fn brainpool_p512_ber_indefinite_passport_is_authentic() {
    assert_authentic("bp512", "ECDSA SHA-512", "EC brainpoolP512r1");
}

#[test]
fn a_modified_data_group_fails_with_its_number() {
    let mut p = passport("p256");
    p.dg2[100] ^= 0x01;
    let report = verify(&p, &store_with("p256"));
    assert_eq!(report.verdict(), Verdict::Failed);
    assert_eq!(
        report.failure(),
        Some(PassiveFailure::DataGroupHashMismatch { number: 2 })
    );
    assert!(report.data_groups.contains(&(2, DataGroupStatus::Mismatch)));
    // The signature itself is still good: the failure is precise.
    assert_eq!(report.status(CheckName::Signature), Status::Pass);
}

#[test]
fn a_data_group_absent_from_the_sod_is_unsigned_data() {
    let p = passport("p256");
    let dg3 = [0x63, 0x01, 0x00];
    let report = passive::verify(
        &p.sod,
        &[(1, &p.dg1), (3, &dg3)],
        &store_with("p256"),
        OffsetDateTime::now_utc(),
    );
    assert_eq!(
        report.failure(),
        Some(PassiveFailure::DataGroupNotInSod { number: 3 })
    );
}

fn offset_of(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("present")
}

#[test]
fn a_tampered_signature_fails_the_signature_check() {
    let mut p = passport("rsa");
    let at = {
        let sod = Sod::parse(&p.sod).expect("parses");
        let sig = sod.signer().expect("signer").signature.to_vec();
        offset_of(&p.sod, &sig) + 10
    };
    p.sod[at] ^= 0x01;
    let report = verify(&p, &store_with("rsa"));
    assert_eq!(report.failure(), Some(PassiveFailure::SignatureInvalid));
    assert_eq!(report.status(CheckName::DataGroupHashes), Status::Pass);
}

#[test]
fn a_changed_lds_security_object_breaks_the_message_digest() {
    // Change the SOD's hash of DG15, which is not supplied: only the messageDigest can notice.
    let mut p = passport("p256");
    let lds = fixture("p256/lds.der");
    let sod = Sod::parse(&p.sod).expect("parses");
    let dg15_hash = sod.lds.hash_of(15).expect("DG15 listed").to_vec();
    let at = offset_of(&p.sod, &dg15_hash);
    assert!(offset_of(&lds, &dg15_hash) > 0);
    p.sod[at] ^= 0x01;
    let report = verify(&p, &store_with("p256"));
    assert_eq!(
        report.failure(),
        Some(PassiveFailure::MessageDigestMismatch)
    );
    assert_eq!(report.status(CheckName::MessageDigest), Status::Fail);
}

#[test]
fn a_dsc_from_an_unknown_csca_is_untrusted() {
    let p = passport("p256");
    let mut store = TrustStore::new();
    store
        .add_source("other", &fixture("other_csca.pem"))
        .expect("loads");
    let report = verify(&p, &store);
    assert_eq!(report.verdict(), Verdict::Failed);
    assert_eq!(report.failure(), Some(PassiveFailure::CscaNotFound));
    assert_eq!(report.status(CheckName::Signature), Status::Pass);
}

#[test]
fn a_csca_with_the_right_name_but_another_key_fails_the_chain_signature() {
    let p = passport("p256");
    let mut store = TrustStore::new();
    store
        .add_source("impostor", &fixture("impostor_csca_p256.pem"))
        .expect("loads");
    let report = verify(&p, &store);
    assert_eq!(
        report.failure(),
        Some(PassiveFailure::ChainSignatureInvalid)
    );
}

#[test]
fn a_revoked_dsc_fails_when_the_csca_crl_is_loaded() {
    let p = passport("p256");
    let mut store = store_with("p256");
    store
        .add_crl_der(&fixture("p256/crl_revoked.der"))
        .expect("CRL verifies with the CSCA");
    let report = verify(&p, &store);
    assert_eq!(
        report.failure(),
        Some(PassiveFailure::DocumentSignerRevoked)
    );
}

#[test]
fn a_crl_without_the_dsc_lets_revocation_pass() {
    let p = passport("p256");
    let mut store = store_with("p256");
    store
        .add_crl_der(&fixture("p256/crl_empty.der"))
        .expect("CRL verifies");
    let report = verify(&p, &store);
    assert_eq!(report.verdict(), Verdict::Authentic);
    assert_eq!(report.status(CheckName::Revocation), Status::Pass);
}

#[test]
fn a_crl_past_its_next_update_is_reported_stale() {
    let p = passport("p256");
    let mut store = store_with("p256");
    store
        .add_crl_der(&fixture("p256/crl_empty.der"))
        .expect("CRL verifies");
    let next = store.crls()[0].next_update.expect("nextUpdate");
    let before = passive::verify(
        &p.sod,
        &[(1, &p.dg1)],
        &store,
        next - time::Duration::days(1),
    );
    let reason = &before.check(CheckName::Revocation).unwrap().reason;
    assert!(!reason.contains("stale"), "{reason}");
    let after = passive::verify(
        &p.sod,
        &[(1, &p.dg1)],
        &store,
        next + time::Duration::days(1),
    );
    let reason = &after.check(CheckName::Revocation).unwrap().reason;
    assert!(reason.contains("stale"), "{reason}");
}

#[test]
fn a_crl_not_signed_by_a_loaded_csca_is_refused() {
    let mut store = store_with("rsa");
    assert!(store.add_crl_der(&fixture("p256/crl_revoked.der")).is_err());
}

#[test]
fn a_dsc_country_other_than_the_issuing_state_fails() {
    let p = passport("p256");
    let report = passive::verify_with_issuing_state(
        &p.sod,
        &[(1, &p.dg1)],
        &store_with("p256"),
        OffsetDateTime::now_utc(),
        Some("FRA"),
    );
    assert_eq!(report.failure(), Some(PassiveFailure::CountryMismatch));
}

#[test]
fn garbage_is_a_malformed_sod_not_a_panic() {
    let report = passive::verify(
        &[0x77, 0x03, 0x30, 0x01],
        &[],
        &TrustStore::new(),
        OffsetDateTime::now_utc(),
    );
    assert_eq!(report.failure(), Some(PassiveFailure::SodMalformed));
    assert_eq!(report.verdict(), Verdict::Failed);
}

#[test]
fn repeated_verification_uses_the_chain_cache_and_gives_the_same_report() {
    let p = passport("bp384");
    let store = store_with("bp384");
    let at = OffsetDateTime::now_utc();
    let groups = [(1, p.dg1.as_slice()), (2, p.dg2.as_slice())];
    let first = passive::verify(&p.sod, &groups, &store, at);
    let second = passive::verify(&p.sod, &groups, &store, at);
    assert_eq!(first.verdict(), Verdict::Authentic);
    assert_eq!(first, second);
}

#[test]
fn bsi_reference_passport_hashes_and_signature_verify_but_its_test_csca_is_untrusted() {
    let files = [
        "bsi-erika/EF_SOD.bin",
        "bsi-erika/Datagroup1.bin",
        "bsi-erika/Datagroup2.bin",
        "bsi-erika/Datagroup14.bin",
    ];
    let Some(data) = files.iter().map(|f| bsi(f)).collect::<Option<Vec<_>>>() else {
        return;
    };
    let Some(ml) = bsi("masterlists/DE_ML_2024-08-07-07-38-24.ml") else {
        return;
    };
    // The list adds its CSCAs only when verified: trusted by an opt-in here, since the
    // reference passport's test CSCA is on no list anyway.
    let mut store = TrustStore::new();
    store.set_trust_unverified_master_lists(true);
    store
        .add_master_list("DE", &ml, &[])
        .expect("master list loads");
    assert!(store.len() > 300);
    let report = passive::verify(
        &data[0],
        &[(1, &data[1]), (2, &data[2]), (14, &data[3])],
        &store,
        OffsetDateTime::now_utc(),
    );
    assert_eq!(
        report.data_groups,
        [
            (1, DataGroupStatus::Match),
            (2, DataGroupStatus::Match),
            (3, DataGroupStatus::NotSupplied),
            (4, DataGroupStatus::NotSupplied),
            (14, DataGroupStatus::Match)
        ]
    );
    assert_eq!(report.status(CheckName::MessageDigest), Status::Pass);
    assert_eq!(
        report.status(CheckName::Signature),
        Status::Pass,
        "{report:#?}"
    );
    assert_eq!(
        report.signature_algorithm.as_deref(),
        Some("RSASSA-PSS SHA-256 MGF1-SHA-256 salt 32")
    );
    let dsc = report.document_signer.as_ref().expect("DSC");
    assert!(dsc.subject.contains("HJP PB DS"));
    assert_eq!(dsc.country.as_deref(), Some("DE"));
    // The DSC is issued by the HJP Consulting test CSCA, which no real master list contains.
    assert_eq!(report.failure(), Some(PassiveFailure::CscaNotFound));
    assert_eq!(report.verdict(), Verdict::Failed);
    assert_eq!(report.issuing_country.as_deref(), Some("DE"));
    assert_eq!(report.status(CheckName::Country), Status::Pass);
}
