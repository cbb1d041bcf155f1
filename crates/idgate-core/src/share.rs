//! The share contract: which claims an integrator asks for, why, and which ones the person must
//! share (docs/api.md "Share contract": catalog, normalisation and error order).
//!
//! Input is kept in request order ([`ShareFieldsInput`]) because the first failing entry decides the
//! error code. Output ([`ShareFields`]) is sorted by claim key, the order the person sees.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, ErrorCode};
use crate::id::OrgId;

/// Most entries a request may carry (docs/api.md "Share contract").
pub const MAX_SHARE_FIELDS: usize = 32;
/// Longest reason after normalisation, in characters.
pub const MAX_REASON_CHARS: usize = 200;
/// Age gates `age_over_N` accept N in this range.
pub const AGE_GATE_RANGE: std::ops::RangeInclusive<u16> = 12..=130;

const AGE_GATE_PREFIX: &str = "age_over_";

/// The 13 static claims with their labels (docs/api.md "Share contract"). The default reason of
/// each is `Sharing "<Label>"`.
pub const STATIC_CLAIMS: [(&str, &str); 13] = [
    ("document_type_code", "Document Type Code"),
    ("issuing_country_code", "Issuing Country Code"),
    ("family_name", "Family Name"),
    ("given_names", "Given Names"),
    ("document_number", "Document Number"),
    ("nationality_code", "Nationality Code"),
    ("date_of_birth", "Date of Birth"),
    ("sex_marker", "Sex Marker"),
    ("document_expiry_date", "Document Expiry Date"),
    ("mrz_optional_data", "MRZ Optional Data"),
    ("document_photo", "Document Photo"),
    ("kayle_document_id", "Kayle Document ID"),
    ("kayle_human_id", "Kayle Human ID"),
];

/// The claim that is always part of a contract and always required.
pub const DOCUMENT_ID_CLAIM: &str = "kayle_document_id";
const DATE_OF_BIRTH_CLAIM: &str = "date_of_birth";

/// The label of a claim key: the catalog label, `Age Over N` for an age gate, else `None`.
pub fn claim_label(key: &str) -> Option<String> {
    if let Some((_, label)) = STATIC_CLAIMS.iter().find(|(k, _)| *k == key) {
        return Some((*label).to_owned());
    }
    age_gate_threshold(key)
        .ok()
        .flatten()
        .map(|n| format!("Age Over {n}"))
}

/// A key starts with `age_over_` but its threshold is not a canonical integer in 12..=130.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid age gate threshold")]
pub struct InvalidAgeGate;

/// `Ok(None)`: not an age-gate key. `Ok(Some(n))`: a valid `age_over_N`. `Err`: starts with
/// `age_over_` but the threshold is not a canonical integer in 12..=130 (leading zeros are refused
/// so that each threshold has exactly one key).
pub fn age_gate_threshold(key: &str) -> Result<Option<u16>, InvalidAgeGate> {
    let Some(rest) = key.strip_prefix(AGE_GATE_PREFIX) else {
        return Ok(None);
    };
    if rest.is_empty()
        || rest.len() > 3
        || !rest.bytes().all(|b| b.is_ascii_digit())
        || rest.starts_with('0')
    {
        return Err(InvalidAgeGate);
    }
    match rest.parse::<u16>() {
        Ok(n) if AGE_GATE_RANGE.contains(&n) => Ok(Some(n)),
        _ => Err(InvalidAgeGate),
    }
}

/// Whether a claim value came from the catalog defaults or from the integrator's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShareSource {
    Default,
    Rc,
}

/// One entry of the effective contract, as stored and returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareField {
    pub required: bool,
    pub reason: String,
    pub source: ShareSource,
}

/// The effective, normalised contract of a session: claim key → entry, sorted by key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShareFields(pub BTreeMap<String, ShareField>);

