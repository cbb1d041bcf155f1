//! The claims a successful verification delivers (docs/verify.md "Claims delivered on
//! success"), computed from the DG1 and DG2 the document check accepted.
//!
//! Each key has one of three states ([`Claim`]): absent when the contract did not request it,
//! `null` when requested but not selected by the person, the value when selected. Values come
//! from the MRZ as the data check read it (`emrtd::mrz`, the same two-digit-year resolution:
//! a birth year is never in the future, an expiry year is 20yy unless more than 50 years ahead),
//! the portrait from DG2, and `kayle_document_id` from the server's document-id key
//! (docs/api.md "Share contract").

use emrtd::lds::dg2::ImageFormat;
use emrtd::lds::{self, LdsError};
use emrtd::mrz::{DateOfBirth, Mrz, MrzFormat, Sex};
use idgate_core::id::OrgId;
use idgate_core::share::{self, SelectionError, ShareFields};
use idgate_webhook::event::{AgeGate, Claim, Claims, DocumentPhoto, PhotoFormat, SexMarker};
use time::{Date, Month};

use crate::document::lds_reason;

/// Why the claims could not be built. Messages name structures and claim keys, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimsError {
    #[error("selection: {0}")]
    Selection(#[from] SelectionError),
    #[error("DG1: {0}")]
    Dg1(String),
    #[error("DG2: {0}")]
    Dg2(String),
    /// The MRZ leaves part of the date of birth unknown (ICAO 9303-4 allows `<` fillers), so a
    /// full date cannot be delivered.
    #[error("the date of birth is incomplete in the MRZ")]
    DateOfBirthIncomplete,
    /// The MRZ leaves the year of birth unknown, so no age can be computed.
    #[error("the year of birth is unknown in the MRZ")]
    YearOfBirthUnknown,
}

/// Checks the person's selection against the contract; see
/// [`ShareFields::validate_selection`], where the rule lives.
///
/// # Errors
/// [`SelectionError`].
pub fn validate_selection(share: &ShareFields, selected: &[String]) -> Result<(), SelectionError> {
    share.validate_selection(selected)
}

/// Builds the claims of a succeeded session from the accepted DG1 and DG2. Only requested keys
/// appear; only selected ones carry a value, the rest are `null`; `kayle_human_id` is always
/// `null`. `today` is the day of verification (UTC), on which `age_over_N` is computed.
///
/// A person born on 29 February turns N on 1 March in a year without that day (the day after
/// 28 February, as most civil-law age rules count it).
///
/// # Errors
/// [`ClaimsError`] when the selection does not fit the contract, DG1 or DG2 does not parse (or
/// DG2 is parsed only when the photo is selected), or a selected date cannot be computed.
pub fn build_claims(
    dg1: &[u8],
    dg2: &[u8],
    share: &ShareFields,
    selected: &[String],
    org: &OrgId,
    document_id_key: &[u8],
    today: Date,
) -> Result<Claims, ClaimsError> {
    share.validate_selection(selected)?;
    let mrz = lds::dg1::parse(dg1, today).map_err(|e| ClaimsError::Dg1(lds_reason(&e)))?;
    let is_selected = |key: &str| selected.iter().any(|k| k == key);
    // One key's state: the value is computed only for a selected key.
    fn claim<T, E>(
        share: &ShareFields,
        selected: bool,
        key: &str,
        value: impl FnOnce() -> Result<T, E>,
    ) -> Result<Claim<T>, E> {
        Ok(match (share.get(key).is_some(), selected) {
            (false, _) => Claim::NotRequested,
            (true, false) => Claim::Withheld,
            (true, true) => Claim::Shared(value()?),
        })
    }
    let text = |key: &str, value: &str| {
        claim::<_, ClaimsError>(share, is_selected(key), key, || Ok(value.to_owned()))
    };

    let age_over = share
        .0
        .keys()
        .find_map(|key| {
            share::age_gate_threshold(key)
                .ok()
                .flatten()
                .map(|n| (key, n))
        })
        .map(|(key, years)| {
            let over = claim(share, is_selected(key), key, || {
                has_turned(&mrz.date_of_birth, years, today)
            })?;
            Ok::<_, ClaimsError>(AgeGate {
                years: u8::try_from(years).unwrap_or(u8::MAX),
                over,
            })
        })
        .transpose()?;

    Ok(Claims {
        document_type_code: text("document_type_code", &mrz.document_code)?,
        issuing_country_code: text("issuing_country_code", &mrz.issuing_state)?,
        family_name: text("family_name", &mrz.primary_identifier)?,
        given_names: text("given_names", &mrz.secondary_identifier)?,
        document_number: text("document_number", &mrz.document_number)?,
        nationality_code: text("nationality_code", &mrz.nationality)?,
        date_of_birth: claim(share, is_selected("date_of_birth"), "date_of_birth", || {
            mrz.date_of_birth
                .date()
                .ok_or(ClaimsError::DateOfBirthIncomplete)
        })?,
        sex_marker: claim::<_, ClaimsError>(
            share,
            is_selected("sex_marker"),
            "sex_marker",
            || {
                Ok(match mrz.sex {
                    Sex::Female => SexMarker::F,
                    Sex::Male => SexMarker::M,
                    Sex::Unspecified => SexMarker::X,
                })
            },
        )?,
        document_expiry_date: claim::<_, ClaimsError>(
            share,
            is_selected("document_expiry_date"),
            "document_expiry_date",
            || Ok(mrz.date_of_expiry),
        )?,
        mrz_optional_data: text("mrz_optional_data", &optional_data(&mrz))?,
        document_photo: claim(
            share,
            is_selected("document_photo"),
            "document_photo",
            || document_photo(dg2),
        )?,
        kayle_document_id: claim::<_, ClaimsError>(
            share,
            is_selected(share::DOCUMENT_ID_CLAIM),
            share::DOCUMENT_ID_CLAIM,
            || {
                Ok(share::kayle_document_id(
                    document_id_key,
                    org,
                    &mrz.issuing_state,
                    &mrz.document_code,
                    &mrz.document_number,
                ))
            },
        )?,
        // No cross-document identity exists yet: requested means `null` (docs/api.md).
        kayle_human_id: claim::<String, ClaimsError>(share, false, "kayle_human_id", || {
            Ok(String::new())
        })?,
        age_over,
    })
}

