use serde_json::json;

use super::*;

fn input(v: serde_json::Value) -> ShareFieldsInput {
    serde_json::from_value(v).unwrap()
}

fn code_of(v: serde_json::Value) -> ErrorCode {
    ShareFields::from_request(&input(v)).unwrap_err().code
}

fn entry(reason: &str) -> serde_json::Value {
    json!({"required": false, "reason": reason})
}

#[test]
fn omitted_contract_has_all_static_claims_optional_except_document_id() {
    let d = ShareFields::defaults();
    assert_eq!(d.0.len(), 13);
    for (key, field) in &d.0 {
        assert_eq!(field.source, ShareSource::Default);
        assert_eq!(field.required, key == "kayle_document_id", "{key}");
    }
    assert_eq!(
        d.get("date_of_birth").unwrap().reason,
        "Sharing \"Date of Birth\""
    );
    assert_eq!(
        d.get("kayle_human_id").unwrap().reason,
        "Sharing \"Kayle Human ID\""
    );
    assert!(d.get("age_over_18").is_none());
}

#[test]
fn supplied_contract_keeps_only_requested_keys_and_forces_document_id() {
    let f = ShareFields::from_request(&input(json!({
        "age_over_18": {"required": true, "reason": "Needed to verify age eligibility"},
        "nationality_code": {"required": false, "reason": "Market rules"}
    })))
    .unwrap();
    assert_eq!(f.0.len(), 3);
    assert_eq!(f.get("age_over_18").unwrap().source, ShareSource::Rc);
    assert_eq!(f.get("nationality_code").unwrap().source, ShareSource::Rc);
    let doc = f.get("kayle_document_id").unwrap();
    assert!(doc.required);
    assert_eq!(doc.source, ShareSource::Default);
    assert_eq!(doc.reason, "Sharing \"Kayle Document ID\"");
}

#[test]
fn empty_object_yields_only_the_document_id() {
    let f = ShareFields::from_request(&input(json!({}))).unwrap();
    assert_eq!(f.0.keys().collect::<Vec<_>>(), ["kayle_document_id"]);
}

#[test]
fn requested_document_id_is_forced_required_and_keeps_its_reason() {
    let f = ShareFields::from_request(&input(json!({
        "kayle_document_id": {"required": false, "reason": "RC attempted optional"}
    })))
    .unwrap();
    let doc = f.get("kayle_document_id").unwrap();
    assert!(doc.required);
    assert_eq!(doc.source, ShareSource::Rc);
    assert_eq!(doc.reason, "RC attempted optional");
}

#[test]
fn reasons_are_trimmed_and_whitespace_collapsed() {
    let f = ShareFields::from_request(&input(json!({"sex_marker": entry("  a \t b\n\n c  ")})))
        .unwrap();
    assert_eq!(f.get("sex_marker").unwrap().reason, "a b c");
}

#[test]
fn non_object_share_fields_are_invalid() {
    for v in [
        json!(["nationality_code"]),
        json!(null),
        json!(5),
        json!("x"),
        json!(true),
    ] {
        assert_eq!(code_of(v.clone()), ErrorCode::InvalidShareFields, "{v}");
    }
}

#[test]
fn malformed_entries_are_invalid_share_fields() {
    assert_eq!(
        code_of(json!({"sex_marker": "str"})),
        ErrorCode::InvalidShareFields
    );
    assert_eq!(
        code_of(json!({"sex_marker": null})),
        ErrorCode::InvalidShareFields
    );
    assert_eq!(
        code_of(json!({"sex_marker": {"required": "yes", "reason": "r"}})),
        ErrorCode::InvalidShareFields
    );
    assert_eq!(
        code_of(json!({"sex_marker": {"reason": "r"}})),
        ErrorCode::InvalidShareFields
    );
    assert_eq!(
        code_of(json!({"sex_marker": {"required": true, "reason": "r", "source": "rc"}})),
        ErrorCode::InvalidShareFields
    );
}

