//! Active authentication against the BSI reference passport ("Erika Mustermann"): a virtual
//! chip built from the published DG15 private key answers challenges, and the verifier accepts
//! them with the DG15 public key from the reference data group, and rejects every other key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::path::{Path, PathBuf};

use emrtd::active::{self, AaError, AaMechanism};
use emrtd::crypto::hash::HashAlgorithm;
use emrtd::testkit::chip::{AaPrivateKey, VirtualChip};
use emrtd::testkit::keys::{self, KeySource, RsaRole, SigningKey};
use emrtd::tlv;

fn bsi_dir() -> Option<PathBuf> {
    idgate_testkit::shared_testdata("emrtd/bsi-erika/DG15_sk.pkcs8")?
        .parent()
        .map(Path::to_path_buf)
}

fn erika_chip(dir: &Path, hash: HashAlgorithm) -> VirtualChip {
    let key = keys::rsa_key_from_pkcs8(&std::fs::read(dir.join("DG15_sk.pkcs8")).unwrap()).unwrap();
    VirtualChip::new(Some(AaPrivateKey::Rsa { key, hash }), None, Vec::new())
}

/// The SubjectPublicKeyInfo inside DG15 (`6F L SPKI`, ICAO 9303-10 §4.7.15).
fn dg15_spki(dir: &Path) -> Vec<u8> {
    let dg15 = std::fs::read(dir.join("Datagroup15.bin")).unwrap();
    let outer = tlv::read_exact(&dg15).unwrap();
    assert_eq!(outer.tag, tlv::Tag(0x6F));
    outer.content.to_vec()
}

#[test]
fn bsi_chip_signature_verifies_with_the_dg15_key() {
    let Some(dir) = bsi_dir() else { return };
    let chip = erika_chip(&dir, HashAlgorithm::Sha1);
    let challenge = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
    let signature = chip.internal_authenticate(&challenge).unwrap();
    let mechanism =
        active::verify_recorded(&dg15_spki(&dir), &challenge, &signature, None).unwrap();
    assert_eq!(
        mechanism,
        AaMechanism::RsaIso9796_2 {
            modulus_bits: 1024,
            hash: HashAlgorithm::Sha1
        }
    );
}

#[test]
fn dg15_pk_file_and_data_group_hold_the_same_key() {
    let Some(dir) = bsi_dir() else { return };
    assert_eq!(
        std::fs::read(dir.join("DG15_pk.bin")).unwrap(),
        dg15_spki(&dir)
    );
}

#[test]
fn bsi_chip_with_sha256_trailer_verifies() {
    let Some(dir) = bsi_dir() else { return };
    let chip = erika_chip(&dir, HashAlgorithm::Sha256);
    let challenge = *b"\x01\x02\x03\x04\x05\x06\x07\x08";
    let signature = chip.internal_authenticate(&challenge).unwrap();
    let mechanism =
        active::verify_recorded(&dg15_spki(&dir), &challenge, &signature, None).unwrap();
    assert_eq!(
        mechanism,
        AaMechanism::RsaIso9796_2 {
            modulus_bits: 1024,
            hash: HashAlgorithm::Sha256
        }
    );
}

#[test]
fn bsi_signature_over_another_challenge_is_rejected() {
    let Some(dir) = bsi_dir() else { return };
    let chip = erika_chip(&dir, HashAlgorithm::Sha1);
    let signature = chip
        .internal_authenticate(&[1, 2, 3, 4, 5, 6, 7, 8])
        .unwrap();
    let result = active::verify_recorded(
        &dg15_spki(&dir),
        &[1, 2, 3, 4, 5, 6, 7, 9],
        &signature,
        None,
    );
    assert_eq!(result, Err(AaError::HashMismatch));
}

#[test]
fn signature_from_any_other_key_is_rejected_by_the_bsi_dg15_key() {
    let Some(dir) = bsi_dir() else { return };
    let challenge = [9u8; 8];
    for role in [RsaRole::ActiveAuth, RsaRole::Dsc] {
        let key = keys::rsa_key(role, KeySource::Fixed).unwrap();
        let chip = VirtualChip::new(
            Some(AaPrivateKey::Rsa {
                key,
                hash: HashAlgorithm::Sha1,
            }),
            None,
            Vec::new(),
        );
        let signature = chip.internal_authenticate(&challenge).unwrap();
        let result = active::verify_recorded(&dg15_spki(&dir), &challenge, &signature, None);
        assert!(result.is_err(), "{role:?} key accepted");
    }
    let ec = keys::EcPrivateKey::generate(emrtd::crypto::CurveId::BrainpoolP256r1, false);
    let chip = VirtualChip::new(
        Some(AaPrivateKey::Ec {
            key: ec,
            hash: HashAlgorithm::Sha256,
        }),
        None,
        Vec::new(),
    );
    let signature = chip.internal_authenticate(&challenge).unwrap();
    assert!(active::verify_recorded(&dg15_spki(&dir), &challenge, &signature, None).is_err());
}

#[test]
fn bsi_chip_signature_is_rejected_by_another_dg15_key() {
    let Some(dir) = bsi_dir() else { return };
    let chip = erika_chip(&dir, HashAlgorithm::Sha1);
    let challenge = [7u8; 8];
    let signature = chip.internal_authenticate(&challenge).unwrap();
    let other = SigningKey::Rsa(keys::rsa_key(RsaRole::ActiveAuth, KeySource::Fixed).unwrap())
        .spki_der()
        .unwrap();
    assert!(active::verify_recorded(&other, &challenge, &signature, None).is_err());
}

#[test]
fn hash_named_by_dg14_must_match_the_trailer() {
    let Some(dir) = bsi_dir() else { return };
    let chip = erika_chip(&dir, HashAlgorithm::Sha1);
    let challenge = [3u8; 8];
    let signature = chip.internal_authenticate(&challenge).unwrap();
    let sha256_rsa = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
    let result =
        active::verify_recorded(&dg15_spki(&dir), &challenge, &signature, Some(&sha256_rsa));
    assert!(matches!(result, Err(AaError::HashMismatchWithDg14 { .. })));
}
