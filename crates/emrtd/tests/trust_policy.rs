//! The trust policy (`docs/verify.md`): explicit anchors, master lists that add CSCAs only when
//! verified, certificate roles, validity at the time of verification. Each test is an attack a
//! security review reproduced, or the genuine case beside it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::passive::{self, CheckName, PassiveFailure, PassiveReport, Verdict};
use emrtd::pki::{Certificate, MasterListSignature, TrustStore};
use emrtd::testkit::keys::KeySource;
use emrtd::testkit::masterlist::{ListSigner, MasterListBuilder, TestMasterList};
use emrtd::testkit::{Algo, Deviation, Failure, TestPassport};
use time::Duration;

fn verify_with(p: &TestPassport, trust: &TrustStore) -> PassiveReport {
    passive::verify(&p.sod, &p.data_groups(), trust, p.signed_at)
}

fn passport() -> TestPassport {
    TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .build()
        .unwrap()
}

fn list(signer: ListSigner, carrying: &TestPassport) -> TestMasterList {
    MasterListBuilder::new()
        .signer(signer)
        .certificate(carrying.csca_der.clone())
        .build()
        .unwrap()
}

#[test]
fn a_master_list_verified_to_a_directly_imported_anchor_adds_its_cscas() {
    let p = passport();
    let ml = list(ListSigner::Genuine, &p);
    let mut store = TrustStore::new();
    store.add_certificate_der(&ml.anchor_csca_der).unwrap();
    let summary = store.add_master_list("ml", &ml.der, &[]).unwrap();
    match &summary.signature {
        MasterListSignature::Verified { anchor, .. } => assert!(anchor.contains("CSCA UT")),
        other => panic!("{other:?}"),
    }
    assert_eq!(summary.added, 1);
    assert_eq!(verify_with(&p, &store).verdict(), Verdict::Authentic);
}

#[test]
fn a_master_list_with_a_self_signed_signer_adds_nothing_even_beside_a_genuine_anchor() {
    let forged = passport();
    let ml = list(ListSigner::SelfSigned, &forged);
    let mut store = TrustStore::new();
    store.add_certificate_der(&ml.anchor_csca_der).unwrap();
    let summary = store.add_master_list("crafted", &ml.der, &[]).unwrap();
    assert_eq!(summary.signature.code(), "unverified", "{summary:?}");
    assert_eq!(summary.added, 0);
    assert!(!summary.trusted_unverified);
    let report = verify_with(&forged, &store);
    assert_eq!(report.failure(), Some(PassiveFailure::CscaNotFound));
}

