//! Active authentication round trips with factory passports (ICAO 9303-11 §6.1): the virtual
//! chip's answer verifies with DG15 (and DG14's algorithm for ECDSA) for every key type, and a
//! DG15 that is not the chip's key is refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::active::{self, AaError, AaMechanism};
use emrtd::crypto::CurveId;
use emrtd::crypto::hash::HashAlgorithm;
use emrtd::testkit::{AaConfig, Algo, Failure, TestPassport};

const CHALLENGE: [u8; 8] = *b"\x5A\x17\x00\xFF\x80\x01\x02\x03";

fn run(passport: &TestPassport) -> Result<AaMechanism, AaError> {
    let signature = passport.chip.internal_authenticate(&CHALLENGE).unwrap();
    active::verify_recorded(
        passport.dg15_spki().unwrap(),
        &CHALLENGE,
        &signature,
        passport.aa_signature_algorithm().as_ref(),
    )
}

#[test]
fn rsa_chip_with_sha1_trailer_authenticates() {
    let p = TestPassport::builder()
        .algorithm(Algo::RsaPkcs1v15)
        .build()
        .unwrap();
    assert_eq!(
        run(&p),
        Ok(AaMechanism::RsaIso9796_2 {
            modulus_bits: 1024,
            hash: HashAlgorithm::Sha1
        })
    );
}

#[test]
fn rsa_chip_with_every_sha2_trailer_authenticates() {
    for hash in [
        HashAlgorithm::Sha224,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ] {
        let p = TestPassport::builder()
            .active_authentication(AaConfig::Rsa { hash })
            .build()
            .unwrap();
        assert_eq!(
            run(&p),
            Ok(AaMechanism::RsaIso9796_2 {
                modulus_bits: 1024,
                hash
            })
        );
    }
}

#[test]
fn ecdsa_chip_authenticates_on_every_curve() {
    for curve in [
        CurveId::P256,
        CurveId::P384,
        CurveId::P521,
        CurveId::BrainpoolP224r1,
        CurveId::BrainpoolP256r1,
        CurveId::BrainpoolP384r1,
        CurveId::BrainpoolP512r1,
    ] {
        let p = TestPassport::builder()
            .active_authentication(AaConfig::Ecdsa {
                curve,
                hash: HashAlgorithm::Sha256,
            })
            .build()
            .unwrap();
        assert!(
            matches!(run(&p), Ok(AaMechanism::Ecdsa { .. })),
            "{curve:?}"
        );
    }
}

#[test]
fn ecdsa_without_the_dg14_algorithm_is_refused() {
    let p = TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .build()
        .unwrap();
    let signature = p.chip.internal_authenticate(&CHALLENGE).unwrap();
    let result = active::verify_recorded(p.dg15_spki().unwrap(), &CHALLENGE, &signature, None);
    assert_eq!(result, Err(AaError::MissingSignatureAlgorithm));
}

#[test]
fn ecdsa_signature_over_another_challenge_is_refused() {
    let p = TestPassport::builder()
        .algorithm(Algo::EcdsaBrainpoolP512)
        .build()
        .unwrap();
    let signature = p.chip.internal_authenticate(&CHALLENGE).unwrap();
    let other = [0u8; 8];
    let result = active::verify_recorded(
        p.dg15_spki().unwrap(),
        &other,
        &signature,
        p.aa_signature_algorithm().as_ref(),
    );
    assert_eq!(result, Err(AaError::EcdsaInvalid));
}

#[test]
fn dg15_key_other_than_the_chip_key_fails_for_rsa() {
    let p = TestPassport::builder()
        .algorithm(Algo::RsaPss)
        .failure(Failure::WrongAaKey)
        .build()
        .unwrap();
    assert!(run(&p).is_err());
}

#[test]
fn dg15_key_other_than_the_chip_key_fails_for_ecdsa() {
    let p = TestPassport::builder()
        .algorithm(Algo::EcdsaP384)
        .failure(Failure::WrongAaKey)
        .build()
        .unwrap();
    assert_eq!(run(&p), Err(AaError::EcdsaInvalid));
}

#[test]
fn malformed_inputs_are_errors_not_panics() {
    let p = TestPassport::builder()
        .algorithm(Algo::RsaPkcs1v15)
        .build()
        .unwrap();
    let spki = p.dg15_spki().unwrap();
    assert_eq!(
        active::verify_recorded(spki, &[0; 7], &[0; 128], None),
        Err(AaError::ChallengeLength)
    );
    assert_eq!(
        active::verify_recorded(spki, &CHALLENGE, &[0; 127], None),
        Err(AaError::SignatureLength)
    );
    assert_eq!(
        active::verify_recorded(spki, &CHALLENGE, &[0xFF; 128], None),
        Err(AaError::SignatureOutOfRange)
    );
    assert_eq!(
        active::verify_recorded(&[0x30, 0x00], &CHALLENGE, &[0; 128], None),
        Err(AaError::MalformedPublicKey)
    );
    assert!(active::verify_recorded(spki, &CHALLENGE, &[0x01; 128], None).is_err());
}

#[test]
fn parsed_dg14_supplies_the_ecdsa_algorithm() {
    let p = TestPassport::builder()
        .algorithm(Algo::EcdsaBrainpoolP384)
        .build()
        .unwrap();
    let signature = p.chip.internal_authenticate(&CHALLENGE).unwrap();
    let dg14 = emrtd::lds::dg14::parse(p.dg14.as_deref().unwrap()).unwrap();
    let result = active::verify_recorded_with_dg14(
        p.dg15_spki().unwrap(),
        &CHALLENGE,
        &signature,
        Some(&dg14),
    );
    assert_eq!(
        result,
        Ok(AaMechanism::Ecdsa {
            curve: "brainpoolP384r1".into(),
            hash: HashAlgorithm::Sha384
        })
    );
}

#[test]
fn a_server_issued_challenge_verifies_the_chips_answer_once() {
    let p = TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .build()
        .unwrap();
    let challenge = active::Challenge::issue().unwrap();
    let signature = p.chip.internal_authenticate(challenge.bytes()).unwrap();
    let result = challenge.verify(
        p.dg15_spki().unwrap(),
        &signature,
        p.aa_signature_algorithm().as_ref(),
    );
    assert!(
        matches!(result, Ok(AaMechanism::Ecdsa { .. })),
        "{result:?}"
    );
}

#[test]
fn issued_challenges_are_random_and_restore_only_from_their_own_length() {
    let a = active::Challenge::issue().unwrap();
    let b = active::Challenge::issue().unwrap();
    assert_ne!(a.bytes(), b.bytes());
    let restored = active::Challenge::restore(&a.to_vault_bytes()).unwrap();
    assert_eq!(restored.bytes(), a.bytes());
    assert!(matches!(
        active::Challenge::restore(&[0u8; 7]),
        Err(AaError::ChallengeLength)
    ));
}

#[test]
fn a_challenge_answered_for_another_challenge_is_refused() {
    let p = TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .build()
        .unwrap();
    let replayed = p.chip.internal_authenticate(&CHALLENGE).unwrap();
    let challenge = active::Challenge::issue().unwrap();
    let result = challenge.verify(
        p.dg15_spki().unwrap(),
        &replayed,
        p.aa_signature_algorithm().as_ref(),
    );
    assert_eq!(result, Err(AaError::EcdsaInvalid));
}
