//! The claims of `verification.session.succeeded` (docs/verify.md "Claims delivered on success").
//!
//! A claim key appears only if the session's share contract requested it; a requested claim the
//! person did not select is `null`. [`Claim`] keeps those three states apart (absent, `null`,
//! value) instead of folding the first two into `Option`.
//!
//! These values are personal data: `Debug` prints them as `[redacted]` so an event that ends
//! up in a log line does not carry a name or a portrait with it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;
use serde::ser::SerializeMap as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::Date;
use time::macros::format_description;

/// One claim's state in the payload.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Claim<T> {
    /// The contract did not ask for it; the key is absent.
    #[default]
    NotRequested,
    /// Requested but not shared by the person; the value is `null`.
    Withheld,
    /// Shared.
    Shared(T),
}

impl<T> Claim<T> {
    pub fn shared(&self) -> Option<&T> {
        match self {
            Self::Shared(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_requested(&self) -> bool {
        !matches!(self, Self::NotRequested)
    }
}

impl<T> std::fmt::Debug for Claim<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotRequested => "NotRequested",
            Self::Withheld => "Withheld",
            Self::Shared(_) => "Shared([redacted])",
        })
    }
}

/// ICAO 9303-4 sex marker as shown in the MRZ (`<` is delivered as `X`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SexMarker {
    F,
    M,
    X,
}

/// Image codec of the DG2 portrait (ISO/IEC 19794-5 allows JPEG and JPEG 2000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhotoFormat {
    Jpeg,
    Jpeg2000,
}

/// The portrait from the chip: `{format, width, height, data_base64}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentPhoto {
    pub format: PhotoFormat,
    pub width: u32,
    pub height: u32,
    #[serde(rename = "data_base64", with = "base64_std")]
    pub data: Vec<u8>,
}

impl std::fmt::Debug for DocumentPhoto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentPhoto")
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field(
                "data",
                &format_args!("[{} bytes redacted]", self.data.len()),
            )
            .finish()
    }
}

/// The one age gate a contract may carry: `age_over_<years>`, computed on the verification day.
#[derive(Clone, PartialEq, Eq)]
pub struct AgeGate {
    /// N in `age_over_N`, 12..=130 (docs/api.md "Share contract").
    pub years: u8,
    pub over: Claim<bool>,
}

impl std::fmt::Debug for AgeGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgeGate")
            .field("years", &self.years)
            .field("over", &self.over)
            .finish()
    }
}

/// Every claim key of docs/verify.md "Claims delivered on success". Absent keys are
/// [`Claim::NotRequested`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Claims {
    pub document_type_code: Claim<String>,
    pub issuing_country_code: Claim<String>,
    pub family_name: Claim<String>,
    pub given_names: Claim<String>,
    pub document_number: Claim<String>,
    pub nationality_code: Claim<String>,
    pub date_of_birth: Claim<Date>,
    pub sex_marker: Claim<SexMarker>,
    pub document_expiry_date: Claim<Date>,
    pub mrz_optional_data: Claim<String>,
    pub document_photo: Claim<DocumentPhoto>,
    /// A per-organization pseudonym of the document (docs/api.md "Share contract"): lower-case hex
    /// HMAC-SHA256.
    pub kayle_document_id: Claim<String>,
    /// Always `null` until a cross-document identity exists.
    pub kayle_human_id: Claim<String>,
    pub age_over: Option<AgeGate>,
}

const AGE_PREFIX: &str = "age_over_";
const AGE_RANGE: std::ops::RangeInclusive<u8> = 12..=130;
const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]");

impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        put(&mut map, "document_type_code", &self.document_type_code)?;
        put(&mut map, "issuing_country_code", &self.issuing_country_code)?;
        put(&mut map, "family_name", &self.family_name)?;
        put(&mut map, "given_names", &self.given_names)?;
        put(&mut map, "document_number", &self.document_number)?;
        put(&mut map, "nationality_code", &self.nationality_code)?;
        put(
            &mut map,
            "date_of_birth",
            &date_claim(&self.date_of_birth).map_err(ser_err::<S>)?,
        )?;
        put(&mut map, "sex_marker", &self.sex_marker)?;
        put(
            &mut map,
            "document_expiry_date",
            &date_claim(&self.document_expiry_date).map_err(ser_err::<S>)?,
        )?;
        put(&mut map, "mrz_optional_data", &self.mrz_optional_data)?;
        put(&mut map, "document_photo", &self.document_photo)?;
        put(&mut map, "kayle_document_id", &self.kayle_document_id)?;
        put(&mut map, "kayle_human_id", &self.kayle_human_id)?;
        if let Some(gate) = &self.age_over {
            put(&mut map, &format!("{AGE_PREFIX}{}", gate.years), &gate.over)?;
        }
        map.end()
    }
}

