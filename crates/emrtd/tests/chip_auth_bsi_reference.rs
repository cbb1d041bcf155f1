//! Chip authentication against the BSI reference passport: a virtual chip holding the
//! published DG14 private key (brainpoolP224r1 with explicit parameters, id-CA-ECDH-3DES-CBC-CBC)
//! answers the server's relay, the server accepts it, and rejects chips with any other key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::path::{Path, PathBuf};

use emrtd::chip_auth::sm::{SmCipher, SmError};
use emrtd::chip_auth::{CaProtocol, ChipAuthError, ChipAuthParams, ChipAuthSession, KeyAgreement};
use emrtd::testkit::chip::{CaPrivateKey, VirtualChip};
use emrtd::testkit::keys::{self, EcPrivateKey};

fn bsi_dir() -> Option<PathBuf> {
    idgate_testkit::shared_testdata("emrtd/bsi-erika/DG14_sk.pkcs8")?
        .parent()
        .map(Path::to_path_buf)
}

/// The chip-authentication parameters DG14 announces (ICAO 9303-11 §9.2).
fn dg14_params(dir: &Path) -> ChipAuthParams {
    let dg14 = std::fs::read(dir.join("Datagroup14.bin")).unwrap();
    let infos = emrtd::lds::dg14::parse(&dg14).unwrap();
    ChipAuthParams::from_security_infos(&infos)
        .unwrap()
        .expect("DG14 announces chip authentication")
}

fn erika_ca_key(dir: &Path) -> EcPrivateKey {
    keys::ec_key_from_pkcs8(&std::fs::read(dir.join("DG14_sk.pkcs8")).unwrap()).unwrap()
}

fn ef_com(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("EF_COM.bin")).unwrap()
}

#[test]
fn bsi_dg14_announces_ecdh_with_3des() {
    let Some(dir) = bsi_dir() else { return };
    let params = dg14_params(&dir);
    assert_eq!(
        params.protocol,
        CaProtocol {
            agreement: KeyAgreement::Ecdh,
            cipher: SmCipher::Tdes
        }
    );
}

#[test]
fn bsi_private_key_matches_the_dg14_public_key() {
    let Some(dir) = bsi_dir() else { return };
    let key = erika_ca_key(&dir);
    assert!(key.explicit);
    assert_eq!(key.curve.name(), "brainpoolP224r1");
    assert_eq!(
        key.spki_der(),
        std::fs::read(dir.join("DG14_pk.bin")).unwrap()
    );
    assert_eq!(key.spki_der(), dg14_params(&dir).chip_public_key_spki);
}

#[test]
fn bsi_chip_proves_possession_of_the_dg14_key() {
    let Some(dir) = bsi_dir() else { return };
    let chip = VirtualChip::new(
        None,
        Some(CaPrivateKey::from_ec(&erika_ca_key(&dir))),
        ef_com(&dir),
    );
    let (session, instructions) =
        ChipAuthSession::start(&dg14_params(&dir), &mut keys::os_rng()).unwrap();
    assert_eq!(&instructions.mse_apdu[..4], &[0x00, 0x22, 0x41, 0xA6]);
    assert!(instructions.general_authenticate_apdu.is_none());
    let response = chip.chip_authenticate(&instructions).unwrap();
    let outcome = session.verify_response(&response).unwrap();
    assert_eq!(outcome.status_word, 0x9000);
    assert!(outcome.matches_ef_com(&ef_com(&dir)));
}

#[test]
fn session_survives_serialisation_between_requests() {
    let Some(dir) = bsi_dir() else { return };
    let chip = VirtualChip::new(
        None,
        Some(CaPrivateKey::from_ec(&erika_ca_key(&dir))),
        ef_com(&dir),
    );
    let (session, instructions) =
        ChipAuthSession::start(&dg14_params(&dir), &mut keys::os_rng()).unwrap();
    let stored = session.to_bytes();
    drop(session);
    let response = chip.chip_authenticate(&instructions).unwrap();
    let restored = ChipAuthSession::from_bytes(&stored).unwrap();
    assert!(
        restored
            .verify_response(&response)
            .unwrap()
            .matches_ef_com(&ef_com(&dir))
    );
}

#[test]
fn chip_with_another_key_fails_chip_authentication() {
    let Some(dir) = bsi_dir() else { return };
    let params = dg14_params(&dir);
    let erika = erika_ca_key(&dir);
    let impostor = EcPrivateKey::from_scalar(erika.curve.clone(), true, erika.scalar() + 1u8);
    // The impostor keeps the genuine DG14 public key (a clone of the data groups) but not its secret.
    let chip = VirtualChip::new(
        None,
        Some(CaPrivateKey::new(
            params.chip_public_key_spki.clone(),
            impostor.scalar().clone(),
        )),
        ef_com(&dir),
    );
    let (session, instructions) = ChipAuthSession::start(&params, &mut keys::os_rng()).unwrap();
    let response = chip.chip_authenticate(&instructions).unwrap();
    let err = session.verify_response(&response).unwrap_err();
    assert!(err.is_proof_failure());
    assert!(
        matches!(err, ChipAuthError::Response(SmError::Unprotected(0x6988))),
        "{err:?}"
    );
}

#[test]
fn bsi_chip_fails_against_another_dg14_key() {
    let Some(dir) = bsi_dir() else { return };
    let erika = erika_ca_key(&dir);
    let other = EcPrivateKey::from_scalar(erika.curve.clone(), true, erika.scalar() + 7u8);
    let mut params = dg14_params(&dir);
    params.chip_public_key_spki = other.spki_der();
    let chip = VirtualChip::new(None, Some(CaPrivateKey::from_ec(&erika)), ef_com(&dir));
    let (session, instructions) = ChipAuthSession::start(&params, &mut keys::os_rng()).unwrap();
    let response = chip.chip_authenticate(&instructions).unwrap();
    assert!(
        session
            .verify_response(&response)
            .unwrap_err()
            .is_proof_failure()
    );
}

#[test]
fn tampered_response_is_rejected() {
    let Some(dir) = bsi_dir() else { return };
    let chip = VirtualChip::new(
        None,
        Some(CaPrivateKey::from_ec(&erika_ca_key(&dir))),
        ef_com(&dir),
    );
    let (session, instructions) =
        ChipAuthSession::start(&dg14_params(&dir), &mut keys::os_rng()).unwrap();
    let mut response = chip.chip_authenticate(&instructions).unwrap();
    response[3] ^= 0x01;
    assert_eq!(
        session.verify_response(&response),
        Err(ChipAuthError::Response(SmError::BadMac))
    );
}

#[test]
fn garbage_session_state_is_refused() {
    for bad in [&b""[..], b"CAS1", b"CAS1\x21", &[0u8; 53]] {
        assert_eq!(
            ChipAuthSession::from_bytes(bad).unwrap_err(),
            ChipAuthError::MalformedSession
        );
    }
}