impl ShareFields {
    /// The contract of a session created without `share_fields`: all 13 static claims optional
    /// with their default reasons, except `kayle_document_id`, which is required.
    pub fn defaults() -> Self {
        let map = STATIC_CLAIMS
            .iter()
            .map(|(key, label)| {
                let entry = ShareField {
                    required: *key == DOCUMENT_ID_CLAIM,
                    reason: default_reason(label),
                    source: ShareSource::Default,
                };
                ((*key).to_owned(), entry)
            })
            .collect();
        Self(map)
    }

    /// Validates and normalises the integrator's `share_fields`; errors follow the order of
    /// docs/api.md "Share contract" (validation order), first failing rule in request order.
    pub fn from_request(input: &ShareFieldsInput) -> Result<Self, Error> {
        let entries = match input {
            ShareFieldsInput::Entries(entries) => entries,
            ShareFieldsInput::NotAnObject | ShareFieldsInput::DuplicateKey => {
                return Err(ErrorCode::InvalidShareFields.into());
            }
        };
        if entries.len() > MAX_SHARE_FIELDS {
            return Err(ErrorCode::TooManyShareFields.into());
        }
        let mut out = BTreeMap::new();
        let mut age_gates = 0usize;
        for (key, value) in entries {
            let (required, reason) = parse_entry(value)?;
            let is_age_gate = match age_gate_threshold(key) {
                Ok(Some(_)) => true,
                Ok(None) => false,
                Err(InvalidAgeGate) => return Err(ErrorCode::InvalidAgeGateKey.into()),
            };
            if !is_age_gate && !STATIC_CLAIMS.iter().any(|(k, _)| k == key) {
                return Err(ErrorCode::UnknownClaimKey.into());
            }
            if is_age_gate {
                age_gates += 1;
                if age_gates > 1 {
                    return Err(ErrorCode::MultipleAgeGatesNotAllowed.into());
                }
            }
            out.insert(
                key.clone(),
                ShareField {
                    required,
                    reason,
                    source: ShareSource::Rc,
                },
            );
        }
        if age_gates > 0 && out.contains_key(DATE_OF_BIRTH_CLAIM) {
            return Err(ErrorCode::DobAndAgeGateConflict.into());
        }
        match out.get_mut(DOCUMENT_ID_CLAIM) {
            Some(entry) => entry.required = true,
            None => {
                out.insert(
                    DOCUMENT_ID_CLAIM.to_owned(),
                    ShareField {
                        required: true,
                        reason: default_reason("Kayle Document ID"),
                        source: ShareSource::Default,
                    },
                );
            }
        }
        Ok(Self(out))
    }

    pub fn get(&self, key: &str) -> Option<&ShareField> {
        self.0.get(key)
    }

    /// Keys the person must keep selected at consent.
    pub fn required_keys(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(|(_, f)| f.required)
            .map(|(k, _)| k.as_str())
    }

    /// Checks the person's consent, `selected_field_keys` (docs/verify.md, consent): every key
    /// is one the contract requested, none is named twice, and every required key is selected.
    /// The first offending key in request order decides, then the first missing required key
    /// in key order.
    pub fn validate_selection(&self, selected: &[String]) -> Result<(), SelectionError> {
        for (i, key) in selected.iter().enumerate() {
            if !self.0.contains_key(key) {
                return Err(SelectionError::NotRequested(key.clone()));
            }
            if selected.iter().take(i).any(|k| k == key) {
                return Err(SelectionError::Duplicate(key.clone()));
            }
        }
        match self
            .required_keys()
            .find(|required| !selected.iter().any(|k| k == required))
        {
            Some(missing) => Err(SelectionError::RequiredMissing(missing.to_owned())),
            None => Ok(()),
        }
    }
}

/// Why a consent's `selected_field_keys` does not fit the session's contract. Carries claim
/// keys only, never claim values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("`{0}` was not requested by the session")]
    NotRequested(String),
    #[error("`{0}` is selected more than once")]
    Duplicate(String),
    #[error("the required claim `{0}` is not selected")]
    RequiredMissing(String),
}

