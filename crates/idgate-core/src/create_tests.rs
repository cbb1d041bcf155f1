use serde_json::json;

use super::*;
use crate::error::ErrorCode;

fn req(v: serde_json::Value) -> CreateSessionRequest {
    serde_json::from_value(v).unwrap()
}

fn err(v: serde_json::Value) -> Error {
    req(v).validate().unwrap_err()
}

#[test]
fn empty_body_gives_the_defaults() {
    let spec = CreateSessionRequest::default().validate().unwrap();
    assert_eq!(spec.redirect_url, None);
    assert_eq!(spec.share_fields, ShareFields::defaults());
    assert_eq!(spec.webhook_endpoint_id, WebhookTarget::AllSubscribed);
    assert_eq!(spec.expires_in_secs, 3600);
    assert!(spec.metadata.0.is_empty());
}

#[test]
fn unknown_fields_are_rejected() {
    assert!(
        serde_json::from_value::<CreateSessionRequest>(
            json!({"redirect_uri": "https://x.example"})
        )
        .is_err()
    );
}

#[test]
fn https_redirect_urls_are_accepted_as_given() {
    for url in [
        "https://example.com/done",
        "https://EXAMPLE.com:8443/a?b=c#d",
        "https://[2001:db8::1]/x",
    ] {
        assert_eq!(validate_redirect_url(url).unwrap(), url);
    }
}

#[test]
fn http_redirect_urls_only_to_loopback() {
    for url in [
        "http://localhost:3000/cb",
        "http://127.0.0.1/cb",
        "http://[::1]:8080/",
        "http://app.localhost/",
    ] {
        assert!(validate_redirect_url(url).is_ok(), "{url}");
    }
    assert!(validate_redirect_url("http://example.com/cb").is_err());
    assert!(validate_redirect_url("http://10.0.0.1/cb").is_err());
}

#[test]
fn other_redirect_urls_are_rejected_naming_the_field() {
    for url in [
        "javascript:alert(1)",
        "mailto:a@b.c",
        "ftp://x.example",
        "https:/x",
        "https://",
        "https://user:pw@example.com/",
        "https://exa mple.com/",
        "https://example.com/a b",
        "https://example.com:99999/",
        "https://-bad.example/",
        "nope",
        "",
    ] {
        let e = validate_redirect_url(url).unwrap_err();
        assert!(e.message.starts_with("Invalid `redirect_url`"), "{url}");
    }
    let long = format!("https://example.com/{}", "a".repeat(2048));
    assert!(validate_redirect_url(&long).is_err());
    assert_eq!(
        err(json!({"redirect_url": 5})).code,
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        req(json!({"redirect_url": null}))
            .validate()
            .unwrap()
            .redirect_url,
        None
    );
}

#[test]
fn expires_in_is_300_to_86400_seconds() {
    assert_eq!(
        req(json!({"expires_in": 300}))
            .validate()
            .unwrap()
            .expires_in_secs,
        300
    );
    assert_eq!(
        req(json!({"expires_in": 86400}))
            .validate()
            .unwrap()
            .expires_in_secs,
        86400
    );
    for bad in [
        json!(299),
        json!(86401),
        json!(600.5),
        json!("600"),
        json!(-1),
        json!(true),
    ] {
        let e = err(json!({ "expires_in": bad }));
        assert_eq!(
            e.message,
            "Invalid `expires_in`: must be an integer number of seconds between 300 and 86400."
        );
    }
}

#[test]
fn metadata_limits_are_enforced() {
    let ok = req(json!({"metadata": {"order": "42", "k": ""}}))
        .validate()
        .unwrap();
    assert_eq!(ok.metadata.0.get("order").map(String::as_str), Some("42"));
    let mut many = serde_json::Map::new();
    for i in 0..21 {
        many.insert(format!("k{i}"), json!("v"));
    }
    for bad in [
        serde_json::Value::Object(many),
        json!({"k": 1}),
        json!({"": "v"}),
        json!({ "k".repeat(41): "v" }),
        json!({"k": "v".repeat(501)}),
        json!(["k"]),
    ] {
        assert!(
            err(json!({ "metadata": bad }))
                .message
                .starts_with("Invalid `metadata`")
        );
    }
}

#[test]
fn webhook_endpoint_id_accepts_one_a_list_or_null() {
    let a = EndpointId::generate();
    let b = EndpointId::generate();
    assert_eq!(
        req(json!({"webhook_endpoint_id": a.as_str()}))
            .validate()
            .unwrap()
            .webhook_endpoint_id,
        WebhookTarget::One(a.clone())
    );
    assert_eq!(
        req(json!({"webhook_endpoint_id": [a.as_str(), b.as_str()]}))
            .validate()
            .unwrap()
            .webhook_endpoint_id,
        WebhookTarget::Many(vec![a.clone(), b])
    );
    assert_eq!(
        req(json!({"webhook_endpoint_id": null}))
            .validate()
            .unwrap()
            .webhook_endpoint_id,
        WebhookTarget::AllSubscribed
    );
    let seventeen: Vec<String> = (0..17)
        .map(|_| EndpointId::generate().to_string())
        .collect();
    for bad in [
        json!([]),
        json!(seventeen),
        json!("whe_short"),
        json!([a.as_str(), a.as_str()]),
        json!(5),
    ] {
        assert!(
            err(json!({ "webhook_endpoint_id": bad }))
                .message
                .starts_with("Invalid `webhook_endpoint_id`")
        );
    }
}

#[test]
fn webhook_target_serializes_like_the_seed() {
    let a = EndpointId::generate();
    assert_eq!(
        serde_json::to_value(WebhookTarget::AllSubscribed).unwrap(),
        json!(null)
    );
    assert_eq!(
        serde_json::to_value(WebhookTarget::One(a.clone())).unwrap(),
        json!(a.as_str())
    );
    assert_eq!(
        serde_json::to_value(WebhookTarget::Many(vec![a.clone()])).unwrap(),
        json!([a.as_str()])
    );
    assert_eq!(
        WebhookTarget::from_json(&WebhookTarget::One(a.clone()).to_json()).unwrap(),
        WebhookTarget::One(a)
    );
}

#[test]
fn share_fields_null_is_invalid_share_fields() {
    assert_eq!(
        err(json!({"share_fields": null})).code,
        ErrorCode::InvalidShareFields
    );
}

#[test]
fn share_fields_errors_pass_through() {
    assert_eq!(
        err(json!({"share_fields": {"foo": {"required": true, "reason": "r"}}})).code,
        ErrorCode::UnknownClaimKey
    );
}
