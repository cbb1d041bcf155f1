//! Active authentication (ICAO 9303-11 §6.1) checked against signatures this project did not
//! make: answers of real chips recorded by other open-source passport readers, a published
//! ISO/IEC 9796-2 test vector, and ECDSA signatures made by an independent library. The other
//! AA tests sign with the project's own test-kit signer, so a shared misreading of the standard
//! (header, trailer, which bytes are hashed, `r ‖ s` layout, which hash) would pass them all;
//! these fail on any such misreading.
//!
//! Provenance of every vector (copied as facts, re-checked with Python's `cryptography` package
//! by a raw RSA public operation and the ISO/IEC 9796-2 recovery before it was pasted here):
//! - RSA-1024, SHA-1 (`0xBC` trailer): four INTERNAL AUTHENTICATE answers of one real passport,
//!   published by ZeroPass/pymrtd, `tests/pki/iso9796e2_test.py` ("Test vectors taken from real
//!   biometric passport").
//! - RSA-1024, SHA-1, challenge of eight zero bytes: Bouncy Castle,
//!   `core/src/test/java/org/bouncycastle/crypto/test/ISO9796Test.java` (as quoted by pymrtd's
//!   same test file).
//! - RSA-1792, SHA-256 (`0x34CC` trailer): a real chip's answer recorded with its DG15 by
//!   gmrtd/gmrtd, `activeauth/active_auth_test.go` (`TestDoActiveAuth`); the protected APDUs
//!   of the same exchange are in `kat_secure_messaging.rs`.
//! - ECDSA: no recorded ECDSA answer of a real chip or published worked example was found (ICAO
//!   9303-11 has no ECDSA AA example; the readers' tests searched — gmrtd, pymrtd, JMRTD
//!   forks — sign with freshly generated keys at test time). The ECDSA vectors below were
//!   therefore made by Python's `cryptography` package (OpenSSL backend), independent of this
//!   crate, with the script quoted in the ECDSA section below.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use der::asn1::ObjectIdentifier;
use emrtd::active::{self, AaError, AaMechanism};
use emrtd::crypto::hash::HashAlgorithm;

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

/// The SubjectPublicKeyInfo inside a DG15 (`6F L SPKI`, ICAO 9303-10 §4.7.15).
fn spki_of_dg15(dg15: &[u8]) -> Vec<u8> {
    let outer = emrtd::tlv::read_exact(dg15).unwrap();
    assert_eq!(outer.tag, emrtd::tlv::Tag(0x6F));
    outer.content.to_vec()
}

// ---------------------------------------------------------------------------------------------
// RSA, real passport (pymrtd)
// ---------------------------------------------------------------------------------------------

const PYMRTD_DG15: &str = "6F81A230819F300D06092A864886F70D010101050003818D0030818902818100BD8620D4
    5693E1CD8678639F22E9553F09E3AFD87BD26000113CE2798B7A02A2E0AB6B7525D09072109D938D6708167E8FAFAF83
    F17BFBA36CECCE26058C7ED9AE29516755B19F78CE0E73DA02340B117B8AB2ECA007F1390E93E896016335EB5C1E330B
    961C03E253D17874F7ABEE8D4962C49FFE578D46954FF23B26F5E5550203010001";

/// `(challenge, signature)` pairs of the same chip.
const PYMRTD_ANSWERS: [(&str, &str); 4] = [
    (
        "47E4EE7F211F7326",
        "8AECE4E0AB1A6B9E06B31ACBA51AE316D0B7B48E2F5FE13E575060F6B9DC27A2F9D03DCF67A141F466EEC75387
         9106BE0992F46F5EAAD075EB1886D2ACE90D60C2EDA69880780CE4FA36EF27AB01C47527BD23B178EC8F21330728
         1572C219487FC11B2C3D9C144DC98D96D1A79A7478449D692D3D14E8C044F81B3ADF0047E0",
    ),
    (
        "5DD17658F6E21C13",
        "97251259E9EB453A8DC2D9CD85D5A49D2E83F31D6465CB1FBD09C5E7800D4F0FB9FF7312343CD3955CA3BE6768
         AD7938F3D36B0C9E2205923786949B5F48FBF1C94D01B5BC9DA88C8293E118F87E14E4CC409D52AA7ED266E20248
         AB3C04949838540DEB24588436607EA620B4825D002C5FAB4F07B618D72C0A9EC247653FE7",
    ),
    (
        "18BD6C81F37598E2",
        "12C0972DFE9E1DDB42B46130D64339E0845578D85E5F0ED7C9E12036AE0C3D417BBAAA6CA5579E782DDEADA825
         E432C2AE9593B8DB5806327E22B18CD0AB86353C314925A01390806A1D6E8DDE2CD0D82D9671457139241E93BC30
         8E5573C335D14EF6182A5171A443A82A2568D6B1373A1F227377C584ABA7B1E8B1F47E393F",
    ),
    (
        "0A2756299542EFCF",
        "0854CF7B69FB54286F97FC8B396722E21156DFEEC38CF5C63035B09A59C4EA7FCA79865D5EE166548AAE5AE1F6
         29A57459B46F5D1D1E4EFE9369C0075903D3CA282D6B2CF5843E62CE53BEA33E3D6AA7A48147CC38C9B534437FD0
         DCD0F0C787BE74061DFA844435253D651E7986BA47F49FA49D7041BD1FE72B5E5D09221FD1",
    ),
];

