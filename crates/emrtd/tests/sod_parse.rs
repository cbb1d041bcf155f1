//! EF.SOD parsing (ICAO 9303-10 §4.6.2, RFC 5652 §5) on the BSI reference passport and on
//! OpenSSL-made SODs, DER and BER (indefinite lengths, segmented eContent).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::crypto::{HashAlgorithm, SignatureAlgorithm};
use emrtd::sod::{LdsSecurityObject, SignerIdentifier, Sod, SodError};

fn bsi(name: &str) -> Option<Vec<u8>> {
    idgate_testkit::read_shared_testdata(&format!("emrtd/bsi-erika/{name}"))
}

fn fixture(path: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/sod/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn bsi_reference_sod_parses_with_all_its_parts() {
    let Some(bytes) = bsi("EF_SOD.bin") else {
        return;
    };
    let sod = Sod::parse(&bytes).expect("parses");
    assert_eq!(sod.lds.version, 0);
    assert_eq!(sod.lds.hash_algorithm, HashAlgorithm::Sha256);
    let mut numbers: Vec<u8> = sod.lds.data_group_hashes.iter().map(|d| d.number).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, [1, 2, 3, 4, 14]);
    assert_eq!(sod.signed_data.certificates.len(), 1);
    let signer = sod.signer().expect("one signer");
    assert!(matches!(
        signer.sid,
        SignerIdentifier::IssuerAndSerialNumber { .. }
    ));
    assert!(
        matches!(signer.signature_algorithm, SignatureAlgorithm::RsaPss(p) if p.salt_len == 32)
    );
    let attrs = signer.signed_attrs.as_ref().expect("signed attributes");
    assert_eq!(attrs.raw.first(), Some(&0xA0));
    assert_eq!(
        attrs.message_digest.as_deref(),
        Some(
            HashAlgorithm::Sha256
                .digest(&sod.signed_data.econtent)
                .as_slice()
        )
    );
}

#[test]
fn bsi_reference_dg1_hash_matches_the_sod() {
    let (Some(sod), Some(dg1)) = (bsi("EF_SOD.bin"), bsi("Datagroup1.bin")) else {
        return;
    };
    let sod = Sod::parse(&sod).expect("parses");
    assert_eq!(
        sod.lds.hash_of(1),
        Some(HashAlgorithm::Sha256.digest(&dg1).as_slice())
    );
}

#[test]
fn ber_indefinite_sod_with_segmented_econtent_is_reassembled() {
    let bytes = fixture("bp512/EF_SOD.bin");
    assert_eq!(&bytes[..2], [0x77, 0x80], "fixture is BER indefinite");
    let sod = Sod::parse(&bytes).expect("parses");
    assert_eq!(
        sod.signed_data.econtent.as_ref(),
        fixture("bp512/lds.der").as_slice()
    );
    assert_eq!(sod.lds.hash_algorithm, HashAlgorithm::Sha512);
    assert_eq!(
        sod.lds.hash_of(1),
        Some(
            HashAlgorithm::Sha512
                .digest(&fixture("bp512/dg1.bin"))
                .as_slice()
        )
    );
    let attrs = sod
        .signer()
        .and_then(|s| s.signed_attrs.as_ref())
        .expect("attrs");
    assert!(attrs.signing_time.is_some(), "openssl adds signingTime");
}

#[test]
fn lds_security_object_v1_with_version_info_parses() {
    // SEQUENCE { 1, sha256, SEQUENCE { SEQUENCE { 1, OCTET STRING(32) } }, SEQUENCE { "0108", "040000" } }
    let mut der = vec![
        0x30, 0x00, 0x02, 0x01, 0x01, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
        0x04, 0x02, 0x01,
    ];
    der.extend_from_slice(&[0x30, 0x27, 0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20]);
    der.extend_from_slice(&[0xAB; 32]);
    der.extend_from_slice(&[
        0x30, 0x0e, 0x13, 0x04, b'0', b'1', b'0', b'8', 0x13, 0x06, b'0', b'4', b'0', b'0', b'0',
        b'0',
    ]);
    der[1] = u8::try_from(der.len() - 2).expect("short");
    let lds = LdsSecurityObject::parse(&der).expect("parses");
    assert_eq!(lds.version, 1);
    let info = lds.lds_version_info.expect("version info");
    assert_eq!(
        (info.lds_version.as_str(), info.unicode_version.as_str()),
        ("0108", "040000")
    );
}

#[test]
fn a_data_group_listed_twice_is_rejected() {
    let mut der = vec![
        0x30, 0x00, 0x02, 0x01, 0x00, 0x30, 0x07, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x30,
        0x36,
    ];
    for _ in 0..2 {
        der.extend_from_slice(&[0x30, 0x19, 0x02, 0x01, 0x02, 0x04, 0x14]);
        der.extend_from_slice(&[0u8; 20]);
    }
    der[1] = u8::try_from(der.len() - 2).expect("short");
    assert_eq!(
        LdsSecurityObject::parse(&der).err(),
        Some(SodError::DuplicateDataGroup(2))
    );
}

#[test]
fn wrong_outer_tag_is_not_a_sod() {
    let bytes = fixture("p256/EF_SOD.bin");
    let outer = emrtd::tlv::read_exact(&bytes).expect("tlv");
    let inner = outer.content; // a bare ContentInfo, no 0x77
    assert!(matches!(Sod::parse(inner), Err(SodError::NotSod(_))));
}

#[test]
fn every_truncation_of_a_sod_fails_cleanly() {
    let bytes = fixture("rsa/EF_SOD.bin");
    for len in 0..bytes.len() {
        assert!(Sod::parse(&bytes[..len]).is_err(), "prefix of {len} bytes");
    }
}
