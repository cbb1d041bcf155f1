//! Vectors produced by OpenSSL 3 (`tests/fixtures/crypto/generate.sh`): every accepted and
//! every tampered case must behave as OpenSSL says.

use super::*;

fn fx(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/crypto/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn msg() -> Vec<u8> {
    fx("msg.bin")
}

fn tampered(mut m: Vec<u8>) -> Vec<u8> {
    if let Some(b) = m.last_mut() {
        *b ^= 1;
    }
    m
}

fn check(spki: &str, sig: &str, alg: SignatureAlgorithm) -> PublicKey {
    let key = PublicKey::from_spki_der(&fx(spki)).expect("spki decodes");
    let sig = fx(sig);
    verify_signature(&key, &alg, &msg(), &sig).unwrap_or_else(|e| panic!("{spki} {sig:?}: {e}"));
    assert_eq!(
        verify_signature(&key, &alg, &tampered(msg()), &sig),
        Err(CryptoError::BadSignature)
    );
    let mut bad_sig = sig.clone();
    if let Some(b) = bad_sig.get_mut(sig.len() / 2) {
        *b ^= 0x40;
    }
    assert!(verify_signature(&key, &alg, &msg(), &bad_sig).is_err());
    key
}

fn ecdsa(h: HashAlgorithm) -> SignatureAlgorithm {
    SignatureAlgorithm::Ecdsa { hash: Some(h) }
}

#[test]
fn ecdsa_p256_sha256_verifies() {
    let key = check(
        "p256.spki.der",
        "p256.sha256.sig",
        ecdsa(HashAlgorithm::Sha256),
    );
    assert_eq!(key.describe(), "EC NIST P-256");
}

#[test]
fn ecdsa_p384_sha384_verifies() {
    check(
        "p384.spki.der",
        "p384.sha384.sig",
        ecdsa(HashAlgorithm::Sha384),
    );
}

#[test]
fn ecdsa_p521_sha512_and_sha1_verify() {
    check(
        "p521.spki.der",
        "p521.sha512.sig",
        ecdsa(HashAlgorithm::Sha512),
    );
    check(
        "p521b.spki.der",
        "p521b.sha1.sig",
        ecdsa(HashAlgorithm::Sha1),
    );
}

#[test]
fn ecdsa_brainpool_256_384_verify_with_typed_crates() {
    check(
        "bp256.spki.der",
        "bp256.sha256.sig",
        ecdsa(HashAlgorithm::Sha256),
    );
    check(
        "bp384.spki.der",
        "bp384.sha384.sig",
        ecdsa(HashAlgorithm::Sha384),
    );
}

#[test]
fn ecdsa_brainpool_512_and_224_verify_with_generic_arithmetic() {
    let key = check(
        "bp512.spki.der",
        "bp512.sha512.sig",
        ecdsa(HashAlgorithm::Sha512),
    );
    assert_eq!(key.describe(), "EC brainpoolP512r1");
    check(
        "bp224.spki.der",
        "bp224.sha224.sig",
        ecdsa(HashAlgorithm::Sha224),
    );
}

#[test]
fn explicit_parameters_are_matched_to_the_named_curve() {
    for (spki, sig, h, name) in [
        (
            "bp256x.spki.der",
            "bp256x.sha256.sig",
            HashAlgorithm::Sha256,
            "EC brainpoolP256r1",
        ),
        (
            "bp512x.spki.der",
            "bp512x.sha256.sig",
            HashAlgorithm::Sha256,
            "EC brainpoolP512r1",
        ),
        (
            "p521x.spki.der",
            "p521x.sha512.sig",
            HashAlgorithm::Sha512,
            "EC NIST P-521",
        ),
    ] {
        let key = check(spki, sig, ecdsa(h));
        assert_eq!(key.describe(), name);
    }
}

#[test]
fn generic_arithmetic_agrees_with_typed_crates() {
    for (spki, sig, h) in [
        ("p256.spki.der", "p256.sha256.sig", HashAlgorithm::Sha256),
        ("p384.spki.der", "p384.sha384.sig", HashAlgorithm::Sha384),
        ("p521.spki.der", "p521.sha512.sig", HashAlgorithm::Sha512),
        ("bp256.spki.der", "bp256.sha256.sig", HashAlgorithm::Sha256),
        ("bp384.spki.der", "bp384.sha384.sig", HashAlgorithm::Sha384),
    ] {
        let PublicKey::Ec { curve, point } = PublicKey::from_spki_der(&fx(spki)).expect("spki")
        else {
            panic!("not EC");
        };
        let sig = EcdsaSignature::from_der(&fx(sig)).expect("sig");
        let digest = h.digest(&msg());
        ecdsa_sig::verify_prehash_generic(&curve, &point, &digest, &sig).expect("generic verifies");
        let wrong = h.digest(&tampered(msg()));
        assert!(ecdsa_sig::verify_prehash_generic(&curve, &point, &wrong, &sig).is_err());
    }
}

#[test]
fn plain_r_s_signatures_verify_as_bsi_tr_03111() {
    let key = PublicKey::from_spki_der(&fx("bp512.spki.der")).expect("spki");
    let der_sig = EcdsaSignature::from_der(&fx("bp512.sha512.sig")).expect("sig");
    let pad = |v: &[u8]| {
        let mut out = vec![0u8; 64 - v.len()];
        out.extend_from_slice(v);
        out
    };
    let plain = [pad(&der_sig.r), pad(&der_sig.s)].concat();
    let alg = SignatureAlgorithm::EcdsaPlain {
        hash: HashAlgorithm::Sha512,
    };
    verify_signature(&key, &alg, &msg(), &plain).expect("plain verifies");
    assert_eq!(
        verify_signature(&key, &alg, &tampered(msg()), &plain),
        Err(CryptoError::BadSignature)
    );
}

#[test]
fn rsa_pkcs1v15_sha256_and_sha1_verify() {
    let key = check(
        "rsa2048.spki.der",
        "rsa2048.pkcs1.sha256.sig",
        SignatureAlgorithm::RsaPkcs1v15 {
            hash: Some(HashAlgorithm::Sha256),
        },
    );
    assert_eq!(key.describe(), "RSA-2048");
    check(
        "rsa2048.spki.der",
        "rsa2048.pkcs1.sha1.sig",
        SignatureAlgorithm::RsaPkcs1v15 {
            hash: Some(HashAlgorithm::Sha1),
        },
    );
}

#[test]
fn rsa_pkcs1v15_rejects_the_wrong_digest_algorithm() {
    let key = PublicKey::from_spki_der(&fx("rsa2048.spki.der")).expect("spki");
    let alg = SignatureAlgorithm::RsaPkcs1v15 {
        hash: Some(HashAlgorithm::Sha384),
    };
    assert_eq!(
        verify_signature(&key, &alg, &msg(), &fx("rsa2048.pkcs1.sha256.sig")),
        Err(CryptoError::BadSignature)
    );
}

fn pss(hash: HashAlgorithm, mgf1_hash: HashAlgorithm, salt_len: usize) -> SignatureAlgorithm {
    SignatureAlgorithm::RsaPss(PssParams {
        hash,
        mgf1_hash,
        salt_len,
        trailer_field: 1,
    })
}

#[test]
fn rsa_pss_with_parameters_from_the_identifier_verifies() {
    use HashAlgorithm::*;
    check(
        "rsa2048.spki.der",
        "rsa2048.pss.sha256.s32.sig",
        pss(Sha256, Sha256, 32),
    );
    check(
        "rsa2048.spki.der",
        "rsa2048.pss.sha512.mgf256.s20.sig",
        pss(Sha512, Sha256, 20),
    );
    check(
        "rsa2047.spki.der",
        "rsa2047.pss.sha384.s48.sig",
        pss(Sha384, Sha384, 48),
    );
}

#[test]
fn rsa_pss_rejects_a_wrong_salt_length_or_mgf_hash() {
    use HashAlgorithm::*;
    let key = PublicKey::from_spki_der(&fx("rsa2048.spki.der")).expect("spki");
    let sig = fx("rsa2048.pss.sha512.mgf256.s20.sig");
    assert!(verify_signature(&key, &pss(Sha512, Sha512, 20), &msg(), &sig).is_err());
    assert!(verify_signature(&key, &pss(Sha512, Sha256, 32), &msg(), &sig).is_err());
}

#[test]
fn pss_parameters_decode_from_the_algorithm_identifier() {
    // The AlgorithmIdentifier of the BSI reference DSC: SHA-256, MGF1-SHA-256, salt 32.
    let der = [
        0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34,
        0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
        0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0xa2, 0x03, 0x02, 0x01, 0x20,
    ];
    let alg = SignatureAlgorithm::from_der(&der).expect("decodes");
    assert_eq!(alg, pss(HashAlgorithm::Sha256, HashAlgorithm::Sha256, 32));
    assert_eq!(alg.name(), "RSASSA-PSS SHA-256 MGF1-SHA-256 salt 32");
}

#[test]
fn pss_parameters_absent_mean_the_rfc_4055_defaults() {
    let der = [
        0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
    ];
    let alg = SignatureAlgorithm::from_der(&der).expect("decodes");
    assert_eq!(alg, pss(HashAlgorithm::Sha1, HashAlgorithm::Sha1, 20));
}

#[test]
fn a_key_of_the_wrong_type_is_a_mismatch_not_a_panic() {
    let key = PublicKey::from_spki_der(&fx("p256.spki.der")).expect("spki");
    let alg = SignatureAlgorithm::RsaPkcs1v15 {
        hash: Some(HashAlgorithm::Sha256),
    };
    assert_eq!(
        verify_signature(&key, &alg, &msg(), &[0u8; 64]),
        Err(CryptoError::KeyAlgorithmMismatch)
    );
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn ecdh_shared_secret_matches_openssl() {
    for curve in ["brainpoolP256r1", "brainpoolP512r1"] {
        let scalar = hex(String::from_utf8(fx(&format!("ecdh.{curve}.scalar.hex")))
            .expect("utf8")
            .trim());
        let PublicKey::Ec { curve: c, point } =
            PublicKey::from_spki_der(&fx(&format!("ecdh.{curve}.peer.spki.der"))).expect("spki")
        else {
            panic!("not EC")
        };
        let secret = ec::shared_secret(c.params(), &scalar, &point).expect("derives");
        assert_eq!(
            secret.as_slice(),
            fx(&format!("ecdh.{curve}.secret")).as_slice(),
            "{curve}"
        );
    }
}

#[test]
fn ecdh_rejects_a_point_off_the_curve() {
    let params = CurveId::BrainpoolP256r1.params();
    let mut point = params.encode_point(&params.generator());
    if let Some(b) = point.last_mut() {
        *b ^= 1;
    }
    assert_eq!(
        ec::shared_secret(params, &[7], &point),
        Err(CryptoError::InvalidPoint)
    );
}

#[test]
fn public_point_and_ecdh_agree_both_ways() {
    let params = CurveId::BrainpoolP512r1.params();
    let (a, b) = ([0x11u8; 40], [0x5au8; 48]);
    let pa = ec::public_point(params, &a).expect("A");
    let pb = ec::public_point(params, &b).expect("B");
    assert_eq!(
        ec::shared_secret(params, &a, &pb).expect("ab").as_slice(),
        ec::shared_secret(params, &b, &pa).expect("ba").as_slice()
    );
}

#[test]
fn point_arithmetic_is_consistent() {
    let params = CurveId::P256.params();
    let g = params.generator();
    let two_g = params.double_point(&g).expect("2G");
    let three_g = params.add_points(&two_g, &g).expect("3G");
    assert_eq!(params.scalar_mul(&3u8.into(), &g), Some(three_g.clone()));
    assert!(params.is_on_curve(&three_g));
    // n·G is the point at infinity.
    assert_eq!(params.scalar_mul(&params.n, &g), None);
    // Compressed and uncompressed encodings decode to the same point.
    let enc = params.encode_point(&three_g);
    let mut compressed = vec![if three_g.y.bit(0) { 3 } else { 2 }];
    compressed.extend_from_slice(&enc[1..33]);
    assert_eq!(params.decode_point(&compressed), Ok(three_g));
}

#[test]
fn explicit_parameters_equal_to_no_named_curve_are_refused() {
    // secp256k1 with explicit parameters: a valid curve, but none of the eMRTD named curves
    // (docs/verify.md, trust policy). It must not run on the generic arithmetic.
    match PublicKey::from_spki_der(&fx("k256x.spki.der")) {
        Err(CryptoError::UnsupportedCurve(reason)) => {
            assert!(reason.contains("no named curve"), "{reason}")
        }
        other => panic!("expected an unsupported curve, got {other:?}"),
    }
}
