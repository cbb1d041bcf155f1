#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::RsaPublicKey;
use rsa::traits::PublicKeyParts as _;

use super::*;
use crate::keys::RecipientKey;
use crate::test_support::{generate, private_key};

fn recipient() -> RecipientKey {
    let public = RsaPublicKey::from(private_key());
    RecipientKey::from_components(&public.n_bytes(), &public.e_bytes(), Some("key-1".into()))
        .unwrap()
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

#[test]
fn encrypt_then_decrypt_returns_the_plaintext() {
    let token = encrypt(br#"{"hello":"world"}"#, &recipient()).unwrap();
    assert_eq!(
        decrypt(&token, private_key()).unwrap(),
        br#"{"hello":"world"}"#
    );
}

#[test]
fn encrypt_writes_the_protected_header_of_the_spec() {
    let token = encrypt(b"{}", &recipient()).unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&segments(&token)[0]).unwrap()).unwrap();
    assert_eq!(
        header,
        serde_json::json!({"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"key-1","cty":"application/json"})
    );
    assert_eq!(
        super::header(&token).unwrap(),
        Header {
            kid: Some("key-1".into()),
            cty: Some(CTY.into())
        }
    );
}

#[test]
fn encrypt_produces_five_segments_with_a_96_bit_iv_and_128_bit_tag() {
    let token = encrypt(b"x", &recipient()).unwrap();
    let parts = segments(&token);
    assert_eq!(parts.len(), 5);
    assert_eq!(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap().len(), 256);
    assert_eq!(URL_SAFE_NO_PAD.decode(&parts[2]).unwrap().len(), 12);
    assert_eq!(URL_SAFE_NO_PAD.decode(&parts[4]).unwrap().len(), 16);
}

#[test]
fn two_encryptions_of_the_same_plaintext_differ() {
    let r = recipient();
    assert_ne!(encrypt(b"same", &r).unwrap(), encrypt(b"same", &r).unwrap());
}

#[test]
fn decrypt_with_another_key_fails_without_detail() {
    let token = encrypt(b"secret", &recipient()).unwrap();
    assert_eq!(decrypt(&token, &generate(2048)), Err(JweError::Decryption));
}

#[test]
fn decrypt_rejects_any_tampered_segment() {
    let token = encrypt(br#"{"a":1}"#, &recipient()).unwrap();
    for index in 0..5 {
        let mut parts = segments(&token);
        let mut bytes = URL_SAFE_NO_PAD.decode(&parts[index]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        parts[index] = URL_SAFE_NO_PAD.encode(&bytes);
        let tampered = parts.join(".");
        assert!(
            decrypt(&tampered, private_key()).is_err(),
            "segment {index} tampering accepted"
        );
    }
}

fn with_header(token: &str, header: serde_json::Value) -> String {
    let mut parts = segments(token);
    parts[0] = URL_SAFE_NO_PAD.encode(header.to_string());
    parts.join(".")
}

#[test]
fn decrypt_rejects_other_key_management_algorithms() {
    let token = encrypt(b"{}", &recipient()).unwrap();
    for alg in ["RSA-OAEP", "RSA1_5", "dir", "none", "ECDH-ES"] {
        let forged = with_header(&token, serde_json::json!({"alg": alg, "enc": "A256GCM"}));
        assert_eq!(
            decrypt(&forged, private_key()),
            Err(JweError::UnsupportedAlg(alg.into()))
        );
    }
}

#[test]
fn decrypt_rejects_other_content_encryption() {
    let token = encrypt(b"{}", &recipient()).unwrap();
    let forged = with_header(
        &token,
        serde_json::json!({"alg": "RSA-OAEP-256", "enc": "A128CBC-HS256"}),
    );
    assert_eq!(
        decrypt(&forged, private_key()),
        Err(JweError::UnsupportedEnc("A128CBC-HS256".into()))
    );
}

#[test]
fn decrypt_rejects_compression_and_critical_parameters() {
    let token = encrypt(b"{}", &recipient()).unwrap();
    let zip = with_header(
        &token,
        serde_json::json!({"alg": ALG, "enc": ENC, "zip": "DEF"}),
    );
    assert_eq!(
        decrypt(&zip, private_key()),
        Err(JweError::UnsupportedParameter("zip"))
    );
    let crit = with_header(
        &token,
        serde_json::json!({"alg": ALG, "enc": ENC, "crit": ["exp"]}),
    );
    assert_eq!(
        decrypt(&crit, private_key()),
        Err(JweError::UnsupportedParameter("crit"))
    );
}

#[test]
fn decrypt_rejects_oversized_tokens_before_decoding() {
    let huge = "a".repeat(MAX_TOKEN_LEN + 1);
    assert_eq!(decrypt(&huge, private_key()), Err(JweError::TooLarge));
}

#[test]
fn decrypt_returns_errors_not_panics_on_garbage() {
    let cases = [
        "",
        ".",
        "....",
        "......",
        "a.b.c.d.e",
        "e30.....",
        "e30.AA.AA.AA.AA",
        "eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0.AA.AAAAAAAAAAAAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA",
        "eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0...AA.",
        "W10.a.b.c.d",
        "bnVsbA.a.b.c.d",
        "\u{0}.\u{1}.\u{2}.\u{3}.\u{4}",
    ];
    for case in cases {
        assert!(decrypt(case, private_key()).is_err(), "{case:?} accepted");
    }
}

#[test]
fn decrypt_rejects_a_wrong_iv_length() {
    let token = encrypt(b"{}", &recipient()).unwrap();
    let mut parts = segments(&token);
    parts[2] = URL_SAFE_NO_PAD.encode([0u8; 16]);
    assert_eq!(
        decrypt(&parts.join("."), private_key()),
        Err(JweError::BadLengths)
    );
}