fn ser_err<S: Serializer>(e: time::error::Format) -> S::Error {
    serde::ser::Error::custom(e)
}

fn put<M: serde::ser::SerializeMap, T: Serialize>(
    map: &mut M,
    key: &str,
    claim: &Claim<T>,
) -> Result<(), M::Error> {
    match claim {
        Claim::NotRequested => Ok(()),
        Claim::Withheld => map.serialize_entry(key, &Value::Null),
        Claim::Shared(v) => map.serialize_entry(key, v),
    }
}

fn date_claim(claim: &Claim<Date>) -> Result<Claim<String>, time::error::Format> {
    Ok(match claim {
        Claim::NotRequested => Claim::NotRequested,
        Claim::Withheld => Claim::Withheld,
        Claim::Shared(d) => Claim::Shared(d.format(DATE_FORMAT)?),
    })
}

impl<'de> Deserialize<'de> for Claims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(deserializer)?;
        let mut take_date = |key: &str| -> Result<Claim<Date>, String> {
            match take::<String>(&mut map, key)? {
                Claim::Shared(text) => Date::parse(&text, DATE_FORMAT)
                    .map(Claim::Shared)
                    .map_err(|_| format!("claim `{key}` is not a YYYY-MM-DD date")),
                Claim::Withheld => Ok(Claim::Withheld),
                Claim::NotRequested => Ok(Claim::NotRequested),
            }
        };
        let date_of_birth = take_date("date_of_birth").map_err(serde::de::Error::custom)?;
        let document_expiry_date =
            take_date("document_expiry_date").map_err(serde::de::Error::custom)?;
        let mut claims = Claims {
            date_of_birth,
            document_expiry_date,
            ..Claims::default()
        };
        let e = serde::de::Error::custom;
        claims.document_type_code = take(&mut map, "document_type_code").map_err(e)?;
        claims.issuing_country_code = take(&mut map, "issuing_country_code").map_err(e)?;
        claims.family_name = take(&mut map, "family_name").map_err(e)?;
        claims.given_names = take(&mut map, "given_names").map_err(e)?;
        claims.document_number = take(&mut map, "document_number").map_err(e)?;
        claims.nationality_code = take(&mut map, "nationality_code").map_err(e)?;
        claims.sex_marker = take(&mut map, "sex_marker").map_err(e)?;
        claims.mrz_optional_data = take(&mut map, "mrz_optional_data").map_err(e)?;
        claims.document_photo = take(&mut map, "document_photo").map_err(e)?;
        claims.kayle_document_id = take(&mut map, "kayle_document_id").map_err(e)?;
        claims.kayle_human_id = take(&mut map, "kayle_human_id").map_err(e)?;
        for (key, value) in map {
            let Some(years) = key.strip_prefix(AGE_PREFIX) else {
                continue; // a claim key added later: ignored, not an error
            };
            let years: u8 = years
                .parse()
                .ok()
                .filter(|y| AGE_RANGE.contains(y) && !years.starts_with('0'))
                .ok_or_else(|| e(format!("`{key}` is not an age gate of 12..=130 years")))?;
            if claims.age_over.is_some() {
                return Err(e("more than one age gate".to_owned()));
            }
            let over = match value {
                Value::Null => Claim::Withheld,
                Value::Bool(b) => Claim::Shared(b),
                _ => return Err(e(format!("claim `{key}` must be a boolean or null"))),
            };
            claims.age_over = Some(AgeGate { years, over });
        }
        Ok(claims)
    }
}

fn take<T: DeserializeOwned>(map: &mut Map<String, Value>, key: &str) -> Result<Claim<T>, String> {
    match map.remove(key) {
        None => Ok(Claim::NotRequested),
        Some(Value::Null) => Ok(Claim::Withheld),
        Some(v) => serde_json::from_value(v)
            .map(Claim::Shared)
            .map_err(|_| format!("claim `{key}` has the wrong type")),
    }
}

mod base64_std {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|_| serde::de::Error::custom("`data_base64` is not base64"))
    }
}
