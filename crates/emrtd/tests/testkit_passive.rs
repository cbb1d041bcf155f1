//! The test-passport factory against passive authentication: every algorithm family and hash
//! produces a passport that verifies, and every failure switch produces exactly the failure
//! it names (`docs/verify.md` "Document checks" 1 and 2).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::crypto::hash::HashAlgorithm;
use emrtd::mrz::Mrz;
use emrtd::passive::{self, PassiveFailure, PassiveReport, Verdict};
use emrtd::pki::TrustStore;
use emrtd::testkit::keys::KeySource;
use emrtd::testkit::{Algo, Failure, TestPassport, TestPassportBuilder};

fn verify(p: &TestPassport) -> PassiveReport {
    let mut trust = TrustStore::new();
    trust.add_certificate_der(&p.csca_der).unwrap();
    passive::verify(&p.sod, &p.data_groups(), &trust, p.signed_at)
}

fn assert_authentic(builder: TestPassportBuilder) {
    let passport = builder.build().unwrap();
    let report = verify(&passport);
    assert_eq!(
        report.verdict(),
        Verdict::Authentic,
        "{:?}: {:?}",
        passport.algorithm,
        report.failure()
    );
}

fn failure_of(builder: TestPassportBuilder) -> Option<PassiveFailure> {
    verify(&builder.build().unwrap()).failure()
}

#[test]
fn rsa_pkcs1_v1_5_passport_is_authentic() {
    assert_authentic(TestPassport::builder().algorithm(Algo::RsaPkcs1v15));
}

#[test]
fn rsa_pss_passport_is_authentic() {
    assert_authentic(TestPassport::builder().algorithm(Algo::RsaPss));
}

#[test]
fn ecdsa_p256_passport_is_authentic() {
    assert_authentic(TestPassport::builder().algorithm(Algo::EcdsaP256));
}

#[test]
fn ecdsa_p384_passport_is_authentic() {
    assert_authentic(TestPassport::builder().algorithm(Algo::EcdsaP384));
}

#[test]
fn ecdsa_p521_passport_is_authentic() {
    assert_authentic(TestPassport::builder().algorithm(Algo::EcdsaP521));
}

#[test]
fn ecdsa_brainpool_p256_passport_is_authentic() {
    assert_authentic(TestPassport::builder().algorithm(Algo::EcdsaBrainpoolP256));
}

#[test]
fn ecdsa_brainpool_p384_passport_is_authentic() {
    assert_authentic(TestPassport::builder().algorithm(Algo::EcdsaBrainpoolP384));
}

#[test]
fn ecdsa_brainpool_p512_passport_is_authentic() {
    assert_authentic(TestPassport::builder().algorithm(Algo::EcdsaBrainpoolP512));
}

#[test]
fn explicit_curve_parameter_passport_is_authentic() {
    assert_authentic(TestPassport::builder().algorithm(Algo::EcdsaExplicitBrainpoolP256));
}

#[test]
fn every_hash_is_accepted_with_rsa_and_ecdsa() {
    for hash in HashAlgorithm::ALL {
        for algo in [Algo::RsaPkcs1v15, Algo::RsaPss, Algo::EcdsaP256] {
            assert_authentic(TestPassport::builder().algorithm(algo).hash(hash));
        }
    }
}

#[test]
fn ber_indefinite_length_sod_is_authentic() {
    assert_authentic(
        TestPassport::builder()
            .algorithm(Algo::EcdsaBrainpoolP512)
            .ber_indefinite_sod(),
    );
}

#[test]
fn td1_identity_card_is_authentic_and_its_mrz_parses() {
    let passport = TestPassport::builder().td1().build().unwrap();
    assert_eq!(verify(&passport).verdict(), Verdict::Authentic);
    assert_eq!(passport.mrz.len(), 90);
    Mrz::parse(passport.mrz.as_bytes(), passport.signed_at.date()).unwrap();
}

#[test]
fn td3_mrz_has_valid_check_digits() {
    let passport = TestPassport::builder().build().unwrap();
    assert_eq!(passport.mrz.len(), 88);
    Mrz::parse(passport.mrz.as_bytes(), passport.signed_at.date()).unwrap();
}

#[test]
fn freshly_generated_rsa_keys_are_authentic() {
    assert_authentic(
        TestPassport::builder()
            .algorithm(Algo::RsaPkcs1v15)
            .key_source(KeySource::Generated),
    );
}

#[test]
fn tampered_dg1_fails_its_hash() {
    let failure = failure_of(TestPassport::builder().tamper_dg(1));
    assert_eq!(
        failure,
        Some(PassiveFailure::DataGroupHashMismatch { number: 1 })
    );
}

#[test]
fn tampered_dg2_fails_its_hash() {
    let failure = failure_of(TestPassport::builder().algorithm(Algo::RsaPss).tamper_dg(2));
    assert_eq!(
        failure,
        Some(PassiveFailure::DataGroupHashMismatch { number: 2 })
    );
}

#[test]
fn tampered_dg1_still_has_a_valid_mrz() {
    let passport = TestPassport::builder().tamper_dg(1).build().unwrap();
    let mrz = &passport.dg1[passport.dg1.len() - 88..];
    Mrz::parse(mrz, passport.signed_at.date()).unwrap();
    assert_ne!(mrz, passport.mrz.as_bytes());
}

#[test]
fn dsc_from_another_csca_fails_the_chain() {
    let failure = failure_of(TestPassport::builder().failure(Failure::WrongCsca));
    assert!(
        matches!(
            failure,
            Some(PassiveFailure::ChainSignatureInvalid | PassiveFailure::CscaNotFound)
        ),
        "{failure:?}"
    );
}

#[test]
fn dsc_expired_at_signing_time_fails_validity() {
    let failure = failure_of(TestPassport::builder().failure(Failure::ExpiredDsc));
    assert_eq!(failure, Some(PassiveFailure::DocumentSignerNotValid));
}

#[test]
fn dsc_not_yet_valid_at_signing_time_fails_validity() {
    let failure = failure_of(
        TestPassport::builder()
            .algorithm(Algo::EcdsaP384)
            .failure(Failure::DscNotYetValid),
    );
    assert_eq!(failure, Some(PassiveFailure::DocumentSignerNotValid));
}

#[test]
fn dsc_country_other_than_the_issuing_state_fails() {
    let failure = failure_of(TestPassport::builder().failure(Failure::CountryMismatch));
    assert_eq!(failure, Some(PassiveFailure::CountryMismatch));
}

#[test]
fn broken_sod_signature_fails() {
    for algo in [Algo::RsaPkcs1v15, Algo::EcdsaBrainpoolP512] {
        let failure = failure_of(
            TestPassport::builder()
                .algorithm(algo)
                .failure(Failure::BrokenSodSignature),
        );
        assert_eq!(failure, Some(PassiveFailure::SignatureInvalid), "{algo:?}");
    }
}

#[test]
fn unsupported_signature_algorithm_fails() {
    let failure = failure_of(TestPassport::builder().failure(Failure::UnsupportedAlgorithm));
    assert!(
        matches!(
            failure,
            Some(PassiveFailure::UnsupportedAlgorithm | PassiveFailure::SodMalformed)
        ),
        "{failure:?}"
    );
}

#[test]
fn bad_mrz_check_digit_passes_passive_but_fails_the_mrz() {
    let passport = TestPassport::builder()
        .failure(Failure::BadMrzCheckDigit)
        .build()
        .unwrap();
    assert_eq!(verify(&passport).verdict(), Verdict::Authentic);
    assert!(Mrz::parse(passport.mrz.as_bytes(), passport.signed_at.date()).is_err());
}
