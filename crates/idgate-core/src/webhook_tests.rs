use serde_json::json;

use super::*;

#[test]
fn star_subscription_matches_every_type() {
    let all = Subscription::from_json(&json!(["*"])).unwrap();
    assert_eq!(all, Subscription::All);
    for t in EventType::ALL {
        assert!(all.matches(t));
    }
    assert_eq!(all.to_stored(), r#"["*"]"#);
}

#[test]
fn typed_subscription_matches_only_its_types() {
    let s = Subscription::from_json(&json!(["verification.session.succeeded"])).unwrap();
    assert!(s.matches(EventType::SessionSucceeded));
    assert!(!s.matches(EventType::SessionFailed));
    assert_eq!(Subscription::from_stored(&s.to_stored()), Some(s));
}

#[test]
fn subscription_refuses_empty_unknown_duplicate_and_mixed_star() {
    for bad in [
        json!([]),
        json!(["verification.session.done"]),
        json!(["verification.session.failed", "verification.session.failed"]),
        json!(["*", "verification.session.failed"]),
        json!("*"),
        json!([1]),
    ] {
        let e = Subscription::from_json(&bad).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidEventTypes, "{bad}");
    }
}

#[test]
fn webhook_url_must_be_https_unless_private_webhooks_are_allowed() {
    assert!(validate_webhook_url("https://hooks.example.com/idgate", false).is_ok());
    let e = validate_webhook_url("http://hooks.example.com/idgate", false).unwrap_err();
    assert_eq!(e.code, ErrorCode::InsecureWebhookUrl);
    assert!(validate_webhook_url("http://127.0.0.1:8080/hook", true).is_ok());
}

#[test]
fn webhook_url_refuses_credentials_fragments_bad_hosts_and_length() {
    let long = format!("https://example.com/{}", "a".repeat(2048));
    for bad in [
        "",
        "example.com/hook",
        "ftp://example.com/",
        "https://user:pw@example.com/",
        "https://example.com/#frag",
        "https:///path",
        "https://exa mple.com/",
        "https://example.com:0/",
        "https://example.com:99999/",
        "https://[::1/",
        long.as_str(),
    ] {
        let e = validate_webhook_url(bad, true).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidWebhookUrl, "{bad}");
    }
}

#[test]
fn create_request_requires_url_and_types_and_defaults_the_rest() {
    let req: CreateEndpointRequest = serde_json::from_value(
        json!({"url": "https://a.example/h", "subscribed_event_types": ["*"]}),
    )
    .unwrap();
    let spec = req.validate(false).unwrap();
    assert!(spec.enabled);
    assert_eq!(spec.description, "");
    let missing: CreateEndpointRequest =
        serde_json::from_value(json!({"subscribed_event_types": ["*"]})).unwrap();
    assert_eq!(
        missing.validate(false).unwrap_err().code,
        ErrorCode::InvalidWebhookUrl
    );
    assert!(
        serde_json::from_value::<CreateEndpointRequest>(json!({"url": "x", "secret": "y"}))
            .is_err()
    );
}

#[test]
fn previous_secret_signs_only_until_it_expires() {
    let tenant = Tenant {
        org_id: OrgId::generate(),
        environment: Environment::Live,
    };
    let now = Timestamp::from_unix_ms(1_700_000_000_000).unwrap();
    let spec = EndpointSpec {
        url: "https://a.example/h".into(),
        description: String::new(),
        enabled: true,
        subscription: Subscription::All,
    };
    let mut e = WebhookEndpoint::new(
        &tenant,
        EndpointId::generate(),
        spec,
        SealedSecret::new("new".into()),
        now,
    );
    e.previous_secret = Some(PreviousSecret {
        sealed: SealedSecret::new("old".into()),
        expires_at: now.plus_seconds(SECRET_ROTATION_OVERLAP_SECS),
    });
    assert!(e.previous_secret_at(now.plus_seconds(3600)).is_some());
    assert!(
        e.previous_secret_at(now.plus_seconds(SECRET_ROTATION_OVERLAP_SECS))
            .is_none()
    );
    assert!(!format!("{e:?}").contains("\"old\""));
}

#[test]
fn only_failed_and_pending_deliveries_are_retryable() {
    let retryable: Vec<_> = DeliveryStatus::ALL
        .into_iter()
        .filter(|s| s.is_retryable())
        .collect();
    assert_eq!(retryable, [DeliveryStatus::Pending, DeliveryStatus::Failed]);
    for s in DeliveryStatus::ALL {
        assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
    }
}

#[test]
fn kid_must_be_printable_ascii() {
    assert!(validate_kid("key-2025").is_ok());
    assert!(validate_kid("").is_err());
    assert!(validate_kid("a b").is_err());
    assert!(validate_kid(&"k".repeat(256)).is_err());
}