#[test]
fn duplicate_keys_are_invalid_share_fields() {
    let parsed: ShareFieldsInput = serde_json::from_str(
        r#"{"sex_marker":{"required":true,"reason":"a"},"sex_marker":{"required":false,"reason":"b"}}"#,
    )
    .unwrap();
    assert_eq!(
        ShareFields::from_request(&parsed).unwrap_err().code,
        ErrorCode::InvalidShareFields
    );
}

#[test]
fn more_than_32_entries_are_too_many_even_if_unknown() {
    let mut m = serde_json::Map::new();
    for i in 0..33 {
        m.insert(format!("field_{i}"), entry("ok"));
    }
    assert_eq!(
        code_of(serde_json::Value::Object(m)),
        ErrorCode::TooManyShareFields
    );
}

#[test]
fn missing_blank_or_non_string_reason_is_reason_required() {
    assert_eq!(
        code_of(json!({"nationality_code": {"required": true}})),
        ErrorCode::ReasonRequired
    );
    assert_eq!(
        code_of(json!({"nationality_code": entry("   ")})),
        ErrorCode::ReasonRequired
    );
    assert_eq!(
        code_of(json!({"nationality_code": {"required": true, "reason": 5}})),
        ErrorCode::ReasonRequired
    );
}

#[test]
fn reason_over_200_characters_is_too_long() {
    assert_eq!(
        code_of(json!({"nationality_code": entry(&"x".repeat(201))})),
        ErrorCode::ReasonTooLong
    );
    assert!(
        ShareFields::from_request(&input(json!({"nationality_code": entry(&"é".repeat(200))})))
            .is_ok()
    );
}

#[test]
fn bad_age_gate_keys_are_invalid_age_gate_key() {
    for key in [
        "age_over_11",
        "age_over_131",
        "age_over_abc",
        "age_over_",
        "age_over_018",
        "age_over_-5",
        "age_over_1e2",
    ] {
        assert_eq!(
            code_of(json!({ key: entry("r") })),
            ErrorCode::InvalidAgeGateKey,
            "{key}"
        );
    }
}

#[test]
fn age_gate_bounds_are_inclusive() {
    assert!(ShareFields::from_request(&input(json!({"age_over_12": entry("r")}))).is_ok());
    assert!(ShareFields::from_request(&input(json!({"age_over_130": entry("r")}))).is_ok());
}

#[test]
fn unknown_keys_are_unknown_claim_key() {
    assert_eq!(
        code_of(json!({"foo_bar": entry("r")})),
        ErrorCode::UnknownClaimKey
    );
    assert_eq!(
        code_of(json!({"age_over": entry("r")})),
        ErrorCode::UnknownClaimKey
    );
}