#[test]
fn real_passport_rsa_answers_verify() {
    let spki = spki_of_dg15(&hex(PYMRTD_DG15));
    for (challenge, signature) in PYMRTD_ANSWERS {
        let mechanism = active::verify_recorded(&spki, &hex(challenge), &hex(signature), None)
            .unwrap_or_else(|err| panic!("answer to {challenge} refused: {err}"));
        assert_eq!(
            mechanism,
            AaMechanism::RsaIso9796_2 {
                modulus_bits: 1024,
                hash: HashAlgorithm::Sha1
            }
        );
    }
}

#[test]
fn real_passport_rsa_answer_to_another_challenge_is_refused() {
    let spki = spki_of_dg15(&hex(PYMRTD_DG15));
    let (_, first_signature) = PYMRTD_ANSWERS[0];
    let (second_challenge, _) = PYMRTD_ANSWERS[1];
    assert_eq!(
        active::verify_recorded(&spki, &hex(second_challenge), &hex(first_signature), None),
        Err(AaError::HashMismatch)
    );
}

#[test]
fn real_passport_rsa_answer_with_one_flipped_bit_is_refused() {
    let spki = spki_of_dg15(&hex(PYMRTD_DG15));
    let (challenge, signature) = PYMRTD_ANSWERS[2];
    let mut signature = hex(signature);
    signature[64] ^= 0x01;
    assert!(active::verify_recorded(&spki, &hex(challenge), &signature, None).is_err());
}

#[test]
fn real_passport_rsa_answer_is_refused_when_dg14_announces_another_hash() {
    let spki = spki_of_dg15(&hex(PYMRTD_DG15));
    let (challenge, signature) = PYMRTD_ANSWERS[3];
    let sha256_with_rsa = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
    assert_eq!(
        active::verify_recorded(
            &spki,
            &hex(challenge),
            &hex(signature),
            Some(&sha256_with_rsa)
        ),
        Err(AaError::HashMismatchWithDg14 {
            found: HashAlgorithm::Sha1,
            announced: HashAlgorithm::Sha256
        })
    );
}

// ---------------------------------------------------------------------------------------------
// RSA, Bouncy Castle ISO/IEC 9796-2 scheme 1 test vector
// ---------------------------------------------------------------------------------------------

#[test]
fn bouncy_castle_iso9796_2_partial_recovery_vector_verifies() {
    let spki = hex(
        "30819f300d06092a864886f70d010101050003818d0030818902818100CDCBDABBF93BE8E8294E32B055256BBD
         0397735189BF75816341BB0D488D05D627991221DF7D59835C76A4BB4808ADEEB779E7794504E956ADC2A661B469
         04CDC71337DD29DDDD454124EF79CFDD7BC2C21952573CEFBA485CC38C6BD2428809B5A31A898A6B5648CAA4ED67
         8D9743B589134B7187478996300EDBA16271A8610203010001",
    );
    let signature = hex(
        "482E20D1EDDED34359C38F5E7C01203F9D6B2641CDCA5C404D49ADAEDE034C7481D781D043722587761C90468D
         E69C6585A1E8B9C322F90E1B580EEDAB3F6007D0C366CF92B4DB8B41C8314929DCE2BE889C0129123484D2FD3D12
         763D2EBFD12AC8E51D7061AFCA1A53DEDEC7B9A617472A78C952CCC72467AE008E5F132994",
    );
    assert_eq!(
        active::verify_recorded(&spki, &[0u8; 8], &signature, None),
        Ok(AaMechanism::RsaIso9796_2 {
            modulus_bits: 1024,
            hash: HashAlgorithm::Sha1
        })
    );
}

// ---------------------------------------------------------------------------------------------
// RSA-1792 with a SHA-256 trailer, real chip (gmrtd)
// ---------------------------------------------------------------------------------------------

