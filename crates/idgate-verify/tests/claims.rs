//! The claims of a succeeded session (docs/verify.md "Claims delivered on success") from a
//! factory passport's DG1 and DG2.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::testkit::{Holder, TestPassport};
use idgate_core::id::OrgId;
use idgate_core::share::{SelectionError, ShareFields, ShareFieldsInput, kayle_document_id};
use idgate_verify::claims::{ClaimsError, build_claims, validate_selection};
use idgate_webhook::event::{Claim, PhotoFormat, SexMarker};
use serde_json::json;
use time::{Date, Month};

const KEY: &[u8] = b"document id key for tests";

fn org() -> OrgId {
    OrgId::parse(&format!("org_{}", "A".repeat(64))).unwrap()
}

fn date(y: i32, m: Month, d: u8) -> Date {
    Date::from_calendar_date(y, m, d).unwrap()
}

fn keys(ks: &[&str]) -> Vec<String> {
    ks.iter().map(|k| (*k).to_owned()).collect()
}

fn share(v: serde_json::Value) -> ShareFields {
    let input: ShareFieldsInput = serde_json::from_value(v).unwrap();
    ShareFields::from_request(&input).unwrap()
}

fn optional(reason: &str) -> serde_json::Value {
    json!({"required": false, "reason": reason})
}

#[test]
fn selected_claims_are_the_holders_data_and_unselected_ones_are_null() {
    let holder = Holder {
        optional_data: "ZE184226B".into(),
        ..Holder::default()
    };
    let p = TestPassport::builder()
        .holder(holder.clone())
        .build()
        .unwrap();
    let share = ShareFields::defaults();
    let selected = keys(&[
        "kayle_document_id",
        "document_type_code",
        "issuing_country_code",
        "family_name",
        "given_names",
        "document_number",
        "nationality_code",
        "date_of_birth",
        "sex_marker",
        "document_expiry_date",
        "mrz_optional_data",
        "document_photo",
    ]);
    let today = date(2026, Month::December, 7);
    let c = build_claims(&p.dg1, &p.dg2, &share, &selected, &org(), KEY, today).unwrap();
    assert_eq!(c.document_type_code, Claim::Shared("P".to_owned()));
    assert_eq!(c.issuing_country_code, Claim::Shared("NLD".to_owned()));
    assert_eq!(c.family_name, Claim::Shared(holder.surname.clone()));
    assert_eq!(c.given_names, Claim::Shared(holder.given_names.clone()));
    assert_eq!(
        c.document_number,
        Claim::Shared(holder.document_number.clone())
    );
    assert_eq!(c.nationality_code, Claim::Shared("NLD".to_owned()));
    assert_eq!(c.date_of_birth, Claim::Shared(holder.date_of_birth));
    assert_eq!(c.sex_marker, Claim::Shared(SexMarker::F));
    assert_eq!(c.document_expiry_date, Claim::Shared(holder.date_of_expiry));
    assert_eq!(c.mrz_optional_data, Claim::Shared("ZE184226B".to_owned()));
    let photo = c.document_photo.shared().unwrap();
    assert_eq!(photo.format, PhotoFormat::Jpeg);
    assert_eq!((photo.width, photo.height), (96, 128));
    assert_eq!(photo.data, p.portrait_jpeg);
    assert_eq!(
        c.kayle_document_id,
        Claim::Shared(kayle_document_id(
            KEY,
            &org(),
            "NLD",
            "P",
            &holder.document_number
        ))
    );
    // Requested, never available: null.
    assert_eq!(c.kayle_human_id, Claim::Withheld);
    assert!(c.age_over.is_none());

    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["date_of_birth"], "1990-03-14");
    assert_eq!(json["document_expiry_date"], "2034-06-30");

    // Only the required key selected: every other requested key is null.
    let c = build_claims(
        &p.dg1,
        &p.dg2,
        &share,
        &keys(&["kayle_document_id"]),
        &org(),
        KEY,
        today,
    )
    .unwrap();
    assert!(c.kayle_document_id.shared().is_some());
    assert_eq!(c.family_name, Claim::Withheld);
    assert_eq!(c.document_photo, Claim::Withheld);
    assert_eq!(c.date_of_birth, Claim::Withheld);
}