/// The MRZ's optional data: TD2/TD3 one field; TD1 the upper line's, then the middle line's,
/// separated by a space when both are present.
fn optional_data(mrz: &Mrz) -> String {
    match (&mrz.format, mrz.optional_data_2.as_deref()) {
        (MrzFormat::Td1, Some(second)) if !second.is_empty() => {
            if mrz.optional_data.is_empty() {
                second.to_owned()
            } else {
                format!("{} {second}", mrz.optional_data)
            }
        }
        _ => mrz.optional_data.clone(),
    }
}

fn document_photo(dg2: &[u8]) -> Result<DocumentPhoto, ClaimsError> {
    let portrait = lds::dg2::parse(dg2)
        .map_err(|e: LdsError| ClaimsError::Dg2(e.to_string()))?
        .into_primary();
    Ok(DocumentPhoto {
        format: match portrait.format {
            ImageFormat::Jpeg => PhotoFormat::Jpeg,
            ImageFormat::Jpeg2000 => PhotoFormat::Jpeg2000,
        },
        width: portrait.width,
        height: portrait.height,
        data: portrait.data,
    })
}

/// Whether a person born on `dob` is at least `years` old on `today`. An unknown month or day
/// of birth (MRZ fillers) counts as the latest possible one, so the answer is never `true`
/// too early.
fn has_turned(dob: &DateOfBirth, years: u16, today: Date) -> Result<bool, ClaimsError> {
    let birth_year = dob.year.ok_or(ClaimsError::YearOfBirthUnknown)?;
    let year = birth_year.saturating_add(i32::from(years));
    let month = dob
        .month
        .and_then(|m| Month::try_from(m).ok())
        .unwrap_or(Month::December);
    let day = dob.day.unwrap_or_else(|| month.length(year));
    // 29 February in a year without it: the birthday is the next day, 1 March.
    let birthday = Date::from_calendar_date(year, month, day)
        .or_else(|_| Date::from_calendar_date(year, Month::March, 1));
    Ok(birthday.is_ok_and(|b| today >= b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    fn dob(y: i32, m: u8, d: u8) -> DateOfBirth {
        DateOfBirth {
            year: Some(y),
            month: Some(m),
            day: Some(d),
        }
    }

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap()
    }

    #[test]
    fn an_age_is_reached_on_the_birthday_not_the_day_before() {
        let born = dob(2008, 6, 15);
        assert!(!has_turned(&born, 18, date(2026, 6, 14)).unwrap());
        assert!(has_turned(&born, 18, date(2026, 6, 15)).unwrap());
        assert!(has_turned(&born, 18, date(2027, 1, 1)).unwrap());
    }

    #[test]
    fn a_leap_day_birthday_counts_from_the_first_of_march_in_common_years() {
        let born = dob(2008, 2, 29);
        assert!(!has_turned(&born, 18, date(2026, 2, 28)).unwrap());
        assert!(has_turned(&born, 18, date(2026, 3, 1)).unwrap());
        // In a leap year the birthday exists.
        assert!(has_turned(&born, 16, date(2024, 2, 29)).unwrap());
        assert!(!has_turned(&born, 16, date(2024, 2, 28)).unwrap());
    }

    #[test]
    fn unknown_parts_of_the_date_of_birth_count_as_the_latest_possible() {
        let born = DateOfBirth {
            year: Some(2008),
            month: None,
            day: None,
        };
        assert!(!has_turned(&born, 18, date(2026, 12, 30)).unwrap());
        assert!(has_turned(&born, 18, date(2026, 12, 31)).unwrap());
        let unknown = DateOfBirth {
            year: None,
            month: None,
            day: None,
        };
        assert_eq!(
            has_turned(&unknown, 18, date(2026, 1, 1)),
            Err(ClaimsError::YearOfBirthUnknown)
        );
    }
}
