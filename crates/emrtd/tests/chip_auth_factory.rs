//! Chip-authentication relay round trips with factory passports (ICAO 9303-11 §6.2): ECDH on
//! every curve and DH, with 3DES and every AES key length; a DG14 key that is not the chip's
//! is detected.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::chip_auth::sm::SmCipher;
use emrtd::chip_auth::{ChipAuthOutcome, ChipAuthSession};
use emrtd::crypto::CurveId;
use emrtd::testkit::keys::os_rng;
use emrtd::testkit::{CaConfig, Failure, TestPassport};

fn relay(passport: &TestPassport) -> Result<ChipAuthOutcome, emrtd::chip_auth::ChipAuthError> {
    let params = passport
        .chip_auth_params()
        .expect("DG14 announces chip authentication");
    let (session, instructions) = ChipAuthSession::start(&params, &mut os_rng()).unwrap();
    let stored = session.to_bytes();
    let response = passport.chip.chip_authenticate(&instructions).unwrap();
    ChipAuthSession::from_bytes(&stored)
        .unwrap()
        .verify_response(&response)
}

fn passport(ca: CaConfig) -> TestPassport {
    TestPassport::builder()
        .chip_authentication(ca)
        .build()
        .unwrap()
}

#[test]
fn ecdh_chip_authenticates_on_every_curve() {
    for curve in [
        CurveId::P256,
        CurveId::P384,
        CurveId::P521,
        CurveId::BrainpoolP224r1,
        CurveId::BrainpoolP256r1,
        CurveId::BrainpoolP384r1,
        CurveId::BrainpoolP512r1,
    ] {
        let p = passport(CaConfig::Ecdh {
            curve,
            cipher: SmCipher::Aes128,
        });
        let outcome = relay(&p).unwrap();
        assert!(outcome.matches_ef_com(&p.com), "{curve:?}");
    }
}

#[test]
fn ecdh_chip_authenticates_with_every_cipher() {
    for cipher in [
        SmCipher::Tdes,
        SmCipher::Aes128,
        SmCipher::Aes192,
        SmCipher::Aes256,
    ] {
        let p = passport(CaConfig::Ecdh {
            curve: CurveId::BrainpoolP256r1,
            cipher,
        });
        let outcome = relay(&p).unwrap();
        assert_eq!(outcome.protocol.cipher, cipher);
        assert!(outcome.matches_ef_com(&p.com));
    }
}

#[test]
fn aes_protocols_use_mse_set_at_and_general_authenticate() {
    let p = passport(CaConfig::Ecdh {
        curve: CurveId::P256,
        cipher: SmCipher::Aes256,
    });
    let (_, instructions) =
        ChipAuthSession::start(&p.chip_auth_params().unwrap(), &mut os_rng()).unwrap();
    assert_eq!(&instructions.mse_apdu[..4], &[0x00, 0x22, 0x41, 0xA4]);
    assert_eq!(
        &instructions.general_authenticate_apdu.unwrap()[..4],
        &[0x00, 0x86, 0x00, 0x00]
    );
    assert_eq!(instructions.ephemeral_public_key.len(), 65);
}

#[test]
fn dh_chip_authenticates_with_3des_and_aes() {
    for cipher in [SmCipher::Tdes, SmCipher::Aes128] {
        let p = passport(CaConfig::Dh { cipher });
        assert!(relay(&p).unwrap().matches_ef_com(&p.com), "{cipher:?}");
    }
}

#[test]
fn dg14_key_other_than_the_chip_key_fails_for_ecdh() {
    let p = TestPassport::builder()
        .failure(Failure::WrongCaKey)
        .build()
        .unwrap();
    assert!(relay(&p).unwrap_err().is_proof_failure());
}

#[test]
fn dg14_key_other_than_the_chip_key_fails_for_dh() {
    let p = TestPassport::builder()
        .chip_authentication(CaConfig::Dh {
            cipher: SmCipher::Tdes,
        })
        .failure(Failure::WrongCaKey)
        .build()
        .unwrap();
    assert!(relay(&p).unwrap_err().is_proof_failure());
}

#[test]
fn each_session_uses_a_fresh_ephemeral_key() {
    let p = TestPassport::builder().build().unwrap();
    let params = p.chip_auth_params().unwrap();
    let (_, a) = ChipAuthSession::start(&params, &mut os_rng()).unwrap();
    let (_, b) = ChipAuthSession::start(&params, &mut os_rng()).unwrap();
    assert_ne!(a.ephemeral_public_key, b.ephemeral_public_key);
    assert_ne!(a.protected_command_apdu, b.protected_command_apdu);
}

#[test]
fn factory_dg14_parses_to_the_same_parameters() {
    for ca in [
        CaConfig::Ecdh {
            curve: CurveId::P521,
            cipher: SmCipher::Aes192,
        },
        CaConfig::Dh {
            cipher: SmCipher::Aes256,
        },
    ] {
        let p = passport(ca);
        let infos = emrtd::lds::dg14::parse(p.dg14.as_deref().unwrap()).unwrap();
        let params = emrtd::chip_auth::ChipAuthParams::from_security_infos(&infos)
            .unwrap()
            .unwrap();
        assert_eq!(Some(params), p.chip_auth_params());
    }
}