fn default_reason(label: &str) -> String {
    format!("Sharing \"{label}\"")
}

/// One entry's `required` and normalised reason; the per-entry checks 3.1–3.3 of
/// docs/api.md "Share contract".
fn parse_entry(value: &serde_json::Value) -> Result<(bool, String), Error> {
    let serde_json::Value::Object(obj) = value else {
        return Err(ErrorCode::InvalidShareFields.into());
    };
    if obj.keys().any(|k| k != "required" && k != "reason") {
        return Err(ErrorCode::InvalidShareFields.into());
    }
    let Some(serde_json::Value::Bool(required)) = obj.get("required") else {
        return Err(ErrorCode::InvalidShareFields.into());
    };
    let Some(serde_json::Value::String(raw)) = obj.get("reason") else {
        return Err(ErrorCode::ReasonRequired.into());
    };
    let reason = normalize_reason(raw);
    if reason.is_empty() {
        return Err(ErrorCode::ReasonRequired.into());
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ErrorCode::ReasonTooLong.into());
    }
    Ok((*required, reason))
}

/// Trims and collapses every run of whitespace into one space.
pub fn normalize_reason(raw: &str) -> String {
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `share_fields` exactly as sent, in request order. Anything that is not a JSON object is kept
/// as [`ShareFieldsInput::NotAnObject`] instead of failing deserialisation, so that it maps to
/// `INVALID_SHARE_FIELDS` rather than a generic `INVALID_REQUEST`.
#[derive(Debug, Clone, PartialEq)]
pub enum ShareFieldsInput {
    Entries(Vec<(String, serde_json::Value)>),
    NotAnObject,
    /// The object named a key twice; which one was meant is ambiguous.
    DuplicateKey,
}

impl<'de> Deserialize<'de> for ShareFieldsInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InputVisitor;

        impl<'de> Visitor<'de> for InputVisitor {
            type Value = ShareFieldsInput;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, serde_json::Value)> = Vec::new();
                let mut duplicate = false;
                while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
                    // Bounded: beyond the limit the error is TOO_MANY_SHARE_FIELDS anyway, so
                    // keep one extra entry and drop the rest instead of growing without bound.
                    if entries.iter().any(|(k, _)| *k == key) {
                        duplicate = true;
                    }
                    if entries.len() <= MAX_SHARE_FIELDS {
                        entries.push((key, value));
                    }
                }
                Ok(if duplicate {
                    ShareFieldsInput::DuplicateKey
                } else {
                    ShareFieldsInput::Entries(entries)
                })
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(ShareFieldsInput::NotAnObject)
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(ShareFieldsInput::NotAnObject)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(ShareFieldsInput::NotAnObject)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(ShareFieldsInput::NotAnObject)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(ShareFieldsInput::NotAnObject)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(ShareFieldsInput::NotAnObject)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(ShareFieldsInput::NotAnObject)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(ShareFieldsInput::NotAnObject)
            }
        }

        deserializer.deserialize_any(InputVisitor)
    }
}

/// The organization-scoped pseudonym of a document (docs/api.md "Share contract"): lower-case hex
/// of HMAC-SHA256 under the server secret of `org id | country | type | number`, each part trimmed,
/// upper-cased and stripped of whitespace, so the same passport gives the same id to one
/// organization and unlinkable ids to two.
pub fn kayle_document_id(
    server_secret: &[u8],
    org: &OrgId,
    issuing_country: &str,
    document_type: &str,
    document_number: &str,
) -> String {
    let message = format!(
        "{}|{}|{}|{}",
        org.as_str(),
        normalize_document_part(issuing_country),
        normalize_document_part(document_type),
        normalize_document_part(document_number)
    );
    crate::mac::hmac_sha256_hex(server_secret, message.as_bytes())
}

/// Trim, upper case, remove all whitespace.
pub fn normalize_document_part(part: &str) -> String {
    part.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

#[cfg(test)]
#[path = "share_tests.rs"]
mod tests;