#[test]
fn first_failing_entry_in_request_order_decides() {
    // Parsed from text: `json!` would sort the keys and lose the request order.
    let ordered = |text: &str| {
        ShareFields::from_request(&serde_json::from_str(text).unwrap())
            .unwrap_err()
            .code
    };
    let r = r#"{"required":true,"reason":"r"}"#;
    assert_eq!(
        ordered(&format!(r#"{{"foo":{r},"age_over_11":{r}}}"#)),
        ErrorCode::UnknownClaimKey
    );
    assert_eq!(
        ordered(&format!(r#"{{"age_over_11":{r},"foo":{r}}}"#)),
        ErrorCode::InvalidAgeGateKey
    );
    assert_eq!(
        ordered(&format!(
            r#"{{"foo":{r},"sex_marker":{{"required":true}}}}"#
        )),
        ErrorCode::UnknownClaimKey
    );
    assert_eq!(
        ordered(&format!(
            r#"{{"sex_marker":{{"required":true}},"foo":{r}}}"#
        )),
        ErrorCode::ReasonRequired
    );
}

#[test]
fn two_age_gates_are_not_allowed() {
    assert_eq!(
        code_of(json!({"age_over_18": entry("r"), "age_over_21": entry("r")})),
        ErrorCode::MultipleAgeGatesNotAllowed
    );
}

#[test]
fn date_of_birth_with_an_age_gate_conflicts() {
    assert_eq!(
        code_of(json!({"date_of_birth": entry("r"), "age_over_18": entry("r")})),
        ErrorCode::DobAndAgeGateConflict
    );
    assert_eq!(
        code_of(json!({"age_over_18": entry("r"), "date_of_birth": entry("r")})),
        ErrorCode::DobAndAgeGateConflict
    );
}

#[test]
fn labels_cover_static_claims_and_age_gates() {
    assert_eq!(
        claim_label("document_photo").as_deref(),
        Some("Document Photo")
    );
    assert_eq!(claim_label("age_over_21").as_deref(), Some("Age Over 21"));
    assert_eq!(claim_label("nope"), None);
}

#[test]
fn required_keys_lists_the_required_entries() {
    let f = ShareFields::from_request(&input(
        json!({"sex_marker": {"required": true, "reason": "r"}}),
    ))
    .unwrap();
    assert_eq!(
        f.required_keys().collect::<Vec<_>>(),
        ["kayle_document_id", "sex_marker"]
    );
}

#[test]
fn contract_serializes_as_the_seed_object_map() {
    let f = ShareFields::from_request(&input(json!({}))).unwrap();
    assert_eq!(
        serde_json::to_value(&f).unwrap(),
        json!({"kayle_document_id": {"required": true, "reason": "Sharing \"Kayle Document ID\"", "source": "default"}})
    );
}

#[test]
fn document_parts_are_normalised() {
    assert_eq!(normalize_document_part(" gb "), "GB");
    assert_eq!(normalize_document_part(" p "), "P");
    assert_eq!(normalize_document_part(" 12 34 567 "), "1234567");
}

#[test]
fn document_id_is_stable_per_org_and_differs_across_orgs_and_documents() {
    let org_a = OrgId::parse(&format!("org_{}", "A".repeat(64))).unwrap();
    let org_b = OrgId::parse(&format!("org_{}", "B".repeat(64))).unwrap();
    let a1 = kayle_document_id(b"secret", &org_a, "GB", "P", "1234567");
    let a2 = kayle_document_id(b"secret", &org_a, " gb ", "p", "12 34 567");
    assert_eq!(a1, a2);
    assert_eq!(a1.len(), 64);
    assert!(
        a1.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_ne!(
        a1,
        kayle_document_id(b"secret", &org_b, "GB", "P", "1234567")
    );
    assert_ne!(
        a1,
        kayle_document_id(b"secret", &org_a, "GB", "P", "7654321")
    );
    assert_ne!(
        a1,
        kayle_document_id(b"other", &org_a, "GB", "P", "1234567")
    );
}

#[test]
fn hmac_matches_the_reference_vector() {
    // HMAC-SHA256 under the key "secret", as an independent implementation computes it.
    let msg = r#"1764180000000.{"name":"John Doe","email":"john.doe@example.com"}"#;
    assert_eq!(
        crate::mac::hmac_sha256_hex(b"secret", msg.as_bytes()),
        "631a0bfeb29ef73049d328d97d3931f39e412104d5775502329732dfd20d766b"
    );
}

#[test]
fn a_selection_names_only_requested_keys_once_and_every_required_key() {
    let share = ShareFields::defaults();
    let keys = |ks: &[&str]| ks.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        share.validate_selection(&keys(&["kayle_document_id"])),
        Ok(())
    );
    assert_eq!(
        share.validate_selection(&keys(&[
            "kayle_document_id",
            "family_name",
            "document_photo"
        ])),
        Ok(())
    );
    assert_eq!(
        share.validate_selection(&keys(&["family_name"])),
        Err(SelectionError::RequiredMissing("kayle_document_id".into()))
    );
    assert_eq!(
        share.validate_selection(&keys(&["kayle_document_id", "age_over_18"])),
        Err(SelectionError::NotRequested("age_over_18".into()))
    );
    assert_eq!(
        share.validate_selection(&keys(&["family_name", "kayle_document_id", "family_name"])),
        Err(SelectionError::Duplicate("family_name".into()))
    );
}