#[test]
fn keys_the_contract_did_not_request_are_absent() {
    let p = TestPassport::builder().build().unwrap();
    let share = share(json!({"family_name": optional("To greet you")}));
    let c = build_claims(
        &p.dg1,
        &p.dg2,
        &share,
        &keys(&["kayle_document_id"]),
        &org(),
        KEY,
        date(2026, Month::December, 7),
    )
    .unwrap();
    assert_eq!(c.family_name, Claim::Withheld);
    assert_eq!(c.document_number, Claim::NotRequested);
    assert_eq!(c.kayle_human_id, Claim::NotRequested);
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json.as_object().unwrap().len(), 2);
}

fn age_over_18(born: Date, today: Date) -> Claim<bool> {
    let holder = Holder {
        date_of_birth: born,
        ..Holder::default()
    };
    let p = TestPassport::builder().holder(holder).build().unwrap();
    let share = share(json!({"age_over_18": optional("Adults only")}));
    let c = build_claims(
        &p.dg1,
        &p.dg2,
        &share,
        &keys(&["kayle_document_id", "age_over_18"]),
        &org(),
        KEY,
        today,
    )
    .unwrap();
    let gate = c.age_over.unwrap();
    assert_eq!(gate.years, 18);
    gate.over
}

#[test]
fn age_over_turns_true_on_the_birthday() {
    let born = date(2008, Month::December, 7);
    assert_eq!(
        age_over_18(born, date(2026, Month::December, 6)),
        Claim::Shared(false)
    );
    assert_eq!(
        age_over_18(born, date(2026, Month::December, 7)),
        Claim::Shared(true)
    );
}

#[test]
fn a_leap_day_child_turns_eighteen_on_the_first_of_march() {
    let born = date(2008, Month::February, 29);
    assert_eq!(
        age_over_18(born, date(2026, Month::February, 28)),
        Claim::Shared(false)
    );
    assert_eq!(
        age_over_18(born, date(2026, Month::March, 1)),
        Claim::Shared(true)
    );
}

#[test]
fn an_unselected_age_gate_is_null() {
    let p = TestPassport::builder().build().unwrap();
    let share = share(json!({"age_over_21": optional("Adults only")}));
    let c = build_claims(
        &p.dg1,
        &p.dg2,
        &share,
        &keys(&["kayle_document_id"]),
        &org(),
        KEY,
        date(2026, Month::December, 7),
    )
    .unwrap();
    let gate = c.age_over.clone().unwrap();
    assert_eq!((gate.years, gate.over), (21, Claim::Withheld));
    let json = serde_json::to_value(&c).unwrap();
    assert!(json["age_over_21"].is_null());
}

#[test]
fn a_selection_outside_the_contract_or_without_a_required_key_is_refused() {
    let p = TestPassport::builder().build().unwrap();
    let share = share(json!({"family_name": {"required": true, "reason": "Required"}}));
    let today = date(2026, Month::December, 7);
    let cases = [
        (
            keys(&["kayle_document_id"]),
            SelectionError::RequiredMissing("family_name".into()),
        ),
        (
            keys(&["kayle_document_id", "family_name", "document_number"]),
            SelectionError::NotRequested("document_number".into()),
        ),
        (
            keys(&["kayle_document_id", "family_name", "kayle_document_id"]),
            SelectionError::Duplicate("kayle_document_id".into()),
        ),
    ];
    for (selected, error) in cases {
        assert_eq!(validate_selection(&share, &selected), Err(error.clone()));
        assert_eq!(
            build_claims(&p.dg1, &p.dg2, &share, &selected, &org(), KEY, today),
            Err(ClaimsError::Selection(error))
        );
    }
    assert_eq!(
        validate_selection(&share, &keys(&["family_name", "kayle_document_id"])),
        Ok(())
    );
}
