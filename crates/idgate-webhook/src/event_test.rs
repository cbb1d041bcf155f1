#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::json;
use time::macros::{date, datetime};

use super::*;

fn id(prefix: &str) -> String {
    format!("{prefix}{}", "Ab3".repeat(22).get(..64).unwrap())
}

fn metadata(attempt: bool) -> Metadata {
    Metadata {
        verification_session_id: SessionId::parse(&id("vs_")).unwrap(),
        verification_attempt_id: attempt.then(|| AttemptId::parse(&id("va_")).unwrap()),
        contract_version: 1,
        environment: Environment::Live,
    }
}

fn event(data: EventData) -> Event {
    Event {
        id: EventId::parse(&id("evt_")).unwrap(),
        created_at: datetime!(2026-11-22 02:00:00.5 UTC),
        data,
        metadata: metadata(true),
    }
}

fn succeeded() -> Event {
    let claims = Claims {
        family_name: Claim::Shared("MUSTERMANN".into()),
        given_names: Claim::Withheld,
        date_of_birth: Claim::Shared(date!(1964 - 08 - 12)),
        sex_marker: Claim::Shared(SexMarker::F),
        document_photo: Claim::Shared(DocumentPhoto {
            format: PhotoFormat::Jpeg2000,
            width: 2,
            height: 3,
            data: vec![0, 1, 2, 255],
        }),
        kayle_document_id: Claim::Shared("9f".repeat(32)),
        kayle_human_id: Claim::Withheld,
        age_over: Some(AgeGate {
            years: 18,
            over: Claim::Shared(true),
        }),
        ..Claims::default()
    };
    event(EventData::SessionSucceeded(Box::new(SessionSucceeded {
        claims,
        selected_field_keys: vec!["family_name".into(), "date_of_birth".into()],
    })))
}

#[test]
fn succeeded_event_has_the_wire_shape_of_the_spec() {
    let value: serde_json::Value = serde_json::from_slice(&succeeded().to_json().unwrap()).unwrap();
    assert_eq!(
        value,
        json!({
            "id": id("evt_"),
            "type": "verification.session.succeeded",
            "created_at": "2026-11-22T02:00:00.500Z",
            "data": {
                "claims": {
                    "family_name": "MUSTERMANN",
                    "given_names": null,
                    "date_of_birth": "1964-08-12",
                    "sex_marker": "F",
                    "document_photo": {"format": "jpeg2000", "width": 2, "height": 3, "data_base64": "AAEC/w=="},
                    "kayle_document_id": "9f".repeat(32),
                    "kayle_human_id": null,
                    "age_over_18": true,
                },
                "selected_field_keys": ["family_name", "date_of_birth"],
            },
            "metadata": {
                "verification_session_id": id("vs_"),
                "verification_attempt_id": id("va_"),
                "contract_version": 1,
                "environment": "live",
            },
        })
    );
}

#[test]
fn every_event_type_round_trips() {
    let all = [
        event(EventData::SessionInProgress(NoData {})),
        event(EventData::AttemptFailed(AttemptFailed {
            failure_code: FailureCode::SelfieFaceMismatch,
            nfc_tries_used: 0,
            liveness_tries_used: 2,
        })),
        succeeded(),
        event(EventData::SessionFailed(SessionFailed {
            failure_code: FailureCode::DocumentAuthenticityFailed,
        })),
        event(EventData::SessionCancelled(NoData {})),
        event(EventData::SessionExpired(NoData {})),
    ];
    for (original, expected_type) in all.iter().zip(EventType::ALL) {
        assert_eq!(original.event_type(), expected_type);
        let parsed = Event::from_json(&original.to_json().unwrap()).unwrap();
        assert_eq!(&parsed, original);
    }
}