#[test]
fn a_master_list_signed_by_a_document_signer_adds_nothing() {
    let forged = passport();
    let ml = list(ListSigner::DocumentSigner, &forged);
    let mut store = TrustStore::new();
    store.add_certificate_der(&ml.anchor_csca_der).unwrap();
    let summary = store.add_master_list("dsc-signed", &ml.der, &[]).unwrap();
    match &summary.signature {
        MasterListSignature::Unverified { reason, .. } => {
            assert!(reason.contains("2.23.136.1.1.3"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(summary.added, 0);
    assert_eq!(
        verify_with(&forged, &store).failure(),
        Some(PassiveFailure::CscaNotFound)
    );
}

#[test]
fn a_master_list_whose_signer_an_impostor_csca_issued_adds_nothing() {
    let forged = passport();
    let ml = list(ListSigner::ImpostorIssuer, &forged);
    let mut store = TrustStore::new();
    store.add_certificate_der(&ml.anchor_csca_der).unwrap();
    let summary = store.add_master_list("impostor", &ml.der, &[]).unwrap();
    assert_eq!(summary.signature.code(), "unverified");
    assert_eq!(summary.added, 0);
}

#[test]
fn a_master_list_without_any_anchor_adds_nothing() {
    let p = passport();
    let ml = list(ListSigner::Genuine, &p);
    let mut store = TrustStore::new();
    let summary = store.add_master_list("ml", &ml.der, &[]).unwrap();
    assert_eq!(summary.signature.code(), "unverified");
    assert_eq!(summary.added, 0);
    assert!(store.is_empty());
}

#[test]
fn trust_unverified_is_an_explicit_opt_in_recorded_with_the_list() {
    let p = passport();
    let ml = list(ListSigner::SelfSigned, &p);
    let mut store = TrustStore::new();
    store.set_trust_unverified_master_lists(true);
    let summary = store.add_master_list("opt-in", &ml.der, &[]).unwrap();
    assert_eq!(summary.signature.code(), "unverified");
    assert!(summary.trusted_unverified);
    assert_eq!(summary.added, 1);
    assert_eq!(verify_with(&p, &store).verdict(), Verdict::Authentic);
}

#[test]
fn trust_never_flows_through_cscas_that_arrived_by_a_master_list() {
    // List A (trusted only by opt-in) carries the anchor of list B; B must stay unverified.
    let p = passport();
    let b = list(ListSigner::Genuine, &p);
    let a = MasterListBuilder::new()
        .signer(ListSigner::SelfSigned)
        .certificate(b.anchor_csca_der.clone())
        .build()
        .unwrap();
    let mut store = TrustStore::new();
    store.set_trust_unverified_master_lists(true);
    store.add_master_list("a", &a.der, &[]).unwrap();
    let summary = store.add_master_list("b", &b.der, &[]).unwrap();
    assert_eq!(summary.signature.code(), "unverified", "{summary:?}");
}

#[test]
fn an_anchor_passed_by_the_caller_verifies_a_list() {
    let p = passport();
    let ml = list(ListSigner::Genuine, &p);
    let anchor = Certificate::from_der(&ml.anchor_csca_der).unwrap();
    let mut store = TrustStore::new();
    let summary = store.add_master_list("ml", &ml.der, &[&anchor]).unwrap();
    assert!(summary.signature.is_verified(), "{summary:?}");
    assert_eq!(summary.added, 1);
}

#[test]
fn a_sod_signed_by_a_ca_certificate_of_the_csca_is_refused() {
    let p = TestPassport::builder()
        .failure(Failure::SignedByCaCertificate)
        .build()
        .unwrap();
    let mut store = TrustStore::new();
    store.add_certificate_der(&p.csca_der).unwrap();
    let report = verify_with(&p, &store);
    assert_eq!(report.failure(), Some(PassiveFailure::DocumentSignerRole));
    let check = report.check(CheckName::DocumentSigner).unwrap();
    assert!(check.reason.contains("cA is true"), "{}", check.reason);
}

#[test]
fn a_sod_signed_by_a_master_list_signer_of_the_csca_is_refused() {
    let p = TestPassport::builder()
        .failure(Failure::SignedByMasterListSigner)
        .build()
        .unwrap();
    let mut store = TrustStore::new();
    store.add_certificate_der(&p.csca_der).unwrap();
    let report = verify_with(&p, &store);
    assert_eq!(report.failure(), Some(PassiveFailure::DocumentSignerRole));
    let check = report.check(CheckName::DocumentSigner).unwrap();
    assert!(check.reason.contains("2.23.136.1.1.3"), "{}", check.reason);
}

#[test]
fn a_dsc_issued_by_a_certificate_that_is_no_ca_does_not_chain() {
    let p = TestPassport::builder()
        .failure(Failure::CscaNotCa)
        .build()
        .unwrap();
    let mut store = TrustStore::new();
    store.add_certificate_der(&p.csca_der).unwrap();
    let report = verify_with(&p, &store);
    assert_eq!(report.failure(), Some(PassiveFailure::IssuerNotCa));
}

#[test]
fn an_expired_dsc_without_signing_time_fails_at_the_time_of_verification() {
    let p = TestPassport::builder()
        .deviation(Deviation::NoSigningTime)
        .build()
        .unwrap();
    let mut store = TrustStore::new();
    store.add_certificate_der(&p.csca_der).unwrap();
    // The DSC is valid for three years after signing; five years later it has expired.
    let later = p.signed_at + Duration::days(5 * 365);
    let report = passive::verify(&p.sod, &p.data_groups(), &store, later);
    assert_eq!(
        report.failure(),
        Some(PassiveFailure::DocumentSignerNotValid)
    );
    assert_eq!(report.reference_time, Some(later));
}

#[test]
fn an_expired_dsc_with_signing_time_fails_at_the_time_of_verification() {
    let p = passport();
    let mut store = TrustStore::new();
    store.add_certificate_der(&p.csca_der).unwrap();
    let later = p.signed_at + Duration::days(5 * 365);
    let report = passive::verify(&p.sod, &p.data_groups(), &store, later);
    assert_eq!(
        report.failure(),
        Some(PassiveFailure::DocumentSignerNotValid)
    );
}

#[test]
fn an_old_file_verifies_as_of_a_past_time() {
    let p = passport();
    let mut store = TrustStore::new();
    store.add_certificate_der(&p.csca_der).unwrap();
    let report = passive::verify(
        &p.sod,
        &p.data_groups(),
        &store,
        p.signed_at + Duration::days(365),
    );
    assert_eq!(report.verdict(), Verdict::Authentic);
}

#[test]
fn the_dsc_cache_keeps_only_signers_that_matched_and_chained() {
    let p = passport();
    let mut store = TrustStore::new();
    store.add_certificate_der(&p.csca_der).unwrap();
    // A DSC from another CSCA (fresh keys: fixed ones would share the CSCA): decoded, but it
    // does not chain, so it is not cached.
    let stranger = TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .key_source(KeySource::Generated)
        .build()
        .unwrap();
    let report = verify_with(&stranger, &store);
    assert_eq!(report.failure(), Some(PassiveFailure::CscaNotFound));
    assert_eq!(store.dsc_cache_bytes(), 0);
    assert_eq!(verify_with(&p, &store).verdict(), Verdict::Authentic);
    assert_eq!(store.dsc_cache_bytes(), 2 * p.dsc_der.len());
}
