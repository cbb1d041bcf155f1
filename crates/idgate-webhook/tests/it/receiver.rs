//! `Receiver::open`: what an integrator's endpoint does with a delivery.

use std::time::Duration;

use idgate_webhook::delivery;
use idgate_webhook::receiver::PrivateKeyError;
use idgate_webhook::signature::SignatureError;
use idgate_webhook::{ReceiveError, Receiver, WebhookSecret, load_private_key_pem};
use rsa::pkcs1::EncodeRsaPrivateKey as _;

use crate::support::{event_id, generate_pair, now, pair, succeeded_event};

fn sealed(id: &str, secrets: &[WebhookSecret], timestamp: i64) -> (http::HeaderMap, String) {
    let body = delivery::seal(&succeeded_event(id), &pair().recipient).unwrap();
    let headers = delivery::headers(secrets, id, timestamp, &body, "idgate/test").unwrap();
    (headers, body)
}

#[test]
fn open_returns_the_event_the_sender_sealed() {
    let secret = WebhookSecret::generate().unwrap();
    let (headers, body) = sealed(&event_id(0), std::slice::from_ref(&secret), now());
    let receiver = Receiver::new(secret, pair().private.clone());
    assert_eq!(
        receiver.open(&headers, body.as_bytes()).unwrap(),
        succeeded_event(&event_id(0))
    );
}

#[test]
fn open_rejects_a_wrong_secret_as_unauthorized() {
    let (headers, body) = sealed(&event_id(1), &[WebhookSecret::generate().unwrap()], now());
    let receiver = Receiver::new(WebhookSecret::generate().unwrap(), pair().private.clone());
    let err = receiver.open(&headers, body.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            ReceiveError::Signature(SignatureError::NoMatchingSignature)
        ),
        "{err}"
    );
    assert_eq!(err.status(), 401);
}

#[test]
fn open_rejects_a_replay_older_than_five_minutes() {
    let secret = WebhookSecret::generate().unwrap();
    let sent_at = now() - 301;
    let (headers, body) = sealed(&event_id(2), std::slice::from_ref(&secret), sent_at);
    let receiver = Receiver::new(secret, pair().private.clone());
    let err = receiver.open(&headers, body.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            ReceiveError::Signature(SignatureError::TimestampTooOld(_))
        ),
        "{err}"
    );
}

#[test]
fn open_honours_a_custom_tolerance() {
    let secret = WebhookSecret::generate().unwrap();
    let (headers, body) = sealed(&event_id(2), std::slice::from_ref(&secret), now() - 600);
    let receiver =
        Receiver::new(secret, pair().private.clone()).with_tolerance(Duration::from_secs(900));
    assert!(receiver.open(&headers, body.as_bytes()).is_ok());
}

#[test]
fn open_rejects_a_body_encrypted_to_another_key_as_bad_request() {
    let secret = WebhookSecret::generate().unwrap();
    let (headers, body) = sealed(&event_id(3), std::slice::from_ref(&secret), now());
    let receiver = Receiver::new(secret, generate_pair().private);
    let err = receiver.open(&headers, body.as_bytes()).unwrap_err();
    assert!(matches!(err, ReceiveError::Decrypt(_)), "{err}");
    assert_eq!(err.status(), 400);
}

#[test]
fn open_rejects_an_event_whose_id_is_not_the_webhook_id() {
    let secret = WebhookSecret::generate().unwrap();
    let body = delivery::seal(&succeeded_event(&event_id(4)), &pair().recipient).unwrap();
    let headers = delivery::headers(
        std::slice::from_ref(&secret),
        &event_id(5),
        now(),
        &body,
        "idgate/test",
    )
    .unwrap();
    let receiver = Receiver::new(secret, pair().private.clone());
    assert!(matches!(
        receiver.open(&headers, body.as_bytes()),
        Err(ReceiveError::IdMismatch)
    ));
}

#[test]
fn open_accepts_the_old_secret_during_a_rotation() {
    let old = WebhookSecret::generate().unwrap();
    let new = WebhookSecret::generate().unwrap();
    let (headers, body) = sealed(&event_id(6), &[new.clone(), old.clone()], now());
    let only_old = Receiver::new(old, pair().private.clone());
    assert!(only_old.open(&headers, body.as_bytes()).is_ok());
    let (headers, body) = sealed(&event_id(7), std::slice::from_ref(&new), now());
    let both = Receiver::new(WebhookSecret::generate().unwrap(), pair().private.clone())
        .with_additional_secret(new);
    assert!(both.open(&headers, body.as_bytes()).is_ok());
}

#[test]
fn private_keys_load_from_pkcs8_and_pkcs1_pem() {
    let pkcs8 = std::fs::read_to_string(&pair().private_pem_path).unwrap();
    assert_eq!(load_private_key_pem(&pkcs8).unwrap(), pair().private);
    let pkcs1 = pair()
        .private
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap();
    assert_eq!(load_private_key_pem(&pkcs1).unwrap(), pair().private);
    assert_eq!(
        load_private_key_pem("-----BEGIN PUBLIC KEY-----"),
        Err(PrivateKeyError::NotPem)
    );
    assert_eq!(
        load_private_key_pem("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----"),
        Err(PrivateKeyError::Invalid)
    );
}