#[test]
fn event_type_names_are_the_dotted_names_of_the_spec() {
    let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(
        names,
        [
            "verification.session.in_progress",
            "verification.attempt.failed",
            "verification.session.succeeded",
            "verification.session.failed",
            "verification.session.cancelled",
            "verification.session.expired",
        ]
    );
    for t in EventType::ALL {
        assert_eq!(EventType::parse(t.as_str()), Some(t));
        assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
    }
}

#[test]
fn claims_keep_absent_null_and_shared_apart() {
    let claims: Claims =
        serde_json::from_value(json!({"family_name": "X", "given_names": null})).unwrap();
    assert_eq!(claims.family_name, Claim::Shared("X".into()));
    assert_eq!(claims.given_names, Claim::Withheld);
    assert_eq!(claims.document_number, Claim::NotRequested);
    assert!(claims.given_names.is_requested());
    assert!(!claims.document_number.is_requested());
}

#[test]
fn age_gate_is_read_from_its_dynamic_key() {
    let claims: Claims = serde_json::from_value(json!({"age_over_21": null})).unwrap();
    assert_eq!(
        claims.age_over,
        Some(AgeGate {
            years: 21,
            over: Claim::Withheld
        })
    );
}

#[test]
fn age_gates_outside_12_to_130_or_twice_are_refused() {
    for bad in [
        json!({"age_over_11": true}),
        json!({"age_over_131": true}),
        json!({"age_over_018": true}),
    ] {
        assert!(
            serde_json::from_value::<Claims>(bad.clone()).is_err(),
            "{bad}"
        );
    }
    assert!(
        serde_json::from_value::<Claims>(json!({"age_over_18": true, "age_over_21": true}))
            .is_err()
    );
}

#[test]
fn unknown_claim_keys_and_members_are_ignored() {
    let mut value = serde_json::to_value(succeeded()).unwrap();
    value["data"]["claims"]["future_claim"] = json!("x");
    value["metadata"]["future_member"] = json!(1);
    assert_eq!(serde_json::from_value::<Event>(value).unwrap(), succeeded());
}

#[test]
fn unknown_event_type_is_an_error() {
    let mut value = serde_json::to_value(succeeded()).unwrap();
    value["type"] = json!("verification.session.teleported");
    assert!(serde_json::from_value::<Event>(value).is_err());
}

#[test]
fn data_that_does_not_fit_its_type_is_an_error() {
    let mut value = serde_json::to_value(event(EventData::SessionFailed(SessionFailed {
        failure_code: FailureCode::LivenessFailed,
    })))
    .unwrap();
    value["data"] = json!({});
    assert!(serde_json::from_value::<Event>(value).is_err());
}

#[test]
fn malformed_ids_and_dates_are_errors() {
    let mut value = serde_json::to_value(succeeded()).unwrap();
    value["id"] = json!("evt_short");
    assert!(serde_json::from_value::<Event>(value).is_err());
    let bad_date = json!({"date_of_birth": "12.08.1964"});
    assert!(serde_json::from_value::<Claims>(bad_date).is_err());
}

#[test]
fn attempt_id_is_omitted_for_session_level_events() {
    let mut e = event(EventData::SessionExpired(NoData {}));
    e.metadata = metadata(false);
    let value = serde_json::to_value(&e).unwrap();
    assert!(value["metadata"].get("verification_attempt_id").is_none());
    assert_eq!(value["data"], json!({}));
}

#[test]
fn created_at_accepts_any_rfc3339_offset() {
    let mut value = serde_json::to_value(succeeded()).unwrap();
    value["created_at"] = json!("2026-11-22T03:00:00.5+01:00");
    assert_eq!(
        serde_json::from_value::<Event>(value).unwrap().created_at,
        succeeded().created_at
    );
}

#[test]
fn debug_output_redacts_personal_data() {
    let shown = format!("{:?}", succeeded());
    assert!(!shown.contains("MUSTERMANN"));
    assert!(!shown.contains("1964"));
    assert!(shown.contains("redacted"));
}
