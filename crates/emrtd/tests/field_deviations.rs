//! Genuine passports deviate from the letter of ICAO 9303 and RFC 5652; each deviation known
//! from the field (issue trackers of passport-reading projects, BSI TR-03105 part 5.1) is built
//! by the test-passport factory and must verify, naming the deviation where the verifier had to
//! bend a rule. Defects that must stay refused name their real cause.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::crypto::hash::HashAlgorithm;
use emrtd::passive::{self, CheckName, PassiveFailure, PassiveReport, Verdict};
use emrtd::pki::TrustStore;
use emrtd::testkit::{Algo, Deviation, Holder, TestPassport, TestPassportBuilder};

fn verify(p: &TestPassport) -> PassiveReport {
    let mut trust = TrustStore::new();
    trust.add_certificate_der(&p.csca_der).unwrap();
    passive::verify(&p.sod, &p.data_groups(), &trust, p.signed_at)
}

fn authentic(builder: TestPassportBuilder) -> PassiveReport {
    let passport = builder.build().unwrap();
    let report = verify(&passport);
    assert_eq!(
        report.verdict(),
        Verdict::Authentic,
        "{:?}: {:#?}",
        report.failure(),
        report.checks
    );
    report
}

fn with(deviation: Deviation) -> TestPassportBuilder {
    TestPassport::builder().deviation(deviation)
}

#[test]
fn a_serial_with_its_top_bit_set_matches_the_embedded_dsc() {
    let report = authentic(with(Deviation::SerialTopBit));
    assert!(report.deviations.is_empty(), "{:?}", report.deviations);
    assert!(
        report
            .document_signer
            .as_ref()
            .is_some_and(|d| d.serial.starts_with("009D") || d.serial.starts_with("9D"))
    );
}

#[test]
fn a_signer_serial_without_its_sign_byte_matches_the_embedded_dsc() {
    authentic(with(Deviation::SerialWithoutSignByte));
}

#[test]
fn a_serial_with_its_top_bit_set_matches_for_rsa_too() {
    authentic(with(Deviation::SerialTopBit).algorithm(Algo::RsaPkcs1v15));
}

#[test]
fn econtent_type_id_data_over_an_lds_security_object_verifies_and_is_named() {
    let report = authentic(with(Deviation::EContentTypeIdData));
    assert!(
        report.deviations.iter().any(|d| d.contains("id-data")),
        "{:?}",
        report.deviations
    );
    let parse = report.check(CheckName::SodParse).unwrap();
    assert!(parse.reason.contains("id-data"), "{}", parse.reason);
}

#[test]
fn issuer_rdns_in_another_order_verify_by_the_key_and_are_named() {
    let report = authentic(with(Deviation::IssuerRdnsReordered));
    let signer = report.check(CheckName::DocumentSigner).unwrap();
    assert!(
        signer.reason.contains("field deviation"),
        "{}",
        signer.reason
    );
}

#[test]
fn a_missing_signing_time_is_accepted() {
    let report = authentic(with(Deviation::NoSigningTime));
    assert_eq!(report.signing_time, None);
}

#[test]
fn extra_certificates_embedded_before_the_dsc_are_skipped() {
    let report = authentic(with(Deviation::ExtraCertificates));
    assert!(
        report
            .document_signer
            .as_ref()
            .is_some_and(|d| d.subject.contains("document signer"))
    );
}

#[test]
fn a_csca_without_basic_constraints_but_with_key_cert_sign_issues_dscs() {
    authentic(with(Deviation::CscaWithoutBasicConstraints));
}

#[test]
fn a_csca_without_key_usage_but_with_ca_true_issues_dscs() {
    authentic(with(Deviation::CscaWithoutKeyUsage));
}

#[test]
fn ber_indefinite_lengths_and_a_segmented_econtent_verify() {
    authentic(TestPassport::builder().ber_indefinite_sod());
}

#[test]
fn sha1_digests_with_rsa_verify() {
    authentic(
        TestPassport::builder()
            .algorithm(Algo::RsaPkcs1v15)
            .hash(HashAlgorithm::Sha1),
    );
}

#[test]
fn sha224_digests_with_ecdsa_verify() {
    authentic(
        TestPassport::builder()
            .algorithm(Algo::EcdsaP256)
            .hash(HashAlgorithm::Sha224),
    );
}

#[test]
fn rsassa_pss_with_explicit_parameters_verifies() {
    authentic(TestPassport::builder().algorithm(Algo::RsaPss));
}

#[test]
fn explicit_ec_parameters_equal_to_a_named_curve_verify() {
    authentic(TestPassport::builder().algorithm(Algo::EcdsaExplicitBrainpoolP256));
}

#[test]
fn a_german_mrz_code_with_filler_d_chevrons_is_issuing_state_de() {
    let holder = Holder {
        issuing_state: "D<<".into(),
        nationality: "D<<".into(),
        ..Holder::default()
    };
    let report = authentic(TestPassport::builder().holder(holder));
    assert_eq!(report.issuing_country.as_deref(), Some("DE"));
}

#[test]
fn several_deviations_at_once_verify() {
    authentic(
        with(Deviation::SerialWithoutSignByte)
            .deviation(Deviation::EContentTypeIdData)
            .deviation(Deviation::NoSigningTime)
            .deviation(Deviation::ExtraCertificates)
            .ber_indefinite_sod(),
    );
}

#[test]
fn an_unparseable_embedded_certificate_is_named_as_the_cause() {
    let passport = with(Deviation::UnparseableEmbeddedCertificate)
        .build()
        .unwrap();
    let report = verify(&passport);
    assert_eq!(
        report.failure(),
        Some(PassiveFailure::DocumentSignerMissing)
    );
    let check = report.check(CheckName::DocumentSigner).unwrap();
    assert!(
        check.reason.contains("could not be parsed") && check.reason.contains("three fields"),
        "{}",
        check.reason
    );
}

#[test]
fn signed_attributes_without_content_type_are_refused() {
    let passport = with(Deviation::NoContentTypeAttribute).build().unwrap();
    let report = verify(&passport);
    assert_eq!(report.failure(), Some(PassiveFailure::SodMalformed));
    let check = report.check(CheckName::SodParse).unwrap();
    assert!(check.reason.contains("contentType"), "{}", check.reason);
}
