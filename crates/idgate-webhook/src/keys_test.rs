#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use rsa::RsaPublicKey;
use rsa::pkcs8::EncodePublicKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::json;

use super::*;
use crate::test_support::{generate, private_key};

/// RFC 7638 §3.1: the example key and its published thumbprint.
const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
const RFC7638_THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/// A P-256 public key (public material, safe to commit) to show non-RSA keys are refused.
const EC_SPKI_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2elvXmjojmovzGyEDzog1R7sK3ev
mJsUi/FNFUloKnQJJz3K5O/TtOHJth/NuKJTTbcrJAsPH30Omxlq9owLMQ==
-----END PUBLIC KEY-----";

fn public() -> RsaPublicKey {
    RsaPublicKey::from(private_key())
}

fn jwk_of(key: &RsaPublicKey) -> serde_json::Value {
    json!({
        "kty": "RSA",
        "n": URL_SAFE_NO_PAD.encode(key.n_bytes()),
        "e": URL_SAFE_NO_PAD.encode(key.e_bytes()),
    })
}

fn parse_jwk(value: serde_json::Value) -> Result<RecipientKey, KeyError> {
    RecipientKey::parse(value.to_string().as_bytes())
}

#[test]
fn thumbprint_matches_the_rfc_7638_example() {
    let key =
        parse_jwk(json!({"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "kid": "2011-04-29"})).unwrap();
    assert_eq!(key.thumbprint(), RFC7638_THUMBPRINT);
    assert_eq!(key.kid(), "2011-04-29");
}

#[test]
fn kid_defaults_to_the_thumbprint() {
    let key = parse_jwk(json!({"kty": "RSA", "n": RFC7638_N, "e": "AQAB"})).unwrap();
    assert_eq!(key.kid(), RFC7638_THUMBPRINT);
}

#[test]
fn jwk_and_pem_of_the_same_key_have_the_same_thumbprint() {
    let pem = public()
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap();
    let from_pem = RecipientKey::parse(pem.as_bytes()).unwrap();
    let from_jwk = parse_jwk(jwk_of(&public())).unwrap();
    assert_eq!(from_pem.thumbprint(), from_jwk.thumbprint());
    assert_eq!(from_pem.public_key(), &public());
    assert_eq!(from_pem.modulus_bits(), 2048);
}

#[test]
fn jwk_with_matching_use_alg_and_key_ops_is_accepted() {
    let mut jwk = jwk_of(&public());
    jwk["use"] = json!("enc");
    jwk["alg"] = json!("RSA-OAEP-256");
    jwk["key_ops"] = json!(["encrypt"]);
    jwk["ext"] = json!(true);
    assert!(parse_jwk(jwk).is_ok());
}

#[test]
fn jwk_for_signing_is_refused() {
    let mut jwk = jwk_of(&public());
    jwk["use"] = json!("sig");
    assert_eq!(parse_jwk(jwk), Err(KeyError::JwkWrongUse));
}

#[test]
fn jwk_for_another_algorithm_is_refused() {
    let mut jwk = jwk_of(&public());
    jwk["alg"] = json!("RSA-OAEP");
    assert_eq!(parse_jwk(jwk), Err(KeyError::JwkWrongAlg));
}

#[test]
fn jwk_whose_key_ops_forbid_encryption_is_refused() {
    let mut jwk = jwk_of(&public());
    jwk["key_ops"] = json!(["verify"]);
    assert_eq!(parse_jwk(jwk), Err(KeyError::JwkWrongKeyOps));
}

#[test]
fn jwk_carrying_the_private_exponent_is_refused() {
    let mut jwk = jwk_of(&public());
    jwk["d"] = json!("AQAB");
    assert_eq!(parse_jwk(jwk), Err(KeyError::JwkHasPrivateKey("d")));
}

#[test]
fn jwk_of_another_key_type_is_refused() {
    assert_eq!(
        parse_jwk(json!({"kty": "EC", "crv": "P-256"})),
        Err(KeyError::JwkNotRsa)
    );
}

#[test]
fn jwk_with_padded_or_missing_members_is_refused_by_name() {
    let mut jwk = jwk_of(&public());
    jwk["e"] = json!("AQAB==");
    assert_eq!(parse_jwk(jwk.clone()), Err(KeyError::JwkBadBase64("e")));
    jwk.as_object_mut().unwrap().remove("n");
    assert_eq!(parse_jwk(jwk), Err(KeyError::JwkMissingMember("n")));
}

#[test]
fn keys_below_2048_bits_are_refused_with_their_size() {
    let small = RsaPublicKey::from(&generate(1024));
    assert_eq!(
        parse_jwk(jwk_of(&small)),
        Err(KeyError::ModulusTooSmall { bits: 1024 })
    );
    let pem = small.to_public_key_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    assert_eq!(
        RecipientKey::parse(pem.as_bytes()),
        Err(KeyError::ModulusTooSmall { bits: 1024 })
    );
}

#[test]
fn bad_exponents_are_refused_precisely() {
    let n = public().n_bytes();
    let e = |v: &[u8]| RecipientKey::from_components(&n, v, None);
    assert_eq!(e(&[1]), Err(KeyError::ExponentTooSmall));
    assert_eq!(e(&[0]), Err(KeyError::ExponentTooSmall));
    assert_eq!(e(&[]), Err(KeyError::ExponentTooSmall));
    assert_eq!(e(&[1, 0, 0]), Err(KeyError::ExponentEven));
    assert_eq!(e(&[2, 0, 0, 0, 1]), Err(KeyError::ExponentTooLarge));
    assert_eq!(e(&[1; 9]), Err(KeyError::ExponentTooLarge));
    assert!(e(&[3]).is_ok());
    assert!(
        e(&[0, 1, 0, 1]).is_ok(),
        "leading zero octets are tolerated"
    );
}

#[test]
fn even_modulus_is_refused() {
    let mut n = public().n_bytes().to_vec();
    *n.last_mut().unwrap() &= 0xfe;
    assert_eq!(
        RecipientKey::from_components(&n, &[1, 0, 1], None),
        Err(KeyError::ModulusEven)
    );
}

#[test]
fn oversized_modulus_is_refused() {
    let mut n = vec![0xffu8; 1025];
    n[1024] = 0xff;
    assert_eq!(
        RecipientKey::from_components(&n, &[1, 0, 1], None),
        Err(KeyError::ModulusTooLarge { bits: 8200 })
    );
}

#[test]
fn pem_of_an_ec_key_is_refused_as_not_rsa() {
    assert_eq!(
        RecipientKey::parse(EC_SPKI_PEM.as_bytes()),
        Err(KeyError::NotRsa)
    );
}

#[test]
fn pem_of_a_private_key_or_certificate_is_refused() {
    let private = "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";
    assert_eq!(
        RecipientKey::parse(private.as_bytes()),
        Err(KeyError::PemNotSpki)
    );
    let cert = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
    assert_eq!(
        RecipientKey::parse(cert.as_bytes()),
        Err(KeyError::PemNotSpki)
    );
}

#[test]
fn garbage_uploads_are_errors_not_panics() {
    let cases: [&[u8]; 9] = [
        b"",
        b"{",
        b"{}",
        b"[]",
        b"-----BEGIN PUBLIC KEY-----",
        b"-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----",
        b"\xff\xfe",
        br#"{"kty":"RSA","n":"","e":""}"#,
        br#"{"kty":"RSA","n":"AQ","e":"AQAB","kid":7}"#,
    ];
    for case in cases {
        assert!(RecipientKey::parse(case).is_err(), "{case:?}");
    }
    assert_eq!(
        RecipientKey::parse(&vec![b'{'; MAX_UPLOAD_LEN + 1]),
        Err(KeyError::TooLarge)
    );
}

#[test]
fn to_jwk_round_trips() {
    let key = parse_jwk(jwk_of(&public()))
        .unwrap()
        .with_kid("whk_1")
        .unwrap();
    let again = RecipientKey::parse(key.to_jwk().to_string().as_bytes()).unwrap();
    assert_eq!(again, key);
}

#[test]
fn kid_must_be_printable_and_bounded() {
    let key = parse_jwk(jwk_of(&public())).unwrap();
    assert_eq!(key.clone().with_kid(""), Err(KeyError::BadKid));
    assert_eq!(key.clone().with_kid("a b"), Err(KeyError::BadKid));
    assert_eq!(key.with_kid("x".repeat(256)), Err(KeyError::BadKid));
}