const GMRTD_DG15: &str =
    "6F8201023081FF300D06092A864886F70D01010105000381ED003081E90281E100BB8F93F4
    DC95E205CDA17C6927AB1E365B13065D03CD12E0FCE95D96840529453202F56CC4C13F77CD062930C8BC89A2873B2570
    45C286E601CF3C09323A53103314902804AA10A314628CE222206A8866946A36B442041BB54AC81E6855DD1D6E161018
    33D65A191C20AC8B33B8A1A32920F46043F8031CF2BC17417030865FC5BE5A39DEE423BCBA3CA8177168EB23CFE01BA4
    3EC87711B1CFFF85DB46F300DD8AE317B50D543B573E119E23AF7070D0B2FED6A3B2313A5EC02A531AAED1741F4390D1
    013E2A0F081EAC5DC8B0A1B2C6BDB1206F08D30E3643E1E5BDF536110203010001";

const GMRTD_CHALLENGE: &str = "96302b0f3d7e7864";

const GMRTD_SIGNATURE: &str = "474256306840c0ab1b63c10e1c26bdfef4a0dd843920283cc4e6e70a60f2bd25dc77
    25f9677bc1cde66379dc28b38e8490f33afb2d10f9980c44c0bfc175d2b6684218f535c92fdd3e18db770a9ccbf91db3
    c7f0138e6d9e94b9bc8371761e3abed5e5e9b260279cfb238b58ae0d6a01da51c74c2a3ecd62c448bd9f20127f738458
    7287fa971204234e55b1a856c3e5aaaa620bb799a68fbae08ee132bb61683eba9b0b40dc1e54641cad975b16991cab50
    af82e3f3985afd19e7427a125f5b4b9878b12a5d2e01c7eedca3bb41c6fc05dccd818bce379d04b1f2f5d43487d3";

#[test]
fn real_chip_rsa_1792_sha256_answer_verifies() {
    let spki = spki_of_dg15(&hex(GMRTD_DG15));
    assert_eq!(
        active::verify_recorded(&spki, &hex(GMRTD_CHALLENGE), &hex(GMRTD_SIGNATURE), None),
        Ok(AaMechanism::RsaIso9796_2 {
            modulus_bits: 1792,
            hash: HashAlgorithm::Sha256
        })
    );
}

#[test]
fn real_chip_rsa_1792_answer_is_refused_under_another_passports_key() {
    let other = spki_of_dg15(&hex(PYMRTD_DG15));
    assert_eq!(
        active::verify_recorded(&other, &hex(GMRTD_CHALLENGE), &hex(GMRTD_SIGNATURE), None),
        Err(AaError::SignatureLength)
    );
}

// ---------------------------------------------------------------------------------------------
// ECDSA, plain r ‖ s over H(challenge) (BSI TR-03111 §5.2.1), made by Python `cryptography`
// ---------------------------------------------------------------------------------------------
//
// Generated once (the keys were random and are not kept; re-running gives different vectors
// that verify the same way):
//
// ```python
// # python3 (cryptography 51.0.1, OpenSSL 3 backend)
// from cryptography.hazmat.primitives.asymmetric import ec
// from cryptography.hazmat.primitives import hashes, serialization
// from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
// for curve, h, chal in [(ec.SECP256R1(), hashes.SHA256(), "F173589974BF40C6"),
//                        (ec.BrainpoolP256R1(), hashes.SHA256(), "0102030405060708"),
//                        (ec.SECP384R1(), hashes.SHA384(), "47E4EE7F211F7326")]:
//     key = ec.generate_private_key(curve)
//     spki = key.public_key().public_bytes(serialization.Encoding.DER,
//                                          serialization.PublicFormat.SubjectPublicKeyInfo)
//     r, s = decode_dss_signature(key.sign(bytes.fromhex(chal), ec.ECDSA(h)))
//     n = (key.curve.key_size + 7) // 8
//     print(curve.name, h.name, chal)
//     print(" spki", spki.hex().upper())
//     print(" sig ", (r.to_bytes(n, "big") + s.to_bytes(n, "big")).hex().upper())
// ```

struct EcdsaVector {
    spki: &'static str,
    challenge: &'static str,
    signature: &'static str,
    hash: HashAlgorithm,
    curve: &'static str,
}

const P256_SHA256: EcdsaVector = EcdsaVector {
    spki: "3059301306072A8648CE3D020106082A8648CE3D03010703420004FE1DC0F7C832409623C21614876E7DBB
           158A734AB1249DF078321F028E05D12474550DF2E13D932800C25E376F4803A1ADF34F40332DA2C563680802AB
           CA1733",
    challenge: "F173589974BF40C6",
    signature: "9FFA5BF7AD43044B984E1885BA30FAE647329901E75DB18FD971114D4F0FA2FA200E52EE26BA3C6C5D
                096132B22047A6333F0A2CF2F244C09802E9E7910583ED",
    hash: HashAlgorithm::Sha256,
    curve: "NIST P-256",
};

const BRAINPOOL_P256_SHA256: EcdsaVector = EcdsaVector {
    spki: "305A301406072A8648CE3D020106092B2403030208010107034200046A1805E45ABD01B2704520F893A6E5
           2567798D79DF0D081D37A6C5440863A47F8BD55A3DF588BB5672A1CB5FB86BED883443DA837C6CDEA3DA397906
           BD7955DF",
    challenge: "0102030405060708",
    signature: "8AC555A7C0A6F8E7A5B089AAF9E74910888BB748475C037DC5D4E32695C7FC866B50ECA07B81ED5BB2
                A35A6106C82929ABFAD871F8BEDE8E71B942A2D509921F",
    hash: HashAlgorithm::Sha256,
    curve: "brainpoolP256r1",
};

const P384_SHA384: EcdsaVector = EcdsaVector {
    spki: "3076301006072A8648CE3D020106052B810400220362000459566772FEA7167690241BD7786C87DAF3E272
           0F5B0328FD1D34175C70380B8B3AA245774C2B49D45B85BDEF42AC31E35E36231605ABD50A926075267F4B82AD
           5A92FA7E38F0829E53B68408ACF5FA0521E0155D79C771DB8561CD1F92727221",
    challenge: "47E4EE7F211F7326",
    signature: "AB44855E8398F624B7F2B0DED56C6648A77FC4B93E07560B9A62A05F410B65EB0228F6EA03A2B12B42
                2BAEE197404A9272F8BF5F76917FEB3F04B1DA9C7CD6FDA0D5296E0043F07BF0092AFBE3D4E25C2849F034
                F0B66DEC8FF35AC4D73C43C2",
    hash: HashAlgorithm::Sha384,
    curve: "NIST P-384",
};

fn verify_ecdsa(v: &EcdsaVector) -> Result<AaMechanism, AaError> {
    let oid = active::ecdsa_plain_oid(v.hash);
    active::verify_recorded(
        &hex(v.spki),
        &hex(v.challenge),
        &hex(v.signature),
        Some(&oid),
    )
}

fn assert_ecdsa_verifies(v: &EcdsaVector) {
    match verify_ecdsa(v).unwrap() {
        AaMechanism::Ecdsa { curve, hash } => {
            assert_eq!(curve, v.curve);
            assert_eq!(hash, v.hash);
        }
        other => panic!("expected ECDSA, got {other:?}"),
    }
}

#[test]
fn ecdsa_p256_sha256_signature_verifies() {
    assert_ecdsa_verifies(&P256_SHA256);
}

#[test]
fn ecdsa_brainpool_p256_sha256_signature_verifies() {
    assert_ecdsa_verifies(&BRAINPOOL_P256_SHA256);
}

#[test]
fn ecdsa_p384_sha384_signature_verifies() {
    assert_ecdsa_verifies(&P384_SHA384);
}

#[test]
fn ecdsa_signature_over_another_challenge_is_refused() {
    let v = EcdsaVector {
        challenge: "F173589974BF40C7",
        ..P256_SHA256
    };
    assert_eq!(verify_ecdsa(&v), Err(AaError::EcdsaInvalid));
}

#[test]
fn ecdsa_signature_with_r_and_s_swapped_is_refused() {
    let mut signature = hex(BRAINPOOL_P256_SHA256.signature);
    signature.rotate_left(32);
    let oid = active::ecdsa_plain_oid(HashAlgorithm::Sha256);
    assert_eq!(
        active::verify_recorded(
            &hex(BRAINPOOL_P256_SHA256.spki),
            &hex(BRAINPOOL_P256_SHA256.challenge),
            &signature,
            Some(&oid)
        ),
        Err(AaError::EcdsaInvalid)
    );
}

#[test]
fn ecdsa_signature_is_refused_when_dg14_announces_another_hash() {
    // The chip hashed with SHA-384; a DG14 announcing SHA-256 makes the verifier hash the
    // challenge with SHA-256, and the signature must then fail.
    let v = EcdsaVector {
        hash: HashAlgorithm::Sha256,
        ..P384_SHA384
    };
    assert_eq!(verify_ecdsa(&v), Err(AaError::EcdsaInvalid));
}
